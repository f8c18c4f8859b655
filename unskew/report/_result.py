"""Typed results that serialise to unskew's versioned JSON schema.

Every command (audit, evaluate, mitigate, ...) produces a :class:`Report`: a
list of :class:`CheckResult` sections plus a description of the dataset. The
JSON layout is documented in ``unskew/report/schema.json`` and versioned by
:data:`SCHEMA_VERSION`; HTML is rendered from the same JSON.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__

SCHEMA_VERSION = "1.0"


class Status(str, Enum):
    """The status of a check or report section.

    A ``str`` enum: ``Status.FAIL == "fail"``, it hashes, prints and serialises
    to JSON as the plain string, so reports keep the same strings.
    ``pass`` < ``warn`` < ``fail`` are ordered (a report's status is the worst
    of them); ``skipped`` (a role the check needs was not given) and ``error``
    (the check itself crashed) are outside that order, and the ``--fail-on``
    gate treats ``error`` as failing (:meth:`Report.fails`).

    Examples
    --------
    >>> from unskew.report import Status
    >>> Status("warn") is Status.WARN, f"{Status.FAIL}", Status.ERROR == "error"
    (True, 'fail', True)
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"
    ERROR = "error"

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__


#: Ordered statuses; a report's status is the worst of its checks'.
STATUSES = (Status.PASS, Status.WARN, Status.FAIL)
OTHER_STATUSES = (Status.SKIPPED, Status.ERROR)
#: Levels ``--fail-on`` / :meth:`Report.fails` accept.
GATE_LEVELS = ("warn", "fail")

#: Most rows of raw data a report may embed per section.
MAX_SAMPLE_ROWS = 20
#: Longest string cell embedded in a sample.
MAX_CELL_CHARS = 200


def status_rank(status: str) -> int:
    return STATUSES.index(status) if status in STATUSES else -1


def worst_status(statuses) -> Status:
    """The worst of ``pass``/``warn``/``fail`` among ``statuses`` (others ignored; ``pass`` when none)."""
    ranked = [s for s in statuses if s in STATUSES]
    return Status(max(ranked, key=status_rank)) if ranked else Status.PASS


def gate_fails(statuses, level: str) -> bool:
    """Whether statuses trip a ``--fail-on level`` gate: one reaches ``level``, or one is ``error``.

    Examples
    --------
    >>> gate_fails(["pass", "error"], "fail"), gate_fails(["warn"], "fail"), gate_fails(["warn"], "warn")
    (True, False, True)
    """
    if level not in GATE_LEVELS:
        from ..exceptions import UnskewInputError

        raise UnskewInputError(f"The gate level fail_on (--fail-on) must be 'warn' or 'fail', got {level!r}.")
    statuses = list(statuses)
    if any(s == Status.ERROR for s in statuses):
        return True
    return status_rank(worst_status(statuses)) >= status_rank(level)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas scalars and containers to plain JSON types.

    NaN and infinities become ``None`` (JSON has no such numbers).
    """
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


@dataclass
class Finding:
    """One plain-language observation of a check.

    ``severity`` is ``info``, ``warn`` or ``fail``; ``subject`` names the column,
    group or value concerned; ``value`` is the number behind the finding.
    """

    message: str
    severity: str = "info"
    subject: str | None = None
    value: float | None = None

    def to_dict(self) -> dict:
        return to_jsonable(
            {"message": self.message, "severity": self.severity, "subject": self.subject, "value": self.value}
        )


@dataclass
class Bar:
    label: str
    value: float
    low: float | None = None
    high: float | None = None
    flag: bool = False

    def to_dict(self) -> dict:
        return to_jsonable(self.__dict__)


@dataclass
class Point:
    """A point of a scatter chart, with optional intervals on both axes.

    ``series`` groups points that share a colour (e.g. ``"peer"``); ``flag``
    marks the point a finding is about.
    """

    label: str
    x: float
    y: float
    x_low: float | None = None
    x_high: float | None = None
    y_low: float | None = None
    y_high: float | None = None
    flag: bool = False
    series: str = ""

    def to_dict(self) -> dict:
        return to_jsonable(self.__dict__)


@dataclass
class Chart:
    """A horizontal bar chart with optional intervals and a reference line.

    With ``kind="scatter"`` the chart draws ``points`` instead of bars
    (``x_label``/``y_label`` name the axes; ``reference`` is a vertical line
    at that x).
    """

    title: str
    bars: list[Bar]
    x_label: str = ""
    reference: float | None = None
    reference_label: str = ""
    kind: str = "bar"
    points: list[Point] = field(default_factory=list)
    y_label: str = ""

    def to_dict(self) -> dict:
        out = {
            "kind": self.kind,
            "title": self.title,
            "x_label": self.x_label,
            "reference": self.reference,
            "reference_label": self.reference_label,
            "bars": [b.to_dict() for b in self.bars],
        }
        if self.points or self.kind == "scatter":
            out["points"] = [p.to_dict() for p in self.points]
            out["y_label"] = self.y_label
        return to_jsonable(out)


@dataclass
class Table:
    """A small table; ``rows`` are lists aligned with ``columns``."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    is_sample: bool = False
    #: Rows the sample was drawn from (defaults to ``len(rows)``).
    n_rows_total: int | None = None

    def to_dict(self) -> dict:
        rows = self.rows[:MAX_SAMPLE_ROWS] if self.is_sample else self.rows
        total = len(self.rows) if self.n_rows_total is None else max(int(self.n_rows_total), len(self.rows))
        return to_jsonable(
            {
                "title": self.title,
                "columns": list(self.columns),
                "rows": [[_cap_cell(v) for v in r] for r in rows],
                "is_sample": self.is_sample,
                "n_rows_total": total,
            }
        )


