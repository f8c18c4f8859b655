"""Example weights: Kamiran-Calders reweighing and loss weights per class or group.

All schemes give one weight per *population*: a (group, class) cell when both
the groups and the labels are given, a class when only labels are given, a
group when only groups are given. Every example receives its population's
weight, optionally multiplied by a prior ``sample_weight``.

Schemes
-------
``reweighing``
    Kamiran and Calders (2012): ``w(g, c) = P(g) P(c) / P(g, c)``, the expected
    over the observed frequency of the cell. In the weighted data the label is
    statistically independent of the group while both marginals are kept.
``inverse``
    ``w = 1 / n_pop``: every population carries the same total weight.
``sqrt``
    ``w = 1 / sqrt(n_pop)``: a softer version of ``inverse``.
``effective``
    Cui et al. (2019), class-balanced loss: ``w = (1 - beta) / (1 - beta**n_pop)``,
    the inverse of the effective number of samples ``(1 - beta**n) / (1 - beta)``.
    ``beta -> 0`` gives equal weights and ``beta -> 1`` gives ``inverse``.

Except for ``reweighing`` (whose weights already sum to the number of
examples), weights are rescaled so that their (prior-weighted) mean over the
examples is 1: the loss keeps its usual magnitude.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..._optional import import_optional
from ...exceptions import UnskewInputError
from .._utils import (
    _plain,
    cell_counts,
    check_sample_weight,
    encode_groups,
    encode_labels,
    lookup_groups,
    n_rows,
)
from ._methods import methods_of_kind

#: The weight schemes: the ``weights`` entries of :data:`unskew.mitigate.pre.METHODS`.
WEIGHT_METHODS = methods_of_kind("weights")


def _check_method(method: str, beta: float) -> None:
    if method not in WEIGHT_METHODS:
        raise UnskewInputError(f"method must be one of the weight schemes {', '.join(WEIGHT_METHODS)} "
                               f"(weights entries of unskew.mitigate.pre.METHODS), got {method!r}.")
    if method == "effective" and not (0.0 <= beta < 1.0):
        raise UnskewInputError(f"beta must be in [0, 1) for the effective-number weights, got {beta!r}.")


def _population_weight(counts: np.ndarray, method: str, beta: float) -> np.ndarray:
    """Weight of each population from its (weighted) size; 0-size populations get 0."""
    counts = np.asarray(counts, dtype=float)
    out = np.zeros_like(counts)
    pos = counts > 0
    if method == "inverse":
        out[pos] = 1.0 / counts[pos]
    elif method == "sqrt":
        out[pos] = 1.0 / np.sqrt(counts[pos])
    elif method == "effective":
        if beta == 0.0:
            out[pos] = 1.0
        else:
            # (1 - beta) / (1 - beta**n), computed stably with expm1/log1p
            out[pos] = -np.expm1(np.log(beta)) / -np.expm1(counts[pos] * np.log(beta))
    else:  # pragma: no cover - guarded by _check_method
        raise ValueError(method)
    return out


def _weights_from_codes(
    class_codes: np.ndarray | None,
    n_classes: int,
    group_codes: np.ndarray | None,
    n_groups: int,
    method: str,
    beta: float,
    base: np.ndarray,
    normalize: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-example weights and the (n_groups, n_classes) table of population weights."""
    n = len(base)
    gc = group_codes if group_codes is not None else np.zeros(n, dtype=np.int64)
    cc = class_codes if class_codes is not None else np.zeros(n, dtype=np.int64)
    G = n_groups if group_codes is not None else 1
    K = n_classes if class_codes is not None else 1
    counts = cell_counts(gc, cc, G, K, base)
    if method == "reweighing":
        if group_codes is None or class_codes is None:
            raise UnskewInputError("Reweighing needs both the labels y and the groups (sensitive_features).")
        total = counts.sum()
        if total <= 0:
            raise UnskewInputError("The sample weights are all zero; nothing to reweigh.")
        expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / total
        table = np.divide(expected, counts, out=np.zeros_like(expected), where=counts > 0)
    else:
        table = _population_weight(counts, method, beta)
    w = base * table[gc, cc]
    if normalize and method != "reweighing":
        s = w.sum()
        if s > 0:
            scale = base.sum() / s
            w = w * scale
            table = table * scale
    return w, table


