"""Check: suspected label errors by confident learning, overall and per group."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data import Dataset
from ..report import MAX_SAMPLE_ROWS, Finding, Table, sample_table
from ._base import AuditContext, Check, register_check
from ._common import (
    ADJUSTED_COLUMNS,
    GROUP_RATE_COLUMNS,
    MAX_TABLE_ROWS,
    finding_order,
    flag_rates_by_group,
    fmt_p,
    group_rate_charts,
    group_rate_rows,
    judge_group_rate,
    worse,
)
from ._features import out_of_sample_probs, target_codes

#: A numeric target with more distinct values than this is a regression target.
MAX_CLASSES = 20

#: Tolerance cleanlab uses when comparing probabilities with thresholds.
_EPS = 1e-6
#: Smallest per-class threshold (cleanlab's ``CONFIDENT_THRESHOLDS_LOWER_BOUND``).
_MIN_THRESHOLD = 2e-6


# --------------------------------------------------------------------------- confident learning
def confident_thresholds(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Per-class threshold ``t_j``: mean predicted probability of class ``j`` over rows labelled ``j``.

    A class without examples gets 2 (no probability reaches it).
    """
    K = pred_probs.shape[1]
    t = np.array([pred_probs[labels == k, k].mean() if (labels == k).any() else 2.0 for k in range(K)])
    return np.clip(t, _MIN_THRESHOLD, None)


def confident_joint(labels: np.ndarray, pred_probs: np.ndarray, *, calibrate: bool = True) -> np.ndarray:
    """The confident joint ``C[i, j]``: rows labelled ``i`` confidently belonging to class ``j``.

    A row counts for class ``j`` when ``p_j >= t_j``; with several such
    classes the most probable one is taken; rows confident in no class are
    left out. Every diagonal entry is at least 1. With ``calibrate`` the rows
    are rescaled to the given label counts and the matrix to the number of
    rows, then rounded preserving row totals (Northcutt et al. 2021, eq. 2-3;
    identical to ``cleanlab.count.compute_confident_joint``).
    """
    n, K = pred_probs.shape
    t = confident_thresholds(labels, pred_probs)
    confident = pred_probs >= t - _EPS
    n_conf = confident.sum(axis=1)
    guess = np.where(n_conf > 1, pred_probs.argmax(axis=1), confident.argmax(axis=1))
    keep = n_conf > 0
    cj = np.bincount(labels[keep] * K + guess[keep], minlength=K * K).reshape(K, K)
    np.fill_diagonal(cj, cj.diagonal().clip(min=1))
    if not calibrate:
        return cj
    counts = np.bincount(labels, minlength=K)
    cal = (cj.T / np.clip(cj.sum(axis=1), 1e-100, None) * counts).T
    cal = cal / np.clip(cal.sum(), 1e-100, None) * counts.sum()
    return _round_rows(cal)


def _round_preserving_sum(values: np.ndarray) -> np.ndarray:
    floats = np.asarray(values, dtype=float)
    ints = floats.round()
    target = np.sum(floats).round()
    total = np.sum(ints).round()
    while abs(total - target) > _EPS:
        diff = np.round(target - total)
        inc = -1 if diff < 0 else 1
        changes = min(int(abs(diff)), len(floats))
        for i in np.argsort(floats - ints)[::-inc][:changes]:
            ints[i] += inc
        total = np.sum(ints).round()
    return ints.astype(int)


def _round_rows(m: np.ndarray) -> np.ndarray:
    return np.vstack([_round_preserving_sum(r) for r in m]).astype(int)


def _prune_counts(cj: np.ndarray) -> np.ndarray:
    """Rows to remove per (true class, given class), keeping at least one row per class."""
    m = cj.T.astype(float)
    diag = np.diagonal(m).copy()
    new_diag = np.maximum(diag, 1)
    per_col = np.maximum(np.count_nonzero(m, axis=0) - 1.0, 1.0)
    out = m - (new_diag - diag) / per_col
    out[out < 0] = 0
    np.fill_diagonal(out, new_diag)
    return _round_rows(out.astype(int))


