"""PyTorch samplers that follow target proportions over groups (or group x class cells).

* :class:`GroupBalancedSampler` -- epoch level: over one epoch every
  population appears with its requested share (exact up to rounding of the
  epoch length).
* :class:`GroupBalancedBatchSampler` -- batch level: *every* mini-batch holds
  exactly ``quotas_[k]`` examples of population ``k``; the quotas are the
  requested proportions times the batch size, rounded by the largest-remainder
  method (exact when ``batch_size * proportion`` is an integer, and with
  ``strict=True`` anything else is refused).

Within a population examples are drawn without replacement from a shuffled
permutation that is refreshed when exhausted: every example of a small
population is seen before any is repeated, and large populations are
sub-sampled without duplicates inside an epoch.

Both are importable without torch installed only through
:mod:`unskew.mitigate.pre`'s lazy attributes; instantiating them needs torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..._optional import import_optional
from ...exceptions import UnskewInputError
from .._utils import encode_groups, plain

torch = import_optional("torch", "the PyTorch samplers")
_Sampler = torch.utils.data.Sampler


def _populations(groups: Any, labels: Any) -> tuple[np.ndarray, list]:
    """Codes and labels of populations: groups, or (group, label) pairs."""
    if groups is None:
        raise UnskewInputError("The sampler needs groups: one population key per example.")
    if hasattr(groups, "detach"):
        groups = groups.detach().cpu().numpy()
    if labels is None:
        return encode_groups(groups, owner="sampler")
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    g = np.asarray(groups, dtype=object)
    lab = np.asarray(labels, dtype=object)
    if g.ndim != 1:
        gc, gl = encode_groups(groups, owner="sampler")
        g = np.empty(len(gc), dtype=object)
        g[:] = [gl[i] for i in gc]
    if len(lab) != len(g):
        raise UnskewInputError(f"groups has {len(g)} entries but labels has {len(lab)}; they must be aligned.")
    keys = np.empty(len(g), dtype=object)
    keys[:] = list(zip((plain(v) for v in g), (plain(v) for v in lab), strict=True))
    return encode_groups(keys, owner="sampler")


def _proportions(proportions: Any, pop_labels: list) -> np.ndarray:
    K = len(pop_labels)
    if proportions is None:
        return np.full(K, 1.0 / K)
    if isinstance(proportions, Mapping):
        index = {lab: i for i, lab in enumerate(pop_labels)}
        p = np.zeros(K)
        unknown = [k for k in proportions if plain(k) not in index]
        if unknown:
            raise UnskewInputError(
                f"proportions names population(s) {unknown[:5]} that do not occur; populations are {pop_labels[:10]}."
            )
        for k, v in proportions.items():
            p[index[plain(k)]] = float(v)
    else:
        p = np.asarray(proportions, dtype=float).reshape(-1)
        if len(p) != K:
            raise UnskewInputError(
                f"proportions has {len(p)} entries but there are {K} populations {pop_labels[:10]} "
                f"(in this order); pass a dict {{population: share}} to be explicit."
            )
    if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise UnskewInputError(f"proportions must be >= 0 with a positive sum, got {p.tolist()}.")
    if abs(p.sum() - 1.0) > 1e-6:
        raise UnskewInputError(f"proportions must sum to 1, got {p.sum():.6g}; normalise them first.")
    return p


def largest_remainder(total: int, proportions: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``total * proportions``."""
    raw = total * np.asarray(proportions, dtype=float)
    base = np.floor(raw + 1e-9).astype(np.int64)
    short = int(total - base.sum())
    if short > 0:
        rem = raw - base
        order = np.lexsort((np.arange(len(rem)), -rem))
        base[order[:short]] += 1
    return base


