"""A stratified sample drawn by the engine, for the model-based checks on tables too large to load.

Every stratum (intersectional group x class) is represented: each gets
``max(min_per_stratum, its proportional share of n)`` rows, or all its rows
when it has fewer. Rows are chosen by a seeded hash of their position, so the
same seed draws the same rows. Each sampled row carries its inverse inclusion
probability in ``sampling_weight`` (stratum rows / stratum sample), so that
estimates from the sample can be re-weighted to the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ._source import check_columns, resolve_source
from ._specs import quotas

__all__ = ["mapped_sample", "quotas", "stratified_sample"]


def stratified_sample(
    data: Any,
    *,
    by: Sequence[str],
    n: int = 200_000,
    min_per_stratum: int = 50,
    columns: Sequence[str] | None = None,
    engine: str = "duckdb",
    random_state: int = 0,
    **options: Any,
) -> tuple[pd.DataFrame, dict]:
    """Draw a stratified sample of about ``n`` rows (every stratum of ``by`` represented).

    Parameters
    ----------
    data : path or DataFrame
    by : list of str
        Stratification columns (the sensitive columns and the target).
    n : int
        Target sample size; strata below ``min_per_stratum`` rows are taken whole.
    columns : list of str, optional
        Columns to return (default all).
    engine : {"duckdb", "pandas", "spark", "dask"}
        DuckDB in SQL (two scans); Spark and Dask with :func:`mapped_sample`
        (two passes over the partitions); pandas on the loaded table.
    random_state : int

    Returns
    -------
    sample : DataFrame
        With a ``sampling_weight`` column (stratum rows / sampled rows).
    info : dict
        ``method``, ``n_rows`` (of the table), ``n_sample``, ``strata``, ``min_per_stratum``.

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.engines import stratified_sample
    >>> df = pd.DataFrame({"g": ["a"] * 98 + ["b"] * 2, "y": [0, 1] * 50})
    >>> s, info = stratified_sample(df, by=["g", "y"], n=10, min_per_stratum=1, engine="pandas")
    >>> sorted(s.groupby(["g", "y"]).size().index.tolist())
    [('a', 0), ('a', 1), ('b', 0), ('b', 1)]
    """
    by = list(by)
    if n < 1 or min_per_stratum < 1:
        raise UnskewInputError(f"n and min_per_stratum must be positive, got {n} and {min_per_stratum}.")
    from ._mapreduce import Runner

    if isinstance(data, Runner):  # a runner the caller holds open (the audit driver: one Dask client, one session)
        sample, info = mapped_sample(data, by=by, n=n, min_per_stratum=min_per_stratum, columns=columns,
                                     seed=random_state)
        source = None
    else:
        source = resolve_source(data)
    if source is None:
        pass
    elif engine == "duckdb":
        from ._duckdb import stratified_sample as run

        sample, info = run(source, by=by, n=n, min_per_stratum=min_per_stratum, columns=columns,
                           seed=random_state, **options)
    elif engine in ("spark", "dask"):
        from ._runners import runner

        with runner(engine, source, **options) as r:
            sample, info = mapped_sample(r, by=by, n=n, min_per_stratum=min_per_stratum, columns=columns,
                                         seed=random_state)
    elif engine == "pandas":
        from ..data._io import load_table

        frame = source.frame if source.kind == "frame" else load_table(source.paths[0])[0]
        check_columns(list(frame.columns), by + list(columns or []), source.label)
        sample, info = _pandas(frame, by, n, min_per_stratum, columns, random_state)
    else:
        raise UnskewInputError(f"stratified_sample runs on the engines pandas, duckdb, spark, dask, not {engine!r}.")
    info = {"method": (f"stratified by {' x '.join(by)}: max({min_per_stratum}, proportional share of {n}) rows "
                       f"per stratum, all rows of smaller strata; rows chosen by a seeded hash "
                       f"(random_state={random_state}); sampling_weight = stratum rows / sampled rows"),
            **info, "n_sample": len(sample), "min_per_stratum": min_per_stratum}
    return sample, info


def _pandas(frame, by, n, min_per_stratum, columns, seed):
    rng = np.random.default_rng(seed)
    keys = frame[by].astype(object).where(frame[by].notna(), "(missing)")
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(keys))
    counts = np.bincount(codes, minlength=len(uniq))
    q = quotas(counts, n, min_per_stratum)
    order = rng.permutation(len(frame))
    rank = np.empty(len(frame), np.int64)
    # position of each row within its stratum under the random order
    c_sorted = codes[order]
    pos = np.zeros(len(frame), np.int64)
    srt = np.argsort(c_sorted, kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    pos[srt] = np.arange(len(frame)) - np.repeat(starts, counts)
    rank[order] = pos
    keep = np.sort(np.flatnonzero(rank < q[codes]))
    out = frame.iloc[keep][list(columns)] if columns else frame.iloc[keep].copy()
    out = out.reset_index(drop=True)
    out["sampling_weight"] = (counts / np.maximum(q, 1))[codes[keep]]
    return out, {"engine": "pandas", "n_rows": len(frame), "strata": len(uniq)}


# ---------------------------------------------------------------------------- any runner (Spark, Dask)
def hash01(ids: np.ndarray, seed: int) -> np.ndarray:
    """A seeded hash of row ids to [0, 1) (splitmix64's finaliser): the same ids and seed, the same values."""
    z = np.asarray(ids, np.int64).astype(np.uint64) ^ np.full(len(ids), (int(seed) * 0x9E3779B97F4A7C15) % 2**64,
                                                               np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _strata_partial(frame: pd.DataFrame, row_ids: np.ndarray, by: list[str]):
    from ._partials import CountTable

    return CountTable.from_frame(frame, by=by)


def _candidates(frame: pd.DataFrame, row_ids: np.ndarray, by: list[str], keys: list[tuple], rates: np.ndarray,
                seed: int, columns: list[str]) -> pd.DataFrame:
    """The rows of one piece whose hash falls under their stratum's rate, with the stratum, hash and row id."""
    from ..data._groups import lookup_groups

    code = lookup_groups(frame[by], keys, len(frame))
    u = hash01(row_ids, seed)
    keep = u < rates[code]
    out = frame.loc[keep, columns].reset_index(drop=True)
    out["_stratum"], out["_u"], out["_id"] = code[keep], u[keep], row_ids[keep]
    return out


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def mapped_sample(r, *, by: list[str], n: int, min_per_stratum: int, columns=None, seed: int = 0):
    """The stratified sample with a :class:`~unskew.engines._mapreduce.Runner` (Spark, Dask), in two passes.

    Pass 1 counts the strata (a :class:`~unskew.engines.CountTable`); pass 2
    keeps, in every piece, the rows whose seeded hash of their row id is
    below their stratum's rate (the quota over the stratum's rows, with 20% +
    20 rows to spare); the driver keeps the ``quota`` lowest hashes of each
    stratum and returns them in table order. As with DuckDB, the same input,
    partitioning and seed draw the same rows.
    """
    from functools import partial

    from ._partials import merge

    cols = list(columns) if columns else list(r.schema())
    r.check(by + cols)
    strata = r.map_reduce(partial(_strata_partial, by=list(by)), list(by), merge)
    if strata is None:
        raise UnskewInputError(f"{r.label} has no rows; there is nothing to sample.")
    cnt = strata.values[:, 0].astype(np.int64)
    q = quotas(cnt, n, min_per_stratum)
    rates = np.minimum(1.0, (q * 1.2 + 20) / np.maximum(cnt, 1))
    rates[q >= cnt] = 1.0
    cand = r.map_reduce(partial(_candidates, by=list(by), keys=list(strata.keys), rates=rates, seed=int(seed),
                                columns=list(dict.fromkeys(cols + list(by)))), list(dict.fromkeys(cols + list(by))),
                        _concat)
    cand = cand.sort_values(["_stratum", "_u", "_id"], kind="stable").reset_index(drop=True)
    rank = cand.groupby("_stratum", sort=False).cumcount().to_numpy()
    st = cand["_stratum"].to_numpy(np.int64)
    cand = cand[rank < q[st]].sort_values("_id", kind="stable").reset_index(drop=True)
    st = cand["_stratum"].to_numpy(np.int64)
    got = np.bincount(st, minlength=len(cnt))
    out = cand[cols].copy()
    out["sampling_weight"] = (cnt / np.maximum(q, 1))[st]
    return out, {"engine": r.name, "n_rows": int(cnt.sum()), "strata": len(cnt),
                 "short_strata": int((got < q).sum()), **{k: v for k, v in r.info().items() if k != "engine"}}
