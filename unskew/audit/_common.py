"""Helpers shared by the audit checks.

Every check module depends on this module (and on :mod:`._base` for the
:class:`~._base.Check` interface), never on a sibling check, so a check can be
added, removed or replaced on its own (``tests/audit/test_plugin_independence.py``
enforces this). The helpers fall into five groups:

* **statuses and text**: :func:`worse`, :func:`cap_status`, :func:`fmt_p`,
  :func:`finding_order` and the display caps :data:`MAX_TABLE_ROWS`,
  :data:`MAX_BARS`;
* **sensitive groups**: :func:`sensitive_codes` (every sensitive attribute
  coded once per run with the project's one group encoding, cached in
  ``ctx.cache``), :func:`union_sensitive_codes` (the same over two tables),
  :func:`groupings`, :func:`cell_codes` (mixed-radix intersections, so
  counting a grouping is one ``numpy.bincount``), :func:`cell_labels`,
  :func:`cell_values`, :func:`grouping_name`;
* **counts per group**: :func:`group_sums`, :func:`effective_sizes`,
  :func:`group_totals` and :func:`kish`. Counts of rows,
  weights and squared weights per cell are sums, so counts computed on
  separate partitions of a table (by another engine) add up to the counts of
  the whole table;
* **sampling and models**: :func:`capped_sample`, :func:`stratified_folds`,
  :func:`gradient_boosting`, :func:`cross_val_proba`,
  :func:`auc_and_interval`, :func:`datetime_days`;
* **flagged rates per group** (label quality, outliers):
  :func:`flag_rates_by_group`, :func:`judge_group_rate`,
  :func:`group_rate_charts`, :func:`group_rate_rows`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from .._stats import benjamini_hochberg, two_proportion_test, wilson_interval
from ..data import Dataset
from ..data._encoding import datetime_days  # re-exported: one datetime encoding
from ..data._groups import attribute_codes, grid_codes, value_name
from ..exceptions import UnskewInputError
from ..report import Bar, Chart
from ._base import AuditContext

#: Most rows of a non-sample table and most bars of a chart.
MAX_TABLE_ROWS = 300
MAX_BARS = 40

#: Default number of cross-validation folds for out-of-sample probabilities.
DEFAULT_FOLDS = 3

#: Default cap on the training rows of each cross-validation fold.
DEFAULT_MAX_TRAIN_ROWS = 50_000

#: Check statuses from best to worst.
STATUS_ORDER = ("pass", "warn", "fail")


# --------------------------------------------------------------------------- statuses and text
def worse(a: str, b: str) -> str:
    """The worse of two statuses among ``pass`` < ``warn`` < ``fail``.

    >>> worse("warn", "pass")
    'warn'
    """
    return STATUS_ORDER[max(STATUS_ORDER.index(a), STATUS_ORDER.index(b))]


def cap_status(status: str, cap: str) -> str:
    """The better of ``status`` and ``cap`` (a status never worse than ``cap``)."""
    return STATUS_ORDER[min(STATUS_ORDER.index(status), STATUS_ORDER.index(cap))]


def fmt_p(p: float | None) -> str:
    """``"p = 0.024"``, ``"p < 1e-300"`` or ``"p n/a"``."""
    if p is None or not np.isfinite(p):
        return "p n/a"
    return "p < 1e-300" if p < 1e-300 else f"p = {p:.2g}"


def finding_order(f) -> tuple:
    """Worst first; single attributes before intersections; then largest value."""
    depth = (f.subject or "").count(" & ")
    return ({"fail": 0, "warn": 1}.get(f.severity, 2), depth, -(f.value or 0))


# --------------------------------------------------------------------------- sensitive groups
def sensitive_codes(ds: Dataset, ctx: AuditContext | None = None) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Integer code per row and the value names of every sensitive attribute.

    The project's one group encoding (:func:`unskew.data._groups.attribute_codes`):
    numbers in ascending order, then other values by their text, and missing
    values last as one group named ``(missing)``, so no row is lost. Names are
    written as in group names (:func:`unskew.data._groups.value_name`). The
    result is cached in ``ctx.cache`` for the other checks of the run.

    Returns
    -------
    dict
        ``{attribute: (codes, names)}``; ``names[codes[i]]`` is row ``i``'s value.

    Examples
    --------
    >>> from unskew.data import Dataset
    >>> ds = Dataset.from_data(pd.DataFrame({"s": ["b", None, "a"], "x": [1, 2, 3]}), sensitive="s")
    >>> codes, names = sensitive_codes(ds)["s"]
    >>> codes.tolist(), names
    ([1, 2, 0], ['a', 'b', '(missing)'])
    """
    key = ("sensitive_codes", tuple(ds.sensitive), id(ds.frame))
    cache = ctx.cache if ctx is not None else {}
    if key in cache:
        return cache[key]
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    for col in ds.sensitive:
        codes, levels = attribute_codes(ds.frame[col])
        out[col] = (codes, [value_name(v) for v in levels])
    cache[key] = out
    return out


