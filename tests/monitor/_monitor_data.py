"""Synthetic rows of a calibrated binary model (shared by the monitoring tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_rows(n: int, seed: int, *, shift: float = 0.0, new_region: bool = False, start: int = 0) -> pd.DataFrame:
    """Rows of a calibrated binary model: ``score = P(y=1 | x)`` exactly, ``pred = score >= 0.5``."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    race = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]).astype(object)
    if new_region:
        region[:] = "west"
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.exponential(1.0, n)
    logit = 1.2 * x1 - 0.6 * x2 + 0.4 * (sex == "M") + 0.3
    score = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"id": [f"r{start + i}" for i in range(n)], "x1": x1, "x2": x2, "region": region,
                         "sex": sex, "race": race, "score": score, "pred": (score >= 0.5).astype(int), "y": y})
