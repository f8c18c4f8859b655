"""Synthetic tables with known, planted data problems.

:func:`make_synthetic` draws a clean tabular classification problem with two
sensitive attributes; the ``plant_*`` functions each add one known problem
(label noise in a group, a missing intersection, a proxy, a shift, outliers,
duplicates, group-dependent missingness) so that checks and mitigations can be
tested against a ground truth.

Every function returns a new DataFrame and never modifies its input. Row
*positions* returned by the functions are 0-based integer positions in the
returned frame (use them with ``.iloc``); the returned frames always carry a
fresh ``RangeIndex``, so positions and index labels coincide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError

#: Shares of the ``sex`` and ``race`` values drawn by :func:`make_synthetic`.
SEX_SHARES = {"female": 0.45, "male": 0.55}
RACE_SHARES = {"A": 0.60, "B": 0.30, "C": 0.10}

#: Additive group effects on the log-odds of ``y = 1`` in :func:`make_synthetic`.
GROUP_EFFECTS = {"sex": {"female": -0.5, "male": 0.0}, "race": {"A": 0.0, "B": -0.3, "C": -0.6}}

_CAT_LEVELS = ("a", "b", "c", "d")


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def _check_frame(df: Any) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise UnskewInputError(
            f"Expected a pandas DataFrame, got {type(df).__name__}. Build one with "
            f"unskew.datasets.make_synthetic() or pandas.DataFrame(...)."
        )
    out = df.copy()
    out.attrs = dict(df.attrs)
    return out.reset_index(drop=True)


def _check_column(df: pd.DataFrame, col: str, what: str) -> None:
    if col not in df.columns:
        shown = ", ".join(repr(str(c)) for c in list(df.columns)[:20])
        raise UnskewInputError(f"Column {col!r} ({what}) is not in the table. Available columns: {shown}.")


def _check_rate(rate: float, name: str = "rate") -> float:
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise UnskewInputError(f"{name} must be between 0 and 1, got {rate}.")
    return rate


def match_rows(df: pd.DataFrame, where: Mapping[str, Any] | None) -> np.ndarray:
    """Boolean mask of the rows of ``df`` matching every condition of ``where``.

    Parameters
    ----------
    df : pandas.DataFrame
    where : dict or None
        ``{column: value}``; a list, tuple or set value matches any of its
        members. ``None`` or an empty dict matches every row.

    Returns
    -------
    numpy.ndarray of bool
    """
    mask = np.ones(len(df), dtype=bool)
    if not where:
        return mask
    if not isinstance(where, Mapping):
        raise UnskewInputError(
            f"`where` must be a dict such as {{'sex': 'female'}}, got {type(where).__name__}."
        )
    for col, val in where.items():
        _check_column(df, col, "in `where`")
        if isinstance(val, (list, tuple, set, frozenset)):
            mask &= df[col].isin(list(val)).to_numpy(dtype=bool)
        else:
            mask &= (df[col] == val).fillna(False).to_numpy(dtype=bool)
    return mask


def _matching_positions(df: pd.DataFrame, where, what: str) -> np.ndarray:
    mask = match_rows(df, where)
    pos = np.flatnonzero(mask)
    if where and len(pos) == 0:
        raise UnskewInputError(f"No row matches {dict(where)!r} ({what}); check the column values.")
    return pos


def _choose(rng: np.random.Generator, pos: np.ndarray, rate: float) -> np.ndarray:
    k = int(round(rate * len(pos)))
    if k == 0:
        return np.array([], dtype=np.int64)
    return np.sort(rng.choice(pos, size=k, replace=False)).astype(np.int64)


def _flip_labels(values: pd.Series, positions: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """Change the label at ``positions`` to a different class of the column."""
    classes = pd.unique(values.dropna())
    if len(classes) < 2:
        raise UnskewInputError(
            f"Target {values.name!r} has {len(classes)} class(es); flipping labels needs two or more."
        )
    out = values.copy()
    if len(positions) == 0:
        return out
    old = values.iloc[positions].to_numpy()
    if len(classes) == 2:
        a, b = classes[0], classes[1]
        new = np.where(old == a, b, a)
    else:
        new = np.empty(len(old), dtype=object)
        for i, v in enumerate(old):
            others = [c for c in classes if c != v]
            new[i] = others[rng.integers(len(others))]
    col = out.to_numpy(copy=True)
    if col.dtype != object and np.asarray(new).dtype == object:
        col = col.astype(object)
    col[positions] = new
    return pd.Series(col, index=out.index, name=out.name).astype(values.dtype, errors="ignore")


# --------------------------------------------------------------------------- generator
def make_synthetic(
    n_samples: int = 4000,
    *,
    n_numeric: int = 6,
    n_categorical: int = 2,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """A clean binary classification table with two sensitive attributes.

    Columns, in order: ``num_0 .. num_{n_numeric-1}`` (standard normal floats),
    ``cat_0 .. cat_{n_categorical-1}`` (strings ``"a"``-``"d"``), ``sex``
    (``"female"``/``"male"``, about 45/55 %), ``race`` (``"A"``, ``"B"``,
    ``"C"``, about 60/30/10 %) and the target ``y`` (0/1 int).

    The features are drawn independently of ``sex`` and ``race``. ``y`` follows
    a logistic model: the log-odds are a fixed linear function of the numeric
    features (weights ``3, -2, 1.5, -1, 0.5, ...``; strong enough for a logistic
    regression to reach about 85 % accuracy), plus ``+0.3`` for ``cat_0 == "a"``,
    plus the modest group effects in :data:`GROUP_EFFECTS` (``female -0.5``,
    ``race B -0.3``, ``race C -0.6``), so positive rates differ somewhat
    between groups. There are no missing values, duplicates or outliers.

    Parameters
    ----------
    n_samples : int, default 4000
    n_numeric : int, default 6
        Number of numeric features; at least 1.
    n_categorical : int, default 2
        Number of categorical string features; may be 0.
    random_state : int, numpy Generator or None, default 0

    Returns
    -------
    pandas.DataFrame
    """
    n_samples, n_numeric, n_categorical = int(n_samples), int(n_numeric), int(n_categorical)
    if n_samples < 2:
        raise UnskewInputError(f"n_samples must be at least 2, got {n_samples}.")
    if n_numeric < 1:
        raise UnskewInputError(f"n_numeric must be at least 1 (y depends on them), got {n_numeric}.")
    if n_categorical < 0:
        raise UnskewInputError(f"n_categorical must be 0 or more, got {n_categorical}.")
    rng = _rng(random_state)
    X = rng.standard_normal((n_samples, n_numeric))
    base = np.array([3.0, -2.0, 1.5, -1.0, 0.5])
    w = np.array([base[j] if j < len(base) else 0.5 * (-1) ** j for j in range(n_numeric)])
    cats = {
        f"cat_{j}": rng.choice(_CAT_LEVELS, size=n_samples, p=[0.4, 0.3, 0.2, 0.1])
        for j in range(n_categorical)
    }
    sex = rng.choice(list(SEX_SHARES), size=n_samples, p=list(SEX_SHARES.values()))
    race = rng.choice(list(RACE_SHARES), size=n_samples, p=list(RACE_SHARES.values()))
    logit = X @ w + 0.2
    if n_categorical:
        logit = logit + 0.3 * (cats["cat_0"] == "a")
    logit = logit + pd.Series(sex).map(GROUP_EFFECTS["sex"]).to_numpy(float)
    logit = logit + pd.Series(race).map(GROUP_EFFECTS["race"]).to_numpy(float)
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n_samples) < p).astype(np.int64)
    data: dict[str, Any] = {f"num_{j}": X[:, j] for j in range(n_numeric)}
    data.update(cats)
    data["sex"] = sex
    data["race"] = race
    data["y"] = y
    return pd.DataFrame(data)


# --------------------------------------------------------------------------- planters
def plant_label_noise(
    df: pd.DataFrame,
    *,
    target: str = "y",
    where: Mapping[str, Any] | None,
    rate: float = 0.05,
    random_state: int | None = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Flip the label of a share of the rows matching ``where``.

    Exactly ``round(rate * n_matching)`` rows, drawn without replacement among
    the rows matching ``where``, get a different label (the other class for a
    binary target, a random other class otherwise).

    Parameters
    ----------
    df : pandas.DataFrame
    target : str, default "y"
    where : dict or None
        Rows eligible for flipping, e.g. ``{"sex": "female"}``; ``None`` means
        every row.
    rate : float, default 0.05
        Share of the eligible rows to flip.
    random_state : int or None, default 0

    Returns
    -------
    df : pandas.DataFrame
        A copy with the flipped labels and a fresh ``RangeIndex``.
    flipped : numpy.ndarray of int
        Sorted positions of the flipped rows.
    """
    out = _check_frame(df)
    _check_column(out, target, "target")
    rate = _check_rate(rate)
    rng = _rng(random_state)
    pos = _matching_positions(out, where, "label noise")
    pos = pos[out[target].iloc[pos].notna().to_numpy()]
    flipped = _choose(rng, pos, rate)
    out[target] = _flip_labels(out[target], flipped, rng)
    return out, flipped


