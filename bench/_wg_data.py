"""Datasets of the worst-group benchmark (``bench/bench_worst_group.py``).

Everything is built from the read-only raw files in ``../shared/datasets``
(or ``$UNSKEW_DATA_HOME``) with fixed seeds; nothing derived is written to disk
or committed. Each builder returns a :class:`WGData` with train, validation and
test splits, each holding ``X``, ``y`` (0/1), ``g`` (group code), ``s`` (the
sensitive/spurious attribute, 0/1) and the group names.

Data splits and derived data are fixed (``DATA_SEED = 0``) so that every
training seed sees the same data; only model initialisation and batch order
change with the training seed.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DATA_SEED = 0
ROOT = Path(__file__).resolve().parents[1]


def data_home() -> Path:
    env = os.environ.get("UNSKEW_DATA_HOME")
    for cand in (Path(env) if env else None, ROOT.parent / "shared" / "datasets"):
        if cand is not None and cand.is_dir():
            return cand
    raise FileNotFoundError("Set UNSKEW_DATA_HOME to the folder with the raw datasets (../shared/datasets).")


@dataclass
class Part:
    X: object
    y: np.ndarray
    g: np.ndarray
    s: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class WGData:
    name: str
    train: Part
    val: Part
    test: Part
    group_names: list[str]
    description: str
    model_params: dict = field(default_factory=dict)

    def sizes(self) -> str:
        def counts(p):
            return "/".join(str(int((p.g == k).sum())) for k in range(len(self.group_names)))

        return (f"train {len(self.train)} ({counts(self.train)}), val {len(self.val)} ({counts(self.val)}), "
                f"test {len(self.test)} ({counts(self.test)})")


def _stratified_three_way(strata, fractions, seed):
    """Split row indices into parts with the given fractions, stratified by ``strata``."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for k in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == k))
        cuts = np.round(np.cumsum(fractions)[:-1] * len(rows)).astype(int)
        for i, chunk in enumerate(np.split(rows, cuts)):
            parts[i].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


# ----------------------------------------------------------------- tabular
def celeba(n_train: int = 20000, n_val: int = 5000) -> WGData:
    """CelebA attributes: predict Blond_Hair from the other 38 attributes (Male excluded).

    Groups: Blond_Hair x Male. The official split by filename; the training
    split is subsampled uniformly to ``n_train`` rows and the validation
    split to ``n_val`` (seed 0), which keeps CelebA's imbalance (blond males
    are about 0.85% of the rows); the whole test split is used.
    """
    from unskew.datasets import load_celeba_attributes

    df = load_celeba_attributes(split="all", data_home=data_home())
    feats = [c for c in df.columns if c not in ("filename", "split", "Blond_Hair", "Male")]
    rng = np.random.default_rng(DATA_SEED)

    def part(split, n):
        sub = df.loc[df["split"] == split]
        if n is not None and n < len(sub):
            sub = sub.iloc[np.sort(rng.choice(len(sub), size=n, replace=False))]
        y = sub["Blond_Hair"].to_numpy(int)
        s = sub["Male"].to_numpy(int)
        return Part(X=sub[feats].to_numpy(np.float32), y=y, g=2 * y + s, s=s)

    return WGData(
        "celeba", part("train", n_train), part("valid", n_val), part("test", None),
        ["not blond, female", "not blond, male", "blond, female", "blond, male"],
        f"CelebA attribute table: Blond_Hair from 38 attributes (Male excluded); train subsampled to "
        f"{n_train:,} of 162,770, validation to {n_val:,} of 19,867, full test (19,962).",
    )


def adult() -> WGData:
    """Adult: income from the census columns except sex (and fnlwgt); groups sex x income.

    ``adult.data`` is split 80/20 into train and validation (stratified by
    group, seed 0); ``adult.test`` is the test set.
    """
    from unskew.datasets import load_adult

    home = data_home()
    tr = load_adult(split="train", data_home=home)
    te = load_adult(split="test", data_home=home)
    feats = [c for c in tr.columns if c not in ("income", "sex", "fnlwgt", "split")]

    def part(df):
        y = df["income"].to_numpy(int)
        s = (df["sex"] == "Male").to_numpy(int)
        X = df[feats].reset_index(drop=True)
        for c in X.columns:
            if not pd.api.types.is_numeric_dtype(X[c]):
                X[c] = X[c].astype(object)
        return Part(X=X, y=y, g=2 * y + s, s=s)

    full = part(tr)
    idx_tr, idx_va = _stratified_three_way(full.g, [0.8, 0.2], DATA_SEED)

    def take(p, idx):
        return Part(X=p.X.iloc[idx].reset_index(drop=True), y=p.y[idx], g=p.g[idx], s=p.s[idx])

    return WGData(
        "adult", take(full, idx_tr), take(full, idx_va), part(te),
        ["<=50K, female", "<=50K, male", ">50K, female", ">50K, male"],
        "UCI Adult: income from 12 census columns (sex and fnlwgt excluded; categoricals embedded); "
        "adult.data split 80/20 into train/validation, adult.test as test.",
    )


