"""Check 1: target distribution and class imbalance, overall and per group."""

from __future__ import annotations

import pandas as pd

from ..data import Dataset
from ..report import Bar, Chart, Finding, Table
from ._base import AuditContext, Check, register_check
from ._common import worse


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
        y = ds.y.astype(str)
        w = ds.sample_weight
        if ds.column_types.get(ds.target) == "numeric" and ds.y.nunique() > 20:
            q = ds.y.quantile([0, 0.25, 0.5, 0.75, 1]).tolist()
            return self.result(
                status="pass",
                summary={"task": "regression", "quantiles": dict(zip(["min", "q25", "median", "q75", "max"], q, strict=True))},
                findings=[Finding("Numeric target: class imbalance does not apply; quantiles reported.")],
            )
        counts = _weighted_counts(y, w)
        ratio = float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")
        status = self.status_for(ratio, "imbalance_warn", "imbalance_fail")
        findings = []
        if status != "pass":
            findings.append(Finding(
                f"Class '{counts.idxmin()}' is {ratio:.1f}x rarer than class '{counts.idxmax()}'.",
                severity=status, subject=ds.target, value=ratio))
        else:
            shares = ", ".join(f"'{k}' {v / counts.sum():.1%}" for k, v in counts.items())
            findings.append(Finding(
                f"Classes are reasonably balanced ({shares}; largest/smallest {ratio:.2f}, "
                f"under {self.thresholds['imbalance_warn']:g}).", severity="info", subject=ds.target, value=ratio))
        per_group = {}
        rows = []
        if ds.sensitive:
            group_sets = [[c] for c in ds.sensitive]
            if len(ds.sensitive) > 1:
                group_sets.append(list(ds.sensitive))
            classes = list(counts.index)
            for cols in group_sets:
                g = pd.Series(ds.groups(cols), name="group")
                tab = pd.crosstab(g, y, values=w, aggfunc="sum") if w is not None else pd.crosstab(g, y)
                tab = tab.reindex(columns=classes, fill_value=0).fillna(0)
                for grp, row in tab.iterrows():
                    nz = row[row > 0]
                    gratio = float(nz.max() / nz.min()) if len(nz) == len(row) else float("inf")
                    missing = [str(c) for c in row.index if row[c] < self.thresholds["min_class_count"]]
                    per_group[str(grp)] = {"counts": {str(k): float(v) for k, v in row.items()},
                                           "imbalance_ratio": gratio, "rare_classes": missing}
                    rows.append([str(grp)] + [float(row[c]) for c in classes] + [gratio])
                    if missing:
                        absent = [c for c in missing if row[c] == 0]
                        sev = "fail" if absent else "warn"
                        status = worse(status, sev)
                        msg = (f"Group '{grp}' has no examples of class {', '.join(repr(c) for c in absent)}."
                               if absent else
                               f"Group '{grp}' has fewer than {self.thresholds['min_class_count']} examples of class {', '.join(repr(c) for c in missing)}.")
                        findings.append(Finding(msg, severity=sev, subject=str(grp)))
        total = counts.sum()
        chart = Chart(
            title="Share of each target class",
            x_label="share of rows",
            bars=[Bar(str(k), float(v / total)) for k, v in counts.items()],
        )
        tables = []
        if rows:
            tables.append(Table("Class counts per group", ["group"] + [str(c) for c in counts.index] + ["imbalance ratio"], rows))
        return self.result(
            status=status,
            summary={
                "task": "classification",
                "n_classes": int(len(counts)),
                "class_counts": {str(k): float(v) for k, v in counts.items()},
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


__all__ = ["TargetDistributionCheck"]
