"""Column type inference: numeric, categorical, boolean, text, datetime."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError

COLUMN_TYPES = ("numeric", "categorical", "boolean", "text", "datetime")

_BOOL_TOKENS = {"true", "false", "yes", "no", "t", "f", "y", "n"}


def infer_column_type(s: pd.Series) -> str:
    """Return one of :data:`COLUMN_TYPES` for a column.

    Rules, in order: boolean dtype or exactly two distinct values that read as
    booleans (``0/1``, ``true/false``, ``yes/no``); numeric dtype; datetime
    dtype or strings that all parse as dates; strings that are long and mostly
    unique are text; everything else is categorical.
    """
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "datetime"
    if pd.api.types.is_numeric_dtype(s):
        values = s.to_numpy(dtype=float, na_value=np.nan)
        # a cheap look at a sample first: most numeric columns are ruled out there
        head = values[_sample_positions(len(values), 2000)]
        head = head[~np.isnan(head)]
        if not np.isin(head, (0.0, 1.0)).all():
            return "numeric"
        values = values[~np.isnan(values)]
        return "boolean" if len(values) and np.isin(values, (0.0, 1.0)).all() else "numeric"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    nonnull = s.dropna()
    if len(nonnull) == 0:
        return "categorical"
    sample = nonnull.iloc[_sample_positions(len(nonnull), 2000)].astype(str)
    uniq = sample.str.strip().str.lower().unique()
    if len(uniq) <= 2 and set(uniq) <= _BOOL_TOKENS:
        return "boolean"
    if _looks_like_dates(sample):
        return "datetime"
    mean_len = sample.str.len().mean()
    unique_ratio = sample.nunique() / len(sample)
    if mean_len >= 30 and unique_ratio > 0.5 and sample.str.contains(" ").mean() > 0.5:
        return "text"
    return "categorical"


def _sample_positions(n: int, k: int) -> np.ndarray:
    """Up to ``k`` distinct positions out of ``n``, chosen with a fixed seed (cheap for large n)."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=k, replace=False))


def _looks_like_dates(sample: pd.Series) -> bool:
    head = sample.head(200)
    if not head.str.contains(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(head, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def check_mixed_types(s: pd.Series, name: str, source: str = "") -> None:
    """Raise when a text column is mostly numbers with a few non-numeric values.

    Such a column is almost always a numeric column with an unusual missing-value
    marker (for example ``?``); silently treating it as categorical would hide
    its distribution, and coercing would drop values without saying so.
    """
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        return
    nonnull = s.dropna()
    if len(nonnull) < 10:
        return
    # Parse each distinct value once (categorical columns have few), weighted by its count.
    counts = nonnull.astype(str).str.strip().value_counts(sort=False)
    is_num = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").notna().to_numpy()
    frac = float(counts.to_numpy()[is_num].sum() / len(nonnull))
    if 0.9 <= frac < 1.0:
        bad = counts[~is_num].sort_values(ascending=False, kind="stable").head(5)
        examples = ", ".join(f"{v!r} ({c} row{'' if c == 1 else 's'})" for v, c in bad.items())
        where = f" in {source}" if source else ""
        raise UnskewInputError(
            f"Column '{name}'{where} has mixed types: {frac:.1%} of its values are numbers "
            f"but some are not: {examples}. If these mark missing values, pass them as "
            f"missing (--na-values / na_values=[...]); if the column is categorical, "
            f"declare it (--type {name}=categorical / column_types={{'{name}': 'categorical'}})."
        )


def coerce_column(s: pd.Series, kind: str, name: str) -> pd.Series:
    """Convert a column to the representation used for ``kind``."""
    if kind not in COLUMN_TYPES:
        raise UnskewInputError(
            f"Unknown column type {kind!r} for column '{name}'; use one of {', '.join(COLUMN_TYPES)}."
        )
    if kind == "numeric":
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return s
        out = pd.to_numeric(s, errors="coerce")
        lost = int((out.isna() & s.notna()).sum())
        if lost:
            raise UnskewInputError(
                f"Column '{name}' was declared numeric but {lost} values are not numbers "
                f"(for example {s[out.isna() & s.notna()].iloc[0]!r}). Fix the values or "
                f"declare the column categorical."
            )
        return out
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s):
            return s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.to_datetime(s, errors="coerce", format="mixed")
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(s):
            return s
        return s
    if kind == "categorical":
        return s
    return s.astype("string") if not pd.api.types.is_string_dtype(s) else s
