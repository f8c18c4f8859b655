"""Check 3: base rates of the target per sensitive group and intersection."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import wilson_interval
from ..data import Dataset
from ..report import Bar, Chart, Finding, Table
from ._base import AuditContext, Check, register_check
from ._common import (
    MAX_BARS,
    MAX_TABLE_ROWS,
    cell_codes,
    cell_labels,
    effective_sizes,
    finding_order,
    fmt_p,
    group_sums,
    grouping_name,
    groupings,
    sensitive_codes,
    worse,
)

#: A numeric target with more distinct values than this is treated as continuous
#: (same rule as the target-distribution check).
MAX_CLASSES_AS_CATEGORIES = 20


# --------------------------------------------------------------------------- measuring
@dataclass
class GroupingRates:
    """One grouping's groups: rows, weight and squared weight per group, and the target in each.

    Classification: ``joint[i, c]``, the (weighted) rows of group ``i`` with
    class ``c``; these are sums and merge over partitions. Regression:
    ``mean`` and ``sum_sq_dev`` (the weighted sum of squared deviations from
    the group's mean) per group; two partitions merge with the usual
    parallel-variance formula (Chan et al.).
    """

    columns: tuple[str, ...]
    names: list[str]
    rows: np.ndarray
    weight: np.ndarray
    weight_sq: np.ndarray
    joint: np.ndarray | None = None
    mean: np.ndarray | None = None
    sum_sq_dev: np.ndarray | None = None


@dataclass
class BaseRateCounts:
    """The target per sensitive group and intersection, as counts (see :class:`GroupingRates`).

    ``task`` is ``"classification"`` or ``"regression"`` (a numeric target
    with more than 20 values). For classification, ``classes`` are the class
    values (sorted), ``positive`` the positive class of a binary target and
    ``class_weight`` the (weighted) rows per class; for regression, ``mean``
    and ``std`` of the whole target.
    """

    task: str
    target: str
    attributes: list[str]
    n_rows: int
    weighted: bool
    weight_total: float
    weight_sq_total: float
    groupings: list[GroupingRates]
    classes: list = field(default_factory=list)
    positive: object = None
    class_weight: np.ndarray | None = None
    mean: float | None = None
    std: float | None = None

    @property
    def effective_n(self) -> float:
        if not self.weighted:
            return float(self.n_rows)
        return float(self.weight_total**2 / self.weight_sq_total) if self.weight_sq_total > 0 else 0.0


def measure_base_rates(ds: Dataset, ctx: AuditContext | None = None) -> BaseRateCounts:
    """Count the target's classes (or sum a numeric target) in every sensitive group and intersection."""
    sc = sensitive_codes(ds, ctx)
    w = ds.sample_weight
    n = len(ds)
    numeric = ds.column_types.get(ds.target) == "numeric" and ds.y.nunique() > MAX_CLASSES_AS_CATEGORIES
    wy = np.ones(n) if w is None else w
    out = BaseRateCounts(
        task="regression" if numeric else "classification", target=ds.target, attributes=list(ds.sensitive),
        n_rows=int(n), weighted=w is not None, weight_total=float(wy.sum()),
        weight_sq_total=float((w * w).sum()) if w is not None else float(n), groupings=[])
    if numeric:
        yv = ds.y.to_numpy(dtype=float)
        out.mean = float(np.average(yv, weights=wy))
        out.std = float(np.sqrt(np.average((yv - out.mean) ** 2, weights=wy)))
    else:
        ycodes, classes = pd.factorize(ds.y, sort=True)
        ycodes = np.asarray(ycodes, dtype=np.int64)
        out.classes = list(classes)
        n_cls = len(classes)
        if n_cls == 2:
            out.positive = ds.positive_label()
        out.class_weight = np.bincount(ycodes, weights=wy, minlength=n_cls)
    for cols in groupings(ds.sensitive, sc):
        codes, shape = cell_codes(sc, cols)
        present, inv = np.unique(codes, return_inverse=True)
        k = len(present)
        rows, wsum, w2 = group_sums(inv, k, w)
        g = GroupingRates(tuple(cols), cell_labels(sc, cols, present, shape), rows, wsum, w2)
        if numeric:
            g.mean = np.bincount(inv, weights=wy * yv, minlength=k) / wsum
            g.sum_sq_dev = np.bincount(inv, weights=wy * (yv - g.mean[inv]) ** 2, minlength=k)
        else:
            g.joint = np.bincount(inv * n_cls + ycodes, weights=None if w is None else w,
                                  minlength=k * n_cls).reshape(k, n_cls)
        out.groupings.append(g)
    return out


# --------------------------------------------------------------------------- the check
@register_check
class BaseRatesCheck(Check):
    """How often each outcome occurs within each sensitive group and intersection.

    *Binary target*: the base rate ``P(target = positive | group)`` per group,
    with a Wilson 95 % interval (weighted data: weighted rate, Kish effective
    group size as ``n``). For each grouping (every attribute, and every
    combination of two or more) the check reports the **gap** (highest minus
    lowest rate) and the **ratio** (lowest over highest rate, the
    disparate-impact / four-fifths style ratio), over groups with at least
    ``min_group_size`` rows, and a chi-square test of independence between
    group and target (effective counts).

    *Multi-class target*: the same per class (class vs. rest).

    *Numeric target* (more than 20 distinct values): the mean per group with a
    Student-t 95 % interval; the gap is judged in units of the overall standard
    deviation (``std_gap``), the test is a one-way ANOVA.

    Status: a grouping (or class) whose test has ``p < alpha`` gets the worse
    of its gap status (``gap >= gap_warn`` warn, ``>= gap_fail`` fail) and its
    ratio status (``ratio <= ratio_warn`` warn, ``<= ratio_fail`` fail); for a
    numeric target ``std_gap_warn`` / ``std_gap_fail`` apply. Differences that
    are not statistically significant never raise the status.

    A difference in base rates is a description of the data, not proof of
    bias: it may reflect real differences, or biased labels or sampling.

    Thresholds
    ----------
    gap_warn : 0.1
    gap_fail : 0.2
    ratio_warn : 0.8
    ratio_fail : 0.5
    std_gap_warn : 0.2
    std_gap_fail : 0.5
    alpha : 0.01
    min_group_size : 30
    """

    name = "base_rates"
    title = "Base rates per group"
    explanation = (
        "Compares how often each outcome occurs in every sensitive group and intersection, with "
        "95% intervals. A model trained on data whose base rates differ between groups will "
        "usually reproduce the difference; check whether it reflects reality or biased labels "
        "or sampling."
    )
    requires = ("target", "sensitive")
    default_thresholds = {
        "gap_warn": 0.1,
        "gap_fail": 0.2,
        "ratio_warn": 0.8,
        "ratio_fail": 0.5,
        "std_gap_warn": 0.2,
        "std_gap_fail": 0.5,
        "alpha": 0.01,
        "min_group_size": 30,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        return self.present(measure_base_rates(ds, ctx))

    def present(self, m: BaseRateCounts):
        """Rates (or means) per group, gaps, ratios, tests, statuses, findings, charts, table from the counts."""
        if m.task == "regression":
            return self._present_numeric(m)
        return self._present_classes(m)

    # ------------------------------------------------------------------ classification
    def _present_classes(self, m: BaseRateCounts):
        t = self.thresholds
        weighted = m.weighted
        classes = m.classes
        n_cls = len(classes)
        binary = n_cls == 2
        if binary:
            judged = [classes.index(m.positive)]
        else:
            judged = list(range(n_cls))
        overall = m.class_weight / m.weight_total
        n_eff_all = m.effective_n

        status = "pass"
        findings: list[Finding] = []
        info: list[Finding] = []
        summary_groupings: dict = {}
        table_rows: list[list] = []
        charts: list[Chart] = []
        for g in m.groupings:
            cols, labels, rows, wsum, joint = g.columns, g.names, g.rows, g.weight, g.joint
            gname = grouping_name(cols)
            k = len(labels)
            neff = effective_sizes(wsum, g.weight_sq, weighted)
            rates = joint / wsum[:, None]
            eligible = rows >= t["min_group_size"]
            # effective counts for the tests
            eff = rates * neff[:, None]
            entry: dict = {"n_groups": int(k), "small_groups": [labels[i] for i in np.flatnonzero(~eligible)]}
            class_results = {}
            for c in judged:
                low, high = wilson_interval(rates[:, c] * neff, neff)
                res = self._judge(rates[:, c], eligible, eff[:, c], neff, labels)
                res["groups"] = {
                    labels[i]: {"rows": int(rows[i]), "rate": float(rates[i, c]), "low": float(low[i]),
                                "high": float(high[i]), **({"weight": float(wsum[i])} if weighted else {})}
                    for i in range(k)
                }
                class_results[str(classes[c])] = res
                for i in range(k):
                    table_rows.append([gname, labels[i], int(rows[i]), str(classes[c]), float(rates[i, c]),
                                       float(low[i]), float(high[i])])
                status = worse(status, res["status"])
                if res["status"] != "pass" or (binary and res["gap"] is not None):
                    f = self._finding(m, gname, classes[c], res, binary)
                    (findings if f.severity != "info" else info).append(f)
            if binary:
                entry.update(class_results[str(classes[judged[0]])])
            else:
                entry["classes"] = class_results
            summary_groupings[gname] = entry
            if len(cols) == 1 or len(cols) == len(m.attributes):
                if binary:
                    c_show = judged[0]
                else:
                    gaps = {c: class_results[str(classes[c])]["gap"] or 0.0 for c in judged}
                    c_show = max(gaps, key=gaps.get)
                charts.append(_rate_chart(
                    f"P({m.target} = {classes[c_show]}) by {gname}", class_results[str(classes[c_show])]["groups"],
                    float(overall[c_show]), "overall rate", eligible, labels))

        findings.sort(key=finding_order)
        if not findings:
            findings.append(Finding(
                "No significant difference in base rates between groups reaches the thresholds "
                f"(gap {t['gap_warn']}, ratio {t['ratio_warn']}).", severity="info"))
        total = len(table_rows)
        title = "Rate of each outcome per group"
        if total > MAX_TABLE_ROWS:
            title += f" ({MAX_TABLE_ROWS} of {total} rows shown; all in the JSON summary)"
        summary = {
            "task": "binary" if binary else "multiclass",
            "classes": [str(c) for c in classes],
            "overall_rates": {str(c): float(overall[i]) for i, c in enumerate(classes)},
            "effective_n": float(n_eff_all),
            "weighted": weighted,
            "groupings": summary_groupings,
        }
        if binary:
            summary["positive_label"] = str(classes[judged[0]])
            summary["overall_rate"] = float(overall[judged[0]])
            judged_g = [g for g in summary_groupings.values() if g["gap"] is not None]
            if judged_g:
                worst = max(judged_g, key=lambda g: g["gap"])
                summary["max_gap"] = worst["gap"]
                summary["min_ratio"] = min(g["ratio"] for g in judged_g if g["ratio"] is not None) \
                    if any(g["ratio"] is not None for g in judged_g) else None
        return self.result(
            status=status,
            summary=summary,
            findings=findings + info,
            charts=charts,
            tables=[Table(title, ["grouping", "group", "rows", "class", "rate", "low", "high"],
                          table_rows[:MAX_TABLE_ROWS])],
        )

    def _judge(self, rate, eligible, eff_success, neff, labels) -> dict:
        """Gap, ratio, chi-square test and status of one class over one grouping."""
        t = self.thresholds
        res = {"gap": None, "ratio": None, "max_group": None, "min_group": None,
               "chi2": None, "dof": None, "p_value": None, "status": "pass"}
        ok = np.flatnonzero(eligible & (neff > 0))
        if len(ok) < 2:
            return res
        r = rate[ok]
        hi, lo = ok[np.argmax(r)], ok[np.argmin(r)]
        gap = float(rate[hi] - rate[lo])
        ratio = float(rate[lo] / rate[hi]) if rate[hi] > 0 else None
        res.update(gap=gap, ratio=ratio, max_group=labels[hi], min_group=labels[lo],
                   max_rate=float(rate[hi]), min_rate=float(rate[lo]))
        has = neff > 0
        tab = np.column_stack([eff_success[has], neff[has] - eff_success[has]])
        tab = tab[:, tab.sum(axis=0) > 0]
        if tab.shape[1] == 2 and tab.shape[0] >= 2:
            chi2, p, dof, _ = stats.chi2_contingency(tab, correction=False)
            res.update(chi2=float(chi2), p_value=float(p), dof=int(dof))
        if res["p_value"] is not None and res["p_value"] < t["alpha"]:
            st = self.status_for(gap, "gap_warn", "gap_fail")
            if ratio is not None:
                st = worse(st, self.status_for(ratio, "ratio_warn", "ratio_fail", higher_is_worse=False))
            res["status"] = st
        return res

    def _finding(self, m: BaseRateCounts, gname, cls, res, binary) -> Finding:
        what = f"P({m.target} = {cls})"
        ratio_txt = f", ratio {res['ratio']:.2f}" if res["ratio"] is not None else ""
        sig = res["p_value"] is not None and res["p_value"] < self.thresholds["alpha"]
        msg = (f"{what} differs across {gname}: {res['max_rate']:.3f} for {res['max_group']} vs "
               f"{res['min_rate']:.3f} for {res['min_group']} (gap {res['gap']:.3f}{ratio_txt}; "
               f"chi-square {fmt_p(res['p_value'])}).")
        if not sig:
            msg += " Not statistically significant."
        sev = res["status"] if res["status"] != "pass" else "info"
        return Finding(msg, severity=sev, subject=gname, value=res["gap"])

    # ------------------------------------------------------------------ regression
    def _present_numeric(self, m: BaseRateCounts):
        t = self.thresholds
        mean_all, sd_all = m.mean, m.std
        status = "pass"
        findings, info, charts, table_rows = [], [], [], []
        summary_groupings = {}
        for g in m.groupings:
            cols, labels, rows, wsum, mean, dev2 = g.columns, g.names, g.rows, g.weight, g.mean, g.sum_sq_dev
            gname = grouping_name(cols)
            k = len(labels)
            neff = effective_sizes(wsum, g.weight_sq, m.weighted)
            with np.errstate(invalid="ignore", divide="ignore"):
                var = dev2 / wsum * neff / np.maximum(neff - 1, 1e-12)  # unbiased, effective n
                se = np.sqrt(var / neff)
                tq = stats.t.ppf(0.975, np.maximum(neff - 1, 1))
            low = np.where(neff > 1, mean - tq * se, np.nan)
            high = np.where(neff > 1, mean + tq * se, np.nan)
            eligible = (rows >= t["min_group_size"]) & (neff > 1)
            res = {"gap": None, "std_gap": None, "ratio": None, "f": None, "p_value": None, "status": "pass"}
            ok = np.flatnonzero(eligible)
            # one-way ANOVA from group summaries (effective sizes)
            valid = neff > 1
            if valid.sum() >= 2:
                m_all = np.average(mean[valid], weights=neff[valid])
                ssb = float((neff[valid] * (mean[valid] - m_all) ** 2).sum())
                ssw = float(((neff[valid] - 1) * var[valid]).sum())
                df1, df2 = int(valid.sum() - 1), float(neff[valid].sum() - valid.sum())
                if ssw > 0 and df2 > 0:
                    f = (ssb / df1) / (ssw / df2)
                    res.update(f=float(f), p_value=float(stats.f.sf(f, df1, df2)), dof=[df1, df2])
            if len(ok) >= 2:
                hi, lo = ok[np.argmax(mean[ok])], ok[np.argmin(mean[ok])]
                gap = float(mean[hi] - mean[lo])
                std_gap = gap / sd_all if sd_all > 0 else 0.0
                ratio = float(mean[lo] / mean[hi]) if (mean[ok] > 0).all() else None
                res.update(gap=gap, std_gap=std_gap, ratio=ratio, max_group=labels[hi], min_group=labels[lo],
                           max_mean=float(mean[hi]), min_mean=float(mean[lo]))
                if res["p_value"] is not None and res["p_value"] < t["alpha"]:
                    res["status"] = self.status_for(std_gap, "std_gap_warn", "std_gap_fail")
                sev = res["status"] if res["status"] != "pass" else "info"
                f = Finding(
                    f"Mean {m.target} differs across {gname}: {mean[hi]:.4g} for {labels[hi]} vs "
                    f"{mean[lo]:.4g} for {labels[lo]} (gap {gap:.4g} = {std_gap:.2f} standard "
                    f"deviations; ANOVA {fmt_p(res['p_value'])}).", severity=sev, subject=gname,
                    value=std_gap)
                (findings if sev != "info" else info).append(f)
            status = worse(status, res["status"])
            res["groups"] = {labels[i]: {"rows": int(rows[i]), "mean": float(mean[i]), "low": float(low[i]),
                                         "high": float(high[i])} for i in range(k)}
            res["small_groups"] = [labels[i] for i in np.flatnonzero(~eligible)]
            summary_groupings[gname] = res
            for i in range(k):
                table_rows.append([gname, labels[i], int(rows[i]), float(mean[i]), float(low[i]), float(high[i])])
            if len(cols) == 1 or len(cols) == len(m.attributes):
                charts.append(_rate_chart(f"Mean {m.target} by {gname}", {
                    lab: {"rate": g["mean"], "low": g["low"], "high": g["high"]} for lab, g in res["groups"].items()
                }, mean_all, "overall mean", eligible, labels, x_label=f"mean {m.target} (95% t interval)"))
        findings.sort(key=finding_order)
        if not findings:
            findings.append(Finding("No significant difference in the mean target between groups reaches "
                                    f"{t['std_gap_warn']} standard deviations.", severity="info"))
        return self.result(
            status=status,
            summary={"task": "regression", "overall_mean": mean_all, "overall_std": sd_all,
                     "weighted": m.weighted, "groupings": summary_groupings},
            findings=findings + info,
            charts=charts,
            tables=[Table("Mean target per group", ["grouping", "group", "rows", "mean", "low", "high"],
                          table_rows[:MAX_TABLE_ROWS])],
        )


def _rate_chart(title, groups: dict, overall: float, ref_label: str, eligible, labels,
                x_label: str = "rate (95% Wilson interval)") -> Chart:
    items = list(groups.items())
    if len(items) > MAX_BARS:
        items = sorted(items, key=lambda kv: kv[1]["rate"])
        items = items[: MAX_BARS // 2] + items[-MAX_BARS // 2:]
        title += f" (lowest and highest {MAX_BARS // 2} of {len(groups)})"
    elig = dict(zip(labels, eligible, strict=True))

    def differs(lab, g):  # interval excludes the overall value, group large enough to judge
        return bool(elig.get(lab, False) and (g["high"] < overall or g["low"] > overall))

    return Chart(
        title=title,
        bars=[Bar(lab, g["rate"], g["low"], g["high"], flag=differs(lab, g)) for lab, g in items],
        x_label=x_label, reference=overall, reference_label=ref_label,
    )


__all__ = ["BaseRateCounts", "BaseRatesCheck", "GroupingRates", "measure_base_rates"]
