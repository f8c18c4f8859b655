"""D3M: Data Debiasing with Datamodels (Jain et al. 2024, arXiv 2406.16846).

D3M removes the training examples that most hurt the validation groups on
which the model does worst, instead of re-balancing whole groups:

1. Train the model; compute the attribution matrix ``S`` (train x validation)
   with :mod:`unskew.attribution` (exact influence for the logistic default,
   TRAK for PyTorch estimators).
2. Group alignment score of training example ``i``: the loss-weighted average
   over validation groups ``g`` of its mean attribution to ``g``'s examples,
   ``T_i = sum_g L_g * mean_{j in g} S[i, j] / sum_g L_g`` where ``L_g`` is the
   model's mean validation loss on ``g``. (The reference code takes the plain
   mean over groups of ``L_g * mean S``; dividing by ``sum_g L_g`` instead only
   rescales every score by the same positive constant, so signs and ranking,
   hence the removed set, are identical.)
3. Remove the ``k`` lowest-scoring examples and retrain on the rest. By
   default (``removal="auto"``) ``k`` is chosen from a grid up to a cap (20% of
   the training set) by validation worst-group accuracy, and the removal is
   applied only when that accuracy is strictly above the base model's;
   otherwise nothing is removed. The paper's rule (remove every negative
   score) is ``removal="negative"``.

Auto-D3M needs no group labels: within each class, validation examples are
split by the sign of their projection onto the first principal component of
the row-normalised attribution matrix (transposed: one row per validation
example), and those pseudo-groups replace the real ones.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from ...attribution import TRAK, LogisticInfluence, TRAKEnsemble, combine_terms, fit_logistic
from ...exceptions import UnskewInputError
from ...metrics import worst_group

#: Removal rules of :class:`D3M` (the first is the default).
REMOVAL_RULES = ("auto", "negative", "k", "sweep")
#: How ``auto`` and ``sweep`` choose and check the removal (the first is the default).
SELECTION_RULES = ("checked", "crossfit", "in_sample")
#: Relative TRAK ridges Auto-D3M chooses from on validation data (PyTorch estimators, trak_lambda=None).
AUTO_TRAK_LAMBDA_GRID = (0.0, 1.0, 10.0)
#: Default cap on the share removed by ``removal="auto"``.
AUTO_MAX_FRACTION = 0.2
#: Validation groups with fewer rows than this are left out of D3M's worst-group objective (``min_group_size``).
MIN_GROUP_SIZE = 20
#: Default grid of shares tried by ``auto`` and ``sweep`` (capped for ``auto``).
DEFAULT_GRID = (0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)


class LowRank:
    """An attribution matrix kept as factors, ``S = L @ R.T`` (never formed)."""

    def __init__(self, L: np.ndarray, R: np.ndarray):
        self.L, self.R = L, R
        self.shape = (L.shape[0], R.shape[0])

    def column_means(self, mask) -> np.ndarray:
        """Mean of the columns selected by ``mask``: ``S[:, mask].mean(axis=1)``."""
        return self.L @ self.R[mask].mean(axis=0)

    def dense(self) -> np.ndarray:
        return self.L @ self.R.T


def _column_means(S, mask):
    return S.column_means(mask) if isinstance(S, LowRank) else S[:, mask].mean(axis=1)


def group_alignment_scores(S, val_groups, group_losses, columns=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group alignment scores from an attribution matrix.

    Parameters
    ----------
    S : ndarray of shape (n_train, n_val) or LowRank
    val_groups : array of shape (n_val,)
        Integer group id of each validation example.
    group_losses : ndarray of shape (n_groups,)
        Mean validation loss per group (index = group id).
    columns : boolean array of shape (n_val,), optional
        Use only these validation examples (a cross-fitting fold); groups
        with no example among them are left out.

    Returns
    -------
    scores : ndarray (n_train,)
    per_group : ndarray (n_train, n_groups)
        Mean attribution of each training example to each group.
    group_ids : ndarray (n_groups,)
    """
    val_groups = np.asarray(val_groups)
    use = np.ones(len(val_groups), dtype=bool) if columns is None else np.asarray(columns, dtype=bool)
    ids = np.unique(val_groups[use])
    per_group = np.stack([_column_means(S, (val_groups == g) & use) for g in ids], axis=1)
    losses = np.asarray([group_losses[int(g)] for g in ids], dtype=float)
    if losses.sum() <= 0:
        losses = np.ones_like(losses)
    scores = per_group @ losses / losses.sum()
    return scores, per_group, ids


def auto_pseudo_groups(S, y_val, depth: int = 1, min_size: int = 1) -> np.ndarray:
    """Auto-D3M pseudo-groups: per class, the sign of the first principal component.

    Rows of ``S.T`` (one per validation example) are normalised to unit norm;
    within each class the first principal direction is found and examples are
    split by the sign of their projection onto it, as in the reference
    implementation. With ``depth=d > 1`` each part is split again the same way,
    by its own first principal direction, ``d`` times in all (up to ``2**d``
    pseudo-groups per class; a deviation from the paper). A split that would
    leave either side with fewer than ``min_size`` rows is not made: the part
    stays whole (``min_size=1``, the default, always splits, as the paper
    does; D3M passes its ``min_group_size``, so that no pseudo-group is too
    small to measure). Group id = ``2**depth * class_index + code``, where
    ``code`` reads the signs as bits (depth 1: ``2 * class_index +
    (projection > 0)``); a part left whole keeps the code of its lower half.

    Example
    -------
    >>> S = np.array([[1.0, 0.9, -1.0, -0.8], [0.1, 0.0, 0.2, 0.1]])
    >>> auto_pseudo_groups(S, [0, 0, 0, 0]).tolist()
    [1, 1, 0, 0]
    >>> auto_pseudo_groups(S, [0, 0, 0, 0], min_size=3).tolist()  # a 2 / 2 split is not made
    [0, 0, 0, 0]
    """
    y_val = np.asarray(y_val)
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise UnskewInputError(f"min_size must be a positive integer (1 always splits, as the paper does); "
                               f"got {min_size!r}.")
    if isinstance(S, LowRank):
        # Rows of S.T are R @ L.T. With G = L.T L = C C.T (Cholesky), the rows
        # z_j = C.T r_j have the same norms and inner products, so PCA of the
        # normalised rows in d dimensions gives exactly the same projections.
        G = S.L.T @ S.L
        C = np.linalg.cholesky(G + 1e-12 * np.trace(G) / len(G) * np.eye(len(G)))
        Z = S.R @ C
    else:
        Z = S.T
    A = Z / (np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12)
    code = np.zeros(len(y_val), dtype=int)
    for _ in range(depth):
        parts = [np.flatnonzero((y_val == c) & (code == k)) for c in np.unique(y_val) for k in np.unique(code)]
        code = 2 * code
        for idx in parts:
            if len(idx) < 2 * min_size:  # no split of it could leave both sides min_size rows
                continue
            rows = A[idx]
            proj = rows @ _first_principal_direction(rows - rows.mean(axis=0))
            if proj[np.argmax(np.abs(proj))] < 0:  # a sign convention that does not depend on the basis
                proj = -proj
            upper = proj > 0
            n_upper = int(upper.sum())
            if min(n_upper, len(idx) - n_upper) >= min_size:
                code[idx] += upper.astype(int)
    class_index = np.searchsorted(np.unique(y_val), y_val)
    return (2 ** depth) * class_index + code


