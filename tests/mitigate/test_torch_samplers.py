"""PyTorch samplers: exact per-batch composition and epoch-level shares."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from unskew.exceptions import UnskewInputError

torch = pytest.importorskip("torch")

from unskew.mitigate.pre import GroupBalancedBatchSampler, GroupBalancedSampler  # noqa: E402


def _groups(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], size=n, p=[0.85, 0.12, 0.03])
    y = (rng.random(n) < np.where(g == "a", 0.3, 0.1)).astype(int)
    return g, y


def test_is_a_torch_sampler():
    g, _ = _groups(100)
    assert isinstance(GroupBalancedBatchSampler(g, 30), torch.utils.data.Sampler)
    assert isinstance(GroupBalancedSampler(g), torch.utils.data.Sampler)


@pytest.mark.parametrize(
    "batch_size, proportions",
    [(30, None), (64, {"a": 0.5, "b": 0.25, "c": 0.25}), (40, [0.1, 0.3, 0.6]), (7, None)],
)
def test_every_batch_has_the_requested_composition(batch_size, proportions):
    g, _ = _groups()
    smp = GroupBalancedBatchSampler(g, batch_size, proportions=proportions, num_batches=300, seed=1)
    expected = dict(zip(smp.populations_, smp.quotas_.tolist(), strict=True))
    if proportions is not None and batch_size in (64, 40):
        # representable exactly: quotas are batch_size * proportion
        p = proportions if isinstance(proportions, dict) else dict(zip("abc", proportions, strict=True))
        assert expected == {k: round(batch_size * v) for k, v in p.items()}
    assert sum(expected.values()) == batch_size
    batches = list(smp)
    assert len(batches) == len(smp) == 300
    for batch in batches:
        assert len(batch) == batch_size
        assert len(set(batch)) == len(batch)  # no repeat inside a batch (populations are large enough)
        got = Counter(g[batch].tolist())
        assert {k: got.get(k, 0) for k in expected} == expected


def test_batch_sampler_group_x_class_populations():
    g, y = _groups()
    smp = GroupBalancedBatchSampler(g, 60, labels=y, num_batches=100, seed=0)
    assert len(smp.populations_) == 6 and set(smp.quotas_) == {10}
    for batch in smp:
        cells = Counter(zip(g[batch].tolist(), y[batch].tolist(), strict=True))
        assert set(cells.values()) == {10} and len(cells) == 6


def test_batch_sampler_rounding_strict_and_errors():
    g, _ = _groups()
    smp = GroupBalancedBatchSampler(g, 32)  # 32 / 3 is not an integer
    assert sorted(smp.quotas_.tolist()) == [10, 11, 11]
    with pytest.raises(UnskewInputError, match="exactly"):
        GroupBalancedBatchSampler(g, 32, strict=True)
    with pytest.raises(UnskewInputError, match="too small"):
        GroupBalancedBatchSampler(g, 4, proportions={"a": 0.9, "b": 0.05, "c": 0.05})
    with pytest.raises(UnskewInputError, match="sum to 1"):
        GroupBalancedBatchSampler(g, 30, proportions={"a": 0.5, "b": 0.2, "c": 0.2})
    with pytest.raises(UnskewInputError, match="do not occur"):
        GroupBalancedBatchSampler(g, 30, proportions={"z": 1.0})
    with pytest.raises(UnskewInputError, match="positive"):
        GroupBalancedBatchSampler(g, 0)


def test_small_population_cycles_through_all_examples_before_repeating():
    g, _ = _groups()
    c_idx = set(np.flatnonzero(g == "c").tolist())
    smp = GroupBalancedBatchSampler(g, 30, num_batches=200, seed=3)
    seen = []
    for batch in smp:
        seen.extend(i for i in batch if i in c_idx)
    first_pass = seen[: len(c_idx)]
    assert set(first_pass) == c_idx  # every 'c' example used once before any repeat


def test_reproducible_and_set_epoch():
    g, _ = _groups(500)
    a = list(GroupBalancedBatchSampler(g, 30, seed=5))
    b = list(GroupBalancedBatchSampler(g, 30, seed=5))
    assert a == b
    smp = GroupBalancedBatchSampler(g, 30, seed=5)
    e0 = list(smp)
    e1 = list(smp)
    assert e0 != e1  # a new epoch gives new batches
    smp.set_epoch(7)
    x = list(smp)
    smp.set_epoch(7)
    assert list(smp) == x


def test_dataloader_integration():
    g, y = _groups(600)
    X = torch.arange(600, dtype=torch.float32)[:, None]
    ds = torch.utils.data.TensorDataset(X, torch.as_tensor(y))
    loader = torch.utils.data.DataLoader(ds, batch_sampler=GroupBalancedBatchSampler(g, 30, num_batches=5, seed=0))
    for xb, _yb in loader:
        idx = xb[:, 0].long().numpy()
        assert Counter(g[idx].tolist()) == {"a": 10, "b": 10, "c": 10}
    loader = torch.utils.data.DataLoader(ds, batch_size=50, sampler=GroupBalancedSampler(g, seed=0))
    seen = torch.cat([xb[:, 0] for xb, _ in loader]).long().numpy()
    assert len(seen) == 600


def test_epoch_sampler_shares():
    g, _ = _groups(6000)
    smp = GroupBalancedSampler(g, proportions={"a": 0.5, "b": 0.3, "c": 0.2}, num_samples=1000, seed=0)
    idx = list(smp)
    assert len(idx) == len(smp) == 1000
    assert Counter(g[idx].tolist()) == {"a": 500, "b": 300, "c": 200}
    # large population is sub-sampled without repeats within the epoch
    a_idx = [i for i in idx if g[i] == "a"]
    assert len(set(a_idx)) == len(a_idx)
    # shuffled: not grouped by population
    assert len({g[i] for i in idx[:30]}) > 1


def test_tensor_groups_accepted():
    g = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    smp = GroupBalancedBatchSampler(g, 3, num_batches=4, seed=0)
    for batch in smp:
        assert sorted(g[batch].tolist()) == [0, 1, 2]
