"""Logging predictions and labels, checking windows, and the failure queue."""

from __future__ import annotations

import copy
import json as _json
import re
from collections import defaultdict, namedtuple
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


def _utc_naive(ts: pd.Series, col: str) -> np.ndarray:
    """Times as naive UTC ``datetime64[us]``; a value that is not a time names the column and the value."""
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
    return parsed.dt.tz_localize(None).to_numpy().astype("datetime64[us]")


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


#: Ids per ``IN (...)`` on SQLite (its limit on bound variables is 32766 since 3.32).
_SQLITE_IN = 30_000


def _existing_ids(conn, model_id: int, ids: list[str], *, table: str = "monitor_rows",
                  extra: str = "", columns: str = "row_id") -> list[tuple]:
    """Rows of ``table`` of ``model_id`` whose ``row_id`` is in ``ids``: one query per 30,000 ids on SQLite,
    one ``= ANY(array)`` query on PostgreSQL (through the driver, no per-row statement compilation)."""
    if not ids:
        return []
    if conn.dialect.name == "sqlite":
        out = []
        for i in range(0, len(ids), _SQLITE_IN):
            chunk = ids[i:i + _SQLITE_IN]
            sql = (f"SELECT {columns} FROM {table} WHERE model_id = ? {extra} "
                   f"AND row_id IN ({','.join('?' * len(chunk))})")
            out.extend(conn.exec_driver_sql(sql, (model_id, *chunk)).all())
        return out
    sql = f"SELECT {columns} FROM {table} WHERE model_id = %s {extra} AND row_id = ANY(%s)"
    return list(conn.exec_driver_sql(sql, (model_id, list(ids))).all())


def _db_times(conn, ts: np.ndarray) -> list:
    """``datetime64[us]`` values as the driver stores a SQLAlchemy ``DateTime`` (SQLite: its text format)."""
    if conn.dialect.name == "sqlite":
        return [s.replace("T", " ", 1) for s in np.datetime_as_string(ts.astype("datetime64[us]"), unit="us").tolist()]
    return ts.astype("datetime64[us]").astype(object).tolist()


