"""``unskew audit``: run the data checks and write JSON/HTML reports."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, guarded, parse_key_values, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option
from ._render import print_report, progress_callback


@app.command()
@guarded
def audit(
    data: Path = typer.Argument(..., help="CSV/TSV (optionally compressed) or Parquet file."),
    target: str = typer.Option(None, "--target", "-t", help="Label column."),
    sensitive: str = typer.Option(None, "--sensitive", "-s", help="Sensitive column(s), comma-separated."),
    reference: Path = typer.Option(None, "--reference", help="Reference population shares (JSON or CSV attribute,value,share)."),
    compare: Path = typer.Option(None, "--compare", help="Second table (test or production) for the shift check."),
    json_out: Path = json_option(),
    html_out: Path = html_option(),
    fail_on: str = fail_on_option(),
    weights: str = typer.Option(None, "--weights", help="Instance-weight column (e.g. survey weights); rates and shares are weighted."),
    checks: str = typer.Option(None, "--checks", help="Only these checks, comma-separated."),
    ignore: str = typer.Option(None, "--ignore", help="Columns to leave out, comma-separated."),
    col_type: list[str] = typer.Option(None, "--type", help="Override a column type: COLUMN=numeric|categorical|boolean|text|datetime (repeatable)."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter (detected by default)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of CSV files."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (e.g. '?')."),
    max_levels: int = typer.Option(100, "--max-levels", help="Most distinct values a sensitive column may have."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the status line."),
    # -- engines (issue 17)
    engine: str = typer.Option("pandas", "--engine", help="pandas (load the table), or duckdb, spark or dask (count-based checks from the engine's counts, model-based checks on a stratified sample it draws)."),
    sample_size: int = typer.Option(200_000, "--sample-size", help="Rows of the stratified sample for the model-based checks with --engine duckdb, spark or dask."),
    memory_limit: str = typer.Option(None, "--memory-limit", help="DuckDB memory limit with --engine duckdb, e.g. 4GB."),
    spark_master: str = typer.Option("local[*]", "--spark-master", help="Spark master URL with --engine spark."),
    dask_scheduler: str = typer.Option(None, "--dask-scheduler", help="Dask scheduler ADDRESS with --engine dask (default: a LocalCluster)."),
    # -- end engines
) -> None:
    """Audit DATA for imbalance, sampling bias, label errors, outliers, duplicates, proxies, missingness and shift."""
    from ..audit import audit as run_audit
    from ._evaluate import _engine_options

    check_outputs(json_out, html_out, fail_on)
    engine_kw = _engine_options(engine, spark_master, dask_scheduler, memory_limit)  # issue 17
    with progress_callback(quiet) as on_progress:
        report = run_audit(
            data,
            target=target,
            sensitive=sensitive,
            reference=reference,
            compare=compare,
            checks=split_list(checks),
            weights=weights,
            random_state=seed,
            on_progress=on_progress,
            ignore=split_list(ignore),
            column_types=parse_key_values(col_type, "--type") or None,
            delimiter=delimiter,
            encoding=encoding,
            na_values=split_list(na_values),
            max_levels=max_levels,
            engine=engine_kw["engine"],  # issue 17
            engine_options={"sample_size": sample_size, **engine_kw["engine_options"]},
        )
    print_report(report, quiet=quiet)
    finish(report, json_out, html_out, fail_on)
