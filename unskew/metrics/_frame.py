"""The :class:`GroupMetrics` result: per-group metrics, between-group gaps, intervals."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as _sps

from .._stats import wilson_interval
from ..data._groups import group_name
from ..exceptions import UnskewInputError
from ..report import to_jsonable
from ._compute import (
    DEFAULTS,
    METRICS,
    _kind,
    auc_from_table,
    binary_values,
    div,
    hanley_mcneil,
    multiclass_values,
    regression_intervals,
    regression_values,
    resolve_metrics,
    score_values,
    spec_of,
)
from ._fairness import MEASURES, NEEDS, applicable_measures, make_ctx
from ._scoretable import bin_index, reduce_entries

if TYPE_CHECKING:
    from ._groupstats import GroupStats

CI_METHODS = (None, "wilson", "bootstrap")
OVERALL = "(overall)"
#: ROC AUC is bootstrapped on a histogram of this many bins (then re-centred on the exact AUC).
_BOOT_AUC_BINS = 512
#: Most array cells drawn at once by the bootstrap.
_BLOCK_CELLS = 2_000_000


def _quiet_percentile(x, q, axis=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(x, q, axis=axis)


def poisson_replicates(stats: GroupStats, conf: np.ndarray, conf_n: np.ndarray, conf_w2: np.ndarray,
                       n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of confusion tables, shape ``(n_boot, *conf.shape)``.

    Unweighted data: each cell's count is drawn from ``Poisson(count)`` -- exactly
    the Poisson bootstrap of rows, since a sum of ``n`` independent Poisson(1)
    row multiplicities is Poisson(n). Weighted data: the cell's weight is drawn as
    ``Poisson(n_eff) * (W / n_eff)`` with ``n_eff = W**2 / sum(w**2)``, which has
    the same mean (``W``) and variance (``sum(w**2)``) as the row-level Poisson
    bootstrap of the cell. Cells are independent, as rows are.
    """
    if not stats.weighted:
        return rng.poisson(conf_n, size=(n_boot,) + conf_n.shape).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        neff = np.where(conf_w2 > 0, conf * conf / np.where(conf_w2 > 0, conf_w2, 1), 0.0)
        scale = np.where(neff > 0, conf / np.where(neff > 0, neff, 1), 0.0)
    return rng.poisson(neff, size=(n_boot,) + neff.shape) * scale


def _table_replicates(pos, neg, pos2, neg2, weighted, n_boot, rng):
    """Poisson replicates of a score table's positive and negative masses (same scheme)."""
    if not weighted:
        return (rng.poisson(pos, size=(n_boot,) + pos.shape).astype(np.float64),
                rng.poisson(neg, size=(n_boot,) + neg.shape).astype(np.float64))
    out = []
    for m, m2 in ((pos, pos2), (neg, neg2)):
        with np.errstate(invalid="ignore", divide="ignore"):
            neff = np.where(m2 > 0, m * m / np.where(m2 > 0, m2, 1), 0.0)
            scale = np.where(neff > 0, m / np.where(neff > 0, neff, 1), 0.0)
        out.append(rng.poisson(neff, size=(n_boot,) + neff.shape) * scale)
    return tuple(out)


