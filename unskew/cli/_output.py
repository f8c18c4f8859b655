"""The one ending every report-writing command shares: write JSON/HTML, print the paths, apply the gate.

A command that writes a report uses this module and nothing else for its
outputs, so ``--json``, ``--html`` and ``--fail-on`` mean the same everywhere::

    from ._output import check_outputs, fail_on_option, finish, html_option, json_option

    @app.command()
    @guarded
    def mycommand(
        data: Path = typer.Argument(...),
        json_out: Path = json_option(),
        html_out: Path = html_option(),
        fail_on: str = fail_on_option(),
    ) -> None:
        check_outputs(json_out, html_out, fail_on)          # before the long part: bad paths exit 2
        report = library_function(data)                     # the library validates its inputs
        print_report(report)
        finish(report, json_out, html_out, fail_on)         # writes, prints, exits 0 or 1

API
---
:func:`json_option`, :func:`html_option`, :func:`fail_on_option`
    Typer options with the shared names and help.
:func:`check_outputs(json_path, html_path, fail_on, extra=None) <check_outputs>`
    Validate the gate level and every output path before the run
    (:class:`~unskew.exceptions.UnskewInputError`, exit 2, on a bad one).
:func:`write_report(report, json_path, html_path, fail_on) -> int <write_report>`
    Write the files (each whole or absent), print ``JSON report: PATH`` /
    ``HTML report: PATH``, and return the exit code of the gate:
    :data:`EXIT_OK` (0) or :data:`EXIT_GATE` (1).
:func:`finish(report, json_path, html_path, fail_on) <finish>`
    :func:`write_report`, then exit with its code.
:func:`print_written(label, path) <print_written>`
    Print ``LABEL: PATH`` for any other file a command writes (tables, CSV).

The gate (:meth:`unskew.report.Report.fails`): exit 1 when a check reached
the ``--fail-on`` level (``warn`` or ``fail``) or when any check has status
``error``; a crashed check never passes the gate. ``skipped`` never fails it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer

from ..report import GATE_LEVELS, Report, Status, check_output_path, gate_fails
from ._app import EXIT_GATE, EXIT_OK, console, err_console

__all__ = [
    "EXIT_GATE",
    "EXIT_OK",
    "check_outputs",
    "fail_on_option",
    "finish",
    "html_option",
    "json_option",
    "print_written",
    "write_report",
]


def json_option(help: str = "Write the JSON report here.") -> Any:
    """The ``--json PATH`` option."""
    return typer.Option(None, "--json", help=help)


def html_option(help: str = "Write the HTML report here.") -> Any:
    """The ``--html PATH`` option."""
    return typer.Option(None, "--html", help=help)


def fail_on_option(
    help: str = "Exit 1 when a check reaches this level: warn or fail (a check that errored always fails).",
) -> Any:
    """The ``--fail-on LEVEL`` option."""
    return typer.Option(None, "--fail-on", help=help)


def check_outputs(json_path: Path | None = None, html_path: Path | None = None, fail_on: str | None = None,
                  extra: dict[str, Path | None] | None = None) -> None:
    """Validate the gate level and the output paths before any work is done.

    Parameters
    ----------
    json_path, html_path : Path, optional
        The ``--json`` / ``--html`` paths; their folders are created.
    fail_on : str, optional
        ``warn``, ``fail`` or None.
    extra : dict, optional
        Other outputs of the command, ``{option: path}`` (``{"--out": path}``).

    Raises
    ------
    UnskewInputError
        A gate level other than warn/fail, or a path that is a folder or cannot be written.
    """
    if fail_on is not None:
        gate_fails([], fail_on)  # raises for a level other than warn/fail
    outputs = {"--json": json_path, "--html": html_path, **(extra or {})}
    for option, path in outputs.items():
        if path is not None:
            check_output_path(path, option)


def print_written(label: str, path: Path | str) -> None:
    """Print ``LABEL: PATH`` for a file the command wrote."""
    console.print(f"{label}: {path}", highlight=False, markup=False, soft_wrap=True)  # paths never wrap


def write_report(report: Report, json_path: Path | None = None, html_path: Path | None = None,
                 fail_on: str | None = None) -> int:
    """Write the report's JSON and HTML, print their paths, and apply the ``--fail-on`` gate.

    Parameters
    ----------
    report : unskew.report.Report
    json_path, html_path : Path, optional
        Where to write; None skips that file. Each file is written whole or not at all.
    fail_on : {"warn", "fail"}, optional
        The gate level; None never fails.

    Returns
    -------
    int
        :data:`EXIT_GATE` (1) when the gate trips (a check at ``fail_on`` or
        worse, or any ``error`` check), else :data:`EXIT_OK` (0). The reason
        is printed on stderr.
    """
    if json_path is not None:
        print_written("JSON report", report.save_json(json_path))
    if html_path is not None:
        print_written("HTML report", report.save_html(html_path))
    if fail_on is None or not gate_fails((c.status for c in report.checks), fail_on):
        return EXIT_OK
    level = GATE_LEVELS.index(fail_on)
    hit = [f"{c.name}: {c.status}" for c in report.checks
           if c.status == Status.ERROR or (c.status in GATE_LEVELS and GATE_LEVELS.index(c.status) >= level)]
    err_console.print(f"gate: --fail-on {fail_on} reached ({', '.join(hit)}); exit code {EXIT_GATE}.",
                      highlight=False, markup=False)
    return EXIT_GATE


def finish(report: Report, json_path: Path | None = None, html_path: Path | None = None,
           fail_on: str | None = None) -> NoReturn:
    """:func:`write_report`, then exit with its code (0 or 1)."""
    raise typer.Exit(write_report(report, json_path, html_path, fail_on))
