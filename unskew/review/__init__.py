"""Human review: queues of flagged rows, decisions, agreement, challenge sets and an audit trail.

The web UI (``unskew review serve``) needs the ``review`` extra; applying
decisions and computing agreement need only the core.
"""

from ._apply import ACTIONS, DECISION_COLUMNS, apply_decisions

__all__ = ["ACTIONS", "DECISION_COLUMNS", "apply_decisions"]
