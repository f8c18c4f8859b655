"""The same report, number for number, whichever engine computed it (small tables, local Spark and Dask)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from unskew.engines import group_stats
from unskew.exceptions import MissingExtraError, UnskewInputError
from unskew.metrics import evaluate

from .test_partials import assert_same

SECTIONS = ("group_metrics", "fairness_gaps", "calibration", "individual_fairness")


def sections(report, drop_consistency: bool = False) -> dict:
    """The report's numbers (JSON), without timings and the data description."""
    out = {}
    for c in json.loads(report.to_json())["checks"]:
        if c["name"] not in SECTIONS:
            continue
        c.pop("elapsed_s", None)
        if drop_consistency and c["name"] == "individual_fairness":
            c["summary"] = {k: v for k, v in c["summary"].items() if not k.startswith("consistency")}
            c["tables"] = c["tables"][:1]
            c["tables"][0]["rows"] = [r for r in c["tables"][0]["rows"] if r[0] != "consistency"]
            c["tables"][0]["n_rows_total"] = len(c["tables"][0]["rows"])
            c["findings"] = [f for f in c["findings"] if "consistency" not in f["message"]]
            c["thresholds"] = {k: v for k, v in c["thresholds"].items() if k != "consistency"}
        out[c["name"]] = c
    return out


@pytest.fixture
def engine_kw(request):
    """Options per engine; the Spark session and Dask cluster start only when a test needs them."""
    def kw(name):
        if name == "spark":
            return {"spark": request.getfixturevalue("spark")}
        if name == "dask":
            return {"dask_client": request.getfixturevalue("dask_client")}
        return {"duckdb": {"threads": 2}, "pandas": {"batch_size": 500}}[name]
    return kw


CASES = {
    "weighted_scores": dict(target="y", sensitive=["sex", "race"], predictions="pred", scores="score", weights="w"),
    "scores_only": dict(target="y", sensitive=["sex"], scores="score", decision_threshold=0.45),
    "binned": dict(target="y", sensitive=["race"], predictions="pred", scores="score", score_bins=64),
    "regression": dict(target="value", sensitive=["race"], predictions="value_hat"),
}


# each Spark job costs seconds on a busy 2-core machine: two Spark cases run by default, the rest with -m slow
PAIRS = [pytest.param(e, c, marks=[pytest.mark.slow] if e == "spark" and c in ("scores_only", "binned") else [])
         for e in ("duckdb", "spark", "dask") for c in CASES]


@pytest.mark.parametrize(("engine", "case"), PAIRS)
def test_report_matches_pandas(engine, case, table_files, engine_kw):
    kw = dict(CASES[case], n_boot=50, random_state=0)
    data = table_files["parquet"] if engine == "duckdb" else table_files["dir"]
    ref = evaluate(table_files["parquet"], stream=True, batch_size=700, **kw)
    ev = evaluate(data, engine=engine, engine_options=engine_kw(engine), **kw)
    assert ev.report.dataset["engine"]["engine"] == engine
    assert ev.stats.n_rows == 3000
    assert sections(ev.report) == sections(ref.report)
    if case != "regression":
        assert_same(ev.stats, ref.stats, exact=False)


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.slow), "dask"])
def test_engines_match_in_memory_pandas(engine, table, table_files, engine_kw):
    """The in-memory pandas report (with kNN consistency, which needs the rows) agrees on every count-based number."""
    kw = dict(CASES["weighted_scores"], n_boot=50, random_state=0)
    ref = sections(evaluate(table, **kw).report, drop_consistency=True)
    ev = evaluate(table_files["parquet"], engine=engine, engine_options=engine_kw(engine), **kw)
    assert sections(ev.report) == ref


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.slow), "dask"])
def test_csv_sources(engine, table_files, engine_kw):
    kw = dict(target="y", sensitive=["race"], predictions="pred", scores="score")
    ref, _ = group_stats(table_files["csv"], engine="pandas", **kw)
    st, info = group_stats(table_files["csv"], engine=engine, **kw, **engine_kw(engine))
    assert_same(st, ref, exact=False)
    assert info["n_rows"] == 3000


def test_spark_partials_per_partition(table_files, spark):
    st, info = group_stats(table_files["parquet"], engine="spark", spark=spark, partitions=4, target="y",
                           sensitive=["sex"], predictions="pred")
    assert info["partitions"] == 4 and info["partials"] == 4
    one, _ = group_stats(table_files["parquet"], engine="pandas", target="y", sensitive=["sex"], predictions="pred")
    assert np.array_equal(st.conf_n, one.conf_n) and st.keys == one.keys


def test_dask_tree_reduce(table_files, dask_client):
    st, info = group_stats(table_files["dir"], engine="dask", dask_client=dask_client, split_every=2, target="y",
                           sensitive=["sex", "race"], predictions="pred", weights="w")
    assert info["partitions"] >= 2
    one, _ = group_stats(table_files["parquet"], engine="pandas", target="y", sensitive=["sex", "race"],
                         predictions="pred", weights="w")
    assert_same(st, one)


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.slow), "dask"])
def test_bad_input_names_the_column(engine, table_files, engine_kw):
    with pytest.raises(UnskewInputError, match="'nope'"):
        group_stats(table_files["parquet"], engine=engine, target="y", sensitive=["nope"], predictions="pred",
                    **engine_kw(engine))


def test_bad_options(table_files, tmp_path):
    with pytest.raises(UnskewInputError, match="Unknown engine 'hive'"):
        evaluate(table_files["parquet"], engine="hive", target="y", sensitive="sex", predictions="pred")
    with pytest.raises(UnskewInputError, match="do not apply to the duckdb engine"):
        group_stats(table_files["parquet"], engine="duckdb", master="local", target="y", sensitive="sex",
                    predictions="pred")
    with pytest.raises(UnskewInputError, match="File not found"):
        group_stats(tmp_path / "none.parquet", engine="duckdb", target="y", sensitive="sex", predictions="pred")
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(UnskewInputError, match="Parquet"):
        group_stats(tmp_path / "a.json", engine="duckdb", target="y", sensitive="sex", predictions="pred")


def test_duckdb_rejects_negative_weights_and_missing_labels(tmp_path, table):
    bad = table.copy()
    bad.loc[5, "w"] = -1.0
    bad.loc[[7, 8], "pred"] = None
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(UnskewInputError, match="pred has 2 missing"):
        group_stats(tmp_path / "bad.parquet", engine="duckdb", target="y", sensitive="sex", predictions="pred")
    with pytest.raises(UnskewInputError, match="negative"):
        group_stats(tmp_path / "bad.parquet", engine="duckdb", target="y", sensitive="sex", predictions="y",
                    weights="w")


def test_missing_extra_is_named(monkeypatch, table_files):
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(MissingExtraError, match=r"unskew\[duckdb\]"):
        group_stats(table_files["parquet"], engine="duckdb", target="y", sensitive="sex", predictions="pred")