def _insert_many(conn, table: str, cols: Sequence[str], rows: list[tuple], casts: dict | None = None) -> None:
    """Insert ``rows`` through the driver: ``executemany`` on SQLite, ``COPY ... FROM STDIN`` on PostgreSQL.

    Both run inside the connection's transaction; no per-row statement compilation."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
        return
    raw = conn.connection.driver_connection  # psycopg 3, in the same transaction
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


def _insert_queue(conn, model_id: int, items: list[tuple]) -> None:
    """Queue items ``(row_id, reason, score, group_key, detail JSON text)`` by one driver-level executemany."""
    if not items:
        return
    from ..store import utcnow

    now = _db_times(conn, np.array([np.datetime64(utcnow(), "us")]))[0]
    _insert_many(conn, "monitor_queue", ("model_id", "row_id", "reason", "score", "group_key", "detail", "created_at"),
                 [(model_id, *it, now) for it in items])


def _block_frames(conn, batch_ids) -> dict[int, pd.DataFrame]:
    """Decoded feature blocks of ``batch_ids``."""
    import sqlalchemy as sa

    from ..store import RowBlock
    from ..store._blocks import decode_block

    out = {}
    ids = sorted({int(b) for b in batch_ids})
    for i in range(0, len(ids), 500):
        for bid, data in conn.execute(sa.select(RowBlock.batch_id, RowBlock.data)
                                      .where(RowBlock.batch_id.in_(ids[i:i + 500]))):
            out[int(bid)] = decode_block(data)
    return out


def _feature_frame(conn, batch_ids: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    """The stored feature columns of the rows at (``batch_ids[k]``, ``positions[k]``), in that order."""
    batch_ids = np.asarray(batch_ids, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    if len(batch_ids) == 0:
        return pd.DataFrame()
    blocks = _block_frames(conn, np.unique(batch_ids))
    parts, order = [], []
    for bid in np.unique(batch_ids).tolist():
        k = np.flatnonzero(batch_ids == bid)
        parts.append(blocks[bid].iloc[positions[k]])
        order.append(k)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    inv = np.empty(len(batch_ids), dtype=np.int64)
    inv[np.concatenate(order)] = np.arange(len(batch_ids))
    return frame.iloc[inv].reset_index(drop=True)


def prepare_batch(prof: Profile, frame: pd.DataFrame, *, id: str | None = None, timestamp: str | None = None,
              blob: bytes | None = None, queue_flags: bool = True) -> dict:
    """Validate a batch against the profile and encode it: bin codes, groups, OOD scores, CBPE rows, times, ids.

    Raises :class:`UnskewInputError` naming the column, row and value of the first bad value.
    ``queue_flags=False`` skips the ids and the per-row new-subpopulation reasons
    (only the stored path needs them).
    """
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
    if ids is None and queue_flags:
        import uuid

        ids = np.array([uuid.uuid4().hex for _ in range(len(frame))], dtype=object)
    if timestamp:
        if timestamp not in frame.columns:
            raise UnskewInputError(f"Timestamp column {timestamp!r} is not in the batch.")
        ts = _utc_naive(frame[timestamp], timestamp)
    else:  # now, as naive UTC (the store keeps UTC throughout)
        from datetime import timezone

        ts = np.full(len(frame), np.datetime64(datetime.now(timezone.utc).replace(tzinfo=None), "us"))
    factors: dict = {}  # each categorical column encoded once for codes, groups and raw values
    codes = prof.bin_codes(frame, src, factors)
    groups = group_names(frame, prof.sensitive, factors)
    ood = prof.ood_scores(codes)
    raw = {}
    for f in prof.features:
        if f["kind"] == "categorical":
            vcodes, labels = factors[f["column"]]
            raw[f["name"]] = labels[vcodes]
    cbpe = cbpe_rows(prof, yp, sc) if sc is not None else None
    keep = cols + [pcol] + ([scol] if scol else [])
    new_reasons = _new_subpop_flags(prof, groups, raw) if queue_flags else None
    return dict(frame=frame[keep], ids=ids, ts=ts, codes=codes, groups=groups, ood=ood, raw=raw,
                cbpe=cbpe, yp=yp, sc=sc, new=new_reasons)


def cbpe_rows(prof: Profile, yp: np.ndarray, scores: np.ndarray) -> np.ndarray | None:
    """Per row, the expected (correct, TP, FP, FN, TN) from the calibrated positive-class probability (CBPE)."""
    if prof.pos_label is None:
        return None
    p = prof.calibrate(scores)
    is_pos = yp == prof.pos_label
    out = np.zeros((len(p), 5))
    out[:, 0] = np.where(is_pos, p, 1 - p)
    out[is_pos, 1] = p[is_pos]
    out[is_pos, 2] = 1 - p[is_pos]
    out[~is_pos, 3] = p[~is_pos]
    out[~is_pos, 4] = 1 - p[~is_pos]
    return out


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
        return prepare_batch(prof, frame, id=id, timestamp=timestamp, blob=blob)

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

        from ..store import Batch, Bucket, RowBlock
        from ..store._blocks import FORMAT, encode_block, record_lines

        conn = s.connection()
        ids = prep["ids"]
        existing = [r[0] for r in _existing_ids(conn, m.id, ids.tolist())]
        new = ~pd.Index(ids).isin(existing) if existing else np.ones(len(ids), dtype=bool)
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
        seq = m.next_seq + np.arange(n_new, dtype=np.int64)
        m.next_seq = int(m.next_seq + n_new)
        ts = prep["ts"][idx]
        days = ts.astype("datetime64[D]").astype(str)
        blocks = seq // block_rows
        # one bucket per (UTC day, sequence block): group the new rows by key without a per-row loop
        day_no = ts.astype("datetime64[D]").astype(np.int64)
        key = (day_no - day_no.min()) * (int(blocks.max()) + 1) + blocks
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        have = {}
        for b in s.scalars(sa.select(Bucket).where(
                Bucket.model_id == m.id, Bucket.version == version,
                Bucket.block.in_(np.unique(blocks).tolist())).with_for_update()):
            have[(b.day, int(b.block))] = b
        bucket_ids = np.zeros(n_new, dtype=np.int64)
        placed = []
        codes, groups, ood, raw, cbpe = prep["codes"], prep["groups"], prep["ood"], prep["raw"], prep["cbpe"]
        for js in np.split(order, bounds):
            day, block = str(days[js[0]]), int(blocks[js[0]])
            rows = idx[js]
            part = prediction_payload(
                prof, {k: c[rows] for k, c in codes.items()}, groups[rows], ood[rows],
                {k: c[rows] for k, c in raw.items()}, None if cbpe is None else cbpe[rows])
            tmin, tmax = ts[js].min().item(), ts[js].max().item()
            smin, smax = int(seq[js].min()), int(seq[js].max())
            b = have.get((day, block))
            if b is None:
                b = Bucket(model_id=m.id, version=version, day=day, block=block, min_seq=smin, max_seq=smax,
                           min_ts=tmin, max_ts=tmax, n=len(js), payload=part, labels={})
                s.add(b)
            else:
                b.payload = merge_into(copy.deepcopy(b.payload), part)
                b.n = int(b.n + len(js))
                b.min_seq, b.max_seq = min(b.min_seq, smin), max(b.max_seq, smax)
                b.min_ts, b.max_ts = min(b.min_ts, tmin), max(b.max_ts, tmax)
            placed.append((js, b))
        s.flush()  # one flush inserts every new bucket (with RETURNING of their ids)
        for js, b in placed:
            bucket_ids[js] = b.id
        # the feature values: one columnar block per batch; the rows keep their index columns
        stored = prep["frame"].iloc[idx]
        s.add(RowBlock(batch_id=batch.id, model_id=m.id, n_rows=n_new, n_live=n_new, format=FORMAT,
                       data=encode_block(stored)))
        s.flush()
        sc = prep["sc"]
        cols = ("model_id", "version", "row_id", "seq", "ts", "batch_id", "bucket_id", "group_key", "block_row",
                "prediction", "score", "ood_score")
        n = n_new
        tuples = list(zip([m.id] * n, [version] * n, ids[idx].tolist(), seq.tolist(), _db_times(conn, ts),
                          [batch.id] * n, bucket_ids.tolist(), groups[idx].tolist(), range(n),
                          prep["yp"][idx].tolist(), [None] * n if sc is None else sc[idx].tolist(),
                          ood[idx].astype(float).tolist(), strict=True))
        _insert_many(conn, "monitor_rows", cols, tuples)
        thr = prof.data["ood"]["threshold"]
        is_ood = ood[idx] > thr
        why = prep["new"][idx]
        flagged = np.flatnonzero(is_ood | (why != ""))
        queue = []
        if len(flagged):
            recs = record_lines(stored.iloc[flagged])
            for j, rec in zip(flagged.tolist(), recs, strict=True):
                i = idx[j]
                pred = _json.dumps(prep["yp"][i])
                if is_ood[j]:
                    queue.append((ids[i], "ood", float(ood[i]), groups[i],
                                  f'{{"row": {rec}, "prediction": {pred}, "threshold": {_json.dumps(thr)}}}'))
                if why[j]:
                    queue.append((ids[i], "new_subpopulation", None, groups[i],
                                  f'{{"row": {rec}, "prediction": {pred}, "why": {_json.dumps(why[j])}}}'))
        _insert_queue(conn, m.id, queue)
        out["queued"] = len(queue)
        days_keep = m.config.get("retention_days")
        if days_keep is not None:
            cutoff = ts.max().item() - timedelta(days=float(days_keep))
            out["expired"] = self._expire(s, m.id, cutoff)
        return out

    def _expire(self, s, model_id: int, cutoff: datetime) -> int:
        """Delete rows older than ``cutoff`` with their values: a batch's block goes with its last row,
        and in a block that keeps live rows the expired rows' values are blanked (positions unchanged)."""
        import sqlalchemy as sa

        from ..store import PredictionRow, RowBlock
        from ..store._blocks import blank_rows, decode_block, encode_block

        old = (PredictionRow.model_id == model_id) & (PredictionRow.ts < cutoff)
        gone = s.execute(sa.select(PredictionRow.batch_id, PredictionRow.block_row).where(old)).all()
        if not gone:
            return 0
        per_batch: dict[int, list[int]] = defaultdict(list)
        for b, pos in gone:
            per_batch[int(b)].append(int(pos))
        res = s.execute(sa.delete(PredictionRow).where(old))
        conn = s.connection()
        conn.execute(sa.update(RowBlock).where(RowBlock.batch_id == sa.bindparam("b_batch"))
                     .values(n_live=RowBlock.n_live - sa.bindparam("b_n")),
                     [{"b_batch": b, "b_n": len(p)} for b, p in per_batch.items()])
        s.execute(sa.delete(RowBlock).where(RowBlock.model_id == model_id, RowBlock.n_live <= 0))
        ids = sorted(per_batch)
        for i in range(0, len(ids), 500):
            for bid, data in s.execute(sa.select(RowBlock.batch_id, RowBlock.data)
                                       .where(RowBlock.batch_id.in_(ids[i:i + 500]))).all():
                s.execute(sa.update(RowBlock).where(RowBlock.batch_id == bid)
                          .values(data=encode_block(blank_rows(decode_block(data), per_batch[int(bid)]))))
        return int(res.rowcount or 0)

    def log_labels(self, name: str, table: Any, *, id: str, target: str) -> dict:
        """Join true labels to stored predictions by id, in one transaction.

        A label re-sent unchanged is a no-op; a changed label replaces the old
        one in the aggregates. Ids with no stored prediction are counted
        (``unmatched``) and not stored. Wrong predictions join the failure queue.
        """
        import sqlalchemy as sa

        from ..store import Batch, Bucket, QueueItem, utcnow
        from ..store._blocks import record_lines

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
            conn = s.connection()
            Found = namedtuple("Found", "id row_id group_key prediction label bucket_id version batch_id block_row")
            found = {r[1]: Found(*r) for r in _existing_ids(
                conn, m.id, ids.tolist(),
                columns="id, row_id, group_key, prediction, label, bucket_id, version, batch_id, block_row")}
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
                updates.append((r.id, new))
                if new != r.prediction:
                    queue.append((rid, r))
                elif r.label is not None:
                    fixed.append(rid)
            touched = sorted(set(add) | set(sub))
            new_labels = []
            for i in range(0, len(touched), 500):  # only the label counts of the buckets, not their histograms
                for bid, lab in s.execute(sa.select(Bucket.id, Bucket.labels).where(Bucket.id.in_(touched[i:i + 500]))
                                          .with_for_update()).all():
                    lab = copy.deepcopy(lab)
                    for rows, sign in ((add.get(bid, []), 1), (sub.get(bid, []), -1)):
                        if rows:
                            g, yt, yp = (np.array(c, dtype=object) for c in zip(*rows, strict=True))
                            merge_into(lab, label_payload(g, yt, yp, pos), sign)
                    new_labels.append({"b_id": bid, "b_labels": lab})
            if new_labels:
                bt = Bucket.__table__
                conn.execute(bt.update().where(bt.c.id == sa.bindparam("b_id")).values(labels=sa.bindparam("b_labels")),
                             new_labels)
            if updates:
                at = _db_times(conn, np.array([np.datetime64(now, "us")]))[0]
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("UPDATE monitor_rows SET label = ?, label_at = ? WHERE id = ?",
                                         [(lab, at, rid) for rid, lab in updates])
                else:  # one statement over two arrays
                    conn.exec_driver_sql(
                        "UPDATE monitor_rows AS r SET label = v.label, label_at = %s "
                        "FROM unnest(%s::bigint[], %s::text[]) AS v(id, label) WHERE r.id = v.id",
                        (at, [rid for rid, _ in updates], [lab for _, lab in updates]))
            if fixed:  # a corrected label made the prediction right: it leaves the queue
                s.execute(sa.delete(QueueItem).where(QueueItem.model_id == m.id, QueueItem.reason == "wrong_prediction",
                                                     QueueItem.row_id.in_(fixed)))
            if queue:
                have = {r[0] for r in _existing_ids(conn, m.id, [rid for rid, _ in queue], table="monitor_queue",
                                                    extra="AND reason = 'wrong_prediction'")}
                need = [(rid, r) for rid, r in queue if rid not in have]
                recs = record_lines(_feature_frame(conn, np.array([r.batch_id for _, r in need], dtype=np.int64),
                                                   np.array([r.block_row for _, r in need], dtype=np.int64))) if need else []
                _insert_queue(conn, m.id, [
                    (rid, "wrong_prediction", None, r.group_key,
                     f'{{"row": {rec}, "prediction": {_json.dumps(r.prediction)}, "label": {_json.dumps(label_of[rid])}}}')
                    for (rid, r), rec in zip(need, recs, strict=True)])
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

        from ..store import QueueItem

        with self.store.session() as s:
            m = self._model(s, name)
            q = sa.select(QueueItem).where(QueueItem.model_id == m.id).order_by(QueueItem.id)
            if reasons:
                q = q.where(QueueItem.reason.in_(list(reasons)))
            items = s.scalars(q).all()
            labels = dict(_existing_ids(s.connection(), m.id, list(dict.fromkeys(it.row_id for it in items)),
                                        columns="row_id, label"))
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
        """Stored production rows that have a label (features, prediction, label, ts), oldest first.

        Columns: the stored columns of the rows, then ``__row_id, __ts, __prediction, __label, __group``.
        """
        import sqlalchemy as sa

        from ..store import PredictionRow

        with self.store.session() as s:
            m = self._model(s, name)
            q = (sa.select(PredictionRow.row_id, PredictionRow.ts, PredictionRow.prediction, PredictionRow.label,
                           PredictionRow.group_key, PredictionRow.batch_id, PredictionRow.block_row)
                 .where(PredictionRow.model_id == m.id, PredictionRow.label.is_not(None)).order_by(PredictionRow.seq))
            rows = s.execute(q).all()
            if not rows:
                return pd.DataFrame()
            cols = list(zip(*rows, strict=True))
            frame = _feature_frame(s.connection(), np.array(cols[5], dtype=np.int64), np.array(cols[6], dtype=np.int64))
        meta = {"__row_id": list(cols[0]), "__ts": list(cols[1]), "__prediction": list(cols[2]),
                "__label": list(cols[3]), "__group": list(cols[4])}
        for k, v in meta.items():
            frame[k] = pd.Series(v, index=frame.index)
        return frame


