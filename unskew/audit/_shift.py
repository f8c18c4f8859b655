"""Check: distribution shift between the audited table and a comparison table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import benjamini_hochberg
from ..data import Dataset
from ..data._encoding import FeatureEncoder
from ..exceptions import UnskewInputError
from ..report import Bar, Chart, Finding, Table
from ._base import AuditContext, Check, register_check
from ._common import (
    MAX_BARS,
    MAX_TABLE_ROWS,
    auc_and_interval,
    capped_sample,
    cross_val_proba,
    datetime_days,
    finding_order,
    fmt_p,
    grouping_name,
    union_sensitive_codes,
    worse,
)

#: Smoothing added to every bin count before computing PSI (no empty bins).
PSI_SMOOTHING = 0.5

#: Categorical features keep this many most frequent reference levels; the rest are one level.
MAX_LEVELS = 30


def psi(ref_counts: np.ndarray, cmp_counts: np.ndarray) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over bins.

    Shares are smoothed with half a row per bin (``(count + 0.5) / (n + 0.5 k)``)
    so that an empty bin gives a finite value.
    """
    r = np.asarray(ref_counts, dtype=float) + PSI_SMOOTHING
    c = np.asarray(cmp_counts, dtype=float) + PSI_SMOOTHING
    r /= r.sum()
    c /= c.sum()
    return float(((c - r) * np.log(c / r)).sum())


def chi2_homogeneity(ref_counts: np.ndarray, cmp_counts: np.ndarray) -> float:
    """p-value of the chi-square test that two count vectors come from one distribution."""
    t = np.vstack([ref_counts, cmp_counts]).astype(float)
    t = t[:, t.sum(axis=0) > 0]
    if t.shape[1] < 2 or (t.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(t, correction=False)[1])


def _numeric_values(s: pd.Series, kind: str) -> np.ndarray:
    if kind == "datetime":
        return datetime_days(s)
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    v[~np.isfinite(v)] = np.nan
    return v


def bin_codes(ref: np.ndarray, cmp: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, int, list[str]]:
    """Codes of numeric values in quantile bins of the reference; missing values get the last bin."""
    ok = np.isfinite(ref)
    edges = np.unique(np.quantile(ref[ok], np.linspace(0, 1, n_bins + 1)[1:-1])) if ok.any() else np.array([])
    k = len(edges) + 1

    def code(v):
        c = np.searchsorted(edges, v, side="right").astype(np.int64)
        c[~np.isfinite(v)] = k
        return c

    labels = ([f"<= {edges[0]:.4g}"] if len(edges) else ["all"]) + [
        f"({edges[i - 1]:.4g}, {edges[i]:.4g}]" for i in range(1, len(edges))] + (
        [f"> {edges[-1]:.4g}"] if len(edges) else []) + ["(missing)"]
    return code(ref), code(cmp), k + 1, labels


def level_codes(ref: pd.Series, cmp: pd.Series, max_levels: int = MAX_LEVELS):
    """Codes of categorical values: the reference's most frequent levels, then
    ``(other)``, ``(new in comparison)`` and ``(missing)``.

    Returns ref codes, cmp codes, number of levels, level labels and the new
    values seen only in the comparison table with their counts.
    """
    r_codes, r_uni = pd.factorize(ref, use_na_sentinel=True)
    counts = np.bincount(r_codes[r_codes >= 0], minlength=len(r_uni))
    order = np.argsort(-counts, kind="stable")
    keep = order[: max_levels]
    kept_values = [r_uni[i] for i in keep]
    other, new, miss = len(keep), len(keep) + 1, len(keep) + 2
    lookup = {v: i for i, v in enumerate(kept_values)}
    known = set(r_uni.tolist())

    def code(s):
        c, uni = pd.factorize(s, use_na_sentinel=True)
        m = np.array([lookup.get(u, other if u in known else new) for u in uni.tolist()], dtype=np.int64)
        out = np.where(c >= 0, m[np.maximum(c, 0)] if len(m) else other, miss)
        return out.astype(np.int64), c, uni

    rc, _, _ = code(ref)
    cc, craw, cuni = code(cmp)
    new_values = {}
    if len(cuni):
        ccount = np.bincount(craw[craw >= 0], minlength=len(cuni))
        for i, u in enumerate(cuni.tolist()):
            if u not in known:
                new_values[str(u)] = int(ccount[i])
    labels = [str(v) for v in kept_values] + ["(other)", "(new in comparison)", "(missing)"]
    return rc, cc, miss + 1, labels, new_values


# --------------------------------------------------------------------------- counts (every engine)
def numeric_values(s: pd.Series, kind: str) -> np.ndarray:
    """The float64 values of a numeric or datetime column (days), non-finite values as NaN."""
    return _numeric_values(s, kind)


def lerp_quantiles(n: int, qs: np.ndarray, order_stat) -> np.ndarray:
    """Quantiles ``qs`` of ``n`` values from their order statistics, exactly as ``np.quantile`` (linear).

    ``order_stat(ranks)`` returns the values of the given 0-based ranks of the
    sorted values. The pandas path gets them from a sort, the engines from
    mergeable counts (:func:`unskew.engines.order_statistics`), so both compute
    the same edges from the same values.
    """
    qs = np.asarray(qs, np.float64)
    h = (n - 1) * qs
    prev = np.floor(h)
    nxt = prev + 1
    above = h >= n - 1
    prev[above] = n - 1
    nxt[above] = n - 1
    below = h < 0
    prev[below] = 0
    nxt[below] = 0
    ranks = np.unique(np.r_[prev, nxt].astype(np.int64))
    vals = dict(zip(ranks.tolist(), np.asarray(order_stat(ranks), np.float64).tolist(), strict=True))
    a = np.array([vals[int(i)] for i in prev])
    b = np.array([vals[int(i)] for i in nxt])
    gamma = h - prev  # numpy's gamma (above the last index a == b, so gamma does not matter)
    diff = b - a
    out = a + diff * gamma
    hi = gamma >= 0.5
    out[hi] = (b - diff * (1 - gamma))[hi]
    return out


def quantile_ranks(n: int, qs: np.ndarray) -> np.ndarray:
    """The ranks :func:`lerp_quantiles` needs (so that an engine fetches them in one go)."""
    got: list = []
    lerp_quantiles(n, qs, lambda r: (got.extend(r.tolist()), np.zeros(len(r)))[1])
    return np.array(sorted(set(got)), np.int64)


def quantile_probs(n_bins: int) -> np.ndarray:
    return np.linspace(0, 1, int(n_bins) + 1)[1:-1]


