"""group_accuracies / worst_group agree with a direct computation and with worst_group_accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from unskew.metrics import group_accuracies, worst_group, worst_group_accuracy


def test_group_accuracies_match_a_direct_computation():
    rng = np.random.default_rng(1)
    n = 500
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.7, y, 1 - y)
    g = rng.choice(np.array(["b", "a", "c"], dtype=object), n)
    accs = group_accuracies(y, pred, g)
    assert list(accs) == ["a", "b", "c"]
    for k, v in accs.items():
        assert v == float(np.mean(pred[g == k] == y[g == k]))
    key, value, every = worst_group(y, pred, g)
    assert every == accs and value == min(accs.values()) and accs[key] == value
    assert value == worst_group_accuracy(y, pred, sensitive_features=g)
    # weights and intersections
    w = rng.random(n)
    s2 = rng.integers(0, 2, n)
    accs2 = group_accuracies(y, pred, pd.DataFrame({"g": g, "s": s2}), sample_weight=w)
    m = (g == "a") & (s2 == 1)
    np.testing.assert_allclose(accs2[("a", 1)], np.average(pred[m] == y[m], weights=w[m]))
    assert len(accs2) == 6
