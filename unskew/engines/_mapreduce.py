"""What every engine offers the shared drivers: the table's schema, and map -> reduce of a partial function.

A :class:`Runner` applies ``fn(frame, row_ids)`` to every piece of the table
(a record batch, a Spark partition, a Dask partition) and merges the results
with ``reduce(list_of_partials)``. ``frame`` is a pandas DataFrame holding
the requested columns; ``row_ids`` are int64 identifiers of its rows, unique
within the table and the same from run to run for the same input and
partitioning (``piece << 40 | row within piece``), which the stratified
sample hashes. The drivers (:func:`unskew.engines.audit_counts` for
``engine="spark"|"dask"|"pandas"``, :func:`unskew.engines.stratified_sample`
for Spark and Dask, and the shift histograms of :mod:`._shift` on every
engine) are written once against this protocol; each engine module only
implements its runner:

=========  ===============================================  =========================
engine     pieces                                           reduce
=========  ===============================================  =========================
pandas     the DataFrame, Parquet record batches, CSV chunks  in this process
duckdb     Arrow record batches streamed from DuckDB's scan   in this process
spark      ``mapInArrow``: one partial per partition          on the driver (tree)
dask       ``map_partitions``                                 on the workers (tree)
=========  ===============================================  =========================

Partial functions must be picklable (module-level functions, or
``functools.partial`` of them) so that they travel to Spark's and Dask's
workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._source import Source, check_columns

#: Bits of a row id that hold the row's position within its piece.
PIECE_BITS = 40

PartialFn = Callable[[pd.DataFrame, np.ndarray], Any]
ReduceFn = Callable[[list], Any]


def row_ids(piece: int, start: int, n: int) -> np.ndarray:
    """Identifiers of ``n`` rows of piece ``piece`` starting at row ``start``."""
    return (np.int64(piece) << np.int64(PIECE_BITS)) + np.arange(start, start + n, dtype=np.int64)


def kind_of_arrow(t) -> str:
    """``numeric`` (integers, floats, decimals), ``text`` (strings), ``other`` (bool, dates, ...)."""
    import pyarrow.types as pt

    if pt.is_integer(t) or pt.is_floating(t) or pt.is_decimal(t):
        return "numeric"
    if pt.is_string(t) or pt.is_large_string(t) or (hasattr(pt, "is_string_view") and pt.is_string_view(t)):
        return "text"
    if pt.is_dictionary(t):
        return kind_of_arrow(t.value_type)
    return "other"


def kind_of_pandas(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "other"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_string_dtype(dtype) or getattr(dtype, "kind", "") == "O":
        return "text"
    if isinstance(dtype, pd.CategoricalDtype):
        return kind_of_pandas(dtype.categories.dtype)
    return "other"


def reduce_tree(parts: Sequence, reduce: ReduceFn, split_every: int = 8) -> Any:
    """``reduce`` applied ``split_every`` partials at a time until one is left (``None`` partials skipped)."""
    level = [p for p in parts if p is not None]
    if not level:
        return None
    while len(level) > 1:
        level = [reduce(level[i:i + split_every]) for i in range(0, len(level), split_every)]
    return level[0]


def _distinct_partial(frame: pd.DataFrame, ids: np.ndarray, column: str, cap: int) -> set:
    return set(pd.unique(frame[column].dropna().to_numpy())[: cap + 1].tolist())


def _merge_distinct(parts: list[set], cap: int) -> set:
    out: set = set()
    for p in parts:
        out |= p
        if len(out) > cap:
            break
    return set(list(out)[: cap + 1])


class Runner:
    """The protocol: ``schema()``, ``map_reduce(fn, columns, reduce)``, ``close()``; ``label`` names the input."""

    name = "?"
    label = "the input"

    def schema(self) -> dict[str, str]:  # pragma: no cover - interface
        """``{column: kind}`` in the table's column order (see :func:`kind_of_arrow`)."""
        raise NotImplementedError

    def map_reduce(self, fn: PartialFn, columns: Sequence[str], reduce: ReduceFn) -> Any:  # pragma: no cover
        raise NotImplementedError

    def distinct_values(self, column: str, cap: int) -> set:
        """At most ``cap + 1`` distinct non-missing values of ``column``: enough to tell whether it has more
        than ``cap`` (one pass; engines that can push it down override this)."""
        from functools import partial

        return self.map_reduce(partial(_distinct_partial, column=column, cap=cap), [column],
                               partial(_merge_distinct, cap=cap)) or set()

    def info(self) -> dict:
        return {"engine": self.name}

    def check(self, columns: Sequence[str]) -> None:
        check_columns(list(self.schema()), list(columns), self.label)

    def close(self) -> None:
        pass

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _rows_with(frame: pd.DataFrame, ids: np.ndarray, fn: PartialFn, column: str) -> Any:
    keep = frame[column].notna().to_numpy()
    if keep.all():
        return fn(frame, ids)
    return fn(frame.loc[keep].reset_index(drop=True), np.asarray(ids)[keep])