@dataclass
class ShiftPlan:
    """The bins of every feature, fixed on the reference table; travels to every engine's workers.

    ``features`` are ``(column, kind)`` pairs; ``edges[col]`` the inner
    quantile edges of a numeric or datetime feature (bins ``<= e0``,
    ``(e0, e1]``, ..., ``> e_last``, then missing); ``levels[col]`` the kept
    reference levels of a categorical one (then ``(other)``, ``(new in
    comparison)``, ``(missing)``) and ``known[col]`` every reference level.
    """

    sensitive: tuple[str, ...]
    target: str | None
    features: list[tuple[str, str]]
    edges: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    known: dict = field(default_factory=dict)

    def n_bins(self, col: str) -> int:
        return len(self.edges[col]) + 2 if col in self.edges else len(self.levels[col]) + 3

    def labels(self, col: str) -> list[str]:
        if col in self.edges:
            e = self.edges[col]
            return ([f"<= {e[0]:.4g}"] if len(e) else ["all"]) + [
                f"({e[i - 1]:.4g}, {e[i]:.4g}]" for i in range(1, len(e))] + (
                [f"> {e[-1]:.4g}"] if len(e) else []) + ["(missing)"]
        return [str(v) for v in self.levels[col]] + ["(other)", "(new in comparison)", "(missing)"]

    def codes(self, col: str, kind: str, s: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
        """Bin code of every value (and, for categorical features, the mask of values new to the reference)."""
        if col in self.edges:
            v = _numeric_values(s, kind)
            e = self.edges[col]
            c = np.searchsorted(e, v, side="right").astype(np.int64)
            c[~np.isfinite(v)] = len(e) + 1
            return c, None
        from ..data._groups import plain

        k = len(self.levels[col])
        lookup = {v: i for i, v in enumerate(self.levels[col])}
        known = self.known[col]
        raw, uni = pd.factorize(s, use_na_sentinel=True)
        m = np.array([lookup.get(plain(u), k if plain(u) in known else k + 1) for u in uni.tolist()], np.int64)
        c = np.where(raw >= 0, m[np.maximum(raw, 0)] if len(m) else k, k + 2).astype(np.int64)
        return c, c == k + 1


def make_plan(sensitive, target, features, n_bins: int, n_finite: dict, order_stat: dict,
              value_counts: dict, max_levels: int = MAX_LEVELS) -> ShiftPlan:
    """The :class:`ShiftPlan` from reference quantities any engine measures exactly.

    ``n_finite[col]`` and ``order_stat[col](ranks)`` for numeric and datetime
    features; ``value_counts[col]`` (a list of ``(value, rows)``, missing
    left out) for the others. Kept levels: the ``max_levels`` most frequent,
    ties in the library's value order.
    """
    from ..data._groups import sort_key

    plan = ShiftPlan(tuple(sensitive), target, list(features))
    for col, kind in features:
        if kind in ("numeric", "datetime"):
            n = int(n_finite.get(col, 0))
            plan.edges[col] = (np.unique(lerp_quantiles(n, quantile_probs(n_bins), order_stat[col])) if n
                               else np.array([]))
        else:
            vc = sorted(value_counts.get(col, []), key=lambda kv: (-kv[1], sort_key(kv[0])))
            plan.levels[col] = [v for v, _ in vc[:max_levels]]
            plan.known[col] = {v for v, _ in vc}
    return plan


def shift_partial(frame: pd.DataFrame, row_ids: np.ndarray | None, plan: ShiftPlan) -> dict:
    """The shift counts of one piece of one table, as :class:`~unskew.engines.CountTable` partials.

    ``bins``: rows per feature x group x bin (groups are the sensitive
    columns' raw values, the full intersection); ``rows``: rows per group;
    ``target``: rows per group x target value (when the piece has the
    target); ``new``: rows per categorical feature x value unseen in the
    reference.
    """
    from ..data._groups import encode_groups
    from ..engines._partials import CountTable

    sens = list(plan.sensitive) or ["_all"]
    g = frame[list(plan.sensitive)].reset_index(drop=True) if plan.sensitive else pd.DataFrame(
        {"_all": np.zeros(len(frame), np.int64)})
    groups = encode_groups(g, len(g))  # once per piece; every table below reuses the codes
    gc, gkeys = groups.codes, groups.keys
    G = range(len(gkeys))
    keys, vals, nk, nv = [], [], [], []
    for col, kind in plan.features:
        c, new = plan.codes(col, kind, frame[col].reset_index(drop=True))
        t = CountTable.from_codes(("g", "b"), [(gc, G), (c, range(plan.n_bins(col)))])
        keys += [(col, *gkeys[gi], b) for gi, b in t.keys]
        vals.append(t.values)
        if new is not None and new.any():
            u = CountTable.from_frame(pd.DataFrame({"v": frame[col].to_numpy()[new]}), by=["v"])
            nk += [(col, k[0]) for k in u.keys]
            nv.append(u.values)
    rows = CountTable.from_codes(("g",), [(gc, G)])
    out = {"bins": CountTable.from_keys(("feature", *sens, "bin"), keys,
                                        np.vstack(vals) if vals else np.zeros((0, 1), np.int64)),
           "rows": CountTable(names=tuple(sens), keys=[gkeys[k[0]] for k in rows.keys], values=rows.values),
           "new": CountTable.from_keys(("feature", "value"), nk, np.vstack(nv) if nv else np.zeros((0, 1), np.int64))}
    if plan.target and plan.target in frame.columns:
        y = frame[plan.target].reset_index(drop=True)
        ok = y.notna().to_numpy()
        yg = encode_groups(y[ok].to_frame("_y"), int(ok.sum()))
        t = CountTable.from_codes(("g", "y"), [(gc[ok], G), (yg.codes, range(len(yg.keys)))])
        out["target"] = CountTable.from_keys((*sens, "_y"), [(*gkeys[gi], yg.keys[yi][0]) for gi, yi in t.keys],
                                             t.values)
    return out


def merge_shift(parts: list[dict]) -> dict:
    from ..engines._partials import merge

    keys = set(parts[0])
    for p in parts[1:]:
        keys &= set(p)
    return {k: merge([p[k] for p in parts]) for k in sorted(keys)}


@dataclass
class ShiftCounts:
    """Exact shift counts of both tables (from any engine): the plan, the merged partials, the medians."""

    plan: ShiftPlan
    reference: dict
    comparison: dict
    reference_median: dict
    comparison_median: dict
    computed_by: str = "pandas"


def _union_codes(ref_keys: list, cmp_keys: list, sens: list[str]) -> dict:
    """Per attribute: codes of the reference and comparison group keys over the union of their values."""
    from ..data._groups import attribute_codes, value_name

    out = {}
    for j, col in enumerate(sens):
        both = pd.Series([k[j] for k in ref_keys] + [k[j] for k in cmp_keys], dtype=object)
        codes, levels = attribute_codes(both)
        out[col] = (codes[: len(ref_keys)], codes[len(ref_keys):], [value_name(v) for v in levels])
    return out


def histograms_from_counts(sc: ShiftCounts, has_target: bool):
    """:class:`FeatureHistogram` (counts, medians, missing shares), :class:`GroupingHistograms` and the target's
    :class:`TargetCounts` from the exact counts; KS statistics are left to the caller."""
    plan = sc.plan
    sens = list(plan.sensitive)
    R, C = sc.reference, sc.comparison
    n_r = int(R["rows"].values[:, 0].sum())
    n_c = int(C["rows"].values[:, 0].sum())
    S = len(sens) or 1
    # the group keys (full intersections) of both tables, coded over the union of values
    gkeys_r, gkeys_c = list(R["rows"].keys), list(C["rows"].keys)
    uc = _union_codes(gkeys_r, gkeys_c, sens) if sens else {}
    gi_r = {k: i for i, k in enumerate(gkeys_r)}
    gi_c = {k: i for i, k in enumerate(gkeys_c)}
    rows_r = R["rows"].values[:, 0].astype(np.int64)
    rows_c = C["rows"].values[:, 0].astype(np.int64)

    def table(counts, gi, col):
        """(n_groups_of_table, n_bins) counts of one feature."""
        kb = plan.n_bins(col)
        out = np.zeros((len(gi), kb), np.int64)
        t = counts["bins"]
        for k, v in zip(t.keys, t.values[:, 0], strict=True):
            if k[0] == col:
                out[gi[k[1:1 + S]], int(k[1 + S])] += int(v)
        return out

    new_values: dict = {}
    for k, v in zip(C["new"].keys, C["new"].values[:, 0], strict=True):
        new_values.setdefault(k[0], {})[str(k[1])] = int(v)
    per_feature, hists = {}, []
    for col, kind in plan.features:
        tr, tc = table(R, gi_r, col), table(C, gi_c, col)
        per_feature[col] = (tr, tc)
        ref, cmp = tr.sum(axis=0), tc.sum(axis=0)
        h = FeatureHistogram(col, kind, plan.labels(col), ref, cmp)
        if col in plan.edges:
            h.reference_median, h.comparison_median = sc.reference_median.get(col), sc.comparison_median.get(col)
            h.reference_missing = float(ref[-1] / n_r) if n_r else None
            h.comparison_missing = float(cmp[-1] / n_c) if n_c else None
        else:
            h.new_values = new_values.get(col, {})
        hists.append(h)
    groupings = []
    if sens:
        gsets = [(c,) for c in sens] + ([tuple(sens)] if len(sens) > 1 else [])
        for cols in gsets:
            shape = [len(uc[c][2]) for c in cols]
            gr = np.zeros(len(gkeys_r), np.int64)
            gc = np.zeros(len(gkeys_c), np.int64)
            for c, size in zip(cols, shape, strict=True):
                gr = gr * size + uc[c][0]
                gc = gc * size + uc[c][1]
            present, inv = np.unique(np.concatenate([gr, gc]), return_inverse=True)
            ir, ic = inv[: len(gr)], inv[len(gr):]
            k = len(present)
            un = np.unravel_index(present, shape)
            labels = [" & ".join(f"{c}={uc[c][2][un[j][i]]}" for j, c in enumerate(cols)) for i in range(k)]
            feats = {}
            for col, kind in plan.features:
                if kind == "datetime":
                    continue
                tr, tc = per_feature[col]
                a = np.zeros((k, tr.shape[1]), np.int64)
                b = np.zeros((k, tc.shape[1]), np.int64)
                np.add.at(a, ir, tr)
                np.add.at(b, ic, tc)
                feats[col] = (a, b)
            groupings.append(GroupingHistograms(tuple(cols), labels, np.bincount(ir, weights=rows_r, minlength=k)
                                                .astype(np.int64), np.bincount(ic, weights=rows_c, minlength=k)
                                                .astype(np.int64), feats))
    target = None
    if has_target and "target" in R and "target" in C:
        target = _target_from_counts(R["target"], C["target"], sens, uc, gi_r, gi_c)
    return n_r, n_c, hists, groupings, target


def _target_from_counts(tr, tcmp, sens, uc, gi_r, gi_c) -> TargetCounts:
    S = len(sens) or 1
    classes = sorted({str(k[S]) for k in tr.keys} | {str(k[S]) for k in tcmp.keys})
    pos = {c: i for i, c in enumerate(classes)}
    K = len(classes)

    def per_group(t, gi, which):
        out = {}
        for col in sens:
            codes = uc[col][which]
            m = len(uc[col][2])
            a = np.zeros((m, K), np.int64)
            for k, v in zip(t.keys, t.values[:, 0], strict=True):
                a[codes[gi[k[:S]]], pos[str(k[S])]] += int(v)
            out[col] = a
        return out

    total_r = np.zeros(K, np.int64)
    total_c = np.zeros(K, np.int64)
    for k, v in zip(tr.keys, tr.values[:, 0], strict=True):
        total_r[pos[str(k[S])]] += int(v)
    for k, v in zip(tcmp.keys, tcmp.values[:, 0], strict=True):
        total_c[pos[str(k[S])]] += int(v)
    pr, pc = per_group(tr, gi_r, 0), per_group(tcmp, gi_c, 1)
    groups = {col: (uc[col][2], pr[col], pc[col]) for col in sens}
    return TargetCounts("classification", classes=classes, reference=total_r, comparison=total_c, groups=groups)


def shift_kinds(ds: Dataset) -> tuple[list[tuple[str, str]], list[str]]:
    """``(column, kind)`` of the compared features and the skipped text columns, from the dataset's types."""
    types = ds.feature_types()
    feats, skipped = [], []
    for col in ds.features:
        kind = types[col]
        if kind == "text":
            skipped.append(col)
            continue
        if kind == "numeric" and not pd.api.types.is_numeric_dtype(ds.frame[col]):
            kind = "categorical"
        feats.append((col, kind))
    return feats, skipped


def plan_from_frame(frame: pd.DataFrame, sensitive, target, features, n_bins: int) -> ShiftPlan:
    """The :class:`ShiftPlan` of an in-memory reference table (order statistics from a sort)."""
    from ..engines._partials import CountTable

    n_finite, order_stat, value_counts = {}, {}, {}
    for col, kind in features:
        if kind in ("numeric", "datetime"):
            v = np.sort(_numeric_values(frame[col], kind))
            v = v[np.isfinite(v)]
            n_finite[col] = len(v)
            order_stat[col] = (lambda a: lambda r: a[r])(v)
        else:
            s = frame[col]
            t = CountTable.from_frame(pd.DataFrame({"v": s[s.notna()].to_numpy()}), by=["v"])
            value_counts[col] = [(k[0], int(n)) for k, n in zip(t.keys, t.values[:, 0], strict=True)]
    return make_plan(sensitive, target, features, n_bins, n_finite, order_stat, value_counts)


def median_from_frame(frame: pd.DataFrame, col: str, kind: str) -> float | None:
    v = np.sort(_numeric_values(frame[col], kind))
    v = v[np.isfinite(v)]
    return float(lerp_quantiles(len(v), np.array([0.5]), lambda r: v[r])[0]) if len(v) else None


def shift_counts_of_frames(ds: Dataset, cmp: Dataset, n_bins: int, target: bool = True) -> ShiftCounts:
    """The exact shift counts of two in-memory tables: the pandas engine of :class:`ShiftCounts`."""
    feats, _ = shift_kinds(ds)
    tgt = ds.target if target and ds.target and cmp.target and ds.target in cmp.frame.columns else None
    plan = plan_from_frame(ds.frame, ds.sensitive, tgt, feats, n_bins)
    num = [(c, k) for c, k in feats if k in ("numeric", "datetime")]
    return ShiftCounts(plan, shift_partial(ds.frame, None, plan), shift_partial(cmp.frame, None, plan),
                       {c: median_from_frame(ds.frame, c, k) for c, k in num},
                       {c: median_from_frame(cmp.frame, c, k) for c, k in num})


# --------------------------------------------------------------------------- measuring
@dataclass
class FeatureHistogram:
    """One feature's bin counts in both tables (bins fixed on the reference table).

    ``reference`` and ``comparison`` are counts per bin, so histograms of
    separate partitions of a table (same bins) add up. The Kolmogorov-Smirnov
    test, medians and missing shares of numeric features are computed on the
    values (``None`` where an engine cannot provide them).
    """

    feature: str
    kind: str  # numeric, datetime, boolean or categorical (boolean is binned like categorical)
    labels: list[str]
    reference: np.ndarray
    comparison: np.ndarray
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    reference_median: float | None = None
    comparison_median: float | None = None
    reference_missing: float | None = None
    comparison_missing: float | None = None
    new_values: dict[str, int] = field(default_factory=dict)


@dataclass
class GroupingHistograms:
    """Rows per group and bin counts per group and feature, in both tables, for one grouping.

    ``labels`` are the groups present in either table (shared group order);
    ``features[col]`` is ``(reference, comparison)``, two arrays of shape
    ``(n_groups, n_bins)`` over the bins of :class:`FeatureHistogram`
    (datetime features left out). All counts, so they merge by addition.
    """

    columns: tuple[str, ...]
    labels: list[str]
    reference_rows: np.ndarray
    comparison_rows: np.ndarray
    features: dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass
class TargetCounts:
    """The target in both tables.

    Classification: class counts per table (``classes`` is the sorted union)
    and, per sensitive attribute, ``groups[attr] = (labels, reference,
    comparison)`` with class counts per group of shape ``(n_groups,
    n_classes)``. Regression (a numeric target with more than 20 values): bin
    counts, the KS p-value and the means.
    """

    task: str
    classes: list[str] = field(default_factory=list)
    reference: np.ndarray | None = None
    comparison: np.ndarray | None = None
    groups: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = field(default_factory=dict)
    ks_p_value: float | None = None
    reference_mean: float | None = None
    comparison_mean: float | None = None


@dataclass
class ShiftMeasures:
    """Everything the shift check judges: histograms (counts), KS tests and the domain classifier's AUC."""

    reference_rows: int
    comparison_rows: int
    features: list[FeatureHistogram]
    skipped_text: list[str]
    groupings: list[GroupingHistograms]
    target: TargetCounts | None
    domain: dict


def _group_cells(uc: dict, cols) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Group code of each row of both tables over the groups present in either, and their names."""
    gr = np.zeros(len(uc[cols[0]][0]), dtype=np.int64)
    gc = np.zeros(len(uc[cols[0]][1]), dtype=np.int64)
    shape = []
    for c in cols:
        r, cc, labels = uc[c]
        gr = gr * len(labels) + r
        gc = gc * len(labels) + cc
        shape.append(len(labels))
    present, inv = np.unique(np.concatenate([gr, gc]), return_inverse=True)
    idx = np.unravel_index(present, shape)
    labels = [" & ".join(f"{c}={uc[c][2][idx[j][i]]}" for j, c in enumerate(cols)) for i in range(len(present))]
    return inv[: len(gr)], inv[len(gr):], labels


def measure_shift(ds: Dataset, cmp: Dataset, ctx: AuditContext | None = None, *, n_bins: int = 10,
                  ks_max_rows: int = 200_000, domain_classifier: bool = True, domain_max_rows: int = 20_000,
                  n_folds: int = 3, counts: ShiftCounts | None = None) -> ShiftMeasures:
    """Histograms of every feature, group and the target in both tables, KS tests and the domain classifier.

    Pure measurement, no judgement (see :meth:`ShiftCheck.present`). The
    histograms are exact counts: bins fixed on the reference
    (:func:`plan_from_frame`), counts of both tables in those bins
    (:func:`shift_partial`), finalised by :func:`histograms_from_counts`;
    an engine passes ``counts`` it measured over whole tables the same way
    (:func:`unskew.engines.shift_counts`), and ``ds`` / ``cmp`` are then its
    samples, used only for the KS tests and the domain classifier. Groups use
    the one group encoding over both tables; groupings are every sensitive
    attribute and, with several, their full intersection.

    Raises
    ------
    UnskewInputError
        When the comparison table lacks a feature column.
    """
    random_state = ctx.random_state if ctx is not None else 0
    rng = np.random.default_rng(random_state)
    missing = [c for c in ds.features if c not in cmp.frame.columns]
    if missing:
        raise UnskewInputError(
            f"The comparison table lacks the feature column(s) {missing}; both tables need the same "
            f"features (or pass --ignore {','.join(missing)}).")
    feats_kinds, skipped = shift_kinds(ds)
    feats = [c for c, _ in feats_kinds]
    types = ds.feature_types()
    has_target = bool(ds.target and cmp.target and ds.target in cmp.frame.columns)
    numeric_target = has_target and (ds.column_types.get(ds.target) == "numeric"
                                     and ds.frame[ds.target].nunique() > 20)
    if counts is None:
        counts = shift_counts_of_frames(ds, cmp, int(n_bins), target=has_target and not numeric_target)
    n_r, n_c, histograms, grouping_hists, target = histograms_from_counts(counts, has_target and not numeric_target)
    for h in histograms:  # Kolmogorov-Smirnov on the values (capped), in feature order
        if h.kind not in ("numeric", "datetime"):
            continue
        vr = _numeric_values(ds.frame[h.feature], h.kind)
        vc = _numeric_values(cmp.frame[h.feature], h.kind)
        a, b = vr[np.isfinite(vr)], vc[np.isfinite(vc)]
        a = capped_sample(a, int(ks_max_rows), rng) if len(a) > ks_max_rows else a
        b = capped_sample(b, int(ks_max_rows), rng) if len(b) > ks_max_rows else b
        if len(a) and len(b):
            ks = stats.ks_2samp(a, b)
            h.ks_statistic, h.ks_p_value = float(ks.statistic), float(ks.pvalue)
    if numeric_target:
        target = _measure_target(ds, cmp, union_sensitive_codes(ds, cmp), int(n_bins))

    domain = {"used": False}
    if domain_classifier and feats and min(len(ds), len(cmp)) >= 20:
        domain = _domain_classifier(ds, cmp, feats, types, random_state, int(domain_max_rows), int(n_folds))
    return ShiftMeasures(n_r, n_c, histograms, skipped, grouping_hists, target, domain)


def _measure_target(ds: Dataset, cmp: Dataset, uc: dict, n_bins: int) -> TargetCounts:
    yr, yc = ds.frame[ds.target], cmp.frame[cmp.target]
    numeric = ds.column_types.get(ds.target) == "numeric" and yr.nunique() > 20
    if numeric:
        vr, vc = _numeric_values(yr, "numeric"), _numeric_values(yc, "numeric")
        rc, cc, k, _ = bin_codes(vr, vc, n_bins)
        p = float(stats.ks_2samp(vr[np.isfinite(vr)], vc[np.isfinite(vc)]).pvalue)
        return TargetCounts("regression", reference=np.bincount(rc, minlength=k),
                            comparison=np.bincount(cc, minlength=k), ks_p_value=p,
                            reference_mean=float(np.nanmean(vr)), comparison_mean=float(np.nanmean(vc)))
    r_codes, r_uni = pd.factorize(yr, sort=True)
    c_codes, c_uni = pd.factorize(yc, sort=True)
    r_lab, c_lab = [str(u) for u in np.asarray(r_uni, dtype=object)], [str(u) for u in np.asarray(c_uni, dtype=object)]
    classes = sorted(set(r_lab) | set(c_lab))
    pos = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    rcode = np.array([pos[v] for v in r_lab], dtype=np.int64)[np.asarray(r_codes)]
    ccode = np.array([pos[v] for v in c_lab], dtype=np.int64)[np.asarray(c_codes)]
    groups = {}
    for col in ds.sensitive:
        gr, gc, labels = uc[col]
        m = len(labels)
        groups[col] = (labels, np.bincount(gr * k + rcode, minlength=m * k).reshape(m, k),
                       np.bincount(gc * k + ccode, minlength=m * k).reshape(m, k))
    return TargetCounts("classification", classes=classes, reference=np.bincount(rcode, minlength=k),
                        comparison=np.bincount(ccode, minlength=k), groups=groups)


def _domain_classifier(ds: Dataset, cmp: Dataset, feats, types, random_state: int, max_rows: int,
                       n_folds: int) -> dict:
    """Cross-validated AUC of a classifier telling the tables apart, on at most ``max_rows`` rows of each."""
    rng = np.random.default_rng(random_state + 1)
    m = int(min(max_rows, len(ds), len(cmp)))
    ir = capped_sample(np.arange(len(ds)), m, rng)
    ic = capped_sample(np.arange(len(cmp)), m, rng)
    fr = ds.frame.iloc[ir]
    fc = cmp.frame.iloc[ic]
    enc = FeatureEncoder().fit(pd.concat([fr[feats], fc[feats]], ignore_index=True),
                               {c: types[c] for c in feats}, feats)
    er, ec = enc.transform(fr), enc.transform(fc)
    X = np.vstack([er.X, ec.X])
    y = np.r_[np.zeros(len(ir), dtype=np.int64), np.ones(len(ic), dtype=np.int64)]
    proba, _ = cross_val_proba(X, y, 2, categorical=er.categorical, n_folds=n_folds, max_train_rows=None,
                               random_state=random_state)
    auc, lo, hi = auc_and_interval(y, proba, 2)
    return {"used": True, "auc": auc, "auc_low": lo, "auc_high": hi, "rows_per_table": m, "n_folds": n_folds}


# --------------------------------------------------------------------------- the check
@register_check
class ShiftCheck(Check):
    """Distribution shift between the audited (reference) table and a comparison table.

    For every feature (text columns excepted):

    * the *population stability index* (PSI) over bins fixed on the
      reference: ``n_bins`` quantile bins for numeric and datetime features,
      the 30 most frequent reference levels plus "other", "new in comparison"
      and "missing" for categorical ones; shares are smoothed with half a row
      per bin;
    * a test: the two-sample Kolmogorov-Smirnov test for numeric features
      (on a uniform random sample of at most ``ks_max_rows`` values of each
      table) and the chi-square test of homogeneity over the bins for
      categorical ones; Benjamini-Hochberg q-values over all features
      correct for testing many features.

    Per sensitive group (every attribute and the intersection of all): the
    same PSI and chi-square test for each feature on the group's rows of both
    tables (the reference bins of the whole table are reused, so groups are
    compared on one scale), for groups with at least ``min_group_size`` rows
    in both tables, with q-values over all group-feature pairs; the *group
    shares* themselves (PSI and chi-square), and groups present in only one
    table. When both tables have the target: the shift of the class shares
    (or of a numeric target) overall and per group.

    A *domain classifier* (histogram gradient boosting, ``n_folds``-fold
    cross-validated) tries to tell the tables apart on a uniform random
    sample of at most ``domain_max_rows`` rows of each; its AUC is 0.5 when
    the tables are exchangeable (``domain_classifier`` turns it off).

    A group's shift of a feature is *concentrated* in the group when the
    rows outside the group shift little (their PSI is below ``psi_warn``) or
    at most half as much; only concentrated shifts get their own finding and
    set the status (a shift of the whole table shows in every group and is
    judged once, overall). A finding for an intersection is left out when one
    of its single-attribute groups already explains it.

    Status: a feature, concentrated group-feature pair, group share or target
    with ``q < alpha`` and PSI at or above ``psi_warn`` / ``psi_fail`` (the
    usual 0.1 / 0.25 conventions); a group present in only one table with at least
    ``min_group_size`` rows is a warning; the domain-classifier AUC against
    ``domain_auc_warn`` / ``domain_auc_fail``. Datetime features are reported
    but do not set the status (time moves on between tables by design).

    Thresholds
    ----------
    psi_warn : 0.1
    psi_fail : 0.25
    alpha : 0.01
    n_bins : 10
    min_group_size : 100
    ks_max_rows : 200000
    domain_classifier : True
    domain_auc_warn : 0.6
    domain_auc_fail : 0.75
    domain_max_rows : 20000
    n_folds : 3
    """

    name = "shift"
    title = "Distribution shift (reference vs comparison)"
    explanation = (
        "Compares each feature's distribution, the share of each sensitive group and the target "
        "between the audited table and the comparison table (PSI with KS or chi-square tests, "
        "corrected for multiple testing), overall and within each group, and checks whether a "
        "classifier can tell the two tables apart. A model trained on one and used on the other may "
        "perform worse, especially for the groups that shifted."
    )
    requires = ("compare",)
    default_thresholds = {
        "psi_warn": 0.1,
        "psi_fail": 0.25,
        "alpha": 0.01,
        "n_bins": 10,
        "min_group_size": 100,
        "ks_max_rows": 200_000,
        "domain_classifier": True,
        "domain_auc_warn": 0.6,
        "domain_auc_fail": 0.75,
        "domain_max_rows": 20_000,
        "n_folds": 3,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        t = self.thresholds
        m = measure_shift(ds, ctx.compare, ctx, n_bins=int(t["n_bins"]), ks_max_rows=int(t["ks_max_rows"]),
                          domain_classifier=bool(t["domain_classifier"]),
                          domain_max_rows=int(t["domain_max_rows"]), n_folds=int(t["n_folds"]),
                          counts=ctx.counts.get("shift"))
        return self.present(m, target=ds.target)

    def present(self, m: ShiftMeasures, target: str | None = None):
        """PSI, tests, q-values, statuses, findings, tables and charts from the measurements.

        ``target`` is the target's name (for the messages).
        """
        t = self.thresholds
        n_r, n_c = m.reference_rows, m.comparison_rows
        feats = [h.feature for h in m.features]
        skipped = m.skipped_text
        status = "pass"
        findings: list[Finding] = []

        # ------------------------------------------------------------ per feature, overall
        feat = {}
        for h in m.features:
            entry: dict = {"feature": h.feature, "type": h.kind}
            if h.kind in ("numeric", "datetime"):
                entry.update(test="Kolmogorov-Smirnov", statistic=h.ks_statistic, p_value=h.ks_p_value)
                entry.update(reference_median=h.reference_median, comparison_median=h.comparison_median,
                             reference_missing=h.reference_missing, comparison_missing=h.comparison_missing)
            else:
                entry.update(test="chi-square", statistic=None, new_values=dict(
                    sorted(h.new_values.items(), key=lambda kv: -kv[1])[:10]), n_new_values=len(h.new_values))
                entry["p_value"] = chi2_homogeneity(h.reference, h.comparison)
            entry["psi"] = psi(h.reference, h.comparison)
            entry["bins"] = {"labels": h.labels, "reference": h.reference.tolist(),
                             "comparison": h.comparison.tolist()}
            feat[h.feature] = entry
        q = benjamini_hochberg([feat[c]["p_value"] if feat[c]["p_value"] is not None else np.nan for c in feats])
        feature_findings = []
        for col, qv in zip(feats, q, strict=True):
            e = feat[col]
            e["q_value"] = None if not np.isfinite(qv) else float(qv)
            e["status"] = self._status(e["psi"], e["q_value"])
            if e["type"] == "datetime":
                e["counts_for_status"] = False
                if e["status"] != "pass":
                    feature_findings.append(Finding(
                        f"Datetime feature '{col}' shifted (PSI {e['psi']:.3f}); expected when the tables cover "
                        f"different periods, so it does not set the status.", severity="info", subject=col,
                        value=e["psi"]))
                continue
            e["counts_for_status"] = True
            status = worse(status, e["status"])
            if e["status"] != "pass":
                feature_findings.append(Finding(self._feature_message(e), severity=e["status"], subject=col,
                                                value=e["psi"]))
            if e.get("n_new_values"):
                sev = "warn" if sum(e["new_values"].values()) >= t["min_group_size"] else "info"
                status = worse(status, sev if sev == "warn" else "pass")
                shown = ", ".join(f"{v!r} ({c:,})" for v, c in list(e["new_values"].items())[:5])
                feature_findings.append(Finding(
                    f"'{col}' has {e['n_new_values']} value(s) in the comparison table never seen in the reference: "
                    f"{shown}.", severity=sev, subject=col, value=float(sum(e["new_values"].values()))))
        feature_findings.sort(key=finding_order)
        findings.extend(feature_findings)

        # ------------------------------------------------------------ groups
        summary_groups: dict = {}
        group_findings: list[Finding] = []
        group_rows: list[list] = []
        pair_rows: list[list] = []
        target_summary = None
        if m.groupings:
            pairs = []  # (grouping, label, feature, psi, p, psi of the other rows)
            for g in m.groupings:
                cols, labels = g.columns, g.labels
                gname = grouping_name(cols)
                cr, cc_ = g.reference_rows, g.comparison_rows
                present = (cr > 0) | (cc_ > 0)
                share_psi = psi(cr[present], cc_[present])
                share_p = chi2_homogeneity(cr[present], cc_[present])
                entry = {"share_psi": share_psi, "share_p_value": share_p, "groups": {}}
                st = self._status(share_psi, share_p)
                for i in np.flatnonzero(present):
                    entry["groups"][labels[i]] = {
                        "reference_rows": int(cr[i]), "comparison_rows": int(cc_[i]),
                        "reference_share": float(cr[i] / n_r), "comparison_share": float(cc_[i] / n_c)}
                    group_rows.append([gname, labels[i], int(cr[i]), float(cr[i] / n_r), int(cc_[i]),
                                       float(cc_[i] / n_c)])
                only_cmp = [labels[i] for i in np.flatnonzero((cr == 0) & (cc_ > 0))]
                only_ref = [labels[i] for i in np.flatnonzero((cr > 0) & (cc_ == 0))]
                entry["new_groups"], entry["missing_groups"] = only_cmp, only_ref
                if st != "pass":
                    group_findings.append(Finding(
                        f"The share of each {gname} group changed (PSI {share_psi:.3f}, chi-square "
                        f"{fmt_p(share_p)}); " + self._largest_share_change(entry["groups"]) + ".",
                        severity=st, subject=gname, value=share_psi))
                for lab in only_cmp:
                    rows = entry["groups"][lab]["comparison_rows"]
                    sev = "warn" if rows >= t["min_group_size"] else "info"
                    st = worse(st, sev if sev == "warn" else "pass")
                    group_findings.append(Finding(
                        f"Group {lab} appears only in the comparison table ({rows:,} rows): a model trained on the "
                        f"reference never saw it.", severity=sev, subject=lab, value=float(rows)))
                for lab in only_ref:
                    rows = entry["groups"][lab]["reference_rows"]
                    sev = "warn" if rows >= t["min_group_size"] else "info"
                    st = worse(st, sev if sev == "warn" else "pass")
                    group_findings.append(Finding(
                        f"Group {lab} is absent from the comparison table ({rows:,} reference rows): results on "
                        f"the comparison table say nothing about it.", severity=sev, subject=lab, value=float(rows)))
                entry["status"] = st
                status = worse(status, st)
                # per group, per feature
                big = np.flatnonzero((cr >= t["min_group_size"]) & (cc_ >= t["min_group_size"]))
                for col, (tr, tc) in g.features.items():
                    rr, rcmp = tr.sum(axis=0), tc.sum(axis=0)
                    for i in big:
                        pairs.append((gname, labels[i], col, psi(tr[i], tc[i]), chi2_homogeneity(tr[i], tc[i]),
                                      psi(rr - tr[i], rcmp - tc[i])))
                summary_groups[gname] = entry
            qp = benjamini_hochberg([p[4] for p in pairs])
            per_group: dict = {}
            concentrated: set = set()
            diffuse: dict = {}
            for (gname, lab, col, v, p, rest), qv in sorted(
                    zip(pairs, qp, strict=True), key=lambda x: (x[0][0].count(" & "), -x[0][3])):
                st = self._status(v, qv)
                conc = st != "pass" and (rest < self.thresholds["psi_warn"] or v >= 2 * rest)
                per_group.setdefault(gname, {}).setdefault(lab, {})[col] = {
                    "psi": v, "p_value": p, "q_value": float(qv), "rest_psi": rest, "status": st,
                    "concentrated": bool(conc)}
                pair_rows.append([gname, lab, col, v, float(qv), rest, st])
                if st == "pass":
                    continue
                if not conc:  # part of a shift of the whole table, judged above
                    diffuse.setdefault(col, []).append(lab)
                    continue
                status = worse(status, st)
                parents = [(part, col) for part in lab.split(" & ")] if " & " in lab else []
                if any(pp in concentrated for pp in parents):
                    continue  # its single-attribute group already explains it
                concentrated.add((lab, col))
                group_findings.append(Finding(
                    f"'{col}' shifted within {lab}: PSI {v:.3f} ({fmt_p(qv).replace('p', 'q', 1)}) against "
                    f"{rest:.3f} in the other rows - the shift is concentrated in this group.",
                    severity=st, subject=lab, value=v))
            for col, labs in diffuse.items():
                group_findings.append(Finding(
                    f"'{col}' also shifted within {len(labs)} group(s) ({', '.join(labs[:4])}"
                    f"{', ...' if len(labs) > 4 else ''}) about as much as in the other rows.",
                    severity="info", subject=col))
            for gname, groups in per_group.items():
                summary_groups[gname]["features"] = groups
            group_findings.sort(key=finding_order)
            findings.extend(group_findings)

        # ------------------------------------------------------------ target
        if m.target is not None:
            target_summary, tf = self._target_present(m.target, target)
            status = worse(status, target_summary["status"])
            findings.extend(tf)

        # ------------------------------------------------------------ domain classifier
        domain = dict(m.domain)
        if domain.get("used"):
            domain["status"] = self.status_for(domain["auc"], "domain_auc_warn", "domain_auc_fail")
            status = worse(status, domain["status"])
            if domain["status"] != "pass":
                findings.append(Finding(
                    f"A classifier tells the two tables apart with AUC {domain['auc']:.3f} (95% CI "
                    f"{domain['auc_low']:.3f}-{domain['auc_high']:.3f}); 0.5 would mean no detectable shift.",
                    severity=domain["status"], value=domain["auc"]))
            elif domain["auc_high"] < 0.45:
                findings.append(Finding(
                    f"The domain classifier scores below chance (AUC {domain['auc']:.3f}): the two tables "
                    f"probably share many identical rows (see the duplicates check).", severity="info",
                    value=domain["auc"]))
        if not any(f.severity in ("warn", "fail") for f in findings):
            findings.insert(0, Finding(
                f"No feature, group or target shift reaches PSI {t['psi_warn']} with q < {t['alpha']}"
                + (f"; the domain classifier's AUC is {domain['auc']:.3f}." if domain.get("used") else "."),
                severity="info"))
        if skipped:
            findings.append(Finding(f"Text column(s) {', '.join(skipped)} were not compared.", severity="info"))

        # ------------------------------------------------------------ presentation
        ranked = sorted(feats, key=lambda c: -feat[c]["psi"])
        charts = [Chart(
            title="Population stability index per feature" + (
                f" (largest {MAX_BARS} of {len(ranked)})" if len(ranked) > MAX_BARS else ""),
            bars=[Bar(c, feat[c]["psi"], flag=feat[c]["status"] != "pass") for c in ranked[:MAX_BARS]],
            x_label="PSI (0.1 moderate, 0.25 large)", reference=float(t["psi_warn"]), reference_label="warn")]
        if m.groupings:
            for gname, entry in summary_groups.items():
                if " & " in gname:
                    continue
                bars = []
                for lab, g in entry["groups"].items():
                    bars.append(Bar(f"{lab} (reference)", g["reference_share"]))
                    bars.append(Bar(f"{lab} (comparison)", g["comparison_share"], flag=entry["status"] != "pass"))
                charts.append(Chart(title=f"Share of each {gname} group in both tables", bars=bars[:MAX_BARS],
                                    x_label="share of rows"))
        tables = [Table("Shift per feature", ["feature", "type", "PSI", "test", "statistic", "q-value", "status"],
                        [[c, feat[c]["type"], feat[c]["psi"], feat[c]["test"], feat[c]["statistic"],
                          feat[c]["q_value"], feat[c]["status"]] for c in ranked])]
        if group_rows:
            tables.append(Table("Group shares in both tables", ["grouping", "group", "reference rows",
                                                                "reference share", "comparison rows",
                                                                "comparison share"], group_rows[:MAX_TABLE_ROWS]))
        if pair_rows:
            pair_rows.sort(key=lambda r: -r[3])
            title = "Shift of each feature within each group"
            if len(pair_rows) > MAX_TABLE_ROWS:
                title += f" (largest {MAX_TABLE_ROWS} of {len(pair_rows)}; all in the JSON summary)"
            tables.append(Table(title, ["grouping", "group", "feature", "PSI in group", "q-value",
                                        "PSI in other rows", "status"], pair_rows[:MAX_TABLE_ROWS]))
        summary = {
            "reference_rows": n_r, "comparison_rows": n_c,
            "features": feat,
            "n_shifted_features": int(sum(1 for c in feats if feat[c]["status"] != "pass"
                                          and feat[c]["counts_for_status"])),
            "max_psi": max((feat[c]["psi"] for c in feats), default=None),
            "groupings": summary_groups, "target": target_summary, "domain_classifier": domain,
            "skipped_text_columns": skipped,
            "subsampling": {"ks_rows_per_table": int(min(max(n_r, n_c), t["ks_max_rows"])),
                            "domain_rows_per_table": domain.get("rows_per_table"),
                            "psi_and_chi_square_rows": [n_r, n_c]},
        }
        expl = self.explanation
        if max(n_r, n_c) > t["ks_max_rows"]:
            expl += (f" Kolmogorov-Smirnov tests use a random sample of at most {int(t['ks_max_rows']):,} values "
                     "per table; PSI and chi-square use all rows.")
        if domain.get("used"):
            expl += (f" The domain classifier is cross-validated on {domain['rows_per_table']:,} random rows of "
                     "each table.")
        return self.result(status=status, summary=summary, findings=findings, charts=charts, tables=tables,
                           explanation=expl)

    # ------------------------------------------------------------------ helpers
    def _status(self, value: float, q: float | None) -> str:
        if q is None or not np.isfinite(q) or q >= self.thresholds["alpha"]:
            return "pass"
        return self.status_for(value, "psi_warn", "psi_fail")

    @staticmethod
    def _feature_message(e: dict) -> str:
        msg = f"'{e['feature']}' shifted: PSI {e['psi']:.3f}"
        if e["test"] == "Kolmogorov-Smirnov" and e["statistic"] is not None:
            msg += (f", KS statistic {e['statistic']:.3f} ({fmt_p(e['q_value']).replace('p', 'q', 1)}); median "
                    f"{e['reference_median']:.4g} -> {e['comparison_median']:.4g}")
        else:
            msg += f" (chi-square {fmt_p(e['q_value']).replace('p', 'q', 1)})"
        return msg + "."

    @staticmethod
    def _largest_share_change(groups: dict) -> str:
        lab, g = max(groups.items(), key=lambda kv: abs(kv[1]["comparison_share"] - kv[1]["reference_share"]))
        return (f"largest change: {lab} from {g['reference_share']:.1%} to {g['comparison_share']:.1%} of the rows")

    def _target_present(self, tc: TargetCounts, target: str | None) -> tuple[dict, list[Finding]]:
        t = self.thresholds
        findings = []
        if tc.task == "regression":
            p = tc.ks_p_value
            out = {"task": "regression", "psi": psi(tc.reference, tc.comparison),
                   "p_value": p, "reference_mean": tc.reference_mean, "comparison_mean": tc.comparison_mean}
            out["status"] = self._status(out["psi"], p)
            if out["status"] != "pass":
                findings.append(Finding(
                    f"The target '{target}' shifted: PSI {out['psi']:.3f}, mean {out['reference_mean']:.4g} -> "
                    f"{out['comparison_mean']:.4g} (KS {fmt_p(p)}).", severity=out["status"], subject=target,
                    value=out["psi"]))
            return out, findings
        classes = tc.classes
        rcnt, ccnt = tc.reference, tc.comparison
        out = {"task": "classification", "classes": classes,
               "reference_shares": dict(zip(classes, (rcnt / rcnt.sum()).tolist(), strict=True)),
               "comparison_shares": dict(zip(classes, (ccnt / max(ccnt.sum(), 1)).tolist(), strict=True)),
               "psi": psi(rcnt, ccnt), "p_value": chi2_homogeneity(rcnt, ccnt)}
        out["status"] = self._status(out["psi"], out["p_value"])
        if out["status"] != "pass":
            changes = ", ".join(f"{c}: {out['reference_shares'][c]:.1%} -> {out['comparison_shares'][c]:.1%}"
                                for c in classes[:5])
            findings.append(Finding(
                f"The class shares of the target '{target}' shifted (PSI {out['psi']:.3f}, chi-square "
                f"{fmt_p(out['p_value'])}): {changes}.", severity=out["status"], subject=target, value=out["psi"]))
        # per single-attribute group
        per_group = {}
        pairs = []
        for col, (labels, tr, tcmp) in tc.groups.items():
            for i in range(len(labels)):
                if tr[i].sum() < t["min_group_size"] or tcmp[i].sum() < t["min_group_size"]:
                    continue
                pairs.append((f"{col}={labels[i]}", psi(tr[i], tcmp[i]), chi2_homogeneity(tr[i], tcmp[i]), tr[i],
                              tcmp[i]))
        q = benjamini_hochberg([p[2] for p in pairs])
        for (lab, v, p, rc, cc), qv in zip(pairs, q, strict=True):
            st = self._status(v, qv)
            per_group[lab] = {"psi": v, "p_value": p, "q_value": float(qv), "status": st,
                              "reference_shares": dict(zip(classes, (rc / rc.sum()).tolist(), strict=True)),
                              "comparison_shares": dict(zip(classes, (cc / cc.sum()).tolist(), strict=True))}
            out["status"] = worse(out["status"], st)
            if st != "pass":
                findings.append(Finding(
                    f"Within {lab} the class shares of '{target}' shifted (PSI {v:.3f}, "
                    f"{fmt_p(qv).replace('p', 'q', 1)}).", severity=st, subject=lab, value=v))
        out["groups"] = per_group
        return out, findings


def _nanmedian(v: np.ndarray) -> float | None:
    ok = np.isfinite(v)
    return float(np.median(v[ok])) if ok.any() else None


__all__ = ["FeatureHistogram", "GroupingHistograms", "ShiftCheck", "ShiftMeasures", "TargetCounts", "bin_codes",
           "chi2_homogeneity", "level_codes", "measure_shift", "psi"]
