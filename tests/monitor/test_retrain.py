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
