"""Check 1: target distribution and class imbalance, overall and per group."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data import Dataset
from ..report import Bar, Chart, Finding, Table
from ._base import AuditContext, Check, register_check
from ._common import worse


# --------------------------------------------------------------------------- measuring
@dataclass
class TargetCounts:
    """Class counts of the target overall and per group (weighted counts with sample weights).

    Counts add up over partitions of a table (same classes and groups), so
    another engine can produce them for :meth:`TargetDistributionCheck.present`.

    Attributes
    ----------
    task : str
        ``"classification"``, or ``"regression"`` for a numeric target with
        more than 20 values (then only ``quantiles`` is set).
    classes : list of str
        The classes as text, sorted.
    counts : ndarray of float
        Rows (or weight) per class.
    groups : list of (list of str, ndarray)
        For every sensitive attribute and, with several, their intersection:
        the group names (shared group order) and the counts per group and class.
    quantiles : dict or None
        Min, quartiles and max of a numeric target.
    """

    task: str
    classes: list[str] = field(default_factory=list)
    counts: np.ndarray | None = None
    groups: list[tuple[list[str], np.ndarray]] = field(default_factory=list)
    quantiles: dict | None = None


def measure_target_distribution(ds: Dataset, ctx: AuditContext | None = None) -> TargetCounts:
    """Count the target's classes overall and in every sensitive group (pure counting)."""
    y = ds.y.astype(str)
    w = ds.sample_weight
    if ds.column_types.get(ds.target) == "numeric" and ds.y.nunique() > 20:
        q = ds.y.quantile([0, 0.25, 0.5, 0.75, 1]).tolist()
        return TargetCounts("regression", quantiles=dict(zip(["min", "q25", "median", "q75", "max"], q, strict=True)))
    counts = _weighted_counts(y, w)
    classes = list(counts.index)
    groups = []
    if ds.sensitive:
        group_sets = [[c] for c in ds.sensitive]
        if len(ds.sensitive) > 1:
            group_sets.append(list(ds.sensitive))
        for cols in group_sets:
            g = pd.Series(ds.groups(cols), name="group")
            tab = pd.crosstab(g, y, values=w, aggfunc="sum") if w is not None else pd.crosstab(g, y)
            tab = tab.reindex(columns=classes, fill_value=0).fillna(0)
            groups.append(([str(i) for i in tab.index], tab.to_numpy(dtype=float)))
    return TargetCounts("classification", classes=[str(c) for c in classes],
                        counts=counts.to_numpy(dtype=float), groups=groups)


# --------------------------------------------------------------------------- the check
@register_check
class TargetDistributionCheck(Check):
    """Class balance of the target overall and inside every group.

    The imbalance ratio is the count of the largest class over the smallest.
    A class that is absent from a group is a failure: a model cannot learn
    that class for that group.
    """

    name = "target_distribution"
    title = "Target distribution and class imbalance"
    explanation = (
        "Counts each target class overall and within every sensitive group and intersection. "
        "A large majority/minority ratio means a model can score well while ignoring the "
        "minority class; a class missing from a group cannot be learned for that group."
    )
    requires = ("target",)
    default_thresholds = {"imbalance_warn": 3.0, "imbalance_fail": 20.0, "min_class_count": 5}

    def run(self, ds: Dataset, ctx: AuditContext):
        return self.present(measure_target_distribution(ds, ctx), target=ds.target)

    def present(self, m: TargetCounts, target: str | None = None):
        """Imbalance ratios, rare or absent classes per group, findings, chart and table from the counts."""
        if m.task == "regression":
            return self.result(
                status="pass",
                summary={"task": "regression", "quantiles": m.quantiles},
                findings=[Finding("Numeric target: class imbalance does not apply; quantiles reported.")],
            )
        classes, counts = m.classes, m.counts
        ratio = float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")
        status = self.status_for(ratio, "imbalance_warn", "imbalance_fail")
        findings = []
        if status != "pass":
            findings.append(Finding(
                f"Class '{classes[int(np.argmin(counts))]}' is {ratio:.1f}x rarer than class "
                f"'{classes[int(np.argmax(counts))]}'.", severity=status, subject=target, value=ratio))
        else:
            shares = ", ".join(f"'{k}' {v / counts.sum():.1%}" for k, v in zip(classes, counts, strict=True))
            findings.append(Finding(
                f"Classes are reasonably balanced ({shares}; largest/smallest {ratio:.2f}, "
                f"under {self.thresholds['imbalance_warn']:g}).", severity="info", subject=target, value=ratio))
        per_group = {}
        rows = []
        for names, tab in m.groups:
            for grp, row in zip(names, tab, strict=True):
                nz = row[row > 0]
                gratio = float(nz.max() / nz.min()) if len(nz) == len(row) else float("inf")
                missing = [c for c, v in zip(classes, row, strict=True) if v < self.thresholds["min_class_count"]]
                per_group[grp] = {"counts": {c: float(v) for c, v in zip(classes, row, strict=True)},
                                  "imbalance_ratio": gratio, "rare_classes": missing}
                rows.append([grp] + [float(v) for v in row] + [gratio])
                if missing:
                    absent = [c for c, v in zip(classes, row, strict=True) if c in missing and v == 0]
                    sev = "fail" if absent else "warn"
                    status = worse(status, sev)
                    msg = (f"Group '{grp}' has no examples of class {', '.join(repr(c) for c in absent)}."
                           if absent else
                           f"Group '{grp}' has fewer than {self.thresholds['min_class_count']} examples of class {', '.join(repr(c) for c in missing)}.")
                    findings.append(Finding(msg, severity=sev, subject=grp))
        total = counts.sum()
        chart = Chart(
            title="Share of each target class",
            x_label="share of rows",
            bars=[Bar(k, float(v / total)) for k, v in zip(classes, counts, strict=True)],
        )
        tables = []
        if rows:
            tables.append(Table("Class counts per group", ["group"] + list(classes) + ["imbalance ratio"], rows))
        return self.result(
            status=status,
            summary={
                "task": "classification",
                "n_classes": int(len(counts)),
                "class_counts": {k: float(v) for k, v in zip(classes, counts, strict=True)},
                "imbalance_ratio": ratio,
                "per_group": per_group,
            },
            findings=findings,
            charts=[chart],
            tables=tables,
        )


def _weighted_counts(y: pd.Series, w) -> pd.Series:
    if w is None:
        return y.value_counts().sort_index()
    return pd.Series(w, index=y.index).groupby(y).sum().sort_index()


__all__ = ["TargetCounts", "TargetDistributionCheck", "measure_target_distribution"]
