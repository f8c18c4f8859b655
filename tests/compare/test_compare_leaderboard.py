"""Tests of unskew.compare: selection rule, data-changed measure, runner, report, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unskew.compare import (
    METHODS,
    Method,
    Outcome,
    compare,
    parse_selection,
    rank,
    recommend,
    register,
    resolve_methods,
    resolve_model,
)
from unskew.compare._methods import _tv_counts, _tv_weights
from unskew.exceptions import UnskewInputError

FAST = "baseline,reweighing,undersample,threshold_dp,threshold_eodds"


def biased_table(n=1600, seed=0):
    """Two groups (70/30); the label depends on x and on the group, and a proxy carries the group."""
    rng = np.random.default_rng(seed)
    grp = np.where(rng.random(n) < 0.7, "a", "b")
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    proxy = (grp == "a") + rng.normal(scale=0.5, size=n)
    logit = 1.8 * x1 - 1.0 * x2 + np.where(grp == "a", 0.8, -1.2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    colour = rng.choice(["red", "green", "blue"], size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "proxy": proxy, "colour": colour, "grp": grp, "y": y})


@pytest.fixture(scope="module")
def biased():
    return biased_table()


@pytest.fixture(scope="module")
def result(biased):
    return compare(biased, "y", "grp", methods=FAST, seeds=2, n_boot=200, constraint="dp<=0.08", n_jobs=1)


# ---------------------------------------------------------------------------- selection rule
def test_parse_selection_forms():
    s = parse_selection("equalized_odds<=0.05")
    assert s.constraints == [("equalized_odds_difference", "<=", 0.05)]
    assert s.objective == "accuracy" and s.fairness == "equalized_odds"
    s = parse_selection("dp <= 5%, accuracy>=0.8")
    assert s.constraints == [("demographic_parity_difference", "<=", 0.05), ("accuracy", ">=", 0.8)]
    assert s.fairness == "demographic_parity" and s.gap_metric == "demographic_parity_difference"
    s = parse_selection("max worst_group_accuracy")
    assert s.constraints == [] and s.objective == "worst_group_accuracy" and s.maximize
    s = parse_selection(None)
    assert s.objective == "worst_group_accuracy" and s.fairness == "equalized_odds"
    s = parse_selection("eo<0.1", objective="wga")
    assert s.constraints == [("equal_opportunity_difference", "<=", 0.1)]
    assert s.objective == "worst_group_accuracy" and s.fairness == "equal_opportunity"
    assert parse_selection(None, "eodds").maximize is False


@pytest.mark.parametrize("bad, word", [
    ("fairness<=0.1", "fairness"),
    ("equalized_odds==0.1", "Cannot read"),
    ("dp<=abc", "Cannot read"),
    ("max dp", "better lower"),
    ("max accuracy, max worst_group_accuracy", "Two objectives"),
])
def test_parse_selection_bad_input(bad, word):
    with pytest.raises(UnskewInputError, match=word):
        parse_selection(bad)


def _board(rows):
    cols = ["method", "title", "family", "status", "accuracy", "worst_group_accuracy",
            "demographic_parity_difference", "equal_opportunity_difference", "equalized_odds_difference",
            "time_s", "data_changed", "decisions_changed"]
    b = pd.DataFrame(rows, columns=cols)
    for m in ("accuracy", "worst_group_accuracy", "demographic_parity_difference", "equal_opportunity_difference",
              "equalized_odds_difference"):
        b[f"{m}_low"] = b[m] - 0.02
        b[f"{m}_high"] = b[m] + 0.02
    return b


BOARD = [
    ["baseline", "Baseline", "unskew", "ok", 0.85, 0.70, 0.20, 0.15, 0.15, 1.0, 0.0, 0.0],
    ["a", "A", "unskew", "ok", 0.83, 0.78, 0.04, 0.05, 0.06, 2.0, 0.1, 0.1],
    ["b", "B", "fairlearn", "ok", 0.84, 0.75, 0.03, 0.04, 0.04, 9.0, 0.0, 0.1],
    ["c", "C", "unskew", "ok", 0.80, 0.79, 0.01, 0.02, 0.03, 1.0, 0.0, 0.2],
    ["d", "D", "aif360", "skipped", np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
]


def test_recommend_best_feasible_and_peers():
    board = _board(BOARD)
    rec = recommend(board, parse_selection("equalized_odds<=0.05"))
    assert rec["method"] == "b"  # the most accurate of b and c, the two that meet the constraint
    assert rec["meets"] and rec["n_feasible"] == 2
    assert rec["best_peer"] == "b" and rec["best_unskew"] == "c"
    assert "B has the highest accuracy" in rec["reason"] and "2 methods meeting" in rec["reason"]
    assert rec["confident"] is False  # upper end 0.06 > 0.05
    rec = recommend(board, parse_selection(None))
    assert rec["method"] == "c" and "worst-group accuracy" in rec["reason"]
    order = rank(board[board.status == "ok"], parse_selection("equalized_odds<=0.05"))["method"].tolist()
    assert order[:2] == ["b", "c"] and order[-1] == "baseline"


def test_recommend_none_feasible_names_the_closest():
    rec = recommend(_board(BOARD), parse_selection("equalized_odds<=0.01"))
    assert rec["method"] == "c" and not rec["meets"]
    assert "No method meets" in rec["reason"]


def test_recommend_ties_go_to_less_data_changed():
    rows = [r[:] for r in BOARD[:2]]
    rows.append(["e", "E", "unskew", "ok", 0.83, 0.78, 0.04, 0.05, 0.06, 2.0, 0.0, 0.1])
    rec = recommend(_board(rows), parse_selection("dp<=0.05"))
    assert rec["method"] == "e"


def test_total_variation_measures():
    # removing k of n rows moves k/n of the distribution
    counts = np.ones(100)
    counts[:7] = 0
    assert _tv_counts(counts) == pytest.approx(0.07)
    # duplicating every row changes nothing; adding m new points moves m/(n+m)
    assert _tv_counts(np.full(50, 2.0)) == pytest.approx(0.0)
    assert _tv_counts(np.ones(50), n_new=50) == pytest.approx(0.5)
    assert _tv_weights(np.ones(10)) == pytest.approx(0.0)
    w = np.array([2.0, 0.0, 1.0, 1.0])  # mass 1/4 moved from row 2 to row 1
    assert _tv_weights(w) == pytest.approx(0.25)


def test_resolve_methods_and_model():
    names = resolve_methods("threshold_dp,smote")
    assert names[0] == "baseline" and names[1:] == ["threshold_dp", "smote"]
    assert set(resolve_methods("all")) == set(METHODS)
    assert all(METHODS[m].is_peer for m in resolve_methods("peers")[1:])
    assert "jtt" not in resolve_methods("default") and "aif360_adversarial" not in resolve_methods("default")
    with pytest.raises(UnskewInputError, match="Did you mean 'threshold_dp'"):
        resolve_methods("treshold_dp")
    assert type(resolve_model("hgb")).__name__ == "HistGradientBoostingClassifier"
    assert type(resolve_model("sklearn.tree.DecisionTreeClassifier")).__name__ == "DecisionTreeClassifier"
    with pytest.raises(UnskewInputError, match="not a classifier"):
        resolve_model("sklearn.linear_model.LinearRegression")
    with pytest.raises(UnskewInputError, match="Cannot import"):
        resolve_model("sklearn.nothing.Here")
    with pytest.raises(UnskewInputError, match="Unknown model"):
        resolve_model("forest")


# ---------------------------------------------------------------------------- runner
def test_leaderboard_contents(result, biased):
    board = result.leaderboard
    assert set(board["method"]) == set(FAST.split(","))
    assert (board["status"] == "ok").all()
    assert (board["n_seeds"] == 2).all()
    # intervals bracket the mean and every rate lies in [0, 1]
    for m in ("accuracy", "worst_group_accuracy", "demographic_parity_difference", "equalized_odds_difference"):
        assert (board[f"{m}_low"] <= board[m] + 1e-9).all() and (board[m] <= board[f"{m}_high"] + 1e-9).all()
        assert board[m].between(0, 1).all()
    base = board.set_index("method").loc["baseline"]
    assert base["decisions_changed"] == 0 and base["data_changed"] == 0
    dp = board.set_index("method")
    # the planted group effect gives the baseline a large selection-rate gap; DP thresholds close most of it
    assert base["demographic_parity_difference"] > 0.2
    assert dp.loc["threshold_dp", "demographic_parity_difference"] < 0.5 * base["demographic_parity_difference"]
    assert dp.loc["threshold_dp", "data_changed"] == 0 and dp.loc["threshold_dp", "decisions_changed"] > 0
    # under-sampling to balanced cells drops rows: between 0 and 1 of the data changed
    assert 0 < dp.loc["undersample", "data_changed"] < 1
    assert 0 < dp.loc["reweighing", "data_changed"] < 0.5
    # runs: one row per method and seed
    assert len(result.runs) == 2 * len(board)
    # the ranks are 1..k in order, the recommended method is ranked first and meets the constraint
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    rec = result.recommendation
    assert rec["method"] == board.iloc[0]["method"]
    assert rec["meets"] == (board.iloc[0]["demographic_parity_difference"] <= 0.08)
    assert board.loc[board.method == rec["method"], "meets_constraints"].item() == rec["meets"]


def test_pareto_front_is_non_dominated(result):
    b = result.leaderboard
    gap = result.selection.gap_metric
    for _, r in b.iterrows():
        dominated = ((b["accuracy"] >= r["accuracy"]) & (b[gap] <= r[gap])
                     & ((b["accuracy"] > r["accuracy"]) | (b[gap] < r[gap]))).any()
        assert r["pareto"] == (not dominated)
    assert b["pareto"].any()


def test_report_json_html_and_schema(result, tmp_path):
    rep = result.report
    assert rep.kind == "compare"
    d = json.loads(rep.to_json())
    chk = d["checks"][0]
    assert chk["name"] == "leaderboard"
    scatter = [c for c in chk["charts"] if c["kind"] == "scatter"]
    assert len(scatter) == 1 and len(scatter[0]["points"]) == len(result.leaderboard)
    assert scatter[0]["y_label"] == "accuracy"
    assert any(p["flag"] for p in scatter[0]["points"])
    assert chk["summary"]["recommended"] == result.recommendation["method"]
    assert chk["tables"][0]["columns"][:2] == ["rank", "method"]
    html = rep.to_html()
    assert html.count("<circle") >= len(result.leaderboard) and "Pareto" in html
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).resolve().parents[2] / "unskew" / "report" / "schema.json").read_text())
    jsonschema.validate(d, schema)


def test_same_seed_same_leaderboard(biased):
    kw = dict(methods="baseline,oversample,threshold_eodds,reject_option,d3m,group_dro,fairlearn_threshold",
              seeds=2, n_boot=100, n_jobs=1,
              random_state=5)
    a = compare(biased, "y", "grp", **kw).leaderboard.drop(columns=["time_s"])
    b = compare(biased, "y", "grp", **kw).leaderboard.drop(columns=["time_s"])
    pd.testing.assert_frame_equal(a, b)
    c = compare(biased, "y", "grp", **{**kw, "random_state": 6}).leaderboard.drop(columns=["time_s"])
    assert not np.allclose(a.sort_values("method")["accuracy"], c.sort_values("method")["accuracy"])


def test_parallel_matches_serial(biased):
    kw = dict(methods="baseline,reweighing,threshold_dp", seeds=2, n_boot=100)
    serial = compare(biased, "y", "grp", n_jobs=1, **kw).runs.set_index(["method", "seed"]).sort_index()
    par = compare(biased, "y", "grp", n_jobs=2, **kw).runs.set_index(["method", "seed"]).sort_index()
    cols = ["accuracy", "worst_group_accuracy", "equalized_odds_difference", "data_changed", "decisions_changed"]
    pd.testing.assert_frame_equal(serial[cols], par[cols], atol=1e-9)


def test_skips_methods_the_model_cannot_run_and_reports_errors(biased):
    def broken(fold):
        raise RuntimeError("planted failure")

    register(Method("broken_for_test", "Broken", "unskew", "pre", broken))
    try:
        res = compare(biased, "y", "grp", methods="baseline,reweighing,broken_for_test,threshold_dp",
                      model="sklearn.neighbors.KNeighborsClassifier", seeds=1, n_boot=50, n_jobs=1)
    finally:
        METHODS.pop("broken_for_test")
    b = res.leaderboard.set_index("method")
    assert b.loc["reweighing", "status"] == "skipped" and "sample_weight" in b.loc["reweighing", "note"]
    assert b.loc["broken_for_test", "status"] == "error" and "planted failure" in b.loc["broken_for_test", "note"]
    assert b.loc["threshold_dp", "status"] == "ok"
    msgs = " ".join(f.message for f in res.report["leaderboard"].findings)
    assert "planted failure" in msgs and "sample_weight" in msgs


def test_custom_method_via_registry(biased):
    def always_positive(fold):
        return Outcome(np.ones(len(fold.y_test), dtype=np.int8), note="constant")

    register(Method("always_positive", "Always positive", "unskew", "post", always_positive))
    try:
        res = compare(biased, "y", "grp", methods="always_positive", seeds=1, n_boot=50, n_jobs=1)
    finally:
        METHODS.pop("always_positive")
    row = res.leaderboard.set_index("method").loc["always_positive"]
    run = res.runs.set_index("method").loc["always_positive"]
    assert row["demographic_parity_difference"] == 0.0 and row["equalized_odds_difference"] == 0.0
    assert row["accuracy"] == pytest.approx(run["accuracy"])
    y_test_rate = 1 - run["accuracy"]  # share of negatives among test rows
    assert 0.2 < y_test_rate < 0.8


@pytest.mark.parametrize("kwargs, word", [
    (dict(target="colour"), "binary"),
    (dict(target="y", sensitive=None), "sensitive"),
    (dict(target="nope"), "'nope'"),
    (dict(target="y", methods="magic"), "Unknown method"),
    (dict(target="y", constraint="fairness<=1"), "Unknown metric"),
    (dict(target="y", test_size=1.5), "test_size"),
    (dict(target="y", seeds=0), "seeds"),
])
def test_bad_input(biased, kwargs, word):
    kwargs = {"sensitive": "grp", **kwargs}
    with pytest.raises(UnskewInputError, match=word):
        compare(biased, **kwargs)


def test_single_group_rejected(biased):
    with pytest.raises(UnskewInputError, match="single group"):
        compare(biased.assign(grp="a"), "y", "grp")


@pytest.mark.peers
def test_aif360_reweighing_matches_unskew_reweighing(biased):
    pytest.importorskip("aif360")
    res = compare(biased, "y", "grp", methods="reweighing,aif360_reweighing", seeds=1, n_boot=50, n_jobs=1)
    runs = res.runs.set_index("method")
    # for two groups AIF360's weights are Kamiran-Calders' weights: the same model, the same predictions
    for m in ("accuracy", "demographic_parity_difference", "data_changed"):
        assert runs.loc["reweighing", m] == pytest.approx(runs.loc["aif360_reweighing", m], abs=1e-9)


@pytest.mark.peers
def test_fairlearn_threshold_close_to_unskew_thresholds(biased):
    pytest.importorskip("fairlearn")
    res = compare(biased, "y", "grp", methods="threshold_dp,fairlearn_threshold", constraint="dp<=0.05",
                  seeds=2, n_boot=50, n_jobs=1)
    b = res.leaderboard.set_index("method")
    assert b.loc["fairlearn_threshold", "note"].startswith("demographic_parity")
    for m in ("threshold_dp", "fairlearn_threshold"):
        assert b.loc[m, "demographic_parity_difference"] < 0.12
    assert abs(b.loc["threshold_dp", "accuracy"] - b.loc["fairlearn_threshold", "accuracy"]) < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adult", "compas"])
def test_real_data_default_methods(data_home, name):
    from unskew import datasets

    if name == "adult":
        frame, target, sensitive, ignore = datasets.load_adult(data_home=data_home), "income", "sex", ["split", "fnlwgt"]
    else:
        frame = datasets.load_compas(data_home=data_home)
        frame["race"] = np.where(frame.race.isin(["African-American", "Caucasian"]), frame.race, "Other")
        target, sensitive, ignore = "two_year_recid", "race", ["decile_score", "score_text", "c_charge_desc"]
    res = compare(frame, target, sensitive, ignore=ignore, methods="default", seeds=1, n_boot=100, n_jobs=-1,
                  constraint="equalized_odds<=0.05")
    b = res.leaderboard.set_index("method")
    assert (b["status"] != "error").all(), b.loc[b.status == "error", "note"].to_dict()
    assert b.loc["threshold_eodds", "equalized_odds_difference"] < b.loc["baseline", "equalized_odds_difference"]
    assert res.recommendation["method"] in b.index


def test_method_needing_a_missing_package_is_skipped_with_a_note(biased):
    register(Method("needs_missing", "Needs a missing package", "somepeer", "in", lambda fold: None,
                    requires=("unskew_missing_package_xyz.sub",)))
    try:
        res = compare(biased, "y", "grp", methods="needs_missing", seeds=1, n_boot=50, n_jobs=1)
    finally:
        METHODS.pop("needs_missing")
    row = res.leaderboard.set_index("method").loc["needs_missing"]
    assert row["status"] == "skipped" and "unskew_missing_package_xyz" in row["note"]
    assert res.recommendation["method"] == "baseline"


def test_hgb_model_and_sensitive_as_feature(biased):
    res = compare(biased, "y", "grp", methods="reweighing,threshold_eo", model="hgb", seeds=1, n_boot=50,
                  n_jobs=1, sensitive_as_feature=True, constraint="eo<=0.1")
    b = res.leaderboard.set_index("method")
    assert (b["status"] == "ok").all()
    assert res.report.parameters["model"] == "HistGradientBoostingClassifier"
    assert b.loc["baseline", "accuracy"] > 0.7
    assert res.selection.fairness == "equal_opportunity"


def test_sampler_adapters_data_changed(biased):
    from unskew.compare import make_folds
    from unskew.compare._methods import run_oversample, run_smote, run_undersample
    from unskew.data import Dataset

    ds = Dataset.from_data(biased, target="y", sensitive="grp")
    fold = make_folds(ds, resolve_model("logistic"), [3], test_size=0.3, val_fraction=0.25,
                      fairness="equalized_odds")[0]
    cells = np.bincount(fold.cells, minlength=4)
    n = len(fold.y)
    # balanced under-sampling keeps 4 x the smallest cell: k = n - 4 * min rows removed, k / n changed
    assert run_undersample(fold).data_changed == pytest.approx(1 - 4 * cells.min() / n)
    # SMOTE adds m = 4 x largest - n new points: m / (n + m) of the mass is new
    m = 4 * cells.max() - n
    assert run_smote(fold).data_changed == pytest.approx(m / (n + m))
    # over-sampling duplicates rows: less moved than SMOTE's new points, but some
    assert 0 < run_oversample(fold).data_changed < m / (n + m)
    assert len(run_undersample(fold).pred) == len(fold.y_test)
