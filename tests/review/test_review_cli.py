import pandas as pd
from typer.testing import CliRunner

from unskew.cli import app


def test_cli_import_users_tokens_export_verify(tmp_path, audited, _migrated_db):
    import shutil

    data, report = audited
    shutil.copy(_migrated_db, tmp_path / "s.db")
    url = f"sqlite:///{tmp_path / 's.db'}"
    run = CliRunner().invoke
    r = run(app, ["review", "import", str(data), "--report", str(report), "--store", url, "--queue", "audit",
                  "--key", "id"])
    assert r.exit_code == 0, r.output
    assert "Queue 'audit' (id 1)" in r.output and "label_quality" in r.output
    r = run(app, ["review", "user", "add", "ann", "--role", "reviewer", "--store", url, "--password-stdin"],
            input="a-long-password\n")
    assert r.exit_code == 0 and "role reviewer" in r.output
    r = run(app, ["review", "user", "add", "ann", "--role", "reviewer", "--store", url, "--password-stdin"],
            input="a-long-password\n")
    assert r.exit_code == 2 and "already exists" in r.output
    r = run(app, ["review", "user", "add", "bob", "--role", "boss", "--store", url, "--no-password"])
    assert r.exit_code == 2 and "--role must be one of admin" in r.output.replace("viewer, reviewer, admin", "admin")
    r = run(app, ["review", "token", "create", "ann", "--store", url])
    assert r.exit_code == 0 and r.output.strip().startswith("usk_")
    assert run(app, ["review", "token", "create", "nobody", "--store", url]).exit_code == 2
    # decide one item through the library, export, apply
    from unskew.review import _queues as Q
    from unskew.review._auth import token_user
    from unskew.store import open_store

    store = open_store(url)
    ann = token_user(store, r.output.strip())
    it = Q.next_item(store, 1, ann.id)
    Q.decide(store, it.id, ann, "remove")
    r = run(app, ["review", "export", "--store", url, "--out", str(tmp_path / "d.csv")])
    assert r.exit_code == 0 and "1 decisions on 1 items" in r.output
    dec = pd.read_csv(tmp_path / "d.csv")
    assert list(dec.columns[:7]) == ["item_id", "row_key", "action", "new_label", "reviewer", "decided_at", "comment"]
    r = run(app, ["review", "apply", str(data), str(tmp_path / "d.csv"), "--key", "id", "--out", str(tmp_path / "c.csv")])
    assert r.exit_code == 0 and "1 removed" in r.output
    assert len(pd.read_csv(tmp_path / "c.csv")) == len(pd.read_csv(data)) - 1
    r = run(app, ["review", "verify", "--store", url])
    assert r.exit_code == 0 and "intact" in r.output
    r = run(app, ["review", "import", str(data), "--report", str(tmp_path / "nope.json"), "--store", url])
    assert r.exit_code == 2 and "not found" in r.output
