"""TRAK against leave-one-out (LOO) retraining as the ensemble grows.

A small MLP (6-32-2, tanh) on 300 training rows; the ground truth is true LOO
retraining for a random subset of training examples, averaged over
``--loo-seeds`` training seeds (full-batch, deterministic Adam, so LOO
differences are signal, not optimiser noise). Compared, at 1, 5, 10 and 20
models/checkpoints:

- ``ensemble``: :class:`unskew.attribution.TRAKEnsemble`, independently trained
  models (own seed, random half of the training set), as in the TRAK and D3M
  papers;
- ``checkpoints``: TRAK over evenly spaced checkpoints of one full-data run
  (what D3M used before).

Prints Pearson r with LOO per size, averaged over ``--repeats`` ensembles with
different seeds, and the time per ensemble member (fit + TRAK). Writes a JSON
record to bench/results/trak_ensemble_curve.json.

    python bench/bench_trak_ensemble.py [--n-train 300] [--loo 40] [--loo-seeds 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_attribution import data, mlp  # the same toy problem and model as bench_attribution
from sklearn.base import BaseEstimator, ClassifierMixin

from unskew.attribution import TRAK, TRAKEnsemble, combine_terms

SIZES = (1, 5, 10, 20)


def fit_full_batch(model, X, y, steps, wd=1e-3, every=None):
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    ckpts = []
    for step in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        loss = loss + wd * sum((p ** 2).sum() for p in model.parameters())
        loss.backward()
        opt.step()
        if every and (step + 1) % every == 0:
            ckpts.append({k: v.clone() for k, v in model.state_dict().items()})
    return model, ckpts


class FullBatchMLP(ClassifierMixin, BaseEstimator):
    """The bench's training procedure behind the estimator interface TRAKEnsemble expects."""

    def __init__(self, steps: int = 300, random_state: int = 0):
        self.steps = steps
        self.random_state = random_state

    def fit(self, X, y):
        self.model_, _ = fit_full_batch(mlp(X.shape[1], self.random_state), X, y, self.steps)
        self.classes_ = np.unique(y)
        return self

    def attribution_inputs(self, X):
        return np.asarray(X, dtype=np.float32)


def margins(model, X, y):
    with torch.no_grad():
        z = model(torch.tensor(X))
        idx = torch.arange(len(y))
        return (z[idx, torch.tensor(y)] - z[idx, 1 - torch.tensor(y)]).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--n-target", type=int, default=100)
    ap.add_argument("--loo", type=int, default=40, help="training examples left out")
    ap.add_argument("--loo-seeds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--proj-dim", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--out", default="bench/results/trak_ensemble_curve.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = 6
    X, y = data(args.n_train, d, 0)
    Xt, yt = data(args.n_target, d, 1)
    rng = np.random.default_rng(0)
    left_out = rng.choice(args.n_train, size=args.loo, replace=False)
    t0 = time.perf_counter()
    cache = Path(args.out).with_name(f"trak_loo_truth_{args.n_train}_{args.n_target}_{args.loo}_{args.loo_seeds}_"
                                     f"{args.steps}.npy")
    loo = np.load(cache) if cache.exists() else None
    for s in range(0 if loo is not None else args.loo_seeds):
        if loo is None:
            loo = np.zeros((args.loo, args.n_target))
        full, _ = fit_full_batch(mlp(d, 1000 + s), X, y, args.steps)
        base = margins(full, Xt, yt)
        for k, i in enumerate(left_out):
            keep = np.ones(args.n_train, dtype=bool)
            keep[i] = False
            loo[k] += base - margins(fit_full_batch(mlp(d, 1000 + s), X[keep], y[keep], args.steps)[0], Xt, yt)
    if not cache.exists():
        loo /= args.loo_seeds
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, loo)
    t_loo = time.perf_counter() - t0
    print(f"MLP 6-32-2, {args.n_train} train x {args.n_target} targets, proj_dim {args.proj_dim}; LOO ground truth "
          f"for {args.loo} examples x {args.loo_seeds} seeds in {t_loo:.0f} s")

    def r_with_loo(S):
        return float(np.corrcoef(S[left_out].ravel(), loo.ravel())[0, 1])

    record = {"n_train": args.n_train, "n_target": args.n_target, "loo_examples": args.loo,
              "loo_seeds": args.loo_seeds, "proj_dim": args.proj_dim, "repeats": args.repeats,
              "ensemble": {}, "checkpoints": {}, "member_seconds": []}
    ens_r = {m: [] for m in SIZES}
    ck_r = {m: [] for m in SIZES}
    for rep in range(args.repeats):
        ens = TRAKEnsemble(FullBatchMLP(steps=args.steps), n_models=max(SIZES), proj_dim=args.proj_dim,
                           n_jobs=args.n_jobs, random_state=100 * rep, device="cpu")
        t0 = time.perf_counter()
        ens.attribute(X, y, Xt, yt, keep_terms=True)
        wall = time.perf_counter() - t0
        record["member_seconds"] += [m["fit_seconds"] + m["trak_seconds"] for m in ens.members_]
        for m in SIZES:
            ens_r[m].append(r_with_loo(combine_terms([t for member in ens.terms_[:m] for t in member])))
        # checkpoints of one full-data run (same total number of TRAK featurisations)
        _, ckpts = fit_full_batch(mlp(d, 500 + rep), X, y, args.steps, every=args.steps // max(SIZES))
        for m in SIZES:
            idx = np.unique(np.round(np.linspace(len(ckpts) - 1, 0, m)).astype(int))
            S = TRAK(mlp(d, 0), [ckpts[i] for i in idx], proj_dim=args.proj_dim, seed=100 * rep,
                     device="cpu").attribute(X, y, Xt, yt)
            ck_r[m].append(r_with_loo(S))
        print(f"repeat {rep}: {max(SIZES)} members in {wall:.1f} s")
    print(f"{'models':>7} {'ensemble r':>11} {'checkpoints r':>14}")
    for m in SIZES:
        record["ensemble"][m] = float(np.mean(ens_r[m]))
        record["checkpoints"][m] = float(np.mean(ck_r[m]))
        print(f"{m:7d} {np.mean(ens_r[m]):11.3f} {np.mean(ck_r[m]):14.3f}")
    sec = np.array(record["member_seconds"])
    print(f"time per ensemble member (fit + TRAK, 1 thread): {sec.mean():.2f} s (median {np.median(sec):.2f} s)")
    record["member_seconds_mean"] = float(sec.mean())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
