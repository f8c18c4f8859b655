import json

import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.review import _queues as Q
from unskew.review._auth import add_user
from unskew.review._trail import verify
from unskew.store import open_store


@pytest.fixture
def store(sqlite_store):
    return sqlite_store


def test_import_audit_report(store, audited):
    data, report = audited
    s = Q.import_report(store, data, report, queue="adult", key="id")
    assert s["items_added"] > 10 and s["flagged"]["label_quality"] > 0
    qs = Q.list_queues(store)
    assert qs[0]["name"] == "adult" and qs[0]["items"] == s["items_added"] == qs[0]["open"]
    ann = add_user(store, "ann", "reviewer", password="pw-ann-123456")
    it = Q.next_item(store, qs[0]["id"], ann.id)
    d = Q.item_dict(it, Q.get_queue(store, qs[0]["id"]))
    # the whole row, why it was flagged, the group's rate, the prediction and neighbours
    assert set(pd.read_csv(data).columns) <= set(d["row"])
    f = d["flags"][0]
    assert {"check", "score", "group", "group_rate"} <= set(f)
    assert len(d["neighbours"]) == 5 and all("label" in n for n in d["neighbours"])
    # ordered by expected harm: the first items come from the noisier group (F)
    assert f["group"] == "sex=F"
    checks = {fl["check"] for i in _all_items(store) for fl in i.reason["flags"]}
    assert {"label_quality", "outliers", "duplicates"} <= checks
    # outlier rows and the conflicting duplicates are in the queue by their key
    keys = {i.row_key for i in _all_items(store)}
    assert {"r0", "r1", "r2", "r598", "r599"} <= keys
    # importing again adds nothing
    assert Q.import_report(store, data, report, queue="adult", key="id")["items_added"] == 0
    assert verify(store).ok


def _all_items(store):
    from sqlalchemy import select

    from unskew.store._review import ReviewItem

    with store.session() as s:
        return s.execute(select(ReviewItem).order_by(ReviewItem.position)).scalars().all()


def test_import_rejects_wrong_table(store, audited, tmp_path):
    data, report = audited
    pd.read_csv(data).iloc[:100].to_csv(tmp_path / "small.csv", index=False)
    with pytest.raises(UnskewInputError, match="the report analysed 600"):
        Q.import_report(store, tmp_path / "small.csv", report)
    (tmp_path / "x.json").write_text(json.dumps({"tool": "unskew", "kind": "audit", "checks": []}))
    with pytest.raises(UnskewInputError, match="row-level checks"):
        Q.import_report(store, data, tmp_path / "x.json")
    with pytest.raises(UnskewInputError, match="--key 'nope'"):
        Q.import_report(store, data, report, key="nope")


def test_blind_reviews_agreement_adjudication_export(imported_store, audited, tmp_path):
    from unskew.review import apply_decisions

    data, report = audited
    store, s = imported_store
    ann = add_user(store, "ann", "reviewer", password="pw-ann-123456")
    bob = add_user(store, "bob", "reviewer", password="pw-bob-123456")
    boss = add_user(store, "boss", "admin", password="pw-boss-123456")
    qid = s["queue_id"]
    first = Q.next_item(store, qid, ann.id)
    Q.decide(store, first.id, ann, "relabel", label="1" if first.label == "0" else "0", comment="<b>x</b>")
    with pytest.raises(Q.AlreadyDecided):
        Q.decide(store, first.id, ann, "keep")
    assert Q.get_item(store, first.id).status == "open"
    assert Q.next_item(store, qid, ann.id).id != first.id  # ann gets the next one
    assert Q.next_item(store, qid, bob.id).id == first.id  # bob still gets it, blind
    Q.decide(store, first.id, bob, "keep")
    assert Q.get_item(store, first.id).status == "disputed"
    second = Q.next_item(store, qid, ann.id)
    Q.decide(store, second.id, ann, "remove")
    Q.decide(store, second.id, bob, "remove")
    assert Q.get_item(store, second.id).status == "done"
    third = Q.next_item(store, qid, ann.id)
    Q.decide(store, third.id, ann, "keep")
    Q.decide(store, third.id, bob, "keep")
    ag = Q.queue_agreement(store, qid)
    assert ag["method"] == "cohen" and ag["items"] == 3
    from sklearn.metrics import cohen_kappa_score
    lab = "relabel:" + ("1" if first.label == "0" else "0")
    assert ag["kappa"] == pytest.approx(cohen_kappa_score([lab, "remove", "keep"], ["keep", "remove", "keep"]))
    with pytest.raises(UnskewInputError, match="label"):
        Q.adjudicate(store, first.id, boss, "relabel", label="7")
    Q.adjudicate(store, first.id, boss, "relabel", label="1" if first.label == "0" else "0")
    assert Q.get_item(store, first.id).status == "adjudicated"
    frame, summ = Q.export_decisions(store, tmp_path / "dec.csv")
    assert summ["items"] == 3 and summ["decisions"] == 5  # 1 adjudication + 2 + 2 agreeing reviews
    cleaned, a = apply_decisions(data, tmp_path / "dec.csv", key="id")
    assert a["relabelled"] == 1 and a["removed"] == 1 and a["conflicts"] == []
    assert second.row_key not in set(cleaned["id"])
    res = verify(store)
    assert res.ok and res.entries >= 1 + 3 + 6 + 1 + 1  # import, users, decisions, adjudication, export


