"""The count-based audit quantities as partials: measured by an engine, merged, finalised.

:func:`audit_counts` returns a dict of :class:`~unskew.engines.CountTable`:

``cells``
    rows, weight and squared weight per intersectional group x target value:
    the target distribution, the representation (per group and per attribute)
    and the base rates are sums of these cells (:func:`target_distribution`,
    :func:`representation`, :func:`base_rates`).
``missing``
    missing rows and their weight per column x group.
``rows_missing``
    rows with at least one missing value among ``columns``, and their weight, per group.
``histograms``
    rows and weight per column x bin: numeric columns on ``bins`` equal-width
    bins between the column's minimum and maximum (found in a first pass, so
    every partition bins alike), other columns per value; missing values are
    left out (they are counted in ``missing``).

The pandas engine measures record batches with :func:`audit_partial`; the
DuckDB engine runs three SQL scans (bounds, cells + missing, histograms as
grouping sets) and never holds the rows. Both give the same tables, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import MISSING
from ..exceptions import UnskewInputError
from ..metrics._scoretable import bin_index
from ._partials import CountTable, merge
from ._source import Source, resolve_source
from ._specs import AuditSpec, _spec

__all__ = ["AuditSpec", "audit_counts", "audit_partial", "base_rates", "representation", "target_distribution"]


def _fields(spec: AuditSpec) -> tuple[str, ...]:
    return ("n", "weight", "weight2")


def _bins(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    if not hi > lo:
        return np.zeros(len(values))
    return bin_index(values, bins, lo, hi)


def audit_partial(frame: pd.DataFrame, spec: AuditSpec) -> dict[str, CountTable]:
    """The count tables of one piece of rows (histograms need ``spec.bounds``)."""
    sens = list(spec.sensitive)
    n = len(frame)
    w = frame[spec.weights].to_numpy(np.float64) if spec.weights else np.ones(n)
    key = frame[sens + [spec.target]].copy()
    key["_w"], key["_w2"] = w, w * w
    out = {}
    cells = CountTable.from_frame(key, by=sens + [spec.target], weights="_w")
    w2 = CountTable.from_frame(key, by=sens + [spec.target], weights="_w2")
    out["cells"] = CountTable(names=cells.names, keys=cells.keys, values=np.column_stack([cells.values, w2.values[:, 1]]),
                              fields=_fields(spec))
    miss_keys, miss_vals = [], []
    gframe = frame[sens]
    for c in spec.columns:
        m = frame[c].isna().to_numpy()
        if m.any():
            t = CountTable.from_frame(gframe[m].assign(_w=w[m]), by=sens, weights="_w")
            miss_keys += [(c, *k) for k in t.keys]
            miss_vals.append(t.values)
    out["missing"] = CountTable.from_keys(("column", *sens), miss_keys,
                                          np.vstack(miss_vals) if miss_vals else np.zeros((0, 2)), ("n", "weight"))
    anym = frame[list(spec.columns)].isna().any(axis=1).to_numpy() if spec.columns else np.zeros(n, bool)
    out["rows_missing"] = CountTable.from_frame(gframe[anym].assign(_w=w[anym]), by=sens, weights="_w")
    h_keys, h_vals = [], []
    for c in spec.columns:
        s = frame[c]
        ok = s.notna().to_numpy()
        if c in spec.numeric:
            lo, hi = spec.bounds[c]
            b = _bins(s.to_numpy(np.float64, na_value=np.nan)[ok], lo, hi, spec.bins).astype(np.int64)
            vals = pd.Series(b)
        else:
            vals = s[ok].astype(str).reset_index(drop=True)
        t = CountTable.from_frame(pd.DataFrame({"v": vals, "_w": w[ok]}), by=["v"], weights="_w")
        h_keys += [(c, k[0]) for k in t.keys]
        h_vals.append(t.values)
    out["histograms"] = CountTable.from_keys(("column", "bin"), h_keys,
                                             np.vstack(h_vals) if h_vals else np.zeros((0, 2)), ("n", "weight"))
    return out


def _merge_dicts(parts: list[dict]) -> dict[str, CountTable]:
    return {k: merge([p[k] for p in parts]) for k in parts[0]}


# ---------------------------------------------------------------------------- finalising
def target_distribution(counts: dict) -> pd.DataFrame:
    """Rows, weight and share per target value."""
    f = counts["cells"].frame()
    tgt = counts["cells"].names[-1]
    out = f.groupby(tgt, sort=False)[["n", "weight"]].sum().reset_index()
    out["share"] = out["weight"] / out["weight"].sum()
    return out


def representation(counts: dict, attributes: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows, weight, Kish effective size and weighted share per group of ``attributes`` (default: all)."""
    names = counts["cells"].names
    attrs = list(attributes or names[:-1])
    f = counts["cells"].frame()
    out = f.groupby(attrs, sort=False)[["n", "weight", "weight2"]].sum().reset_index()
    out["effective_n"] = out["weight"] ** 2 / out["weight2"].where(out["weight2"] > 0)
    out["share"] = out["weight"] / out["weight"].sum()
    return out


def base_rates(counts: dict, positive: Any, attributes: Sequence[str] | None = None) -> pd.DataFrame:
    """Weighted rate of ``positive`` per group of ``attributes``."""
    names = counts["cells"].names
    tgt = names[-1]
    attrs = list(attributes or names[:-1])
    f = counts["cells"].frame()
    f["pos_weight"] = np.where(f[tgt].astype(str) == str(positive), f["weight"], 0.0)
    f["pos_n"] = np.where(f[tgt].astype(str) == str(positive), f["n"], 0)
    out = f.groupby(attrs, sort=False)[["n", "weight", "pos_n", "pos_weight"]].sum().reset_index()
    out["rate"] = out["pos_weight"] / out["weight"].where(out["weight"] > 0)
    return out


