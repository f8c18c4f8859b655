"""One partial -> merge -> finalise protocol for every count-based quantity.

An engine (pandas, DuckDB, Spark, Dask) never computes a metric. It cuts the
rows into pieces (batches, partitions, SQL groups), turns each piece into a
*partial* with the functions here, and hands the partials back to
:func:`merge`; the merged value is *finalised* by the same code that the
in-memory path uses (:class:`~unskew.metrics.GroupMetrics` for a
:class:`~unskew.metrics.GroupStats`, :meth:`CountTable.frame` for counts).
Because every engine goes through the same three steps, the report is the
same whichever engine computed it.

Two kinds of partial exist:

:class:`~unskew.metrics.GroupStats`
    The metrics' sufficient statistics (confusion counts, score tables,
    calibration sums, regression sums). :func:`stats_partial` builds one from
    a frame of rows; :func:`stats_from_aggregates` from a table that an SQL
    engine has already grouped by (groups, label, prediction, score).
:class:`CountTable`
    Counts (and weight sums) keyed by a tuple of values: target distribution,
    representation, base rates, missing values, histograms.

Both merge with ``a + b``; :func:`merge` merges many in a tree (``split_every``
at a time), which is what a distributed reduce does. Merging is associative
and commutative, and any partitioning of the rows gives the statistics of one
pass -- exactly for counts and integer weights (``tests/engines``).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import encode_groups, encode_labels, sort_key
from ..exceptions import UnskewInputError
from ..metrics._encode import as_label_array, default_pos_label, merge_classes, unique_labels
from ..metrics._groupstats import GroupStats, _binary_label_pair, _index_of
from ..metrics._scoretable import reduce_entries

__all__ = [
    "merge_json",
    "CountTable",
    "StatsSpec",
    "dumps",
    "loads",
    "merge",
    "stats_from_aggregates",
    "stats_partial",
]


# ---------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class StatsSpec:
    """What to measure: the columns and the options of :meth:`GroupStats.from_arrays`.

    It travels to every worker (it pickles), so every partition is measured
    alike.
    """

    target: str
    sensitive: tuple[str, ...]
    predictions: str | None = None
    scores: str | None = None
    weights: str | None = None
    task: str = "auto"
    pos_label: Any = None
    threshold: float = 0.5
    score_bins: int | None = None
    score_range: tuple[float, float] = (0.0, 1.0)
    ece_bins: int = 10

    @classmethod
    def build(cls, *, target: str, sensitive: str | Sequence[str], **kw: Any) -> StatsSpec:
        sens = [sensitive] if isinstance(sensitive, str) else list(sensitive)
        sens = [c.strip() for part in sens for c in part.split(",") if c.strip()]
        if not sens:
            raise UnskewInputError("At least one sensitive column is needed.")
        kw = {k: v for k, v in kw.items() if v is not None or k in ("pos_label", "score_bins")}
        return cls(target=target, sensitive=tuple(sens), **kw)

    @property
    def columns(self) -> list[str]:
        """The columns an engine has to read (nothing else travels)."""
        return list(dict.fromkeys([self.target, *self.sensitive]
                                  + [c for c in (self.predictions, self.scores, self.weights) if c]))

    def stats_kwargs(self) -> dict:
        return dict(task=self.task, pos_label=self.pos_label, threshold=self.threshold,
                    score_bins=self.score_bins, score_range=self.score_range, ece_bins=self.ece_bins)

    def with_task(self, task: str) -> StatsSpec:
        return replace(self, task=task)

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- partials
def stats_partial(frame: Any, spec: StatsSpec) -> GroupStats | None:
    """The :class:`GroupStats` of one piece of rows (None for an empty piece).

    ``frame`` is a pandas DataFrame or a pyarrow Table / RecordBatch.
    """
    mod = type(frame).__module__.split(".")[0]
    if mod == "pyarrow":
        frame = frame.to_pandas()
    if len(frame) == 0:
        return None
    return GroupStats.from_frame(frame, target=spec.target, sensitive=list(spec.sensitive),
                                 predictions=spec.predictions, scores=spec.scores, weights=spec.weights,
                                 **spec.stats_kwargs())


class MixedTaskError(UnskewInputError):
    """Partials disagree on the task (``task="auto"`` decided per piece)."""


def merge(parts: Iterable[Any], *, split_every: int = 8) -> Any:
    """Merge partials (GroupStats or CountTable) in a tree, ``split_every`` at a time.

    ``None`` partials (empty pieces) are skipped. Raises
    :class:`UnskewInputError` when there is nothing to merge and
    :class:`MixedTaskError` when ``task="auto"`` made some pieces a regression
    and others a classification (the engine then measures again with
    ``task="regression"``).
    """
    level = [p for p in parts if p is not None]
    if not level:
        raise UnskewInputError("The input has no rows; there is nothing to measure.")
    if split_every < 2:
        raise UnskewInputError(f"split_every must be at least 2, got {split_every}.")
    if isinstance(level[0], GroupStats):
        tasks = {p.task for p in level}
        if len(tasks) > 1:
            raise MixedTaskError(f"Pieces of the table were measured as {sorted(tasks)}.")
    while len(level) > 1:
        level = [_merge_few(level[i:i + split_every]) for i in range(0, len(level), split_every)]
    return level[0]


def _merge_few(parts: list) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], GroupStats):
        return GroupStats.concat(parts)
    return CountTable.concat(parts)


def dumps(partial: Any) -> bytes:
    """Serialise a partial to ship it from a worker to the driver."""
    return pickle.dumps(partial, protocol=pickle.HIGHEST_PROTOCOL)


def loads(blob: bytes) -> Any:
    """Inverse of :func:`dumps` (only ever applied to bytes our own workers produced)."""
    return pickle.loads(blob)  # noqa: S301 - bytes come from our own partial functions


# ---------------------------------------------------------------------------- SQL aggregates
#: Columns of an aggregated table (one row per group x label x prediction x score value).
AGG_COLUMNS = {
    "_y": "target value",
    "_p": "predicted label (when a predictions column is given)",
    "_pp": "score >= threshold (predictions derived from scores)",
    "_s": "score value, or its histogram bin with score_bins",
    "_eb": "calibration bin of the score",
    "_n": "row count",
    "_w": "sum of weights",
    "_w2": "sum of squared weights",
    "_ws": "sum of weight x score",
    "_ws2": "sum of weight x score^2",
    "_smin": "smallest score",
    "_smax": "largest score",
}


def stats_from_aggregates(agg: pd.DataFrame, spec: StatsSpec) -> GroupStats:
    """A classification :class:`GroupStats` from rows already grouped by an engine.

    ``agg`` has the sensitive columns and the columns of :data:`AGG_COLUMNS`
    (``_p`` or ``_pp``; the score columns only with scores). Each row stands
    for ``_n`` input rows with the same group, label, prediction and score
    value (or score bin). The result equals :meth:`GroupStats.from_arrays` on
    the input rows: counts exactly, weighted sums up to the order of
    floating-point additions.
    """
    if len(agg) == 0:
        raise UnskewInputError("The input has no rows; there is nothing to measure.")
    sens = list(spec.sensitive)
    yt = as_label_array(agg["_y"], spec.target)
    cnt = agg["_n"].to_numpy(np.float64)
    sw = agg["_w"].to_numpy(np.float64) if spec.weights else cnt
    w2 = agg["_w2"].to_numpy(np.float64) if spec.weights else cnt
    kw = dict(task=spec.task, pos_label=spec.pos_label, threshold=spec.threshold, score_bins=spec.score_bins,
              score_range=spec.score_range, ece_bins=spec.ece_bins)
    if spec.predictions:
        yp = as_label_array(agg["_p"], spec.predictions)
        classes = None
    else:  # labels derived from scores, as from_arrays does
        cls_arr = unique_labels(yt)
        if yt.dtype.kind == "O":
            cls_arr = merge_classes(cls_arr)
        pos = spec.pos_label
        if pos is None:
            pos = default_pos_label(cls_arr)
        elif pos not in set(cls_arr.tolist()):
            pos = next((c for c in cls_arr.tolist() if str(c) == str(pos)), pos)
        classes = _binary_label_pair(cls_arr, pos)
        if len(classes) > 2:
            raise UnskewInputError(
                f"{spec.scores} (the score of the positive class) needs a binary target; {spec.target} has "
                f"{len(classes)} classes ({list(classes)[:6]}).")
        pos_i = _index_of(classes, pos)
        flag = agg["_pp"].to_numpy(bool)
        yp = np.where(flag, classes[pos_i], classes[1 - pos_i])
        if classes.dtype.kind != "O":
            yp = yp.astype(classes.dtype)
    st = GroupStats.from_arrays(yt, yp, sensitive_features=agg[sens], sample_weight=sw,
                                classes=None if classes is None else list(classes.tolist()),
                                **{k: v for k, v in kw.items() if k not in ("score_bins", "score_range")})
    if st.task != "classification":
        raise MixedTaskError("Aggregated tables hold classification counts only.")
    groups = encode_groups(agg[sens], len(agg))
    g, keys = groups.codes, groups.keys
    if keys != st.keys:  # pragma: no cover - encode_groups is deterministic
        raise RuntimeError("group encoding changed between two calls")
    G, K = st.n_groups, len(st.classes)
    ti, _ = encode_labels(yt, st.classes, what=spec.target)
    pi, _ = encode_labels(np.asarray(yp), st.classes, what=spec.predictions or spec.scores)
    cell = (g * K + ti) * K + pi
    size = G * K * K
    st.n = np.rint(np.bincount(g, weights=cnt, minlength=G)).astype(np.int64)
    st.conf_n = np.rint(np.bincount(cell, weights=cnt, minlength=size)).astype(np.int64).reshape(G, K, K)
    st.weighted = bool(spec.weights)
    if st.weighted:
        st.conf = np.bincount(cell, weights=sw, minlength=size).reshape(G, K, K)
        st.conf_w2 = np.bincount(cell, weights=w2, minlength=size).reshape(G, K, K)
    else:
        st.conf = st.conf_n.astype(np.float64)
        st.conf_w2 = st.conf
    st.score_bins = None if spec.score_bins is None else int(spec.score_bins)
    st.score_range = (float(spec.score_range[0]), float(spec.score_range[1]))
    if spec.scores:
        _scores_from_aggregates(st, agg, g, ti, sw, w2)
    return st


def _scores_from_aggregates(st: GroupStats, agg: pd.DataFrame, g, ti, sw, w2) -> None:
    G, E = st.n_groups, st.ece_bins
    st._set_score_range(float(agg["_smin"].min()), float(agg["_smax"].max()))
    present = st.pos_label in set(st.classes.tolist())
    ypos = (ti == _index_of(st.classes, st.pos_label)) if present else np.zeros(len(agg), bool)
    value = agg["_s"].to_numpy(np.float64)
    pos, neg = np.where(ypos, sw, 0.0), np.where(ypos, 0.0, sw)
    pos2, neg2 = np.where(ypos, w2, 0.0), np.where(ypos, 0.0, w2)
    st._set_table(*reduce_entries(g.astype(np.int64), value, pos, neg, pos2, neg2, bins=st.score_bins))
    ws = agg["_ws"].to_numpy(np.float64)
    st.s_p = np.bincount(g, weights=ws, minlength=G)
    st.s_p2 = np.bincount(g, weights=agg["_ws2"].to_numpy(np.float64), minlength=G)
    st.s_yp = np.bincount(g, weights=np.where(ypos, ws, 0.0), minlength=G)
    key = g * E + agg["_eb"].to_numpy(np.int64)
    st.cal_w = np.bincount(key, weights=sw, minlength=G * E).reshape(G, E)
    st.cal_y = np.bincount(key, weights=np.where(ypos, sw, 0.0), minlength=G * E).reshape(G, E)
    st.cal_p = np.bincount(key, weights=ws, minlength=G * E).reshape(G, E)


# ---------------------------------------------------------------------------- counts
@dataclass(eq=False)
class CountTable:
    """Mergeable counts keyed by a tuple of values.

    One row per distinct key (``names`` are the key columns, e.g.
    ``("column", "group", "value")``), one column per counted quantity
    (``fields``, e.g. ``("n", "weight")``). Keys are sorted with the
    library's total order (numbers, then strings, missing last), so two tables
    of the same rows compare equal whatever the order of the rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.engines import CountTable
    >>> a = CountTable.from_frame(pd.DataFrame({"sex": ["F", "M", "F"]}), by=["sex"])
    >>> b = CountTable.from_frame(pd.DataFrame({"sex": ["M"]}), by=["sex"])
    >>> (a + b).frame()["n"].tolist()
    [2, 2]
    """

    names: tuple[str, ...]
    keys: list[tuple]
    values: np.ndarray
    fields: tuple[str, ...] = ("n",)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, by: Sequence[str], weights: str | None = None,
                   missing: str | None = None, sums: Sequence[str] = ()) -> CountTable:
        """Rows (and weight sums) per distinct combination of the ``by`` columns.

        Missing values are a key of their own (``(missing)``). With ``sums``,
        the fields are ``n`` and the sum of each named column (float64) per key.
        """
        by = list(by)
        if sums:
            if weights:
                raise UnskewInputError("Pass weights or sums, not both.")
            fields = ("n", *sums)
            if len(frame) == 0:
                return cls(names=tuple(by), keys=[], values=np.zeros((0, len(fields))), fields=fields)
            groups = encode_groups(frame[by], len(frame))
            k = len(groups.keys)
            cols = [np.bincount(groups.codes, minlength=k).astype(np.float64)]
            cols += [np.bincount(groups.codes, weights=frame[c].to_numpy(np.float64), minlength=k) for c in sums]
            return cls(names=tuple(by), keys=groups.keys, values=np.column_stack(cols), fields=fields)
        if len(frame) == 0:
            vals = np.zeros((0, 2 if weights else 1), np.float64 if weights else np.int64)
            return cls(names=tuple(by), keys=[], values=vals, fields=("n", "weight") if weights else ("n",))
        groups = encode_groups(frame[by], len(frame))
        codes, keys = groups.codes, groups.keys
        n = np.bincount(codes, minlength=len(keys)).astype(np.int64)
        if weights:
            w = np.bincount(codes, weights=frame[weights].to_numpy(np.float64), minlength=len(keys))
            return cls(names=tuple(by), keys=keys, values=np.column_stack([n.astype(np.float64), w]),
                       fields=("n", "weight"))
        return cls(names=tuple(by), keys=keys, values=n[:, None], fields=("n",))

    @classmethod
    def from_codes(cls, names: Sequence[str], parts: Sequence[tuple[np.ndarray, Sequence]], *,
                   sums: dict[str, np.ndarray] | None = None) -> CountTable:
        """Rows (and sums) per cell of already-coded key columns, without re-encoding any value.

        ``parts`` holds one ``(codes, levels)`` per key column (``levels[codes[i]]``
        is row ``i``'s value), with levels in the library's value order (e.g.
        the keys of :func:`~unskew.data._groups.encode_groups`, or ``range(k)``
        for bins), so that the cells come out sorted. Cells without rows are
        left out. ``sums`` adds one float64 field per named array.

        Examples
        --------
        >>> import numpy as np
        >>> from unskew.engines import CountTable
        >>> t = CountTable.from_codes(("group", "bin"), [(np.array([0, 1, 0]), ["a", "b"]), (np.array([2, 0, 2]), range(3))])
        >>> t.keys, t.values[:, 0].tolist()
        ([('a', 2), ('b', 0)], [2, 1])
        """
        names, sums = tuple(names), dict(sums or {})
        n = len(parts[0][0]) if parts else 0
        flat = np.zeros(n, np.int64)
        shape = []
        for codes, levels in parts:
            flat = flat * len(levels) + np.asarray(codes, np.int64)
            shape.append(len(levels))
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        rows = np.bincount(flat, minlength=size)
        idx = np.flatnonzero(rows)
        cells = np.unravel_index(idx, shape) if shape else ()
        levels = [list(lv) for _, lv in parts]
        keys = [tuple(levels[j][cells[j][i]] for j in range(len(parts))) for i in range(len(idx))]
        if not sums:
            return cls(names=names, keys=keys, values=rows[idx].astype(np.int64)[:, None], fields=("n",))
        cols = [rows[idx].astype(np.float64)] + [np.bincount(flat, weights=np.asarray(w, np.float64),
                                                             minlength=size)[idx] for w in sums.values()]
        return cls(names=names, keys=keys, values=np.column_stack(cols), fields=("n", *sums))

    @classmethod
    def from_keys(cls, names: Sequence[str], keys: Sequence[tuple], values: Any,
                  fields: Sequence[str] = ("n",)) -> CountTable:
        """A table from (possibly repeated, unsorted) keys and their values; repeats are summed."""
        vals = np.asarray(values)
        if vals.ndim == 1:
            vals = vals[:, None]
        out = cls(names=tuple(names), keys=[tuple(k) for k in keys], values=vals, fields=tuple(fields))
        return cls.concat([out, cls(names=out.names, keys=[], values=vals[:0], fields=out.fields)])

    def __add__(self, other: CountTable) -> CountTable:
        if isinstance(other, int) and other == 0:
            return self
        if not isinstance(other, CountTable):
            return NotImplemented
        return CountTable.concat([self, other])

    def __radd__(self, other):
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    @classmethod
    def concat(cls, parts: Sequence[CountTable]) -> CountTable:
        parts = list(parts)
        if not parts:
            raise UnskewInputError("Nothing to merge.")
        first = parts[0]
        for p in parts[1:]:
            if p.names != first.names or p.fields != first.fields:
                raise UnskewInputError(f"Cannot merge counts of {first.names}/{first.fields} with "
                                       f"{p.names}/{p.fields}.")
        all_keys = [k for p in parts for k in p.keys]
        uniq = sorted(set(all_keys), key=lambda k: tuple(sort_key(v) for v in k))
        index = {k: i for i, k in enumerate(uniq)}
        dtype = np.result_type(*[p.values.dtype for p in parts])
        vals = np.zeros((len(uniq), len(first.fields)), dtype=dtype)
        for p in parts:
            if p.keys:
                np.add.at(vals, np.array([index[k] for k in p.keys], dtype=np.int64), p.values)
        extra = {}
        for p in parts:
            extra.update(p.extra)
        return cls(names=first.names, keys=uniq, values=vals, fields=first.fields, extra=extra)

    def frame(self) -> pd.DataFrame:
        """The finalised table: key columns then value columns, one row per key."""
        data = {n: [k[i] for k in self.keys] for i, n in enumerate(self.names)}
        for j, f in enumerate(self.fields):
            col = self.values[:, j]
            data[f] = col.astype(np.int64) if f == "n" and col.dtype.kind == "f" else col
        return pd.DataFrame(data)

    def to_json(self) -> dict:
        """A JSON-safe form (lists of plain values), e.g. to store a partial in a database; see :meth:`from_json`."""
        from ..data._groups import plain

        ints = self.values.dtype.kind in "iu"
        return {"names": list(self.names), "fields": list(self.fields),
                "keys": [[plain(v) for v in k] for k in self.keys],
                "values": self.values.astype(np.int64 if ints else np.float64).tolist()}

    @classmethod
    def from_json(cls, data: dict) -> CountTable:
        vals = np.asarray(data["values"], dtype=np.float64).reshape(-1, len(data["fields"]))
        if vals.size and np.array_equal(vals, np.rint(vals)) and all(isinstance(x, int) for r in data["values"]
                                                                     for x in r):
            vals = vals.astype(np.int64)
        return cls.from_keys(tuple(data["names"]), [tuple(k) for k in data["keys"]], vals, tuple(data["fields"]))

    def dense(self, name: str, size: int) -> dict:
        """``{other key: list of ``size`` counts}``: the first field per key, the integer key ``name`` as position.

        For a table keyed by ``(group, bin)``, ``dense("bin", k)`` is one
        histogram list per group (a JSON-safe form of the partial).
        """
        j = self.names.index(name)
        out: dict = {}
        col = self.values[:, 0]
        for k, v in zip(self.keys, col.tolist(), strict=True):
            rest = k[:j] + k[j + 1:]
            rest = rest[0] if len(rest) == 1 else rest
            out.setdefault(rest, [0] * size)[int(k[j])] += v
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CountTable):
            return NotImplemented
        return (self.names == other.names and self.fields == other.fields and self.keys == other.keys
                and np.array_equal(self.values, other.values))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CountTable(by={list(self.names)}, keys={len(self.keys)}, fields={list(self.fields)})"


# ---------------------------------------------------------------------------- JSON-safe partials
def merge_json(acc: dict, part: Any, sign: int = 1) -> dict:
    """Add (``sign=1``) or subtract (``sign=-1``) a JSON-safe partial into ``acc`` in place; returns ``acc``.

    The JSON form of a partial is nested dicts whose leaves are counts or
    sums: numbers add, lists add element-wise (the shorter padded with
    zeros), dicts merge by key. It is how partials are kept in a database
    (the monitor's per-bucket aggregates, built from :class:`CountTable`s):
    like :func:`merge`, associative and commutative, exact for counts, and a
    subtraction undoes an addition.

    Examples
    --------
    >>> from unskew.engines import merge_json
    >>> merge_json({"n": 2, "groups": {"a": 2}, "hist": [1, 1]}, {"n": 1, "groups": {"b": 1}, "hist": [0, 0, 1]})
    {'n': 3, 'groups': {'a': 2, 'b': 1}, 'hist': [1, 1, 1]}
    """
    from collections.abc import Mapping

    for k, v in part.items():
        if isinstance(v, Mapping):
            merge_json(acc.setdefault(k, {}), v, sign)
        elif isinstance(v, list):
            cur = acc.get(k)
            if cur is None:
                acc[k] = [sign * x for x in v]
            else:
                if len(cur) < len(v):
                    cur.extend([0] * (len(v) - len(cur)))
                for i, x in enumerate(v):
                    cur[i] += sign * x
        else:
            acc[k] = acc.get(k, 0) + sign * v
    return acc
