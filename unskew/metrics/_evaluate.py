"""``evaluate``: a model's behaviour per group as a :class:`~unskew.report.Report`.

The report (``kind="evaluate"``) has these sections, each a
:class:`~unskew.report.CheckResult`:

``group_metrics``
    Per-group metrics with intervals and charts.
``fairness_gaps``
    Between-group measures with bootstrap intervals and a status against
    thresholds, and the four-fifths rule per group.
``calibration``
    ROC AUC, Brier score, ECE and a reliability table per group (needs scores).
``individual_fairness``
    Generalised entropy and Theil indices and kNN consistency.
``counterfactual``
    Prediction flips when the sensitive attribute is swapped (needs a model).
``challenge``
    Per-tag results of a challenge set, failing cases listed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import Dataset
from ..data._groups import encode_groups
from ..exceptions import UnskewInputError
from ..report import Bar, Chart, CheckResult, Finding, Report, Table, sample_table, worst_status
from ._challenge import ChallengeResult, run_challenge_set
from ._compute import spec_of
from ._counterfactual import CounterfactualResult, counterfactual_test
from ._fairness import MEASURES, NEEDS
from ._frame import GroupMetrics
from ._groupstats import GroupStats, _infer_task
from ._models import load_model, model_features, predict_with

#: ``{name: (warn, fail)}``. For gaps (differences, indices) a value at or above
#: the threshold triggers it; for ratios, worst-group levels, pass rates and
#: consistency a value below it does. Signed differences are compared by size.
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "demographic_parity_difference": (0.1, 0.2),
    "disparate_impact_ratio": (0.9, 0.8),
    "equalized_odds_difference": (0.1, 0.2),
    "equal_opportunity_difference": (0.1, 0.2),
    "average_odds_difference": (0.1, 0.2),
    "statistical_parity_difference": (0.1, 0.2),
    "predictive_parity_difference": (0.1, 0.2),
    "accuracy_difference": (0.05, 0.1),
    "roc_auc_difference": (0.05, 0.1),
    "calibration_gap": (0.05, 0.1),
    "counterfactual_flip_rate": (0.01, 0.05),
    "challenge_pass_rate": (1.0, 0.9),
}
_LOW_IS_WORSE = {"challenge_pass_rate", "consistency"}
_HEADLINE = {
    "binary": ["selection_rate", "true_positive_rate", "false_positive_rate", "precision", "accuracy", "roc_auc"],
    "multiclass": ["accuracy", "balanced_accuracy", "f1_macro"],
    "regression": ["mae", "rmse", "mean_residual"],
}


@dataclass
class Evaluation:
    """Everything :func:`evaluate` computed; ``report`` is what the CLI writes."""

    report: Report
    metrics: GroupMetrics
    fairness: pd.DataFrame
    stats: GroupStats
    counterfactual: CounterfactualResult | None = None
    challenge: ChallengeResult | None = None
    dataset: Dataset | None = None
    thresholds: dict = field(default_factory=dict)


def parse_thresholds(overrides: dict | None) -> dict[str, tuple[float, float] | None]:
    """Merge ``{name: (warn, fail) | "warn:fail" | "off" | None}`` into the defaults."""
    out: dict[str, tuple[float, float] | None] = dict(DEFAULT_THRESHOLDS)
    known = set(MEASURES) | set(DEFAULT_THRESHOLDS) | {"consistency"}
    for name, val in (overrides or {}).items():
        if name not in known:
            raise UnskewInputError(f"Unknown threshold {name!r}; known: {', '.join(sorted(known))}.")
        if val is None or (isinstance(val, str) and val.strip().lower() in ("off", "none")):
            out[name] = None
            continue
        if isinstance(val, str):
            parts = val.split(":")
            try:
                nums = [float(p) for p in parts]
            except ValueError:
                raise UnskewInputError(
                    f"Threshold {name}={val!r} must be WARN:FAIL numbers (e.g. 0.1:0.2) or 'off'.") from None
            val = (nums[0], nums[-1])
        warn, fail = float(val[0]), float(val[1])
        out[name] = (warn, fail)
    return out


def _direction(name: str) -> str:
    if name in _LOW_IS_WORSE:
        return "low"
    if name in MEASURES:
        return "low" if MEASURES[name].worse == "low" else "high"
    return "high"


def status_of(name: str, value: float | None, thresholds: dict) -> str:
    """``pass``/``warn``/``fail`` of a value against its thresholds (``pass`` if none or NaN)."""
    th = thresholds.get(name)
    if th is None or value is None or not math.isfinite(value):
        return "pass"
    warn, fail = th
    if _direction(name) == "low":
        return "fail" if value < fail else "warn" if value < warn else "pass"
    v = abs(value)
    return "fail" if v >= fail else "warn" if v >= warn else "pass"


def _fmt(v: Any, digits: int = 3) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "n/a" if not math.isfinite(f) else f"{f:.{digits}f}"


def _r(v: Any, digits: int = 6):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return None if not math.isfinite(f) else round(f, digits)


# ---------------------------------------------------------------------------- entry point
def evaluate(
    data: Any,
    *,
    target: str,
    sensitive: str | Sequence[str],
    predictions: str | None = None,
    scores: str | None = None,
    weights: str | None = None,
    model: Any = None,
    trust_pickle: bool = False,
    features: Sequence[str] | None = None,
    challenge: Any = None,
    proxies: Sequence[str] | None = None,
    pos_label: Any = None,
    task: str = "auto",
    privileged: Any = None,
    thresholds: dict | None = None,
    ci: str | None = "wilson",
    confidence: float = 0.95,
    n_boot: int = 1000,
    min_group_size: int = 30,
    decision_threshold: float = 0.5,
    counterfactual_rows: int | None = 20_000,
    consistency_rows: int | None = 5_000,
    n_neighbors: int = 5,
    stream: bool = False,
    batch_size: int = 1_000_000,
    score_bins: int | None = None,
    random_state: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
    engine: str = "pandas",
    engine_options: dict | None = None,
    **dataset_kwargs: Any,
) -> Evaluation:
    """Evaluate a model's predictions per group and build the ``evaluate`` report.

    Parameters
    ----------
    data : path, DataFrame or Dataset
        Rows with the target, the sensitive column(s) and either predictions,
        scores, or the feature columns a ``model`` needs.
    target : str
        True labels (or values, for a regression).
    sensitive : str or list of str
        Sensitive columns; groups are their intersections.
    predictions, scores, weights : str, optional
        Columns of predicted labels, positive-class scores and row weights.
        Without ``predictions``, labels come from ``model`` or from
        ``scores >= decision_threshold``.
    model : path or object, optional
        A model (see :func:`load_model`); predicts from the feature columns when
        ``predictions`` is absent, and enables the counterfactual test.
    trust_pickle : bool, default False
        Allow pickle/joblib models (they can run code when loaded).
    features : list of str, optional
        The model's input columns (default: its ``feature_names_in_``).
    challenge : path or DataFrame, optional
        A challenge set (see :func:`run_challenge_set`).
    proxies : list of str, optional
        Proxy columns also swapped in the counterfactual test.
    pos_label, task, decision_threshold, score_bins
        See :meth:`GroupStats.from_arrays`.
    privileged : dict, str or list, optional
        Privileged group(s) for the AIF360-style measures.
    thresholds : dict, optional
        ``{name: (warn, fail) or "warn:fail" or "off"}`` overriding
        :data:`DEFAULT_THRESHOLDS`.
    ci, confidence, n_boot : see :class:`GroupMetrics`.
    min_group_size : int, default 30
        Smaller groups are shown but left out of the gaps (and say so).
    counterfactual_rows, consistency_rows : int, optional
        Rows sampled for the counterfactual test and kNN consistency.
    stream : bool, default False
        Read a Parquet ``data`` in batches of ``batch_size`` rows (no model,
        no consistency); memory stays near one batch.
    random_state : int, default 0
    engine : {"pandas", "duckdb", "spark", "dask"}, default "pandas"
        Who computes the group statistics (see :mod:`unskew.engines`). Any
        engine other than pandas reads only the named columns of a Parquet or
        CSV file (or a Spark/Dask DataFrame); like ``stream``, it needs
        predictions or scores in the data (no model, no consistency).
    engine_options : dict, optional
        Options of the engine, e.g. ``{"master": "local[2]"}`` for Spark,
        ``{"scheduler": "tcp://host:8786"}`` for Dask, ``{"memory_limit": "4GB"}``
        for DuckDB.
    **dataset_kwargs
        Passed to :meth:`Dataset.from_data` (``na_values``, ``delimiter``, ...).

    Returns
    -------
    Evaluation
    """
    t_start = time.perf_counter()
    th = parse_thresholds(thresholds)
    if isinstance(model, (str, Path)):
        model = load_model(model, trust_pickle=trust_pickle)
    sens = [sensitive] if isinstance(sensitive, str) else list(sensitive or [])
    sens = [c.strip() for part in sens for c in part.split(",") if c.strip()]
    if not sens:
        raise UnskewInputError("evaluate needs at least one sensitive column (--sensitive).")
    if predictions is None and scores is None and model is None:
        raise UnskewInputError("Pass a predictions column (--predictions), a scores column (--scores) "
                               "or a model (--model) to evaluate.")
    ds = None
    frame = None
    y_pred = y_score = None
    source = "column"
    stats_kw = dict(task=task, pos_label=pos_label, threshold=decision_threshold, score_bins=score_bins)
    # -- engines (issue 17): the statistics come from unskew.engines; the rest of the report is shared
    from ..engines import check_engine

    engine = check_engine(engine)
    if engine != "pandas":
        from ..engines import group_stats

        if model is not None and predictions is None:
            raise UnskewInputError(f"The {engine} engine reads only the named columns; a model needs the feature "
                                   f"columns. Use --engine pandas, or write predictions to the file first.")
        if on_progress:
            on_progress("reading", 0, 1)
        stats, info = group_stats(data, engine=engine, target=target, sensitive=sens, predictions=predictions,
                                  scores=scores, weights=weights, delimiter=dataset_kwargs.get("delimiter"),
                                  **stats_kw, **(engine_options or {}))
        described = {"source": info.pop("source"), "n_rows_read": stats.n_rows, "n_rows": stats.n_rows,
                     "target": target, "sensitive": sens, "predictions": predictions, "scores": scores,
                     "weights": weights, "engine": info}
    # -- end engines
    elif stream:
        if model is not None and predictions is None:
            raise UnskewInputError("Streaming reads only the named columns; a model needs the feature columns. "
                                   "Drop --stream, or write predictions to the file first.")
        path = Path(data) if isinstance(data, (str, Path)) else None
        if path is None or path.suffix.lower() not in (".parquet", ".pq"):
            raise UnskewInputError("--stream needs a Parquet file.")
        stats = GroupStats.from_parquet(path, target=target, sensitive=sens, predictions=predictions, scores=scores,
                                        weights=weights, batch_size=batch_size,
                                        on_batch=(lambda d, t: on_progress("reading", d, t)) if on_progress else None,
                                        **stats_kw)
        described = {"source": str(path), "n_rows_read": stats.n_rows, "n_rows": stats.n_rows, "target": target,
                     "sensitive": sens, "predictions": predictions, "scores": scores, "weights": weights,
                     "streamed": True, "batch_size": batch_size}
    else:
        ds = Dataset.from_data(data, target=target, sensitive=sens, predictions=predictions, scores=scores,
                               weights=weights, features=features, require_two_classes=False, **dataset_kwargs)
        frame = ds.frame
        y_true = frame[target]
        y_pred = frame[predictions] if predictions else None
        y_score = frame[scores] if scores else None
        if y_pred is None and model is not None:
            exclude = [target, weights, scores]
            cols = model_features(model, frame, [c for c in exclude if c], features)
            if on_progress:
                on_progress("predicting", 0, 1)
            y_pred, model_scores = predict_with(model, frame[cols], pos_label)
            source = "model"
            if y_score is None and model_scores is not None:
                y_score = model_scores
        kind = _infer_task(np.asarray(y_true), y_pred) if task == "auto" else task
        if kind == "classification" and pos_label is None:
            stats_kw["pos_label"] = _dataset_pos_label(ds, y_pred)
        stats = GroupStats.from_arrays(y_true, y_pred, sensitive_features=frame[sens], sample_weight=ds.sample_weight,
                                       y_score=y_score, **stats_kw)
        described = ds.describe()
        described["predictions_from"] = source
    if on_progress:
        on_progress("metrics", 0, 1)
    gm = GroupMetrics(stats, ci=ci, confidence=confidence, n_boot=n_boot, random_state=random_state,
                      min_group_size=min_group_size)
    eligible = int(((stats.n >= min_group_size) & (stats.weight > 0)).sum())
    gap_min = min_group_size if eligible >= 2 else None
    fair = gm.fairness(privileged=privileged, min_group_size=gap_min)
    checks = [
        _section_groups(gm, min_group_size, eligible),
        _section_gaps(gm, fair, th, privileged, gap_min, min_group_size),
        _section_calibration(gm, fair, th),
        _section_individual(gm, stats, frame, ds, sens, th, consistency_rows, n_neighbors, random_state,
                            _binary_prediction(stats, y_pred, y_score, decision_threshold)),
    ]
    cf = None
    if model is not None and frame is not None:
        if on_progress:
            on_progress("counterfactual", 0, 1)
        t0 = time.perf_counter()
        exclude = [c for c in (target, weights, scores, predictions) if c]
        cols = model_features(model, frame, exclude, features)
        if not any(s in cols for s in sens) and not proxies:
            checks.append(_skipped("counterfactual", "Counterfactual test",
                                   f"The model's inputs ({', '.join(cols[:8])}) do not include the sensitive "
                                   f"column(s) {sens}; pass --proxies to swap the columns that stand in for them."))
        else:
            attrs = [s for s in sens if s in cols]
            cf = counterfactual_test(model, frame[cols], sensitive=attrs, proxies=proxies,
                                     sample_weight=ds.sample_weight, max_rows=counterfactual_rows,
                                     pos_label=stats.pos_label, random_state=random_state)
            checks.append(_section_counterfactual(cf, th))
            checks[-1].elapsed_s = time.perf_counter() - t0
    else:
        checks.append(_skipped("counterfactual", "Counterfactual test",
                               "Needs a model (--model) that takes the sensitive attribute as an input."))
    ch = None
    if challenge is not None:
        t0 = time.perf_counter()
        ch = run_challenge_set(challenge, model=model, features=features, pos_label=stats.pos_label)
        checks.append(_section_challenge(ch, th))
        checks[-1].elapsed_s = time.perf_counter() - t0
    else:
        checks.append(_skipped("challenge", "Challenge set", "Needs a challenge file (--challenge)."))
    params = {
        "target": target, "sensitive": sens, "predictions": predictions, "scores": scores, "weights": weights,
        "model": type(model).__name__ if model is not None else None, "predictions_from": source,
        "pos_label": stats.pos_label if stats.task == "classification" else None, "task": gm.kind,
        "privileged": privileged if privileged is None or isinstance(privileged, (str, dict, list)) else str(privileged),
        "ci": ci, "confidence": confidence, "n_boot": n_boot, "min_group_size": min_group_size,
        "thresholds": {k: (None if v is None else list(v)) for k, v in th.items()},
        "score_table": None if not stats.has_scores else ("exact" if stats.score_bins is None
                                                          else f"{stats.score_bins} bins"),
        "random_state": random_state, "elapsed_s": round(time.perf_counter() - t_start, 3),
    }
    report = Report(kind="evaluate", checks=checks, dataset=described, parameters=params)
    return Evaluation(report=report, metrics=gm, fairness=fair, stats=stats, counterfactual=cf, challenge=ch,
                      dataset=ds, thresholds=th)


def _dataset_pos_label(ds: Dataset, y_pred) -> Any:
    """The dataset's positive label, when predictions use the same label set."""
    vals = set(pd.unique(ds.frame[ds.target]).tolist())
    if len(vals) > 2:
        return None
    try:
        return ds.positive_label()
    except Exception:  # pragma: no cover - defensive: fall back to the engine's default
        return None


