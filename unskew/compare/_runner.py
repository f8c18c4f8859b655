"""Run mitigation methods side by side on the same splits and seeds, and rank them."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.model_selection import train_test_split

from ..data import Dataset
from ..data._encoding import tabular_encoder
from ..exceptions import UnskewInputError
from ..report import Bar, Chart, CheckResult, Finding, Point, Report, Status, Table
from ._constraint import METRICS, Selection, parse_selection, rank, recommend
from ._methods import METHODS, Fold, Method, Outcome

#: Metrics computed from the test predictions of every run.
QUALITY = ("accuracy", "worst_group_accuracy", "demographic_parity_difference",
           "equal_opportunity_difference", "equalized_odds_difference")

#: Built-in models by name.
MODELS = ("logistic", "hgb")


@dataclass
class CompareResult:
    """What :func:`compare` returns.

    Attributes
    ----------
    report : Report
        JSON/HTML-ready report (kind ``"compare"``).
    leaderboard : pandas.DataFrame
        One row per method, best first under the selection rule: mean over
        seeds of each metric with ``_low``/``_high`` interval columns, time,
        data and decisions changed, ``status`` (``ok``, ``skipped``,
        ``error``) and a note.
    runs : pandas.DataFrame
        One row per method and seed (point values, time, status).
    recommendation : dict
        See :func:`unskew.compare.recommend`.
    selection : Selection
        The parsed constraints and objective.
    """

    report: Report
    leaderboard: pd.DataFrame
    runs: pd.DataFrame
    recommendation: dict
    selection: Selection


# ============================================================================ inputs
def resolve_model(model: Any = "logistic"):
    """An unfitted classifier from a built-in name, an import path or an estimator.

    ``"logistic"`` is ``LogisticRegression(max_iter=1000)``; ``"hgb"`` is
    ``HistGradientBoostingClassifier()``; ``"package.module.Class"`` (or
    ``package.module:Class``) is imported and built without arguments.
    """
    if model is None or (isinstance(model, str) and model.lower() in ("logistic", "lr", "logreg")):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)
    if isinstance(model, str) and model.lower() in ("hgb", "histgradientboosting", "gbm"):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier()
    if isinstance(model, str):
        path = model.replace(":", ".")
        mod_name, _, cls_name = path.rpartition(".")
        if not mod_name:
            raise UnskewInputError(
                f"Unknown model {model!r}: use one of {', '.join(MODELS)} or an import path such as "
                f"sklearn.ensemble.RandomForestClassifier.")
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise UnskewInputError(f"Cannot import the model {model!r} ({exc}). Check the spelling and that "
                                   f"its package is installed.") from None
        try:
            model = cls()
        except TypeError as exc:
            raise UnskewInputError(f"The model {model!r} cannot be built without arguments ({exc}); "
                                   f"pass an estimator object from Python instead.") from None
    if not (hasattr(model, "fit") and hasattr(model, "predict") and hasattr(model, "get_params")):
        raise UnskewInputError(f"The model must be a scikit-learn classifier; got {type(model).__name__}.")
    if not is_classifier(model):
        raise UnskewInputError(f"The model {type(model).__name__} is not a classifier.")
    return clone(model)


def resolve_methods(methods: str | Sequence[str] | None = "default") -> list[str]:
    """Method names from ``"default"``, ``"all"``, a comma-separated string or a list.

    ``baseline`` is always included (the other methods are measured against it).
    """
    if methods is None:
        methods = "default"
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else [str(m) for m in methods]
    names = [n for n in names if n]
    out: list[str] = []
    for n in names:
        key = n.lower().replace("-", "_")
        if key == "default":
            out += [m for m, spec in METHODS.items() if spec.default]
        elif key == "all":
            out += list(METHODS)
        elif key in ("peers", "peer"):
            out += [m for m, spec in METHODS.items() if spec.is_peer]
        elif key == "unskew":
            out += [m for m, spec in METHODS.items() if not spec.is_peer]
        elif key in METHODS or key in METHODS.aliases():
            out.append(METHODS.canonical(key))
        else:
            raise UnskewInputError(METHODS.unknown_message(n) + " Or a set: default, all, peers, unskew.")
    if not out:
        raise UnskewInputError("No method to compare; pass --methods default, all or a list of names.")
    return list(dict.fromkeys(["baseline", *out]))


def _seeds(seeds: int | Sequence[int], random_state: int) -> list[int]:
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise UnskewInputError(f"seeds (--seeds) must be at least 1, got {seeds}.")
        return [int(random_state) + i for i in range(int(seeds))]
    out = [int(s) for s in seeds]
    if not out:
        raise UnskewInputError("seeds is empty; give a number of seeds or a list of seeds.")
    if len(set(out)) != len(out):
        raise UnskewInputError(f"seeds repeat: {out}.")
    return out


def _split(idx: np.ndarray, strat: np.ndarray, y: np.ndarray, size: float, seed: int):
    counts = pd.Series(strat).value_counts()
    s = strat if counts.min() >= 2 else y
    try:
        return train_test_split(idx, test_size=size, random_state=seed, stratify=s)
    except ValueError:
        return train_test_split(idx, test_size=size, random_state=seed, stratify=None)


def make_folds(ds: Dataset, model, seeds: list[int], *, test_size: float, val_fraction: float, fairness: str,
               sensitive_as_feature: bool = False) -> list[Fold]:
    """One :class:`Fold` per seed: stratified (group x label) test split, encoded features."""
    y = ds.binary_target().astype(np.int64)
    codes, labels = ds.group_codes()
    cells = codes * 2 + y
    features = [c for c in ds.features if sensitive_as_feature or c not in ds.sensitive]
    if not features:
        raise UnskewInputError("No feature columns are left to train on once the sensitive and ignored "
                               "columns are set aside.")
    idx = np.arange(len(ds))
    folds = []
    for seed in seeds:
        dev, test = _split(idx, cells, y, test_size, seed)
        dev, test = np.sort(dev), np.sort(test)
        _, va = _split(np.arange(len(dev)), cells[dev], y[dev], val_fraction, seed)
        val = np.zeros(len(dev), dtype=bool)
        val[va] = True
        enc = tabular_encoder(ds, features)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X_dev = np.ascontiguousarray(enc.fit_transform(ds.frame.iloc[dev][features]), dtype=np.float64)
            X_test = np.ascontiguousarray(enc.transform(ds.frame.iloc[test][features]), dtype=np.float64)
        folds.append(Fold(seed=seed, X=X_dev, y=y[dev], groups=codes[dev], val=val, X_test=X_test,
                          y_test=y[test], groups_test=codes[test], group_labels=list(labels), model=model,
                          fairness=fairness))
    return folds


# ============================================================================ execution
@contextlib.contextmanager
def _quiet():
    """Silence library warnings and log chatter (AIF360, TensorFlow, convergence) during a run."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


