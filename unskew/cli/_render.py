"""Terminal rendering of reports and progress bars."""

from __future__ import annotations

import contextlib

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


def print_report(report: Report, quiet: bool = False) -> None:
    ds = report.dataset
    style = _STATUS_STYLE.get(report.status, "")
    if not quiet:
        excl = ds.get("excluded_rows") or {}
        line = f"{ds.get('source', '')}: {ds.get('n_rows', '?')} rows analysed"
        if excl:
            line += f", {sum(excl.values())} excluded (" + "; ".join(f"{k}: {v}" for k, v in excl.items()) + ")"
        console.print(line, highlight=False)
        table = Table(show_header=True, header_style="bold")
        table.add_column("check")
        table.add_column("status")
        table.add_column("main finding", overflow="fold")
        for c in report.checks:
            s = _STATUS_STYLE.get(c.status, "")
            top = c.findings[0].message if c.findings else ""
            table.add_row(c.title or c.name, f"[{s}]{c.status}[/]", top)
        console.print(table)
    console.print(f"{report.kind} status: [{style}]{report.status}[/]")
