import numpy as np
import pytest

from unskew.exceptions import UnskewInputError
from unskew.mitigate.d3m import D3M, auto_pseudo_groups, group_alignment_scores


def _spurious(n, p_agree, rng):
    y = rng.integers(0, 2, n)
    a = np.where(rng.random(n) < p_agree, y, 1 - y)
    X = np.column_stack([y + rng.normal(scale=1.0, size=n), (2 * a - 1) + rng.normal(scale=1.0, size=n),
                         rng.normal(size=(n, 2))])
    return X, y, 2 * y + a


def _wga(model, X, y, g):
    p = model.predict(X)
    return min(np.mean(p[g == k] == y[g == k]) for k in np.unique(g))


def test_group_alignment_is_loss_weighted_mean():
    S = np.array([[1.0, 2.0, -3.0], [0.0, 1.0, 1.0]])
    groups = np.array([0, 0, 1])
    scores, per_group, ids = group_alignment_scores(S, groups, {0: 1.0, 1: 3.0})
    np.testing.assert_allclose(per_group, [[1.5, -3.0], [0.5, 1.0]])
    np.testing.assert_allclose(scores, [(1.5 * 1 - 3.0 * 3) / 4, (0.5 + 3.0) / 4])


def test_d3m_removes_majority_examples_and_raises_worst_group_accuracy():
    rng = np.random.default_rng(0)
    X, y, g = _spurious(3000, 0.95, rng)
    Xv, yv, gv = _spurious(800, 0.5, rng)
    Xt, yt, gt = _spurious(3000, 0.5, rng)
    d3m = D3M(removal="sweep").fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    base = _wga(d3m.base_estimator_, Xt, yt, gt)
    after = _wga(d3m, Xt, yt, gt)
    assert after > base + 0.05
    removed_groups = g[d3m.removed_]
    # what it removes comes from the majority groups (label agrees with the spurious feature)
    assert np.isin(removed_groups, [0, 3]).mean() > 0.9
    assert d3m.selection_ == "checked"  # k chosen on all validation rows, with a held-out estimate beside it
    assert set(d3m.sweep_.columns) == {"k", "fraction_removed", "val_worst_group_accuracy", "val_accuracy"}
    assert d3m.held_out_worst_group_accuracy_ > d3m.held_out_worst_group_accuracy_base_
    assert d3m.candidate_k_ == len(d3m.removed_)
    table = d3m.removal_table()
    assert list(table["row"]) == list(d3m.removed_)
    assert (np.diff(table["score"]) >= 0).all()


def _all_negative(seed):
    """Training labels follow x0 cleanly; validation labels are mostly flipped.

    Every training example then pushes the model towards x0, which lowers the
    margin of every validation group: every group alignment score is negative.
    """
    rng = np.random.default_rng(seed)

    def part(n, p_flip, gap):
        s = rng.choice([-1.0, 1.0], n)
        X = np.column_stack([s * (gap + np.abs(rng.normal(size=n))), 0.5 * rng.normal(size=(n, 2))])
        y = np.where(rng.random(n) < p_flip, s < 0, s > 0).astype(int)
        return X, y, 2 * y + rng.integers(0, 2, n)

    return part(300, 0.0, 0.5), part(2000, 0.6, 0.0)


@pytest.mark.parametrize("selection", ["checked", "crossfit", "in_sample"])
def test_default_never_lowers_validation_worst_group_accuracy_when_every_score_is_negative(selection):
    traps = 0
    column = "held_out_worst_group_accuracy" if selection == "crossfit" else "val_worst_group_accuracy"
    for seed in (0, 2, 3, 4, 5, 6):
        (X, y, _), (Xv, yv, gv) = _all_negative(seed)
        d = D3M(C=0.1, selection=selection).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
        assert (d.scores_ < 0).all()  # the premise: the paper's rule would remove everything
        assert d.selection_ == selection
        base, after = _wga(d.base_estimator_, Xv, yv, gv), _wga(d, Xv, yv, gv)
        assert d.val_worst_group_accuracy_base_ == pytest.approx(base)
        assert d.val_worst_group_accuracy_ == pytest.approx(after)
        assert len(d.removed_) <= 0.2 * len(y) and d.sweep_["k"].max() <= 0.2 * len(y)
        reference = d.sweep_.loc[d.sweep_["k"] == 0, column].iloc[0]
        if d.removal_applied_:
            assert len(d.removed_) > 0 and after > base
            chosen = d.sweep_.loc[d.sweep_["k"] == len(d.removed_), column].iloc[0]
            assert chosen > reference  # and on the held-out halves too, with crossfit
            if selection == "checked":
                assert d.held_out_worst_group_accuracy_ > d.held_out_worst_group_accuracy_base_
        else:
            assert len(d.removed_) == 0 and d.estimator_ is d.base_estimator_ and after == base
        # the grid holds removals that would lower it: the guard is doing the work
        traps += bool((d.sweep_[column] < reference).any())
    assert traps >= 3
    (X, y, _), (Xv, yv, gv) = _all_negative(3)
    d = D3M(C=0.1, selection=selection).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert not d.removal_applied_  # seed 3: no candidate beats the base model
    with pytest.raises(UnskewInputError, match="every example of a class"):
        D3M(C=0.1, removal="negative").fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)