@contextlib.contextmanager
def _native_stderr_silenced(active: bool):
    """Send file descriptor 2 to /dev/null (TensorFlow's C++ start-up lines bypass Python's logging)."""
    if not active:
        yield
        return
    import sys

    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _task(method: Method, fold: Fold, single_thread: bool):
    fold = dataclasses.replace(fold, single_thread=single_thread)
    limit = contextlib.nullcontext()
    if single_thread:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(1)
    uses_tf = any(m.split(".")[0] in ("tensorflow", "aif360") for m in method.requires)
    if uses_tf:  # AIF360 imports TensorFlow, whose start-up lines would clutter the output
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet(), _native_stderr_silenced(uses_tf):
        for mod in method.requires:  # one-time import costs are not the method's
            with contextlib.suppress(Exception):
                importlib.import_module(mod)
    t0 = time.perf_counter()
    model = None
    try:
        with limit, _quiet(), _native_stderr_silenced(uses_tf):
            if method.name == "baseline":
                model = fold.fresh_model().fit(fold.X, fold.y)
                out = Outcome(np.asarray(model.predict(fold.X_test)).astype(np.int8))
            else:
                out = method.run(fold)
        status, err = "ok", ""
    except Exception as exc:  # a failing method must not stop the others
        out, status, err = None, "error", f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    if out is not None and out.reuses_base:
        seconds += fold.base_seconds
    if out is not None and len(out.pred) != len(fold.y_test):
        out, status, err = None, "error", f"returned {len(out.pred)} predictions for {len(fold.y_test)} test rows"
    return method.name, fold.seed, status, out, seconds, err, model


