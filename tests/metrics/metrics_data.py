"""Random data with weights, ties and intersectional groups for the metric tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_binary(n=3000, seed=0, weights="float", ties=True):
    """Binary labels, predictions and scores over sex x race (8 groups) with group effects."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.45, 0.55])
    race = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    shift = (sex == "M") * 0.4 + (race == "b") * 0.3 - (race == "d") * 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-(shift - 0.2)))).astype(int)
    score = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + shift + rng.normal(scale=1.5, size=n))))
    if ties:
        score = np.round(score, 2)
    pred = (score >= 0.5).astype(int)
    if weights == "float":
        w = rng.uniform(0.2, 3.0, n)
    elif weights == "int":
        w = rng.integers(1, 4, n).astype(float)
    else:
        w = None
    sf = pd.DataFrame({"sex": sex, "race": race})
    return y, pred, score, w, sf
