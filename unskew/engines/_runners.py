"""Choosing an engine's :class:`~unskew.engines._mapreduce.Runner`: the one factory.

It sits above the engine modules (each of which builds on ``_mapreduce``),
so the protocol module never imports its own implementations.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import UnskewInputError
from ._mapreduce import PandasRunner, Runner
from ._source import Source, resolve_source

#: Options each engine's runner takes.
RUNNER_OPTIONS = {
    "pandas": {"batch_size"},
    "duckdb": {"memory_limit", "threads", "temp_directory", "con", "batch_size"},
    "spark": {"master", "spark", "partitions"},
    "dask": {"scheduler", "dask_client", "split_every", "n_workers", "threads_per_worker", "processes"},
}


def runner(engine: str, data: Any, **options: Any) -> Runner:
    """The :class:`Runner` of ``engine`` over ``data`` (a path, glob, directory or DataFrame).

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.engines import runner
    >>> r = runner("pandas", pd.DataFrame({"g": ["a", "b", "a"]}))
    >>> r.map_reduce(lambda f, ids: len(f), ["g"], sum)
    3
    """
    source = data if isinstance(data, Source) else resolve_source(data)
    unknown = set(options) - RUNNER_OPTIONS.get(engine, set())
    if engine not in RUNNER_OPTIONS:
        raise UnskewInputError(f"Unknown engine {engine!r}; choose one of {', '.join(RUNNER_OPTIONS)}.")
    if unknown:
        raise UnskewInputError(f"Option(s) {sorted(unknown)} do not apply to the {engine} engine; it takes "
                               f"{sorted(RUNNER_OPTIONS[engine])}.")
    if engine == "pandas":
        return PandasRunner(source, **options)
    if engine == "duckdb":
        from ._duckdb import DuckDBRunner

        return DuckDBRunner(source, **options)
    if engine == "spark":
        from ._spark import SparkRunner

        return SparkRunner(source, **options)
    from ._dask import DaskRunner

    return DaskRunner(source, **options)
