"""``unskew debias``: D3M / Auto-D3M on a table."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, guarded, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option, print_written
from ._render import print_report


@app.command()
@guarded
def debias(
    data: Path = typer.Argument(..., help="CSV/TSV or Parquet file."),
    target: str = typer.Option(..., "--target", "-t", help="Binary label column."),
    sensitive: str = typer.Option(None, "--sensitive", "-s", help="Sensitive column(s) defining validation groups (with the target)."),
    method: str = typer.Option("d3m", "--method", help="d3m (validation group labels) or auto-d3m (no group labels)."),
    removal: str = typer.Option("auto", "--removal", help=(
        "auto (default: how many chosen by validation worst-group accuracy up to --max-fraction, "
        "applied only if it beats the base model), negative (the paper's rule: every negative score), "
        "k, or sweep (auto without cap or guard).")),
    k: int = typer.Option(None, "--k", help="How many to remove with --removal k."),
    max_fraction: float = typer.Option(None, "--max-fraction", help="Most rows removed, as a share of training rows "
                                       "(default 0.2 for auto, no cap otherwise)."),
    selection: str = typer.Option("checked", "--selection", help=(
        "How auto/sweep choose and check the removal: checked (default: chosen on all validation rows, applied "
        "only if a held-out estimate, each half of the validation rows judging the other half's choice, also "
        "gains), crossfit (chosen on that held-out estimate) or in_sample (all validation rows only).")),
    rounds: int = typer.Option(1, "--rounds", help=(
        "Take the removal budget in this many chunks, retraining and re-scoring what is left before each "
        "(1, the default, scores once as the paper does).")),
    min_group_size: int = typer.Option(20, "--min-group-size", help=(
        "Validation groups with fewer rows are left out of D3M's worst-group objective, and listed in the "
        "report (1 keeps every group).")),
    pseudo_depth: int = typer.Option(1, "--pseudo-depth", help=(
        "Auto-D3M: split each class's validation rows this many times by their attributions' first principal "
        "component (1, the default, as the paper: two pseudo-groups per class; 2 splits each half again).")),
    val_fraction: float = typer.Option(0.3, "--val-fraction", help="Share of rows held out for validation."),
    split: str = typer.Option(None, "--split", help="Column with train/val labels instead of a random split."),
    out: Path = typer.Option(None, "--out", help="Write the cleaned table here (CSV or Parquet)."),
    removed_out: Path = typer.Option(None, "--removed", help="Write the removed examples with scores here (CSV)."),
    json_out: Path = json_option(),
    html_out: Path = html_option(),
    fail_on: str = fail_on_option(),
    ignore: str = typer.Option(None, "--ignore", help="Columns to leave out, comma-separated."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Find and remove the training examples that drive worst-group failures (D3M)."""
    from ..mitigate.d3m import debias as run_debias
    from ..report import table_format, write_table

    check_outputs(json_out, html_out, fail_on, extra={"--out": out, "--removed": removed_out})
    if out is not None:
        table_format(out, "--out")
    if removed_out is not None:
        table_format(removed_out, "--removed")
    with console.status("Fitting, attributing and removing..."):
        res = run_debias(data, target=target, sensitive=sensitive, method=method, removal=removal, k=k, max_fraction=max_fraction,
                         selection=selection, rounds=rounds, min_group_size=min_group_size,
                         pseudo_depth=pseudo_depth, val_fraction=val_fraction, split=split, random_state=seed,
                         ignore=split_list(ignore), na_values=split_list(na_values))
    print_report(res.report)
    s = res.report["d3m"].summary
    console.print(f"removed {s['n_removed']} of {s['n_train']} training rows ({s['fraction_removed']:.1%})"
                  + ("" if s.get("removal_applied", True) else
                     ": no removal beat the base model on validation worst-group accuracy (see the findings)"))
    if out:
        print_written("cleaned table", f"{write_table(res.cleaned, out, '--out')} ({len(res.cleaned)} rows)")
    if removed_out:
        print_written("removed examples", write_table(res.removed, removed_out, "--removed"))
    finish(res.report, json_out, html_out, fail_on)
