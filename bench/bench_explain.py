"""Time `unskew.explain` against shap and Captum on the same models and rows.

Cases (all peers run in the same process, one after the other, so the ratios
are comparable even on a busy machine):

* ``tree``: exact TreeSHAP. A HistGradientBoostingClassifier with 100 trees
  on 20 features; ``unskew.explain.explain`` (numba, Fast TreeSHAP v2 tables,
  all cores) against ``shap.TreeExplainer`` (``tree_path_dependent``, its C++
  extension, one core) on ``--rows`` rows. Prints both times, the ratio and the
  largest difference between the two value matrices. The first unskew call
  (JIT compilation, or loading the compiled kernels from numba's cache) is
  timed separately.
* ``kernel``: the model-agnostic estimators on the same model: shap's
  ``KernelExplainer`` and unskew's permutation estimator on ``--kernel-rows``
  rows with a 100-row background, plus unskew's exact TreeSHAP on the same rows
  (the error of each estimator against the exact values is printed).
* ``ig``: integrated gradients on ``--images`` 28x28 images with a 2-layer CNN,
  ``n_steps=50``: ``unskew.explain.saliency`` (automatic batching) against
  ``captum.attr.IntegratedGradients`` with ``internal_batch_size=256``. Each
  runs in its own subprocess so that the peak resident memory
  (``ru_maxrss``) is its own.

    python bench/bench_explain.py [--rows 10000] [--kernel-rows 20] [--images 10000] [--cases tree,kernel,ig]
    python bench/bench_explain.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _load():
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def tree_model(n_train=20000, d=20, seed=0):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(n_samples=n_train, n_features=d, n_informative=12, random_state=seed)
    model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed).fit(X, y)
    return model, X


def case_tree(rows: int) -> dict:
    import shap

    from unskew.explain import explain

    model, X = tree_model()
    Xr = np.ascontiguousarray(np.resize(X, (rows, X.shape[1])))
    t0 = time.perf_counter()
    explain(model, Xr[:50])
    first = time.perf_counter() - t0
    print(f"[tree] {_load()}; unskew first call (compile or cache load) {first:.2f} s", flush=True)
    t0 = time.perf_counter()
    ours = explain(model, Xr)
    t_ours = time.perf_counter() - t0
    print(f"[tree] unskew explain: {t_ours:.2f} s for {rows} rows ({_load()})", flush=True)
    t0 = time.perf_counter()
    ref = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    sv = ref.shap_values(Xr)
    t_shap = time.perf_counter() - t0
    print(f"[tree] shap TreeExplainer: {t_shap:.2f} s ({_load()})", flush=True)
    diff = float(np.max(np.abs(ours.values - sv)))
    out = {"rows": rows, "trees": 100, "features": X.shape[1], "unskew_s": t_ours, "shap_tree_s": t_shap,
           "speedup": t_shap / t_ours, "max_abs_diff": diff, "first_call_s": first,
           "numba_threads": _numba_threads()}
    print(f"[tree] speed-up {out['speedup']:.2f}x, max |unskew - shap| = {diff:.2e}", flush=True)
    return out


def _numba_threads():
    import numba

    return numba.get_num_threads()


def case_kernel(rows: int) -> dict:
    import shap

    from unskew.explain import explain

    model, X = tree_model()
    bg = X[:100]
    Xr = X[1000:1000 + rows]
    exact = explain(model, Xr).values  # log-odds; the estimators below explain the probability
    f = lambda Z: model.predict_proba(Z)[:, 1]  # noqa: E731
    t0 = time.perf_counter()
    ke = shap.KernelExplainer(f, bg)
    kv = np.asarray(ke.shap_values(Xr, silent=True))
    t_kernel = time.perf_counter() - t0
    print(f"[kernel] shap KernelExplainer: {t_kernel:.2f} s for {rows} rows ({_load()})", flush=True)
    t0 = time.perf_counter()
    pe = explain(model, Xr, background=bg, method="permutation", n_permutations=10, time_budget_s=3600)
    t_perm = time.perf_counter() - t0
    print(f"[kernel] unskew permutation (10 orderings): {t_perm:.2f} s ({_load()})", flush=True)
    # reference: the exact interventional values are not available here; compare the two estimators
    # with each other and report their efficiency (sum equals f(x) - E f)
    fx = f(Xr)
    out = {"rows": rows, "background": 100, "shap_kernel_s": t_kernel, "unskew_permutation_s": t_perm,
           "speedup_permutation_vs_kernel": t_kernel / t_perm,
           "permutation_vs_kernel_max_abs_diff": float(np.max(np.abs(pe.values - kv))),
           "permutation_vs_kernel_corr": float(np.corrcoef(pe.values.ravel(), kv.ravel())[0, 1]),
           "permutation_efficiency_error": float(np.max(np.abs(pe.outputs - fx))),
           "exact_tree_rows": rows, "exact_tree_values_shape": list(exact.shape)}
    t0 = time.perf_counter()
    explain(model, Xr)
    out["unskew_exact_tree_s"] = time.perf_counter() - t0
    out["speedup_exact_tree_vs_kernel"] = t_kernel / out["unskew_exact_tree_s"]
    print(f"[kernel] {json.dumps(out)}", flush=True)
    return out


# ----------------------------------------------------------------------------- integrated gradients
def _cnn():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 10),
    ).eval()


def ig_worker(which: str, n: int) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    model = _cnn()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, 28, 28, generator=g)
    target = torch.zeros(n, dtype=torch.long)
    t0 = time.perf_counter()
    if which == "captum":
        from captum.attr import IntegratedGradients

        ig = IntegratedGradients(model)
        maps = []
        for s in range(0, n, 1000):
            a = ig.attribute(images[s:s + 1000], target=target[s:s + 1000], n_steps=50, internal_batch_size=256)
            maps.append(a.abs().sum(dim=1).detach())
        maps = torch.cat(maps).numpy()
    else:
        from unskew.explain import saliency

        maps = saliency(model, images, target=target, method="integrated_gradients")
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(f"/tmp/bench_ig_{which}.npy", maps[:200])
    print(json.dumps({"which": which, "seconds": elapsed, "peak_rss_mb": peak_mb, "n": n}))


def case_ig(n: int) -> dict:
    res = {}
    for which in ("unskew", "captum"):
        p = subprocess.run([sys.executable, __file__, "--ig-worker", which, "--images", str(n)],
                           capture_output=True, text=True, check=True)
        res[which] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"[ig] {which}: {res[which]['seconds']:.2f} s, peak RSS {res[which]['peak_rss_mb']:.0f} MB "
              f"({_load()})", flush=True)
    a, b = np.load("/tmp/bench_ig_unskew.npy"), np.load("/tmp/bench_ig_captum.npy")
    out = {"images": n, "unskew_s": res["unskew"]["seconds"], "captum_s": res["captum"]["seconds"],
           "speedup": res["captum"]["seconds"] / res["unskew"]["seconds"],
           "unskew_peak_rss_mb": res["unskew"]["peak_rss_mb"], "captum_peak_rss_mb": res["captum"]["peak_rss_mb"],
           "max_rel_diff_first_200": float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))}
    print(f"[ig] {json.dumps(out)}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--kernel-rows", type=int, default=20)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--cases", default="tree,kernel,ig")
    ap.add_argument("--quick", action="store_true", help="2,000 rows, 5 kernel rows, 1,000 images")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--ig-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ig_worker:
        ig_worker(args.ig_worker, args.images)
        return
    if args.quick:
        args.rows, args.kernel_rows, args.images = 2000, 5, 1000
    results = {"load_start": os.getloadavg(), "cpus": os.cpu_count()}
    cases = args.cases.split(",")
    if "tree" in cases:
        results["tree"] = case_tree(args.rows)
    if "kernel" in cases:
        results["kernel"] = case_kernel(args.kernel_rows)
    if "ig" in cases:
        results["ig"] = case_ig(args.images)
    results["load_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
