"""The count-based audit quantities as partials: measured by an engine, merged, finalised.

:func:`audit_counts` returns a dict of :class:`~unskew.engines.CountTable`:

``cells``
    rows, weight and squared weight per intersectional group x target value:
    the target distribution, the representation (per group and per attribute)
    and the base rates are sums of these cells (:func:`target_distribution`,
    :func:`representation`, :func:`base_rates`). For a continuous numeric
    target (``target_centre`` given; see :func:`target_profile`) the target
    key is its equal-width bin between its bounds, and two more fields hold
    the sums ``wd`` = sum of w (y - centre) and ``wd2`` = sum of w (y - centre)^2,
    from which every group's mean and sum of squared deviations follow.
``missing``
    missing rows and their weight per column x group.
``rows_missing``
    rows with at least one missing value among ``columns``, and their weight, per group.
``histograms``
    rows and weight per column x bin: numeric columns on ``bins`` equal-width
    bins between the column's minimum and maximum (found in a first pass, so
    every partition bins alike), other columns per value; missing values are
    left out (they are counted in ``missing``).

Rows with a missing target are counted in ``cells`` only (their target key is
the missing marker) and left out of the other tables, as the data layer
excludes them before any check.

The pandas engine measures record batches with :func:`audit_partial`; the
DuckDB engine runs three SQL scans (bounds, cells + missing, histograms as
grouping sets) and never holds the rows. Both give the same tables, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import MISSING
from ..exceptions import UnskewInputError
from ..metrics._scoretable import bin_index
from ._partials import CountTable, merge
from ._source import resolve_source
from ._specs import AuditSpec, _spec

__all__ = ["AuditSpec", "audit_counts", "audit_partial", "base_rates", "representation", "target_distribution",
           "target_profile"]


def _fields(spec: AuditSpec) -> tuple[str, ...]:
    return ("n", "weight", "weight2") + (("wd", "wd2") if spec.target_centre is not None else ())


def _bins(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    if not hi > lo:
        return np.zeros(len(values))
    return bin_index(values, bins, lo, hi)


def audit_partial(frame: pd.DataFrame, spec: AuditSpec) -> dict[str, CountTable]:
    """The count tables of one piece of rows (histograms need ``spec.bounds``).

    The groups are encoded once per piece; every table is a ``bincount`` over
    those codes (and over the bins, or the distinct values of a text column).
    """
    from ..data._groups import encode_groups

    sens = list(spec.sensitive)
    n = len(frame)
    w = frame[spec.weights].to_numpy(np.float64) if spec.weights else np.ones(n)
    out = {}
    keyed = frame[sens + [spec.target]].assign(_w=w, _w2=w * w)
    sums = ["_w", "_w2"]
    if spec.target_centre is not None:  # a continuous target: its bin, and the centred sums
        y = frame[spec.target].to_numpy(np.float64, na_value=np.nan)
        ok = ~np.isnan(y)
        lo, hi = spec.bounds[spec.target]
        codes = np.zeros(n, np.int64)
        codes[ok] = _bins(y[ok], lo, hi, spec.bins)
        tbin = pd.arrays.IntegerArray(codes, ~ok)  # integer bins, as DuckDB's; a missing target stays missing
        d = np.where(ok, y - spec.target_centre, 0.0)
        keyed = keyed.assign(**{spec.target: tbin, "_wd": w * d, "_wd2": w * d * d})
        sums += ["_wd", "_wd2"]
    cells = CountTable.from_frame(keyed, by=sens + [spec.target], sums=sums)
    out["cells"] = CountTable(names=cells.names, keys=cells.keys, values=cells.values, fields=_fields(spec))
    has_target = frame[spec.target].notna().to_numpy()
    if not has_target.all():  # rows without a target are excluded from the rest, as the data layer does
        frame, w = frame.loc[has_target].reset_index(drop=True), w[has_target]
        n = len(frame)
    groups = encode_groups(frame[sens], n)
    gc, gkeys, G = groups.codes, groups.keys, len(groups.keys)

    def per_group(m: np.ndarray) -> tuple[list, np.ndarray]:
        cnt = np.bincount(gc[m], minlength=G)
        wsum = np.bincount(gc[m], weights=w[m], minlength=G)
        idx = np.flatnonzero(cnt)
        return [gkeys[i] for i in idx], np.column_stack([cnt[idx].astype(np.float64), wsum[idx]])

    miss_keys, miss_vals = [], []
    isna = {c: frame[c].isna().to_numpy() for c in spec.columns}
    for c in spec.columns:
        if isna[c].any():
            k, v = per_group(isna[c])
            miss_keys += [(c, *key) for key in k]
            miss_vals.append(v)
    out["missing"] = CountTable.from_keys(("column", *sens), miss_keys,
                                          np.vstack(miss_vals) if miss_vals else np.zeros((0, 2)), ("n", "weight"))
    anym = np.logical_or.reduce([isna[c] for c in spec.columns]) if spec.columns else np.zeros(n, bool)
    k, v = per_group(anym)
    out["rows_missing"] = CountTable(names=tuple(sens), keys=k, values=v, fields=("n", "weight"))
    h_keys, h_vals = [], []
    for c in spec.columns:
        ok = ~isna[c]
        if c in spec.numeric:
            lo, hi = spec.bounds[c]
            codes = _bins(frame[c].to_numpy(np.float64, na_value=np.nan)[ok], lo, hi, spec.bins).astype(np.int64)
            names = list(range(int(codes.max()) + 1)) if len(codes) else []
        else:  # text and other columns per value, named as str() names them
            codes, uniq = pd.factorize(frame[c][ok], use_na_sentinel=True)
            names = [str(u) for u in np.asarray(uniq, dtype=object)]
        cnt = np.bincount(codes, minlength=len(names))
        wsum = np.bincount(codes, weights=w[ok], minlength=len(names))
        idx = np.flatnonzero(cnt)
        h_keys += [(c, names[i]) for i in idx]
        h_vals.append(np.column_stack([cnt[idx].astype(np.float64), wsum[idx]]))
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
    target_centre: float | None = None,
    **options: Any,
) -> tuple[dict[str, CountTable], dict]:
    """The count-based audit tables of a (possibly larger than memory) table.

    Parameters
    ----------
    data : path or DataFrame
        Parquet or CSV file(s), or a pandas DataFrame.
    engine : {"duckdb", "pandas", "spark", "dask"}
        ``duckdb`` runs three SQL scans and never holds the rows; ``pandas``
        reads Parquet in record batches of ``batch_size`` rows, ``spark`` and
        ``dask`` measure one partial per partition (two passes each: the
        numeric columns' bounds, then the counts).
    target, sensitive, weights : str
        The target, the sensitive column(s) and an optional weight column.
    columns : list of str, optional
        Columns for the missing-value counts and histograms (default: every
        column but the target, the sensitive ones and the weights).
    bins : int, default 10
        Equal-width bins of each numeric column's histogram.
    target_centre : float, optional
        For a continuous numeric target (one :func:`target_profile` finds):
        the cells then count the target's equal-width bins (``bins`` of them)
        and add the sums ``wd`` and ``wd2`` of w (y - target_centre) and its
        square; the median is a good centre (no cancellation in the
        variances). Leave unset for a target with classes.
    **options
        DuckDB ``memory_limit``, ``threads``, ``temp_directory``; Spark
        ``master``, ``spark`` (a session), ``partitions``; Dask ``scheduler``,
        ``dask_client``, ``n_workers``, ...

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
    from ._mapreduce import Runner

    if isinstance(data, Runner):  # a runner the caller holds open
        counts, info = mapped_counts(data, target=target, sensitive=sens, weights=weights, columns=columns, bins=bins,
                                     target_centre=target_centre)
        info = {"source": data.label, **info, "n_rows": int(counts["cells"].values[:, 0].sum())}
        return counts, info
    source = resolve_source(data)
    if engine == "duckdb":
        from ._duckdb import audit_counts as run

        counts, info = run(source, target=target, sensitive=sens, weights=weights, columns=columns, bins=bins,
                           target_centre=target_centre, **options)
    elif engine in ("pandas", "spark", "dask"):
        from ._runners import runner

        if engine == "pandas":
            options = {"batch_size": batch_size, **options}
        with runner(engine, source, **options) as r:
            counts, info = mapped_counts(r, target=target, sensitive=sens, weights=weights, columns=columns,
                                         bins=bins, target_centre=target_centre)
    else:
        raise UnskewInputError(f"audit_counts runs on the engines pandas, duckdb, spark, dask, not {engine!r}.")
    info = {"source": source.label, **info, "n_rows": int(counts["cells"].values[:, 0].sum())}
    if info["n_rows"] == 0:
        raise UnskewInputError(f"{source.label} has no rows; there is nothing to audit.")
    return counts, info


def bounds_partial(frame: pd.DataFrame, row_ids: np.ndarray, columns: Sequence[str]) -> dict:
    """``{column: (min, max)}`` of the non-missing values of one piece (columns without any left out)."""
    out = {}
    for c in columns:
        v = frame[c].to_numpy(np.float64, na_value=np.nan)
        if np.isfinite(v).any():
            out[c] = (float(np.nanmin(v)), float(np.nanmax(v)))
    return out


def merge_bounds(parts: list[dict]) -> dict:
    out: dict = {}
    for p in parts:
        for c, (lo, hi) in p.items():
            a, b = out.get(c, (lo, hi))
            out[c] = (min(a, lo), max(b, hi))
    return out


def _audit_piece(frame: pd.DataFrame, row_ids: np.ndarray, spec: AuditSpec) -> dict:
    return audit_partial(frame, spec)


def mapped_counts(r, *, target: str, sensitive: Sequence[str], weights: str | None, columns, bins: int,
                  target_centre: float | None = None):
    """:func:`audit_counts` with a :class:`~unskew.engines._mapreduce.Runner`: a bounds pass, then the partials.

    The one driver of the pandas, Spark and Dask engines: each piece (record
    batch or partition) is measured by :func:`audit_partial` and the pieces
    are merged with :func:`~unskew.engines.merge`.
    """
    schema = r.schema()
    spec = _spec(list(schema), {c: k == "numeric" for c, k in schema.items()}, target, list(sensitive), weights,
                 columns, bins, str(r.label), target_centre)
    bounds = {}
    bounded = list(dict.fromkeys(list(spec.numeric) + ([target] if target_centre is not None else [])))
    if bounded:
        bounds = r.map_reduce(partial(bounds_partial, columns=bounded), bounded, merge_bounds) or {}
        for c in bounded:
            bounds.setdefault(c, (0.0, 0.0))
    spec = replace(spec, bounds=bounds)
    counts = r.map_reduce(partial(_audit_piece, spec=spec), spec.read, _merge_dicts)
    if counts is None:
        raise UnskewInputError(f"{r.label} has no rows.")
    return counts, {**r.info(), "bounds": bounds, "passes": 2 if bounded else 1}


def target_profile(r, target: str) -> dict | None:
    """How the count-based checks treat ``target`` on an engine.

    One :meth:`Runner.distinct_values` query tells a target with classes (pushed down to SQL on DuckDB);
    a continuous one then takes a count pass and the order-statistics passes.

    ``None`` when the checks count its values as classes (a non-numeric target, or a numeric one with at
    most 20 distinct values, the pandas checks' rule). For a continuous numeric target: ``n`` (finite
    values), ``quantiles`` (min, quartiles, max: exact, as ``Series.quantile``), ``centre`` (the median,
    the ``target_centre`` of :func:`audit_counts`) and ``bounds`` (min, max).

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.engines import runner, target_profile
    >>> df = pd.DataFrame({"y": [float(i) for i in range(30)], "g": ["a", "b"] * 15})
    >>> target_profile(runner("pandas", df), "y")["quantiles"]["median"]
    14.5
    """
    from ..audit._base_rates import MAX_CLASSES_AS_CATEGORIES as cap
    from ..audit._shift import lerp_quantiles, quantile_ranks
    from ._shift import _count_partial, _lookup, _merge_counts, order_statistics

    if r.schema().get(target) != "numeric" or len(r.distinct_values(target, cap)) <= cap:
        return None
    # more than 20 distinct values: at least 19 of them finite, so the count pass finds the column
    counts = r.map_reduce(partial(_count_partial, kinds={target: "numeric"}), [target], _merge_counts)
    n = int(counts[target][0])
    qs = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    values, _ = order_statistics(r, {target: ("numeric", quantile_ranks(n, qs))}, counts=counts)
    q = [float(x) for x in lerp_quantiles(n, qs, _lookup(values[target]))]
    return {"n": n, "quantiles": dict(zip(["min", "q25", "median", "q75", "max"], q, strict=True)),
            "centre": q[2], "bounds": (q[0], q[4])}


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