def _skipped(name: str, title: str, why: str) -> CheckResult:
    return CheckResult(name=name, title=title, status="skipped", findings=[Finding(f"Skipped: {why}")],
                       summary={"reason": why})


# ---------------------------------------------------------------------------- sections
def _section_groups(gm: GroupMetrics, min_group_size: int, eligible: int) -> CheckResult:
    st = gm.stats
    labels = gm.labels
    cols = gm.columns
    rows = []
    for g, lab in enumerate(labels):
        rows.append([lab, int(st.n[g])] + [_r(gm.by_group[c].iloc[g]) for c in cols if c != "count"]
                    + [gm.notes.iloc[g]])
    rows.append(["(overall)", st.n_rows] + [_r(gm.overall[c]) for c in cols if c != "count"] + [""])
    table = Table("Metrics by group", ["group", "n"] + [c for c in cols if c != "count"] + ["note"], rows)
    tables = [table]
    charts = []
    small = st.n < min_group_size
    if gm.ci_low is not None:
        irows = []
        for c in cols:
            if c == "count" or gm.ci_low[c].isna().all():
                continue
            for g, lab in enumerate(labels):
                irows.append([lab, c, _r(gm.by_group[c].iloc[g]), _r(gm.ci_low[c].iloc[g]),
                              _r(gm.ci_high[c].iloc[g])])
        tables.append(Table(f"{gm.confidence:.0%} intervals ({gm.ci_method})",
                            ["group", "metric", "value", "low", "high"], irows))
    for c in _HEADLINE[gm.kind]:
        if c not in cols:
            continue
        bars = [Bar(label=lab, value=_r(gm.by_group[c].iloc[g]) if np.isfinite(gm.by_group[c].iloc[g]) else 0.0,
                    low=None if gm.ci_low is None else _r(gm.ci_low[c].iloc[g]),
                    high=None if gm.ci_high is None else _r(gm.ci_high[c].iloc[g]),
                    flag=bool(small[g] or not np.isfinite(gm.by_group[c].iloc[g])))
                for g, lab in enumerate(labels)]
        charts.append(Chart(title=f"{spec_of(c).title} by group", bars=bars, x_label=spec_of(c).title,
                            reference=_r(gm.overall[c]), reference_label="overall"))
    findings = []
    for g, lab in enumerate(labels):
        if gm.notes.iloc[g]:
            findings.append(Finding(f"{lab}: {gm.notes.iloc[g]}.", severity="warn" if small[g] else "info",
                                    subject=lab, value=float(st.n[g])))
    status = "pass"
    if eligible < 2:
        status = "warn"
        findings.insert(0, Finding(
            f"Fewer than two groups have at least {min_group_size} rows; gaps are computed over all groups "
            f"and are unreliable.", severity="warn"))
    for c in _HEADLINE[gm.kind][:2]:
        if c in cols:
            worst = gm.worst_group().get(c) if spec_of(c).higher_is_better is not None else None
            hi, lo = gm.by_group[c].max(), gm.by_group[c].min()
            msg = f"{spec_of(c).title} ranges from {_fmt(lo)} to {_fmt(hi)} across {st.n_groups} groups"
            msg += f" (overall {_fmt(gm.overall[c])})" + (f"; worst: {worst}" if worst else "") + "."
            findings.insert(0 if status == "pass" else 1, Finding(msg, severity="info", subject=c))
    summary = {
        "task": gm.kind, "n_rows": st.n_rows, "n_groups": st.n_groups, "weighted": st.weighted,
        "groups_below_min_size": [lab for lab, s in zip(labels, small, strict=True) if s],
        "pos_label": st.pos_label if gm.kind == "binary" else None,
        "classes": None if st.classes is None else list(st.classes),
        "overall": {c: _r(gm.overall[c]) for c in cols},
        "ci": gm.ci_method, "confidence": gm.confidence,
    }
    return CheckResult(
        name="group_metrics", title="Metrics by group", status=status, summary=summary, findings=findings,
        explanation=("Every metric per intersectional group, computed from weighted confusion counts (and score "
                     "tables or sums) in one pass. Undefined values (no positives, no predicted positives) are "
                     "shown as n/a with the reason, never as 0. Intervals: Wilson for rates, Hanley-McNeil for "
                     "AUC, or a Poisson bootstrap of the statistics."),
        thresholds={"min_group_size": min_group_size}, charts=charts, tables=tables)