def _first_principal_direction(centred: np.ndarray) -> np.ndarray:
    """Leading right singular vector; Lanczos (ARPACK) once the matrix is large.

    A full SVD of a 3,000 x 26,000 block costs minutes on one core; the one
    vector PCA needs costs a few dozen matrix-vector products.
    """
    if min(centred.shape) <= 256:
        return np.linalg.svd(centred, full_matrices=False)[2][0]
    from scipy.sparse.linalg import svds

    v0 = np.full(min(centred.shape), 1.0 / np.sqrt(min(centred.shape)))
    _, _, vt = svds(centred, k=1, v0=v0, solver="arpack")
    return vt[0]


def _take(X, mask):
    """Rows of an array or DataFrame selected by a boolean mask."""
    return X.iloc[np.flatnonzero(mask)] if hasattr(X, "iloc") else X[mask]


def _fold_val(val, fold):
    """The ``(X_val, y_val, groups_val)`` rows of one held-out half (what its models select their epoch on)."""
    return tuple(None if v is None else _take(v if hasattr(v, "iloc") else np.asarray(v), fold) for v in val)


def _worst_group_accuracy(y, pred, groups) -> float:
    # the one worst-group accuracy (unskew.metrics.worst_group); issue 12
    if len(y) == 0:
        return float("nan")
    return float(worst_group(y, pred, groups)[1])


