"""The registry of mitigation methods that :func:`unskew.compare.compare` runs.

Each method is one small adapter: a function ``run(fold) -> Outcome`` that
trains on the fold's development rows and predicts its test rows. A
:class:`Fold` holds one seed's split, already encoded to numbers (one-hot
categoricals, standardised numerics), so every method sees exactly the same
rows, features and seed.

Adapters are plain module-level functions so that joblib can send them to
worker processes by name. Register a new one with :func:`register`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import has_fit_parameter

from .._registry import Registry
from ..exceptions import UnskewInputError

#: Which fairness criterion a method that targets one is asked to meet.
FAIRNESS_CRITERIA = ("demographic_parity", "equal_opportunity", "equalized_odds")


@dataclass
class Fold:
    """One seed's data, encoded, shared by every method.

    Attributes
    ----------
    seed : int
        Seed of the split and of every random choice the methods make.
    X, y, groups : ndarray
        Development rows (features, 0/1 labels, integer group codes).
    val : ndarray of bool
        Development rows held out for the methods that select or score on
        validation data (D3M, Auto-D3M, Group DRO, JTT); the other methods
        train on every development row.
    X_test, y_test, groups_test : ndarray
        Test rows, never seen during training.
    group_labels : list of str
        ``group_labels[code]`` names a group, e.g. ``"sex=Female"``.
    model : estimator
        Unfitted scikit-learn classifier every method trains (cloned).
    fairness : str
        Criterion given to the methods that target one (one of
        :data:`FAIRNESS_CRITERIA`).
    base : estimator or None
        The baseline model fitted on all development rows, shared by the
        post-processing methods (set before they run).
    base_seconds : float
        Time the baseline took to fit; added to the time of the methods that reuse it.
    single_thread : bool
        True inside a parallel worker (libraries are limited to one thread).
    """

    seed: int
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    groups_test: np.ndarray
    group_labels: list[str]
    model: Any
    fairness: str = "equalized_odds"
    base: Any = None
    base_seconds: float = 0.0
    single_thread: bool = False

    @property
    def cells(self) -> np.ndarray:
        """Code of the (group, label) cell of each development row."""
        return self.groups * 2 + self.y

    @property
    def n_groups(self) -> int:
        return len(self.group_labels)

    def fresh_model(self):
        """An unfitted clone of the model, seeded with the fold's seed where it takes one."""
        m = clone(self.model)
        params = m.get_params(deep=False)
        if "random_state" in params and params["random_state"] is None:
            m.set_params(random_state=self.seed)
        return m


@dataclass
class Outcome:
    """What a method returns for one fold.

    Attributes
    ----------
    pred : ndarray
        0/1 predictions on the fold's test rows.
    data_changed : float
        Share of the training data the method changed: the total-variation
        distance between the development rows (as an empirical distribution)
        and the data the final model was trained on. Removing ``k`` of ``n``
        rows gives ``k / n``; weights give half the mean absolute change of
        the normalised weights; added rows (duplicates or synthetic) count as
        new mass; transforming every row's features gives 1. Zero for methods
        that change the training objective or the decisions only.
    reuses_base : bool
        The method post-processes the shared baseline model; its reported
        time includes the baseline's fit.
    note : str
        Anything a reader should know about this run.
    """

    pred: np.ndarray
    data_changed: float = 0.0
    reuses_base: bool = False
    note: str = ""


