"""TRAK over an ensemble of independently trained models (Park et al. 2023, Jain et al. 2024).

TRAK's estimate improves when its kernels are averaged over models trained
independently: different seeds *and* different random subsets of the
training set (half of it, as in both papers), so that each model sees a
different sample of the data. Checkpoints of a single run are much more
correlated with one another and average away less noise.

Every member is trained and featurised in its own process (``n_jobs``); the
parent only sums the members' low-rank factors. The projection seed is shared
so that members differ only in the model, as in ``traker``.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.base import clone

from ..exceptions import UnskewInputError
from ._trak import TRAK, combine_terms


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def member_subsets(y, n_models: int, subset_fraction: float, random_state: int) -> list[np.ndarray]:
    """Random training subsets, one per member, stratified by label so every class appears."""
    y = np.asarray(y)
    rng = np.random.default_rng(random_state)
    classes = np.unique(y)
    out = []
    for _ in range(n_models):
        parts = []
        for c in classes:
            rows = np.flatnonzero(y == c)
            take = max(1, int(round(subset_fraction * len(rows))))
            parts.append(rng.choice(rows, size=take, replace=False))
        out.append(np.sort(np.concatenate(parts)))
    return out


def _select_checkpoints(model, n: int) -> list:
    """The last ``n`` checkpoints up to and including the selected epoch (the model itself if none kept)."""
    ckpts = list(getattr(model, "checkpoints_", None) or [])
    best = getattr(model, "best_epoch_", None)
    if isinstance(best, (int, np.integer)) and 0 <= best < len(ckpts):
        ckpts = ckpts[: best + 1]
    if not ckpts:
        return [{k: v.detach().clone() for k, v in model.model_.state_dict().items()}]
    return ckpts[-n:]


def _fit_member(estimator, X, y, X_target, y_target, idx, seed, fit_kwargs, trak_params, checkpoints_per_model,
                threads, lambda_scales=None):
    """Train one member on ``idx`` and return its TRAK factors (runs in a worker process)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    est = clone(estimator)
    if "random_state" in est.get_params():
        est.set_params(random_state=int(seed))
    else:
        torch.manual_seed(int(seed))
    est.fit(_take(X, idx), np.asarray(y)[idx], **(fit_kwargs or {}))
    t_fit = time.perf_counter() - t0
    encode = getattr(est, "encode_labels", lambda v: np.asarray(v))
    trak = TRAK(est.model_, _select_checkpoints(est, checkpoints_per_model), **trak_params)
    terms = trak.terms(est.attribution_inputs(X), encode(y), est.attribution_inputs(X_target), encode(y_target),
                       lambda_scales=lambda_scales)
    return terms, {"seed": int(seed), "n_train": int(len(idx)), "fit_seconds": t_fit,
                   "trak_seconds": time.perf_counter() - t0 - t_fit}


