"""Slice discovery speed and memory on large synthetic tables (and against the ``sliceline`` package).

The table has ``--features`` columns: half numeric (standard normal, cut into 5
quantile bins by the encoder), half categorical (6 string levels). The error is
0/1 with a base rate that rises with ``x0`` (a natural weak region) plus a
planted slice ``c1 = b & x3 > q80(x3)`` with error rate 0.5, aligned with the
bins so that exact recovery can be checked. A second scenario uses continuous
errors (exponential, mean 4x in the planted slice).

For each table size the script prints the wall time of ``SliceFinder.fit``
(discretisation, lattice search and tests), the per-level counts and times,
the peak memory the fit allocated (``tracemalloc``, which sees numpy's
buffers) and the process's peak resident memory, and whether the planted slice
is the top one.

With ``--sliceline`` and the ``sliceline`` package importable (for example
``pip install --no-deps --target /tmp/sl sliceline`` and ``PYTHONPATH=/tmp/sl``),
the same encoded codes are searched with ``sliceline.Slicefinder`` (sparse
one-hot matrix products, SystemDS's algorithm) at the same alpha, level and
minimum support, and the top-k scores are compared.

With ``--real`` it instead reports recovery on real data (``--data-home``, or
``UNSKEW_DATA_HOME``): Adult with sex and race hidden (planted and natural weak
slices) and CelebA blond men with Male hidden, and an empirical family-wise
error rate on random errors (``--null-runs``).

    python bench/bench_slices.py [--rows 100000,1000000] [--features 20] [--max-level 3] [--sliceline]
    python bench/bench_slices.py --real [--data-home ../shared/datasets] [--null-runs 200]
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

from unskew.slices import SliceFinder
from unskew.slices._lattice import score


def make_table(n: int, n_features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_num = n_features // 2
    cols = {f"x{i}": rng.standard_normal(n) for i in range(n_num)}
    levels = np.array(list("abcdef"))
    for i in range(n_features - n_num):
        cols[f"c{i}"] = levels[rng.integers(0, 6, n)]
    X = pd.DataFrame(cols)
    q80 = np.quantile(X["x3"].to_numpy(), 0.8)
    planted = (X["c1"].to_numpy() == "b") & (X["x3"].to_numpy() > q80)
    base = 1 / (1 + np.exp(-(-2.2 + 0.6 * X["x0"].to_numpy())))
    e01 = (rng.random(n) < np.where(planted, 0.5, base)).astype(float)
    econt = rng.exponential(size=n) * np.where(planted, 4.0, 1.0)
    return X, e01, econt, planted


def run(X, errors, planted, max_level, alpha):
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    f = SliceFinder(max_level=max_level, alpha=alpha, top_k=5).fit(X, errors=errors)
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if not f.slices_:
        return f, wall, peak, None, False
    top = f.slices_[0]
    hit = bool((f.slice_membership(X)[:, 0] == planted).all())
    return f, wall, peak, top, hit


def compare_sliceline(f, X, errors, max_level, alpha, k=10):
    try:
        from sliceline import Slicefinder
    except ImportError:
        print("  sliceline: not importable, skipped")
        return
    codes = f.encoder_.transform(X).T
    t0 = time.perf_counter()
    sl = Slicefinder(alpha=alpha, k=k, max_l=max_level, min_sup=f.min_support_, verbose=False)
    try:
        sl.fit(codes, errors)
    except MemoryError as exc:
        print(f"  sliceline.Slicefinder (max_level={max_level}): out of memory after {time.perf_counter() - t0:.1f} s ({exc})")
        return
    wall = time.perf_counter() - t0
    theirs = np.sort([st["slice_score"] for st in (sl.top_slices_statistics_ or [])])[::-1]
    t0 = time.perf_counter()
    ours = SliceFinder(max_level=max_level, alpha=alpha, min_support=f.min_support_, pool_size=k,
                       top_k=k, max_overlap=None, explain_away=False).fit(X, errors=errors)
    t_ours = time.perf_counter() - t0
    mine = np.sort(ours.candidates_["score"].to_numpy())[::-1]
    m = min(len(theirs), len(mine))
    agree = bool(m and np.allclose(theirs[:m], mine[:m], rtol=1e-6))
    print(f"  sliceline.Slicefinder (max_level={max_level}): {wall:.2f} s, unskew at the same level "
          f"{t_ours:.2f} s; top-{k} scores agree with unskew: {agree} "
          f"(sliceline best {theirs[0] if len(theirs) else float('nan'):.4f}, "
          f"unskew best {mine[0] if len(mine) else float('nan'):.4f})")


def _p(p: float) -> str:
    return "<1e-300" if p < 1e-300 else f"{p:.2g}"


def _overlap(finder, X, group, y=None):
    mem = finder.slice_membership(X, y)
    return [(s, float(group[mem[:, j]].mean()), float((group & mem[:, j]).sum() / group.sum()))
            for j, s in enumerate(finder.slices_)]


def _print_overlap(rows, what):
    for s, prec, rec in rows:
        print(f"    {s.description}: {s.size:,} rows, error {s.error:.3f} ({s.error_ratio:.1f}x), "
              f"p_adj {_p(s.p_adjusted)}{'' if s.significant else ' (n.s.)'}; "
              f"share that is {what} {prec:.2f}, share of {what} covered {rec:.2f}")


def real_data(data_home, null_runs):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from unskew.datasets import load_adult, load_celeba_attributes

    df = load_adult("all", data_home=data_home)
    feats = [c for c in df.columns if c not in ("income", "split", "sex", "race")]
    X = df[feats].copy()
    cats = [c for c in feats if not pd.api.types.is_numeric_dtype(X[c])]
    X[cats] = X[cats].astype(object).fillna("?")
    train = (df.split == "train").to_numpy()
    clf = make_pipeline(make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", min_frequency=20), cats), remainder=StandardScaler()),
        LogisticRegression(max_iter=1000)).fit(X[train], df.income[train])
    test = df[~train].reset_index(drop=True)
    pred = clf.predict(X[~train])
    print(f"Adult test ({len(test):,} rows), logistic regression without sex and race: "
          f"error {(pred != test.income).mean():.3f}")
    t0 = time.perf_counter()
    f = SliceFinder(top_k=5).fit(test[feats], test.income, y_pred=pred)
    print(f"  natural weak slices ({time.perf_counter() - t0:.2f} s):")
    married = (test.marital_status == "Married-civ-spouse").to_numpy()
    _print_overlap(_overlap(f, test[feats], married), "married")
    rng = np.random.default_rng(0)
    for name, group, rate in [
            ("education = Masters & occupation = Prof-specialty (70% of predictions flipped)",
             ((test.education == "Masters") & (test.occupation == "Prof-specialty")).to_numpy(), 0.7),
            ("education = Masters & sex = Female, sex hidden (all predictions flipped)",
             ((test.education == "Masters") & (test.sex == "Female")).to_numpy(), 1.0)]:
        planted = np.where(group & (rng.random(len(test)) < rate), 1 - pred, pred)
        for alpha in (0.95, 0.99):
            f = SliceFinder(top_k=3, alpha=alpha).fit(test[feats], test.income, y_pred=planted)
            print(f"  planted {name}: {group.sum()} rows ({group.mean():.1%}); alpha={alpha}")
            _print_overlap(_overlap(f, test[feats], group), "planted")

    cel = load_celeba_attributes("all", data_home=data_home)
    attrs = [c for c in cel.columns if c not in ("filename", "split", "Blond_Hair", "Male")]
    tr = cel[cel.split == "train"]
    te = cel[cel.split == "test"].reset_index(drop=True)
    lr = LogisticRegression(max_iter=1000).fit(tr[attrs], tr.Blond_Hair)
    score_ = lr.predict_proba(te[attrs])[:, 1]
    pred_ = (score_ > 0.5).astype(int)
    bm = ((te.Male == 1) & (te.Blond_Hair == 1)).to_numpy()
    err = pred_ != te.Blond_Hair.to_numpy()
    print(f"\nCelebA test ({len(te):,} rows), logistic regression on 38 attributes (Male excluded): error "
          f"{err.mean():.3f}; blond men {bm.sum()} rows ({bm.mean():.2%}), error {err[bm].mean():.3f}; "
          f"blond women error {err[(te.Male == 0).to_numpy() & (te.Blond_Hair == 1).to_numpy()].mean():.3f}")
    for label in (True, False):
        for kind, kw in (("log loss", {"y_score": score_}), ("0/1 error", {"y_pred": pred_})):
            for level in (2, 3):
                t0 = time.perf_counter()
                f = SliceFinder(top_k=3, include_target=label, max_level=level).fit(te[attrs], te.Blond_Hair, **kw)
                print(f"  {kind}, label-conditioned={label}, max_level={level} ({time.perf_counter() - t0:.1f} s):")
                _print_overlap(_overlap(f, te[attrs], bm, te.Blond_Hair), "blond men")

    print(f"\nRandom 0/1 errors (rate 0.15), 2,000 rows x 7 features, {null_runs} runs:")
    for correction in ("bonferroni", "bh"):
        hits = 0
        tested = []
        for seed in range(null_runs):
            r = np.random.default_rng(1000 + seed)
            Xn = pd.DataFrame({f"c{i}": r.choice(list("abcd"), 2000) for i in range(5)})
            Xn["x0"], Xn["x1"] = r.normal(size=2000), r.normal(size=2000)
            fn = SliceFinder(correction=correction).fit(Xn, errors=(r.random(2000) < 0.15).astype(float))
            hits += bool(fn.candidates_["significant"].any())
            tested.append(fn.n_tested_)
        print(f"  {correction}: runs with any significant slice {hits}/{null_runs} "
              f"({hits / null_runs:.1%}); slices tested per run {np.mean(tested):.0f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--max-level", type=int, default=3)
    ap.add_argument("--alpha", type=float, default=0.95)
    ap.add_argument("--sliceline", action="store_true", help="also run the sliceline package (if importable)")
    ap.add_argument("--sliceline-max-rows", type=int, default=100_000,
                    help="skip sliceline above this many rows (its sparse products need tens of GiB)")
    ap.add_argument("--sliceline-level", type=int, default=2,
                    help="max level for the comparison (sliceline ran out of 6 GiB at level 3 on 5,000 rows)")
    ap.add_argument("--real", action="store_true", help="recovery on Adult and CelebA, and the null FWER")
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--null-runs", type=int, default=200)
    args = ap.parse_args(argv)
    if args.real:
        import os

        real_data(args.data_home or os.environ.get("UNSKEW_DATA_HOME") or "../shared/datasets", args.null_runs)
        return
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}")
    for n in [int(r) for r in args.rows.split(",")]:
        X, e01, econt, planted = make_table(n, args.features)
        print(f"\n{n:,} rows x {args.features} features (max_level={args.max_level}, alpha={args.alpha})")
        for name, e in (("0/1 errors", e01), ("continuous errors", econt)):
            f, wall, peak, top, hit = run(X, e, planted, args.max_level, args.alpha)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            lv = "; ".join(f"L{x['level']}: {x['evaluated']:,}/{x['candidates']:,} evaluated in "
                           f"{x['seconds']:.2f} s ({x.get('method', 'counts')})" for x in f.levels_)
            print(f"  {name}: fit {wall:.2f} s, peak allocated {peak / 2**20:.0f} MiB, "
                  f"process max RSS {rss:.0f} MiB; {f.encoder_.cardinalities_.sum()} conditions; "
                  f"tested {f.n_tested_:,}")
            print(f"    levels: {lv}")
            if top is None:
                print("    no slice scores above 0")
                continue
            print(f"    top slice: {top.description} (size {top.size:,}, error {top.error:.3f}, "
                  f"ratio {top.error_ratio:.2f}, p_adj {_p(top.p_adjusted)}); planted slice recovered exactly: {hit}")
            assert np.isclose(top.score, float(score(top.size, top.error * top.size, n, e.mean(), args.alpha)))
            if args.sliceline and name == "0/1 errors" and n <= args.sliceline_max_rows:
                compare_sliceline(f, X, e, args.sliceline_level, args.alpha)


if __name__ == "__main__":
    main()
