"""``unskew explain --images``: saliency report from a TorchScript model, image grids, region share, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from unskew.cli import app

torch = pytest.importorskip("torch")
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain_images")
    rng = np.random.default_rng(0)
    n = 40
    group = np.array(["A", "B"] * (n // 2))
    y = rng.integers(0, 2, n)
    X = rng.integers(0, 60, (n, 8, 8)).astype(np.uint8)
    X[y == 1, :, :4] += 150  # class 1 is bright on the left half
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 8 * 8, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt, yt = torch.as_tensor(X[:, None] / 255.0, dtype=torch.float32), torch.as_tensor(y)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    torch.jit.save(torch.jit.script(net.eval()), str(tmp / "m.pt"))
    pd.DataFrame({"group": group, "y": y, "word": np.where(y == 1, "cat", "dog")}).to_csv(tmp / "d.csv", index=False)
    np.save(tmp / "x.npy", X)
    mask = np.zeros((8, 8), bool)
    mask[:, :4] = True
    np.save(tmp / "mask.npy", mask)
    np.save(tmp / "mask_bad.npy", np.zeros((7, 8), bool))
    np.save(tmp / "x_short.npy", X[:30])
    np.save(tmp / "x_3ch.npy", np.repeat(X[:, None], 3, axis=1))
    (tmp / "notmodel.pt").write_bytes(b"not a torchscript archive")
    return tmp


def _invoke(*args):
    return runner.invoke(app, ["explain", *map(str, args)])


def test_json_html_with_maps_and_region_share(files):
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files as res

    tmp = files
    r = _invoke(tmp / "d.csv", "-s", "group", "-t", "y", "--model", tmp / "m.pt", "--trust-pickle",
                "--images", tmp / "x.npy", "--mask", tmp / "mask.npy", "--saliency-method", "gradient,integrated_gradients",
                "--json", tmp / "r.json", "--html", tmp / "r.html")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp / "r.json").read_text())
    jsonschema.validate(rep, json.loads(res("unskew.report").joinpath("schema.json").read_text()))
    (sec,) = rep["checks"]
    assert sec["name"] == "saliency"
    methods = sec["summary"]["methods"]
    assert set(methods) == {"gradient", "integrated_gradients"}
    for info in methods.values():
        assert set(info["region_share_by_group"]) == {"group=A", "group=B"}
        assert 0 <= info["region_share"] <= 1
        assert info["sanity"]["n_images"] == 40 and isinstance(info["sanity"]["passed"], bool)
    # the trained model's evidence is on the bright left half, so more than half of the attribution lies there
    assert methods["gradient"]["region_share"] > 0.5
    assert len(sec["images"]) == 2 and all(len(i["png"]) > 100 for i in sec["images"])
    html = (tmp / "r.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "sanity" in html.lower()


def test_no_mask_and_gradcam_refused_for_torchscript(files):
    tmp = files
    r = _invoke(tmp / "d.csv", "-s", "group", "--model", tmp / "m.pt", "--trust-pickle", "--images", tmp / "x.npy",
                "--saliency-method", "gradcam,gradient", "--json", tmp / "r2.json")
    assert r.exit_code == 0, r.output
    sec = json.loads((tmp / "r2.json").read_text())["checks"][0]
    assert list(sec["summary"]["methods"]) == ["gradient"]
    assert "region_share" not in sec["summary"]["methods"]["gradient"]
    assert any("TorchScript" in f["message"] for f in sec["findings"])


@pytest.mark.parametrize("args, needle", [
    (["--images", "x_short.npy"], "30 images but the table has 40 rows"),
    (["--images", "x.npy", "--mask", "mask_bad.npy"], "mask_bad.npy has shape (7, 8)"),
    (["--images", "x.npy", "--model-file", "notmodel.pt"], "not a TorchScript model"),
    (["--images", "x.npy", "--no-trust"], "--trust-pickle"),
    (["--images", "x.npy", "--saliency-method", "lime"], "Unknown saliency method"),
    (["--images", "d.csv"], "Cannot read"),
    (["--images", "x_3ch.npy"], "cannot take"),
    (["--images", "x.npy", "--target", "word"], "integer class indices"),
])
def test_bad_input_exits_2(files, args, needle):
    tmp = files
    model, trust = "m.pt", ["--trust-pickle"]
    if "--model-file" in args:
        i = args.index("--model-file")
        model, args = args[i + 1], args[:i] + args[i + 2:]
    if "--no-trust" in args:
        trust, args = [], [a for a in args if a != "--no-trust"]
    args = [str(tmp / a) if a.endswith((".npy", ".csv")) else a for a in args]
    r = _invoke(tmp / "d.csv", "-s", "group", "--model", tmp / model, *trust, *args)
    assert r.exit_code == 2, r.output
    assert needle in " ".join(r.output.split())
    assert "Traceback" not in r.output


def test_thresholds_parsed_in_library():
    from unskew.exceptions import UnskewInputError
    from unskew.explain import parse_thresholds

    assert parse_thresholds(["a=1", " b = 2.5"]) == {"a": 1.0, "b": 2.5}
    with pytest.raises(UnskewInputError, match="NAME=VALUE"):
        parse_thresholds(["a"])
    with pytest.raises(UnskewInputError, match="needs a number"):
        parse_thresholds(["a=x"])


def test_failed_sanity_check_warns_and_gates(files):
    tmp = files
    # a cut-off of -1 correlation cannot be met: the method is flagged, the section warns, --fail-on warn exits 1
    r = _invoke(tmp / "d.csv", "-s", "group", "--model", tmp / "m.pt", "--trust-pickle", "--images", tmp / "x.npy",
                "--saliency-method", "gradient", "--threshold", "sanity_spearman=-1", "--fail-on", "warn",
                "--json", tmp / "r3.json")
    assert r.exit_code == 1, r.output
    sec = json.loads((tmp / "r3.json").read_text())["checks"][0]
    assert sec["status"] == "warn" and sec["summary"]["methods"]["gradient"]["sanity"]["passed"] is False
    assert any(f["severity"] == "warn" and "sanity check" in f["message"] for f in sec["findings"])
    r = _invoke(tmp / "d.csv", "-s", "group", "--model", tmp / "m.pt", "--trust-pickle", "--images", tmp / "x.npy",
                "--threshold", "proxy_share_warn=0.1")
    assert r.exit_code == 2 and "sanity_spearman" in r.output


def test_torchscript_randomisation_redraws_every_parameter(files):
    from unskew.explain._saliency import _randomised

    m = torch.jit.load(str(files / "m.pt"))
    before = [p.detach().clone() for p in m.parameters()]
    rand = _randomised(m)
    for p0, p, q in zip(before, m.parameters(), rand.parameters(), strict=True):
        assert torch.equal(p0, p)  # the trained model is untouched
        assert not torch.allclose(p0, q)
