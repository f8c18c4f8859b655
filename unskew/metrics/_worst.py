"""Per-group accuracy and the worst group, for code that needs the numbers themselves.

D3M's review table and the worst-group benchmarks read each group's accuracy
and the worst group; they call these instead of re-deriving them, so the
numbers come from the metrics engine (:class:`GroupStats` confusion counts)
like every other metric, with the shared group order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._frame import GroupMetrics
from ._groupstats import GroupStats


def group_accuracies(y_true: Any, y_pred: Any, groups: Any, *, sample_weight: Any = None) -> dict:
    """Accuracy of every group, ``{group: accuracy}``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted labels.
    groups : array-like of shape (n,) or table
        One group value per row (or several sensitive columns, whose
        intersection defines the groups).
    sample_weight : array-like, optional

    Returns
    -------
    dict
        Group -> accuracy, in the shared group order (see
        :mod:`unskew.data._groups`). A group is its value for a single column
        (e.g. ``1`` or ``"Black"``) and a tuple of values for several.

    Example
    -------
    >>> group_accuracies([1, 0, 1, 1], [1, 0, 0, 1], ["b", "a", "b", "b"])
    {'a': 1.0, 'b': 0.6666666666666666}
    """
    st = GroupStats.from_arrays(y_true, y_pred, sensitive_features=groups, sample_weight=sample_weight,
                                task="classification")
    acc = GroupMetrics(st, ["accuracy"], ci=None).by_group["accuracy"].to_numpy(float)
    keys = [k[0] if len(st.names) == 1 else k for k in st.keys]
    return {k: float(a) for k, a in zip(keys, acc, strict=True)}


def worst_group(y_true: Any, y_pred: Any, groups: Any, *, sample_weight: Any = None) -> tuple[Any, float, dict]:
    """The group with the lowest accuracy, its accuracy and every group's accuracy.

    Ties go to the group that comes first in the shared group order; groups
    whose accuracy is undefined (no rows with weight) are never the worst.

    Example
    -------
    >>> worst_group([1, 0, 1, 1], [1, 0, 0, 1], ["b", "a", "b", "b"])[:2]
    ('b', 0.6666666666666666)
    """
    accs = group_accuracies(y_true, y_pred, groups, sample_weight=sample_weight)
    vals = np.array(list(accs.values()), dtype=float)
    if np.isnan(vals).all():
        return None, float("nan"), accs
    i = int(np.nanargmin(vals))
    return list(accs)[i], float(vals[i]), accs


__all__ = ["group_accuracies", "worst_group"]
