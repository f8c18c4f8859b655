"""Exact influence functions for L2-regularised logistic regression.

For the objective ``L(theta) = sum_i w_i l_i(theta) + lambda/2 ||theta||^2``
(intercept unpenalised), removing training example ``i`` moves the optimum by
``H^{-1} w_i grad l_i`` to first order, where ``H`` is the Hessian of ``L``.
The attribution of training example ``i`` to target example ``j`` is the
first-order change in the target's correct-class margin caused by *including*
``i``::

    S[i, j] = - grad f_j^T H^{-1} w_i grad l_i

For binary logistic regression the margin is ``f_j = s_j x_j^T theta`` with
``s_j = +1`` for a positive and ``-1`` for a negative label, and
``grad l_i = (p_i - y_i) x_i``. Everything is closed form; ``H`` is factorised
once.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ..exceptions import UnskewInputError


def _augment(X: np.ndarray, fit_intercept: bool) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise UnskewInputError(f"X must be 2-D, got shape {X.shape}.")
    return np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X


def _binary_labels(y) -> np.ndarray:
    y = np.asarray(y)
    vals = np.unique(y)
    if not set(vals.tolist()) <= {0, 1}:
        raise UnskewInputError(
            f"Logistic influence expects 0/1 labels; got values {vals[:5].tolist()}."
        )
    return y.astype(float)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_logistic(
    X,
    y,
    sample_weight=None,
    *,
    l2: float = 1.0,
    fit_intercept: bool = True,
    theta0=None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Fit L2-regularised binary logistic regression by Newton's method.

    Minimises ``sum_i w_i logloss_i + l2/2 * ||coef||^2`` (the intercept is not
    penalised), the same objective as scikit-learn's ``LogisticRegression``
    with ``C = 1 / l2``.

    Returns
    -------
    theta : ndarray of shape (n_features + fit_intercept,)
        Coefficients, intercept last.
    """
    Xa = _augment(X, fit_intercept)
    y = _binary_labels(y)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    pen = np.full(Xa.shape[1], float(l2))
    if fit_intercept:
        pen[-1] = 0.0
    theta = np.zeros(Xa.shape[1]) if theta0 is None else np.array(theta0, float)
    for _ in range(max_iter):
        p = _sigmoid(Xa @ theta)
        g = Xa.T @ (w * (p - y)) + pen * theta
        H = (Xa * (w * p * (1 - p))[:, None]).T @ Xa + np.diag(pen) + 1e-12 * np.eye(len(theta))
        step = linalg.solve(H, g, assume_a="pos")
        theta -= step
        if np.max(np.abs(step)) < tol:
            break
    return theta