def _execute(jobs: list[tuple[Method, Fold]], n_jobs: int, on_progress, done: int, total: int) -> list:
    from joblib import Parallel, delayed, effective_n_jobs

    workers = min(effective_n_jobs(n_jobs), len(jobs)) if jobs else 1
    results = []
    if workers <= 1:
        for method, fold in jobs:
            results.append(_task(method, fold, False))
            done += 1
            if on_progress:
                on_progress(f"{method.name} (seed {fold.seed})", done, total)
        return results
    gen = Parallel(n_jobs=workers, return_as="generator")(delayed(_task)(m, f, True) for m, f in jobs)
    for res in gen:
        results.append(res)
        done += 1
        if on_progress:
            on_progress(f"{res[0]} (seed {res[1]})", done, total)
    return results


# ============================================================================ metrics
def run_metrics(y, pred, groups, group_labels, *, n_boot: int, seed: int, min_group_size: int,
                confidence: float = 0.95) -> tuple[dict, dict, dict]:
    """Point values, bootstrap replicates and per-group accuracy of one run.

    Computed by :func:`unskew.metrics.group_metrics` (Poisson bootstrap of the
    group confusion counts). Groups with fewer than ``min_group_size`` test
    rows are left out of worst-group accuracy and the gaps (unless every group
    is that small).
    """
    from ..metrics import group_metrics

    labels = np.asarray(group_labels, dtype=object)[groups]
    gm = group_metrics(y, pred, sensitive_features=pd.Series(labels, name="group"),
                       metrics=["accuracy", "selection_rate", "true_positive_rate", "false_positive_rate"],
                       ci="bootstrap", n_boot=n_boot, random_state=seed, min_group_size=min_group_size,
                       confidence=confidence)
    mask = np.asarray(gm.stats.n) >= min_group_size
    if not mask.any():
        mask[:] = True
    bg = gm.by_group
    reps = gm.replicates()

    def rng_(a, axis):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmax(a, axis=axis) - np.nanmin(a, axis=axis)

    def wmin(a, axis):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmin(a, axis=axis)

    point = {
        "accuracy": float(gm.overall["accuracy"]),
        "worst_group_accuracy": float(wmin(bg["accuracy"].to_numpy()[mask], 0)),
        "demographic_parity_difference": float(rng_(bg["selection_rate"].to_numpy()[mask], 0)),
        "equal_opportunity_difference": float(rng_(bg["true_positive_rate"].to_numpy()[mask], 0)),
        "equalized_odds_difference": float(max(rng_(bg["true_positive_rate"].to_numpy()[mask], 0),
                                               rng_(bg["false_positive_rate"].to_numpy()[mask], 0))),
    }
    g = reps["group"]
    rep = {
        "accuracy": reps["overall"]["accuracy"][:, 0],
        "worst_group_accuracy": wmin(g["accuracy"][:, mask], 1),
        "demographic_parity_difference": rng_(g["selection_rate"][:, mask], 1),
        "equal_opportunity_difference": rng_(g["true_positive_rate"][:, mask], 1),
        "equalized_odds_difference": np.maximum(rng_(g["true_positive_rate"][:, mask], 1),
                                                rng_(g["false_positive_rate"][:, mask], 1)),
    }
    per_group = {str(lab): float(v) for lab, v in zip(group_labels, _align(gm, group_labels), strict=True)}
    return point, rep, per_group


def _align(gm, group_labels) -> np.ndarray:
    acc = gm.by_group["accuracy"]
    keys = [k[0] if isinstance(k, tuple) else k for k in acc.index]
    lookup = dict(zip(keys, acc.to_numpy(), strict=True))
    return np.array([lookup.get(lab, np.nan) for lab in group_labels], dtype=float)