def _cap_cell(v):
    if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
        return v[: MAX_CELL_CHARS - 1] + "…"
    return v


def sample_table(title: str, frame, max_rows: int = MAX_SAMPLE_ROWS) -> Table:
    """A capped sample of data rows (for flagged examples) as a :class:`Table`.

    The frame's index is kept as a ``row`` column so readers can find the rows.
    """
    head = frame.head(max_rows)
    cols = ["row"] + [str(c) for c in head.columns]
    rows = [[int(i) if isinstance(i, (int, np.integer)) else str(i)] + [_cell(v) for v in r]
            for i, r in zip(head.index, head.itertuples(index=False, name=None), strict=True)]
    return Table(title=title, columns=cols, rows=rows, is_sample=True, n_rows_total=len(frame))


def _cell(v):
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else round(float(v), 6)
    if isinstance(v, (np.integer, int, bool, np.bool_)):
        return to_jsonable(v)
    if v is None:
        return None
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


@dataclass
class CheckResult:
    """The outcome of one check or one section of a report.

    Attributes
    ----------
    name : str
        Registry name of the check (``"label_quality"``).
    title : str
        Human title.
    status : str
        ``pass``, ``warn``, ``fail``, ``skipped`` or ``error``.
    summary : dict
        Dataset-level numbers (JSON types).
    findings : list of Finding
        Plain-language observations, most important first.
    explanation : str
        What the check does and how to read it, in one or two sentences.
    thresholds : dict
        Thresholds that decided the status.
    charts, tables : lists
        Presentation material for the HTML report.
    scores : numpy.ndarray, optional
        Per-row scores aligned with the dataset's rows; kept in memory and not
        written to JSON (only a capped sample of flagged rows is).
    """

    name: str
    title: str
    status: str = "pass"
    summary: dict = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    explanation: str = ""
    thresholds: dict = field(default_factory=dict)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    scores: Any = None
    elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        try:
            self.status = Status(self.status)
        except ValueError:
            raise ValueError(f"CheckResult {self.name!r}: status must be one of "
                             f"{[s.value for s in Status]}, got {self.status!r}") from None

    def to_dict(self) -> dict:
        return to_jsonable(
            {
                "name": self.name,
                "title": self.title,
                "status": self.status,
                "summary": self.summary,
                "findings": [f.to_dict() for f in self.findings],
                "explanation": self.explanation,
                "thresholds": self.thresholds,
                "charts": [c.to_dict() for c in self.charts],
                "tables": [t.to_dict() for t in self.tables],
                "elapsed_s": round(self.elapsed_s, 4),
            }
        )


@dataclass
class Report:
    """A whole result: what was analysed and the checks' outcomes.

    Use :meth:`to_json`, :meth:`to_html`, :meth:`save_json` and
    :meth:`save_html`; ``report[name]`` returns a check by name.
    """

    kind: str
    checks: list[CheckResult]
    dataset: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    created: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    )

    @property
    def status(self) -> Status:
        """The worst of the checks' ``pass``/``warn``/``fail`` (``skipped``/``error`` ignored)."""
        return worst_status(c.status for c in self.checks)

    def __getitem__(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"No check named {name!r}; have {[c.name for c in self.checks]}")

    def __contains__(self, name: str) -> bool:
        return any(c.name == name for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "unskew",
            "unskew_version": __version__,
            "kind": self.kind,
            "created": self.created,
            "status": self.status,
            "dataset": to_jsonable(self.dataset),
            "parameters": to_jsonable(self.parameters),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_html(self) -> str:
        from ._html import render_html

        return render_html(self.to_dict())

    def save_json(self, path: str | Path) -> Path:
        """Write the JSON report (whole or not at all: a temporary file is renamed)."""
        from ._files import write_text

        return write_text(path, self.to_json())

    def save_html(self, path: str | Path) -> Path:
        """Write the self-contained HTML report (whole or not at all)."""
        from ._files import write_text

        return write_text(path, self.to_html())

    def fails(self, level: str) -> bool:
        """True when a check reached ``level`` (``warn`` or ``fail``) or worse, or errored.

        A check whose status is ``error`` (it crashed) always fails the gate: a
        crashed check must never pass ``--fail-on``. ``skipped`` never fails.
        """
        return gate_fails((c.status for c in self.checks), level)
