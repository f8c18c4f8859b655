"""``unskew train`` and ``unskew retrain``: fit a method from the command line; the retraining loop."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, guarded
from ._output import check_outputs, print_written


@app.command("train")
@guarded
def train_cmd(
    data: Path = typer.Argument(..., help="Training table (CSV/Parquet)."),
    target: str = typer.Option(..., "--target", "-t", help="Label column."),
    sensitive: list[str] = typer.Option(None, "--sensitive", "-s", help="Sensitive column (repeat, or comma-separated)."),
    method: str = typer.Option("baseline", "--method", help="baseline, hgb, or a weights/sampler mitigation method (reweighing, oversample, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Write the model here (.skops)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Train a model with one method and save it with skops (never pickle)."""
    from ..data._io import load_table
    from ..monitor import save_model, train_table

    check_outputs(extra={"--out": out})
    frame, _ = load_table(data)
    sens = [p.strip() for s in (sensitive or []) for p in s.split(",") if p.strip()]
    model, info = train_table(frame, target=target, method=method, sensitive=sens, seed=seed)
    save_model(model, out)
    console.print(f"Trained {info['method']} on {info.get('rows_fitted', info['rows_in']):,} rows "
                  f"({len(info['features'])} features).", highlight=False)
    print_written("Model", out)


@app.command("retrain")
@guarded
def retrain_cmd(
    store: str = typer.Option(None, "--store", help="Store URL (default $UNSKEW_STORE or sqlite:///unskew.db)."),
    name: str = typer.Option(..., "--name", help="Name of the monitored model."),
    train: Path = typer.Option(..., "--train", help="The training table of the current model."),
    method: str = typer.Option("baseline", "--method", help="Training method (as for `unskew train`)."),
    decisions: Path = typer.Option(None, "--decisions", help="Review decisions CSV (relabels and removals)."),
    out: Path = typer.Option(..., "--out", "-o", help="Write the candidate model here (.skops)."),
    json_out: Path = typer.Option(None, "--json", help="Write the JSON report here."),
) -> None:
    """Retrain on the training table plus labelled failure-queue rows; register only if the worst group does not lose."""
    from ..data._io import load_table
    from ..monitor import Monitor, retrain

    check_outputs(json_out, None, None, extra={"--out": out})
    frame, _ = load_table(train)
    report = retrain(Monitor(store), name, frame, method=method, decisions=decisions, out=out)
    for f in report.checks[0].findings:
        console.print(f.message, highlight=False)
    print_written("Model", out)
    if json_out is not None:
        print_written("JSON report", report.save_json(json_out))
