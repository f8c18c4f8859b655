"""Results as typed objects, versioned JSON, and HTML rendered from the JSON."""

from ._result import (
    MAX_SAMPLE_ROWS,
    SCHEMA_VERSION,
    Bar,
    Chart,
    CheckResult,
    Finding,
    Point,
    Report,
    Table,
    sample_table,
    to_jsonable,
    worst_status,
)

__all__ = [
    "MAX_SAMPLE_ROWS",
    "SCHEMA_VERSION",
    "Bar",
    "Chart",
    "CheckResult",
    "Finding",
    "Point",
    "Report",
    "Table",
    "sample_table",
    "to_jsonable",
    "worst_status",
]