def union_sensitive_codes(ds: Dataset, cmp: Dataset) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Per sensitive attribute: codes of the rows of both tables over the union of their values.

    The two columns are encoded together with the one group encoding (see
    :func:`sensitive_codes`), so a value has one code in both tables and the
    values are in the shared order (missing last).

    Returns
    -------
    dict
        ``{attribute: (codes in ds, codes in cmp, names)}``.
    """
    out = {}
    for col in ds.sensitive:
        a, b = ds.frame[col], cmp.frame[col]
        both = pd.concat([a.astype(object), b.astype(object)], ignore_index=True)
        codes, levels = attribute_codes(both)
        out[col] = (codes[: len(a)], codes[len(a):], [value_name(v) for v in levels])
    return out


def groupings(sensitive: Sequence[str], sc: dict | None = None) -> list[tuple[str, ...]]:
    """Every attribute alone, then every combination of two or more attributes.

    With ``sc`` (see :func:`sensitive_codes`), combinations whose cell grid has
    ``2**62`` cells or more (which int64 cell codes cannot hold) are left out;
    :func:`too_large_groupings` names them.
    """
    out = [(c,) for c in sensitive]
    for r in range(2, len(sensitive) + 1):
        out.extend(itertools.combinations(sensitive, r))
    if sc is not None:
        out = [g for g in out if _grid_size(sc, g) < _MAX_GRID]
    return out

_MAX_GRID = 2**62


def _grid_size(sc: dict, cols: Sequence[str]) -> int:
    return math.prod(len(sc[c][1]) for c in cols)


def too_large_groupings(sensitive: Sequence[str], sc: dict) -> list[str]:
    """Names of the combinations :func:`groupings` leaves out for their size."""
    return [grouping_name(g) for g in groupings(sensitive) if _grid_size(sc, g) >= _MAX_GRID]


def grouping_name(cols: Sequence[str]) -> str:
    return " & ".join(cols)


def cell_codes(sc: dict, cols: Sequence[str]) -> tuple[np.ndarray, tuple[int, ...]]:
    """Mixed-radix cell code of each row for the attributes ``cols`` and the cell grid shape.

    The first attribute varies slowest (:func:`unskew.data._groups.grid_codes`),
    so cell order is group order.
    """
    return grid_codes([sc[c] for c in cols])


def cell_labels(sc: dict, cols: Sequence[str], flat: np.ndarray, shape: tuple[int, ...]) -> list[str]:
    """Labels like ``"race=B & sex=female"`` for flat cell indices."""
    idx = np.unravel_index(np.asarray(flat, dtype=np.int64), shape)
    names = [sc[c][1] for c in cols]
    return [
        " & ".join(f"{c}={names[j][idx[j][i]]}" for j, c in enumerate(cols))
        for i in range(len(np.atleast_1d(flat)))
    ]


def cell_values(sc, cols, flat, shape) -> list[str]:
    """Values like ``"B & female"`` (reference notation) for flat cell indices."""
    idx = np.unravel_index(np.asarray(flat, dtype=np.int64), shape)
    names = [sc[c][1] for c in cols]
    return [" & ".join(names[j][idx[j][i]] for j in range(len(cols))) for i in range(len(flat))]


# --------------------------------------------------------------------------- counts per group
def group_sums(codes: np.ndarray, n_cells: int, w: np.ndarray | None):
    """Rows, weight sum and squared-weight sum per cell.

    All three are sums over rows, so the sums of separate partitions of a
    table add up to those of the whole table (without weights the weight sums
    equal the rows). :func:`effective_sizes` turns them into Kish sizes.
    """
    rows = np.bincount(codes, minlength=n_cells).astype(float)
    if w is None:
        return rows, rows.copy(), rows.copy()
    return rows, np.bincount(codes, weights=w, minlength=n_cells), np.bincount(codes, weights=w * w, minlength=n_cells)


def effective_sizes(wsum: np.ndarray, w2: np.ndarray, weighted: bool) -> np.ndarray:
    """Kish effective size per cell, ``wsum**2 / w2`` (the rows themselves without weights)."""
    if not weighted:
        return wsum.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w2 > 0, wsum**2 / w2, 0.0)


def group_totals(codes: np.ndarray, n_cells: int, w: np.ndarray | None):
    """Rows, weight sum and Kish effective size per cell (see :func:`group_sums`)."""
    rows, wsum, w2 = group_sums(codes, n_cells, w)
    return rows, wsum, effective_sizes(wsum, w2, w is not None)


def kish(w: np.ndarray | None, n: int) -> float:
    if w is None:
        return float(n)
    s2 = float((w * w).sum())
    return float(w.sum() ** 2 / s2) if s2 > 0 else 0.0


# --------------------------------------------------------------------------- sampling and models
def capped_sample(idx: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """``idx`` itself when it has at most ``cap`` entries, else a sorted uniform sample of ``cap``."""
    if cap is None or len(idx) <= cap:
        return idx
    return idx[np.sort(rng.choice(len(idx), size=int(cap), replace=False, shuffle=False))]


def stratified_folds(y: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number of each row; every class is spread evenly over the folds (sizes differ by at most 1)."""
    folds = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        folds[idx] = (rng.permutation(len(idx)) + rng.integers(n_folds)) % n_folds
    return folds


