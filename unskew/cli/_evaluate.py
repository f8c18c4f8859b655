"""``unskew evaluate``: a model's behaviour per group, with fairness gaps and gates."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, fail_input, guarded, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option
from ._render import print_report, progress_callback


def _parse_privileged(items: list[str] | None):
    """``--privileged sex=Male`` / ``sex=Male,race=White`` (repeat for OR) -> dict or list of dicts."""
    if not items:
        return None
    conds = []
    for item in items:
        cond = {}
        for part in item.split(","):
            if "=" not in part:
                fail_input(f"--privileged expects COLUMN=VALUE[,COLUMN=VALUE], got {item!r}.")
            k, v = part.split("=", 1)
            cond[k.strip()] = v.strip()
        conds.append(cond)
    return conds[0] if len(conds) == 1 else conds


def _parse_thresholds(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            fail_input(f"--threshold expects NAME=WARN:FAIL or NAME=off, got {item!r}.")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _engine_options(engine: str, spark_master: str, dask_scheduler: str | None, memory_limit: str | None) -> dict:
    """``engine=`` and ``engine_options=`` for the library from the --engine options (issue 17)."""
    from ..engines import check_engine

    name = check_engine(engine)
    opts: dict = {}
    if name == "spark":
        opts["master"] = spark_master
    elif dask_scheduler and name == "dask":
        opts["scheduler"] = dask_scheduler
    elif memory_limit and name == "duckdb":
        opts["memory_limit"] = memory_limit
    for given, opt, wanted in ((dask_scheduler, "--dask-scheduler", "dask"), (memory_limit, "--memory-limit", "duckdb"),
                               (spark_master != "local[*]", "--spark-master", "spark")):
        if given and name != wanted:
            fail_input(f"{opt} applies to --engine {wanted}, not --engine {name}.")
    return {"engine": name, "engine_options": opts}


@app.command()
@guarded
def evaluate(
    data: Path = typer.Argument(..., help="CSV/TSV (optionally compressed) or Parquet file."),
    target: str = typer.Option(..., "--target", "-t", help="True label (or value) column."),
    sensitive: str = typer.Option(..., "--sensitive", "-s", help="Sensitive column(s), comma-separated; groups are their intersections."),
    predictions: str = typer.Option(None, "--predictions", "-p", help="Predicted label column (or use --model / --scores)."),
    scores: str = typer.Option(None, "--scores", help="Positive-class score column (AUC, Brier, calibration)."),
    weights: str = typer.Option(None, "--weights", help="Row weight column."),
    model: Path = typer.Option(None, "--model", help="Model file: .skops, .onnx (needs onnxruntime), or .pkl/.joblib with --trust-pickle."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow model files that can run code when loaded (pickle, joblib, untrusted skops types)."),
    features: str = typer.Option(None, "--features", help="The model's input columns, comma-separated (default: the model's own list)."),
    challenge: Path = typer.Option(None, "--challenge", help="Challenge set (CSV/Parquet/JSON) with 'expected' labels and 'tags'."),
    proxies: str = typer.Option(None, "--proxies", help="Proxy columns also swapped in the counterfactual test, comma-separated."),
    privileged: list[str] = typer.Option(None, "--privileged", help="Privileged group as COLUMN=VALUE[,COLUMN=VALUE] (repeat for several)."),
    pos_label: str = typer.Option(None, "--pos-label", help="Positive label of a binary target (default: 1/True, else detected)."),
    task: str = typer.Option("auto", "--task", help="auto, classification or regression."),
    json_out: Path = json_option(),
    html_out: Path = html_option(),
    fail_on: str = fail_on_option("Exit 1 when a section reaches this level: warn or fail (an errored section always fails)."),
    threshold: list[str] = typer.Option(None, "--threshold", help="Override a gate: NAME=WARN:FAIL or NAME=off (repeatable), e.g. demographic_parity_difference=0.05:0.1."),
    ci: str = typer.Option("wilson", "--ci", help="Per-group intervals: wilson, bootstrap or none."),
    n_boot: int = typer.Option(500, "--n-boot", help="Bootstrap replicates (gaps always use the bootstrap)."),
    confidence: float = typer.Option(0.95, "--confidence", help="Interval confidence level."),
    min_group_size: int = typer.Option(30, "--min-group-size", help="Smaller groups are shown but left out of the gaps."),
    decision_threshold: float = typer.Option(0.5, "--decision-threshold", help="Label = positive when score >= this (without --predictions or --model)."),
    stream: bool = typer.Option(False, "--stream", help="Read a Parquet file in batches (bounded memory; no model)."),
    batch_size: int = typer.Option(1_000_000, "--batch-size", help="Rows per batch with --stream."),
    score_bins: int = typer.Option(None, "--score-bins", help="Discretise scores into this many bins (bounded memory; AUC of the binned scores)."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (e.g. '?')."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter (detected by default)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (bootstrap, samples)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the status line."),
    # -- engines (issue 17)
    engine: str = typer.Option("pandas", "--engine", help="Who computes the group statistics: pandas, duckdb (out of core), spark or dask."),
    spark_master: str = typer.Option("local[*]", "--spark-master", help="Spark master URL with --engine spark."),
    dask_scheduler: str = typer.Option(None, "--dask-scheduler", help="Dask scheduler ADDRESS with --engine dask (default: a LocalCluster)."),
    memory_limit: str = typer.Option(None, "--memory-limit", help="DuckDB memory limit with --engine duckdb, e.g. 4GB (it spills beyond)."),
    # -- end engines
) -> None:
    """Evaluate a model's predictions per group: metrics with intervals, fairness gaps and calibration.

    Also counterfactual flips of the sensitive attribute and challenge sets."""
    from ..metrics import evaluate as run_evaluate
    from ..metrics._evaluate import parse_thresholds

    check_outputs(json_out, html_out, fail_on)
    # --ci, --task, --n-boot and --confidence are checked by the library (MetricFrame, GroupStats)
    if min_group_size < 0 or batch_size < 1:
        fail_input("--batch-size must be positive and --min-group-size >= 0.")
    engine_options = _engine_options(engine, spark_master, dask_scheduler, memory_limit)  # issue 17
    thresholds = _parse_thresholds(threshold)
    parse_thresholds(thresholds)  # the library's own check of names and numbers, before the run
    with progress_callback(quiet) as on_progress:
        ev = run_evaluate(
            data, target=target, sensitive=split_list(sensitive), predictions=predictions, scores=scores,
            weights=weights, model=model, trust_pickle=trust_pickle, features=split_list(features),
            challenge=challenge, proxies=split_list(proxies), privileged=_parse_privileged(privileged),
            pos_label=pos_label, task=task, thresholds=thresholds, ci=None if ci == "none" else ci,
            confidence=confidence, n_boot=n_boot, min_group_size=min_group_size,
            decision_threshold=decision_threshold, stream=stream, batch_size=batch_size, score_bins=score_bins,
            random_state=seed, on_progress=on_progress, na_values=split_list(na_values), delimiter=delimiter,
            **engine_options,
        )
    report = ev.report
    print_report(report, quiet=quiet)
    finish(report, json_out, html_out, fail_on)
