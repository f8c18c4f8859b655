"""Check 4: missing values, overall and per sensitive group."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .._stats import wilson_interval
from ..data import Dataset
from ..report import Bar, Chart, Finding, Table, sample_table
from ._base import AuditContext, Check, register_check
from ._common import (
    MAX_BARS,
    MAX_TABLE_ROWS,
    cell_codes,
    cell_labels,
    effective_sizes,
    fmt_p,
    group_sums,
    grouping_name,
    sensitive_codes,
    worse,
)

#: Strings that often stand for a missing value but are read as ordinary text.
DISGUISED_MISSING = frozenset(
    {"", "?", "-", "--", "na", "n/a", "nan", "null", "none", "missing", "unknown", "not available", "#n/a"}
)
#: Rows inspected to detect disguised missing markers in a text column.
DISGUISE_SAMPLE_ROWS = 200_000
#: Most per-group charts (one per flagged column).
MAX_GROUP_CHARTS = 3


# --------------------------------------------------------------------------- measuring
@dataclass
class GroupMissingCounts:
    """Missing values per group of one grouping.

    ``missing[i, j]`` is the (weighted) number of missing values of the
    ``j``-th column of :attr:`MissingCounts.group_columns` in group ``i``;
    ``rows``, ``weight`` and ``weight_sq`` are rows, weight and squared weight
    per group. All sums, so they merge over partitions.
    """

    columns: tuple[str, ...]
    names: list[str]
    rows: np.ndarray
    weight: np.ndarray
    weight_sq: np.ndarray
    missing: np.ndarray


@dataclass
class MissingCounts:
    """Missing values per column and per sensitive group, as counts.

    Attributes
    ----------
    n_rows : int
    weighted : bool
    weight_total, weight_sq_total : float
    columns : list of str
        Every column except the weight column.
    missing_rows : ndarray of int
        Missing values per column.
    missing_weight : ndarray of float
        Their weight (equal to ``missing_rows`` without weights).
    n_rows_with_missing, n_missing_cells : int
    group_columns : list of str
        The columns with at least one missing value (compared across groups).
    groupings : list of GroupMissingCounts
        Every sensitive attribute and, with several, their intersection.
    excluded : dict
        Rows the data layer excluded, by reason; ``n_rows_read`` rows were read.
    disguised : dict
        Counts of values that usually mean missing, ``{column: {value: count}}``.
    row_missing : ndarray of int64
        Missing cells per row (the check's per-row scores).
    most_missing : DataFrame or None
        Up to 20 rows with the most missing cells.
    """

    n_rows: int
    weighted: bool
    weight_total: float
    weight_sq_total: float
    columns: list[str]
    missing_rows: np.ndarray
    missing_weight: np.ndarray
    n_rows_with_missing: int
    n_missing_cells: int
    group_columns: list[str] = field(default_factory=list)
    groupings: list[GroupMissingCounts] = field(default_factory=list)
    excluded: dict = field(default_factory=dict)
    n_rows_read: int = 0
    disguised: dict = field(default_factory=dict)
    row_missing: np.ndarray | None = None
    most_missing: pd.DataFrame | None = None

    @property
    def effective_n(self) -> float:
        if not self.weighted:
            return float(self.n_rows)
        return float(self.weight_total**2 / self.weight_sq_total) if self.weight_sq_total > 0 else 0.0


def measure_missing_values(ds: Dataset, ctx: AuditContext | None = None) -> MissingCounts:
    """Count missing values per column, per sensitive group and per row (pure counting)."""
    frame = ds.frame
    n = len(frame)
    w = ds.sample_weight
    cols = [c for c in frame.columns if c != ds.weights]
    miss = frame[cols].isna().to_numpy()
    per_row = miss.sum(axis=1).astype(np.int64)
    wv = np.ones(n) if w is None else w
    col_missing_w = wv @ miss if n else np.zeros(len(cols))
    col_rows = miss.sum(axis=0)
    m = MissingCounts(
        n_rows=int(n), weighted=w is not None, weight_total=float(wv.sum()),
        weight_sq_total=float((w * w).sum()) if w is not None else float(n), columns=cols,
        missing_rows=col_rows, missing_weight=col_missing_w, n_rows_with_missing=int((per_row > 0).sum()),
        n_missing_cells=int(per_row.sum()), excluded={k: int(v) for k, v in ds.excluded.items()},
        n_rows_read=max(int(ds.n_rows_read), n),
        disguised=_disguised_missing(frame, [c for c in cols if ds.column_types.get(c) in ("categorical", "text")]),
        row_missing=per_row)
    miss_idx = np.flatnonzero(col_rows > 0)
    m.group_columns = [cols[j] for j in miss_idx]
    if ds.sensitive and len(miss_idx):
        sc = sensitive_codes(ds, ctx)
        grps = [(c,) for c in ds.sensitive]
        if len(ds.sensitive) > 1:
            grps.append(tuple(ds.sensitive))
        M = miss[:, miss_idx].astype(np.float64)
        for gcols in grps:
            codes, shape = cell_codes(sc, gcols)
            present, inv = np.unique(codes, return_inverse=True)
            k = len(present)
            rows, wsum, w2 = group_sums(inv, k, w)
            G = sparse.csr_matrix((wv, (inv, np.arange(n))), shape=(k, n))
            m.groupings.append(GroupMissingCounts(tuple(gcols), cell_labels(sc, gcols, present, shape), rows, wsum,
                                                  w2, np.asarray(G @ M)))
    if len(miss_idx):
        top = np.argsort(-per_row, kind="stable")[:20]
        m.most_missing = frame.iloc[top[per_row[top] > 0]]
    return m


# --------------------------------------------------------------------------- the check
@register_check
class MissingValuesCheck(Check):
    """Missing values per column, and whether missingness depends on the group.

    For every column the check reports the (weighted) fraction of missing
    values with a Wilson 95 % interval. With sensitive attributes, it compares
    the missing fraction of each column across the groups of every attribute
    (and of the full intersection when there are several), over groups with at
    least ``min_group_size`` rows: the difference (highest minus lowest
    fraction) and the ratio (highest over lowest), with a chi-square test of
    independence (Fisher's exact test for two groups with small expected
    counts; weighted data use effective counts).

    Status: a column missing in ``column_warn`` (warn) or ``column_fail``
    (fail) of its rows; a group dependence with ``p < alpha`` and a difference
    of at least ``gap_warn`` (warn) or ``gap_fail`` (fail), or a ratio of at
    least ``ratio_warn`` with a difference of at least ``ratio_min_gap``
    (warn). Rows the data layer excluded (for example a missing target) are
    reported; when they exceed ``excluded_warn`` of the rows read, that is a
    warning, since their groups can no longer be checked. Text values that
    usually mean "missing" (``"?"``, ``"NA"``, ``"unknown"``, ...; detected on
    up to 200,000 rows per column) are reported as information.

    Per-row ``scores`` hold the number of missing cells in the row.

    Thresholds
    ----------
    column_warn : 0.2
    column_fail : 0.8
    gap_warn : 0.05
    gap_fail : 0.15
    ratio_warn : 2.0
    ratio_min_gap : 0.01
    alpha : 0.01
    min_group_size : 30
    excluded_warn : 0.05
    """

    name = "missing_values"
    title = "Missing values"
    explanation = (
        "Measures how often each column is missing, and whether that depends on the sensitive "
        "group. Missingness concentrated in one group makes imputation or row removal treat that "
        "group differently, and often signals that data were collected differently for it."
    )
    requires = ()
    default_thresholds = {
        "column_warn": 0.2,
        "column_fail": 0.8,
        "gap_warn": 0.05,
        "gap_fail": 0.15,
        "ratio_warn": 2.0,
        "ratio_min_gap": 0.01,
        "alpha": 0.01,
        "min_group_size": 30,
        "excluded_warn": 0.05,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        return self.present(measure_missing_values(ds, ctx))

    def present(self, m: MissingCounts):
        """Missing fractions, group dependence tests, statuses, findings, charts and tables from the counts."""
        t = self.thresholds
        n = m.n_rows
        cols = m.columns
        w_total = m.weight_total
        n_eff = m.effective_n
        col_missing_w = m.missing_weight
        col_rows = m.missing_rows
        frac = col_missing_w / w_total
        low, high = wilson_interval(frac * n_eff, np.full(len(cols), n_eff))

        status = "pass"
        findings: list[Finding] = []
        info: list[Finding] = []
        per_column = {}
        for j, c in enumerate(cols):
            st = self.status_for(float(frac[j]), "column_warn", "column_fail") if col_rows[j] else "pass"
            per_column[c] = {"missing_rows": int(col_rows[j]), "fraction": float(frac[j]),
                             "low": float(low[j]), "high": float(high[j]), "status": st}
            if st != "pass":
                findings.append(Finding(
                    f"Column '{c}' is missing in {frac[j]:.1%} of the rows ({int(col_rows[j])}).",
                    severity=st, subject=c, value=float(frac[j])))
            status = worse(status, st)
        n_missing_cols = int((col_rows > 0).sum())
        if n_missing_cols:
            info.append(Finding(
                f"{n_missing_cols} of {len(cols)} columns have missing values; "
                f"{m.n_rows_with_missing} rows ({m.n_rows_with_missing / n:.1%}) have at least one.",
                value=float(m.n_rows_with_missing / n)))
        else:
            info.append(Finding(f"No missing values in any of the {len(cols)} columns."))

        # rows the data layer removed
        excluded = m.excluded
        n_read = m.n_rows_read
        if excluded:
            tot = sum(excluded.values())
            share = tot / n_read if n_read else 0.0
            sev = "warn" if share >= t["excluded_warn"] else "info"
            detail = "; ".join(f"{k}: {v}" for k, v in excluded.items())
            msg = (f"{tot} of {n_read} rows read ({share:.1%}) were excluded before the analysis ({detail}); "
                   f"they are not counted here and their groups cannot be checked.")
            (findings if sev == "warn" else info).append(Finding(msg, severity=sev, value=share))
            status = worse(status, "warn" if sev == "warn" else "pass")

        # disguised missing markers
        disguised = m.disguised
        for c, toks in disguised.items():
            shown = ", ".join(f"{tok!r} ({cnt})" for tok, cnt in toks.items())
            info.append(Finding(
                f"Column '{c}' holds values that usually mean missing: {shown}. If they do, declare them "
                f"(--na-values, na_values=[...] in Python) so that they are counted here.",
                subject=c, value=float(sum(toks.values()))))

        # per-group missingness
        disparity_rows: list[list] = []
        per_group_summary: dict = {}
        charts: list[Chart] = []
        group_charts: list[tuple[float, Chart]] = []
        miss_idx = np.flatnonzero(col_rows > 0)
        depth: dict[int, int] = {}  # finding position -> number of attributes of its grouping
        if m.groupings:
            for g in m.groupings:
                gcols, labels, rows, wsum = g.columns, g.names, g.rows, g.weight
                gname = grouping_name(gcols)
                k = len(labels)
                neff = effective_sizes(wsum, g.weight_sq, m.weighted)
                gfrac = g.missing / wsum[:, None]
                eligible = rows >= t["min_group_size"]
                entry = {}
                for jj, j in enumerate(miss_idx):
                    c = cols[j]
                    if c in gcols:
                        continue
                    res = self._judge(gfrac[:, jj], neff, eligible, labels)
                    lo_g, hi_g = wilson_interval(gfrac[:, jj] * neff, neff)
                    res["groups"] = {labels[i]: {"rows": int(rows[i]), "fraction": float(gfrac[i, jj]),
                                                 "low": float(lo_g[i]), "high": float(hi_g[i])}
                                     for i in range(k)}
                    entry[c] = res
                    status = worse(status, res["status"])
                    if res["diff"] is not None:
                        disparity_rows.append([c, gname, res["max_group"], res["max_fraction"], res["min_group"],
                                               res["min_fraction"], res["diff"], res["ratio"], res["p_value"],
                                               res["status"]])
                    if res["status"] != "pass":
                        ratio_txt = "inf" if res["ratio"] is None or not np.isfinite(res["ratio"]) else f"{res['ratio']:.1f}x"
                        depth[len(findings)] = len(gcols)
                        findings.append(Finding(
                            f"Missingness of '{c}' depends on {gname}: {res['max_fraction']:.1%} missing for "
                            f"{res['max_group']} vs {res['min_fraction']:.1%} for {res['min_group']} "
                            f"(difference {res['diff']:.1%}, ratio {ratio_txt}; {res['test']} {fmt_p(res['p_value'])}).",
                            severity=res["status"], subject=c, value=res["diff"]))
                        group_charts.append((res["diff"], Chart(
                            title=f"Missing fraction of '{c}' by {gname}",
                            bars=[Bar(lab, g["fraction"], g["low"], g["high"],
                                      flag=lab in (res["max_group"], res["min_group"]))
                                  for lab, g in list(res["groups"].items())[:MAX_BARS]],
                            x_label="share missing (95% Wilson interval)",
                            reference=float(frac[j]), reference_label="overall")))
                per_group_summary[gname] = entry

        # charts and tables
        if n_missing_cols:
            order = miss_idx[np.argsort(-frac[miss_idx], kind="stable")][:MAX_BARS]
            charts.append(Chart(
                title="Missing fraction per column",
                bars=[Bar(cols[j], float(frac[j]), float(low[j]), float(high[j]),
                          flag=per_column[cols[j]]["status"] != "pass") for j in order],
                x_label="share of rows missing (95% Wilson interval)"))
        charts += [c for _, c in sorted(group_charts, key=lambda x: -x[0])[:MAX_GROUP_CHARTS]]
        tables = [Table("Missing values per column", ["column", "missing rows", "fraction", "low", "high", "status"],
                        [[c, e["missing_rows"], e["fraction"], e["low"], e["high"], e["status"]]
                         for c, e in per_column.items()])]
        if disparity_rows:
            disparity_rows.sort(key=lambda r: (r[-1] == "pass", -(r[6] or 0)))
            title = "Missingness by group"
            if len(disparity_rows) > MAX_TABLE_ROWS:
                title += f" ({MAX_TABLE_ROWS} of {len(disparity_rows)} shown)"
            tables.append(Table(title, ["column", "grouping", "most missing", "fraction", "least missing",
                                        "fraction", "difference", "ratio", "p value", "status"],
                                disparity_rows[:MAX_TABLE_ROWS]))
        if m.most_missing is not None:
            tables.append(sample_table("Rows with the most missing cells", m.most_missing))
        severity_rank = {"fail": 0, "warn": 1}
        order = sorted(range(len(findings)), key=lambda i: (
            severity_rank.get(findings[i].severity, 2), depth.get(i, 0), -(findings[i].value or 0)))
        findings = [findings[i] for i in order]
        summary = {
            "n_rows": int(n),
            "n_columns": len(cols),
            "n_columns_with_missing": n_missing_cols,
            "n_rows_with_missing": m.n_rows_with_missing,
            "n_missing_cells": m.n_missing_cells,
            "weighted": m.weighted,
            "columns": per_column,
            "per_group": per_group_summary,
            "excluded_rows": excluded,
            "n_rows_read": n_read,
            "disguised_missing": disguised,
        }
        return self.result(status=status, summary=summary, findings=findings + info, charts=charts,
                           tables=tables, scores=m.row_missing)

    def _judge(self, gfrac, neff, eligible, labels) -> dict:
        t = self.thresholds
        res = {"diff": None, "ratio": None, "max_group": None, "min_group": None, "max_fraction": None,
               "min_fraction": None, "test": None, "statistic": None, "p_value": None, "status": "pass"}
        ok = np.flatnonzero(eligible & (neff > 0))
        if len(ok) < 2:
            return res
        f = gfrac[ok]
        hi, lo = ok[np.argmax(f)], ok[np.argmin(f)]
        diff = float(gfrac[hi] - gfrac[lo])
        ratio = float(gfrac[hi] / gfrac[lo]) if gfrac[lo] > 0 else (float("inf") if gfrac[hi] > 0 else 1.0)
        res.update(diff=diff, ratio=ratio, max_group=labels[hi], min_group=labels[lo],
                   max_fraction=float(gfrac[hi]), min_fraction=float(gfrac[lo]))
        has = neff > 0
        m = gfrac[has] * neff[has]
        tab = np.column_stack([m, neff[has] - m])
        if tab[:, 0].sum() > 0 and tab[:, 1].sum() > 0 and tab.shape[0] >= 2:
            chi2, p, _, expected = stats.chi2_contingency(tab, correction=False)
            test, stat = "chi-square", float(chi2)
            if tab.shape[0] == 2 and expected.min() < 5:
                stat, p = stats.fisher_exact(np.rint(tab).astype(np.int64))
                test, stat = "Fisher exact", float(stat)
            res.update(test=test, statistic=stat, p_value=float(p))
        if res["p_value"] is not None and res["p_value"] < t["alpha"]:
            st = self.status_for(diff, "gap_warn", "gap_fail")
            if ratio >= t["ratio_warn"] and diff >= t["ratio_min_gap"]:
                st = worse(st, "warn")
            res["status"] = st
        return res


def _disguised_missing(frame: pd.DataFrame, cols: list[str]) -> dict[str, dict[str, int]]:
    """Counts of disguised missing markers per text column (``{col: {token: count}}``)."""
    out: dict[str, dict[str, int]] = {}
    n = len(frame)
    for c in cols:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            uniq = pd.Series(s.cat.categories)
        else:
            probe = s if n <= DISGUISE_SAMPLE_ROWS else s.sample(DISGUISE_SAMPLE_ROWS, random_state=0)
            uniq = pd.Series(pd.unique(probe.dropna()))
        if uniq.empty:
            continue
        norm = uniq.astype(str).str.strip().str.lower()
        toks = uniq[norm.isin(DISGUISED_MISSING).to_numpy()].tolist()
        if toks:
            counts = s[s.isin(toks)].value_counts()
            out[c] = {str(k): int(v) for k, v in counts.items() if v > 0}
            if not out[c]:
                del out[c]
    return out


__all__ = ["GroupMissingCounts", "MissingCounts", "MissingValuesCheck", "measure_missing_values"]