def gradient_boosting(categorical: np.ndarray, random_state: int, n_train: int, max_iter: int = 50):
    """The default model: :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.

    At most 50 boosting iterations with learning rate 0.2 (about as accurate
    as scikit-learn's 100 at 0.1 and half the cost of scoring millions of
    rows), early stopping (10 iterations without improvement on a 10 %
    validation split) when the training set has at least 1,000 rows,
    categorical columns split natively.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.2,
        early_stopping=n_train >= 1000,
        categorical_features=categorical if categorical.any() else None,
        random_state=random_state,
    )


def cross_val_proba(X: np.ndarray, y: np.ndarray, n_classes: int, *, categorical: np.ndarray,
                    n_folds: int = DEFAULT_FOLDS, max_train_rows: int | None = DEFAULT_MAX_TRAIN_ROWS,
                    sample_weight: np.ndarray | None = None, random_state: int = 0,
                    predict_rows: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Out-of-sample class probabilities by stratified K-fold cross-validation.

    Each fold's model is trained on the other folds, on a uniform random
    sample of at most ``max_train_rows`` of them, and predicts every row of
    its own fold, so every row gets a prediction from a model that never saw
    it.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    y : ndarray of int
        Class codes ``0 .. n_classes - 1``.
    n_classes : int
    categorical : ndarray of bool
        Columns of ``X`` holding category codes.
    n_folds : int, default 3
    max_train_rows : int or None, default 50,000
    sample_weight : ndarray, optional
    random_state : int, default 0
    predict_rows : ndarray of int, optional
        Only these rows are predicted (others get NaN); all rows by default.

    Returns
    -------
    proba : ndarray of shape (n, n_classes)
        Rows sum to 1. A class absent from a fold's training rows gets
        probability 0 for that fold.
    info : dict
        ``n_folds``, ``train_rows_per_fold`` and ``model``.
    """
    n = len(y)
    if n_folds < 2:
        raise UnskewInputError(f"n_folds must be at least 2, got {n_folds}.")
    rng = np.random.default_rng(random_state)
    folds = stratified_folds(y, n_folds, rng)
    proba = np.full((n, n_classes), np.nan)
    predict_mask = np.ones(n, dtype=bool)
    if predict_rows is not None:
        predict_mask[:] = False
        predict_mask[predict_rows] = True
    train_rows = []
    prior = np.bincount(y, minlength=n_classes) / max(n, 1)
    for k in range(n_folds):
        train = capped_sample(np.flatnonzero(folds != k), max_train_rows, rng)
        test = np.flatnonzero((folds == k) & predict_mask)
        train_rows.append(int(len(train)))
        if len(test) == 0:
            continue
        present = np.unique(y[train])
        if len(present) < 2:  # nothing to learn: the training prior
            p = np.zeros(n_classes)
            p[present] = 1.0 if len(present) else prior
            proba[test] = p
            continue
        model = gradient_boosting(categorical, random_state + k, len(train))
        w = None if sample_weight is None else sample_weight[train]
        # Fits here are capped at ``max_train_rows``: OpenMP threads gain little on
        # them and collapse (spin-waiting) when another process holds a core, so
        # fitting uses one thread; predicting every row keeps all of them.
        with threadpool_limits(limits=1, user_api="openmp"):
            model.fit(X[train], y[train], sample_weight=w)
        out = np.zeros((len(test), n_classes))
        out[:, model.classes_.astype(np.int64)] = model.predict_proba(X[test])
        proba[test] = out
    info = {"model": "HistGradientBoostingClassifier(max_iter=50, learning_rate=0.2, early stopping from 1,000 rows)",
            "n_folds": int(n_folds), "train_rows_per_fold": train_rows,
            "max_train_rows": None if max_train_rows is None else int(max_train_rows)}
    return proba, info


