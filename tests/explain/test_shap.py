"""Tabular attributions: agreement with shap, additivity, gap decomposition, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.explain import explain

shap = pytest.importorskip("shap")


def _adult_numeric(data_home, n=8000):
    from unskew.datasets import load_adult

    f = load_adult("train", data_home=data_home).iloc[:n].reset_index(drop=True)
    y = f.pop("income").to_numpy()
    f = f.drop(columns=["split"])
    for c in f.columns:
        if not pd.api.types.is_numeric_dtype(f[c]):
            codes = f[c].astype("category").cat.codes.astype(float)
            f[c] = codes.where(codes >= 0, np.nan)  # missing stays missing (NaN splits)
    return f, y


@pytest.fixture(scope="module")
def adult_hgb(data_home):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _adult_numeric(data_home)
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, y)
    return model, X, y


def test_adult_hgb_matches_shap_tree_explainer(adult_hgb):
    model, X, _ = adult_hgb
    rows = X.iloc[:1500]
    e = explain(model, rows, sensitive=rows[["sex"]])
    ref = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    sv = ref.shap_values(rows)
    assert e.method == "tree" and e.output == "log_odds"
    assert e.values.shape == sv.shape
    assert np.max(np.abs(e.values - sv)) < 1e-6
    assert abs(e.base_value - float(np.ravel(ref.expected_value)[0])) < 1e-6


@pytest.mark.slow
def test_adult_hgb_v1_recursion_matches_shap(adult_hgb):
    """The v1 recursion (used for trees whose v2 tables would be too large) gives shap's numbers."""
    model, X, _ = adult_hgb
    rows = X.iloc[:200]
    e1 = explain(model, rows, algorithm="v1")
    sv = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent").shap_values(rows)
    assert np.max(np.abs(e1.values - sv)) < 1e-6


def test_adult_hgb_additivity_and_sex_gap(adult_hgb):
    model, X, _ = adult_hgb
    e = explain(model, X, sensitive=X[["sex"]])
    raw = model.decision_function(X)
    assert np.max(np.abs(e.base_value + e.values.sum(axis=1) - raw)) < 1e-6
    names = sorted(e.groups)
    assert names == ["sex=0.0", "sex=1.0"]
    g = e.gap("sex=1.0", "sex=0.0", n_boot=200)
    sex = X["sex"].to_numpy()
    observed = raw[sex == 1].mean() - raw[sex == 0].mean()
    assert abs(g.difference - observed) < 1e-9
    assert abs(g.contributions.sum() + g.base_difference - observed) < 1e-9
    assert g.base_difference == 0
    top = g.table.iloc[0]
    assert top["low"] <= top["contribution"] <= top["high"]
    assert g.difference_low <= g.difference <= g.difference_high


def _synthetic(n=600, d=5, seed=0, nan=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    if nan:
        X[rng.random((n, d)) < 0.05] = np.nan
    return X, y


def _models():
    from sklearn import ensemble, tree

    out = [
        ("hgb_reg", ensemble.HistGradientBoostingRegressor(max_iter=20, random_state=0), True, "reg"),
        ("gb", ensemble.GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), False, "clf"),
        ("rf", ensemble.RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0), True, "clf"),
        ("et_reg", ensemble.ExtraTreesRegressor(n_estimators=10, max_depth=5, random_state=0), False, "reg"),
        ("dt", tree.DecisionTreeClassifier(max_depth=5, random_state=0), True, "clf"),
    ]
    try:
        import xgboost

        out.append(("xgb", xgboost.XGBClassifier(n_estimators=20, max_depth=4, random_state=0), True, "clf"))
    except ImportError:
        pass
    try:
        import lightgbm

        out.append(("lgbm", lightgbm.LGBMClassifier(n_estimators=20, num_leaves=15, random_state=0, verbose=-1),
                    True, "clf"))
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("name,model,nan,task", _models(), ids=[m[0] for m in _models()])
def test_tree_ensembles_match_shap(name, model, nan, task):
    X, y = _synthetic(nan=nan)
    if task == "reg":
        y = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1])
    model.fit(X, y)
    e = explain(model, X[:300])
    assert e.method == "tree"
    sv = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent").shap_values(X[:300])
    sv = np.asarray(sv)
    if sv.ndim == 3:  # (n, d, classes) for forests' probabilities
        sv = sv[:, :, -1]
    tol = 1e-5 if name == "xgb" else 1e-6  # xgboost stores float32 leaves and covers
    assert np.max(np.abs(e.values - sv)) < tol
    assert e.details["max_additivity_error"] < (1e-5 if name == "xgb" else 1e-6)


