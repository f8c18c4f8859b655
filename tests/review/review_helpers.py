"""Helpers of the review tests (a module with its own name: several test folders have a conftest)."""

from __future__ import annotations

import numpy as np
import pandas as pd


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


XSS_COL = '<script>alert("col")</script>'
XSS_VAL = '<img src=x onerror=alert(1)>'


def seed_queue(store, *, name="q", n=6, k=1, label_column="y", classes=("0", "1"), payloads=True):
    """A queue with ``n`` row items (no audit needed); column names and values carry XSS payloads."""
    from unskew.review._trail import append
    from unskew.store._review import ReviewItem, ReviewQueue

    cols = ["x", "job", label_column] + ([XSS_COL] if payloads else [])
    with store.session() as s:
        q = ReviewQueue(name=name, source="audit", data_source="test.csv", label_column=label_column,
                        key_column=None, reviews_required=k, columns=cols, classes=list(classes), info={})
        s.add(q)
        s.flush()
        for i in range(n):
            row = {"x": i, "job": XSS_VAL if payloads and i == 0 else f"job{i}", label_column: str(i % 2)}
            if payloads:
                row[XSS_COL] = XSS_VAL
            s.add(ReviewItem(queue_id=q.id, kind="row", row_key=str(i), row=row, label=str(i % 2),
                             prediction=str(1 - i % 2), priority=float(n - i), position=i + 1, status="open",
                             reason={"flags": [{"check": "label_quality", "score_name": "label_quality",
                                                "score": 0.1 * i, "severity": 0.9, "group": f"sex={XSS_VAL}",
                                                "group_rate": 0.2, "overall_rate": 0.1}],
                                     "neighbours": [{"row_key": "9", "distance": 0.5, "label": XSS_VAL,
                                                     "row": {"x": 9, XSS_COL: XSS_VAL}}]}))
        append(s, "test", "import", {"queue": name})
        return q.id
