"""``unskew demo`` (an offline audit of the bundled German credit data) and ``unskew checks``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, console, fail_input, guarded
from ._output import check_outputs, write_report
from ._render import print_report, progress_callback

#: Age below which a German credit applicant is in the "young" group (the usual convention).
DEMO_AGE_THRESHOLD = 25


def demo_dataset():
    """The German credit table with the demo's roles, ready to audit.

    The copy of the Statlog German credit data (1,000 applicants) bundled
    with unskew is read, so this works offline and ignores any data home; target ``credit`` (1 = good risk), sensitive attributes
    ``sex`` and ``age_group``, where ``age_group`` is derived here from
    ``age``: ``"<25"`` or ``">=25"``.

    Returns
    -------
    unskew.data.Dataset
    """
    from importlib import resources

    import numpy as np

    from ..data import Dataset
    from ..datasets import load_german

    bundled = resources.files("unskew.datasets").joinpath("_data", "german.data.gz")
    df = load_german(path=str(bundled))
    t = DEMO_AGE_THRESHOLD
    df["age_group"] = np.where(df["age"] < t, f"<{t}", f">={t}").astype(str)
    ds = Dataset.from_data(df, target="credit", sensitive=["sex", "age_group"])
    ds.source = "German credit data (Statlog), the copy bundled with unskew"
    return ds


@app.command()
@guarded
def demo(
    out: Path = typer.Option(Path("unskew-demo"), "--out", "-o", help="Folder for audit.json and audit.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the status line and the file names."),
) -> None:
    """Audit the bundled German credit data (offline) and write JSON and HTML reports.

    Target: credit (1 = good risk). Sensitive: sex, and age_group derived from
    age (<25 vs >=25). Always exits 0 when the audit ran, whatever it found.
    """
    from ..audit import audit as run_audit

    if out.exists() and not out.is_dir():
        fail_input(f"--out {out} exists and is not a folder.")
    check_outputs(out / "audit.json", out / "audit.html", extra=None)
    ds = demo_dataset()
    if not quiet:
        console.print(
            "[bold]unskew demo[/]: auditing the German credit data bundled with unskew (no network).\n"
            f"Target 'credit' (1 = good risk); sensitive 'sex' and 'age_group', which the demo derives "
            f"from 'age' (<{DEMO_AGE_THRESHOLD} vs >={DEMO_AGE_THRESHOLD}).",
            highlight=False,
        )
    with progress_callback(quiet) as on_progress:
        report = run_audit(ds, on_progress=on_progress)
    report.parameters["demo"] = {"age_group": f"derived from age: <{DEMO_AGE_THRESHOLD} vs >={DEMO_AGE_THRESHOLD}"}
    print_report(report, quiet=quiet)
    write_report(report, out / "audit.json", out / "audit.html")  # no gate: the demo always exits 0
    console.print("Open the HTML report in a browser; it works offline.", highlight=False)


@app.command("checks")
@guarded
def list_registered_checks(
    name: str = typer.Argument(None, help="Show only this check."),
) -> None:
    """List the registered audit checks with their thresholds and what they do."""
    from rich.markup import escape
    from rich.padding import Padding

    from ..audit import CHECKS, get_check, list_checks

    names = list_checks()
    if name is not None:
        names = [CHECKS.canonical(name)]  # an unknown name: "did you mean", exit 2
    for n in names:
        cls = get_check(n)
        console.print(f"[bold cyan]{n}[/]  {escape(cls.title)}", highlight=False)
        console.print(f"  needs: {', '.join(cls.requires) or 'nothing beyond the table'}", highlight=False)
        thr = ", ".join(f"{k}={v}" for k, v in cls.default_thresholds.items()) or "none"
        console.print(f"  thresholds: {escape(thr)}", highlight=False)
        console.print(Padding(escape(cls.explanation), (0, 0, 1, 2)), highlight=False)
    console.print(
        f"{len(names)} check{'s' if len(names) != 1 else ''}. Run a subset with "
        "`unskew audit DATA --checks a,b`.",
        highlight=False,
    )