@dataclass(frozen=True)
class Method:
    """A mitigation method the comparison can run.

    Attributes
    ----------
    name : str
        Registry name used on the command line (``reweighing``).
    title : str
        Human name for the leaderboard.
    family : str
        ``"unskew"`` for unskew's own methods, else the peer package
        (``"fairlearn"``, ``"aif360"``, ``"imbalanced-learn"``).
    stage : str
        ``"none"`` (baseline), ``"pre"`` (changes the data), ``"in"``
        (changes training), ``"post"`` (changes decisions).
    run : callable
        ``run(fold) -> Outcome``.
    requires : tuple of str
        Importable modules the method needs; they are imported before the
        method's clock starts, so one-time import costs are not counted.
    needs_sample_weight : bool
        The model must accept ``sample_weight`` in ``fit``.
    default : bool
        Part of ``methods="default"``; slow or experimental methods are
        opt-in (named, or ``"all"``).
    own_model : str
        Non-empty when the method trains its own model instead of the chosen
        one (it says which).
    description : str
    """

    name: str
    title: str
    family: str
    stage: str
    run: Callable[[Fold], Outcome]
    requires: tuple[str, ...] = ()
    needs_sample_weight: bool = False
    default: bool = True
    own_model: str = ""
    description: str = ""

    @property
    def is_peer(self) -> bool:
        return self.family != "unskew"

    def unavailable_reason(self, model: Any) -> str | None:
        """Why the method cannot run here (missing package, model without weights), or None."""
        for mod in self.requires:
            top = mod.split(".")[0]
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                how = {"tensorflow": "pip install tensorflow-cpu", "torch": "pip install 'unskew[torch]'",
                       "unskew": "it is not part of this unskew version"}.get(top, "pip install 'unskew[peers]'")
                return f"needs '{mod}', which is not installed ({how})"
        if self.needs_sample_weight and not has_fit_parameter(model, "sample_weight"):
            return f"the model {type(model).__name__} does not accept sample_weight in fit"
        return None


#: The compare methods (:class:`unskew._registry.Registry` of :class:`Method`).
METHODS: Registry[Method] = Registry("method", option="--methods")


def register(method: Method, *, aliases: Any = None) -> Method:
    """Add a method to :data:`METHODS` (replacing one of the same name warns)."""
    return METHODS.register(method, aliases=aliases)


def list_methods(include_optional: bool = True) -> list[str]:
    """Names of the registered methods (registry order; opt-in ones left out unless asked)."""
    return [m for m, spec in METHODS.items() if include_optional or spec.default]


# ============================================================================ helpers
def _tv_counts(counts: np.ndarray, n_new: int = 0) -> float:
    """Total-variation distance from uniform-over-``n`` to ``counts`` (+ ``n_new`` new points)."""
    counts = np.asarray(counts, dtype=float)
    n = len(counts)
    total = counts.sum() + n_new
    if total <= 0 or n == 0:
        return 0.0
    return float(0.5 * (np.abs(counts / total - 1.0 / n).sum() + n_new / total))


def _tv_weights(w: np.ndarray) -> float:
    w = np.asarray(w, dtype=float)
    s = w.sum()
    if s <= 0:
        return 1.0
    return float(0.5 * np.abs(w / s - 1.0 / len(w)).sum())


def _fit(model, X, y, sample_weight=None):
    if sample_weight is None:
        return model.fit(X, y)
    return model.fit(X, y, sample_weight=sample_weight)


def _predict01(model, X) -> np.ndarray:
    return np.asarray(model.predict(X)).astype(np.int8)


def _retrain_without(fold: Fold, removed: np.ndarray) -> tuple[np.ndarray, float]:
    keep = np.ones(len(fold.y), dtype=bool)
    keep[removed] = False
    if len(np.unique(fold.y[keep])) < 2:
        raise UnskewInputError("The removal left a single class in the training data.")
    m = _fit(fold.fresh_model(), fold.X[keep], fold.y[keep])
    return _predict01(m, fold.X_test), len(removed) / len(fold.y)


def _limit_torch(fold: Fold) -> None:
    if fold.single_thread:
        import torch

        torch.set_num_threads(1)


def _privileged_code(fold: Fold) -> int:
    """The group with the highest positive rate in the development rows (AIF360's privileged group)."""
    rates = [fold.y[fold.groups == g].mean() if (fold.groups == g).any() else -1.0 for g in range(fold.n_groups)]
    return int(np.argmax(rates))


# ============================================================================ unskew
def run_baseline(fold: Fold) -> Outcome:
    m = _fit(fold.fresh_model(), fold.X, fold.y)
    return Outcome(_predict01(m, fold.X_test))


def run_reweighing(fold: Fold) -> Outcome:
    from ..mitigate.pre import reweighing_weights

    w = reweighing_weights(fold.y, fold.groups)
    m = _fit(fold.fresh_model(), fold.X, fold.y, sample_weight=w)
    return Outcome(_predict01(m, fold.X_test), data_changed=_tv_weights(w))


