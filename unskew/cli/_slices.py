"""``unskew slices``: where does the model fail that nobody thought to look?"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table as RichTable

from ._app import app, console, guarded, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option, print_written
from ._render import print_report, progress_callback


@app.command()
@guarded
def slices(
    data: Path = typer.Argument(..., help="CSV/TSV or Parquet file with the label and the model's output."),
    target: str = typer.Option(..., "--target", "-t", help="True label column."),
    predictions: str = typer.Option(None, "--predictions", "-p", help="Predicted label column."),
    scores: str = typer.Option(None, "--scores", help="Positive-class probability column (log loss unless --predictions is given)."),
    errors: str = typer.Option(None, "--errors", help="Per-row error or loss column computed elsewhere."),
    features: str = typer.Option(None, "--features", help="Columns to search over, comma-separated (default: all others)."),
    exclude: str = typer.Option(None, "--exclude", help="Columns to leave out of the search, comma-separated."),
    sensitive: str = typer.Option(None, "--sensitive", "-s", help="Sensitive column(s), kept out of the search; the report says which group each slice over-represents."),
    max_level: int = typer.Option(3, "--max-level", help="Most conditions per slice."),
    min_support: float = typer.Option(None, "--min-support", help="Fewest rows per slice (a count, or a fraction below 1). Default max(30, 0.2% of rows)."),
    top: int = typer.Option(10, "--top", help="How many slices to report."),
    alpha: float = typer.Option(0.95, "--alpha", help="SliceLine weight of error lift against slice size, in (0, 1]."),
    bins: int = typer.Option(5, "--bins", help="Quantile bins per numeric column."),
    error: str = typer.Option("auto", "--error", help="auto, zero_one, log_loss, brier, squared or absolute."),
    label_slices: bool = typer.Option(False, "--label-slices/--no-label-slices", help="Allow conditions on the true label (e.g. 'y = 1 & ...')."),
    correction: str = typer.Option("bonferroni", "--correction", help="bonferroni (family-wise error) or bh (false discovery rate)."),
    rank_by: str = typer.Option("score", "--rank-by", help="score (SliceLine), effect_size or size."),
    json_out: Path = json_option(),
    html_out: Path = html_option(),
    groups_out: Path = typer.Option(None, "--groups-out", help="Write each row's slice group (id and name) here as CSV."),
    fail_on: str = fail_on_option(),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter (detected by default)."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (e.g. '?')."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the status line."),
) -> None:
    """Search DATA for slices (conjunctions of column conditions) where the model's error is significantly worse."""
    from ..slices import find_slices

    check_outputs(json_out, html_out, fail_on, extra={"--groups-out": groups_out})
    with progress_callback(quiet) as on_progress:
        res = find_slices(
            data, target=target, predictions=predictions, scores=scores, errors=errors,
            features=split_list(features), exclude=split_list(exclude), sensitive=split_list(sensitive),
            delimiter=delimiter, na_values=split_list(na_values), on_progress=on_progress,
            max_level=max_level, min_support=min_support, top_k=top, alpha=alpha, n_bins=bins, error=error,
            include_target=label_slices, correction=correction, rank_by=rank_by,
        )
    report = res.report
    print_report(report, quiet=quiet)
    if not quiet:
        _print_slices(res)
    if groups_out:
        import pandas as pd

        from ..report import write_table

        names = res.finder.group_names()
        frame = pd.DataFrame({"row": range(len(res.groups)), "group": res.groups,
                              "slice": [names[g] for g in res.groups]})
        print_written("slice groups", write_table(frame, groups_out, "--groups-out"))
    finish(report, json_out, html_out, fail_on)


def _print_slices(res) -> None:
    finder = res.finder
    summ = finder.summary()
    binary = finder.binary_errors_

    def fmt(x: float) -> str:
        return f"{100 * x:.1f}%" if binary else f"{x:.4g}"

    console.print(
        f"{summ['error_metric']} error {fmt(summ['mean_error'])} overall; {summ['n_tested']:,} slices tested "
        f"({summ['correction']} over {summ['family_size']:,}), min support {summ['min_support']:,} rows",
        highlight=False)
    if not finder.slices_:
        console.print("No slice scores above the average; nothing to report.")
        return
    check = res.report["slices"]
    groups = {d["slice"]: d.get("over_represented_group") for d in check.summary["slices"]}
    table = RichTable(show_header=True, header_style="bold", caption="* significant after correction")
    table.add_column("#", no_wrap=True)
    table.add_column("slice", overflow="fold", ratio=1)
    for col in ("rows", "error", "lift", "effect", "p adj"):
        table.add_column(col, no_wrap=True, justify="right")
    for j, s in enumerate(finder.slices_):
        text = s.description
        g = groups.get(s.description)
        if g and g["group"]:
            text += (f"\n[dim]mostly {g['group']} ({100 * g['share_in_slice']:.0f}% vs "
                     f"{100 * g['share_overall']:.0f}% overall)[/]")
        table.add_row(f"{j + 1}{'*' if s.significant else ''}", text, f"{s.size:,}", fmt(s.error),
                      f"{s.error_ratio:.2f}x", f"{s.effect_size:.2f}", _p(s.p_adjusted))
    console.print(table)


def _p(p: float) -> str:
    return "<1e-300" if p < 1e-300 else f"{p:.2g}"
