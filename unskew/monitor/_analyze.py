"""``analyze``: the monitoring check on two in-memory tables, without a store.

The same profile, aggregates and detectors as :meth:`Monitor.check`, for a
one-off comparison of a reference and a current table (the job of a drift
report): the current rows are encoded chunk by chunk into the mergeable
window aggregates, so memory stays bounded by the chunk, and nothing is
written anywhere. The stored path (``Monitor.init`` + ``log`` + ``check``)
adds the row store, dedupe, the failure queue and alert history on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ._aggregate import label_payload, merge_into, prediction_payload
from ._profile import Profile, build_profile, label_str, to_pandas

_EPOCH = datetime(1970, 1, 1)


class _InMemory:
    """The two methods :func:`run_check` reads (``windows``, ``profile``) over precomputed windows."""

    def __init__(self, profile: Profile, windows: list[dict]):
        self._profile, self._windows = profile, windows

    def windows(self, name: str, window: Any) -> list[dict]:
        return self._windows

    def profile(self, name: str) -> Profile:
        return self._profile


def window_aggregates(profile: Profile, current: Any, *, window: str | int = "10000", timestamp: str | None = None,
                      target: str | None = None, chunk_rows: int = 100_000) -> list[dict]:
    """Windows (as :meth:`Monitor.windows` returns them) of the ``current`` rows, encoded ``chunk_rows`` at a time.

    Row windows (``"10000"``) cut the rows in order; day windows (``"1d"``, ``"7d"``)
    need ``timestamp``. With ``target`` the labels join each window's label counts.
    """
    from ._monitor import parse_window, prepare_batch

    kind, size = parse_window(window)
    if kind == "days" and not timestamp:
        raise UnskewInputError(f"--window {window}: day windows need the timestamp column of the current rows.")
    frame = to_pandas(current, "current table").reset_index(drop=True)
    if len(frame) == 0:
        raise UnskewInputError("The current table has no rows.")
    if target is not None and target not in frame.columns:
        raise UnskewInputError(f"Target column {target!r} is not in the current table.")
    step = max(1, int(chunk_rows))
    if kind == "rows":
        step = max(size, (step // size) * size)  # chunks hold whole windows
    wins: dict[int, dict] = {}
    for start in range(0, len(frame), step):
        part = frame.iloc[start:start + step]
        try:
            prep = prepare_batch(profile, part, timestamp=timestamp, queue_flags=False)
        except UnskewInputError as exc:
            raise UnskewInputError(f"{exc} (rows {start}-{start + len(part) - 1} of the current table)") from None
        if kind == "rows":
            key = (start + np.arange(len(part))) // size
        else:
            key = prep["ts"].astype("datetime64[D]").astype(np.int64) // size
        y = label_str(part[target]) if target is not None else None
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        for js in np.split(order, bounds):
            k = int(key[js[0]])
            pay = prediction_payload(profile, {c: v[js] for c, v in prep["codes"].items()}, prep["groups"][js],
                                     prep["ood"][js], {c: v[js] for c, v in prep["raw"].items()},
                                     None if prep["cbpe"] is None else prep["cbpe"][js])
            tmin, tmax = prep["ts"][js].min().item(), prep["ts"][js].max().item()
            w = wins.get(k)
            if w is None:
                if kind == "rows":
                    label = f"rows {k * size}-{(k + 1) * size - 1}"
                else:
                    label = (_EPOCH + timedelta(days=k * size)).strftime("%Y-%m-%d") + ("" if size == 1 else f"+{size}d")
                w = wins[k] = {"key": k, "label": label, "n": 0, "payload": {}, "labels": {}, "min_ts": tmin,
                               "max_ts": tmax}
            merge_into(w["payload"], pay)
            w["n"] += len(js)
            w["min_ts"], w["max_ts"] = min(w["min_ts"], tmin), max(w["max_ts"], tmax)
            if y is not None:
                known = ~pd.isna(y[js])
                if known.any():
                    rows = js[known]
                    merge_into(w["labels"], label_payload(prep["groups"][rows], y[rows], prep["yp"][rows],
                                                          profile.pos_label))
    out = [wins[k] for k in sorted(wins)]
    for i, w in enumerate(out):
        w["index"] = i + 1
    return out


def analyze(reference: Any, current: Any, *, target: str, predictions: str, sensitive: Sequence[str],
            scores: str | None = None, window: str | int = "10000", timestamp: str | None = None,
            current_target: str | None = None, profile: Profile | None = None, model: Any = None,
            features: Sequence[str] | None = None, exclude: Sequence[str] = (), detectors: Sequence[str] | None = None,
            params: dict | None = None, chunk_rows: int = 100_000):
    """Check ``current`` against ``reference`` in memory: every monitoring detector, no store.

    Parameters
    ----------
    reference, current : DataFrame, polars/Arrow table or path
        The reference (training or validation) rows with target and the model's
        outputs, and the current (production) rows with the model's outputs.
    target, predictions, sensitive, scores, model, features, exclude
        As :func:`build_profile`.
    window : str or int, default "10000"
        Row windows (``"10000"``) or day windows (``"1d"``, with ``timestamp``).
    current_target : str, optional
        Label column of the current rows, when labels are known.
    profile : Profile, optional
        A profile built before (then ``reference`` may be None).
    detectors, params
        As :meth:`Monitor.check`.
    chunk_rows : int, default 100000
        Current rows encoded at a time (bounds the memory).

    Returns
    -------
    Report
        Kind ``monitor``, as :meth:`Monitor.check` returns.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from unskew.monitor import analyze
    >>> rng = np.random.default_rng(0)
    >>> def table(n, shift=0.0):
    ...     x = rng.normal(shift, 1, n)
    ...     return pd.DataFrame({"x": x, "s": rng.choice(["a", "b"], n), "y": (x > 0).astype(int),
    ...                          "p": (x > 0).astype(int)})
    >>> rep = analyze(table(2000), table(2000, shift=1.0), target="y", predictions="p", sensitive=["s"],
    ...               window="1000")
    >>> rep["feature_drift"].status in ("warn", "fail")
    True
    """
    from ._check import run_check

    if profile is None:
        if reference is None:
            raise UnskewInputError("analyze needs a reference table or a profile.")
        profile = build_profile(reference, target=target, predictions=predictions, sensitive=sensitive, scores=scores,
                                model=model, features=features, exclude=exclude)
    wins = window_aggregates(profile, current, window=window, timestamp=timestamp, target=current_target,
                             chunk_rows=chunk_rows)
    rep = run_check(_InMemory(profile, wins), "current", window=window, detectors=detectors, params=params,
                    store_alerts=False)
    rep.dataset["source"] = "in-memory current table"
    return rep


__all__ = ["analyze", "window_aggregates"]