class TRAKEnsemble:
    """TRAK averaged over independently trained models on random training subsets.

    Parameters
    ----------
    estimator : estimator
        A picklable PyTorch estimator exposing ``model_``,
        ``attribution_inputs(X)`` and optionally ``checkpoints_``,
        ``best_epoch_`` and ``encode_labels(y)`` (every :mod:`unskew.train`
        estimator does). It is cloned for each member and given
        ``random_state = random_state + 1 + m``.
    n_models : int, default=10
        Number of members (see ``docs/d3m.md`` for the curve of agreement
        with leave-one-out against ``n_models``).
    subset_fraction : float, default=0.5
        Share of the training set each member sees (stratified by label).
    checkpoints_per_model : int, default=1
        The last checkpoints of each member, up to its selected epoch, that
        enter the average (1: the selected model only).
    proj_dim, lambda_scale, batch_size, device :
        As in :class:`TRAK`; the projection seed is ``random_state``.
    n_jobs : int or None, default=None
        Worker processes (``1``: in this process). ``None`` uses half the CPU
        cores, at most ``n_models``, and stays in this process on machines
        with 2 cores or fewer, where starting workers (each imports torch)
        cost more than they saved (measured in ``docs/d3m.md``). Each worker
        uses ``os.cpu_count() // n_jobs`` torch threads.
    random_state : int, default=0

    Attributes
    ----------
    members_ : list of dict
        Per member: seed, training rows, seconds to fit and to featurise.
    subsets_ : list of ndarray
        The training rows each member saw.
    terms_ : list or None
        With ``attribute(..., keep_terms=True)``: every member's TRAK factors
        (``combine_terms(terms_[:m])`` is the ensemble of the first ``m``).

    Examples
    --------
    >>> from unskew.train import ERMClassifier                   # doctest: +SKIP
    >>> ens = TRAKEnsemble(ERMClassifier(max_epochs=5), n_models=5)  # doctest: +SKIP
    >>> S = ens.attribute(X, y, X_val, y_val)                     # doctest: +SKIP
    """

    def __init__(self, estimator, *, n_models: int = 10, subset_fraction: float = 0.5,
                 checkpoints_per_model: int = 1, proj_dim: int = 512, lambda_scale: float = 0.0,
                 batch_size: int = 512, device: str = "auto", n_jobs: int | None = None, random_state: int = 0):
        self.estimator = estimator
        self.n_models = n_models
        self.subset_fraction = subset_fraction
        self.checkpoints_per_model = checkpoints_per_model
        self.proj_dim = proj_dim
        self.lambda_scale = lambda_scale
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _validate(self, n):
        if not isinstance(self.n_models, (int, np.integer)) or self.n_models < 1:
            raise UnskewInputError(f"n_models must be a positive integer; got {self.n_models!r}.")
        if not 0 < self.subset_fraction <= 1:
            raise UnskewInputError(f"subset_fraction must be in (0, 1]; got {self.subset_fraction!r}.")
        if not isinstance(self.checkpoints_per_model, (int, np.integer)) or self.checkpoints_per_model < 1:
            raise UnskewInputError(f"checkpoints_per_model must be a positive integer; got "
                                   f"{self.checkpoints_per_model!r}.")
        if self.subset_fraction * n < 2:
            raise UnskewInputError(f"subset_fraction={self.subset_fraction} of {n} training rows leaves fewer "
                                   f"than 2 rows per member.")

    def _workers(self) -> tuple[int, int]:
        cores = os.cpu_count() or 1
        jobs = (1 if cores <= 2 else cores // 2) if self.n_jobs is None else int(self.n_jobs)
        if jobs < 1:
            raise UnskewInputError(f"n_jobs must be a positive integer or None; got {self.n_jobs!r}.")
        jobs = min(jobs, int(self.n_models))
        return jobs, max(1, cores // jobs)

    def attribute(self, X_train, y_train, X_target, y_target, *, fit_kwargs: dict | None = None,
                  keep_terms: bool = False, lambda_scales=None):
        """Train the members and return the averaged TRAK matrix (n_train, n_target).

        With ``lambda_scales`` (a sequence of relative ridges), return one matrix
        per ridge, from the same members and gradients.

        ``fit_kwargs`` go to every member's ``fit`` (for example
        ``X_val=..., y_val=..., groups_val=...`` for epoch selection).
        """
        y_train = np.asarray(y_train)
        self._validate(len(y_train))
        self.subsets_ = member_subsets(y_train, int(self.n_models), self.subset_fraction, self.random_state)
        trak_params = {"proj_dim": self.proj_dim, "lambda_scale": self.lambda_scale,
                       "batch_size": self.batch_size, "seed": self.random_state, "device": self.device}
        seeds = [self.random_state + 1 + m for m in range(int(self.n_models))]
        jobs, threads = self._workers()
        args = [(self.estimator, X_train, y_train, X_target, y_target, idx, seed, fit_kwargs, trak_params,
                 int(self.checkpoints_per_model), threads if jobs > 1 else 0, lambda_scales)
                for idx, seed in zip(self.subsets_, seeds, strict=True)]
        if jobs == 1:
            results = [_fit_member(*a) for a in args]
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=jobs, backend="loky")(delayed(_fit_member)(*a) for a in args)
        terms = [t for member_terms, _ in results for t in member_terms]
        self.members_ = [info for _, info in results]
        self.terms_ = [member_terms for member_terms, _ in results] if keep_terms else None
        if lambda_scales is not None:
            return [combine_terms(terms, index=i) for i in range(len(list(lambda_scales)))]
        return combine_terms(terms)