def auc_and_interval(y: np.ndarray, proba: np.ndarray, n_classes: int) -> tuple[float, float, float]:
    """ROC AUC (binary) or macro one-vs-rest AUC, with an approximate 95 % interval.

    The interval uses the Hanley-McNeil (1982) standard error, for several
    classes averaged as if the one-vs-rest AUCs were independent.
    """
    from sklearn.metrics import roc_auc_score

    present = np.unique(y)
    if len(present) < 2:
        return np.nan, np.nan, np.nan
    aucs, ses = [], []
    cls = [1] if n_classes == 2 else list(present)
    for k in cls:
        pos = y == k
        n1, n0 = int(pos.sum()), int((~pos).sum())
        if n1 == 0 or n0 == 0:
            continue
        a = float(roc_auc_score(pos, proba[:, k]))
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
        aucs.append(a)
        ses.append(np.sqrt(max(var, 0.0)))
    auc = float(np.mean(aucs))
    se = float(np.sqrt(np.sum(np.square(ses))) / len(ses))
    return auc, max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)


# --------------------------------------------------------------------------- flagged rates per group
GROUP_RATE_COLUMNS = ["grouping", "group", "rows", "flagged", "rate", "low", "high", "rest rate", "ratio",
                      "q-value"]
ADJUSTED_COLUMNS = ["expected flagged", "adjusted ratio", "adjusted q-value"]


