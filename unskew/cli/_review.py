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
    from ..review import apply_decisions

    cleaned, summary = apply_decisions(data, decisions, key=key, target=target, keep_removed=keep_removed)
    _write_table(cleaned, out)
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


def _write_table(frame, out: Path) -> None:
    """Write whole or not at all: to a temporary file renamed into place."""
    import os

    out = Path(out)
    if not out.parent.exists():
        fail_input(f"The folder of --out does not exist: {out.parent}")
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        if out.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()



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
