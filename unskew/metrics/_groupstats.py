"""Mergeable sufficient statistics for group metrics.

:class:`GroupStats` holds, for every intersectional group, everything the
group metrics need:

* classification: the weighted confusion matrix ``conf[g, true, pred]``, the
  row counts of its cells and the sums of squared weights of its cells (for
  effective sample sizes, Wilson intervals and the bootstrap);
* scores (binary classification): a table of weighted positive and negative
  mass per distinct (group, score) pair -- exact ROC AUC -- or per (group,
  histogram bin) with ``score_bins``; weighted sums of ``p``, ``p**2`` and
  ``y*p`` (Brier score, mean score) and per-bin sums for calibration;
* regression: weighted sums of residuals, absolute and squared residuals, and
  the mean and centred second moment of the target (R2).

Statistics of two chunks of rows add up: ``a + b`` (or ``a.merge(b)``,
``GroupStats.concat([...])``, ``sum([...])``) equals the statistics of the
concatenated rows -- exactly for counts and integer weights, and up to the
order of floating-point additions otherwise. Groups and labels seen in only
one chunk are aligned by value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import encode_groups, encode_labels, group_name, sort_key
from ..exceptions import UnskewInputError
from ._checks import check_label_predictions
from ._encode import (
    as_float_array,
    as_label_array,
    default_pos_label,
    merge_classes,
    unique_labels,
)
from ._scoretable import bin_index, ece_bin_index, reduce_entries, reduce_table, table_hist

TASKS = ("classification", "regression")
_REG_FIELDS = ("w", "w2", "sr", "sabs", "sr2", "sr4", "sy", "my", "m2y")


def _empty(shape, dtype=np.float64):
    return np.zeros(shape, dtype=dtype)


@dataclass(eq=False)
class GroupStats:
    """Sufficient statistics of a model's outputs per intersectional group.

    Build with :meth:`from_arrays`, :meth:`from_frame`, :meth:`from_chunks` or
    :meth:`from_parquet`; combine with ``+``; turn into metrics with
    :meth:`metrics` (a :class:`~unskew.metrics.GroupMetrics`).

    Attributes
    ----------
    names : tuple of str
        Sensitive feature names.
    keys : list of tuple
        One tuple of values per group, sorted.
    task : {"classification", "regression"}
    classes : ndarray or None
        Sorted labels seen in ``y_true`` or ``y_pred`` (classification).
    pos_label : object
        The positive label for binary metrics.
    n : ndarray of int64, shape (G,)
        Rows per group.
    conf, conf_n, conf_w2 : ndarray, shape (G, K, K)
        Weighted confusion counts ``[group, true, predicted]``, row counts and
        sums of squared weights (classification).
    score_bins : int or None
        None: the score table holds every distinct score (exact). An integer:
        scores were discretised to that many equal bins over ``score_range``
        (AUC is then the exact AUC of the discretised scores).
    sc_group, sc_value, sc_pos, sc_neg, sc_pos2, sc_neg2 : ndarray
        Score table sorted by (group, value): weighted positives/negatives and
        their squared-weight sums per distinct value (or bin index).
    s_p, s_p2, s_yp : ndarray, shape (G,)
        Weighted sums of score, squared score and score times outcome.
    cal_w, cal_y, cal_p : ndarray, shape (G, ece_bins)
        Per calibration bin: weight, weighted outcomes, weighted scores.
    reg : dict of ndarray, shape (G,)
        Regression sums ``w, w2, sr, sabs, sr2, sr4, sy`` plus the target mean
        ``my`` and centred second moment ``m2y`` (residual ``r = y_true - y_pred``).
    """

    names: tuple[str, ...]
    keys: list[tuple]
    task: str
    n: np.ndarray
    weighted: bool = False
    classes: np.ndarray | None = None
    pos_label: Any = None
    pos_label_given: bool = False
    conf: np.ndarray | None = None
    conf_n: np.ndarray | None = None
    conf_w2: np.ndarray | None = None
    has_scores: bool = False
    score_bins: int | None = None
    score_range: tuple[float, float] = (0.0, 1.0)
    ece_bins: int = 10
    sc_group: np.ndarray | None = None
    sc_value: np.ndarray | None = None
    sc_pos: np.ndarray | None = None
    sc_neg: np.ndarray | None = None
    sc_pos2: np.ndarray | None = None
    sc_neg2: np.ndarray | None = None
    s_p: np.ndarray | None = None
    s_p2: np.ndarray | None = None
    s_yp: np.ndarray | None = None
    cal_w: np.ndarray | None = None
    cal_y: np.ndarray | None = None
    cal_p: np.ndarray | None = None
    score_min: float = np.inf
    score_max: float = -np.inf
    reg: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_arrays(
        cls,
        y_true: Any,
        y_pred: Any = None,
        *,
        sensitive_features: Any,
        sample_weight: Any = None,
        y_score: Any = None,
        task: str = "auto",
        pos_label: Any = None,
        classes: Sequence | None = None,
        threshold: float = 0.5,
        score_bins: int | None = None,
        score_range: tuple[float, float] = (0.0, 1.0),
        ece_bins: int = 10,
    ) -> GroupStats:
        """Statistics of one table of rows (one vectorised pass).

        Parameters
        ----------
        y_true : array-like of shape (n,)
            True labels (classification) or values (regression).
        y_pred : array-like of shape (n,), optional
            Predicted labels or values. For classification it may be left out
            when ``y_score`` is given: then ``y_pred = pos_label`` where
            ``y_score >= threshold``.
        sensitive_features : array-like, DataFrame or dict
            One or more columns; their intersections are the groups. Missing
            values form a group named ``(missing)``.
        sample_weight : array-like of shape (n,), optional
            Non-negative weights.
        y_score : array-like of shape (n,), optional
            Score or probability of the positive class (binary classification):
            enables ROC AUC, Brier score and calibration.
        task : {"auto", "classification", "regression"}
            ``auto`` treats float targets with non-integer values as regression.
        pos_label : optional
            The positive label; by default 1 (or True) when the labels are
            {0, 1}, {-1, 1} or booleans, else the last label in sorted order.
        classes : sequence, optional
            Labels to include even if absent from this chunk.
        threshold : float, default 0.5
            Decision threshold used when ``y_pred`` is derived from ``y_score``.
        score_bins : int, optional
            Discretise scores into this many equal bins over ``score_range``
            (bounded memory for streaming); by default every distinct score is
            kept, which makes ROC AUC exact.
        score_range : (float, float), default (0, 1)
            Range of the score histogram (only with ``score_bins``).
        ece_bins : int, default 10
            Equal-width bins of the expected calibration error.
        """
        yt = as_label_array(y_true, "y_true")
        n = len(yt)
        if n == 0:
            raise UnskewInputError("y_true is empty; there is nothing to measure.")
        groups = encode_groups(sensitive_features, n, n_what="y_true")
        g, keys, names = groups.codes, groups.keys, groups.columns
        G = len(keys)
        w = None
        if sample_weight is not None:
            w = as_float_array(sample_weight, "sample_weight")
            if len(w) != n:
                raise UnskewInputError(f"sample_weight has {len(w)} values but y_true has {n}.")
            if (w < 0).any():
                raise UnskewInputError(f"sample_weight has {int((w < 0).sum())} negative value(s); weights must be >= 0.")
        if task not in ("auto", *TASKS):
            raise UnskewInputError(f"task must be 'auto', 'classification' or 'regression', not {task!r}.")
        if task == "auto":
            task = _infer_task(yt, y_pred)
        if task == "classification":
            check_label_predictions(yt, y_pred, "classification")  # scores passed as labels
        counts = np.bincount(g, minlength=G).astype(np.int64)
        base = dict(names=tuple(names), keys=keys, task=task, n=counts, weighted=w is not None)
        if task == "regression":
            if y_score is not None:
                raise UnskewInputError("y_score applies to binary classification; a regression needs only y_pred.")
            if y_pred is None:
                raise UnskewInputError("Regression metrics need y_pred (the predicted values).")
            yp = as_float_array(y_pred, "y_pred")
            _check_len(yp, n, "y_pred")
            ytf = as_float_array(yt, "y_true")
            return cls(**base, reg=_regression_sums(g, G, ytf, yp, w))

        # -- classification
        yp = None
        if y_pred is not None:
            yp = as_label_array(y_pred, "y_pred")
            _check_len(yp, n, "y_pred")
        extra = [np.asarray(list(classes), dtype=object)] if classes is not None else []
        parts = [unique_labels(yt)] + ([unique_labels(yp)] if yp is not None else []) + extra
        cls_arr = merge_classes(*parts) if (len(parts) > 1 or yt.dtype.kind == "O") else parts[0]
        pos_given = pos_label is not None
        if pos_label is None:
            pos_label = default_pos_label(cls_arr)
        elif pos_label not in set(cls_arr.tolist()):  # "1" from a command line for numeric labels
            pos_label = next((c for c in cls_arr.tolist() if str(c) == str(pos_label)), pos_label)
        s = None
        if y_score is not None:
            s = as_float_array(y_score, "y_score")
            _check_len(s, n, "y_score")
            if yp is None:
                cls_arr = _binary_label_pair(cls_arr, pos_label)
        elif yp is None:
            raise UnskewInputError("Classification metrics need y_pred (predicted labels) or y_score (scores).")
        K = len(cls_arr)
        if s is not None and K > 2:
            raise UnskewInputError(
                f"y_score (the score of the positive class) needs a binary target; the labels have {K} "
                f"classes ({list(cls_arr)[:6]}). Leave out the scores for multiclass metrics."
            )
        ti, _ = encode_labels(yt, cls_arr, what="y_true")
        if yp is not None:
            pi, _ = encode_labels(yp, cls_arr, what="y_pred")
        else:
            pos_i = _index_of(cls_arr, pos_label)
            pi = np.where(s >= threshold, pos_i, 1 - pos_i)
        cell = (g * K + ti) * K + pi
        size = G * K * K
        conf_n = np.bincount(cell, minlength=size).astype(np.int64).reshape(G, K, K)
        if w is None:
            conf = conf_n.astype(np.float64)
            conf_w2 = conf
        else:
            conf = np.bincount(cell, weights=w, minlength=size).reshape(G, K, K)
            conf_w2 = np.bincount(cell, weights=w * w, minlength=size).reshape(G, K, K)
        out = cls(**base, classes=cls_arr, pos_label=pos_label, pos_label_given=pos_given,
                  conf=conf, conf_n=conf_n, conf_w2=conf_w2, ece_bins=int(ece_bins),
                  score_bins=None if score_bins is None else int(score_bins),
                  score_range=(float(score_range[0]), float(score_range[1])))
        if s is not None:
            ypos = ti == _index_of(cls_arr, pos_label) if pos_label in set(cls_arr.tolist()) else np.zeros(n, bool)
            out._add_scores(g, G, s, ypos, w)
        return out

    def _set_score_range(self, smin: float, smax: float) -> None:
        """Record the observed score range; with ``score_bins``, check the bins and that it fits
        ``score_range`` (shared by the in-memory path and the engines' SQL aggregates)."""
        self.has_scores = True
        self.score_min, self.score_max = smin, smax
        if self.score_bins is None:
            return
        if self.score_bins < 2:
            raise UnskewInputError(f"score_bins must be at least 2, got {self.score_bins}.")
        lo, hi = self.score_range
        if not hi > lo:
            raise UnskewInputError(f"score_range must be (low, high) with high > low, got {self.score_range}.")
        if smin < lo or smax > hi:
            raise UnskewInputError(
                f"Scores range from {smin:g} to {smax:g}, outside score_range "
                f"{self.score_range}; pass a wider score_range or leave score_bins unset."
            )

    def _add_scores(self, g, G, s, ypos, w):
        self._set_score_range(float(s.min()), float(s.max()))
        if self.score_bins is not None:
            lo, hi = self.score_range
            value = bin_index(s, self.score_bins, lo, hi)
            self._set_table(*table_hist(g, value, ypos, w, G, self.score_bins))
        else:
            self._set_table(*reduce_table(g, s, ypos, w))
        wy = ypos.astype(np.float64) if w is None else w * ypos
        ws = s if w is None else w * s
        self.s_p = np.bincount(g, weights=ws, minlength=G)
        self.s_p2 = np.bincount(g, weights=ws * s, minlength=G)
        self.s_yp = np.bincount(g, weights=wy * s, minlength=G)
        E = self.ece_bins
        if E < 1:
            raise UnskewInputError(f"ece_bins must be positive, got {E}.")
        eb = ece_bin_index(s, E)
        key = g * E + eb
        self.cal_w = np.bincount(key, weights=w, minlength=G * E).reshape(G, E).astype(np.float64)
        self.cal_y = np.bincount(key, weights=wy, minlength=G * E).reshape(G, E)
        self.cal_p = np.bincount(key, weights=ws, minlength=G * E).reshape(G, E)

    def _set_table(self, group, value, pos, neg, pos2, neg2):
        self.sc_group, self.sc_value = group, value
        self.sc_pos, self.sc_neg, self.sc_pos2, self.sc_neg2 = pos, neg, pos2, neg2

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        target: str,
        sensitive: str | Sequence[str],
        predictions: str | None = None,
        scores: str | None = None,
        weights: str | None = None,
        **kwargs: Any,
    ) -> GroupStats:
        """Statistics of a pandas/polars DataFrame or pyarrow Table, by column name.

        Extra keyword arguments go to :meth:`from_arrays`.
        """
        mod = type(frame).__module__.split(".")[0]
        if mod == "pyarrow":
            frame = frame.to_pandas()
        sens = [sensitive] if isinstance(sensitive, str) else list(sensitive)
        sens = [c.strip() for part in sens for c in part.split(",") if c.strip()]
        cols = [target, *sens] + [c for c in (predictions, scores, weights) if c]
        have = list(frame.columns)
        for c in cols:
            if c not in have:
                raise UnskewInputError(f"Column {c!r} is not in the table; available columns: {have[:20]}.")
        if mod == "polars":
            frame = frame.select(cols).to_pandas()
        return cls.from_arrays(
            frame[target],
            frame[predictions] if predictions else None,
            sensitive_features=frame[sens],
            sample_weight=frame[weights] if weights else None,
            y_score=frame[scores] if scores else None,
            **kwargs,
        )

    @classmethod
    def from_chunks(cls, chunks: Iterable[Any], *, merge_every: int = 16, **kwargs: Any) -> GroupStats:
        """Statistics of a stream of DataFrames (e.g. ``pd.read_csv(..., chunksize=...)``).

        Keyword arguments are those of :meth:`from_frame`. Only the statistics
        of up to ``merge_every`` chunks are held before they are merged.
        """
        pending: list[GroupStats] = []
        for chunk in chunks:
            pending.append(cls.from_frame(chunk, **kwargs))
            if len(pending) >= merge_every:
                pending = [cls.concat(pending)]
        if not pending:
            raise UnskewInputError("No chunks were read; the input is empty.")
        return cls.concat(pending)

    @classmethod
    def from_parquet(
        cls,
        path: str | Path,
        *,
        target: str,
        sensitive: str | Sequence[str],
        predictions: str | None = None,
        scores: str | None = None,
        weights: str | None = None,
        batch_size: int = 1_000_000,
        on_batch: Any = None,
        **kwargs: Any,
    ) -> GroupStats:
        """Stream a Parquet file in record batches of ``batch_size`` rows.

        Only the named columns are read, so memory stays near one batch plus
        the statistics. For scores on very large files pass ``score_bins``
        (e.g. ``2**16``) to keep the score table bounded; without it every
        distinct score is kept. ``on_batch(rows_done, rows_total)`` is called
        after each batch. Other keyword arguments go to :meth:`from_arrays`.
        """
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.exists():
            raise UnskewInputError(f"Parquet file not found: {path}")
        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise UnskewInputError(f"Cannot read {path} as Parquet: {exc}") from exc
        sens = [sensitive] if isinstance(sensitive, str) else list(sensitive)
        sens = [c.strip() for part in sens for c in part.split(",") if c.strip()]
        cols = list(dict.fromkeys([target, *sens] + [c for c in (predictions, scores, weights) if c]))
        have = pf.schema_arrow.names
        for c in cols:
            if c not in have:
                raise UnskewInputError(f"Column {c!r} is not in {path}; available columns: {have[:20]}.")
        total = pf.metadata.num_rows
        task = kwargs.pop("task", "auto")
        pending: list[GroupStats] = []
        done = 0
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            frame = batch.to_pandas()
            st = cls.from_frame(frame, target=target, sensitive=sens, predictions=predictions,
                                scores=scores, weights=weights, task=task, **kwargs)
            task = st.task  # the first batch decides for the rest
            pending.append(st)
            if len(pending) >= 4:
                pending = [cls.concat(pending)]
            done += batch.num_rows
            if on_batch is not None:
                on_batch(done, total)
        if not pending:
            raise UnskewInputError(f"{path} has no rows.")
        return cls.concat(pending)

    # ------------------------------------------------------------------ access
    @property
    def n_groups(self) -> int:
        return len(self.keys)

    @property
    def labels(self) -> list[str]:
        """Group labels such as ``"sex=F & race=b"``."""
        return [group_name(self.names, k) for k in self.keys]

    @property
    def n_rows(self) -> int:
        return int(self.n.sum())

    @property
    def is_binary(self) -> bool:
        return self.task == "classification" and len(self.classes) <= 2

    @property
    def weight(self) -> np.ndarray:
        """Total weight per group."""
        if self.task == "regression":
            return self.reg["w"]
        return self.conf.sum(axis=(1, 2))

    @property
    def weight2(self) -> np.ndarray:
        if self.task == "regression":
            return self.reg["w2"]
        return self.conf_w2.sum(axis=(1, 2))

    @property
    def effective_n(self) -> np.ndarray:
        """Kish effective sample size per group (equals ``n`` without weights)."""
        if not self.weighted:
            return self.n.astype(np.float64)
        w, w2 = self.weight, self.weight2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(w2 > 0, w * w / np.where(w2 > 0, w2, 1), 0.0)

    def binary_confusion(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(conf, conf_n, conf_w2)`` as 2x2 tables per group, index 1 = positive.

        A label set with one class is padded with an empty second class.
        """
        if not self.is_binary:
            raise UnskewInputError(
                f"Binary metrics need two labels; this task has {len(self.classes)} "
                f"({list(self.classes)[:6]}). Use the multiclass metrics instead."
            )
        K = len(self.classes)
        present = self.pos_label in set(self.classes.tolist())
        if K == 2:
            if not present:
                raise UnskewInputError(
                    f"pos_label {self.pos_label!r} is not one of the labels {list(self.classes)}."
                )
            p = _index_of(self.classes, self.pos_label)
            order = [1 - p, p]
            return tuple(a[:, order][:, :, order] for a in (self.conf, self.conf_n, self.conf_w2))
        out = []
        for a in (self.conf, self.conf_n, self.conf_w2):
            b = np.zeros((a.shape[0], 2, 2), dtype=a.dtype)
            i = 1 if present else 0
            b[:, i, i] = a[:, 0, 0]
            out.append(b)
        return tuple(out)

    # ------------------------------------------------------------------ merging
    def __add__(self, other: GroupStats) -> GroupStats:
        if other == 0:
            return self
        if not isinstance(other, GroupStats):
            return NotImplemented
        return GroupStats.concat([self, other])

    def __radd__(self, other):
        if other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    def merge(self, *others: GroupStats) -> GroupStats:
        """Statistics of the union of the rows behind ``self`` and ``others``."""
        return GroupStats.concat([self, *others])

    @classmethod
    def concat(cls, parts: Sequence[GroupStats]) -> GroupStats:
        """Merge many statistics at once (one re-aggregation of the score table)."""
        parts = list(parts)
        if not parts:
            raise UnskewInputError("Nothing to merge.")
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        for p in parts[1:]:
            if not isinstance(p, GroupStats):
                raise TypeError(f"Cannot merge GroupStats with {type(p).__name__}.")
            if p.names != first.names:
                raise UnskewInputError(
                    f"Cannot merge statistics over different sensitive features: {first.names} vs {p.names}."
                )
            if p.task != first.task:
                raise UnskewInputError(
                    f"Cannot merge {first.task} statistics with {p.task} statistics; pass task= explicitly "
                    f"so that every chunk is treated alike."
                )
        keys = sorted({k for p in parts for k in p.keys}, key=sort_key)
        index = {k: i for i, k in enumerate(keys)}
        gmaps = [np.array([index[k] for k in p.keys], dtype=np.int64) for p in parts]
        G = len(keys)
        n = np.zeros(G, np.int64)
        for p, gm in zip(parts, gmaps, strict=True):
            np.add.at(n, gm, p.n)
        weighted = any(p.weighted for p in parts)
        base = dict(names=first.names, keys=keys, task=first.task, n=n, weighted=weighted)
        if first.task == "regression":
            return cls(**base, reg=_merge_regression([p.reg for p in parts], gmaps, G))

        classes = merge_classes(*[p.classes for p in parts])
        given = {repr(p.pos_label): p.pos_label for p in parts if p.pos_label_given}
        if len(given) > 1:
            raise UnskewInputError(f"Chunks disagree on pos_label: {list(given.values())}.")
        pos_label = next(iter(given.values())) if given else default_pos_label(classes)
        K = len(classes)
        conf = np.zeros((G, K, K))
        conf_n = np.zeros((G, K, K), np.int64)
        conf_w2 = np.zeros((G, K, K))
        for p, gm in zip(parts, gmaps, strict=True):
            cm = np.array([_index_of(classes, c) for c in p.classes.tolist()], dtype=np.int64)
            ix = np.ix_(gm, cm, cm)
            conf[ix] += p.conf
            conf_n[ix] += p.conf_n
            conf_w2[ix] += p.conf_w2
        if not weighted:
            conf_w2 = conf
        out = cls(**base, classes=classes, pos_label=pos_label, pos_label_given=bool(given),
                  conf=conf, conf_n=conf_n, conf_w2=conf_w2, ece_bins=first.ece_bins,
                  score_bins=first.score_bins, score_range=first.score_range)
        scored = [p for p in parts if p.has_scores]
        if scored:
            if len(scored) != len(parts):
                raise UnskewInputError("Some chunks have scores and others do not; all chunks need the same columns.")
            for p in scored:
                if p.ece_bins != first.ece_bins:
                    raise UnskewInputError(f"Chunks use different ece_bins: {first.ece_bins} vs {p.ece_bins}.")
            modes = {(p.score_bins, p.score_range if p.score_bins else None) for p in scored}
            if len(modes) > 1:
                if any(p.score_bins is None for p in scored) and len({m for m in modes if m[0]}) == 1:
                    target = next(m for m in modes if m[0])
                    scored = [p if p.score_bins else p.to_histogram(target[0], target[1]) for p in scored]
                else:
                    raise UnskewInputError(f"Chunks use different score histograms: {sorted(map(str, modes))}.")
            out.score_bins = scored[0].score_bins
            out.score_range = scored[0].score_range
            out.has_scores = True
            cat = [np.concatenate([getattr(p, f) if f != "sc_group" else gm[p.sc_group]
                                   for p, gm in zip(scored, gmaps, strict=True)])
                   for f in ("sc_group", "sc_value", "sc_pos", "sc_neg", "sc_pos2", "sc_neg2")]
            out._set_table(*reduce_entries(*cat, bins=out.score_bins))
            for f in ("s_p", "s_p2", "s_yp"):
                arr = np.zeros(G)
                for p, gm in zip(scored, gmaps, strict=True):
                    np.add.at(arr, gm, getattr(p, f))
                setattr(out, f, arr)
            for f in ("cal_w", "cal_y", "cal_p"):
                arr = np.zeros((G, first.ece_bins))
                for p, gm in zip(scored, gmaps, strict=True):
                    np.add.at(arr, gm, getattr(p, f))
                setattr(out, f, arr)
            out.score_min = min(p.score_min for p in scored)
            out.score_max = max(p.score_max for p in scored)
        return out

    def to_histogram(self, bins: int, score_range: tuple[float, float] = (0.0, 1.0)) -> GroupStats:
        """The same statistics with the score table discretised to ``bins`` bins."""
        if not self.has_scores:
            return self
        if self.score_bins is not None:
            if self.score_bins == bins and tuple(self.score_range) == tuple(score_range):
                return self
            raise UnskewInputError("Statistics already discretised to another histogram cannot be re-binned exactly.")
        lo, hi = float(score_range[0]), float(score_range[1])
        if self.score_min < lo or self.score_max > hi:
            raise UnskewInputError(
                f"Scores range from {self.score_min:g} to {self.score_max:g}, outside {score_range}."
            )
        out = replace(self, score_bins=int(bins), score_range=(lo, hi))
        out._set_table(*reduce_entries(self.sc_group, bin_index(self.sc_value, bins, lo, hi).astype(np.float64),
                                        self.sc_pos, self.sc_neg, self.sc_pos2, self.sc_neg2))
        return out

    # ------------------------------------------------------------------ regrouping
    def regroup(self, assignment: Sequence[int], new_keys: list[tuple], names: Sequence[str] | None = None) -> GroupStats:
        """Pool groups: old group ``g`` goes to new group ``assignment[g]``.

        Used for the overall statistics (every group to one) and for
        privileged / unprivileged pooling. A negative assignment drops a group.
        """
        gm = np.asarray(assignment, dtype=np.int64)
        keep = gm >= 0
        G = len(new_keys)
        sub = gm[keep]
        n = np.zeros(G, np.int64)
        np.add.at(n, sub, self.n[keep])
        base = dict(names=tuple(names) if names is not None else self.names, keys=list(new_keys),
                    task=self.task, n=n, weighted=self.weighted)
        if self.task == "regression":
            reg = {k: v[keep] for k, v in self.reg.items()}
            return GroupStats(**base, reg=_merge_regression([reg], [sub], G))
        out = replace(self, **base)
        for f in ("conf", "conf_n", "conf_w2"):
            a = getattr(self, f)
            b = np.zeros((G,) + a.shape[1:], dtype=a.dtype)
            np.add.at(b, sub, a[keep])
            setattr(out, f, b)
        if not self.weighted:
            out.conf_w2 = out.conf
        if self.has_scores:
            m = keep[self.sc_group]
            out._set_table(*reduce_entries(gm[self.sc_group[m]], self.sc_value[m], self.sc_pos[m],
                                            self.sc_neg[m], self.sc_pos2[m], self.sc_neg2[m], bins=self.score_bins))
            for f in ("s_p", "s_p2", "s_yp", "cal_w", "cal_y", "cal_p"):
                a = getattr(self, f)
                b = np.zeros((G,) + a.shape[1:])
                np.add.at(b, sub, a[keep])
                setattr(out, f, b)
        return out

    def overall(self) -> GroupStats:
        """All groups pooled into one (the statistics of every row)."""
        return self.regroup(np.zeros(self.n_groups, np.int64), [()], names=())

    def select(self, mask: Sequence[bool]) -> GroupStats:
        """Only the groups where ``mask`` is true."""
        mask = np.asarray(mask, bool)
        idx = np.full(self.n_groups, -1, np.int64)
        idx[mask] = np.arange(mask.sum())
        return self.regroup(idx, [k for k, m in zip(self.keys, mask, strict=True) if m])

    # ------------------------------------------------------------------ metrics
    def metrics(self, metrics: Sequence[str] | None = None, **kwargs: Any):
        """A :class:`~unskew.metrics.GroupMetrics` computed from these statistics."""
        from ._frame import GroupMetrics

        return GroupMetrics(self, metrics=metrics, **kwargs)

    def __repr__(self) -> str:
        extra = ""
        if self.task == "classification":
            extra = f", classes={self.classes.tolist()[:6]}, pos_label={self.pos_label!r}"
            if self.has_scores:
                mode = "exact" if self.score_bins is None else f"{self.score_bins} bins"
                extra += f", scores={mode} ({len(self.sc_value)} entries)"
        return (f"GroupStats(task={self.task!r}, groups={self.n_groups}, rows={self.n_rows}, "
                f"sensitive={list(self.names)}{extra})")


# ---------------------------------------------------------------------------- helpers
def _check_len(arr: np.ndarray, n: int, what: str) -> None:
    if len(arr) != n:
        raise UnskewInputError(f"{what} has {len(arr)} values but y_true has {n}; they must align row by row.")


def _infer_task(yt: np.ndarray, y_pred: Any) -> str:
    if yt.dtype.kind == "f":
        finite = yt[np.isfinite(yt)]
        if finite.size and not np.all(finite == np.round(finite)):
            return "regression"
        if y_pred is not None:
            yp = np.asarray(y_pred)
            if yp.dtype.kind == "f" and yp.size and not np.all(yp == np.round(yp)):
                return "regression"
    return "classification"


def _index_of(classes: np.ndarray, value: Any) -> int:
    for i, c in enumerate(classes.tolist()):
        if c == value:
            return i
    raise UnskewInputError(f"Label {value!r} is not among the labels {list(classes)[:10]}.")


def _binary_label_pair(classes: np.ndarray, pos_label: Any) -> np.ndarray:
    """Labels for predictions thresholded from scores: the positive and one negative label."""
    vals = classes.tolist()
    if len(vals) >= 2:
        return classes
    only = vals[0] if vals else pos_label
    partner = {True: False, False: True} if isinstance(only, (bool, np.bool_)) else {0: 1, 1: 0, -1: 1}
    if pos_label not in vals and only != pos_label:
        return merge_classes(classes, np.asarray([pos_label], dtype=object))
    try:
        other = partner[only]
    except (KeyError, TypeError):
        raise UnskewInputError(
            f"y_true has the single label {only!r}, so the negative label of predictions derived from "
            f"y_score is unknown; pass classes=[negative, positive]."
        ) from None
    return merge_classes(classes, np.asarray([other]))


def _regression_sums(g, G, y, yp, w):
    r = y - yp
    wt = np.ones_like(y) if w is None else w
    out = {
        "w": np.bincount(g, weights=wt, minlength=G),
        "w2": np.bincount(g, weights=wt * wt, minlength=G),
        "sr": np.bincount(g, weights=wt * r, minlength=G),
        "sabs": np.bincount(g, weights=wt * np.abs(r), minlength=G),
        "sr2": np.bincount(g, weights=wt * r * r, minlength=G),
        "sr4": np.bincount(g, weights=wt * r**4, minlength=G),
        "sy": np.bincount(g, weights=wt * y, minlength=G),
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        my = np.where(out["w"] > 0, out["sy"] / np.where(out["w"] > 0, out["w"], 1), 0.0)
    out["my"] = my
    d = y - my[g]
    out["m2y"] = np.bincount(g, weights=wt * d * d, minlength=G)
    return out


def _merge_regression(regs: list[dict], gmaps: list[np.ndarray], G: int) -> dict:
    """Pool regression sums; target moments by Chan's parallel update."""
    out = {k: np.zeros(G) for k in ("w", "w2", "sr", "sabs", "sr2", "sr4", "sy")}
    for reg, gm in zip(regs, gmaps, strict=True):
        for k in out:
            np.add.at(out[k], gm, reg[k])
    with np.errstate(invalid="ignore", divide="ignore"):
        my = np.where(out["w"] > 0, out["sy"] / np.where(out["w"] > 0, out["w"], 1), 0.0)
    m2 = np.zeros(G)
    for reg, gm in zip(regs, gmaps, strict=True):
        np.add.at(m2, gm, reg["m2y"] + reg["w"] * (reg["my"] - my[gm]) ** 2)
    out["my"] = my
    out["m2y"] = m2
    return out


def stats_frame(stats: GroupStats) -> pd.DataFrame:
    """A small per-group summary (rows, weight) used in reports."""
    return pd.DataFrame({"group": stats.labels, "n": stats.n, "weight": stats.weight})
