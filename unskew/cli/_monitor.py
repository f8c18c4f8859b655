"""``unskew monitor``: reference profiles, logging predictions and labels, checks, the failure queue, the service.

The flags of these commands are fixed: scripts and cron jobs depend on them.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, guarded, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option, print_written

monitor_app = typer.Typer(
    name="monitor",
    help="Production monitoring: subpopulations, drift, per-group performance (realised and estimated), alerts.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")

STORE_HELP = "Store URL (default $UNSKEW_STORE or sqlite:///unskew.db)."


def _table(path: Path):
    from ..data._io import load_table

    frame, _ = load_table(path)
    return frame


@monitor_app.command("init")
@guarded
def init_cmd(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    name: str = typer.Option(..., "--name", help="Name of the monitored model."),
    reference: Path = typer.Option(..., "--reference", help="Training (or validation) table with the model's outputs."),
    target: str = typer.Option(..., "--target", help="Label column of the reference table."),
    predictions: str = typer.Option(..., "--predictions", help="Predicted-label column (filled from --model if absent)."),
    scores: str = typer.Option(None, "--scores", help="Positive-class score column (binary; enables CBPE)."),
    sensitive: str = typer.Option(..., "--sensitive", help="Sensitive column(s), comma-separated; groups are their intersections."),
    model: Path = typer.Option(None, "--model", help="The model (.skops), stored with the version for retrain."),
) -> None:
    """Store the reference profile of a model (a new version if the name exists)."""
    from ..monitor import Monitor

    out = Monitor(store).init(name, _table(reference), target=target, predictions=predictions, scores=scores,
                              sensitive=split_list(sensitive) or [], model=model)
    console.print(f"{out['name']} version {out['version']}: profile of {out['reference_rows']:,} reference rows, "
                  f"{out['features']} features, {out['groups']} groups.", highlight=False)


@monitor_app.command("log")
@guarded
def log_cmd(
    data: Path = typer.Argument(..., help="Batch of production rows (CSV/Parquet) with features and predictions."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    name: str = typer.Option(..., "--name", help="Name of the monitored model."),
    id: str = typer.Option(None, "--id", help="Row id column (re-sent ids are not counted twice)."),
    timestamp: str = typer.Option(None, "--timestamp", help="Time column (default: now)."),
) -> None:
    """Store one batch of predictions (whole or not at all)."""
    from ..monitor import Monitor

    r = Monitor(store).log(name, _table(data), id=id, timestamp=timestamp)
    console.print(f"{r['rows']:,} rows: {r['stored']:,} stored, {r['duplicates']:,} already stored (same id), "
                  f"{r['queued']:,} queued for review.", highlight=False)


@monitor_app.command("labels")
@guarded
def labels_cmd(
    data: Path = typer.Argument(..., help="Table of ids and true labels."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    name: str = typer.Option(..., "--name", help="Name of the monitored model."),
    id: str = typer.Option(..., "--id", help="Row id column (as sent with `monitor log`)."),
    target: str = typer.Option(..., "--target", help="True label column."),
) -> None:
    """Join true labels to stored predictions by id."""
    from ..monitor import Monitor

    r = Monitor(store).log_labels(name, _table(data), id=id, target=target)
    console.print(f"{r['rows']:,} labels: {r['stored']:,} stored, {r['unchanged']:,} unchanged, "
                  f"{r['unmatched']:,} with no stored prediction (not stored), {r['wrong']:,} wrong predictions queued.",
                  highlight=False)


@monitor_app.command("check")
@guarded
def check_cmd(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    name: str = typer.Option(..., "--name", help="Name of the monitored model."),
    window: str = typer.Option("10000", "--window", help="Window: 1d, 7d (days) or a row count such as 10000."),
    json_out: Path = json_option(),
    html_out: Path = html_option("Write the HTML dashboard here."),
    fail_on: str = fail_on_option(),
) -> None:
    """Check every window: subpopulations, drift, OOD rate, per-group performance, CBPE, fairness gaps."""
    from ..monitor import Monitor
    from ._render import print_report

    check_outputs(json_out, html_out, fail_on)
    report = Monitor(store).check(name, window=window)
    print_report(report)
    alerts = report["windows"].summary
    console.print(f"{alerts['alerts']} alert(s) ({alerts['new_alerts']} new) over {alerts['windows']} window(s).",
                  highlight=False)
    finish(report, json_out, html_out, fail_on)


@monitor_app.command("queue")
@guarded
def queue_cmd(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    name: str = typer.Option(..., "--name", help="Name of the monitored model."),
    out: Path = typer.Option(..., "--out", help="Write the failure queue here (.csv, .tsv, .csv.gz or .parquet)."),
) -> None:
    """Export the failure queue: wrong predictions, out-of-distribution rows, rows of new subpopulations."""
    from ..monitor import Monitor
    from ..report import table_format, write_table

    check_outputs(extra={"--out": out})
    table_format(out)  # a bad ending is refused before the store is read
    q = Monitor(store).queue(name)
    write_table(q, out)
    counts = q["reason"].value_counts().to_dict() if len(q) else {}
    console.print(f"{len(q):,} queued rows ({', '.join(f'{k}: {v:,}' for k, v in counts.items()) or 'none'}).",
                  highlight=False)
    print_written("Queue", out)


@monitor_app.command("serve")
@guarded
def serve_cmd(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8080, "--port", help="Port."),
) -> None:
    """Serve POST /v1/models/{name}/predictions and /labels (bearer token from $UNSKEW_MONITOR_TOKEN)."""
    from ..monitor._server import serve

    serve(store, host=host, port=port, echo=lambda m: console.print(m, highlight=False, markup=False))
