"""The defining mechanism of each robust-training method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import spurious, worst_group_accuracy

from unskew.train import (
    AdversarialDebiasingClassifier,
    AdversarialTrainingClassifier,
    DANNClassifier,
    DFRClassifier,
    ERMClassifier,
    GroupBalancedClassifier,
    GroupDROClassifier,
    HardExampleMiningClassifier,
    JTTClassifier,
    OccamNetClassifier,
    ReweightedClassifier,
    SpectralDecouplingClassifier,
    cam_suppression_loss,
    debiased_direction,
    exponentiated_update,
    ganin_schedule,
    grad_reverse,
    group_balanced_batches,
    group_mean_losses,
    spectral_decoupling_penalty,
)
from unskew.train._base import Split

FAST = {"max_epochs": 2, "hidden_sizes": (16, 16), "batch_size": 64, "lr": 5e-3}


# ----------------------------------------------------------------- Group DRO
def test_exponentiated_update_is_the_mirror_ascent_step():
    q = torch.tensor([0.25, 0.25, 0.5])
    losses = torch.tensor([1.0, 2.0, 0.0])
    new = exponentiated_update(q, losses, eta=0.5)
    expected = q * torch.exp(0.5 * losses)
    torch.testing.assert_close(new, expected / expected.sum())
    assert torch.isclose(new.sum(), torch.tensor(1.0))
    per = torch.tensor([1.0, 3.0, 2.0, 5.0])
    means, counts = group_mean_losses(per, torch.tensor([0, 0, 2, 2]), 3)
    torch.testing.assert_close(means, torch.tensor([2.0, 0.0, 3.5]))
    torch.testing.assert_close(counts, torch.tensor([2.0, 0.0, 2.0]))


def test_group_dro_weights_move_toward_the_worst_group(problem):
    (X, y, g, _), _, _ = problem
    est = GroupDROClassifier(**{**FAST, "max_epochs": 4}, eta=0.05).fit(X, y, groups=g)
    q = est.group_weights_
    assert q.shape == (4,) and np.isclose(q.sum(), 1.0)
    erm = ERMClassifier(**{**FAST, "max_epochs": 4}).fit(X, y)
    proba = erm.predict_proba(X)[np.arange(len(y)), y]
    group_loss = [-np.log(proba[g == k]).mean() for k in range(4)]
    # the minority groups (label and attribute disagree) have the highest loss and get the weight
    assert np.argmax(group_loss) in (1, 2)
    assert np.argmax(q) in (1, 2)
    assert q[[1, 2]].sum() > 0.5 > q[[0, 3]].sum()
    history = np.array(est.group_weights_history_)
    assert history[-1, [1, 2]].sum() > history[0, [1, 2]].sum()


def test_group_dro_adjustment_favours_small_groups(problem):
    (X, y, g, _), _, _ = problem
    frozen = {**FAST, "lr": 0.0}  # same model throughout: only the adjustment differs
    plain = GroupDROClassifier(**frozen, eta=0.05).fit(X, y, groups=g)
    adjusted = GroupDROClassifier(**frozen, eta=0.05, adjustment=2.0).fit(X, y, groups=g)
    minority = [1, 2]
    assert adjusted.group_weights_[minority].sum() > plain.group_weights_[minority].sum()


@pytest.mark.slow
def test_group_dro_beats_erm_on_worst_group_accuracy():
    X, y, g, _ = spurious(3000, 0.95, 10)
    Xv, yv, gv, _ = spurious(600, 0.5, 11)
    Xt, yt, gt, _ = spurious(4000, 0.5, 12)
    kw = {"max_epochs": 15, "hidden_sizes": (32, 32), "batch_size": 128}
    erm_w, dro_w = [], []
    for seed in range(3):
        erm = ERMClassifier(**kw, random_state=seed).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
        dro = GroupDROClassifier(**kw, eta=0.05, random_state=seed).fit(X, y, groups=g, X_val=Xv, y_val=yv,
                                                                        groups_val=gv)
        erm_w.append(worst_group_accuracy(erm.predict(Xt), yt, gt))
        dro_w.append(worst_group_accuracy(dro.predict(Xt), yt, gt))
    assert np.mean(dro_w) > np.mean(erm_w) + 0.15
    assert min(dro_w) > max(erm_w)


# ----------------------------------------------------------------- JTT
class _RecordingJTT(JTTClassifier):
    def _train_step(self, model, opt, batch):
        if self._stage == "final" and len(self.history_) == 1 + int(self.identification_epochs) - 1:
            self.seen_.append(batch.idx.numpy())
        return super()._train_step(model, opt, batch)


def test_jtt_upweights_exactly_the_error_set(problem):
    (X, y, _, _), _, _ = problem
    jtt = _RecordingJTT(**{**FAST, "max_epochs": 1, "lr": 1e-3}, identification_epochs=1, upweight=5, selection="last")
    jtt.seen_ = []
    jtt.fit(X, y)
    pred = jtt._logits(jtt.identification_model_, torch.as_tensor(jtt.attribution_inputs(X))).argmax(1).numpy()
    errors = np.flatnonzero(pred != y)
    assert 0 < len(errors) < len(y)
    np.testing.assert_array_equal(jtt.error_set_, errors)
    expected = np.ones(len(y), int)
    expected[errors] = 5
    np.testing.assert_array_equal(jtt.upsampling_counts_, expected)
    # one epoch of the final stage visits every error-set example 5 times, every other once
    seen = np.bincount(np.concatenate(jtt.seen_), minlength=len(y))
    np.testing.assert_array_equal(seen, expected)
    assert [h["stage"] for h in jtt.history_] == ["identification", "final"]


# ----------------------------------------------------------------- hard example mining
def _split(X, y):
    Xt = torch.as_tensor(X)
    return Split(X=Xt, y=torch.as_tensor(y), w=torch.ones(len(y)))


@pytest.mark.parametrize("strategy", ["ohem", "sampling"])
def test_hard_example_mining_backpropagates_only_B_examples(strategy, problem):
    (X, y, _, _), _, _ = problem
    est = HardExampleMiningClassifier(**FAST, strategy=strategy, n_hard=10).fit(X, y)
    est._rng = np.random.default_rng(0)
    batch = _split(est.attribution_inputs(X), y).take(np.arange(64))
    batch.x = batch.x.clone().requires_grad_(True)
    loss = est._loss(est.model_, batch)
    loss.backward()
    touched = np.flatnonzero(batch.x.grad.abs().sum(1).numpy() > 0)
    assert len(touched) == 10
    np.testing.assert_array_equal(np.sort(est.last_selected_), touched)
    per = torch.nn.functional.cross_entropy(est.model_(batch.x), batch.y, reduction="none").detach().numpy()
    if strategy == "ohem":
        np.testing.assert_array_equal(touched, np.sort(np.argsort(-per)[:10]))


def test_loss_proportional_sampling_prefers_high_loss():
    est = HardExampleMiningClassifier(strategy="sampling", n_hard=5, power=2.0)
    est._rng = np.random.default_rng(0)
    losses = torch.tensor([0.01] * 15 + [5.0] * 5)
    picks = np.concatenate([est._select(losses).numpy() for _ in range(50)])
    assert np.mean(picks >= 15) > 0.95


# ----------------------------------------------------------------- data-side methods
def test_group_balanced_batches_hold_equal_groups():
    groups = np.array([0] * 90 + [1] * 8 + [2] * 2)
    batches = group_balanced_batches(groups, 30, 5, np.random.default_rng(0))
    for b in batches:
        assert len(b) == 30
        np.testing.assert_array_equal(np.bincount(groups[b], minlength=3), [10, 10, 10])


def test_group_balanced_classifier_uses_balanced_batches(problem):
    (X, y, g, _), _, _ = problem
    est = GroupBalancedClassifier(**FAST)
    est.fit(X, y, groups=g)
    est._rng = np.random.default_rng(1)
    split = Split(X=None, y=torch.as_tensor(y), w=None, g=torch.as_tensor(g), n_groups=4)
    batches = est._batches(split, est._rng, 0)
    assert len(batches) == int(np.ceil(len(y) / 64))
    for b in batches:
        np.testing.assert_array_equal(np.bincount(g[b], minlength=4), [16, 16, 16, 16])


def test_reweighting_gives_every_group_the_same_total_weight(problem):
    (X, y, g, _), _, _ = problem
    est = ReweightedClassifier(**FAST).fit(X, y, groups=g)
    totals = [est.loss_weights_[g == k].sum() for k in range(4)]
    np.testing.assert_allclose(totals, totals[0])
    assert np.isclose(est.loss_weights_.mean(), 1.0)


# ----------------------------------------------------------------- spectral decoupling
def test_spectral_decoupling_penalty_formula():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    y = torch.tensor([1, 0])
    pen = spectral_decoupling_penalty(logits, y, np.array([0.5, 2.0]), np.array([1.0, 0.0]))
    # binary: the logit difference z = (2, -2); class 1 uses lambda 2, gamma 0; class 0 lambda 0.5, gamma 1
    torch.testing.assert_close(pen, torch.tensor([0.5 * 2.0 * 4.0, 0.5 * 0.5 * 9.0]))
    multi = spectral_decoupling_penalty(torch.ones(1, 3), torch.tensor([2]), np.ones(3), np.zeros(3))
    torch.testing.assert_close(multi, torch.tensor([1.5]))


def test_spectral_decoupling_shrinks_the_logits(problem):
    (X, y, _, _), _, _ = problem
    kw = {**FAST, "max_epochs": 10, "weight_decay": 0.0}
    erm = ERMClassifier(**kw).fit(X, y)
    sd = SpectralDecouplingClassifier(**kw, sd_lambda=1.0).fit(X, y)
    norm_erm = np.abs(erm.decision_function(X)).mean()
    norm_sd = np.abs(sd.decision_function(X)).mean()
    assert norm_sd < 0.6 * norm_erm
    # per-class targets pull each class's logit difference toward its own gamma
    target = SpectralDecouplingClassifier(**kw, sd_lambda=5.0, sd_gamma=[-1.0, 1.0]).fit(X, y)
    z = target.decision_function(X)
    assert abs(np.median(z[y == 1]) - 1.0) < 0.5 and abs(np.median(z[y == 0]) + 1.0) < 0.5


def test_spectral_decoupling_warmup_trains_plain_cross_entropy_first(problem):
    (X, y, _, _), _, _ = problem
    kw = {**FAST, "max_epochs": 2}
    erm = ERMClassifier(**{**kw, "weight_decay": 0.0}).fit(X, y)
    warm = SpectralDecouplingClassifier(**kw, sd_lambda=5.0, warmup_epochs=2).fit(X, y)
    np.testing.assert_allclose(warm.predict_proba(X), erm.predict_proba(X), rtol=1e-5, atol=1e-6)
    penalised = SpectralDecouplingClassifier(**kw, sd_lambda=5.0, warmup_epochs=1).fit(X, y)
    assert not np.allclose(penalised.predict_proba(X), erm.predict_proba(X))


# ----------------------------------------------------------------- adversarial methods
def test_gradient_reversal_flips_the_sign():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (grad_reverse(x, 0.7) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-0.7, -1.4, -2.1]))
    y = torch.tensor([1.0, 2.0], requires_grad=True)
    out = grad_reverse(y, 1.0)
    torch.testing.assert_close(out, y)
    assert ganin_schedule(0.0) == 0.0 and 0.99 < ganin_schedule(1.0) < 1.0


def test_dann_feature_extractor_receives_the_reversed_domain_gradient(problem):
    (X, y, g, a), _, _ = problem
    est = DANNClassifier(**FAST, schedule="constant", domain_weight=1.0).fit(X, y, sensitive=a)
    assert est.domain_head_[-1].out_features == 2
    est._epoch_progress = 1.0
    model = est.model_
    batch = _split(est.attribution_inputs(X[:64]), y[:64]).take(np.arange(64))
    batch.s = torch.as_tensor(a[:64])
    f = model.features(batch.x)
    dom = torch.nn.functional.cross_entropy(est.domain_head_(f), batch.s)
    first = model.body[0].weight
    (g_plain,) = torch.autograd.grad(dom, first)
    f = model.features(batch.x)
    dom_rev = torch.nn.functional.cross_entropy(est.domain_head_(grad_reverse(f, 1.0)), batch.s)
    (g_rev,) = torch.autograd.grad(dom_rev, first)
    torch.testing.assert_close(g_rev, -g_plain)


def test_debiased_direction_removes_the_projection():
    g_p = torch.tensor([1.0, 2.0, 0.0])
    g_a = torch.tensor([0.0, 3.0, 4.0])
    d0 = debiased_direction(g_p, g_a, alpha=0.0)
    assert abs(float(d0 @ g_a)) < 1e-6  # nothing left that helps the adversary
    d = debiased_direction(g_p, g_a, alpha=0.5)
    torch.testing.assert_close(d @ g_a, -0.5 * (g_a @ g_a))
    torch.testing.assert_close(debiased_direction(g_p, torch.zeros(3), 1.0), g_p)


def test_adversarial_debiasing_reduces_the_dependence_on_the_attribute():
    X, y, _, a = spurious(1200, 0.5, 4)
    X[:, 1] = 2 * (2 * a - 1) + np.random.default_rng(0).normal(scale=0.3, size=len(a))
    y = np.where(np.random.default_rng(1).random(len(y)) < 0.8, a, y)  # label leans on the attribute
    kw = {**FAST, "max_epochs": 8}
    erm = ERMClassifier(**kw).fit(X, y)
    adv = AdversarialDebiasingClassifier(**kw, criterion="demographic_parity", adversary_lr=1e-2)
    adv.fit(X, y, sensitive=a)

    def dp_gap(model):
        p = model.predict(X)
        return abs(p[a == 1].mean() - p[a == 0].mean())

    assert dp_gap(adv) < 0.5 * dp_gap(erm)
    assert "adversary_loss" in adv.history_[-1]


# ----------------------------------------------------------------- DFR
def test_dfr_retrains_the_last_layer_on_group_balanced_held_out_data(problem):
    (X, y, g, _), (Xv, yv, gv, _), (Xt, yt, gt, _) = problem
    gv = gv.copy()
    est = DFRClassifier(**{**FAST, "max_epochs": 4}, n_draws=4).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert len(est.dfr_subsets_) == 4
    smallest = np.bincount(gv).min()
    for idx in est.dfr_subsets_:
        assert idx.max() < len(Xv)  # held-out rows, not training rows
        np.testing.assert_array_equal(np.bincount(gv[idx], minlength=4), [smallest] * 4)
    # only the head changed
    for k, v in est.model_.state_dict().items():
        if k.startswith("head"):
            assert not torch.equal(v, est.base_state_[k])
        else:
            assert torch.equal(v, est.base_state_[k])
    assert est.C_ in est.C
    base = ERMClassifier(**{**FAST, "max_epochs": 4}).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert worst_group_accuracy(est.predict(Xt), yt, gt) > worst_group_accuracy(base.predict(Xt), yt, gt)


# ----------------------------------------------------------------- OccamNet
def _easy_hard(n, seed):
    """Easy half: the first feature alone gives the label. Hard half: an XOR of two others."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    easy = rng.random(n) < 0.5
    x0 = np.where(easy, (2 * y - 1) * 3.0, 0.0) + rng.normal(scale=0.3, size=n)
    s1 = rng.choice([-1, 1], n)
    s2 = np.where(y == 1, s1, -s1)
    x1 = np.where(easy, rng.choice([-1, 1], n), s1) + rng.normal(scale=0.2, size=n)
    x2 = np.where(easy, rng.choice([-1, 1], n), s2) + rng.normal(scale=0.2, size=n)
    return np.column_stack([x0, x1, x2]).astype(np.float32), y, easy


