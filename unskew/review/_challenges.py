"""Red-team challenge sets written by reviewers: versioned cases exported in the format
``unskew evaluate --challenge`` reads (``id``, the model's input columns, ``expected``, ``tags``)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from ..exceptions import UnskewInputError
from ._trail import append

#: Columns of the challenge-set file itself; table columns with these names are left out of a set.
RESERVED = ("id", "expected", "tags", "rationale", "prediction", "predicted", "y_pred")


def create_set(store: Any, name: str, columns: list[str], label_column: str, *, actor: str,
               queue_id: int | None = None, exclude: list[str] | None = None):
    """A new, empty challenge set (version 0) over ``columns`` with expected labels for ``label_column``.

    The label column, the columns in ``exclude`` (a queue's row key) and the names the
    challenge-set file uses itself (:data:`RESERVED`) are left out.
    """
    from sqlalchemy import select

    from ..store._review import ChallengeSet

    name = (name or "").strip()
    if not name or len(name) > 200:
        raise UnskewInputError("name: give the challenge set a name (at most 200 characters).")
    skip = {label_column, *(exclude or []), *RESERVED}
    cols = [str(c) for c in columns if str(c) not in skip and str(c).lower() not in RESERVED]
    if not cols:
        raise UnskewInputError("columns: a challenge set needs at least one input column.")
    with store.session() as s:
        if s.execute(select(ChallengeSet).where(ChallengeSet.name == name)).first() is not None:
            raise UnskewInputError(f"name: a challenge set {name!r} exists already.")
        cs = ChallengeSet(name=name, columns=cols, label_column=label_column, version=0, queue_id=queue_id)
        s.add(cs)
        s.flush()
        append(s, actor, "challenge.create", {"set": cs.id, "name": name, "columns": cols, "label": label_column})
        return cs


def get_set(store: Any, set_id: int):
    from ..store._review import ChallengeSet

    with store.session() as s:
        cs = s.get(ChallengeSet, int(set_id))
    if cs is None:
        raise LookupError(f"challenge set {set_id}")
    return cs


def list_sets(store: Any) -> list:
    from sqlalchemy import select

    from ..store._review import ChallengeSet

    with store.session() as s:
        return s.execute(select(ChallengeSet).order_by(ChallengeSet.id)).scalars().all()


def add_case(store: Any, set_id: int, features: dict, expected: Any, *, tags: str = "", rationale: str = "",
             actor: str) -> dict:
    """Add a case; the set's version goes up by one. Every column of the set must be given."""
    from ..store._review import ChallengeCase, ChallengeSet

    with store.session() as s:
        cs = s.get(ChallengeSet, int(set_id))
        if cs is None:
            raise LookupError(f"challenge set {set_id}")
        missing = [c for c in cs.columns if c not in features or str(features[c]).strip() == ""]
        if missing:
            raise UnskewInputError(f"{missing[0]}: every column of the case needs a value (missing: {', '.join(missing[:5])}).")
        if expected is None or str(expected).strip() == "":
            raise UnskewInputError("expected: give the label the model should predict.")
        if len(str(rationale)) > 5000 or len(str(tags)) > 500:
            raise UnskewInputError("rationale: at most 5000 characters; tags: at most 500.")
        cs.version += 1
        c = ChallengeCase(set_id=cs.id, features={k: str(features[k]).strip() for k in cs.columns},
                          expected=str(expected).strip(), tags=str(tags or "").strip(),
                          rationale=str(rationale or "").strip(), author=actor, added_in=cs.version)
        s.add(c)
        s.flush()
        append(s, actor, "challenge.case", {"set": cs.id, "case": c.id, "version": cs.version,
                                            "features": c.features, "expected": c.expected, "tags": c.tags})
        return {"id": c.id, "version": cs.version}


def remove_case(store: Any, set_id: int, case_id: int, *, actor: str) -> int:
    """Drop a case from the next version (earlier versions keep it). Returns the new version."""
    from ..store._review import ChallengeCase, ChallengeSet

    with store.session() as s:
        cs = s.get(ChallengeSet, int(set_id))
        c = s.get(ChallengeCase, int(case_id))
        if cs is None or c is None or c.set_id != cs.id or c.removed_in is not None:
            raise LookupError(f"case {case_id}")
        cs.version += 1
        c.removed_in = cs.version
        append(s, actor, "challenge.remove_case", {"set": cs.id, "case": c.id, "version": cs.version})
        return cs.version


def cases(store: Any, set_id: int, version: int | None = None) -> list:
    """The cases of a version (default: the latest)."""
    from sqlalchemy import or_, select

    from ..store._review import ChallengeCase

    cs = get_set(store, set_id)
    v = cs.version if version is None else int(version)
    if not 0 <= v <= cs.version:
        raise UnskewInputError(f"version: challenge set {cs.name!r} has versions 0..{cs.version}, not {version}.")
    with store.session() as s:
        return s.execute(select(ChallengeCase).where(
            ChallengeCase.set_id == cs.id, ChallengeCase.added_in <= v,
            or_(ChallengeCase.removed_in.is_(None), ChallengeCase.removed_in > v)).order_by(ChallengeCase.id)).scalars().all()


def export_set(store: Any, set_id: int, version: int | None = None) -> pd.DataFrame:
    """The cases as the table ``unskew evaluate --challenge`` reads, with column types inferred as
    from a CSV: ``id, <columns...>, expected, tags, rationale``."""
    cs = get_set(store, set_id)
    rows = [{"id": f"case-{c.id}", **c.features, "expected": c.expected, "tags": c.tags, "rationale": c.rationale}
            for c in cases(store, set_id, version)]
    frame = pd.DataFrame(rows, columns=["id", *cs.columns, "expected", "tags", "rationale"])
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), keep_default_na=False, na_values=[""]) if rows else frame


def run_set(store: Any, set_id: int, model: Any, version: int | None = None):
    """Run a version of the set against a model; returns :class:`unskew.metrics.ChallengeResult`."""
    from ..metrics._challenge import run_challenge_set

    frame = export_set(store, set_id, version)
    if frame.empty:
        raise UnskewInputError("The challenge set has no cases yet.")
    cs = get_set(store, set_id)
    frame["expected"] = frame["expected"].astype(str)
    res = run_challenge_set(frame.drop(columns=["rationale"]), model=model, features=cs.columns)
    return res
