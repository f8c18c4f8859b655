"""`audit --engine spark|dask`: the count-based checks number for number equal to pandas and DuckDB, computed as
partials per partition; the model-based checks on a stratified sample the engine draws (every stratum, stated)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from unskew.audit import audit
from unskew.cli import app
from unskew.engines import audit_counts, stratified_sample
from unskew.engines._audit_report import COUNT_CHECKS

from .test_audit_engine import _checks

runner = CliRunner()
COUNTED = list(COUNT_CHECKS)


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory, table):
    """The table with a text column, missing values and a constant column, as three Parquet files."""
    t = table.copy()
    t["cat"] = np.where(t.race == 2, None, np.where(t.race == 1, "?", t.race.astype(str)))
    t.loc[::7, "x"] = np.nan
    t["flat"] = 3.0
    d = tmp_path_factory.mktemp("audit_parts")
    for i, chunk in enumerate(np.array_split(np.arange(len(t)), 3)):
        t.iloc[chunk].to_parquet(d / f"part-{i}.parquet", row_group_size=400)
    return t, d


@pytest.fixture
def engine_client(request):
    """(engine name, its session or client): the session-wide Spark session or Dask client."""
    engine = request.param
    if engine == "spark":
        return engine, request.getfixturevalue("spark")
    return engine, request.getfixturevalue("dask_client")


def _engine_opts(ec):
    engine, handle = ec
    return {"spark": handle} if engine == "spark" else {"dask_client": handle}


ENGINES = pytest.mark.parametrize("engine_client", ["dask", "spark"], indirect=True)
#: The drivers are one function for both engines; Spark's second run of them is a slow test (the report test
#: below covers Spark in the default suite).
ENGINES_SPARK_SLOW = pytest.mark.parametrize(
    "engine_client", ["dask", pytest.param("spark", marks=pytest.mark.slow)], indirect=True)


@ENGINES_SPARK_SLOW
def test_audit_counts_equal_pandas_exactly(audit_dir, engine_client):
    frame, d = audit_dir
    kw = dict(target="y", sensitive=["sex", "race"], weights="w")
    expected, _ = audit_counts(frame, engine="pandas", **kw)
    got, info = audit_counts(str(d), engine=engine_client[0], **kw, **_engine_opts(engine_client))
    assert info["engine"] == engine_client[0] and info["partitions"] >= 3 and info["n_rows"] == len(frame)
    for k in ("cells", "missing", "rows_missing", "histograms"):
        assert got[k] == expected[k], k


@ENGINES
def test_count_checks_equal_pandas_and_duckdb(audit_dir, engine_client):
    frame, d = audit_dir
    kw = {"target": "y", "sensitive": "sex,race", "checks": COUNTED, "weights": "w"}
    p = audit(frame, **kw).to_dict()
    k = audit(str(d), **kw, engine="duckdb").to_dict()
    e = audit(str(d), **kw, engine=engine_client[0], engine_options=_engine_opts(engine_client)).to_dict()
    assert all(engine_client[0] in c["summary"]["computed_by"] for c in e["checks"])
    assert e["parameters"]["engine"]["counts"]["partitions"] >= 3
    assert json.dumps(_checks(e), sort_keys=True) == json.dumps(_checks(p), sort_keys=True)
    assert _checks(e) == _checks(k)
    # the disguised '?' of the text column is found from the counts, as with pandas
    miss = next(c for c in e["checks"] if c["name"] == "missing_values")
    assert miss["summary"]["disguised_missing"] == {"cat": {"?": int((frame.race == 1).sum())}}


@ENGINES_SPARK_SLOW
def test_stratified_sample_every_stratum_and_repeatable(audit_dir, engine_client):
    frame, d = audit_dir
    by = ["sex", "race", "y"]
    kw = dict(by=by, n=300, min_per_stratum=20, random_state=1, engine=engine_client[0], **_engine_opts(engine_client))
    s, info = stratified_sample(str(d), **kw)
    full = frame.assign(sex=frame.sex.fillna("(missing)")).groupby(by).size()
    got = s.assign(sex=s.sex.fillna("(missing)")).groupby(by).size()
    assert set(got.index) == set(full.index)
    assert (got >= np.minimum(full.loc[got.index], 20)).all()
    assert info["n_sample"] == len(s) and info["strata"] == len(full) and info["short_strata"] == 0
    assert s["sampling_weight"].sum() == pytest.approx(len(frame))
    assert list(s.columns) == [*frame.columns, "sampling_weight"]
    again, _ = stratified_sample(str(d), **kw)
    assert again.equals(s)
    other, _ = stratified_sample(str(d), **{**kw, "random_state": 2})
    assert not other["x"].equals(s["x"])


@ENGINES_SPARK_SLOW
def test_model_checks_on_the_engine_sample(audit_dir, engine_client):
    _, d = audit_dir
    rep = audit(str(d), target="y", sensitive="sex,race", checks=["representation", "outliers", "duplicates"],
                engine=engine_client[0], engine_options={"sample_size": 500, "min_per_stratum": 20,
                                                         **_engine_opts(engine_client)}).to_dict()
    sample = rep["parameters"]["engine"]["sample"]
    assert sample["n_rows"] == 3000 and 500 <= sample["n_sample"] < 3000 and sample["strata"] == 18
    assert "stratified by sex x race x y" in sample["method"]
    for c in rep["checks"][1:]:
        assert c["status"] != "error", c
        assert c["summary"]["sample"] == sample
    assert rep["dataset"]["engine"] == engine_client[0]


def test_cli_dask_equals_pandas(audit_dir, tmp_path):
    frame, d = audit_dir
    one = tmp_path / "t.parquet"
    frame.to_parquet(one)
    args = ["audit", str(one), "-t", "y", "-s", "sex,race", "--checks", ",".join(COUNTED), "-q"]
    r1 = runner.invoke(app, [*args, "--engine", "dask", "--json", str(tmp_path / "d.json")])
    r2 = runner.invoke(app, [*args, "--json", str(tmp_path / "p.json")])
    assert r1.exit_code in (0, 1) and r1.exit_code == r2.exit_code, r1.output + r2.output
    e, p = (json.loads((tmp_path / f).read_text()) for f in ("d.json", "p.json"))
    assert e["parameters"]["engine"]["engine"] == "dask"
    assert _checks(e) == _checks(p)
