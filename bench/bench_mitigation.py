"""Accuracy and fairness gaps of unskew's mitigations against Fairlearn and AIF360 on Adult and COMPAS.

Datasets (from ../shared/datasets via UNSKEW_DATA_HOME or --data-home):
  adult   income (>50K = 1) from the other columns, sensitive attribute sex (not a model
          input); adult.data and adult.test pooled, then a stratified 70/30 split per seed.
  compas  two_year_recid from sex, age, age_cat, juvenile counts, priors_count and
          c_charge_degree (COMPAS's own scores are not used), sensitive attribute race,
          restricted to African-American and Caucasian defendants; 70/30 split per seed.

Every method uses the same split, the same one-hot/standardised encoding (fitted on the
training rows) and the same model, L2 logistic regression. Rows:

  baseline                          the model alone
  reweighing       unskew / AIF360  Kamiran-Calders weights as sample_weight
  correlation      unskew / Fairlearn  CorrelationRemover(alpha=1) on the encoded features
                                    with the sensitive indicator as the removed column
  thresholds DP/EO/EqOdds  unskew GroupThresholdOptimizer / Fairlearn ThresholdOptimizer,
                                    both on the fitted baseline (prefit), fitted on the
                                    training rows; predictions randomised where needed
  reject option    unskew RejectOptionClassifier / AIF360 RejectOptionClassification,
                   statistical-parity bound 0.05, 100 thresholds x 50 margins, fitted on the
                   same random subset of at most --roc-rows training rows
  oversample / undersample / SMOTE-NC  unskew group x class samplers ("balanced"), then
                                    the model

Metrics on the test rows (mean +- sd over seeds): accuracy, balanced accuracy, and the
largest difference between the groups in selection rate (DP gap), true-positive rate
(EO gap) and max(TPR gap, FPR gap) (EqOdds gap); fit time of the mitigation.

    python bench/bench_mitigation.py [--seeds 3] [--datasets adult,compas] [--roc-rows 10000] [--out FILE]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

logging.getLogger().setLevel(logging.ERROR)  # AIF360 logs missing optional backends at import
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load(name: str, data_home):
    from unskew import datasets

    if name == "adult":
        df = datasets.load_adult(split="all", data_home=data_home).drop(columns=["split"])
        return df, "income", "sex", "Male"
    df = datasets.load_compas(data_home=data_home)
    df = df[df["race"].isin(["African-American", "Caucasian"])].reset_index(drop=True)
    keep = ["sex", "age", "age_cat", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count",
            "c_charge_degree", "race", "two_year_recid"]
    return df[keep], "two_year_recid", "race", "Caucasian"


def encoder(frame: pd.DataFrame):
    """The shared one-hot/standardised encoding (unskew.data._encoding), no rare-level pooling."""
    from unskew.data._encoding import tabular_encoder

    cat = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    return tabular_encoder(frame, min_frequency=None), cat


def fill(frame):
    out = frame.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(object).where(out[c].notna(), "(missing)").astype(str)
    return out


def gaps(pred, y, s):
    from unskew.metrics import (
        demographic_parity_difference,
        equal_opportunity_difference,
        equalized_odds_difference,
    )

    bal = 0.5 * (pred[y == 1].mean() + (1 - pred[y == 0]).mean())
    return {
        "accuracy": float((pred == y).mean()),
        "balanced_acc": float(bal),
        "dp_gap": float(demographic_parity_difference(y, pred, sensitive_features=s)),
        "eo_gap": float(equal_opportunity_difference(y, pred, sensitive_features=s)),
        "eqodds_gap": float(equalized_odds_difference(y, pred, sensitive_features=s)),
    }


def model():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=3000, C=1.0)


def aif_dataset(y, s_priv, scores=None):
    from aif360.datasets import BinaryLabelDataset

    df = pd.DataFrame({"s": s_priv.astype(float), "y": y.astype(float)})
    ds = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["s"],
                            favorable_label=1.0, unfavorable_label=0.0)
    if scores is not None:
        ds = ds.copy(deepcopy=True)
        ds.scores = scores.reshape(-1, 1)
        ds.labels = (scores > 0.5).astype(float).reshape(-1, 1)
    return ds


def run_seed(name, frame, target, sens, priv_value, seed, roc_rows, only=None):
    from fairlearn.postprocessing import ThresholdOptimizer
    from fairlearn.preprocessing import CorrelationRemover as FLCorrelationRemover
    from sklearn.model_selection import train_test_split

    from unskew.mitigate.post import GroupThresholdOptimizer, RejectOptionClassifier
    from unskew.mitigate.pre import (
        CorrelationRemover,
        GroupRandomOverSampler,
        GroupRandomUnderSampler,
        GroupSMOTENC,
        reweighing_weights,
    )

    y_all = frame[target].to_numpy().astype(int)
    tr, te = train_test_split(np.arange(len(frame)), test_size=0.3, random_state=seed, stratify=y_all)
    X = fill(frame.drop(columns=[target, sens]))
    s = frame[sens].astype(str).to_numpy()
    Xtr, Xte, ytr, yte, str_, ste = X.iloc[tr], X.iloc[te], y_all[tr], y_all[te], s[tr], s[te]
    enc, cat_cols = encoder(Xtr)
    Ztr = enc.fit_transform(Xtr)
    Zte = enc.transform(Xte)
    priv_tr = (str_ == priv_value).astype(int)
    rows = []

    def record(method, impl, pred, seconds):
        rows.append({"dataset": name, "seed": seed, "method": method, "impl": impl, "seconds": seconds,
                     **gaps(np.asarray(pred).astype(int), yte, ste)})

    def want(m):
        return only is None or m in only

    t = time.perf_counter()
    base = model().fit(Ztr, ytr)
    t_base = time.perf_counter() - t
    record("baseline", "-", base.predict(Zte), t_base)

    if want("reweighing"):
        from aif360.algorithms.preprocessing import Reweighing as AIFReweighing

        t = time.perf_counter()
        w = reweighing_weights(ytr, str_)
        m = model().fit(Ztr, ytr, sample_weight=w)
        record("reweighing", "unskew", m.predict(Zte), time.perf_counter() - t)
        t = time.perf_counter()
        ds = AIFReweighing(unprivileged_groups=[{"s": 0.0}], privileged_groups=[{"s": 1.0}]).fit_transform(
            aif_dataset(ytr, priv_tr))
        m = model().fit(Ztr, ytr, sample_weight=ds.instance_weights)
        record("reweighing", "AIF360", m.predict(Zte), time.perf_counter() - t)

    if want("correlation"):
        Str = np.c_[priv_tr, Ztr]
        Ste = np.c_[(ste == priv_value).astype(int), Zte]
        for impl, cls in (("unskew", CorrelationRemover), ("Fairlearn", FLCorrelationRemover)):
            t = time.perf_counter()
            cr = cls(sensitive_feature_ids=[0], alpha=1.0).fit(Str)
            m = model().fit(cr.transform(Str), ytr)
            record("correlation", impl, m.predict(cr.transform(Ste)), time.perf_counter() - t)

    for constraint, fl_name, label in (("demographic_parity", "demographic_parity", "thresholds DP"),
                                       ("equal_opportunity", "true_positive_rate_parity", "thresholds EO"),
                                       ("equalized_odds", "equalized_odds", "thresholds EqOdds")):
        if not want(label):
            continue
        t = time.perf_counter()
        opt = GroupThresholdOptimizer(base, constraint=constraint, prefit=True, random_state=seed)
        opt.fit(Ztr, ytr, sensitive_features=str_)
        record(label, "unskew", opt.predict(Zte, sensitive_features=ste), time.perf_counter() - t)
        t = time.perf_counter()
        fl = ThresholdOptimizer(estimator=base, constraints=fl_name, prefit=True, predict_method="predict_proba")
        fl.fit(Ztr, ytr, sensitive_features=str_)
        record(label, "Fairlearn", fl.predict(Zte, sensitive_features=ste, random_state=seed),
               time.perf_counter() - t)

    if want("reject option"):
        from aif360.algorithms.postprocessing import RejectOptionClassification

        rng = np.random.default_rng(seed)
        sub = rng.permutation(len(ytr))[:roc_rows]
        p_sub = base.predict_proba(Ztr[sub])[:, 1]
        t = time.perf_counter()
        roc = RejectOptionClassifier(base, prefit=True, privileged_groups=[priv_value], metric="demographic_parity",
                                     metric_bound=0.05).fit(Ztr[sub], ytr[sub], sensitive_features=str_[sub])
        record("reject option", "unskew", roc.predict(Zte, sensitive_features=ste), time.perf_counter() - t)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aif = RejectOptionClassification(unprivileged_groups=[{"s": 0.0}], privileged_groups=[{"s": 1.0}],
                                             metric_name="Statistical parity difference",
                                             metric_ub=0.05, metric_lb=-0.05)
            aif.fit(aif_dataset(ytr[sub], priv_tr[sub]), aif_dataset(ytr[sub], priv_tr[sub], p_sub))
            test_ds = aif_dataset(yte, (ste == priv_value).astype(int), base.predict_proba(Zte)[:, 1])
            pred = aif.predict(test_ds).labels.ravel()
        record("reject option", "AIF360", pred, time.perf_counter() - t)

    samplers = (("oversample", lambda: GroupRandomOverSampler(random_state=seed)),
                ("undersample", lambda: GroupRandomUnderSampler(random_state=seed)),
                ("SMOTE-NC", lambda: GroupSMOTENC(categorical_features=cat_cols, random_state=seed)))
    for label, make in samplers:
        if not want(label):
            continue
        t = time.perf_counter()
        Xr, yr = make().fit_resample(Xtr.reset_index(drop=True), ytr, sensitive_features=str_)
        m = model().fit(enc.transform(Xr), yr)
        record(label, "unskew", m.predict(Zte), time.perf_counter() - t)
    return rows


def summarise(df: pd.DataFrame) -> str:
    metrics = ["accuracy", "balanced_acc", "dp_gap", "eo_gap", "eqodds_gap", "seconds"]
    order = list(dict.fromkeys(df["method"]))
    lines = []
    for name, part in df.groupby("dataset", sort=False):
        n_seeds = part["seed"].nunique()
        lines.append(f"\n### {name} ({n_seeds} seeds; mean ± sd on the test rows)\n")
        lines.append("| method | impl | accuracy | balanced acc | DP gap | EO gap | EqOdds gap | fit s |")
        lines.append("|---|---|---|---|---|---|---|---|")
        agg = part.groupby(["method", "impl"], sort=False)[metrics].agg(["mean", "std"])
        for method in order:
            for (m, impl), row in agg.iterrows():
                if m != method:
                    continue
                cells = [f"{row[(k, 'mean')]:.3f} ± {row[(k, 'std')]:.3f}" for k in metrics[:-1]]
                lines.append(f"| {m} | {impl} | " + " | ".join(cells) + f" | {row[('seconds', 'mean')]:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--datasets", default="adult,compas")
    ap.add_argument("--roc-rows", type=int, default=10_000)
    ap.add_argument("--methods", default=None, help="comma-separated subset of methods (default: all)")
    ap.add_argument("--data-home", default=os.environ.get("UNSKEW_DATA_HOME", str(Path(__file__).resolve().parents[1].parent / "shared" / "datasets")))
    ap.add_argument("--out", default=None, help="also write the per-seed rows as CSV here")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    only = set(args.methods.split(",")) if args.methods else None
    all_rows = []
    t0 = time.perf_counter()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    for name in args.datasets.split(","):
        frame, target, sens, priv = load(name, args.data_home)
        for seed in range(args.seeds):
            ts = time.perf_counter()
            all_rows.extend(run_seed(name, frame, target, sens, priv, seed, args.roc_rows, only))
            print(f"{name} seed {seed}: {time.perf_counter() - ts:.0f} s", flush=True)
    df = pd.DataFrame(all_rows)
    if args.out:
        df.to_csv(args.out, index=False)
    print(summarise(df))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
