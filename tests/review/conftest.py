"""Fixtures of the review tests: a small table with label noise in one group, and its audit report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def noisy_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    job = rng.choice(["a", "b", "c"], n)
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.3, size=n) > 0).astype(int)
    flip = (sex == "F") & (rng.random(n) < 0.15)
    y = np.where(flip, 1 - y, y)
    x1[:3] = [25.0, -30.0, 40.0]  # outliers
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "sex": sex, "x1": x1, "x2": x2, "job": job, "y": y})
    # two identical rows with conflicting labels
    frame.loc[n - 1, ["sex", "x1", "x2", "job"]] = frame.loc[n - 2, ["sex", "x1", "x2", "job"]].to_numpy()
    frame.loc[n - 1, "y"] = 1 - frame.loc[n - 2, "y"]
    return frame


@pytest.fixture(scope="session")
def audited(tmp_path_factory):
    """(data path, audit report path) of the noisy table."""
    from unskew.audit import audit

    d = tmp_path_factory.mktemp("audited")
    frame = noisy_table()
    path = d / "data.csv"
    frame.to_csv(path, index=False)
    rep = audit(path, target="y", sensitive="sex", checks=["label_quality", "outliers", "duplicates"],
                ignore=["id"])
    rep.save_json(d / "audit.json")
    return path, d / "audit.json"
