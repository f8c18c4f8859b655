"""Attribution quality against true leave-one-out (LOO) retraining.

1. Logistic regression: exact influence functions vs exact LOO (Newton to
   convergence) on every training example.
2. A small MLP: TRAK with 1, 3 and all checkpoints vs LOO retraining averaged
   over the same training seeds (full-batch deterministic training, so LOO
   differences are signal, not optimiser noise), on a random subset of
   training examples.

    python bench/bench_attribution.py [--n-train 300] [--loo 60] [--seeds 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from unskew.attribution import TRAK, LogisticInfluence, leave_one_out_margins


def data(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = ((X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * rng.normal(size=n)) > 0).astype(np.int64)
    return X, y


def mlp(d, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))


def fit_full_batch(model, X, y, mask, steps=300, wd=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    Xt, yt = torch.tensor(X[mask]), torch.tensor(y[mask])
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        loss = loss + wd * sum((p ** 2).sum() for p in model.parameters())
        loss.backward()
        opt.step()
    return model


def margins(model, X, y):
    with torch.no_grad():
        z = model(torch.tensor(X))
        yt = torch.tensor(y)
        correct = z[torch.arange(len(y)), yt]
        other = z.clone()
        other[torch.arange(len(y)), yt] = float("-inf")
        return (correct - other.logsumexp(1)).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--n-target", type=int, default=100)
    ap.add_argument("--loo", type=int, default=60, help="training examples to leave out (MLP part)")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--proj-dim", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    d = 6
    X, y = data(args.n_train, d, 0)
    Xt, yt = data(args.n_target, d, 1)

    t0 = time.perf_counter()
    S = LogisticInfluence(l2=1.0).fit(X, y).attribute(Xt, yt)
    D = leave_one_out_margins(X, y, Xt, yt, l2=1.0)
    r_inf = np.corrcoef(S.ravel(), D.ravel())[0, 1]
    print(f"logistic: exact influence vs exact LOO over {S.size} pairs: r = {r_inf:.4f} "
          f"({time.perf_counter() - t0:.2f} s)")

    rng = np.random.default_rng(0)
    left_out = rng.choice(args.n_train, size=args.loo, replace=False)
    full_mask = np.ones(args.n_train, dtype=bool)
    loo = np.zeros((args.loo, args.n_target))
    ckpts = []
    t0 = time.perf_counter()
    for s in range(args.seeds):
        full = fit_full_batch(mlp(d, s), X, y, full_mask)
        ckpts.append({k: v.clone() for k, v in full.state_dict().items()})
        base = margins(full, Xt, yt)
        for k, i in enumerate(left_out):
            m = full_mask.copy()
            m[i] = False
            loo[k] += base - margins(fit_full_batch(mlp(d, s), X, y, m), Xt, yt)
    loo /= args.seeds
    t_loo = time.perf_counter() - t0
    print(f"MLP 6-32-2: LOO ground truth for {args.loo} examples x {args.seeds} seeds in {t_loo:.1f} s")
    for n_ck in sorted({1, min(3, args.seeds), args.seeds}):
        t0 = time.perf_counter()
        St = TRAK(mlp(d, 0), ckpts[:n_ck], proj_dim=args.proj_dim).attribute(X, y, Xt, yt)
        r = np.corrcoef(St[left_out].ravel(), loo.ravel())[0, 1]
        print(f"  TRAK with {n_ck:2d} checkpoint(s): r with LOO = {r:.3f} ({time.perf_counter() - t0:.2f} s)")


if __name__ == "__main__":
    main()