class GroupMetrics:
    """Per-group metrics of a model with between-group comparisons and intervals.

    Usually built by :func:`unskew.metrics.group_metrics` or
    :meth:`GroupStats.metrics`.

    Parameters
    ----------
    stats : GroupStats
        Sufficient statistics.
    metrics : list of str, optional
        Metric names (see :func:`unskew.metrics.list_metrics`); by default all
        that apply to the task.
    ci : {"wilson", "bootstrap", None}, default "wilson"
        Per-group intervals: ``wilson`` gives Wilson intervals for rates
        (weighted data use the Kish effective size), Hanley-McNeil for ROC AUC
        and normal intervals for regression errors; ``bootstrap`` gives
        percentile intervals from a Poisson bootstrap of the statistics (no
        pass over rows). Between-group measures always use the bootstrap when
        ``ci`` is not None.
    confidence : float, default 0.95
    n_boot : int, default 1000
        Bootstrap replicates.
    random_state : int, default 0
    min_group_size : int, default 30
        Groups with fewer rows are flagged in :attr:`notes` (they stay in the
        results).

    Attributes
    ----------
    by_group : pandas.DataFrame
        One row per group (index: the sensitive values), one column per metric.
    overall : pandas.Series
        The metrics over all rows.
    ci_low, ci_high : pandas.DataFrame or None
        Interval bounds aligned with ``by_group`` (NaN where none applies).
    notes : pandas.Series
        Per group, why some metrics are undefined or unreliable ("" if none).
    """

    def __init__(self, stats: GroupStats, metrics: Sequence[str] | None = None, *, ci: str | None = "wilson",
                 confidence: float = 0.95, n_boot: int = 1000, random_state: int | None = 0,
                 min_group_size: int = 30):
        if ci not in CI_METHODS:
            raise UnskewInputError(f"ci must be one of 'wilson', 'bootstrap' or None, not {ci!r}.")
        if not 0 < confidence < 1:
            raise UnskewInputError(f"confidence must be between 0 and 1, got {confidence}.")
        if n_boot < 1:
            raise UnskewInputError(f"n_boot must be positive, got {n_boot}.")
        self.stats = stats
        self.kind = _kind(stats)
        self.metric_names = resolve_metrics(metrics, stats)
        self.ci_method = ci
        self.confidence = float(confidence)
        self.n_boot = int(n_boot)
        self.random_state = random_state
        self.min_group_size = int(min_group_size)
        self._reps: dict | None = None
        self._overall_stats = stats.overall()
        vals = self._values(stats, self.metric_names)
        ovals = self._values(self._overall_stats, self.metric_names)
        self.columns = list(vals)
        index = self._index()
        self.by_group = pd.DataFrame({c: vals[c] for c in self.columns}, index=index)
        self.overall = pd.Series({c: float(ovals[c][0]) for c in self.columns}, name=OVERALL)
        self.notes = pd.Series(self._notes(), index=index, name="note")
        self.ci_low = self.ci_high = None
        self.overall_ci = None
        if ci is not None:
            self._intervals()

    # ------------------------------------------------------------------ basics
    def _index(self):
        keys = self.stats.keys
        names = list(self.stats.names)
        if len(names) == 1:
            return pd.Index([k[0] for k in keys], name=names[0], dtype=object)
        return pd.MultiIndex.from_tuples(keys, names=names)

    @property
    def labels(self) -> list[str]:
        """Group labels such as ``"sex=F & race=b"``."""
        return self.stats.labels

    @property
    def n(self) -> pd.Series:
        return pd.Series(self.stats.n, index=self.by_group.index, name="n")

    def _values(self, st: GroupStats, names, conf=None, table=None) -> dict:
        kind = _kind(st)
        out: dict = {}
        if "count" in names:
            out["count"] = st.n.astype(np.float64)
        if kind == "regression":
            out.update(regression_values(st.reg, names))
        elif kind == "binary":
            c2 = conf if conf is not None else st.binary_confusion()[0]
            out.update(binary_values(c2, names))
            snames = [m for m in names if METRICS[m].task == "scores"]
            if snames:
                if table is not None:
                    if "roc_auc" in snames:
                        group, pos, neg = table
                        out["roc_auc"] = auc_from_table(group, pos, neg, st.n_groups)
                else:
                    out.update(score_values(st, c2, snames))
        else:
            c = conf if conf is not None else st.conf
            out.update(multiclass_values(c, names, st.classes))
        return {k: out[k] for k in self._order(out)}

    def _order(self, out):
        order = []
        for m in self.metric_names:
            order += [k for k in out if k == m or k.startswith(m + "[")]
        return order + [k for k in out if k not in order]

    def _notes(self) -> list[str]:
        st = self.stats
        notes = []
        w = st.weight
        for g in range(st.n_groups):
            parts = []
            if st.n[g] < self.min_group_size:
                parts.append(f"only {int(st.n[g])} rows (< {self.min_group_size})")
            if w[g] <= 0:
                parts.append("zero total weight: metrics undefined")
            elif self.kind == "binary":
                c2 = st.binary_confusion()[0][g]
                if c2[1].sum() <= 0:
                    parts.append("no positives: TPR, FNR, AUC undefined")
                if c2[0].sum() <= 0:
                    parts.append("no negatives: FPR, TNR, AUC undefined")
                if c2[:, 1].sum() <= 0:
                    parts.append("no predicted positives: precision undefined")
                if c2[:, 0].sum() <= 0:
                    parts.append("no predicted negatives: NPV undefined")
            elif self.kind == "multiclass":
                missing = [str(c) for c, s in zip(st.classes, st.conf[g].sum(axis=1), strict=True) if s <= 0]
                if missing:
                    parts.append(f"no rows of class {', '.join(missing[:5])}")
            elif self.kind == "regression" and st.reg["m2y"][g] <= 0:
                parts.append("constant target: R2 undefined")
            notes.append("; ".join(parts))
        return notes

    # ------------------------------------------------------------------ intervals
    def _z(self):
        return float(_sps.norm.ppf(0.5 + self.confidence / 2))

    def _intervals(self) -> None:
        lo = pd.DataFrame(np.nan, index=self.by_group.index, columns=self.columns)
        hi = lo.copy()
        olo = pd.Series(np.nan, index=self.columns)
        ohi = olo.copy()
        z = self._z()
        for target, st, l_, h_ in ((None, self.stats, lo, hi), (OVERALL, self._overall_stats, olo, ohi)):
            analytic = self._analytic(st, z)
            for col, (a, b) in analytic.items():
                if target is None:
                    l_[col] = a
                    h_[col] = b
                else:
                    l_[col] = float(a[0])
                    h_[col] = float(b[0])
        if self.ci_method == "bootstrap" and self.kind != "regression":
            reps = self.replicates()
            q = [50 * (1 - self.confidence), 50 * (1 + self.confidence)]
            for col, arr in reps["group"].items():
                if col == "count":
                    continue
                p = _quiet_percentile(arr, q)
                lo[col], hi[col] = p[0], p[1]
            for col, arr in reps["overall"].items():
                if col == "count":
                    continue
                p = _quiet_percentile(arr, q)
                olo[col], ohi[col] = float(p[0][0]), float(p[1][0])
        self.ci_low, self.ci_high = lo, hi
        self.overall_ci = (olo, ohi)

    def _analytic(self, st: GroupStats, z: float) -> dict:
        out = {}
        if self.kind == "regression":
            vals = regression_values(st.reg, self.metric_names)
            for k, v in regression_intervals(st.reg, vals, st.effective_n, z).items():
                out[k] = v
            return out
        conf, _, w2 = (st.binary_confusion() if self.kind == "binary" else (st.conf, st.conf_n, st.conf_w2))
        for col in self.columns:
            spec = spec_of(col)
            if self.kind == "binary" and spec.rate is not None:
                num_c, den_c = spec.rate
                from ._compute import cell_sum

                num = cell_sum(conf, num_c)
                den = cell_sum(conf, den_c)
                den2 = cell_sum(w2, den_c)
            elif self.kind == "multiclass" and spec.name in ("selection_rate", "true_positive_rate",
                                                           "false_positive_rate", "accuracy"):
                num, den, den2 = _multiclass_rate_parts(conf, w2, col, st.classes)
            elif spec.name == "roc_auc" and self.kind == "binary":
                auc = score_values(st, conf, ["roc_auc"])["roc_auc"]
                npos = _neff(conf[:, 1, :].sum(-1), w2[:, 1, :].sum(-1))
                nneg = _neff(conf[:, 0, :].sum(-1), w2[:, 0, :].sum(-1))
                out[col] = hanley_mcneil(auc, npos, nneg, z)
                continue
            else:
                continue
            neff = _neff(den, den2)
            rate = div(num, den)
            out[col] = wilson_interval(rate * neff, neff, self.confidence)
        return out

    def replicates(self) -> dict:
        """Bootstrap replicates of every classification metric (cached).

        Returns ``{"group": {col: (B, G)}, "overall": {col: (B, 1)}, "c2": (B, G, 2, 2)
        or None, "n_valid": {col: replicates where every group is defined}}``. All
        confusion-based metrics are replicated, whichever are displayed. ROC AUC
        replicates come from a 512-bin histogram of the score table, shifted by
        the difference between the exact and the binned AUC.
        """
        if self._reps is not None:
            return self._reps
        if self.kind == "regression":
            raise UnskewInputError("The bootstrap of the statistics covers classification metrics; "
                                   "regression metrics use normal intervals.")
        rng = np.random.default_rng(self.random_state)
        st = self.stats
        if self.kind == "binary":
            conf, conf_n, conf_w2 = st.binary_confusion()
        else:
            conf, conf_n, conf_w2 = st.conf, st.conf_n, st.conf_w2
        B = self.n_boot
        per_block = max(1, _BLOCK_CELLS // max(conf.size, 1))
        names = list(dict.fromkeys(
            [m for m in DEFAULTS[self.kind] if m != "count"]
            + [m for m in self.metric_names if METRICS[m].task != "scores" and m != "count"]))
        g_out: dict = {}
        o_out: dict = {}
        c2_all = []
        done = 0
        while done < B:
            b = min(per_block, B - done)
            reps = poisson_replicates(st, conf, conf_n, conf_w2, b, rng)
            v = self._values(st, names, conf=reps)
            ov = self._values(self._overall_stats, names, conf=reps.sum(axis=1, keepdims=True))
            for k, a in v.items():
                g_out.setdefault(k, []).append(a)
            for k, a in ov.items():
                o_out.setdefault(k, []).append(a)
            if self.kind == "binary":
                c2_all.append(reps)
            done += b
        group_reps = {k: np.concatenate(v) for k, v in g_out.items()}
        overall_reps = {k: np.concatenate(v) for k, v in o_out.items()}
        if self.kind == "binary" and st.has_scores:
            group_reps["roc_auc"], overall_reps["roc_auc"] = self._auc_replicates(B, rng)
        self._reps = {
            "group": group_reps,
            "overall": overall_reps,
            "c2": np.concatenate(c2_all) if c2_all else None,
            "n_valid": {k: int(np.isfinite(v).all(axis=-1).sum()) for k, v in group_reps.items()},
        }
        return self._reps

    def _auc_replicates(self, B: int, rng) -> tuple[np.ndarray, np.ndarray]:
        st = self.stats
        group, value, pos, neg, pos2, neg2 = _coarse_table(st, _BOOT_AUC_BINS)
        G = st.n_groups
        exact = auc_from_table(st.sc_group, st.sc_pos, st.sc_neg, G)
        binned = auc_from_table(group, pos, neg, G)
        ov = self._overall_stats
        o_exact = float(auc_from_table(ov.sc_group, ov.sc_pos, ov.sc_neg, 1)[0])
        pool_idx = value.astype(np.int64)
        U = int(pool_idx.max(initial=-1)) + 1
        o_pos = np.bincount(pool_idx, weights=pos, minlength=U)
        o_neg = np.bincount(pool_idx, weights=neg, minlength=U)
        zeros = np.zeros(U, np.int64)
        o_binned = float(auc_from_table(zeros, o_pos, o_neg, 1)[0])
        per_block = max(1, _BLOCK_CELLS // max(len(group), 1))
        g_out, o_out = [], []
        done = 0
        while done < B:
            b = min(per_block, B - done)
            rp, rn = _table_replicates(pos, neg, pos2, neg2, st.weighted, b, rng)
            g_out.append(auc_from_table(group, rp, rn, G) - binned + exact)
            op = np.zeros((b, U))
            on = np.zeros((b, U))
            np.add.at(op, (slice(None), pool_idx), rp)
            np.add.at(on, (slice(None), pool_idx), rn)
            o_out.append(auc_from_table(zeros, op, on, 1) - o_binned + o_exact)
            done += b
        return np.clip(np.concatenate(g_out), 0, 1), np.clip(np.concatenate(o_out), 0, 1)

    # ------------------------------------------------------------------ comparisons
    def _metric_cols(self):
        return [c for c in self.columns if c != "count"]

    def _mask(self, min_group_size: int | None) -> np.ndarray:
        mask = self.stats.weight > 0
        if min_group_size:
            mask &= self.stats.n >= min_group_size
        return mask

    def group_min(self) -> pd.Series:
        """Smallest value of each metric over the groups (undefined groups skipped)."""
        return self.by_group[self._metric_cols()].min(skipna=True)

    def group_max(self) -> pd.Series:
        """Largest value of each metric over the groups (undefined groups skipped)."""
        return self.by_group[self._metric_cols()].max(skipna=True)

    def difference(self, method: str = "between_groups", *, min_group_size: int | None = None) -> pd.Series:
        """Largest absolute difference of each metric.

        ``between_groups``: ``group_max - group_min``; ``to_overall``: the largest
        ``|group - overall|``. Groups where a metric is undefined are skipped;
        with ``min_group_size`` smaller groups are left out too.
        """
        bg = self.by_group[self._metric_cols()][self._mask(min_group_size)]
        if method == "between_groups":
            return bg.max() - bg.min()
        if method == "to_overall":
            return (bg - self.overall[bg.columns]).abs().max()
        raise UnskewInputError(f"method must be 'between_groups' or 'to_overall', not {method!r}.")

    def ratio(self, method: str = "between_groups", *, min_group_size: int | None = None) -> pd.Series:
        """Smallest ratio of each metric: ``group_min / group_max`` or, with
        ``to_overall``, the smallest of ``group/overall`` and ``overall/group``."""
        bg = self.by_group[self._metric_cols()][self._mask(min_group_size)]
        if method == "between_groups":
            return pd.Series(div(bg.min().to_numpy(), bg.max().to_numpy()), index=bg.columns)
        if method == "to_overall":
            o = self.overall[bg.columns].to_numpy()
            r = div(bg.to_numpy(), o[None, :])
            r = np.where(r > 1, div(1.0, r), r)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return pd.Series(np.nanmin(r, axis=0), index=bg.columns)
        raise UnskewInputError(f"method must be 'between_groups' or 'to_overall', not {method!r}.")

    def worst_group(self, metric: str | None = None) -> pd.Series | str:
        """Label of the worst group per metric (lowest where higher is better, highest otherwise)."""
        cols = [c for c in self._metric_cols() if spec_of(c).higher_is_better is not None]
        out = {}
        labels = self.labels
        for c in cols:
            v = self.by_group[c].to_numpy()
            if np.isnan(v).all():
                out[c] = None
                continue
            i = int(np.nanargmin(v) if spec_of(c).higher_is_better else np.nanargmax(v))
            out[c] = labels[i]
        s = pd.Series(out, name="worst_group", dtype=object)
        if metric is not None:
            if metric not in s:
                raise UnskewInputError(f"No ranked metric {metric!r}; have {list(s.index)}.")
            return s[metric]
        return s

    # ------------------------------------------------------------------ fairness
    def privileged_mask(self, privileged: Any) -> np.ndarray:
        """Boolean mask over groups matching ``privileged``.

        ``privileged`` may be a dict ``{column: value or [values]}`` (a group is
        privileged when all listed columns match), a list of such dicts (any
        matches, as AIF360's ``privileged_groups``), a group label
        (``"sex=Male & race=White"``) or a key tuple.
        """
        return privileged_mask(self.stats, privileged)

    def fairness(self, measures: Sequence[str] | None = None, *, privileged: Any = None,
                 min_group_size: int | None = None, ci: bool | None = None) -> pd.DataFrame:
        """Between-group fairness measures.

        Parameters
        ----------
        measures : list of str, optional
            Names from :func:`unskew.metrics.list_measures`; by default every
            measure that applies.
        privileged : dict, list of dict, str or tuple, optional
            The privileged group(s): AIF360-style measures (disparate impact,
            statistical parity, equal opportunity and average odds differences)
            then compare unprivileged rows with privileged rows, pooled.
        min_group_size : int, optional
            Leave smaller groups out of the measures (they stay in ``by_group``).
        ci : bool, optional
            Bootstrap intervals (default: when the object was built with ``ci``).

        Returns
        -------
        pandas.DataFrame
            Index: measure name; columns ``value, ci_low, ci_high, ideal, worse,
            n_groups, title, description``.
        """
        kind = self.kind
        priv_mask = None if privileged is None else self.privileged_mask(privileged)
        names = measures or applicable_measures(kind, self.stats.has_scores, priv_mask is not None)
        mask = self._mask(min_group_size)
        if priv_mask is not None:
            pm = priv_mask[mask]
            if not pm.any() or pm.all():
                raise UnskewInputError(
                    "The privileged selection must match some but not all of the groups compared; "
                    f"it matches {int(pm.sum())} of {int(mask.sum())}."
                )
        else:
            pm = None
        need = sorted({m for n in names for m in NEEDS.get(n, ())})
        for n in names:
            if n not in MEASURES:
                raise UnskewInputError(f"Unknown measure {n!r}; available: {', '.join(MEASURES)}.")
            if MEASURES[n].privileged is True and n == "statistical_parity_difference" and pm is None:
                raise UnskewInputError("statistical_parity_difference needs a privileged group.")
        vals = self._values(self.stats, [m for m in need if m not in self.columns] + self.metric_names)
        ctx_vals = {k: v[..., mask] for k, v in vals.items()}
        c2 = self.stats.binary_confusion()[0][mask] if kind == "binary" else None
        ctx = make_ctx(ctx_vals, c2, pm, self.stats.classes, kind)
        want_ci = (self.ci_method is not None) if ci is None else bool(ci)
        rep_ctx = None
        if want_ci and kind != "regression":
            rep_ctx = self._rep_ctx(need, mask, pm)
        rows = []
        q = [50 * (1 - self.confidence), 50 * (1 + self.confidence)]
        for n in names:
            spec = MEASURES[n]
            try:
                value = float(np.asarray(spec.fn(ctx)))
            except KeyError:
                continue  # the measure needs a metric this task does not have
            low = high = np.nan
            if rep_ctx is not None and n != "calibration_gap":
                try:
                    r = np.asarray(spec.fn(rep_ctx), dtype=float)
                    p = _quiet_percentile(r, q)
                    low, high = float(p[0]), float(p[1])
                except KeyError:
                    pass
            rows.append({"measure": n, "value": value, "ci_low": low, "ci_high": high, "ideal": spec.ideal,
                         "worse": spec.worse, "n_groups": int(mask.sum()), "title": spec.title,
                         "description": spec.description})
        return pd.DataFrame(rows).set_index("measure")

    def _rep_ctx(self, need, mask, pm):
        reps = self.replicates()
        vals = {k: v[:, mask] for k, v in reps["group"].items()}
        c2 = reps["c2"][:, mask] if reps["c2"] is not None else None
        return make_ctx(vals, c2, pm, self.stats.classes, self.kind)

    def four_fifths(self, *, privileged: Any = None, threshold: float = 0.8,
                    min_group_size: int | None = None) -> pd.DataFrame:
        """The four-fifths (80%) rule per group.

        Each group's selection rate is divided by the reference rate: the
        highest group's rate, or the pooled privileged rate when ``privileged``
        is given. Groups whose ratio is below ``threshold`` fail.
        """
        if self.kind != "binary":
            raise UnskewInputError("The four-fifths rule applies to binary classification.")
        c2 = self.stats.binary_confusion()[0]
        sr = binary_values(c2, ["selection_rate"])["selection_rate"]
        mask = self._mask(min_group_size)
        if privileged is not None:
            pm = self.privileged_mask(privileged)
            ref = float(binary_values(c2[pm & mask].sum(axis=0)[None], ["selection_rate"])["selection_rate"][0])
            ref_label = "privileged (pooled)"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                ref = float(np.nanmax(np.where(mask, sr, np.nan)))
            ref_label = self.labels[int(np.nanargmax(np.where(mask, sr, np.nan)))] if np.isfinite(ref) else None
        ratio = div(sr, ref)
        return pd.DataFrame({
            "group": self.labels, "n": self.stats.n, "selection_rate": sr, "ratio": ratio,
            "passes": np.where(mask & np.isfinite(ratio), ratio >= threshold, None),
            "compared": mask, "reference": ref_label,
        })

    def calibration_table(self) -> pd.DataFrame:
        """Reliability table per group and score bin: weight, mean score, observed rate."""
        st = self.stats
        if not st.has_scores:
            raise UnskewInputError("Calibration needs scores (y_score / --scores).")
        E = st.ece_bins
        edges = np.linspace(0, 1, E + 1)
        rows = []
        for g, lab in enumerate(st.labels):
            for b in range(E):
                w = st.cal_w[g, b]
                if w <= 0:
                    continue
                rows.append({"group": lab, "bin": b, "bin_low": edges[b], "bin_high": edges[b + 1],
                             "weight": w, "mean_score": st.cal_p[g, b] / w, "observed_rate": st.cal_y[g, b] / w})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ export
    def to_pandas(self, *, long: bool = False, intervals: bool = True) -> pd.DataFrame:
        """The results as a DataFrame.

        Wide (default): one row per group plus an ``(overall)`` row, a column per
        metric, and ``<metric>_low`` / ``<metric>_high`` columns when intervals
        exist, then ``n`` and ``note``. ``long=True``: one row per (group,
        metric) with ``value, ci_low, ci_high, n, note``.
        """
        labels = self.labels + [OVERALL]
        vals = pd.concat([self.by_group.reset_index(drop=True), self.overall.to_frame().T], ignore_index=True)
        vals.index = pd.Index(labels, name="group")
        n = list(self.stats.n) + [self.stats.n_rows]
        notes = list(self.notes) + [""]
        has_ci = intervals and self.ci_low is not None
        if has_ci:
            lo = pd.concat([self.ci_low.reset_index(drop=True), self.overall_ci[0].to_frame().T], ignore_index=True)
            hi = pd.concat([self.ci_high.reset_index(drop=True), self.overall_ci[1].to_frame().T],
                           ignore_index=True)
            lo.index = hi.index = vals.index
        if long:
            rows = []
            for i, lab in enumerate(labels):
                for c in self.columns:
                    rows.append({"group": lab, "metric": c, "value": vals.iloc[i][c],
                                 "ci_low": lo.iloc[i][c] if has_ci else np.nan,
                                 "ci_high": hi.iloc[i][c] if has_ci else np.nan,
                                 "n": n[i], "note": notes[i]})
            return pd.DataFrame(rows)
        out = vals.copy()
        if has_ci:
            for c in self.columns:
                if lo[c].notna().any():
                    out[f"{c}_low"] = lo[c]
                    out[f"{c}_high"] = hi[c]
        out["n"] = n
        out["note"] = notes
        return out

    def to_polars(self, **kwargs):
        """:meth:`to_pandas` as a polars DataFrame (needs ``polars``)."""
        from .._optional import import_optional

        pl = import_optional("polars", "to_polars()")
        return pl.from_pandas(self.to_pandas(**kwargs).reset_index())

    def to_dict(self) -> dict:
        """A JSON-ready description of every result."""
        st = self.stats
        groups = []
        for g, (key, lab) in enumerate(zip(st.keys, st.labels, strict=True)):
            m = {}
            for c in self.columns:
                entry = {"value": self.by_group[c].iloc[g]}
                if self.ci_low is not None:
                    entry["low"] = self.ci_low[c].iloc[g]
                    entry["high"] = self.ci_high[c].iloc[g]
                m[c] = entry
            groups.append({"group": lab, "values": dict(zip(st.names, key, strict=True)), "n": st.n[g],
                           "weight": st.weight[g], "note": self.notes.iloc[g], "metrics": m})
        overall = {c: {"value": self.overall[c]} for c in self.columns}
        if self.overall_ci is not None:
            for c in self.columns:
                overall[c]["low"] = self.overall_ci[0][c]
                overall[c]["high"] = self.overall_ci[1][c]
        return to_jsonable({
            "task": self.kind,
            "sensitive": list(st.names),
            "classes": None if st.classes is None else list(st.classes),
            "pos_label": st.pos_label if self.kind == "binary" else None,
            "n_rows": st.n_rows,
            "weighted": st.weighted,
            "ci": self.ci_method,
            "confidence": self.confidence,
            "score_table": None if not st.has_scores else ("exact" if st.score_bins is None
                                                           else f"{st.score_bins} bins"),
            "groups": groups,
            "overall": overall,
        })

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def __repr__(self) -> str:
        return f"GroupMetrics({self.kind}, {self.stats.n_groups} groups, {self.stats.n_rows} rows)\n{self.by_group!r}"


# ---------------------------------------------------------------------------- helpers
def _neff(w, w2):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w2 > 0, w * w / np.where(w2 > 0, w2, 1), 0.0)


def _multiclass_rate_parts(conf, w2, col, classes):
    name = col.split("[", 1)[0]
    if name == "accuracy":
        diag = np.diagonal(conf, axis1=-2, axis2=-1).sum(-1)
        return diag, conf.sum((-1, -2)), w2.sum((-1, -2))
    label = col[len(name) + 1:-1]
    k = [str(c) for c in classes].index(label)
    rows, cols = conf.sum(-1), conf.sum(-2)
    rows2 = w2.sum(-1)
    tot, tot2 = rows.sum(-1), rows2.sum(-1)
    d = conf[..., k, k]
    if name == "selection_rate":
        return cols[..., k], tot, tot2
    if name == "true_positive_rate":
        return d, rows[..., k], rows2[..., k]
    return cols[..., k] - d, tot - rows[..., k], tot2 - rows2[..., k]


def _coarse_table(st: GroupStats, bins: int):
    """The score table re-aggregated to at most ``bins`` equal bins over the observed range."""
    if st.score_bins is not None:
        lo, hi = 0.0, float(st.score_bins)
    else:
        lo, hi = float(st.score_min), float(st.score_max)
    if not hi > lo:
        hi = lo + 1.0
    v = bin_index(st.sc_value, bins, lo, hi)
    return reduce_entries(st.sc_group, v, st.sc_pos, st.sc_neg, st.sc_pos2, st.sc_neg2)


def privileged_mask(stats: GroupStats, privileged: Any) -> np.ndarray:
    """See :meth:`GroupMetrics.privileged_mask`."""
    names = list(stats.names)
    labels = stats.labels
    if isinstance(privileged, str):
        if privileged in labels:
            mask = np.array([lab == privileged for lab in labels])
        elif len(names) == 1:
            mask = np.array([str(k[0]) == privileged for k in stats.keys])
        else:
            mask = np.zeros(len(labels), bool)
    elif isinstance(privileged, tuple):
        mask = np.array([tuple(map(str, k)) == tuple(map(str, privileged)) for k in stats.keys])
    else:
        conds = [privileged] if isinstance(privileged, dict) else list(privileged)
        mask = np.zeros(stats.n_groups, bool)
        for cond in conds:
            if not isinstance(cond, dict):
                raise UnskewInputError(
                    f"privileged must be a dict, a list of dicts, a label or a tuple; got {cond!r}.")
            for col in cond:
                if col not in names:
                    raise UnskewInputError(f"Privileged column {col!r} is not a sensitive feature; have {names}.")
            m = np.ones(stats.n_groups, bool)
            for col, val in cond.items():
                allowed = {str(v) for v in (val if isinstance(val, (list, tuple, set)) else [val])}
                j = names.index(col)
                m &= np.array([str(k[j]) in allowed for k in stats.keys])
            mask |= m
    if not mask.any():
        raise UnskewInputError(
            f"No group matches the privileged selection {privileged!r}; groups: {labels[:10]}. Use a label "
            f"like {labels[0]!r}, a value of a single sensitive column, or a dict {{column: value}}."
        )
    return mask


def label_of(names, key) -> str:
    return group_name(names, key)