def test_bad_decisions(imported_store):
    store, s = imported_store
    ann = add_user(store, "ann", "reviewer", password="pw-ann-123456")
    it = Q.next_item(store, s["queue_id"], ann.id)
    with pytest.raises(UnskewInputError, match="action: 'delete'"):
        Q.decide(store, it.id, ann, "delete")
    with pytest.raises(UnskewInputError, match="label: a relabel needs"):
        Q.decide(store, it.id, ann, "relabel")
    Q.decide(store, it.id, ann, "skip")
    assert Q.next_item(store, s["queue_id"], ann.id).id != it.id


def test_decisions_and_trail_on_postgres_and_sqlite(store_url):
    """The same flow on both databases (items seeded directly: no audit needed)."""
    from review_helpers import seed_queue

    store = open_store(store_url)
    qid = seed_queue(store, n=3, k=2, payloads=False)
    a = add_user(store, "a", "reviewer")
    b = add_user(store, "b", "reviewer")
    it = Q.next_item(store, qid, a.id)
    Q.decide(store, it.id, a, "keep")
    Q.decide(store, it.id, b, "remove")
    assert Q.get_item(store, it.id).status == "disputed"
    with pytest.raises(Q.AlreadyDecided):
        Q.decide(store, it.id, b, "keep")
    assert len(Q.all_decisions(store)) == 2 and verify(store).ok


def test_import_slices_report_and_slice_decision_export(store, tmp_path):
    import numpy as np
    from review_helpers import noisy_table

    from unskew.review import apply_decisions
    from unskew.slices import find_slices

    t = noisy_table(800, seed=3)
    rng = np.random.default_rng(0)
    t["pred"] = np.where((t["job"] == "c") & (t["x2"] > 0), 1 - t["y"], t["y"])  # the model fails on a slice
    t["pred"] = np.where(rng.random(len(t)) < 0.05, 1 - t["pred"], t["pred"])
    t.to_csv(tmp_path / "t.csv", index=False)
    res = find_slices(tmp_path / "t.csv", target="y", predictions="pred", exclude=["id"], top_k=3)
    res.report.save_json(tmp_path / "slices.json")
    s = Q.import_report(store, tmp_path / "t.csv", tmp_path / "slices.json", queue="slices", key="id")
    assert s["source"] == "slices" and s["items_added"] >= 1
    ann = add_user(store, "ann", "reviewer")
    it = Q.next_item(store, s["queue_id"], ann.id)
    d = Q.item_dict(it)
    assert it.kind == "slice" and d["size"] == len(it.reason["rows"]) and d["sample"]
    Q.decide(store, it.id, ann, "remove", comment="drop the slice")
    frame, summ = Q.export_decisions(store, tmp_path / "d.csv", queue="slices")
    assert len(frame) == d["size"] and set(frame["row_key"]) == set(it.reason["row_keys"])
    cleaned, a = apply_decisions(tmp_path / "t.csv", tmp_path / "d.csv", key="id")
    assert a["removed"] == d["size"] and len(cleaned) == 800 - d["size"]


def test_import_debias_removed_rows(store, tmp_path):
    from review_helpers import noisy_table

    t = noisy_table(200)
    t.to_csv(tmp_path / "t.csv", index=False)
    removed = t.iloc[[17, 3, 99]].copy()
    removed.insert(0, "row", [17, 3, 99])
    removed.insert(1, "score", [-0.9, -0.5, -0.1])
    removed.to_csv(tmp_path / "removed.csv", index=False)
    s = Q.import_report(store, tmp_path / "t.csv", tmp_path / "removed.csv", queue="d3m", key="id")
    assert s["source"] == "debias" and s["items_added"] == 3
    ann = add_user(store, "ann", "reviewer")
    assert Q.next_item(store, s["queue_id"], ann.id).row_key == "r17"  # most harmful first
    removed.loc[removed.index[0], "x1"] = 123.0
    removed.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UnskewInputError, match="column 'x1'"):
        Q.import_report(store, tmp_path / "t.csv", tmp_path / "bad.csv", queue="d3m2")


def test_challenge_set_leaves_out_key_and_reserved_columns(store, tmp_path):
    from unskew.metrics._challenge import load_challenge_set
    from unskew.review import _challenges as C

    cs = C.create_set(store, "s", ["id", "age", "Tags", "y", "job"], "y", actor="t", exclude=["id"])
    assert cs.columns == ["age", "job"]
    C.add_case(store, cs.id, {"age": "30", "job": "a"}, "1", tags="x", actor="t")
    C.add_case(store, cs.id, {"age": "40", "job": "b"}, "0", actor="t")
    C.remove_case(store, cs.id, C.cases(store, cs.id)[0].id, actor="t")
    assert len(C.export_set(store, cs.id, 2)) == 2 and len(C.export_set(store, cs.id)) == 1
    frame = C.export_set(store, cs.id, 2)
    assert list(frame.columns) == ["id", "age", "job", "expected", "tags", "rationale"]
    frame.to_csv(tmp_path / "c.csv", index=False)
    assert len(load_challenge_set(tmp_path / "c.csv")) == 2
    with pytest.raises(UnskewInputError, match="job"):
        C.add_case(store, cs.id, {"age": "1"}, "1", actor="t")
    with pytest.raises(UnskewInputError, match="version"):
        C.export_set(store, cs.id, 9)
