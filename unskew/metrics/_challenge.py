"""Challenge sets: hand-written cases with expected labels and tags."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ._models import model_features, predict_with

UNTAGGED = "(untagged)"
ALL = "(all)"
_PRED_COLUMNS = ("prediction", "predicted", "y_pred")


@dataclass
class ChallengeResult:
    """Outcome of :func:`run_challenge_set`.

    Attributes
    ----------
    cases : pandas.DataFrame
        ``id, tags, expected, predicted, passed`` per case.
    by_tag : pandas.DataFrame
        ``tag, n, n_passed, pass_rate, failing`` (ids of failing cases, at most
        ``max_listed``), with an ``(all)`` row first.
    """

    cases: pd.DataFrame
    by_tag: pd.DataFrame

    @property
    def n_failed(self) -> int:
        return int((~self.cases["passed"]).sum())


def load_challenge_set(source: Any) -> pd.DataFrame:
    """Read cases from a DataFrame, a CSV/Parquet file, a JSON list of objects
    (or ``{"cases": [...]}``) or a JSON-lines file."""
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise UnskewInputError(f"Challenge file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson"):
        text = path.read_text(encoding="utf-8")
        try:
            if suffix == ".json":
                data = json.loads(text)
                if isinstance(data, dict):
                    data = data.get("cases")
            else:
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UnskewInputError(f"Challenge file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise UnskewInputError(
                f"Challenge file {path} must hold a list of cases (objects), or {{\"cases\": [...]}}."
            )
        return pd.DataFrame(data)
    from ..data import load_table

    frame, _ = load_table(path)
    return frame


def _norm(v: Any) -> str:
    """Labels compared as text: 1, 1.0, "1" and True are the same label."""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    s = str(v).strip()
    low = s.lower()
    if low in ("true", "false"):
        return "1" if low == "true" else "0"
    try:
        f = float(s)
        return str(int(f)) if f.is_integer() else repr(f)
    except ValueError:
        return s


def _split_tags(v: Any) -> list[str]:
    if isinstance(v, (list, tuple, np.ndarray)):
        tags = [str(t).strip() for t in v]
    elif v is None or (isinstance(v, float) and np.isnan(v)):
        tags = []
    else:
        tags = [t.strip() for t in re.split(r"[;,|]", str(v))]
    return [t for t in tags if t] or [UNTAGGED]


def run_challenge_set(
    cases: Any,
    *,
    model: Any = None,
    features: Sequence[str] | None = None,
    expected: str = "expected",
    tags: str = "tags",
    id_column: str = "id",
    pos_label: Any = None,
    max_listed: int = 20,
) -> ChallengeResult:
    """Run a challenge set: predict each case and compare with its expected label.

    Parameters
    ----------
    cases : DataFrame or path
        Cases with the model's input columns, an ``expected`` column, optional
        ``tags`` (a list, or text separated by ``;``, ``,`` or ``|``) and an
        optional ``id``. Without ``model`` a ``prediction`` column is used.
    model : object, optional
        A model with ``predict``.
    features : list of str, optional
        Input columns (default: the model's ``feature_names_in_`` or every
        other column).

    Returns
    -------
    ChallengeResult
    """
    frame = load_challenge_set(cases)
    if len(frame) == 0:
        raise UnskewInputError("The challenge set has no cases.")
    if expected not in frame.columns:
        raise UnskewInputError(
            f"The challenge set needs a column {expected!r} with each case's expected label; "
            f"it has {list(frame.columns)[:20]}."
        )
    if frame[expected].isna().any():
        bad = frame.index[frame[expected].isna()].tolist()[:10]
        raise UnskewInputError(f"Challenge cases at rows {bad} have no expected label.")
    ids = frame[id_column].astype(str).to_numpy() if id_column in frame.columns else \
        np.array([str(i) for i in range(len(frame))])
    if model is not None:
        exclude = [expected, tags, id_column, *_PRED_COLUMNS]
        cols = model_features(model, frame, exclude, features)
        predicted, _ = predict_with(model, frame[cols], pos_label)
    else:
        col = next((c for c in _PRED_COLUMNS if c in frame.columns), None)
        if col is None:
            raise UnskewInputError(
                "The challenge set has no 'prediction' column and no model was given; pass --model "
                "(model= in Python) or add each case's prediction."
            )
        predicted = frame[col].to_numpy()
    exp = frame[expected].to_numpy()
    passed = np.array([_norm(a) == _norm(b) for a, b in zip(exp, predicted, strict=True)])
    tag_lists = [_split_tags(v) for v in (frame[tags] if tags in frame.columns else [None] * len(frame))]
    case_frame = pd.DataFrame({"id": ids, "tags": [", ".join(t) for t in tag_lists], "expected": exp,
                               "predicted": predicted, "passed": passed})
    rows = []
    order = [ALL] + sorted({t for ts in tag_lists for t in ts})
    for tag in order:
        m = np.ones(len(frame), bool) if tag == ALL else np.array([tag in ts for ts in tag_lists])
        n = int(m.sum())
        ok = int(passed[m].sum())
        rows.append({"tag": tag, "n": n, "n_passed": ok, "pass_rate": ok / n if n else np.nan,
                     "failing": list(ids[m & ~passed][:max_listed])})
    return ChallengeResult(cases=case_frame, by_tag=pd.DataFrame(rows))
