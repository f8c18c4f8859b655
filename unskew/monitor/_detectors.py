"""Detectors: one small class each, in a registry.

A detector reads the reference profile and the merged per-window aggregates
(never raw rows) and returns *tests*: one record per (window, group, feature)
it examined, each with a p-value when it is a statistical test, an effect size,
and the severity it proposes if the test is rejected. The check applies
Benjamini-Hochberg to every p-value of every detector together (features x
groups x windows) and raises an alert only where a test is rejected *and* its
effect reaches the detector's floor. Deterministic findings (a subpopulation
the training data lacked) carry no p-value and always alert. Each detector also
returns time series (per window, per group) for the dashboard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special as _sp
from scipy import stats as _st

try:  # the one registry type (issue 12); a plain mapping until it lands
    from .._registry import Registry

    DETECTORS: Any = Registry("detector", option="--detector")
except ImportError:  # pragma: no cover
    DETECTORS = None

ALL = "__all__"


@dataclass
class Test:
    detector: str
    window: str
    window_index: int
    message: str
    severity: str = "warn"
    group: str | None = None
    feature: str | None = None
    p_value: float | None = None
    effect: float | None = None
    floor_met: bool = True
    evidence: dict = field(default_factory=dict)
    alert: bool = False


@dataclass
class Series:
    """One time series for the dashboard: ``values[i]`` for window ``i``, with optional intervals."""

    title: str
    group: str
    values: list
    low: list | None = None
    high: list | None = None
    kind: str = ""


@dataclass
class Context:
    profile: Any
    windows: list[dict]
    params: dict

    def p(self, key: str, default):
        return self.params.get(key, default)


def _register(cls):
    if DETECTORS is not None:
        DETECTORS.register(cls, name=cls.name)
    else:  # pragma: no cover
        _FALLBACK[cls.name] = cls
    return cls


_FALLBACK: dict = {}


def detectors():
    """The registry (name -> class) of detectors, in run order."""
    return DETECTORS if DETECTORS is not None else _FALLBACK


# ---------------------------------------------------------------------------- small statistics
def wilson(k: float, n: float, z: float = 1.959964) -> tuple[float | None, float | None]:
    if n <= 0:
        return None, None
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, c - h), min(1.0, c + h)


def _norm_sf(z: float) -> float:
    """Standard normal survival function (= ``scipy.stats.norm.sf``, as the bare ufunc)."""
    return float(_sp.ndtr(-z))


def chi2_two_sample(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity of two histograms (bins empty in both dropped)."""
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    if len(ref) < 2 or ref.sum() == 0 or cur.sum() == 0:
        return 0.0, 1.0
    table = np.vstack([ref, cur])
    exp = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    stat = float(((table - exp) ** 2 / exp).sum())
    return stat, float(_sp.chdtrc(len(ref) - 1, stat))  # = chi2.sf, without the per-call distribution overhead


def psi(ref: np.ndarray, cur: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index (sum over bins of (q - p) ln(q / p), shares floored at ``eps``)."""
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    p = np.maximum(ref / ref.sum(), eps)
    q = np.maximum(cur / cur.sum(), eps)
    return float(((q - p) * np.log(q / p)).sum())


def binned_ks(ref: np.ndarray, cur: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the binned distributions (numeric bins are ordered)."""
    ref, cur = np.asarray(ref, float), np.asarray(cur, float)
    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    return float(np.abs(np.cumsum(ref / ref.sum()) - np.cumsum(cur / cur.sum())).max())


def fisher_greater(k_ref: float, n_ref: float, k: float, n: float) -> float:
    """One-sided Fisher exact p-value that the window's rate k/n is below the reference's k_ref/n_ref.

    Both are samples, so the reference's own sampling error is accounted for."""
    if n <= 0 or n_ref <= 0:
        return 1.0
    table = [[int(k_ref), int(n_ref - k_ref)], [int(k), int(n - k)]]
    return float(_st.fisher_exact(table, alternative="greater").pvalue)


def one_sided_drop(p_ref: float, n_ref: float, k: float, n: float) -> float:
    """p-value that a window's rate k/n is below the reference rate (two-proportion z-test)."""
    if n <= 0 or n_ref <= 0:
        return 1.0
    p = k / n
    pool = (p_ref * n_ref + k) / (n_ref + n)
    se = math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / n + 1 / n_ref))
    return float(_norm_sf((p_ref - p) / se))


