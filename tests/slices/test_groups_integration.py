"""Discovered slices used as groups by other parts of unskew."""

import numpy as np
import pandas as pd

from unskew.slices import SliceFinder


def _setup(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n),
                      "site": rng.choice(["a", "b", "c"], n)})
    # the label flips its dependence on x0 at site c: a linear model fails there
    logit = np.where(X.site == "c", -2.5, 2.5) * X.x0 + X.x1
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_slice_groups_feed_reweighing():
    from unskew.mitigate.pre import group_class_weights

    X, y = _setup()
    pred = (X.x0 + X.x1 > 0).astype(int)  # ignores the site effect
    f = SliceFinder(top_k=2).fit(X, y, y_pred=pred)
    assert "site = c" in f.slices_[0].description
    groups = f.to_groups(X)
    w = group_class_weights(y, groups, method="inverse")
    assert w.shape == (len(X),) and np.all(w > 0)
    # each (group, class) population gets the same total weight
    totals = pd.Series(w).groupby([groups, y]).sum()
    assert np.allclose(totals, totals.iloc[0])


def test_slice_groups_as_d3m_validation_groups():
    from unskew.mitigate.d3m import D3M

    X, y = _setup(seed=1, n=1600)
    Xn = np.column_stack([X.x0, X.x1, (X.site == "c").astype(float)])
    tr, va = np.arange(1000), np.arange(1000, 1600)
    from sklearn.linear_model import LogisticRegression

    pred_va = LogisticRegression().fit(Xn[tr], y[tr]).predict(Xn[va])
    f = SliceFinder(top_k=2).fit(X.iloc[va], y[va], y_pred=pred_va)
    groups_val = f.to_groups(X.iloc[va])
    assert len(np.unique(groups_val)) >= 2
    d3m = D3M(removal="k", k=20).fit(Xn[tr], y[tr], X_val=Xn[va], y_val=y[va], groups_val=groups_val)
    assert d3m.predict(Xn[va]).shape == (600,)
