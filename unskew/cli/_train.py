"""``unskew train`` and ``unskew retrain``: fit a method from the command line; the retraining loop."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, guarded, parse_key_values
from ._output import check_outputs, fail_on_option, finish, html_option, json_option, print_written


@app.command("train")
@guarded
def train_cmd(
    data: Path = typer.Argument(..., help="Training table (CSV/Parquet)."),
    target: str = typer.Option(..., "--target", "-t", help="Label column."),
    sensitive: list[str] = typer.Option(None, "--sensitive", "-s", help="Sensitive column (repeat, or comma-separated)."),
    method: str = typer.Option("baseline", "--method", help="baseline, hgb, a mitigation method (reweighing, oversample, correlation_remover, ...) or a PyTorch method of unskew.train (erm, group_dro, jtt, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Write the model here (.skops)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    param: list[str] = typer.Option(None, "--param", help="KEY=VALUE parameter of a PyTorch method (repeat), e.g. max_epochs=10."),
) -> None:
    """Train a model with one method and save it with skops (never pickle)."""
    from ..data._io import load_table
    from ..monitor import save_model, train_table

    check_outputs(extra={"--out": out})
    params = parse_params(param)
    frame, _ = load_table(data)
    sens = [p.strip() for s in (sensitive or []) for p in s.split(",") if p.strip()]
    model, info = train_table(frame, target=target, method=method, sensitive=sens, seed=seed, params=params)
    save_model(model, out)
    console.print(f"Trained {info['method']} on {info.get('rows_fitted', info['rows_in']):,} rows "
                  f"({len(info['features'])} features).", highlight=False)
    print_written("Model", out)


def parse_params(items: list[str] | None) -> dict:
    """``--param KEY=VALUE`` values as numbers, booleans, None or lists where they parse as JSON, else text."""
    import json

    out = {}
    for k, v in parse_key_values(items, "--param").items():
        try:
            val = json.loads(v)
        except ValueError:
            val = {"none": None, "true": True, "false": False}.get(v.lower(), v)
        if isinstance(val, dict):
            from ..exceptions import UnskewInputError

            raise UnskewInputError(f"--param {k}: give a number, a word or a [list], not an object.")
        out[k] = tuple(val) if isinstance(val, list) else val
    return out


@app.command("retrain")
@guarded
def retrain_cmd(
    store: str = typer.Option(None, "--store", help="Store URL (default $UNSKEW_STORE or sqlite:///unskew.db)."),
    name: str = typer.Option(..., "--name", help="Name of the monitored model."),
    train: Path = typer.Option(..., "--train", help="The training table of the current model."),
    method: str = typer.Option("baseline", "--method", help="Training method (as for `unskew train`)."),
    decisions: Path = typer.Option(None, "--decisions", help="Review decisions CSV (relabels and removals)."),
    out: Path = typer.Option(..., "--out", "-o", help="Write the candidate model here (.skops)."),
    challenge: list[Path] = typer.Option(None, "--challenge", help="Challenge set file (as `unskew evaluate --challenge` reads; repeat)."),
    challenge_set: list[str] = typer.Option(None, "--challenge-set", help="Name of a challenge set in the review store (latest version; repeat)."),
    store_challenges: bool = typer.Option(True, "--store-challenges/--no-store-challenges", help="Also use the review store's challenge sets linked to this model (made from its failure-queue review queue)."),
    production: str = typer.Option("queue", "--production", help="Labelled production rows to add: queue (the failure queue's) or all."),
    gate: str = typer.Option("point", "--gate", help="Held-back rule: point (worst-group accuracy not lower) or interval (not lower with 95% confidence)."),
    param: list[str] = typer.Option(None, "--param", help="KEY=VALUE parameter of a PyTorch method (repeat)."),
    holdout: float = typer.Option(0.3, "--holdout", help="Share of the most recent labelled production rows held back for the comparison."),
    min_group: int = typer.Option(20, "--min-group", help="Groups with fewer held-back rows are not compared."),
    json_out: Path = json_option(),
    html_out: Path = html_option(),
    fail_on: str = fail_on_option("Exit 1 when the candidate is not registered (warn)."),
) -> None:
    """Retrain on the training table plus labelled production rows; register only if the worst group does not lose
    on the held-back rows and on every challenge set."""
    from ..data._io import load_table
    from ..monitor import Monitor, retrain

    check_outputs(json_out, html_out, fail_on, extra={"--out": out})
    params = parse_params(param)
    frame, _ = load_table(train)
    report = retrain(Monitor(store), name, frame, method=method, decisions=decisions, out=out,
                     challenges=list(challenge or []), challenge_sets=list(challenge_set or []),
                     store_challenges=store_challenges, production=production, gate=gate, params=params,
                     holdout=holdout, min_group=min_group)
    for f in report.checks[0].findings:
        console.print(f.message, highlight=False)
    print_written("Model", out)
    finish(report, json_out, html_out, fail_on)
