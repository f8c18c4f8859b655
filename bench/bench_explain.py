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
* ``spurious``: ERM against Group DRO (``unskew.train``) on the Coloured MNIST
  and Waterbirds-style benchmarks (``bench/_wg_data.py``): the share of
  integrated-gradients attribution on the colour (Coloured MNIST: the path
  0 -> colourless digit -> coloured digit; the second segment only changes the
  colour) and each saliency method's share of attribution on the background
  (Waterbirds-style, outside the pasted object), with the sanity check of each
  method. Small training budgets (``--epochs-*``) so it runs in minutes.
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


# ----------------------------------------------------------------------------- spurious cues
def _fit(method, data, params, epochs, seed=0):
    from unskew.train import METHODS

    est = METHODS[method](**{**data.model_params, **params}, max_epochs=epochs, random_state=seed,
                          keep_checkpoints=False)
    tr, va = data.train, data.val
    est.fit(tr.X, tr.y, groups=tr.g, sensitive=tr.s, X_val=va.X, y_val=va.y, groups_val=va.g)
    return est


def _worst_group_acc(est, part):
    pred = est.predict(part.X)
    accs = [float((pred[part.g == k] == part.y[part.g == k]).mean()) for k in np.unique(part.g)]
    return float((pred == part.y).mean()), min(accs)


def _waterbirds_masks(data):
    """Object masks of the Waterbirds-style test images: the same objects, drawn with the same seeded
    generator calls as bench/_wg_data.py (checked against the composed pixels)."""
    import _wg_data as W

    rng = np.random.default_rng(W.DATA_SEED)
    fm = W.data_home() / "fashion-mnist"

    def objects(prefix, n):
        imgs = W._read_idx(fm / f"{prefix}-images-idx3-ubyte.gz")
        labs = W._read_idx(fm / f"{prefix}-labels-idx1-ubyte.gz").astype(int)
        keep = np.flatnonzero(np.isin(labs, W.TOPS + W.NOT_TOPS))
        keep = rng.permutation(keep)[:n]
        return imgs[keep].astype(np.float32) / 255.0

    objects("train", 5000)
    obj = objects("t10k", len(data.test))
    mask = obj > 0.05
    assert np.allclose(data.test.X[:, 0][mask], 0.6 * obj[mask]), "object masks do not match the data"
    return mask


def case_spurious(n_images: int, epochs_cmnist: int, epochs_wb: int) -> dict:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _wg_data as W

    from unskew.explain import (
        SALIENCY_METHODS,
        group_mean_maps,
        region_share,
        saliency,
        sanity_check,
    )

    out = {}
    # Coloured MNIST: share of integrated gradients on the colour, along the path 0 -> grey digit -> coloured digit
    data = W.coloured_mnist()
    te = data.test
    idx = np.arange(min(n_images, len(te)))
    X = te.X[idx]
    img = X.reshape(len(X), 2, 14, 14)
    grey = np.repeat(img.sum(axis=1, keepdims=True) / 2, 2, axis=1).reshape(len(X), -1)
    res = {}
    for method in ("erm", "group_dro"):
        t0 = time.perf_counter()
        est = _fit(method, data, {}, epochs_cmnist)
        acc, wga = _worst_group_acc(est, te)
        target = est.encode_labels(est.predict(X))
        shape_part = saliency(est, grey, target=target, method="integrated_gradients", image_shape=(2, 14, 14))
        colour_part = saliency(est, X, target=target, method="integrated_gradients", baseline=grey,
                               image_shape=(2, 14, 14))
        a, b = shape_part.sum(axis=(1, 2)), colour_part.sum(axis=(1, 2))
        share = b / np.maximum(a + b, 1e-12)
        by_group = {data.group_names[k]: float(share[te.g[idx] == k].mean()) for k in range(4)}
        sanity = {m: sanity_check(est, X[:64], method=m, image_shape=(2, 14, 14))
                  for m in SALIENCY_METHODS if m != "grad_cam"}  # an MLP has no convolution for Grad-CAM
        res[method] = {"test_accuracy": acc, "test_worst_group_accuracy": wga, "colour_share": float(share.mean()),
                       "colour_share_by_group": by_group, "sanity": sanity, "seconds": time.perf_counter() - t0,
                       "epochs": epochs_cmnist}
        print(f"[spurious] cmnist {method}: {json.dumps(res[method])}", flush=True)
    out["cmnist"] = res
    # Waterbirds-style: share of each saliency method's map on the background (outside the object)
    data = W.waterbirds_fmnist()
    te = data.test
    masks = _waterbirds_masks(data)
    idx = np.arange(min(n_images, len(te)))
    X, bgmask = te.X[idx], ~masks[idx]
    res = {}
    for method in ("erm", "group_dro"):
        t0 = time.perf_counter()
        est = _fit(method, data, {}, epochs_wb)
        acc, wga = _worst_group_acc(est, te)
        row = {"test_accuracy": acc, "test_worst_group_accuracy": wga, "background_pixels": float(bgmask.mean()),
               "epochs": epochs_wb}
        for m in SALIENCY_METHODS:
            maps = saliency(est, X, method=m, n_samples=10) if m == "smoothgrad" else saliency(est, X, method=m)
            share = region_share(maps, bgmask)
            row[f"{m}_background_share"] = float(np.nanmean(share))
            row[f"{m}_background_share_by_group"] = {data.group_names[k]: float(np.nanmean(share[te.g[idx] == k]))
                                                      for k in range(4)}
            row[f"{m}_sanity"] = sanity_check(est, X[:64], method=m)
            if m == "integrated_gradients":
                means = group_mean_maps(maps, np.asarray(data.group_names, dtype=object)[te.g[idx]])
                np.savez_compressed(f"/tmp/bench_explain_wb_{method}_mean_maps.npz", **means)
        row["seconds"] = time.perf_counter() - t0
        res[method] = row
        print(f"[spurious] waterbirds {method}: {json.dumps(row)}", flush=True)
    out["waterbirds"] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--kernel-rows", type=int, default=20)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--cases", default="tree,kernel,ig", help="tree, kernel, ig, spurious (comma-separated)")
    ap.add_argument("--spurious-images", type=int, default=500, help="test images per spurious-cue measurement")
    ap.add_argument("--epochs-cmnist", type=int, default=10)
    ap.add_argument("--epochs-waterbirds", type=int, default=4)
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
    if "spurious" in cases:
        results["spurious"] = case_spurious(args.spurious_images, args.epochs_cmnist, args.epochs_waterbirds)
    results["load_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
