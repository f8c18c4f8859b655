"""`unskew train` and the retraining loop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew.cli import app
from unskew.exceptions import UnskewInputError
from unskew.monitor import Monitor, predict_frame, retrain, save_model, train_table

runner = CliRunner()


def table(n: int, seed: int, west: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = np.where(rng.random(n) < 0.5, "west", "north") if west else rng.choice(["north", "south"], n)
    sex = rng.choice(["F", "M"], n)
    x1 = rng.normal(0, 1, n)
    logit = 2.0 * x1 + np.where(region == "west", 3.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "region": region, "sex": sex, "y": y})


def test_train_methods_and_skops_only(tmp_path):
    df = table(800, 0)
    model, info = train_table(df, target="y", method="reweighing", sensitive=["sex"])
    yp, sc = predict_frame(model, df)
    assert (yp.astype(int) == df.y).mean() > 0.75 and sc is not None
    path = save_model(model, tmp_path / "m.skops")
    from unskew.monitor._monitor import load_skops

    back = load_skops(path)
    assert (predict_frame(back, df)[0] == yp).all()
    with pytest.raises(UnskewInputError, match="never pickle"):
        save_model(model, tmp_path / "m.pkl")
    with pytest.raises(UnskewInputError, match="Unknown --method 'nope'"):
        train_table(df, target="y", method="nope")
    with pytest.raises(UnskewInputError, match="--sensitive"):
        train_table(df, target="y", method="oversample")


def test_train_cli(tmp_path):
    data = tmp_path / "t.csv"
    table(500, 1).to_csv(data, index=False)
    out = tmp_path / "model.skops"
    r = runner.invoke(app, ["train", str(data), "--target", "y", "--sensitive", "sex", "--method", "oversample",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and "Model:" in r.output
    r = runner.invoke(app, ["train", str(data), "--target", "nope", "--method", "baseline", "--out", str(out)])
    assert r.exit_code == 2 and "'nope'" in r.output


def test_retrain_lifts_the_new_subpopulation_and_registers(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    train = table(3000, 2)
    model, _ = train_table(train, target="y", method="baseline")
    mpath = save_model(model, tmp_path / "v1.skops")
    ref = train.copy()
    ref["pred"], ref["score"] = predict_frame(model, ref)
    mon = Monitor(url)
    mon.init("m", ref, target="y", predictions="pred", scores="score", sensitive=["region"], model=mpath)
    prod = table(3000, 3, west=True)
    prod["id"] = [f"p{i}" for i in range(len(prod))]
    prod["pred"], prod["score"] = predict_frame(model, prod)
    mon.log("m", prod.drop(columns="y"), id="id")
    mon.log_labels("m", prod[["id", "y"]], id="id", target="y")
    out = tmp_path / "v2.skops"
    trainp = tmp_path / "train.csv"
    train.to_csv(trainp, index=False)
    jp = tmp_path / "r.json"
    r = runner.invoke(app, ["retrain", "--store", url, "--name", "m", "--train", str(trainp), "--method", "baseline",
                            "--out", str(out), "--json", str(jp)])
    assert r.exit_code == 0, r.output
    rep = json.loads(jp.read_text())["checks"][0]
    s = rep["summary"]
    assert s["registered_version"] == 2, rep["findings"]
    assert s["production_rows_added"] > 0
    rows = {row[0]: row for row in rep["tables"][0]["rows"]}
    assert rows["region=west"][3] > rows["region=west"][2] + 0.05  # the candidate lifts the new subpopulation
    assert mon.profile("m").data["groups"].get("region=west", 0) > 0
    assert out.exists()


def test_retrain_refuses_without_stored_model(tmp_path):
    mon = Monitor(f"sqlite:///{tmp_path / 's.db'}")
    ref = table(500, 4)
    ref["pred"] = ref["y"]
    mon.init("m", ref, target="y", predictions="pred", sensitive=["sex"])
    with pytest.raises(UnskewInputError, match="no stored model"):
        retrain(mon, "m", ref.drop(columns="pred"))


# ----------------------------------------------------------------------------- challenge sets and the gate
@pytest.fixture(scope="module")
def lifted(tmp_path_factory):
    """A monitored model (trained without region=west) whose production adds region=west, with labels."""
    d = tmp_path_factory.mktemp("lifted")
    train = table(3000, 2)
    model, _ = train_table(train, target="y", method="baseline")
    mpath = save_model(model, d / "v1.skops")
    ref = train.copy()
    ref["pred"], ref["score"] = predict_frame(model, ref)
    mon = Monitor(f"sqlite:///{d / 's.db'}")
    mon.init("m", ref, target="y", predictions="pred", scores="score", sensitive=["region"], model=mpath)
    prod = table(3000, 3, west=True)
    prod["id"] = [f"p{i}" for i in range(len(prod))]
    prod["pred"], prod["score"] = predict_frame(model, prod)
    mon.log("m", prod.drop(columns="y"), id="id")
    mon.log_labels("m", prod[["id", "y"]], id="id", target="y")
    mon.store.dispose()
    train.to_csv(d / "train.csv", index=False)
    # the candidate `retrain` will train (same seed, same rows), to write challenge cases against
    probe = Monitor(f"sqlite:///{d / 's.db'}")
    retrain(probe, "m", train, method="baseline", out=d / "cand.skops", register=False)
    probe.store.dispose()
    from unskew.monitor._monitor import load_skops

    return {"dir": d, "db": (d / "s.db").read_bytes(), "train": train, "current": model,
            "candidate": load_skops(d / "cand.skops"), "prod": prod}


def _fresh(lifted, tmp_path) -> str:
    db = tmp_path / "s.db"
    db.write_bytes(lifted["db"])
    return f"sqlite:///{db}"


def _disagreements(lifted, expected_from: str) -> pd.DataFrame:
    """Production rows where candidate and current disagree, expecting the answer of one of them."""
    prod = lifted["prod"]
    X = prod[["x1", "region", "sex"]]
    yc, _ = predict_frame(lifted["candidate"], X)
    yo, _ = predict_frame(lifted["current"], X)
    diff = np.flatnonzero(yc != yo)[:12]
    assert len(diff) >= 4  # the scenario makes the models disagree on west rows
    cases = X.iloc[diff].copy()
    cases.insert(0, "id", [f"c{i}" for i in range(len(cases))])
    cases["expected"] = (yo if expected_from == "current" else yc)[diff]
    cases["tags"] = ["west-edge" if i % 2 else "west-edge;borderline" for i in range(len(cases))]
    return cases


def test_retrain_challenge_set_the_candidate_fails_blocks_registration(lifted, tmp_path):
    url = _fresh(lifted, tmp_path)
    ch = tmp_path / "red_team.csv"
    _disagreements(lifted, "current").to_csv(ch, index=False)
    out, jp = tmp_path / "v2.skops", tmp_path / "r.json"
    args = ["retrain", "--store", url, "--name", "m", "--train", str(lifted["dir"] / "train.csv"),
            "--out", str(out), "--json", str(jp), "--challenge", str(ch)]
    r = runner.invoke(app, args + ["--html", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output  # not registering is an outcome, not an error, without --fail-on
    assert "blocks registration" in (tmp_path / "r.html").read_text()
    rep = json.loads(jp.read_text())["checks"][0]
    s = rep["summary"]
    assert s["held_back_gate_passed"] is True  # the held-back rows alone would have registered it
    assert s["challenge_gate_passed"] is False and s["registered_version"] is None
    assert s["challenge_sets"][0]["candidate_worst_pass_rate"] == 0.0
    assert s["challenge_sets"][0]["current_worst_pass_rate"] == 1.0
    assert "blocks registration" in r.output and "Not registered" in r.output and "challenge set" in r.output
    tables = {t["title"]: t for t in rep["tables"]}
    tag_rows = {row[0]: row for row in tables[f"Pass rate per tag on challenge file {ch}"]["rows"]}
    assert tag_rows["west-edge"][2:] == [1.0, 0.0] and tag_rows["borderline"][1] == 6
    # the cases hold the sensitive columns: every group of the set is a tag too, judged like the others
    groups = {k: row for k, row in tag_rows.items() if k.startswith("group ")}
    assert groups and sum(row[1] for row in groups.values()) == s["challenge_sets"][0]["cases"]
    assert all(row[2:] == [1.0, 0.0] for row in groups.values())
    assert Monitor(url).profile("m").data.get("groups", {}).get("region=west", 0) == 0  # still version 1
    r = runner.invoke(app, args + ["--fail-on", "warn"])
    assert r.exit_code == 1, r.output
    # the same cases expecting the candidate's answers: it passes them all and is registered
    ch2 = tmp_path / "fixed.json"
    ch2.write_text(_disagreements(lifted, "candidate").to_json(orient="records"))
    r = runner.invoke(app, args[:-1] + [str(ch2), "--fail-on", "warn"])
    assert r.exit_code == 0, r.output
    assert json.loads(jp.read_text())["checks"][0]["summary"]["registered_version"] == 2


def test_retrain_bad_challenge_file_exits_2_naming_it(lifted, tmp_path):
    url = _fresh(lifted, tmp_path)
    base = ["retrain", "--store", url, "--name", "m", "--train", str(lifted["dir"] / "train.csv"),
            "--out", str(tmp_path / "v2.skops"), "--challenge"]
    cases = _disagreements(lifted, "current")
    bad = {
        "nocol.csv": (cases.drop(columns="x1"), "'x1'"),
        "noexp.csv": (cases.drop(columns="expected"), "'expected'"),
        "text.csv": (cases.assign(x1=["high"] + cases["x1"].tolist()[1:]), "'high'"),
    }
    for fname, (frame, needle) in bad.items():
        p = tmp_path / fname
        frame.to_csv(p, index=False)
        r = runner.invoke(app, base + [str(p)])
        assert r.exit_code == 2, (fname, r.output)
        assert needle in r.output and fname in r.output and "Traceback" not in r.output
    r = runner.invoke(app, base + [str(tmp_path / "absent.csv")])
    assert r.exit_code == 2 and "absent.csv" in r.output
    assert not (tmp_path / "v2.skops").exists()  # checked before training: nothing written
    r = runner.invoke(app, base[:-1] + ["--challenge-set", "nope"])
    assert r.exit_code == 2 and "'nope'" in r.output
    r = runner.invoke(app, base[:-1] + ["--gate", "vibes"])
    assert r.exit_code == 2 and "--gate" in r.output


def test_retrain_uses_the_review_stores_challenge_sets(lifted, tmp_path):
    from unskew.review import _challenges as C
    from unskew.review._queues import import_monitor_queue
    from unskew.store import open_store

    url = _fresh(lifted, tmp_path)
    st = open_store(url)
    q = import_monitor_queue(st, "m", actor="lead")
    cases = _disagreements(lifted, "current")
    linked = C.create_set(st, "west red team", ["x1", "region", "sex"], "y", actor="lead", queue_id=q["queue_id"])
    other = C.create_set(st, "unlinked", ["x1", "region", "sex"], "y", actor="lead")
    for r in cases.itertuples():
        C.add_case(st, linked.id, {"x1": r.x1, "region": r.region, "sex": r.sex}, r.expected, tags=r.tags, actor="lead")
    C.add_case(st, other.id, {"x1": 0.1, "region": "north", "sex": "F"}, "0", actor="lead")
    st.dispose()
    mon = Monitor(url)
    rep = retrain(mon, "m", lifted["train"], register=True)
    s = rep.checks[0].summary
    labels = rep.parameters["challenge_sets"]
    assert labels == [f"challenge set 'west red team' (store, version {len(cases)})"]
    assert s["challenge_gate_passed"] is False and s["registered_version"] is None
    rep = retrain(mon, "m", lifted["train"], challenge_sets=["unlinked"], store_challenges=False, register=False)
    assert rep.parameters["challenge_sets"] == ["challenge set 'unlinked' (store, version 1)"]
    assert rep.checks[0].summary["challenge_sets"][0]["cases"] == 1


def test_retrain_interval_gate_and_all_production_rows(lifted, tmp_path):
    mon = Monitor(_fresh(lifted, tmp_path))
    rep = retrain(mon, "m", lifted["train"], production="all", gate="interval", register=False)
    s = rep.checks[0].summary
    lo, hi = s["worst_accuracy_difference_interval"]
    assert lo <= s["candidate_worst_accuracy"] - s["current_worst_accuracy"] <= hi
    assert s["held_back_gate_passed"] == (hi >= 0)
    queue_rep = retrain(mon, "m", lifted["train"], register=False)
    assert s["production_rows_added"] > queue_rep.checks[0].summary["production_rows_added"] > 0
    with pytest.raises(UnskewInputError, match="--production"):
        retrain(mon, "m", lifted["train"], production="some")


# ----------------------------------------------------------------------------- PyTorch methods
def test_train_group_dro_saves_safely_and_predicts_identically(tmp_path):
    pytest.importorskip("torch")
    import skops.io as sio

    from unskew.metrics._models import load_model
    from unskew.monitor._monitor import load_skops

    df = table(800, 5)
    data = tmp_path / "t.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "dro.skops"
    r = runner.invoke(app, ["train", str(data), "--target", "y", "--sensitive", "sex,region", "--method", "group_dro",
                            "--param", "max_epochs=10", "--param", "lr=0.01", "--param", "hidden_sizes=[16]", "--out", str(out)])
    assert r.exit_code == 0, r.output
    memory, _ = train_table(df, target="y", method="group_dro", sensitive=["sex", "region"],
                            params={"max_epochs": 10, "lr": 0.01, "hidden_sizes": (16,)})
    csv = pd.read_csv(data)
    ym, sm = predict_frame(memory, csv)
    for loaded in (load_skops(out), load_model(out)):  # the monitor's loader and evaluate's
        yl, sl = predict_frame(loaded, csv)
        assert (yl == ym).all() and np.array_equal(sl, sm)
    assert (ym.astype(int) == df.y).mean() > 0.75
    # the estimator inside is the real Group DRO network, rebuilt from numpy weights
    assert type(load_skops(out)._estimator()).__name__ == "GroupDROClassifier"
    # evaluate --model reads it without --trust-pickle and scores the same predictions
    jp = tmp_path / "e.json"
    r = runner.invoke(app, ["evaluate", str(data), "--target", "y", "--sensitive", "sex", "--model", str(out),
                            "--json", str(jp)])
    assert r.exit_code in (0, 1), r.output
    assert f"{(ym.astype(int) == df.y).mean():.3f}"[:4] in jp.read_text()
    # monitor init --model: the stored model predicts the logged rows as the in-memory one does
    url = f"sqlite:///{tmp_path / 's.db'}"
    ref = df.copy()
    ref["pred"], ref["score"] = ym, sm
    r = runner.invoke(app, ["monitor", "init", "--store", url, "--name", "dro", "--reference", str(_csv(ref, tmp_path)),
                       "--target", "y", "--predictions", "pred", "--scores", "score", "--sensitive", "sex",
                       "--model", str(out)])
    assert r.exit_code == 0, r.output
    batch = csv.drop(columns="y").assign(id=[f"b{i}" for i in range(len(csv))])
    mon = Monitor(url)
    mon.log("dro", batch, id="id")
    mon.log_labels("dro", csv.assign(id=batch["id"])[["id", "y"]], id="id", target="y")
    stored = mon.labelled_rows("dro").set_index("__row_id").loc[batch["id"], "__prediction"].astype(str).to_numpy()
    assert (stored == ym).all()
    # a tampered file with a type that can run code is refused (exit 2) by evaluate and by monitor init
    import os

    evil = load_skops(out)
    evil.encoder = os.system
    bad = tmp_path / "tampered.skops"
    bad.write_bytes(sio.dumps(evil))
    assert any("system" in t for t in sio.get_untrusted_types(data=bad.read_bytes()))
    r = runner.invoke(app, ["evaluate", str(data), "--target", "y", "--sensitive", "sex", "--model", str(bad)])
    assert r.exit_code == 2 and "does not trust" in r.output, r.output
    r = runner.invoke(app, ["monitor", "init", "--store", url, "--name", "evil", "--reference", str(_csv(ref, tmp_path)),
                            "--target", "y", "--predictions", "pred", "--sensitive", "sex", "--model", str(bad)])
    assert r.exit_code == 2 and "does not trust" in r.output, r.output


def _csv(frame: pd.DataFrame, tmp_path) -> str:
    p = tmp_path / "ref.csv"
    frame.to_csv(p, index=False)
    return str(p)


def test_train_torch_methods_need_what_they_need(tmp_path):
    pytest.importorskip("torch")
    df = table(300, 6)
    with pytest.raises(UnskewInputError, match="--sensitive"):
        train_table(df, target="y", method="group_dro")
    with pytest.raises(UnskewInputError, match="--param nope"):
        train_table(df, target="y", method="erm", params={"nope": 1})
    with pytest.raises(UnskewInputError, match="--param is for the PyTorch"):
        train_table(df, target="y", method="baseline", params={"max_epochs": 1})
    model, _ = train_table(df, target="y", method="jtt", sensitive=["sex"], params={"max_epochs": 2})
    assert model._estimator().validation_fraction == 0.2  # selects on validation groups
    r = runner.invoke(app, ["train", str(_csv(df, tmp_path)), "--target", "y", "--method", "erm", "--param", "max_epochs",
                            "--out", str(tmp_path / "m.skops")])
    assert r.exit_code == 2 and "=VALUE" in r.output


def test_train_correlation_remover_saves_the_transform_with_the_model(tmp_path):
    from unskew.mitigate import mitigate_table
    from unskew.monitor._monitor import load_skops

    df = table(800, 0)
    model, info = train_table(df, target="y", method="correlation_remover", sensitive=["sex"])
    assert info["decorrelated"] == ["x1"]
    # the first step rewrites x1 exactly as `unskew mitigate --method correlation_remover` does
    frame = df.astype({"region": object, "sex": object})
    Xt = model[0].transform(frame[model.feature_names_in_list_])
    expected = mitigate_table(df, target="y", sensitive=["sex"], method="correlation_remover").table
    np.testing.assert_allclose(Xt["x1"].to_numpy(), expected["x1"].to_numpy())
    yp, sc = predict_frame(model, df)
    assert (yp.astype(int) == df.y).mean() > 0.7
    back = load_skops(save_model(model, tmp_path / "cr.skops"))  # types unskew trusts: no --trust needed
    yp2, sc2 = predict_frame(back, df)
    assert (yp2 == yp).all() and np.allclose(sc2, sc)
    # the saved model needs the sensitive column in the rows it predicts
    assert "sex" in back.feature_names_in_list_
    bad = df.copy()
    bad.loc[7, "x1"] = np.nan
    with pytest.raises(UnskewInputError, match=r"'x1' is missing or infinite at row 7"):
        train_table(bad, target="y", method="correlation_remover", sensitive=["sex"])
    with pytest.raises(UnskewInputError, match="numeric feature columns"):
        train_table(df[["region", "sex", "y"]], target="y", method="correlation_remover", sensitive=["sex"])
    data = tmp_path / "t.csv"
    df.to_csv(data, index=False)
    r = runner.invoke(app, ["train", str(data), "--target", "y", "--sensitive", "sex", "--method",
                            "correlation_remover", "--out", str(tmp_path / "cli.skops")])
    assert r.exit_code == 0, r.output
