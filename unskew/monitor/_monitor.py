"""Logging predictions and labels, checking windows, and the failure queue."""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError, UnskewNotFoundError
from ._aggregate import label_payload, merge_into, prediction_payload
from ._profile import PRED, SCORE, Profile, build_profile, group_names, label_str, py, to_pandas

#: Rows per aggregate block; row-count windows are multiples of it.
DEFAULT_BLOCK_ROWS = 500
_CHUNK = 500


def _utc_naive(ts: pd.Series, col: str) -> np.ndarray:
    try:
        parsed = pd.to_datetime(ts, utc=True, errors="raise", format="mixed")
    except (ValueError, TypeError) as exc:
        bad = None
        for v in ts.tolist():
            try:
                pd.to_datetime(v, utc=True)
            except (ValueError, TypeError):
                bad = v
                break
        raise UnskewInputError(f"Timestamp column {col!r} has a value that is not a time: {bad!r} ({exc}).") from None
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise UnskewInputError(f"Timestamp column {col!r} is missing at row {i}.")
    return parsed.dt.tz_localize(None).dt.to_pydatetime()


def _ids(frame: pd.DataFrame, col: str, what: str) -> np.ndarray:
    if col not in frame.columns:
        raise UnskewInputError(f"Id column {col!r} is not in the {what} (columns: {', '.join(map(str, frame.columns[:12]))}).")
    ids = label_str(frame[col])
    if pd.isna(ids).any():
        i = int(np.flatnonzero(pd.isna(ids))[0])
        raise UnskewInputError(f"Id column {col!r} is missing at row {i} of the {what}; every row needs an id.")
    long = [v for v in ids if len(v) > 255]
    if long:
        raise UnskewInputError(f"Id column {col!r} has a value longer than 255 characters: {long[0][:40]!r}...")
    u, c = np.unique(ids.astype(str), return_counts=True)
    if (c > 1).any():
        raise UnskewInputError(
            f"Id column {col!r} repeats {str(u[c > 1][0])!r} within one {what}; ids must be unique per row."
        )
    return ids.astype(str)


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """One JSON object string per row (missing -> null, times as ISO strings), via pandas' C writer."""
    if len(frame) == 0:
        return []
    text = frame.to_json(orient="records", lines=True, date_format="iso", double_precision=15)
    return text.rstrip("\n").split("\n")


def _rows_table():
    """``monitor_rows`` with ``features`` typed as text, to insert JSON that pandas already wrote."""
    import sqlalchemy as sa

    from ..store import PredictionRow

    cols = [sa.column(c.name, sa.Text if c.name == "features" else c.type) for c in PredictionRow.__table__.columns]
    return sa.table("monitor_rows", *cols)


def parse_window(window: str | int) -> tuple[str, int]:
    """``"1d"``/``"7d"`` -> ("days", n); ``"10000"`` -> ("rows", 10000)."""
    w = str(window).strip().lower()
    if re.fullmatch(r"\d+", w) and int(w) > 0:
        return "rows", int(w)
    m = re.fullmatch(r"(\d+)d", w)
    if m and int(m.group(1)) > 0:
        return "days", int(m.group(1))
    raise UnskewInputError(f"--window must be a day span like 1d or 7d, or a row count like 10000; got {window!r}.")