def compas() -> WGData:
    """COMPAS (ProPublica filter): two_year_recid; groups race (African-American, Caucasian) x label.

    Only African-American and Caucasian defendants are kept (the two groups
    of ProPublica's analysis; the other races have 11 to 509 rows). Features:
    sex, age, age_cat, the juvenile counts, priors_count, c_charge_degree;
    race is excluded, and so are the COMPAS outputs (decile_score,
    score_text) and the free-text charge description. 60/20/20 split
    stratified by group, seed 0.
    """
    from unskew.datasets import load_compas

    df = load_compas(data_home=data_home())
    df = df.loc[df["race"].isin(["African-American", "Caucasian"])].reset_index(drop=True)
    feats = ["sex", "age", "age_cat", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count",
             "c_charge_degree"]
    y = df["two_year_recid"].to_numpy(int)
    s = (df["race"] == "African-American").to_numpy(int)
    g = 2 * y + s
    X = df[feats].copy()
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = X[c].astype(object)
    parts = _stratified_three_way(g, [0.6, 0.2, 0.2], DATA_SEED)
    tr, va, te = (Part(X=X.iloc[i].reset_index(drop=True), y=y[i], g=g[i], s=s[i]) for i in parts)
    return WGData(
        "compas", tr, va, te,
        ["no recid, Caucasian", "no recid, African-American", "recid, Caucasian", "recid, African-American"],
        "ProPublica COMPAS (6,172 rows after ProPublica's filter), African-American and Caucasian "
        "defendants only (5,278); 8 features, race and the COMPAS scores excluded; 60/20/20 split.",
    )


# ----------------------------------------------------------------- images
def _mnist5k():
    df = pd.read_csv(data_home() / "mnist5k" / "mnist_5k.csv.gz", header=None)
    arr = df.to_numpy()
    return arr[:, :784].reshape(-1, 28, 28).astype(np.float32) / 255.0, arr[:, 784].astype(int)


def coloured_mnist() -> WGData:
    """Coloured MNIST as in Arjovsky et al. (2019), from the 5,000-digit MNIST subset.

    Binary label ``digit < 5`` flipped with probability 0.25; colour (red or
    green) equal to the label flipped with probability ``e``: ``e = 0.1`` and
    ``0.2`` in the two training environments (colour agrees with the label in
    90% and 80%) and ``0.9`` at test (10%). As in the paper, the 28x28 digits
    are downsampled to 14x14 and put in one of two colour channels; the
    model is an MLP on the 392 inputs. Groups: label x colour. 1,800 digits
    per training environment, 400 validation digits from the training
    environments (200 each), 1,000 test digits.
    """
    imgs, digits = _mnist5k()
    rng = np.random.default_rng(DATA_SEED)
    order = rng.permutation(len(digits))
    imgs, digits = imgs[order][:, ::2, ::2], digits[order]

    def env(idx, e):
        y = (digits[idx] < 5).astype(int)
        y = np.where(rng.random(len(idx)) < 0.25, 1 - y, y)
        colour = np.where(rng.random(len(idx)) < e, 1 - y, y)
        x = np.zeros((len(idx), 2, 14, 14), np.float32)
        x[np.arange(len(idx)), colour] = imgs[idx]
        return x.reshape(len(idx), -1), y, colour

    spans = {"e1": (0, 1800, 0.1), "e2": (1800, 3600, 0.2), "v1": (3600, 3800, 0.1), "v2": (3800, 4000, 0.2),
             "test": (4000, 5000, 0.9)}
    made = {k: env(np.arange(a, b), e) for k, (a, b, e) in spans.items()}

    def part(*keys):
        X = np.concatenate([made[k][0] for k in keys])
        y = np.concatenate([made[k][1] for k in keys])
        s = np.concatenate([made[k][2] for k in keys])
        return Part(X=X, y=y, g=2 * y + s, s=s)

    return WGData(
        "cmnist", part("e1", "e2"), part("v1", "v2"), part("test"),
        ["y=0, red", "y=0, green", "y=1, red", "y=1, green"],
        "Coloured MNIST (Arjovsky et al. 2019) from the 5k MNIST digits: label digit<5 with 25% label noise, "
        "colour agreeing with the label in 90%/80% of two training environments (1,800 digits each) and 10% "
        "at test (1,000); 14x14x2 inputs, MLP.",
        model_params={"model": "mlp", "hidden_sizes": (256, 256)},
    )


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _read_png_grey(path: Path) -> np.ndarray:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except ImportError:  # pragma: no cover - PIL is normally installed
        return _png_pure_python(path)