def flag_rates_by_group(ds: Dataset, ctx: AuditContext | None, flags: np.ndarray, *,
                        min_group_size: int, breakdown: np.ndarray | None = None,
                        n_breakdown: int = 0, expected: np.ndarray | None = None) -> dict:
    """Share of flagged rows in every sensitive group and intersection, against the rest.

    For each grouping (every attribute, then every combination) and each of
    its groups: rows, flagged rows, the flagged rate with a 95 % Wilson
    interval, the rate among all other rows, their ratio and difference, and
    a two-proportion z-test (group vs rest). Weighted data use weighted rates
    and Kish effective sizes. Benjamini-Hochberg q-values are computed over
    all groups of all groupings whose group and rest both have at least
    ``min_group_size`` rows (the others are reported but not tested).

    With ``breakdown`` (integer codes ``0 .. n_breakdown - 1`` per row, for
    example the given label), each group also gets ``flagged_by``: its
    flagged rows counted by code.

    With ``expected`` (a per-row propensity to be flagged, for example the
    model's uncertainty ``1 - max_k p_k``), each group is also compared with
    the rest after *indirect standardisation*: the flagged rows are shared out
    in proportion to ``expected``, giving an expected count ``E`` per group;
    ``adjusted_ratio`` is ``(O / E)`` in the group over ``(O / E)`` in the
    rest, and ``adjusted_p`` tests whether the group's share of the flagged
    rows equals its share of the expected ones (conditional binomial z-test on
    the flagged rows; with weights, on their Kish effective number). This
    separates "this group is flagged more" from "this group's rows are harder
    to predict". Benjamini-Hochberg ``adjusted_q`` values are computed as for
    the raw test.

    Returns
    -------
    dict
        ``{grouping: {group: {...}}}`` (JSON-ready).
    """
    sc = sensitive_codes(ds, ctx)
    w = ds.sample_weight
    n = len(ds)
    f = flags.astype(float)
    wf = f if w is None else f * w
    W = float(n if w is None else w.sum())
    W2 = float(n if w is None else (w * w).sum())
    F = float(wf.sum())
    out: dict = {}
    tested: list[tuple[str, str]] = []
    pvals: list[float] = []
    adj_pvals: list[float] = []
    if expected is not None:
        we = expected if w is None else expected * w
        H = float(we.sum())
        f_eff = float(f.sum()) if w is None else (
            F**2 / float((wf * wf).sum()) if (wf * wf).sum() > 0 else 0.0)
    for cols in groupings(ds.sensitive, sc):
        gname = grouping_name(cols)
        codes, shape = cell_codes(sc, cols)
        present, inv = np.unique(codes, return_inverse=True)
        k = len(present)
        rows, wsum, neff = group_totals(inv, k, w)
        fl = np.bincount(inv, weights=wf, minlength=k)
        nflag = np.bincount(inv, weights=f, minlength=k)
        w2 = rows if w is None else np.bincount(inv, weights=w * w, minlength=k)
        rest_w = W - wsum
        rest_w2 = W2 - w2
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = fl / wsum
            rest_rate = (F - fl) / rest_w
            rest_neff = np.where(rest_w2 > 0, rest_w**2 / rest_w2, 0.0)
            ratio = np.where(rest_rate > 0, rate / rest_rate, np.where(rate > 0, np.inf, 1.0))
        low, high = wilson_interval(rate * neff, neff)
        _, p = two_proportion_test(rate * neff, neff, rest_rate * rest_neff, rest_neff)
        labels = cell_labels(sc, cols, present, shape)
        adj = None
        if expected is not None:
            share = np.bincount(inv, weights=we, minlength=k) / H if H > 0 else np.zeros(k)
            exp_g = F * share
            with np.errstate(invalid="ignore", divide="ignore"):
                oe_g = fl / exp_g
                oe_r = (F - fl) / (F - exp_g)
                adj_ratio = np.where(oe_r > 0, oe_g / oe_r, np.where(oe_g > 0, np.inf, 1.0))
                obs_share = fl / F if F > 0 else np.zeros(k)
                z = (obs_share - share) / np.sqrt(share * (1 - share) / f_eff)
            ok = np.isfinite(z) & (share > 0) & (share < 1) & (f_eff > 0)
            adj_p = np.where(ok, 2 * stats.norm.sf(np.abs(np.where(ok, z, 0.0))), 1.0)
            adj = (exp_g, adj_ratio, adj_p)
        by = None
        if breakdown is not None:
            sel = flags.astype(bool)
            by = np.bincount(inv[sel] * n_breakdown + breakdown[sel],
                             minlength=k * n_breakdown).reshape(k, n_breakdown)
        groups = {}
        for i in range(k):
            eligible = rows[i] >= min_group_size and (n - rows[i]) >= min_group_size
            groups[labels[i]] = {
                "rows": int(rows[i]), "flagged": int(nflag[i]), "rate": float(rate[i]),
                "low": float(low[i]), "high": float(high[i]), "rest_rate": float(rest_rate[i]),
                "ratio": float(ratio[i]), "difference": float(rate[i] - rest_rate[i]),
                "p_value": float(p[i]) if eligible else None, "q_value": None, "tested": bool(eligible),
            }
            if by is not None:
                groups[labels[i]]["flagged_by"] = by[i].tolist()
            if adj is not None:
                groups[labels[i]].update(
                    expected=float(adj[0][i]), adjusted_ratio=float(adj[1][i]),
                    adjusted_p=float(adj[2][i]) if eligible else None, adjusted_q=None)
            if eligible:
                tested.append((gname, labels[i]))
                pvals.append(float(p[i]))
                if adj is not None:
                    adj_pvals.append(float(adj[2][i]))
        out[gname] = groups
    q = benjamini_hochberg(pvals)
    for (gname, lab), qv in zip(tested, q, strict=True):
        out[gname][lab]["q_value"] = float(qv)
    if expected is not None:
        for (gname, lab), qv in zip(tested, benjamini_hochberg(adj_pvals), strict=True):
            out[gname][lab]["adjusted_q"] = float(qv)
    return out