# ---------------------------------------------------------------------------- detectors
@_register
class NewSubpopulations:
    """Sensitive intersections and categorical values production shows but the reference lacked;
    groups that vanish; group shares that move."""

    name = "subpopulations"
    title = "New and missing subpopulations"
    explanation = ("Groups (intersections of the sensitive columns) and values of every categorical column that a "
                   "window shows with enough support but the reference had fewer than min_count times (absent: fail), "
                   "several such values of one column that only together have enough support, "
                   "groups expected in a window but absent, and group shares that moved (binomial test, BH-controlled).")

    def run(self, ctx: Context):
        min_support, min_count = ctx.p("min_support", 30), ctx.p("min_count", 5)
        share_floor = ctx.p("share_floor", 0.05)
        prof = ctx.profile
        ref = prof.groups
        n_ref = sum(ref.values())
        tests, series = [], {}
        for w in ctx.windows:
            gw = w["payload"].get("groups", {})
            n = w["n"]
            for g, c in gw.items():
                r = ref.get(g, 0)
                if r < min_count and c >= min_support:
                    tests.append(Test(self.name, w["label"], w["index"], severity="fail" if r == 0 else "warn",
                                      group=g, message=(f"New subpopulation {g}: {c} rows in window {w['label']}, "
                                                        f"{r} in the reference (absent from training)" if r == 0 else
                                                        f"Subpopulation {g}: {c} rows, only {r} in the reference"),
                                      effect=c / n, evidence={"window_rows": c, "reference_rows": r, "share": c / n}))
            for f in prof.features:
                if f["kind"] != "categorical" or f["role"] != "feature":
                    continue
                counts = f["counts"]
                seen = dict(w["payload"].get("unseen", {}).get(f["name"], {}))
                for cat in f["categories"]:
                    if counts.get(cat, 0) < min_count:
                        idx = f["categories"].index(cat)
                        seen[cat] = w["payload"]["hist"][f["name"]]["all"][idx]
                rare = {}
                for val, c in seen.items():
                    r = counts.get(val, 0)
                    if r < min_count and c >= min_support:
                        tests.append(Test(self.name, w["label"], w["index"], severity="fail" if r == 0 else "warn",
                                          feature=f["column"],
                                          group=f"{f['column']}={val}",
                                          message=(f"New value {f['column']}={val}: {c} rows in window {w['label']}, "
                                                   f"{r} in the reference" + (" (absent from training)" if r == 0 else "")),
                                          effect=c / n, evidence={"window_rows": c, "reference_rows": r}))
                    elif r < min_count and c > 0:
                        rare[val] = (c, r)
                total = sum(c for c, _ in rare.values())
                if len(rare) > 1 and total >= min_support:
                    # many new values, none with enough rows alone (every native country but one, say)
                    absent = all(r == 0 for _, r in rare.values())
                    top = sorted(rare.items(), key=lambda kv: -kv[1][0])
                    listed = ", ".join(f"{v} {c}" for v, (c, _) in top[:6]) + (", ..." if len(top) > 6 else "")
                    tests.append(Test(self.name, w["label"], w["index"], severity="fail" if absent else "warn",
                                      feature=f["column"], group=f"{f['column']}=(values rare in the reference)",
                                      message=(f"{total} rows in window {w['label']} have one of {len(rare)} values of "
                                               f"{f['column']} that the reference had fewer than {min_count} times"
                                               + (" (all absent from training)" if absent else "") + f": {listed}"),
                                      effect=total / n, evidence={"window_rows": total, "values": len(rare),
                                                                  "rows_per_value": {v: c for v, (c, _) in top[:20]}}))
            for g, r in ref.items():
                share = r / n_ref
                c = gw.get(g, 0)
                series.setdefault(g, []).append(c / n if n else None)
                if c == 0 and share * n >= 20:
                    tests.append(Test(self.name, w["label"], w["index"], severity="warn", group=g,
                                      message=f"Group {g} is absent from window {w['label']} (expected {share * n:.0f} rows)",
                                      effect=share, evidence={"expected_rows": share * n, "reference_share": share}))
                elif share * n >= 5:
                    pv = float(_st.binomtest(int(c), int(n), share).pvalue) if n else 1.0
                    diff = c / n - share
                    tests.append(Test(self.name, w["label"], w["index"], severity="warn", group=g, p_value=pv,
                                      effect=abs(diff), floor_met=abs(diff) >= share_floor and abs(diff) >= 0.5 * share,
                                      message=f"Share of {g} moved from {share:.3f} to {c / n:.3f} in window {w['label']}",
                                      evidence={"reference_share": share, "window_share": c / n, "window_rows": c}))
        return tests, [Series("Group share", g, v, kind="share") for g, v in series.items()]


