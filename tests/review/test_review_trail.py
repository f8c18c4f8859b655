import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from unskew.cli import app
from unskew.review._trail import GENESIS, append, entry_hash, verify
from unskew.store import open_store


def _fill(store, n=5):
    with store.session() as s:
        for i in range(n):
            append(s, "ann", "decision", {"item": i, "action": "keep", "comment": "ünï <b>"})


def test_chain_intact_and_linked(store_url):
    store = open_store(store_url)
    _fill(store)
    res = verify(store)
    assert res.ok and res.entries == 5
    with store.engine.connect() as c:
        rows = c.execute(sa.text("SELECT seq, prev_hash, hash FROM review_trail ORDER BY seq")).all()
    assert rows[0][1] == GENESIS
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 5))


def test_database_refuses_update_and_delete(store_url):
    store = open_store(store_url)
    _fill(store, 2)
    for stmt in ("UPDATE review_trail SET actor = 'eve'", "DELETE FROM review_trail"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with store.engine.begin() as c:
                c.execute(sa.text(stmt))
    assert verify(store).ok


def _drop_triggers(store):
    with store.engine.begin() as c:
        if store.is_sqlite:
            c.execute(sa.text("DROP TRIGGER review_trail_no_update"))
            c.execute(sa.text("DROP TRIGGER review_trail_no_delete"))
        else:
            c.execute(sa.text("DROP TRIGGER review_trail_append_only ON review_trail"))


@pytest.mark.parametrize("tamper,first", [
    ("UPDATE review_trail SET payload = '{\"item\": 2, \"action\": \"remove\"}' WHERE seq = 3", 3),
    ("DELETE FROM review_trail WHERE seq = 2", 2),
    ("UPDATE review_trail SET actor = 'eve' WHERE seq = 5", 5),
])
def test_tampering_names_first_broken_entry(store_url, tamper, first):
    store = open_store(store_url)
    _fill(store)
    _drop_triggers(store)  # someone with full database access
    if not store.is_sqlite:
        tamper = tamper.replace("payload = '", "payload = CAST('").replace("}' WHERE", "}' AS JSON) WHERE")
    with store.engine.begin() as c:
        c.execute(sa.text(tamper))
    res = verify(store)
    assert not res.ok and res.first_broken == first
    r = CliRunner().invoke(app, ["review", "verify", "--store", store_url])
    assert r.exit_code == 1 and f"broken at entry {first}" in r.output


def test_rehashed_forgery_breaks_the_next_link(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = open_store(url)
    _fill(store, 3)
    _drop_triggers(store)
    with store.engine.begin() as c:  # forge entry 2 *and* recompute its hash: entry 3's link breaks
        row = c.execute(sa.text("SELECT seq, at, actor, action, prev_hash FROM review_trail WHERE seq = 2")).one()
        h = entry_hash(row.prev_hash, {"seq": 2, "at": row.at, "actor": "eve", "action": row.action,
                                       "payload": {"item": 1, "action": "remove"}})
        c.execute(sa.text("UPDATE review_trail SET actor='eve', payload=:p, hash=:h WHERE seq=2"),
                  {"p": '{"item": 1, "action": "remove"}', "h": h})
    res = verify(store)
    assert not res.ok and res.first_broken == 3


def test_cli_verify_ok(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    _fill(open_store(url), 3)
    r = CliRunner().invoke(app, ["review", "verify", "--store", url])
    assert r.exit_code == 0 and "intact: 3 entries" in r.output
