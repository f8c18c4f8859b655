"""Mitigate a whole table: weights, resampling or correlation removal, with a report.

This is what ``unskew mitigate`` runs; it is also usable from Python::

    res = mitigate_table("train.csv", target="income", sensitive="sex", method="smote")
    res.table       # resampled rows, with a boolean "_synthetic" column
    res.report      # Report(kind="mitigate"): group x class counts before and after
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import Dataset
from ..exceptions import UnskewInputError
from ..report import CheckResult, Finding, Report, Status, Table
from .pre import (
    METHODS,
    SYNTHETIC_COLUMN,
    CorrelationRemover,
    GroupAugmenter,
    GroupRandomOverSampler,
    GroupRandomUnderSampler,
    GroupSMOTE,
    GroupSMOTENC,
    Reweighing,
    methods_of_kind,
    resample_frame,
)
from .pre._sampling import STRATEGIES

#: One registry of table mitigation methods (:data:`unskew.mitigate.pre.METHODS`).
WEIGHT_METHODS = methods_of_kind("weights")
SAMPLER_METHODS = methods_of_kind("sampler")
TRANSFORM_METHODS = methods_of_kind("transform")

#: Name of the weight column written by the weighting methods.
WEIGHT_COLUMN = "_weight"


@dataclass
class MitigationResult:
    """Output of :func:`mitigate_table`."""

    table: pd.DataFrame
    report: Report
    estimator: Any


def mitigate_table(
    data: Any,
    *,
    target: str,
    sensitive: str | Sequence[str],
    method: str,
    sampling_strategy: str = "balanced",
    k_neighbors: int = 5,
    alpha: float | None = None,
    beta: float = 0.999,
    random_state: int | None = 0,
    ignore: Sequence[str] | None = None,
    na_values: list[str] | None = None,
    max_levels: int = 100,
    weight_column: str = WEIGHT_COLUMN,
    synthetic_column: str = SYNTHETIC_COLUMN,
) -> MitigationResult:
    """Apply one pre-processing mitigation to a table.

    Parameters
    ----------
    data : path or DataFrame
    target : str
        Label column.
    sensitive : str or list of str
        Sensitive column(s); their intersection defines the groups.
    method : str
        One of :data:`METHODS`: weights (``reweighing``, ``inverse``, ``sqrt``,
        ``effective``: adds ``weight_column``), resampling (``oversample``,
        ``undersample``, ``smote``, ``mixup``: adds ``synthetic_column``;
        interpolated values of integer columns are rounded) or
        ``correlation_remover`` (rewrites the numeric feature columns; the old
        name ``correlation`` still works with a FutureWarning).
    sampling_strategy : {"balanced", "independent", "balance_classes"}
        Target distribution of the resampling methods.
    k_neighbors : int
        Neighbours for ``smote``.
    alpha : float, optional
        Mixup's Beta parameter (default 0.4) or the correlation remover's
        strength (default 1.0).
    beta : float
        Parameter of ``effective``.
    random_state : int or None
    ignore, na_values, max_levels
        As in :meth:`unskew.data.Dataset.from_data`.

    Returns
    -------
    MitigationResult
        ``table`` (the output rows), ``report`` (``Report(kind="mitigate")``)
        and the fitted ``estimator``.
    """
    method = METHODS.canonical(method)
    if sampling_strategy not in STRATEGIES:
        raise UnskewInputError(f"sampling_strategy (--strategy) must be one of {', '.join(STRATEGIES)}, "
                               f"not {sampling_strategy!r}.")
    if int(k_neighbors) < 1:
        raise UnskewInputError(f"k_neighbors (--k-neighbors) must be at least 1, got {k_neighbors}.")
    t0 = time.perf_counter()
    ds = Dataset.from_data(data, target=target, sensitive=sensitive, ignore=ignore, na_values=na_values,
                           max_levels=max_levels)
    if not ds.sensitive:
        raise UnskewInputError("mitigate needs at least one sensitive column; pass --sensitive.")
    frame = ds.frame
    for col in (weight_column, synthetic_column):
        if col in frame.columns:
            raise UnskewInputError(f"The table already has a column named {col!r}; rename it first.")
    groups = ds.groups()
    group_labels = np.asarray(groups.astype(str))
    y = frame[target]
    features = [c for c in ds.features if c not in (ignore or [])]
    before = _cell_table(group_labels, y)
    before_w = None
    after_w = None

    if method in WEIGHT_METHODS:
        est = Reweighing(method=method, beta=beta)
        prior = ds.sample_weight
        w = est.fit_weights(None, y, sensitive_features=group_labels, sample_weight=prior)
        out = frame.copy()
        out[weight_column] = w
        after_groups, after_y = group_labels, y
        before_w = _cell_table(group_labels, y, prior)
        after_w = _cell_table(group_labels, y, w)
    elif method in SAMPLER_METHODS:
        est, feats = _sampler(ds, method, features, sampling_strategy, k_neighbors, alpha, random_state)
        out = resample_frame(frame, est, target=target, sensitive=list(ds.sensitive), features=feats,
                             synthetic_column=synthetic_column)
        # interpolated values of integer columns are rounded so the table keeps its schema
        for c in feats:
            if pd.api.types.is_integer_dtype(frame[c].dtype) and not pd.api.types.is_integer_dtype(out[c].dtype):
                out[c] = np.rint(out[c].to_numpy(dtype=float)).astype(frame[c].dtype)
        after_groups = group_labels[est.sample_indices_]
        after_y = out[target]
    else:
        numeric = [c for c in features if ds.column_types.get(c) == "numeric"]
        if not numeric:
            raise UnskewInputError("correlation_remover needs numeric feature columns; none were found.")
        bad = [c for c in numeric if frame[c].isna().any()]
        if bad:
            raise UnskewInputError(f"Numeric column(s) {bad[:5]} have missing values; impute them first.")
        est = CorrelationRemover(alpha=1.0 if alpha is None else alpha)
        sens = frame[list(ds.sensitive)].astype(str) if len(ds.sensitive) > 1 else pd.Series(group_labels)
        Xt = est.fit_transform(frame[numeric], sensitive_features=sens)
        out = frame.copy()
        for j, c in enumerate(numeric):
            out[c] = Xt[:, j]
        after_groups, after_y = group_labels, y

    after = _cell_table(after_groups, after_y)
    check = _report_check(method, ds, before, after, before_w, after_w, frame, out, group_labels, features)
    check.elapsed_s = time.perf_counter() - t0
    report = Report(
        kind="mitigate",
        checks=[check],
        dataset=ds.describe(),
        parameters={
            "method": method,
            "sampling_strategy": sampling_strategy if method in SAMPLER_METHODS else None,
            "k_neighbors": k_neighbors if method == "smote" else None,
            "alpha": alpha,
            "beta": beta if method == "effective" else None,
            "random_state": random_state,
        },
    )
    return MitigationResult(table=out, report=report, estimator=est)


def _sampler(ds, method, features, strategy, k, alpha, seed):
    kwargs = {"sampling_strategy": strategy, "random_state": seed}
    types = ds.column_types
    if method == "oversample":
        return GroupRandomOverSampler(**kwargs), features
    if method == "undersample":
        return GroupRandomUnderSampler(**kwargs), features
    numeric = [c for c in features if types.get(c) == "numeric"]
    if method == "mixup":
        if not numeric:
            raise UnskewInputError("mixup needs numeric feature columns; none were found.")
        return GroupAugmenter(method="mixup", alpha=0.4 if alpha is None else alpha, **kwargs), numeric
    categorical = [c for c in features if types.get(c) != "numeric"]
    if categorical:
        return GroupSMOTENC(categorical_features=categorical, k_neighbors=k, **kwargs), features
    return GroupSMOTE(k_neighbors=k, **kwargs), features


def _cell_table(groups, y, weights=None) -> pd.DataFrame:
    frame = pd.DataFrame({"group": np.asarray(groups, dtype=object), "class": np.asarray(y, dtype=object),
                          "w": np.ones(len(groups)) if weights is None else np.asarray(weights, dtype=float)})
    return frame.groupby(["group", "class"], sort=True)["w"].sum()


def _positive_rates(cells: pd.Series, positive) -> dict:
    tab = cells.unstack("class", fill_value=0.0)
    if positive not in tab.columns:
        return {}
    tot = tab.sum(axis=1)
    return {str(g): float(tab.loc[g, positive] / tot[g]) for g in tab.index if tot[g] > 0}


def _report_check(method, ds, before, after, before_w, after_w, frame, out, group_labels, features) -> CheckResult:
    idx = before.index.union(after.index)
    before = before.reindex(idx, fill_value=0)
    after = after.reindex(idx, fill_value=0)
    weighted = method in WEIGHT_METHODS
    cols = ["group", "class", "rows before", "rows after"]
    if weighted:
        cols = ["group", "class", "rows", "weight before", "weight after", "weight per row"]
    rows = []
    for key in idx:
        g, c = key
        if weighted:
            wb, wa = float(before_w.get(key, 0.0)), float(after_w.get(key, 0.0))
            rows.append([str(g), _plain(c), int(before[key]), round(wb, 4), round(wa, 4),
                         round(wa / before[key], 6) if before[key] else None])
        else:
            rows.append([str(g), _plain(c), int(before[key]), int(after[key])])
    table = Table(title="Rows per (group, class) before and after", columns=cols, rows=rows)
    findings = []
    summary: dict[str, Any] = {"method": method, "n_rows_before": int(len(frame)), "n_rows_after": int(len(out))}
    if method in SAMPLER_METHODS:
        n_syn = int(out[SYNTHETIC_COLUMN].sum()) if SYNTHETIC_COLUMN in out.columns else 0
        summary["n_added"] = n_syn
        summary["n_removed"] = int(len(frame) - (len(out) - n_syn))
        findings.append(Finding(f"{len(frame)} rows -> {len(out)} rows ({n_syn} added, "
                                f"{summary['n_removed']} removed).", subject="rows"))
    empty = [f"{g} / {c}" for (g, c), v in after.items() if v == 0]
    status = Status.PASS
    if empty:
        status = Status.WARN
        findings.append(Finding(f"{len(empty)} (group, class) cell(s) have no rows and cannot be balanced: "
                                f"{', '.join(empty[:5])}.", severity="warn", subject="cells"))
    if ds.target_is_binary():
        pos = ds.positive_label()
        rb = _positive_rates(before_w if weighted else before, pos)
        ra = _positive_rates(after_w if weighted else after, pos)
        if rb and ra:
            gap_b = max(rb.values()) - min(rb.values())
            gap_a = max(ra.values()) - min(ra.values())
            summary.update({"positive_label": _plain(pos), "positive_rate_before": rb, "positive_rate_after": ra,
                            "positive_rate_gap_before": gap_b, "positive_rate_gap_after": gap_a})
            what = "weighted " if weighted else ""
            findings.insert(0, Finding(
                f"Largest gap between groups in the {what}rate of label {pos!r}: {gap_b:.3f} before, "
                f"{gap_a:.3f} after.", subject=ds.target, value=gap_a))
    if method == "correlation_remover":
        numeric = [c for c in features if ds.column_types.get(c) == "numeric"]
        codes = pd.Series(group_labels).astype("category").cat.codes.to_numpy()
        onehot = np.eye(codes.max() + 1)[codes]
        corr_b = _max_abs_corr(frame[numeric].to_numpy(float), onehot)
        corr_a = _max_abs_corr(out[numeric].to_numpy(float), onehot)
        summary.update({"max_abs_correlation_before": corr_b, "max_abs_correlation_after": corr_a})
        findings.insert(0, Finding(f"Largest absolute correlation between a numeric feature and a group indicator: "
                                   f"{corr_b:.3f} before, {corr_a:.2e} after.", value=corr_a))
    return CheckResult(
        name="mitigation",
        title=f"Mitigation: {method}",
        status=status,
        summary=summary,
        findings=findings,
        explanation=METHODS[method].description,
        tables=[table],
    )


def _max_abs_corr(X: np.ndarray, S: np.ndarray) -> float:
    Xc = X - X.mean(0)
    Sc = S - S.mean(0)
    num = Xc.T @ Sc
    den = np.outer(np.sqrt((Xc**2).sum(0)), np.sqrt((Sc**2).sum(0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / den, 0.0)
    return float(np.abs(r).max()) if r.size else 0.0


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    return v
