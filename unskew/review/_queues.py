"""Review queues: importing flagged rows into items, ordering them, decisions, adjudication, export.

Every change here happens in one transaction together with its audit-trail entry.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ._apply import ACTIONS, DECISION_COLUMNS, LABEL_COLUMN
from ._trail import append

#: Audit checks whose flagged rows become review items.
ROW_CHECKS = ("label_quality", "outliers", "duplicates")
#: Actions that count as a review (skip only moves the item to the back of the reviewer's queue).
REVIEW_ACTIONS = ("keep", "relabel", "remove", "escalate")
N_NEIGHBOURS = 5
_ROW_ID = "__unskew_row__"


def jsonable(v: Any) -> Any:
    """A JSON-safe Python value (NaN and NaT become None)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [jsonable(x) for x in v]
    if isinstance(v, str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _row_dict(frame: pd.DataFrame, pos: int) -> dict:
    return {str(c): jsonable(v) for c, v in frame.iloc[pos].items()}


def _label_text(v: Any) -> str | None:
    v = jsonable(v)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


# ---------------------------------------------------------------------------- reading reports
def _read_report(report: Any) -> tuple[str, Any]:
    """(kind, content): an audit or slices JSON report, or a debias ``--removed`` CSV."""
    if isinstance(report, dict):
        return report.get("kind", ""), report
    if isinstance(report, pd.DataFrame):
        return "debias", report
    path = Path(report)
    if not path.exists():
        raise UnskewInputError(f"Report file not found: {path}")
    if path.suffix.lower() == ".json":
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UnskewInputError(f"{path} is not valid JSON ({exc}); give the file `--json` wrote.") from None
        if not isinstance(content, dict) or content.get("tool") != "unskew":
            raise UnskewInputError(f"{path} is not an unskew report (no \"tool\": \"unskew\").")
        return content.get("kind", ""), content
    from ..data._io import load_table

    frame, _ = load_table(path)
    if "row" not in frame.columns:
        raise UnskewInputError(
            f"{path} is neither a JSON report nor a debias --removed file (which has a 'row' column)."
        )
    return "debias", frame


def _group_labels(frame: pd.DataFrame, sensitive: list[str]) -> np.ndarray:
    if not sensitive:
        return np.array(["(all rows)"] * len(frame), dtype=object)
    parts = [frame[c].astype("string").fillna("(missing)") for c in sensitive]
    out = parts[0].radd(f"{sensitive[0]}=")
    for c, p in zip(sensitive[1:], parts[1:], strict=True):
        out = out + f" & {c}=" + p
    return out.to_numpy(dtype=object)


def _flags_from_audit(frame: pd.DataFrame, content: dict, source: str, random_state=None) -> tuple[dict, dict]:
    """Re-run the audit's row-level checks on the table with the report's settings.

    Returns ``({position: [reason, ...]}, meta)``. The report JSON keeps only a capped sample
    of flagged rows, so the checks are run again (same target, sensitive columns, features,
    column types and seed) and the rows are tied back to positions in ``frame``.
    """
    from ..audit import run_checks
    from ..audit._base import AuditContext
    from ..data import Dataset

    ds_info = content.get("dataset", {})
    params = content.get("parameters", {})
    ran = {c["name"]: c for c in content.get("checks", [])}
    todo = [c for c in ROW_CHECKS if c in ran and ran[c].get("status") not in ("skipped", "error")]
    if not todo:
        raise UnskewInputError(
            f"The audit report has none of the row-level checks {', '.join(ROW_CHECKS)} (or they were "
            f"skipped); run `unskew audit` with them, e.g. --checks label_quality,outliers,duplicates."
        )
    target = ds_info.get("target")
    sensitive = list(ds_info.get("sensitive") or [])
    work = frame.copy()
    work[_ROW_ID] = np.arange(len(frame))
    features = [f for f in ds_info.get("features") or [] if f in frame.columns] or None
    ctypes = {k: v for k, v in (ds_info.get("column_types") or {}).items() if k in frame.columns}
    ds = Dataset.from_data(work, target=target, sensitive=sensitive, features=features,
                           column_types=ctypes or None, ignore=[_ROW_ID])
    if ds_info.get("n_rows") is not None and len(ds) != ds_info["n_rows"]:
        raise UnskewInputError(
            f"{source} gives {len(ds):,} rows to analyse but the report analysed {ds_info['n_rows']:,}; "
            f"import the table the report was made from (with the same --na-values)."
        )
    seed = params.get("random_state", 0) if random_state is None else random_state
    ctx = AuditContext(random_state=seed)
    results = {r.name: r for r in run_checks(ds, todo, ctx=ctx)}
    pos = ds.frame[_ROW_ID].to_numpy()
    groups = _group_labels(ds.frame, sensitive)
    flags: dict[int, list] = {}
    predicted: dict[int, Any] = {}

    def add(mask, check, score_name, scores, severity):
        mask = np.asarray(mask, dtype=bool)
        for i in np.flatnonzero(mask):
            flags.setdefault(int(pos[i]), []).append({
                "check": check, "score_name": score_name, "score": jsonable(scores[i]),
                "severity": float(np.clip(severity[i], 0, 1)), "group": groups[i]})
        return mask

    masks = {}
    lq = results.get("label_quality")
    if lq is not None and isinstance(lq.scores, pd.DataFrame):
        sc = lq.scores
        q = sc["label_quality"].to_numpy(float)
        masks["label_quality"] = add(sc["is_label_issue"].to_numpy(bool), "label_quality", "label_quality",
                                     q, 1.0 - q)
        for i in np.flatnonzero(masks["label_quality"]):
            predicted[int(pos[i])] = _label_text(sc["predicted_label"].iloc[i])
    out = results.get("outliers")
    if out is not None and isinstance(out.scores, pd.DataFrame):
        sc = out.scores
        s = sc["outlier_score"].to_numpy(float)
        rank = pd.Series(s).rank(pct=True).to_numpy()
        masks["outliers"] = add(sc["is_outlier"].to_numpy(bool), "outliers", "outlier_score", s, rank)
    dup = results.get("duplicates")
    if dup is not None and dup.scores is not None and target:
        size = np.asarray(dup.scores, dtype=float)
        key_cols = [c for c in dict.fromkeys([*ds.sensitive, *ds.features]) if c not in (_ROW_ID, target)]
        in_dup = size > 1
        conflict = np.zeros(len(ds), dtype=bool)
        if in_dup.any():
            sub = ds.frame.loc[in_dup, key_cols + [target]].astype("string").fillna("\x00")
            n_labels = sub.groupby(key_cols, dropna=False)[target].transform("nunique")
            conflict[np.flatnonzero(in_dup)] = n_labels.to_numpy() > 1
        masks["duplicates"] = add(conflict, "duplicates", "identical_rows", size, np.ones(len(ds)))
    # Each group's rate of flagged rows, and the overall rate, for the priority.
    any_flag = np.zeros(len(ds), dtype=bool)
    for m in masks.values():
        any_flag |= m
    g = pd.Series(groups)
    rate = pd.Series(any_flag).groupby(g).mean().to_dict()
    overall = float(any_flag.mean()) if len(ds) else 0.0
    meta = {"target": target, "sensitive": sensitive, "checks": todo, "group_rate": rate,
            "overall_rate": overall, "predicted": predicted,
            "flagged": {k: int(m.sum()) for k, m in masks.items()}, "rows_analysed": len(ds),
            "features": ds.features}
    return flags, meta


def _level_mask(frame: pd.DataFrame, cond: dict) -> np.ndarray:
    col = cond["feature"]
    if col not in frame.columns:
        raise UnskewInputError(f"The slices report names the column {col!r}, which the table lacks.")
    s = frame[col]
    kind = cond.get("kind")
    if kind == "missing":
        return s.isna().to_numpy()
    if kind == "value":
        v = cond.get("value")
        return (s.astype("string") == str(_label_text(v) if isinstance(v, float) else v)).fillna(False).to_numpy(bool)
    if kind == "bin":
        lo, hi = cond.get("low"), cond.get("high")
        x = pd.to_datetime(s, errors="coerce") if isinstance(lo or hi, str) else pd.to_numeric(s, errors="coerce")
        if isinstance(lo or hi, str):
            lo = pd.Timestamp(lo) if lo is not None else None
            hi = pd.Timestamp(hi) if hi is not None else None
        m = x.notna()
        if lo is not None:
            m &= x > lo
        if hi is not None:
            m &= x <= hi
        return m.fillna(False).to_numpy(bool)
    raise UnskewInputError(
        f"Slice condition {cond.get('text', cond)!r} (kind {kind!r}) cannot be matched to rows; only value, bin "
        f"and missing conditions can."
    )


# ---------------------------------------------------------------------------- neighbours
def _neighbours(frame: pd.DataFrame, features: list[str], positions: list[int], label: str | None,
                k: int = N_NEIGHBOURS) -> dict[int, list]:
    """The ``k`` nearest other rows of each flagged row, in the shared tabular encoding
    (:func:`unskew.data._encoding.tabular_encoder`: standardised numbers, one-hot categories)."""
    from sklearn.neighbors import NearestNeighbors

    feats = [f for f in features if f in frame.columns and f != label]
    if not feats or not positions or len(frame) < 2:
        return {}
    from ..data._encoding import tabular_encoder

    try:
        X = tabular_encoder(frame, feats, min_frequency=5).fit_transform(frame[feats])
    except UnskewInputError:
        return {}  # no numeric or categorical column to measure distance on
    nn = NearestNeighbors(n_neighbors=min(k + 1, len(frame))).fit(X)
    dist, idx = nn.kneighbors(X[positions])
    out = {}
    for p, d, ix in zip(positions, dist, idx, strict=True):
        rows = [(int(j), float(dd)) for j, dd in zip(ix, d, strict=True) if int(j) != p][:k]
        out[p] = [{"row_key": str(j), "distance": round(dd, 4),
                   "label": _label_text(frame[label].iloc[j]) if label else None,
                   "row": _row_dict(frame[feats + ([label] if label else [])], j)} for j, dd in rows]
    return out


# ---------------------------------------------------------------------------- import
def import_report(
    store: Any,
    data: Any,
    report: Any,
    *,
    queue: str | None = None,
    reviews_required: int = 1,
    key: str | None = None,
    predictions: str | None = None,
    target: str | None = None,
    sensitive: list[str] | None = None,
    image_column: str | None = None,
    actor: str = "cli",
    na_values: list[str] | None = None,
    random_state: int | None = None,
) -> dict:
    """Turn the flagged rows of a report into review items of a (new or existing) queue.

    Parameters
    ----------
    store : Store
        From :func:`unskew.store.open_store`.
    data : path or DataFrame
        The table the report was made from.
    report : path or dict
        An ``unskew audit`` JSON report (label quality, outliers and conflicting duplicates
        become one item per row, every reason kept), an ``unskew slices`` JSON report (one item
        per slice, holding its rows), or the ``--removed`` CSV of ``unskew debias`` (one item
        per removed row).
    queue : str, optional
        Queue name (default: the report's file name). Importing again into a queue adds only
        rows it does not hold yet.
    reviews_required : int, default 1
        Independent (blind) reviews each item needs before it is decided; disagreeing
        reviews go to adjudication.
    key : str, optional
        Column identifying rows (default: row position in ``data``).
    predictions : str, optional
        Column with the model's prediction shown beside each row (label quality's
        cross-validated prediction is used when there is none).

    Returns
    -------
    dict
        ``queue_id, queue, source, items_added, items_existing, flagged`` (per check) and ``rows``.

    Notes
    -----
    Items are ordered by expected harm to the worst-off group: ``priority = severity x
    (group's rate of flagged rows / overall rate)``, where severity in [0, 1] is ``1 - label
    quality`` for a suspected label error, the percentile of the outlier score for an outlier,
    1 for a conflicting duplicate, the error ratio share for a slice and the removal score's
    rank in the removed file (most harmful first) for a D3M removal. A row flagged by several checks takes the largest.
    """
    from sqlalchemy import select

    from ..data._io import load_table
    from ..store._review import ReviewItem, ReviewQueue

    if reviews_required < 1:
        raise UnskewInputError(f"--reviews must be at least 1, got {reviews_required}.")
    frame, source = load_table(data, na_values=na_values)
    frame = frame.reset_index(drop=True)
    for c, opt in ((key, "--key"), (predictions, "--predictions"), (image_column, "--image-column")):
        if c is not None and c not in frame.columns:
            raise UnskewInputError(f"{opt} {c!r} is not a column of {source}.")
    if key is not None and frame[key].duplicated().any():
        raise UnskewInputError(f"The key column {key!r} of {source} has duplicate values; a key must name one row.")
    kind, content = _read_report(report)
    qname = queue or (Path(report).stem if isinstance(report, (str, Path)) else f"{kind}-import")
    items: list[dict] = []
    label = target
    sens = list(sensitive or [])
    info: dict = {"report": str(report) if isinstance(report, (str, Path)) else kind}
    if kind == "audit":
        flags, meta = _flags_from_audit(frame, content, source, random_state)
        label = label or meta["target"]
        sens = sens or meta["sensitive"]
        overall = meta["overall_rate"] or 1.0
        for p, reasons in flags.items():
            grate = meta["group_rate"].get(reasons[0]["group"], 0.0)
            for r in reasons:
                r["group_rate"] = float(grate)
                r["overall_rate"] = float(meta["overall_rate"])
            sev = max(r["severity"] for r in reasons)
            items.append({"pos": p, "kind": "row", "reasons": reasons, "priority": sev * grate / overall,
                          "prediction": meta["predicted"].get(p)})
        info.update(flagged=meta["flagged"], rows_analysed=meta["rows_analysed"])
        features = meta["features"]
    elif kind == "slices":
        features = [c for c in frame.columns if c != label]
        checks = [c for c in content.get("checks", []) if isinstance(c.get("summary"), dict)
                  and c["summary"].get("slices")]
        if not checks:
            raise UnskewInputError("The slices report lists no slices; nothing to review.")
        label = label or content.get("dataset", {}).get("target")
        slices = checks[0]["summary"]["slices"]
        worst = max((s.get("error_ratio") or 0.0) for s in slices) or 1.0
        for n, s in enumerate(slices):
            conds = s.get("conditions") or []
            if not conds:
                continue
            mask = np.ones(len(frame), dtype=bool)
            for c in conds:
                mask &= _level_mask(frame, c)
            rows = np.flatnonzero(mask)
            if s.get("size") is not None and len(rows) != int(s["size"]):
                raise UnskewInputError(
                    f"Slice {s.get('slice')!r} has {s['size']:,} rows in the report but {len(rows):,} in {source}; "
                    f"import the table the slices report was made from."
                )
            ratio = s.get("error_ratio") or 0.0
            items.append({"pos": None, "kind": "slice", "row_key": f"slice:{n + 1}",
                          "row": {"slice": s.get("slice"), "size": s.get("size"), "error": s.get("error"),
                                  "error_rest": s.get("error_rest"), "error_ratio": ratio,
                                  "p_adjusted": s.get("p_adjusted")},
                          "reasons": [{"check": "slices", "score_name": "error_ratio", "score": jsonable(ratio),
                                       "severity": float(ratio / worst), "group": s.get("slice"),
                                       "group_rate": jsonable(s.get("error")),
                                       "overall_rate": jsonable(s.get("error_rest"))}],
                          "rows": [int(r) for r in rows], "priority": float(ratio / worst) * float(ratio)})
    elif kind == "debias":
        removed = content
        features = [c for c in frame.columns if c != label]
        shared = [c for c in frame.columns if c in removed.columns and c != "row"]
        score_col = next((c for c in ("score", "influence", "removal_score") if c in removed.columns), None)
        sc = removed[score_col].to_numpy(float) if score_col else np.ones(len(removed))
        # the removed file lists the most harmful rows first
        pct = 1.0 - np.arange(len(removed)) / max(len(removed), 1)
        for i in range(len(removed)):
            p = int(removed["row"].iloc[i])
            if not 0 <= p < len(frame):
                raise UnskewInputError(f"The removed rows name row {p}, but {source} has {len(frame):,} rows.")
            for c in shared[:5]:
                a, b = _label_text(frame[c].iloc[p]), _label_text(removed[c].iloc[i])
                if a != b:
                    raise UnskewInputError(
                        f"Removed row {p}: column {c!r} is {b!r} in the removed file but {a!r} in {source}; "
                        f"import the table `unskew debias` was run on."
                    )
            items.append({"pos": p, "kind": "row", "priority": float(pct[i]), "prediction": None,
                          "reasons": [{"check": "d3m_removal", "score_name": score_col or "removed",
                                       "score": jsonable(sc[i]), "severity": float(pct[i]),
                                       "group": None, "group_rate": None, "overall_rate": None}]})
    else:
        raise UnskewInputError(
            f"Cannot import a report of kind {kind!r}; give an audit or slices JSON report or a debias --removed CSV."
        )
    classes = []
    if label and label in frame.columns:
        classes = sorted({t for t in (_label_text(v) for v in frame[label].unique()) if t is not None})
    positions = [it["pos"] for it in items if it["pos"] is not None]
    neigh = _neighbours(frame, features, positions, label)
    items.sort(key=lambda it: (-it["priority"], it["pos"] if it["pos"] is not None else -1))
    if image_column:
        base = Path(data).resolve().parent if isinstance(data, (str, Path)) else Path.cwd()
        info["image_column"], info["image_root"] = image_column, str(base)

    with store.session() as s:
        q = s.execute(select(ReviewQueue).where(ReviewQueue.name == qname)).scalar_one_or_none()
        if q is None:
            q = ReviewQueue(name=qname, source=kind, data_source=source, label_column=label, key_column=key,
                            reviews_required=reviews_required, columns=[str(c) for c in frame.columns],
                            classes=classes, info={**info, "sensitive": sens})
            s.add(q)
            s.flush()
        elif q.source != kind:
            raise UnskewInputError(f"Queue {qname!r} holds {q.source} items; import this {kind} report into another --queue.")
        existing = set(s.execute(select(ReviewItem.row_key).where(ReviewItem.queue_id == q.id)).scalars())
        start = (s.execute(select(ReviewItem.position).where(ReviewItem.queue_id == q.id)
                           .order_by(ReviewItem.position.desc()).limit(1)).scalar() or 0)
        added = 0
        for n, it in enumerate(items):
            if it["kind"] == "row":
                p = it["pos"]
                rk = _label_text(frame[key].iloc[p]) if key else str(p)
                row = _row_dict(frame, p)
                lab = _label_text(frame[label].iloc[p]) if label and label in frame.columns else None
                pred = _label_text(frame[predictions].iloc[p]) if predictions else it.get("prediction")
                reason = {"flags": it["reasons"], "neighbours": neigh.get(p, []), "position": p}
            else:
                rk, row, lab, pred = it["row_key"], it["row"], None, None
                sample = it["rows"][:20]
                reason = {"flags": it["reasons"], "rows": it["rows"],
                          "sample": [_row_dict(frame, j) for j in sample],
                          "row_keys": [(_label_text(frame[key].iloc[j]) if key else str(j)) for j in it["rows"]]}
            if rk in existing:
                continue
            s.add(ReviewItem(queue_id=q.id, kind=it["kind"], row_key=rk, row=row, reason=jsonable(reason),
                             label=lab, prediction=pred, priority=float(it["priority"]),
                             position=start + n + 1, status="open"))
            added += 1
        summary = {"queue_id": q.id, "queue": qname, "source": kind, "items_added": added,
                   "items_existing": len(items) - added, "rows": len(frame), "flagged": info.get("flagged")}
        append(s, actor, "import", {"queue": qname, "queue_id": q.id, "data": source, "report": info["report"],
                                    "items_added": added, "reviews_required": q.reviews_required})
    return summary


# ---------------------------------------------------------------------------- reading queues
def list_queues(store: Any) -> list[dict]:
    """``[{id, name, source, items, open, disputed, done, reviews_required}]``."""
    from sqlalchemy import func, select

    from ..store._review import ReviewItem, ReviewQueue

    with store.session() as s:
        qs = s.execute(select(ReviewQueue).order_by(ReviewQueue.id)).scalars().all()
        counts = s.execute(select(ReviewItem.queue_id, ReviewItem.status, func.count())
                           .group_by(ReviewItem.queue_id, ReviewItem.status)).all()
    by: dict = {}
    for qid, st, n in counts:
        by.setdefault(qid, {})[st] = n
    return [{"id": q.id, "name": q.name, "source": q.source, "reviews_required": q.reviews_required,
             "items": sum(by.get(q.id, {}).values()), "open": by.get(q.id, {}).get("open", 0),
             "disputed": by.get(q.id, {}).get("disputed", 0),
             "done": by.get(q.id, {}).get("done", 0) + by.get(q.id, {}).get("adjudicated", 0)} for q in qs]


def get_queue(store: Any, queue_id: int):
    from ..store._review import ReviewQueue

    with store.session() as s:
        q = s.get(ReviewQueue, int(queue_id))
    if q is None:
        raise LookupError(f"queue {queue_id}")
    return q


def item_dict(item, queue=None) -> dict:
    d = {"id": item.id, "queue_id": item.queue_id, "kind": item.kind, "row_key": item.row_key, "row": item.row,
         "label": item.label, "prediction": item.prediction, "priority": item.priority, "status": item.status,
         "flags": item.reason.get("flags", []), "neighbours": item.reason.get("neighbours", [])}
    if item.kind == "slice":
        d["sample"] = item.reason.get("sample", [])
        d["size"] = len(item.reason.get("rows", []))
    if queue is not None:
        d["label_column"] = queue.label_column
        d["classes"] = queue.classes
    return d


CLAIM_MINUTES = 10


def next_item(store: Any, queue_id: int, user_id: int, *, claim: bool = True):
    """The highest-priority open item of the queue for this reviewer, or None.

    Left out: items the reviewer has decided, and items whose reviews plus live claims of other
    reviewers already make the queue's k (so concurrent reviewers are handed different items).
    Items the reviewer skipped come last. With ``claim`` the item is claimed for
    ``CLAIM_MINUTES`` minutes.
    """
    from datetime import timedelta

    from sqlalchemy import and_, delete, exists, func, select

    from ..store._base import utcnow
    from ..store._review import ReviewClaim, ReviewDecision, ReviewItem, ReviewQueue, ReviewSkip

    now = utcnow()
    with store.session() as s:
        q = s.get(ReviewQueue, int(queue_id))
        if q is None:
            raise LookupError(f"queue {queue_id}")
        decided = exists().where(ReviewDecision.item_id == ReviewItem.id, ReviewDecision.reviewer_id == user_id)
        skipped = exists().where(ReviewSkip.item_id == ReviewItem.id, ReviewSkip.user_id == user_id)
        n_reviews = (select(func.count()).where(ReviewDecision.item_id == ReviewItem.id,
                                                ReviewDecision.kind == "review").scalar_subquery())
        n_claims = (select(func.count()).where(ReviewClaim.item_id == ReviewItem.id, ReviewClaim.user_id != user_id,
                                               ReviewClaim.until > now).scalar_subquery())
        mine = exists().where(ReviewClaim.item_id == ReviewItem.id, ReviewClaim.user_id == user_id,
                              ReviewClaim.until > now)
        base = select(ReviewItem).where(ReviewItem.queue_id == q.id, ReviewItem.status == "open", ~decided)
        free = base.where(and_(n_reviews + n_claims < q.reviews_required) | mine)
        it = None
        for stmt in (free.where(~skipped), free, base.where(~skipped), base):
            it = s.execute(stmt.order_by(ReviewItem.position).limit(1)).scalar_one_or_none()
            if it is not None:
                break
        if it is not None and claim:
            s.execute(delete(ReviewClaim).where(ReviewClaim.item_id == it.id, ReviewClaim.user_id == user_id))
            s.add(ReviewClaim(item_id=it.id, user_id=user_id, until=now + timedelta(minutes=CLAIM_MINUTES)))
        return it


def get_item(store: Any, item_id: int):
    from ..store._review import ReviewItem

    with store.session() as s:
        it = s.get(ReviewItem, int(item_id))
    if it is None:
        raise LookupError(f"item {item_id}")
    return it


# ---------------------------------------------------------------------------- decisions
class AlreadyDecided(UnskewInputError):
    """The reviewer has already decided this item (decisions are never overwritten)."""


def _check_action(action: Any, label: Any, queue, *, allow_skip: bool) -> tuple[str, str | None]:
    allowed = REVIEW_ACTIONS + (("skip",) if allow_skip else ())
    if not isinstance(action, str) or action.strip().lower() not in allowed:
        raise UnskewInputError(f"action: {action!r} is not one of {', '.join(allowed)}.")
    action = action.strip().lower()
    if action == "relabel":
        if label is None or str(label).strip() == "":
            raise UnskewInputError("label: a relabel needs the new label.")
        label = _label_text(label) if not isinstance(label, str) else label.strip()
        if queue.classes and label not in queue.classes:
            raise UnskewInputError(f"label: {label!r} is not a class of {queue.label_column!r} "
                                   f"({', '.join(queue.classes[:20])}).")
        return action, label
    return action, None


def decide(store: Any, item_id: int, user, action: str, label: Any = None, comment: str | None = None) -> dict:
    """Record one reviewer's decision on an item (blind, once per reviewer) and its trail entry.

    When the item has as many reviews as its queue requires it becomes ``done`` if they agree
    and ``disputed`` (to adjudication) otherwise; ``escalate`` sends it to adjudication at once.
    ``skip`` records nothing but moves the item to the back of this reviewer's queue.
    """
    from sqlalchemy import delete, select
    from sqlalchemy.exc import IntegrityError

    from ..store._review import ReviewClaim, ReviewDecision, ReviewItem, ReviewQueue, ReviewSkip

    if comment is not None and len(comment) > 5000:
        raise UnskewInputError("comment: at most 5000 characters.")
    try:
        with store.session() as s:
            # the row lock keeps concurrent reviews of one item from exceeding k (PostgreSQL; SQLite
            # transactions already hold the write lock from BEGIN IMMEDIATE)
            it = s.get(ReviewItem, int(item_id), with_for_update=True)
            if it is None:
                raise LookupError(f"item {item_id}")
            q = s.get(ReviewQueue, it.queue_id)
            action, label = _check_action(action, label, q, allow_skip=True)
            if action == "skip":
                s.execute(delete(ReviewClaim).where(ReviewClaim.item_id == it.id, ReviewClaim.user_id == user.id))
                if s.execute(select(ReviewSkip).where(ReviewSkip.item_id == it.id,
                                                      ReviewSkip.user_id == user.id)).first() is None:
                    s.add(ReviewSkip(item_id=it.id, user_id=user.id))
                append(s, user.name, "skip", {"item": it.id})
                return {"item": it.id, "action": "skip", "status": it.status}
            if it.status not in ("open",):
                raise AlreadyDecided(f"item {it.id} is {it.status}; it takes no more reviews.")
            d = ReviewDecision(item_id=it.id, reviewer_id=user.id, kind="review", action=action,
                               new_label=label, comment=comment or None)
            s.add(d)
            s.execute(delete(ReviewClaim).where(ReviewClaim.item_id == it.id, ReviewClaim.user_id == user.id))
            s.flush()
            reviews = s.execute(select(ReviewDecision).where(ReviewDecision.item_id == it.id,
                                                             ReviewDecision.kind == "review")).scalars().all()
            if action == "escalate":
                it.status = "disputed"
            elif len(reviews) >= q.reviews_required:
                sigs = {(r.action, r.new_label) for r in reviews}
                it.status = "done" if len(sigs) == 1 and "escalate" not in {r.action for r in reviews} else "disputed"
            append(s, user.name, "decision", {"item": it.id, "queue": q.id, "row_key": it.row_key,
                                              "decision": d.id, "action": action, "label": label,
                                              "comment": comment or None, "status": it.status})
            return {"id": d.id, "item": it.id, "action": action, "label": label, "comment": comment or None,
                    "status": it.status, "reviewer": user.name,
                    "decided_at": d.decided_at.isoformat(timespec="seconds") + "Z"}
    except IntegrityError:
        raise AlreadyDecided(f"You have already decided item {item_id}; a decision is never overwritten.") from None


def adjudicate(store: Any, item_id: int, admin, action: str, label: Any = None, comment: str | None = None) -> dict:
    """An admin's final decision on a disputed item."""
    from sqlalchemy.exc import IntegrityError

    from ..store._review import ReviewDecision, ReviewItem, ReviewQueue

    try:
        with store.session() as s:
            it = s.get(ReviewItem, int(item_id), with_for_update=True)
            if it is None:
                raise LookupError(f"item {item_id}")
            if it.status != "disputed":
                raise UnskewInputError(f"item {it.id} is {it.status}, not disputed; only disputed items are adjudicated.")
            q = s.get(ReviewQueue, it.queue_id)
            action, label = _check_action(action, label, q, allow_skip=False)
            if action == "escalate":
                raise UnskewInputError("action: an adjudication decides; use keep, relabel or remove.")
            d = ReviewDecision(item_id=it.id, reviewer_id=admin.id, kind="adjudication", action=action,
                               new_label=label, comment=comment or None)
            s.add(d)
            it.status = "adjudicated"
            s.flush()
            append(s, admin.name, "adjudication", {"item": it.id, "queue": q.id, "row_key": it.row_key,
                                                   "decision": d.id, "action": action, "label": label,
                                                   "comment": comment or None})
            return {"id": d.id, "item": it.id, "action": action, "label": label, "status": it.status}
    except IntegrityError:
        raise AlreadyDecided(f"item {item_id} is already adjudicated.") from None


def item_decisions(store: Any, item_id: int) -> list[dict]:
    from sqlalchemy import select

    from ..store._review import ReviewDecision, ReviewUser

    with store.session() as s:
        rows = s.execute(select(ReviewDecision, ReviewUser.name).join(ReviewUser, ReviewUser.id == ReviewDecision.reviewer_id)
                         .where(ReviewDecision.item_id == int(item_id)).order_by(ReviewDecision.id)).all()
    return [{"id": d.id, "kind": d.kind, "action": d.action, "label": d.new_label, "comment": d.comment,
             "reviewer": name, "decided_at": d.decided_at.isoformat(timespec="seconds")} for d, name in rows]


def disputed_items(store: Any) -> list:
    from sqlalchemy import select

    from ..store._review import ReviewItem

    with store.session() as s:
        return s.execute(select(ReviewItem).where(ReviewItem.status == "disputed")
                         .order_by(ReviewItem.queue_id, ReviewItem.position)).scalars().all()


def all_decisions(store: Any, *, queue_id: int | None = None, limit: int | None = None) -> list[dict]:
    """Every decision (reviews and adjudications), oldest first."""
    from sqlalchemy import select

    from ..store._review import ReviewDecision, ReviewItem, ReviewUser

    with store.session() as s:
        stmt = (select(ReviewDecision, ReviewItem.row_key, ReviewItem.queue_id, ReviewItem.kind, ReviewUser.name)
                .join(ReviewItem, ReviewItem.id == ReviewDecision.item_id)
                .join(ReviewUser, ReviewUser.id == ReviewDecision.reviewer_id).order_by(ReviewDecision.id))
        if queue_id is not None:
            stmt = stmt.where(ReviewItem.queue_id == int(queue_id))
        if limit:
            stmt = stmt.limit(limit)
        rows = s.execute(stmt).all()
    return [{"id": d.id, "item_id": d.item_id, "queue_id": qid, "row_key": rk, "item_kind": kind, "kind": d.kind,
             "action": d.action, "new_label": d.new_label, "reviewer": name,
             "decided_at": d.decided_at.isoformat(timespec="microseconds") + "Z", "comment": d.comment}
            for d, rk, qid, kind, name in rows]


def queue_agreement(store: Any, queue_id: int) -> dict:
    """Agreement of the blind reviews of a queue (Cohen's kappa for two per item, Fleiss' for more)."""
    from ._agreement import agreement

    reviews: dict = {}
    for d in all_decisions(store, queue_id=queue_id):
        if d["kind"] == "review":
            cat = f"relabel:{d['new_label']}" if d["action"] == "relabel" else d["action"]
            reviews.setdefault(d["item_id"], {})[d["reviewer"]] = cat
    return agreement(reviews)


def export_decisions(store: Any, out: str | Path | None = None, *, actor: str = "cli",
                     include_unresolved: bool = False, queue: str | int | None = None) -> tuple[pd.DataFrame, dict]:
    """The resolved decisions as the table ``unskew review apply`` and ``unskew retrain --decisions`` read.

    An item counts when it is ``done`` (its reviews agree: one line per review) or ``adjudicated``
    (the adjudication's line). A slice decision is written once per row of the slice. Disputed and
    open items are left out and counted (``include_unresolved`` writes every review instead).
    ``queue`` (a name or id) limits the export to one queue.
    The file is written whole (temporary file renamed into place) and the export is logged.
    """
    from sqlalchemy import select

    from ..store._review import ReviewItem, ReviewQueue

    with store.session() as s:
        items = {i.id: i for i in s.execute(select(ReviewItem)).scalars()}
        queues = {q.id: q for q in s.execute(select(ReviewQueue)).scalars()}
    qid = None
    if queue is not None:
        match = [q.id for q in queues.values() if q.name == str(queue) or str(q.id) == str(queue)]
        if not match:
            raise UnskewInputError(f"--queue {queue!r}: no such queue; queues: {', '.join(q.name for q in queues.values())}.")
        qid = match[0]
    rows = []
    unresolved = set()
    for d in all_decisions(store, queue_id=qid):
        it = items[d["item_id"]]
        if it.status == "adjudicated":
            if d["kind"] != "adjudication":
                continue
        elif it.status == "done":
            if d["kind"] != "review":
                continue
        elif not include_unresolved:
            unresolved.add(it.id)
            continue
        q = queues[it.queue_id]
        keys = it.reason.get("row_keys", []) if it.kind == "slice" else [it.row_key]
        for rk in keys:
            rows.append({"item_id": it.id, "row_key": rk, "action": d["action"], "new_label": d["new_label"],
                         "reviewer": d["reviewer"], "decided_at": d["decided_at"], "comment": d["comment"] or "",
                         LABEL_COLUMN: q.label_column, "queue": q.name})
    frame = pd.DataFrame(rows, columns=DECISION_COLUMNS + [LABEL_COLUMN, "queue"])
    summary = {"decisions": len(frame), "items": int(frame["item_id"].nunique()) if len(frame) else 0,
               "unresolved_items": len(unresolved)}
    if out is not None:
        from ..report._files import check_output_path, write_table

        out = check_output_path(out, "--out")
        write_table(frame, out, "--out")
        with store.session() as s:
            append(s, actor, "export", {"out": str(out), "queue": qid, **summary})
    return frame, summary


assert set(REVIEW_ACTIONS) | {"skip"} == set(ACTIONS)


#: Severity of each monitoring failure reason (a wrong prediction is certain harm).
MONITOR_SEVERITY = {"wrong_prediction": 1.0, "new_subpopulation": 0.9, "ood": 0.6}


def import_monitor_queue(store: Any, name: str, *, queue: str | None = None, reviews_required: int = 1,
                         reasons: list[str] | None = None, actor: str = "cli") -> dict:
    """Turn the monitoring failure queue of model ``name`` into review items.

    Uses :func:`unskew.monitor.failure_queue`; one item per production row id, keeping every
    reason, the row's stored columns, its prediction and (when it arrived) its label. Priority
    is ``severity x (group's share of the queued rows / the largest group's share)``, where
    severity is 1 for a wrong prediction, 0.9 for a row of a new subpopulation and 0.6 times
    the OOD score's percentile for an out-of-distribution row; the group's rate shown is its
    share of the queued rows (the monitor does not store each group's total here).
    """
    from sqlalchemy import select

    from ..monitor import failure_queue
    from ..store._review import ReviewItem, ReviewQueue

    if reviews_required < 1:
        raise UnskewInputError(f"--reviews must be at least 1, got {reviews_required}.")
    fq = failure_queue(store, name, reasons=reasons)
    if fq.empty:
        raise UnskewInputError(f"The failure queue of model {name!r} is empty; nothing to review.")
    meta = {"row_id", "reason", "score", "group", "prediction", "label", "queued_at"}
    feat_cols = [c for c in fq.columns if c not in meta]
    ood_pct = fq["score"].where(fq["reason"] == "ood").rank(pct=True)
    share = fq.drop_duplicates("row_id")["group"].fillna("(none)").value_counts(normalize=True)
    worst = float(share.max()) if len(share) else 1.0
    items: dict[str, dict] = {}
    for i, r in fq.iterrows():
        rid = str(r["row_id"])
        g = None if pd.isna(r["group"]) else str(r["group"])
        sev = MONITOR_SEVERITY.get(str(r["reason"]), 0.5)
        if r["reason"] == "ood" and not pd.isna(ood_pct.iloc[i]):
            sev *= float(ood_pct.iloc[i])
        gshare = float(share.get(g if g is not None else "(none)", 0.0))
        it = items.setdefault(rid, {"row": {c: jsonable(r[c]) for c in feat_cols}, "flags": [], "priority": 0.0,
                                    "prediction": _label_text(r["prediction"]), "label": _label_text(r["label"])})
        it["flags"].append({"check": f"monitor:{r['reason']}", "score_name": "score", "score": jsonable(r["score"]),
                            "severity": sev, "group": g, "group_rate": gshare, "overall_rate": None})
        it["priority"] = max(it["priority"], sev * gshare / worst)
    order = sorted(items.items(), key=lambda kv: -kv[1]["priority"])
    qname = queue or f"monitor-{name}"
    with store.session() as s:
        q = s.execute(select(ReviewQueue).where(ReviewQueue.name == qname)).scalar_one_or_none()
        if q is None:
            q = ReviewQueue(name=qname, source="monitor", data_source=f"monitor:{name}", label_column="label",
                            key_column="row_id", reviews_required=reviews_required, columns=feat_cols,
                            classes=sorted({t for t in (_label_text(v) for v in pd.concat([fq["label"], fq["prediction"]])
                                                        .dropna().unique()) if t is not None}),
                            info={"model": name})
            s.add(q)
            s.flush()
        elif q.source != "monitor":
            raise UnskewInputError(f"Queue {qname!r} holds {q.source} items; use another --queue.")
        existing = set(s.execute(select(ReviewItem.row_key).where(ReviewItem.queue_id == q.id)).scalars())
        start = (s.execute(select(ReviewItem.position).where(ReviewItem.queue_id == q.id)
                           .order_by(ReviewItem.position.desc()).limit(1)).scalar() or 0)
        added = 0
        for n, (rid, it) in enumerate(order):
            if rid in existing:
                continue
            s.add(ReviewItem(queue_id=q.id, kind="row", row_key=rid, row=it["row"], label=it["label"],
                             prediction=it["prediction"], priority=float(it["priority"]), position=start + n + 1,
                             reason=jsonable({"flags": it["flags"], "neighbours": []}), status="open"))
            added += 1
        append(s, actor, "import", {"queue": qname, "queue_id": q.id, "monitor": name, "items_added": added})
        return {"queue_id": q.id, "queue": qname, "source": "monitor", "items_added": added,
                "items_existing": len(order) - added, "rows": len(order), "flagged": fq["reason"].value_counts().to_dict()}
