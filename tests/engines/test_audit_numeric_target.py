"""A continuous numeric target on the engines: quantiles from exact order statistics, group means and
variances from centred per-cell sums, the target binned in the cells, the sample stratified by the groups
only. The count-based checks equal the pandas run's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unskew.audit import audit
from unskew.engines import audit_counts, runner, target_profile
from unskew.engines._audit_report import COUNT_CHECKS

from .test_audit_engine import _checks

KW = {"target": "value", "sensitive": "sex,race", "checks": list(COUNT_CHECKS)}


def assert_close(got, want, where="report"):
    """Equal structure, text and counts; floats to 1e-9 relative (the engines sum centred values in another
    order than the pandas path's two passes, so means and variances differ in their last bits)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    else:
        assert got == want, where


@pytest.fixture(scope="module")
def numeric_dir(tmp_path_factory, table):
    """The table without the class target, as three Parquet files."""
    t = table.drop(columns=["y"])
    d = tmp_path_factory.mktemp("numeric_target")
    for i, chunk in enumerate(np.array_split(np.arange(len(t)), 3)):
        t.iloc[chunk].to_parquet(d / f"part-{i}.parquet", row_group_size=400)
    return t, d


def test_profile_quantiles_are_exact_and_classes_are_not_profiled(numeric_dir):
    frame, d = numeric_dir
    with runner("duckdb", str(d)) as r:
        prof = target_profile(r, "value")
        assert target_profile(r, "race") is None  # 3 values: counted as classes
        assert target_profile(r, "sex") is None  # text
        # the distinct-value probe: pushed down to SQL on DuckDB, a map-reduce elsewhere; capped at cap + 1
        assert r.distinct_values("race", 20) == {0, 1, 2} == runner("pandas", frame).distinct_values("race", 20)
        assert len(r.distinct_values("value", 5)) == 6 == len(runner("pandas", frame).distinct_values("value", 5))
    q = frame["value"].quantile([0, 0.25, 0.5, 0.75, 1]).tolist()
    assert list(prof["quantiles"].values()) == q
    assert prof["centre"] == q[2] and prof["n"] == len(frame)


@pytest.mark.parametrize("weights", [None, "w"])
def test_count_checks_equal_pandas_on_duckdb_and_dask(numeric_dir, dask_client, weights):
    frame, d = numeric_dir
    kw = {**KW, "weights": weights}
    p = audit(frame, **kw).to_dict()
    assert p["checks"][2]["summary"]["task"] == "regression"
    expected = json.loads(json.dumps(_checks(p)))
    k = audit(str(d), engine="duckdb", **kw).to_dict()
    assert_close(json.loads(json.dumps(_checks(k))), expected)
    assert k["parameters"]["engine"]["target"]["continuous"] is True
    e = audit(str(d), engine="dask", engine_options={"dask_client": dask_client}, **kw).to_dict()
    assert_close(json.loads(json.dumps(_checks(e))), expected)


def test_cells_hold_target_bins_equal_on_every_engine(numeric_dir, dask_client):
    frame, d = numeric_dir
    centre = float(frame["value"].median())
    kw = dict(target="value", sensitive=["sex", "race"], weights="w", target_centre=centre)
    expected, _ = audit_counts(frame, engine="pandas", **kw)
    cells = expected["cells"].frame()
    assert cells["value"].dropna().isin(range(10)).all() and len(cells) <= 3 * 3 * 10
    dev = frame["value"] - centre
    assert cells["wd"].sum() == pytest.approx(float((frame["w"] * dev).sum()), rel=1e-12)
    for engine, opts in (("duckdb", {}), ("dask", {"dask_client": dask_client})):
        got, _ = audit_counts(str(d), engine=engine, **kw, **opts)
        for key in ("cells", "missing", "rows_missing", "histograms"):
            assert got[key] == expected[key], (engine, key)


def test_model_checks_sample_by_groups_only(numeric_dir):
    frame, d = numeric_dir
    rep = audit(str(d), target="value", sensitive="sex,race", checks=["outliers"], engine="duckdb",
                engine_options={"sample_size": 500}).to_dict()
    sample = rep["parameters"]["engine"]["sample"]
    assert sample["n_rows"] == len(frame) and sample["strata"] == frame.groupby(["sex", "race"], dropna=False).ngroups


@pytest.mark.parametrize("target", ["y", "value"])
def test_rows_without_target_are_excluded_and_reported_as_pandas_does(table, dask_client, tmp_path, target):
    t = table.astype({"y": float}) if target == "y" else table.drop(columns=["y"])
    t.loc[::50, target] = np.nan
    path = tmp_path / "t.parquet"
    t.to_parquet(path, row_group_size=500)
    kw = {**KW, "target": target, "weights": "w"}
    p = audit(t, **kw).to_dict()
    expected = json.loads(json.dumps(_checks(p)))
    for engine, opts in (("duckdb", {}), ("dask", {"dask_client": dask_client})):
        e = audit(str(path), engine=engine, engine_options=opts, **kw).to_dict()
        assert e["dataset"]["excluded_rows"] == p["dataset"]["excluded_rows"] == {"target is missing": 60}
        assert e["dataset"]["n_rows"] == p["dataset"]["n_rows"] == len(t) - 60
        got = json.loads(json.dumps(_checks(e)))
        if target == "y":  # counts only: equal to the last digit
            assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True), engine
        else:
            assert_close(got, expected, engine)