def test_occamnet_selects_the_shallowest_confident_exit():
    model = OccamNetClassifier()
    from unskew.train import OccamMLP

    net = OccamMLP(3, [], 2, hidden=(4, 4, 4)).eval()
    outs = [
        {"logits": torch.tensor([[1.0, 0.0]] * 3), "gate": torch.tensor([1.0, 1.0, 1.0])},  # exit 0: training only
        {"logits": torch.tensor([[2.0, 0.0]] * 3), "gate": torch.tensor([0.9, 0.2, 0.2])},
        {"logits": torch.tensor([[3.0, 0.0]] * 3), "gate": torch.tensor([0.0, 0.7, 0.1])},
        {"logits": torch.tensor([[4.0, 0.0]] * 3), "gate": torch.tensor([0.0, 0.0, 0.0])},
    ]
    logits, chosen = net.select(outs)
    np.testing.assert_array_equal(chosen.numpy(), [1, 2, 3])
    torch.testing.assert_close(logits[:, 0], torch.tensor([2.0, 3.0, 4.0]))
    assert model.group_requirement == "none"


def test_occamnet_exits_early_on_easy_examples():
    X, y, _ = _easy_hard(1500, 0)
    Xt, yt, easy = _easy_hard(1000, 1)
    est = OccamNetClassifier(max_epochs=10, hidden_sizes=(32, 32, 32), random_state=0).fit(X, y)
    assert est.score(Xt, yt) > 0.9
    ex = est.exit_indices(Xt)
    assert ex.min() >= 1  # exit 0 only trains
    early = ex == 1
    assert early[easy].mean() > 0.85
    assert early[easy].mean() > early[~easy].mean() + 0.05
    # eval-mode forward returns the chosen exit's logits
    xt = torch.as_tensor(est.attribution_inputs(Xt[:50]))
    with torch.no_grad():
        outs = est.model_.exits(xt)
        direct = est.model_(xt)
    picked = torch.stack([outs[int(j)]["logits"][i] for i, j in enumerate(ex[:50])])
    torch.testing.assert_close(direct, picked)