def _sampler_outcome(fold: Fold, sampler, *, copies: bool) -> Outcome:
    """Fit on the resampled rows; ``copies``: added rows duplicate input rows (else they are new points)."""
    Xr, yr = sampler.fit_resample(fold.X, fold.y, sensitive_features=fold.groups)
    idx = np.asarray(sampler.sample_indices_)
    synth = np.asarray(sampler.synthetic_mask_)
    m = _fit(fold.fresh_model(), np.asarray(Xr, dtype=float), np.asarray(yr))
    if copies:
        changed = _tv_counts(np.bincount(idx, minlength=len(fold.y)))
    else:
        changed = _tv_counts(np.bincount(idx[~synth], minlength=len(fold.y)), n_new=int(synth.sum()))
    return Outcome(_predict01(m, fold.X_test), data_changed=changed)


def run_oversample(fold: Fold) -> Outcome:
    from ..mitigate.pre import GroupRandomOverSampler

    return _sampler_outcome(fold, GroupRandomOverSampler(sampling_strategy="balanced", random_state=fold.seed),
                            copies=True)


def run_undersample(fold: Fold) -> Outcome:
    from ..mitigate.pre import GroupRandomUnderSampler

    return _sampler_outcome(fold, GroupRandomUnderSampler(sampling_strategy="balanced", random_state=fold.seed),
                            copies=True)


def run_smote(fold: Fold) -> Outcome:
    from ..mitigate.pre import GroupSMOTE

    return _sampler_outcome(fold, GroupSMOTE(sampling_strategy="balanced", random_state=fold.seed), copies=False)


def run_correlation_remover(fold: Fold) -> Outcome:
    from ..mitigate.pre import CorrelationRemover

    cr = CorrelationRemover(alpha=1.0)
    g_tr = np.asarray([fold.group_labels[c] for c in fold.groups], dtype=object)
    g_te = np.asarray([fold.group_labels[c] for c in fold.groups_test], dtype=object)
    Xtr = cr.fit_transform(fold.X, sensitive_features=g_tr)
    Xte = cr.transform(fold.X_test, sensitive_features=g_te)
    m = _fit(fold.fresh_model(), Xtr, fold.y)
    return Outcome(_predict01(m, Xte), data_changed=1.0,
                   note="features of every row are projected off the sensitive attribute")


def _threshold(fold: Fold, constraint: str) -> Outcome:
    from ..mitigate.post import GroupThresholdOptimizer

    opt = GroupThresholdOptimizer(estimator=fold.base, constraint=constraint, prefit=True)
    opt.fit(fold.X, fold.y, sensitive_features=fold.groups)
    pred = opt.predict(fold.X_test, sensitive_features=fold.groups_test, random_state=fold.seed)
    return Outcome(np.asarray(pred).astype(np.int8), reuses_base=True)


def run_threshold_dp(fold: Fold) -> Outcome:
    return _threshold(fold, "demographic_parity")


def run_threshold_eo(fold: Fold) -> Outcome:
    return _threshold(fold, "equal_opportunity")


def run_threshold_eodds(fold: Fold) -> Outcome:
    return _threshold(fold, "equalized_odds")


_REJECT_METRIC = {"demographic_parity": "demographic_parity", "equal_opportunity": "equal_opportunity",
                  "equalized_odds": "average_odds"}


def run_reject_option(fold: Fold) -> Outcome:
    from ..mitigate.post import RejectOptionClassifier

    roc = RejectOptionClassifier(estimator=fold.base, prefit=True, metric=_REJECT_METRIC[fold.fairness])
    roc.fit(fold.X, fold.y, sensitive_features=fold.groups)
    pred = roc.predict(fold.X_test, sensitive_features=fold.groups_test)
    return Outcome(np.asarray(pred).astype(np.int8), reuses_base=True,
                   note=f"critical region tuned for {_REJECT_METRIC[fold.fairness]}")


#: D3M removes at most this share of the development rows (its validation sweep picks how many).
D3M_MAX_FRACTION = 0.10


