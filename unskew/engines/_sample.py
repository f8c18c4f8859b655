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

__all__ = ["quotas", "stratified_sample"]


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
    engine : {"duckdb", "pandas"}
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
    source = resolve_source(data)
    if engine == "duckdb":
        from ._duckdb import stratified_sample as run

        sample, info = run(source, by=by, n=n, min_per_stratum=min_per_stratum, columns=columns,
                           seed=random_state, **options)
    elif engine == "pandas":
        from ..data._io import load_table

        frame = source.frame if source.kind == "frame" else load_table(source.paths[0])[0]
        check_columns(list(frame.columns), by + list(columns or []), source.label)
        sample, info = _pandas(frame, by, n, min_per_stratum, columns, random_state)
    else:
        raise UnskewInputError(f"stratified_sample runs on the duckdb or pandas engine, not {engine!r}.")
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
