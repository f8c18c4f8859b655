"""Production monitoring: reference profiles, logging, per-window checks, alerts, the failure queue.

State lives in :mod:`unskew.store`. ``Monitor(store).init(...)`` stores a
reference profile with a model version; ``log`` / ``log_labels`` ingest
batches (one transaction each) into mergeable per-window aggregates;
``check`` runs the detectors (:func:`detectors`) with false-discovery control
and returns a :class:`~unskew.report.Report` of kind ``monitor``; ``queue``
returns the failure queue as a DataFrame. ``analyze(reference, current, ...)``
runs the same check on two in-memory tables without a store.
"""

from ._analyze import analyze, window_aggregates
from ._detectors import benjamini_hochberg, detectors
from ._monitor import Monitor, parse_window
from ._profile import Profile, build_profile
from ._retrain import predict_frame, retrain, save_model, train_methods, train_table


def failure_queue(store=None, name: str = "", reasons=None):
    """The failure queue of model ``name`` as a DataFrame (see :meth:`Monitor.queue`).

    Examples
    --------
    >>> from unskew.monitor import failure_queue
    >>> df = failure_queue("sqlite:///unskew.db", "credit")  # doctest: +SKIP
    """
    return Monitor(store).queue(name, reasons=reasons)


__all__ = [
    "Monitor",
    "Profile",
    "analyze",
    "benjamini_hochberg",
    "build_profile",
    "detectors",
    "failure_queue",
    "parse_window",
    "predict_frame",
    "retrain",
    "save_model",
    "train_methods",
    "train_table",
    "window_aggregates",
]
