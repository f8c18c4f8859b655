"""Data audit: one small check class per problem, in a registry.

``unskew.audit.audit(data, target=..., sensitive=...)`` runs every registered
check and returns a :class:`~unskew.report.Report`. Each check module below
registers itself on import; the import order is the run order.
"""

from . import _target  # noqa: F401  (registers checks)
from . import _representation  # noqa: F401
from . import _base_rates  # noqa: F401
from . import _missing  # noqa: F401
from . import _label_quality  # noqa: F401
from . import _outliers  # noqa: F401
from . import _duplicates  # noqa: F401
from . import _proxies  # noqa: F401
from . import _shift  # noqa: F401
from ._base import CHECKS, AuditContext, Check, get_check, list_checks, register_check
from ._runner import audit, load_reference, run_checks

__all__ = [
    "CHECKS",
    "AuditContext",
    "Check",
    "audit",
    "get_check",
    "list_checks",
    "load_reference",
    "register_check",
    "run_checks",
]
