"""Group-specific (randomised) thresholds that satisfy a fairness constraint at the best accuracy.

For each group the candidate classifiers are the thresholds on the model's
score (predict positive when ``score > t``), one between every pair of
consecutive distinct scores plus "nobody" and "everybody". Mixing thresholds
at random reaches every point of the convex hull of their (rate, gain)
values, and the optimum over such mixtures is a small linear programme:

maximise   sum_g sum_i lambda_gi * value_gi
subject to sum_i lambda_gi = 1, lambda_gi >= 0 for every group g,
           |sum_i lambda_gi * rate_gi - z| <= tol / 2 for every group g,

where ``rate`` is the selection rate (demographic parity), the true-positive
rate (equal opportunity) or the pair (false-, true-positive rate) (equalized
odds), ``z`` the common rate, and ``value`` each threshold's contribution to
the objective (accuracy or balanced accuracy, both linear in the
confusion-matrix counts). Only the hull vertices can be optimal, so each
group's candidates are first reduced to them. The solution is exact on the
fitting data (Hardt, Price and Srebro 2016 solve the same problem for
equalized odds); randomisation is used only where a group's threshold must
fall between two examples with the same score or the hull has to be
interpolated.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ...exceptions import UnskewInputError
from ._base import BasePostProcessor

CONSTRAINTS = {
    "demographic_parity": ("selection_rate",),
    "equal_opportunity": ("true_positive_rate",),
    "true_positive_rate_parity": ("true_positive_rate",),
    "false_positive_rate_parity": ("false_positive_rate",),
    "equalized_odds": ("false_positive_rate", "true_positive_rate"),
}
OBJECTIVES = ("accuracy", "balanced_accuracy")


def _cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _upper_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the upper concave hull of points (x, y), by increasing x."""
    order = np.lexsort((-y, x))  # by x, then highest y first
    hull: list[int] = []
    last_x = None
    for i in order:
        if last_x is not None and x[i] == last_x:
            continue  # same x: keep the highest y only
        last_x = x[i]
        while len(hull) >= 2 and _cross((x[hull[-2]], y[hull[-2]]), (x[hull[-1]], y[hull[-1]]), (x[i], y[i])) >= 0:
            hull.pop()
        hull.append(int(i))
    return np.asarray(hull, dtype=np.int64)


