"""Dask engine: ``map_partitions`` computes one partial per partition, a tree reduce merges them.

By default a ``LocalCluster`` (threads in this process) runs the graph; with
``scheduler="tcp://host:8786"`` the graph runs on that cluster. Partials are
pickled :class:`~unskew.metrics.GroupStats`, merged ``split_every`` at a time
on the workers, so only one small object reaches the client.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from .._optional import import_optional
from ..exceptions import UnskewInputError
from ..metrics._groupstats import GroupStats
from ._mapreduce import Runner, kind_of_pandas, reduce_tree, row_ids
from ._partials import MixedTaskError, StatsSpec, dumps, loads, merge, stats_partial
from ._source import Source, check_columns

_MIXED = b"unskew:mixed-task"


ROWS_PER_PARTITION = 2_000_000
"""Rows a Parquet partition aims at: whole row groups are joined up to about this many rows, so a
partition's pandas frame stays a few hundred MB whatever the file's compression (Dask's default
``blocksize`` counts storage bytes, and made 25M-row partitions of 5 GB from a 920 MB file)."""


def _row_groups_per_partition(paths, rows_per_partition: int) -> int:
    import pyarrow.parquet as pq

    md = pq.ParquetFile(paths[0]).metadata
    per_group = md.num_rows / max(1, md.num_row_groups)
    return max(1, int(rows_per_partition // max(per_group, 1.0)))


def dataframe(source: Source, columns: list[str] | None = None, blocksize: str = "128MB",
              rows_per_partition: int = ROWS_PER_PARTITION):
    """The source as a Dask DataFrame (all columns when ``columns`` is None).

    Parquet partitions hold whole row groups, about ``rows_per_partition`` rows each (one row
    group when a group is larger); CSV partitions are ``blocksize`` bytes of text; a pandas
    frame is split into at most 8 partitions; a Dask DataFrame is used as it is.
    """
    dd = import_optional("dask.dataframe", "the dask engine")
    if source.kind == "parquet":
        import pyarrow.parquet as pq

        if columns is not None:
            check_columns(pq.ParquetFile(source.paths[0]).schema_arrow.names, columns, source.label)
        return dd.read_parquet(list(source.paths), columns=columns,
                               split_row_groups=_row_groups_per_partition(source.paths, rows_per_partition))
    if source.kind == "csv":
        ddf = dd.read_csv(list(source.paths), sep=source.delimiter or ",", blocksize=blocksize)
        if columns is None:
            return ddf
        check_columns(list(ddf.columns), columns, source.label)
        return ddf[columns]
    frame = source.frame
    if type(frame).__module__.startswith("dask"):
        if columns is None:
            return frame
        check_columns(list(frame.columns), columns, "the Dask DataFrame")
        return frame[columns]
    if not isinstance(frame, pd.DataFrame):
        raise UnskewInputError(f"The dask engine reads files, pandas or Dask DataFrames, not {type(frame).__name__}.")
    if columns is not None:
        check_columns(list(frame.columns), columns, "the DataFrame")
        frame = frame[columns]
    return dd.from_pandas(frame, npartitions=max(1, min(8, len(frame) // 100_000 + 1)), sort=False)


def _partial_blob(frame: pd.DataFrame, spec: StatsSpec) -> pd.Series:
    try:
        p = stats_partial(frame, spec)
        blob = b"" if p is None else dumps(p)
    except MixedTaskError:  # pragma: no cover - a single partial has one task
        blob = _MIXED
    return pd.Series([blob], dtype=object)


def _merge_blobs(*chunks) -> bytes:
    blobs = [b for c in chunks for b in (c.tolist() if isinstance(c, pd.Series) else [c])]
    if _MIXED in blobs:
        return _MIXED
    parts = [loads(b) for b in blobs if b]
    if not parts:
        return b""
    try:
        return dumps(merge(parts))
    except MixedTaskError:
        return _MIXED


def client(scheduler: str | None = None, *, n_workers: int = 1, threads_per_worker: int | None = None,
           processes: bool = False):
    """A distributed Client: to ``scheduler`` when given, else on a new LocalCluster."""
    distributed = import_optional("distributed", "the dask engine")
    if scheduler:
        try:
            return distributed.Client(scheduler, timeout="20s")
        except OSError as exc:
            raise UnskewInputError(f"Cannot reach the Dask scheduler at {scheduler!r}: {exc}.") from exc
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker or os.cpu_count(),
                                       processes=processes, dashboard_address=None)
    return distributed.Client(cluster)


def group_stats(source: Source, spec: StatsSpec, *, scheduler: str | None = None, dask_client: Any = None,
                split_every: int = 8, **cluster_kw: Any) -> tuple[GroupStats, dict]:
    """The :class:`GroupStats` of the whole source: map_partitions, then a tree reduce."""
    dask = import_optional("dask", "the dask engine")
    ddf = dataframe(source, spec.columns)
    own = dask_client is None
    cl = dask_client or client(scheduler, **cluster_kw)
    try:
        for attempt in (spec, spec.with_task("regression")):
            blobs = ddf.map_partitions(_partial_blob, attempt, meta=pd.Series(dtype=object)).to_delayed()
            n_parts = len(blobs)
            level = list(blobs)
            while len(level) > 1:
                level = [dask.delayed(_merge_blobs)(*level[i:i + split_every])
                         for i in range(0, len(level), split_every)]
            final = dask.delayed(_merge_blobs)(level[0])
            blob = cl.compute(final).result()
            if blob == _MIXED:
                continue
            if not blob:
                raise UnskewInputError(f"{source.label} has no rows.")
            info = {"engine": "dask", "scheduler": cl.scheduler.address if hasattr(cl, "scheduler") and cl.scheduler
                    else scheduler, "partitions": n_parts}
            return loads(blob), info
    finally:
        if own:
            cluster = getattr(cl, "cluster", None)
            cl.close()
            if cluster is not None:
                cluster.close()
    raise UnskewInputError("The table could not be measured as one task; pass task explicitly.")  # pragma: no cover


# ---------------------------------------------------------------------------- runner (the audit's partials)
def _piece_blob(frame: pd.DataFrame, fn, reduce, partition_info=None) -> pd.Series:
    piece = int((partition_info or {}).get("number", 0))
    out = fn(frame.reset_index(drop=True), row_ids(piece, 0, len(frame))) if len(frame) else None
    return pd.Series([b"" if out is None else dumps(out)], dtype=object)


def _reduce_blobs(reduce, *chunks) -> bytes:
    blobs = [b for c in chunks for b in (c.tolist() if isinstance(c, pd.Series) else [c])]
    out = reduce_tree([loads(b) for b in blobs if b], reduce)
    return b"" if out is None else dumps(out)


class DaskRunner(Runner):
    """``map_partitions`` (one partial per partition) and a tree reduce on the workers."""

    name = "dask"

    def __init__(self, source: Source, *, scheduler: str | None = None, dask_client: Any = None,
                 split_every: int = 8, **cluster_kw: Any):
        self.source, self.label = source, source.label
        self.split_every = int(split_every)
        self._own = dask_client is None
        self.client = dask_client or client(scheduler, **cluster_kw)
        self.scheduler = scheduler
        self.partitions = None
        self._ddf = None

    def _frame(self):
        if self._ddf is None:
            self._ddf = dataframe(self.source)
        return self._ddf

    def schema(self) -> dict[str, str]:
        return {c: kind_of_pandas(t) for c, t in self._frame().dtypes.items()}

    def map_reduce(self, fn, columns, reduce):
        dask = import_optional("dask", "the dask engine")
        cols = list(dict.fromkeys(columns))
        self.check(cols)
        ddf = self._frame()[cols]
        level = list(ddf.map_partitions(_piece_blob, fn, reduce, meta=pd.Series(dtype=object)).to_delayed())
        self.partitions = len(level)
        while len(level) > 1:
            level = [dask.delayed(_reduce_blobs)(reduce, *level[i:i + self.split_every])
                     for i in range(0, len(level), self.split_every)]
        blob = self.client.compute(dask.delayed(_reduce_blobs)(reduce, level[0])).result()
        return loads(blob) if blob else None

    def info(self) -> dict:
        addr = getattr(getattr(self.client, "scheduler", None), "address", None) or self.scheduler
        return {"engine": "dask", "scheduler": addr, "partitions": self.partitions}

    def close(self) -> None:
        if self._own:
            cluster = getattr(self.client, "cluster", None)
            self.client.close()
            if cluster is not None:
                cluster.close()
