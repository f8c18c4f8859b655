"""Revision 0003 upgrades a 0002 store: per-row JSON features become one columnar block per batch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parents[1] / "monitor"))
from _monitor_data import make_rows  # noqa: E402

from unskew.monitor import Monitor  # noqa: E402
from unskew.monitor._profile import group_names  # noqa: E402
from unskew.store import Batch, Bucket, QueueItem, RowBlock, Store  # noqa: E402
from unskew.store._blocks import records  # noqa: E402

STORED = ["x1", "x2", "region", "sex", "race", "pred", "score"]

# monitor_rows as revision 0001/0002 made it (a JSON document of features per row)
_V2_ROWS = sa.table("monitor_rows", *(sa.column(c, t) for c, t in [
    ("model_id", sa.Integer), ("version", sa.Integer), ("row_id", sa.String), ("seq", sa.BigInteger),
    ("ts", sa.DateTime), ("batch_id", sa.Integer), ("bucket_id", sa.Integer), ("group_key", sa.Text),
    ("features", sa.JSON), ("prediction", sa.Text), ("score", sa.Float), ("ood_score", sa.Float),
    ("label", sa.Text), ("label_at", sa.DateTime)]))


def _write_v2_batch(store, model_id, frame, seq0, ts, labelled):
    """Rows of one batch exactly as the 0002 code stored them (features: pandas' JSON of the stored columns)."""
    with store.session() as s:
        b = Batch(model_id=model_id, kind="predictions", n_rows=len(frame), n_new=len(frame), n_duplicate=0)
        s.add(b)
        s.flush()
        bk = Bucket(model_id=model_id, version=1, day=ts.strftime("%Y-%m-%d"), block=seq0 // 100, min_seq=seq0,
                    max_seq=seq0 + len(frame) - 1, min_ts=ts, max_ts=ts, n=len(frame), payload={}, labels={})
        s.add(bk)
        s.flush()
        g = group_names(frame, ["sex", "race"])
        feats = records(frame[STORED])
        s.connection().execute(_V2_ROWS.insert(), [
            {"model_id": model_id, "version": 1, "row_id": r.id, "seq": seq0 + j, "ts": ts, "batch_id": b.id,
             "bucket_id": bk.id, "group_key": g[j], "features": feats[j], "prediction": str(r.pred),
             "score": float(r.score), "ood_score": 1.0, "label": str(r.y) if labelled[j] else None, "label_at": None}
            for j, r in enumerate(frame.itertuples())])
        s.add(QueueItem(model_id=model_id, row_id=frame.id.iloc[0], reason="ood", score=9.0, group_key=g[0],
                        detail={"row": feats[0], "prediction": str(frame.pred.iloc[0])}))


def test_upgrade_0002_store_keeps_its_rows(store_url):
    st = Store(store_url, migrate=False)
    st.upgrade("0002")
    assert st.revision() == "0002"
    mon = Monitor(st)
    mon.init("credit", make_rows(3000, 40).drop(columns="id"), target="y", predictions="pred", scores="score",
             sensitive=["sex", "race"], block_rows=100)
    with st.session() as s:
        mid = s.scalar(sa.text("SELECT id FROM monitor_models"))
    a, b = make_rows(150, 41), make_rows(120, 42, start=150)
    b.loc[7, "region"] = None
    b.loc[9, "x2"] = np.nan
    t0 = pd.Timestamp("2026-01-01 10:00").to_pydatetime()
    _write_v2_batch(st, mid, a, 0, t0, labelled=np.arange(150) % 2 == 0)
    _write_v2_batch(st, mid, b, 150, t0, labelled=np.ones(120, bool))
    with st.session() as s:
        s.execute(sa.text("UPDATE monitor_models SET next_seq = 270"))
    st.dispose()

    st = Store(store_url)  # migrates to head
    assert st.revision() == "0003"
    cols = {c["name"] for c in sa.inspect(st.engine).get_columns("monitor_rows")}
    assert "features" not in cols and "block_row" in cols
    mon = Monitor(st)
    with st.session() as s:
        blocks = s.execute(sa.select(RowBlock.n_rows, RowBlock.n_live).order_by(RowBlock.batch_id)).all()
    assert [tuple(x) for x in blocks] == [(150, 150), (120, 120)]
    got = mon.labelled_rows("credit")
    exp = pd.concat([a.iloc[::2], b])
    assert got["__row_id"].tolist() == exp.id.tolist()
    pd.testing.assert_frame_equal(got[STORED], exp[STORED].reset_index(drop=True), check_exact=False, rtol=1e-14)
    # the store keeps working: new rows after the migrated ones, dedupe against migrated ids
    c = make_rows(100, 43, start=270)
    r = mon.log("credit", pd.concat([a.iloc[:10], c]), id="id")
    assert (r["stored"], r["duplicates"]) == (100, 10)
    assert mon.log_labels("credit", c[["id", "y"]], id="id", target="y")["stored"] == 100
    assert mon.labelled_rows("credit")["__row_id"].tolist() == exp.id.tolist() + c.id.tolist()
    assert len(mon.queue("credit", reasons=["ood"])) >= 2
    # and the downgrade writes the JSON documents back
    from alembic import command

    from unskew.store import alembic_config

    cfg = alembic_config()
    with st.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    assert st.revision() == "0002"
    with st.engine.connect() as conn:
        back = conn.execute(sa.select(_V2_ROWS.c.row_id, _V2_ROWS.c.features).order_by(_V2_ROWS.c.seq)).all()
    assert [r[0] for r in back][:270] == a.id.tolist() + b.id.tolist()
    assert back[150 + 9][1]["x2"] is None and back[150 + 7][1]["region"] is None
    assert abs(back[0][1]["x1"] - a.x1.iloc[0]) < 1e-12
    st.upgrade("head")
    assert mon.labelled_rows("credit")["__row_id"].tolist() == exp.id.tolist() + c.id.tolist()
    st.dispose()