# ---------------------------------------------------------------------------- engines
def audit_counts(
    data: Any,
    *,
    engine: str = "duckdb",
    target: str,
    sensitive: str | Sequence[str],
    weights: str | None = None,
    columns: Sequence[str] | None = None,
    bins: int = 10,
    batch_size: int = 1_000_000,
    **options: Any,
) -> tuple[dict[str, CountTable], dict]:
    """The count-based audit tables of a (possibly larger than memory) table.

    Parameters
    ----------
    data : path or DataFrame
        Parquet or CSV file(s), or a pandas DataFrame.
    engine : {"duckdb", "pandas"}
        ``duckdb`` runs three SQL scans and never holds the rows; ``pandas``
        reads Parquet in record batches of ``batch_size`` rows (two passes).
    target, sensitive, weights : str
        The target, the sensitive column(s) and an optional weight column.
    columns : list of str, optional
        Columns for the missing-value counts and histograms (default: every
        column but the target, the sensitive ones and the weights).
    bins : int, default 10
        Equal-width bins of each numeric column's histogram.
    **options
        DuckDB ``memory_limit``, ``threads``, ``temp_directory``.

    Returns
    -------
    counts : dict of CountTable
        ``cells``, ``missing``, ``histograms`` (see the module docstring).
    info : dict

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.engines import audit_counts, representation
    >>> df = pd.DataFrame({"y": [0, 1, 1], "sex": ["F", "M", "F"], "x": [1.0, None, 3.0]})
    >>> counts, _ = audit_counts(df, engine="pandas", target="y", sensitive="sex")
    >>> representation(counts)["n"].tolist()
    [2, 1]
    """
    sens = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    sens = [c.strip() for part in sens for c in part.split(",") if c.strip()]
    if not sens:
        raise UnskewInputError("At least one sensitive column is needed.")
    if bins < 1:
        raise UnskewInputError(f"bins must be positive, got {bins}.")
    source = resolve_source(data)
    if engine == "duckdb":
        from ._duckdb import audit_counts as run

        counts, info = run(source, target=target, sensitive=sens, weights=weights, columns=columns, bins=bins,
                           **options)
    elif engine == "pandas":
        if options:
            raise UnskewInputError(f"Option(s) {sorted(options)} do not apply to the pandas engine.")
        counts, info = _pandas(source, target, sens, weights, columns, bins, batch_size)
    else:
        raise UnskewInputError(f"audit_counts runs on the duckdb or pandas engine, not {engine!r}.")
    info = {"source": source.label, **info, "n_rows": int(counts["cells"].values[:, 0].sum())}
    if info["n_rows"] == 0:
        raise UnskewInputError(f"{source.label} has no rows; there is nothing to audit.")
    return counts, info


def _pandas(source: Source, target, sens, weights, columns, bins, batch_size):
    import pyarrow.parquet as pq

    if source.kind == "frame":
        frame = source.frame

        def batches(cols):
            yield frame[cols]
        have = list(frame.columns)
        types = {c: pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
                 for c in have}
    elif source.kind == "parquet":
        files = [pq.ParquetFile(p) for p in source.paths]
        schema = files[0].schema_arrow
        have = schema.names
        import pyarrow.types as pt

        types = {f.name: (pt.is_integer(f.type) or pt.is_floating(f.type)) for f in schema}

        def batches(cols):
            for pf in files:
                for b in pf.iter_batches(batch_size=batch_size, columns=cols):
                    yield b.to_pandas()
    else:
        raise UnskewInputError("audit_counts with the pandas engine reads Parquet or a DataFrame; use "
                               "engine='duckdb' for CSV.")
    spec = _spec(have, types, target, sens, weights, columns, bins, str(source.label))
    bounds = {}
    if spec.numeric:
        for f in batches(list(spec.numeric)):
            for c in spec.numeric:
                v = f[c].to_numpy(np.float64, na_value=np.nan)
                if np.isfinite(v).any():
                    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
                    a, b = bounds.get(c, (lo, hi))
                    bounds[c] = (min(a, lo), max(b, hi))
        for c in spec.numeric:
            bounds.setdefault(c, (0.0, 0.0))
    spec = replace(spec, bounds=bounds)
    parts, k = [], 0
    for f in batches(spec.read):
        parts.append(audit_partial(f, spec))
        k += 1
        if len(parts) >= 8:
            parts = [_merge_dicts(parts)]
    if not parts:
        raise UnskewInputError(f"{source.label} has no rows.")
    return _merge_dicts(parts), {"engine": "pandas", "batches": k, "bounds": bounds}


def finalise_missing(counts: dict) -> pd.DataFrame:
    """Missing rows per column x group, with the group totals and the missing fraction."""
    miss = counts["missing"].frame()
    names = list(counts["cells"].names[:-1])
    rep = representation(counts)[names + ["n", "weight"]].rename(columns={"n": "rows", "weight": "rows_weight"})
    if len(miss) == 0:
        return miss
    out = miss.merge(rep, on=names, how="left")
    out["fraction"] = out["weight"] / out["rows_weight"]
    return out


MISSING_GROUP = MISSING
