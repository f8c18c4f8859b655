"""The reference profile of a monitored model, built from its training (or validation) table.

The profile is plain JSON stored with a model version: per-feature bins
(quantile edges of numeric columns, the category set of categorical ones),
per-group counts, per-feature histograms overall and per group, the
sufficient statistics of the model's predictions on the reference rows per
group (from :class:`unskew.metrics.GroupStats`), an out-of-distribution score
fitted on the reference (HBOS, Goldstein & Dengel 2012: the sum over features
of ``-log`` of the reference frequency of the row's bin) with its 99th
percentile as threshold, and an isotonic calibration map of the scores for
confidence-based performance estimation (CBPE).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import MISSING as MISSING_GROUP
from ..data._groups import group_name as group_label
from ..exceptions import UnskewInputError

PROFILE_VERSION = 1
PRED = "__prediction__"
SCORE = "__score__"
#: Categories kept per categorical feature (the rest share an "other" bin).
MAX_CATEGORIES = 60


def to_pandas(table: Any, what: str = "table") -> pd.DataFrame:
    """A pandas DataFrame from pandas, polars, Arrow, a dict or a file path."""
    from ..data._io import load_table

    if isinstance(table, pd.DataFrame):
        return table
    frame, _ = load_table(table)
    return frame


def label_str(values: Any) -> np.ndarray:
    """Labels as strings (``1.0`` -> ``"1"``), missing as None, so stored labels compare exactly.

    Typed columns are factorised first, so each distinct value is converted once
    (object columns keep the per-value path: hashing would merge ``True`` and ``1``).
    """
    codes, lab = factor_labels(values)
    return lab[codes]


def factor_labels(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, labels)`` with ``label_str(values) == labels[codes]``; the last label is None (missing)."""
    s = pd.Series(values)
    if s.dtype != object:
        codes, uniq = pd.factorize(s, use_na_sentinel=True)
        lab = np.empty(len(uniq) + 1, dtype=object)
        lab[:-1] = _label_str(pd.Series(uniq))
        lab[-1] = None
        return np.where(codes < 0, len(uniq), codes), lab
    vals = _label_str(s)
    isna = pd.isna(vals)
    codes, uniq = pd.factorize(np.where(isna, "", vals).astype(object))
    codes = np.where(isna, len(uniq), codes)
    lab = np.empty(len(uniq) + 1, dtype=object)
    lab[:-1] = np.asarray(uniq, dtype=object)
    lab[-1] = None
    return codes, lab


def _label_str(s: pd.Series) -> np.ndarray:
    n = len(s)
    isna = s.isna().to_numpy()
    out = np.empty(n, dtype=object)
    if pd.api.types.is_bool_dtype(s):
        out[:] = s.astype(str).to_numpy(dtype=object)
    elif pd.api.types.is_integer_dtype(s):
        out[:] = s.astype(str).to_numpy(dtype=object)
    elif pd.api.types.is_float_dtype(s):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(vals) & (vals == np.round(vals))
        out[integral] = vals[integral].astype(np.int64).astype(str)
        rest = ~integral & ~isna
        out[rest] = [str(v) for v in vals[rest]]
    elif pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        out[:] = s.astype(str).to_numpy(dtype=object)
    else:
        for i, v in enumerate(s.to_numpy(dtype=object)):
            if isna[i]:
                continue
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                out[i] = str(int(v))
            elif isinstance(v, (bool, np.bool_)):
                out[i] = str(bool(v))
            else:
                out[i] = str(v)
    out[isna] = None
    return out


def py(v: Any) -> Any:
    """numpy scalars -> Python scalars, so messages show ``1.5`` rather than ``np.float64(1.5)``."""
    return v.item() if isinstance(v, np.generic) else v


def _require(frame: pd.DataFrame, cols: Sequence[str], role: str, source: str) -> None:
    for c in cols:
        if c not in frame.columns:
            have = ", ".join(map(str, list(frame.columns)[:12]))
            raise UnskewInputError(f"{role} column {c!r} is not in {source} (columns: {have}).")