def group_class_weights(
    y: Any = None,
    groups: Any = None,
    method: str = "inverse",
    *,
    beta: float = 0.999,
    sample_weight: Any = None,
    normalize: bool = True,
) -> np.ndarray:
    """One loss weight per example from its (group, class) population.

    Parameters
    ----------
    y : array-like of shape (n_samples,), optional
        Labels. When omitted the populations are the groups.
    groups : array-like of shape (n_samples,) or (n_samples, n_attributes), optional
        Sensitive attribute(s). When omitted the populations are the classes.
    method : {"inverse", "sqrt", "effective", "reweighing"}, default="inverse"
        Weighting scheme (see the module documentation). ``"reweighing"``
        needs both ``y`` and ``groups``.
    beta : float, default=0.999
        Hyper-parameter of the effective-number weights (Cui et al. 2019).
    sample_weight : array-like, optional
        Prior weights; counts are weighted by them and the result is
        multiplied by them.
    normalize : bool, default=True
        Rescale so that the mean weight over the examples is 1 (not applied to
        ``reweighing``, whose weights already sum to the number of examples).

    Returns
    -------
    weights : ndarray of float64, shape (n_samples,)
        Usable as ``sample_weight`` in scikit-learn or, through
        :func:`group_class_weight_tensor`, as per-example loss weights in torch.

    Examples
    --------
    >>> w = group_class_weights([0, 0, 0, 1], ["a", "a", "b", "b"], method="inverse")
    >>> w.round(3).tolist()
    [0.667, 0.667, 1.333, 1.333]
    """
    _check_method(method, beta)
    if y is None and groups is None:
        raise UnskewInputError("group_class_weights needs y, groups, or both.")
    n = n_rows(y) if y is not None else n_rows(groups)
    cc, classes = (None, ()) if y is None else encode_labels(y, n, owner="group_class_weights")
    gc, labels = (None, []) if groups is None else encode_groups(groups, n, owner="group_class_weights")
    base = check_sample_weight(sample_weight, n, owner="group_class_weights")
    w, _ = _weights_from_codes(cc, len(classes), gc, len(labels), method, beta, base, normalize)
    return w


def reweighing_weights(y: Any, groups: Any, *, sample_weight: Any = None) -> np.ndarray:
    """Kamiran-Calders reweighing weights ``P(g) P(c) / P(g, c)`` per example.

    Equal to AIF360's ``Reweighing`` for a binary group and a binary label, and
    defined the same way for any number of groups and classes.
    """
    return group_class_weights(y, groups, "reweighing", sample_weight=sample_weight)


def group_class_weight_tensor(
    y: Any = None,
    groups: Any = None,
    method: str = "inverse",
    *,
    beta: float = 0.999,
    sample_weight: Any = None,
    normalize: bool = True,
    dtype: Any = None,
    device: Any = None,
):
    """:func:`group_class_weights` as a 1-D torch tensor (float32 by default).

    Index it with a batch's dataset indices and multiply an unreduced loss::

        w = group_class_weight_tensor(y, groups, "effective")
        loss = (criterion_none(model(xb), yb) * w[idx]).sum() / w[idx].sum()
    """
    torch = import_optional("torch", "torch loss weights")
    w = group_class_weights(y, groups, method, beta=beta, sample_weight=sample_weight, normalize=normalize)
    return torch.as_tensor(w, dtype=dtype or torch.float32, device=device)


