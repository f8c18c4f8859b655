"""Saliency maps: agreement with Captum, batching, region share, group means, sanity check."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unskew.exceptions import UnskewInputError  # noqa: E402
from unskew.explain import group_mean_maps, region_share, saliency, sanity_check  # noqa: E402


def _cnn(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 3),
    ).eval()


def _images(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, 12, 12, generator=g)


def test_integrated_gradients_match_captum_and_batching_does_not_change_them():
    captum_attr = pytest.importorskip("captum.attr")
    net, x = _cnn(), _images()
    t = torch.tensor([0, 1, 2] * 4)
    ours = saliency(net, x, target=t, method="integrated_gradients", n_steps=20)
    small = saliency(net, x, target=t, method="integrated_gradients", n_steps=20, batch_size=25)
    ref = captum_attr.IntegratedGradients(net).attribute(x, target=t, n_steps=20).abs().sum(1).numpy()
    assert ours.shape == (12, 12, 12) and (ours >= 0).all()
    assert np.allclose(ours, ref, rtol=1e-4, atol=1e-6)
    assert np.allclose(small, ours, rtol=1e-5, atol=1e-7)


def test_gradient_and_grad_cam_match_captum():
    captum_attr = pytest.importorskip("captum.attr")
    net, x = _cnn(), _images()
    t = torch.tensor([1] * 12)
    g = saliency(net, x, target=t, method="gradient")
    ref = captum_attr.Saliency(net).attribute(x, target=t, abs=True).sum(1).numpy()
    assert np.allclose(g, ref, rtol=1e-5, atol=1e-7)
    cam = saliency(net, x, target=t, method="grad_cam")
    layer = net[3]
    ref_cam = captum_attr.LayerGradCam(net, layer).attribute(x, target=t, relu_attributions=True)
    ref_cam = captum_attr.LayerAttribution.interpolate(ref_cam, (12, 12), interpolate_mode="bilinear")[:, 0]
    assert np.allclose(cam, ref_cam.detach().numpy(), rtol=1e-4, atol=1e-6)
    sg = saliency(net, x, target=t, method="smoothgrad", n_samples=8)
    assert sg.shape == (12, 12, 12) and (sg >= 0).all()
    # default target is the predicted class
    pred = net(x).argmax(1)
    assert np.allclose(saliency(net, x, method="gradient"), saliency(net, x, target=pred, method="gradient"))


def test_integrated_gradients_are_complete():
    net, x = _cnn(), _images(4)
    t = torch.zeros(4, dtype=torch.long)
    # completeness: signed attributions sum to f(x) - f(0); check with a linear model (exact for any steps)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 12 * 12, 3)).eval()
    with torch.no_grad():
        lin[1].weight.abs_()
    m = saliency(lin, x, target=t, method="integrated_gradients", n_steps=5)
    with torch.no_grad():
        diff = (lin(x)[:, 0] - lin(torch.zeros_like(x))[:, 0]).numpy()
    assert np.allclose(m.sum(axis=(1, 2)), np.abs(diff), rtol=1e-4)
    del net


def test_region_share_and_group_means():
    maps = np.zeros((3, 4, 4))
    maps[0, 0, 0] = 1
    maps[1] = 1
    mask = np.zeros((4, 4), bool)
    mask[0] = True
    share = region_share(maps, mask)
    assert share[0] == 1.0 and share[1] == 0.25 and np.isnan(share[2])
    per_image = np.broadcast_to(mask, (3, 4, 4)).copy()
    assert np.allclose(region_share(maps, per_image)[:2], share[:2])
    means = group_mean_maps(maps, np.array(["a", "b", "a"]))
    assert set(means) == {"group=a", "group=b"} and np.allclose(means["group=a"], maps[[0, 2]].mean(0))
    with pytest.raises(UnskewInputError, match="boolean"):
        region_share(maps, mask.astype(int))
    with pytest.raises(UnskewInputError, match="shape"):
        region_share(maps, np.zeros((5, 5), bool))


def test_sanity_check_passes_for_gradients_of_a_trained_model():
    # train a tiny model so that its maps depend on what it learned
    torch.manual_seed(0)
    x = torch.rand(200, 2, 12, 12)
    y = (x[:, 0, :6].mean((1, 2)) > x[:, 0, 6:].mean((1, 2))).long()
    net = _cnn()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    res = sanity_check(net, x[:30], method="gradient")
    assert set(res) >= {"method", "spearman_mean", "passed"}
    assert res["passed"] and res["spearman_mean"] < 0.5
    # the trained model is left untouched
    before = [p.clone() for p in net.parameters()]
    sanity_check(net, x[:5], method="grad_cam")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))


def test_bad_input_is_named():
    net = _cnn()
    with pytest.raises(UnskewInputError, match="method must be"):
        saliency(net, _images(2), method="lime")
    with pytest.raises(UnskewInputError, match="image_shape"):
        saliency(net, np.zeros((2, 288), np.float32))
    with pytest.raises(UnskewInputError, match="target has 3 values"):
        saliency(net, _images(2), target=[0, 1, 2])
    with pytest.raises(UnskewInputError, match="torch.nn.Module"):
        saliency(object(), _images(2))


def test_saliency_section_embeds_png_grids_and_validates(tmp_path):
    import base64
    import json
    from importlib.resources import files as res

    jsonschema = pytest.importorskip("jsonschema")
    from unskew.explain import saliency_section
    from unskew.report import Report

    net, x = _cnn(), _images(10)
    mask = np.zeros((12, 12), bool)
    mask[:, :6] = True
    sec = saliency_section(net, x, sensitive=np.array(["a", "b"] * 5), mask=mask, sanity_images=6,
                           methods=("gradient", "grad_cam"))
    assert set(sec.summary["methods"]) == {"gradient", "grad_cam"}
    assert len(sec.images) == 2
    png = base64.b64decode(sec.images[0].png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    rep = Report(kind="explain", checks=[sec])
    d = json.loads(rep.to_json())
    jsonschema.validate(d, json.loads(res("unskew.report").joinpath("schema.json").read_text()))
    html = rep.to_html()
    assert html.count("data:image/png;base64,") == 2
    # a forged image entry that is not a PNG is dropped by the renderer
    d["checks"][0]["images"][0]["png"] = "PHNjcmlwdD4="
    from unskew.report._html import render_html

    assert render_html(d).count("data:image/png;base64,") == 1
