"""Check 2: representation of sensitive groups and of their intersections."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .._stats import wilson_interval
from ..data import Dataset
from ..data._groups import MISSING as MISSING_GROUP
from ..exceptions import UnskewInputError
from ..report import Bar, Chart, Finding, Table
from ._base import AuditContext, Check, register_check
from ._common import (
    MAX_BARS,
    MAX_TABLE_ROWS,
    cell_codes,
    cell_labels,
    cell_values,
    fmt_p,
    group_totals,
    grouping_name,
    groupings,
    sensitive_codes,
    too_large_groupings,
    worse,
)

#: Intersections with more possible cells than this are only checked on the
#: cells that occur (absent cells are not enumerated).
MAX_ENUMERATED_CELLS = 1_000_000
#: Most flagged cells named individually in findings per grouping.
MAX_FINDINGS_PER_GROUPING = 5


# --------------------------------------------------------------------------- measuring
@dataclass
class GroupingCounts:
    """Rows and weight per cell of one grouping (one attribute or an intersection).

    Attributes
    ----------
    columns : tuple of str
        The attributes, in the dataset's order.
    shape : tuple of int
        Levels per attribute: the cell grid (flat cell index = mixed-radix
        code, first attribute slowest, as :func:`._common.cell_codes`).
    cells : ndarray of int64
        Flat grid index of each counted cell, ascending: every cell of the grid
        when ``enumerated``, else only the cells that occur.
    rows : ndarray of float
        Rows per cell.
    weight : ndarray of float
        Sum of the sample weights per cell (equal to ``rows`` without weights).
    enumerated : bool
        Whether absent cells are counted (grids of at most
        :data:`MAX_ENUMERATED_CELLS` cells).
    """

    columns: tuple[str, ...]
    shape: tuple[int, ...]
    cells: np.ndarray
    rows: np.ndarray
    weight: np.ndarray
    enumerated: bool

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape, dtype=np.float64))


@dataclass
class RepresentationCounts:
    """Everything the representation check judges, as counts.

    Every number here is a sum over rows (rows, weights, squared weights per
    cell), so counts computed on separate partitions of a table with the same
    value names add up to the counts of the whole table; an engine other than
    pandas (Spark, DuckDB) can produce them and hand them to
    :meth:`RepresentationCheck.present`. Only ``row_scores`` is per row.

    Attributes
    ----------
    n_rows : int
    weighted : bool
    weight_total, weight_sq_total : float
        Sum of the weights and of their squares (``n_rows`` without weights),
        for shares and the Kish effective size.
    attributes : list of str
        The sensitive attributes, in the dataset's order.
    names : dict
        Value names of each attribute, in the shared group order (missing last).
    groupings : list of GroupingCounts
        Every attribute, then every combination of two or more.
    too_large : list of str
        Combinations left out because their grid has ``2**62`` cells or more.
    row_scores : ndarray of int64 or None
        Rows in each row's full intersection cell.
    """

    n_rows: int
    weighted: bool
    weight_total: float
    weight_sq_total: float
    attributes: list[str]
    names: dict[str, list[str]]
    groupings: list[GroupingCounts]
    too_large: list[str] = field(default_factory=list)
    row_scores: np.ndarray | None = None

    @property
    def effective_n(self) -> float:
        """Kish effective sample size of the whole table."""
        if not self.weighted:
            return float(self.n_rows)
        return float(self.weight_total**2 / self.weight_sq_total) if self.weight_sq_total > 0 else 0.0

    def grouping(self, columns) -> GroupingCounts | None:
        return next((g for g in self.groupings if g.columns == tuple(columns)), None)


def measure_representation(ds: Dataset, ctx: AuditContext | None = None) -> RepresentationCounts:
    """Count rows and weight per value of every sensitive attribute and per intersection cell.

    Groups use the one group encoding (:func:`._common.sensitive_codes`).
    Pure counting, no judgement: :meth:`RepresentationCheck.present` turns the
    counts into shares, intervals, expected counts and findings.

    Examples
    --------
    >>> from unskew.data import Dataset
    >>> ds = Dataset.from_data(pd.DataFrame({"s": ["a", "b", "a"], "x": [1, 2, 3]}), sensitive="s")
    >>> measure_representation(ds).groupings[0].rows.tolist()
    [2.0, 1.0]
    """
    sc = sensitive_codes(ds, ctx)
    w = ds.sample_weight
    n = len(ds)
    out = []
    row_scores = None
    for cols in groupings(ds.sensitive, sc):
        codes, shape = cell_codes(sc, cols)
        n_cells = int(np.prod(shape, dtype=np.float64))
        enumerated = n_cells <= MAX_ENUMERATED_CELLS
        if enumerated:
            rows, wsum, _ = group_totals(codes, n_cells, w)
            flat = np.arange(n_cells)
        else:  # only observed cells
            flat, inv = np.unique(codes, return_inverse=True)
            rows, wsum, _ = group_totals(inv, len(flat), w)
        if len(cols) == len(ds.sensitive):
            row_scores = (rows[codes] if enumerated else rows[np.searchsorted(flat, codes)]).astype(np.int64)
        out.append(GroupingCounts(tuple(cols), tuple(shape), flat, rows, wsum, enumerated))
    return RepresentationCounts(
        n_rows=int(n), weighted=w is not None,
        weight_total=float(w.sum()) if w is not None else float(n),
        weight_sq_total=float((w * w).sum()) if w is not None else float(n),
        attributes=list(ds.sensitive), names={c: list(sc[c][1]) for c in ds.sensitive},
        groupings=out, too_large=too_large_groupings(ds.sensitive, sc), row_scores=row_scores)


def _labels(m: RepresentationCounts, cols, flat, shape) -> list[str]:
    """``"race=B & sex=female"`` labels of flat cell indices (see :func:`._common.cell_labels`)."""
    return cell_labels({c: (None, m.names[c]) for c in cols}, cols, flat, shape)


def _values(m: RepresentationCounts, cols, flat, shape) -> list[str]:
    """``"B & female"`` values (reference notation) of flat cell indices."""
    return cell_values({c: (None, m.names[c]) for c in cols}, cols, flat, shape)


# --------------------------------------------------------------------------- the check
@register_check
class RepresentationCheck(Check):
    """Size of every sensitive group and intersection, and comparison with a reference.

    For each sensitive attribute and each combination of two or more attributes
    the check counts rows (and weight, if the data are weighted) per value or
    cell, with a Wilson 95 % interval for each share (weighted data use the
    Kish effective sample size).

    *Intersections.* Every combination of values that occur on their own is a
    cell that could exist. A cell with **no rows** is a failure when, were the
    attributes independent, at least ``min_expected_missing`` rows would be
    expected there (``n * product of the marginal shares``); with fewer expected
    rows its absence could be chance and it is a warning. Cells whose absence
    already follows from an absent lower-order cell are counted, not reported
    twice. A cell or value with fewer than ``min_cell_count`` rows or a share
    below ``min_cell_share`` is a warning: estimates for it are unreliable.

    *Reference population* (``ctx.reference``, e.g. census shares
    ``{"sex": {"female": 0.51, "male": 0.49}}``; an intersection uses the key
    ``"race & sex"`` and values ``"B & female"``). Shares are normalised to sum
    to 1 over the listed values, and rows whose value is not listed are left out
    of the comparison (and reported). Per value, the representation ratio is
    observed share / reference share; a value is under-represented when the
    ratio is below ``ratio_warn`` (warn) or ``ratio_fail`` (fail) **and** the
    upper Wilson bound of its share is below the reference share (so noise in a
    small sample is not flagged). A reference value absent from the data is a
    sampling-bias failure when ``n * reference share >= min_expected_missing``.
    A chi-square goodness-of-fit test per attribute is reported (effective
    counts). Over-representation (ratio above ``1 / ratio_warn``) is reported
    as information.

    Thresholds
    ----------
    min_cell_count : 30
    min_cell_share : 0.01
    min_expected_missing : 5.0
    ratio_warn : 0.8
    ratio_fail : 0.5

    Per-row ``scores`` hold the number of rows in the row's full intersection
    cell (all sensitive attributes together).
    """

    name = "representation"
    title = "Representation of groups and intersections"
    explanation = (
        "Counts the rows of every sensitive group and every intersection of groups, with 95% "
        "intervals for their shares. Absent or tiny intersections mean a model sees (almost) no "
        "examples of those people; with a reference population, groups whose share falls well "
        "below their share of the population point to sampling bias."
    )
    requires = ("sensitive",)
    default_thresholds = {
        "min_cell_count": 30,
        "min_cell_share": 0.01,
        "min_expected_missing": 5.0,
        "ratio_warn": 0.8,
        "ratio_fail": 0.5,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        m = measure_representation(ds, ctx)
        refs = _parse_reference(ctx.reference, m.attributes, m.names) if ctx.reference else {}
        return self.present(m, refs)

    def present(self, m: RepresentationCounts, refs: dict | None = None):
        """Shares, intervals, absent and small cells, the reference comparison, as a :class:`CheckResult`.

        ``refs`` is the parsed reference (:func:`_parse_reference`).
        """
        t = self.thresholds
        n = m.n_rows
        n_eff = m.effective_n
        w_total = m.weight_total
        weighted = m.weighted
        status = "pass"
        findings: list[Finding] = []
        info: list[Finding] = []
        table_rows: list[list] = []
        summary_attrs: dict = {}
        summary_inter: dict = {}
        missing_cells: list[str] = []
        small_cells: list[str] = []
        absent_masks: dict[tuple[str, ...], np.ndarray] = {}
        charts: list[Chart] = []

        for g in m.groupings:
            cols, shape, flat, rows, wsum = g.columns, g.shape, g.cells, g.rows, g.weight
            gname = grouping_name(cols)
            n_cells = g.n_cells
            enumerate_all = g.enumerated
            if not enumerate_all:
                info.append(Finding(
                    f"{gname}: {n_cells:,} possible cells; only the {len(flat):,} that occur were "
                    f"checked (absent cells are not listed above {MAX_ENUMERATED_CELLS:,}).",
                    subject=gname))
            share = wsum / w_total
            low, high = wilson_interval(share * n_eff, np.full(len(share), n_eff))

            # expected rows under independence of the attributes (row counts)
            if enumerate_all and len(cols) > 1:
                expected = np.ones(1)
                for c in cols:
                    marg = m.grouping((c,)).rows / n
                    expected = np.multiply.outer(expected, marg).ravel()
                expected = expected * n
            else:
                expected = None

            absent = rows == 0
            implied = np.zeros(len(rows), dtype=bool)
            if enumerate_all and len(cols) > 2:
                idx = np.unravel_index(flat, shape)
                for r in range(2, len(cols)):
                    for sub in itertools.combinations(range(len(cols)), r):
                        sub_cols = tuple(cols[i] for i in sub)
                        if sub_cols in absent_masks:
                            sub_shape = tuple(shape[i] for i in sub)
                            sub_flat = np.ravel_multi_index(tuple(idx[i] for i in sub), sub_shape)
                            implied |= absent_masks[sub_cols][sub_flat]
            if enumerate_all and len(cols) > 1:
                absent_masks[cols] = absent
            new_absent = absent & ~implied
            small = (~absent) & ((rows < t["min_cell_count"]) | (share < t["min_cell_share"]))

            cell_status = np.full(len(rows), "pass", dtype=object)
            cell_status[small] = "warn"
            if expected is not None:
                fail_absent = new_absent & (expected >= t["min_expected_missing"])
                cell_status[new_absent & ~fail_absent] = "warn"
                cell_status[fail_absent] = "fail"
            else:
                fail_absent = np.zeros(len(rows), dtype=bool)
            labels_needed = np.flatnonzero((rows > 0) | new_absent)
            labels = dict(zip(labels_needed.tolist(), _labels(m, cols, flat[labels_needed], shape), strict=True))

            # findings: absent cells (worst first), then small cells (smallest first)
            order_abs = np.flatnonzero(new_absent)
            if expected is not None and len(order_abs):
                order_abs = order_abs[np.argsort(-expected[order_abs], kind="stable")]
            for i in order_abs[:MAX_FINDINGS_PER_GROUPING]:
                sev = cell_status[i]
                exp_txt = f", although about {expected[i]:.0f} would be expected if {_and_list(cols)} were independent" if expected is not None else ""
                msg = f"No rows for {labels[i]}{exp_txt}."
                if sev == "warn":
                    msg += " (So few are expected that the absence may be chance, but the group is unrepresented.)"
                findings.append(Finding(msg, severity=sev, subject=labels[i], value=0.0))
            if len(order_abs) > MAX_FINDINGS_PER_GROUPING:
                findings.append(Finding(
                    f"{gname}: {len(order_abs) - MAX_FINDINGS_PER_GROUPING} more absent cells (see the table).",
                    severity="fail" if (cell_status[order_abs[MAX_FINDINGS_PER_GROUPING:]] == "fail").any() else "warn",
                    subject=gname))
            order_small = np.flatnonzero(small)
            order_small = order_small[np.argsort(rows[order_small], kind="stable")]
            for i in order_small[:MAX_FINDINGS_PER_GROUPING]:
                if rows[i] < t["min_cell_count"]:
                    why = (f"fewer than {t['min_cell_count']}: estimates for it (rates, errors, "
                           f"fairness metrics) are unreliable")
                else:
                    why = (f"under {t['min_cell_share']:.1%} of the data: a model that optimises average "
                           f"performance gives it little weight")
                findings.append(Finding(
                    f"{labels[i]} has only {int(rows[i])} rows ({share[i]:.2%} of the data), {why}.",
                    severity="warn", subject=labels[i], value=float(rows[i])))
            if len(order_small) > MAX_FINDINGS_PER_GROUPING:
                findings.append(Finding(
                    f"{gname}: {len(order_small) - MAX_FINDINGS_PER_GROUPING} more small cells (see the table).",
                    severity="warn", subject=gname))
            for s in cell_status[(cell_status != "pass")]:
                status = worse(status, s)
            missing_cells += [labels[i] for i in np.flatnonzero(new_absent)]
            small_cells += [labels[i] for i in order_small]

            # summary and table
            shown = np.flatnonzero((rows > 0) | new_absent)
            entries = {}
            for i in shown:
                e = {"rows": int(rows[i]), "share": float(share[i]), "share_low": float(low[i]),
                     "share_high": float(high[i]), "status": str(cell_status[i])}
                if weighted:
                    e["weight"] = float(wsum[i])
                if expected is not None:
                    e["expected_rows_if_independent"] = float(expected[i])
                entries[labels[i]] = e
                table_rows.append([gname, labels[i], int(rows[i])] + ([float(wsum[i])] if weighted else [])
                                  + [float(share[i]), float(low[i]), float(high[i]), str(cell_status[i])])
            if len(cols) == 1:
                summary_attrs[cols[0]] = {"n_values": len(m.names[cols[0]]), "values": entries}
                if m.names[cols[0]][-1] == MISSING_GROUP:
                    n_miss = int(rows[-1])
                    info.append(Finding(
                        f"{n_miss} rows ({n_miss / n:.1%}) have no value for '{cols[0]}'; they form the group "
                        f"'{MISSING_GROUP}'.", subject=cols[0], value=float(n_miss)))
                charts.append(_share_chart(f"Share of each '{cols[0]}' value", entries))
            else:
                summary_inter[gname] = {
                    "n_possible_cells": n_cells,
                    "n_observed_cells": int((rows > 0).sum()),
                    "n_absent_cells": int(new_absent.sum()),
                    "n_absent_implied_by_smaller_intersections": int((absent & implied).sum()),
                    "n_small_cells": int(small.sum()),
                    "smallest_observed_rows": int(rows[rows > 0].min()),
                    "cells": _cap_dict(entries, 1000),
                }
                if len(cols) == len(m.attributes):
                    charts.append(_intersection_chart(gname, entries))

        skipped = m.too_large
        if skipped:
            info.append(Finding(
                f"{len(skipped)} combinations of sensitive attributes have 2**62 possible cells or more and "
                f"were not analysed: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}."))

        # ------------------------------------------------------------ reference population
        ref_summary = {}
        if refs:
            ratio_chart_bars: list[Bar] = []
            for key, (cols, ref) in refs.items():
                res, fnd, st, bars, companion = self._compare_reference(m, key, cols, ref)
                ref_summary[key] = res
                findings.extend(f for f in fnd if f.severity != "info")
                info.extend(f for f in fnd if f.severity == "info")
                status = worse(status, st)
                ratio_chart_bars.extend(bars)
                if len(cols) == 1:
                    for ch in charts:
                        if ch.title == f"Share of each '{cols[0]}' value":
                            ch.bars = _merge_reference_bars(ch.bars, companion, cols[0])
            if ratio_chart_bars:
                charts.append(Chart(
                    title="Representation ratio (observed share / reference share)",
                    bars=ratio_chart_bars[:MAX_BARS], x_label="ratio",
                    reference=1.0, reference_label="parity with the reference population"))

        severity_rank = {"fail": 0, "warn": 1, "info": 2}
        findings.sort(key=lambda f: severity_rank.get(f.severity, 3))
        if not findings:
            findings.append(Finding(
                f"Every group and intersection has at least {t['min_cell_count']} rows and "
                f"{t['min_cell_share']:.1%} of the data.", subject=None))
        cols_t = ["grouping", "group", "rows"] + (["weight"] if weighted else []) + [
            "share", "share low", "share high", "status"]
        order = sorted(range(len(table_rows)), key=lambda i: (table_rows[i][-1] == "pass", i))
        total_rows = len(table_rows)
        kept = [table_rows[i] for i in sorted(order[:MAX_TABLE_ROWS])]
        title = "Rows per group and intersection"
        if total_rows > MAX_TABLE_ROWS:
            title += f" (flagged cells first; {MAX_TABLE_ROWS} of {total_rows} shown, all in the JSON summary)"
        tables = [Table(title, cols_t, kept)]
        if ref_summary:
            tables.append(_reference_table(ref_summary))
        summary = {
            "n_rows": int(n),
            "weighted": weighted,
            "effective_n": float(n_eff),
            "attributes": summary_attrs,
            "intersections": summary_inter,
            "n_absent_cells": len(missing_cells),
            "absent_cells": missing_cells[:100],
            "n_small_cells": len(small_cells),
            "small_cells": small_cells[:100],
        }
        if ref_summary:
            summary["reference"] = ref_summary
        return self.result(
            status=status,
            summary=summary,
            findings=findings + info,
            charts=charts,
            tables=tables,
            scores=m.row_scores,
        )

    # ------------------------------------------------------------------ reference
    def _compare_reference(self, m: RepresentationCounts, key, cols, ref):
        t = self.thresholds
        n = m.n_rows
        n_eff = m.effective_n
        g = m.grouping(cols)
        if g is None:
            raise UnskewInputError(
                f"Reference key {key!r}: the intersection has 2**62 possible cells or more and cannot be compared.")
        seen = g.rows > 0
        flat_obs, rows, wsum = g.cells[seen], g.rows[seen], g.weight[seen]
        labels_obs = _values(m, cols, flat_obs, g.shape)
        obs = {lab: (float(r), float(ws)) for lab, r, ws in zip(labels_obs, rows, wsum, strict=True)}
        in_ref = [v for v in obs if v in ref]
        not_in_ref = {v: int(obs[v][0]) for v in obs if v not in ref}
        w_in = sum(obs[v][1] for v in in_ref)
        rows_in = sum(obs[v][0] for v in in_ref)
        total_w = m.weight_total
        # effective size of the compared rows: scale the overall Kish size
        neff_in = n_eff * (w_in / total_w) if total_w > 0 else 0.0
        values, findings, bars, companion = {}, [], [], {}
        status = "pass"
        f_obs, f_exp = [], []
        for v, rshare in ref.items():
            r, ws = obs.get(v, (0.0, 0.0))
            share = ws / w_in if w_in > 0 else 0.0
            low, high = (float(x) for x in wilson_interval(share * neff_in, neff_in))
            ratio = share / rshare if rshare > 0 else float("inf") if share > 0 else float("nan")
            ratio_low = low / rshare if rshare > 0 else float("nan")
            ratio_high = high / rshare if rshare > 0 else float("nan")
            expected_rows = rshare * rows_in
            st = "pass"
            label = _ref_label(cols, v)
            if r == 0 and rshare > 0:
                st = "fail" if expected_rows >= t["min_expected_missing"] else "warn"
                findings.append(Finding(
                    f"{label} makes up {rshare:.1%} of the reference population but has no rows in the "
                    f"data (about {expected_rows:.0f} expected): sampling bias.",
                    severity=st, subject=label, value=0.0))
            elif rshare > 0 and np.isfinite(ratio) and high < rshare and ratio < t["ratio_warn"]:
                st = "fail" if ratio < t["ratio_fail"] else "warn"
                findings.append(Finding(
                    f"{label} is under-represented: {share:.1%} of the data [95% CI {low:.1%}-{high:.1%}] "
                    f"vs {rshare:.1%} of the reference population (ratio {ratio:.2f}).",
                    severity=st, subject=label, value=ratio))
            elif rshare > 0 and low > rshare and ratio > 1 / t["ratio_warn"]:
                findings.append(Finding(
                    f"{label} is over-represented: {share:.1%} of the data vs {rshare:.1%} of the "
                    f"reference population (ratio {ratio:.2f}).", severity="info", subject=label, value=ratio))
            status = worse(status, st)
            values[v] = {"reference_share": rshare, "observed_share": share, "share_low": low,
                         "share_high": high, "ratio": ratio, "ratio_low": ratio_low,
                         "ratio_high": ratio_high, "rows": int(r), "status": st}
            f_obs.append(share * neff_in)
            f_exp.append(rshare * neff_in)
            bars.append(Bar(label, ratio if np.isfinite(ratio) else 0.0,
                            ratio_low if np.isfinite(ratio_low) else None,
                            ratio_high if np.isfinite(ratio_high) else None, flag=st != "pass"))
            companion[v] = rshare
        if not_in_ref:
            k = sum(not_in_ref.values())
            shown = ", ".join(f"{_ref_label(cols, v)} ({c} rows)" for v, c in list(not_in_ref.items())[:10])
            findings.append(Finding(
                f"{k} rows ({k / n:.1%}) have {key} values that the reference does not list and were "
                f"left out of the comparison: {shown}.", severity="info", subject=key, value=float(k)))
        chi2 = p = None
        dof = None
        f_exp_arr = np.asarray(f_exp)
        keep = f_exp_arr > 0
        if keep.sum() >= 2 and neff_in > 0:
            fo = np.asarray(f_obs)[keep]
            fe = f_exp_arr[keep] * fo.sum() / f_exp_arr[keep].sum()
            res = stats.chisquare(fo, fe)
            chi2, p, dof = float(res.statistic), float(res.pvalue), int(keep.sum() - 1)
        summary = {"attributes": list(cols), "values": values, "chi2": chi2, "dof": dof, "p_value": p,
                   "rows_compared": int(rows_in), "effective_n_compared": float(neff_in),
                   "not_in_reference": not_in_ref,
                   "absent_from_data": [v for v, e in values.items() if e["rows"] == 0 and e["reference_share"] > 0]}
        if p is not None:
            sev = "info"
            findings.append(Finding(
                f"Chi-square goodness of fit of {key} to the reference: chi2 = {chi2:.1f} on {dof} df, "
                f"{fmt_p(p)}.", severity=sev, subject=key, value=p))
        return summary, findings, status, bars, companion


def _ref_label(cols, value: str) -> str:
    parts = value.split(" & ") if len(cols) > 1 else [value]
    return " & ".join(f"{c}={v}" for c, v in zip(cols, parts, strict=True))


def _parse_reference(reference: dict, sensitive: list[str], names: dict[str, list[str]]) -> dict:
    """Validate ``ctx.reference`` and reorder intersection keys to the dataset's order.

    ``sensitive`` are the dataset's sensitive attributes, ``names`` their value names.
    Returns ``{grouping name: (columns, {value: share})}`` with shares summing to 1.
    """
    out = {}
    for key, shares in reference.items():
        attrs = [a.strip() for a in str(key).split(" & ")]
        unknown = [a for a in attrs if a not in sensitive]
        if unknown:
            raise UnskewInputError(
                f"Reference attribute {unknown[0]!r} (key {key!r}) is not a declared sensitive "
                f"attribute ({', '.join(sensitive)}). Declare it with --sensitive or remove it "
                f"from the reference.")
        if len(set(attrs)) != len(attrs):
            raise UnskewInputError(f"Reference key {key!r} repeats an attribute.")
        if not isinstance(shares, dict) or not shares:
            raise UnskewInputError(
                f"Reference entry {key!r} must map values to shares, e.g. {{'female': 0.51, 'male': 0.49}}.")
        order = sorted(range(len(attrs)), key=lambda i: sensitive.index(attrs[i]))
        cols = tuple(attrs[i] for i in order)
        parsed: dict[str, float] = {}
        for val, share in shares.items():
            parts = [p.strip() for p in str(val).split(" & ")] if len(attrs) > 1 else [str(val).strip()]
            if len(parts) != len(attrs):
                raise UnskewInputError(
                    f"Reference value {val!r} for {key!r} must have {len(attrs)} parts separated by "
                    f"' & ' (one per attribute: {', '.join(attrs)}).")
            try:
                s = float(share)
            except (TypeError, ValueError):
                raise UnskewInputError(
                    f"Reference share for {key!r} = {val!r} is {share!r}; it must be a number.") from None
            if not math.isfinite(s) or s < 0:
                raise UnskewInputError(
                    f"Reference share for {key!r} = {val!r} is {share!r}; shares must be numbers >= 0.")
            v = " & ".join(parts[i] for i in order)
            parsed[v] = parsed.get(v, 0.0) + s
        total = sum(parsed.values())
        if total <= 0:
            raise UnskewInputError(f"Reference shares for {key!r} sum to 0; give positive shares.")
        parsed = {v: s / total for v, s in parsed.items()}
        # at least one listed value must occur, otherwise it is almost surely a spelling mismatch
        for j, c in enumerate(cols):
            present_c = set(names[c])
            vals_c = {v.split(" & ")[j] if len(cols) > 1 else v for v in parsed}
            if not vals_c & present_c:
                raise UnskewInputError(
                    f"None of the reference values for '{c}' ({', '.join(sorted(vals_c)[:10])}) occur in "
                    f"the data, whose values are {', '.join(names[c][:10])}. Check the spelling.")
        out[grouping_name(cols)] = (cols, parsed)
    return out


def _and_list(cols) -> str:
    cols = [f"'{c}'" for c in cols]
    return cols[0] if len(cols) == 1 else ", ".join(cols[:-1]) + " and " + cols[-1]


def _cap_dict(d: dict, k: int) -> dict:
    return d if len(d) <= k else dict(list(d.items())[:k])


def _share_chart(title: str, entries: dict) -> Chart:
    bars = [Bar(lab, e["share"], e["share_low"], e["share_high"], flag=e["status"] != "pass")
            for lab, e in entries.items()]
    return Chart(title=title, bars=bars, x_label="share of rows (95% Wilson interval)")


def _merge_reference_bars(bars: list[Bar], companion: dict, col: str) -> list[Bar]:
    """Insert a reference bar after each value's observed bar."""
    out = []
    seen = set()
    for b in bars:
        out.append(b)
        v = b.label.split("=", 1)[1] if "=" in b.label else b.label
        if v in companion:
            out.append(Bar(f"{b.label} (reference)", companion[v]))
            seen.add(v)
    for v, s in companion.items():
        if v not in seen:
            out.append(Bar(f"{col}={v} (absent from data)", 0.0, flag=True))
            out.append(Bar(f"{col}={v} (reference)", s))
    return out


def _intersection_chart(gname: str, entries: dict) -> Chart:
    items = sorted(entries.items(), key=lambda kv: kv[1]["share"])
    title = f"Share of each intersection ({gname})"
    if len(items) > MAX_BARS:
        title += f": the {MAX_BARS} smallest of {len(items)}"
        items = items[:MAX_BARS]
    return Chart(
        title=title,
        bars=[Bar(lab, e["share"], e["share_low"], e["share_high"], flag=e["status"] != "pass")
              for lab, e in items],
        x_label="share of rows (95% Wilson interval)",
    )


def _reference_table(ref_summary: dict) -> Table:
    rows = []
    for key, res in ref_summary.items():
        for v, e in res["values"].items():
            rows.append([key, v, e["rows"], e["observed_share"], e["reference_share"], e["ratio"],
                         e["ratio_low"], e["ratio_high"], e["status"]])
    return Table(
        "Observed vs reference shares",
        ["attribute", "value", "rows", "observed share", "reference share", "ratio", "ratio low",
         "ratio high", "status"],
        rows,
    )


__all__ = ["GroupingCounts", "RepresentationCheck", "RepresentationCounts", "measure_representation"]
