"""Auto-D3M's validation pseudo-group sizes on the suite, and where the size guard changes them.

A diagnostic for ``docs/d3m.md`` (not a benchmark: nothing is timed against a peer). Since
``auto_pseudo_groups(..., min_size=...)`` a split that would leave a side with fewer than
``min_group_size`` (20) rows is not made. Before it, the first split always ran (the paper) and,
with ``pseudo_depth=2``, every part of at least 40 rows was split again whatever the sides. For each
dataset and seed this trains the suite's base ERM model and the 5-model TRAK ensemble of the
``auto_d3m_ensemble_checked`` spec, forms the pseudo-groups for each candidate ridge (0, 1, 10) at
depth 1 and 2 under both rules, and prints their sizes and whether the two rules agree. Where they
agree on every ridge, the suite's Auto-D3M records (made under the earlier rule) are what the
current code computes.

Usage (from ``bench/``)::

    UNSKEW_DATA_HOME=../../shared/datasets python diag_pseudo_group_sizes.py --datasets compas,cmnist --seeds 0
"""

from __future__ import annotations

import argparse
import json
import time

import _wg_data
import numpy as np
from bench_worst_group import D3M_SPECS, params_for

RIDGES = (0.0, 1.0, 10.0)


def _earlier_rule(S, y, depth: int, min_group_size: int) -> np.ndarray:
    """The pseudo-groups before the guard, built from the paper's always-split partitions."""
    from unskew.mitigate.d3m import auto_pseudo_groups

    if depth == 1:
        return auto_pseudo_groups(S, y, depth=1, min_size=1)
    one, two = auto_pseudo_groups(S, y, depth=1, min_size=1), auto_pseudo_groups(S, y, depth=2, min_size=1)
    old = two.copy()
    for part, n in zip(*np.unique(one, return_counts=True), strict=True):
        if n < 2 * min_group_size:  # the earlier rule's only limit, at the second level
            old[one == part] = 2 * part
    return old


def sizes(d3m, data) -> dict:
    from unskew.mitigate.d3m import auto_pseudo_groups

    tr, va = data.train, data.val
    t0 = time.perf_counter()
    base = d3m._fit_model(tr.X, tr.y, None, val=(va.X, va.y, None))
    d3m.trak_lambda_ = 0.0  # read by _attribute; the candidate ridges below replace it
    Ss = d3m._attribute(base, tr.X, tr.y, va.X, va.y, val=(va.X, va.y, None), lambdas=list(RIDGES))
    out = {"seconds": round(time.perf_counter() - t0, 1), "n_val": int(len(va.y))}
    for lam, S in zip(RIDGES, Ss, strict=True):
        for depth in (1, 2):
            new = auto_pseudo_groups(S, va.y, depth=depth, min_size=d3m.min_group_size)
            old = _earlier_rule(S, va.y, depth, d3m.min_group_size)
            out[f"ridge {lam:g}, depth {depth}"] = {
                "sizes": np.bincount(new).tolist(), "earlier_sizes": np.bincount(old).tolist(),
                "same": bool(np.array_equal(new, old))}
    return out


def main(argv=None) -> int:
    from unskew.mitigate.d3m import D3M
    from unskew.train import METHODS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="compas,cmnist,celeba,adult,waterbirds")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--out", default=None, help="also write the figures here (JSON)")
    args = ap.parse_args(argv)
    spec = dict(D3M_SPECS["auto_d3m_ensemble_checked"])
    records = []
    for ds in args.datasets.split(","):
        data = _wg_data.BUILDERS[ds]()
        for seed in (int(s) for s in args.seeds.split(",")):
            name, params = params_for(ds, "erm", data, False)
            est = METHODS[name](**params, random_state=seed, keep_checkpoints=True)
            rec = {"dataset": ds, "seed": seed, **sizes(D3M(est, **spec), data)}
            records.append(rec)
            changed = [k for k, v in rec.items() if isinstance(v, dict) and not v["same"]]
            print(f"[{ds}] seed {seed} ({rec['seconds']} s, {rec['n_val']} validation rows): "
                  + ("the guard changes nothing" if not changed else f"the guard changes {', '.join(changed)}"),
                  flush=True)
            for k, v in rec.items():
                if isinstance(v, dict):
                    print(f"    {k}: {v['sizes']}" + ("" if v["same"] else f" (earlier rule {v['earlier_sizes']})"))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(records, fh, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