class LogisticInfluence:
    """Exact influence-function attributions for binary logistic regression.

    Parameters
    ----------
    l2 : float, default=1.0
        L2 penalty on the coefficients (``1 / C`` in scikit-learn terms).
    fit_intercept : bool, default=True

    Attributes
    ----------
    theta_ : ndarray
        Fitted coefficients (intercept last).
    """

    def __init__(self, l2: float = 1.0, fit_intercept: bool = True):
        self.l2 = l2
        self.fit_intercept = fit_intercept

    def fit(self, X, y, sample_weight=None, theta=None):
        """Fit the model (or adopt ``theta``) and factorise the Hessian."""
        self.X_ = _augment(X, self.fit_intercept)
        self.y_ = _binary_labels(y)
        self.w_ = np.ones(len(self.y_)) if sample_weight is None else np.asarray(sample_weight, float)
        if theta is None:
            theta = fit_logistic(X, y, self.w_, l2=self.l2, fit_intercept=self.fit_intercept)
        self.theta_ = np.asarray(theta, float)
        p = _sigmoid(self.X_ @ self.theta_)
        pen = np.full(self.X_.shape[1], float(self.l2))
        if self.fit_intercept:
            pen[-1] = 0.0
        H = (self.X_ * (self.w_ * p * (1 - p))[:, None]).T @ self.X_ + np.diag(pen)
        self._chol = linalg.cho_factor(H + 1e-12 * np.eye(len(pen)))
        self._loss_grad_scale = self.w_ * (p - self.y_)
        return self

    @classmethod
    def from_sklearn(cls, estimator, X, y, sample_weight=None) -> LogisticInfluence:
        """Attributions for a fitted binary scikit-learn ``LogisticRegression`` (L2 penalty)."""
        if getattr(estimator, "coef_", None) is None or estimator.coef_.shape[0] != 1:
            raise UnskewInputError("from_sklearn needs a fitted binary LogisticRegression.")
        penalty = getattr(estimator, "penalty", "l2")
        if penalty not in ("l2", "deprecated", None) and getattr(estimator, "l1_ratio", 0) not in (0, None):
            raise UnskewInputError("Exact influence needs an L2-penalised logistic regression.")
        theta = np.r_[estimator.coef_.ravel(), estimator.intercept_] if estimator.fit_intercept else estimator.coef_.ravel()
        return cls(l2=1.0 / estimator.C, fit_intercept=estimator.fit_intercept).fit(X, y, sample_weight, theta=theta)

    def margins(self, X, y) -> np.ndarray:
        """Correct-class logit margin ``s_j x_j^T theta`` of each example."""
        s = 2 * _binary_labels(y) - 1
        return s * (_augment(X, self.fit_intercept) @ self.theta_)

    def factors(self, X_target, y_target) -> tuple[np.ndarray, np.ndarray]:
        """Low-rank factors ``(L, R)`` with ``S = L @ R.T``.

        ``L`` is (n_train, d) and ``R`` is (n_target, d): the attribution
        matrix of a linear model has rank at most ``d``, so group means and
        other reductions of ``S`` can be computed without forming it.
        """
        Xt = _augment(X_target, self.fit_intercept)
        s = 2 * _binary_labels(y_target) - 1
        L = -self.X_ * self._loss_grad_scale[:, None]
        R = linalg.cho_solve(self._chol, (Xt * s[:, None]).T).T
        return L, R

    def attribute(self, X_target, y_target, *, chunk_size: int = 4096) -> np.ndarray:
        """Attribution matrix ``S`` of shape (n_train, n_target).

        ``S[i, j] > 0`` means training example ``i`` raises target ``j``'s
        correct-class margin. Computed in chunks of targets to bound memory.
        """
        Xt = _augment(X_target, self.fit_intercept)
        s = 2 * _binary_labels(y_target) - 1
        # H^{-1} x_i for every training example, once: (d, n_train)
        Hinv_Xtr = linalg.cho_solve(self._chol, self.X_.T)
        out = np.empty((self.X_.shape[0], Xt.shape[0]))
        for start in range(0, Xt.shape[0], chunk_size):
            sl = slice(start, start + chunk_size)
            out[:, sl] = -(Hinv_Xtr.T @ (Xt[sl] * s[sl, None]).T) * self._loss_grad_scale[:, None]
        return out


def leave_one_out_margins(
    X,
    y,
    X_target,
    y_target,
    *,
    l2: float = 1.0,
    fit_intercept: bool = True,
    indices=None,
    sample_weight=None,
) -> np.ndarray:
    """True leave-one-out effects by retraining, for validating attributions.

    Returns ``D`` of shape (len(indices), n_target) with
    ``D[k, j] = margin_j(full model) - margin_j(model trained without indices[k])``,
    the quantity the attribution ``S[indices[k], j]`` estimates. Each retrain
    starts Newton's method from the full solution and runs to convergence, so
    it reaches the exact optimum of the reduced problem.
    """
    X = np.asarray(X, float)
    y = np.asarray(y)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    full = fit_logistic(X, y, w, l2=l2, fit_intercept=fit_intercept)
    Xt = _augment(X_target, fit_intercept)
    s = 2 * _binary_labels(y_target) - 1
    base = s * (Xt @ full)
    idx = np.arange(len(y)) if indices is None else np.asarray(indices)
    out = np.empty((len(idx), Xt.shape[0]))
    for k, i in enumerate(idx):
        wi = w.copy()
        wi[i] = 0.0
        th = fit_logistic(X, y, wi, l2=l2, fit_intercept=fit_intercept, theta0=full)
        out[k] = base - s * (Xt @ th)
    return out
