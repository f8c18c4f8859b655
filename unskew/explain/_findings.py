"""Per-group findings from an :class:`~unskew.explain.Explanation`.

* :func:`attribution_differences`: the features whose mean |attribution|
  differs most between the groups of each sensitive attribute;
* :func:`proxy_share`: how much of the attribution is carried by features the
  audit's ``proxies`` check flags (its result is reused, never recomputed);
* :func:`ranking_stability`: how stable each group's feature ranking is
  across background samples and seeds (and row resampling).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError


def _attribute_of(name: str) -> str | None:
    return None if " & " in name else name.split("=", 1)[0]


def attribution_differences(expl, *, top: int = 10, min_group_size: int = 30) -> pd.DataFrame:
    """Features whose mean |attribution| differs most between groups of one attribute.

    For every sensitive attribute (and the intersection, when there are
    several), the groups with at least ``min_group_size`` rows are compared;
    a row per feature gives the group that relies on it most and least, the
    difference and the ratio. Sorted by the difference, ``top`` rows per
    attribute.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from unskew.explain import explain, attribution_differences
    >>> X = np.array([[0., 1.], [1., 0.], [2., 1.], [3., 0.]])
    >>> m = LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
    >>> e = explain(m, X, sensitive=["a", "a", "b", "b"])
    >>> attribution_differences(e, min_group_size=1)["feature"].tolist()
    ['x0', 'x1']
    """
    bg = expl.by_group()
    sizes = expl.group_sizes()
    families: dict[str, list[str]] = {}
    for name in expl.groups:
        fam = _attribute_of(name) or "intersection"
        if sizes[name] >= min_group_size:
            families.setdefault(fam, []).append(name)
    rows = []
    for fam, names in families.items():
        if len(names) < 2:
            continue
        sub = bg[names]
        hi, lo = sub.idxmax(axis=1), sub.idxmin(axis=1)
        vmax, vmin = sub.max(axis=1), sub.min(axis=1)
        for feat in sub.index:
            rows.append({"attribute": fam, "feature": feat, "most": hi[feat], "most_value": float(vmax[feat]),
                         "least": lo[feat], "least_value": float(vmin[feat]),
                         "difference": float(vmax[feat] - vmin[feat]),
                         "ratio": float(vmax[feat] / vmin[feat]) if vmin[feat] > 0 else float("inf")})
    out = pd.DataFrame(rows, columns=["attribute", "feature", "most", "most_value", "least", "least_value",
                                      "difference", "ratio"])
    if out.empty:
        return out
    out = out.sort_values(["attribute", "difference"], ascending=[True, False], kind="stable")
    return out.groupby("attribute", sort=False).head(top).reset_index(drop=True)


def flagged_proxies(proxies: Any) -> dict[str, list[str]]:
    """Feature -> the sensitive attributes it is a flagged proxy of, from the audit.

    ``proxies`` is the audit's ``proxies`` :class:`~unskew.report.CheckResult`,
    a :class:`~unskew.report.Report` containing it (or its JSON dict), or a
    plain list of feature names.
    """
    if proxies is None:
        return {}
    if isinstance(proxies, (list, tuple, set)):
        return {str(f): [] for f in proxies}
    if hasattr(proxies, "checks") and hasattr(proxies, "__contains__"):
        if "proxies" not in proxies:
            raise UnskewInputError("The audit report has no 'proxies' check; run the audit with --sensitive.")
        proxies = proxies["proxies"]
    if isinstance(proxies, dict) and "checks" in proxies:
        found = [c for c in proxies["checks"] if c.get("name") == "proxies"]
        if not found:
            raise UnskewInputError("The audit report has no 'proxies' check; run the audit with --sensitive.")
        proxies = found[0]
    summary = proxies.get("summary", {}) if isinstance(proxies, dict) else getattr(proxies, "summary", {})
    out: dict[str, list[str]] = {}
    for e in summary.get("features", []) or []:
        if e.get("status", "pass") != "pass":
            out.setdefault(str(e["feature"]), []).append(str(e["attribute"]))
    return out


def proxy_share(expl, proxies: Any) -> dict:
    """Share of the model's attribution carried by the audit's flagged proxy features.

    The share is ``sum over proxies of mean |attribution|`` divided by the
    sum over all features, overall and per group.

    Returns
    -------
    dict with ``proxies`` (feature -> attributes), ``share`` (all rows) and
    ``by_group`` (group -> share).
    """
    flagged = flagged_proxies(proxies)
    present = [f for f in flagged if f in expl.feature_names]
    bg = expl.by_group()
    total = bg.sum(axis=0)
    part = bg.loc[present].sum(axis=0) if present else total * 0
    shares = (part / total.where(total > 0)).to_dict()
    return {"proxies": {f: flagged[f] for f in present}, "missing_from_model": [f for f in flagged if f not in present],
            "share": float(shares.pop("all")) if present else 0.0,
            "by_group": {k: float(v) for k, v in shares.items()}}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def ranking_stability(model, X, *, sensitive=None, background=None, seeds=(1, 2, 3), top: int = 5,
                      reference=None, explain_kwargs: dict | None = None) -> pd.DataFrame:
    """Stability of the per-group feature rankings across background samples and seeds.

    Each seed draws a new background sample (methods that use one) and a
    bootstrap resample of the rows, and explains again; each group's ranking
    (by mean |attribution|) is compared with the reference explanation's by
    the Spearman correlation and the overlap of the ``top`` features
    (Jaccard index). Path-dependent TreeSHAP does not use a background, so
    for tree models only the row resampling varies and the values are reused.

    Returns
    -------
    DataFrame with one row per group: ``spearman_mean``, ``spearman_min``,
    ``top_overlap_mean``, ``top_overlap_min``, ``repeats``.
    """
    from ._shap import explain

    kw = dict(explain_kwargs or {})
    ref = reference if reference is not None else explain(model, X, sensitive=sensitive, background=background, **kw)
    ref_bg = ref.by_group()
    n = len(ref.values)
    stats: dict[str, list[tuple[float, float]]] = {c: [] for c in ref_bg.columns}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, n, n)
        if ref.method == "tree":
            vals = ref.values[rows]
        else:
            Xr = X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]
            sens = _take(sensitive, rows, X)
            again = explain(model, Xr, sensitive=sens, background=None if background is None else background,
                            random_state=seed, **kw)
            vals = again.values
        for g in ref_bg.columns:
            mask = np.ones(n, bool) if g == "all" else ref.groups[g][rows]
            if mask.sum() < 2:
                continue
            imp = np.abs(vals[mask]).mean(axis=0)
            rho = _spearman(imp, ref_bg[g].to_numpy())
            a = set(np.argsort(-imp, kind="stable")[:top])
            b = set(np.argsort(-ref_bg[g].to_numpy(), kind="stable")[:top])
            stats[g].append((rho, len(a & b) / len(a | b)))
    out = []
    for g, s in stats.items():
        if not s:
            continue
        arr = np.asarray(s)
        out.append({"group": g, "spearman_mean": float(np.nanmean(arr[:, 0])), "spearman_min": float(np.nanmin(arr[:, 0])),
                    "top_overlap_mean": float(arr[:, 1].mean()), "top_overlap_min": float(arr[:, 1].min()),
                    "repeats": len(s)})
    return pd.DataFrame(out)


def _take(sensitive, rows, X):
    if sensitive is None:
        return None
    if isinstance(sensitive, str) or (isinstance(sensitive, (list, tuple)) and sensitive
                                      and all(isinstance(s, str) for s in sensitive)
                                      and isinstance(X, pd.DataFrame) and all(s in X.columns for s in sensitive)):
        return sensitive  # column names of X: taken with the rows
    if isinstance(sensitive, (pd.Series, pd.DataFrame)):
        return sensitive.iloc[rows].reset_index(drop=True)
    return np.asarray(sensitive, dtype=object)[rows]
