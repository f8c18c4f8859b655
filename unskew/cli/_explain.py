"""``unskew explain``: what the model relies on, per group, and why the groups' outputs differ."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, guarded, split_list
from ._output import check_outputs, fail_on_option, finish, html_option, json_option
from ._render import print_report


@app.command()
@guarded
def explain(
    data: Path = typer.Argument(..., help="CSV/TSV (optionally compressed) or Parquet file."),
    target: str = typer.Option(None, "--target", "-t", help="True label column (loss gap, proxies check)."),
    sensitive: str = typer.Option(..., "--sensitive", "-s", help="Sensitive column(s), comma-separated; their values and intersections are the groups."),
    model: Path = typer.Option(..., "--model", help="Model file: .skops, .onnx, or .pkl/.joblib with --trust-pickle; with --images a TorchScript .pt (needs --trust-pickle)."),
    images: Path = typer.Option(None, "--images", help="Images (.npy, (n,H,W) or (n,C,H,W), uint8 or float), one per row of DATA in the same order: saliency maps instead of table attributions."),
    mask: Path = typer.Option(None, "--mask", help="With --images: boolean (H,W) mask (.npy); its share of attribution is reported per group."),
    saliency_method: str = typer.Option(None, "--saliency-method", help="With --images: integrated_gradients (default), gradient, smoothgrad or gradcam; comma-separated for several."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow model files that can run code when loaded (pickle, joblib, untrusted skops types)."),
    features: str = typer.Option(None, "--features", help="The model's input columns, comma-separated (default: the model's own list)."),
    method: str = typer.Option("auto", "--method", help="auto (exact when possible), tree, linear or permutation."),
    max_rows: int = typer.Option(10_000, "--max-rows", help="Explain at most this many rows (a seeded sample beyond)."),
    n_boot: int = typer.Option(500, "--n-boot", help="Bootstrap replicates for the gap intervals."),
    no_loss: bool = typer.Option(False, "--no-loss", help="Do not decompose the loss gap (it uses the permutation estimator)."),
    no_proxies: bool = typer.Option(False, "--no-proxies", help="Do not run the audit's proxies check."),
    time_budget: float = typer.Option(300.0, "--time-budget", help="Seconds the permutation estimator may take; it refuses to start beyond."),
    threshold: list[str] = typer.Option(None, "--threshold", help="Override a gate: NAME=VALUE (proxy_share_warn, proxy_share_fail, stability_warn, stability_fail; with --images sanity_spearman)."),
    na_values: str = typer.Option(None, "--na-values", help="Extra missing-value markers, comma-separated (e.g. '?')."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter (detected by default)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (sample, background, bootstrap)."),
    json_out: Path = json_option(),
    html_out: Path = html_option(),
    fail_on: str = fail_on_option(),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the status line."),
) -> None:
    """Explain a model per group: attributions, gap decomposition, proxies and stability."""
    from ..exceptions import UnskewInputError
    from ..explain import explain_images_report, explain_report, parse_thresholds

    check_outputs(json_out, html_out, fail_on)
    thresholds = parse_thresholds(threshold)
    if images is not None:
        report = explain_images_report(
            data, sensitive=split_list(sensitive), model=model, images=images, target=target, mask=mask,
            methods=split_list(saliency_method) or ["integrated_gradients"], trust_pickle=trust_pickle,
            thresholds=thresholds, na_values=split_list(na_values), delimiter=delimiter)
        print_report(report, quiet=quiet)
        finish(report, json_out, html_out, fail_on)
        return
    if mask is not None or saliency_method is not None:
        raise UnskewInputError("--mask and --saliency-method need --images IMAGES.npy.")

    def on_estimate(est: dict) -> None:
        if not quiet:
            console.print(est["message"], highlight=False, markup=False)

    report = explain_report(
        data, target=target, sensitive=split_list(sensitive), model=model, trust_pickle=trust_pickle,
        features=split_list(features), method=method, max_rows=max_rows, n_boot=n_boot, loss=not no_loss,
        proxies=not no_proxies, thresholds=thresholds, random_state=seed, time_budget_s=time_budget,
        on_estimate=on_estimate, na_values=split_list(na_values), delimiter=delimiter,
    )
    print_report(report, quiet=quiet)
    finish(report, json_out, html_out, fail_on)