class _Pools:
    """Per-population shuffled queues drawn without replacement, refreshed when empty."""

    def __init__(self, members: list[np.ndarray], rng: np.random.Generator):
        self.members = members
        self.rng = rng
        self.queues = [rng.permutation(m) for m in members]
        self.pos = [0] * len(members)

    def draw(self, k: int, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            q = self.queues[k]
            take = min(n - filled, len(q) - self.pos[k])
            out[filled:filled + take] = q[self.pos[k]:self.pos[k] + take]
            filled += take
            self.pos[k] += take
            if self.pos[k] >= len(q):
                new = self.rng.permutation(self.members[k])
                if 0 < filled < n and len(new) >= n:
                    # avoid repeating, inside this draw, examples taken from the previous pass
                    taken = np.isin(new, out[:filled])
                    new = np.concatenate([new[~taken], new[taken]])
                self.queues[k] = new
                self.pos[k] = 0
        return out


class _GroupSamplerBase(_Sampler):
    def __init__(self, groups, proportions, seed, labels):
        self.codes_, self.populations_ = _populations(groups, labels)
        self.proportions_ = _proportions(proportions, self.populations_)
        counts = np.bincount(self.codes_, minlength=len(self.populations_))
        empty = [self.populations_[k] for k in np.flatnonzero((counts == 0) & (self.proportions_ > 0))]
        if empty:  # pragma: no cover - encode_groups only returns populations that occur
            raise UnskewInputError(f"Populations {empty} have no examples.")
        order = np.argsort(self.codes_, kind="stable")
        bounds = np.searchsorted(self.codes_[order], np.arange(len(self.populations_) + 1))
        self._members = [order[bounds[k]:bounds[k + 1]] for k in range(len(self.populations_))]
        self.seed = seed
        self.epoch = 0
        self._rng = np.random.default_rng([int(seed), 0])

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration reproducible for ``epoch`` (as DistributedSampler)."""
        self.epoch = int(epoch)
        self._rng = np.random.default_rng([int(self.seed), self.epoch])


class GroupBalancedSampler(_GroupSamplerBase):
    """Epoch-level sampler: each population gets its share of the epoch.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Population key of each example (a group, or with ``labels`` the
        (group, label) cell).
    proportions : dict or sequence, optional
        Share of each population (keys as in ``populations_``); equal shares
        by default. Must sum to 1.
    num_samples : int, optional
        Indices per epoch (default: the dataset size).
    seed : int, default=0
    labels : array-like of shape (n_samples,), optional
        Class labels; populations become (group, label) pairs.

    Attributes
    ----------
    populations_ : list
        Population keys, sorted; ``proportions_`` and ``counts_`` follow it.
    counts_ : ndarray
        Indices of each population per epoch (largest-remainder rounding of
        ``num_samples * proportions_``).

    Examples
    --------
    >>> from torch.utils.data import DataLoader  # doctest: +SKIP
    >>> loader = DataLoader(ds, batch_size=64, sampler=GroupBalancedSampler(g, seed=0))  # doctest: +SKIP
    """

    def __init__(self, groups, proportions=None, num_samples: int | None = None, seed: int = 0, labels=None):
        super().__init__(groups, proportions, seed, labels)
        n = len(self.codes_) if num_samples is None else int(num_samples)
        if n <= 0:
            raise UnskewInputError(f"num_samples must be positive, got {num_samples!r}.")
        self.num_samples = n
        self.counts_ = largest_remainder(n, self.proportions_)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        pools = _Pools(self._members, self._rng)
        idx = np.concatenate([pools.draw(k, int(c)) for k, c in enumerate(self.counts_) if c > 0])
        idx = idx[self._rng.permutation(len(idx))]
        self.epoch += 1
        return iter(idx.tolist())


class GroupBalancedBatchSampler(_GroupSamplerBase):
    """Batch-level sampler: every mini-batch has the requested composition.

    Pass it as ``batch_sampler=`` to :class:`torch.utils.data.DataLoader`.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Population key of each example.
    batch_size : int
    proportions : dict or sequence, optional
        Share of each population in every batch (equal by default); must sum to 1.
    num_batches : int, optional
        Batches per epoch (default: ``ceil(n_samples / batch_size)``).
    seed : int, default=0
    labels : array-like, optional
        Class labels; populations become (group, label) pairs.
    strict : bool, default=False
        Refuse proportions that ``batch_size`` cannot represent exactly
        (``batch_size * p`` not an integer). Otherwise quotas are rounded by
        the largest-remainder method, each off by less than one example.

    Attributes
    ----------
    quotas_ : ndarray of int
        Examples of each population in every batch (sums to ``batch_size``).
    populations_, proportions_
        Population keys (sorted) and their requested shares.

    Raises
    ------
    UnskewInputError
        When a population with a positive share would get no slot in the batch
        (batch too small), or with ``strict=True`` when the proportions are not
        representable.
    """

    def __init__(self, groups, batch_size: int, proportions=None, num_batches: int | None = None, seed: int = 0,
                 labels=None, strict: bool = False):
        super().__init__(groups, proportions, seed, labels)
        if int(batch_size) <= 0:
            raise UnskewInputError(f"batch_size must be positive, got {batch_size!r}.")
        self.batch_size = int(batch_size)
        self.quotas_ = largest_remainder(self.batch_size, self.proportions_)
        starved = [self.populations_[k] for k in np.flatnonzero((self.quotas_ == 0) & (self.proportions_ > 0))]
        if starved:
            raise UnskewInputError(
                f"batch_size={self.batch_size} is too small to hold population(s) {starved[:5]} at the requested "
                f"proportions; raise batch_size to at least {int(np.ceil(1 / self.proportions_[self.proportions_ > 0].min()))}."
            )
        exact = np.allclose(self.quotas_, self.batch_size * self.proportions_, atol=1e-9)
        if strict and not exact:
            raise UnskewInputError(
                f"batch_size={self.batch_size} cannot hold the proportions {self.proportions_.round(4).tolist()} exactly "
                f"(closest quotas {self.quotas_.tolist()}); choose a batch size that makes every share an integer."
            )
        n = len(self.codes_)
        self.num_batches = int(np.ceil(n / self.batch_size)) if num_batches is None else int(num_batches)
        if self.num_batches <= 0:
            raise UnskewInputError(f"num_batches must be positive, got {num_batches!r}.")
        self.strict = strict

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        pools = _Pools(self._members, self._rng)
        rng = self._rng
        active = [(k, int(q)) for k, q in enumerate(self.quotas_) if q > 0]
        self.epoch += 1
        for _ in range(self.num_batches):
            batch = np.concatenate([pools.draw(k, q) for k, q in active])
            yield batch[rng.permutation(len(batch))].tolist()
