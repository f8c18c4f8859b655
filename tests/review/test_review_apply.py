import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.review import apply_decisions


def _dec(rows):
    cols = ["item_id", "row_key", "action", "new_label", "reviewer", "decided_at", "comment"]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


def table():
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "x": [1, 2, 3, 4], "y": [0, 1, 0, 1]})


def test_relabel_remove_and_counts():
    d = _dec([
        (1, 0, "relabel", 1, "ann", "2026-01-01T00:00:00Z", ""),
        (2, 1, "remove", None, "ann", "2026-01-01T00:00:01Z", ""),
        (3, 2, "keep", None, "ann", "2026-01-01T00:00:02Z", ""),
        (4, 3, "escalate", None, "ann", "2026-01-01T00:00:03Z", ""),
    ])
    cleaned, s = apply_decisions(table(), d, target="y")
    assert cleaned["id"].tolist() == ["a", "c", "d"]
    assert cleaned["y"].tolist() == [1, 0, 1]
    assert cleaned["review_action"].tolist() == ["relabel", "keep", "escalate"]
    assert cleaned["review_original_label"].iloc[0] == 0
    assert (s["relabelled"], s["removed"], s["kept"], s["escalated"]) == (1, 1, 1, 1)
    assert s["rows_in"] == 4 and s["rows_out"] == 3 and s["conflicts"] == []


def test_last_decision_wins_and_conflict_reported():
    d = _dec([
        (1, "b", "remove", None, "ann", "2026-01-01T00:00:05Z", ""),
        (1, "b", "relabel", 0, "bob", "2026-01-01T00:00:01Z", ""),
    ])
    cleaned, s = apply_decisions(table(), d, key="id", target="y")
    assert "b" not in cleaned["id"].tolist()  # later remove wins over the earlier relabel
    assert s["removed"] == 1 and s["relabelled"] == 0
    assert s["conflicts"] == [{"row_key": "b", "actions": ["relabel:0", "remove"]}]


def test_label_column_from_file_and_csv_round_trip(tmp_path):
    t = pd.DataFrame({"x": [1, 2], "income": ["<=50K", ">50K"]})
    t.to_csv(tmp_path / "t.csv", index=False)
    d = _dec([(1, 1, "relabel", "<=50K", "ann", "2026-01-01", "")])
    d["label_column"] = "income"
    d.to_csv(tmp_path / "d.csv", index=False)
    cleaned, s = apply_decisions(tmp_path / "t.csv", tmp_path / "d.csv")
    assert cleaned["income"].tolist() == ["<=50K", "<=50K"]
    assert s["relabelled"] == 1 and s["label_column"] == "income"


def test_relabel_to_same_label_is_counted_unchanged():
    d = _dec([(1, 1, "relabel", 1, "ann", None, "")])
    cleaned, s = apply_decisions(table(), d, target="y")
    assert s["relabelled"] == 0 and s["unchanged_relabels"] == 1
    assert cleaned["review_action"].tolist()[1] == "keep"


@pytest.mark.parametrize("rows,key,target,match", [
    ([(1, 0, "delete", None, "a", None, "")], None, "y", "'delete' is not an action"),
    ([(1, 9, "keep", None, "a", None, "")], None, "y", "'9' names no row"),
    ([(1, "zz", "keep", None, "a", None, "")], "id", "y", "'zz' names no row"),
    ([(1, 0, "relabel", None, "a", None, "")], None, "y", "needs a new label"),
    ([(1, 0, "relabel", 1, "a", None, "")], None, None, "names no label column"),
    ([(1, 0, "relabel", "x", "a", None, "")], None, "y", "cannot be stored"),
    ([(1, 0, "keep", None, "a", "yesterday-ish", "")], None, "y", "'decided_at'"),
    ([(1, 0, "keep", None, "a", None, "")], "nope", "y", "key column 'nope'"),
])
def test_bad_input_names_column_and_value(rows, key, target, match):
    with pytest.raises(UnskewInputError, match=match):
        apply_decisions(table(), _dec(rows), key=key, target=target)


def test_missing_columns():
    with pytest.raises(UnskewInputError, match="row_key"):
        apply_decisions(table(), pd.DataFrame({"action": ["keep"]}))


def test_cli_apply(tmp_path):
    from typer.testing import CliRunner

    from unskew.cli import app

    table().to_csv(tmp_path / "t.csv", index=False)
    _dec([(1, 0, "relabel", 1, "ann", None, ""), (2, 3, "remove", None, "ann", None, "")]).to_csv(
        tmp_path / "d.csv", index=False)
    r = CliRunner().invoke(app, ["review", "apply", str(tmp_path / "t.csv"), str(tmp_path / "d.csv"),
                                 "--out", str(tmp_path / "c.csv"), "--target", "y"])
    assert r.exit_code == 0, r.output
    assert "1 relabelled" in r.output and "1 removed" in r.output
    out = pd.read_csv(tmp_path / "c.csv")
    assert out["id"].tolist() == ["a", "b", "c"] and out["y"].tolist() == [1, 1, 0]
    r = CliRunner().invoke(app, ["review", "apply", str(tmp_path / "t.csv"), str(tmp_path / "d.csv"),
                                 "--out", str(tmp_path / "c2.csv")])
    assert r.exit_code == 2 and "--target" in r.output and not (tmp_path / "c2.csv").exists()
    r = CliRunner().invoke(app, ["review", "apply", str(tmp_path / "t.csv"), str(tmp_path / "d.csv"),
                                 "--out", str(tmp_path / "c.xlsx"), "--target", "y"])
    assert r.exit_code == 2 and ".csv" in r.output
