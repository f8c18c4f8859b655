"""Shared parts of the post-processors: scores of the wrapped model and binary labels."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _num_samples, check_is_fitted, column_or_1d

from ...exceptions import UnskewInputError
from .._utils import check_sample_weight, encode_groups, lookup_groups

PREDICT_METHODS = ("auto", "predict_proba", "decision_function", "predict")


def _default_estimator():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


class BasePostProcessor(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Fit or take a fitted scoring model, then learn group-specific decisions."""

    def _fit_estimator(self, X, y, sample_weight):
        owner = type(self).__name__
        if self.predict_method not in PREDICT_METHODS:
            raise UnskewInputError(f"{owner}: predict_method must be one of {PREDICT_METHODS}, got {self.predict_method!r}.")
        if self.prefit:
            if self.estimator is None:
                raise UnskewInputError(f"{owner}: prefit=True needs a fitted estimator.")
            try:
                check_is_fitted(self.estimator)
            except NotFittedError as exc:
                raise UnskewInputError(
                    f"{owner}: prefit=True but the estimator {type(self.estimator).__name__} is not fitted; "
                    f"fit it first or set prefit=False."
                ) from exc
            except (AttributeError, TypeError):
                pass  # a duck-typed scorer outside scikit-learn: trusted to be fitted
            self.estimator_ = self.estimator
        else:
            est = clone(self.estimator) if self.estimator is not None else _default_estimator()
            if sample_weight is not None:
                est.fit(X, y, sample_weight=sample_weight)
            else:
                est.fit(X, y)
            self.estimator_ = est
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimator_, attr):
                setattr(self, attr, getattr(self.estimator_, attr))

    def _binary_y(self, y):
        owner = type(self).__name__
        if y is None:
            raise UnskewInputError(f"{owner} requires y to be passed, but the target y is None.")
        y = column_or_1d(np.asarray(y) if not hasattr(y, "shape") else y, warn=True)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type in ("continuous", "continuous-multioutput"):
            check_classification_targets(y)  # raises "Unknown label type: continuous"
        if y_type != "binary":
            raise UnskewInputError(
                f"Only binary classification is supported by {owner}. The type of the target is {y_type}."
            )
        classes = np.unique(y)
        if len(classes) != 2:
            raise UnskewInputError(
                f"{owner} needs both classes in y, but y has only one class ({classes[:1].tolist()})."
            )
        return classes, (y == classes[1]).astype(np.int8)

    def _scores(self, X):
        est = self.estimator_
        method = self.predict_method
        if method == "auto":
            for m in ("predict_proba", "decision_function", "predict"):
                if hasattr(est, m):
                    method = m
                    break
        if method == "predict_proba":
            proba = np.asarray(est.predict_proba(X))
            pos = self._positive_column(est)
            return proba[:, pos].astype(float)
        if method == "decision_function":
            d = np.asarray(est.decision_function(X), dtype=float)
            if d.ndim != 1:
                raise UnskewInputError("decision_function must return one score per row (binary model).")
            return d
        pred = np.asarray(est.predict(X))
        return (pred == self.classes_[1]).astype(float) if pred.dtype.kind not in "fc" else pred.astype(float)

    def _positive_column(self, est) -> int:
        classes = getattr(est, "classes_", None)
        if classes is None:
            return 1
        where = np.flatnonzero(np.asarray(classes) == self.classes_[1])
        if len(where) == 0:
            raise UnskewInputError(
                f"The estimator's classes {list(classes)} do not include the positive label {self.classes_[1]!r}."
            )
        return int(where[0])

    def _fit_inputs(self, X, y, sensitive_features, sample_weight):
        """Validate y, fit (or check) the model, then encode groups and weights.

        The model validates ``X`` (type, shape, missing values) in its own
        ``fit`` or scoring method, so that its error messages come first.
        """
        owner = type(self).__name__
        if X is None:
            raise UnskewInputError(f"{owner}: X is required.")
        self.classes_, yb = self._binary_y(y)
        self._fit_estimator(X, y, sample_weight)
        scores = self._scores(X)
        n = _num_samples(X)
        if len(yb) != n:
            raise UnskewInputError(f"{owner}: y has {len(yb)} labels but X has {n} rows.")
        gc, labels = encode_groups(sensitive_features, n, owner=owner)
        w = check_sample_weight(sample_weight, n, owner=owner)
        if w.sum() <= 0:
            raise UnskewInputError(f"{owner}: the sample weights are all zero; at least one must be positive.")
        self.groups_ = labels
        return yb, gc, w, scores

    def _predict_groups(self, X, sensitive_features):
        return lookup_groups(sensitive_features, self.groups_, _num_samples(X), owner=type(self).__name__)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        est = self.estimator if self.estimator is not None else _default_estimator()
        try:
            tags.input_tags = est.__sklearn_tags__().input_tags
        except AttributeError:  # pragma: no cover - non-sklearn estimator
            pass
        return tags