def _extremes(gm: GroupMetrics, measure: str, mask: np.ndarray) -> str:
    need = NEEDS.get(measure)
    if not need or len(need) != 1 or need[0] not in gm.by_group.columns:
        return ""
    v = gm.by_group[need[0]].to_numpy(float).copy()
    v[~mask] = np.nan
    if np.isnan(v).all():
        return ""
    lo, hi = int(np.nanargmin(v)), int(np.nanargmax(v))
    labels = gm.labels
    return f"lowest {labels[lo]} ({_fmt(v[lo])}), highest {labels[hi]} ({_fmt(v[hi])})"


def _section_gaps(gm, fair: pd.DataFrame, th, privileged, gap_min, min_group_size) -> CheckResult:
    mask = (gm.stats.weight > 0) & ((gm.stats.n >= gap_min) if gap_min else True)
    rows, findings, statuses = [], [], []
    summary = {}
    for name, row in fair.iterrows():
        if name == "calibration_gap":
            continue
        t = th.get(name)
        status = status_of(name, row.value, th) if t else "info"
        if t:
            statuses.append(status)
        where = _extremes(gm, name, mask)
        ci_txt = "" if not np.isfinite(row.ci_low) else f" ({gm.confidence:.0%} CI {_fmt(row.ci_low)} to {_fmt(row.ci_high)})"
        rows.append([name, _r(row.value), _r(row.ci_low), _r(row.ci_high), None if not t else t[0],
                     None if not t else t[1], status, where])
        summary[name] = _r(row.value)
        if status in ("warn", "fail"):
            bound = t[1] if status == "fail" else t[0]
            side = "below" if _direction(name) == "low" else "at or above"
            findings.append(Finding(
                f"{row.title} is {_fmt(row.value)}{ci_txt}, {side} the {status} threshold {bound}"
                + (f": {where}." if where else "."), severity=status, subject=name, value=_r(row.value)))
    findings.sort(key=lambda f: 0 if f.severity == "fail" else 1)
    tables = [Table("Fairness measures", ["measure", "value", "ci_low", "ci_high", "warn", "fail", "status",
                                          "groups"], rows)]
    charts = []
    if gm.kind == "binary":
        ff = gm.four_fifths(privileged=privileged, min_group_size=gap_min)
        tables.append(Table("Four-fifths rule (selection rate / reference rate)",
                            ["group", "n", "selection_rate", "ratio", "passes", "compared", "reference"],
                            [[r.group, int(r.n), _r(r.selection_rate), _r(r.ratio), r.passes, bool(r.compared),
                              r.reference] for r in ff.itertuples()]))
        charts.append(Chart(title="Selection rate relative to the reference group",
                            bars=[Bar(label=r.group, value=_r(r.ratio) or 0.0, flag=r.passes is False)
                                  for r in ff.itertuples()],
                            x_label="ratio", reference=0.8, reference_label="four-fifths"))
        failing = [r.group for r in ff.itertuples() if r.passes is False]
        if failing:
            findings.append(Finding(f"Four-fifths rule fails for {', '.join(failing)}.", severity="info",
                                    subject="four_fifths"))
    if not statuses:
        findings.append(Finding("No thresholds apply to these measures; set them with --threshold NAME=WARN:FAIL.",
                                severity="info"))
    elif not findings or all(f.severity == "info" for f in findings):
        findings.insert(0, Finding("Every gated fairness measure is within its thresholds.", severity="info"))
    excluded = [lab for lab, m in zip(gm.labels, mask, strict=True) if not m]
    if excluded:
        findings.append(Finding(f"Left out of the gaps (fewer than {min_group_size} rows or no weight): "
                                f"{', '.join(excluded)}; see the group table.", severity="warn"))
    summary["groups_compared"] = int(mask.sum())
    summary["groups_excluded"] = excluded
    summary["privileged"] = privileged if privileged is None or isinstance(privileged, (str, dict)) else str(privileged)
    return CheckResult(
        name="fairness_gaps", title="Fairness gaps", status=worst_status(statuses), summary=summary,
        findings=findings, thresholds={k: list(v) for k, v in th.items() if v and k in fair.index},
        explanation=("Between-group measures over groups with enough rows. Differences and indices fail at or "
                     "above their thresholds, ratios below. Intervals are percentiles of a Poisson bootstrap of "
                     "the per-group statistics."),
        charts=charts, tables=tables)


