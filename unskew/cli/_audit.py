"""``unskew audit``: run the data checks and write JSON/HTML reports."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import (
    EXIT_GATE,
    app,
    console,
    fail_input,
    guarded,
    parse_key_values,
    split_list,
)
from ._render import print_report, progress_callback


def prepare_output(path: Path, option: str) -> None:
    """Check an output file can be written before a long run: create its
    folder, refuse a folder or an unwritable location (exit 2)."""
    import os

    if path.is_dir():
        fail_input(f"{option} {path} is a folder; give a file name, e.g. {path / 'audit'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail_input(f"{option}: cannot create the folder {path.parent}: {exc.strerror or exc}.")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail_input(f"{option}: cannot write {path} (permission denied).")


@app.command()
@guarded
def audit(
    data: Path = typer.Argument(..., help="CSV/TSV (optionally compressed) or Parquet file."),
    target: str = typer.Option(None, "--target", "-t", help="Label column."),
    sensitive: str = typer.Option(None, "--sensitive", "-s", help="Sensitive column(s), comma-separated."),
    reference: Path = typer.Option(None, "--reference", help="Reference population shares (JSON or CSV attribute,value,share)."),
    compare: Path = typer.Option(None, "--compare", help="Second table (test or production) for the shift check."),
    json_out: Path = typer.Option(None, "--json", help="Write the JSON report here."),
    html_out: Path = typer.Option(None, "--html", help="Write the HTML report here."),
    fail_on: str = typer.Option(None, "--fail-on", help="Exit 1 when a check reaches this level: warn or fail."),
    checks: str = typer.Option(None, "--checks", help="Only these checks, comma-separated."),
    ignore: str = typer.Option(None, "--ignore", help="Columns to leave out, comma-separated."),
    col_type: list[str] = typer.Option(None, "--type", help="Override a column type: COLUMN=numeric|categorical|boolean|text|datetime (repeatable)."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter (detected by default)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of CSV files."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (e.g. '?')."),
    max_levels: int = typer.Option(100, "--max-levels", help="Most distinct values a sensitive column may have."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the status line."),
) -> None:
    """Audit DATA for imbalance, sampling bias, label errors, outliers, duplicates, proxies, missingness and shift."""
    from ..audit import audit as run_audit
    from ..audit import list_checks

    if fail_on not in (None, "warn", "fail"):
        fail_input(f"--fail-on must be 'warn' or 'fail', got {fail_on!r}.")
    for opt, path in (("--json", json_out), ("--html", html_out)):
        if path is not None:
            prepare_output(path, opt)
    chosen = split_list(checks)
    if chosen:
        unknown = [c for c in chosen if c not in list_checks()]
        if unknown:
            fail_input(f"Unknown check(s) {unknown}; available: {', '.join(list_checks())}.")
    with progress_callback(quiet) as on_progress:
        report = run_audit(
            data,
            target=target,
            sensitive=sensitive,
            reference=reference,
            compare=compare,
            checks=chosen,
            random_state=seed,
            on_progress=on_progress,
            ignore=split_list(ignore),
            column_types=parse_key_values(col_type, "--type") or None,
            delimiter=delimiter,
            encoding=encoding,
            na_values=split_list(na_values),
            max_levels=max_levels,
        )
    print_report(report, quiet=quiet)
    if json_out:
        report.save_json(json_out)
        console.print(f"JSON report: {json_out}", highlight=False, markup=False)
    if html_out:
        report.save_html(html_out)
        console.print(f"HTML report: {html_out}", highlight=False, markup=False)
    if fail_on and report.fails(fail_on):
        raise typer.Exit(EXIT_GATE)