# ============================================================================ main
def compare(
    data: Any,
    target: str | None = None,
    sensitive: str | Sequence[str] | None = None,
    *,
    methods: str | Sequence[str] | None = "default",
    model: Any = "logistic",
    seeds: int | Sequence[int] = 3,
    test_size: float = 0.3,
    val_fraction: float = 0.25,
    n_jobs: int | None = 1,
    constraint: str | None = None,
    objective: str | None = None,
    sensitive_as_feature: bool = False,
    n_boot: int = 500,
    min_group_size: int = 30,
    confidence: float = 0.95,
    random_state: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
    **dataset_kwargs: Any,
) -> CompareResult:
    """Run mitigation methods on the same splits and seeds and rank them.

    For each seed the rows are split (stratified by group x label) into
    development and test rows; the features are one-hot encoded and
    standardised on the development rows. Every method trains on the
    development rows of that seed (those that need validation data hold out
    the same ``val_fraction`` of them) and predicts the same test rows.
    Accuracy, worst-group accuracy and the fairness gaps are measured on the
    test rows with bootstrap intervals, averaged over seeds; time, the share
    of training data changed and the share of test decisions changed (against
    the baseline of the same seed) are recorded too.

    Parameters
    ----------
    data : path, DataFrame, or Dataset
        The table (any input :meth:`unskew.data.Dataset.from_data` reads).
    target : str
        Binary label column.
    sensitive : str or list of str
        Sensitive column(s); their intersection defines the groups. They are
        not model features unless ``sensitive_as_feature``.
    methods : str or list of str, default "default"
        Method names (see :func:`unskew.compare.list_methods`), or
        ``"default"``, ``"all"``, ``"peers"``, ``"unskew"``. ``baseline`` is
        always run.
    model : str or estimator, default "logistic"
        ``"logistic"``, ``"hgb"``, an import path, or a scikit-learn
        classifier; every method trains a clone (except those that train
        their own network, which the leaderboard notes).
    seeds : int or list of int, default 3
        Number of seeds (``random_state``, ``random_state + 1``, ...) or the seeds.
    test_size : float, default 0.3
    val_fraction : float, default 0.25
        Share of the development rows held out by methods that need validation data.
    n_jobs : int, default 1
        Parallel workers (joblib processes); ``-1`` uses every core. Each
        worker runs its libraries single-threaded.
    constraint : str, optional
        E.g. ``"equalized_odds<=0.05"``; see :func:`unskew.compare.parse_selection`.
    objective : str, optional
        Metric to optimise (default: accuracy under constraints, else
        worst-group accuracy).
    sensitive_as_feature : bool, default False
    n_boot : int, default 500
        Bootstrap replicates per run.
    min_group_size : int, default 30
        Groups with fewer test rows are left out of worst-group accuracy and the gaps.
    confidence : float, default 0.95
    random_state : int, default 0
    on_progress : callable, optional
        ``on_progress(label, done, total)`` after each run.
    **dataset_kwargs
        Passed to :meth:`Dataset.from_data` (``ignore``, ``na_values`` ...).

    Returns
    -------
    CompareResult

    Raises
    ------
    UnskewInputError
        Missing target or sensitive column, a target that is not binary, bad
        options, or an unknown method, model or metric.
    """
    t_start = time.perf_counter()
    if not 0 < test_size < 1:
        raise UnskewInputError(f"test_size (--test-size) must be between 0 and 1, got {test_size}.")
    if not 0 < val_fraction < 1:
        raise UnskewInputError(f"val_fraction (--val-fraction) must be between 0 and 1, got {val_fraction}.")
    if n_boot < 10:
        raise UnskewInputError(f"n_boot (--n-boot) must be at least 10, got {n_boot}.")
    if n_jobs is not None and (int(n_jobs) == 0 or int(n_jobs) < -1):
        raise UnskewInputError(f"n_jobs (--n-jobs) must be a positive number of workers or -1 for every core, got {n_jobs}.")
    selection = parse_selection(constraint, objective)
    names = resolve_methods(methods)
    est = resolve_model(model)
    seed_list = _seeds(seeds, random_state)
    if not target and not (isinstance(data, Dataset) and data.target):
        raise UnskewInputError("compare needs the label column: pass target= (--target COLUMN).")
    ds = Dataset.from_data(data, target=target, sensitive=sensitive, **dataset_kwargs)
    if not ds.sensitive:
        raise UnskewInputError("compare needs the sensitive attribute(s) defining the groups: "
                               "pass sensitive= (--sensitive COLUMN).")
    if not ds.target_is_binary():
        raise UnskewInputError(f"compare supports a binary target; '{ds.target}' has {ds.y.nunique()} classes. "
                               f"Binarise it first (for example one class against the rest).")
    codes, labels = ds.group_codes()
    if len(labels) < 2:
        raise UnskewInputError(f"The sensitive attribute(s) {ds.sensitive} define a single group ({labels[0]}); "
                               f"fairness needs at least two.")

    chosen = [METHODS[n] for n in names]
    skipped = {m.name: m.unavailable_reason(est) for m in chosen}
    skipped = {k: v for k, v in skipped.items() if v}
    folds = make_folds(ds, est, seed_list, test_size=test_size, val_fraction=val_fraction,
                       fairness=selection.fairness, sensitive_as_feature=sensitive_as_feature)
    runnable = [m for m in chosen if m.name not in skipped and m.name != "baseline"]
    total = len(folds) * (1 + len(runnable))
    base_method = METHODS["baseline"]
    results = _execute([(base_method, f) for f in folds], n_jobs, on_progress, 0, total)
    by_seed = {}
    for _name, seed, status, out, secs, err, fitted in results:
        if status != "ok":
            raise UnskewInputError(f"The baseline model failed on seed {seed}: {err}. Check the model and the data.")
        by_seed[seed] = (out, secs, fitted)
    folds = [dataclasses.replace(f, base=by_seed[f.seed][2], base_seconds=by_seed[f.seed][1]) for f in folds]
    results += _execute([(m, f) for m in runnable for f in folds], n_jobs, on_progress, len(folds), total)

    runs, reps = _measure(results, folds, by_seed, n_boot=n_boot, min_group_size=min_group_size,
                          confidence=confidence)
    board = _leaderboard(chosen, runs, reps, skipped, selection, confidence)
    rec = recommend(board, selection)
    board = _finish_board(board, selection)
    report = _report(ds, board, runs, rec, selection, est, seed_list, folds, skipped,
                     params={"methods": names, "model": _model_name(est), "seeds": seed_list,
                             "test_size": test_size, "val_fraction": val_fraction, "n_jobs": n_jobs,
                             "constraint": constraint, "objective": selection.objective,
                             "fairness_criterion": selection.fairness, "n_boot": n_boot,
                             "min_group_size": min_group_size, "confidence": confidence,
                             "sensitive_as_feature": sensitive_as_feature, "random_state": random_state},
                     elapsed=time.perf_counter() - t_start)
    return CompareResult(report=report, leaderboard=board, runs=runs, recommendation=rec, selection=selection)