def _section_calibration(gm: GroupMetrics, fair: pd.DataFrame, th) -> CheckResult:
    st = gm.stats
    if gm.kind != "binary" or not st.has_scores:
        why = "Needs scores (--scores, or a model with predict_proba) and a binary target."
        return _skipped("calibration", "Calibration and ranking", why)
    cols = [c for c in ("roc_auc", "brier", "ece", "mean_score", "base_rate", "calibration_in_the_large")
            if c in gm.columns]
    rows = [[lab, int(st.n[g])] + [_r(gm.by_group[c].iloc[g]) for c in cols] for g, lab in enumerate(gm.labels)]
    rows.append(["(overall)", st.n_rows] + [_r(gm.overall[c]) for c in cols])
    rel = gm.calibration_table()
    tables = [Table("Calibration and ranking by group", ["group", "n"] + cols, rows),
              Table(f"Reliability ({st.ece_bins} bins)", ["group", "bin", "bin_low", "bin_high", "weight",
                                                          "mean_score", "observed_rate"],
                    [[r.group, int(r.bin), _r(r.bin_low), _r(r.bin_high), _r(r.weight), _r(r.mean_score),
                      _r(r.observed_rate)] for r in rel.itertuples()])]
    charts = [Chart(title="Expected calibration error by group",
                    bars=[Bar(label=lab, value=_r(gm.by_group["ece"].iloc[g]) or 0.0)
                          for g, lab in enumerate(gm.labels)], x_label="ECE",
                    reference=_r(gm.overall["ece"]), reference_label="overall")]
    findings = []
    probs = st.score_min >= 0 and st.score_max <= 1
    gap = float(fair.loc["calibration_gap", "value"]) if "calibration_gap" in fair.index else np.nan
    status = status_of("calibration_gap", gap, th) if probs else "pass"
    if not probs:
        findings.append(Finding(f"Scores range from {st.score_min:g} to {st.score_max:g}, so they are not "
                                f"probabilities: Brier score and ECE are not computed (AUC is).", severity="info"))
    else:
        t = th.get("calibration_gap")
        worst = gm.by_group["ece"].idxmax() if gm.by_group["ece"].notna().any() else None
        wl = gm.labels[list(gm.by_group.index).index(worst)] if worst is not None else "n/a"
        findings.append(Finding(
            f"ECE ranges from {_fmt(gm.by_group['ece'].min())} to {_fmt(gm.by_group['ece'].max())}; "
            f"calibration gap {_fmt(gap)} (worst: {wl})" + (f", {status} threshold {t[1] if status == 'fail' else t[0]}"
                                                            if status != "pass" and t else "") + ".",
            severity=status if status != "pass" else "info", subject="calibration_gap", value=_r(gap)))
    mode = "exact" if st.score_bins is None else f"discretised to {st.score_bins} bins"
    return CheckResult(
        name="calibration", title="Calibration and ranking", status=status,
        summary={"calibration_gap": _r(gap), "score_table": mode, "ece_bins": st.ece_bins,
                 "overall_auc": _r(gm.overall.get("roc_auc")), "overall_ece": _r(gm.overall.get("ece"))},
        findings=findings, thresholds={"calibration_gap": list(th["calibration_gap"]) if th.get("calibration_gap")
                                       else None},
        explanation=("ROC AUC per group (exact over distinct scores, or over a fine histogram when streaming), "
                     "Brier score, and expected calibration error over equal-width bins; the calibration gap is "
                     "the largest between-group difference in ECE."),
        charts=charts, tables=tables)


