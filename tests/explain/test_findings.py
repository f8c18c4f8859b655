"""Per-group findings: attribution differences, proxy share from the audit, ranking stability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.explain import (
    attribution_differences,
    explain,
    flagged_proxies,
    proxy_share,
    ranking_stability,
)


@pytest.fixture(scope="module")
def proxied():
    """A table where 'postcode' encodes 'race' and the model leans on it."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    n = 1500
    race = rng.choice(["A", "B"], n)
    postcode = np.where(race == "A", rng.normal(0, 1, n), rng.normal(3, 1, n))
    income = rng.normal(0, 1, n)
    noise = rng.normal(0, 1, n)
    y = ((postcode > 1.5).astype(int) ^ (rng.random(n) < 0.1)) | (income > 1.5)
    df = pd.DataFrame({"postcode": postcode, "income": income, "noise": noise, "race": race, "y": y.astype(int)})
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(df[["postcode", "income", "noise"]], df["y"])
    return df, model


def test_proxy_share_reuses_the_audit_result(proxied):
    from unskew.audit import audit

    df, model = proxied
    report = audit(df, target="y", sensitive=["race"], checks=["proxies"])
    flagged = flagged_proxies(report)
    assert "postcode" in flagged and flagged["postcode"] == ["race"]
    assert "noise" not in flagged
    e = explain(model, df, sensitive=["race"])
    share = proxy_share(e, report)
    bg = e.by_group()
    expected = bg.loc["postcode", "all"] / bg["all"].sum()
    assert abs(share["share"] - expected) < 1e-12
    assert share["share"] > 0.5 and set(share["by_group"]) == {"race=A", "race=B"}
    # the same from the JSON report and from a plain list
    import json

    assert proxy_share(e, json.loads(report.to_json()))["share"] == share["share"]
    assert proxy_share(e, ["postcode"])["share"] == share["share"]


def test_attribution_differences_and_stability(proxied):
    df, model = proxied
    e = explain(model, df, sensitive=["race"])
    diff = attribution_differences(e)
    assert list(diff["attribute"].unique()) == ["race"]
    first = diff.iloc[0]
    bg = e.by_group()
    assert first["difference"] == pytest.approx((bg.loc[first["feature"], ["race=A", "race=B"]]).max()
                                                 - (bg.loc[first["feature"], ["race=A", "race=B"]]).min())
    assert diff["difference"].is_monotonic_decreasing
    stab = ranking_stability(model, df, sensitive=["race"], seeds=(1, 2), top=2, reference=e)
    assert set(stab["group"]) == {"all", "race=A", "race=B"}
    assert (stab["repeats"] == 2).all() and (stab["spearman_mean"] > 0.4).all()


def test_stability_of_the_permutation_estimator_varies_with_seeds():
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = X[:, 0] * 3 + X[:, 1]
    m = KNeighborsRegressor(5).fit(X, y)
    grp = np.where(X[:, 2] > 0, "p", "q")
    stab = ranking_stability(m, X, sensitive=grp, seeds=(1, 2), top=2,
                             explain_kwargs={"n_permutations": 4, "max_background": 20})
    row = stab.set_index("group").loc["all"]
    assert row["spearman_mean"] > 0.5 and row["top_overlap_min"] > 0
