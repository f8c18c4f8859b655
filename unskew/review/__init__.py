"""Human review: queues of flagged rows, decisions, agreement, challenge sets and an audit trail.

Applying decisions (:func:`apply_decisions`) and agreement (:func:`cohen_kappa`,
:func:`fleiss_kappa`, :func:`agreement`) need only the core. Everything that reads or writes the
store (queues, decisions, users, the trail) needs SQLAlchemy and Alembic, and the web UI
(:func:`create_app`, ``unskew review serve``) needs the ``review`` extra; those names are
imported on first use.
"""

from ._agreement import agreement, cohen_kappa, fleiss_kappa
from ._apply import ACTIONS, DECISION_COLUMNS, apply_decisions

_LAZY = {
    "import_report": "._queues", "import_monitor_queue": "._queues", "list_queues": "._queues",
    "next_item": "._queues", "decide": "._queues", "adjudicate": "._queues", "export_decisions": "._queues",
    "queue_agreement": "._queues", "all_decisions": "._queues",
    "add_user": "._auth", "create_token": "._auth", "revoke_tokens": "._auth",
    "append": "._trail", "verify": "._trail",
    "create_set": "._challenges", "add_case": "._challenges", "export_set": "._challenges", "run_set": "._challenges",
    "create_app": "._app", "serve": "._app",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'unskew.review' has no attribute {name!r}")


__all__ = ["ACTIONS", "DECISION_COLUMNS", "agreement", "apply_decisions", "cohen_kappa", "fleiss_kappa", *_LAZY]
