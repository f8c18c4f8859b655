"""Applying review decisions to a table: relabel, remove, and say what changed."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..data._io import load_table
from ..exceptions import UnskewInputError

#: Columns of a decisions file, in the order ``unskew review export`` writes them.
DECISION_COLUMNS = ["item_id", "row_key", "action", "new_label", "reviewer", "decided_at", "comment"]
#: Optional column naming the label column a relabel applies to.
LABEL_COLUMN = "label_column"
ACTIONS = ("keep", "relabel", "remove", "escalate", "skip")
#: Column added to the cleaned table: the action applied to the row ("" when none).
CHANGE_COLUMN = "review_action"
#: Column added to the cleaned table: the label before a relabel (missing otherwise).
ORIGINAL_COLUMN = "review_original_label"


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()) or v is pd.NA


def _key_str(v: Any) -> str:
    """Canonical text of a row key (``3``, ``3.0`` and ``"3"`` are the same row)."""
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    s = str(v).strip()
    try:
        f = float(s)
    except ValueError:
        return s
    return str(int(f)) if f.is_integer() and re.fullmatch(r"[+-]?\d+(\.0*)?", s) else s
    return s


def _cast_label(value: Any, column: pd.Series, label_column: str) -> Any:
    """The new label in the dtype of the label column."""
    if pd.api.types.is_bool_dtype(column):
        s = str(value).strip().lower()
        if s in ("true", "1", "yes"):
            return True
        if s in ("false", "0", "no"):
            return False
    elif pd.api.types.is_integer_dtype(column):
        try:
            f = float(value)
        except (TypeError, ValueError):
            f = None
        if f is not None and f.is_integer():
            return int(f)
    elif pd.api.types.is_float_dtype(column):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    else:
        return value if isinstance(value, str) else str(value) if not isinstance(value, (int, float)) else _key_str(value)
    raise UnskewInputError(
        f"new_label {value!r} cannot be stored in the label column {label_column!r} "
        f"(dtype {column.dtype}); give a value of that type."
    )


def apply_decisions(
    table: Any,
    decisions: Any,
    key: str | None = None,
    *,
    target: str | None = None,
    keep_removed: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Relabel and remove the rows of ``table`` that review decisions name.

    Parameters
    ----------
    table : path or DataFrame
        The data the review items were imported from.
    decisions : path or DataFrame
        Columns ``item_id, row_key, action, new_label, reviewer, decided_at,
        comment`` (as ``unskew review export`` writes), optionally
        ``label_column``. ``action`` is one of keep, relabel, remove, escalate,
        skip. When a row has several decisions the last one (by ``decided_at``,
        then file order) wins; rows whose decisions disagree are reported as
        conflicts.
    key : str, optional
        Column of ``table`` that ``row_key`` refers to. By default ``row_key``
        is the 0-based row position in ``table``.
    target : str, optional
        Label column that relabels change; by default the ``label_column`` of
        the decisions file.
    keep_removed : bool, default False
        Keep removed rows in the output (marked ``remove``) instead of dropping them.

    Returns
    -------
    cleaned : pandas.DataFrame
        ``table`` with relabels applied and removed rows dropped, plus the
        columns ``review_action`` (the applied action, "" for rows without a
        decision) and ``review_original_label`` (the label before a relabel).
    summary : dict
        ``rows_in, rows_out, decisions, rows_decided, relabelled, removed,
        kept, escalated, skipped, unchanged_relabels, conflicts`` (a list of
        ``{row_key, actions}``) and ``label_column``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]})
    >>> d = pd.DataFrame({"item_id": [1, 2], "row_key": [0, 2], "action": ["relabel", "remove"],
    ...                   "new_label": ["b", None], "reviewer": ["ann", "ann"],
    ...                   "decided_at": ["2026-01-01T00:00:00", "2026-01-01T00:01:00"],
    ...                   "comment": ["", ""], "label_column": ["y", "y"]})
    >>> cleaned, summary = apply_decisions(t, d)
    >>> cleaned["y"].tolist(), summary["relabelled"], summary["removed"]
    (['b', 'b'], 1, 1)
    """
    frame, source = load_table(table)
    frame = frame.copy()
    dec, dsource = load_table(decisions)
    dec = dec.copy()
    missing = [c for c in ("row_key", "action") if c not in dec.columns]
    if missing:
        raise UnskewInputError(
            f"The decisions table {dsource} lacks the column(s) {', '.join(missing)}; it needs "
            f"{', '.join(DECISION_COLUMNS)} (as `unskew review export` writes)."
        )
    for c in DECISION_COLUMNS:
        if c not in dec.columns:
            dec[c] = None
    for col in (CHANGE_COLUMN, ORIGINAL_COLUMN):
        if col in frame.columns:
            raise UnskewInputError(
                f"The table {source} already has a column {col!r}; decisions were applied to it "
                f"before. Apply them to the original table."
            )
    actions = dec["action"].astype("string").str.strip().str.lower()
    bad = actions.isna() | ~actions.isin(ACTIONS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise UnskewInputError(
            f"Column 'action' of {dsource}, line {i + 2}: {dec['action'].iloc[i]!r} is not an action; "
            f"use one of {', '.join(ACTIONS)}."
        )
    dec["action"] = actions.to_numpy(dtype=object)
    if dec["row_key"].isna().any():
        i = int(np.flatnonzero(dec["row_key"].isna().to_numpy())[0])
        raise UnskewInputError(f"Column 'row_key' of {dsource}, line {i + 2}, is empty; every decision names its row.")

    # Which row each decision names.
    if key is None:
        n = len(frame)
        pos_of = {str(i): i for i in range(n)}
    else:
        if key not in frame.columns:
            raise UnskewInputError(
                f"The key column {key!r} is not in {source}; columns: {', '.join(map(str, frame.columns[:20]))}."
            )
        keys = frame[key].map(_key_str)
        dup = keys[keys.duplicated()]
        if len(dup):
            raise UnskewInputError(
                f"The key column {key!r} of {source} has duplicate value {dup.iloc[0]!r}; a key must name one row."
            )
        pos_of = {k: i for i, k in enumerate(keys)}
    dec["_key"] = dec["row_key"].map(_key_str)
    unknown = dec.loc[~dec["_key"].isin(pos_of.keys()), "row_key"]
    if len(unknown):
        where = f"in column {key!r}" if key else f"(row positions 0..{len(frame) - 1})"
        raise UnskewInputError(
            f"Column 'row_key' of {dsource}: {_key_str(unknown.iloc[0])!r} names no row of {source} {where}. "
            f"Apply the decisions to the table they were made on" + ("" if key else ", or pass --key COLUMN") + "."
        )
    # Label column for relabels.
    label_column = target
    if label_column is None and LABEL_COLUMN in dec.columns:
        vals = dec[LABEL_COLUMN].dropna().astype(str).unique()
        if len(vals) > 1:
            raise UnskewInputError(
                f"Column {LABEL_COLUMN!r} of {dsource} names several label columns ({', '.join(vals)}); "
                f"apply one label column at a time (--target)."
            )
        label_column = vals[0] if len(vals) else None
    relabels = dec["action"] == "relabel"
    if relabels.any():
        if label_column is None:
            raise UnskewInputError(
                f"{dsource} relabels rows but names no label column; pass --target COLUMN "
                f"(or a '{LABEL_COLUMN}' column)."
            )
        if label_column not in frame.columns:
            raise UnskewInputError(f"The label column {label_column!r} is not in {source}.")
        empty = relabels & dec["new_label"].map(_blank)
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise UnskewInputError(
                f"Column 'new_label' of {dsource}, line {i + 2}: a relabel needs a new label (row_key "
                f"{dec['row_key'].iloc[i]!r})."
            )

    # Last decision per row wins: by decided_at when given, then file order.
    dec["_order"] = np.arange(len(dec))
    ts = pd.to_datetime(dec["decided_at"], errors="coerce", utc=True, format="mixed")
    if dec["decided_at"].notna().any() and ts[dec["decided_at"].notna()].isna().any():
        i = int(np.flatnonzero((dec["decided_at"].notna() & ts.isna()).to_numpy())[0])
        raise UnskewInputError(
            f"Column 'decided_at' of {dsource}, line {i + 2}: {dec['decided_at'].iloc[i]!r} is not a time "
            f"(use ISO 8601, e.g. 2026-01-31T12:00:00Z)."
        )
    dec["_ts"] = ts
    dec = dec.sort_values(["_ts", "_order"], kind="stable", na_position="first")
    conflicts = []
    final: dict[str, pd.Series] = {}
    for k, g in dec.groupby("_key", sort=False):
        sig = {(a, None if a != "relabel" else _key_str(lab)) for a, lab in zip(g["action"], g["new_label"], strict=True)
               if a not in ("skip",)}
        if len(sig) > 1:
            conflicts.append({"row_key": k, "actions": [
                f"{a}:{_key_str(lab)}" if a == "relabel" else a for a, lab in zip(g["action"], g["new_label"], strict=True)]})
        final[k] = g.iloc[-1]

    change = np.array([""] * len(frame), dtype=object)
    original = pd.Series([None] * len(frame), dtype=object, index=frame.index)
    counts = dict.fromkeys(ACTIONS, 0)
    unchanged = 0
    remove_mask = np.zeros(len(frame), dtype=bool)
    for k, d in final.items():
        pos = pos_of[k]
        act = d["action"]
        counts[act] += 1
        if act == "relabel":
            col = frame[label_column]
            new = _cast_label(d["new_label"], col, label_column)
            old = col.iloc[pos]
            if _key_str(old) == _key_str(new):
                unchanged += 1
                change[pos] = "keep"
                continue
            original.iloc[pos] = old
            frame.iloc[pos, frame.columns.get_loc(label_column)] = new
            change[pos] = "relabel"
        elif act == "remove":
            remove_mask[pos] = True
            change[pos] = "remove"
        else:
            change[pos] = act
    frame[CHANGE_COLUMN] = change
    frame[ORIGINAL_COLUMN] = original
    cleaned = frame if keep_removed else frame.loc[~remove_mask]
    summary = {
        "rows_in": int(len(frame)),
        "rows_out": int(len(cleaned)),
        "decisions": int(len(dec)),
        "rows_decided": int(len(final)),
        "relabelled": int(counts["relabel"] - unchanged),
        "unchanged_relabels": int(unchanged),
        "removed": int(counts["remove"]),
        "kept": int(counts["keep"]),
        "escalated": int(counts["escalate"]),
        "skipped": int(counts["skip"]),
        "conflicts": conflicts,
        "label_column": label_column,
    }
    return cleaned.reset_index(drop=True) if not keep_removed else cleaned, summary
