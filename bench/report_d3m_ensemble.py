"""Markdown table: D3M / Auto-D3M with a TRAK ensemble (issue 16) against the suite's baselines.

Reads the D3M ensemble records (``bench/results/d3m_ensemble_runs.jsonl``, written by
``bench_worst_group.py --methods d3m_ensemble,auto_d3m_ensemble --cache ...``; the
``*_crossfit`` and ``*_checked`` rows compare how the removal is chosen and checked) and the suite's
records (``bench/results/worst_group_runs.jsonl``) and the group-removal reference
(``bench/results/removal_reference_runs.jsonl``); for every dataset prints test worst-group /
average accuracy for ERM, JTT, Group DRO and the previous single-run D3M (mean ± sd over the
seeds present, and the seed-0 value), and the new rows for the seeds that were run.

    python bench/report_d3m_ensemble.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from bench_worst_group import removal_rank

RESULTS = Path(__file__).parent / "results"
BASELINES = ["erm", "jtt", "group_dro", "d3m", "d3m_10pct", "auto_d3m"]
NEW = ["d3m_ensemble", "d3m_ensemble_10pct", "d3m_ensemble_crossfit", "d3m_ensemble_crossfit_10pct",
       "d3m_ensemble_checked", "d3m_ensemble_checked_10pct",
       "auto_d3m_ensemble", "auto_d3m_ensemble_own_partition", "auto_d3m_ensemble_crossfit",
       "auto_d3m_ensemble_checked", "d3m_ensemble_checked_40pct", "auto_d3m_ensemble_checked_40pct",
       "auto_d3m_ensemble_checked_depth2", "auto_d3m_ensemble_checked_depth2_40pct"]
#: The reference for the 10% budget (``bench_worst_group.py --methods group_removal_10pct``).
REFERENCE = ["group_removal_10pct"]
DATASETS = ["cmnist", "waterbirds", "celeba", "adult", "compas"]


def load(name):
    path = RESULTS / name
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def cell(rows, key="test_worst_group_accuracy"):
    v = np.array([r[key] for r in rows]) * 100
    if len(v) == 0:
        return "-"
    return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v[0]:.1f}"


def main():
    old = [r for r in load("worst_group_runs.jsonl") if not r.get("quick")]
    new = [r for r in load("d3m_ensemble_runs.jsonl") if not r.get("quick")]
    ref = [r for r in load("removal_reference_runs.jsonl") if not r.get("quick")]
    print("| dataset | method | seeds | test WGA (all seeds) | test WGA seed 0 | test acc seed 0 | removed seed 0 | models |")
    print("|---|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        for m in BASELINES + NEW + REFERENCE:
            source = new if m in NEW else ref if m in REFERENCE else old
            rows = [r for r in source if r["dataset"] == ds and r["method"] == m]
            if not rows:
                continue
            s0 = [r for r in rows if r["seed"] == 0]
            removed = f"{100 * s0[0]['fraction_removed']:.1f}%" if s0 and "fraction_removed" in s0[0] else ""
            models = s0[0].get("n_models") or "" if s0 else ""
            print(f"| {ds} | {m} | {len(rows)} | {cell(rows)} | {cell(s0)} | "
                  f"{cell(s0, 'test_accuracy')} | {removed} | {models} |")
    removal_curve(ref)
    estimate_vs_test(new)
    dro_reference(ref)
    rounds(new, load("d3m_rounds_runs.jsonl"))


def dro_reference(ref):
    """The Group-DRO-informed removal reference (``--methods dro_removal_any``): chosen, and per budget."""
    print()
    print("| dataset | Group DRO (same run) | <= 10% (removed) | any budget (removed) | mean test WGA per budget |")
    print("|---|---|---|---|---|")
    for ds in DATASETS:
        wide = [r for r in ref if r["dataset"] == ds and r["method"] == "dro_removal_any"]
        if not wide:
            continue
        ten = [r for r in ref if r["dataset"] == ds and r["method"] == "dro_removal_10pct"]
        per = {}
        for r in wide:
            for c in r["candidates"]:
                per.setdefault(c["budget"], []).append(100 * c["test_worst_group_accuracy"])
        curve = " / ".join(f"{b}: {np.mean(v):.1f}" for b, v in per.items())
        share = lambda rows: f"{100 * np.mean([r['fraction_removed'] for r in rows]):.1f}%"  # noqa: E731
        print(f"| {ds} | {cell(wide, 'dro_test_worst_group_accuracy')} | {cell(ten)} ({share(ten)}) | "
              f"{cell(wide)} ({share(wide)}) | {curve} |")


def rounds(new, fixed):
    """D3M in rounds: at a fixed 10% (``bench_d3m_rounds.py``) and under the default rule (the ``*_rounds4`` spec)."""
    print()
    print("| dataset | setting | rounds | seeds | test WGA | seconds |")
    print("|---|---|---|---|---|---|")
    for ds in DATASETS:
        for r_ in sorted({r["rounds"] for r in fixed if r["dataset"] == ds}):
            rows = [r for r in fixed if r["dataset"] == ds and r["rounds"] == r_]
            print(f"| {ds} | fixed 10% | {r_} | {len(rows)} | {cell(rows)} | {np.mean([r['seconds'] for r in rows]):.0f} |")
        for m, r_ in (("d3m_ensemble_checked_10pct", 1), ("d3m_ensemble_checked_10pct_rounds4", 4)):
            rows = [r for r in new if r["dataset"] == ds and r["method"] == m]
            if rows and any(r["dataset"] == ds for r in new if r["method"].endswith("_rounds4")):
                print(f"| {ds} | default rule <= 10% | {r_} | {len(rows)} | {cell(rows)} | "
                      f"{np.mean([r['seconds'] for r in rows]):.0f} |")


def estimate_vs_test(new):
    """What validation says about the chosen removal against what the test rows say (mean over seeds, %)."""
    print()
    print("| dataset | rows | seeds | removed | vetoed | val WGA, all rows | held-out estimate | test WGA |")
    print("|---|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        for m in ("d3m_ensemble_10pct", "d3m_ensemble_crossfit_10pct", "d3m_ensemble_checked_10pct",
                  "d3m_ensemble", "d3m_ensemble_crossfit", "d3m_ensemble_checked"):
            rows = [r for r in new if r["dataset"] == ds and r["method"] == m]
            if not rows:
                continue
            held = [r.get("held_out_worst_group_accuracy") for r in rows]
            held = "-" if None in held else f"{100 * np.mean(held):.1f}"
            vetoed = sum(map(_vetoed, rows))
            print(f"| {ds} | {m} | {len(rows)} | {100 * np.mean([r['fraction_removed'] for r in rows]):.1f}% | "
                  f"{vetoed} | {100 * np.mean([r['val_worst_group_accuracy'] for r in rows]):.1f} | {held} | "
                  f"{cell(rows)} |")


def _vetoed(r) -> bool:
    """A ``checked`` run whose candidate gained on all validation rows but failed the held-out check."""
    if r.get("selection") != "checked" or not r.get("candidate_k") or r["fraction_removed"] > 0:
        return False
    val = {c["k"]: c["val_worst_group_accuracy"] for c in r["sweep"]}  # k = 0 is the base model
    return val[r["candidate_k"]] > val[0]


def removal_curve(ref, caps=(0.05, 0.1, 0.2, 0.3, 0.5, 0.7)):
    """Group-level removal reference by budget: the validation-best candidate removing at most ``cap``."""
    rows = [r for r in ref if r["method"] == "group_removal_any"]
    if not rows:
        return
    print()
    print("| dataset | seeds | " + " | ".join(f"<= {100 * c:g}%" for c in caps) + " |")
    print("|---|---|" + "---|" * len(caps))
    for ds in DATASETS:
        sub = [r for r in rows if r["dataset"] == ds]
        if not sub:
            continue
        cells = []
        for cap in caps:
            picks = []
            for r in sub:
                ok = [c for c in r["candidates"] if c["k"] <= cap * r["n_train"] + 0.5]
                picks.append(min(ok, key=removal_rank))
            v = np.array([c["test_worst_group_accuracy"] for c in picks]) * 100
            k = np.mean([c["k"] / r["n_train"] for c, r in zip(picks, sub, strict=True)]) * 100
            cells.append(f"{v.mean():.1f} ± {v.std(ddof=1):.1f} ({k:.0f}%)" if len(v) > 1 else f"{v[0]:.1f} ({k:.0f}%)")
        print(f"| {ds} | {len(sub)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
