"""D3M in rounds at a fixed 10% removal: does re-attributing what is left pick better rows?

For each seed and each number of rounds ``r``, remove 10% of the training rows
with ``D3M(removal="k", rounds=r)`` (5-model TRAK ensemble, validation groups)
and report test worst-group accuracy; ``r = 1`` is the paper's one-shot
ranking. A fixed ``k`` isolates the ranking from the choice of ``k``::

    python bench/bench_d3m_rounds.py --dataset celeba --seeds 0,1,2 --rounds 1,2,4

One JSON line per run goes to ``--out`` (default
``bench/results/d3m_rounds_runs.jsonl``). Datasets and training settings are
those of ``bench_worst_group.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _wg_data  # noqa: E402
import bench_worst_group as wg  # noqa: E402


def run(dataset: str, seed: int, rounds: int, fraction: float, data) -> dict:
    from unskew.mitigate.d3m import D3M
    from unskew.train import METHODS

    tr, va, te = data.train, data.val, data.test
    name, params = wg.params_for(dataset, "erm", data, False)
    est = METHODS[name](**params, random_state=seed, keep_checkpoints=True)
    k = int(round(fraction * len(tr.y)))
    t0 = time.perf_counter()
    d3m = D3M(est, removal="k", k=k, rounds=rounds, n_models=wg.D3M_ENSEMBLE_MODELS, proj_dim=512,
              random_state=seed).fit(tr.X, tr.y, X_val=va.X, y_val=va.y, groups_val=va.g)
    seconds = time.perf_counter() - t0
    test, val = wg.evaluate(d3m.predict(te.X), te), wg.evaluate(d3m.predict(va.X), va)
    return {"dataset": dataset, "seed": seed, "rounds": rounds, "k": k, "fraction_removed": k / len(tr.y),
            "seconds": seconds, "test_worst_group_accuracy": test["worst_group_accuracy"],
            "test_accuracy": test["accuracy"], "val_worst_group_accuracy": val["worst_group_accuracy"],
            "removed_by_group": np.bincount(tr.g[d3m.removed_], minlength=len(data.group_names)).tolist()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="celeba", choices=list(_wg_data.BUILDERS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--rounds", default="1,2,4")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "d3m_rounds_runs.jsonl")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    data = _wg_data.BUILDERS[args.dataset]()
    for seed in (int(s) for s in args.seeds.split(",")):
        for rounds in (int(r) for r in args.rounds.split(",")):
            row = run(args.dataset, seed, rounds, args.fraction, data)
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{args.dataset} seed {seed} rounds {rounds}: removed {row['k']}, test WGA "
                  f"{row['test_worst_group_accuracy']:.3f}, acc {row['test_accuracy']:.3f}, val WGA "
                  f"{row['val_worst_group_accuracy']:.3f} ({row['seconds']:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
