"""Agreement between reviewers: Cohen's kappa (two) and Fleiss' kappa (more)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from ..exceptions import UnskewInputError


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two reviewers' decisions on the same items.

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the share of items on
    which they agree and ``p_e`` the agreement expected from each reviewer's
    own category shares (Cohen 1960). Equals
    :func:`sklearn.metrics.cohen_kappa_score`. When both reviewers use one
    and the same category throughout (``p_e = 1``) kappa is 1 if they agree
    everywhere (it is undefined in the formula; scikit-learn gives nan).

    Examples
    --------
    >>> round(cohen_kappa(["keep", "keep", "remove", "remove"], ["keep", "remove", "remove", "remove"]), 3)
    0.5
    """
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise UnskewInputError(f"Cohen's kappa needs the same items from both reviewers; got {len(a)} and {len(b)}.")
    if not a:
        return float("nan")
    cats = sorted(set(a) | set(b), key=str)
    idx = {c: i for i, c in enumerate(cats)}
    m = np.zeros((len(cats), len(cats)))
    for x, y in zip(a, b, strict=True):
        m[idx[x], idx[y]] += 1
    n = m.sum()
    po = np.trace(m) / n
    pe = float((m.sum(axis=1) / n) @ (m.sum(axis=0) / n))
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else float("nan")
    return float((po - pe) / (1.0 - pe))


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float:
    """Fleiss' kappa of items each decided by the same number ``n >= 2`` of reviewers.

    ``ratings[i]`` is the list of categories given to item ``i``. With
    ``n_ij`` the reviewers putting item ``i`` in category ``j``:
    ``P_i = (sum_j n_ij^2 - n) / (n (n - 1))``, ``P_bar`` their mean,
    ``p_j = sum_i n_ij / (N n)``, ``P_e = sum_j p_j^2`` and
    ``kappa = (P_bar - P_e) / (1 - P_e)`` (Fleiss 1971), as
    ``statsmodels.stats.inter_rater.fleiss_kappa``.

    Examples
    --------
    >>> round(fleiss_kappa([["a", "a", "a"], ["a", "a", "b"], ["b", "b", "b"]]), 3)
    0.55
    """
    ratings = [list(r) for r in ratings]
    if not ratings:
        return float("nan")
    n = len(ratings[0])
    if n < 2 or any(len(r) != n for r in ratings):
        raise UnskewInputError(
            "Fleiss' kappa needs the same number (at least 2) of reviews per item; got "
            f"{sorted({len(r) for r in ratings})}."
        )
    cats = sorted({c for r in ratings for c in r}, key=str)
    idx = {c: i for i, c in enumerate(cats)}
    counts = np.zeros((len(ratings), len(cats)))
    for i, r in enumerate(ratings):
        for c in r:
            counts[i, idx[c]] += 1
    return fleiss_kappa_counts(counts)


def fleiss_kappa_counts(counts: np.ndarray) -> float:
    """Fleiss' kappa from an items x categories matrix of counts (rows sum to ``n``)."""
    counts = np.asarray(counts, dtype=float)
    N = counts.shape[0]
    n = counts[0].sum()
    p_j = counts.sum(axis=0) / (N * n)
    P_i = (np.square(counts).sum(axis=1) - n) / (n * (n - 1))
    P_bar = P_i.mean()
    P_e = float(np.square(p_j).sum())
    if P_e >= 1.0:
        return 1.0 if P_bar >= 1.0 else float("nan")
    return float((P_bar - P_e) / (1.0 - P_e))


def agreement(reviews: Mapping[Hashable, Mapping[str, Hashable]]) -> dict:
    """Agreement on items reviewed by several reviewers.

    Parameters
    ----------
    reviews : mapping
        ``{item: {reviewer: category}}``. Items with fewer than two reviews are ignored.

    Returns
    -------
    dict
        ``items`` (with at least two reviews), ``raters`` (reviews per item
        used), ``method`` ("cohen" when every such item has two reviews,
        "fleiss" otherwise, on the items with the most common count),
        ``kappa``, ``observed`` (share of items with unanimous reviews) and
        ``per_reviewer``: ``{reviewer: {items, agreement, kappa}}`` where kappa
        is Cohen's between the reviewer and the other reviews of the same items
        (each pair counted once per other reviewer).

    Examples
    --------
    >>> r = agreement({1: {"ann": "keep", "bob": "keep"}, 2: {"ann": "remove", "bob": "remove"},
    ...                3: {"ann": "keep", "bob": "remove"}})
    >>> r["method"], r["items"], round(r["kappa"], 3)
    ('cohen', 3, 0.4)
    """
    multi = {i: dict(r) for i, r in reviews.items() if len(r) >= 2}
    out: dict = {"items": len(multi), "raters": 0, "method": None, "kappa": float("nan"),
                 "observed": float("nan"), "per_reviewer": {}}
    if not multi:
        return out
    sizes = [len(r) for r in multi.values()]
    k = max(set(sizes), key=lambda s: (sizes.count(s), s))
    used = [r for r in multi.values() if len(r) == k]
    out["raters"] = k
    out["observed"] = float(np.mean([len(set(r.values())) == 1 for r in multi.values()]))
    if k == 2:
        # Two reviewers per item: Cohen's kappa between the first and the second review slot.
        pairs = [list(r.values()) for r in used]
        out["method"] = "cohen"
        out["kappa"] = cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs])
    else:
        out["method"] = "fleiss"
        out["kappa"] = fleiss_kappa([list(r.values()) for r in used])
    per: dict = {}
    for r in multi.values():
        for who, cat in r.items():
            d = per.setdefault(who, {"mine": [], "theirs": [], "items": 0})
            d["items"] += 1
            for other, ocat in r.items():
                if other != who:
                    d["mine"].append(cat)
                    d["theirs"].append(ocat)
    out["per_reviewer"] = {
        who: {"items": d["items"],
              "agreement": float(np.mean([x == y for x, y in zip(d["mine"], d["theirs"], strict=True)])),
              "kappa": cohen_kappa(d["mine"], d["theirs"])}
        for who, d in sorted(per.items())
    }
    return out