def _new_subpop_flags(prof: Profile, groups: np.ndarray, raw: dict) -> np.ndarray:
    """Per row: a reason string when the row belongs to a subpopulation the reference lacked, else ''."""
    min_count = 5
    ref = prof.groups
    out = np.full(len(groups), "", dtype=object)
    gvals, ginv = np.unique(groups.astype(str), return_inverse=True)
    msg = np.array([f"group {g} ({ref.get(g, 0)} reference rows)" if ref.get(g, 0) < min_count else ""
                    for g in gvals.tolist()], dtype=object)
    out[:] = msg[ginv]
    for f in prof.features:
        if f["kind"] != "categorical" or f["role"] != "feature" or f["name"] not in raw:
            continue
        counts = f["counts"]
        vals = raw[f["name"]]
        known = ~pd.isna(vals)
        if not known.any():
            continue
        uvals, uinv = np.unique(vals[known].astype(str), return_inverse=True)
        rare = np.array([counts.get(v, 0) < min_count for v in uvals.tolist()], dtype=bool)
        if not rare.any():
            continue
        umsg = np.array([f"{f['column']}={v} ({counts.get(v, 0)} reference rows)" for v in uvals.tolist()], dtype=object)
        pos = np.flatnonzero(known)
        hit = pos[rare[uinv]]
        free = hit[out[hit] == ""]
        out[free] = umsg[uinv[np.searchsorted(pos, free)]]
    return out


def load_skops(data: bytes | str | Any, what: str = "the model") -> Any:
    """Load skops bytes or a ``.skops`` path, trusting only skops' defaults plus :data:`unskew._skops.EXTRA_TRUSTED`."""
    from pathlib import Path

    from .._skops import loads_trusted

    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.exists():
            raise UnskewInputError(f"Model file not found: {path}")
        if path.suffix.lower() != ".skops":
            raise UnskewInputError(f"{path}: the monitor stores models as .skops files (never pickle).")
        data = path.read_bytes()
        what = str(path)
    return loads_trusted(data, what)


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
