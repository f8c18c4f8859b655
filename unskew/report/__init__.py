"""Results as typed objects, versioned JSON, and HTML rendered from the JSON."""

from ._files import check_output_path, table_format, write_table, write_text
from ._result import (
    GATE_LEVELS,
    MAX_SAMPLE_ROWS,
    SCHEMA_VERSION,
    STATUSES,
    Bar,
    Chart,
    CheckResult,
    Finding,
    Point,
    Report,
    Status,
    Table,
    gate_fails,
    sample_table,
    to_jsonable,
    worst_status,
)

__all__ = [
    "GATE_LEVELS",
    "MAX_SAMPLE_ROWS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Bar",
    "Chart",
    "CheckResult",
    "Finding",
    "Point",
    "Report",
    "Status",
    "Table",
    "check_output_path",
    "gate_fails",
    "sample_table",
    "table_format",
    "to_jsonable",
    "worst_status",
    "write_table",
    "write_text",
]
