"""Mergeable per-bucket aggregates: built from rows, added and subtracted exactly.

The aggregates are the engines' partials (:mod:`unskew.engines._partials`):
each payload section is counted as a :class:`~unskew.engines.CountTable`
(rows and sums per group, per group x bin, per unseen value) and stored in
its JSON-safe form, nested dicts of counts, which
:func:`~unskew.engines.merge_json` adds and subtracts (a window is the merge
of its buckets' partials). The stored format is unchanged::

    {"n": rows, "groups": {group: rows}, "ood": {group: rows over the threshold},
     "hist": {feature: {"all": [rows per bin], "by_group": {group: [rows per bin]}}},
     "unseen": {feature: {value: rows}}, "cbpe": {group: [rows, correct, tp, fp, fn, tn]}}

and the labels ``{group: {n, correct, tp, fp, fn, tn}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Distinct unseen category values kept per feature per bucket.
MAX_UNSEEN = 25

_CBPE = ("correct", "tp", "fp", "fn", "tn")


def merge_into(acc: dict, part: Mapping, sign: int = 1) -> dict:
    """Add (``sign=1``) or subtract (``sign=-1``) ``part`` into ``acc`` in place; returns ``acc``.

    Numbers add, lists add element-wise (padding the shorter), dicts merge by
    key: :func:`unskew.engines.merge_json`, the merge of JSON-safe partials.
    """
    from ..engines import merge_json

    return merge_json(acc, part, sign)


def merge_all(parts) -> dict:
    acc: dict = {}
    for p in parts:
        merge_into(acc, p)
    return acc


def _group_codes(groups: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The one group encoding of the rows' group names: codes and the names in group order."""
    from ..data._groups import encode_groups

    g = encode_groups(pd.Series(np.asarray(groups).astype(str), name="group"), len(groups))
    return g.codes, [k[0] for k in g.keys]


def prediction_payload(profile, codes: dict[str, np.ndarray], groups: np.ndarray, ood: np.ndarray,
                       raw_cats: dict[str, np.ndarray], cbpe: np.ndarray | None) -> dict:
    """Aggregates of one set of prediction rows (the rows of one bucket).

    ``cbpe`` is an ``(n, 5)`` array of expected correct/TP/FP/FN/TN per row (or None).
    """
    from ..engines import CountTable

    n = len(groups)
    gc, names = _group_codes(groups)
    thr = profile.data["ood"]["threshold"]
    per = CountTable.from_codes(("group",), [(gc, names)], sums={"ood": (np.asarray(ood) > thr).astype(np.float64)})
    v = per.values
    out: dict[str, Any] = {"n": int(n), "groups": {}, "hist": {}, "unseen": {}, "ood": {}, "cbpe": {}}
    out["groups"] = {k[0]: int(v[i, 0]) for i, k in enumerate(per.keys)}
    out["ood"] = {k[0]: int(round(v[i, 1])) for i, k in enumerate(per.keys)}
    if cbpe is not None:
        out["cbpe"] = cbpe_sums(gc, names, cbpe)
    for f in profile.features:
        c = np.asarray(codes[f["name"]])
        nb = f["n_bins"]
        by_group = CountTable.from_codes(("group", "bin"), [(gc, names), (c, range(nb))]).dense("bin", nb)
        out["hist"][f["name"]] = {"all": np.bincount(c, minlength=nb).tolist(),
                                  "by_group": {g: by_group.get(g, [0] * nb) for g in out["groups"]}}
        if f["kind"] == "categorical" and f["name"] in raw_cats:
            m = c == len(f["categories"])
            if m.any():
                u = CountTable.from_frame(pd.DataFrame({"v": np.asarray(raw_cats[f["name"]])[m].astype(str)}),
                                          by=["v"])
                cnt = u.values[:, 0]
                order = np.argsort(-cnt, kind="stable")[:MAX_UNSEEN]  # most frequent, ties in value order
                out["unseen"][f["name"]] = {u.keys[i][0]: int(cnt[i]) for i in order}
    return out


def cbpe_sums(gc: np.ndarray, names: list[str], cbpe: np.ndarray) -> dict[str, list]:
    """Per group ``[rows, expected correct, TP, FP, FN, TN]`` from the per-row ``(n, 5)`` CBPE array.

    ``gc, names``: the rows' group codes and names (:func:`_group_codes`)."""
    from ..engines import CountTable

    c = np.asarray(cbpe, np.float64)
    per = CountTable.from_codes(("group",), [(gc, names)], sums={k: c[:, j] for j, k in enumerate(_CBPE)})
    return {k[0]: [int(per.values[i, 0])] + per.values[i, 1:].tolist() for i, k in enumerate(per.keys)}


def label_payload(groups: np.ndarray, y: np.ndarray, yp: np.ndarray, pos: str | None) -> dict:
    """Per-group label counts: ``{group: {n, correct, tp, fp, fn, tn}}``."""
    from ..engines import CountTable

    y, yp = np.asarray(y, dtype=object), np.asarray(yp, dtype=object)
    sums: dict[str, Any] = {"correct": (y == yp).astype(np.float64)}
    if pos is not None:
        sums["tp"] = ((y == pos) & (yp == pos)).astype(np.float64)
        sums["fp"] = ((y != pos) & (yp == pos)).astype(np.float64)
        sums["fn"] = ((y == pos) & (yp != pos)).astype(np.float64)
    t = CountTable.from_codes(("group",), [_group_codes(groups)], sums=sums)
    out: dict[str, dict] = {}
    for k, row in zip(t.keys, np.rint(t.values).astype(np.int64).tolist(), strict=True):
        e = dict(zip(t.fields, row, strict=True))
        if pos is not None:
            e["tn"] = e["n"] - e["tp"] - e["fp"] - e["fn"]
        out[k[0]] = e
    return out