def _drift_tests(det, ctx: Context, roles: set[str]):
    min_group = ctx.p("min_group_support", 200)
    floor = ctx.p("psi_floor", 0.1)
    fail_psi = ctx.p("psi_fail", 0.25)
    tests, series = [], []
    for f in ctx.profile.features:
        if f["role"] not in roles:
            continue
        ref = f["hist"]
        vals = []
        for w in ctx.windows:
            h = w["payload"].get("hist", {}).get(f["name"])
            if not h:
                vals.append(None)
                continue
            targets = [(None, np.asarray(ref["all"]), np.asarray(h["all"]))]
            for g, counts in h.get("by_group", {}).items():
                if g in ref["by_group"] and sum(counts) >= min_group and sum(ref["by_group"][g]) >= min_group:
                    targets.append((g, np.asarray(ref["by_group"][g]), np.asarray(counts)))
            for g, r, c in targets:
                if c.sum() < ctx.p("min_window_rows", 100):
                    continue
                stat, pv = chi2_two_sample(r, c)
                value = psi(r, c)
                if g is None:
                    vals.append(value)
                ks = binned_ks(r, c) if f["kind"] == "numeric" else None
                where = f" in {g}" if g else ""
                tests.append(Test(det.name, w["label"], w["index"], group=g, feature=f["column"] if f["role"] == "feature" else f["name"],
                                  p_value=pv, effect=value, floor_met=value >= floor,
                                  severity="fail" if value >= fail_psi else "warn",
                                  message=f"{'Drift' if f['role'] == 'feature' else 'Prediction drift'} of {f['column']}{where} "
                                          f"in window {w['label']}: PSI {value:.3f}",
                                  evidence={"psi": value, "chi2": stat, "ks_binned": ks, "rows": int(c.sum())}))
        series.append(Series(f"PSI of {f['column']}", ALL, vals, kind="psi"))
    return tests, series


@_register
class FeatureDrift:
    """Per feature and per group: chi-square test of the binned distribution against the reference; PSI as effect."""

    name = "feature_drift"
    title = "Feature drift"
    explanation = ("Each feature's binned distribution (reference quantile bins, or categories) in each window, overall "
                   "and per group, against the reference: chi-square test of homogeneity (p-value, BH across every "
                   "feature x group x window), PSI as the effect size (alert from 0.1, fail from 0.25), binned KS as evidence.")

    def run(self, ctx: Context):
        return _drift_tests(self, ctx, {"feature"})


@_register
class PredictionDrift:
    """The predicted labels' and scores' distributions against the reference."""

    name = "prediction_drift"
    title = "Prediction drift"
    explanation = ("The distribution of predicted labels (and of scores, in reference quantile bins) per window, overall "
                   "and per group, against the model's outputs on the reference rows; same tests as feature drift.")

    def run(self, ctx: Context):
        return _drift_tests(self, ctx, {"prediction", "score"})