def _convex_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the convex hull vertices of points (x, y) (monotone chain)."""
    pts = np.unique(np.stack([x, y], axis=1), axis=0, return_index=True)[1]
    order = pts[np.lexsort((y[pts], x[pts]))]
    if len(order) <= 2:
        return order.astype(np.int64)

    def half(seq):
        h: list[int] = []
        for i in seq:
            while len(h) >= 2 and _cross((x[h[-2]], y[h[-2]]), (x[h[-1]], y[h[-1]]), (x[i], y[i])) <= 0:
                h.pop()
            h.append(int(i))
        return h

    lower = half(order)
    upper = half(order[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.int64)


def _group_candidates(scores, yb, w):
    """Thresholds and cumulative weighted (tp, fp) for one group.

    Returns ``thresholds`` (descending: +inf first, -inf last) and the counts
    of true and false positives when predicting ``score > threshold``.
    """
    uniq, inv = np.unique(scores, return_inverse=True)  # ascending
    pos_w = np.bincount(inv, weights=w * (yb == 1), minlength=len(uniq))[::-1]
    neg_w = np.bincount(inv, weights=w * (yb == 0), minlength=len(uniq))[::-1]
    desc = uniq[::-1]
    tp = np.concatenate([[0.0], np.cumsum(pos_w)])
    fp = np.concatenate([[0.0], np.cumsum(neg_w)])
    mids = (desc[:-1] + desc[1:]) / 2.0
    thresholds = np.concatenate([[np.inf], mids, [-np.inf]])
    return thresholds, tp, fp


class GroupThresholdOptimizer(BasePostProcessor):
    """Group-specific thresholds for demographic parity, equal opportunity or equalized odds.

    Parameters
    ----------
    estimator : classifier, default=LogisticRegression(max_iter=1000)
        Scoring model. With ``prefit=True`` it must already be fitted and is
        used as is; otherwise a clone is fitted on the data given to ``fit``.
    constraint : str, default="demographic_parity"
        ``"demographic_parity"`` (equal selection rates),
        ``"equal_opportunity"`` (equal true-positive rates; alias
        ``"true_positive_rate_parity"``), ``"false_positive_rate_parity"``, or
        ``"equalized_odds"`` (equal true- and false-positive rates).
    objective : {"accuracy", "balanced_accuracy"}, default="accuracy"
        Maximised subject to the constraint.
    tol : float, default=0.0
        Largest allowed difference between two groups' rates on the fitting
        data (0: exact equality).
    prefit : bool, default=False
    predict_method : {"auto", "predict_proba", "decision_function", "predict"}, default="auto"
        Score used for thresholding; ``auto`` takes the first available.
    random_state : int or None, default=None
        Seed of the per-row randomisation used by :meth:`predict` when it is
        called without ``random_state`` (``None`` means seed 0).

    Attributes
    ----------
    estimator_ : the scoring model
    classes_ : ndarray of shape (2,)
        ``classes_[1]`` is the positive label.
    groups_ : list
        Group labels.
    thresholds_ : dict
        Group -> list of ``(threshold, probability)``: a row of the group is
        predicted positive with probability
        ``sum(p for t, p in thresholds_[g] if score > t)``.
    rates_ : pandas.DataFrame
        Per group, the expected selection rate, true- and false-positive rate
        and accuracy of the randomised classifier on the fitting data.
    objective_value_ : float
        Optimal objective on the fitting data.

    Notes
    -----
    ``predict`` is randomised where the solution mixes two thresholds. By
    default the draw of a row is a hash of its feature values, so identical
    rows get identical decisions and predictions are reproducible and
    independent of batching; ``predict(..., random_state=...)`` draws
    independently instead. :meth:`positive_probability` gives the
    probabilities themselves. Use with
    metadata routing: ``set_fit_request(sensitive_features=True)`` and
    ``set_predict_request(sensitive_features=True)``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2)); s = rng.integers(0, 2, 400)
    >>> y = (X[:, 0] + s + rng.normal(size=400) > 0.5).astype(int)
    >>> opt = GroupThresholdOptimizer(LogisticRegression(), constraint="demographic_parity")
    >>> rates = opt.fit(X, y, sensitive_features=s).rates_["selection_rate"]
    >>> bool(np.ptp(rates) < 1e-9)
    True
    """

    def __init__(self, estimator=None, constraint: str = "demographic_parity", objective: str = "accuracy",
                 tol: float = 0.0, prefit: bool = False, predict_method: str = "auto", random_state=None):
        self.estimator = estimator
        self.constraint = constraint
        self.objective = objective
        self.tol = tol
        self.prefit = prefit
        self.predict_method = predict_method
        self.random_state = random_state

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit (or take) the model and solve for the group thresholds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like
            Sensitive attribute(s) aligned with ``X`` (required).
        sample_weight : array-like, optional
            Weights of the examples, in the model fit and in the rates.
        """
        if self.constraint not in CONSTRAINTS:
            raise UnskewInputError(f"constraint must be one of {list(CONSTRAINTS)}, got {self.constraint!r}.")
        if self.objective not in OBJECTIVES:
            raise UnskewInputError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}.")
        if not (float(self.tol) >= 0):
            raise UnskewInputError(f"tol must be >= 0, got {self.tol!r}.")
        yb, gc, w, scores = self._fit_inputs(X, y, sensitive_features, sample_weight)
        self._solve(scores, yb, gc, w)
        return self

    # -- optimisation ------------------------------------------------------------
    def _solve(self, scores, yb, gc, w):
        rates = CONSTRAINTS[self.constraint]
        G = len(self.groups_)
        P_tot = float(np.sum(w * (yb == 1)))
        N_tot = float(np.sum(w * (yb == 0)))
        W_tot = P_tot + N_tot
        if self.objective == "accuracy":
            a, b = 1.0 / W_tot, 1.0 / W_tot
        else:
            if P_tot <= 0 or N_tot <= 0:
                raise UnskewInputError("balanced_accuracy needs both classes with positive weight.")
            a, b = 0.5 / P_tot, 0.5 / N_tot
        cands = []
        for g in range(G):
            m = gc == g
            thr, tp, fp = _group_candidates(scores[m], yb[m], w[m])
            P, N = tp[-1], fp[-1]
            undefined = set()
            if P <= 0 and "true_positive_rate" in rates:
                undefined.add("true_positive_rate")
            if N <= 0 and "false_positive_rate" in rates:
                undefined.add("false_positive_rate")
            if undefined:
                warnings.warn(
                    f"Group {self.groups_[g]!r} has no {'positive' if P <= 0 else 'negative'} examples, so its "
                    f"{' and '.join(sorted(undefined)).replace('_', ' ')} is undefined and left unconstrained. "
                    f"Merge it with another group if that matters.",
                    UserWarning,
                    stacklevel=3,
                )
            coords = {
                "selection_rate": (tp + fp) / (P + N),
                "true_positive_rate": tp / P if P > 0 else np.zeros_like(tp),
                "false_positive_rate": fp / N if N > 0 else np.zeros_like(fp),
            }
            value = a * tp + b * (N - fp)
            C = np.stack([coords[r] for r in rates], axis=1)
            if C.shape[1] == 1:
                keep = _upper_hull(C[:, 0], value)
            else:
                keep = _convex_hull(C[:, 0], C[:, 1])
            cands.append({"thr": thr[keep], "C": C[keep], "v": value[keep], "tp": tp[keep], "fp": fp[keep],
                          "P": P, "N": N, "free": [r in undefined for r in rates]})
        sizes = [len(c["thr"]) for c in cands]
        L = int(sum(sizes))
        d = len(rates)
        n_var = L + d
        cost = np.zeros(n_var)
        A_eq, b_eq, A_ub, b_ub = [], [], [], []
        off = 0
        half = float(self.tol) / 2.0
        for g, c in enumerate(cands):
            sl = slice(off, off + sizes[g])
            row = np.zeros(n_var)
            row[sl] = 1.0
            A_eq.append(row)
            b_eq.append(1.0)
            cost[sl] = -c["v"]
            for j in range(d):
                if c["free"][j]:
                    continue
                row = np.zeros(n_var)
                row[sl] = c["C"][:, j]
                row[L + j] = -1.0
                if half == 0:
                    A_eq.append(row)
                    b_eq.append(0.0)
                else:
                    A_ub.append(row)
                    b_ub.append(half)
                    A_ub.append(-row)
                    b_ub.append(half)
            off += sizes[g]
        bounds = [(0, None)] * L + [(0.0, 1.0)] * d
        res = linprog(cost, A_ub=np.asarray(A_ub) if A_ub else None, b_ub=np.asarray(b_ub) if b_ub else None,
                      A_eq=np.asarray(A_eq), b_eq=np.asarray(b_eq), bounds=bounds, method="highs")
        if res.status != 0:  # pragma: no cover - the trivial classifiers are always feasible
            raise RuntimeError(f"The threshold linear programme failed: {res.message}")
        lam = np.clip(res.x[:L], 0.0, None)
        self.objective_value_ = float(-res.fun)
        self.thresholds_ = {}
        rows = []
        off = 0
        for g, c in enumerate(cands):
            lg = lam[off:off + sizes[g]]
            off += sizes[g]
            lg = np.where(lg > 1e-10, lg, 0.0)
            lg = lg / lg.sum()
            nz = np.flatnonzero(lg)
            order = nz[np.argsort(-c["thr"][nz])]
            self.thresholds_[self.groups_[g]] = [(float(c["thr"][i]), float(lg[i])) for i in order]
            tp, fp = float(lg @ c["tp"]), float(lg @ c["fp"])
            P, N = c["P"], c["N"]
            rows.append({
                "group": self.groups_[g],
                "selection_rate": (tp + fp) / (P + N),
                "true_positive_rate": tp / P if P > 0 else np.nan,
                "false_positive_rate": fp / N if N > 0 else np.nan,
                "accuracy": (tp + N - fp) / (P + N),
                "weight": P + N,
            })
        self.rates_ = pd.DataFrame(rows)
        # vectorised lookup tables for prediction
        self._thr_table = [np.asarray([t for t, _ in self.thresholds_[g]]) for g in self.groups_]
        self._p_table = [np.asarray([p for _, p in self.thresholds_[g]]) for g in self.groups_]

    # -- prediction --------------------------------------------------------------
    def positive_probability(self, X, *, sensitive_features=None):
        """Probability that the randomised classifier predicts the positive class."""
        check_is_fitted(self, "thresholds_")
        scores = self._scores(X)
        gc = self._predict_groups(X, sensitive_features)
        out = np.zeros(len(scores))
        for g in range(len(self.groups_)):
            m = gc == g
            if not m.any():
                continue
            thr, p = self._thr_table[g], self._p_table[g]
            out[m] = ((scores[m][:, None] > thr[None, :]) * p[None, :]).sum(axis=1)
        return np.clip(out, 0.0, 1.0)

    def predict(self, X, *, sensitive_features=None, random_state=None):
        """Predicted labels (randomised where the thresholds are mixed).

        Parameters
        ----------
        X : array-like
        sensitive_features : array-like
            Required; groups must have been seen during ``fit``.
        random_state : int, RandomState instance or None
            ``None`` (default): the uniform draw of each row is a hash of the
            row's features and of the estimator's ``random_state``, so a row
            always receives the same decision (predictions do not depend on
            batch composition or order). An int or RandomState: fresh
            independent draws from that generator, as Fairlearn does.
        """
        p = self.positive_probability(X, sensitive_features=sensitive_features)
        if random_state is None:
            seed = int(self.random_state) if isinstance(self.random_state, (int, np.integer)) else 0
            draw = _row_uniforms(X, seed)
        else:
            draw = check_random_state(random_state).random_sample(len(p))
        return self.classes_[(draw < p).astype(int)]


_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Vectorised SplitMix64 finaliser (a bijective 64-bit mixer)."""
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return z ^ (z >> np.uint64(31))


def _row_uniforms(X, seed: int) -> np.ndarray:
    """A pseudo-uniform number in [0, 1) per row, a deterministic function of the row's values."""
    import scipy.sparse as sp

    if sp.issparse(X):
        csr = sp.csr_matrix(X)
        csr.sum_duplicates()
        vals = np.ascontiguousarray(csr.data, dtype=np.float64).view(np.uint64)
        with np.errstate(over="ignore"):
            cell = _splitmix64(vals ^ _splitmix64(csr.indices.astype(np.uint64)))
        row = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        h = np.zeros(csr.shape[0], dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.add.at(h, row, cell)
    else:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X).reshape(_n(X), -1))
        h = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    h = _splitmix64(h ^ _splitmix64(np.full(1, seed, dtype=np.uint64)))
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def _n(X) -> int:
    from sklearn.utils.validation import _num_samples

    return int(_num_samples(X))