def _factor(frame: pd.DataFrame, col: str, factors: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factor_labels` of ``frame[col]``, memoised in ``factors`` (one encoding per column per batch)."""
    if factors is None:
        return factor_labels(frame[col])
    if col not in factors:
        factors[col] = factor_labels(frame[col])
    return factors[col]


def group_names(frame: pd.DataFrame, sensitive: Sequence[str], factors: dict | None = None) -> np.ndarray:
    """Group name per row (``"sex=Female & race=Black"``; missing values as ``(missing)``)."""
    if not sensitive:
        raise UnskewInputError("Monitoring needs at least one sensitive column (--sensitive).")
    key = np.zeros(len(frame), dtype=np.int64)
    uniques = []
    for c in sensitive:
        codes, labels = _factor(frame, c, factors)
        names = [MISSING_GROUP if v is None else v for v in labels.tolist()]
        uniq = list(dict.fromkeys(names))
        if len(uniq) < len(names):  # two values with one label (e.g. 1 and 1.0 in an object column)
            where = {v: i for i, v in enumerate(uniq)}
            codes = np.array([where[v] for v in names], dtype=np.int64)[codes]
        key = key * len(uniq) + codes
        uniques.append(uniq)
    combo, inv = np.unique(key, return_inverse=True)
    names = np.empty(len(combo), dtype=object)
    for i, k in enumerate(combo.tolist()):
        parts = []
        for name, uniq in zip(reversed(sensitive), reversed(uniques), strict=True):
            k, r = divmod(k, len(uniq))
            parts.append(f"{name}={uniq[r]}")
        names[i] = " & ".join(reversed(parts))
    return names[inv.reshape(-1)]


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


class Profile:
    """A reference profile (a JSON dict) with the operations that use it on new rows."""

    def __init__(self, data: dict):
        self.data = data

    # -- accessors
    @property
    def features(self) -> list[dict]:
        return self.data["features"]

    @property
    def sensitive(self) -> list[str]:
        return self.data["sensitive"]

    @property
    def groups(self) -> dict[str, int]:
        return self.data["groups"]

    @property
    def pos_label(self) -> str | None:
        return self.data.get("pos_label")

    def feature(self, name: str) -> dict:
        for f in self.features:
            if f["name"] == name:
                return f
        raise KeyError(name)

    # -- per-row encodings
    def bin_codes(self, frame: pd.DataFrame, source: str = "the batch", factors: dict | None = None) -> dict[str, np.ndarray]:
        """Bin index of every row for every profiled feature; invalid numeric values raise.

        ``factors`` (optional, filled as a side effect) memoises each categorical column's labels."""
        out = {}
        for f in self.features:
            col = f["column"]
            s = frame[col]
            if f["kind"] == "numeric":
                if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiu":  # already numbers: no parsing
                    x = s.to_numpy(dtype=float, copy=False)
                else:
                    num = pd.to_numeric(s, errors="coerce")
                    bad = num.isna() & s.notna()
                    if bad.any():
                        i = int(np.flatnonzero(bad.to_numpy())[0])
                        raise UnskewInputError(
                            f"Column {col!r} is numeric in the reference but row {i} has {py(s.iloc[i])!r}; "
                            f"send numbers (or leave the value empty for missing)."
                        )
                    x = num.to_numpy(dtype=float)
                if np.isinf(x).any():
                    i = int(np.flatnonzero(np.isinf(x))[0])
                    raise UnskewInputError(f"Column {col!r} row {i} is {py(x[i])!r}; values must be finite.")
                edges = np.asarray(f["edges"], dtype=float)
                codes = np.searchsorted(edges, x, side="right")
                codes = np.where(np.isnan(x), len(edges) + 1, codes)
            else:
                cats = f["categories"]
                other, missing = len(cats), len(cats) + 1
                vcodes, labels = _factor(frame, col, factors)
                pos = {c: i for i, c in enumerate(cats)}
                per_label = np.array([missing if v is None else pos.get(v, other) for v in labels.tolist()],
                                     dtype=np.int64)
                codes = per_label[vcodes]
            out[f["name"]] = codes.astype(np.int64)
        return out

    def ood_scores(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        """HBOS score per row: sum over input features of ``-log`` reference bin frequency."""
        total = None
        for f in self.features:
            if f["role"] != "feature":
                continue
            logp = np.asarray(f["neg_log_freq"], dtype=float)
            part = logp[codes[f["name"]]]
            total = part if total is None else total + part
        return total if total is not None else np.zeros(0)

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probability of the positive class (isotonic map fitted on the reference)."""
        cal = self.data.get("calibration")
        if not cal:
            return np.asarray(scores, dtype=float)
        return np.interp(np.asarray(scores, dtype=float), cal["x"], cal["y"])


def _neg_log_freq(counts: np.ndarray) -> list[float]:
    counts = np.asarray(counts, dtype=float)
    p = (counts + 1.0) / (counts.sum() + len(counts))
    return (-np.log(p)).tolist()


def _hist(codes: np.ndarray, n_bins: int, ginv: np.ndarray, group_list: list[str]) -> dict:
    """Bin counts overall and per group (``ginv``: each row's index into ``group_list``), one bincount."""
    flat = np.bincount(ginv * n_bins + codes, minlength=len(group_list) * n_bins).reshape(len(group_list), n_bins)
    return {"all": flat.sum(axis=0).tolist(), "by_group": {g: flat[i].tolist() for i, g in enumerate(group_list)}}


def build_profile(
    table: Any,
    *,
    target: str,
    predictions: str,
    sensitive: Sequence[str],
    scores: str | None = None,
    features: Sequence[str] | None = None,
    model: Any = None,
    n_bins: int = 10,
    exclude: Sequence[str] = (),
) -> Profile:
    """Build the reference profile of a model from its training (or validation) table.

    Parameters
    ----------
    table : DataFrame, polars/Arrow table or path
        Reference rows with the target and the model's predictions (or a ``model``
        to compute them).
    target, predictions : str
        Label column and predicted-label column.
    sensitive : list of str
        Sensitive columns; their intersections are the groups.
    scores : str, optional
        Positive-class score column (binary): enables CBPE and score drift.
    features : list of str, optional
        Columns to profile (default: every column except target, predictions, scores).
    model : estimator, optional
        Used to fill the predictions/scores columns when the table lacks them.
    n_bins : int, default 10
        Quantile bins per numeric feature.

    Returns
    -------
    Profile

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.monitor import build_profile
    >>> df = pd.DataFrame({"x": range(100), "s": ["a", "b"] * 50, "y": [0, 1] * 50, "p": [0, 1] * 50})
    >>> prof = build_profile(df, target="y", predictions="p", sensitive=["s"])
    >>> sorted(prof.groups)
    ['s=a', 's=b']
    """
    from ..metrics import GroupStats

    frame = to_pandas(table).reset_index(drop=True)
    source = "the reference table"
    if len(frame) < 20:
        raise UnskewInputError(f"The reference table has {len(frame)} rows; a profile needs at least 20.")
    sensitive = list(sensitive)
    _require(frame, [target, *sensitive], "Reference", source)
    if predictions not in frame.columns or (scores and scores not in frame.columns):
        if model is None:
            miss = predictions if predictions not in frame.columns else scores
            raise UnskewInputError(
                f"Column {miss!r} is not in the reference table; add the model's outputs or pass --model."
            )
        from ..metrics._models import model_features, predict_with

        X = frame[model_features(model, frame, [target, predictions] + ([scores] if scores else []))]
        yp, ys = predict_with(model, X)
        frame = frame.copy()
        if predictions not in frame.columns:
            frame[predictions] = yp
        if scores and scores not in frame.columns:
            if ys is None:
                raise UnskewInputError(f"The model has no predict_proba; it cannot fill the scores column {scores!r}.")
            frame[scores] = ys
    if frame[target].isna().any():
        i = int(np.flatnonzero(frame[target].isna().to_numpy())[0])
        raise UnskewInputError(f"Target column {target!r} is missing at row {i} of the reference table.")
    skip = {target, predictions, *(c for c in [scores] if c), *exclude}
    feats = list(features) if features is not None else [c for c in frame.columns if c not in skip]
    _require(frame, feats, "Feature", source)
    for s in sensitive:
        if s not in feats:
            feats.append(s)
    factors: dict = {}
    groups = group_names(frame, sensitive, factors)
    gvals, ginv, gcounts = np.unique(groups.astype(str), return_inverse=True, return_counts=True)
    group_list = gvals.tolist()
    y = label_str(frame[target])
    yp = label_str(frame[predictions])
    if pd.isna(yp).any():
        raise UnskewInputError(f"Predictions column {predictions!r} has missing values in the reference table.")

    fprofiles = []
    for col in feats + [predictions] + ([scores] if scores else []):
        role = "feature" if col in feats else ("prediction" if col == predictions else "score")
        name = col if role == "feature" else (PRED if role == "prediction" else SCORE)
        s = frame[col]
        if role == "prediction" or not _is_numeric(s) or (col in sensitive):
            codes, labels = _factor(frame, col, factors)
            cnt = np.bincount(codes, minlength=len(labels))[:-1]  # the last label is missing
            counts: dict[str, int] = {}
            for i in np.argsort(-cnt, kind="stable").tolist():  # most frequent first
                if cnt[i]:
                    k = str(labels[i])
                    counts[k] = counts.get(k, 0) + int(cnt[i])
            if len(counts) < int((cnt > 0).sum()):  # two values with one label: order the merged counts again
                counts = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
            cats = list(counts)[:MAX_CATEGORIES]
            entry = {"name": name, "column": col, "role": role, "kind": "categorical", "categories": cats,
                     "counts": counts}
            n_b = len(cats) + 2
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            finite = x[np.isfinite(x)]
            if role == "score":
                qs = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1]) if len(finite) else []
            else:
                qs = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1]) if len(finite) else []
            edges = np.unique(np.asarray(qs, dtype=float))
            entry = {"name": name, "column": col, "role": role, "kind": "numeric", "edges": edges.tolist(),
                     "min": float(finite.min()) if len(finite) else None,
                     "max": float(finite.max()) if len(finite) else None}
            n_b = len(edges) + 2
        entry["n_bins"] = n_b
        fprofiles.append(entry)
    prof = Profile({"profile_version": PROFILE_VERSION, "target": target, "predictions": predictions,
                    "scores": scores, "sensitive": sensitive, "features": fprofiles,
                    "groups": {g: int(c) for g, c in zip(group_list, gcounts, strict=True)},
                    "n": len(frame)})
    codes = prof.bin_codes(frame, source, factors)
    for f in fprofiles:
        f["hist"] = _hist(codes[f["name"]], f["n_bins"], ginv, group_list)
        if f["role"] == "feature":
            f["neg_log_freq"] = _neg_log_freq(f["hist"]["all"])
    ood = prof.ood_scores(codes)
    thr = float(np.quantile(ood, 0.99))
    over = np.bincount(ginv, weights=ood > thr, minlength=len(group_list))
    prof.data["ood"] = {"method": "hbos", "threshold": thr, "quantile": 0.99, "rate": float((ood > thr).mean()),
                        "by_group": {g: float(over[i] / gcounts[i]) for i, g in enumerate(group_list)}}

    # performance of the model on the reference rows, per group, from the metrics engine
    stats = GroupStats.from_arrays(y, yp, sensitive_features={c: group_parts(frame, c, factors) for c in sensitive},
                                   y_score=None)
    classes = [str(c) for c in stats.classes.tolist()]
    pos = None
    if len(classes) == 2:
        pos = str(stats.pos_label)
    prof.data["classes"] = classes
    prof.data["pos_label"] = pos
    perf = {}
    for gi, key in enumerate(stats.keys):
        g = group_label(stats.names, tuple(str(k) for k in key))
        cn = stats.conf_n[gi]
        perf[g] = _perf_entry(cn, classes, pos)
    perf["__all__"] = _perf_entry(stats.conf_n.sum(axis=0), classes, pos)
    prof.data["performance"] = perf
    # selection rate (share predicted positive) per group, for the fairness gaps
    if scores:
        sc = pd.to_numeric(frame[scores], errors="coerce").to_numpy(dtype=float)
        if pos is None:
            raise UnskewInputError(f"--scores applies to a binary target; {target!r} has {len(classes)} classes.")
        if not np.isfinite(sc).all():
            raise UnskewInputError(f"Scores column {scores!r} has missing or non-numeric values in the reference table.")
        prof.data["calibration"] = fit_calibration(sc, y == pos)
    return prof


def fit_calibration(scores: np.ndarray, positive: np.ndarray) -> dict:
    """Isotonic map from scores to the probability of the positive class (CBPE's calibration), as JSON."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, np.asarray(positive, dtype=float))
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def group_parts(frame: pd.DataFrame, col: str, factors: dict | None = None) -> np.ndarray:
    codes, labels = _factor(frame, col, factors)
    names = np.array([MISSING_GROUP if v is None else v for v in labels.tolist()], dtype=object)
    return names[codes].astype(str)


def _perf_entry(conf_n: np.ndarray, classes: list[str], pos: str | None) -> dict:
    conf_n = np.asarray(conf_n)
    n = int(conf_n.sum())
    correct = int(np.trace(conf_n))
    out = {"n": n, "correct": correct, "accuracy": correct / n if n else None}
    if pos is not None:
        p = classes.index(pos)
        q = 1 - p
        out.update(tp=int(conf_n[p, p]), fn=int(conf_n[p, q]), fp=int(conf_n[q, p]), tn=int(conf_n[q, q]))
        out["selection_rate"] = (out["tp"] + out["fp"]) / n if n else None
    return out


def finite_or_none(x: float) -> float | None:
    return x if x is not None and math.isfinite(x) else None