class Reweighing(BaseEstimator):
    """Learn per-(group, class) example weights; scikit-learn style.

    ``fit`` computes the weight of every population on the training data;
    ``weights_`` holds the weight of each training example and
    :meth:`compute_weights` looks the weights up for other rows.

    Parameters
    ----------
    method : {"reweighing", "inverse", "sqrt", "effective"}, default="reweighing"
        Weighting scheme; see :func:`group_class_weights`.
    beta : float, default=0.999
        Hyper-parameter of ``"effective"``.
    normalize : bool, default=True
        Mean weight 1 over the training examples (all schemes but ``reweighing``,
        whose weights already sum to ``n``).

    Attributes
    ----------
    weights_ : ndarray of shape (n_samples,)
        Weight of each training example (prior ``sample_weight`` included).
    table_ : pandas.DataFrame
        One row per (group, class): count, weighted count and weight.
    classes_ : ndarray
        Sorted class labels.
    groups_ : list
        Sorted group labels.

    Examples
    --------
    >>> rw = Reweighing().fit(None, [1, 1, 0, 0, 0, 1], sensitive_features=list("aaabbb"))
    >>> rw.weights_.round(2).tolist()
    [0.75, 0.75, 1.5, 0.75, 0.75, 1.5]
    """

    def __init__(self, method: str = "reweighing", beta: float = 0.999, normalize: bool = True):
        self.method = method
        self.beta = beta
        self.normalize = normalize

    def fit(self, X=None, y=None, *, sensitive_features=None, sample_weight=None):
        """Compute the population weights.

        Parameters
        ----------
        X : ignored
            Accepted for pipeline compatibility; may be ``None``.
        y : array-like of shape (n_samples,)
            Labels.
        sensitive_features : array-like
            Sensitive attribute(s) aligned with ``y``.
        sample_weight : array-like, optional
            Prior weights.
        """
        _check_method(self.method, self.beta)
        n = n_rows(y) if y is not None else None
        cc, classes = encode_labels(y, n, owner="Reweighing")
        gc, labels = encode_groups(sensitive_features, len(cc), owner="Reweighing")
        if X is not None and n_rows(X) != len(cc):
            raise UnskewInputError(f"Reweighing: X has {n_rows(X)} rows but y has {len(cc)}.")
        base = check_sample_weight(sample_weight, len(cc), owner="Reweighing")
        w, table = _weights_from_codes(cc, len(classes), gc, len(labels), self.method, self.beta, base, self.normalize)
        counts = cell_counts(gc, cc, len(labels), len(classes))
        wcounts = cell_counts(gc, cc, len(labels), len(classes), base)
        rows = []
        for gi, g in enumerate(labels):
            for ci, c in enumerate(classes):
                rows.append((g, _plain(c), int(counts[gi, ci]), float(wcounts[gi, ci]), float(table[gi, ci])))
        self.table_ = pd.DataFrame(rows, columns=["group", "class", "count", "weighted_count", "weight"])
        self._table = table
        self.weights_ = w
        self.classes_ = classes
        self.groups_ = labels
        return self

    def fit_weights(self, X=None, y=None, *, sensitive_features=None, sample_weight=None) -> np.ndarray:
        """Fit and return the training weights (``weights_``)."""
        return self.fit(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight).weights_

    def compute_weights(self, y, *, sensitive_features, sample_weight=None) -> np.ndarray:
        """Weights of new rows from the fitted population weights.

        Raises
        ------
        UnskewInputError
            For a class or group not seen during ``fit``.
        """
        check_is_fitted(self, "weights_")
        y_arr = np.asarray(y)
        pos = np.searchsorted(self.classes_, y_arr)
        pos = np.clip(pos, 0, len(self.classes_) - 1)
        bad = self.classes_[pos] != y_arr
        if np.any(bad):
            raise UnskewInputError(
                f"Reweighing: y contains class(es) {np.unique(y_arr[bad])[:5].tolist()} not seen during fit."
            )
        gc = lookup_groups(sensitive_features, self.groups_, len(y_arr), owner="Reweighing")
        base = check_sample_weight(sample_weight, len(y_arr), owner="Reweighing")
        return base * self._table[gc, pos]

    def get_weight_tensor(self, dtype=None, device=None):
        """``weights_`` as a torch tensor (float32 by default)."""
        check_is_fitted(self, "weights_")
        torch = import_optional("torch", "torch loss weights")
        return torch.as_tensor(self.weights_, dtype=dtype or torch.float32, device=device)


def _estimator_has(attr: str):
    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator if self.estimator is not None else _default_estimator(), attr)

    return check


def _default_estimator():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


class ReweighingClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit a classifier on reweighed data (Kamiran-Calders or loss weights).

    The weights of :class:`Reweighing` are computed from ``y`` and
    ``sensitive_features`` and passed as ``sample_weight`` to the wrapped
    estimator. Prediction does not need the sensitive features.

    Parameters
    ----------
    estimator : classifier, default=LogisticRegression(max_iter=1000)
        Must accept ``sample_weight`` in ``fit``.
    method, beta, normalize
        See :class:`Reweighing`.

    Attributes
    ----------
    estimator_ : fitted clone of ``estimator``
    reweighing_ : fitted :class:`Reweighing`
    classes_ : ndarray

    Notes
    -----
    With ``sklearn.set_config(enable_metadata_routing=True)`` request the
    sensitive features with ``ReweighingClassifier().set_fit_request(sensitive_features=True)``
    to use it inside a :class:`~sklearn.pipeline.Pipeline`.
    """

    def __init__(self, estimator=None, method: str = "reweighing", beta: float = 0.999, normalize: bool = True):
        self.estimator = estimator
        self.method = method
        self.beta = beta
        self.normalize = normalize

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Compute the weights and fit the estimator with them."""
        if y is None:
            raise UnskewInputError("ReweighingClassifier requires y to be passed, but the target y is None.")
        check_classification_targets(y)
        self.reweighing_ = Reweighing(method=self.method, beta=self.beta, normalize=self.normalize)
        w = self.reweighing_.fit_weights(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)
        est = clone(self.estimator) if self.estimator is not None else _default_estimator()
        try:
            est.fit(X, y, sample_weight=w)
        except TypeError as exc:
            if "sample_weight" in str(exc):
                raise UnskewInputError(
                    f"ReweighingClassifier: {type(est).__name__}.fit does not accept sample_weight; "
                    f"choose an estimator that does (e.g. LogisticRegression, gradient boosting)."
                ) from exc
            raise
        self.estimator_ = est
        self.classes_ = est.classes_
        if hasattr(est, "n_features_in_"):
            self.n_features_in_ = est.n_features_in_
        if hasattr(est, "feature_names_in_"):
            self.feature_names_in_ = est.feature_names_in_
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        est = self.estimator if self.estimator is not None else _default_estimator()
        sub = est.__sklearn_tags__()
        tags.input_tags = sub.input_tags
        return tags
