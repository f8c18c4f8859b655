"""The monitor's per-bucket aggregates are the engines' partials in JSON form: the payload of all rows is the
merge of the payloads of any split of them, and subtracting a part undoes adding it."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest

from unskew.monitor._aggregate import label_payload, merge_into, prediction_payload

PROFILE = SimpleNamespace(data={"ood": {"threshold": 0.7}}, features=[
    {"name": "a", "n_bins": 5, "kind": "numeric"},
    {"name": "c", "n_bins": 4, "kind": "categorical", "categories": ["x", "y", "z"]}])


def _rows(n, seed):
    rng = np.random.default_rng(seed)
    return dict(codes={"a": rng.integers(0, 5, n), "c": rng.integers(0, 4, n)},
                groups=rng.choice(np.array(["F|A", "M|B", "F|B"], dtype=object), n), ood=rng.random(n),
                raw={"c": rng.choice(np.array(["u", "v", "w"], dtype=object), n)},
                cbpe=np.round(rng.random((n, 5)) * 8) / 8,  # dyadic: sums exact in any order
                y=rng.choice(np.array(["0", "1"], dtype=object), n), yp=rng.choice(np.array(["0", "1"], dtype=object), n))


def _pred(r, idx):
    return prediction_payload(PROFILE, {k: v[idx] for k, v in r["codes"].items()}, r["groups"][idx], r["ood"][idx],
                              {k: v[idx] for k, v in r["raw"].items()}, r["cbpe"][idx])


def _nonzero(p):
    if isinstance(p, dict):
        return {k: _nonzero(v) for k, v in p.items() if _nonzero(v) not in (0, {}, [])}
    if isinstance(p, list):
        return p if any(p) else []
    return p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_payload_of_all_rows_is_the_merge_of_any_split(seed):
    r = _rows(400, seed)
    rng = np.random.default_rng(seed + 10)
    cuts = np.sort(rng.choice(np.arange(1, 400), 3, replace=False))
    pieces = np.split(rng.permutation(400), cuts)
    whole = _pred(r, np.arange(400))
    merged: dict = {}
    for p in pieces:
        merge_into(merged, _pred(r, p))
    merged["unseen"], whole_unseen = {}, whole.pop("unseen")
    whole["unseen"] = {}
    assert merged == whole
    assert sum(whole_unseen["c"].values()) == int((r["codes"]["c"] == 3).sum())
    json.dumps(whole)  # JSON-safe, as stored
    # subtracting a piece undoes adding it
    back = merge_into(copy.deepcopy(merged), _pred(r, pieces[0]), -1)
    rest: dict = {}
    for p in pieces[1:]:
        merge_into(rest, _pred(r, p))
    rest["unseen"] = {}
    back["unseen"] = {}
    assert _nonzero(back) == _nonzero(rest)


def test_label_payload_counts_and_merges():
    r = _rows(300, 5)
    whole = label_payload(r["groups"], r["y"], r["yp"], "1")
    for g, e in whole.items():
        m = r["groups"] == g
        assert e["n"] == m.sum() and e["correct"] == (r["y"][m] == r["yp"][m]).sum()
        assert e["tp"] == ((r["y"][m] == "1") & (r["yp"][m] == "1")).sum() and e["n"] == e["tp"] + e["fp"] + e["fn"] + e["tn"]
    a = label_payload(r["groups"][:100], r["y"][:100], r["yp"][:100], "1")
    b = label_payload(r["groups"][100:], r["y"][100:], r["yp"][100:], "1")
    assert merge_into(a, b) == whole
    assert set(label_payload(r["groups"], r["y"], r["yp"], None)["F|A"]) == {"n", "correct"}
