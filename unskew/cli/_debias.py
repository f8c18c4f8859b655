"""``unskew debias``: D3M / Auto-D3M on a table."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, fail_input, guarded, split_list
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
    val_fraction: float = typer.Option(0.3, "--val-fraction", help="Share of rows held out for validation."),
    split: str = typer.Option(None, "--split", help="Column with train/val labels instead of a random split."),
    out: Path = typer.Option(None, "--out", help="Write the cleaned table here (CSV or Parquet)."),
    removed_out: Path = typer.Option(None, "--removed", help="Write the removed examples with scores here (CSV)."),
    json_out: Path = typer.Option(None, "--json", help="Write the JSON report here."),
    html_out: Path = typer.Option(None, "--html", help="Write the HTML report here."),
    ignore: str = typer.Option(None, "--ignore", help="Columns to leave out, comma-separated."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Find and remove the training examples that drive worst-group failures (D3M)."""
    from ..mitigate.d3m import METHODS, REMOVAL_RULES
    from ..mitigate.d3m import debias as run_debias

    if method not in METHODS:
        fail_input(f"--method must be one of {', '.join(METHODS)}, not {method!r}.")
    if removal not in REMOVAL_RULES:
        fail_input(f"--removal must be one of {', '.join(REMOVAL_RULES)}, not {removal!r}.")
    if max_fraction is not None and not 0 < max_fraction < 1:
        fail_input(f"--max-fraction must be between 0 and 1, got {max_fraction}.")
    if not 0 < val_fraction < 1:
        fail_input(f"--val-fraction must be between 0 and 1, got {val_fraction}.")
    with console.status("Fitting, attributing and removing..."):
        res = run_debias(data, target=target, sensitive=sensitive, method=method, removal=removal, k=k, max_fraction=max_fraction,
                         val_fraction=val_fraction, split=split, random_state=seed,
                         ignore=split_list(ignore), na_values=split_list(na_values))
    print_report(res.report)
    s = res.report["d3m"].summary
    console.print(f"removed {s['n_removed']} of {s['n_train']} training rows ({s['fraction_removed']:.1%})"
                  + ("" if s.get("removal_applied", True) else
                     ": no removal raised validation worst-group accuracy above the base model's"))
    if out:
        if out.suffix.lower() in (".parquet", ".pq"):
            res.cleaned.to_parquet(out, index=False)
        else:
            res.cleaned.to_csv(out, index=False)
        console.print(f"cleaned table: {out} ({len(res.cleaned)} rows)")
    if removed_out:
        res.removed.to_csv(removed_out, index=False)
        console.print(f"removed examples: {removed_out}")
    if json_out:
        res.report.save_json(json_out)
    if html_out:
        res.report.save_html(html_out)