def _model_name(est) -> str:
    return type(est).__name__


def _measure(results, folds, by_seed, *, n_boot, min_group_size, confidence):
    fold_of = {f.seed: f for f in folds}
    rows, reps = [], {}
    for name, seed, status, out, secs, err, _ in results:
        f = fold_of[seed]
        row = {"method": name, "seed": seed, "status": status, "time_s": secs, "note": err}
        if status == "ok":
            point, rep, per_group = run_metrics(f.y_test, out.pred, f.groups_test, f.group_labels, n_boot=n_boot,
                                                seed=seed, min_group_size=min_group_size, confidence=confidence)
            base_pred = by_seed[seed][0].pred
            row.update(point)
            row["data_changed"] = float(out.data_changed)
            row["decisions_changed"] = float(np.mean(out.pred != base_pred))
            row["note"] = out.note
            row["group_accuracy"] = per_group
            reps[(name, seed)] = rep
        rows.append(row)
    runs = pd.DataFrame(rows)
    return runs, reps


def _leaderboard(chosen: list[Method], runs: pd.DataFrame, reps: dict, skipped: dict, selection: Selection,
                 confidence: float) -> pd.DataFrame:
    q = [50 * (1 - confidence), 50 * (1 + confidence)]
    rows = []
    for m in chosen:
        row = {"method": m.name, "title": m.title, "family": m.family, "stage": m.stage}
        if m.name in skipped:
            row.update(status="skipped", note=f"skipped: {skipped[m.name]}", n_seeds=0)
            rows.append(row)
            continue
        r = runs[runs["method"] == m.name]
        ok = r[r["status"] == "ok"]
        if ok.empty:
            errs = "; ".join(dict.fromkeys(r["note"].astype(str)))
            row.update(status="error", note=f"failed: {errs}", n_seeds=0, time_s=float(r["time_s"].mean()))
            rows.append(row)
            continue
        row["status"] = "ok"
        row["n_seeds"] = int(len(ok))
        for metric in QUALITY:
            row[metric] = float(ok[metric].mean())
            stacked = np.vstack([reps[(m.name, s)][metric] for s in ok["seed"]])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_rep = np.nanmean(stacked, axis=0)
                lo, hi = np.nanpercentile(mean_rep, q) if np.isfinite(mean_rep).any() else (np.nan, np.nan)
            row[f"{metric}_low"], row[f"{metric}_high"] = float(lo), float(hi)
            row[f"{metric}_sd"] = float(ok[metric].std(ddof=1)) if len(ok) > 1 else 0.0
        for c in ("time_s", "data_changed", "decisions_changed"):
            row[c] = float(ok[c].mean())
        notes = [n for n in dict.fromkeys(ok["note"].astype(str)) if n]
        if len(ok) < len(r):
            notes.append(f"failed on {len(r) - len(ok)} seed(s): " + "; ".join(
                dict.fromkeys(r.loc[r["status"] != "ok", "note"].astype(str))))
        if m.own_model:
            notes.insert(0, f"trains its own model: {m.own_model}")
        row["note"] = " | ".join(notes[:3])
        rows.append(row)
    board = pd.DataFrame(rows)
    for c in [*QUALITY, *[f"{m}_{s}" for m in QUALITY for s in ("low", "high", "sd")], "time_s", "data_changed",
              "decisions_changed"]:
        if c not in board:
            board[c] = np.nan
    board["note"] = board["note"].fillna("")
    return board