def find_label_issues(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confident-learning label issues, "prune by noise rate".

    For every given class ``k`` and other class ``j``, the ``C[k, j]`` rows
    labelled ``k`` with the largest margin ``p_j - p_k`` are flagged, where
    ``C`` is the calibrated confident joint; rows whose most probable class
    is their given label are then unflagged. This reproduces
    ``cleanlab.filter.find_label_issues(labels, pred_probs)`` with its
    defaults (``filter_by="prune_by_noise_rate"``).

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Given class codes ``0 .. K-1``.
    pred_probs : ndarray, shape (n, K)
        Out-of-sample predicted probabilities.

    Returns
    -------
    is_issue : ndarray of bool
    confident_joint : ndarray of int, shape (K, K)
        Calibrated; rows are given labels, columns the estimated true labels.
    """
    labels = np.asarray(labels, dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=float)
    K = pred_probs.shape[1]
    cj = confident_joint(labels, pred_probs)
    prune = _prune_counts(cj)
    is_issue = np.zeros(len(labels), dtype=bool)
    for k in range(K):
        rows = np.flatnonzero(labels == k)
        if len(rows) <= 1:
            continue
        p = pred_probs[rows]
        mask = np.zeros(len(rows), dtype=bool)
        for j in range(K):
            m = prune[j, k]
            if j != k and m > 0:
                order = np.argsort(-(p[:, j] - p[:, k]))
                mask[order[:m]] = True
        is_issue[rows] = mask
    bumped = pred_probs.copy()
    bumped[np.arange(len(labels)), labels] += _EPS
    is_issue[bumped.argmax(axis=1) == labels] = False
    return is_issue, cj


def self_confidence(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Label-quality score of each row: the predicted probability of its given label."""
    labels = np.asarray(labels, dtype=np.int64)
    return np.asarray(pred_probs, dtype=float)[np.arange(len(labels)), labels]


# --------------------------------------------------------------------------- measuring
@dataclass
class LabelQualityMeasures:
    """Suspected label errors (confident learning) overall, per class and per sensitive group.

    ``labels`` are the given class codes, ``pred_probs`` the out-of-sample
    probabilities, ``is_issue`` the flagged rows, ``quality`` the
    self-confidence of each row's label and ``confident_joint`` the counts
    ``C[given, true]``. ``by_group`` holds the flagged rows per group against
    the rest with the difficulty adjustment (:func:`._common.flag_rates_by_group`).
    ``task`` is ``"regression"`` (nothing measured) for a numeric target with
    many values.
    """

    task: str
    target: str
    n_rows: int = 0
    weighted: bool = False
    weight_total: float = 0.0
    issue_weight: float = 0.0
    classes: list = field(default_factory=list)
    labels: np.ndarray | None = None
    pred_probs: np.ndarray | None = None
    is_issue: np.ndarray | None = None
    quality: np.ndarray | None = None
    confident_joint: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    by_group: dict | None = None
    sample: tuple[pd.DataFrame, int] | None = None


def measure_label_quality(ds: Dataset, ctx: AuditContext | None = None, *, use_scores: bool = True,
                          n_folds: int = 3, max_train_rows=50_000, include_sensitive: bool = False,
                          min_group_size: int = 30) -> LabelQualityMeasures:
    """Find the suspected label errors and count them per class and per sensitive group (no judgement)."""
    if ds.column_types.get(ds.target) == "numeric" and ds.y.nunique() > MAX_CLASSES:
        return LabelQualityMeasures("regression", ds.target)
    probs = _probabilities(ds, ctx, use_scores=use_scores, n_folds=n_folds, max_train_rows=max_train_rows,
                           include_sensitive=include_sensitive)
    labels, classes, P = probs["labels"], probs["classes"], probs["pred_probs"]
    is_issue, cj = find_label_issues(labels, P)
    quality = self_confidence(labels, P)
    w = ds.sample_weight
    n = len(ds)
    W = float(n if w is None else w.sum())
    n_issues = int(is_issue.sum())
    by_group = None
    if ds.sensitive:
        by_group = flag_rates_by_group(ds, ctx, is_issue, min_group_size=min_group_size,
                                       breakdown=labels, n_breakdown=len(classes),
                                       expected=1.0 - P.max(axis=1))
    sample = None
    if n_issues:
        cls_names = [str(c) for c in classes]
        predicted = P.argmax(axis=1)
        order = np.flatnonzero(is_issue)
        order = order[np.argsort(quality[order], kind="stable")][:MAX_SAMPLE_ROWS]
        cols = list(dict.fromkeys([*ds.sensitive, ds.target, *ds.features[:8]]))
        frame = ds.frame.loc[order, cols].copy()
        frame["predicted_label"] = [cls_names[i] for i in predicted[order]]
        frame["label_quality"] = quality[order]
        sample = (frame, n_issues)
    return LabelQualityMeasures(
        "classification", ds.target, n_rows=int(n), weighted=w is not None, weight_total=W,
        issue_weight=float(n_issues if w is None else w[is_issue].sum()), classes=list(classes), labels=labels,
        pred_probs=P, is_issue=is_issue, quality=quality, confident_joint=cj, info=probs["info"],
        by_group=by_group, sample=sample)


def _probabilities(ds: Dataset, ctx: AuditContext | None, *, use_scores: bool, n_folds: int, max_train_rows,
                   include_sensitive: bool) -> dict:
    """Predicted probabilities of the target: a binary scores column when usable, else cross-validated."""
    note = None
    if use_scores and ds.scores and ds.target_is_binary():
        s = pd.to_numeric(ds.frame[ds.scores], errors="coerce").to_numpy(float)
        if np.isfinite(s).all() and s.min() >= 0 and s.max() <= 1:
            labels, classes = target_codes(ds)
            pos = classes.index(ds.positive_label())
            P = np.empty((len(s), 2))
            P[:, pos], P[:, 1 - pos] = s, 1 - s
            pred = P.argmax(axis=1)
            recalls = [float((pred[labels == c] == c).mean()) for c in (0, 1) if (labels == c).any()]
            return {"labels": labels, "classes": classes, "pred_probs": P, "info": {
                "source": f"scores column '{ds.scores}'", "accuracy": float((pred == labels).mean()),
                "balanced_accuracy": float(np.mean(recalls))}}
        note = (f"The scores column '{ds.scores}' is not a probability in [0, 1] everywhere; "
                "cross-validated probabilities were used instead.")
    oos = out_of_sample_probs(ds, ctx, n_folds=int(n_folds), max_train_rows=max_train_rows,
                              include_sensitive=bool(include_sensitive))
    info = dict(oos.info)
    if note:
        info["note"] = note
    return {"labels": oos.labels, "classes": oos.classes, "pred_probs": oos.pred_probs, "info": info}


# --------------------------------------------------------------------------- the check
@register_check
class LabelQualityCheck(Check):
    """Suspected label errors by confident learning, and whether they concentrate in a group.

    *Probabilities.* Out-of-sample predicted probabilities of the target come
    from ``n_folds``-fold stratified cross-validation of a histogram gradient
    boosting classifier on the encoded features (see
    :class:`~unskew.audit._features.FeatureEncoder`); the sensitive
    attributes are not model inputs unless ``include_sensitive`` is true (a
    model that knows the group partly learns a group's extra label noise as
    genuine uncertainty, which hides it). Each fold's model is trained on a uniform random sample of
    at most ``max_train_rows`` rows of the other folds and predicts every row
    of its own fold, so on large tables every row is scored by a model that
    never saw it, at a bounded cost. For a binary target with a declared
    ``scores`` column holding probabilities of the positive label in [0, 1],
    those are used instead (``use_scores``); they should be out-of-sample,
    otherwise the model's confidence on its own training rows hides errors.

    *Confident learning* (Northcutt, Jiang and Chuang, JAIR 2021). The
    per-class threshold ``t_j`` is the mean probability of class ``j`` over the
    rows labelled ``j``; the confident joint counts rows labelled ``i`` whose
    probability of class ``j`` reaches ``t_j``; after calibration, for each
    pair ``(i, j)`` the ``C[i, j]`` rows labelled ``i`` with the largest
    margin ``p_j - p_i`` are flagged ("prune by noise rate"), except rows
    whose most probable class is their label. This is the same selection as
    ``cleanlab.filter.find_label_issues`` with its defaults; the label
    quality score of a row is its self-confidence ``p_{given label}``
    (``cleanlab.rank.get_label_quality_scores``).

    *Groups.* The share of suspected errors in every sensitive group and
    intersection is compared with the rest of the rows: 95 % Wilson interval,
    ratio, difference and a two-proportion z-test with Benjamini-Hochberg
    q-values over all groups tested. Rows near the decision boundary are
    flagged more often, so a group with more ambiguous rows (for example a
    base rate closer to 50 %) has a higher raw share without any labelling
    problem. The check therefore also compares each group with the rest after
    indirect standardisation on the model's uncertainty ``1 - max_k p_k``
    (the *adjusted ratio*: observed over expected suspected errors in the
    group, relative to the same in the rest; see
    :func:`~unskew.audit._features.flag_rates_by_group`).

    Status: the overall share of suspected errors against ``issue_rate_warn``
    / ``issue_rate_fail``; a group whose raw share exceeds the rest's by at
    least ``min_difference`` and whose adjusted ratio is significantly above
    1 (``q < alpha``) and reaches ``ratio_warn`` / ``ratio_fail`` raises it to
    warn / fail (possible labelling bias). A flagged row is a row the model disagrees with
    confidently: a real labelling mistake, an ambiguous case, or a group the
    model fits poorly. Review a sample before relabelling. When the model's
    out-of-sample balanced accuracy is less than ``min_lift`` above chance,
    the flags are unreliable and the status is warn whatever the rates.

    ``scores`` is a DataFrame aligned with the rows: ``label_quality``
    (self-confidence), ``is_label_issue``, ``given_label`` and
    ``predicted_label``.

    Thresholds
    ----------
    issue_rate_warn : 0.10
    issue_rate_fail : 0.25
    ratio_warn : 1.25
    ratio_fail : 2.0
    min_difference : 0.02
    alpha : 0.01
    min_group_size : 30
    n_folds : 3
    max_train_rows : 50000
    use_scores : True
    include_sensitive : False
    min_lift : 0.05
    """

    name = "label_quality"
    title = "Label quality (suspected label errors)"
    explanation = (
        "Finds rows whose label a cross-validated model confidently disagrees with (confident "
        "learning) and compares their share across sensitive groups. Errors concentrated in one "
        "group suggest that group was labelled differently."
    )
    requires = ("target",)
    default_thresholds = {
        "issue_rate_warn": 0.10,
        "issue_rate_fail": 0.25,
        "ratio_warn": 1.25,
        "ratio_fail": 2.0,
        "min_difference": 0.02,
        "alpha": 0.01,
        "min_group_size": 30,
        "n_folds": 3,
        "max_train_rows": 50_000,
        "use_scores": True,
        "include_sensitive": False,
        "min_lift": 0.05,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        t = self.thresholds
        return self.present(measure_label_quality(
            ds, ctx, use_scores=bool(t["use_scores"]), n_folds=int(t["n_folds"]), max_train_rows=t["max_train_rows"],
            include_sensitive=bool(t["include_sensitive"]), min_group_size=t["min_group_size"]))

    def present(self, m: LabelQualityMeasures):
        """Status (capped for a weak model), findings, per-group judgement, tables, charts, scores."""
        t = self.thresholds
        if m.task == "regression":
            return self.result(status="pass", summary={"task": "regression", "applicable": False}, findings=[
                Finding("Numeric target with many values: confident learning needs classes; not applicable.")])
        labels, classes, P = m.labels, m.classes, m.pred_probs
        is_issue, cj, quality = m.is_issue, m.confident_joint, m.quality
        predicted = P.argmax(axis=1)
        n = m.n_rows
        n_issues = int(is_issue.sum())
        rate = float(n_issues / n if not m.weighted else m.issue_weight / m.weight_total)
        status = self.status_for(rate, "issue_rate_warn", "issue_rate_fail")
        cls_names = [str(c) for c in classes]
        findings: list[Finding] = []
        info = m.info
        bal = info.get("balanced_accuracy")
        chance = 1.0 / len(classes)
        weak = bal is not None and bal < chance + t["min_lift"]
        if weak:
            status = "warn"  # the flags say more about the model than about the labels
        findings.append(Finding(
            f"{n_issues:,} of {n:,} rows ({rate:.1%}) have a label the model confidently disagrees with "
            f"(suspected label errors).", severity=status if status != "pass" else "info",
            subject=m.target, value=rate))
        if weak:
            findings.append(Finding(
                f"The model predicts '{m.target}' barely better than chance (balanced accuracy {bal:.3f}, "
                f"chance {chance:.3f}): the features carry little information about the target, so the "
                f"suspected errors are unreliable and the status is capped at warn.", severity="warn",
                subject=m.target, value=bal))

        summary: dict = {
            "task": "classification",
            "classes": cls_names,
            "n_label_issues": n_issues,
            "issue_rate": rate,
            "weighted": m.weighted,
            "mean_label_quality": float(quality.mean()),
            "per_class": {
                cls_names[k]: {"rows": int((labels == k).sum()), "issues": int(is_issue[labels == k].sum()),
                               "issue_rate": float(is_issue[labels == k].mean()) if (labels == k).any() else None}
                for k in range(len(classes))},
            "confident_joint": {"given_labels": cls_names, "true_labels": cls_names, "counts": cj.tolist()},
            "probabilities": info,
            "subsampling": {"train_rows_per_fold": info.get("train_rows_per_fold"),
                            "max_train_rows": info.get("max_train_rows"), "scored_rows": n},
        }
        tables = []
        charts = []
        statuses: dict = {}
        if m.by_group is not None:
            by_group = {gname: {lab: dict(g) for lab, g in groups.items()} for gname, groups in m.by_group.items()}
            group_findings = []
            for gname, groups in by_group.items():
                for lab, g in groups.items():
                    st = judge_group_rate(g, t, adjusted=True)
                    g["status"] = st
                    statuses[(gname, lab)] = st
                    status = worse(status, st)
                    if st != "pass":
                        group_findings.append(self._group_finding(gname, lab, g, st,
                                                                  cls_names))
            group_findings.sort(key=finding_order)
            findings.extend(group_findings)
            if not group_findings:
                findings.append(Finding(
                    "No sensitive group has a significantly higher share of suspected label errors than the "
                    f"other rows once the difficulty of its rows is accounted for (adjusted ratio "
                    f"{t['ratio_warn']}, difference {t['min_difference']:.0%}, q < {t['alpha']}).",
                    severity="info"))
            summary["groupings"] = by_group
            charts = group_rate_charts(by_group, rate, "Share of suspected label errors", statuses)
            rows = group_rate_rows(by_group, adjusted=True)
            title = "Suspected label errors per group"
            if len(rows) > MAX_TABLE_ROWS:
                title += f" ({MAX_TABLE_ROWS} of {len(rows)} rows shown; all in the JSON summary)"
            tables.append(Table(title, GROUP_RATE_COLUMNS + ADJUSTED_COLUMNS, rows[:MAX_TABLE_ROWS]))

        if info["source"] == "cross-validation":
            findings.append(Finding(
                f"Out-of-sample accuracy of the {info['n_folds']}-fold model: {info['accuracy']:.3f} "
                f"(balanced {info['balanced_accuracy']:.3f}). A weak model flags many correct labels.",
                severity="info", value=info["accuracy"]))
        if m.sample is not None:
            frame, total = m.sample
            table = sample_table(
                f"Suspected label errors, lowest label quality first ({min(20, total)} of {total:,})", frame)
            table.n_rows_total = int(total)
            tables.append(table)
        if weak and status == "fail":
            status = "warn"
        scores = pd.DataFrame({
            "label_quality": quality,
            "is_label_issue": is_issue,
            "given_label": pd.Categorical.from_codes(labels, categories=cls_names),
            "predicted_label": pd.Categorical.from_codes(predicted, categories=cls_names),
        })
        return self.result(status=status, summary=summary, findings=findings, charts=charts, tables=tables,
                           scores=scores, explanation=self._explain(info, n))

    # ------------------------------------------------------------------ helpers
    def _group_finding(self, gname, lab, g, st, cls_names) -> Finding:
        adj = g["adjusted_ratio"]
        adj_txt = "far more often" if not np.isfinite(adj) else f"{adj:.2f}x as often"
        msg = (f"Suspected label errors are {g['rate']:.1%} in {lab} (95% CI {g['low']:.1%}-{g['high']:.1%}, "
               f"{g['flagged']:,} of {g['rows']:,} rows) against {g['rest_rate']:.1%} in the other rows. "
               f"Accounting for how hard its rows are to predict, the model contradicts this group's labels "
               f"{adj_txt} as the others' ({fmt_p(g['adjusted_q']).replace('p', 'q', 1)}): its labels may "
               f"have been assigned differently; review its flagged rows.")
        by = g.get("flagged_by")
        if len(cls_names) == 2 and by and g["flagged"]:
            k = int(np.argmax(by))
            msg += (f" {by[k] / sum(by):.0%} of them are labelled {cls_names[k]!r} where the model "
                    f"expects {cls_names[1 - k]!r}.")
        return Finding(msg, severity=st, subject=lab, value=adj if np.isfinite(adj) else None)

    def _explain(self, info: dict, n: int) -> str:
        base = self.explanation
        if info.get("source") != "cross-validation":
            return base + f" Probabilities come from the {info.get('source')} (not cross-validated here)."
        per = info["train_rows_per_fold"]
        sub = ""
        if info.get("max_train_rows") is not None and max(per) >= info["max_train_rows"]:
            sub = (f" To stay fast, each fold's model is trained on a random sample of at most "
                   f"{info['max_train_rows']:,} rows; all {n:,} rows are scored.")
        return (base + f" Probabilities are out-of-sample, from {info['n_folds']}-fold cross-validation of "
                f"histogram gradient boosting{' (sensitive attributes included as inputs)' if info.get('include_sensitive') else ''}."
                + sub)


__all__ = ["LabelQualityCheck", "LabelQualityMeasures", "confident_joint", "confident_thresholds",
           "find_label_issues", "measure_label_quality", "self_confidence"]
