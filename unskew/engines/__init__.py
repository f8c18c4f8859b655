"""Engines: the same counts computed by pandas, DuckDB, Spark or Dask.

Every engine only computes partials (:mod:`unskew.engines._partials`); the
merged partials are finalised by the library's own code, so a report is the
same number for number whichever engine computed it.

``pandas``
    In memory, or Parquet in batches (``evaluate(..., stream=True)``).
``duckdb`` (extra ``unskew[duckdb]``)
    Out of core on one machine: the group counts are one SQL ``GROUP BY``.
``spark`` (extra ``unskew[spark]``, Java 17)
    One partial per partition with ``mapInArrow``, merged on the driver.
``dask`` (extra ``unskew[dask]``)
    ``map_partitions`` plus a tree reduce, on a LocalCluster or a scheduler.

Examples
--------
>>> from unskew.engines import group_stats  # doctest: +SKIP
>>> stats, info = group_stats("decisions.parquet", engine="duckdb", target="y",
...                           sensitive=["sex", "race"], predictions="y_hat")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import UnskewInputError
from ..metrics._groupstats import GroupStats
from ._audit import audit_counts, base_rates, representation, target_distribution, target_profile
from ._audit_report import audit_on_engine, measures_from_counts, missing_from_counts
from ._mapreduce import Runner
from ._partials import (
    CountTable,
    MixedTaskError,
    StatsSpec,
    dumps,
    loads,
    merge,
    merge_json,
    stats_from_aggregates,
    stats_partial,
)
from ._runners import runner
from ._sample import mapped_sample, stratified_sample
from ._shift import order_statistics, shift_counts
from ._source import Source, resolve_source

ENGINES = ("pandas", "duckdb", "spark", "dask")

__all__ = [
    "ENGINES",
    "audit_counts",
    "audit_on_engine",
    "measures_from_counts",
    "missing_from_counts",
    "base_rates",
    "representation",
    "target_distribution",
    "target_profile",
    "CountTable",
    "MixedTaskError",
    "Runner",
    "Source",
    "StatsSpec",
    "check_engine",
    "dumps",
    "group_stats",
    "loads",
    "mapped_sample",
    "merge",
    "merge_json",
    "order_statistics",
    "resolve_source",
    "runner",
    "shift_counts",
    "stats_from_aggregates",
    "stats_partial",
    "stratified_sample",
]

#: Options each engine accepts (anything else is an error naming the option).
_OPTIONS = {
    "pandas": {"batch_size"},
    "duckdb": {"memory_limit", "threads", "temp_directory", "con"},
    "spark": {"master", "spark", "partitions", "rows_per_partial"},
    "dask": {"scheduler", "dask_client", "split_every", "n_workers", "threads_per_worker", "processes"},
}


def check_engine(engine: str) -> str:
    name = (engine or "pandas").strip().lower()
    if name not in ENGINES:
        raise UnskewInputError(f"Unknown engine {engine!r}; choose one of {', '.join(ENGINES)}.")
    return name


def group_stats(
    data: Any,
    *,
    engine: str,
    target: str,
    sensitive: str | Sequence[str],
    predictions: str | None = None,
    scores: str | None = None,
    weights: str | None = None,
    task: str = "auto",
    pos_label: Any = None,
    threshold: float = 0.5,
    score_bins: int | None = None,
    score_range: tuple[float, float] = (0.0, 1.0),
    ece_bins: int = 10,
    delimiter: str | None = None,
    **options: Any,
) -> tuple[GroupStats, dict]:
    """The :class:`~unskew.metrics.GroupStats` of a table, computed by ``engine``.

    Parameters
    ----------
    data : path, glob, directory of Parquet files, or DataFrame
        Parquet or CSV files (or a pandas / Spark / Dask DataFrame).
    engine : {"pandas", "duckdb", "spark", "dask"}
    target, sensitive, predictions, scores, weights, task, pos_label, threshold, score_bins, score_range, ece_bins
        As in :meth:`GroupStats.from_arrays`.
    **options
        Engine options: duckdb ``memory_limit`` (e.g. ``"2GB"``), ``threads``,
        ``temp_directory``; spark ``master`` (default ``local[*]``), ``spark``
        (a session), ``partitions``; dask ``scheduler`` (an address; default a
        LocalCluster), ``dask_client``, ``n_workers``, ``processes``; pandas
        ``batch_size``.

    Returns
    -------
    stats : GroupStats
    info : dict
        What ran: the engine, partitions, and ``n_rows``.

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.engines import group_stats
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "p": [0, 1, 0, 0], "g": ["a", "a", "b", "b"]})
    >>> stats, info = group_stats(df, engine="pandas", target="y", sensitive="g", predictions="p")
    >>> stats.n.tolist()
    [2, 2]
    """
    name = check_engine(engine)
    unknown = set(options) - _OPTIONS[name]
    if unknown:
        raise UnskewInputError(f"Option(s) {sorted(unknown)} do not apply to the {name} engine; it takes "
                               f"{sorted(_OPTIONS[name])}.")
    spec = StatsSpec.build(target=target, sensitive=sensitive, predictions=predictions, scores=scores,
                           weights=weights, task=task, pos_label=pos_label, threshold=threshold,
                           score_bins=score_bins, score_range=tuple(score_range), ece_bins=ece_bins)
    if not spec.predictions and not spec.scores:
        raise UnskewInputError("Pass a predictions column or a scores column to measure.")
    source = resolve_source(data, delimiter)
    if name == "pandas":
        stats, info = _pandas(source, spec, **options)
    elif name == "duckdb":
        from . import _duckdb

        stats, info = _duckdb.group_stats(source, spec, **options)
    elif name == "spark":
        from . import _spark

        stats, info = _spark.group_stats(source, spec, **options)
    else:
        from . import _dask

        stats, info = _dask.group_stats(source, spec, **options)
    info = {"source": source.label, **info, "n_rows": stats.n_rows}
    return stats, info


def _pandas(source: Source, spec: StatsSpec, batch_size: int = 1_000_000) -> tuple[GroupStats, dict]:
    """pandas: Parquet in record batches, CSV in chunks, frames in one pass."""
    import pandas as pd

    kw = dict(target=spec.target, sensitive=list(spec.sensitive), predictions=spec.predictions,
              scores=spec.scores, weights=spec.weights)
    if source.kind == "parquet":
        parts = [GroupStats.from_parquet(p, batch_size=batch_size, **kw, **spec.stats_kwargs())
                 for p in source.paths]
        return merge(parts), {"engine": "pandas", "batch_size": batch_size}
    if source.kind == "csv":
        parts = []
        for p in source.paths:
            reader = pd.read_csv(p, sep=source.delimiter or ",", usecols=spec.columns, chunksize=batch_size)
            parts.extend(stats_partial(chunk, spec) for chunk in reader)
        try:
            return merge(parts), {"engine": "pandas", "batch_size": batch_size}
        except MixedTaskError:
            spec = spec.with_task("regression")
            parts = [stats_partial(c, spec) for p in source.paths
                     for c in pd.read_csv(p, sep=source.delimiter or ",", usecols=spec.columns, chunksize=batch_size)]
            return merge(parts), {"engine": "pandas", "batch_size": batch_size}
    frame = source.frame
    if not isinstance(frame, pd.DataFrame):
        from ..data._io import load_table

        frame, _ = load_table(frame)
    return stats_partial(frame, spec), {"engine": "pandas"}