def _pareto(board: pd.DataFrame, gap: str) -> np.ndarray:
    ok = (board["status"] == "ok").to_numpy()
    acc = board["accuracy"].to_numpy(float)
    g = board[gap].to_numpy(float)
    front = np.zeros(len(board), dtype=bool)
    for i in np.flatnonzero(ok):
        dominated = ok & (acc >= acc[i]) & (g <= g[i]) & ((acc > acc[i]) | (g < g[i]))
        front[i] = not dominated.any()
    return front


def _finish_board(board: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    board = board.copy()
    board["pareto"] = _pareto(board, selection.gap_metric)
    ranked = rank(board, selection).reset_index(drop=True)
    ranked.insert(0, "rank", np.where(ranked["status"] == "ok", np.arange(1, len(ranked) + 1), 0))
    ranked["rank"] = ranked["rank"].astype(int)
    lead = ["rank", "method", "title", "family", "stage", "status"]
    metric_cols = []
    for m in QUALITY:
        metric_cols += [m, f"{m}_low", f"{m}_high", f"{m}_sd"]
    tail = ["time_s", "data_changed", "decisions_changed", "meets_constraints", "meets_confidently", "pareto",
            "n_seeds", "note"]
    return ranked[lead + metric_cols + tail]


# ============================================================================ report
def _f(v, digits=3):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), digits)


