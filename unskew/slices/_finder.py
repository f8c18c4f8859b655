"""The :class:`SliceFinder` estimator: where does the model fail that nobody looked?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._stats import wilson_interval
from ..exceptions import UnskewInputError
from ._encode import Level, SliceEncoder, as_frame
from ._lattice import search_lattice
from ._report import slices_report
from ._significance import (
    CORRECTIONS,
    ERROR_METRICS,
    adjust_pvalues,
    is_binary_errors,
    row_errors,
    slice_tests,
)

RANKINGS = ("score", "effect_size", "size")
FAMILIES = ("evaluated", "lattice")
REST = "rest"


@dataclass
class Slice:
    """One discovered slice and its statistics.

    Attributes
    ----------
    conditions : tuple of Level
        The conjunction defining the slice.
    size : int
        Rows in the slice.
    support : float
        ``size / n_rows``.
    error : float
        Mean error (error rate for 0/1 errors) in the slice.
    error_rest : float
        Mean error of the rows outside the slice.
    error_ratio : float
        ``error / overall mean error`` (the lift).
    effect_size : float
        ``(error - error_rest) / sqrt((var_slice + var_rest) / 2)`` (SliceFinder).
    score : float
        SliceLine score.
    p_value, p_adjusted : float
        One-sided p-value (slice worse than the rest) and the corrected one.
    significant : bool
        ``p_adjusted <= significance_level``.
    ci_low, ci_high : float or None
        95 % Wilson interval of the error rate (0/1 errors only).
    """

    conditions: tuple[Level, ...]
    size: int
    support: float
    error: float
    error_rest: float
    error_ratio: float
    effect_size: float
    score: float
    p_value: float
    p_adjusted: float
    significant: bool
    ci_low: float | None = None
    ci_high: float | None = None
    _codes: tuple[tuple[int, int], ...] = ()

    @property
    def level(self) -> int:
        return len(self.conditions)

    @property
    def description(self) -> str:
        return " & ".join(c.text for c in self.conditions)

    @property
    def features(self) -> list[str]:
        return [c.feature for c in self.conditions]

    def to_dict(self) -> dict:
        return {
            "slice": self.description,
            "conditions": [c.to_dict() for c in self.conditions],
            "level": self.level,
            "size": int(self.size),
            "support": self.support,
            "error": self.error,
            "error_rest": self.error_rest,
            "error_ratio": self.error_ratio,
            "effect_size": self.effect_size,
            "score": self.score,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "significant": bool(self.significant),
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


def lattice_size(cards, max_level: int) -> int:
    """Number of conjunctions of at most ``max_level`` conditions on distinct features."""
    e = [1] + [0] * max_level
    for c in cards:
        for level in range(max_level, 0, -1):
            e[level] += e[level - 1] * int(c)
    return int(sum(e[1:]))


class SliceFinder:
    """Find data slices on which a model's error is significantly worse than overall.

    The search combines SliceLine (Sagadeeva & Boehm 2021) and SliceFinder
    (Chung et al. 2019). Every feature is discretised (numeric features into
    quantile bins) and slices are conjunctions of at most ``max_level``
    conditions on distinct features. The lattice of slices is enumerated level
    by level with SliceLine's size and score upper-bound pruning, keeping the
    best slices by the SliceLine score::

        sc = alpha * (slice mean error / mean error - 1) - (1 - alpha) * (n / size - 1)

    Each slice evaluated with at least ``min_support`` rows is tested, one
    sided, against the rest of the rows (Fisher's exact test for 0/1 errors,
    Welch's t-test otherwise) and the p-values are corrected for the number of
    slices tested (``correction``). SliceFinder's effect size is reported for
    each slice.

    Parameters
    ----------
    max_level : int, default 3
        Most conditions per slice.
    min_support : int or float, optional
        Fewest rows in a reported slice; a float in (0, 1) is a fraction of the
        rows. Default ``max(30, ceil(0.002 * n_rows))``.
    top_k : int, default 10
        Slices to report.
    alpha : float, default 0.95
        SliceLine's weight of the error lift against slice size, in (0, 1]
        (1 ignores size).
    n_bins : int, default 5
        Quantile bins per numeric feature.
    max_levels : int, default 50
        Most values a categorical feature keeps (others become ``(other)``).
    error : str, default "auto"
        Per-row error: ``zero_one``, ``log_loss``, ``brier``, ``squared``,
        ``absolute``, or ``auto`` (see :func:`unskew.slices.row_errors`).
    include_target : bool, default False
        Add the true label as a feature so that slices may be conditioned on
        it ("blond people with ..."), as SliceFinder allows. Membership of such
        slices on new data then needs ``y``.
    significance_level : float, default 0.05
        Level of the corrected tests.
    correction : {"bonferroni", "bh"}, default "bonferroni"
        ``bonferroni`` controls the family-wise error rate (the chance of
        reporting any slice whose error is not really worse);
        ``bh`` (Benjamini-Hochberg) controls the false discovery rate.
    family : {"evaluated", "lattice"}, default "evaluated"
        The number of hypotheses corrected for: the slices actually tested
        (every evaluated slice with at least ``min_support`` rows), or every
        conjunction in the lattice up to ``max_level`` (more conservative; it
        does not depend on which slices pruning skipped).
    rank_by : {"score", "effect_size", "size"}, default "score"
        Order of the reported slices; significant slices always come first.
        ``size`` is SliceFinder's order (larger first, then effect size).
    max_overlap : float or None, default 0.5
        A slice whose rows overlap a better-ranked reported slice by more than
        this Jaccard index is skipped, so that the report is not ten variants
        of one slice. ``None`` keeps them all.
    explain_away : bool, default True
        Skip a significant slice whose rows outside the better-ranked
        reported slices are no longer significantly worse than the other
        uncovered rows (e.g. ``a = 1`` when all of its excess error sits in
        the reported ``a = 1 & b = 2``).
    pool_size : int, optional
        How many of the best-scoring slices the search keeps (and prunes
        against) before ranking and de-duplication; default
        ``max(5 * top_k, 50)``.
    max_candidates : int, default 5,000,000
        Safety cap on candidates per lattice level.

    Attributes
    ----------
    slices_ : list of Slice
        The reported slices, best first.
    candidates_ : pandas.DataFrame
        Every slice kept by the search (the pool), with statistics.
    encoder_ : SliceEncoder
        The fitted discretiser.
    n_rows_, mean_error_ : int, float
    error_metric_ : str
    binary_errors_ : bool
    n_tested_ : int
        Slices tested (evaluated with at least ``min_support`` rows).
    family_size_ : int
        Hypotheses the correction accounts for.
    min_support_ : int
    levels_ : list of dict
        Per-level candidates, evaluated and tested counts and timings.
    target_name_ : str or None
        Name of the label feature when ``include_target``.
    """

    def __init__(self, *, max_level: int = 3, min_support: int | float | None = None, top_k: int = 10,
                 alpha: float = 0.95, n_bins: int = 5, max_levels: int = 50, error: str = "auto",
                 include_target: bool = False, significance_level: float = 0.05,
                 correction: str = "bonferroni", family: str = "evaluated", rank_by: str = "score",
                 max_overlap: float | None = 0.5, explain_away: bool = True, pool_size: int | None = None,
                 max_candidates: int = 5_000_000):
        self.max_level = max_level
        self.min_support = min_support
        self.top_k = top_k
        self.alpha = alpha
        self.n_bins = n_bins
        self.max_levels = max_levels
        self.error = error
        self.include_target = include_target
        self.significance_level = significance_level
        self.correction = correction
        self.family = family
        self.rank_by = rank_by
        self.max_overlap = max_overlap
        self.explain_away = explain_away
        self.pool_size = pool_size
        self.max_candidates = max_candidates

    # ------------------------------------------------------------------ checks
    def _validate(self, n: int) -> int:
        if not isinstance(self.max_level, (int, np.integer)) or self.max_level < 1:
            raise UnskewInputError(f"max_level (--max-level) must be a positive integer, got {self.max_level!r}.")
        if not isinstance(self.top_k, (int, np.integer)) or self.top_k < 1:
            raise UnskewInputError(f"top_k (--top) must be a positive integer, got {self.top_k!r}.")
        if not 0 < float(self.alpha) <= 1:
            raise UnskewInputError(f"alpha (--alpha) must be in (0, 1], got {self.alpha}.")
        if not 0 < float(self.significance_level) < 1:
            raise UnskewInputError(f"significance_level must be in (0, 1), got {self.significance_level}.")
        if self.correction not in CORRECTIONS:
            raise UnskewInputError(f"correction (--correction) must be one of {', '.join(CORRECTIONS)}; got {self.correction!r}.")
        if self.family not in FAMILIES:
            raise UnskewInputError(f"family must be one of {', '.join(FAMILIES)}; got {self.family!r}.")
        if self.rank_by not in RANKINGS:
            raise UnskewInputError(f"rank_by (--rank-by) must be one of {', '.join(RANKINGS)}; got {self.rank_by!r}.")
        if self.max_overlap is not None and not 0 <= float(self.max_overlap) <= 1:
            raise UnskewInputError(f"max_overlap must be in [0, 1] or None, got {self.max_overlap}.")
        if self.error not in ERROR_METRICS:
            raise UnskewInputError(f"error metric must be one of {', '.join(ERROR_METRICS)} (--error); got {self.error!r}.")
        for name, opt in (("n_bins", "--bins"), ("max_levels", None)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2:
                where = f" ({opt})" if opt else ""
                raise UnskewInputError(f"{name}{where} must be a whole number of at least 2, got {v!r}.")
        ms = self.min_support
        if ms is None:
            sup = max(30, math.ceil(0.002 * n))
        elif isinstance(ms, (float, np.floating)) and 0 < ms < 1:
            sup = math.ceil(ms * n)
        elif isinstance(ms, (int, np.integer, float, np.floating)) and ms >= 1 and float(ms).is_integer():
            sup = int(ms)
        else:
            raise UnskewInputError(f"min_support (--min-support) must be a count >= 1 or a fraction in (0, 1), got {ms!r}.")
        return max(1, min(sup, n))

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, y_pred: Any = None, y_score: Any = None, errors: Any = None,
            on_progress=None) -> SliceFinder:
        """Search the slices of ``X`` on which the model errs most.

        Parameters
        ----------
        X : table (pandas, polars, pyarrow, dict or 2-D array)
            The attributes to define slices with (not necessarily the model's
            inputs). Leave out what must stay hidden, e.g. a sensitive column.
        y : array-like, optional
            True labels; needed unless ``errors`` is given.
        y_pred, y_score : array-like, optional
            The model's predicted labels and/or scores.
        errors : array-like, optional
            Per-row errors or losses, instead of ``y``/``y_pred``/``y_score``.
        on_progress : callable, optional
            ``(label, done, total)`` progress callback.
        """
        frame = as_frame(X)
        n = len(frame)
        if n < 2:
            raise UnskewInputError(f"X needs at least 2 rows to search for slices; it has {n}.")
        self.min_support_ = self._validate(n)
        for name, arr in (("y", y), ("y_pred", y_pred), ("y_score", y_score), ("errors", errors)):
            if arr is not None and len(arr) != n:
                raise UnskewInputError(f"{name} has {len(arr)} rows but X has {n}.")
        e, metric = row_errors(y=y, y_pred=y_pred, y_score=y_score, errors=errors, metric=self.error)
        self.error_metric_ = metric
        self.target_name_ = None
        if self.include_target:
            if y is None:
                raise UnskewInputError("include_target=True needs the true labels y.")
            frame = self._with_target(frame, y, fitting=True)
        self.encoder_ = SliceEncoder(n_bins=self.n_bins, max_levels=self.max_levels)
        codes = self.encoder_.fit_transform(frame)
        self.n_rows_ = n
        self.binary_errors_ = is_binary_errors(e)
        total = float(e.sum())
        self.mean_error_ = total / n
        top_k = int(self.top_k)
        pool_size = int(self.pool_size) if self.pool_size else max(5 * top_k, 50)
        if total <= 0:
            self.levels_, self.n_tested_, self.family_size_ = [], 0, 0
            self.slices_, self.candidates_ = [], _frame([])
            return self
        res = search_lattice(codes, self.encoder_.cardinalities_, e, max_level=int(self.max_level),
                             min_support=self.min_support_, alpha=float(self.alpha), pool_size=pool_size,
                             binary=self.binary_errors_, max_candidates=int(self.max_candidates),
                             on_progress=on_progress)
        self.levels_ = res.levels
        total_sq = float(e @ e)
        # The family's p-values only matter for Benjamini-Hochberg's ranks; they use the fast
        # approximation. Reported slices get exact p-values below.
        if self.correction == "bh":
            p_all, _ = slice_tests(res.tested_size, res.tested_err, res.tested_sq, n, total, total_sq,
                                   self.binary_errors_, exact=False)
        else:
            p_all = np.ones(len(res.tested_size))
        self.n_tested_ = len(p_all)
        self.family_size_ = (self.n_tested_ if self.family == "evaluated"
                             else lattice_size(self.encoder_.cardinalities_, int(self.max_level)))
        p_pool, eff_pool = slice_tests(res.pool_size, res.pool_err, res.pool_sq, n, total, total_sq,
                                       self.binary_errors_)
        adj_pool = self._adjust(p_all, p_pool)
        slices = [self._make_slice(items, res.pool_size[i], res.pool_err[i], res.pool_score[i], p_pool[i],
                                   adj_pool[i], eff_pool[i], n, total)
                  for i, items in enumerate(res.pool_items)]
        self.candidates_ = _frame(slices)
        self._p_all = p_all
        self.slices_ = self._select(slices, codes, top_k, e)
        return self

    def _adjust(self, p_all: np.ndarray, p_some: np.ndarray) -> np.ndarray:
        if self.correction == "bonferroni":
            return np.minimum(1.0, p_some * max(self.family_size_, 1))
        if len(p_all) == 0:
            return np.ones_like(p_some)
        # BH's adjusted p of a value depends only on its rank among all tested p-values
        order = np.sort(p_all)
        adj_sorted = adjust_pvalues(order, self.family_size_, "bh")
        idx = np.clip(np.searchsorted(order, p_some, side="right") - 1, 0, len(order) - 1)
        return adj_sorted[idx]

    def _make_slice(self, items, size, err, sc, p, p_adj, eff, n, total) -> Slice:
        cards = self.encoder_.cardinalities_
        offsets = np.concatenate([[0], np.cumsum(cards)[:-1]])
        codes = []
        for it in items:
            f = int(np.searchsorted(offsets, it, side="right") - 1)
            codes.append((f, int(it - offsets[f])))
        conds = tuple(self.encoder_.levels_[f][v] for f, v in codes)
        size = int(size)
        rest = n - size
        mean = float(err) / size
        lo = hi = None
        if self.binary_errors_:
            lo, hi = (float(v) for v in wilson_interval(err, size))
        return Slice(
            conditions=conds, size=size, support=size / n, error=mean,
            error_rest=(total - float(err)) / rest if rest > 0 else float("nan"),
            error_ratio=mean / self.mean_error_, effect_size=float(eff), score=float(sc),
            p_value=float(p), p_adjusted=float(p_adj),
            significant=bool(p_adj <= self.significance_level), ci_low=lo, ci_high=hi,
            _codes=tuple(codes),
        )

    def _select(self, slices: list[Slice], codes: np.ndarray, top_k: int, e: np.ndarray) -> list[Slice]:
        key = {
            "score": lambda s: (not s.significant, -s.score, -s.size),
            "effect_size": lambda s: (not s.significant, -s.effect_size, -s.size),
            "size": lambda s: (not s.significant, -s.size, -s.effect_size),
        }[self.rank_by]
        ranked = sorted(slices, key=key)
        chosen: list[Slice] = []
        masks: list[np.ndarray] = []
        covered = np.zeros(codes.shape[1], dtype=bool)
        for s in ranked:
            if len(chosen) >= top_k:
                break
            mk = _mask(codes, s._codes)
            if self.max_overlap is not None and any(
                    _jaccard(mk, s.size, m, c.size) > float(self.max_overlap)
                    for m, c in zip(masks, chosen, strict=True)):
                continue
            if self.explain_away and s.significant and covered.any() and not self._residual_significant(
                    mk & ~covered, ~covered, e):
                continue
            masks.append(mk)
            chosen.append(s)
            covered |= mk
        return chosen

    def _residual_significant(self, rows: np.ndarray, pool: np.ndarray, e: np.ndarray) -> bool:
        """Is the slice still worse on its rows that no better-ranked slice covers?

        Tested against the other uncovered rows, with the same correction.
        """
        size = int(rows.sum())
        if size < self.min_support_:
            return False
        n_left = int(pool.sum())
        e_left = e[pool]
        e_rows = e[rows]
        p, _ = slice_tests([size], [e_rows.sum()], [e_rows @ e_rows], n_left, float(e_left.sum()),
                           float(e_left @ e_left), self.binary_errors_)
        return bool(self._adjust(self._p_all, p)[0] <= self.significance_level)

    # ------------------------------------------------------------------ use
    def _check_fitted(self):
        if not hasattr(self, "slices_"):
            raise UnskewInputError("This SliceFinder is not fitted yet; call fit first.")

    def _with_target(self, frame: pd.DataFrame, y, fitting: bool = False) -> pd.DataFrame:
        if fitting:
            name = getattr(y, "name", None)
            name = str(name) if name is not None else "target"
            while name in frame.columns:
                name = f"{name}_"
            self.target_name_ = name
        yv = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if len(yv) != len(frame):
            raise UnskewInputError(f"y has {len(yv)} rows but X has {len(frame)}.")
        out = frame.copy(deep=False)
        out[self.target_name_] = yv
        return out

    def _selected(self, only_significant: bool) -> list[Slice]:
        return [s for s in self.slices_ if s.significant or not only_significant]

    def slice_membership(self, X: Any, y: Any = None, *, only_significant: bool = False) -> np.ndarray:
        """Boolean matrix ``(n_rows, n_slices)``: whether each row of ``X`` is in each reported slice.

        ``y`` is needed when a slice is conditioned on the label
        (``include_target=True``).
        """
        self._check_fitted()
        chosen = self._selected(only_significant)
        frame = as_frame(X)
        needs_y = self.target_name_ is not None and any(
            s.conditions[i].feature == self.target_name_ for s in chosen for i in range(s.level))
        if self.target_name_ is not None:
            if y is None and needs_y:
                raise UnskewInputError(
                    f"Some slices are conditioned on the label ({self.target_name_!r}); pass y.")
            if y is None:
                frame = frame.copy(deep=False)
                frame[self.target_name_] = np.nan
            else:
                frame = self._with_target(frame, y)
        codes = self.encoder_.transform(frame)
        out = np.zeros((len(frame), len(chosen)), dtype=bool)
        for j, s in enumerate(chosen):
            out[:, j] = _mask(codes, s._codes)
        return out

    def transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Slice membership as a 0/1 ``int8`` matrix ``(n_rows, n_slices)``."""
        return self.slice_membership(X, y).astype(np.int8)

    def to_groups(self, X: Any, y: Any = None, *, only_significant: bool = False) -> np.ndarray:
        """One integer group per row: the index of the best-ranked slice containing it.

        Rows in no reported slice get the last id, ``len(slices)``, the
        ``"rest"`` group (see :meth:`group_names`). Usable wherever unskew
        accepts groups (Group DRO, D3M validation groups, reweighing).
        """
        mem = self.slice_membership(X, y, only_significant=only_significant)
        k = mem.shape[1]
        groups = np.full(len(mem), k, dtype=np.int64)
        if k:
            anyin = mem.any(axis=1)
            groups[anyin] = np.argmax(mem[anyin], axis=1)
        return groups

    def group_names(self, *, only_significant: bool = False) -> list[str]:
        """Names of the groups of :meth:`to_groups`: slice descriptions then ``"rest"``."""
        self._check_fitted()
        return [s.description for s in self._selected(only_significant)] + [REST]

    def to_frame(self) -> pd.DataFrame:
        """The reported slices as a DataFrame, best first."""
        self._check_fitted()
        return _frame(self.slices_)

    def summary(self) -> dict:
        """Search-level numbers (JSON types)."""
        self._check_fitted()
        return {
            "n_rows": int(self.n_rows_),
            "error_metric": self.error_metric_,
            "mean_error": float(self.mean_error_),
            "n_features": len(self.encoder_.features_),
            "n_conditions": int(self.encoder_.cardinalities_.sum()),
            "dropped_features": dict(self.encoder_.dropped_),
            "min_support": int(self.min_support_),
            "max_level": int(self.max_level),
            "n_tested": int(self.n_tested_),
            "family_size": int(self.family_size_),
            "correction": self.correction,
            "significance_level": float(self.significance_level),
            "n_reported": len(self.slices_),
            "n_significant": int(sum(s.significant for s in self.slices_)),
            "label_conditioned": self.target_name_ is not None,
            "levels": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in lv.items()}
                       for lv in self.levels_],
        }

    def report(self, dataset: dict | None = None, **kwargs) -> Any:
        """A :class:`~unskew.report.Report` of kind ``"slices"`` (see :func:`unskew.slices.slices_report`)."""
        return slices_report(self, dataset=dataset, **kwargs)


def _mask(codes: np.ndarray, conds) -> np.ndarray:
    m = codes[conds[0][0]] == conds[0][1]
    for f, v in conds[1:]:
        m &= codes[f] == v
    return m


def _jaccard(a: np.ndarray, na: int, b: np.ndarray, nb: int) -> float:
    inter = np.count_nonzero(a & b)
    return inter / (na + nb - inter) if na + nb - inter > 0 else 0.0


def _frame(slices: list[Slice]) -> pd.DataFrame:
    cols = ["slice", "level", "size", "support", "error", "error_rest", "error_ratio", "effect_size",
            "score", "p_value", "p_adjusted", "significant"]
    if not slices:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame([{k: s.to_dict()[k] for k in cols} for s in slices], columns=cols)
