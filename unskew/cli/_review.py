"""``unskew review``: queues of flagged rows for people, decisions, the audit trail and the web UI."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import EXIT_GATE, app, console, fail_input, guarded

review_app = typer.Typer(
    name="review",
    help="Human review of flagged rows: import queues, serve the review UI, export and apply decisions.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

STORE_HELP = "Store URL (default $UNSKEW_STORE or sqlite:///unskew.db)."


@review_app.command("apply")
@guarded
def apply_cmd(
    data: Path = typer.Argument(..., help="The table the reviewed rows came from (CSV or Parquet)."),
    decisions: Path = typer.Argument(..., help="Decisions file written by `unskew review export`."),
    out: Path = typer.Option(..., "--out", "-o", help="Write the cleaned table here (CSV or Parquet by suffix)."),
    key: str = typer.Option(None, "--key", help="Column the decisions' row_key refers to (default: row position)."),
    target: str = typer.Option(None, "--target", "-t", help="Label column relabels change (default: from the file)."),
    keep_removed: bool = typer.Option(False, "--keep-removed", help="Keep removed rows, marked 'remove'."),
) -> None:
    """Relabel and remove the rows of DATA that the decisions name; mark and count what changed."""
    from ..report._files import check_output_path, table_format, write_table
    from ..review import apply_decisions

    table_format(out, "--out")
    check_output_path(out, "--out")
    cleaned, summary = apply_decisions(data, decisions, key=key, target=target, keep_removed=keep_removed)
    write_table(cleaned, out, "--out")
    console.print(
        f"{summary['rows_in']:,} rows in, {summary['rows_out']:,} out: {summary['relabelled']:,} relabelled, "
        f"{summary['removed']:,} removed, {summary['kept']:,} kept, {summary['escalated']:,} escalated, "
        f"{summary['skipped']:,} skipped ({summary['decisions']:,} decisions on {summary['rows_decided']:,} rows)."
    )
    if summary["unchanged_relabels"]:
        console.print(f"{summary['unchanged_relabels']:,} relabels gave the label the row already had.")
    if summary["conflicts"]:
        console.print(f"[yellow]{len(summary['conflicts']):,} rows had conflicting decisions; the last one was applied:[/]")
        for c in summary["conflicts"][:10]:
            console.print(f"  row {c['row_key']}: {' -> '.join(c['actions'])}")
    console.print(f"Cleaned table: {out}")


@review_app.command("verify")
@guarded
def verify_cmd(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Check the audit trail's hash chain; exit 0 only if it is intact, else name the first broken entry."""
    from ..review._trail import verify
    from ..store import open_store

    res = verify(open_store(store))
    if res.ok:
        console.print(res.message())
        return
    console.print(f"[bold red]{res.message()}[/]")
    raise typer.Exit(EXIT_GATE)