def judge_group_rate(g: dict, t: dict, adjusted: bool = False) -> str:
    """Status of one group's flagged rate against the rest of the rows.

    ``warn``/``fail`` when the group was tested, its q-value is below
    ``t["alpha"]``, its rate exceeds the rest's by at least
    ``t["min_difference"]`` and the ratio reaches ``t["ratio_warn"]`` /
    ``t["ratio_fail"]``; otherwise ``pass``. With ``adjusted`` the q-value and
    ratio are the difficulty-adjusted ones (the raw rate must still exceed
    the rest's by ``min_difference``).
    """
    qk, rk = ("adjusted_q", "adjusted_ratio") if adjusted else ("q_value", "ratio")
    if not g["tested"] or g.get(qk) is None or g[qk] >= t["alpha"]:
        return "pass"
    if g["difference"] < t["min_difference"]:
        return "pass"
    r = g[rk]
    return "fail" if r >= t["ratio_fail"] else "warn" if r >= t["ratio_warn"] else "pass"


def group_rate_charts(by_group: dict, overall: float, what: str, statuses: dict) -> list[Chart]:
    """One bar chart per single attribute and one for the full intersection."""
    charts = []
    names = list(by_group)
    if not names:
        return charts
    singles = [g for g in names if " & " not in g]
    full = max(names, key=lambda g: g.count(" & "))
    for gname in singles + ([full] if full not in singles else []):
        items = list(by_group[gname].items())
        title = f"{what} by {gname}"
        if len(items) > MAX_BARS:
            items = sorted(items, key=lambda kv: -kv[1]["rate"])[:MAX_BARS]
            title += f" (highest {MAX_BARS} of {len(by_group[gname])})"
        charts.append(Chart(
            title=title, x_label="share of rows (95% Wilson interval)", reference=overall,
            reference_label="overall",
            bars=[Bar(lab, g["rate"], g["low"], g["high"], flag=statuses.get((gname, lab), "pass") != "pass")
                  for lab, g in items]))
    return charts


def group_rate_rows(by_group: dict, adjusted: bool = False) -> list[list]:
    """Table rows ``grouping, group, rows, flagged, rate, low, high, rest rate, ratio, q``.

    With ``adjusted``, the expected count, adjusted ratio and adjusted q follow.
    """
    rows = []
    fin = _finite_or_none
    for gname, groups in by_group.items():
        for lab, g in groups.items():
            row = [gname, lab, g["rows"], g["flagged"], g["rate"], g["low"], g["high"], g["rest_rate"],
                   fin(g["ratio"]), g["q_value"]]
            if adjusted:
                row += [g["expected"], fin(g["adjusted_ratio"]), g["adjusted_q"]]
            rows.append(row)
    return rows


def _finite_or_none(x):
    return float(x) if x is not None and np.isfinite(x) else None


__all__ = [
    "ADJUSTED_COLUMNS",
    "DEFAULT_FOLDS",
    "DEFAULT_MAX_TRAIN_ROWS",
    "GROUP_RATE_COLUMNS",
    "MAX_BARS",
    "MAX_TABLE_ROWS",
    "STATUS_ORDER",
    "auc_and_interval",
    "cap_status",
    "capped_sample",
    "cell_codes",
    "cell_labels",
    "cell_values",
    "cross_val_proba",
    "datetime_days",
    "effective_sizes",
    "finding_order",
    "flag_rates_by_group",
    "fmt_p",
    "gradient_boosting",
    "group_rate_charts",
    "group_rate_rows",
    "group_sums",
    "group_totals",
    "grouping_name",
    "groupings",
    "judge_group_rate",
    "kish",
    "sensitive_codes",
    "stratified_folds",
    "too_large_groupings",
    "union_sensitive_codes",
    "worse",
]
