"""The count-based audit quantities as partials: DuckDB's SQL scans give the pandas tables exactly,
and the finalised target distribution, representation, base rates and missing values match pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.engines import audit_counts, base_rates, representation, target_distribution
from unskew.engines._audit import finalise_missing
from unskew.exceptions import UnskewInputError


@pytest.fixture(scope="module")
def audit_file(tmp_path_factory, table):
    t = table.copy()
    t["cat"] = np.where(t.race == 2, None, t.race.astype(str))
    t.loc[::7, "x"] = np.nan
    t["flat"] = 3.0
    path = tmp_path_factory.mktemp("audit") / "a.parquet"
    t.to_parquet(path, row_group_size=700)
    return t, path


@pytest.mark.parametrize("weights", [None, "w"])
def test_duckdb_equals_pandas_batches_exactly(audit_file, weights):
    frame, path = audit_file
    kw = dict(target="y", sensitive=["sex", "race"], weights=weights)
    a, ia = audit_counts(path, engine="pandas", batch_size=700, **kw)
    b, ib = audit_counts(path, engine="duckdb", threads=2, **kw)
    c, _ = audit_counts(frame, engine="pandas", **kw)
    assert ia["batches"] == 5 and ib["scans"] == 3
    for k in ("cells", "missing", "histograms"):
        assert a[k] == b[k], k
        assert a[k] == c[k], k


def test_finalised_tables_match_pandas(audit_file):
    frame, path = audit_file
    counts, info = audit_counts(path, engine="duckdb", target="y", sensitive=["sex", "race"], weights="w")
    assert info["n_rows"] == len(frame)
    f = frame.assign(sex=frame.sex.fillna("(missing)"))
    rep = representation(counts, ["sex"]).set_index("sex")
    exp = f.groupby("sex")["w"].agg(["size", "sum"])
    assert rep.loc[exp.index, "n"].tolist() == exp["size"].tolist()
    assert rep.loc[exp.index, "weight"].tolist() == exp["sum"].tolist()
    br = base_rates(counts, 1, ["race"]).set_index("race")
    exp_rate = f.groupby("race").apply(lambda d: np.average(d.y, weights=d.w), include_groups=False)
    np.testing.assert_allclose(br.loc[exp_rate.index, "rate"], exp_rate, rtol=1e-12)
    td = target_distribution(counts).set_index("y")
    assert td.loc[[0, 1], "n"].tolist() == f.y.value_counts().loc[[0, 1]].tolist()
    miss = finalise_missing(counts)
    x = miss[miss.column == "x"]
    assert int(x["n"].sum()) == int(frame.x.isna().sum())
    cat = miss[miss.column == "cat"]
    assert int(cat["n"].sum()) == int((frame.race == 2).sum())
    hist = counts["histograms"].frame()
    xs = hist[hist.column == "x"]
    edges = np.linspace(frame.x.min(), frame.x.max(), 11)
    expected = np.histogram(frame.x.dropna(), bins=edges)[0]
    assert xs["n"].sum() == frame.x.notna().sum() and len(xs) <= 10
    assert np.abs(xs.sort_values("bin")["n"].to_numpy() - expected).sum() <= 2  # edge values may fall either side
    assert hist[hist.column == "flat"]["n"].tolist() == [len(frame)]


def test_audit_counts_errors(audit_file, tmp_path):
    _, path = audit_file
    with pytest.raises(UnskewInputError, match="'nope'"):
        audit_counts(path, engine="duckdb", target="nope", sensitive="sex")
    with pytest.raises(UnskewInputError, match="'nope'"):
        audit_counts(path, engine="pandas", target="y", sensitive="nope")
    with pytest.raises(UnskewInputError, match="pandas, duckdb, spark, dask"):
        audit_counts(path, engine="hive", target="y", sensitive="sex")
    with pytest.raises(UnskewInputError, match="bins"):
        audit_counts(path, engine="duckdb", target="y", sensitive="sex", bins=0)
    with pytest.raises(UnskewInputError, match="no rows"):
        audit_counts(pd.DataFrame({"y": [], "sex": []}), engine="pandas", target="y", sensitive="sex")


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_stratified_sample_represents_every_stratum(audit_file, engine):
    from unskew.engines import stratified_sample

    frame, path = audit_file
    data = path if engine == "duckdb" else frame
    by = ["sex", "race", "y"]
    s, info = stratified_sample(data, by=by, n=300, min_per_stratum=20, engine=engine, random_state=1)
    full = frame.assign(sex=frame.sex.fillna("(missing)")).groupby(by).size()
    got = s.assign(sex=s.sex.fillna("(missing)")).groupby(by).size()
    assert set(got.index) == set(full.index)  # every group and class represented
    assert (got >= np.minimum(full.loc[got.index], 20)).all()
    assert info["n_sample"] == len(s) and info["strata"] == len(full) and "stratified by sex x race x y" in info["method"]
    assert s["sampling_weight"].sum() == pytest.approx(len(frame))
    assert list(s.columns) == [*frame.columns, "sampling_weight"]
    again, _ = stratified_sample(data, by=by, n=300, min_per_stratum=20, engine=engine, random_state=1)
    pd.testing.assert_frame_equal(s, again)