def test_cam_suppression_penalises_evidence_outside_the_attended_region():
    y = torch.tensor([0])
    cam = torch.zeros(1, 2, 2, 2)
    cam[0, 0, 0, 0] = 5.0  # true-class evidence in one cell: the attended region
    quiet = cam_suppression_loss(cam, y)
    loud = cam.clone()
    loud[0, 1, 1, 1] = 5.0  # class evidence in a cell outside it
    assert float(quiet) < 1e-6
    assert float(cam_suppression_loss(loud, y)) > 0.1


def test_occamnet_on_images_uses_cams():
    rng = np.random.default_rng(0)
    n = 64
    y = rng.integers(0, 2, n)
    imgs = rng.random((n, 3, 28, 28)).astype(np.float32) * 0.2
    imgs[y == 1, :, 8:20, 8:20] = 1.0
    est = OccamNetClassifier(max_epochs=2, batch_size=32).fit(imgs, y)
    from unskew.train import OccamCNN

    assert isinstance(est.model_, OccamCNN)
    outs = est.model_.exits(torch.as_tensor(imgs[:4]))
    assert all("cam" in o and o["cam"].shape[:2] == (4, 2) for o in outs)
    assert est.exit_indices(imgs).shape == (n,)


# ----------------------------------------------------------------- adversarial training
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_adversarial_examples_stay_in_the_ball_and_raise_the_loss(attack, problem):
    (X, y, _, _), _, _ = problem
    est = AdversarialTrainingClassifier(**FAST, attack=attack, epsilon=0.3).fit(X, y)
    x = torch.as_tensor(est.attribution_inputs(X[:200]))
    yt = torch.as_tensor(y[:200])
    x_adv = est.perturb(est.model_, x, yt)
    delta = (x_adv - x).abs()
    assert float(delta.max()) <= 0.3 + 1e-6
    if attack == "fgsm":
        torch.testing.assert_close(delta, torch.full_like(delta, 0.3))
    ce = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert float(ce(est.model_(x_adv), yt)) > float(ce(est.model_(x), yt))


def test_adversarial_training_never_perturbs_categorical_codes():
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(list("abc"), 200)})
    y = (df["x"] > 0).astype(int)
    est = AdversarialTrainingClassifier(max_epochs=1, epsilon=0.5).fit(df, y)
    x = torch.as_tensor(est.attribution_inputs(df))
    x_adv = est.perturb(est.model_, x, torch.as_tensor(np.array(y)))
    torch.testing.assert_close(x_adv[:, 1], x[:, 1])
    assert float((x_adv[:, 0] - x[:, 0]).abs().min()) > 0.49


def test_adversarial_images_stay_in_range():
    rng = np.random.default_rng(0)
    imgs = rng.random((32, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 2, 32)
    est = AdversarialTrainingClassifier(max_epochs=1, attack="pgd", epsilon=0.2, pgd_steps=2).fit(imgs, y)
    x = torch.as_tensor(imgs)
    x_adv = est.perturb(est.model_, x, torch.as_tensor(y))
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
