"""The training core: data handling, models, selection, checkpoints, seeds, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from train_helpers import spurious

from unskew.exceptions import UnskewInputError
from unskew.train import (
    BASE_PARAMS,
    METHODS,
    DFRClassifier,
    ERMClassifier,
    FlatNet,
    GroupDROClassifier,
    HardExampleMiningClassifier,
    JTTClassifier,
    LinearHead,
    SmallCNN,
    TabularNet,
)

FAST = {"max_epochs": 2, "hidden_sizes": (16, 16), "batch_size": 64, "lr": 5e-3}


def _fast(name):
    params = dict(FAST)
    if name == "occamnet":
        params["hidden_sizes"] = (16, 16, 16)
    return params


# ----------------------------------------------------------------- every method
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_on_a_spurious_problem(name, problem):
    (X, y, g, a), (Xv, yv, gv, _), (Xt, yt, _, _) = problem
    est = METHODS[name](**{**_fast(name), "max_epochs": 3})
    assert est.group_requirement in ("train", "validation", "none")
    est.fit(X, y, groups=g, sensitive=a, X_val=Xv, y_val=yv, groups_val=gv)
    proba = est.predict_proba(Xt)
    assert proba.shape == (len(Xt), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert set(np.unique(est.predict(Xt))) <= {0, 1}
    # it learned something: far above chance on the training distribution
    assert np.mean(est.predict(X) == y) > 0.75
    assert est.selection_ == "worst_group"
    assert 0 <= est.best_epoch_ < 3
    assert est.checkpoints_ and isinstance(est.checkpoints_[0], dict)
    assert {"train_loss", "val_accuracy", "val_worst_group_accuracy"} <= set(est.history_[-1])
    assert isinstance(est.model_, torch.nn.Module) and not est.model_.training


@pytest.mark.parametrize("name", sorted(METHODS))
def test_params_are_sklearn_style(name):
    cls = METHODS[name]
    est = cls()
    params = est.get_params()
    assert set(BASE_PARAMS) <= set(params)
    for k, v in cls._method_params.items():
        assert params[k] == v
    est.set_params(max_epochs=7, random_state=3)
    twin = clone(est)
    assert twin.get_params()["max_epochs"] == 7 and twin.random_state == 3
    with pytest.raises(TypeError, match="unexpected"):
        cls(not_a_param=1)


# ----------------------------------------------------------------- group requirements
@pytest.mark.parametrize("name", sorted(n for n, c in METHODS.items() if c().group_requirement == "train"))
def test_missing_training_groups_raise_a_clear_error(name, problem):
    (X, y, _, _), _, _ = problem
    with pytest.raises(UnskewInputError, match="needs group labels for every training row"):
        METHODS[name](**_fast(name)).fit(X, y)


@pytest.mark.parametrize("cls", [JTTClassifier, DFRClassifier])
def test_validation_group_methods_need_validation_groups(cls, problem):
    (X, y, g, _), (Xv, yv, _, _), _ = problem
    with pytest.raises(UnskewInputError, match="group labels on the validation data"):
        cls(**FAST).fit(X, y, X_val=Xv, y_val=yv)
    with pytest.raises(UnskewInputError, match="group labels on the validation data"):
        cls(**FAST).fit(X, y)
    # groups plus a held-out share of the training rows is enough
    cls(**FAST, validation_fraction=0.3).fit(X, y, groups=g)


def test_jtt_runs_without_groups_when_selection_does_not_need_them(problem):
    (X, y, _, _), (Xv, yv, _, _), _ = problem
    est = JTTClassifier(**FAST, selection="average").fit(X, y, X_val=Xv, y_val=yv)
    assert est.selection_ == "average"


def test_none_methods_need_no_groups(problem):
    (X, y, _, _), _, _ = problem
    for name, cls in METHODS.items():
        if cls().group_requirement == "none":
            est = cls(**_fast(name)).fit(X, y)
            assert est.selection_ == "last"


def test_reweighting_by_class_needs_no_groups(problem):
    (X, y, _, _), _, _ = problem
    est = METHODS["reweight"](by="class", **FAST)
    assert est.group_requirement == "none"
    est.fit(X, y)
    w = est.loss_weights_
    assert np.isclose(w[y == 0].sum(), w[y == 1].sum())


def test_bad_inputs_raise(problem):
    (X, y, g, _), (Xv, yv, gv, _), _ = problem
    with pytest.raises(UnskewInputError, match="groups has 3 values"):
        GroupDROClassifier(**FAST).fit(X, y, groups=g[:3])
    with pytest.raises(UnskewInputError, match="missing"):
        GroupDROClassifier(**FAST).fit(X, y, groups=np.where(g == 1, np.nan, g))
    with pytest.raises(UnskewInputError, match="single class"):
        ERMClassifier(**FAST).fit(X, np.zeros(len(y)))
    with pytest.raises(UnskewInputError, match="never seen"):
        ERMClassifier(**FAST).fit(X, y, X_val=Xv, y_val=yv + 5)
    with pytest.raises(UnskewInputError, match="sample_weight"):
        ERMClassifier(**FAST).fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(UnskewInputError, match="selection"):
        ERMClassifier(**FAST, selection="best").fit(X, y)
    with pytest.raises(UnskewInputError, match="worst_group"):
        ERMClassifier(**FAST, selection="worst_group").fit(X, y, X_val=Xv, y_val=yv)
    with pytest.raises(UnskewInputError, match="model must be"):
        ERMClassifier(**FAST, model="transformer").fit(X, y)
    with pytest.raises(UnskewInputError, match="cnn"):
        ERMClassifier(**FAST, model="cnn").fit(X, y)


# ----------------------------------------------------------------- seeds
@pytest.mark.parametrize("name", ["erm", "group_dro", "jtt", "ohem", "occamnet", "dann", "dfr"])
def test_same_seed_gives_identical_predictions(name, problem):
    (X, y, g, a), (Xv, yv, gv, _), (Xt, _, _, _) = problem
    kw = dict(**_fast(name), dropout=0.1) if name != "occamnet" else _fast(name)
    if name == "ohem":
        kw["strategy"] = "sampling"

    def run(seed):
        est = METHODS[name](**kw, random_state=seed)
        est.fit(X, y, groups=g, sensitive=a, X_val=Xv, y_val=yv, groups_val=gv)
        return est.predict_proba(Xt)

    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002 - the legacy global state is what must not matter
    p1 = run(5)
    torch.manual_seed(999)  # the global torch and numpy seeds must not matter
    np.random.seed(999)  # noqa: NPY002
    p2 = run(5)
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, run(6))


def test_fit_leaves_the_global_torch_rng_alone(problem):
    (X, y, _, _), _, _ = problem
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    ERMClassifier(**FAST).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------- selection & early stopping
def test_selection_rules(problem):
    (X, y, g, _), (Xv, yv, gv, _), _ = problem
    assert ERMClassifier(**FAST).fit(X, y).selection_ == "last"
    est = ERMClassifier(**FAST).fit(X, y, X_val=Xv, y_val=yv)
    assert est.selection_ == "average" and "val_worst_group_accuracy" not in est.history_[-1]
    est = ERMClassifier(**{**FAST, "max_epochs": 4}).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert est.selection_ == "worst_group"
    wga = [h["val_worst_group_accuracy"] for h in est.history_]
    assert wga[est.best_epoch_] == max(wga)
    # the kept weights are the selected epoch's
    for k, v in est.model_.state_dict().items():
        assert torch.equal(v, est.checkpoints_[est.best_epoch_][k])
    est = ERMClassifier(**FAST, validation_fraction=0.25).fit(X, y, groups=g)
    assert est.selection_ == "worst_group" and len(est.train_rows_) == 450


def test_early_stopping_stops(problem):
    (X, y, g, _), (Xv, yv, gv, _), _ = problem
    # a tiny learning rate makes improvements rare; patience 1 must cut training short
    est = ERMClassifier(**{**FAST, "max_epochs": 30, "lr": 1e-9}, patience=1)
    est.fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert len(est.history_) < 30
    assert len(est.checkpoints_) == len(est.history_)


def test_checkpoints_on_disk(problem, tmp_path):
    (X, y, _, _), _, _ = problem
    est = ERMClassifier(**FAST, checkpoint_dir=tmp_path).fit(X, y)
    assert len(est.checkpoint_paths_) == 2 and all(p.exists() for p in est.checkpoint_paths_)
    state = torch.load(est.checkpoint_paths_[-1])
    for k, v in state.items():
        assert torch.equal(v, est.checkpoints_[-1][k])


# ----------------------------------------------------------------- models and inputs
def test_dataframe_with_categoricals_uses_embeddings():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "flag": rng.random(n) < 0.5,
    })
    y = ((df["colour"] == "red") ^ df["flag"]).astype(int)
    est = ERMClassifier(max_epochs=30, hidden_sizes=(16,), lr=1e-2).fit(df, y)
    assert isinstance(est.model_, TabularNet) and len(est.model_.embeddings) == 1
    assert est.score(df, y) > 0.95
    new = pd.DataFrame({"x": [0.0], "colour": ["purple"], "flag": [True]})  # unseen category -> code 0
    assert est.attribution_inputs(new)[0, -1] == 0
    assert est.predict(new).shape == (1,)
    logistic = ERMClassifier(model="logistic", max_epochs=2).fit(df, y)
    assert isinstance(logistic.model_, TabularNet) and len(list(logistic.model_.body)) == 0
    with pytest.raises(UnskewInputError, match="missing"):
        est.predict(df[["x", "flag"]])


def test_images_grey_and_colour_channel_last():
    rng = np.random.default_rng(0)
    n = 64
    y = rng.integers(0, 2, n)
    grey = (rng.random((n, 28, 28)) * 255).astype(np.uint8)
    grey[y == 1, 10:18, 10:18] = 255
    est = ERMClassifier(max_epochs=1, batch_size=32).fit(grey, y)
    assert isinstance(est.model_, SmallCNN)
    assert est.attribution_inputs(grey).shape == (n, 1, 28, 28)
    assert est.attribution_inputs(grey).max() <= 1.0
    colour = np.repeat(grey[..., None], 3, axis=3)  # (n, 28, 28, 3)
    est = ERMClassifier(max_epochs=1, batch_size=32).fit(colour, y)
    assert est.attribution_inputs(colour).shape == (n, 3, 28, 28)
    cam = est.model_.cam(torch.as_tensor(est.attribution_inputs(colour[:2])))
    np.testing.assert_allclose(cam.mean(dim=(2, 3)).detach().numpy(),
                               est.decision_logits(colour[:2]), rtol=1e-4, atol=1e-5)
    flat = ERMClassifier(model="mlp", max_epochs=1, hidden_sizes=(8,)).fit(grey, y)
    assert isinstance(flat.model_, FlatNet)


def test_linear_head_on_a_frozen_encoder(problem):
    (X, y, _, _), _, _ = problem
    torch.manual_seed(0)
    encoder = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh())
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    est = ERMClassifier(model="linear", encoder=encoder, max_epochs=3).fit(X, y)
    assert isinstance(est.model_, LinearHead) and est.model_.head.in_features == 6
    trained_encoder = est.model_.encoder.state_dict()
    for k, v in before.items():
        assert torch.equal(trained_encoder[k], v)
    assert all(p.requires_grad is False for p in est.model_.encoder.parameters())
    plain = ERMClassifier(model="linear", max_epochs=1).fit(X, y)
    assert plain.model_.head.in_features == 4


def test_string_labels_and_sample_weight():
    X, y, g, _ = spurious(300, 0.5, 3)
    labels = np.where(y == 1, "yes", "no")
    est = ERMClassifier(**FAST).fit(X, labels, sample_weight=np.where(y == 1, 2.0, 1.0))
    assert list(est.classes_) == ["no", "yes"]
    assert set(est.predict(X)) <= {"no", "yes"}
    np.testing.assert_array_equal(est.encode_labels(["yes", "no"]), [1, 0])


# ----------------------------------------------------------------- attribution hooks
def test_margin_gradients_match_autograd(problem):
    (X, y, _, _), _, _ = problem
    est = ERMClassifier(**FAST).fit(X, y)
    G = est.margin_gradients(X[:5], y[:5])
    n_params = sum(p.numel() for p in est.model_.parameters())
    assert G.shape == (5, n_params)
    model = est.model_
    x = torch.as_tensor(est.attribution_inputs(X[3:4]))
    logits = model(x)[0]
    m = logits[y[3]] - logits[1 - y[3]]  # binary: logsumexp of the single other logit
    grads = torch.autograd.grad(m, list(model.parameters()))
    np.testing.assert_allclose(G[3], torch.cat([g.reshape(-1) for g in grads]).numpy(), rtol=1e-4, atol=1e-6)
    G0 = est.margin_gradients(X[:5], y[:5], checkpoint=est.checkpoints_[0])
    assert not np.allclose(G0, G)


def test_trak_runs_on_the_checkpoints(problem):
    from unskew.attribution import TRAK

    (X, y, _, _), (Xv, yv, _, _), _ = problem
    est = ERMClassifier(**FAST).fit(X[:100], y[:100])
    trak = TRAK(est.model_, est.checkpoints_, proj_dim=16)
    S = trak.attribute(est.attribution_inputs(X[:100]), y[:100], est.attribution_inputs(Xv[:20]), yv[:20])
    assert S.shape == (100, 20) and np.isfinite(S).all()


def test_hard_example_mining_rejects_bad_strategy(problem):
    (X, y, _, _), _, _ = problem
    with pytest.raises(UnskewInputError, match="strategy"):
        HardExampleMiningClassifier(**FAST, strategy="focal").fit(X, y)


def test_d3m_accepts_a_train_estimator(problem):
    from unskew.mitigate.d3m import D3M

    (X, y, _, _), (Xv, yv, gv, _), _ = problem
    d3m = D3M(estimator=ERMClassifier(**FAST), removal="k", k=10, proj_dim=16, min_group_size=1)
    d3m.fit(X[:200], y[:200], X_val=Xv[:60], y_val=yv[:60], groups_val=gv[:60])
    assert d3m.attributions_.shape == (200, 60) and len(d3m.removed_) == 10
    assert isinstance(d3m.estimator_, ERMClassifier) and d3m.predict(Xv).shape == (len(Xv),)