@_register
class OutOfDistribution:
    """Share of rows whose HBOS score exceeds the reference's 99th percentile, per group."""

    name = "ood"
    title = "Out-of-distribution rows"
    explanation = ("Each row's HBOS score (sum over features of -log of the reference frequency of its bin) against the "
                   "threshold at the reference's 99th percentile. The share above it per group and window is tested "
                   "against the group's reference rate (at least 1%; one-sided Fisher exact test, BH); alert from three "
                   "times that rate and at least +3 points.")

    def run(self, ctx: Context):
        ref = ctx.profile.data["ood"]
        groups = ctx.profile.groups
        n_ref = sum(groups.values())
        tests, series = [], {}
        for w in ctx.windows:
            o = w["payload"].get("ood", {})
            gw = w["payload"].get("groups", {})
            items = [(ALL, sum(o.values()), w["n"])] + [(g, o.get(g, 0), c) for g, c in gw.items()]
            for g, k, n in items:
                if n < ctx.p("min_support", 30):
                    continue
                # each group against its own reference rate (rare groups score higher by construction);
                # the reference rate is in-sample (optimistic), hence the nominal 1% floor and the margins below
                base = ref["rate"] if g == ALL or g not in ref["by_group"] else ref["by_group"][g]
                m = n_ref if g == ALL or g not in groups else groups[g]
                base = max(base, 1.0 - ref.get("quantile", 0.99))
                rate = k / n
                series.setdefault(g, []).append(rate)
                # in-distribution share of the window below the reference's = OOD share above it
                pv = fisher_greater(m - round(base * m), m, n - k, n) if rate > base else 1.0
                floor = rate >= max(3 * base, base + 0.03)
                tests.append(Test(self.name, w["label"], w["index"], group=None if g == ALL else g,
                                  p_value=pv, effect=rate, floor_met=floor,
                                  severity="fail" if rate >= max(5 * base, base + 0.1) else "warn",
                                  message=f"{rate:.1%} of rows{' in ' + g if g != ALL else ''} are out of distribution "
                                          f"in window {w['label']} (reference {base:.1%})",
                                  evidence={"ood_rows": int(k), "rows": int(n), "reference_rate": base}))
        return tests, [Series("OOD rate", g, v, kind="ood") for g, v in series.items()]


@_register
class GroupPerformance:
    """Realised accuracy per group as labels arrive, with label coverage."""

    name = "performance"
    title = "Per-group performance (labelled rows)"
    explanation = ("Accuracy per group and window on the rows whose labels have arrived (Wilson intervals), against the "
                   "model's accuracy on the reference rows: one-sided Fisher exact test, reference vs window (BH); alert from a 5-point drop, "
                   "fail from 10. Label coverage is the labelled share of the window's rows.")

    def run(self, ctx: Context):
        perf = ctx.profile.data["performance"]
        min_n = ctx.p("min_labels", 30)
        tests, series = [], []
        by = {}
        for w in ctx.windows:
            lab = w["labels"]
            gw = w["payload"].get("groups", {})
            tot_n = sum(v.get("n", 0) for v in lab.values())
            tot_c = sum(v.get("correct", 0) for v in lab.values())
            items = [(ALL, tot_c, tot_n, w["n"])] + [(g, v.get("correct", 0), v.get("n", 0), gw.get(g, 0)) for g, v in lab.items()]
            seen = set()
            for g, k, n, rows in items:
                seen.add(g)
                acc = k / n if n else None
                lo, hi = wilson(k, n)
                by.setdefault(g, {})[w["index"]] = (acc, lo, hi, n / rows if rows else None)
                r = perf.get(g)
                if n < min_n or r is None or not r.get("n"):
                    continue
                pv = fisher_greater(r["correct"], r["n"], k, n)
                drop = r["accuracy"] - acc
                tests.append(Test(self.name, w["label"], w["index"], group=None if g == ALL else g, p_value=pv,
                                  effect=drop, floor_met=drop >= ctx.p("accuracy_drop", 0.05),
                                  severity="fail" if drop >= ctx.p("accuracy_drop_fail", 0.10) else "warn",
                                  message=f"Accuracy{' of ' + g if g != ALL else ''} in window {w['label']}: {acc:.3f} "
                                          f"[{lo:.3f}, {hi:.3f}] on {n} labelled rows vs {r['accuracy']:.3f} on the reference",
                                  evidence={"accuracy": acc, "low": lo, "high": hi, "labelled": n, "rows": rows,
                                            "coverage": n / rows if rows else None, "reference_accuracy": r["accuracy"]}))
        for g, d in by.items():
            idx = [w["index"] for w in ctx.windows]
            vals = [d.get(i, (None,) * 4) for i in idx]
            series.append(Series("Accuracy (realised)", g, [v[0] for v in vals], [v[1] for v in vals], [v[2] for v in vals], kind="accuracy"))
            series.append(Series("Label coverage", g, [v[3] for v in vals], kind="coverage"))
        return tests, series