class Monitor:
    """Production monitoring of models on a :class:`~unskew.store.Store`.

    Parameters
    ----------
    store : Store or str, optional
        The store (or its URL; default ``$UNSKEW_STORE`` or ``sqlite:///unskew.db``).

    Examples
    --------
    >>> from unskew.monitor import Monitor
    >>> mon = Monitor("sqlite:///:memory:")  # doctest: +SKIP
    >>> mon.init("credit", reference=train, target="y", predictions="pred", sensitive=["sex"])  # doctest: +SKIP
    >>> mon.log("credit", batch, id="id")  # doctest: +SKIP
    >>> mon.log_labels("credit", labels, id="id", target="y")  # doctest: +SKIP
    >>> report = mon.check("credit", window="10000")  # doctest: +SKIP
    """

    def __init__(self, store: Any = None):
        from ..store import Store

        self.store = store if isinstance(store, Store) else Store(store)

    # ------------------------------------------------------------------ models
    def _model(self, s, name: str, lock: bool = False):
        import sqlalchemy as sa

        from ..store import MonitoredModel

        q = sa.select(MonitoredModel).where(MonitoredModel.name == name)
        if lock:
            q = q.with_for_update()
        m = s.scalar(q)
        if m is None:
            have = s.scalars(sa.select(MonitoredModel.name).order_by(MonitoredModel.name)).all()
            raise UnskewNotFoundError(
                f"No monitored model named {name!r} in the store; run `unskew monitor init --name {name} ...` first"
                + (f" (models: {', '.join(have[:10])})." if have else ".")
            )
        return m

    def _version(self, s, model, version: int | None = None):
        import sqlalchemy as sa

        from ..store import ModelVersion

        v = version if version is not None else model.current_version
        return s.scalar(sa.select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == v))

    def models(self) -> list[str]:
        """Names of the monitored models."""
        import sqlalchemy as sa

        from ..store import MonitoredModel

        with self.store.session() as s:
            return list(s.scalars(sa.select(MonitoredModel.name).order_by(MonitoredModel.name)))

    def profile(self, name: str, version: int | None = None) -> Profile:
        """The reference profile of a model's (current) version."""
        with self.store.session() as s:
            return Profile(self._version(s, self._model(s, name), version).profile)

    def init(
        self,
        name: str,
        reference: Any,
        *,
        target: str,
        predictions: str,
        sensitive: Sequence[str],
        scores: str | None = None,
        model: Any = None,
        features: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        block_rows: int = DEFAULT_BLOCK_ROWS,
        retention_days: float | None = None,
        note: str | None = None,
    ) -> dict:
        """Register a model (or a new version of it) with the reference profile of ``reference``.

        ``model`` may be a fitted estimator or a ``.skops`` path; it is stored
        (skops bytes) so ``retrain`` can compare against it. Returns a summary.
        """
        if not name or len(name) > 200 or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise UnskewInputError(f"Model name {name!r}: use 1-200 letters, digits, '.', '_' or '-'.")
        if block_rows < 1:
            raise UnskewInputError("block_rows must be >= 1.")
        est, blob = _model_and_bytes(model)
        prof = build_profile(reference, target=target, predictions=predictions, sensitive=sensitive,
                             scores=scores, model=est, features=features, exclude=exclude)
        return self.register_version(name, prof, blob=blob, note=note,
                                     config={"block_rows": int(block_rows), "retention_days": retention_days})

    def register_version(self, name: str, profile: Profile, *, blob: bytes | None = None,
                         note: str | None = None, config: dict | None = None) -> dict:
        """Store ``profile`` (and the model bytes) as the next version of ``name``; it becomes current."""
        import sqlalchemy as sa

        from ..store import ModelVersion, MonitoredModel

        with self.store.session() as s:
            m = s.scalar(sa.select(MonitoredModel).where(MonitoredModel.name == name).with_for_update())
            if m is None:
                m = MonitoredModel(name=name, config=dict(config or {"block_rows": DEFAULT_BLOCK_ROWS}), next_seq=0)
                s.add(m)
                s.flush()
            elif config:
                cfg = dict(m.config)
                if config.get("retention_days") is not None:
                    cfg["retention_days"] = config["retention_days"]
                m.config = cfg
            last = s.scalar(sa.select(sa.func.max(ModelVersion.version)).where(ModelVersion.model_id == m.id)) or 0
            v = ModelVersion(model_id=m.id, version=last + 1, profile=profile.data, model_blob=blob, note=note)
            s.add(v)
            s.flush()
            m.current_version = v.version
            return {"name": name, "version": v.version, "groups": len(profile.groups),
                    "features": sum(f["role"] == "feature" for f in profile.features), "reference_rows": profile.data["n"]}

    def set_retention(self, name: str, days: float | None) -> None:
        """Keep raw prediction rows for ``days`` (None: forever); aggregates are always kept."""
        with self.store.session() as s:
            m = self._model(s, name, lock=True)
            m.config = {**m.config, "retention_days": days}

    # ------------------------------------------------------------------ ingestion
    def _prepare(self, prof: Profile, frame: pd.DataFrame, id: str | None, timestamp: str | None,
                 blob: bytes | None) -> dict:
        from ._profile import _require

        src = "the batch"
        if len(frame) == 0:
            raise UnskewInputError("The batch has no rows.")
        cols = [f["column"] for f in prof.features if f["role"] == "feature"]
        _require(frame, cols, "Feature", src)
        pcol, scol = prof.data["predictions"], prof.data.get("scores")
        if pcol not in frame.columns or (scol and scol not in frame.columns):
            if blob is None:
                miss = pcol if pcol not in frame.columns else scol
                raise UnskewInputError(f"Column {miss!r} (the model's output) is not in the batch and no model is stored.")
            est = _load_blob(blob)
            from ..metrics._models import predict_with

            yp, ys = predict_with(est, frame[cols])
            frame = frame.copy()
            frame[pcol] = yp
            if scol:
                frame[scol] = ys
        yp = label_str(frame[pcol])
        if pd.isna(yp).any():
            i = int(np.flatnonzero(pd.isna(yp))[0])
            raise UnskewInputError(f"Predictions column {pcol!r} is missing at row {i}.")
        sc = None
        if scol:
            sc = pd.to_numeric(frame[scol], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(sc) | (sc < 0) | (sc > 1)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise UnskewInputError(f"Scores column {scol!r} row {i} is {py(frame[scol].iloc[i])!r}; scores must be numbers in [0, 1].")
        ids = _ids(frame, id, "batch") if id else None
        if ids is None:
            import uuid

            ids = np.array([uuid.uuid4().hex for _ in range(len(frame))], dtype=object)
        if timestamp:
            if timestamp not in frame.columns:
                raise UnskewInputError(f"Timestamp column {timestamp!r} is not in the batch.")
            ts = _utc_naive(frame[timestamp], timestamp)
        else:
            from ..store import utcnow

            now = utcnow()
            ts = np.array([now] * len(frame), dtype=object)
        codes = prof.bin_codes(frame, src)
        groups = group_names(frame, prof.sensitive)
        ood = prof.ood_scores(codes)
        raw = {f["name"]: label_str(frame[f["column"]]) for f in prof.features if f["kind"] == "categorical"}
        cbpe = None
        if sc is not None and prof.pos_label is not None:
            p = prof.calibrate(sc)
            is_pos = yp == prof.pos_label
            exp_correct = np.where(is_pos, p, 1 - p)
            cbpe = np.column_stack([exp_correct, np.where(is_pos, p, 0), np.where(is_pos, 1 - p, 0),
                                    np.where(is_pos, 0, p), np.where(is_pos, 0, 1 - p)])
        keep = cols + [pcol] + ([scol] if scol else [])
        new_reasons = _new_subpop_flags(prof, groups, raw)
        return dict(frame=frame[keep], ids=ids, ts=ts, codes=codes, groups=groups, ood=ood, raw=raw,
                    cbpe=cbpe, yp=yp, sc=sc, new=new_reasons)

    def log(self, name: str, table: Any, *, id: str | None = None, timestamp: str | None = None) -> dict:
        """Store one batch of predictions (pandas, polars, Arrow or a file path) in one transaction.

        Rows whose id was stored before are skipped (counted as duplicates), so
        re-sending a batch does not double-count. Returns a summary dict.
        """
        import sqlalchemy as sa


        frame = to_pandas(table, "batch").reset_index(drop=True)
        with self.store.session() as s:
            m = self._model(s, name)
            v = self._version(s, m)
            prof, blob, version = Profile(v.profile), v.model_blob, v.version
        prep = self._prepare(prof, frame, id, timestamp, blob)
        for _attempt in range(3):
            try:
                with self.store.session() as s:
                    m = self._model(s, name, lock=True)
                    if m.current_version != version:  # a new version landed meanwhile: its bins differ
                        return self.log(name, table, id=id, timestamp=timestamp)
                    return self._write_predictions(s, m, version, prof, prep)
            except sa.exc.IntegrityError:  # a concurrent batch stored some of these ids first
                continue
        raise UnskewInputError("The batch conflicted with concurrent writes three times; send it again.")

    def _write_predictions(self, s, m, version, prof, prep) -> dict:
        import sqlalchemy as sa

        from ..store import Batch, Bucket, PredictionRow, QueueItem

        ids = prep["ids"]
        existing = set()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK].tolist()
            existing.update(s.scalars(sa.select(PredictionRow.row_id).where(
                PredictionRow.model_id == m.id, PredictionRow.row_id.in_(chunk))))
        new = np.array([x not in existing for x in ids], dtype=bool)
        n_new = int(new.sum())
        batch = Batch(model_id=m.id, kind="predictions", n_rows=len(ids), n_new=n_new,
                      n_duplicate=len(ids) - n_new, n_updated=0)
        s.add(batch)
        s.flush()
        out = {"name": m.name, "version": version, "batch": batch.id, "rows": len(ids), "stored": n_new,
               "duplicates": len(ids) - n_new, "queued": 0}
        if n_new == 0:
            return out
        idx = np.flatnonzero(new)
        block_rows = int(m.config.get("block_rows", DEFAULT_BLOCK_ROWS))
        seq = m.next_seq + np.arange(n_new)
        m.next_seq = int(m.next_seq + n_new)
        ts = prep["ts"][idx]
        days = np.array([t.strftime("%Y-%m-%d") for t in ts], dtype=object)
        blocks = seq // block_rows
        keys = list(zip(days.tolist(), blocks.tolist(), strict=True))
        by_key: dict[tuple, list[int]] = defaultdict(list)
        for j, k in enumerate(keys):
            by_key[k].append(j)
        bucket_ids = np.zeros(n_new, dtype=np.int64)
        for (day, block), js in by_key.items():
            js = np.asarray(js)
            rows = idx[js]
            part = prediction_payload(
                prof, {k: c[rows] for k, c in prep["codes"].items()}, prep["groups"][rows], prep["ood"][rows],
                {k: c[rows] for k, c in prep["raw"].items()}, None if prep["cbpe"] is None else prep["cbpe"][rows])
            b = s.scalar(sa.select(Bucket).where(Bucket.model_id == m.id, Bucket.version == version,
                                                 Bucket.day == day, Bucket.block == block).with_for_update())
            tmin, tmax = min(ts[js]), max(ts[js])
            if b is None:
                b = Bucket(model_id=m.id, version=version, day=day, block=int(block), min_seq=int(seq[js].min()),
                           max_seq=int(seq[js].max()), min_ts=tmin, max_ts=tmax, n=0, payload={}, labels={})
                s.add(b)
                s.flush()
            b.payload = merge_into(copy.deepcopy(b.payload), part)
            b.n = int(b.n + len(js))
            b.min_seq, b.max_seq = min(b.min_seq, int(seq[js].min())), max(b.max_seq, int(seq[js].max()))
            b.min_ts, b.max_ts = min(b.min_ts, tmin), max(b.max_ts, tmax)
            bucket_ids[js] = b.id
        records = _json_lines(prep["frame"].iloc[idx])
        rows = []
        sc = prep["sc"]
        for j, i in enumerate(idx):
            rows.append({"model_id": m.id, "version": version, "row_id": ids[i], "seq": int(seq[j]), "ts": ts[j],
                         "batch_id": batch.id, "bucket_id": int(bucket_ids[j]), "group_key": prep["groups"][i],
                         "features": records[j], "prediction": prep["yp"][i],
                         "score": None if sc is None else float(sc[i]), "ood_score": float(prep["ood"][i])})
        conn = s.connection()
        if conn.dialect.name == "sqlite":  # JSON is text there: store pandas' JSON as written
            conn.execute(_rows_table().insert(), rows)
        else:  # PostgreSQL types the column json: bind objects
            import json as _j

            for r in rows:
                r["features"] = _j.loads(r["features"])
            conn.execute(PredictionRow.__table__.insert(), rows)
        import json as _json

        queue = []
        thr = prof.data["ood"]["threshold"]
        for j, i in enumerate(idx):
            if prep["ood"][i] > thr:
                queue.append({"model_id": m.id, "row_id": ids[i], "reason": "ood", "score": float(prep["ood"][i]),
                              "group_key": prep["groups"][i],
                              "detail": {"row": _json.loads(records[j]), "prediction": prep["yp"][i], "threshold": thr}})
            if prep["new"][i]:
                queue.append({"model_id": m.id, "row_id": ids[i], "reason": "new_subpopulation", "score": None,
                              "group_key": prep["groups"][i],
                              "detail": {"row": _json.loads(records[j]), "prediction": prep["yp"][i], "why": prep["new"][i]}})
        if queue:
            s.connection().execute(QueueItem.__table__.insert(), queue)
        out["queued"] = len(queue)
        days_keep = m.config.get("retention_days")
        if days_keep is not None:
            cutoff = max(ts) - timedelta(days=float(days_keep))
            res = s.execute(sa.delete(PredictionRow).where(PredictionRow.model_id == m.id, PredictionRow.ts < cutoff))
            out["expired"] = int(res.rowcount or 0)
        return out

    def log_labels(self, name: str, table: Any, *, id: str, target: str) -> dict:
        """Join true labels to stored predictions by id, in one transaction.

        A label re-sent unchanged is a no-op; a changed label replaces the old
        one in the aggregates. Ids with no stored prediction are counted
        (``unmatched``) and not stored. Wrong predictions join the failure queue.
        """
        import sqlalchemy as sa

        from ..store import Batch, Bucket, PredictionRow, QueueItem, utcnow

        frame = to_pandas(table, "labels").reset_index(drop=True)
        if len(frame) == 0:
            raise UnskewInputError("The labels table has no rows.")
        ids = _ids(frame, id, "labels table")
        if target not in frame.columns:
            raise UnskewInputError(f"Target column {target!r} is not in the labels table (columns: {', '.join(map(str, frame.columns[:12]))}).")
        y = label_str(frame[target])
        if pd.isna(y).any():
            i = int(np.flatnonzero(pd.isna(y))[0])
            raise UnskewInputError(f"Target column {target!r} is missing at row {i} (id {ids[i]!r}); send only known labels.")
        with self.store.session() as s:
            m = self._model(s, name, lock=True)
            prof = Profile(self._version(s, m).profile)
            pos = prof.pos_label
            classes = set(prof.data.get("classes") or [])
            unknown = [v for v in y if classes and v not in classes]
            if unknown:
                raise UnskewInputError(
                    f"Target column {target!r} has label {unknown[0]!r}, which the reference never had "
                    f"(labels: {', '.join(sorted(classes)[:10])})."
                )
            found = {}
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i:i + _CHUNK].tolist()
                for r in s.execute(sa.select(PredictionRow.id, PredictionRow.row_id, PredictionRow.group_key,
                                             PredictionRow.prediction, PredictionRow.label, PredictionRow.bucket_id,
                                             PredictionRow.version)
                                   .where(PredictionRow.model_id == m.id, PredictionRow.row_id.in_(chunk))):
                    found[r.row_id] = r
            label_of = dict(zip(ids.tolist(), y.tolist(), strict=True))
            add: dict[int, list] = defaultdict(list)
            sub: dict[int, list] = defaultdict(list)
            updates, queue, fixed, n_same = [], [], [], 0
            now = utcnow()
            for rid, r in found.items():
                new = label_of[rid]
                if r.label == new:
                    n_same += 1
                    continue
                if r.label is not None:
                    sub[r.bucket_id].append((r.group_key, r.label, r.prediction))
                add[r.bucket_id].append((r.group_key, new, r.prediction))
                updates.append({"b_id": r.id, "b_label": new, "b_at": now})
                if new != r.prediction:
                    queue.append((rid, r))
                elif r.label is not None:
                    fixed.append(rid)
            for bid in set(add) | set(sub):
                b = s.scalar(sa.select(Bucket).where(Bucket.id == bid).with_for_update())
                lab = copy.deepcopy(b.labels)
                for rows, sign in ((add.get(bid, []), 1), (sub.get(bid, []), -1)):
                    if rows:
                        g, yt, yp = (np.array(c, dtype=object) for c in zip(*rows, strict=True))
                        merge_into(lab, label_payload(g, yt, yp, pos), sign)
                b.labels = lab
            if updates:
                t = PredictionRow.__table__
                s.connection().execute(t.update().where(t.c.id == sa.bindparam("b_id"))
                                       .values(label=sa.bindparam("b_label"), label_at=sa.bindparam("b_at")), updates)
            if fixed:  # a corrected label made the prediction right: it leaves the queue
                s.execute(sa.delete(QueueItem).where(QueueItem.model_id == m.id, QueueItem.reason == "wrong_prediction",
                                                     QueueItem.row_id.in_(fixed)))
            if queue:
                have = set()
                qids = [rid for rid, _ in queue]
                for i in range(0, len(qids), _CHUNK):
                    have.update(s.scalars(sa.select(QueueItem.row_id).where(
                        QueueItem.model_id == m.id, QueueItem.reason == "wrong_prediction",
                        QueueItem.row_id.in_(qids[i:i + _CHUNK]))))
                need = [rid for rid, _ in queue if rid not in have]
                feats = {}
                for i in range(0, len(need), _CHUNK):
                    feats.update(s.execute(sa.select(PredictionRow.row_id, PredictionRow.features).where(
                        PredictionRow.model_id == m.id, PredictionRow.row_id.in_(need[i:i + _CHUNK]))).all())
                items = [{"model_id": m.id, "row_id": rid, "reason": "wrong_prediction", "score": None,
                          "group_key": r.group_key,
                          "detail": {"row": feats.get(rid), "prediction": r.prediction, "label": label_of[rid]}}
                         for rid, r in queue if rid not in have]
                if items:
                    s.connection().execute(QueueItem.__table__.insert(), items)
            n_unmatched = len(ids) - len(found)
            s.add(Batch(model_id=m.id, kind="labels", n_rows=len(ids), n_new=len(updates),
                        n_duplicate=n_same, n_updated=len(updates)))
            return {"name": name, "rows": len(ids), "stored": len(updates), "unchanged": n_same,
                    "unmatched": n_unmatched, "wrong": len(queue)}

    # ------------------------------------------------------------------ windows and checks
    def windows(self, name: str, window: str | int = "10000", *, version: int | None = None) -> list[dict]:
        """Merged aggregates per window of the (current) version, oldest first."""
        import sqlalchemy as sa

        from ..store import Bucket

        kind, size = parse_window(window)
        with self.store.session() as s:
            m = self._model(s, name)
            v = self._version(s, m, version)
            block_rows = int(m.config.get("block_rows", DEFAULT_BLOCK_ROWS))
            if kind == "rows" and size % block_rows:
                raise UnskewInputError(
                    f"--window {size}: row windows must be a multiple of the model's block of {block_rows} rows."
                )
            buckets = s.scalars(sa.select(Bucket).where(Bucket.model_id == m.id, Bucket.version == v.version)
                                .order_by(Bucket.block, Bucket.day)).all()
            wins: dict[Any, dict] = {}
            for b in buckets:
                if kind == "rows":
                    key = (b.block * block_rows) // size
                    label = f"rows {key * size}-{(key + 1) * size - 1}"
                else:
                    d = datetime.strptime(b.day, "%Y-%m-%d")
                    key = (d - datetime(1970, 1, 1)).days // size
                    start = datetime(1970, 1, 1) + timedelta(days=key * size)
                    label = start.strftime("%Y-%m-%d") + ("" if size == 1 else f"+{size}d")
                w = wins.setdefault(key, {"key": key, "label": label, "n": 0, "payload": {}, "labels": {},
                                          "min_ts": b.min_ts, "max_ts": b.max_ts})
                merge_into(w["payload"], b.payload)
                merge_into(w["labels"], b.labels)
                w["n"] += b.n
                w["min_ts"], w["max_ts"] = min(w["min_ts"], b.min_ts), max(w["max_ts"], b.max_ts)
        out = [wins[k] for k in sorted(wins)]
        for i, w in enumerate(out):
            w["index"] = i + 1
        return out

    def check(self, name: str, *, window: str | int = "10000", webhook: str | None = None,
              detectors: Sequence[str] | None = None, params: dict | None = None, store_alerts: bool = True):
        """Run every detector over the windows and return a :class:`~unskew.report.Report` (kind ``monitor``).

        New alerts are stored (and POSTed as JSON to ``webhook`` or
        ``$UNSKEW_MONITOR_WEBHOOK`` when set).
        """
        from ._check import run_check

        return run_check(self, name, window=window, webhook=webhook, detectors=detectors, params=params,
                         store_alerts=store_alerts)

    # ------------------------------------------------------------------ queue
    def queue(self, name: str, reasons: Sequence[str] | None = None) -> pd.DataFrame:
        """The failure queue as a DataFrame: one row per (row id, reason), with the row's columns.

        Columns: ``row_id, reason, score, group, prediction, label, queued_at``
        and then the stored feature columns of the row.
        """
        import sqlalchemy as sa

        from ..store import PredictionRow, QueueItem

        with self.store.session() as s:
            m = self._model(s, name)
            q = sa.select(QueueItem).where(QueueItem.model_id == m.id).order_by(QueueItem.id)
            if reasons:
                q = q.where(QueueItem.reason.in_(list(reasons)))
            items = s.scalars(q).all()
            labels = {}
            ids = [it.row_id for it in items]
            for i in range(0, len(ids), _CHUNK):
                for rid, lab in s.execute(sa.select(PredictionRow.row_id, PredictionRow.label).where(
                        PredictionRow.model_id == m.id, PredictionRow.row_id.in_(ids[i:i + _CHUNK]))):
                    labels[rid] = lab
        recs = []
        for it in items:
            d = it.detail or {}
            rec = {"row_id": it.row_id, "reason": it.reason, "score": it.score, "group": it.group_key,
                   "prediction": d.get("prediction"), "label": labels.get(it.row_id, d.get("label")),
                   "queued_at": it.created_at}
            for k, v in (d.get("row") or {}).items():
                rec.setdefault(k, v)
            recs.append(rec)
        cols = ["row_id", "reason", "score", "group", "prediction", "label", "queued_at"]
        return pd.DataFrame(recs, columns=None if recs else cols)

    def labelled_rows(self, name: str, *, version: int | None = None) -> pd.DataFrame:
        """Stored production rows that have a label (features, prediction, label, ts), oldest first."""
        import sqlalchemy as sa

        from ..store import PredictionRow

        with self.store.session() as s:
            m = self._model(s, name)
            q = (sa.select(PredictionRow.row_id, PredictionRow.ts, PredictionRow.features, PredictionRow.prediction,
                           PredictionRow.label, PredictionRow.group_key)
                 .where(PredictionRow.model_id == m.id, PredictionRow.label.is_not(None)).order_by(PredictionRow.seq))
            rows = s.execute(q).all()
        recs = []
        for r in rows:
            rec = dict(r.features)
            rec.update({"__row_id": r.row_id, "__ts": r.ts, "__prediction": r.prediction, "__label": r.label,
                        "__group": r.group_key})
            recs.append(rec)
        return pd.DataFrame(recs)


