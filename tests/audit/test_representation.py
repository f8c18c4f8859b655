import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unskew.audit import audit
from unskew.datasets import (
    RACE_SHARES,
    load_adult,
    load_compas,
    make_synthetic,
    plant_missing_intersection,
)
from unskew.exceptions import UnskewInputError


def _rep(df, sensitive=("sex", "race"), **kw):
    return audit(df, target="y", sensitive=list(sensitive), checks=["representation"], **kw)["representation"]


def _wilson(p, n, z=1.959963984540054):
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_clean_synthetic_passes_and_counts_are_exact():
    df = make_synthetic(4000, random_state=1)
    res = _rep(df)
    assert res.status == "pass", [f.message for f in res.findings]
    vals = res.summary["attributes"]["race"]["values"]
    for v, cnt in df["race"].value_counts().items():
        assert vals[f"race={v}"]["rows"] == cnt
        assert vals[f"race={v}"]["share"] == pytest.approx(cnt / len(df))
    cells = res.summary["intersections"]["sex & race"]["cells"]
    assert sum(c["rows"] for c in cells.values()) == len(df)
    # per-row score = size of the row's full intersection cell
    sizes = df.groupby(["sex", "race"])["y"].transform("size").to_numpy()
    np.testing.assert_array_equal(res.scores, sizes)
    json.dumps(res.to_dict(), allow_nan=False)


def test_missing_intersection_is_a_fail_with_expected_count():
    df = plant_missing_intersection(make_synthetic(4000), cell={"sex": "female", "race": "C"})
    res = _rep(df)
    assert res.status == "fail"
    assert res.summary["absent_cells"] == ["sex=female & race=C"]
    cell = res.summary["intersections"]["sex & race"]["cells"]["sex=female & race=C"]
    n = len(df)
    expected = n * (df["sex"] == "female").mean() * (df["race"] == "C").mean()
    assert cell["rows"] == 0 and cell["status"] == "fail"
    assert cell["expected_rows_if_independent"] == pytest.approx(expected)
    top = res.findings[0]
    assert top.severity == "fail" and top.subject == "sex=female & race=C"


def test_absence_that_may_be_chance_is_only_a_warning():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": ["x"] * 98 + ["y"] * 2, "b": ["q"] * 3 + ["p"] * 97, "y": rng.integers(0, 2, 100)})
    # cell (y, q) is absent but only 100 * 0.02 * 0.03 = 0.06 rows are expected there
    res = _rep(df, sensitive=("a", "b"))
    cell = res.summary["intersections"]["a & b"]["cells"]["a=y & b=q"]
    assert cell["rows"] == 0 and cell["status"] == "warn"
    assert res.status == "warn"


def test_small_cell_warns_and_higher_order_absences_are_not_repeated():
    df = make_synthetic(6000, random_state=2)
    drop = df.index[(df["sex"] == "female") & (df["race"] == "C")][20:]
    df = df.drop(drop).reset_index(drop=True)
    res = _rep(df)
    assert res.status == "warn"
    assert "sex=female & race=C" in res.summary["small_cells"]
    assert res.summary["intersections"]["sex & race"]["cells"]["sex=female & race=C"]["rows"] == 20

    df3 = plant_missing_intersection(make_synthetic(6000), cell={"sex": "female", "race": "C"})
    df3["band"] = np.where(np.arange(len(df3)) % 2 == 0, "u", "v")
    res3 = _rep(df3, sensitive=("sex", "race", "band"))
    inter = res3.summary["intersections"]
    assert inter["sex & race"]["n_absent_cells"] == 1
    # the two 3-way cells below the absent 2-way cell are implied, not new failures
    assert inter["sex & race & band"]["n_absent_cells"] == 0
    assert inter["sex & race & band"]["n_absent_implied_by_smaller_intersections"] == 2
    assert res3.status == "fail"


def test_reference_flags_underrepresented_group_with_chi_square():
    df = make_synthetic(4000)
    ref = {"race": {"A": 0.4, "B": 0.3, "C": 0.3}}
    res = _rep(df, reference=ref)
    assert res.status == "fail"
    r = res.summary["reference"]["race"]
    share_c = (df["race"] == "C").mean()
    assert r["values"]["C"]["ratio"] == pytest.approx(share_c / 0.3)
    assert r["values"]["C"]["status"] == "fail"  # ratio ~0.33 < 0.5
    assert r["values"]["A"]["status"] == "pass"  # over-represented is information only
    counts = df["race"].value_counts().reindex(["A", "B", "C"]).to_numpy()
    expected = stats.chisquare(counts, np.array([0.4, 0.3, 0.3]) * len(df))
    assert r["p_value"] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert r["chi2"] == pytest.approx(expected.statistic)
    assert any(f.subject == "race=C" and "under-represented" in f.message for f in res.findings)


def test_reference_matching_the_population_is_not_flagged():
    df = make_synthetic(4000)
    res = _rep(df, reference={"race": dict(RACE_SHARES), "sex": {"female": 0.45, "male": 0.55}})
    assert res.status == "pass", [f.message for f in res.findings]
    assert all(v["status"] == "pass" for v in res.summary["reference"]["race"]["values"].values())


