import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "monitor"))
from _monitor_data import make_rows  # noqa: E402

from unskew.review import _queues as Q  # noqa: E402
from unskew.review._trail import verify  # noqa: E402


def test_import_monitoring_failure_queue(tmp_path):
    from typer.testing import CliRunner

    from unskew.cli import app
    from unskew.monitor import Monitor

    url = f"sqlite:///{tmp_path / 'm.db'}"
    mon = Monitor(url)
    mon.init("credit", make_rows(3000, 0).drop(columns="id"), target="y", predictions="pred", scores="score",
             sensitive=["sex", "race"], block_rows=100)
    mon.log("credit", make_rows(300, 5), id="id")
    rows = make_rows(200, 6, new_region=True, start=300)
    mon.log("credit", rows, id="id")
    mon.log_labels("credit", rows[["id", "y"]], id="id", target="y")
    fq = mon.queue("credit")
    r = CliRunner().invoke(app, ["review", "import", "--monitor", "credit", "--store", url])
    assert r.exit_code == 0, r.output
    q = [x for x in Q.list_queues(mon.store) if x["name"] == "monitor-credit"][0]
    assert q["items"] == fq["row_id"].nunique()
    items = sorted(_items(mon.store), key=lambda i: i.position)
    top = items[0]
    assert {"region", "x1"} <= set(top.row) and top.prediction is not None
    reasons = {f["check"] for i in items for f in i.reason["flags"]}
    assert "monitor:new_subpopulation" in reasons
    # wrong predictions (certain harm) come before new-subpopulation-only rows
    if "monitor:wrong_prediction" in reasons:
        first_wrong = min(i.position for i in items if any(f["check"] == "monitor:wrong_prediction" for f in i.reason["flags"]))
        only_new = [i.position for i in items if {f["check"] for f in i.reason["flags"]} == {"monitor:new_subpopulation"}]
        assert not only_new or first_wrong < max(only_new)
    assert verify(mon.store).ok
    with pytest.raises(Exception, match="nope"):
        Q.import_monitor_queue(mon.store, "nope")


def _items(store):
    from sqlalchemy import select

    from unskew.store._review import ReviewItem

    with store.session() as s:
        return s.execute(select(ReviewItem)).scalars().all()
