"""ERM and the data-side methods: loss reweighting, group-balanced batches, hard example mining."""

from __future__ import annotations

import numpy as np

from ..exceptions import UnskewInputError
from ._base import Batch, RobustClassifier, Split, _torch


class ERMClassifier(RobustClassifier):
    """Empirical risk minimisation: the plain baseline.

    Minimises the (sample-weighted) mean cross-entropy. Group labels, when
    given, are used only for model selection on the validation data.

    See :class:`RobustClassifier` for the parameters shared by every method.

    Examples
    --------
    >>> from unskew.train import ERMClassifier
    >>> clf = ERMClassifier(max_epochs=5).fit(X, y, X_val=Xv, y_val=yv, groups_val=gv)  # doctest: +SKIP
    """

    group_requirement = "none"


def inverse_frequency_weights(codes: np.ndarray, n_levels: int | None = None) -> np.ndarray:
    """``n / (L * n_level)`` per row: every level gets the same total weight (mean weight 1)."""
    codes = np.asarray(codes)
    n_levels = int(codes.max()) + 1 if n_levels is None else n_levels
    counts = np.bincount(codes, minlength=n_levels).astype(float)
    present = (counts > 0).sum()
    return len(codes) / (present * counts[codes])


class ReweightedClassifier(RobustClassifier):
    """Loss reweighting: each example's loss is weighted so groups (or classes) count equally.

    With ``by="group"`` the weight of an example of group ``g`` is
    ``n / (G * n_g)`` (importance weighting to a group-balanced
    distribution); with ``by="class"`` the same with classes, which needs no
    group labels. The weights multiply any ``sample_weight``.

    Parameters
    ----------
    by : {"group", "class"}, default="group"

    Attributes
    ----------
    loss_weights_ : ndarray
        The weight of each training row (before multiplying ``sample_weight``).
    """

    _method_params = {"by": "group"}

    @property
    def group_requirement(self) -> str:
        return "none" if self.by == "class" else "train"

    def _fit_stages(self, train: Split, val):
        torch = _torch()
        if self.by not in ("group", "class"):
            raise UnskewInputError(f"by must be 'group' or 'class'; got {self.by!r}.")
        codes = (train.g if self.by == "group" else train.y).numpy()
        lw = inverse_frequency_weights(codes)
        self.loss_weights_ = lw
        train.w = train.w * torch.as_tensor(lw, dtype=torch.float32)
        super()._fit_stages(train, val)


def group_balanced_batches(groups: np.ndarray, batch_size: int, n_batches: int, rng: np.random.Generator):
    """Index batches with (as nearly as possible) equal numbers from every group.

    Each batch draws ``batch_size // G`` examples from each group (the
    remainder from groups picked at random), with replacement across batches
    and without replacement within a group inside one batch when the group is
    large enough.
    """
    groups = np.asarray(groups)
    ids = np.unique(groups)
    members = [np.flatnonzero(groups == k) for k in ids]
    per = batch_size // len(ids)
    out = []
    for _ in range(n_batches):
        extra = rng.choice(len(ids), size=batch_size - per * len(ids), replace=False)
        parts = []
        for j, m in enumerate(members):
            k = per + int((extra == j).sum())
            parts.append(rng.choice(m, size=k, replace=len(m) < k))
        b = np.concatenate(parts)
        rng.shuffle(b)
        out.append(b)
    return out


class GroupBalancedClassifier(RobustClassifier):
    """Group-balanced mini-batches: every batch holds the same number of examples per group.

    An epoch has ``ceil(n / batch_size)`` batches, so it sees as many
    examples as an ERM epoch, but minority groups are revisited (sampled with
    replacement) and majority groups subsampled. The loss is the plain mean.
    """

    group_requirement = "train"

    def _batches(self, train: Split, rng, epoch):
        bs = int(self.batch_size)
        if bs < train.n_groups:
            raise UnskewInputError(f"batch_size={bs} is smaller than the number of groups ({train.n_groups}).")
        n_batches = int(np.ceil(len(train) / bs))
        return group_balanced_batches(train.g.numpy(), bs, n_batches, rng)


class HardExampleMiningClassifier(RobustClassifier):
    """Hard example mining: learn from the highest-loss examples of each batch.

    Each step forwards ``batch_size`` examples and back-propagates only ``B``
    of them (``B = n_hard`` if an int, else ``ceil(n_hard * batch_size)``):

    - ``strategy="ohem"`` (online hard example mining, Shrivastava et al.
      2016): the ``B`` examples with the highest loss;
    - ``strategy="sampling"``: ``B`` examples drawn without replacement with
      probability proportional to ``loss ** power`` (rises with the loss).

    Parameters
    ----------
    strategy : {"ohem", "sampling"}, default="ohem"
    n_hard : int or float, default=0.25
    power : float, default=1.0
        Exponent of the loss in the sampling probabilities.

    Attributes
    ----------
    last_selected_ : ndarray
        Training-row indices selected in the last step (for inspection).
    """

    group_requirement = "none"
    _method_params = {"strategy": "ohem", "n_hard": 0.25, "power": 1.0}

    def _n_keep(self, n: int) -> int:
        if isinstance(self.n_hard, (int, np.integer)) and not isinstance(self.n_hard, bool):
            k = int(self.n_hard)
        else:
            k = int(np.ceil(float(self.n_hard) * n))
        if k < 1:
            raise UnskewInputError("n_hard must select at least one example per batch.")
        return min(k, n)

    def _select(self, per_loss):
        torch = _torch()
        k = self._n_keep(per_loss.shape[0])
        if self.strategy == "ohem":
            return torch.topk(per_loss.detach(), k).indices
        if self.strategy == "sampling":
            p = per_loss.detach().clamp_min(1e-12) ** float(self.power)
            p = (p / p.sum()).numpy().astype(float)
            p = p / p.sum()
            return torch.as_tensor(self._rng.choice(len(p), size=k, replace=False, p=p))
        raise UnskewInputError(f"strategy must be 'ohem' or 'sampling'; got {self.strategy!r}.")

    def _loss(self, model, batch: Batch):
        torch = _torch()
        logits = model(batch.x)
        per = torch.nn.functional.cross_entropy(logits, batch.y, reduction="none") * batch.w
        sel = self._select(per)
        self.last_selected_ = batch.idx[sel].numpy()
        return per[sel].mean()