def _d3m(fold: Fold, auto: bool) -> Outcome:
    from ..mitigate.d3m import D3M

    tr = np.flatnonzero(~fold.val)
    va = np.flatnonzero(fold.val)
    est = D3M(removal="sweep", max_fraction=D3M_MAX_FRACTION)
    est.fit(fold.X[tr], fold.y[tr], X_val=fold.X[va], y_val=fold.y[va],
            groups_val=None if auto else fold.cells[va])
    pred, changed = _retrain_without(fold, tr[est.removed_])
    return Outcome(pred, data_changed=changed,
                   note=f"removed {len(est.removed_)} rows scored by a logistic model's exact influence")


def run_d3m(fold: Fold) -> Outcome:
    return _d3m(fold, auto=False)


def run_auto_d3m(fold: Fold) -> Outcome:
    return _d3m(fold, auto=True)


#: Settings of the small PyTorch models of unskew.train used in the comparison.
TRAIN_PARAMS = {"model": "logistic", "max_epochs": 10, "batch_size": 256, "lr": 1e-2}


def _train_method(fold: Fold, cls_name: str, **params) -> Any:
    _limit_torch(fold)
    from .. import train

    cls = getattr(train, cls_name)
    tr, va = ~fold.val, fold.val
    est = cls(**{**TRAIN_PARAMS, **params, "random_state": fold.seed})
    est.fit(fold.X[tr], fold.y[tr], groups=fold.cells[tr], X_val=fold.X[va], y_val=fold.y[va],
            groups_val=fold.cells[va])
    return est


def run_group_dro(fold: Fold) -> Outcome:
    est = _train_method(fold, "GroupDROClassifier")
    return Outcome(_predict01(est, fold.X_test), note=f"epoch {est.best_epoch_} kept by validation worst-group accuracy")


def run_jtt(fold: Fold) -> Outcome:
    est = _train_method(fold, "JTTClassifier")
    counts = np.asarray(est.upsampling_counts_)
    return Outcome(_predict01(est, fold.X_test), data_changed=_tv_counts(counts),
                   note=f"error set of {len(est.error_set_)} rows upsampled x{est.upweight}")


# ============================================================================ peers
_FAIRLEARN_MOMENT = {"demographic_parity": "DemographicParity", "equal_opportunity": "TruePositiveRateParity",
                     "equalized_odds": "EqualizedOdds"}
_FAIRLEARN_THRESHOLD = {"demographic_parity": "demographic_parity",
                        "equal_opportunity": "true_positive_rate_parity", "equalized_odds": "equalized_odds"}


def run_fairlearn_expgrad(fold: Fold) -> Outcome:
    from fairlearn import reductions

    moment = getattr(reductions, _FAIRLEARN_MOMENT[fold.fairness])()
    eg = reductions.ExponentiatedGradient(fold.fresh_model(), constraints=moment)
    eg.fit(fold.X, fold.y, sensitive_features=fold.groups)
    pred = eg.predict(fold.X_test, random_state=fold.seed)
    return Outcome(np.asarray(pred).astype(np.int8), note=f"{_FAIRLEARN_MOMENT[fold.fairness]} constraint")


def run_fairlearn_threshold(fold: Fold) -> Outcome:
    from fairlearn.postprocessing import ThresholdOptimizer

    to = ThresholdOptimizer(estimator=fold.base, constraints=_FAIRLEARN_THRESHOLD[fold.fairness], prefit=True,
                            predict_method="auto")
    to.fit(fold.X, fold.y, sensitive_features=fold.groups)
    pred = to.predict(fold.X_test, sensitive_features=fold.groups_test, random_state=fold.seed)
    return Outcome(np.asarray(pred).astype(np.int8), reuses_base=True,
                   note=f"{_FAIRLEARN_THRESHOLD[fold.fairness]} constraint")


def _aif_dataset(X, y, priv):
    import pandas as pd
    from aif360.datasets import BinaryLabelDataset

    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    df["privileged"] = priv.astype(float)
    df["label"] = y.astype(float)
    return BinaryLabelDataset(df=df, label_names=["label"], protected_attribute_names=["privileged"],
                              favorable_label=1.0, unfavorable_label=0.0)