class D3M(BaseEstimator, ClassifierMixin):
    """Debias a training set by removing the examples that drive worst-group failures.

    Parameters
    ----------
    estimator : estimator or None, default=None
        ``None`` uses L2-regularised logistic regression with exact influence
        attributions (fast, the default). A PyTorch estimator from
        :mod:`unskew.train` (exposing ``model_``, ``checkpoints_`` and
        ``attribution_inputs(X)``) uses TRAK.
    C : float, default=1.0
        Inverse L2 strength of the default logistic model.
    removal : {"auto", "negative", "k", "sweep"}, default="auto"
        ``auto`` tries each ``k`` in ``k_grid`` up to ``max_fraction`` (20%
        unless set), keeps the one with the best validation worst-group
        accuracy, and applies it only if that accuracy is strictly above the
        base model's (else removes nothing: ``removal_applied_`` is False), so
        the default cannot lower validation worst-group accuracy.
        ``negative`` removes every example with a negative score (the paper's
        rule; on linear models it can remove most of the data); ``k`` removes
        the ``k`` lowest; ``sweep`` is ``auto`` without the cap or the
        no-gain guard.
    k : int, optional
        Number to remove when ``removal="k"``.
    k_grid : sequence of float or int, optional
        Candidates for ``sweep``: fractions of the training set (< 1) or
        counts. Default: 0 to 30% of the training set, finer near 0.
    max_fraction : float, optional
        Removal budget: never remove more than this share of the training
        set (caps every rule, and limits the sweep's grid). ``None`` means
        0.2 for ``auto`` and no cap otherwise.
    selection : {"checked", "crossfit", "in_sample"}, default="checked"
        How ``auto`` and ``sweep`` choose ``k`` and check it. The scores are
        computed from the validation rows themselves, so a removal's accuracy
        on those rows is optimistic. The *held-out estimate* of a ``k``
        splits the validation rows into two halves (stratified by group):
        the scores from one half choose the removal, the model retrained
        without it is judged on the other half, and the two directions are
        averaged. ``checked`` chooses ``k`` on all validation rows (less
        noisy), then computes the held-out estimate of that ``k`` and of
        removing nothing; ``auto`` applies the removal only if both measures
        gain (4 extra retrainings, 2 for the logistic default).
        ``crossfit`` chooses ``k`` on the held-out estimate itself (two
        retrainings per candidate; noisier with small validation groups, see
        ``docs/d3m.md``) and, for ``auto``, also requires the final model
        to beat the base model on all validation rows. ``in_sample`` uses all
        validation rows only. ``checked`` and ``crossfit`` fall back to
        ``in_sample`` (``selection_``) when a validation group has fewer
        than 2 rows.
    min_group_size : int, default=20
        Validation groups (``groups_val``) with fewer rows are left out of
        everything D3M measures on validation data: scores, the choice of
        ``k``, the checks and the retrained models' epoch selection
        (``groups_excluded_`` lists them with their counts). A worst-group
        accuracy over a handful of rows moves by a whole row's share and
        chases noise; with 3 rows its held-out halves are 1 row each and
        score 0 for every candidate, which tells nothing. ``1`` keeps every
        group. Auto-D3M has no group labels; there no class (or, with
        ``pseudo_depth > 1``, no part) is split if a side would get fewer
        than ``min_group_size`` rows: it stays one pseudo-group (the paper
        always splits; ``1`` does too).
    pseudo_depth : int, default=1
        Auto-D3M: how many times each class's validation examples are split
        by the sign of their first principal component (see
        :func:`auto_pseudo_groups`). ``1`` gives two pseudo-groups per class,
        as the paper does; ``2`` splits each half again by its own component
        (up to four per class), a deviation that isolates a weak subgroup
        inside a weak half: on CelebA attributes the weak blond half is 155
        women and 35 of the 52 blond men, and depth 2 lifts test worst-group
        accuracy from 34.7 to 42.0 (``docs/d3m.md``). Ignored with
        ``groups_val``.
    proj_dim : int, default=512
        TRAK projection dimension (PyTorch estimators only).
    n_checkpoints : int or None, default=5
        With ``n_models=None``: TRAK averages over this many checkpoints of the
        base model's training run, evenly spaced up to and including the
        selected epoch (``None``: all of them).
    trak_lambda : float or None, default=None
        Ridge added to TRAK's kernel, relative to its mean eigenvalue (see
        ``TRAK(lambda_scale=...)``); ``0`` is TRAK as published. ``None``
        uses 0 for D3M; for Auto-D3M it is chosen on validation data from
        ``AUTO_TRAK_LAMBDA_GRID`` (0, 1, 10): the gradients are computed once,
        each ridge gives its own pseudo-groups, removal and retrained model,
        and each retrained model is scored by its worst validation accuracy
        over the pseudo-groups of *every* candidate ridge (so near-random
        pseudo-groups, which are easy to satisfy, cannot win on their own;
        ties: higher accuracy, then the smaller ridge). The winner is kept
        (``ridge_selection_``). The fixed value 10 it replaces was tuned on
        seed 0 of the benchmark suite.
    cache_dir : str, optional
        Where TRAK caches score matrices (single-run checkpoints, ``n_models=None``, only).
    n_models : int or None, default=5
        PyTorch estimators: average TRAK over this many independently trained
        models (seeds ``random_state + 1..n``, each on a random half of the
        training set, as in the TRAK and D3M papers) instead of checkpoints of
        the base run; see :class:`unskew.attribution.TRAKEnsemble`. The default
        comes from the leave-one-out curve in ``docs/d3m.md``: 5 models reach
        92% of the correlation of 20 at a quarter of the cost, and even one
        independent model beat 10 checkpoints of one run. ``None`` uses
        ``n_checkpoints`` checkpoints of the base model's run instead (one
        training instead of ``n_models + 1``). Ignored by the logistic default
        (exact influence).
    subset_fraction : float, default=0.5
        Share of the training set each ensemble member sees.
    n_jobs : int or None, default=None
        Processes that train ensemble members (``None``: half the cores; in-process on 2 cores or fewer).
    rounds : int, default=1
        ``1`` scores every training example once, as the paper does. With
        ``rounds=r > 1`` the removal budget (the largest ``k`` the rule may
        choose: the grid's within the cap for ``auto`` and ``sweep``, ``k``
        for ``removal="k"``) is taken in ``r`` equal chunks: after each, the
        model is retrained on what is left, attributed again, and the next
        chunk is the lowest-scoring of the remaining examples. ``k`` is then
        chosen along that removal order as usual (and the held-out halves
        build their own orders the same way). A deviation from the paper:
        the examples that hurt the weak groups change once the worst of
        them are gone, and one attribution of the full set does not see it.
        Costs ``r - 1`` extra trainings and attributions (three times that
        with the held-out check). Not with ``removal="negative"``, which has
        no budget to split. Measured in ``docs/d3m.md``.
    random_state : int or None, default=None
        Seeds the ensemble members and their subsets (``None``: the
        estimator's own ``random_state``, else 0).

    Notes
    -----
    A PyTorch estimator receives the validation data on every fit, so it
    selects its epoch as it would alone: by validation worst-group accuracy
    over ``groups_val`` for D3M; for Auto-D3M the base model by validation
    accuracy and the retrained models by worst pseudo-group accuracy.

    Attributes
    ----------
    attributions_ : ndarray (n_train, n_val) or LowRank
        For the logistic default, the rank-``d`` factors ``L @ R.T`` (use
        ``.dense()`` for the matrix); memory stays ``O((n_train + n_val) d)``.
    scores_ : ndarray (n_train,)
        Group alignment scores; negative = hurts the weak groups.
    group_attribution_ : DataFrame (n_train, n_groups)
        Mean attribution of each training example to each validation group.
    val_groups_ : ndarray
        Validation groups used (pseudo-groups for Auto-D3M).
    group_losses_ : dict
        Mean validation loss of the base model per group.
    group_sizes_ : dict
        Validation rows per group used (pseudo-groups for Auto-D3M), under
        the same names as ``group_losses_``.
    removed_ : ndarray of int
        Indices of removed training examples, most harmful first (in the
        order they were chosen, round by round, with ``rounds > 1``).
    removal_scores_, removal_round_ : ndarray
        For each removed example, its score in the round that chose it and
        that round (1-based); with ``rounds=1`` the scores are ``scores_``.
    rounds_ : DataFrame or None
        With ``rounds > 1``: per round, the training rows it scored, how many
        it removed and the seconds its retraining and attribution took.
    keep_ : ndarray of bool
    base_estimator_, estimator_ :
        The model before and after removal.
    sweep_ : DataFrame or None
        ``k`` against validation worst-group and average accuracy: columns
        ``held_out_worst_group_accuracy`` and ``held_out_accuracy`` (the
        held-out estimates) with ``selection_="crossfit"``,
        ``val_worst_group_accuracy`` and ``val_accuracy`` (all validation
        rows) otherwise.
    selection_ : str or None
        How ``k`` was chosen (``None`` for the ``negative`` and ``k`` rules).
    held_out_worst_group_accuracy_base_, held_out_worst_group_accuracy_ : float or None
        Held-out estimate of validation worst-group accuracy for removing
        nothing and for the removal returned (``None`` with
        ``selection_="in_sample"``). Unlike ``val_worst_group_accuracy_``,
        these are not measured on the rows that chose the removal.
    candidate_k_ : int or None
        The ``k`` the sweep chose before the no-gain checks (``None`` for
        the ``negative`` and ``k`` rules).
    held_out_worst_group_accuracy_candidate_ : float or None
        With ``checked``: the held-out estimate of ``candidate_k_``, whether
        or not it was applied.
    removal_applied_ : bool
        False when ``auto`` found no ``k`` whose validation worst-group
        accuracy beats the base model's, so nothing was removed.
    removal_at_limit_ : bool
        True when the removal applied by ``auto`` or ``sweep`` is the largest
        candidate tried (the cap, ``max_fraction``, or the end of ``k_grid``):
        the best choice lies at the edge of what was allowed, so a larger
        budget might gain more (a hint: on CelebA attributes Auto-D3M is at the
        20% cap on 4 of 5 seeds, yet offered 40% it keeps the same removal,
        while D3M gains 15 points; ``docs/benchmarks.md``).
    val_worst_group_accuracy_base_, val_worst_group_accuracy_ : float
        Validation worst-group accuracy (over ``val_groups_``) of the base
        model and of the returned model.
    groups_excluded_ : dict
        Validation groups left out for having fewer than ``min_group_size``
        rows, with their row counts (empty when none was, and for Auto-D3M).
    auto_ : bool
        Whether pseudo-groups were used.
    trak_lambda_ : float
        The relative TRAK ridge used (PyTorch estimators).
    ridge_selection_ : DataFrame or None
        Auto-D3M with a chosen ridge: per candidate, removed count and
        validation worst pseudo-group and average accuracy.
    ensemble_members_ : list of dict
        With ``n_models``: each member's seed, rows and seconds (fit, TRAK).
    """

    def __init__(self, estimator=None, *, C: float = 1.0, removal: str = "auto", k: int | None = None,
                 k_grid=None, max_fraction: float | None = None, selection: str = "checked", proj_dim: int = 512,
                 n_checkpoints: int | None = 5, trak_lambda: float | None = None, cache_dir=None,
                 n_models: int | None = 5, subset_fraction: float = 0.5, n_jobs: int | None = None,
                 rounds: int = 1, min_group_size: int = MIN_GROUP_SIZE, pseudo_depth: int = 1,
                 random_state: int | None = None):
        self.estimator = estimator
        self.C = C
        self.removal = removal
        self.k = k
        self.k_grid = k_grid
        self.max_fraction = max_fraction
        self.selection = selection
        self.proj_dim = proj_dim
        self.n_checkpoints = n_checkpoints
        self.trak_lambda = trak_lambda
        self.cache_dir = cache_dir
        self.n_models = n_models
        self.subset_fraction = subset_fraction
        self.n_jobs = n_jobs
        self.rounds = rounds
        self.min_group_size = min_group_size
        self.pseudo_depth = pseudo_depth
        self.random_state = random_state

    # ------------------------------------------------------------- model glue
    def _fit_model(self, X, y, sample_weight=None, val=None):
        if self.estimator is None:
            return _LogisticModel(C=self.C).fit(X, y, sample_weight=sample_weight)
        est = clone(self.estimator)
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        if val is not None and "X_val" in inspect.signature(est.fit).parameters:
            X_val, y_val, g_val = val
            kwargs.update(X_val=X_val, y_val=y_val, groups_val=g_val)
        return est.fit(X, y, **kwargs)

    def _checkpoints(self, model) -> list:
        ckpts = list(model.checkpoints_)
        best = getattr(model, "best_epoch_", None)
        if isinstance(best, (int, np.integer)) and 0 <= best < len(ckpts):
            ckpts = ckpts[: best + 1]
        n = self.n_checkpoints
        if n is None or n >= len(ckpts):
            return ckpts
        idx = np.unique(np.round(np.linspace(len(ckpts) - 1, 0, n)).astype(int))
        return [ckpts[i] for i in idx]

    def _attribute(self, model, X, y, X_val, y_val, val=None, lambdas=None):
        """The attribution matrix (a list of them, one per relative ridge, when ``lambdas`` is given)."""
        if isinstance(model, _LogisticModel):
            pos = model.classes_[1]
            infl = LogisticInfluence(l2=1.0 / self.C).fit(X, (y == pos).astype(int), model.sample_weight_, theta=model.theta_)
            return LowRank(*infl.factors(X_val, (y_val == pos).astype(int)))
        for attr in ("model_", "checkpoints_", "attribution_inputs"):
            if not hasattr(model, attr):
                raise UnskewInputError(
                    f"D3M needs attributions: the estimator {type(model).__name__} has no '{attr}'. "
                    f"Use estimator=None (logistic, exact influence) or an unskew.train estimator."
                )
        if not model.checkpoints_:
            raise UnskewInputError("The estimator kept no checkpoints; fit it with keep_checkpoints=True.")
        if self.n_models is not None:
            est = clone(self.estimator)
            kwargs = {}
            if val is not None and "X_val" in inspect.signature(est.fit).parameters:
                kwargs = dict(zip(("X_val", "y_val", "groups_val"), val, strict=True))
            ens = TRAKEnsemble(est, n_models=int(self.n_models), subset_fraction=self.subset_fraction,
                               proj_dim=self.proj_dim, lambda_scale=self.trak_lambda_, n_jobs=self.n_jobs,
                               random_state=self._seed(est))
            S = ens.attribute(X, y, X_val, y_val, fit_kwargs=kwargs, lambda_scales=lambdas)
            self.ensemble_members_ = ens.members_
            return S
        encode = getattr(model, "encode_labels", lambda v: np.asarray(v))
        trak = TRAK(model.model_, self._checkpoints(model), proj_dim=self.proj_dim,
                    lambda_scale=self.trak_lambda_, cache_dir=self.cache_dir)
        args = (model.attribution_inputs(X), encode(y), model.attribution_inputs(X_val), encode(y_val))
        if lambdas is not None:
            terms = trak.terms(*args, lambda_scales=lambdas)
            return [combine_terms(terms, index=i) for i in range(len(lambdas))]
        return trak.attribute(*args)

    # ------------------------------------------------------------- fitting
    def fit(self, X, y, *, X_val, y_val, groups_val=None, sample_weight=None):
        """Compute attributions and scores, remove harmful examples, retrain.

        Parameters
        ----------
        X, y : training data (numeric features; labels 0/1 for the logistic default).
        X_val, y_val : validation data, labelled.
        groups_val : array-like, optional
            Validation group labels. Omit for Auto-D3M (no group labels at all).
        sample_weight : array-like, optional
        """
        if self.estimator is None:  # the estimator does its own preprocessing otherwise
            X = np.asarray(X, dtype=float)
            X_val = np.asarray(X_val, dtype=float)
        y = np.asarray(y)
        y_val = np.asarray(y_val)
        if len(X) != len(y) or len(X_val) != len(y_val):
            raise UnskewInputError("X and y (and X_val and y_val) must have the same number of rows.")
        if self.removal not in REMOVAL_RULES:
            raise UnskewInputError(f"removal must be one of {', '.join(REMOVAL_RULES)}, not {self.removal!r}.")
        if self.selection not in SELECTION_RULES:
            raise UnskewInputError(f"selection must be one of {', '.join(SELECTION_RULES)}, not {self.selection!r}.")
        if self.max_fraction is not None and not 0 < self.max_fraction < 1:
            raise UnskewInputError(f"max_fraction must be between 0 and 1 (a share of the training rows); "
                                   f"got {self.max_fraction!r}.")
        if self.removal == "k" and (self.k is None or not 0 <= self.k < len(y)):
            raise UnskewInputError(f"removal='k' needs 0 <= k < {len(y)}; got k={self.k}.")
        self.classes_ = np.unique(y)
        self.auto_ = groups_val is None
        if self.n_checkpoints is not None and not self.n_checkpoints >= 1:
            raise UnskewInputError(f"n_checkpoints must be at least 1 (or None for all); got {self.n_checkpoints!r}.")
        if self.n_models is not None and not (isinstance(self.n_models, (int, np.integer)) and self.n_models >= 1):
            raise UnskewInputError(f"n_models must be a positive integer (or None for checkpoints of one run); "
                                   f"got {self.n_models!r}.")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, (int, np.integer)) or self.rounds < 1:
            raise UnskewInputError(f"rounds must be a positive integer (1: score once, as the paper does); "
                                   f"got {self.rounds!r}.")
        if self.rounds > 1 and self.removal == "negative":
            raise UnskewInputError("rounds > 1 splits a removal budget into chunks; removal='negative' has no "
                                   "budget. Use removal='auto', 'sweep' or 'k' with rounds.")
        if isinstance(self.pseudo_depth, bool) or not isinstance(self.pseudo_depth, (int, np.integer)) \
                or not 1 <= self.pseudo_depth <= 4:
            raise UnskewInputError(f"pseudo_depth must be a whole number from 1 to 4 (1: two pseudo-groups per "
                                   f"class, as the paper); got {self.pseudo_depth!r}.")
        if self.trak_lambda is not None and not self.trak_lambda >= 0:
            raise UnskewInputError(f"trak_lambda must be a non-negative number or None; got {self.trak_lambda!r}.")
        self.trak_lambda_ = 0.0 if self.trak_lambda is None else float(self.trak_lambda)
        X_val, y_val, groups_val = self._eligible_val(X_val, y_val, groups_val)
        self.base_estimator_ = self._fit_model(X, y, sample_weight, val=(X_val, y_val, groups_val))
        # Auto-D3M with a PyTorch model and no ridge given: the relative TRAK ridge is chosen on
        # validation data, by the criterion that chooses k (worst pseudo-group accuracy after removal)
        select = self.auto_ and self.trak_lambda is None and self.estimator is not None
        lambdas = list(AUTO_TRAK_LAMBDA_GRID) if select else [self.trak_lambda_]
        Ss = self._attribute(self.base_estimator_, X, y, X_val, y_val, val=(X_val, y_val, groups_val),
                             lambdas=lambdas if select else None)
        Ss = Ss if select else [Ss]
        states = []
        for lam, S in zip(lambdas, Ss, strict=True):
            self.trak_lambda_ = float(lam)  # later rounds attribute with this candidate's ridge
            states.append(self._remove(S, X, y, X_val, y_val, groups_val, sample_weight))
        # Each ridge gives its own pseudo-groups. Near-random partitions are easy to satisfy, so a
        # candidate is judged on every candidate's partition: its worst pseudo-group accuracy over
        # all of them (ties: validation accuracy, then the smaller ridge, earlier in the grid).
        partitions = [st["val_groups_"] for st in states]
        best, rows = None, []
        for lam, state in zip(lambdas, states, strict=True):
            pred = state["estimator_"].predict(X_val)
            robust = min(_worst_group_accuracy(y_val, pred, gv) for gv in partitions)
            rank = (robust, float(np.mean(pred == y_val)))
            rows.append({"trak_lambda": lam, "n_removed": len(state["removed_"]),
                         "val_worst_group_accuracy": state["val_worst_group_accuracy_"],
                         "val_worst_group_accuracy_all_partitions": robust, "val_accuracy": rank[1]})
            if best is None or rank > best[0]:
                best = (rank, lam, state)
        self.ridge_selection_ = pd.DataFrame(rows) if select else None
        self.trak_lambda_ = float(best[1])
        for name, value in best[2].items():
            setattr(self, name, value)
        return self

    def _eligible_val(self, X_val, y_val, groups_val):
        """The validation rows of groups with at least ``min_group_size`` rows (sets ``groups_excluded_``)."""
        self.groups_excluded_ = {}
        if isinstance(self.min_group_size, bool) or not isinstance(self.min_group_size, (int, np.integer)) \
                or self.min_group_size < 1:
            raise UnskewInputError(f"min_group_size must be a positive integer (1 keeps every validation group); "
                                   f"got {self.min_group_size!r}.")
        if groups_val is None:
            return X_val, y_val, groups_val
        labels = pd.Series(np.asarray(groups_val)).astype(str)
        if len(labels) != len(y_val):
            raise UnskewInputError(f"groups_val has {len(labels)} rows; X_val and y_val have {len(y_val)}.")
        counts = labels.value_counts()
        small = counts[counts < self.min_group_size].sort_index()
        if len(small) == len(counts):
            raise UnskewInputError(
                f"Every validation group has fewer than min_group_size={self.min_group_size} rows (the largest has "
                f"{int(counts.max())}); lower min_group_size (--min-group-size) or give validation more rows "
                f"(--val-fraction).")
        self.groups_excluded_ = {str(g): int(n) for g, n in small.items()}
        if small.empty:
            return X_val, y_val, groups_val
        use = ~labels.isin(small.index).to_numpy()
        return _take(X_val, use), y_val[use], _take(np.asarray(groups_val), use)

    def _remove(self, S, X, y, X_val, y_val, groups_val, sample_weight) -> dict:
        """Scores from one attribution matrix, the removal rule, and the retrained model (as attributes)."""
        out = {"attributions_": S}
        if self.auto_:
            per = 2 ** self.pseudo_depth
            gv = auto_pseudo_groups(S, y_val, depth=self.pseudo_depth, min_size=self.min_group_size)
            names = {g: f"class={self.classes_[g // per]} / pseudo-group {g % per}" for g in np.unique(gv)}
        else:
            codes, uniques = pd.factorize(pd.Series(np.asarray(groups_val)).astype(str), sort=True)
            if (codes < 0).any():
                raise UnskewInputError("groups_val has missing values; give every validation row a group.")
            gv = codes
            names = dict(enumerate(uniques))
        out["val_groups_"] = gv
        losses = self._group_losses(self.base_estimator_, X_val, y_val, gv)
        out["group_losses_"] = {names[g]: v for g, v in losses.items()}
        out["group_sizes_"] = {names[g]: int(n) for g, n in zip(*np.unique(gv, return_counts=True), strict=True)}
        scores, per_group, ids = group_alignment_scores(S, gv, losses)
        out["scores_"] = scores
        out["group_attribution_"] = pd.DataFrame(per_group, columns=[names[g] for g in ids])
        sweep = None
        # the retrained torch models select their epoch on the (pseudo-)groups
        val = (X_val, y_val, gv if self.auto_ else groups_val)
        budget = self._budget(len(y))
        order, chosen_scores, chosen_round, rounds_log = self._removal_order(
            scores, X, y, X_val, y_val, gv, val, sample_weight, budget)
        out["rounds_"] = rounds_log
        # with real groups, removing nothing retrains the base model exactly; Auto-D3M's base
        # model was selected without pseudo-groups, so it is not a k=0 candidate there
        base = None if self.auto_ else self.base_estimator_
        model = None
        selection, held = None, None
        if self.removal == "negative":
            n_remove = int((scores < 0).sum())
        elif self.removal == "k":
            n_remove = int(self.k)
        else:  # auto or sweep; the grid already respects the cap
            folds = self._crossfit_folds(gv) if self.selection != "in_sample" else None
            selection = "in_sample" if folds is None else self.selection
            orders = None if folds is None else [
                self._removal_order(group_alignment_scores(S, gv, losses, columns=f)[0], X, y, X_val, y_val, gv,
                                    _fold_val(val, f), sample_weight, budget, columns=f)[0] for f in folds]
            if selection == "crossfit":
                n_remove, sweep = self._crossfit_sweep(X, y, X_val, y_val, gv, val, folds, orders, sample_weight,
                                                       self._grid(len(y)))
                held = dict(zip(sweep["k"], sweep["held_out_worst_group_accuracy"], strict=True))
            else:
                n_remove, model, sweep = self._sweep(X, y, X_val, y_val, gv, order, sample_weight, val, base)
                if selection == "checked":  # the held-out estimate of the chosen k and of removing nothing
                    _, check = self._crossfit_sweep(X, y, X_val, y_val, gv, val, folds, orders, sample_weight,
                                                    sorted({0, n_remove}))
                    held = dict(zip(check["k"], check["held_out_worst_group_accuracy"], strict=True))
        out["sweep_"], out["selection_"] = sweep, selection
        out["candidate_k_"] = None if sweep is None else int(n_remove)
        out["held_out_worst_group_accuracy_candidate_"] = (
            float(held[n_remove]) if selection == "checked" and n_remove in held else None)
        cap = self._cap()
        if cap is not None:
            n_remove = min(n_remove, int(round(cap * len(y))))
        base_wga = _worst_group_accuracy(y_val, self.base_estimator_.predict(X_val), gv)
        out["val_worst_group_accuracy_base_"] = base_wga
        applied = True
        if self.removal == "auto" and n_remove > 0:
            # no gain on all validation rows (unless crossfit chose k) or on the held-out halves: remove nothing
            gain = held is None or held[n_remove] > held[0]
            if selection != "crossfit":
                gain = gain and sweep.loc[sweep["k"] == n_remove, "val_worst_group_accuracy"].iloc[0] > base_wga
            if not gain:
                n_remove, model, applied = 0, self.base_estimator_, False
        elif self.removal == "auto":
            model, applied = self.base_estimator_, False
        removed = order[:n_remove]
        keep = np.ones(len(y), dtype=bool)
        keep[removed] = False
        out["removed_"], out["keep_"] = removed, keep
        out["removal_scores_"], out["removal_round_"] = chosen_scores[:n_remove], chosen_round[:n_remove]
        if len(np.unique(y[keep])) < len(self.classes_):
            raise UnskewInputError("D3M would remove every example of a class; use removal='k' with a smaller k.")
        if model is None and n_remove == 0:
            model = base
        if model is None:
            sw = None if sample_weight is None else np.asarray(sample_weight)[keep]
            model = self._fit_model(_take(X, keep), y[keep], sw, val=val)
        wga = _worst_group_accuracy(y_val, model.predict(X_val), gv)
        if self.removal == "auto" and applied and selection == "crossfit" and not wga > base_wga:
            # the held-out halves gained, but the removal from all validation rows does not: keep the base model
            model, wga, applied = self.base_estimator_, base_wga, False
            out["removed_"], out["keep_"] = order[:0], np.ones(len(y), dtype=bool)
            out["removal_scores_"], out["removal_round_"] = chosen_scores[:0], chosen_round[:0]
        out["removal_applied_"] = applied
        # the best candidate is the largest the grid (within the cap) allowed: more might do better
        out["removal_at_limit_"] = bool(applied and sweep is not None and len(out["removed_"]) > 0
                                        and len(out["removed_"]) == int(sweep["k"].max()))
        out["held_out_worst_group_accuracy_base_"] = None if held is None else float(held[0])
        out["held_out_worst_group_accuracy_"] = None if held is None else float(held[len(out["removed_"])])
        out["estimator_"] = model
        out["val_worst_group_accuracy_"] = wga
        return out

    def _group_losses(self, model, X_val, y_val, gv, columns=None) -> dict:
        """Mean validation cross-entropy of ``model`` per group (over the ``columns`` rows if given)."""
        use = np.ones(len(y_val), dtype=bool) if columns is None else np.asarray(columns, dtype=bool)
        proba = model.predict_proba(_take(X_val, use))
        col = np.searchsorted(self.classes_, y_val[use])
        nll = -np.log(np.clip(proba[np.arange(len(col)), col], 1e-12, 1))
        g = np.asarray(gv)[use]
        return {int(k): float(nll[g == k].mean()) for k in np.unique(g)}

    def _budget(self, n: int) -> int:
        """The most rows the removal rule may take (what ``rounds`` splits into chunks; ``negative`` has none)."""
        if self.removal == "k":
            cap = self._cap()
            return int(self.k) if cap is None else min(int(self.k), int(round(cap * n)))
        return max(self._grid(n))

    def _removal_order(self, scores, X, y, X_val, y_val, gv, val, sample_weight, budget, columns=None):
        """Training rows in the order they are removed, with each one's score and round when chosen.

        One round: the lowest scores first. With ``rounds > 1`` the first
        ``budget`` rows are chosen in equal chunks, the model retrained on
        what is left and attributed again before each chunk after the first
        (scores from the ``columns`` validation rows only, for a held-out
        half); the rows after the budget, never removed, follow in round-1
        order.
        """
        order = np.argsort(scores, kind="stable")
        if self.rounds == 1 or budget <= 0:
            return order, scores[order], np.ones(len(order), dtype=int), None
        members = getattr(self, "ensemble_members_", None)  # later rounds' ensembles do not replace it
        keep = np.ones(len(y), dtype=bool)
        picked, picked_scores, picked_round, log = [], [], [], []
        sizes = [len(c) for c in np.array_split(np.arange(budget), self.rounds)]
        for r, size in enumerate(sizes):
            if size == 0:
                continue
            rows = np.flatnonzero(keep)
            seconds = 0.0
            if r == 0:
                round_scores = scores
            else:
                t0 = time.perf_counter()
                sw = None if sample_weight is None else np.asarray(sample_weight)[keep]
                Xk = _take(X, keep)
                model = self._fit_model(Xk, y[keep], sw, val=val)
                S = self._attribute(model, Xk, y[keep], X_val, y_val, val=val)
                losses = self._group_losses(model, X_val, y_val, gv, columns)
                round_scores = group_alignment_scores(S, gv, losses, columns=columns)[0]
                seconds = time.perf_counter() - t0
            best = np.argsort(round_scores, kind="stable")[:size]
            keep[rows[best]] = False
            picked.append(rows[best])
            picked_scores.append(round_scores[best])
            picked_round.append(np.full(len(best), r + 1))
            log.append({"round": r + 1, "n_train": len(rows), "n_removed": len(best), "seconds": seconds})
        if members is not None:
            self.ensemble_members_ = members
        removed = np.concatenate(picked)
        rest = order[keep[order]]
        return (np.concatenate([removed, rest]), np.concatenate([*picked_scores, scores[rest]]),
                np.concatenate([*picked_round, np.zeros(len(rest), dtype=int)]),
                None if columns is not None else pd.DataFrame(log))

    def _seed(self, est) -> int:
        if self.random_state is not None:
            return int(self.random_state)
        seed = est.get_params().get("random_state") if hasattr(est, "get_params") else None
        return int(seed) if seed is not None else 0

    def _cap(self) -> float | None:
        if self.max_fraction is not None:
            return float(self.max_fraction)
        return AUTO_MAX_FRACTION if self.removal == "auto" else None

    def _grid(self, n: int) -> list[int]:
        """The candidate numbers of rows to remove (0 always included), within the cap."""
        grid = self.k_grid if self.k_grid is not None else DEFAULT_GRID
        ks = sorted({int(round(k * n)) if k < 1 else int(k) for k in grid} | {0})
        cap = self._cap()
        return ks if cap is None else [k for k in ks if k <= int(round(cap * n))]

    def _crossfit_folds(self, gv) -> list[np.ndarray] | None:
        """Two complementary halves of the validation rows, stratified by group (None if a group has < 2 rows)."""
        gv = np.asarray(gv)
        ids, counts = np.unique(gv, return_counts=True)
        if counts.min() < 2:
            return None
        rng = np.random.default_rng(self._seed(self.estimator))
        first = np.zeros(len(gv), dtype=bool)
        for g in ids:
            rows = rng.permutation(np.flatnonzero(gv == g))
            first[rows[: len(rows) // 2]] = True
        return [first, ~first]

    def _crossfit_sweep(self, X, y, X_val, y_val, gv, val, folds, orders, sample_weight, ks):
        """Held-out estimates: for each ``k`` and each half, remove by that half's scores, judge on the other.

        Returns the best ``k`` (held-out worst-group accuracy, then held-out
        accuracy, then the smaller ``k``) and the table.
        """
        # a torch model selects its epoch on the scoring half only
        fold_vals = [_fold_val(val, fold) for fold in folds]
        rows, best = [], None
        for k in ks:
            wgas, accs = [], []
            for fold, order, fold_val in zip(folds, orders, fold_vals, strict=True):
                keep = np.ones(len(y), dtype=bool)
                keep[order[:k]] = False
                if len(np.unique(y[keep])) < len(self.classes_):
                    break
                if k == 0 and self.estimator is None:  # the logistic refit is the base model exactly
                    m = self.base_estimator_
                else:
                    sw = None if sample_weight is None else np.asarray(sample_weight)[keep]
                    m = self._fit_model(_take(X, keep), y[keep], sw, val=fold_val)
                other = ~fold
                pred = m.predict(_take(X_val, other))
                wgas.append(_worst_group_accuracy(y_val[other], pred, gv[other]))
                accs.append(float(np.mean(pred == y_val[other])))
            else:
                row = {"k": k, "fraction_removed": k / len(y),
                       "held_out_worst_group_accuracy": float(np.mean(wgas)),
                       "held_out_accuracy": float(np.mean(accs))}
                rows.append(row)
                rank = (row["held_out_worst_group_accuracy"], row["held_out_accuracy"], -k)
                if best is None or rank > best[0]:
                    best = (rank, k)
        if best is None:
            raise UnskewInputError(f"Every k in the sweep grid {ks} would remove all examples of a class; "
                                   f"use a k_grid with smaller values.")
        return best[1], pd.DataFrame(rows)

    def _sweep(self, X, y, X_val, y_val, gv, order, sample_weight, val, base):
        """Retrain for each ``k`` in the grid; return the best ``k``, its model (kept, not refitted) and the table."""
        ks = self._grid(len(y))
        rows, best = [], None
        for k in ks:
            keep = np.ones(len(y), dtype=bool)
            keep[order[:k]] = False
            if len(np.unique(y[keep])) < len(self.classes_):
                continue
            if k == 0 and base is not None:
                m = base
            else:
                sw = None if sample_weight is None else np.asarray(sample_weight)[keep]
                m = self._fit_model(_take(X, keep), y[keep], sw, val=val)
            pred = m.predict(X_val)
            row = {"k": k, "fraction_removed": k / len(y),
                   "val_worst_group_accuracy": _worst_group_accuracy(y_val, pred, gv),
                   "val_accuracy": float(np.mean(pred == y_val))}
            rows.append(row)
            rank = (row["val_worst_group_accuracy"], row["val_accuracy"], -k)
            if best is None or rank > best[0]:
                best = (rank, k, m)  # only the best model so far is kept
        sweep = pd.DataFrame(rows)
        if best is None:
            raise UnskewInputError(f"Every k in the sweep grid {ks} would remove all examples of a class; "
                                   f"use a k_grid with smaller values.")
        return best[1], best[2], sweep

    # ------------------------------------------------------------- outputs
    def predict(self, X):
        return self.estimator_.predict(X if self.estimator is not None else np.asarray(X, dtype=float))

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X if self.estimator is not None else np.asarray(X, dtype=float))

    def removal_table(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The removed examples for a reviewer, most harmful first.

        Columns: ``row`` (training index), ``score`` (in the round that chose
        it), ``round`` (only with ``rounds > 1``), ``hurts_most`` (the
        validation group it lowers most, from the first round's attributions)
        and its mean attribution to that group, then the example's own columns
        from ``frame`` if given.
        """
        idx = self.removed_
        ga = self.group_attribution_.iloc[idx]
        table = pd.DataFrame({
            "row": idx,
            "score": self.removal_scores_,
            "hurts_most": ga.idxmin(axis=1).to_numpy(),
            "attribution_to_that_group": ga.min(axis=1).to_numpy(),
        })
        if self.rounds > 1:
            table.insert(2, "round", self.removal_round_)
        if frame is not None:
            table = pd.concat([table.reset_index(drop=True), frame.iloc[idx].reset_index(drop=True)], axis=1)
        return table


class _LogisticModel(ClassifierMixin, BaseEstimator):
    """Binary logistic regression fitted by Newton's method (the objective the influence uses)."""

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise UnskewInputError(
                f"The default D3M model is binary logistic regression; the target has {len(self.classes_)} classes."
            )
        yb = (y == self.classes_[1]).astype(int)
        self.sample_weight_ = None if sample_weight is None else np.asarray(sample_weight, float)
        self.theta_ = fit_logistic(X, yb, self.sample_weight_, l2=1.0 / self.C)
        return self

    def decision_function(self, X):
        X = np.asarray(X, float)
        return X @ self.theta_[:-1] + self.theta_[-1]

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


#: ``warn`` when a removal takes more than this share of the training rows ...
WARN_FRACTION = 0.10
#: ... or costs more than this much validation accuracy (3 points).
WARN_ACCURACY_COST = 0.03


def removal_verdict(est: D3M, n_train: int, acc_before: float, acc_after: float) -> tuple[str, dict, list]:
    """Status, summary fields and ``(sentence, severity)`` pairs describing a fitted D3M's removal.

    ``warn`` when more than 10% of the training rows were removed or validation
    accuracy fell by more than 3 points; ``pass`` otherwise (including when the
    default rule found no gain and removed nothing, which the sentences say).
    """
    frac = len(est.removed_) / n_train
    cost = float(acc_before - acc_after)
    # in rows, rounded as the grid rounds its shares: the grid's own 10% candidate is not "more than 10%"
    too_many, too_costly = len(est.removed_) > round(WARN_FRACTION * n_train), cost > WARN_ACCURACY_COST
    fields = {
        "removal_applied": bool(est.removal_applied_),
        "fraction_removed_exceeds_10pct": bool(too_many),
        "val_accuracy_cost": cost,
        "val_accuracy_cost_exceeds_3_points": bool(too_costly),
        "val_worst_group_accuracy_base": float(est.val_worst_group_accuracy_base_),
        "val_worst_group_accuracy_chosen": float(est.val_worst_group_accuracy_),
        "max_fraction": est._cap(),
        "selection": est.selection_,
        "held_out_worst_group_accuracy_base": est.held_out_worst_group_accuracy_base_,
        "held_out_worst_group_accuracy_chosen": est.held_out_worst_group_accuracy_,
        "held_out_worst_group_accuracy_candidate": est.held_out_worst_group_accuracy_candidate_,
        "removal_at_limit": bool(est.removal_at_limit_),
        "min_group_size": int(est.min_group_size),
        "groups_excluded": dict(est.groups_excluded_),
    }
    lines = []
    if est.groups_excluded_:
        listed = ", ".join(f"{g} ({n} rows)" for g, n in est.groups_excluded_.items())
        lines.append((f"Left out of D3M's validation groups (fewer than {est.min_group_size} validation rows, too "
                      f"few to measure a worst-group accuracy): {listed}. Their rows do not score, choose or check "
                      f"the removal; lower min_group_size (--min-group-size) to keep them, or give validation "
                      f"more rows (--val-fraction).", "warn"))
    held = est.held_out_worst_group_accuracy_base_ is not None
    if not est.removal_applied_:
        measure = {"crossfit": "its held-out estimate above removing nothing's",
                   "checked": "validation worst-group accuracy above the base model's both on all validation "
                              "rows and in its held-out estimate"}.get(est.selection_,
                                                                      "validation worst-group accuracy above the "
                                                                      "base model's")
        lines.append((f"No removal applied: no candidate up to {est._cap():.0%} of the training rows raised "
                      f"{measure}; nothing was removed.", "info"))
        if est.selection_ == "checked" and est.candidate_k_:
            lines.append((
                f"The best candidate on all validation rows removed {est.candidate_k_} rows; its held-out estimate "
                f"was {est.held_out_worst_group_accuracy_candidate_:.3f} against "
                f"{est.held_out_worst_group_accuracy_base_:.3f} for removing nothing"
                + (" (a tie: the held-out halves could not tell the two apart, as happens when a validation "
                   "group's half has only a few rows; see min_group_size)."
                   if est.held_out_worst_group_accuracy_candidate_ == est.held_out_worst_group_accuracy_base_
                   else "."), "info"))
    if held:
        lines.append((
            f"Held-out validation worst-group accuracy (each half of the validation rows judging the removal "
            f"chosen by the other half's scores) {est.held_out_worst_group_accuracy_base_:.3f} -> "
            f"{est.held_out_worst_group_accuracy_:.3f}; on all validation rows, which chose the removal and so "
            f"flatter it, {est.val_worst_group_accuracy_base_:.3f} -> {est.val_worst_group_accuracy_:.3f}.",
            "info"))
    elif est.selection in ("checked", "crossfit") and est.selection_ == "in_sample":
        lines.append(("The removal was chosen and checked on the same validation rows that scored it (a held-out "
                      "check needs at least 2 validation rows in every group), so its validation gain is "
                      "optimistic.", "info"))
    if est.removal_at_limit_:
        cap = est._cap()
        under = "" if cap is None else f" under the {cap:.0%} cap (max_fraction, --max-fraction)"
        lines.append((f"The removal chosen ({len(est.removed_)} rows) is the largest candidate tried{under}, and it "
                      f"was the best one: removing more might raise validation worst-group accuracy further, at the "
                      f"cost of more rows removed.", "info"))
    lines.append((f"Removed {frac:.1%} of the training rows ({'more' if too_many else 'not more'} than the "
                  f"{WARN_FRACTION:.0%} warning threshold).", "warn" if too_many else "info"))
    lines.append((f"Validation accuracy {acc_before:.3f} -> {acc_after:.3f}: a cost of {100 * cost:.1f} points "
                  f"({'more' if too_costly else 'not more'} than the {100 * WARN_ACCURACY_COST:.0f}-point "
                  f"warning threshold).", "warn" if too_costly else "info"))
    return ("warn" if too_many or too_costly else "pass"), fields, lines
