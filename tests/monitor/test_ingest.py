"""Columnar ingestion (revision 0003): what is read back equals what was logged, dedupe, retention, PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from _monitor_data import make_rows

from unskew.monitor import Monitor
from unskew.monitor._profile import group_names
from unskew.store import Batch, PredictionRow, QueueItem, RowBlock
from unskew.store._blocks import decode_block, encode_block, records

STORED = ["x1", "x2", "region", "sex", "race", "pred", "score"]


def _count(mon, table, *where):
    with mon.store.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table).where(*where))


def _batches():
    a = make_rows(700, 21)
    a["ts"] = "2026-01-01T10:00:00Z"
    b = make_rows(400, 22, new_region=True, start=700)
    b["ts"] = "2026-01-02T11:00:00.250Z"
    c = make_rows(400, 23, shift=1.5, start=1100)
    c["ts"] = ["2026-01-03T12:00:00Z", "2026-01-02T23:59:59Z"] * 200
    c.loc[3, "region"] = None
    c.loc[5, "x2"] = np.nan
    return a, b, c


def _expected_window_counts(mon, frame, size):
    prof = mon.profile("credit")
    codes = prof.bin_codes(frame)
    out = []
    for i in range(0, len(frame), size):
        sl = slice(i, i + size)
        out.append({f["name"]: np.bincount(codes[f["name"]][sl], minlength=f["n_bins"]).tolist() for f in prof.features})
    return out


def test_logged_values_come_back_unchanged(mon):
    a, b, c = _batches()
    for x in (a, b, c):
        mon.log("credit", x.drop(columns="y"), id="id", timestamp="ts")
    allr = pd.concat([a, b, c], ignore_index=True)
    # aggregates: the windows are exactly the rescan of the input in arrival order
    wins = mon.windows("credit", "500")
    assert [w["n"] for w in wins] == [500, 500, 500]
    for w, exp in zip(wins, _expected_window_counts(mon, allr, 500), strict=True):
        assert {k: v["all"] for k, v in w["payload"]["hist"].items()} == exp
    # labelled rows: every stored column of every labelled row, in arrival order, with its metadata
    lab = allr.iloc[::3]
    mon.log_labels("credit", lab[["id", "y"]], id="id", target="y")
    got = mon.labelled_rows("credit")
    assert list(got.columns) == STORED + ["__row_id", "__ts", "__prediction", "__label", "__group"]
    exp = lab[STORED].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[STORED], exp, check_dtype=True)  # exact: floats are no longer cut to 15 digits
    assert got["__row_id"].tolist() == lab["id"].tolist()
    assert got["__label"].tolist() == lab["y"].astype(str).tolist()
    assert got["__prediction"].tolist() == lab["pred"].astype(str).tolist()
    assert got["__group"].tolist() == group_names(lab, ["sex", "race"]).tolist()
    ts = pd.to_datetime(lab["ts"], utc=True, format="mixed").dt.tz_localize(None)
    assert (pd.to_datetime(got["__ts"]).to_numpy() == ts.to_numpy()).all()
    # the queue carries the row's stored columns too (new subpopulation = batch b, plus wrong predictions)
    q = mon.queue("credit")
    newsub = q[q.reason == "new_subpopulation"].set_index("row_id")
    assert set(newsub.index) == set(b.id)
    pd.testing.assert_frame_equal(newsub.loc[b.id, ["x1", "x2", "region"]].reset_index(drop=True),
                                  b[["x1", "x2", "region"]].reset_index(drop=True), check_dtype=False,
                                  check_names=False, rtol=1e-13)
    wrong = q[q.reason == "wrong_prediction"].set_index("row_id")
    exp_wrong = lab[lab.y != lab.pred].set_index("id")
    assert set(wrong.index) == set(exp_wrong.index)
    assert np.allclose(wrong.loc[exp_wrong.index, "x1"].to_numpy(dtype=float), exp_wrong["x1"].to_numpy(), rtol=1e-13)


def test_dedupe_across_batches_and_within_one_transaction(mon):
    rows = make_rows(1200, 24)
    r1 = mon.log("credit", rows.iloc[:500], id="id")
    r2 = mon.log("credit", rows.iloc[300:900], id="id")  # 200 seen, 400 new
    r3 = mon.log("credit", pd.concat([rows.iloc[850:1200], rows.iloc[:100]]), id="id")  # 50 + 100 seen
    assert (r1["stored"], r1["duplicates"]) == (500, 0)
    assert (r2["stored"], r2["duplicates"]) == (400, 200)
    assert (r3["stored"], r3["duplicates"]) == (300, 150)
    assert _count(mon, PredictionRow) == 1200
    with mon.store.session() as s:
        ids = s.scalars(sa.select(PredictionRow.row_id).order_by(PredictionRow.seq)).all()
        nb = s.execute(sa.select(RowBlock.n_rows, RowBlock.n_live).order_by(RowBlock.batch_id)).all()
        dup = s.execute(sa.select(Batch.n_duplicate).where(Batch.kind == "predictions").order_by(Batch.id)).scalars().all()
    assert ids == rows.id.tolist()  # stored once each, in arrival order
    assert [tuple(x) for x in nb] == [(500, 500), (400, 400), (300, 300)] and dup == [0, 200, 150]
    assert sum(w["n"] for w in mon.windows("credit", "100")) == 1200
    # a batch that is all duplicates stores no block and no rows
    assert mon.log("credit", rows.iloc[:10], id="id")["stored"] == 0
    assert _count(mon, RowBlock) == 3


def test_more_ids_than_one_sqlite_statement_holds(tmp_path, reference):
    """Dedupe is one query per 30,000 ids on SQLite; a 40,000-row batch spans two."""
    mon = Monitor(f"sqlite:///{tmp_path / 'big.db'}")
    mon.init("credit", reference, target="y", predictions="pred", scores="score", sensitive=["sex"], block_rows=1000)
    rows = make_rows(40_000, 25)
    assert mon.log("credit", rows.iloc[:35_000], id="id")["stored"] == 35_000
    r = mon.log("credit", rows, id="id")
    assert (r["stored"], r["duplicates"]) == (5_000, 35_000)
    assert _count(mon, PredictionRow) == 40_000


def test_failed_batch_writes_no_block(mon):
    rows = make_rows(300, 26)
    rows["x1"] = rows["x1"].astype(object)
    rows.loc[250, "x1"] = "n/a"
    with pytest.raises(Exception, match="'x1'"):
        mon.log("credit", rows, id="id")
    assert _count(mon, RowBlock) == 0 and _count(mon, PredictionRow) == 0 and _count(mon, QueueItem) == 0


def test_retention_deletes_a_block_with_its_last_row(mon):
    mon.set_retention("credit", 1)
    old = make_rows(200, 27)
    old["ts"] = "2026-01-01T00:00:00Z"
    mixed = make_rows(200, 28, start=200)
    mixed["ts"] = ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"] * 100
    mon.log("credit", old, id="id", timestamp="ts")
    assert mon.log("credit", mixed, id="id", timestamp="ts")["expired"] == 0
    assert _count(mon, RowBlock) == 2
    late = make_rows(100, 29, start=400)
    late["ts"] = "2026-01-02T12:00:00Z"
    r = mon.log("credit", late, id="id", timestamp="ts")
    assert r["expired"] == 300  # the old batch and half of the mixed one
    with mon.store.session() as s:
        blocks = s.execute(sa.select(RowBlock.n_rows, RowBlock.n_live).order_by(RowBlock.batch_id)).all()
    assert [tuple(b) for b in blocks] == [(200, 100), (100, 100)]  # the fully expired block is gone
    with mon.store.session() as s:  # in the kept block, the expired rows' values are erased
        data = s.scalars(sa.select(RowBlock.data).order_by(RowBlock.batch_id)).first()
    blk = decode_block(data)
    assert blk["x1"].iloc[0::2].isna().all() and blk["region"].iloc[0::2].isna().all()
    assert (blk["pred"].iloc[0::2] == 0).all() and blk["pred"].dtype == mixed["pred"].dtype
    assert np.array_equal(blk["x1"].iloc[1::2].to_numpy(), mixed["x1"].iloc[1::2].to_numpy())
    mon.log_labels("credit", pd.concat([mixed, late])[["id", "y"]], id="id", target="y")
    got = mon.labelled_rows("credit")
    keep = pd.concat([mixed.iloc[1::2], late])
    assert got["__row_id"].tolist() == keep["id"].tolist()
    assert np.array_equal(got["x1"].to_numpy(), keep["x1"].to_numpy())


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"f": [1.5, np.nan, 1e-300], "i": [1, 2, 3], "b": [True, False, True], "s": ["a", None, "é"]}),
    pd.DataFrame({"t": pd.to_datetime(["2026-01-01 00:00", None, "2026-03-01 10:00"]), "m": [1, "x", None],
                  "n": pd.array([1, None, 3], dtype="Int64"), "c": pd.Categorical(["a", "b", "a"])}),
])
def test_block_codec_gives_back_what_json_gave(frame):
    back = decode_block(encode_block(frame))
    via_json = pd.DataFrame(records(frame))
    pd.testing.assert_frame_equal(back, via_json, check_exact=False, rtol=1e-15)
    assert records(back) == records(frame)


def test_columnar_path_on_postgres(postgres_db, reference):
    mon = Monitor(postgres_db)
    mon.init("credit", reference, target="y", predictions="pred", scores="score", sensitive=["sex", "race"],
             block_rows=100)
    a, b, c = _batches()
    for x in (a, b, c):
        mon.log("credit", x.drop(columns="y"), id="id", timestamp="ts")
    assert mon.log("credit", a.drop(columns="y"), id="id", timestamp="ts")["duplicates"] == len(a)
    allr = pd.concat([a, b, c], ignore_index=True)
    lab = allr.iloc[::3]
    r = mon.log_labels("credit", lab[["id", "y"]], id="id", target="y")
    assert r["stored"] == len(lab) and r["wrong"] == int((lab.y != lab.pred).sum())
    got = mon.labelled_rows("credit")
    pd.testing.assert_frame_equal(got[STORED], lab[STORED].reset_index(drop=True))
    assert got["__row_id"].tolist() == lab["id"].tolist()
    q = mon.queue("credit")
    assert set(q[q.reason == "new_subpopulation"].row_id) == set(b.id)
    assert q[q.reason == "wrong_prediction"]["x1"].notna().all()
    mon.set_retention("credit", 1)
    late = make_rows(50, 30, start=5000)
    late["ts"] = "2026-01-05T00:00:00Z"
    assert mon.log("credit", late.drop(columns="y"), id="id", timestamp="ts")["expired"] == len(allr)
    assert _count(mon, RowBlock) == 1
    mon.store.dispose()
