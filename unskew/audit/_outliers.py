"""Check: outlying rows (robust statistics and an isolation forest), overall and per group."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import Dataset
from ..report import MAX_SAMPLE_ROWS, Finding, Table, sample_table
from ._base import AuditContext, Check, register_check
from ._common import (
    GROUP_RATE_COLUMNS,
    MAX_TABLE_ROWS,
    capped_sample,
    finding_order,
    flag_rates_by_group,
    fmt_p,
    group_rate_charts,
    group_rate_rows,
    judge_group_rate,
    worse,
)
from ._features import encoded_features

#: MAD of a normal distribution in units of its standard deviation.
_MAD_NORMAL = 0.6744897501960817
#: Mean absolute deviation of a normal distribution, inverted (sqrt(pi / 2)).
_MEANAD_NORMAL = 1.2533141373155001


def _side_scale(dev: np.ndarray) -> float:
    """Robust scale of non-negative deviations: MAD / 0.6745, or 1.2533 x their mean when the MAD is 0."""
    if len(dev) == 0:
        return np.nan
    mad = float(np.median(dev))
    if mad > 0:
        return mad / _MAD_NORMAL
    mean = float(dev.mean())
    return mean * _MEANAD_NORMAL if mean > 0 else np.nan


def _double_mad_z(x: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, dict]:
    med = float(np.median(ref))
    lo = _side_scale(med - ref[ref <= med])
    hi = _side_scale(ref[ref >= med] - med)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(x >= med, (x - med) / hi, (med - x) / lo)
    return z, {"median": med, "scale_low": lo, "scale_high": hi}


#: Medians and MADs are estimated on at most this many values of a column
#: (a uniform random sample; their standard error is then below 0.3 % of the scale).
MAX_STAT_ROWS = 200_000


def robust_z(x: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """Absolute robust z-score of every value of one numeric column.

    Double MAD: deviations above the median are divided by the MAD of the
    values above it, deviations below by the MAD of the values below (each
    MAD scaled by 1/0.6745 so that a normal column gets its standard
    deviation), which keeps skewed columns from flagging their long tail. A
    side whose MAD is 0 uses 1.2533 times its mean absolute deviation.

    When more than half of the values equal the median (zero-inflated
    columns such as capital gains), those values get 0 and the others are
    scored against the distribution of the values that differ from the
    median, so that having a non-zero value is not in itself extreme.

    Missing values get NaN; a constant column gets 0. The medians and MADs
    of a column with more than 200,000 values are estimated on a uniform
    random sample of 200,000 of them (``rng``); every value is scored.

    Returns
    -------
    z : ndarray of float
    info : dict
        ``median``, ``scale_low``, ``scale_high`` and ``zero_inflated``.
    """
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    v = x[ok]
    if len(v) == 0:
        return np.full(len(x), np.nan), {"median": None, "scale_low": None, "scale_high": None,
                                          "zero_inflated": False}
    rng = rng or np.random.default_rng(0)

    def sample(a):
        return a if len(a) <= MAX_STAT_ROWS else a[rng.choice(len(a), MAX_STAT_ROWS, replace=False, shuffle=False)]

    ref = sample(v)
    med = float(np.median(ref))
    if np.median(np.abs(ref - med)) > 0:
        z, info = _double_mad_z(x, ref)
        info["zero_inflated"] = False
    else:
        tail = sample(v[v != med])
        if len(tail) == 0:
            z = np.zeros(len(x))
            info = {"median": med, "scale_low": 0.0, "scale_high": 0.0}
        else:
            zt, info = _double_mad_z(x, tail)
            z = np.where(x == med, 0.0, zt)
            info["mode"] = med
        info["zero_inflated"] = True
    z = np.where(ok, np.nan_to_num(z, nan=0.0, posinf=0.0), np.nan)
    return z, info


# --------------------------------------------------------------------------- measuring
@dataclass
class OutlierMeasures:
    """Robust z-scores, isolation-forest scores and flagged rows, overall and per sensitive group.

    Per row: ``robust_z`` (largest robust z-score over the numeric columns),
    ``extreme_column`` (where it was reached, or ``(combination)`` when the
    forest scores higher), ``n_extreme_cells``, ``model_z``, ``score`` and
    ``is_outlier`` (score at or above ``z_threshold``). ``column_stats`` and
    ``model`` describe the robust statistics and the forest; ``by_group``
    holds the flagged rows per group against the rest
    (:func:`._common.flag_rates_by_group`: counts of rows and flagged rows per
    group, with their tests). ``sample`` is the first 20 outlier rows, most
    extreme first, and the number of outliers.
    """

    n_rows: int
    weighted: bool
    z_threshold: float
    weight_total: float
    outlier_weight: float
    column_stats: dict
    column_rows: list
    model: dict
    robust_z: np.ndarray
    model_z: np.ndarray
    score: np.ndarray
    is_outlier: np.ndarray
    n_extreme_cells: np.ndarray
    extreme_column: pd.Categorical
    by_group: dict | None
    sample: tuple[pd.DataFrame, int] | None
    notes: list[str]


def measure_outliers(ds: Dataset, ctx: AuditContext | None = None, *, z_threshold: float = 5.0,
                     max_fit_rows: int = 100_000, n_estimators: int = 100, min_group_size: int = 30,
                     ) -> OutlierMeasures:
    """Score every row for outlyingness and count the outliers per sensitive group (no judgement)."""
    thr = float(z_threshold)
    _, enc = encoded_features(ds, ctx)
    n = len(ds)
    # ---------------------------------------------------------------- robust part
    num_idx = [j for j, s in enumerate(enc.sources)
               if ds.column_types.get(s) == "numeric" and enc.names[j] == s]
    best = np.zeros(n)
    best_col = np.full(n, -1, dtype=np.int64)
    n_extreme = np.zeros(n, dtype=np.int64)
    col_rows = []
    col_summary = {}
    random_state = ctx.random_state if ctx is not None else 0
    stat_rng = np.random.default_rng(random_state)
    for j in num_idx:
        z, info = robust_z(enc.X[:, j], stat_rng)
        zz = np.nan_to_num(z, nan=0.0)
        ext = zz >= thr
        n_extreme += ext
        better = zz > best
        best = np.where(better, zz, best)
        best_col = np.where(better, j, best_col)
        cnt = int(ext.sum())
        col_summary[enc.names[j]] = {**info, "extreme_cells": cnt, "extreme_share": cnt / n}
        col_rows.append([enc.names[j], info["median"], info["scale_low"], info["scale_high"],
                         bool(info["zero_inflated"]), cnt, cnt / n])
    # ---------------------------------------------------------------- model part
    model_z = np.zeros(n)
    model_info: dict = {"used": False}
    if enc.X.shape[1] > 0 and n >= 10:
        from sklearn.ensemble import IsolationForest

        Xd = enc.numeric()
        rng = np.random.default_rng(random_state)
        fit_rows = capped_sample(np.arange(n), int(max_fit_rows), rng)
        forest = IsolationForest(n_estimators=int(n_estimators), max_samples=min(256, len(fit_rows)),
                                 random_state=random_state)
        forest.fit(Xd[fit_rows], sample_weight=None if ds.sample_weight is None
                   else ds.sample_weight[fit_rows])
        from joblib import parallel_config

        # scoring every row is the slow part; trees release the GIL, so threads help
        with parallel_config(backend="threading", n_jobs=min(os.cpu_count() or 1, 8)):
            anomaly = -forest.score_samples(Xd)
        med = float(np.median(anomaly))
        scale = _side_scale(np.abs(anomaly - med))
        if np.isfinite(scale) and scale > 0:
            model_z = np.maximum((anomaly - med) / scale, 0.0)
        model_info = {"used": True, "fit_rows": int(len(fit_rows)), "n_estimators": int(n_estimators),
                      "median_anomaly_score": med, "scale": scale,
                      "flagged_by_model": int((model_z >= thr).sum())}
    score = np.maximum(best, model_z)
    is_out = score >= thr
    w = ds.sample_weight
    W = float(n if w is None else w.sum())
    ext_code = np.where((best_col >= 0) & (best >= model_z), best_col, len(enc.names))
    names = list(enc.names) + ["(combination)"]
    ext_col = (pd.Categorical.from_codes(ext_code, categories=names) if len(set(names)) == len(names)
               else pd.Categorical(np.asarray(names, dtype=object)[ext_code]))
    by_group = flag_rates_by_group(ds, ctx, is_out, min_group_size=min_group_size) if ds.sensitive else None
    sample = None
    n_out = int(is_out.sum())
    if n_out:
        order = np.flatnonzero(is_out)
        order = order[np.argsort(-score[order], kind="stable")][:MAX_SAMPLE_ROWS]
        cols = list(dict.fromkeys([*ds.sensitive, *([ds.target] if ds.target else []), *ds.features[:8]]))
        frame = ds.frame.loc[order, cols].copy()
        frame["outlier_score"] = score[order]
        frame["extreme_column"] = np.asarray(ext_col[order], dtype=object)
        sample = (frame, n_out)
    return OutlierMeasures(
        n_rows=int(n), weighted=w is not None, z_threshold=thr, weight_total=W,
        outlier_weight=float(n_out if w is None else w[is_out].sum()), column_stats=col_summary,
        column_rows=col_rows, model=model_info, robust_z=best, model_z=model_z, score=score, is_outlier=is_out,
        n_extreme_cells=n_extreme, extreme_column=ext_col, by_group=by_group, sample=sample,
        notes=list(enc.notes))


# --------------------------------------------------------------------------- the check
@register_check
class OutliersCheck(Check):
    """Rows with extreme values, and whether they concentrate in a sensitive group.

    Two detectors, both on a robust z scale:

    * *Robust statistics*, per numeric column (not boolean, datetime or
      derived text columns): the double-MAD robust z-score of every cell (see
      :func:`robust_z`); a cell is *extreme* when ``|z| >= z_threshold``. The
      row's robust score is its largest ``|z|``.
    * *Model-based*: an :class:`~sklearn.ensemble.IsolationForest` (100
      trees, 256 rows per tree) on all encoded features (categorical levels
      by their frequency, missing values by the median), fitted on a uniform
      random sample of at most ``max_fit_rows`` rows and scoring every row.
      Its anomaly score is turned into a robust z-score over all rows
      (median and MAD of the scores), so it picks up rows that are unusual
      as a combination even when no single value is extreme.

    The combined ``outlier_score`` is the larger of the two z-scores and a row
    is an outlier when it reaches ``z_threshold`` (5 by default: the
    Iglewicz-Hoaglin 3.5 is meant for small samples; with millions of cells
    a stricter cut keeps chance extremes of a normal column below one in a
    million).

    Per group: the share of outlier rows in every sensitive group and
    intersection with a 95 % Wilson interval, against the rest of the rows
    (ratio, difference, two-proportion z-test, Benjamini-Hochberg q-values).

    Status: the overall outlier share against ``rate_warn`` / ``rate_fail``; a
    group whose share is significantly higher than the rest's (``q < alpha``)
    by at least ``min_difference`` with a ratio at or above ``ratio_warn`` /
    ``ratio_fail`` raises it to warn / fail: outliers (often data-entry or
    measurement errors) concentrated in one group degrade a model for that
    group.

    ``scores`` is a DataFrame aligned with the rows: ``outlier_score``,
    ``robust_z`` (largest cell z), ``extreme_column``, ``n_extreme_cells``,
    ``model_z`` (isolation-forest z) and ``is_outlier``.

    Thresholds
    ----------
    z_threshold : 5.0
    rate_warn : 0.05
    rate_fail : 0.15
    ratio_warn : 2.0
    ratio_fail : 4.0
    min_difference : 0.01
    alpha : 0.01
    min_group_size : 30
    max_fit_rows : 100000
    n_estimators : 100
    """

    name = "outliers"
    title = "Outliers"
    explanation = (
        "Flags rows with extreme values, by robust z-scores per numeric column (median and MAD) and "
        "by an isolation forest on all features, and compares the share of such rows across "
        "sensitive groups. Outliers concentrated in one group often mean data-entry or measurement "
        "problems that hurt a model for that group."
    )
    requires = ()
    default_thresholds = {
        "z_threshold": 5.0,
        "rate_warn": 0.05,
        "rate_fail": 0.15,
        "ratio_warn": 2.0,
        "ratio_fail": 4.0,
        "min_difference": 0.01,
        "alpha": 0.01,
        "min_group_size": 30,
        "max_fit_rows": 100_000,
        "n_estimators": 100,
    }

    def run(self, ds: Dataset, ctx: AuditContext):
        t = self.thresholds
        return self.present(measure_outliers(
            ds, ctx, z_threshold=float(t["z_threshold"]), max_fit_rows=int(t["max_fit_rows"]),
            n_estimators=int(t["n_estimators"]), min_group_size=t["min_group_size"]))

    def present(self, m: OutlierMeasures):
        """Status, findings, per-group judgement, charts, tables and per-row scores from the measurements."""
        t = self.thresholds
        thr = m.z_threshold
        n = m.n_rows
        col_summary, col_rows, model_info = m.column_stats, m.column_rows, m.model
        best, model_z, score, is_out = m.robust_z, m.model_z, m.score, m.is_outlier
        n_out = int(is_out.sum())
        rate = float(n_out / n if not m.weighted else m.outlier_weight / m.weight_total)
        status = self.status_for(rate, "rate_warn", "rate_fail")
        findings = [Finding(
            f"{n_out:,} of {n:,} rows ({rate:.2%}) are outliers (robust z-score >= {thr:g} in a numeric column "
            f"or by the isolation forest).", severity=status if status != "pass" else "info", value=rate)]
        top_cols = sorted(col_summary.items(), key=lambda kv: -kv[1]["extreme_cells"])
        top_cols = [(c, s) for c, s in top_cols if s["extreme_cells"] > 0][:3]
        if top_cols:
            findings.append(Finding(
                "Most extreme values are in " + ", ".join(
                    f"'{c}' ({s['extreme_cells']:,} cells, {s['extreme_share']:.2%})" for c, s in top_cols) + ".",
                severity="info", subject=top_cols[0][0], value=top_cols[0][1]["extreme_share"]))
        summary: dict = {
            "n_outliers": n_out,
            "outlier_rate": rate,
            "weighted": m.weighted,
            "z_threshold": thr,
            "flagged_by_robust": int((best >= thr).sum()),
            "flagged_by_model": int((model_z >= thr).sum()),
            "columns": col_summary,
            "model": model_info,
            "subsampling": {"robust_statistics_rows": int(min(n, MAX_STAT_ROWS)),
                            "isolation_forest_fit_rows": model_info.get("fit_rows"), "scored_rows": n},
        }
        charts, tables = [], []
        if m.by_group is not None:
            by_group = {gname: {lab: dict(g) for lab, g in groups.items()} for gname, groups in m.by_group.items()}
            statuses = {}
            group_findings = []
            for gname, groups in by_group.items():
                for lab, g in groups.items():
                    st = judge_group_rate(g, t)
                    g["status"] = st
                    statuses[(gname, lab)] = st
                    status = worse(status, st)
                    if st != "pass":
                        head = (f"Outliers are {g['ratio']:.1f}x as common in {lab} as in the other rows"
                                if np.isfinite(g["ratio"]) else f"Outliers occur in {lab} but not in the other rows")
                        group_findings.append(Finding(
                            f"{head}: {g['rate']:.2%} (95% CI "
                            f"{g['low']:.2%}-{g['high']:.2%}, {g['flagged']:,} of {g['rows']:,} rows) against "
                            f"{g['rest_rate']:.2%} elsewhere ({fmt_p(g['q_value']).replace('p', 'q', 1)}). "
                            f"Check how this group's data were collected or entered.",
                            severity=st, subject=lab, value=g["ratio"] if np.isfinite(g["ratio"]) else None))
            group_findings.sort(key=finding_order)
            findings.extend(group_findings)
            if not group_findings:
                findings.append(Finding(
                    f"No sensitive group has a significantly higher share of outliers than the other rows "
                    f"(ratio {t['ratio_warn']}, difference {t['min_difference']:.0%}, q < {t['alpha']}).",
                    severity="info"))
            summary["groupings"] = by_group
            charts = group_rate_charts(by_group, rate, "Share of outlier rows", statuses)
            rows = group_rate_rows(by_group)
            title = "Outliers per group"
            if len(rows) > MAX_TABLE_ROWS:
                title += f" ({MAX_TABLE_ROWS} of {len(rows)} rows shown; all in the JSON summary)"
            tables.append(Table(title, GROUP_RATE_COLUMNS, rows[:MAX_TABLE_ROWS]))
        if col_rows:
            tables.append(Table("Robust statistics per numeric column",
                                ["column", "median", "scale below", "scale above", "zero-inflated",
                                 "extreme cells", "share"], col_rows))
        if m.sample is not None:
            frame, total = m.sample
            table = sample_table(f"Outlier rows, most extreme first ({min(20, total)} of {total:,})", frame)
            table.n_rows_total = int(total)
            tables.append(table)
        scores = pd.DataFrame({
            "outlier_score": score, "robust_z": best, "extreme_column": m.extreme_column,
            "n_extreme_cells": m.n_extreme_cells, "model_z": model_z, "is_outlier": is_out,
        })
        expl = self.explanation
        if n > MAX_STAT_ROWS:
            expl += (f" Medians and MADs are estimated on a random sample of {MAX_STAT_ROWS:,} values per "
                     "column.")
        if model_info.get("used") and model_info["fit_rows"] < n:
            expl += (f" The isolation forest is fitted on a random sample of {model_info['fit_rows']:,} rows "
                     f"and scores all {n:,}.")
        if m.notes:
            expl += " " + " ".join(m.notes)
        return self.result(status=status, summary=summary, findings=findings, charts=charts, tables=tables,
                           scores=scores, explanation=expl)


__all__ = ["OutlierMeasures", "OutliersCheck", "measure_outliers", "robust_z"]