def test_auto_is_the_default_and_checks_max_fraction():
    rng = np.random.default_rng(1)
    X, y, _ = _spurious(1000, 0.9, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    d = D3M().fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert d.removal == "auto" and d.removal_applied_ and 0 < len(d.removed_) <= 200
    assert d.val_worst_group_accuracy_ > d.val_worst_group_accuracy_base_
    d = D3M(max_fraction=0.3).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert d.sweep_["k"].max() == 300
    with pytest.raises(UnskewInputError, match="max_fraction"):
        D3M(max_fraction=1.5).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)


def test_negative_rule_and_k_rule():
    rng = np.random.default_rng(1)
    X, y, _ = _spurious(1000, 0.9, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    d = D3M(removal="negative").fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert len(d.removed_) == int((d.scores_ < 0).sum())
    d = D3M(removal="k", k=25).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert len(d.removed_) == 25 and d.keep_.sum() == 975
    assert set(d.removed_) == set(np.argsort(d.scores_)[:25])
    with pytest.raises(UnskewInputError, match="removal='k'"):
        D3M(removal="k").fit(X, y, X_val=Xv, y_val=yv)


def test_auto_d3m_pseudo_groups_follow_the_spurious_attribute():
    rng = np.random.default_rng(2)
    X, y, _ = _spurious(2000, 0.95, rng)
    Xv, yv, gv = _spurious(600, 0.5, rng)
    d = D3M(removal="sweep").fit(X, y, X_val=Xv, y_val=yv)
    assert d.auto_
    pg = d.val_groups_
    # within each class the pseudo-groups split validation examples by the hidden spurious attribute
    for c in (0, 1):
        m = yv == c
        agree = np.mean(pg[m] % 2 == gv[m] % 2)
        assert max(agree, 1 - agree) > 0.7
    assert auto_pseudo_groups(d.attributions_, yv).shape == (600,)


def test_pseudo_depth_two_splits_each_half_again_by_its_own_component():
    rng = np.random.default_rng(4)

    def cluster(n, centre):
        return np.asarray(centre, float) + 0.05 * rng.normal(size=(n, 3))

    # one class, validation rows (columns of S) in three clusters: a big one on +e1, and two on -e1
    # that differ along e2; the first split separates the big one, only the second separates the two
    rows = np.vstack([cluster(200, [3, 0, 0.5]), cluster(60, [-3, 2, 0]), cluster(60, [-3, -2, 0])])
    truth = np.repeat([0, 1, 2], [200, 60, 60])
    y = np.zeros(len(rows), dtype=int)
    one, two = auto_pseudo_groups(rows.T, y), auto_pseudo_groups(rows.T, y, depth=2, min_size=20)
    assert np.array_equal(auto_pseudo_groups(rows.T, y, depth=1), one)
    assert len(np.unique(one[truth > 0])) == 1 and one[0] != one[-1]
    assert np.array_equal(two // 2, one)  # nested: each depth-2 group lies inside a depth-1 group
    assert two[truth == 1][0] != two[truth == 2][0]
    for t in (1, 2):
        assert len(np.unique(two[truth == t])) == 1
    # a split that would leave a side under min_size rows is not made: the 60 / 60 half stays whole,
    # and with min_size above the first split's smaller side (120 rows) the class stays whole
    capped = auto_pseudo_groups(rows.T, y, depth=2, min_size=61)
    assert np.array_equal(capped // 2, one) and len(np.unique(capped[truth > 0])) == 1
    assert np.array_equal(auto_pseudo_groups(rows.T, y, depth=1, min_size=121), np.zeros(len(y), dtype=int))
    assert np.array_equal(auto_pseudo_groups(rows.T, y, depth=1, min_size=120), one)
    # two classes: ids 4 * class + code
    y2 = np.r_[y, np.ones(len(rows), dtype=int)]
    ids = auto_pseudo_groups(np.hstack([rows.T, rows.T]), y2, depth=2, min_size=20)
    assert set(ids[y2 == 0]) <= {0, 1, 2, 3} and set(ids[y2 == 1]) <= {4, 5, 6, 7}


def test_auto_d3m_with_pseudo_depth_two_names_four_pseudo_groups_per_class():
    rng = np.random.default_rng(2)
    X, y, _ = _spurious(2000, 0.95, rng)
    Xv, yv, _ = _spurious(600, 0.5, rng)
    d = D3M(pseudo_depth=2).fit(X, y, X_val=Xv, y_val=yv)
    assert d.auto_ and set(np.unique(d.val_groups_)) <= set(range(8))
    assert len(np.unique(d.val_groups_)) > 4
    assert np.array_equal(d.val_groups_, auto_pseudo_groups(d.attributions_, yv, depth=2, min_size=20))
    assert sum(d.group_sizes_.values()) == len(yv) and min(d.group_sizes_.values()) >= 20
    assert set(d.group_sizes_) == set(d.group_losses_)
    assert all(name.split(" / pseudo-group ")[1] in {"0", "1", "2", "3"} for name in d.group_losses_)
    assert {name.split(" / ")[0] for name in d.group_losses_} == {"class=0", "class=1"}
    for bad in (0, 5, 1.5, True):
        with pytest.raises(UnskewInputError, match="pseudo_depth must be a whole number from 1 to 4"):
            D3M(pseudo_depth=bad).fit(X, y, X_val=Xv, y_val=yv)


def test_low_rank_factors_give_the_same_scores_and_pseudo_groups_as_the_dense_matrix():
    from unskew.mitigate.d3m._d3m import LowRank

    rng = np.random.default_rng(3)
    X, y, _ = _spurious(500, 0.9, rng)
    Xv, yv, gv = _spurious(200, 0.5, rng)
    d = D3M().fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    lr = d.attributions_
    assert isinstance(lr, LowRank)
    dense = lr.dense()
    losses = {g: 1.0 + g for g in range(4)}
    a, _, _ = group_alignment_scores(lr, gv, losses)
    b, _, _ = group_alignment_scores(dense, gv, losses)
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    pa, pb = auto_pseudo_groups(lr, yv), auto_pseudo_groups(dense, yv)
    for c in (0, 1):  # the principal direction's sign is arbitrary: equal up to a swap
        m = yv == c
        same = np.mean(pa[m] == pb[m])
        assert same in (0.0, 1.0)


def test_max_fraction_caps_removal():
    rng = np.random.default_rng(4)
    X, y, _ = _spurious(1000, 0.95, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    d = D3M(removal="negative", max_fraction=0.05).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert len(d.removed_) <= 50
    d = D3M(removal="sweep", max_fraction=0.05).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert d.sweep_["k"].max() <= 50


def test_d3m_with_a_torch_estimator_uses_trak():
    pytest.importorskip("torch")
    from unskew.train import ERMClassifier

    rng = np.random.default_rng(5)
    X, y, g = _spurious(600, 0.95, rng)
    Xv, yv, gv = _spurious(200, 0.5, rng)
    est = ERMClassifier(model="logistic", max_epochs=3, batch_size=64, lr=0.05, random_state=0)
    d = D3M(est, removal="k", k=60, proj_dim=32, n_models=None).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert isinstance(d.attributions_, np.ndarray) and d.attributions_.shape == (600, 200)
    assert len(d.removed_) == 60 and d.estimator_ is not d.base_estimator_
    # the examples TRAK marks as most harmful come mostly from the majority (spurious-agreeing) groups
    assert np.isin(g[d.removed_], [0, 3]).mean() > 0.8
    assert d.predict(Xt := Xv).shape == (200,) and Xt is Xv


def test_sweep_fits_each_k_once_and_keeps_the_chosen_model(monkeypatch):
    rng = np.random.default_rng(6)
    X, y, _ = _spurious(800, 0.95, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    calls = []
    original = D3M._fit_model

    def counting(self, X, y, sample_weight=None, val=None):
        calls.append(len(y))
        return original(self, X, y, sample_weight, val)

    monkeypatch.setattr(D3M, "_fit_model", counting)
    d = D3M(removal="sweep", k_grid=[0, 0.05, 0.1, 0.2], selection="in_sample").fit(
        X, y, X_val=Xv, y_val=yv, groups_val=gv)
    # base model (also the k=0 candidate) + three retrains; the chosen model is not refitted
    assert calls == [800, 760, 720, 640]
    refit = original(d, X[d.keep_], y[d.keep_])
    np.testing.assert_allclose(d.estimator_.theta_, refit.theta_)
    # crossfit: two retrains per k > 0 (one per half; k=0 is the base model for the logistic
    # default), then the chosen removal by the scores of all validation rows
    calls.clear()
    d = D3M(removal="sweep", k_grid=[0, 0.05, 0.1, 0.2], selection="crossfit").fit(
        X, y, X_val=Xv, y_val=yv, groups_val=gv)
    k = len(d.removed_)
    assert calls == [800, 760, 760, 720, 720, 640, 640] + ([800 - k] if k else [])
    # checked (the default): the in-sample sweep, then the chosen k once per half
    calls.clear()
    d = D3M(removal="sweep", k_grid=[0, 0.05, 0.1, 0.2]).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    k = len(d.removed_)
    assert k > 0 and calls == [800, 760, 720, 640, 800 - k, 800 - k]


def test_checked_default_vetoes_a_removal_whose_held_out_estimate_does_not_gain(monkeypatch):
    import pandas as pd

    from unskew.mitigate.d3m import removal_verdict

    rng = np.random.default_rng(6)
    X, y, _ = _spurious(800, 0.95, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    free = D3M(k_grid=[0, 0.05, 0.1]).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert free.removal_applied_ and free.candidate_k_ > 0  # on its own, the removal passes both checks

    def flat(self, X, y, X_val, y_val, gv, val, folds, orders, sample_weight, ks):
        # a held-out estimate that says the removal does not help
        return 0, pd.DataFrame({"k": ks, "fraction_removed": [k / len(y) for k in ks],
                                "held_out_worst_group_accuracy": 0.5, "held_out_accuracy": 0.8})

    monkeypatch.setattr(D3M, "_crossfit_sweep", flat)
    d = D3M(k_grid=[0, 0.05, 0.1]).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert not d.removal_applied_ and len(d.removed_) == 0 and d.estimator_ is d.base_estimator_
    assert d.candidate_k_ == free.candidate_k_  # chosen on all validation rows, then vetoed
    _, fields, lines = removal_verdict(d, len(y), 0.8, 0.8)
    assert fields["held_out_worst_group_accuracy_candidate"] == 0.5
    text = " ".join(t for t, _ in lines)
    assert f"removed {free.candidate_k_} rows; its held-out estimate was 0.500 against 0.500" in text


def test_crossfit_halves_are_stratified_and_the_estimate_is_held_out():
    from unskew.mitigate.d3m._d3m import _LogisticModel, _worst_group_accuracy

    rng = np.random.default_rng(12)
    X, y, _ = _spurious(1000, 0.95, rng)
    Xv, yv, gv = _spurious(301, 0.5, rng)
    d = D3M(k_grid=[0, 0.05, 0.1], selection="crossfit").fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    first, second = d._crossfit_folds(d.val_groups_)
    assert not (first & second).any() and (first | second).all()
    for g in np.unique(gv):  # each group split in half (the odd row to the second half)
        n = (gv == g).sum()
        assert (first & (gv == g)).sum() == n // 2
    # the held-out estimate, recomputed by hand for one candidate
    losses = {i: v for i, v in enumerate(d.group_losses_.values())}
    k, wgas = 100, []
    for fold in (first, second):
        order = np.argsort(group_alignment_scores(d.attributions_, d.val_groups_, losses, columns=fold)[0],
                           kind="stable")
        keep = np.ones(len(y), dtype=bool)
        keep[order[:k]] = False
        m = _LogisticModel().fit(X[keep], y[keep])
        wgas.append(_worst_group_accuracy(yv[~fold], m.predict(Xv[~fold]), d.val_groups_[~fold]))
    row = d.sweep_.set_index("k").loc[k]
    assert row["held_out_worst_group_accuracy"] == pytest.approx(np.mean(wgas))
    assert d.held_out_worst_group_accuracy_base_ == pytest.approx(d.sweep_.set_index("k").loc[0, "held_out_worst_group_accuracy"])
    assert d.held_out_worst_group_accuracy_ == pytest.approx(
        d.sweep_.set_index("k").loc[len(d.removed_), "held_out_worst_group_accuracy"])
    # the scores from one half use that half's columns only
    s_first = group_alignment_scores(d.attributions_, d.val_groups_, losses, columns=first)[0]
    dense = d.attributions_.dense()
    np.testing.assert_allclose(s_first, group_alignment_scores(dense[:, first], d.val_groups_[first], losses)[0])


def test_crossfit_falls_back_to_in_sample_when_a_group_has_one_validation_row():
    from unskew.mitigate.d3m import removal_verdict

    rng = np.random.default_rng(13)
    X, y, _ = _spurious(600, 0.9, rng)
    Xv, yv, gv = _spurious(200, 0.5, rng)
    gv = gv.copy()
    gv[0] = 7  # a group of one, kept by min_group_size=1
    d = D3M(k_grid=[0, 0.05], min_group_size=1).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert d.selection_ == "in_sample" and d.held_out_worst_group_accuracy_ is None
    assert "val_worst_group_accuracy" in d.sweep_.columns
    _, fields, lines = removal_verdict(d, len(y), 0.8, 0.8)
    assert fields["selection"] == "in_sample"
    assert any("at least 2 validation rows" in text for text, _ in lines)
    with pytest.raises(UnskewInputError, match="selection must be one of checked, crossfit, in_sample"):
        D3M(selection="holdout").fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)


def test_validation_groups_below_min_group_size_are_left_out_and_reported():
    from unskew.mitigate.d3m import removal_verdict

    rng = np.random.default_rng(13)
    X, y, _ = _spurious(600, 0.9, rng)
    Xv, yv, gv = _spurious(200, 0.5, rng)
    gv = gv.astype(object)
    gv[:3] = "tiny"  # 3 rows: its held-out halves would be 1 row each
    d = D3M(k_grid=[0, 0.05]).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert d.min_group_size == 20 and d.groups_excluded_ == {"tiny": 3}
    # the default held-out check runs on the groups that are left; the tiny group's rows are not scored
    assert d.selection_ == "checked" and d.held_out_worst_group_accuracy_base_ is not None
    assert len(d.val_groups_) == len(yv) - 3
    same = D3M(k_grid=[0, 0.05]).fit(X, y, X_val=Xv[3:], y_val=yv[3:], groups_val=gv[3:])
    np.testing.assert_allclose(d.scores_, same.scores_)
    assert list(d.removed_) == list(same.removed_)
    _, fields, lines = removal_verdict(d, len(y), 0.8, 0.8)
    assert fields["groups_excluded"] == {"tiny": 3} and fields["min_group_size"] == 20
    assert any(sev == "warn" and "tiny (3 rows)" in text and "--min-group-size" in text for text, sev in lines)
    # 1 keeps every group (and the group of 3 is measured again)
    every = D3M(k_grid=[0, 0.05], min_group_size=1).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert every.groups_excluded_ == {} and len(every.val_groups_) == len(yv)
    for bad in (0, 2.5, True):
        with pytest.raises(UnskewInputError, match="min_group_size must be a positive integer"):
            D3M(min_group_size=bad).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    with pytest.raises(UnskewInputError, match="Every validation group has fewer than min_group_size=500 rows"):
        D3M(min_group_size=500).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)


def test_verdict_says_when_the_held_out_check_could_not_tell_the_candidate_from_nothing():
    from unskew.mitigate.d3m import removal_verdict

    rng = np.random.default_rng(13)
    X, y, _ = _spurious(600, 0.9, rng)
    Xv, yv, gv = _spurious(200, 0.5, rng)
    d = D3M(k_grid=[0, 0.05]).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    # a vetoed candidate whose held-out estimate ties removing nothing (both halves' tiny groups score 0)
    d.removal_applied_, d.candidate_k_, d.removed_ = False, 30, d.removed_[:0]
    d.held_out_worst_group_accuracy_candidate_ = d.held_out_worst_group_accuracy_base_ = 0.0
    text = " ".join(t for t, _ in removal_verdict(d, len(y), 0.8, 0.8)[2])
    assert "0.000 against 0.000 for removing nothing (a tie: the held-out halves could not tell" in text
    d.held_out_worst_group_accuracy_candidate_ = 0.1
    d.held_out_worst_group_accuracy_base_ = 0.2
    text = " ".join(t for t, _ in removal_verdict(d, len(y), 0.8, 0.8)[2])
    assert "0.100 against 0.200 for removing nothing." in text and "a tie" not in text


def test_the_grids_own_10pct_candidate_is_not_more_than_10pct():
    from unskew.mitigate.d3m import removal_verdict

    rng = np.random.default_rng(13)
    X, y, _ = _spurious(5049, 0.9, rng)  # 10% of 5049 rows is 504.9: the grid removes 505
    Xv, yv, gv = _spurious(400, 0.5, rng)
    d = D3M(removal="k", k=505).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert removal_verdict(d, len(y), 0.8, 0.8)[1]["fraction_removed_exceeds_10pct"] is False
    d = D3M(removal="k", k=506).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert removal_verdict(d, len(y), 0.8, 0.8)[1]["fraction_removed_exceeds_10pct"] is True


def test_checked_default_with_a_torch_model_selects_each_half_model_on_its_own_half(monkeypatch):
    pytest.importorskip("torch")
    from unskew.train import ERMClassifier

    rng = np.random.default_rng(5)
    X, y, _ = _spurious(400, 0.95, rng)
    Xv, yv, gv = _spurious(120, 0.5, rng)
    seen = []
    original = D3M._fit_model

    def recording(self, X, y, sample_weight=None, val=None):
        seen.append((len(y), None if val is None else len(val[0])))
        return original(self, X, y, sample_weight, val)

    monkeypatch.setattr(D3M, "_fit_model", recording)
    est = ERMClassifier(model="logistic", max_epochs=2, batch_size=64, lr=0.05, random_state=0)
    d = D3M(est, k_grid=[0, 0.1], proj_dim=16, n_models=None).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert d.selection_ == "checked" and d.held_out_worst_group_accuracy_base_ is not None
    # base and the sweep's k=40 on all 120 validation rows; then k=0 and the chosen k once per half,
    # each model selecting its epoch on its own half (the two halves together: all 120 rows)
    k = d.candidate_k_
    assert seen[:2] == [(400, 120), (360, 120)]
    checks = seen[2:]
    assert [n for n, _ in checks] == [400, 400] + ([400 - k, 400 - k] if k else [])
    assert all(a + b == 120 and abs(a - b) <= 4 for (_, a), (_, b) in zip(checks[::2], checks[1::2], strict=True))


def test_trak_checkpoints_are_spaced_up_to_the_selected_epoch():
    class Fitted:
        checkpoints_ = list(range(10))
        best_epoch_ = 6

    assert D3M(n_checkpoints=3)._checkpoints(Fitted()) == [0, 3, 6]
    assert D3M(n_checkpoints=None)._checkpoints(Fitted()) == list(range(7))
    assert D3M(n_checkpoints=1)._checkpoints(Fitted()) == [6]


def test_bad_settings_fail_before_any_training(monkeypatch):
    rng = np.random.default_rng(9)
    X, y, g = _spurious(200, 0.9, rng)

    def no_training(*args, **kwargs):
        raise AssertionError("trained before validating the settings")

    monkeypatch.setattr(D3M, "_fit_model", no_training)
    with pytest.raises(UnskewInputError, match="n_checkpoints"):
        D3M(n_checkpoints=0).fit(X, y, X_val=X, y_val=y, groups_val=g)
    with pytest.raises(UnskewInputError, match="trak_lambda"):
        D3M(trak_lambda=-1.0).fit(X, y, X_val=X, y_val=y)


def test_trak_ridge_is_zero_for_d3m_and_chosen_on_validation_for_auto_d3m():
    pytest.importorskip("torch")
    from unskew.mitigate.d3m._d3m import AUTO_TRAK_LAMBDA_GRID
    from unskew.train import ERMClassifier

    rng = np.random.default_rng(7)
    X, y, _ = _spurious(400, 0.95, rng)
    Xv, yv, gv = _spurious(100, 0.5, rng)
    est = ERMClassifier(model="mlp", hidden_sizes=(8,), max_epochs=2, batch_size=64, random_state=0)
    from unskew.attribution import TRAK

    auto = D3M(est, removal="k", k=10, proj_dim=32, n_models=None).fit(X, y, X_val=Xv, y_val=yv)
    plain = D3M(est, removal="k", k=10, proj_dim=32, n_models=None, min_group_size=1).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert plain.trak_lambda_ == 0.0 and plain.ridge_selection_ is None
    sel = auto.ridge_selection_
    assert list(sel["trak_lambda"]) == list(AUTO_TRAK_LAMBDA_GRID)
    # each candidate is scored on every candidate's pseudo-groups: never above its own partition's score
    assert (sel["val_worst_group_accuracy_all_partitions"] <= sel["val_worst_group_accuracy"] + 1e-12).all()
    # the kept ridge is the best candidate by that score, then accuracy
    best = sel.sort_values(["val_worst_group_accuracy_all_partitions", "val_accuracy"], ascending=False,
                           kind="stable").iloc[0]
    assert auto.trak_lambda_ == best["trak_lambda"]
    assert auto.val_worst_group_accuracy_ == pytest.approx(best["val_worst_group_accuracy"])
    from unskew.mitigate.d3m._d3m import _worst_group_accuracy, auto_pseudo_groups

    pred = auto.estimator_.predict(Xv)
    Ss = auto._attribute(auto.base_estimator_, X, y, Xv, yv, val=(Xv, yv, None), lambdas=list(AUTO_TRAK_LAMBDA_GRID))
    parts = [auto_pseudo_groups(S, yv, min_size=auto.min_group_size) for S in Ss]
    assert best["val_worst_group_accuracy_all_partitions"] == pytest.approx(
        min(_worst_group_accuracy(yv, pred, p) for p in parts))
    # and its attributions are TRAK with that ridge on the base model's checkpoints
    m = auto.base_estimator_
    expected = TRAK(m.model_, auto._checkpoints(m), proj_dim=32, lambda_scale=auto.trak_lambda_).attribute(
        m.attribution_inputs(X), m.encode_labels(y), m.attribution_inputs(Xv), m.encode_labels(yv))
    np.testing.assert_allclose(auto.attributions_, expected, rtol=1e-5, atol=1e-7 * np.abs(expected).max())
    # a given ridge is used as is
    ridge = D3M(est, removal="k", k=10, proj_dim=32, trak_lambda=10.0, n_models=None,
                min_group_size=1).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    m = ridge.base_estimator_
    expected = TRAK(m.model_, ridge._checkpoints(m), proj_dim=32, lambda_scale=10.0).attribute(
        m.attribution_inputs(X), m.encode_labels(y), m.attribution_inputs(Xv), m.encode_labels(yv))
    np.testing.assert_allclose(ridge.attributions_, expected)
    assert ridge.trak_lambda_ == 10.0
    assert not np.allclose(plain.attributions_ / np.abs(plain.attributions_).max(),
                           ridge.attributions_ / np.abs(ridge.attributions_).max(), atol=1e-3)


def test_first_principal_direction_uses_lanczos_on_large_blocks_and_matches_the_full_svd():
    from unskew.mitigate.d3m._d3m import _first_principal_direction

    rng = np.random.default_rng(8)
    A = rng.normal(size=(300, 700))
    A[:, :4] += 3 * rng.normal(size=(300, 1))
    A -= A.mean(axis=0)
    v = _first_principal_direction(A)  # 300 > 256 rows: ARPACK
    w = np.linalg.svd(A, full_matrices=False)[2][0]
    assert abs(v @ w) > 1 - 1e-8
    # pseudo-groups through the fast path split the rows as the full SVD does
    rows = A / np.linalg.norm(A, axis=1, keepdims=True)
    ref = (rows @ np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)[2][0] > 0).astype(int)
    got = auto_pseudo_groups(A.T, np.zeros(300, dtype=int))
    assert np.array_equal(got, ref) or np.array_equal(got, 1 - ref)


def _small_mlp(max_epochs: int):
    pytest.importorskip("torch")
    from unskew.train import ERMClassifier

    return ERMClassifier(model="mlp", hidden_sizes=(16,), max_epochs=max_epochs, batch_size=64, lr=0.01,
                         random_state=3)


def test_d3m_with_an_ensemble_of_independent_models():
    est = _small_mlp(max_epochs=3)
    rng = np.random.default_rng(5)
    X, y, g = _spurious(600, 0.95, rng)
    Xv, yv, gv = _spurious(200, 0.5, rng)
    d = D3M(est, removal="k", k=60, proj_dim=32, n_models=3, n_jobs=1).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert D3M().n_models == 5  # the default, from the leave-one-out curve
    assert d.attributions_.shape == (600, 200)
    assert [m["seed"] for m in d.ensemble_members_] == [4, 5, 6]  # the estimator's seed + 1..n
    assert np.isin(g[d.removed_], [0, 3]).mean() > 0.8
    with pytest.raises(UnskewInputError, match="n_models"):
        D3M(est, n_models=0).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)


def test_the_cap_itself_is_a_candidate_when_its_row_count_rounds_up():
    rng = np.random.default_rng(11)
    X, y, _ = _spurious(1049, 0.95, rng)  # 20% of 1049 = 209.8 rows -> 210
    Xv, yv, gv = _spurious(300, 0.5, rng)
    d = D3M(k_grid=[0, 0.1, 0.2]).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert list(d.sweep_["k"]) == [0, 105, 210]
    assert len(d.removed_) <= 210


def test_a_removal_at_the_edge_of_what_was_allowed_is_flagged_and_reported():
    from unskew.mitigate.d3m._d3m import removal_verdict

    rng = np.random.default_rng(4)
    X, y, _ = _spurious(1000, 0.95, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    # a 2% cap on strongly spurious data: every larger share would help more, so the cap binds
    tight = D3M(max_fraction=0.02).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert tight.removal_applied_ and len(tight.removed_) == tight.sweep_["k"].max() == 20
    assert tight.removal_at_limit_
    _, fields, lines = removal_verdict(tight, len(y), 0.9, 0.9)
    assert fields["removal_at_limit"] is True
    assert any("largest candidate tried under the 2% cap" in text for text, _ in lines)
    # milder spurious data and a grid up to 70%: the best removal (20%) lies inside the grid
    rng = np.random.default_rng(0)
    X2, y2, _ = _spurious(1000, 0.8, rng)
    Xv2, yv2, gv2 = _spurious(300, 0.5, rng)
    inside = D3M(removal="sweep", k_grid=[0, 0.02, 0.05, 0.1, 0.2, 0.5, 0.7]).fit(
        X2, y2, X_val=Xv2, y_val=yv2, groups_val=gv2)
    assert len(inside.removed_) == 200 < inside.sweep_["k"].max() == 700 and not inside.removal_at_limit_
    _, fields, lines = removal_verdict(inside, len(y2), 0.9, 0.9)
    assert fields["removal_at_limit"] is False and not any("largest candidate" in text for text, _ in lines)
    # rules without a sweep never are
    assert not D3M(removal="k", k=20).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv).removal_at_limit_


def test_rounds_remove_the_budget_in_chunks_rescoring_what_is_left():
    rng = np.random.default_rng(7)
    X, y, g = _spurious(1200, 0.95, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    d = D3M(removal="k", k=90, rounds=3).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert len(d.removed_) == 90 and len(set(d.removed_)) == 90
    assert list(d.removal_round_) == [1] * 30 + [2] * 30 + [3] * 30
    assert list(d.rounds_["n_train"]) == [1200, 1170, 1140] and list(d.rounds_["n_removed"]) == [30, 30, 30]
    # round 1 is the one-shot ranking; round 2 is D3M run afresh on what round 1 left
    assert set(d.removed_[:30]) == set(np.argsort(d.scores_, kind="stable")[:30])
    left = np.setdiff1d(np.arange(1200), d.removed_[:30])
    again = D3M(removal="k", k=30).fit(X[left], y[left], X_val=Xv, y_val=yv, groups_val=gv)
    assert set(d.removed_[30:60]) == set(left[again.removed_])
    np.testing.assert_allclose(np.sort(d.removal_scores_[30:60]), np.sort(again.scores_[again.removed_]))
    table = d.removal_table()
    assert list(table.columns[:3]) == ["row", "score", "round"] and list(table["round"]) == list(d.removal_round_)
    # the one-shot removal of the same size takes other rows
    once = D3M(removal="k", k=90).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert once.rounds_ is None and "round" not in once.removal_table().columns
    assert set(once.removed_) != set(d.removed_)
    np.testing.assert_allclose(once.removal_scores_, once.scores_[once.removed_])


def test_rounds_with_the_default_rule_choose_k_along_the_iterative_order():
    rng = np.random.default_rng(1)
    X, y, g = _spurious(1000, 0.9, rng)
    Xv, yv, gv = _spurious(300, 0.5, rng)
    d = D3M(rounds=2, max_fraction=0.1).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert d.selection_ == "checked" and list(d.rounds_["n_removed"]) == [50, 50]
    assert d.removal_applied_ and d.val_worst_group_accuracy_ > d.val_worst_group_accuracy_base_
    assert d.held_out_worst_group_accuracy_ > d.held_out_worst_group_accuracy_base_
    assert np.isin(g[d.removed_], [0, 3]).mean() > 0.9
    # Auto-D3M (pseudo-groups) takes rounds too
    a = D3M(rounds=2, removal="k", k=40).fit(X, y, X_val=Xv, y_val=yv)
    assert a.auto_ and list(a.removal_round_) == [1] * 20 + [2] * 20


def test_rounds_are_checked():
    rng = np.random.default_rng(1)
    X, y, _ = _spurious(300, 0.9, rng)
    Xv, yv, gv = _spurious(100, 0.5, rng)
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(UnskewInputError, match="rounds must be a positive integer"):
            D3M(rounds=bad).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)
    with pytest.raises(UnskewInputError, match="removal='negative' has no budget"):
        D3M(rounds=2, removal="negative").fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)


def test_rounds_with_a_torch_ensemble_reattribute_and_keep_the_first_rounds_members():
    est = _small_mlp(max_epochs=2)
    rng = np.random.default_rng(5)
    X, y, g = _spurious(400, 0.95, rng)
    Xv, yv, gv = _spurious(150, 0.5, rng)
    d = D3M(est, removal="k", k=40, rounds=2, proj_dim=16, n_models=2, n_jobs=1).fit(
        X, y, X_val=Xv, y_val=yv, groups_val=gv)
    assert list(d.rounds_["n_train"]) == [400, 380] and d.rounds_["seconds"].iloc[1] > 0
    assert [m["n_train"] for m in d.ensemble_members_] == [200, 200]  # round 1's members, on halves of all 400
    assert len(set(d.removed_)) == 40 and np.isin(g[d.removed_], [0, 3]).mean() > 0.7


def test_auto_d3m_leaves_a_class_whole_rather_than_make_a_tiny_pseudo_group():
    rng = np.random.default_rng(7)
    # one class's validation rows: 300 on one direction, 8 outliers on the opposite one; the paper's
    # split puts the 8 in a pseudo-group of their own, too few rows to measure a worst-group accuracy
    A = np.vstack([np.array([1.0, 0, 0]) + 0.05 * rng.normal(size=(300, 3)),
                   np.array([-1.0, 0, 0]) + 0.05 * rng.normal(size=(8, 3))])
    y = np.zeros(len(A), dtype=int)
    paper = auto_pseudo_groups(A.T, y)
    assert sorted(np.bincount(paper).tolist()) == [8, 300]
    assert np.array_equal(auto_pseudo_groups(A.T, y, min_size=20), np.zeros(len(y), dtype=int))
    assert np.array_equal(auto_pseudo_groups(A.T, y, min_size=8), paper)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(UnskewInputError, match="min_size must be a positive integer"):
            auto_pseudo_groups(A.T, y, min_size=bad)
