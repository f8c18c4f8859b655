"""``unskew mitigate``: reweigh, resample or decorrelate a table, with counts before and after."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, guarded, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option, print_written


@app.command()
@guarded
def mitigate(
    data: Path = typer.Argument(..., help="CSV/TSV (optionally compressed) or Parquet file."),
    target: str = typer.Option(..., "--target", "-t", help="Label column."),
    sensitive: str = typer.Option(..., "--sensitive", "-s", help="Sensitive column(s), comma-separated."),
    method: str = typer.Option(
        ..., "--method", "-m",
        help="reweighing, inverse, sqrt, effective (adds a _weight column); oversample, undersample, smote, "
             "mixup (resampled rows, added ones flagged in _synthetic); correlation_remover (decorrelated "
             "numeric features).",
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write the output table here (CSV, or Parquet by extension)."),
    json_out: Path = json_option(),
    html_out: Path = html_option(),
    fail_on: str = fail_on_option("Exit 1 when the mitigation's report reaches this level: warn or fail."),
    strategy: str = typer.Option("balanced", "--strategy", help="Target distribution for resampling: balanced, independent or balance_classes."),
    k_neighbors: int = typer.Option(5, "--k-neighbors", help="Neighbours for smote."),
    alpha: float = typer.Option(None, "--alpha", help="mixup's Beta parameter (0.4) or correlation strength (1.0)."),
    beta: float = typer.Option(0.999, "--beta", help="Parameter of the effective-number weights."),
    ignore: str = typer.Option(None, "--ignore", help="Columns to leave out (copied unchanged), comma-separated."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (e.g. '?')."),
    max_levels: int = typer.Option(100, "--max-levels", help="Most distinct values a sensitive column may have."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary line."),
) -> None:
    """Mitigate DATA before training and report (group, class) counts before and after."""
    from ..mitigate._table import mitigate_table
    from ..report import table_format

    check_outputs(json_out, html_out, fail_on, extra={"--out": out})
    if out is not None:
        table_format(out, "--out")
    res = mitigate_table(
        data, target=target, sensitive=split_list(sensitive), method=method, sampling_strategy=strategy,
        k_neighbors=k_neighbors, alpha=alpha, beta=beta, random_state=seed, ignore=split_list(ignore),
        na_values=split_list(na_values), max_levels=max_levels,
    )
    check = res.report.checks[0]
    if not quiet:
        _print_counts(check)
        for f in check.findings:
            console.print(f"- {f.message}", highlight=False)
    s = check.summary
    console.print(f"mitigate ({res.report.parameters['method']}): {s['n_rows_before']} rows in, {s['n_rows_after']} rows out; "
                  f"status: {check.status}", highlight=False)
    if out is not None:
        from ..report import write_table

        print_written("output table", f"{write_table(res.table, out, '--out')} ({len(res.table)} rows)")
    finish(res.report, json_out, html_out, fail_on)


def _print_counts(check) -> None:
    from rich.table import Table as RichTable

    t = check.tables[0]
    table = RichTable(title=t.title, show_header=True, header_style="bold")
    for c in t.columns:
        table.add_column(str(c), justify="left" if c in ("group", "class") else "right")
    for row in t.rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)
