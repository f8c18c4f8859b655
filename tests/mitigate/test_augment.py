"""Augmentation hook: mixup and user transforms within populations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.mitigate.pre import GroupAugmenter


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["F", "M"], size=n, p=[0.3, 0.7])
    y = (rng.random(n) < np.where(g == "F", 0.2, 0.5)).astype(int)
    X = rng.normal(size=(n, 3)) + 10 * y[:, None] + 100 * (g == "F")[:, None]
    return X, y, g


def test_mixup_stays_within_population_and_balances():
    X, y, g = _data()
    aug = GroupAugmenter(method="mixup", alpha=0.4, random_state=0)
    Xr, yr = aug.fit_resample(X, y, sensitive_features=g)
    syn = aug.synthetic_mask_
    par = aug.synthetic_parents_
    pop = np.char.add(g.astype(str), y.astype(str))
    assert (pop[par[:, 0]] == pop[par[:, 1]]).all()
    lam = aug.mix_weights_[:, None]
    np.testing.assert_allclose(Xr[syn], lam * X[par[:, 0]] + (1 - lam) * X[par[:, 1]])
    assert ((aug.mix_weights_ >= 0) & (aug.mix_weights_ <= 1)).all()
    assert (yr[syn] == y[par[:, 0]]).all()
    tab = pd.crosstab(aug.sensitive_resampled_, yr)
    assert tab.to_numpy().min() == tab.to_numpy().max()
    assert syn.sum() == len(yr) - len(y)


def test_transform_hook_on_images():
    rng = np.random.default_rng(0)
    n = 80
    imgs = rng.random((n, 1, 4, 4)).astype(np.float32)
    y = np.r_[np.zeros(60, dtype=int), np.ones(20, dtype=int)]
    g = np.where(np.arange(n) % 3 == 0, "b", "a")

    def flip(batch, rs):
        assert isinstance(rs, np.random.RandomState)
        return batch[..., ::-1]

    aug = GroupAugmenter(method="transform", transform=flip, random_state=0)
    Xr, yr = aug.fit_resample(imgs, y, sensitive_features=g)
    assert Xr.shape[1:] == (1, 4, 4) and Xr.dtype == np.float32
    syn = aug.synthetic_mask_
    np.testing.assert_array_equal(Xr[syn], imgs[aug.synthetic_parents_[:, 0]][..., ::-1])
    assert (aug.mix_weights_ == 1).all()


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    X, y, g = _data(200)
    aug = GroupAugmenter(random_state=0)
    Xr, yr = aug.fit_resample(torch.as_tensor(X), y, sensitive_features=g)
    assert isinstance(Xr, np.ndarray) and len(Xr) == len(yr)


def test_dataframe_mixup_and_errors():
    X, y, g = _data(200)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    Xr, _ = GroupAugmenter(random_state=0).fit_resample(df, y, sensitive_features=g)
    assert isinstance(Xr, pd.DataFrame) and list(Xr.columns) == ["a", "b", "c"]
    with pytest.raises(UnskewInputError, match="transform=<callable"):
        GroupAugmenter(method="transform").fit_resample(X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="one per seed"):
        GroupAugmenter(method="transform", transform=lambda b, r: b[:1]).fit_resample(X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="shape"):
        GroupAugmenter(method="transform", transform=lambda b, r: b[:, :2]).fit_resample(X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="alpha"):
        GroupAugmenter(alpha=0).fit_resample(X, y, sensitive_features=g)
    with pytest.raises(UnskewInputError, match="method"):
        GroupAugmenter(method="cutmix").fit_resample(X, y, sensitive_features=g)
