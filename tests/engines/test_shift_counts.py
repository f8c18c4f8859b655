"""Shift histograms as exact counts on every engine: exact order statistics from mergeable counts, the reference's
quantile bins, and the same histograms, statistics and findings as the pandas path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.audit import audit
from unskew.audit._shift import lerp_quantiles, quantile_probs, shift_counts_of_frames
from unskew.data import Dataset
from unskew.engines import order_statistics, runner, shift_counts
from unskew.engines._shift import float_keys, key_floats

from .conftest import make_table

NO_DOMAIN = {"shift": {"domain_classifier": False}}


def _tables():
    t = make_table()
    t["cat"] = np.where(t.race == 2, None, np.where(t.race == 1, "?", t.race.astype(str)))
    t.loc[::7, "x"] = np.nan
    o = make_table(seed=1)
    o["x"] = o["x"] + 0.5
    o["cat"] = np.where(o.race == 2, "new", o.race.astype(str))
    return t, o


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    t, o = _tables()
    d = tmp_path_factory.mktemp("shift")
    t.to_parquet(d / "a.parquet", row_group_size=500)
    o.to_parquet(d / "b.parquet", row_group_size=500)
    return t, o, d / "a.parquet", d / "b.parquet"


def test_float_keys_sort_as_values():
    v = np.array([-np.inf, -1e300, -2.5, -0.0, 0.0, 1e-300, 3.0, np.inf])
    k = float_keys(v)
    assert (np.diff(k.astype(object)) >= 0).all()
    assert np.array_equal(key_floats(k), v)


@pytest.mark.parametrize("collect", [10, 100_000])
def test_order_statistics_exact_with_refinement(tmp_path, collect):
    rng = np.random.default_rng(3)
    n = 5000
    f = pd.DataFrame({"a": rng.normal(size=n) * 1e6, "b": np.round(rng.exponential(size=n)),  # many ties
                      "c": np.where(rng.random(n) < 0.2, np.nan, rng.standard_cauchy(n))})
    f.to_parquet(tmp_path / "f.parquet", row_group_size=700)
    ranks = [0, 1, 17, 2500, 3999, 4999]
    with runner("pandas", tmp_path / "f.parquet", batch_size=600) as r:
        vals, info = order_statistics(r, {c: ("numeric", ranks) for c in "ab"} | {"c": ("numeric", [0, 5, 3000])},
                                      collect=collect)
    for c in "abc":
        s = np.sort(f[c].dropna().to_numpy())
        assert vals[c] == {x: float(s[x]) for x in vals[c]}, c
    assert info["n_finite"]["c"] == f["c"].notna().sum()
    assert info["passes"] >= (3 if collect == 10 else 2)


def test_lerp_quantiles_is_numpy_quantile():
    rng = np.random.default_rng(0)
    for t in range(300):
        n = int(rng.integers(1, 400))
        v = np.sort(rng.normal(size=n) * 10.0 ** rng.integers(-3, 6))
        if t % 3 == 0:
            v = np.round(v)
        qs = quantile_probs(int(rng.integers(2, 20)))
        assert np.array_equal(np.quantile(v, qs), lerp_quantiles(n, qs, lambda r, v=v: v[r]))


def test_pandas_runner_counts_equal_the_frame_path(pair):
    t, o, a, b = pair
    ds = Dataset.from_data(t, target="y", sensitive="sex,race")
    cs = Dataset.from_data(o, target="y", sensitive="sex,race", features=ds.features, require_two_classes=False)
    exp = shift_counts_of_frames(ds, cs, 10)
    from unskew.audit._shift import shift_kinds

    feats, _ = shift_kinds(ds)
    with runner("pandas", a, batch_size=400) as ra, runner("pandas", b, batch_size=900) as rb:
        got = shift_counts(ra, rb, sensitive=["sex", "race"], target="y", features=feats, n_bins=10)
    assert got.plan.edges.keys() == exp.plan.edges.keys()
    for c in exp.plan.edges:
        assert np.array_equal(got.plan.edges[c], exp.plan.edges[c]), c
    assert got.plan.levels == exp.plan.levels
    for side in ("reference", "comparison"):
        assert getattr(got, side).keys() == getattr(exp, side).keys()
        for k in getattr(exp, side):
            assert getattr(got, side)[k] == getattr(exp, side)[k], (side, k)
    assert got.reference_median == exp.reference_median and got.comparison_median == exp.comparison_median


def _same_check(p: dict, e: dict) -> None:
    skip = {"computed_by", "sample"}
    assert {k: v for k, v in e["summary"].items() if k not in skip} == p["summary"]
    for k in ("status", "findings", "tables", "charts"):
        assert e[k] == p[k], k


@pytest.mark.parametrize("engine", ["duckdb", "dask", "spark"])
def test_shift_check_equals_pandas(pair, engine, request):
    t, o, a, b = pair
    opts = {"sample_size": 10_000}
    if engine == "spark":
        opts["spark"] = request.getfixturevalue("spark")
    elif engine == "dask":
        opts["dask_client"] = request.getfixturevalue("dask_client")
    kw = dict(target="y", sensitive="sex,race", checks=["shift"], thresholds=NO_DOMAIN)
    p = audit(t, compare=o, **kw).to_dict()["checks"][0]
    e = audit(str(a), compare=str(b), engine=engine, engine_options=opts, **kw).to_dict()["checks"][0]
    assert p["status"] in ("warn", "fail") and "'x'" in " ".join(f["message"] for f in p["findings"])
    assert engine in e["summary"]["computed_by"]
    _same_check(p, e)  # the samples are the whole tables here, so even the KS tests agree


def test_histograms_exact_when_the_sample_is_smaller(pair):
    t, o, a, b = pair
    kw = dict(target="y", sensitive="sex,race", checks=["shift"])
    p = audit(t, compare=o, **kw).to_dict()["checks"][0]["summary"]
    e = audit(str(a), compare=str(b), engine="duckdb", engine_options={"sample_size": 600}, **kw).to_dict()
    s = e["checks"][0]["summary"]
    assert s["sample"]["data"]["n_sample"] < 3000 and s["reference_rows"] == 3000
    for c, f in p["features"].items():
        assert s["features"][c]["psi"] == f["psi"], c
        assert s["features"][c].get("reference_median") == f.get("reference_median"), c
    assert s["groupings"] == p["groupings"] and s["target"] == p["target"]
    assert s["domain_classifier"]["rows_per_table"] < 3000


@pytest.mark.parametrize("engine", ["duckdb", "dask"])
def test_rows_without_target_are_left_out_of_both_tables(engine, request, tmp_path):
    t, o = _tables()
    t, o = t.astype({"y": float}), o.astype({"y": float})
    t.loc[::40, "y"] = np.nan
    o.loc[::30, "y"] = np.nan
    t.to_parquet(tmp_path / "a.parquet", row_group_size=500)
    o.to_parquet(tmp_path / "b.parquet", row_group_size=500)
    opts = {"sample_size": 10_000}
    if engine == "dask":
        opts["dask_client"] = request.getfixturevalue("dask_client")
    kw = dict(target="y", sensitive="sex,race", checks=["shift"], thresholds=NO_DOMAIN)
    p = audit(t, compare=o, **kw).to_dict()["checks"][0]
    e = audit(str(tmp_path / "a.parquet"), compare=str(tmp_path / "b.parquet"), engine=engine, engine_options=opts,
              **kw).to_dict()["checks"][0]
    assert p["summary"]["reference_rows"] == len(t) - 75 and p["summary"]["comparison_rows"] == len(o) - 100
    _same_check(p, e)