def _new_subpop_flags(prof: Profile, groups: np.ndarray, raw: dict) -> list:
    """Per row: a reason string when the row belongs to a subpopulation the reference lacked, else ''."""
    min_count = 5
    ref = prof.groups
    out = ["" for _ in range(len(groups))]
    for i, g in enumerate(groups):
        if ref.get(g, 0) < min_count:
            out[i] = f"group {g} ({ref.get(g, 0)} reference rows)"
    for f in prof.features:
        if f["kind"] != "categorical" or f["role"] != "feature" or f["name"] not in raw:
            continue
        counts = f["counts"]
        vals = raw[f["name"]]
        for i, v in enumerate(vals):
            if v is not None and counts.get(v, 0) < min_count and not out[i]:
                out[i] = f"{f['column']}={v} ({counts.get(v, 0)} reference rows)"
    return out


#: Types outside skops' default trusted set that models saved by ``unskew train`` contain (plain data,
#: no code; the one list is :data:`unskew._skops.EXTRA_TRUSTED`). Anything else is refused.
from .._skops import EXTRA_TRUSTED as SKOPS_EXTRA_TRUSTED  # noqa: E402


def load_skops(data: bytes | str | Any, what: str = "the model") -> Any:
    """Load skops bytes or a ``.skops`` path, trusting only skops' defaults plus :data:`SKOPS_EXTRA_TRUSTED`."""
    from pathlib import Path

    from .._optional import import_optional

    sio = import_optional("skops.io", "loading .skops models")
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise UnskewInputError(f"Model file not found: {path}")
        if path.suffix.lower() != ".skops":
            raise UnskewInputError(f"{path}: the monitor stores models as .skops files (never pickle).")
        data = path.read_bytes()
        what = str(path)
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise UnskewInputError(f"Cannot read {what} as a skops file: {exc}") from None
    bad = [t for t in untrusted if t not in SKOPS_EXTRA_TRUSTED]
    if bad:
        raise UnskewInputError(
            f"{what} contains types that skops does not trust: {', '.join(bad[:8])}. Loading them can run code; "
            f"save the model with `unskew train` or with types skops trusts."
        )
    return sio.loads(data, trusted=list(untrusted) or None)


def _model_and_bytes(model: Any) -> tuple[Any, bytes | None]:
    if model is None:
        return None, None
    from pathlib import Path

    from .._optional import import_optional

    sio = import_optional("skops.io", "storing models in the monitor")
    if isinstance(model, (str, Path)):
        est = load_skops(model)
        return est, Path(model).read_bytes()
    return model, sio.dumps(model)


def _load_blob(blob: bytes):
    return load_skops(blob, "the stored model")


__all__ = ["Monitor", "parse_window", "PRED", "SCORE", "build_profile"]