def _consistency_rows(frame, features, sens, y_pred_bin, rows, n_neighbors, rng):
    from sklearn.neighbors import NearestNeighbors

    cols = [c for c in features if c not in sens]
    if not cols:
        return None, None, "no feature columns besides the sensitive ones"
    idx = np.arange(len(frame))
    if rows is not None and len(frame) > rows:
        idx = np.sort(rng.choice(len(frame), rows, replace=False))
    sub = frame.iloc[idx][cols]
    parts = []
    for c in cols:
        s = sub[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            v = pd.to_numeric(s, errors="coerce").astype(float)
            v = v.fillna(v.median() if v.notna().any() else 0.0)
            sd = v.std()
            parts.append(((v - v.mean()) / (sd if sd > 0 else 1.0)).to_numpy()[:, None])
        else:
            text = s.astype("string").fillna("(missing)")
            top = text.value_counts().index[:20]
            d = pd.get_dummies(text.where(text.isin(top), "(other)"))
            parts.append(d.to_numpy(float))
    X = np.hstack(parts)
    k = min(n_neighbors, len(X))
    _, nb = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    y = y_pred_bin[idx].astype(float)
    dev = np.abs(y - y[nb].mean(axis=1))
    return idx, dev, None


def _section_individual(gm, stats, frame, ds, sens, th, rows, n_neighbors, seed, y_pred) -> CheckResult:
    if gm.kind != "binary":
        return _skipped("individual_fairness", "Individual fairness",
                        "The benefit-based indices and consistency are defined for binary classification.")
    c2 = stats.binary_confusion()[0]
    from ._compute import between_group_generalized_entropy, generalized_entropy

    vals = {
        "generalized_entropy_index": float(generalized_entropy(c2, 2)),
        "theil_index": float(generalized_entropy(c2, 1)),
        "between_group_generalized_entropy_index": float(between_group_generalized_entropy(c2, 2)),
        "between_group_theil_index": float(between_group_generalized_entropy(c2, 1)),
    }
    rows_out = [[k, _r(v)] for k, v in vals.items()]
    findings = [Finding(
        f"Generalised entropy index {_fmt(vals['generalized_entropy_index'])}, of which between groups "
        f"{_fmt(vals['between_group_generalized_entropy_index'])}; Theil index {_fmt(vals['theil_index'])}.",
        severity="info")]
    tables = []
    statuses = [status_of(k, v, th) for k, v in vals.items() if th.get(k)]
    summary = {k: _r(v) for k, v in vals.items()}
    if frame is not None and ds is not None:
        pred = y_pred
        if pred is not None:
            rng = np.random.default_rng(seed)
            idx, dev, why = _consistency_rows(frame, ds.features, sens, pred, rows, n_neighbors, rng)
            if dev is not None:
                w = None if ds.sample_weight is None else ds.sample_weight[idx]
                cons = float(1 - np.average(dev, weights=w))
                summary["consistency"] = _r(cons)
                summary["consistency_rows"] = int(len(idx))
                rows_out.append(["consistency", _r(cons)])
                codes = _group_codes(frame.iloc[idx], sens, stats)
                grows = []
                for g, lab in enumerate(gm.labels):
                    m = codes == g
                    if m.any():
                        grows.append([lab, int(m.sum()), _r(1 - np.average(dev[m], weights=None if w is None else w[m]))])
                tables.append(Table(f"kNN consistency by group (k={n_neighbors})", ["group", "rows", "consistency"],
                                    grows))
                status = status_of("consistency", cons, th) if th.get("consistency") else "pass"
                statuses.append(status) if th.get("consistency") else None
                findings.append(Finding(
                    f"kNN consistency {_fmt(cons)} over {len(idx)} rows: predictions agree with those of the "
                    f"{n_neighbors} most similar rows (features standardised, sensitive columns left out).",
                    severity=status if status != "pass" else "info", subject="consistency", value=_r(cons)))
            else:
                findings.append(Finding(f"kNN consistency not computed: {why}.", severity="info"))
    tables.insert(0, Table("Inequality and consistency", ["measure", "value"], rows_out))
    return CheckResult(
        name="individual_fairness", title="Individual fairness", status=worst_status(statuses), summary=summary,
        findings=findings, thresholds={k: list(th[k]) for k in list(vals) + ["consistency"] if th.get(k)},
        explanation=("Inequality of individual benefits b = y_pred - y_true + 1 (generalised entropy and Theil "
                     "indices, Speicher et al. 2018) and kNN consistency (Zemel et al. 2013): 1 minus the mean "
                     "gap between a row's prediction and its neighbours'."),
        tables=tables)


def _binary_prediction(stats, y_pred, y_score, threshold) -> np.ndarray | None:
    """0/1 predicted-positive per row (for consistency), or None."""
    if not stats.is_binary:
        return None
    if y_pred is not None:
        return (np.asarray(y_pred) == stats.pos_label).astype(np.int8)
    if y_score is not None:
        return (np.asarray(y_score, dtype=float) >= threshold).astype(np.int8)
    return None


def _group_codes(sub: pd.DataFrame, sens, stats: GroupStats) -> np.ndarray:
    g = encode_groups(sub[sens])
    codes, keys = g.codes, g.keys
    index = {k: i for i, k in enumerate(stats.keys)}
    lut = np.array([index.get(k, -1) for k in keys], dtype=np.int64)
    return lut[codes]


def _section_counterfactual(cf: CounterfactualResult, th) -> CheckResult:
    bg = cf.by_group
    rate = float(bg["flip_rate"].max()) if len(bg) and bg["flip_rate"].notna().any() else np.nan
    status = status_of("counterfactual_flip_rate", rate, th)
    findings = []
    if len(bg):
        worst = bg.loc[bg["flip_rate"].idxmax()] if bg["flip_rate"].notna().any() else None
        if worst is not None:
            t = th.get("counterfactual_flip_rate")
            findings.append(Finding(
                f"Swapping {worst.attribute} changes {worst.flip_rate:.1%} of predictions for {worst.attribute}="
                f"{worst.group} (overall {cf.overall['flip_rate']:.1%}; any swap: {cf.overall['any_flip_rate']:.1%})"
                + (f"; {status} threshold {t[1] if status == 'fail' else t[0]:.1%}" if status != "pass" and t else "")
                + ".", severity=status if status != "pass" else "info", subject=str(worst.attribute),
                value=_r(worst.flip_rate)))
    findings += [Finding(n, severity="info") for n in cf.notes]
    tables = [
        Table("Flip rate by group", list(bg.columns), [[_r(v) for v in r] for r in bg.itertuples(index=False)]),
        Table("Flip rate by swap", list(cf.pairs.columns), [[_r(v) for v in r] for r in cf.pairs.itertuples(index=False)]),
    ]
    charts = [Chart(title="Prediction flip rate when the sensitive attribute is swapped",
                    bars=[Bar(label=f"{r.attribute}={r.group}", value=_r(r.flip_rate) or 0.0) for r in bg.itertuples()],
                    x_label="flip rate")]
    return CheckResult(
        name="counterfactual", title="Counterfactual test", status=status,
        summary={"n_rows": cf.n_rows, "proxies": cf.proxies, **{k: _r(v) for k, v in cf.overall.items()},
                 "max_group_flip_rate": _r(rate)},
        findings=findings, thresholds={"counterfactual_flip_rate": list(th["counterfactual_flip_rate"])
                                       if th.get("counterfactual_flip_rate") else None},
        explanation=("Each tested row's sensitive value is swapped to every other value (and proxies, if given, "
                     "to a random row of the new group); the flip rate is the share of predicted labels that "
                     "change, the score change the mean difference of the positive-class score."),
        charts=charts, tables=tables)


def _section_challenge(ch: ChallengeResult, th) -> CheckResult:
    bt = ch.by_tag
    tags = bt[bt["tag"] != "(all)"]
    worst = float(tags["pass_rate"].min()) if len(tags) else float(bt["pass_rate"].iloc[0])
    status = status_of("challenge_pass_rate", worst, th)
    findings = []
    for r in bt.itertuples():
        if r.n_passed < r.n:
            sev = status_of("challenge_pass_rate", r.pass_rate, th)
            findings.append(Finding(
                f"Tag {r.tag}: {r.n - r.n_passed} of {r.n} cases fail ({r.pass_rate:.0%} pass): "
                f"{', '.join(r.failing[:10])}" + (" ..." if r.n - r.n_passed > 10 else "") + ".",
                severity=sev if sev != "pass" else "info", subject=str(r.tag), value=_r(r.pass_rate)))
    if not findings:
        findings.append(Finding(f"All {int(bt['n'].iloc[0])} challenge cases pass.", severity="info"))
    failing = ch.cases[~ch.cases["passed"]]
    tables = [Table("Challenge results by tag", ["tag", "n", "n_passed", "pass_rate", "failing"],
                    [[r.tag, int(r.n), int(r.n_passed), _r(r.pass_rate), ", ".join(r.failing)] for r in bt.itertuples()]),
              sample_table("Failing cases", failing.set_index("id"))]
    charts = [Chart(title="Challenge pass rate by tag",
                    bars=[Bar(label=str(r.tag), value=_r(r.pass_rate) or 0.0, flag=r.n_passed < r.n)
                          for r in bt.itertuples()], x_label="pass rate")]
    return CheckResult(
        name="challenge", title="Challenge set", status=status,
        summary={"n_cases": int(bt["n"].iloc[0]), "n_failed": ch.n_failed, "worst_tag_pass_rate": _r(worst)},
        findings=findings, thresholds={"challenge_pass_rate": list(th["challenge_pass_rate"])
                                       if th.get("challenge_pass_rate") else None},
        explanation="Hand-written cases with expected labels; each tag's pass rate is gated, failing cases listed.",
        charts=charts, tables=tables)