class RowsWith(Runner):
    """Another runner's pieces, keeping only the rows where ``column`` is present.

    The data layer excludes rows whose target is missing before any check; a
    driver that measures whole tables for a check (the shift counts) wraps
    its runners in this so that it counts the rows the pandas path counts.
    The wrapped runner stays open (its owner closes it).
    """

    def __init__(self, inner: Runner, column: str):
        self.inner, self.column = inner, column
        self.name, self.label = inner.name, inner.label

    def schema(self) -> dict[str, str]:
        return self.inner.schema()

    def map_reduce(self, fn: PartialFn, columns: Sequence[str], reduce: ReduceFn) -> Any:
        from functools import partial

        cols = list(dict.fromkeys([*columns, self.column]))
        return self.inner.map_reduce(partial(_rows_with, fn=fn, column=self.column), cols, reduce)

    def info(self) -> dict:
        return self.inner.info()


class PandasRunner(Runner):
    """A DataFrame in one piece, Parquet in record batches of ``batch_size`` rows, CSV in chunks."""

    name = "pandas"

    def __init__(self, source: Source, batch_size: int = 1_000_000):
        self.source, self.batch_size = source, int(batch_size)
        self.label = source.label
        self.pieces = 0
        self._schema = None

    def _frame(self) -> pd.DataFrame:
        frame = self.source.frame
        if not isinstance(frame, pd.DataFrame):
            from ..data._io import load_table

            frame, _ = load_table(frame)
            self.source = Source("frame", frame=frame)
        return frame

    def schema(self) -> dict[str, str]:
        if self._schema is None:
            if self.source.kind == "frame":
                f = self._frame()
                self._schema = {c: kind_of_pandas(f[c].dtype) for c in f.columns}
            elif self.source.kind == "parquet":
                import pyarrow.parquet as pq

                self._schema = {f.name: kind_of_arrow(f.type) for f in pq.ParquetFile(self.source.paths[0]).schema_arrow}
            else:
                head = pd.read_csv(self.source.paths[0], sep=self.source.delimiter or ",", nrows=10_000)
                self._schema = {c: kind_of_pandas(head[c].dtype) for c in head.columns}
        return self._schema

    def _pieces(self, columns: list[str]):
        if self.source.kind == "frame":
            yield self._frame()[columns]
        elif self.source.kind == "parquet":
            import pyarrow.parquet as pq

            for p in self.source.paths:
                for b in pq.ParquetFile(p).iter_batches(batch_size=self.batch_size, columns=columns):
                    yield b.to_pandas()
        else:
            for p in self.source.paths:
                yield from pd.read_csv(p, sep=self.source.delimiter or ",", usecols=columns,
                                       chunksize=self.batch_size)

    def map_reduce(self, fn: PartialFn, columns: Sequence[str], reduce: ReduceFn) -> Any:
        cols = list(dict.fromkeys(columns))
        self.check(cols)
        parts, k = [], 0
        for k, frame in enumerate(self._pieces(cols), start=1):
            parts.append(fn(frame.reset_index(drop=True), row_ids(k - 1, 0, len(frame))))
            if len(parts) >= 8:
                parts = [reduce_tree(parts, reduce)]
        self.pieces = k
        return reduce_tree(parts, reduce)

    def info(self) -> dict:
        return {"engine": "pandas", "batches": self.pieces} if self.source.kind != "frame" else {"engine": "pandas"}
