"""Counterfactual test: swap the sensitive attribute and watch the predictions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..data import MISSING_GROUP
from ..exceptions import UnskewInputError
from ._models import predict_with


@dataclass
class CounterfactualResult:
    """Outcome of :func:`counterfactual_test`.

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per (attribute, original value, counterfactual value): ``n``,
        ``flip_rate`` (share of rows whose predicted label changes),
        ``mean_score_change`` and ``mean_abs_score_change`` (counterfactual
        minus original score; NaN without scores).
    by_group : pandas.DataFrame
        One row per (attribute, original value): ``n`` rows, ``flip_rate`` over
        all swaps, ``any_flip_rate`` (rows whose label changes under at least
        one swap), mean signed and absolute score change.
    overall : dict
        The same over every tested row.
    n_rows : int
        Rows tested (a seeded sample when the data exceed ``max_rows``).
    notes : list of str
    """

    pairs: pd.DataFrame
    by_group: pd.DataFrame
    overall: dict
    n_rows: int
    proxies: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _avg(x, w):
    x = np.asarray(x, float)
    if x.size == 0 or np.isnan(x).all():
        return np.nan
    m = ~np.isnan(x)
    return float(np.average(x[m], weights=None if w is None else w[m])) if (w is None or w[m].sum() > 0) else np.nan


def counterfactual_test(
    model: Any,
    X: pd.DataFrame,
    *,
    sensitive: str | Sequence[str],
    proxies: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    sample_weight: Any = None,
    max_rows: int | None = 20_000,
    pos_label: Any = None,
    random_state: int | None = 0,
) -> CounterfactualResult:
    """Swap each row's sensitive value to every other value and re-predict.

    Parameters
    ----------
    model : object
        Anything with ``predict`` and/or ``predict_proba`` taking ``X``.
    X : pandas.DataFrame
        The model's input columns, including the sensitive column(s).
    sensitive : str or list of str
        Attributes to swap, one at a time.
    proxies : list of str, or dict attribute -> list of str, optional
        Columns that stand in for the attribute (for example a neighbourhood
        for race). On a swap to value ``v`` they are replaced by the values of
        a random row (seeded) whose attribute is ``v``, so the row moves to the
        new group's proxy distribution as well.
    sample_weight : array-like, optional
        Weights of the rows in the averages.
    max_rows : int, optional
        Test a seeded random sample of at most this many rows (each swap
        re-predicts every tested row).
    pos_label : optional
        Positive class for the score (``predict_proba`` column).
    random_state : int, optional

    Returns
    -------
    CounterfactualResult
    """
    if not isinstance(X, pd.DataFrame):
        raise UnskewInputError("counterfactual_test needs X as a pandas DataFrame with named columns.")
    attrs = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    for a in attrs:
        if a not in X.columns:
            raise UnskewInputError(
                f"Sensitive column {a!r} is not among the model's input columns {list(X.columns)[:20]}; "
                f"the counterfactual test can only swap a column the model receives."
            )
    proxy_map = {a: list(proxies.get(a, [])) if isinstance(proxies, Mapping) else list(proxies or []) for a in attrs}
    for a, cols in proxy_map.items():
        bad = [c for c in cols if c not in X.columns]
        if bad:
            raise UnskewInputError(f"Proxy column(s) {bad} of {a!r} are not among the model's input columns.")
    rng = np.random.default_rng(random_state)
    w = None if sample_weight is None else np.asarray(sample_weight, float)
    if max_rows is not None and len(X) > max_rows:
        idx = np.sort(rng.choice(len(X), max_rows, replace=False))
        X = X.iloc[idx]
        w = None if w is None else w[idx]
    X = X.reset_index(drop=True)
    base_labels, base_scores = predict_with(model, X, pos_label)
    pairs, groups = [], []
    all_flip, all_any, all_dscore, all_w = [], [], [], []
    notes = []
    feats = getattr(model, "feature_names_in_", None)
    for a in attrs:
        if feats is not None and a not in {str(f) for f in feats} and not proxy_map[a]:
            notes.append(f"The model does not take {a!r} as an input, so swapping it alone cannot change "
                         f"predictions; pass proxies to swap the columns that stand in for it.")
        col = X[a]
        vals = col.astype("string").fillna(MISSING_GROUP).astype(str).to_numpy()
        levels = sorted(set(vals) - {MISSING_GROUP})
        if len(levels) < 2:
            notes.append(f"{a!r} has fewer than two values among the tested rows; nothing to swap.")
            continue
        originals = {lev: col[vals == lev].iloc[0] for lev in levels}
        n = len(X)
        flips = np.full((n, len(levels)), np.nan)
        dscore = np.full((n, len(levels)), np.nan)
        for j, lev in enumerate(levels):
            rows = np.flatnonzero((vals != lev) & (vals != MISSING_GROUP))
            if rows.size == 0:
                continue
            Xc = X.iloc[rows].copy()
            Xc[a] = pd.Series([originals[lev]] * len(rows), index=Xc.index, dtype=X[a].dtype)
            if proxy_map[a]:
                donors = np.flatnonzero(vals == lev)
                pick = rng.choice(donors, len(rows))
                for pc in proxy_map[a]:
                    Xc[pc] = X[pc].to_numpy()[pick]
            lab, sc = predict_with(model, Xc, pos_label)
            flips[rows, j] = (np.asarray(lab).astype(str) != np.asarray(base_labels[rows]).astype(str))
            if sc is not None and base_scores is not None:
                dscore[rows, j] = sc - base_scores[rows]
            for src in levels:
                if src == lev:
                    continue
                m = vals[rows] == src
                if not m.any():
                    continue
                r = rows[m]
                ww = None if w is None else w[r]
                pairs.append({"attribute": a, "from": src, "to": lev, "n": int(m.sum()),
                              "flip_rate": _avg(flips[r, j], ww), "mean_score_change": _avg(dscore[r, j], ww),
                              "mean_abs_score_change": _avg(np.abs(dscore[r, j]), ww)})
        for src in levels:
            r = np.flatnonzero(vals == src)
            f = flips[r]
            ds = dscore[r]
            ww = None if w is None else w[r]
            rep_w = None if ww is None else np.repeat(ww, f.shape[1])
            groups.append({"attribute": a, "group": src, "n": int(len(r)),
                           "flip_rate": _avg(f.ravel(), rep_w),
                           "any_flip_rate": _avg(np.nanmax(np.nan_to_num(f, nan=0.0), axis=1), ww),
                           "mean_score_change": _avg(ds.ravel(), rep_w),
                           "mean_abs_score_change": _avg(np.abs(ds).ravel(), rep_w)})
        tested = vals != MISSING_GROUP
        all_flip.append(flips[tested])
        all_dscore.append(dscore[tested])
        all_any.append(np.nanmax(np.nan_to_num(flips[tested], nan=0.0), axis=1))
        all_w.append(None if w is None else w[tested])
    overall = {"flip_rate": np.nan, "any_flip_rate": np.nan, "mean_abs_score_change": np.nan}
    if all_flip:
        f = np.concatenate([x.ravel() for x in all_flip])
        d = np.concatenate([x.ravel() for x in all_dscore])
        anyf = np.concatenate(all_any)
        ww = None if w is None else np.concatenate([np.repeat(x, y.shape[1]) for x, y in zip(all_w, all_flip,
                                                                                              strict=True)])
        overall = {"flip_rate": _avg(f, ww), "any_flip_rate": _avg(anyf, None if w is None else np.concatenate(all_w)),
                   "mean_abs_score_change": _avg(np.abs(d), ww)}
    if base_scores is None:
        notes.append("The model gives no scores (predict_proba or decision_function); score changes are empty.")
    cols_pairs = ["attribute", "from", "to", "n", "flip_rate", "mean_score_change", "mean_abs_score_change"]
    cols_groups = ["attribute", "group", "n", "flip_rate", "any_flip_rate", "mean_score_change",
                   "mean_abs_score_change"]
    return CounterfactualResult(
        pairs=pd.DataFrame(pairs, columns=cols_pairs), by_group=pd.DataFrame(groups, columns=cols_groups),
        overall=overall, n_rows=len(X), proxies=sorted({c for v in proxy_map.values() for c in v}), notes=notes)