def _aif_note(fold: Fold, p: int) -> str:
    extra = " vs all other groups pooled (AIF360 compares two groups)" if fold.n_groups > 2 else ""
    return f"privileged group: {fold.group_labels[p]}{extra}"


def run_aif360_reweighing(fold: Fold) -> Outcome:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from aif360.algorithms.preprocessing import Reweighing

    p = _privileged_code(fold)
    ds = _aif_dataset(np.zeros((len(fold.y), 1)), fold.y, fold.groups == p)
    rw = Reweighing(unprivileged_groups=[{"privileged": 0.0}], privileged_groups=[{"privileged": 1.0}])
    w = np.asarray(rw.fit_transform(ds).instance_weights, dtype=float)
    m = _fit(fold.fresh_model(), fold.X, fold.y, sample_weight=w)
    return Outcome(_predict01(m, fold.X_test), data_changed=_tv_weights(w), note=_aif_note(fold, p))


#: Training epochs of AIF360's adversarial debiasing (its default is 50).
AIF360_ADVERSARIAL_EPOCHS = 50


def run_aif360_adversarial(fold: Fold) -> Outcome:
    import logging
    import warnings

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from aif360.algorithms.inprocessing import AdversarialDebiasing

    tf.compat.v1.disable_eager_execution()
    p = _privileged_code(fold)
    train = _aif_dataset(fold.X, fold.y, fold.groups == p)
    test = _aif_dataset(fold.X_test, fold.y_test, fold.groups_test == p)
    graph = tf.Graph()
    threads = 1 if fold.single_thread else 0
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    with graph.as_default():
        tf.compat.v1.set_random_seed(fold.seed)
        with tf.compat.v1.Session(graph=graph, config=config) as sess:
            ad = AdversarialDebiasing(privileged_groups=[{"privileged": 1.0}],
                                      unprivileged_groups=[{"privileged": 0.0}], scope_name="adversarial",
                                      sess=sess, seed=fold.seed, debias=True,
                                      num_epochs=AIF360_ADVERSARIAL_EPOCHS)
            with contextlib.redirect_stdout(io.StringIO()):  # it prints every epoch's losses
                ad.fit(train)
            pred = ad.predict(test).labels.ravel()
    return Outcome(np.asarray(pred).astype(np.int8),
                   note=_aif_note(fold, p) + "; the classifier also sees the privileged indicator")


def run_imblearn_smote(fold: Fold) -> Outcome:
    from imblearn.over_sampling import SMOTE

    cells = fold.cells
    k = int(min(5, np.bincount(cells)[np.bincount(cells) > 0].min() - 1))
    if k < 1:
        raise UnskewInputError("A (group, label) cell has a single row; SMOTE needs at least two.")
    Xr, cr = SMOTE(k_neighbors=k, random_state=fold.seed).fit_resample(fold.X, cells)
    m = _fit(fold.fresh_model(), Xr, np.asarray(cr) % 2)
    n_new = len(cr) - len(cells)
    return Outcome(_predict01(m, fold.X_test), data_changed=_tv_counts(np.ones(len(cells)), n_new=n_new),
                   note="SMOTE on (group, label) cells as classes, so every cell reaches the largest")