def test_pipeline_with_one_hot_sums_back_to_input_columns():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"age": rng.normal(40, 10, 400), "city": rng.choice(["a", "b", "c"], 400),
                       "sex": rng.choice(["F", "M"], 400)})
    y = ((df["age"] > 40) ^ (df["city"] == "a")).astype(int)
    ct = ColumnTransformer([("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(), ["city"])])
    pipe = make_pipeline(ct, LogisticRegression()).fit(df[["age", "city"]], y)
    e = explain(pipe, df, sensitive=["sex"])
    assert e.method == "linear" and e.output == "log_odds"
    assert e.feature_names == ["age", "city"]
    assert np.allclose(e.outputs, pipe.decision_function(df[["age", "city"]]), atol=1e-9)
    # interventional linear SHAP equals shap's LinearExplainer on the encoded features
    Z = ct.transform(df[["age", "city"]])
    bg = ct.transform(df[["age", "city"]].iloc[np.sort(np.random.default_rng(0).choice(400, 100, replace=False))])
    ref = shap.LinearExplainer(pipe[-1], bg).shap_values(Z)
    assert np.allclose(e.values[:, 0], ref[:, 0], atol=1e-9)
    assert np.allclose(e.values[:, 1], ref[:, 1:].sum(axis=1), atol=1e-9)
    assert set(e.groups) == {"sex=F", "sex=M"}


def test_permutation_is_exact_for_few_features_and_efficient():
    from sklearn.neighbors import KNeighborsRegressor

    X, _ = _synthetic(n=200, d=4, nan=False)
    y = X[:, 0] - 2 * X[:, 3]
    m = KNeighborsRegressor(5).fit(X, y)
    e = explain(m, X[:20], background=X[:30], n_permutations=24)
    assert e.method == "permutation" and e.details["n_permutations"] == 24  # 4! orderings: exact
    assert np.allclose(e.outputs, m.predict(X[:20]), atol=1e-9)
    # exact interventional Shapley values by enumerating every coalition
    import itertools
    import math

    d, bg = 4, X[:30]

    def v(x, S):
        Z = bg.copy()
        Z[:, list(S)] = x[list(S)]
        return m.predict(Z).mean()

    ref = np.zeros((20, d))
    for r in range(20):
        for j in range(d):
            others = [k for k in range(d) if k != j]
            for size in range(d):
                for S in itertools.combinations(others, size):
                    w = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                    ref[r, j] += w * (v(X[r], S + (j,)) - v(X[r], S))
    assert np.max(np.abs(e.values - ref)) < 1e-9


def test_loss_attribution_adds_up_to_each_rows_log_loss():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _synthetic(n=400, d=4, nan=False)
    m = HistGradientBoostingClassifier(max_iter=10).fit(X, y)
    grp = np.where(X[:, 3] > 0, "hi", "lo")
    e = explain(m, X[:60], y=y[:60], output="loss", sensitive=grp[:60], background=X[100:140], n_permutations=8)
    p = m.predict_proba(X[:60])[np.arange(60), y[:60]]
    assert e.output == "loss"
    assert np.allclose(e.outputs, -np.log(p), atol=1e-9)
    g = e.gap("group=hi", "group=lo", n_boot=50)
    loss = -np.log(p)
    obs = loss[grp[:60] == "hi"].mean() - loss[grp[:60] == "lo"].mean()
    assert abs(g.contributions.sum() + g.base_difference - obs) < 1e-9


def test_time_budget_refuses_with_the_estimate():
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _synthetic(n=300, d=8, nan=False)
    m = KNeighborsClassifier().fit(X, y)
    seen = []
    with pytest.raises(UnskewInputError, match="time budget"):
        explain(m, X, time_budget_s=1e-6, on_estimate=seen.append)
    assert seen and seen[0]["model_rows"] > 0 and "model rows" in seen[0]["message"]


def test_groups_include_intersections_and_errors_name_the_problem():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=80), "race": rng.choice(["A", "B"], 80), "sex": rng.choice(["F", "M"], 80)})
    m = LinearRegression().fit(df[["x"]], df["x"] * 3)
    e = explain(m, df, sensitive=["race", "sex"])
    assert {"race=A", "sex=M", "race=A & sex=F"} <= set(e.groups)
    bg = e.by_group()
    assert list(bg.columns)[0] == "all" and "race=B & sex=M" in bg.columns
    with pytest.raises(UnskewInputError, match="Unknown group 'race=C'"):
        e.gap("race=C", "race=A")
    with pytest.raises(UnskewInputError, match="needs the true labels"):
        explain(m, df, output="loss")
    with pytest.raises(UnskewInputError, match="method must be"):
        explain(m, df, method="magic")
    with pytest.raises(UnskewInputError, match="not columns of X"):
        explain(m, df, sensitive=["religion"])
