"""Check: exact duplicates, near duplicates and duplicates with conflicting labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import wilson_interval
from ..data import Dataset
from ..exceptions import UnskewInputError
from ..report import MAX_SAMPLE_ROWS, Bar, Chart, Finding, Table, sample_table
from ._base import AuditContext, Check, register_check
from ._common import cap_status, fmt_p, group_totals, sensitive_codes, worse

_INT_LIMIT = 2**62


def column_codes(s: pd.Series) -> tuple[np.ndarray, int]:
    """Dense integer codes of a column (missing values get their own code) and their count."""
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), max(len(uniques), 1)


def combine_codes(parts: list[tuple[np.ndarray, int]], n: int) -> tuple[np.ndarray, int]:
    """Dense code of each row for the combination of several coded columns.

    Exact (no hashing): codes are combined in mixed radix and renumbered with
    :func:`pandas.factorize` whenever the radix product would overflow int64.
    """
    key = np.zeros(n, dtype=np.int64)
    bound = 1
    for codes, card in parts:
        if bound * card >= _INT_LIMIT:
            key, uniq = pd.factorize(key)
            key = np.asarray(key, dtype=np.int64)
            bound = len(uniq)
        key = key * card + codes
        bound *= card
    key, uniq = pd.factorize(key)
    return np.asarray(key, dtype=np.int64), len(uniq)


def distinct_per_group(key: np.ndarray, n_groups: int, other: np.ndarray, n_other: int) -> np.ndarray:
    """Number of distinct values of ``other`` within each group of ``key``."""
    pairs = pd.unique(key * n_other + other)
    return np.bincount(pairs // n_other, minlength=n_groups)


# --------------------------------------------------------------------------- measuring
@dataclass
class GroupDuplicateCounts:
    """Per value of one sensitive attribute: rows, rows in a duplicate group, rows with conflicting labels."""

    names: list[str]
    rows: np.ndarray
    in_duplicate_groups: np.ndarray
    conflicting: np.ndarray


@dataclass
class DuplicateMeasures:
    """Counts of exact, near and conflicting duplicates, overall and per sensitive group.

    Everything but ``row_group_size`` and the two samples is a count; the
    per-group arrays are counts per group, which add up over partitions once
    each row's duplicate flags are known (finding duplicates itself needs all
    rows with the same key together, a group-by on the key columns).

    Attributes
    ----------
    n_rows : int
    key_columns : list of str
        The columns rows are compared on (features and sensitive attributes).
    n_unique_rows, n_duplicate_groups, n_rows_in_duplicate_groups, largest_group : int
    max_distinct : int
        Most distinct values in one key column (coarse data when small).
    target : str or None
    n_exact_duplicate_rows : int or None
        Rows that repeat an earlier row including the target.
    n_conflicting_groups, n_conflicting_rows : int or None
        Groups of identical rows with different targets, and their rows.
    n_near_duplicate_rows : int or None
        ``None`` when no key column is numeric.
    n_near_conflicting_rows : int or None
    split : str or None
    n_rows_duplicated_across_splits : int or None
    groups : dict
        ``{attribute: GroupDuplicateCounts}``.
    row_group_size : ndarray of int64
        Size of each row's exact-duplicate group (1 = unique).
    conflict_sample, duplicate_sample : (DataFrame, int) or None
        The first rows of each kind (copies together) and how many there are.
    """

    n_rows: int
    key_columns: list[str]
    n_unique_rows: int = 0
    n_duplicate_groups: int = 0
    n_rows_in_duplicate_groups: int = 0
    largest_group: int = 0
    max_distinct: int = 0
    target: str | None = None
    n_exact_duplicate_rows: int | None = None
    n_conflicting_groups: int | None = None
    n_conflicting_rows: int | None = None
    n_near_duplicate_rows: int | None = None
    n_near_conflicting_rows: int | None = None
    split: str | None = None
    n_rows_duplicated_across_splits: int | None = None
    groups: dict[str, GroupDuplicateCounts] = field(default_factory=dict)
    row_group_size: np.ndarray | None = None
    conflict_sample: tuple[pd.DataFrame, int] | None = None
    duplicate_sample: tuple[pd.DataFrame, int] | None = None


def measure_duplicates(ds: Dataset, ctx: AuditContext | None = None, *, near_tolerance: float = 0.05,
                       ) -> DuplicateMeasures:
    """Find exact, near and conflicting duplicates and count them overall and per sensitive group.

    Pure measurement (see :class:`DuplicatesCheck` for the method and
    :meth:`DuplicatesCheck.present` for the judgement).

    Raises
    ------
    UnskewInputError
        When ``near_tolerance`` is not positive.
    """
    frame = ds.frame
    n = len(frame)
    roles = {ds.target, ds.predictions, ds.scores, ds.weights, ds.split} - {None}
    key_cols = [c for c in dict.fromkeys(list(ds.features) + list(ds.sensitive)) if c not in roles]
    if not key_cols:
        return DuplicateMeasures(n_rows=int(n), key_columns=[])
    if near_tolerance <= 0:
        raise UnskewInputError(
            f"Threshold near_tolerance of check 'duplicates' must be > 0, got {near_tolerance}.")

    parts = {c: column_codes(frame[c]) for c in key_cols}
    key, n_groups = combine_codes([parts[c] for c in key_cols], n)
    sizes = np.bincount(key, minlength=n_groups)
    row_size = sizes[key]
    in_dup = row_size > 1
    m = DuplicateMeasures(
        n_rows=int(n), key_columns=key_cols, n_unique_rows=int(n_groups),
        n_duplicate_groups=int((sizes > 1).sum()), n_rows_in_duplicate_groups=int(in_dup.sum()),
        largest_group=int(sizes.max()), max_distinct=int(max(card for _, card in parts.values())),
        target=ds.target, split=ds.split, row_group_size=row_size)

    conflict_rows = np.zeros(n, dtype=bool)
    if ds.target:
        ycodes, ncls = column_codes(ds.y)
        n_distinct = distinct_per_group(key, n_groups, ycodes, ncls)
        conflict_group = n_distinct > 1
        conflict_rows = conflict_group[key]
        m.n_exact_duplicate_rows = int(n - int(n_distinct.sum()))
        m.n_conflicting_groups = int(conflict_group.sum())
        m.n_conflicting_rows = int(conflict_rows.sum())

    near = _near_duplicates(ds, key_cols, parts, key, n_groups, float(near_tolerance))
    if near is not None:
        near_rows, near_conf = near
        m.n_near_duplicate_rows = int(near_rows.sum())
        m.n_near_conflicting_rows = int(near_conf.sum()) if near_conf is not None else None

    if ds.split:
        scodes, nsplit = column_codes(frame[ds.split])
        cross = distinct_per_group(key, n_groups, scodes, nsplit) > 1
        m.n_rows_duplicated_across_splits = int(cross[key].sum())

    if ds.sensitive:
        sc = sensitive_codes(ds, ctx)
        for col in ds.sensitive:
            codes, labels = sc[col]
            k = len(labels)
            rows, _, _ = group_totals(codes, k, None)
            m.groups[col] = GroupDuplicateCounts(
                list(labels), rows, np.bincount(codes, weights=in_dup.astype(float), minlength=k),
                np.bincount(codes, weights=conflict_rows.astype(float), minlength=k))

    # capped samples of flagged rows, grouped so copies sit together
    show = key_cols + ([ds.target] if ds.target else [])
    if conflict_rows.any():
        idx = np.flatnonzero(conflict_rows)
        idx = idx[np.argsort(key[idx], kind="stable")]
        m.conflict_sample = (frame.iloc[idx[:MAX_SAMPLE_ROWS]][show], len(idx))
    if n - n_groups:
        idx = np.flatnonzero(in_dup & ~conflict_rows)
        if len(idx):
            idx = idx[np.argsort(key[idx], kind="stable")]
            m.duplicate_sample = (frame.iloc[idx[:MAX_SAMPLE_ROWS]][show], len(idx))
    return m


# --------------------------------------------------------------------------- the check
@register_check
class DuplicatesCheck(Check):
    """Exact duplicates, near duplicates, and identical rows with different labels.

    *Key.* Rows are compared on their descriptive columns: the features plus
    the sensitive attributes (not the target, predictions, scores, weights or
    split). Missing values compare equal to each other.

    *Exact duplicates* are found without hashing collisions: every column is
    factorised (``pandas.factorize``) and the codes are combined in mixed
    radix, so the cost is a few vectorised passes over the data. A row is a
    *redundant copy* when an earlier row has the same key; ``duplicate_warn``
    and ``duplicate_fail`` apply to the share of redundant copies.

    *Conflicting labels*: groups of identical rows whose target values differ
    (the same input with different answers). ``conflict_warn`` and
    ``conflict_fail`` apply to the share of rows in such groups.

    *Near duplicates* (approximate, by quantisation): numeric (and datetime)
    columns are standardised and rounded down to multiples of
    ``near_tolerance`` standard deviations, on two grids offset by half a
    step (so two values closer than half a step share a bucket on at least one
    grid); other columns must match exactly. A row is a near duplicate when
    its bucket, on either grid, holds another row that is not its exact
    duplicate. Two values up to one step apart can share a bucket and values
    just over half a step apart can be missed, so the count is approximate;
    it is exact-linear in time, which keeps it fast on millions of rows. The
    share of such rows at or above ``near_warn`` is a warning.

    *Coarse data.* When no key column has distinct values for at least
    ``coarse_unique_share`` of the rows (no identifier-like or continuous
    column), different people can share every value, so identical rows are
    expected and not necessarily errors: the duplicate and conflict statuses
    are then capped at warn and the findings say so.

    With sensitive attributes, the share of rows that have an identical twin
    is compared across the groups of each attribute with at least
    ``min_group_size`` rows (chi-square test); a difference of at least
    ``group_gap_warn`` with ``p < alpha`` is a warning.
    With a split column, identical rows that fall in different splits
    (train/test leakage) are counted.

    Counts are of rows: sample weights are not used, since a duplicate is a
    property of the records themselves.

    Per-row ``scores`` hold the size of the row's exact-duplicate group
    (1 = unique).

    Thresholds
    ----------
    duplicate_warn : 0.01
    duplicate_fail : 0.1
    conflict_warn : 0.001
    conflict_fail : 0.01
    near_warn : 0.05
    near_tolerance : 0.05
    coarse_unique_share : 0.5
    group_gap_warn : 0.02
    alpha : 0.01
    min_group_size : 30
    """

    name = "duplicates"
    title = "Duplicates and conflicting labels"
    explanation = (
        "Finds rows that repeat the same values (exactly or nearly), and identical rows with "
        "different labels. Duplicates give some records extra weight and leak between training "
        "and test data; conflicting labels are contradictory examples a model cannot fit."
    )
    requires = ()
    default_thresholds = {
        "duplicate_warn": 0.01,
        "duplicate_fail": 0.1,
        "conflict_warn": 0.001,
        "conflict_fail": 0.01,
        "near_warn": 0.05,
        "near_tolerance": 0.05,
        "coarse_unique_share": 0.5,
        "group_gap_warn": 0.02,
        "alpha": 0.01,
        "min_group_size": 30,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        return self.present(measure_duplicates(ds, ctx, near_tolerance=self.thresholds["near_tolerance"]))

    def present(self, m: DuplicateMeasures):
        """Statuses, findings, per-group comparison, charts and sample tables from the counts."""
        t = self.thresholds
        n = m.n_rows
        key_cols = m.key_columns
        if not key_cols:
            return self.result(status="pass", findings=[Finding(
                "No feature or sensitive columns to compare; duplicates were not searched.")],
                summary={"key_columns": []})
        n_groups = m.n_unique_rows
        n_redundant = n - n_groups
        max_card = m.max_distinct
        coarse = max_card < t["coarse_unique_share"] * n

        status = "pass"
        findings: list[Finding] = []
        info: list[Finding] = []
        summary: dict = {
            "n_rows": int(n),
            "key_columns": key_cols,
            "n_unique_rows": int(n_groups),
            "n_duplicate_rows": int(n_redundant),
            "duplicate_share": n_redundant / n,
            "n_duplicate_groups": m.n_duplicate_groups,
            "n_rows_in_duplicate_groups": m.n_rows_in_duplicate_groups,
            "largest_group": m.largest_group,
            "coarse_features": bool(coarse),
            "most_distinct_values_in_a_key_column": int(max_card),
        }
        cap = "warn" if coarse else "fail"
        coarse_note = " (Coarse data: see below.)" if coarse else ""
        if coarse:
            info.insert(0, Finding(
                f"No key column is close to unique (at most {max_card} distinct values for {n} rows), so "
                f"different people can share every value: identical rows and conflicting labels are "
                f"expected and not necessarily errors. Their status is capped at warn."))

        dup_share = n_redundant / n
        st = cap_status(self.status_for(dup_share, "duplicate_warn", "duplicate_fail"), cap)
        status = worse(status, st)
        if n_redundant:
            f = Finding(
                f"{n_redundant} rows ({dup_share:.2%}) repeat an earlier row exactly on {len(key_cols)} "
                f"columns, in {summary['n_duplicate_groups']} groups (largest: {m.largest_group} "
                f"copies).{coarse_note}", severity=st if st != "pass" else "info", value=dup_share)
            (findings if st != "pass" else info).append(f)
        else:
            info.append(Finding(f"No two rows are identical on the {len(key_cols)} key columns."))

        if m.target:
            n_conf_rows = m.n_conflicting_rows
            conf_share = n_conf_rows / n
            summary.update(
                n_exact_duplicate_rows=m.n_exact_duplicate_rows,
                n_conflicting_groups=m.n_conflicting_groups,
                n_conflicting_rows=n_conf_rows,
                conflicting_share=conf_share,
            )
            info.append(Finding(
                f"{m.n_exact_duplicate_rows} rows repeat an earlier row including the target '{m.target}'.",
                value=float(m.n_exact_duplicate_rows)))
            st = cap_status(self.status_for(conf_share, "conflict_warn", "conflict_fail"), cap)
            status = worse(status, st)
            if n_conf_rows:
                f = Finding(
                    f"{m.n_conflicting_groups} groups of identical rows ({n_conf_rows} rows, "
                    f"{conf_share:.2%}) have different values of '{m.target}': the same input with "
                    f"contradictory labels.{coarse_note}", severity=st if st != "pass" else "info",
                    value=conf_share)
                (findings if st != "pass" else info).append(f)
        else:
            summary["n_exact_duplicate_rows"] = int(n_redundant)

        # near duplicates
        if m.n_near_duplicate_rows is None:
            info.append(Finding("No numeric columns: near duplicates equal exact duplicates here."))
            summary["n_near_duplicate_rows"] = None
        else:
            nn = m.n_near_duplicate_rows
            share = nn / n
            st = cap_status(self.status_for(share, "near_warn", "near_warn"), "warn")
            status = worse(status, st)
            summary.update(n_near_duplicate_rows=nn, near_duplicate_share=share,
                           n_near_duplicate_rows_with_conflicting_labels=m.n_near_conflicting_rows,
                           near_method=f"quantised to {t['near_tolerance']} SD on two offset grids")
            if nn:
                conf_txt = (f"; {m.n_near_conflicting_rows} of them sit with a row of another label"
                            if m.n_near_conflicting_rows is not None else "")
                f = Finding(
                    f"{nn} rows ({share:.2%}) have a near duplicate (numeric values within about "
                    f"{t['near_tolerance']} standard deviations, other values equal) that is not an exact "
                    f"copy{conf_txt}.", severity=st if st != "pass" else "info", value=share)
                (findings if st != "pass" else info).append(f)

        # leakage across splits
        if m.split:
            leak = m.n_rows_duplicated_across_splits
            summary["n_rows_duplicated_across_splits"] = leak
            if leak:
                sev = cap_status(self.status_for(leak / n, "duplicate_warn", "duplicate_warn"), "warn")
                status = worse(status, sev)
                (findings if sev != "pass" else info).append(Finding(
                    f"{leak} rows have an identical copy in another '{m.split}' split: test rows the "
                    f"model has seen in training.", severity=sev if sev != "pass" else "info",
                    subject=m.split, value=leak / n))

        # per-group duplicate rates
        charts: list[Chart] = []
        tables: list[Table] = []
        per_group = {}
        if m.groups:
            overall = m.n_rows_in_duplicate_groups / n
            for col, gcounts in m.groups.items():
                labels, rows, d, cf = gcounts.names, gcounts.rows, gcounts.in_duplicate_groups, gcounts.conflicting
                with np.errstate(invalid="ignore", divide="ignore"):
                    rate = d / rows
                low, high = wilson_interval(d, rows)
                has = rows > 0
                p = None
                if has.sum() >= 2 and 0 < d.sum() < n:
                    tab = np.column_stack([d[has], rows[has] - d[has]])
                    p = float(stats.chi2_contingency(tab, correction=False)[1])
                elig = has & (rows >= t["min_group_size"])
                masked = np.where(elig, rate, np.nan)
                gap = float(np.nanmax(masked) - np.nanmin(masked)) if elig.sum() >= 2 else 0.0
                st = "warn" if (p is not None and p < t["alpha"] and gap >= t["group_gap_warn"]) else "pass"
                status = worse(status, st)
                per_group[col] = {
                    "groups": {f"{col}={labels[i]}": {"rows": int(rows[i]), "in_duplicate_groups": int(d[i]),
                                                     "share": float(rate[i]), "low": float(low[i]),
                                                     "high": float(high[i]), "conflicting_rows": int(cf[i])}
                               for i in np.flatnonzero(has)},
                    "gap": gap, "p_value": p, "status": st,
                }
                if st != "pass":
                    hi, lo = np.nanargmax(masked), np.nanargmin(masked)
                    findings.append(Finding(
                        f"Duplicated rows are more common for {col}={labels[hi]} ({rate[hi]:.1%}) than for "
                        f"{col}={labels[lo]} ({rate[lo]:.1%}; chi-square {fmt_p(p)}).{coarse_note}",
                        severity=st, subject=col, value=gap))
                if d.sum():
                    charts.append(Chart(
                        title=f"Share of rows with an identical twin, by {col}",
                        bars=[Bar(f"{col}={labels[i]}", float(rate[i]), float(low[i]), float(high[i]))
                              for i in np.flatnonzero(has)],
                        x_label="share of rows (95% Wilson interval)",
                        reference=float(overall), reference_label="overall"))
            tables.append(Table(
                "Duplicates per group",
                ["group", "rows", "rows in duplicate groups", "share", "low", "high", "rows with conflicting labels"],
                [[g, e["rows"], e["in_duplicate_groups"], e["share"], e["low"], e["high"], e["conflicting_rows"]]
                 for col_res in per_group.values() for g, e in col_res["groups"].items()]))
        summary["per_group"] = per_group

        # capped samples of flagged rows, grouped so copies sit together
        if m.conflict_sample is not None:
            head, total = m.conflict_sample
            tables.append(_sample(
                f"Identical rows with conflicting labels (sample: {min(total, MAX_SAMPLE_ROWS)} of "
                f"{total} rows)", head, total))
        if m.duplicate_sample is not None:
            head, total = m.duplicate_sample
            tables.append(_sample(
                f"Exact duplicate rows (sample: {min(total, MAX_SAMPLE_ROWS)} of {total} rows)", head, total))
        order = {"fail": 0, "warn": 1}
        findings.sort(key=lambda f: order.get(f.severity, 2))
        return self.result(status=status, summary=summary, findings=findings + info, charts=charts,
                           tables=tables, scores=m.row_group_size)


def _sample(title: str, head: pd.DataFrame, total: int) -> Table:
    table = sample_table(title, head)
    table.n_rows_total = int(total)
    return table


def _near_duplicates(ds: Dataset, key_cols, parts, key, n_groups, tol: float):
    """Boolean masks: rows with a non-identical near twin; those whose bucket mixes labels."""
    frame = ds.frame
    n = len(frame)
    num_cols = [c for c in key_cols if ds.column_types.get(c) in ("numeric", "datetime")]
    if not num_cols:
        return None
    scaled = {}
    for c in num_cols:
        s = frame[c]
        if ds.column_types.get(c) == "datetime":
            x = pd.to_datetime(s).astype("int64").to_numpy(dtype=float)
            x[s.isna().to_numpy()] = np.nan
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        mu = np.nanmean(x) if np.isfinite(x).any() else 0.0
        sd = np.nanstd(x) if np.isfinite(x).any() else 0.0
        scaled[c] = (x - mu) / (sd if sd > 0 else 1.0) / tol
    ycodes = ncls = None
    if ds.target:
        ycodes, ncls = column_codes(ds.y)
    near = np.zeros(n, dtype=bool)
    near_conf = np.zeros(n, dtype=bool) if ds.target else None
    for offset in (0.0, 0.5):
        bucket_parts = []
        for c in key_cols:
            if c in scaled:
                q = np.floor(scaled[c] + offset)
                q = np.where(np.isfinite(q), q, np.iinfo(np.int64).min).astype(np.int64)
                bucket_parts.append(column_codes(pd.Series(q, copy=False)))
            else:
                bucket_parts.append(parts[c])
        bucket, nb = combine_codes(bucket_parts, n)
        multi = distinct_per_group(bucket, nb, key, n_groups) > 1
        near |= multi[bucket]
        if ds.target:
            mixed = distinct_per_group(bucket, nb, ycodes, ncls) > 1
            near_conf |= (multi & mixed)[bucket]
    if near_conf is not None:
        near_conf &= near
    return near, near_conf


__all__ = ["DuplicateMeasures", "DuplicatesCheck", "GroupDuplicateCounts", "measure_duplicates"]
