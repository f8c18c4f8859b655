"""Whom D3M and Auto-D3M remove, and what Auto-D3M's pseudo-groups are, on one dataset and seed.

A diagnostic for ``docs/d3m.md`` (not a benchmark: nothing is timed against a peer). For the
suite's ``d3m_ensemble_checked`` and ``auto_d3m_ensemble_checked`` specs it prints:

- Auto-D3M's validation pseudo-groups against the true groups (the true groups are only used to
  describe them), with the base model's accuracy on each pseudo-group;
- the share of each true training group each method removed;
- for comparison, the base ERM model's training errors per group (what JTT upweights).

Usage (from ``bench/``)::

    UNSKEW_DATA_HOME=../../shared/datasets python diag_d3m_groups.py --dataset celeba --seed 0
"""

from __future__ import annotations

import argparse
import json
import time

import _wg_data
import numpy as np
import pandas as pd
from bench_worst_group import D3M_ENSEMBLE_GRID, D3M_SPECS, params_for


def _fit(dataset: str, spec_name: str, seed: int, data):
    from unskew.mitigate.d3m import D3M
    from unskew.train import METHODS

    name, params = params_for(dataset, "erm", data, False)
    est = METHODS[name](**params, random_state=seed, keep_checkpoints=True)
    spec = dict(D3M_SPECS[spec_name])
    grid = spec.pop("k_grid", D3M_ENSEMBLE_GRID)
    auto = spec_name.startswith("auto_d3m")
    tr, va = data.train, data.val
    t0 = time.perf_counter()
    d3m = D3M(est, k_grid=grid, **spec).fit(tr.X, tr.y, X_val=va.X, y_val=va.y, groups_val=None if auto else va.g)
    return d3m, time.perf_counter() - t0


def _removed_share(d3m, tr, names) -> dict:
    g = pd.Series(np.asarray(names)[tr.g])
    removed = g.iloc[d3m.removed_].value_counts()
    return {str(k): round(float(removed.get(k, 0) / n), 4) for k, n in g.value_counts().sort_index().items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="celeba", choices=sorted(_wg_data.BUILDERS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the figures here (JSON)")
    args = ap.parse_args(argv)
    data = _wg_data.BUILDERS[args.dataset]()
    tr, va = data.train, data.val
    print(f"[{args.dataset}] {data.sizes()}", flush=True)
    out = {"dataset": args.dataset, "seed": args.seed}

    auto, secs = _fit(args.dataset, "auto_d3m_ensemble_checked", args.seed, data)
    pseudo = np.asarray(auto.val_groups_)
    names = data.group_names
    true = np.asarray(names)[va.g]
    base_pred = auto.base_estimator_.predict(va.X)
    tab = pd.crosstab(pd.Series(pseudo, name="pseudo-group"), pd.Series(true, name="true group"))
    acc = pd.Series(base_pred == va.y).groupby(pseudo).mean()
    print(f"\nAuto-D3M ({secs:.0f} s): ridge {auto.trak_lambda_}, removed {len(auto.removed_)} "
          f"({len(auto.removed_) / len(tr.y):.1%}), applied {auto.removal_applied_}")
    print("validation pseudo-groups (rows) x true groups (columns):")
    print(tab.assign(base_accuracy=acc.round(3)).to_string())
    out["auto"] = {"seconds": secs, "trak_lambda": auto.trak_lambda_, "n_removed": int(len(auto.removed_)),
                   "pseudo_x_true": {str(k): {str(c): int(v) for c, v in row.items()} for k, row in tab.iterrows()},
                   "pseudo_base_accuracy": {str(k): float(v) for k, v in acc.items()},
                   "removed_share_by_group": _removed_share(auto, tr, names)}

    d3m, secs = _fit(args.dataset, "d3m_ensemble_checked", args.seed, data)
    out["d3m"] = {"seconds": secs, "n_removed": int(len(d3m.removed_)), "removed_share_by_group": _removed_share(d3m, tr, names)}
    errors = pd.Series(d3m.base_estimator_.predict(tr.X) != tr.y).groupby(np.asarray(names)[tr.g]).mean()
    out["erm_train_error_by_group"] = {str(k): round(float(v), 4) for k, v in errors.items()}
    print(f"\nshare of each training group removed (D3M {len(d3m.removed_)} rows, Auto-D3M {len(auto.removed_)}):")
    print(pd.DataFrame({"D3M": out["d3m"]["removed_share_by_group"], "Auto-D3M": out["auto"]["removed_share_by_group"],
                        "ERM training error (JTT's set)": out["erm_train_error_by_group"]}).to_string())
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=1)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
