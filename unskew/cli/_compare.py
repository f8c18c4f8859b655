"""``unskew compare``: which mitigation should I use here?"""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from ._app import app, console, fail_input, guarded, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option, print_written
from ._render import progress_callback


def _load(data: str, target, sensitive, data_home, ignore):
    """A file path, or the name of a bundled/real dataset (adult, compas, german, celeba)."""
    from ..datasets import DATASETS, DEFAULT_ROLES, load

    path = Path(data)
    if path.exists() or data.lower() not in DATASETS:
        return data, target, sensitive, ignore
    name = data.lower()
    roles = DEFAULT_ROLES[name]
    frame = load(name, data_home=data_home) if name != "german" else load(name)
    from ..data import Dataset

    drop = [c for c in [roles.get("split"), *roles.get("ignore", [])] if c and c in frame.columns]
    ignore = list(dict.fromkeys([*(ignore or []), *drop])) or None
    target, sensitive = target or roles["target"], sensitive or ",".join(roles["sensitive"])
    ds = Dataset.from_data(frame, target=target, sensitive=split_list(sensitive), ignore=ignore)
    ds.source = f"unskew.datasets.load({name!r})"
    return ds, target, sensitive, None


def _print_methods() -> None:
    from ..compare import METHODS

    table = Table(show_header=True, header_style="bold")
    for c in ("method", "family", "stage", "default", "available", "what it does"):
        table.add_column(c, overflow="fold")
    from ..compare import resolve_model

    model = resolve_model("logistic")
    for m in METHODS.values():
        why = m.unavailable_reason(model)
        table.add_row(m.name, m.family, m.stage, "yes" if m.default else "opt-in",
                      "yes" if why is None else f"no: {escape(why)}", escape(m.description))
    console.print(table)