def plant_missing_intersection(df: pd.DataFrame, *, cell: Mapping[str, Any]) -> pd.DataFrame:
    """Remove every row of one intersectional cell, e.g. ``{"sex": "female", "race": "C"}``.

    The number of removed rows is recorded in ``df.attrs["planted_removed_rows"]``.

    Returns
    -------
    pandas.DataFrame
        A copy without those rows, with a fresh ``RangeIndex``.
    """
    if not cell:
        raise UnskewInputError("`cell` must name at least one column and value, e.g. {'race': 'C'}.")
    out = _check_frame(df)
    mask = match_rows(out, cell)
    if not mask.any():
        raise UnskewInputError(f"No row matches {dict(cell)!r}; nothing to remove.")
    out = out.loc[~mask].reset_index(drop=True)
    out.attrs["planted_removed_rows"] = int(mask.sum())
    return out


def plant_proxy(
    df: pd.DataFrame,
    *,
    sensitive: str = "race",
    name: str = "proxy",
    strength: float = 0.9,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Add a categorical column that encodes a sensitive attribute.

    Each sensitive value ``v`` (in sorted order) gets a code ``"z0"``, ``"z1"``,
    ... With probability ``strength`` a row's proxy is the code of its own
    value; otherwise it is drawn uniformly from all codes (so it may still
    coincide). A missing sensitive value gets a uniformly random code. With
    ``k`` values the proxy agrees with the sensitive attribute in about
    ``strength + (1 - strength) / k`` of the rows.

    Returns
    -------
    pandas.DataFrame
        A copy with the new column ``name`` appended.
    """
    out = _check_frame(df)
    _check_column(out, sensitive, "sensitive")
    strength = _check_rate(strength, "strength")
    if name in out.columns:
        raise UnskewInputError(f"Column {name!r} already exists; pass another `name`.")
    rng = _rng(random_state)
    values = out[sensitive]
    levels = sorted(values.dropna().astype(str).unique())
    if not levels:
        raise UnskewInputError(f"Sensitive column {sensitive!r} has no values.")
    codes = np.array([f"z{i}" for i in range(len(levels))], dtype=object)
    lookup = dict(zip(levels, codes, strict=True))
    true_code = values.astype("string").map(lookup).to_numpy(dtype=object, na_value=None)
    random_code = codes[rng.integers(len(codes), size=len(out))]
    keep = (rng.random(len(out)) < strength) & pd.notna(true_code)
    out[name] = np.where(keep, true_code, random_code).astype(str)
    return out


def plant_shift(
    df: pd.DataFrame,
    *,
    column: str = "num_0",
    delta: float = 1.0,
    where: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Add ``delta`` (in the column's own units) to a numeric column.

    With ``where`` only the matching rows are shifted (a subgroup shift);
    without it every row is (a global shift, for example to build a
    "production" table that drifted from the training one). Missing values stay
    missing.

    Returns
    -------
    pandas.DataFrame
    """
    out = _check_frame(df)
    _check_column(out, column, "to shift")
    if not pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
        raise UnskewInputError(f"Column {column!r} is not numeric ({out[column].dtype}); cannot shift it.")
    pos = _matching_positions(out, where, "shift")
    vals = out[column].to_numpy(dtype=float, copy=True)
    vals[pos] += float(delta)
    out[column] = vals
    return out


def _default_outlier_columns(df: pd.DataFrame) -> list[str]:
    cols = []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.nunique() > 2:
            cols.append(c)
    return cols


def plant_outliers(
    df: pd.DataFrame,
    *,
    rate: float = 0.01,
    columns: list[str] | None = None,
    where: Mapping[str, Any] | None = None,
    scale: float = 8.0,
    random_state: int | None = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Turn a share of the rows into extreme outliers.

    ``round(rate * n_eligible)`` rows among those matching ``where`` get, in
    every column of ``columns``, the value ``median ± scale * std * u`` with a
    random sign and ``u`` uniform in [1, 1.5] (median and standard deviation of
    the column before planting).

    Parameters
    ----------
    columns : list of str, optional
        Numeric columns to corrupt; by default every numeric column with more
        than two distinct values (so a 0/1 target is left alone).

    Returns
    -------
    df : pandas.DataFrame
    positions : numpy.ndarray of int
        Sorted positions of the outlier rows.
    """
    out = _check_frame(df)
    rate = _check_rate(rate)
    cols = list(columns) if columns is not None else _default_outlier_columns(out)
    if not cols:
        raise UnskewInputError("No numeric column to plant outliers in; pass `columns`.")
    for c in cols:
        _check_column(out, c, "outlier column")
        if not pd.api.types.is_numeric_dtype(out[c]):
            raise UnskewInputError(f"Column {c!r} is not numeric ({out[c].dtype}); cannot plant outliers.")
    rng = _rng(random_state)
    positions = _choose(rng, _matching_positions(out, where, "outliers"), rate)
    for c in cols:
        vals = out[c].to_numpy(dtype=float, copy=True)
        centre = float(np.nanmedian(vals))
        sd = float(np.nanstd(vals)) or 1.0
        sign = rng.choice([-1.0, 1.0], size=len(positions))
        mag = rng.uniform(1.0, 1.5, size=len(positions))
        vals[positions] = centre + sign * scale * sd * mag
        out[c] = vals
    return out, positions


def plant_duplicates(
    df: pd.DataFrame,
    *,
    n_exact: int = 50,
    n_conflicting: int = 20,
    target: str = "y",
    random_state: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Append exact copies of rows and copies with a different label.

    ``n_exact + n_conflicting`` distinct source rows are drawn without
    replacement. The first ``n_exact`` are appended unchanged; the others are
    appended with their ``target`` flipped (the other class, or a random other
    class for a multi-class target), so each such pair has identical features
    and conflicting labels.

    Returns
    -------
    df : pandas.DataFrame
        The original rows (same order) followed by the appended copies.
    info : dict
        ``"exact"``: positions of the appended exact copies; ``"exact_source"``:
        positions of the rows they copy (aligned); ``"conflicting"`` and
        ``"conflicting_source"``: the same for the label-flipped copies. All are
        int arrays.
    """
    out = _check_frame(df)
    n_exact, n_conflicting = int(n_exact), int(n_conflicting)
    if n_exact < 0 or n_conflicting < 0:
        raise UnskewInputError("n_exact and n_conflicting must be 0 or more.")
    if n_conflicting:
        _check_column(out, target, "target")
    n = len(out)
    if n_exact + n_conflicting > n:
        raise UnskewInputError(
            f"Cannot draw {n_exact + n_conflicting} distinct source rows from a table of {n} rows."
        )
    rng = _rng(random_state)
    eligible = np.arange(n)
    if n_conflicting:
        eligible = eligible[out[target].notna().to_numpy()]
    src = rng.choice(eligible, size=n_exact + n_conflicting, replace=False).astype(np.int64)
    exact_src, conf_src = src[:n_exact], src[n_exact:]
    exact = out.iloc[exact_src]
    conf = out.iloc[conf_src].reset_index(drop=True)
    if n_conflicting:
        conf[target] = _flip_labels(conf[target], np.arange(len(conf)), rng)
    combined = pd.concat([out, exact, conf], ignore_index=True)
    for c in out.columns:  # keep the original dtypes (concat may upcast)
        if combined[c].dtype != out[c].dtype:
            combined[c] = combined[c].astype(out[c].dtype, errors="ignore")
    combined.attrs = dict(out.attrs)
    info = {
        "exact": np.arange(n, n + n_exact, dtype=np.int64),
        "exact_source": exact_src,
        "conflicting": np.arange(n + n_exact, n + n_exact + n_conflicting, dtype=np.int64),
        "conflicting_source": conf_src,
    }
    return combined, info


def plant_missingness(
    df: pd.DataFrame,
    *,
    column: str,
    where: Mapping[str, Any],
    rate: float = 0.3,
    other_rate: float = 0.0,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Blank out values of ``column`` mostly in one group.

    ``round(rate * n_matching)`` values among the rows matching ``where`` and
    ``round(other_rate * n_other)`` among the other rows become missing (an
    integer column becomes float, a bool column pandas' nullable ``boolean``;
    other columns keep their dtype).

    Returns
    -------
    pandas.DataFrame
    """
    out = _check_frame(df)
    _check_column(out, column, "to blank out")
    rate = _check_rate(rate)
    other_rate = _check_rate(other_rate, "other_rate")
    if not where:
        raise UnskewInputError("`where` must name the group, e.g. {'sex': 'female'}.")
    rng = _rng(random_state)
    mask = match_rows(out, where)
    if not mask.any():
        raise UnskewInputError(f"No row matches {dict(where)!r} (missingness); check the values.")
    chosen = np.concatenate(
        [_choose(rng, np.flatnonzero(mask), rate), _choose(rng, np.flatnonzero(~mask), other_rate)]
    )
    col = out[column]
    if pd.api.types.is_bool_dtype(col) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
        col = col.astype("boolean")
    elif pd.api.types.is_integer_dtype(col) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
        col = col.astype(float)
    col = col.copy()
    col.iloc[np.sort(chosen)] = None
    out[column] = col
    return out
