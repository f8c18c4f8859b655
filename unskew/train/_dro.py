"""Group DRO (Sagawa et al. 2020) and Just Train Twice (Liu et al. 2021)."""

from __future__ import annotations

import numpy as np

from ..exceptions import UnskewInputError
from ._base import Batch, RobustClassifier, Split, _torch


def group_mean_losses(per_example, groups, n_groups: int):
    """Mean loss of each group in a batch (0 for absent groups) and the counts."""
    torch = _torch()
    onehot = torch.nn.functional.one_hot(groups, n_groups).to(per_example.dtype)
    counts = onehot.sum(0)
    sums = onehot.T @ per_example
    return sums / torch.clamp(counts, min=1.0), counts


def exponentiated_update(q, adjusted_losses, eta: float):
    """One step of the online mirror-ascent update: ``q_g <- q_g exp(eta * L_g)``, renormalised."""
    torch = _torch()
    q = q * torch.exp(eta * adjusted_losses)
    return q / q.sum()


class GroupDROClassifier(RobustClassifier):
    """Group distributionally robust optimisation (Sagawa, Koh, Hashimoto and Liang 2020).

    Keeps a distribution ``q`` over the groups. At each step the mean loss
    ``L_g`` of each group in the batch is computed, ``q`` moves toward the
    worst groups by the exponentiated-gradient update
    ``q_g <- q_g * exp(eta * (L_g + C / sqrt(n_g)))`` (renormalised), and the
    model minimises ``sum_g q_g L_g``. ``C / sqrt(n_g)`` is the
    generalisation adjustment (``n_g`` = training size of group ``g``; ``C =
    0`` disables it). As in the paper, Group DRO needs strong L2
    regularisation (or early stopping) to generalise; the default
    ``weight_decay`` is therefore 100 times ERM's.

    Parameters
    ----------
    eta : float, default=0.01
        Step size of the group-weight update.
    adjustment : float, default=0.0
        The constant ``C`` of the generalisation adjustment.
    weight_decay : float, default=1e-2

    Attributes
    ----------
    group_weights_ : ndarray of shape (n_groups,)
        Final ``q``, aligned with ``groups_``.
    group_weights_history_ : list of ndarray
        ``q`` at the end of every epoch.
    """

    group_requirement = "train"
    _method_params = {"eta": 0.01, "adjustment": 0.0, "weight_decay": 1e-2}

    def _start(self, train: Split, model):
        torch = _torch()
        if float(self.eta) < 0:
            raise UnskewInputError("eta must be non-negative.")
        self._q = torch.full((train.n_groups,), 1.0 / train.n_groups)
        counts = torch.bincount(train.g, minlength=train.n_groups).float()
        self._adj = float(self.adjustment) / torch.sqrt(torch.clamp(counts, min=1.0))
        self.group_weights_history_ = []

    def _loss(self, model, batch: Batch):
        torch = _torch()
        logits = model(batch.x)
        per = torch.nn.functional.cross_entropy(logits, batch.y, reduction="none") * batch.w
        group_loss, _ = group_mean_losses(per, batch.g, len(self._q))
        self._q = exponentiated_update(self._q, group_loss.detach() + self._adj, float(self.eta))
        return group_loss @ self._q

    def _end_epoch(self, train, model, epoch):
        q = self._q.numpy().copy()
        self.group_weights_history_.append(q)
        self.group_weights_ = q
        return {"max_group_weight": float(q.max())}


class JTTClassifier(RobustClassifier):
    """Just Train Twice (Liu et al. 2021).

    1. Train an identification model with ERM for ``identification_epochs``
       epochs (``T``).
    2. The error set is the training examples it misclassifies.
    3. Train a new model from scratch on the training data with the error set
       upsampled ``upweight`` times (``lambda``): every error-set example
       appears ``lambda`` times per epoch, every other example once.

    Group labels are used only on the validation data to select the final
    model (``group_requirement = "validation"``); with ``selection`` set to
    ``"average"``, ``"loss"`` or ``"last"`` JTT needs no group labels at all.

    Parameters
    ----------
    identification_epochs : int, default=1
    upweight : int, default=20

    Attributes
    ----------
    identification_model_ : torch.nn.Module
    error_set_ : ndarray of int
        Training rows misclassified by the identification model.
    upsampling_counts_ : ndarray of int
        How many times each training row appears per epoch of stage 2.
    """

    group_requirement = "validation"
    _method_params = {"identification_epochs": 1, "upweight": 20}

    def _fit_stages(self, train: Split, val):
        lam = int(self.upweight)
        if lam < 1 or int(self.identification_epochs) < 1:
            raise UnskewInputError("upweight and identification_epochs must be at least 1.")
        ident = self._build_model()
        ident = self._run_stage(ident, train, None, stage="identification",
                                max_epochs=int(self.identification_epochs), selection="last", record=False)
        pred = self._logits(ident, train.X).argmax(1)
        self.identification_model_ = ident
        self.error_set_ = np.flatnonzero((pred != train.y).numpy())
        counts = np.ones(len(train), dtype=int)
        counts[self.error_set_] = lam
        self.upsampling_counts_ = counts
        pool = np.repeat(np.arange(len(train)), counts)
        bs = int(self.batch_size)

        def batches(epoch):
            perm = self._rng.permutation(pool)
            return [perm[i:i + bs] for i in range(0, len(perm), bs)]

        model = self._build_model()
        self._run_stage(model, train, val, stage="final", batches=batches)