@_register
class EstimatedPerformance:
    """CBPE: accuracy estimated from calibrated scores, per group, without labels."""

    name = "cbpe"
    title = "Estimated performance (CBPE)"
    explanation = ("Confidence-based performance estimation (as NannyML's CBPE): scores are calibrated on the reference "
                   "(isotonic), and each row's probability of being correct is p if predicted positive else 1-p; their "
                   "mean per group and window estimates accuracy before labels arrive. Tested one-sided against the "
                   "reference accuracy (binomial standard error, BH); alert from a 5-point drop. Set beside the realised "
                   "accuracy once labels arrive.")

    def run(self, ctx: Context):
        perf = ctx.profile.data["performance"]
        if not ctx.profile.data.get("calibration"):
            return [], []
        tests, by = [], {}
        for w in ctx.windows:
            cb = w["payload"].get("cbpe", {})
            lab = w["labels"]
            tot = np.sum([v for v in cb.values()], axis=0) if cb else None
            items = ([(ALL, tot)] if tot is not None else []) + list(cb.items())
            for g, v in items:
                n, exp_c = v[0], v[1]
                if n <= 0:
                    continue
                est = exp_c / n
                se = math.sqrt(max(est * (1 - est), 1e-12) / n)
                if g == ALL:
                    rk = sum(x.get("correct", 0) for x in lab.values())
                    rn = sum(x.get("n", 0) for x in lab.values())
                else:
                    rk, rn = lab.get(g, {}).get("correct", 0), lab.get(g, {}).get("n", 0)
                by.setdefault(g, {})[w["index"]] = (est, est - 1.96 * se, est + 1.96 * se, rk / rn if rn else None)
                r = perf.get(g)
                if n < ctx.p("min_support", 30) or r is None or not r.get("n"):
                    continue
                drop = r["accuracy"] - est
                ra = r["accuracy"]
                pv = float(_norm_sf(drop / math.sqrt(est * (1 - est) / n + ra * (1 - ra) / r["n"] + 1e-12)))
                tests.append(Test(self.name, w["label"], w["index"], group=None if g == ALL else g, p_value=pv,
                                  effect=drop, floor_met=drop >= ctx.p("accuracy_drop", 0.05),
                                  severity="fail" if drop >= ctx.p("accuracy_drop_fail", 0.10) else "warn",
                                  message=f"Estimated accuracy{' of ' + g if g != ALL else ''} in window {w['label']}: "
                                          f"{est:.3f} vs {r['accuracy']:.3f} on the reference"
                                          + (f" (realised so far {rk / rn:.3f} on {rn} labels)" if rn else ""),
                                  evidence={"estimated_accuracy": est, "rows": n, "realised_accuracy": rk / rn if rn else None,
                                            "labelled": rn, "reference_accuracy": r["accuracy"]}))
        series = []
        idx = [w["index"] for w in ctx.windows]
        for g, d in by.items():
            vals = [d.get(i, (None,) * 4) for i in idx]
            series.append(Series("Accuracy (estimated, CBPE)", g, [v[0] for v in vals], [v[1] for v in vals],
                                 [v[2] for v in vals], kind="cbpe"))
        return tests, series


