"""Mergeable per-bucket aggregates: built from rows, added and subtracted exactly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Distinct unseen category values kept per feature per bucket.
MAX_UNSEEN = 25


def merge_into(acc: dict, part: Mapping, sign: int = 1) -> dict:
    """Add (``sign=1``) or subtract (``sign=-1``) ``part`` into ``acc`` in place; returns ``acc``.

    Numbers add, lists add element-wise (padding the shorter), dicts merge by key.
    """
    for k, v in part.items():
        if isinstance(v, Mapping):
            merge_into(acc.setdefault(k, {}), v, sign)
        elif isinstance(v, list):
            cur = acc.get(k)
            if cur is None:
                acc[k] = [sign * x for x in v]
            else:
                if len(cur) < len(v):
                    cur.extend([0] * (len(v) - len(cur)))
                for i, x in enumerate(v):
                    cur[i] += sign * x
        else:
            acc[k] = acc.get(k, 0) + sign * v
    return acc


def merge_all(parts) -> dict:
    acc: dict = {}
    for p in parts:
        merge_into(acc, p)
    return acc


def prediction_payload(profile, codes: dict[str, np.ndarray], groups: np.ndarray, ood: np.ndarray,
                       raw_cats: dict[str, np.ndarray], cbpe: np.ndarray | None) -> dict:
    """Aggregates of one set of prediction rows (the rows of one bucket).

    ``cbpe`` is an ``(n, 5)`` array of expected correct/TP/FP/FN/TN per row (or None).
    """
    n = len(groups)
    gvals, ginv = np.unique(groups.astype(str), return_inverse=True)
    out: dict[str, Any] = {"n": int(n), "groups": {}, "hist": {}, "unseen": {}, "ood": {}, "cbpe": {}}
    counts = np.bincount(ginv, minlength=len(gvals))
    out["groups"] = {g: int(c) for g, c in zip(gvals.tolist(), counts, strict=True)}
    thr = profile.data["ood"]["threshold"]
    flag = ood > thr
    out["ood"] = {g: int(c) for g, c in zip(gvals.tolist(), np.bincount(ginv, weights=flag, minlength=len(gvals)).astype(int), strict=True)}
    for f in profile.features:
        c = codes[f["name"]]
        nb = f["n_bins"]
        h = {"all": np.bincount(c, minlength=nb).tolist(), "by_group": {}}
        flat = np.bincount(ginv * nb + c, minlength=len(gvals) * nb).reshape(len(gvals), nb)
        for gi, g in enumerate(gvals.tolist()):
            h["by_group"][g] = flat[gi].tolist()
        out["hist"][f["name"]] = h
        if f["kind"] == "categorical" and f["name"] in raw_cats:
            other = len(f["categories"])
            m = c == other
            if m.any():
                vals, cnt = np.unique(raw_cats[f["name"]][m].astype(str), return_counts=True)
                order = np.argsort(-cnt)[:MAX_UNSEEN]
                out["unseen"][f["name"]] = {vals[i]: int(cnt[i]) for i in order}
    if cbpe is not None:
        out["cbpe"] = cbpe_sums(gvals.tolist(), ginv, counts, cbpe)
    return out


def cbpe_sums(groups: list[str], ginv: np.ndarray, counts: np.ndarray, cbpe: np.ndarray) -> dict[str, list]:
    """Per group ``[rows, expected correct, TP, FP, FN, TN]`` from the per-row CBPE array (one bincount per column)."""
    sums = np.column_stack([np.bincount(ginv, weights=cbpe[:, k], minlength=len(groups)) for k in range(cbpe.shape[1])])
    return {g: [int(counts[i])] + sums[i].tolist() for i, g in enumerate(groups)}


def label_payload(groups: np.ndarray, y: np.ndarray, yp: np.ndarray, pos: str | None) -> dict:
    """Per-group label counts: ``{group: {n, correct, tp, fp, fn, tn}}``."""
    out: dict[str, dict] = {}
    for g in np.unique(groups.astype(str)).tolist():
        m = groups == g
        yt, pr = y[m], yp[m]
        e = {"n": int(m.sum()), "correct": int((yt == pr).sum())}
        if pos is not None:
            tp = int(((yt == pos) & (pr == pos)).sum())
            fp = int(((yt != pos) & (pr == pos)).sum())
            fn = int(((yt == pos) & (pr != pos)).sum())
            e.update(tp=tp, fp=fp, fn=fn, tn=e["n"] - tp - fp - fn)
        out[g] = e
    return out
