"""`unskew compare` on Adult and COMPAS: the mitigation leaderboard in docs/benchmarks.md.

Datasets (from ../shared/datasets via UNSKEW_DATA_HOME or --data-home):
  adult   income (>50K) from the census features; sensitive: sex. fnlwgt (a sampling
          weight), race and the file split are left out. All 48,842 rows, split at random.
  compas  two_year_recid; sensitive: race as African-American / Caucasian / Other.
          COMPAS's own decile_score and score_text and the free-text charge are left out.
Model: logistic regression on one-hot/standardised features; sensitive columns are not
features. Every method sees the same stratified 70/30 development/test split per seed.

    python bench/bench_compare.py [--datasets adult,compas] [--seeds 3] [--n-jobs -1] [--methods default,aif360_adversarial]
        [--constraint "equalized_odds<=0.05"] [--out docs/benchmarks.md]

The section "Mitigation leaderboard (unskew compare)" of --out is replaced (or appended);
the rest of the file is left as it is.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from unskew import datasets
from unskew.compare import METRICS, compare

SECTION = "## Mitigation leaderboard (unskew compare)"


def dataset_frame(name: str, data_home):
    """(frame, target, sensitive, ignore) of a benchmark dataset."""
    if name == "adult":
        df = datasets.load_adult(data_home=data_home)
        return df, "income", "sex", ["split", "fnlwgt", "race"]
    if name == "compas":
        df = datasets.load_compas(data_home=data_home)
        df = df.assign(race=np.where(df.race.isin(["African-American", "Caucasian"]), df.race, "Other"))
        return df, "two_year_recid", "race", ["sex", "decile_score", "score_text", "c_charge_desc"]
    raise SystemExit(f"unknown dataset {name}")


def _ci(r, m):
    return f"{r[m]:.3f} [{r[m + '_low']:.3f}, {r[m + '_high']:.3f}]"


def leaderboard_md(res) -> str:
    gap = res.selection.gap_metric
    lines = [f"| # | method | family | accuracy | worst-group acc. | {METRICS[gap][1]} | DP diff. | time (s) "
             f"| data changed | decisions changed | meets |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for _, r in res.leaderboard.iterrows():
        if r["status"] != "ok":
            lines.append(f"| – | {r['method']} | {r['family']} | {r['status']} | | | | | | | |")
            notes.append(f"- `{r['method']}` {r['status']}: {r['note']}")
            continue
        name = f"**{r['method']}**" if r["method"] == res.recommendation["method"] else r["method"]
        lines.append(
            f"| {r['rank']} | {name} | {r['family']} | {_ci(r, 'accuracy')} | {_ci(r, 'worst_group_accuracy')} "
            f"| {_ci(r, gap)} | {r['demographic_parity_difference']:.3f} | {r['time_s']:.1f} "
            f"| {r['data_changed']:.1%} | {r['decisions_changed']:.1%} | {'yes' if r['meets_constraints'] else 'no'} |")
    return "\n".join(lines + ([""] + notes if notes else []))


def versus_md(res) -> str:
    b = res.leaderboard.set_index("method")
    rec = res.recommendation
    gap = res.selection.gap_metric
    out = []
    for label, m in (("best unskew method", rec["best_unskew"]), ("best peer", rec["best_peer"])):
        if m is None:
            out.append(f"- {label}: none ran")
            continue
        r = b.loc[m]
        out.append(f"- {label}: `{m}` ({r['family']}): accuracy {_ci(r, 'accuracy')}, worst-group "
                   f"{_ci(r, 'worst_group_accuracy')}, {METRICS[gap][1]} {_ci(r, gap)}, {r['time_s']:.1f} s, "
                   f"{'meets' if r['meets_constraints'] else 'misses'} the constraint")
    return "\n".join(out)


def run(name, args, data_home):
    frame, target, sensitive, ignore = dataset_frame(name, data_home)
    t0 = time.perf_counter()

    def progress(label, done, total):
        print(f"  [{name}] {done}/{total} {label}", flush=True)

    res = compare(frame, target, sensitive, ignore=ignore, methods=args.methods, seeds=args.seeds,
                  n_jobs=args.n_jobs, constraint=args.constraint, n_boot=args.n_boot, on_progress=progress)
    wall = time.perf_counter() - t0
    rep = res.report["leaderboard"].summary
    head = (f"### {name.capitalize()} ({len(frame):,} rows; sensitive: {sensitive}; "
            f"{rep['n_development_rows']:,} development / {rep['n_test_rows']:,} test rows per seed)\n\n"
            f"Wall time of the whole comparison: {wall:.0f} s with n_jobs={args.n_jobs}.\n\n")
    body = leaderboard_md(res)
    rec = f"\n\n**Recommendation** ({res.selection.describe()}): {res.recommendation['reason']}\n\n"
    return head + body + rec + versus_md(res) + "\n", res


def write_section(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if SECTION in old:
        start = old.index(SECTION)
        nxt = old.find("\n## ", start + len(SECTION))
        old = old[:start].rstrip("\n") + ("\n\n" + old[nxt + 1:] if nxt >= 0 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n", encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="adult,compas")
    ap.add_argument("--methods", default="default,aif360_adversarial")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--constraint", default="equalized_odds<=0.05")
    ap.add_argument("--data-home", default=os.environ.get("UNSKEW_DATA_HOME", "../shared/datasets"))
    ap.add_argument("--out", default=None, help="Markdown file whose compare section is replaced.")
    args = ap.parse_args()
    parts = []
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        text, _ = run(name, args, args.data_home)
        print(text, flush=True)
        parts.append(text)
    cpu = os.cpu_count()
    intro = (
        f"{SECTION}\n\n"
        f"`python bench/bench_compare.py --seeds {args.seeds} --n-jobs {args.n_jobs} --methods {args.methods}` "
        f"(`unskew compare` with `--constraint \"{args.constraint}\"`), on {platform.machine()} with {cpu} "
        f"CPU cores shared with other jobs, Python {platform.python_version()}. Every method trains a logistic "
        "regression on the same one-hot/standardised features of the same stratified 70/30 split per seed "
        "(sensitive columns are not features), except those that train their own network (Group DRO: a "
        "PyTorch logistic model on 75% of the development rows, the rest for its model selection; AIF360 "
        "AdversarialDebiasing: its TensorFlow network). Numbers are means over seeds with 95% bootstrap "
        "intervals of the test rows; the recommendation is the most accurate method meeting the constraint. "
        "Times are per seed and include fitting the baseline for post-processing methods; they were taken "
        "with other jobs running on the same cores, so compare them with each other, not with other "
        "machines. Fairness-targeting methods (ExponentiatedGradient, ThresholdOptimizer, reject option) "
        "aim at the constraint's criterion (equalized odds).\n")
    if args.out:
        write_section(Path(args.out), intro + "\n" + "\n".join(parts))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
