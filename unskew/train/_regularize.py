"""Loss-side methods: spectral decoupling and adversarial (FGSM/PGD) training."""

from __future__ import annotations

import numpy as np

from ..exceptions import UnskewInputError
from ._base import Batch, RobustClassifier, _torch


def _per_class(value, n_classes: int, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 1:
        return np.full(n_classes, float(arr[0]))
    if arr.size != n_classes:
        raise UnskewInputError(f"{name} must be a number or one value per class ({n_classes}); got {arr.size}.")
    return arr


def spectral_decoupling_penalty(logits, y, lam, gamma):
    """Per-example ``lambda_y / 2 * ||out - gamma_y||^2``.

    ``out`` is the logit difference ``l_1 - l_0`` for a binary model (the
    single-output form of the paper) and the logit vector otherwise.
    """
    torch = _torch()
    lam_t = torch.as_tensor(lam, dtype=logits.dtype)[y]
    gam_t = torch.as_tensor(gamma, dtype=logits.dtype)[y]
    if logits.shape[1] == 2:
        out = logits[:, 1] - logits[:, 0]
        sq = (out - gam_t) ** 2
    else:
        sq = ((logits - gam_t[:, None]) ** 2).sum(1)
    return 0.5 * lam_t * sq


class SpectralDecouplingClassifier(RobustClassifier):
    """Spectral decoupling (Pezeshki et al. 2021, "Gradient Starvation").

    Replaces the weight decay on parameters by an L2 penalty on the network's
    outputs: ``CE + lambda/2 * ||y_hat||^2``. The per-class variant
    penalises the distance to a per-class target,
    ``lambda_c/2 * ||y_hat - gamma_c||^2`` for examples of class ``c`` (pass
    ``sd_lambda`` and/or ``sd_gamma`` as one value per class, in the order of
    ``classes_``). For a binary model ``y_hat`` is the logit difference, as in
    the paper's single-output form.

    As in the authors' Coloured MNIST code, the penalty can start after
    ``warmup_epochs`` epochs of plain cross-entropy.

    Parameters
    ----------
    sd_lambda : float or sequence of float, default=0.1
    sd_gamma : float or sequence of float, default=0.0
    warmup_epochs : int, default=0
    weight_decay : float, default=0.0
    """

    group_requirement = "none"
    _method_params = {"sd_lambda": 0.1, "sd_gamma": 0.0, "warmup_epochs": 0, "weight_decay": 0.0}

    def _start(self, train, model):
        k = len(self.classes_)
        self._lam = _per_class(self.sd_lambda, k, "sd_lambda")
        self._gam = _per_class(self.sd_gamma, k, "sd_gamma")
        if (self._lam < 0).any():
            raise UnskewInputError("sd_lambda must be non-negative.")
        self._epoch = 0

    def _end_epoch(self, train, model, epoch):
        self._epoch = epoch + 1
        return {}

    def _loss(self, model, batch: Batch):
        torch = _torch()
        logits = model(batch.x)
        ce = torch.nn.functional.cross_entropy(logits, batch.y, reduction="none")
        if self._epoch < int(self.warmup_epochs):
            return (ce * batch.w).mean()
        pen = spectral_decoupling_penalty(logits, batch.y, self._lam, self._gam)
        return ((ce + pen) * batch.w).mean()


def _perturbable_mask(spec, like):
    """1 for inputs an attack may change (numeric columns, pixels), 0 for categorical codes."""
    torch = _torch()
    mask = torch.ones_like(like[:1])
    if spec.kind == "tabular" and spec.cardinalities:
        mask[:, spec.n_numeric:] = 0
    return mask


class AdversarialTrainingClassifier(RobustClassifier):
    """Adversarial training with FGSM (Goodfellow et al. 2015) or PGD (Madry et al. 2018) examples.

    The loss mixes clean and adversarial examples,
    ``(1 - adv_weight) * CE(x) + adv_weight * CE(x_adv)``. FGSM takes one
    step ``x + epsilon * sign(grad_x CE)``; PGD starts at a uniform random
    point of the L-infinity ball of radius ``epsilon`` and takes
    ``pgd_steps`` signed steps of size ``pgd_step_size`` (default
    ``2.5 * epsilon / pgd_steps``), projecting back onto the ball. Perturbations
    apply to numeric (standardised) columns and to pixels (kept in [0, 1]);
    categorical codes are never perturbed.

    Parameters
    ----------
    attack : {"fgsm", "pgd"}, default="fgsm"
    epsilon : float, default=0.1
        In standard deviations for tables and in intensity units for images.
    pgd_steps : int, default=5
    pgd_step_size : float, optional
    adv_weight : float, default=0.5
    """

    group_requirement = "none"
    _method_params = {"attack": "fgsm", "epsilon": 0.1, "pgd_steps": 5, "pgd_step_size": None,
                      "adv_weight": 0.5}

    def _start(self, train, model):
        if self.attack not in ("fgsm", "pgd"):
            raise UnskewInputError(f"attack must be 'fgsm' or 'pgd'; got {self.attack!r}.")
        if float(self.epsilon) < 0 or not 0.0 <= float(self.adv_weight) <= 1.0:
            raise UnskewInputError("epsilon must be >= 0 and adv_weight in [0, 1].")

    def perturb(self, model, x, y):
        """Adversarial version of ``x`` for labels ``y`` (tensors)."""
        torch = _torch()
        eps = float(self.epsilon)
        mask = _perturbable_mask(self.input_spec_, x)
        image = self.input_spec_.kind == "image"

        def grad_sign(xa):
            xa = xa.detach().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(xa), y)
            (g,) = torch.autograd.grad(loss, xa)
            return g.sign()

        if self.attack == "fgsm":
            x_adv = x + eps * grad_sign(x) * mask
        else:
            steps = int(self.pgd_steps)
            alpha = float(self.pgd_step_size) if self.pgd_step_size is not None else 2.5 * eps / max(steps, 1)
            x_adv = x + (torch.rand_like(x) * 2 - 1) * eps * mask
            for _ in range(steps):
                x_adv = x_adv + alpha * grad_sign(x_adv) * mask
                x_adv = x + torch.clamp(x_adv - x, -eps, eps)
        if image:
            x_adv = torch.clamp(x_adv, 0.0, 1.0)
        return x_adv.detach()

    def _loss(self, model, batch: Batch):
        torch = _torch()
        a = float(self.adv_weight)
        x_adv = self.perturb(model, batch.x, batch.y)
        clean = torch.nn.functional.cross_entropy(model(batch.x), batch.y, reduction="none")
        adv = torch.nn.functional.cross_entropy(model(x_adv), batch.y, reduction="none")
        return (((1 - a) * clean + a * adv) * batch.w).mean()
