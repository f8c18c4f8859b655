"""Markdown table: D3M / Auto-D3M with a TRAK ensemble (issue 16) against the suite's baselines.

Reads the D3M ensemble records (``bench/results/d3m_ensemble_runs.jsonl``, written by
``bench_worst_group.py --methods d3m_ensemble,auto_d3m_ensemble --cache ...``) and the suite's
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
       "auto_d3m_ensemble", "auto_d3m_ensemble_own_partition", "auto_d3m_ensemble_crossfit"]
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
    checked_from_records(new, old)


def estimate_vs_test(new):
    """What validation says about the chosen removal against what the test rows say (mean over seeds, %)."""
    print()
    print("| dataset | rows | seeds | removed | val WGA, all rows | held-out estimate | test WGA |")
    print("|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        for m in ("d3m_ensemble_10pct", "d3m_ensemble_crossfit_10pct", "d3m_ensemble", "d3m_ensemble_crossfit"):
            rows = [r for r in new if r["dataset"] == ds and r["method"] == m]
            if not rows:
                continue
            held = [r.get("held_out_worst_group_accuracy") for r in rows]
            held = "-" if None in held else f"{100 * np.mean(held):.1f}"
            print(f"| {ds} | {m} | {len(rows)} | {100 * np.mean([r['fraction_removed'] for r in rows]):.1f}% | "
                  f"{100 * np.mean([r['val_worst_group_accuracy'] for r in rows]):.1f} | {held} | "
                  f"{cell(rows)} |")


def checked_from_records(new, old):
    """The ``checked`` default rebuilt from two runs of the same seeds, and its own runs where there are some.

    ``checked`` chooses k as ``in_sample`` does (the ``d3m_ensemble*`` records) and applies it only if
    the held-out estimate of that k beats removing nothing; the ``d3m_ensemble_crossfit*`` records hold
    the held-out estimate of every k of the grid for the same seeds (training is deterministic given
    the seed, so the models are the same). A vetoed removal returns the base model, the suite's ERM.
    """
    erm = {(r["dataset"], r["seed"]): r["test_worst_group_accuracy"] for r in old if r["method"] == "erm"}
    print()
    print("| dataset | rows | seeds | removed | vetoed | held-out estimate | test WGA (rebuilt) | test WGA (own runs) |")
    print("|---|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        for m, own in (("d3m_ensemble_10pct", "d3m_ensemble_checked_10pct"), ("d3m_ensemble", "d3m_ensemble_checked")):
            pairs = []
            for r in (r for r in new if r["dataset"] == ds and r["method"] == m):
                cf = [c for c in new if c["dataset"] == ds and c["seed"] == r["seed"]
                      and c["method"] == m.replace("d3m_ensemble", "d3m_ensemble_crossfit")]
                if cf:
                    pairs.append((r, cf[0]))
            if not pairs:
                continue
            tests, held, removed, vetoed = [], [], [], 0
            for r, cf in pairs:
                est = {round(c["k"]): c["held_out_worst_group_accuracy"] for c in cf["sweep"]}
                # the k the in-sample record removed, read from its own sweep
                k = next(round(c["k"]) for c in r["sweep"] if abs(c["fraction_removed"] - r["fraction_removed"]) < 1e-9)
                ok = k == 0 or est[k] > est[0]
                vetoed += not ok
                tests.append(r["test_worst_group_accuracy"] if ok else erm[(ds, r["seed"])])
                held.append(est[k] if ok else est[0])
                removed.append(r["fraction_removed"] if ok else 0.0)
            own_rows = [r for r in new if r["dataset"] == ds and r["method"] == own]
            print(f"| {ds} | {m.replace('d3m_ensemble', 'checked')} | {len(pairs)} | {100 * np.mean(removed):.1f}% | "
                  f"{vetoed} | {100 * np.mean(held):.1f} | {cell([{'v': t} for t in tests], 'v')} | "
                  f"{cell(own_rows) if own_rows else '-'} |")


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