# ============================================================================ registry
_U = "unskew"
_PRE, _POST, _D3M = ("unskew.mitigate.pre",), ("unskew.mitigate.post",), ("unskew.mitigate.d3m",)
for _m in [
    Method("baseline", "Baseline (no mitigation)", _U, "none", run_baseline,
           description="The model trained on the development rows as they are."),
    Method("reweighing", "Reweighing", _U, "pre", run_reweighing, needs_sample_weight=True, requires=_PRE,
           description="Kamiran-Calders weights P(g)P(y)/P(g,y): label independent of group in the weighted data."),
    Method("oversample", "Group x class random over-sampling", _U, "pre", run_oversample, requires=_PRE,
           description="Duplicates rows until every (group, label) cell has the size of the largest."),
    Method("undersample", "Group x class random under-sampling", _U, "pre", run_undersample, requires=_PRE,
           description="Drops rows until every (group, label) cell has the size of the smallest."),
    Method("smote", "Group x class SMOTE", _U, "pre", run_smote, requires=_PRE,
           description="Synthesises rows by SMOTE within each (group, label) cell up to the largest cell."),
    Method("correlation_remover", "Correlation remover", _U, "pre", run_correlation_remover, requires=_PRE,
           description="Projects the features onto the complement of the sensitive attribute's span."),
    Method("threshold_dp", "Group thresholds (demographic parity)", _U, "post", run_threshold_dp, requires=_POST,
           description="Group-specific randomised thresholds with equal selection rates, best accuracy (exact LP)."),
    Method("threshold_eo", "Group thresholds (equal opportunity)", _U, "post", run_threshold_eo, requires=_POST,
           description="Group-specific randomised thresholds with equal true-positive rates."),
    Method("threshold_eodds", "Group thresholds (equalized odds)", _U, "post", run_threshold_eodds, requires=_POST,
           description="Group-specific randomised thresholds with equal true- and false-positive rates."),
    Method("reject_option", "Reject-option classification", _U, "post", run_reject_option, requires=_POST,
           description="Flips decisions near the boundary in favour of the unprivileged groups."),
    Method("d3m", "D3M (remove harmful rows)", _U, "pre", run_d3m, requires=_D3M,
           description="Removes the training rows whose influence hurts the worst validation groups "
                       f"(at most {D3M_MAX_FRACTION:.0%}, count chosen on validation), then retrains."),
    Method("auto_d3m", "Auto-D3M (no group labels)", _U, "pre", run_auto_d3m, requires=_D3M,
           description="D3M with pseudo-groups found from the attributions instead of group labels."),
    Method("group_dro", "Group DRO", _U, "in", run_group_dro, requires=("torch", "unskew.train"),
           own_model="PyTorch logistic regression (unskew.train)",
           description="Minimises the worst (group, label) loss with exponentiated-gradient group weights."),
    Method("jtt", "Just Train Twice", _U, "in", run_jtt, requires=("torch", "unskew.train"), default=False,
           own_model="PyTorch logistic regression (unskew.train)",
           description="Upweights the rows a first model gets wrong, then retrains (opt-in: slow)."),
    Method("fairlearn_expgrad", "Fairlearn ExponentiatedGradient", "fairlearn", "in", run_fairlearn_expgrad,
           requires=("fairlearn.reductions",), needs_sample_weight=True,
           description="Reductions approach: a randomised ensemble meeting the fairness constraint."),
    Method("fairlearn_threshold", "Fairlearn ThresholdOptimizer", "fairlearn", "post", run_fairlearn_threshold,
           requires=("fairlearn.postprocessing",),
           description="Group-specific thresholds on the baseline's scores (Hardt et al.)."),
    Method("aif360_reweighing", "AIF360 Reweighing", "aif360", "pre", run_aif360_reweighing,
           requires=("aif360.algorithms.preprocessing",), needs_sample_weight=True,
           description="AIF360's Kamiran-Calders reweighing (privileged vs unprivileged)."),
    Method("aif360_adversarial", "AIF360 AdversarialDebiasing", "aif360", "in", run_aif360_adversarial,
           requires=("tensorflow", "aif360.algorithms.inprocessing"), own_model="TensorFlow network (AIF360)",
           default=False,
           description="Classifier trained against an adversary predicting the privileged indicator "
                       "(opt-in: about 10 minutes per seed on Adult with one core)."),
    Method("imblearn_smote", "imbalanced-learn SMOTE", "imbalanced-learn", "pre", run_imblearn_smote,
           requires=("imblearn.over_sampling",),
           description="imbalanced-learn's SMOTE over (group, label) cells."),
]:
    register(_m)
del _m
# one name per method in every command: ``unskew mitigate`` used to call it "correlation"
METHODS.alias("correlation", "correlation_remover", removal="0.3")

__all__ = ["FAIRNESS_CRITERIA", "METHODS", "Fold", "Method", "Outcome", "list_methods", "register"]
