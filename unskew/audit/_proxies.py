"""Check: features that encode a sensitive attribute (proxies)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import benjamini_hochberg
from ..data import Dataset
from ..report import Bar, Chart, Finding, Table
from ._base import AuditContext, Check, register_check
from ._common import (
    MAX_BARS,
    auc_and_interval,
    capped_sample,
    cross_val_proba,
    datetime_days,
    finding_order,
    fmt_p,
    sensitive_codes,
    worse,
)
from ._features import encoded_features

#: Sensitive attributes with more levels than this get no all-features model
#: (one boosting model per level would be too slow); single features are still scored.
MAX_JOINT_LEVELS = 20


# --------------------------------------------------------------------------- measures
def feature_codes(s: pd.Series, kind: str, *, n_bins: int = 20, max_levels: int = 50,
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Small integer codes of one feature, for contingency tables.

    Numeric (and datetime) values are cut at quantiles (at most ``n_bins``
    bins, edges from a sample of 100,000 values); other columns keep their
    ``max_levels - 1`` most frequent values and lump the rest into one level.
    A missing value is its own level (the last one).

    Returns
    -------
    codes : ndarray of int64
    n_levels : int
    values : ndarray of float or None
        The numeric values (NaN where missing) for numeric features.
    """
    rng = rng or np.random.default_rng(0)
    if kind in ("numeric", "datetime"):
        v = datetime_days(s) if kind == "datetime" else pd.to_numeric(s, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan, copy=True)
        v[~np.isfinite(v)] = np.nan
        ok = np.isfinite(v)
        sample = v[ok]
        if len(sample) > 100_000:
            sample = rng.choice(sample, 100_000, replace=False)
        edges = np.unique(np.quantile(sample, np.linspace(0, 1, n_bins + 1)[1:-1])) if len(sample) else []
        codes = np.searchsorted(edges, v, side="right").astype(np.int64)
        k = len(edges) + 1
        codes[~ok] = k
        return codes, k + 1, v
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    k = len(uniques)
    if k > max_levels:
        counts = np.bincount(codes[codes >= 0], minlength=k)
        keep = np.argsort(-counts, kind="stable")[: max_levels - 1]
        remap = np.full(k, max_levels - 1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        k = max_levels
    codes[codes < 0] = k
    return codes, k + 1, None


def cramers_v(table: np.ndarray) -> tuple[float, float]:
    """Bias-corrected Cramér's V (Bergsma 2013) and the chi-square test p-value of a contingency table."""
    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    r, c = t.shape
    n = t.sum()
    if r < 2 or c < 2 or n < 2:
        return 0.0, 1.0
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / n
    chi2 = float(((t - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(chi2, (r - 1) * (c - 1)))
    phi2 = max(0.0, chi2 / n - (r - 1) * (c - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    cc = c - (c - 1) ** 2 / (n - 1)
    denom = min(rc - 1, cc - 1)
    return (float(np.sqrt(phi2 / denom)) if denom > 0 else 0.0), p


def correlation_ratio(values: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[float, float]:
    """Correlation ratio eta of a numeric feature across groups and the one-way ANOVA p-value.

    ``eta**2`` is the share of the feature's variance explained by the group
    means; missing values are left out.
    """
    ok = np.isfinite(values)
    x, g = values[ok], groups[ok]
    n = len(x)
    cnt = np.bincount(g, minlength=n_groups).astype(float)
    present = cnt > 0
    k = int(present.sum())
    if n < 3 or k < 2:
        return 0.0, 1.0
    mean = x.mean()
    sums = np.bincount(g, weights=x, minlength=n_groups)
    ssb = float((sums[present] ** 2 / cnt[present]).sum() - n * mean**2)
    sst = float(((x - mean) ** 2).sum())
    if sst <= 0:
        return 0.0, 1.0
    ssb = min(max(ssb, 0.0), sst)
    eta = float(np.sqrt(ssb / sst))
    ssw = sst - ssb
    if ssw <= 0 or n - k <= 0:
        return eta, 0.0
    f = (ssb / (k - 1)) / (ssw / (n - k))
    return eta, float(stats.f.sf(f, k - 1, n - k))


def mutual_information(table: np.ndarray) -> tuple[float, float]:
    """Mutual information (bits, Miller-Madow bias-corrected, at least 0) and its share of the column entropy.

    The share ``I(F; S) / H(S)`` (the uncertainty coefficient) is the part
    of the sensitive attribute's entropy that the feature explains.
    """
    t = np.asarray(table, dtype=float)
    n = t.sum()
    if n <= 0:
        return 0.0, 0.0
    p = t / n
    pr = p.sum(axis=1, keepdims=True)
    pc = p.sum(axis=0, keepdims=True)
    nz = p > 0
    mi = float((p[nz] * np.log2(p[nz] / (pr @ pc)[nz])).sum())
    r, c = int((pr > 0).sum()), int((pc > 0).sum())
    mi = max(0.0, mi - (r - 1) * (c - 1) / (2 * n * np.log(2)))
    pcs = pc[pc > 0]
    h = float(-(pcs * np.log2(pcs)).sum())
    return mi, (mi / h if h > 0 else 0.0)


def table_classifier_proba(codes: np.ndarray, k: int, y: np.ndarray, m: int, n_folds: int,
                           rng: np.random.Generator) -> np.ndarray:
    """Out-of-fold class probabilities from a one-feature lookup table.

    For each fold, the class counts of every feature level in the other
    folds, with add-one (Laplace) smoothing, give the class probabilities of
    the fold's rows. This is the best a model can do from that single feature
    alone (up to the binning of numeric features).
    """
    folds = rng.integers(n_folds, size=len(y))
    total = np.bincount(codes * m + y, minlength=k * m).reshape(k, m).astype(float)
    out = np.empty((len(y), m))
    for f in range(n_folds):
        sel = folds == f
        held = np.bincount(codes[sel] * m + y[sel], minlength=k * m).reshape(k, m)
        counts = total - held + 1.0
        post = counts / counts.sum(axis=1, keepdims=True)
        out[sel] = post[codes[sel]]
    return out


def balanced_accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    pred = proba.argmax(axis=1)
    rec = [float((pred[y == c] == c).mean()) for c in np.unique(y)]
    return float(np.mean(rec))


# --------------------------------------------------------------------------- measuring
@dataclass
class ProxyMeasures:
    """Association, mutual information and predictability of every feature-attribute pair, and the joint models.

    ``entries`` holds one dict per (feature, attribute) pair: ``feature,
    attribute, type, measure, association, p_value, mutual_information_bits,
    normalized_mutual_information, auc, auc_low, auc_high, balanced_accuracy``;
    ``joint[attr]`` the all-features model's AUC (or a ``note`` why there is
    none). No statuses: :meth:`ProxiesCheck.present` judges. The contingency
    tables behind the association and mutual information are counts per
    (feature level, group); the AUCs come from cross-validated models.
    """

    n_rows: int
    attributes: list[str]
    entries: list[dict]
    joint: dict[str, dict]
    sample_rows: int
    skipped_text: list[str]


def measure_proxies(ds: Dataset, ctx: AuditContext | None = None, *, max_rows: int = 50_000,
                    joint_max_rows: int = 30_000, n_bins: int = 20, n_folds: int = 3) -> ProxyMeasures:
    """Measure how strongly each feature, and all features together, reveal each sensitive attribute."""
    sc = sensitive_codes(ds, ctx)
    n = len(ds)
    random_state = ctx.random_state if ctx is not None else 0
    rng = np.random.default_rng(random_state)
    sample = capped_sample(np.arange(n), int(max_rows), rng)
    types = ds.feature_types()
    skipped = [c for c, k in types.items() if k == "text"]
    feats = [c for c in ds.features if types[c] != "text"]
    coded = {}
    for col in feats:
        kind = types[col]
        if kind == "numeric" and not pd.api.types.is_numeric_dtype(ds.frame[col]):
            kind = "categorical"
        coded[col] = (kind, *feature_codes(ds.frame[col], kind, n_bins=int(n_bins), rng=rng))
    entries = []
    for attr in ds.sensitive:
        s, levels = sc[attr]
        n_levels = len(levels)
        ys = s[sample]
        for col in feats:
            if col == attr:
                continue
            kind, codes, k, values = coded[col]
            table = np.bincount(codes * n_levels + s, minlength=k * n_levels).reshape(k, n_levels)
            if values is not None:
                assoc, p = correlation_ratio(values, s, n_levels)
                measure = "correlation ratio (eta)"
            else:
                assoc, p = cramers_v(table)
                measure = "Cramér's V"
            mi, u = mutual_information(table)
            proba = table_classifier_proba(codes[sample], k, ys, n_levels, int(n_folds), rng)
            auc, lo, hi = auc_and_interval(ys, proba, n_levels)
            entries.append({
                "feature": col, "attribute": attr, "type": kind, "measure": measure,
                "association": assoc, "p_value": p, "mutual_information_bits": mi,
                "normalized_mutual_information": u, "auc": auc, "auc_low": lo, "auc_high": hi,
                "balanced_accuracy": balanced_accuracy(ys, proba),
            })
    joint = {}
    if ds.features:
        _, enc = encoded_features(ds, ctx)
        jrows = capped_sample(np.arange(n), int(joint_max_rows), rng)
        for attr in ds.sensitive:
            s, levels = sc[attr]
            joint[attr] = _joint_model(enc, s[jrows], len(levels), jrows, random_state, int(n_folds))
    return ProxyMeasures(int(n), list(ds.sensitive), entries, joint, int(len(sample)), skipped)


def _joint_model(enc, y: np.ndarray, m: int, rows: np.ndarray, random_state: int, n_folds: int) -> dict:
    """Cross-validated AUC of predicting an attribute (codes ``y``, ``m`` levels) from all encoded features."""
    present = np.unique(y)
    if m > MAX_JOINT_LEVELS:
        return {"auc": None, "note": f"more than {MAX_JOINT_LEVELS} levels; not modelled"}
    if len(present) < 2 or enc.X.shape[1] == 0:
        return {"auc": None, "note": "fewer than two groups in the sample"}
    # codes must be 0..m'-1 for the model; keep the original level order
    remap = np.full(m, -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    yy = remap[y]
    proba, info = cross_val_proba(enc.X[rows], yy, len(present), categorical=enc.categorical,
                                  n_folds=n_folds, max_train_rows=None, random_state=random_state)
    auc, lo, hi = auc_and_interval(yy, proba, len(present))
    return {"auc": auc, "auc_low": lo, "auc_high": hi, "balanced_accuracy": balanced_accuracy(yy, proba),
            "rows": int(len(rows)), "n_folds": n_folds, "model": info["model"]}


# --------------------------------------------------------------------------- the check
@register_check
class ProxiesCheck(Check):
    """Features that reveal a sensitive attribute, alone or together.

    Removing a sensitive attribute from the inputs does not stop a model from
    using it when other features encode it (a postcode for race, a
    relationship status for sex). For each feature and each sensitive
    attribute the check reports:

    * *association*: bias-corrected Cramér's V (categorical and boolean
      features) or the correlation ratio eta (numeric and datetime features;
      the square root of the share of variance explained by the groups), with
      a chi-square or ANOVA p-value and Benjamini-Hochberg q-values over all
      feature-attribute pairs;
    * *mutual information* in bits (numeric features cut into ``n_bins``
      quantile bins, categorical features limited to their 49 most frequent
      values plus "other"; Miller-Madow bias correction) and its share of the
      attribute's entropy;
    * *predictability*: the cross-validated ROC AUC (macro one-vs-rest for
      more than two groups) and balanced accuracy of predicting the attribute
      from that feature alone, with a lookup-table classifier on the same
      levels/bins (:func:`table_classifier_proba`), on a uniform random
      sample of at most ``max_rows`` rows (the AUC's interval shows its
      precision).

    It also predicts each attribute from *all* features together with
    histogram gradient boosting (``n_folds``-fold cross-validation on a
    uniform random sample of at most ``joint_max_rows`` rows): a high AUC
    means the attribute can be reconstructed even if no single feature is a
    strong proxy. Attributes with more than 20 levels are not modelled jointly.
    Text columns are left out. Sample weights are not used: proxy strength is
    a property of the rows.

    Status per feature: the worse of its association (``association_warn`` /
    ``association_fail``) and its single-feature AUC (``auc_warn`` /
    ``auc_fail``), counted only when the association is significant
    (``q < alpha``). The all-features AUC against ``joint_auc_warn`` /
    ``joint_auc_fail``. The check takes the worst.

    Thresholds
    ----------
    association_warn : 0.3
    association_fail : 0.5
    auc_warn : 0.7
    auc_fail : 0.8
    joint_auc_warn : 0.8
    joint_auc_fail : 0.95
    alpha : 0.01
    n_bins : 20
    max_rows : 50000
    joint_max_rows : 30000
    n_folds : 3
    """

    name = "proxies"
    title = "Proxies for sensitive attributes"
    explanation = (
        "Measures how strongly each feature is associated with each sensitive attribute (Cramér's V "
        "or correlation ratio, mutual information) and how well it predicts the attribute on its own "
        "and together with all other features. A strong proxy lets a model discriminate even when "
        "the sensitive attribute itself is left out."
    )
    requires = ("sensitive",)
    default_thresholds = {
        "association_warn": 0.3,
        "association_fail": 0.5,
        "auc_warn": 0.7,
        "auc_fail": 0.8,
        "joint_auc_warn": 0.8,
        "joint_auc_fail": 0.95,
        "alpha": 0.01,
        "n_bins": 20,
        "max_rows": 50_000,
        "joint_max_rows": 30_000,
        "n_folds": 3,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        t = self.thresholds
        return self.present(measure_proxies(ds, ctx, max_rows=int(t["max_rows"]),
                                            joint_max_rows=int(t["joint_max_rows"]), n_bins=int(t["n_bins"]),
                                            n_folds=int(t["n_folds"])))

    def present(self, m: ProxyMeasures):
        """q-values, statuses, ranking, findings, charts and the table from the measurements."""
        t = self.thresholds
        n = m.n_rows
        skipped = m.skipped_text
        entries = [dict(e) for e in m.entries]
        q = benjamini_hochberg([e["p_value"] for e in entries])
        status = "pass"
        for e, qv in zip(entries, q, strict=True):
            e["q_value"] = float(qv)
            e["status"] = self._feature_status(e)
            status = worse(status, e["status"])
        entries.sort(key=lambda e: (-(e["auc"] if np.isfinite(e["auc"]) else 0), -e["association"]))
        for rank, e in enumerate(entries, 1):
            e["rank"] = rank

        joint = {attr: dict(j) for attr, j in m.joint.items()}
        findings: list[Finding] = []
        if joint:
            for attr in joint:
                if joint[attr].get("auc") is not None:
                    joint[attr]["status"] = self.status_for(joint[attr]["auc"], "joint_auc_warn", "joint_auc_fail")
                st = joint[attr].get("status", "pass")
                status = worse(status, st)
                if st != "pass":
                    j = joint[attr]
                    findings.append(Finding(
                        f"All features together predict {attr} with AUC {j['auc']:.3f} (95% CI "
                        f"{j['auc_low']:.3f}-{j['auc_high']:.3f}; balanced accuracy "
                        f"{j['balanced_accuracy']:.3f}): leaving {attr} out of a model's inputs will not stop it "
                        f"from using {attr}.", severity=st, subject=attr, value=j["auc"]))
        feature_findings = []
        for e in entries:
            if e["status"] == "pass":
                continue
            feature_findings.append(Finding(
                f"'{e['feature']}' is a proxy for {e['attribute']}: alone it predicts {e['attribute']} with AUC "
                f"{e['auc']:.3f} (balanced accuracy {e['balanced_accuracy']:.3f}); {e['measure']} "
                f"{e['association']:.3f}, it explains {e['normalized_mutual_information']:.0%} of "
                f"{e['attribute']}'s entropy ({fmt_p(e['q_value']).replace('p', 'q', 1)}).",
                severity=e["status"], subject=e["feature"], value=e["auc"]))
        feature_findings.sort(key=finding_order)
        findings = feature_findings + findings
        if not findings:
            top = entries[0] if entries else None
            findings.append(Finding(
                "No feature is a strong proxy for a sensitive attribute"
                + (f"; the strongest is '{top['feature']}' for {top['attribute']} (AUC {top['auc']:.3f})."
                   if top else "."), severity="info"))
        if skipped:
            findings.append(Finding(f"Text column(s) {', '.join(skipped)} were not analysed.", severity="info"))

        charts = []
        for attr in m.attributes:
            es = [e for e in entries if e["attribute"] == attr][:MAX_BARS]
            bars = [Bar(e["feature"], e["auc"], e["auc_low"], e["auc_high"], flag=e["status"] != "pass") for e in es]
            if attr in joint and joint[attr].get("auc") is not None:
                j = joint[attr]
                bars.insert(0, Bar("(all features)", j["auc"], j["auc_low"], j["auc_high"],
                                   flag=j.get("status", "pass") != "pass"))
            if bars:
                charts.append(Chart(title=f"How well each feature predicts {attr}", bars=bars,
                                    x_label="cross-validated AUC (95% interval)", reference=0.5,
                                    reference_label="chance"))
        cols = ["rank", "feature", "attribute", "measure", "association", "q-value", "MI (bits)",
                "share of entropy", "AUC", "AUC low", "AUC high", "balanced accuracy", "status"]
        rows = [[e["rank"], e["feature"], e["attribute"], e["measure"], e["association"], e["q_value"],
                 e["mutual_information_bits"], e["normalized_mutual_information"], e["auc"], e["auc_low"],
                 e["auc_high"], e["balanced_accuracy"], e["status"]] for e in entries]
        tables = [Table("Features ranked by how well they predict a sensitive attribute", cols, rows)]
        summary = {
            "features": entries,
            "joint": joint,
            "top_proxy": ({"feature": entries[0]["feature"], "attribute": entries[0]["attribute"],
                           "auc": entries[0]["auc"]} if entries else None),
            "rows_for_predictability": m.sample_rows,
            "subsampling": {"single_feature_rows": m.sample_rows, "association_rows": n,
                            "joint_rows": max((j.get("rows", 0) for j in joint.values()), default=0)},
            "skipped_text_columns": skipped,
        }
        expl = self.explanation
        if m.sample_rows < n:
            expl += (f" Single-feature predictability uses a random sample of {m.sample_rows:,} of {n:,} rows; "
                     "association and mutual information use all rows.")
        if any(j.get("rows", n) < n for j in joint.values()):
            expl += f" The all-features model is cross-validated on a random sample of {int(t['joint_max_rows']):,} rows."
        return self.result(status=status, summary=summary, findings=findings, charts=charts, tables=tables,
                           explanation=expl)

    def _feature_status(self, e: dict) -> str:
        if not (e["q_value"] < self.thresholds["alpha"]):
            return "pass"
        st = self.status_for(e["association"], "association_warn", "association_fail")
        if np.isfinite(e["auc"]):
            st = worse(st, self.status_for(e["auc"], "auc_warn", "auc_fail"))
        return st


__all__ = ["ProxiesCheck", "ProxyMeasures", "correlation_ratio", "cramers_v", "feature_codes", "measure_proxies",
           "mutual_information", "table_classifier_proba"]
