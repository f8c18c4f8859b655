"""Input checks shared by the metric functions and the :class:`GroupStats` engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import UnskewInputError

__all__ = ["check_label_predictions"]


def check_label_predictions(y_true: Any, y_pred: Any, task: str = "classification") -> None:
    """Refuse scores passed as predicted labels.

    A classification ``y_pred`` with values that are not whole numbers (for
    example probabilities) would otherwise be read as one class per distinct
    value. Regression (``task="regression"``, or ``task="auto"`` with a
    continuous ``y_true``) is left alone.

    Raises
    ------
    UnskewInputError
        Pointing to ``y_score`` and a decision threshold.

    Examples
    --------
    >>> check_label_predictions([0, 1, 1], [0.2, 0.9, 0.7])
    Traceback (most recent call last):
    ...
    unskew.exceptions.UnskewInputError: y_pred has 3 values that are not whole numbers (e.g. 0.2 of 3 distinct values): these look like scores or probabilities, not predicted labels. Pass scores as y_score= (--scores on the command line; ROC AUC, calibration) and labels as y_pred= (--predictions), for example y_pred = (scores >= 0.5).astype(int), or give scores only with a threshold.
    """
    if y_pred is None or task == "regression":
        return
    p = _numeric(y_pred)
    if p is None or p.dtype.kind != "f":
        return
    p = p[np.isfinite(p)]
    frac = p[p != np.round(p)]
    if frac.size == 0:
        return
    if task == "auto":
        t = _numeric(y_true)
        if t is not None and t.dtype.kind == "f":
            t = t[np.isfinite(t)]
            if (t != np.round(t)).any():
                return  # a regression: continuous truth and predictions
    raise UnskewInputError(
        f"y_pred has {frac.size} values that are not whole numbers (e.g. {frac[0]:.3g} of "
        f"{len(np.unique(p))} distinct values): these look like scores or probabilities, not predicted labels. "
        "Pass scores as y_score= (--scores on the command line; ROC AUC, calibration) and labels as "
        "y_pred= (--predictions), for example y_pred = (scores >= 0.5).astype(int), or give scores only "
        "with a threshold.")


def _numeric(values: Any) -> np.ndarray | None:
    try:
        arr = np.asarray(values)
    except Exception:  # noqa: BLE001 - an unusual container: leave it to GroupStats
        return None
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            return None
    return arr if arr.dtype.kind in "biuf" else None
