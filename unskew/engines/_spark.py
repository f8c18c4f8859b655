"""Spark engine: one partial per partition with ``mapInArrow``, merged on the driver.

Each Python worker receives its partition as Arrow record batches, measures
them with :func:`~unskew.engines._partials.stats_partial` (a buffer of up to
``rows_per_partial`` rows at a time, merged within the partition) and sends
back one pickled :class:`~unskew.metrics.GroupStats`. The driver collects one
small blob per partition and merges them with
:func:`~unskew.engines._partials.merge`. Only the named columns are read.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .._optional import import_optional
from ..exceptions import UnskewInputError
from ..metrics._groupstats import GroupStats
from ._mapreduce import Runner, reduce_tree, row_ids
from ._partials import MixedTaskError, StatsSpec, dumps, loads, merge, stats_partial
from ._source import Source, check_columns

_MIXED = b"unskew:mixed-task"


def session(master: str = "local[*]", *, app_name: str = "unskew", config: dict | None = None):
    """A SparkSession (the active one when it exists, else a new one on ``master``)."""
    import_optional("pyspark", "the spark engine")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    b = (SparkSession.builder.master(master).appName(app_name)
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "8")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "200000")
         .config("spark.executorEnv.PYTHONPATH", os.environ.get("PYTHONPATH", "")))
    for k, v in (config or {}).items():
        b = b.config(k, v)
    try:
        return b.getOrCreate()
    except Exception as exc:  # Java missing, bad master URL
        raise UnskewInputError(f"Cannot start Spark on master {master!r}: {exc}. The spark engine needs Java 17 "
                               f"(e.g. apt-get install openjdk-17-jre-headless) and a reachable master.") from exc


def dataframe(spark, source: Source):
    """A Spark DataFrame over the source."""
    if source.kind == "parquet":
        return spark.read.parquet(*source.paths)
    if source.kind == "csv":
        return spark.read.csv(list(source.paths), header=True, inferSchema=True, sep=source.delimiter or ",")
    frame = source.frame
    if type(frame).__module__.startswith("pyspark"):
        return frame
    return spark.createDataFrame(frame)


def _partition_fn(spec: StatsSpec, rows_per_partial: int):
    def fn(batches):
        import pyarrow as pa

        parts, buf, held = [], [], 0
        try:
            for b in batches:
                buf.append(b)
                held += b.num_rows
                if held >= rows_per_partial:
                    parts.append(stats_partial(pa.Table.from_batches(buf), spec))
                    buf, held = [], 0
                    if len(parts) >= 8:
                        parts = [merge(parts)]
            if buf:
                parts.append(stats_partial(pa.Table.from_batches(buf), spec))
            parts = [p for p in parts if p is not None]
            blob = dumps(merge(parts)) if parts else b""
        except MixedTaskError:
            blob = _MIXED
        yield pa.RecordBatch.from_pydict({"partial": [blob]}, schema=pa.schema([("partial", pa.binary())]))

    return fn


def group_stats(source: Source, spec: StatsSpec, *, master: str = "local[*]", spark: Any = None,
                partitions: int | None = None, rows_per_partial: int = 1_000_000) -> tuple[GroupStats, dict]:
    """The :class:`GroupStats` of the whole source, one partial per Spark partition."""
    spark = spark or session(master)
    df = dataframe(spark, source)
    check_columns(list(df.columns), spec.columns, source.label)
    df = df.select(*spec.columns)
    if partitions:
        df = df.repartition(int(partitions))
    n_parts = df.rdd.getNumPartitions()
    for attempt in (spec, spec.with_task("regression")):
        blobs = [r[0] for r in df.mapInArrow(_partition_fn(attempt, rows_per_partial), "partial binary").collect()]
        if _MIXED in blobs:
            continue
        try:
            stats = merge(loads(b) for b in blobs if b)
        except MixedTaskError:
            continue
        return stats, {"engine": "spark", "master": spark.sparkContext.master, "partitions": n_parts,
                       "partials": sum(1 for b in blobs if b)}
    raise UnskewInputError("The table could not be measured as one task; pass task explicitly.")  # pragma: no cover


# ---------------------------------------------------------------------------- runner (the audit's partials)
def _kind(dtype) -> str:
    from pyspark.sql import types as T

    if isinstance(dtype, T.NumericType):
        return "numeric"
    if isinstance(dtype, T.StringType):
        return "text"
    return "other"


def _map_fn(fn, reduce):
    """The mapInArrow function: ``fn`` on each record batch of a partition, reduced within it, one blob out."""
    def run(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        ctx = TaskContext.get()
        piece = ctx.partitionId() if ctx is not None else 0
        parts, start = [], 0
        for b in batches:
            if b.num_rows == 0:
                continue
            parts.append(fn(b.to_pandas(), row_ids(piece, start, b.num_rows)))
            start += b.num_rows
            if len(parts) >= 8:
                parts = [reduce_tree(parts, reduce)]
        out = reduce_tree(parts, reduce)
        blob = b"" if out is None else dumps(out)
        yield pa.RecordBatch.from_pydict({"partial": [blob]}, schema=pa.schema([("partial", pa.binary())]))

    return run


class SparkRunner(Runner):
    """``mapInArrow`` over the partitions: one pickled partial per partition, reduced on the driver."""

    name = "spark"

    def __init__(self, source: Source, *, master: str = "local[*]", spark: Any = None, partitions: int | None = None):
        self.spark = spark or session(master)
        self.df = dataframe(self.spark, source)
        if partitions:
            self.df = self.df.repartition(int(partitions))
        self.label = source.label
        self.partitions = None

    def schema(self) -> dict[str, str]:
        return {f.name: _kind(f.dataType) for f in self.df.schema.fields}

    def map_reduce(self, fn, columns, reduce):
        cols = list(dict.fromkeys(columns))
        self.check(cols)
        df = self.df.select(*cols)
        self.partitions = df.rdd.getNumPartitions()
        blobs = [r[0] for r in df.mapInArrow(_map_fn(fn, reduce), "partial binary").collect()]
        return reduce_tree([loads(b) for b in blobs if b], reduce)

    def info(self) -> dict:
        return {"engine": "spark", "master": self.spark.sparkContext.master, "partitions": self.partitions}
