"""Loaders of real fairness datasets with documented, reproducible cleaning.

Each loader returns a pandas DataFrame. ``df.attrs["source"]`` names the file(s)
read and ``df.attrs["excluded"]`` maps each reason for removing rows to the
number of rows removed (empty when nothing was removed: rows are never dropped
silently).
"""

from __future__ import annotations

import gzip
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ._home import find_file

PathLike = str | os.PathLike


def _check_split(split: str, allowed: tuple[str, ...]) -> str:
    if split not in allowed:
        raise UnskewInputError(f"split must be one of {', '.join(repr(s) for s in allowed)}; got {split!r}.")
    return split


def _explicit(path: PathLike, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UnskewInputError(
            f"The {what} file {p} does not exist{' (it is a folder)' if p.is_dir() else ''}. "
            f"Pass path= the raw file itself, or leave path out and use data_home."
        )
    return p


def _strip_strings(df: pd.DataFrame) -> pd.DataFrame:
    for c in df.columns:
        if pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object:
            df[c] = df[c].str.strip()
    return df


# --------------------------------------------------------------------------- Adult
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
_ADULT_INT = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
_ADULT_FILES = {
    "train": ("adult/adult.data.gz", "adult/adult.data"),
    "test": ("adult/adult.test.gz", "adult/adult.test"),
}


def _first_line(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.readline()


def _read_adult_file(path: Path, split: str) -> pd.DataFrame:
    skip = 1 if _first_line(path).lstrip().startswith("|") else 0
    try:
        df = pd.read_csv(
            path,
            header=None,
            names=ADULT_COLUMNS,
            skiprows=skip,
            skipinitialspace=True,
            na_values=["?"],
            keep_default_na=False,
            index_col=False,
            dtype={c: "int64" for c in _ADULT_INT},
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise UnskewInputError(
            f"Could not read {path} as a raw UCI Adult file (15 comma-separated fields): {exc}"
        ) from exc
    df = _strip_strings(df)
    label = df["income"].str.rstrip(".")
    income = label.map({"<=50K": 0, ">50K": 1})
    bad = income.isna()
    if bad.any():
        vals = sorted(label[bad].astype(str).unique())[:5]
        raise UnskewInputError(
            f"{path}: {int(bad.sum())} rows have an income label other than '<=50K'/'>50K' "
            f"(for example {vals}); is this the raw UCI Adult file?"
        )
    df["income"] = income.astype("int64")
    df["split"] = split
    return df


def load_adult(
    split: str = "all",
    *,
    data_home: PathLike | None = None,
    path: PathLike | None = None,
    download: bool = False,
) -> pd.DataFrame:
    """UCI Adult census income (32,561 train + 16,281 test rows).

    Cleaning (nothing is dropped):

    - column names as in ``adult.names``, in snake_case
      (``education-num`` -> ``education_num``, the label -> ``income``);
    - leading/trailing spaces stripped from every value;
    - ``"?"`` read as missing (workclass, occupation and native_country have
      missing values; those rows are kept);
    - the test file's first line (``|1x3 Cross validator``) skipped and the
      trailing ``"."`` of its labels (``">50K."``) removed;
    - ``income`` is an int, 1 for ``>50K`` and 0 for ``<=50K``;
    - a ``split`` column says ``"train"`` (``adult.data``) or ``"test"`` (``adult.test``).

    Parameters
    ----------
    split : {"all", "train", "test"}, default "all"
    data_home : path, optional
        Folder with ``adult/adult.data.gz`` and ``adult/adult.test.gz``
        (uncompressed ``adult.data``/``adult.test`` also work). Defaults to
        ``$UNSKEW_DATA_HOME``, then ``~/unskew_data``.
    path : path, optional
        The raw file itself. With ``split="all"`` give a folder holding both
        files, or a ``(train, test)`` pair; with ``"train"``/``"test"`` a single file.
    download : bool, default False
        Fetch missing files into the data home, verifying SHA-256 checksums.

    Returns
    -------
    pandas.DataFrame
    """
    _check_split(split, ("all", "train", "test"))
    wanted = ["train", "test"] if split == "all" else [split]
    files: dict[str, Path] = {}
    if path is not None:
        if isinstance(path, (tuple, list)):
            if len(path) != 2 or split != "all":
                raise UnskewInputError(
                    "A (train, test) pair of paths needs split='all'; pass one file for one split."
                )
            files = {"train": _explicit(path[0], "Adult train"), "test": _explicit(path[1], "Adult test")}
        elif Path(path).expanduser().is_dir():
            folder = Path(path).expanduser()
            for s in wanted:
                cands = [folder / Path(c).name for c in _ADULT_FILES[s]]
                found = [c for c in cands if c.is_file()]
                if not found:
                    raise UnskewInputError(
                        f"Neither {' nor '.join(str(c) for c in cands)} exists; pass the folder "
                        f"that holds the raw Adult files."
                    )
                files[s] = found[0]
        else:
            if split == "all":
                raise UnskewInputError(
                    f"path={str(path)!r} is one file but split='all' needs both the train and the "
                    f"test file: pass split='train' or 'test', a folder, or a (train, test) pair."
                )
            files[split] = _explicit(path, f"Adult {split}")
    else:
        for s in wanted:
            files[s] = find_file("adult", _ADULT_FILES[s], data_home=data_home, download=download)
    frames = [_read_adult_file(files[s], s) for s in wanted]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    df.attrs = {"source": [str(files[s]) for s in wanted], "excluded": {}}
    return df


# --------------------------------------------------------------------------- COMPAS
COMPAS_COLUMNS = [
    "sex",
    "age",
    "age_cat",
    "race",
    "juv_fel_count",
    "juv_misd_count",
    "juv_other_count",
    "priors_count",
    "c_charge_degree",
    "c_charge_desc",
    "decile_score",
    "score_text",
    "two_year_recid",
]
_COMPAS_FILES = ("compas/compas-scores-two-years.csv.gz", "compas/compas-scores-two-years.csv")


def load_compas(
    *,
    data_home: PathLike | None = None,
    path: PathLike | None = None,
    download: bool = False,
) -> pd.DataFrame:
    """ProPublica COMPAS two-year recidivism data, filtered as ProPublica did (6,172 rows).

    Cleaning: of the 7,214 raw rows, keep those with

    1. ``days_b_screening_arrest`` between -30 and 30 (rows where it is missing
       are removed too, as in ProPublica's R code),
    2. ``is_recid != -1``,
    3. ``c_charge_degree != "O"`` (ordinary traffic offences),
    4. ``score_text != "N/A"``,

    applied in that order; ``df.attrs["excluded"]`` gives the number of rows
    each step removed. The columns kept are ``sex, age, age_cat, race,
    juv_fel_count, juv_misd_count, juv_other_count, priors_count,
    c_charge_degree, c_charge_desc, decile_score, score_text, two_year_recid``
    (0/1). ``decile_score`` and ``score_text`` are the COMPAS tool's outputs,
    not inputs. Only the empty string is read as missing (``"N/A"`` is a value
    of ``score_text``).

    Parameters
    ----------
    data_home : path, optional
        Folder with ``compas/compas-scores-two-years.csv.gz``.
    path : path, optional
        The raw CSV (optionally gzip-compressed) itself.
    download : bool, default False
        Fetch the file into the data home, verifying its SHA-256 checksum.

    Returns
    -------
    pandas.DataFrame
    """
    file = (
        _explicit(path, "COMPAS")
        if path is not None
        else find_file("compas", _COMPAS_FILES, data_home=data_home, download=download)
    )
    try:
        raw = pd.read_csv(file, keep_default_na=False, na_values=[""], low_memory=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UnskewInputError(f"Could not read {file} as the COMPAS CSV: {exc}") from exc
    needed = set(COMPAS_COLUMNS) | {"days_b_screening_arrest", "is_recid"}
    missing = sorted(needed - set(raw.columns))
    if missing:
        raise UnskewInputError(
            f"{file} lacks the column(s) {missing}; pass compas-scores-two-years.csv from ProPublica."
        )
    days = pd.to_numeric(raw["days_b_screening_arrest"], errors="coerce")
    steps = [
        ("days_b_screening_arrest missing or outside [-30, 30]", days.between(-30, 30)),
        ("is_recid == -1", pd.to_numeric(raw["is_recid"], errors="coerce") != -1),
        ('c_charge_degree == "O"', raw["c_charge_degree"].astype(str) != "O"),
        ('score_text == "N/A"', raw["score_text"].astype(str) != "N/A"),
    ]
    keep = np.ones(len(raw), dtype=bool)
    excluded: dict[str, int] = {}
    for reason, cond in steps:
        cond = cond.fillna(False).to_numpy(dtype=bool)
        excluded[reason] = int((keep & ~cond).sum())
        keep &= cond
    df = raw.loc[keep, COMPAS_COLUMNS].reset_index(drop=True)
    df["two_year_recid"] = df["two_year_recid"].astype("int64")
    df.attrs = {"source": str(file), "excluded": excluded, "n_rows_read": len(raw)}
    return df


# --------------------------------------------------------------------------- German credit
#: (column name, key in values_maps.json or None for a number), in file order.
GERMAN_ATTRIBUTES = [
    ("checking_status", "status"),
    ("duration_months", None),
    ("credit_history", "credit_history"),
    ("purpose", "purpose"),
    ("credit_amount", None),
    ("savings", "savings"),
    ("employment_since", "present_employment"),
    ("installment_rate", None),
    ("personal_status_sex", "status_sex"),
    ("other_debtors", "other_debtors"),
    ("residence_since", None),
    ("property", "property"),
    ("age", None),
    ("other_installment_plans", "installment_plans"),
    ("housing", "housing"),
    ("existing_credits", None),
    ("job", "job"),
    ("people_liable", None),
    ("telephone", "telephone"),
    ("foreign_worker", "foreign_worker"),
]
_GERMAN_FILES = ("german/german.data.gz", "german/german.data")
#: Age threshold of ``age_group`` (the usual convention, e.g. Kamiran & Calders 2009).
GERMAN_AGE_THRESHOLD = 25


def _bundled(name: str) -> Path:
    return Path(str(resources.files("unskew.datasets").joinpath("_data", name)))


def _german_values_maps() -> dict[str, dict[str, Any]]:
    with open(_bundled("values_maps.json"), encoding="utf-8") as fh:
        return json.load(fh)


def load_german(
    *,
    data_home: PathLike | None = None,
    path: PathLike | None = None,
    download: bool = False,
) -> pd.DataFrame:
    """Statlog German credit data (1,000 rows), decoded to readable values.

    Works offline: when no copy is found in the data home (and ``path`` is not
    given) the copy bundled with unskew is read.

    Cleaning (nothing is dropped):

    - the 20 attributes get snake_case names (see :data:`GERMAN_ATTRIBUTES`)
      and the codes ``A11``, ``A12``, ... are replaced by their meaning from
      the dataset's documentation (``values_maps.json``), with surrounding
      spaces stripped; ``telephone`` and ``foreign_worker`` become booleans;
    - the seven numeric attributes (``duration_months``, ``credit_amount``,
      ``installment_rate``, ``residence_since``, ``age``, ``existing_credits``,
      ``people_liable``) stay integers;
    - ``sex`` (``"male"``/``"female"``) is derived from attribute 9, "personal
      status and sex";
    - ``age_group`` is ``"<25"`` or ``">=25"``;
    - the target ``credit`` is 1 for good (raw class 1) and 0 for bad (raw class 2).

    Parameters
    ----------
    data_home : path, optional
        Folder with ``german/german.data``.
    path : path, optional
        The raw ``german.data`` (space separated, optionally gzipped).
    download : bool, default False
        Fetch the file into the data home when it is missing (instead of
        using the bundled copy), verifying its SHA-256 checksum.

    Returns
    -------
    pandas.DataFrame
    """
    if path is not None:
        file = _explicit(path, "German credit")
    else:
        bundled = _bundled("german.data.gz")
        file = find_file("german", _GERMAN_FILES, data_home=data_home, download=download, fallback=bundled)
    names = [n for n, _ in GERMAN_ATTRIBUTES] + ["credit"]
    try:
        raw = pd.read_csv(file, sep=r"\s+", header=None, names=names, dtype=str, index_col=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UnskewInputError(f"Could not read {file} as the raw german.data file: {exc}") from exc
    if raw.isna().any().any():
        bad = int(raw.isna().any(axis=1).sum())
        raise UnskewInputError(
            f"{file}: {bad} rows have fewer than 21 fields; pass the raw german.data "
            f"(20 coded attributes and the class, space separated)."
        )
    maps = _german_values_maps()
    df = pd.DataFrame(index=raw.index)
    for col, key in GERMAN_ATTRIBUTES:
        if key is None:
            num = pd.to_numeric(raw[col], errors="coerce")
            if num.isna().any():
                v = raw.loc[num.isna(), col].iloc[0]
                raise UnskewInputError(f"{file}: column {col!r} has the non-numeric value {v!r}.")
            df[col] = num.astype("int64")
            continue
        mapping = maps[key]
        unknown = sorted(set(raw[col]) - set(mapping))
        if unknown:
            raise UnskewInputError(
                f"{file}: column {col!r} has code(s) {unknown[:5]} not in the documented codes "
                f"{sorted(mapping)}."
            )
        values = {k: (v.strip() if isinstance(v, str) else v) for k, v in mapping.items()}
        decoded = raw[col].map(values)
        df[col] = decoded.astype(bool) if all(isinstance(v, bool) for v in values.values()) else decoded
    cls = raw["credit"].map({"1": 1, "2": 0})
    if cls.isna().any():
        v = raw.loc[cls.isna(), "credit"].iloc[0]
        raise UnskewInputError(f"{file}: the class must be 1 (good) or 2 (bad), found {v!r}.")
    df["sex"] = df["personal_status_sex"].str.split(":").str[0].str.strip().astype(str)
    young = df["age"] < GERMAN_AGE_THRESHOLD
    df["age_group"] = np.where(young, f"<{GERMAN_AGE_THRESHOLD}", f">={GERMAN_AGE_THRESHOLD}").astype(str)
    df["credit"] = cls.astype("int64")
    bundled = file == _bundled("german.data.gz")
    df.attrs = {"source": "bundled copy (unskew/datasets/_data)" if bundled else str(file), "excluded": {}}
    return df


# --------------------------------------------------------------------------- CelebA
#: Filename ranges of CelebA's standard split (inclusive image numbers).
CELEBA_SPLITS = {"train": (1, 162770), "valid": (162771, 182637), "test": (182638, 202599)}
_CELEBA_FILES = ("celeba/celeba.csv.zip", "celeba/celeba.csv.gz", "celeba/celeba.csv")


def load_celeba_attributes(
    split: str = "all",
    *,
    data_home: PathLike | None = None,
    path: PathLike | None = None,
    download: bool = False,
) -> pd.DataFrame:
    """CelebA's 40 binary face attributes (202,599 rows; no images).

    Cleaning (nothing is dropped):

    - the attributes, coded -1/+1 in the file, become 0/1 (``int8``; any other
      value raises an error);
    - ``filename`` is kept (``"000001.jpg"``, ...);
    - ``split`` is ``"train"`` for images 000001-162770, ``"valid"`` for
      162771-182637 and ``"test"`` for 182638-202599 (the standard partition).

    The usual fairness set-up predicts ``Blond_Hair`` with ``Male`` as the
    sensitive (spurious) attribute.

    Parameters
    ----------
    split : {"all", "train", "valid", "test"}, default "all"
    data_home : path, optional
        Folder with ``celeba/celeba.csv.zip``.
    path : path, optional
        The attribute CSV itself (``.zip``, ``.gz`` or plain).
    download : bool, default False
        Fetch the file into the data home, verifying its SHA-256 checksum.

    Returns
    -------
    pandas.DataFrame
    """
    _check_split(split, ("all", *CELEBA_SPLITS))
    file = (
        _explicit(path, "CelebA attributes")
        if path is not None
        else find_file("celeba", _CELEBA_FILES, data_home=data_home, download=download)
    )
    try:
        df = pd.read_csv(file, dtype=defaultdict(lambda: "int8", filename=str))
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise UnskewInputError(
            f"Could not read {file} as the CelebA attribute table (a 'filename' column and "
            f"40 attributes coded -1/+1): {exc}"
        ) from exc
    header = [str(c) for c in df.columns]
    if not header or header[0] != "filename" or len(header) < 2:
        raise UnskewInputError(
            f"{file}: the first column must be 'filename' followed by the attributes (got "
            f"{header[:3]}); pass the CelebA attribute table."
        )
    attrs = header[1:]
    vals = df[attrs].to_numpy()
    bad = (vals != 1) & (vals != -1)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise UnskewInputError(
            f"{file}: attribute {attrs[c]!r} has the value {vals[r, c]} in row {r + 1}; "
            f"attributes must be -1 or +1."
        )
    df[attrs] = pd.DataFrame((vals > 0).astype(np.int8), columns=attrs, index=df.index)
    number = pd.to_numeric(df["filename"].str.removesuffix(".jpg"), errors="coerce")
    if number.isna().any():  # other extensions: slower, general parse
        rest = df["filename"][number.isna()].str.extract(r"^(\d+)\.", expand=False)
        number[number.isna()] = pd.to_numeric(rest, errors="coerce")
    labels = np.full(len(df), None, dtype=object)
    for name, (lo, hi) in CELEBA_SPLITS.items():
        labels[((number >= lo) & (number <= hi)).to_numpy()] = name
    unknown = pd.isna(labels)
    if unknown.any():
        ex = df["filename"][unknown].iloc[0]
        raise UnskewInputError(
            f"{file}: {int(unknown.sum())} filename(s) such as {ex!r} are outside the standard "
            f"CelebA numbering 000001-202599, so their split is unknown."
        )
    df["split"] = labels.astype(str)
    excluded: dict[str, int] = {}
    if split != "all":
        df = df.loc[df["split"] == split].reset_index(drop=True)
    df.attrs = {"source": str(file), "excluded": excluded}
    return df


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class DatasetInfo:
    """What :func:`load` knows about one dataset."""

    name: str
    loader: Any
    target: str
    sensitive: tuple[str, ...]
    n_rows: int
    licence: str
    description: str
    split: str | None = "split"
    ignore: tuple[str, ...] = field(default_factory=tuple)

    def roles(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`unskew.data.Dataset.from_data`."""
        out: dict[str, Any] = {"target": self.target, "sensitive": list(self.sensitive)}
        if self.split:
            out["split"] = self.split
        if self.ignore:
            out["ignore"] = list(self.ignore)
        return out


DATASETS: dict[str, DatasetInfo] = {
    "adult": DatasetInfo(
        "adult", load_adult, "income", ("sex", "race"), 48842, "CC BY 4.0",
        "UCI Adult census income: predict income >50K.",
    ),
    "compas": DatasetInfo(
        "compas", load_compas, "two_year_recid", ("race", "sex"), 6172,
        "ProPublica data, see github.com/propublica/compas-analysis",
        "ProPublica COMPAS: two-year recidivism, with the COMPAS scores.", split=None,
    ),
    "german": DatasetInfo(
        "german", load_german, "credit", ("sex", "age_group"), 1000, "CC BY 4.0",
        "Statlog German credit: good or bad credit risk (bundled, works offline).", split=None,
    ),
    "celeba": DatasetInfo(
        "celeba", load_celeba_attributes, "Blond_Hair", ("Male",), 202599,
        "non-commercial research use only", "CelebA face attributes (no images).",
        ignore=("filename",),
    ),
}

#: ``{name: {"target": ..., "sensitive": [...], ("split": ..., "ignore": [...])}}``.
DEFAULT_ROLES: dict[str, dict[str, Any]] = {name: info.roles() for name, info in DATASETS.items()}


def load(name: str, *, as_dataset: bool = False, **kwargs: Any):
    """Load a dataset by name.

    Parameters
    ----------
    name : {"adult", "compas", "german", "celeba"}
    as_dataset : bool, default False
        Return a :class:`unskew.data.Dataset` with the default roles of
        :data:`DEFAULT_ROLES` instead of a DataFrame.
    **kwargs
        Passed to the loader (``split``, ``data_home``, ``path``, ``download``).

    Returns
    -------
    pandas.DataFrame or unskew.data.Dataset
    """
    key = str(name).lower()
    if key not in DATASETS:
        raise UnskewInputError(f"Unknown dataset {name!r}; available: {', '.join(DATASETS)}.")
    df = DATASETS[key].loader(**kwargs)
    if not as_dataset:
        return df
    from ..data import Dataset

    ds = Dataset.from_data(df, **DEFAULT_ROLES[key])
    ds.source = f"unskew.datasets.load({key!r})"
    ds.excluded = {**df.attrs.get("excluded", {}), **ds.excluded}
    ds.n_rows_read = int(df.attrs.get("n_rows_read", ds.n_rows_read))
    return ds
