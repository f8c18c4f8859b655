"""Check 3: base rates of the target per sensitive group and intersection."""

from __future__ import annotations

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
    finding_order,
    fmt_p,
    group_totals,
    grouping_name,
    groupings,
    kish,
    sensitive_codes,
    worse,
)

#: A numeric target with more distinct values than this is treated as continuous
#: (same rule as the target-distribution check).
MAX_CLASSES_AS_CATEGORIES = 20


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
        y = ds.y
        numeric = ds.column_types.get(ds.target) == "numeric" and y.nunique() > MAX_CLASSES_AS_CATEGORIES
        if numeric:
            return self._run_numeric(ds, ctx)
        return self._run_classes(ds, ctx)

    # ------------------------------------------------------------------ classification
    def _run_classes(self, ds: Dataset, ctx: AuditContext):
        t = self.thresholds
        sc = sensitive_codes(ds, ctx)
        w = ds.sample_weight
        n = len(ds)
        ycodes, classes = pd.factorize(ds.y, sort=True)
        ycodes = np.asarray(ycodes, dtype=np.int64)
        classes = list(classes)
        n_cls = len(classes)
        binary = n_cls == 2
        if binary:
            pos = ds.positive_label()
            judged = [classes.index(pos)]
        else:
            judged = list(range(n_cls))
        wy = np.ones(n) if w is None else w
        overall = np.bincount(ycodes, weights=wy, minlength=n_cls) / wy.sum()
        n_eff_all = kish(w, n)

        status = "pass"
        findings: list[Finding] = []
        info: list[Finding] = []
        summary_groupings: dict = {}
        table_rows: list[list] = []
        charts: list[Chart] = []
        for cols in groupings(ds.sensitive, sc):
            gname = grouping_name(cols)
            codes, shape = cell_codes(sc, cols)
            present, inv = np.unique(codes, return_inverse=True)
            k = len(present)
            rows, wsum, neff = group_totals(inv, k, w)
            joint = np.bincount(inv * n_cls + ycodes, weights=None if w is None else w,
                                minlength=k * n_cls).reshape(k, n_cls)
            rates = joint / wsum[:, None]
            labels = cell_labels(sc, cols, present, shape)
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
                                "high": float(high[i]), **({"weight": float(wsum[i])} if w is not None else {})}
                    for i in range(k)
                }
                class_results[str(classes[c])] = res
                for i in range(k):
                    table_rows.append([gname, labels[i], int(rows[i]), str(classes[c]), float(rates[i, c]),
                                       float(low[i]), float(high[i])])
                status = worse(status, res["status"])
                if res["status"] != "pass" or (binary and res["gap"] is not None):
                    f = self._finding(ds, gname, classes[c], res, binary)
                    (findings if f.severity != "info" else info).append(f)
            if binary:
                entry.update(class_results[str(classes[judged[0]])])
            else:
                entry["classes"] = class_results
            summary_groupings[gname] = entry
            if len(cols) == 1 or len(cols) == len(ds.sensitive):
                if binary:
                    c_show = judged[0]
                else:
                    gaps = {c: class_results[str(classes[c])]["gap"] or 0.0 for c in judged}
                    c_show = max(gaps, key=gaps.get)
                charts.append(_rate_chart(
                    f"P({ds.target} = {classes[c_show]}) by {gname}", class_results[str(classes[c_show])]["groups"],
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
            "weighted": w is not None,
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

    def _finding(self, ds, gname, cls, res, binary) -> Finding:
        what = f"P({ds.target} = {cls})"
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
    def _run_numeric(self, ds: Dataset, ctx: AuditContext):
        t = self.thresholds
        sc = sensitive_codes(ds, ctx)
        w = ds.sample_weight
        yv = ds.y.to_numpy(dtype=float)
        wy = np.ones(len(yv)) if w is None else w
        mean_all = float(np.average(yv, weights=wy))
        sd_all = float(np.sqrt(np.average((yv - mean_all) ** 2, weights=wy)))
        status = "pass"
        findings, info, charts, table_rows = [], [], [], []
        summary_groupings = {}
        for cols in groupings(ds.sensitive, sc):
            gname = grouping_name(cols)
            codes, shape = cell_codes(sc, cols)
            present, inv = np.unique(codes, return_inverse=True)
            k = len(present)
            rows, wsum, neff = group_totals(inv, k, w)
            s1 = np.bincount(inv, weights=wy * yv, minlength=k)
            mean = s1 / wsum
            dev2 = np.bincount(inv, weights=wy * (yv - mean[inv]) ** 2, minlength=k)
            with np.errstate(invalid="ignore", divide="ignore"):
                var = dev2 / wsum * neff / np.maximum(neff - 1, 1e-12)  # unbiased, effective n
                se = np.sqrt(var / neff)
                tq = stats.t.ppf(0.975, np.maximum(neff - 1, 1))
            low = np.where(neff > 1, mean - tq * se, np.nan)
            high = np.where(neff > 1, mean + tq * se, np.nan)
            labels = cell_labels(sc, cols, present, shape)
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
                    f"Mean {ds.target} differs across {gname}: {mean[hi]:.4g} for {labels[hi]} vs "
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
            if len(cols) == 1 or len(cols) == len(ds.sensitive):
                charts.append(_rate_chart(f"Mean {ds.target} by {gname}", {
                    lab: {"rate": g["mean"], "low": g["low"], "high": g["high"]} for lab, g in res["groups"].items()
                }, mean_all, "overall mean", eligible, labels, x_label=f"mean {ds.target} (95% t interval)"))
        findings.sort(key=finding_order)
        if not findings:
            findings.append(Finding("No significant difference in the mean target between groups reaches "
                                    f"{t['std_gap_warn']} standard deviations.", severity="info"))
        return self.result(
            status=status,
            summary={"task": "regression", "overall_mean": mean_all, "overall_std": sd_all,
                     "weighted": w is not None, "groupings": summary_groupings},
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


__all__ = ["BaseRatesCheck"]
