"""The one-call slice search: load a table with a model's output, search it, report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import Dataset
from ..exceptions import UnskewInputError
from ..report import Report
from ._finder import SliceFinder
from ._report import slices_report
from ._significance import row_errors


@dataclass
class SliceSearch:
    """Result of :func:`find_slices`.

    Attributes
    ----------
    report : Report
        ``kind="slices"``.
    finder : SliceFinder
        The fitted finder (use ``finder.to_groups(...)`` on new data).
    groups : numpy.ndarray
        Group id of each row of the analysed table (see ``finder.group_names()``).
    dataset : Dataset
        The loaded table and its roles.
    """

    report: Report
    finder: Any
    groups: np.ndarray
    dataset: Dataset

    @property
    def slices(self) -> pd.DataFrame:
        return self.finder.to_frame()


def find_slices(data: Any, *, target: str, predictions: str | None = None, scores: str | None = None,
                errors: str | None = None, features: Sequence[str] | None = None,
                exclude: Sequence[str] | None = None, sensitive: str | Sequence[str] | None = None,
                delimiter: str | None = None, na_values: list[str] | None = None,
                thresholds: dict | None = None, on_progress=None, **finder_params: Any) -> SliceSearch:
    """Load a table with a model's predictions and search it for weak slices.

    Parameters
    ----------
    data : path or table
        The evaluation table: attributes, the true label and the model's output.
    target : str
        True label column.
    predictions, scores : str, optional
        Predicted label column and/or positive-class probability column.
    errors : str, optional
        A per-row error or loss column computed elsewhere (used as is).
    features : list of str, optional
        Columns to search over; by default every column that has no role.
    exclude : list of str, optional
        Columns to leave out of the search (e.g. an identifier or a sensitive
        attribute you want to keep hidden).
    sensitive : str or list of str, optional
        Sensitive attributes, kept *out of* the search; the report says which
        sensitive group each slice over-represents.
    **finder_params
        Passed to :class:`~unskew.slices.SliceFinder` (``max_level``,
        ``min_support``, ``top_k``, ``include_target``, ...).
    """
    if predictions is None and scores is None and errors is None:
        raise UnskewInputError("Name the model's output: predictions=, scores= or errors= "
                               "(--predictions, --scores or --errors).")
    finder = SliceFinder(**finder_params)
    finder._validate(1)  # every option checked before the table is read or encoded
    t0 = time.perf_counter()
    ignore = list(exclude or [])
    if errors:
        ignore.append(errors)
    ds = Dataset.from_data(data, target=target, predictions=predictions, scores=scores, features=features,
                           sensitive=sensitive, ignore=ignore, delimiter=delimiter, na_values=na_values,
                           require_two_classes=False)
    frame = ds.frame
    if features:
        clash = [c for c in features if c in {target, predictions, scores, errors, *ds.sensitive}]
        if clash:
            raise UnskewInputError(f"Column(s) {clash} cannot be searched over: they are the label, the "
                                   "model's output or sensitive.")
    feats = [c for c in ds.features if c not in ignore]
    if not feats:
        raise UnskewInputError("No column is left to search over; check --features and --exclude.")
    if errors:
        if errors not in frame.columns:
            raise UnskewInputError(f"Error column {errors!r} is not in {ds.source}.")
        err = pd.to_numeric(frame[errors], errors="coerce")
        if err.isna().any():
            raise UnskewInputError(f"Error column {errors!r} has missing or non-numeric values.")
        errs = err.to_numpy(float)
    else:
        errs = None
    y = frame[target]
    y_score = None
    if scores and errs is None:
        sc = pd.to_numeric(frame[scores], errors="coerce")
        if sc.isna().any():
            raise UnskewInputError(f"Score column {scores!r} has non-numeric values.")
        y_score = sc.to_numpy(float)
    metric = finder_params.get("error", "auto")
    if errs is None:
        if metric == "auto" and predictions is None:
            metric = "log_loss"
        if y_score is not None and metric in ("log_loss", "brier", "auto") and y.nunique() > 2 \
                and predictions is None:
            raise UnskewInputError(f"A score column is a positive-class probability, but target {target!r} "
                                   f"has {y.nunique()} classes; pass --predictions instead.")
        errs, metric = row_errors(y=y.to_numpy(), y_pred=frame[predictions].to_numpy() if predictions else None,
                                  y_score=y_score, metric=metric,
                                  positive_label=ds.positive_label() if y_score is not None else None)
    else:
        metric = "given"
    X = frame[feats]
    y_fit = y if finder.include_target else None
    finder.fit(X, y_fit, errors=errs, on_progress=on_progress)
    finder.error_metric_ = metric
    elapsed = time.perf_counter() - t0
    sens = frame[ds.sensitive] if ds.sensitive else None
    report = slices_report(finder, dataset=ds.describe(), sensitive=sens, X=X,
                           y=y if finder.include_target else None, thresholds=thresholds,
                           parameters={"target": target, "predictions": predictions, "scores": scores,
                                       "errors": errors, "searched": feats},
                           elapsed_s=elapsed)
    groups = finder.to_groups(X, y if finder.include_target else None)
    return SliceSearch(report=report, finder=finder, groups=groups, dataset=ds)
