"""Reports of discovered slices, and :func:`find_slices` (table in, report out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data._groups import encode_groups
from ..exceptions import UnskewInputError
from ..report import Bar, Chart, CheckResult, Finding, Report, Table

DEFAULT_THRESHOLDS = {"warn_effect_size": 0.2, "fail_effect_size": 0.5}

EXPLANATION = (
    "Slices are conjunctions of conditions on the columns searched (numeric columns cut into quantile "
    "bins). The lattice of slices up to the maximum level is enumerated with SliceLine's pruning, keeping "
    "the slices with the best score alpha*(slice error / mean error - 1) - (1-alpha)*(n/size - 1). Each "
    "tested slice is compared, one-sided, with the rest of the rows (Fisher's exact test for 0/1 errors, "
    "Welch's t-test otherwise) and p-values are corrected for the number of slices tested. A significant "
    "slice whose excess error is explained by a better-ranked reported slice is skipped. The effect size is "
    "(slice error - rest error) / pooled standard deviation (SliceFinder)."
)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _err(x: float, binary: bool) -> str:
    return _pct(x) if binary else f"{x:.4g}"


def _p(p: float) -> str:
    return "< 1e-300" if p < 1e-300 else f"= {p:.2g}"


def _params(finder) -> dict:
    keys = ("max_level", "min_support", "top_k", "alpha", "n_bins", "max_levels", "error", "include_target",
            "significance_level", "correction", "family", "rank_by", "max_overlap", "explain_away")
    return {k: getattr(finder, k) for k in keys}


def composition(mask: np.ndarray, groups: pd.Series) -> tuple[str, float, float]:
    """The group most over-represented in ``mask``: label, share in the slice, share overall."""
    overall = groups.value_counts(normalize=True)
    inside = groups[mask].value_counts(normalize=True)
    if inside.empty:
        return "", 0.0, 0.0
    lift = (inside / overall.reindex(inside.index)).fillna(0)
    # over-represented and a large part of the slice: rank by the absolute gain in share
    gain = inside - overall.reindex(inside.index).fillna(0)
    best = gain.idxmax() if (lift > 1).any() else inside.idxmax()
    return str(best), float(inside[best]), float(overall[best])


def slices_report(finder, dataset: dict | None = None, *, sensitive: pd.DataFrame | pd.Series | None = None,
                  X: Any = None, y: Any = None, thresholds: dict | None = None,
                  parameters: dict | None = None, elapsed_s: float = 0.0) -> Report:
    """Build a ``Report(kind="slices")`` from a fitted :class:`~unskew.slices.SliceFinder`.

    Parameters
    ----------
    finder : SliceFinder
        A fitted finder.
    dataset : dict, optional
        Description of the data (``Dataset.describe()``).
    sensitive : DataFrame or Series, optional
        Sensitive attributes that were hidden from the search, aligned with
        ``X``; each slice is described by its most over-represented group.
        Needs ``X`` (and ``y`` for label-conditioned slices).
    thresholds : dict, optional
        ``warn_effect_size`` and ``fail_effect_size``: a significant slice with
        at least this effect size makes the status ``warn`` or ``fail``.
    """
    finder._check_fitted()
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    unknown = set(th) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise UnskewInputError(f"Unknown threshold(s) {sorted(unknown)}; known: {sorted(DEFAULT_THRESHOLDS)}.")
    summ = finder.summary()
    binary = finder.binary_errors_
    slices = finder.slices_
    comp = []
    if sensitive is not None and slices:
        if X is None:
            raise UnskewInputError("Describing slices by sensitive groups needs X as well.")
        sens = sensitive.to_frame() if isinstance(sensitive, pd.Series) else sensitive
        lab = pd.Series(encode_groups(sens).row_names())
        mem = finder.slice_membership(X, y)
        comp = [composition(mem[:, j], lab) for j in range(mem.shape[1])]

    findings: list[Finding] = []
    status = "pass"
    for j, s in enumerate(slices):
        if not s.significant:
            continue
        sev = "info"
        if s.effect_size >= th["fail_effect_size"]:
            sev = "fail"
        elif s.effect_size >= th["warn_effect_size"]:
            sev = "warn"
        status = {"info": status, "warn": "warn" if status == "pass" else status, "fail": "fail"}[sev]
        msg = (f"Error {_err(s.error, binary)} on '{s.description}' ({s.size:,} rows, {_pct(s.support)}), "
               f"{s.error_ratio:.1f}x the overall {_err(finder.mean_error_, binary)}; effect size "
               f"{s.effect_size:.2f}, adjusted p {_p(s.p_adjusted)}.")
        if comp and comp[j][0]:
            g, inside, overall = comp[j]
            msg += f" Mostly {g} ({_pct(inside)} of the slice vs {_pct(overall)} overall)."
        findings.append(Finding(msg, severity=sev, subject=s.description, value=s.error))
    if not any(s.significant for s in slices):
        findings.append(Finding(
            f"No slice is significantly worse than the rest after {finder.correction} correction for "
            f"{summ['family_size']:,} slices (level {finder.significance_level}).", severity="info"))
    truncated = [lv["level"] for lv in finder.levels_ if lv.get("truncated")]
    if truncated:
        findings.append(Finding(
            f"Level(s) {truncated} had more candidates than max_candidates; only those with the highest "
            "score bound were evaluated.", severity="warn"))
        status = "warn" if status == "pass" else status
    if summ["dropped_features"]:
        findings.append(Finding("Not searched: " + "; ".join(f"{k} ({v})" for k, v in
                                                            summ["dropped_features"].items()), severity="info"))
    findings.sort(key=lambda f: {"fail": 0, "warn": 1, "info": 2}[f.severity])

    cols = ["rank", "slice", "rows", "support", "error", "error ratio", "effect size", "p adjusted",
            "significant"]
    if comp:
        cols.append("most over-represented group")
    rows = []
    for j, s in enumerate(slices):
        r = [j + 1, s.description, s.size, round(s.support, 4), round(s.error, 4), round(s.error_ratio, 3),
             round(s.effect_size, 3), float(f"{s.p_adjusted:.3g}"), bool(s.significant)]
        if comp:
            g, inside, overall = comp[j]
            r.append(f"{g} ({_pct(inside)} vs {_pct(overall)})" if g else "")
        rows.append(r)
    tables = [Table("Slices with the highest error, best first", cols, rows)]
    tables.append(Table("Lattice search", ["level", "candidates", "evaluated", "tested", "feature combinations",
                                           "seconds"],
                        [[lv["level"], lv["candidates"], lv["evaluated"], lv["tested"],
                          lv["feature_combinations"], round(lv["seconds"], 3)] for lv in finder.levels_]))
    charts = []
    if slices:
        charts.append(Chart(
            title="Error per slice" + (" (95% Wilson intervals)" if binary else ""),
            x_label="error rate" if binary else f"mean {finder.error_metric_} error",
            reference=finder.mean_error_, reference_label="overall",
            bars=[Bar(label=s.description, value=s.error, low=s.ci_low, high=s.ci_high, flag=s.significant)
                  for s in slices]))
    summary = {k: v for k, v in summ.items() if k != "levels"}
    summary["slices"] = [s.to_dict() for s in slices]
    if comp:
        for d, (g, inside, overall) in zip(summary["slices"], comp, strict=True):
            d["over_represented_group"] = {"group": g, "share_in_slice": inside, "share_overall": overall}
    check = CheckResult(
        name="slices", title="Slices where the model errs most", status=status, summary=summary,
        findings=findings, explanation=EXPLANATION,
        thresholds={**th, "significance_level": finder.significance_level, "correction": finder.correction,
                    "min_support": int(finder.min_support_)},
        charts=charts, tables=tables, elapsed_s=elapsed_s,
    )
    return Report(kind="slices", checks=[check], dataset=dataset or {"n_rows": int(finder.n_rows_)},
                  parameters={**_params(finder), **(parameters or {})})
