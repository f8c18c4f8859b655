"""Augmentation hook: balanced synthetic examples from user transforms or mixup.

:class:`GroupAugmenter` fills every (group, class) population up to its target
size (see :class:`~unskew.mitigate.pre.GroupRandomOverSampler`) with
synthetic examples made *inside* the population:

``method="mixup"``
    ``x = lam * x_seed + (1 - lam) * x_partner`` with ``lam ~ Beta(alpha, alpha)``
    and the partner drawn uniformly from the seed's population. Both parents
    share the group and the class, so the label stays a hard label.
``method="transform"``
    ``x = transform(X[seeds], rng)``: any user function (image flips and crops,
    noise, back-translation of pre-computed embeddings, ...) applied to seeds
    drawn from the population. It must return an array with one row per seed.

Inputs may be arrays of any rank (``(n, d)`` vectors, ``(n, C, H, W)`` images)
or DataFrames of numeric columns; torch tensors are converted to NumPy.
Added rows come after the original ones and are flagged in
``synthetic_mask_``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ...exceptions import UnskewInputError
from ._sampling import BaseGroupSampler


class GroupAugmenter(BaseGroupSampler):
    """Balance (group, class) populations with augmented or mixed-up examples.

    Parameters
    ----------
    method : {"mixup", "transform"}, default="mixup"
    transform : callable, optional
        ``transform(X_batch, rng) -> X_new`` with ``X_batch`` the seed rows (a
        NumPy array, or a DataFrame when ``X`` is one) and ``rng`` a
        :class:`numpy.random.RandomState`. Required for ``method="transform"``.
    alpha : float, default=0.4
        Beta(alpha, alpha) parameter of mixup; small values keep examples
        close to one parent.
    sampling_strategy : {"balanced", "independent", "balance_classes"} or dict, default="balanced"
    sensitive_cols : str, int or list, optional
    random_state : int, RandomState instance or None

    Attributes
    ----------
    synthetic_parents_ : ndarray of shape (n_synthetic, 2)
        (seed, partner) rows; for ``transform`` both columns are the seed.
    mix_weights_ : ndarray of shape (n_synthetic,)
        Weight of the seed in each mixup example (1 for ``transform``).
    sample_indices_, synthetic_mask_, sensitive_resampled_, cell_counts_
    """

    def __init__(self, method: str = "mixup", transform: Callable | None = None, alpha: float = 0.4,
                 sampling_strategy="balanced", sensitive_cols=None, random_state=None):
        super().__init__(sampling_strategy=sampling_strategy, sensitive_cols=sensitive_cols,
                         random_state=random_state)
        self.method = method
        self.transform = transform
        self.alpha = alpha

    def _check_X(self, X):
        X = super()._check_X(X)
        if hasattr(X, "detach") and hasattr(X, "cpu"):
            X = X.detach().cpu().numpy()
        if self.method not in ("mixup", "transform"):
            raise UnskewInputError(f"GroupAugmenter: method must be 'mixup' or 'transform', got {self.method!r}.")
        if self.method == "transform" and not callable(self.transform):
            raise UnskewInputError("GroupAugmenter: method='transform' needs transform=<callable(X_batch, rng)>.")
        if self.method == "mixup":
            if not (float(self.alpha) > 0):
                raise UnskewInputError(f"GroupAugmenter: alpha must be > 0, got {self.alpha!r}.")
            arr = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
            if not np.issubdtype(arr.dtype, np.number):
                raise UnskewInputError("GroupAugmenter: mixup needs numeric features.")
        return X

    def fit_resample(self, X, y, *, sensitive_features=None, sample_weight=None):
        if hasattr(X, "detach") and hasattr(X, "cpu"):
            X = X.detach().cpu().numpy()
        self._mix = []
        try:
            out = super().fit_resample(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)
            self.mix_weights_ = np.concatenate(self._mix) if self._mix else np.zeros(0)
            return out
        finally:
            self.__dict__.pop("_mix", None)

    def _generate(self, X, idx, n_new, rng):
        seeds = idx[rng.randint(0, len(idx), size=n_new)]
        if self.method == "transform":
            batch = X.iloc[seeds] if isinstance(X, pd.DataFrame) else np.asarray(X)[seeds]
            new = self.transform(batch, rng)
            if hasattr(new, "detach") and hasattr(new, "cpu"):
                new = new.detach().cpu().numpy()
            if len(new) != n_new:
                raise UnskewInputError(
                    f"GroupAugmenter: transform returned {len(new)} rows for {n_new} seeds; it must return one per seed."
                )
            if isinstance(X, pd.DataFrame) and not isinstance(new, pd.DataFrame):
                new = pd.DataFrame(np.asarray(new), columns=X.columns)
            elif not isinstance(X, pd.DataFrame):
                new = np.asarray(new)
                if new.shape[1:] != np.asarray(X).shape[1:]:
                    raise UnskewInputError(
                        f"GroupAugmenter: transform returned rows of shape {new.shape[1:]}, expected {np.asarray(X).shape[1:]}."
                    )
            self._mix.append(np.ones(n_new))
            return new, np.stack([seeds, seeds], axis=1)
        partners = idx[rng.randint(0, len(idx), size=n_new)]
        lam = rng.beta(float(self.alpha), float(self.alpha), size=n_new)
        arr = X.to_numpy(dtype=float) if isinstance(X, pd.DataFrame) else np.asarray(X)
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
        shape = (n_new,) + (1,) * (arr.ndim - 1)
        lam_b = lam.reshape(shape).astype(dtype)
        new = lam_b * arr[seeds] + (1 - lam_b) * arr[partners]
        if isinstance(X, pd.DataFrame):
            new = pd.DataFrame(new, columns=X.columns)
        self._mix.append(lam)
        return new, np.stack([seeds, partners], axis=1)

    def _stack_new(self, X, blocks):
        if isinstance(X, pd.DataFrame):
            return pd.concat(blocks, ignore_index=True)
        arr = np.asarray(X)
        new = np.concatenate([np.asarray(b) for b in blocks], axis=0)
        return new.astype(arr.dtype) if np.issubdtype(arr.dtype, np.floating) else new
