"""Reject-option classification (Kamiran, Karim and Zhang 2012).

Near the decision boundary the model is least sure, so that is where its
decisions are changed: inside the *critical region*
``|score - threshold| <= margin`` members of the unprivileged groups receive
the favourable label and members of the privileged groups the unfavourable
one; outside it the model's decision ``score > threshold`` stands.

When ``threshold`` and ``margin`` are not given they are chosen as AIF360's
``RejectOptionClassification`` does: a grid of thresholds and, for each, of
margins; among the settings whose fairness gap is within ``metric_bound``,
the one with the best balanced accuracy on the fitting data (with a warning
and the smallest gap when none is).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ...exceptions import UnskewInputError
from ._base import BasePostProcessor

METRICS = ("demographic_parity", "equal_opportunity", "average_odds")


class RejectOptionClassifier(BasePostProcessor):
    """Flip decisions near the boundary in favour of unprivileged groups.

    Parameters
    ----------
    estimator : classifier, default=LogisticRegression(max_iter=1000)
    threshold : float or "auto", default="auto"
        Decision threshold on the score.
    margin : float or "auto", default="auto"
        Half-width of the critical region.
    privileged_groups : list, optional
        Groups treated as privileged. By default the group with the highest
        mean score on the fitting data.
    metric : {"demographic_parity", "equal_opportunity", "average_odds"}, default="demographic_parity"
        Fairness gap used to choose ``threshold`` and ``margin``: the largest
        difference between groups in selection rate, in true-positive rate,
        or the mean of the largest differences in true- and false-positive rate.
    metric_bound : float, default=0.05
        Largest acceptable gap during the search.
    n_thresholds : int, default=100
    n_margins : int, default=50
    threshold_range : tuple of float, optional
        Range of thresholds searched; ``(0.01, 0.99)`` for probabilities, the
        1st to 99th percentile of the scores otherwise.
    prefit : bool, default=False
    predict_method : {"auto", "predict_proba", "decision_function", "predict"}, default="auto"

    Attributes
    ----------
    threshold_, margin_ : float
        Chosen decision threshold and critical-region half-width.
    privileged_ : list
        Privileged groups.
    fairness_gap_, balanced_accuracy_ : float
        Gap and balanced accuracy of the chosen setting on the fitting data.
    """

    def __init__(self, estimator=None, threshold="auto", margin="auto", privileged_groups=None,
                 metric: str = "demographic_parity", metric_bound: float = 0.05, n_thresholds: int = 100,
                 n_margins: int = 50, threshold_range=None, prefit: bool = False, predict_method: str = "auto"):
        self.estimator = estimator
        self.threshold = threshold
        self.margin = margin
        self.privileged_groups = privileged_groups
        self.metric = metric
        self.metric_bound = metric_bound
        self.n_thresholds = n_thresholds
        self.n_margins = n_margins
        self.threshold_range = threshold_range
        self.prefit = prefit
        self.predict_method = predict_method

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit (or take) the model and choose the threshold and margin."""
        if self.metric not in METRICS:
            raise UnskewInputError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        yb, gc, w, scores = self._fit_inputs(X, y, sensitive_features, sample_weight)
        G = len(self.groups_)
        if self.privileged_groups is None:
            means = np.array([np.average(scores[gc == g], weights=w[gc == g]) if w[gc == g].sum() > 0 else -np.inf
                              for g in range(G)])
            priv = [int(np.argmax(means))]
        else:
            wanted = self.privileged_groups if isinstance(self.privileged_groups, (list, tuple, set)) else [self.privileged_groups]
            index = {g: i for i, g in enumerate(self.groups_)}
            unknown = [g for g in wanted if g not in index]
            if unknown:
                raise UnskewInputError(f"privileged_groups {unknown} are not among the groups {self.groups_[:10]}.")
            priv = sorted(index[g] for g in wanted)
        if len(priv) == G:
            raise UnskewInputError("Every group is privileged; leave at least one unprivileged group.")
        self.privileged_ = [self.groups_[g] for g in priv]
        self._priv_mask_codes = np.isin(np.arange(G), priv)
        is_priv = self._priv_mask_codes[gc]
        proba_like = self._score_is_probability(scores)

        if self.threshold != "auto" and self.margin != "auto":
            self.threshold_, self.margin_ = float(self.threshold), float(self.margin)
            if self.margin_ < 0:
                raise UnskewInputError(f"margin must be >= 0, got {self.margin!r}.")
            pred = self._decide(scores, is_priv, self.threshold_, self.margin_)
            self.fairness_gap_ = float(self._gap(pred[None, :], yb, gc, w, G)[0])
            self.balanced_accuracy_ = float(self._bal_acc(pred[None, :], yb, w)[0])
            return self
        if self.threshold_range is not None:
            lo, hi = map(float, self.threshold_range)
        elif proba_like:
            lo, hi = 0.01, 0.99
        else:
            lo, hi = np.quantile(scores, [0.01, 0.99])
        if self.threshold != "auto":
            thr_grid = np.array([float(self.threshold)])
        else:
            thr_grid = np.linspace(lo, hi, int(self.n_thresholds))
        best = None
        fallback = None
        for t in thr_grid:
            if self.margin != "auto":
                margins = np.array([float(self.margin)])
            else:
                span = min(t - lo, hi - t) if not proba_like else min(t, 1 - t)
                margins = np.linspace(0.0, max(span, 0.0), int(self.n_margins))
            preds = np.stack([self._decide(scores, is_priv, t, m) for m in margins])
            gaps = self._gap(preds, yb, gc, w, G)
            bal = self._bal_acc(preds, yb, w)
            ok = gaps <= float(self.metric_bound) + 1e-12
            if ok.any():
                j = int(np.flatnonzero(ok)[np.argmax(bal[ok])])
                if best is None or bal[j] > best[0] + 1e-12:
                    best = (bal[j], t, margins[j], gaps[j])
            j = int(np.argmin(gaps))
            if fallback is None or gaps[j] < fallback[3] - 1e-12:
                fallback = (bal[j], t, margins[j], gaps[j])
        if best is None:
            warnings.warn(
                f"RejectOptionClassifier: no threshold/margin keeps the {self.metric} gap within "
                f"{self.metric_bound}; using the setting with the smallest gap ({fallback[3]:.3f}).",
                UserWarning,
                stacklevel=2,
            )
            best = fallback
        self.balanced_accuracy_, self.threshold_, self.margin_, self.fairness_gap_ = (float(v) for v in best)
        return self

    @staticmethod
    def _score_is_probability(scores) -> bool:
        return bool(np.all((scores >= 0) & (scores <= 1)))

    @staticmethod
    def _decide(scores, is_priv, t, m):
        pred = scores > t
        critical = np.abs(scores - t) <= m
        pred = np.where(critical, ~is_priv, pred)
        return pred.astype(np.int8)

    def _gap(self, preds, yb, gc, w, G):
        """Fairness gap of each row of ``preds`` (n_settings, n_samples)."""
        def rates(mask_rows):
            out = np.full((preds.shape[0], G), np.nan)
            for g in range(G):
                m = (gc == g) & mask_rows
                tot = w[m].sum()
                if tot > 0:
                    out[:, g] = preds[:, m] @ w[m] / tot
            return out

        def spread(r):
            return np.nanmax(r, axis=1) - np.nanmin(r, axis=1)

        if self.metric == "demographic_parity":
            return spread(rates(np.ones_like(yb, dtype=bool)))
        tpr = spread(rates(yb == 1))
        if self.metric == "equal_opportunity":
            return tpr
        return 0.5 * (tpr + spread(rates(yb == 0)))

    @staticmethod
    def _bal_acc(preds, yb, w):
        pos, neg = yb == 1, yb == 0
        tpr = preds[:, pos] @ w[pos] / max(w[pos].sum(), 1e-12)
        tnr = (1 - preds[:, neg]) @ w[neg] / max(w[neg].sum(), 1e-12)
        return 0.5 * (tpr + tnr)

    def predict(self, X, *, sensitive_features=None):
        """Decisions with the reject option applied (deterministic)."""
        check_is_fitted(self, "threshold_")
        scores = self._scores(X)
        gc = self._predict_groups(X, sensitive_features)
        pred = self._decide(scores, self._priv_mask_codes[gc], self.threshold_, self.margin_)
        return self.classes_[pred.astype(int)]
