"""Measuring and presenting are separate: count-based measurements merge across partitions.

For the count-based checks (target distribution, representation, base rates,
missing values, the shift histograms), the measurement of a table equals the
sum of the measurements of two partitions of it, and presenting the merged
counts gives the same result as running the check on the whole table. This is
what lets another engine (Spark, DuckDB) count per partition and hand the
counts to the presenters.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest

from unskew.audit import AuditContext, get_check
from unskew.audit._base_rates import measure_base_rates
from unskew.audit._missing import measure_missing_values
from unskew.audit._representation import measure_representation
from unskew.audit._shift import measure_shift
from unskew.audit._target import measure_target_distribution
from unskew.data import Dataset


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 3000
    race = rng.choice(np.array(["White", "Black", "Asian", "Other"], dtype=object), size=n, p=[0.6, 0.2, 0.15, 0.05])
    race[rng.random(n) < 0.05] = None  # missing: its own group
    sex = rng.choice(["F", "M"], size=n)
    age = rng.normal(40, 10, size=n).round()
    income = np.where(rng.random(n) < 0.2 + 0.1 * (sex == "M"), "high", "low")
    job = rng.choice(["a", "b", "c"], size=n).astype(object)
    job[rng.random(n) < 0.1 + 0.2 * (race == "Black")] = None
    hours = rng.normal(40, 8, size=n).round(1)
    return pd.DataFrame({"race": race, "sex": sex, "age": age, "job": job, "hours": hours, "income": income,
                         "w": rng.uniform(0.5, 2.0, size=n)})


def _ds(df, **kw):
    kw.setdefault("target", "income")
    return Dataset.from_data(df.reset_index(drop=True), sensitive=["race", "sex"], **kw)


def _halves(df):
    # rows interleaved so that every group and value occurs in both partitions
    return df.iloc[::2], df.iloc[1::2]


def _result_json(res) -> dict:
    d = json.loads(json.dumps(res.to_dict(), default=str))
    d.pop("elapsed_s", None)
    return d


@pytest.mark.parametrize("weights", [None, "w"])
def test_representation_counts_merge(frame, weights):
    whole, (a, b) = _ds(frame, weights=weights), _halves(frame)
    m, ma, mb = (measure_representation(d) for d in (whole, _ds(a, weights=weights), _ds(b, weights=weights)))
    assert ma.names == mb.names == m.names
    assert m.names["race"][-1] == "(missing)"
    for g, ga, gb in zip(m.groupings, ma.groupings, mb.groupings, strict=True):
        assert g.columns == ga.columns and np.array_equal(g.cells, ga.cells)
        np.testing.assert_array_equal(ga.rows + gb.rows, g.rows)
        np.testing.assert_allclose(ga.weight + gb.weight, g.weight, rtol=1e-12)
    assert m.n_rows == ma.n_rows + mb.n_rows
    np.testing.assert_allclose(ma.weight_total + mb.weight_total, m.weight_total, rtol=1e-12)
    np.testing.assert_allclose(ma.weight_sq_total + mb.weight_sq_total, m.weight_sq_total, rtol=1e-12)
    if weights is None:
        # present(merged counts) is the check's result on the whole table (scores are per row: left out)
        merged = replace(m, weight_total=ma.weight_total + mb.weight_total, weight_sq_total=ma.weight_sq_total
                         + mb.weight_sq_total, row_scores=m.row_scores, groupings=[
                             replace(g, rows=ga.rows + gb.rows, weight=ga.weight + gb.weight)
                             for g, ga, gb in zip(m.groupings, ma.groupings, mb.groupings, strict=True)])
        check = get_check("representation")()
        assert _result_json(check.present(merged)) == _result_json(check.run(whole, AuditContext()))


@pytest.mark.parametrize("target", ["income", "hours"])
def test_base_rate_counts_merge(frame, target):
    whole, (a, b) = _ds(frame, target=target), _halves(frame)
    m, ma, mb = (measure_base_rates(d) for d in (whole, _ds(a, target=target), _ds(b, target=target)))
    assert m.task == ("classification" if target == "income" else "regression")
    for g, ga, gb in zip(m.groupings, ma.groupings, mb.groupings, strict=True):
        assert g.names == ga.names == gb.names
        np.testing.assert_array_equal(ga.rows + gb.rows, g.rows)
        if m.task == "classification":
            np.testing.assert_array_equal(ga.joint + gb.joint, g.joint)
        else:  # parallel-variance merge of (weight, mean, sum of squared deviations)
            n_a, n_b = ga.weight, gb.weight
            mean = (n_a * ga.mean + n_b * gb.mean) / (n_a + n_b)
            m2 = ga.sum_sq_dev + gb.sum_sq_dev + (gb.mean - ga.mean) ** 2 * n_a * n_b / (n_a + n_b)
            np.testing.assert_allclose(mean, g.mean, rtol=1e-12)
            np.testing.assert_allclose(m2, g.sum_sq_dev, rtol=1e-9)
    if m.task == "classification":
        np.testing.assert_array_equal(ma.class_weight + mb.class_weight, m.class_weight)
        merged = replace(m, groupings=[replace(g, joint=ga.joint + gb.joint, rows=ga.rows + gb.rows,
                                               weight=ga.weight + gb.weight, weight_sq=ga.weight_sq + gb.weight_sq)
                                       for g, ga, gb in zip(m.groupings, ma.groupings, mb.groupings, strict=True)],
                         class_weight=ma.class_weight + mb.class_weight)
        check = get_check("base_rates")()
        assert _result_json(check.present(merged)) == _result_json(check.run(whole, AuditContext()))


def test_missing_counts_merge(frame):
    whole, (a, b) = _ds(frame), _halves(frame)
    m, ma, mb = (measure_missing_values(d) for d in (whole, _ds(a), _ds(b)))
    assert m.group_columns == ma.group_columns == mb.group_columns == ["race", "job"]
    np.testing.assert_array_equal(ma.missing_rows + mb.missing_rows, m.missing_rows)
    assert ma.n_missing_cells + mb.n_missing_cells == m.n_missing_cells
    for g, ga, gb in zip(m.groupings, ma.groupings, mb.groupings, strict=True):
        assert g.names == ga.names == gb.names
        np.testing.assert_array_equal(ga.missing + gb.missing, g.missing)
        np.testing.assert_array_equal(ga.rows + gb.rows, g.rows)
    check = get_check("missing_values")()
    assert _result_json(check.present(m)) == _result_json(check.run(whole, AuditContext()))


def test_target_counts_merge(frame):
    whole, (a, b) = _ds(frame), _halves(frame)
    m, ma, mb = (measure_target_distribution(d) for d in (whole, _ds(a), _ds(b)))
    np.testing.assert_array_equal(ma.counts + mb.counts, m.counts)
    for (names, tab), (na, ta), (nb, tb) in zip(m.groups, ma.groups, mb.groups, strict=True):
        assert names == na == nb
        np.testing.assert_array_equal(ta + tb, tab)
    merged = replace(m, counts=ma.counts + mb.counts, groups=[(n, ta + tb) for (n, _), (_, ta), (_, tb)
                                                              in zip(m.groups, ma.groups, mb.groups, strict=True)])
    check = get_check("target_distribution")()
    assert _result_json(check.present(merged, target="income")) == _result_json(check.run(whole, AuditContext()))


def test_shift_histograms_merge(frame):
    ref = _ds(frame.iloc[:1500])
    cmp = frame.iloc[1500:].copy()
    cmp["age"] += 3
    parts = [_ds(cmp.iloc[::2]), _ds(cmp.iloc[1::2])]
    kw = dict(domain_classifier=False)
    m = measure_shift(ref, _ds(cmp), **kw)
    ma, mb = (measure_shift(ref, p, **kw) for p in parts)
    for h, ha, hb in zip(m.features, ma.features, mb.features, strict=True):
        assert h.labels == ha.labels
        np.testing.assert_array_equal(ha.reference, h.reference)  # bins fixed on the reference
        np.testing.assert_array_equal(ha.comparison + hb.comparison, h.comparison)
    for g, ga, gb in zip(m.groupings, ma.groupings, mb.groupings, strict=True):
        assert g.labels == ga.labels == gb.labels
        np.testing.assert_array_equal(ga.comparison_rows + gb.comparison_rows, g.comparison_rows)
        for col in g.features:
            np.testing.assert_array_equal(ga.features[col][1] + gb.features[col][1], g.features[col][1])
    assert {f.name for f in fields(m)} >= {"features", "groupings", "target", "domain"}
    check = get_check("shift")(domain_classifier=False)
    res = check.present(m, target="income")
    assert res.summary["features"]["age"]["psi"] > 0.1
    assert _result_json(res) == _result_json(check.run(ref, AuditContext(compare=_ds(cmp))))