def _report(ds, board, runs, rec, selection, est, seeds, folds, skipped, params, elapsed) -> Report:
    gap = selection.gap_metric
    ok = board[board["status"] == "ok"]
    best = rec["method"]
    checks = []

    # ---------------------------------------------------------------- leaderboard
    cols = ["rank", "method", "family", "stage", "accuracy", "worst-group acc.", METRICS[gap][1],
            "demographic parity diff.", "equal opportunity diff.", "equalized odds diff.", "time (s)",
            "data changed", "decisions changed", "meets", "Pareto", "note"]

    def ci(row, m):
        if row["status"] != "ok":
            return None
        return f"{row[m]:.3f} [{row[m + '_low']:.3f}, {row[m + '_high']:.3f}]"

    rows = []
    for _, r in board.iterrows():
        okr = r["status"] == "ok"
        rows.append([
            int(r["rank"]) if okr else None, r["method"], r["family"], r["stage"], ci(r, "accuracy"),
            ci(r, "worst_group_accuracy"), ci(r, gap), _f(r["demographic_parity_difference"]),
            _f(r["equal_opportunity_difference"]), _f(r["equalized_odds_difference"]),
            _f(r["time_s"], 2), _f(r["data_changed"]), _f(r["decisions_changed"]),
            bool(r["meets_constraints"]) if okr else None, bool(r["pareto"]) if okr else None,
            r["note"] if okr else f"{r['status']}: {r['note']}",
        ])
    findings = [Finding(f"Recommended: {rec['title']}. {rec['reason']}",
                        severity="info" if rec["meets"] or not selection.constraints else "warn",
                        subject=best)]
    if rec["best_unskew"] and rec["best_peer"]:
        u = board[board["method"] == rec["best_unskew"]].iloc[0]
        p = board[board["method"] == rec["best_peer"]].iloc[0]
        findings.append(Finding(
            f"Best unskew method: {u['title']} (accuracy {u['accuracy']:.3f}, worst-group "
            f"{u['worst_group_accuracy']:.3f}, {METRICS[gap][1]} {u[gap]:.3f}, {u['time_s']:.1f} s); best peer: "
            f"{p['title']} (accuracy {p['accuracy']:.3f}, worst-group {p['worst_group_accuracy']:.3f}, "
            f"{METRICS[gap][1]} {p[gap]:.3f}, {p['time_s']:.1f} s).", severity="info"))
    for _, r in board[board["status"] == "skipped"].iterrows():
        findings.append(Finding(f"{r['title']} was not run: {r['note'].removeprefix('skipped: ')}.",
                                severity="info", subject=r["method"]))
    for _, r in board[board["status"] == "error"].iterrows():
        findings.append(Finding(f"{r['title']} failed: {r['note'].removeprefix('failed: ')}", severity="warn",
                                subject=r["method"]))
    status = Status.PASS if (rec["meets"] or not selection.constraints) else Status.WARN
    if ok.empty:
        status = Status.FAIL
    points = [Point(label=r["method"], x=r[gap], y=r["accuracy"], x_low=r[f"{gap}_low"], x_high=r[f"{gap}_high"],
                    y_low=r["accuracy_low"], y_high=r["accuracy_high"], flag=r["method"] == best,
                    series="peer" if r["family"] != "unskew" else ("pareto" if r["pareto"] else "unskew"))
              for _, r in ok.iterrows()]
    # the renderer labels points in order while labels do not collide: the recommended method,
    # the baseline and the Pareto front first
    prio = {r["method"]: (r["method"] != best, r["method"] != "baseline", not r["pareto"]) for _, r in ok.iterrows()}
    points.sort(key=lambda p: prio[p.label])
    bound = next((b for m, op, b in selection.constraints if m == gap), None)
    charts = [
        Chart(title=f"Accuracy against {METRICS[gap][1]} (Pareto front: no other method is both more "
                    f"accurate and fairer)", bars=[], kind="scatter", x_label=METRICS[gap][1],
              y_label="accuracy", points=points, reference=bound,
              reference_label=f"constraint {gap} <= {bound:g}" if bound is not None else ""),
        Chart(title="Worst-group accuracy (mean over seeds, bootstrap interval)", x_label="worst-group accuracy",
              bars=[Bar(r["method"], r["worst_group_accuracy"], r["worst_group_accuracy_low"],
                        r["worst_group_accuracy_high"], flag=r["method"] == best) for _, r in ok.iterrows()],
              reference=_base_value(board, "worst_group_accuracy"), reference_label="baseline"),
        Chart(title=f"{METRICS[gap][1].capitalize()} (mean over seeds, bootstrap interval)", x_label=METRICS[gap][1],
              bars=[Bar(r["method"], r[gap], r[f"{gap}_low"], r[f"{gap}_high"], flag=r["method"] == best)
                    for _, r in ok.iterrows()],
              reference=bound if bound is not None else _base_value(board, gap),
              reference_label="constraint" if bound is not None else "baseline"),
    ]
    tables = [Table("Leaderboard (mean over seeds [95% bootstrap interval])", cols, rows)]
    group_table = _group_table(runs, board, best)
    if group_table is not None:
        tables.append(group_table)
    summary = {
        "recommended": best, "recommended_title": rec["title"], "meets_constraints": rec["meets"],
        "meets_confidently": rec["confident"], "best_unskew": rec["best_unskew"], "best_peer": rec["best_peer"],
        "selection": selection.describe(), "fairness_criterion": selection.fairness, "model": _model_name(est),
        "n_seeds": len(seeds), "n_methods_run": int(len(ok)), "n_methods_skipped": int((board.status == "skipped").sum()),
        "n_methods_failed": int((board.status == "error").sum()), "n_development_rows": int(len(folds[0].y)),
        "n_test_rows": int(len(folds[0].y_test)), "groups": folds[0].group_labels,
        "leaderboard": board.to_dict(orient="records"),
    }
    checks.append(CheckResult(
        name="leaderboard", title="Mitigation leaderboard", status=status, summary=summary, findings=findings,
        thresholds={m: b for m, _, b in selection.constraints}, charts=charts, tables=tables, elapsed_s=elapsed,
        explanation=(
            f"Every method trained on the same development rows of each of {len(seeds)} seed(s) and predicted "
            f"the same held-out test rows ({len(folds[0].y_test)} per seed, stratified by group and label). "
            f"Numbers are means over seeds; intervals are {int(params['confidence'] * 100)}% percentile "
            f"intervals of a bootstrap of the test rows averaged over seeds. Gaps are the largest differences "
            f"between groups with at least {params['min_group_size']} test rows; as maxima of noisy "
            f"differences their intervals lean upward (a gap near 0 is estimated with an upward bias). 'Data changed' is the share of "
            f"the training distribution moved (rows removed, duplicated, synthesised or reweighted; 1 when "
            f"every row's features are transformed); 'decisions changed' is the share of test decisions that "
            f"differ from the baseline's. Post-processing times include fitting the baseline they adjust. "
            f"Methods targeting a fairness criterion aim at {selection.fairness.replace('_', ' ')}."),
    ))
    return Report(kind="compare", checks=checks, dataset=ds.describe(), parameters=params)


def _base_value(board, metric):
    b = board[(board["method"] == "baseline") & (board["status"] == "ok")]
    return None if b.empty else float(b.iloc[0][metric])


def _group_table(runs: pd.DataFrame, board: pd.DataFrame, best: str | None) -> Table | None:
    if "group_accuracy" not in runs:
        return None
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return None
    frame = pd.DataFrame([dict(g, method=m) for m, g in zip(ok["method"], ok["group_accuracy"], strict=True)])
    mean = frame.groupby("method", sort=False).mean()
    order = [m for m in board["method"] if m in mean.index]
    mean = mean.loc[order]
    cols = ["method", *[str(c) for c in mean.columns]]
    rows = [[m, *[_f(v) for v in mean.loc[m].to_numpy()]] for m in mean.index]
    return Table("Test accuracy per group (mean over seeds)", cols, rows)


__all__ = ["MODELS", "QUALITY", "CompareResult", "compare", "make_folds", "resolve_methods", "resolve_model",
           "run_metrics"]