@_register
class FairnessGaps:
    """Largest gap between groups in selection rate (always) and accuracy (labelled rows), with intervals."""

    name = "fairness"
    title = "Fairness gaps over time"
    explanation = ("Per window, the gap between the groups with the highest and lowest selection rate (share predicted "
                   "positive) and, on labelled rows, accuracy, among groups with enough rows; 95% Wald interval of the "
                   "gap. Tested against the same pair's gap on the reference (z-test, BH); alert when it widens by 0.1.")

    def run(self, ctx: Context):
        prof = ctx.profile
        pos = prof.pos_label
        perf = prof.data["performance"]
        min_n = ctx.p("min_group_support", 200)
        tests, sel_series, acc_series = [], [], []
        pred_f = next((f for f in prof.features if f["role"] == "prediction"), None)
        for w in ctx.windows:
            rates = {}
            if pos is not None and pred_f is not None and pos in pred_f["categories"]:
                pi = pred_f["categories"].index(pos)
                for g, h in w["payload"].get("hist", {}).get(pred_f["name"], {}).get("by_group", {}).items():
                    n = sum(h)
                    if n >= min_n and g in perf and perf[g]["n"] >= min_n:
                        rates[g] = (h[pi] / n, n, perf[g].get("selection_rate"), perf[g]["n"])
            accs = {}
            for g, v in w["labels"].items():
                if v.get("n", 0) >= min_n and g in perf and perf[g]["n"] >= min_n:
                    accs[g] = (v["correct"] / v["n"], v["n"], perf[g]["accuracy"], perf[g]["n"])
            for what, vals, out in (("selection rate", rates, sel_series), ("accuracy", accs, acc_series)):
                if len(vals) < 2:
                    out.append((None, None, None))
                    continue
                hi_g = max(vals, key=lambda g: vals[g][0])
                lo_g = min(vals, key=lambda g: vals[g][0])
                (p1, n1, r1, m1), (p2, n2, r2, m2) = vals[hi_g], vals[lo_g]
                gap = p1 - p2
                se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
                out.append((gap, gap - 1.96 * se, gap + 1.96 * se))
                if r1 is None or r2 is None:
                    continue
                ref_gap = r1 - r2
                se_ref = math.sqrt(r1 * (1 - r1) / m1 + r2 * (1 - r2) / m2)
                widen = gap - ref_gap
                pv = float(_norm_sf(widen / math.sqrt(se * se + se_ref * se_ref + 1e-12)))
                tests.append(Test(self.name, w["label"], w["index"], group=f"{hi_g} vs {lo_g}", feature=what,
                                  p_value=pv, effect=widen, floor_met=widen >= ctx.p("gap_widen", 0.1),
                                  severity="warn",
                                  message=f"{what.capitalize()} gap {hi_g} vs {lo_g} in window {w['label']}: {gap:.3f} "
                                          f"[{gap - 1.96 * se:.3f}, {gap + 1.96 * se:.3f}] vs {ref_gap:.3f} on the reference",
                                  evidence={"gap": gap, "low": gap - 1.96 * se, "high": gap + 1.96 * se,
                                            "reference_gap": ref_gap}))
        series = [Series("Selection-rate gap", ALL, [v[0] for v in sel_series], [v[1] for v in sel_series],
                         [v[2] for v in sel_series], kind="gap"),
                  Series("Accuracy gap", ALL, [v[0] for v in acc_series], [v[1] for v in acc_series],
                         [v[2] for v in acc_series], kind="gap")]
        return tests, series


def benjamini_hochberg(pvalues: list[float], q: float = 0.05) -> np.ndarray:
    """Reject mask of the Benjamini-Hochberg step-up procedure at level ``q``."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p)
    thresh = q * np.arange(1, m + 1) / m
    below = p[order] <= thresh
    out = np.zeros(m, dtype=bool)
    if below.any():
        k = int(np.flatnonzero(below).max())
        out[order[: k + 1]] = True
    return out
