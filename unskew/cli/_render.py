"""Terminal rendering of reports and progress bars."""

from __future__ import annotations

import contextlib

from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..report import Report
from ._app import console, err_console

_STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "skipped": "dim", "error": "magenta"}


@contextlib.contextmanager
def progress_callback(quiet: bool = False):
    """A ``(label, done, total)`` callback drawing a progress bar on stderr."""
    if quiet:
        yield None
        return
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err_console, transient=True,
    )
    task = None

    def on_progress(label: str, done: int, total: int) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task(label, total=total)
        progress.update(task, completed=done, description=label)

    with progress:
        yield on_progress


def _main_finding(check) -> str:
    """The finding that explains a check's status best (a warn/fail one first)."""
    if not check.findings:
        return "no findings" if check.status == "pass" else ""
    for sev in ("fail", "warn"):
        for f in check.findings:
            if f.severity == sev:
                return f.message
    return check.findings[0].message


def print_report(report: Report, quiet: bool = False) -> None:
    """Print what was analysed, one line per check and the overall status."""
    ds = report.dataset
    style = _STATUS_STYLE.get(report.status, "")
    excl = ds.get("excluded_rows") or {}
    n_excl = sum(int(v) for v in excl.values())
    if not quiet:
        n_rows, n_read = ds.get("n_rows"), ds.get("n_rows_read")
        line = f"{ds.get('source', '')}: {_n(n_rows)} rows analysed"
        if n_read is not None and n_read != n_rows:
            line += f" of {_n(n_read)} read"
        roles = []
        if ds.get("target"):
            roles.append(f"target {ds['target']!r}")
        if ds.get("sensitive"):
            roles.append("sensitive " + ", ".join(repr(s) for s in ds["sensitive"]))
        if roles:
            line += "; " + "; ".join(roles)
        console.print(line, highlight=False, markup=False)
    if excl:
        console.print(
            f"Excluded {_n(n_excl)} row{'s' if n_excl != 1 else ''}: "
            + "; ".join(f"{k}: {_n(v)}" for k, v in excl.items()),
            highlight=False, markup=False, style="yellow",
        )
    cmp = ds.get("compare") or {}
    if cmp and not quiet:
        c_excl = cmp.get("excluded_rows") or {}
        line = f"compared with {cmp.get('source', '')}: {_n(cmp.get('n_rows'))} rows analysed"
        if c_excl:
            line += f" of {_n(cmp.get('n_rows_read'))} read; excluded " + "; ".join(
                f"{k}: {_n(v)}" for k, v in c_excl.items())
        console.print(line, highlight=False, markup=False)
    if not quiet:
        table = Table(show_header=True, header_style="bold")
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("main finding", overflow="fold")
        for c in report.checks:
            s = _STATUS_STYLE.get(c.status, "")
            table.add_row(escape(c.name), f"[{s}]{c.status}[/]", escape(_main_finding(c)))
        console.print(table)
    counts = {}
    for c in report.checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    console.print(f"{report.kind} status: [{style}]{report.status}[/] ({escape(tally)})", highlight=False)


def _n(v) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)