@app.command()
@guarded
def compare(
    data: str = typer.Argument(None, help="CSV/TSV or Parquet file, or a dataset name: adult, compas, german."),
    target: str = typer.Option(None, "--target", "-t", help="Binary label column."),
    sensitive: str = typer.Option(None, "--sensitive", "-s", help="Sensitive column(s), comma-separated (groups are their intersection)."),
    methods: str = typer.Option("default", "--methods", "-m", help="Comma-separated method names, or default, all, peers, unskew (see --list-methods)."),
    model: str = typer.Option("logistic", "--model", help="logistic, hgb, or an import path such as sklearn.ensemble.RandomForestClassifier."),
    constraint: str = typer.Option(None, "--constraint", "-c", help="E.g. 'equalized_odds<=0.05', 'dp<=0.1,accuracy>=0.8' or 'max worst_group_accuracy'."),
    objective: str = typer.Option(None, "--objective", help="Metric to optimise (default: accuracy under a constraint, else worst_group_accuracy)."),
    seeds: int = typer.Option(3, "--seeds", help="Number of seeds (splits and training seeds)."),
    seed: int = typer.Option(0, "--seed", help="First seed."),
    test_size: float = typer.Option(0.3, "--test-size", help="Share of rows held out for testing."),
    n_jobs: int = typer.Option(-1, "--n-jobs", "-j", help="Parallel worker processes (-1: every core)."),
    n_boot: int = typer.Option(500, "--n-boot", help="Bootstrap replicates for the intervals."),
    min_group_size: int = typer.Option(30, "--min-group-size", help="Groups with fewer test rows are left out of the gaps."),
    sensitive_as_feature: bool = typer.Option(False, "--sensitive-as-feature", help="Also give the sensitive columns to the model."),
    json_out: Path = json_option(),
    html_out: Path = html_option("Write the HTML report (leaderboard and Pareto plot) here."),
    fail_on: str = fail_on_option("Exit 1 when the recommendation reaches this level: warn (no method meets the "
                                  "constraint) or fail (none ran)."),
    csv_out: Path = typer.Option(None, "--csv", help="Write the leaderboard as CSV here."),
    ignore: str = typer.Option(None, "--ignore", help="Columns to leave out, comma-separated."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (e.g. '?')."),
    data_home: Path = typer.Option(None, "--data-home", help="Folder of the real datasets when DATA is a dataset name."),
    list_methods: bool = typer.Option(False, "--list-methods", help="List the methods and whether each can run here, then exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the recommendation."),
) -> None:
    """Run the applicable mitigations on the same splits and seeds and recommend one."""
    from ..compare import compare as run_compare

    if list_methods:
        _print_methods()
        return
    if data is None:
        fail_input("Missing argument DATA: a table file, or a dataset name (adult, compas, german).")
    check_outputs(json_out, html_out, fail_on, extra={"--csv": csv_out})
    frame, target, sensitive, ignore_cols = _load(data, target, sensitive, data_home, split_list(ignore))
    with progress_callback(quiet) as on_progress:
        res = run_compare(frame, target, split_list(sensitive), methods=methods, model=model, seeds=seeds,
                          random_state=seed, test_size=test_size, n_jobs=n_jobs, constraint=constraint,
                          objective=objective, n_boot=n_boot, min_group_size=min_group_size,
                          sensitive_as_feature=sensitive_as_feature, on_progress=on_progress,
                          ignore=ignore_cols, na_values=split_list(na_values))
    if not quiet:
        print_leaderboard(res)
    rec = res.recommendation
    console.print(f"[bold]Recommendation:[/] {escape(rec['reason'])}", highlight=False)
    if csv_out:
        from ..report import write_table

        print_written("leaderboard CSV", write_table(res.leaderboard, csv_out, "--csv"))
    finish(res.report, json_out, html_out, fail_on)


def print_leaderboard(res) -> None:
    """The leaderboard as a terminal table (best first)."""
    gap = res.selection.gap_metric
    board = res.leaderboard
    p = res.report.parameters
    console.print(f"{res.report.dataset.get('source', '')}: {res.report.dataset.get('n_rows')} rows, model "
                  f"{p['model']}, {len(p['seeds'])} seed(s); rule: {escape(res.selection.describe())}",
                  highlight=False)
    table = Table(show_header=True, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    short = {"demographic_parity_difference": "DP", "equal_opportunity_difference": "EO",
             "equalized_odds_difference": "EOdds"}[gap]
    table.caption = (f"acc: accuracy; worst: worst-group accuracy; {short}: {gap.replace('_', ' ')}; "
                     "second line: 95% interval; Δdata / Δdec: share of training data / test decisions changed")
    table.add_column("#", justify="right", min_width=2)
    table.add_column("method", overflow="fold", min_width=14, max_width=22)
    for c in ("acc", "worst", short):
        table.add_column(c, justify="right", min_width=7, no_wrap=True)
    has_cons = bool(res.selection.constraints)
    for c in ("time s", "Δdata", "Δdec", *(["meets"] if has_cons else [])):
        table.add_column(c, justify="right", no_wrap=True)

    def two(v):
        return f"{v:.2f}".replace("0.", ".", 1) if 0 <= v < 1 else f"{v:.2f}"

    def ci(r, m):
        return f"{r[m]:.3f}\n[dim]{two(r[m + '_low'])}-{two(r[m + '_high'])}[/]"

    for _, r in board.iterrows():
        if r["status"] != "ok":
            table.add_row("-", f"{r['method']}\n[dim]{r['status']}[/]", *[""] * (6 + has_cons))
            continue
        style = "bold green" if r["method"] == res.recommendation["method"] else ""
        name = f"[{style}]{r['method']}[/]" if style else r["method"]
        name += f"\n[dim]{r['family']}[/]" if r["family"] != "unskew" else ""
        table.add_row(str(r["rank"]), name, ci(r, "accuracy"), ci(r, "worst_group_accuracy"),
                      ci(r, gap), f"{r['time_s']:.1f}", f"{r['data_changed']:.1%}", f"{r['decisions_changed']:.1%}",
                      *(["yes" if r["meets_constraints"] else "no"] if has_cons else []))
    console.print(table)
    for _, r in board[board["status"] != "ok"].iterrows():
        console.print(f"[dim]{r['method']} {r['status']}: {escape(str(r['note']))}[/]", highlight=False)