@review_app.command("import")
@guarded
def import_cmd(
    data: Path = typer.Argument(None, help="The table the report was made from (CSV or Parquet)."),
    report: Path = typer.Option(None, "--report", "-r", help="Audit or slices JSON report, or the --removed CSV of `unskew debias`."),
    monitor: str = typer.Option(None, "--monitor", help="Import the failure queue of this monitored model instead (no DATA/--report)."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    queue: str = typer.Option(None, "--queue", help="Queue name (default: the report's file name)."),
    reviews: int = typer.Option(1, "--reviews", help="Independent blind reviews each item needs."),
    key: str = typer.Option(None, "--key", help="Column identifying rows (default: row position)."),
    predictions: str = typer.Option(None, "--predictions", "-p", help="Column with the model's prediction."),
    target: str = typer.Option(None, "--target", "-t", help="Label column (default: from the report)."),
    image_column: str = typer.Option(None, "--image-column", help="Column with image file paths (relative to DATA's folder) to show."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (as given to the audit)."),
) -> None:
    """Turn the flagged rows of a report into review items, ordered by expected harm to the worst-off group."""
    from ..review._queues import import_monitor_queue, import_report
    from ..store import open_store
    from ._app import split_list

    if monitor is not None:
        if data is not None or report is not None:
            fail_input("Give either --monitor NAME or DATA with --report, not both.")
        s = import_monitor_queue(open_store(store), monitor, queue=queue, reviews_required=reviews)
    else:
        if data is None or report is None:
            fail_input("Give DATA and --report REPORT (or --monitor NAME for the monitoring failure queue).")
        s = import_report(open_store(store), data, report, queue=queue, reviews_required=reviews, key=key,
                          predictions=predictions, target=target, image_column=image_column,
                          na_values=split_list(na_values))
    extra = f" ({s['items_existing']:,} already queued)" if s["items_existing"] else ""
    console.print(f"Queue {s['queue']!r} (id {s['queue_id']}): {s['items_added']:,} items added{extra} from the {s['source']} report.")
    if s.get("flagged"):
        console.print("Flagged rows per check: " + ", ".join(f"{k} {v:,}" for k, v in s["flagged"].items()))


@review_app.command("export")
@guarded
def export_cmd(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Decisions CSV to write."),
    include_unresolved: bool = typer.Option(False, "--include-unresolved", help="Also write the reviews of disputed and open items."),
    queue: str = typer.Option(None, "--queue", help="Only this queue (name or id)."),
) -> None:
    """Write the resolved decisions (item, row key, action, new label, reviewer, time, comment) as CSV."""
    from ..review._queues import export_decisions
    from ..store import open_store

    _, s = export_decisions(open_store(store), out, include_unresolved=include_unresolved, queue=queue)
    console.print(f"{s['decisions']:,} decisions on {s['items']:,} items written to {out}.")
    if s["unresolved_items"]:
        console.print(f"{s['unresolved_items']:,} items are still disputed or waiting for reviews; they were left out.")


user_app = typer.Typer(name="user", help="Manage review users.", no_args_is_help=True)
review_app.add_typer(user_app, name="user")
token_app = typer.Typer(name="token", help="Manage API tokens.", no_args_is_help=True)
review_app.add_typer(token_app, name="token")


@user_app.command("add")
@guarded
def user_add_cmd(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="admin, reviewer or viewer."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input (else prompt)."),
    no_password: bool = typer.Option(False, "--no-password", help="A token-only user (no browser login)."),
) -> None:
    """Add a user; the password is hashed with argon2."""
    import sys

    from ..review._auth import add_user
    from ..store import open_store

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif no_password:
        password = None
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    u = add_user(open_store(store), name, role, password=password)
    console.print(f"User {u.name!r} added with role {u.role}.")


@token_app.command("create")
@guarded
def token_create_cmd(
    name: str = typer.Argument(..., help="User the token acts as."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Create an API bearer token for a user and print it (it is not shown again)."""
    from ..review._auth import create_token
    from ..store import open_store

    typer.echo(create_token(open_store(store), name))


@token_app.command("revoke")
@guarded
def token_revoke_cmd(
    name: str = typer.Argument(..., help="User whose tokens to revoke."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Revoke every API token of a user."""
    from ..review._auth import revoke_tokens
    from ..store import open_store

    n = revoke_tokens(open_store(store), name)
    console.print(f"{n} token{'s' if n != 1 else ''} of {name!r} revoked.")


@review_app.command("serve")
@guarded
def serve_cmd(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback unless you say otherwise)."),
    port: int = typer.Option(8080, "--port", help="Port."),
    models: Path = typer.Option(None, "--models", help="Folder of .skops/.onnx models that challenge sets can be run against."),
) -> None:
    """Serve the review web UI and the JSON API."""
    from ..review._app import serve

    if not 0 < port < 65536:
        fail_input(f"--port must be in 1..65535, got {port}.")
    if models is not None and not models.is_dir():
        fail_input(f"--models {models} is not a folder.")
    serve(store, host=host, port=port, models_dir=models)
