"""``unskew mitigate``: reweigh, resample or decorrelate a table, with counts before and after."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, fail_input, guarded, split_list


@app.command()
@guarded
def mitigate(
    data: Path = typer.Argument(..., help="CSV/TSV (optionally compressed) or Parquet file."),
    target: str = typer.Option(..., "--target", "-t", help="Label column."),
    sensitive: str = typer.Option(..., "--sensitive", "-s", help="Sensitive column(s), comma-separated."),
    method: str = typer.Option(
        ..., "--method", "-m",
        help="reweighing, inverse, sqrt, effective (adds a _weight column); oversample, undersample, smote, "
             "mixup (resampled rows, added ones flagged in _synthetic); correlation (decorrelated numeric features).",
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write the output table here (CSV, or Parquet by extension)."),
    json_out: Path = typer.Option(None, "--json", help="Write the JSON report here."),
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
    from ..mitigate._table import METHODS, mitigate_table
    from ..mitigate.pre._sampling import STRATEGIES

    if method not in METHODS:
        fail_input(f"--method must be one of {', '.join(METHODS)}, not {method!r}.")
    if strategy not in STRATEGIES:
        fail_input(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}.")
    if k_neighbors < 1:
        fail_input(f"--k-neighbors must be at least 1, got {k_neighbors}.")
    if out is not None and out.suffix.lower() not in (".csv", ".tsv", ".parquet", ".pq", ".gz"):
        fail_input(f"--out must end in .csv, .tsv, .csv.gz or .parquet, got {out.name!r}.")
    for path in (out, json_out):
        if path is not None and path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
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
    console.print(f"mitigate ({method}): {s['n_rows_before']} rows in, {s['n_rows_after']} rows out; "
                  f"status: {check.status}", highlight=False)
    if out is not None:
        if out.suffix.lower() in (".parquet", ".pq"):
            res.table.to_parquet(out, index=False)
        else:
            res.table.to_csv(out, index=False, sep="\t" if out.suffix.lower() == ".tsv" else ",")
        console.print(f"output table: {out} ({len(res.table)} rows)")
    if json_out is not None:
        res.report.save_json(json_out)
        console.print(f"JSON report: {json_out}")


def _print_counts(check) -> None:
    from rich.table import Table as RichTable

    t = check.tables[0]
    table = RichTable(title=t.title, show_header=True, header_style="bold")
    for c in t.columns:
        table.add_column(str(c), justify="left" if c in ("group", "class") else "right")
    for row in t.rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)
