"""The ``explain`` report: attributions per group, gap decompositions, proxies, stability.

:func:`explain_report` is what ``unskew explain`` calls: it validates the table
(:class:`unskew.data.Dataset`), loads the model as ``unskew evaluate`` does,
explains the rows (exactly when the model allows), and returns a
:class:`unskew.report.Report` of kind ``explain`` with these sections:

``attributions``
    Method, what is explained, additivity error, mean |attribution| overall
    and per group (one bar chart per group, a features x groups table).
``gaps``
    For each sensitive attribute, the difference of mean model output between
    each group and the largest group, decomposed into per-feature
    contributions with bootstrap intervals (a chart per gap). With the target,
    the difference of mean loss too (permutation estimator on a sample).
``differences``
    Features whose attribution differs most between groups.
``proxies``
    Share of attribution carried by the features the audit's ``proxies`` check
    flags (its result is reused). Status from ``proxy_share_warn``/``_fail``.
``stability``
    Spearman correlation and top-k overlap of each group's ranking across
    seeds and resamples. Status from ``stability_warn``/``_fail``.

:func:`saliency_section` builds the image section (region share per group and
the sanity check of each method) for the Python API.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import UnskewInputError
from ..report import Bar, Chart, CheckResult, Finding, Image, Report, Table

DEFAULT_THRESHOLDS = {
    "proxy_share_warn": 0.25,
    "proxy_share_fail": 0.5,
    "stability_warn": 0.8,
    "stability_fail": 0.5,
}
MAX_GROUP_CHARTS = 12
MAX_GAPS = 12
TOP_FEATURES = 15


def parse_thresholds(items) -> dict[str, float]:
    """``NAME=VALUE`` strings (as ``--threshold`` takes them) to a dict of floats.

    Examples
    --------
    >>> parse_thresholds(["proxy_share_warn=0.3"])
    {'proxy_share_warn': 0.3}
    """
    out: dict[str, float] = {}
    for item in items or []:
        if "=" not in item:
            raise UnskewInputError(f"--threshold expects NAME=VALUE, got {item!r}.")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError as exc:
            raise UnskewInputError(f"--threshold {k.strip()} needs a number, got {v!r}.") from exc
    return out


def _r(v, k=6):
    return None if v is None or not np.isfinite(v) else round(float(v), k)


def explain_report(data: Any, *, target: str | None, sensitive, model: Any, trust_pickle: bool = False,
                   features=None, method: str = "auto", max_rows: int = 10_000, loss: bool = True,
                   loss_rows: int = 300, n_boot: int = 500, proxies: bool = True, stability_seeds=(1, 2, 3),
                   thresholds: dict | None = None, random_state: int = 0, time_budget_s: float = 300.0,
                   on_estimate=None, na_values=None, delimiter=None) -> Report:
    """Explain a model on a table, per group, as a :class:`~unskew.report.Report` (kind ``explain``).

    Parameters
    ----------
    data : path or DataFrame
    target : str, optional
        The label column (needed for the loss gap and the proxies check).
    sensitive : str or list of str
    model : path or fitted model
        A ``.skops``/``.onnx`` file (pickle/joblib only with ``trust_pickle``) or an estimator.
    max_rows : int, default 10000
        Rows explained at most (a seeded uniform sample beyond; counted in the report).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from unskew.explain import explain_report
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "g": rng.choice(["x", "y"], 300)})
    >>> df["y"] = (df["a"] > 0).astype(int)
    >>> m = HistGradientBoostingClassifier(max_iter=10).fit(df[["a", "b"]], df["y"])
    >>> rep = explain_report(df, target="y", sensitive="g", model=m, loss=False, proxies=False)
    >>> rep.kind, [c.name for c in rep.checks][:2]
    ('explain', ['attributions', 'gaps'])
    """
    from ..data import Dataset
    from ..metrics._models import load_model, model_features
    from ._findings import attribution_differences, proxy_share, ranking_stability
    from ._shap import explain

    t = dict(DEFAULT_THRESHOLDS)
    for k, v in (thresholds or {}).items():
        if k not in t:
            raise UnskewInputError(f"Unknown threshold {k!r}; have {', '.join(t)}.")
        t[k] = float(v)
    if isinstance(sensitive, str):
        sensitive = [s.strip() for s in sensitive.split(",") if s.strip()]
    if not sensitive:
        raise UnskewInputError("Pass the sensitive column(s) (--sensitive COL[,COL...]).")
    if max_rows < 1 or n_boot < 0:
        raise UnskewInputError("max_rows must be positive and n_boot >= 0.")
    ds = Dataset.from_data(data, target=target, sensitive=sensitive, na_values=na_values, delimiter=delimiter)
    est = load_model(model, trust_pickle=trust_pickle) if isinstance(model, (str, Path)) else model
    frame = ds.frame.reset_index(drop=True)
    cols = model_features(est, frame, [c for c in [target, *sensitive] if c], features)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise UnskewInputError(f"The model needs column(s) {missing[:8]} that the table lacks.")
    rng = np.random.default_rng(random_state)
    n_all = len(frame)
    rows = np.sort(rng.choice(n_all, size=max_rows, replace=False)) if n_all > max_rows else np.arange(n_all)
    sub = frame.iloc[rows].reset_index(drop=True)
    X = sub[cols]
    sens = sub[list(sensitive)]
    t0 = time.perf_counter()
    e = explain(est, X, sensitive=sens, method=method, random_state=random_state, time_budget_s=time_budget_s,
                on_estimate=on_estimate)
    checks = [_attribution_section(e, time.perf_counter() - t0)]
    y = None
    if target is not None and loss and hasattr(est, "predict"):
        y = sub[target].to_numpy()
    checks.append(_gap_section(e, est, X, sens, y, sensitive, n_boot, loss_rows, random_state, time_budget_s,
                               on_estimate))
    checks.append(_differences_section(attribution_differences(e)))
    if proxies and target is not None:
        from ..audit import audit

        prox_report = audit(ds, checks=["proxies"], random_state=random_state)
        checks.append(_proxy_section(proxy_share(e, prox_report), prox_report["proxies"].status, t))
    else:
        checks.append(CheckResult("proxies", "Attribution carried by proxies", status="skipped",
                                  findings=[Finding("Skipped: the audit's proxies check needs --target.")
                                            if target is None else Finding("Skipped on request.")],
                                  summary={"reason": "no target" if target is None else "disabled"}))
    t1 = time.perf_counter()
    stab = ranking_stability(est, X, sensitive=sens, seeds=tuple(stability_seeds), reference=e,
                             explain_kwargs={"method": method, "time_budget_s": time_budget_s})
    checks.append(_stability_section(stab, e, t, time.perf_counter() - t1))
    dataset = ds.describe()
    dataset["rows_explained"] = int(len(rows))
    return Report(kind="explain", checks=checks, dataset=dataset,
                  parameters={"random_state": random_state, "method": method, "max_rows": max_rows,
                              "model": str(model) if isinstance(model, (str, Path)) else type(est).__name__,
                              "model_features": cols, "n_boot": n_boot, "thresholds": t})


def _attribution_section(e, elapsed) -> CheckResult:
    bg = e.by_group()
    order = bg["all"].sort_values(ascending=False).index[:TOP_FEATURES]
    charts = [Chart(title="Mean |attribution| over all rows", x_label=f"mean |attribution| ({e.output})",
                    bars=[Bar(str(f), float(bg.loc[f, "all"])) for f in order])]
    for g in list(e.groups)[:MAX_GROUP_CHARTS]:
        charts.append(Chart(title=f"Mean |attribution| for {g} (n={int(e.groups[g].sum()):,})",
                            x_label=f"mean |attribution| ({e.output})",
                            bars=[Bar(str(f), float(bg.loc[f, g])) for f in order]))
    table = Table("Mean |attribution| per feature and group", ["feature", *[str(c) for c in bg.columns]],
                  [[str(f), *[_r(v) for v in bg.loc[f]]] for f in bg.index])
    base = e.base_value if np.isscalar(e.base_value) else float(np.mean(e.base_value))
    findings = [Finding(f"The model's {e.output} is explained by {e.method} attributions "
                        f"({e.details.get('perturbation', '')}); the top features are "
                        f"{', '.join(map(str, order[:3]))}.", subject=str(order[0]) if len(order) else None)]
    err = e.details.get("max_additivity_error")
    if err is not None:
        findings.append(Finding(f"Base value plus attributions reproduce the model's output within {err:.1e}.",
                                value=err))
    return CheckResult(
        "attributions", "What the model relies on, per group", status="pass",
        summary={"method": e.method, "output": e.output, "base_value": _r(base), "rows": len(e.values),
                 "features": e.feature_names, "perturbation": e.details.get("perturbation"),
                 "max_additivity_error": err, "group_sizes": e.group_sizes(),
                 "mean_abs_attribution": {str(f): _r(v) for f, v in bg["all"].items()}},
        findings=findings, charts=charts, tables=[table], elapsed_s=elapsed,
        explanation=("Shapley-value attributions of each row's model output to its features (exact TreeSHAP for "
                     "tree ensembles, exact for linear models, a permutation estimate otherwise), averaged as "
                     "mean |attribution| per group: which features the model relies on for whom."))


def _gap_pairs(e, sensitive):
    pairs = []
    sizes = e.group_sizes()
    for attr in sensitive:
        names = [g for g in e.groups if g.startswith(f"{attr}=") and " & " not in g and sizes[g] > 0]
        if len(names) < 2:
            continue
        ref = max(names, key=lambda g: sizes[g])
        pairs.extend((g, ref) for g in names if g != ref)
    return pairs[:MAX_GAPS]


def _gap_chart(gap, what) -> Chart:
    bars = [Bar("(total difference)", gap.difference, gap.difference_low, gap.difference_high, flag=True)]
    if abs(gap.base_difference) > 0:
        bars.append(Bar("(base value)", gap.base_difference))
    for r in gap.table.head(TOP_FEATURES).itertuples():
        bars.append(Bar(str(r.feature), float(r.contribution), _r(r.low), _r(r.high)))
    return Chart(title=f"Mean {what}: {gap.group_a} minus {gap.group_b} = {gap.difference:+.4g}, by feature",
                 x_label=f"contribution to the difference ({gap.confidence:.0%} bootstrap interval)",
                 reference=0.0, bars=bars)


def _gap_section(e, est, X, sens, y, sensitive, n_boot, loss_rows, random_state, time_budget_s, on_estimate):
    from ._shap import explain

    t0 = time.perf_counter()
    pairs = _gap_pairs(e, sensitive)
    gaps, charts, findings, rows = [], [], [], []
    for a, b in pairs:
        g = e.gap(a, b, n_boot=n_boot, random_state=random_state)
        gaps.append({"kind": "output", **g.to_dict()})
        charts.append(_gap_chart(g, e.output))
        top = g.table.iloc[0]
        findings.append(Finding(
            f"Mean {e.output} of {a} minus {b}: {g.difference:+.4g}; the largest part comes from "
            f"'{top['feature']}' ({top['contribution']:+.4g}, {top['share']:.0%} of the difference).",
            subject=a, value=g.difference))
        rows.extend([["output", a, b, str(r.feature), _r(r.contribution), _r(r.low), _r(r.high), _r(r.share)]
                     for r in g.table.head(TOP_FEATURES).itertuples()])
    loss_info = None
    if y is not None and pairs:
        rng = np.random.default_rng(random_state)
        idx = np.sort(rng.choice(len(X), size=min(loss_rows, len(X)), replace=False))
        try:
            le = explain(est, X.iloc[idx].reset_index(drop=True), y=y[idx], output="loss",
                         sensitive=sens.iloc[idx].reset_index(drop=True), max_background=50,
                         n_permutations=6, random_state=random_state, time_budget_s=time_budget_s,
                         on_estimate=on_estimate)
            loss_info = {"rows": len(idx), "n_permutations": le.details.get("n_permutations")}
            for a, b in pairs:
                if a not in le.groups or b not in le.groups or not le.groups[a].any() or not le.groups[b].any():
                    continue
                g = le.gap(a, b, n_boot=n_boot, random_state=random_state)
                gaps.append({"kind": "loss", **g.to_dict()})
                charts.append(_gap_chart(g, "loss"))
                rows.extend([["loss", a, b, str(r.feature), _r(r.contribution), _r(r.low), _r(r.high), _r(r.share)]
                             for r in g.table.head(TOP_FEATURES).itertuples()])
        except UnskewInputError as exc:
            findings.append(Finding(f"The loss gap was not decomposed: {exc}", severity="info"))
            loss_info = {"error": str(exc)}
    if not pairs:
        findings.append(Finding("No attribute has two non-empty groups; no gap to decompose.", severity="info"))
    return CheckResult(
        "gaps", "Why the groups' outputs differ: gap decomposition", status="pass",
        summary={"gaps": gaps, "loss": loss_info}, findings=findings, charts=charts,
        tables=[Table("Contributions to each gap", ["kind", "group", "versus", "feature", "contribution", "low",
                                                    "high", "share"], rows)],
        elapsed_s=time.perf_counter() - t0,
        explanation=("The difference of mean model output (and, with the target, of mean loss) between each group "
                     "and the largest group of the same attribute, split exactly into per-feature contributions "
                     "(differences of the groups' mean attributions; they sum to the difference), with bootstrap "
                     "intervals resampling rows within each group."))


def _differences_section(diff) -> CheckResult:
    rows = [[r.attribute, r.feature, r.most, _r(r.most_value), r.least, _r(r.least_value), _r(r.difference),
             _r(r.ratio)] for r in diff.itertuples()]
    findings = []
    for attr, d in diff.groupby("attribute", sort=False):
        r = d.iloc[0]
        findings.append(Finding(f"For {attr}, '{r['feature']}' differs most: mean |attribution| {r['most_value']:.4g} "
                                f"for {r['most']} against {r['least_value']:.4g} for {r['least']}.",
                                subject=str(r["feature"]), value=float(r["difference"])))
    if not findings:
        findings.append(Finding("No attribute has two groups large enough to compare.", severity="info"))
    return CheckResult(
        "differences", "Features whose attribution differs most between groups", status="pass",
        summary={"differences": diff.to_dict(orient="records")}, findings=findings,
        tables=[Table("Largest differences in mean |attribution| between groups",
                      ["attribute", "feature", "most", "value", "least", "value ", "difference", "ratio"], rows)],
        explanation="For each attribute, the gap between the group that relies most and least on each feature.")


def _proxy_section(share, proxies_status, t) -> CheckResult:
    s = share["share"]
    status = "fail" if s >= t["proxy_share_fail"] else "warn" if s >= t["proxy_share_warn"] else "pass"
    if not share["proxies"]:
        status = "pass"
        findings = [Finding("The audit flags no feature of the model as a proxy of a sensitive attribute.")]
    else:
        findings = [Finding(f"{s:.0%} of the model's attribution is carried by features the audit flags as proxies "
                            f"({', '.join(share['proxies'])}).", severity=status if status != "pass" else "info",
                            value=s)]
    charts = [Chart(title="Share of attribution on flagged proxies", x_label="share of mean |attribution|",
                    bars=[Bar("all", s), *[Bar(g, v) for g, v in list(share["by_group"].items())[:40]]])]
    return CheckResult(
        "proxies", "Attribution carried by proxies", status=status,
        summary={**share, "audit_proxies_status": proxies_status}, findings=findings, charts=charts,
        thresholds={"proxy_share_warn": t["proxy_share_warn"], "proxy_share_fail": t["proxy_share_fail"]},
        explanation=("Share of the model's mean |attribution| that goes to features the audit's proxies check flags "
                     "as revealing a sensitive attribute: a model can discriminate through them even without the "
                     "attribute."))


def _stability_section(stab, e, t, elapsed) -> CheckResult:
    worst = float(stab["spearman_min"].min()) if len(stab) else float("nan")
    status = "pass"
    if np.isfinite(worst):
        status = "fail" if worst < t["stability_fail"] else "warn" if worst < t["stability_warn"] else "pass"
    rows = [[r.group, _r(r.spearman_mean), _r(r.spearman_min), _r(r.top_overlap_mean), _r(r.top_overlap_min),
             int(r.repeats)] for r in stab.itertuples()]
    varied = "row resamples" if e.method == "tree" else "background samples, seeds and row resamples"
    return CheckResult(
        "stability", "Stability of the rankings", status=status,
        summary={"worst_spearman": _r(worst), "varied": varied, "groups": stab.to_dict(orient="records")},
        findings=[Finding(f"Across {varied}, the lowest rank correlation of a group's feature ranking is "
                          f"{worst:.3f}.", severity=status if status != "pass" else "info", value=worst)],
        thresholds={"stability_warn": t["stability_warn"], "stability_fail": t["stability_fail"]},
        tables=[Table("Rank stability per group", ["group", "Spearman mean", "Spearman min", "top-5 overlap mean",
                                                   "top-5 overlap min", "repeats"], rows)],
        elapsed_s=elapsed,
        explanation=("Each group's feature ranking recomputed under other seeds; a low correlation means the "
                     "ranking should not be read too precisely."))


def saliency_section(model, images, *, sensitive=None, mask=None, methods=("gradient", "smoothgrad",
                     "integrated_gradients", "grad_cam"), target=None, image_shape=None,
                     sanity_images: int = 64, threshold: float = 0.5) -> CheckResult:
    """The image section: per-group share of attribution inside ``mask`` for each method, and the
    Adebayo sanity check of each method (a failing method is flagged and fails the section)."""
    from ._saliency import region_share, saliency, sanity_check
    from ._shap import group_masks

    t0 = time.perf_counter()
    n = len(images)
    groups = group_masks(sensitive, n) if sensitive is not None else {}
    from ._png import map_grid

    per_method, findings, charts, rows, pngs = {}, [], [], [], []
    status = "pass"
    for m in methods:
        try:
            maps = saliency(model, images, method=m, target=target, image_shape=image_shape)
        except UnskewInputError as exc:
            findings.append(Finding(f"{m}: not computed ({exc}).", severity="info"))
            continue
        info: dict = {}
        if mask is not None:
            share = region_share(maps, mask)
            info["region_share"] = _r(float(np.nanmean(share)))
            info["region_share_by_group"] = {g: _r(float(np.nanmean(share[k]))) for g, k in groups.items() if k.any()}
            charts.append(Chart(title=f"{m}: share of attribution inside the mask", x_label="share",
                                bars=[Bar("all", float(np.nanmean(share))),
                                      *[Bar(g, v) for g, v in info["region_share_by_group"].items()]]))
        t_sc = target if target is None or np.ndim(target) == 0 else np.asarray(target)[:sanity_images]
        sc = sanity_check(model, images[:sanity_images], method=m, target=t_sc, threshold=threshold,
                          image_shape=image_shape)
        info["sanity"] = sc
        if not sc["passed"]:
            status = "warn" if status == "pass" else status
            findings.append(Finding(f"{m} fails the model-randomisation sanity check: maps of a randomly initialised "
                                    f"model correlate {sc['spearman_mean']:.2f} with the trained model's "
                                    f"(threshold {threshold}); do not trust this method here.",
                                    severity="warn", subject=m, value=sc["spearman_mean"]))
        rows.append([m, info.get("region_share"), _r(sc["spearman_mean"]), "pass" if sc["passed"] else "fail"])
        per_method[m] = info
        means = [(g, maps[k].mean(axis=0)) for g, k in groups.items() if k.any()][:8]
        grid = map_grid([list(maps[:8]), [maps.mean(axis=0)] + [mm for _, mm in means]])
        pngs.append(Image(f"{m}: examples (top row); mean map of all images, then of "
                            f"{', '.join(g for g, _ in means) or 'no groups'} (bottom row)", grid,
                            caption="each map scaled to its own maximum; brighter = more attribution"))
    return CheckResult(
        "saliency", "Where the image model looks", status=status, summary={"methods": per_method, "images": n},
        findings=findings or [Finding("Every method passes the sanity check.")], charts=charts, images=pngs,
        tables=[Table("Saliency methods", ["method", "share inside mask", "Spearman trained vs random",
                                           "sanity check"], rows)],
        thresholds={"sanity_spearman": threshold}, elapsed_s=time.perf_counter() - t0,
        explanation=("Non-negative saliency maps (channels summed); the share of each map inside the mask (e.g. the "
                     "background), per group; and the sanity check of Adebayo et al. (2018): a method whose maps "
                     "barely change when the model's weights are randomised is flagged."))