def _png_pure_python(path: Path) -> np.ndarray:
    """Decode an 8-bit greyscale/RGB(A) non-interlaced PNG with zlib (fallback without PIL)."""
    import struct
    import zlib

    data = path.read_bytes()
    pos, chunks, header = 8, [], None
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = header
    if depth != 8 or interlace:
        raise ValueError("only 8-bit non-interlaced PNGs are supported without PIL")
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(b"".join(chunks))
    stride = w * channels
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for r in range(h):
        f = raw[r * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, r * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for i in range(stride):
            left = cur[i - channels] if i >= channels else 0
            up = prev[i]
            ul = prev[i - channels] if i >= channels else 0
            if f == 0:
                pred = 0
            elif f == 1:
                pred = left
            elif f == 2:
                pred = up
            elif f == 3:
                pred = (left + up) // 2
            else:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
            cur[i] = (line[i] + pred) & 0xFF
        out[r] = cur
        prev = cur
    img = out.reshape(h, w, channels).astype(np.float32) / 255.0
    return img[..., :3].mean(-1) if channels >= 3 else img[..., 0]


#: Fashion-MNIST classes of the two super-classes (the "birds"): tops vs. shoes and bags.
TOPS = (0, 2, 4, 6)  # T-shirt/top, pullover, coat, shirt
NOT_TOPS = (5, 7, 8, 9)  # sandal, sneaker, bag, ankle boot


def waterbirds_fmnist(n_train: int = 4000, n_val: int = 1000, n_test: int = 2000,
                      p_train: float = 0.95, p_eval: float = 0.5) -> WGData:
    """Waterbirds-style images: Fashion-MNIST objects pasted on grass or brick.

    Label 0 = tops (T-shirt, pullover, coat, shirt), 1 = shoes and bags
    (sandal, sneaker, bag, ankle boot). Each image is a random 28x28 crop of
    the 512x512 grass (background 0) or brick (background 1) texture with the
    object pasted where its pixels are non-zero; the object's intensity is
    scaled by 0.6 and the background keeps its texture, so the background is
    an easier feature than the object's shape. The background agrees with the
    label in ``p_train`` (95%) of training images and ``p_eval`` (50%) of
    validation and test images (as in Waterbirds, whose validation and test
    sets are background-balanced). Objects come from Fashion-MNIST's training
    file for train/validation and from its test file for test. Groups: label
    x background. The model is the small CNN on 1x28x28 images.
    """
    home = data_home()
    fm = home / "fashion-mnist"
    tex = [_read_png_grey(home / "textures" / "grass.png"), _read_png_grey(home / "textures" / "brick.png")]
    rng = np.random.default_rng(DATA_SEED)

    def objects(prefix, n):
        imgs = _read_idx(fm / f"{prefix}-images-idx3-ubyte.gz")
        labs = _read_idx(fm / f"{prefix}-labels-idx1-ubyte.gz").astype(int)
        keep = np.flatnonzero(np.isin(labs, TOPS + NOT_TOPS))
        keep = rng.permutation(keep)[:n]
        return imgs[keep].astype(np.float32) / 255.0, np.isin(labs[keep], NOT_TOPS).astype(int)

    def compose(obj, y, p):
        n = len(y)
        bg = np.where(rng.random(n) < p, y, 1 - y)
        out = np.empty((n, 1, 28, 28), np.float32)
        for i in range(n):
            t = tex[bg[i]]
            r, c = rng.integers(0, t.shape[0] - 28, 2)
            crop = t[r:r + 28, c:c + 28]
            mask = obj[i] > 0.05
            out[i, 0] = np.where(mask, 0.6 * obj[i], crop)
        return Part(X=out, y=y, g=2 * y + bg, s=bg)

    obj_tr, y_tr = objects("train", n_train + n_val)
    obj_te, y_te = objects("t10k", n_test)
    train = compose(obj_tr[:n_train], y_tr[:n_train], p_train)
    val = compose(obj_tr[n_train:], y_tr[n_train:], p_eval)
    test = compose(obj_te, y_te, p_eval)
    return WGData(
        "waterbirds", train, val, test,
        ["tops on grass", "tops on brick", "shoes/bags on grass", "shoes/bags on brick"],
        f"Waterbirds-style: Fashion-MNIST tops vs. shoes/bags pasted on grass or brick texture crops; "
        f"background agrees with the label in {p_train:.0%} of training ({n_train:,} images) and "
        f"{p_eval:.0%} of validation ({n_val:,}) and test ({n_test:,}); small CNN.",
        model_params={"model": "cnn"},
    )


BUILDERS = {
    "celeba": celeba,
    "adult": adult,
    "compas": compas,
    "cmnist": coloured_mnist,
    "waterbirds": waterbirds_fmnist,
}