def test_reference_absent_value_unknown_value_and_intersection_key_order():
    df = make_synthetic(4000)
    res = _rep(df, reference={"race": {"A": 0.5, "B": 0.25, "D": 0.25}})
    r = res.summary["reference"]["race"]
    assert r["absent_from_data"] == ["D"] and r["values"]["D"]["status"] == "fail"
    # C is in the data but not in the reference: reported and left out of the comparison
    assert r["not_in_reference"] == {"C": int((df["race"] == "C").sum())}
    assert r["rows_compared"] == int(df["race"].isin(["A", "B"]).sum())
    assert any("does not list" in f.message for f in res.findings)

    ref = {"race & sex": {f"{r_} & {s}": RACE_SHARES[r_] * p for r_ in RACE_SHARES
                          for s, p in (("female", 0.45), ("male", 0.55))}}
    ref["race & sex"]["C & female"] = 0.2  # far above its ~4.5% in the data
    res2 = _rep(df, reference=ref)
    vals = res2.summary["reference"]["sex & race"]["values"]
    assert vals["female & C"]["status"] == "fail"
    assert vals["female & C"]["rows"] == int(((df["sex"] == "female") & (df["race"] == "C")).sum())


@pytest.mark.parametrize("ref, match", [
    ({"colour": {"a": 1.0}}, "not a declared sensitive attribute"),
    ({"race": {"A": "lots"}}, "must be a number"),
    ({"race": {"A": -0.1, "B": 1.1}}, ">= 0"),
    ({"race": {"a": 0.5, "b": 0.5}}, "Check the spelling"),
    ({"sex & race": {"female": 1.0}}, "2 parts"),
])
def test_bad_reference_raises_input_error(ref, match):
    with pytest.raises(UnskewInputError, match=match):
        _rep(make_synthetic(500), reference=ref)


def test_weighted_shares_use_weights_and_effective_n():
    df = make_synthetic(3000)
    w = np.where(df["sex"] == "female", 3.0, 1.0)
    df["w"] = w
    res = _rep(df, weights="w")
    female = res.summary["attributes"]["sex"]["values"]["sex=female"]
    share = w[df["sex"] == "female"].sum() / w.sum()
    n_eff = w.sum() ** 2 / (w**2).sum()
    lo, hi = _wilson(share, n_eff)
    assert female["share"] == pytest.approx(share)
    assert female["weight"] == pytest.approx(w[df["sex"] == "female"].sum())
    assert female["rows"] == int((df["sex"] == "female").sum())
    assert (female["share_low"], female["share_high"]) == pytest.approx((lo, hi))
    assert res.summary["effective_n"] == pytest.approx(n_eff)
    # constant weights change nothing
    df["w"] = 2.5
    a = _rep(df, weights="w").summary["attributes"]["race"]["values"]
    b = _rep(df.drop(columns="w")).summary["attributes"]["race"]["values"]
    for k in b:
        assert a[k]["share_low"] == pytest.approx(b[k]["share_low"])


def test_missing_sensitive_value_is_its_own_group():
    df = make_synthetic(2000)
    df.loc[:9, "race"] = None
    res = _rep(df)
    assert res.summary["attributes"]["race"]["values"]["race=(missing)"]["rows"] == 10
    assert any("no value for 'race'" in f.message for f in res.findings)


def test_adult_representation(data_home):
    df = load_adult(data_home=data_home)
    res = audit(df, target="income", sensitive=["sex", "race"], checks=["representation"])["representation"]
    sexes = res.summary["attributes"]["sex"]["values"]
    assert sexes["sex=Female"]["rows"] == 16192 and sexes["sex=Male"]["rows"] == 32650
    assert sexes["sex=Female"]["share"] == pytest.approx(0.3315, abs=1e-3)
    # small race groups and their intersections with sex are flagged, none is absent
    assert res.status == "warn"
    assert res.summary["n_absent_cells"] == 0
    assert "race=Other & sex=Female" not in res.summary["small_cells"]  # labels follow declared order
    assert "sex=Female & race=Other" in res.summary["small_cells"]
    json.dumps(res.to_dict(), allow_nan=False)


def test_compas_representation_with_reference(data_home):
    df = load_compas(data_home=data_home)
    ref = {"race": {"African-American": 0.27, "Caucasian": 0.47, "Hispanic": 0.17, "Asian": 0.04,
                    "Native American": 0.01, "Other": 0.04}}
    res = audit(df, target="two_year_recid", sensitive=["race", "sex"], reference=ref,
                checks=["representation"])["representation"]
    cells = res.summary["intersections"]["race & sex"]["cells"]
    assert cells["race=Native American & sex=Female"]["rows"] == 2
    assert "race=Native American & sex=Female" in res.summary["small_cells"]
    vals = res.summary["reference"]["race"]["values"]
    assert vals["African-American"]["ratio"] > 1.5  # ~51% of COMPAS vs 27% of the reference
    assert vals["Hispanic"]["status"] == "fail" and vals["Asian"]["status"] == "fail"
    assert res.status == "fail"
