"""Adversarial removal of a sensitive attribute: adversarial debiasing and DANN."""

from __future__ import annotations

import numpy as np

from ..exceptions import UnskewInputError
from ._base import Batch, RobustClassifier, Split, _torch


# ----------------------------------------------------------------- gradient reversal
def _grad_reverse_fn():
    torch = _torch()

    class GradReverse(torch.autograd.Function):
        """Identity in the forward pass; multiplies the gradient by ``-coeff`` in the backward pass."""

        @staticmethod
        def forward(ctx, x, coeff):
            ctx.coeff = float(coeff)
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad_output):
            return -ctx.coeff * grad_output, None

    return GradReverse


def grad_reverse(x, coeff: float = 1.0):
    """Gradient reversal layer (Ganin and Lempitsky 2015)."""
    return _grad_reverse_fn().apply(x, coeff)


def ganin_schedule(progress: float) -> float:
    """``2 / (1 + exp(-10 p)) - 1``: the DANN coefficient ramp from 0 to 1 over training."""
    return float(2.0 / (1.0 + np.exp(-10.0 * progress)) - 1.0)


class DANNClassifier(RobustClassifier):
    """Domain-adversarial training (Ganin et al. 2016) with the sensitive attribute as the domain.

    A domain classifier (an MLP with ``domain_hidden`` units) predicts the
    sensitive attribute from the model's features through a gradient reversal
    layer: it learns to predict the attribute while the feature extractor
    receives the reversed gradient and learns features from which the
    attribute cannot be predicted. The loss is ``CE(y) + CE(domain)``; the
    reversal coefficient is ``domain_weight * (2 / (1 + exp(-10 p)) - 1)``
    with ``p`` the training progress (``schedule="ganin"``) or constant
    ``domain_weight``.

    The domain is ``sensitive`` passed to ``fit``, else ``groups``.

    Parameters
    ----------
    domain_weight : float, default=1.0
    schedule : {"ganin", "constant"}, default="ganin"
    domain_hidden : tuple of int, default=(32,)

    Attributes
    ----------
    domain_head_ : torch.nn.Module
        The trained domain classifier.
    """

    group_requirement = "train"
    _method_params = {"domain_weight": 1.0, "schedule": "ganin", "domain_hidden": (32,)}

    def _needs_sensitive(self) -> bool:
        return True

    def _start(self, train: Split, model):
        torch = _torch()
        if self.schedule not in ("ganin", "constant"):
            raise UnskewInputError(f"schedule must be 'ganin' or 'constant'; got {self.schedule!r}.")
        _require_features(model, "DANN")
        layers, width = [], model.feature_dim
        for h in self.domain_hidden:
            layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU()]
            width = int(h)
        layers.append(torch.nn.Linear(width, train.n_sensitive))
        self.domain_head_ = torch.nn.Sequential(*layers)
        self._opt.add_param_group({"params": list(self.domain_head_.parameters())})

    def _coefficient(self) -> float:
        base = float(self.domain_weight)
        return base * ganin_schedule(self._epoch_progress) if self.schedule == "ganin" else base

    def _loss(self, model, batch: Batch):
        torch = _torch()
        f = model.features(batch.x)
        ce = torch.nn.functional.cross_entropy(model.head(f), batch.y, reduction="none")
        d = self.domain_head_(grad_reverse(f, self._coefficient()))
        dom = torch.nn.functional.cross_entropy(d, batch.s, reduction="none")
        return ((ce + dom) * batch.w).mean()


def _require_features(model, name: str) -> None:
    if not (hasattr(model, "features") and hasattr(model, "head") and hasattr(model, "feature_dim")):
        raise UnskewInputError(f"{name} needs a model with features(x), head and feature_dim.")


# ----------------------------------------------------------------- adversarial debiasing
def debiased_direction(g_pred, g_adv, alpha: float):
    """Zhang et al.'s predictor update direction ``g_P - proj_{g_A} g_P - alpha g_A``.

    Both arguments are flat gradient vectors of the predictor's parameters:
    ``g_pred`` of the prediction loss and ``g_adv`` of the adversary's loss.
    Removing the projection stops the predictor from moving in a direction
    that helps the adversary; ``- alpha g_A`` actively hurts it.
    """
    torch = _torch()
    norm = torch.linalg.vector_norm(g_adv)
    if float(norm) == 0.0:
        return g_pred.clone()
    unit = g_adv / norm
    return g_pred - (g_pred @ unit) * unit - alpha * g_adv


class _Adversary:
    """The adversary of Zhang et al.: predicts the sensitive attribute from the prediction."""

    def __init__(self, n_classes: int, n_sensitive: int, criterion: str):
        torch = _torch()
        self.n_classes = n_classes
        self.criterion = criterion
        k = 1 if n_classes == 2 else n_classes
        width = k if criterion == "demographic_parity" else k + k * n_classes
        self.c = torch.nn.Parameter(torch.ones(1))
        self.linear = torch.nn.Linear(width, n_sensitive)

    def parameters(self):
        return [self.c, *self.linear.parameters()]

    def __call__(self, logits, y):
        torch = _torch()
        scale = 1 + self.c.abs()
        if self.n_classes == 2:
            s = torch.sigmoid(scale * (logits[:, 1:2] - logits[:, :1]))
        else:
            s = torch.softmax(scale * logits, dim=1)
        if self.criterion == "equalized_odds":
            onehot = torch.nn.functional.one_hot(y, self.n_classes).to(s.dtype)
            s = torch.cat([s, (s[:, :, None] * onehot[:, None, :]).flatten(1)], dim=1)
        return self.linear(s)


class AdversarialDebiasingClassifier(RobustClassifier):
    """Adversarial debiasing (Zhang, Lemoine and Mitchell 2018).

    An adversary predicts the sensitive attribute ``Z`` from the predictor's
    output: from ``s = sigmoid((1 + |c|) * logit)`` alone for demographic
    parity, from ``[s, s * y, s * (1 - y)]`` for equalized odds (softmax
    outputs and their products with the one-hot label for more than two
    classes). The adversary minimises its loss ``L_A``; the predictor's
    weights ``W`` are updated along

    ``grad_W L_P - proj_{grad_W L_A} grad_W L_P - alpha * grad_W L_A``

    where the projection term (taken over all predictor parameters as one
    vector) removes the component of the update that would help the adversary.

    The sensitive attribute is ``sensitive`` passed to ``fit``, else ``groups``.

    Parameters
    ----------
    criterion : {"equalized_odds", "demographic_parity"}, default="equalized_odds"
    adversary_weight : float, default=0.1
        ``alpha`` (AIF360's default). Large values (about 1 and above with
        the default learning rates) let the predictor "win" by inverting its
        predictions against a stale adversary instead of removing the
        information; the paper's remedy is a slowly growing ``alpha`` with a
        decaying learning rate.
    adversary_lr : float, optional
        Learning rate of the adversary (default: ``lr``).

    Attributes
    ----------
    adversary_ : object
        The trained adversary (``parameters()``, callable on ``(logits, y)``).
    """

    group_requirement = "train"
    _method_params = {"criterion": "equalized_odds", "adversary_weight": 0.1, "adversary_lr": None}

    def _needs_sensitive(self) -> bool:
        return True

    def _start(self, train: Split, model):
        if self.criterion not in ("equalized_odds", "demographic_parity"):
            raise UnskewInputError(
                f"criterion must be 'equalized_odds' or 'demographic_parity'; got {self.criterion!r}."
            )
        self.adversary_ = _Adversary(len(self.classes_), train.n_sensitive, self.criterion)
        lr = self.lr if self.adversary_lr is None else self.adversary_lr
        self._adv_opt = self._make_optimizer(self.adversary_.parameters(), lr=lr, weight_decay=0.0)

    def _train_step(self, model, opt, batch: Batch) -> float:
        torch = _torch()
        params = [p for p in model.parameters() if p.requires_grad]
        adv_params = self.adversary_.parameters()
        logits = model(batch.x)
        loss_p = (torch.nn.functional.cross_entropy(logits, batch.y, reduction="none") * batch.w).mean()
        z_logits = self.adversary_(logits, batch.y)
        loss_a = (torch.nn.functional.cross_entropy(z_logits, batch.s, reduction="none") * batch.w).mean()
        g_p = torch.autograd.grad(loss_p, params, retain_graph=True, allow_unused=True)
        g_all = torch.autograd.grad(loss_a, params + adv_params, allow_unused=True)
        g_a, g_u = g_all[: len(params)], g_all[len(params):]
        flat_p = _flatten(g_p, params)
        flat_a = _flatten(g_a, params)
        d = debiased_direction(flat_p, flat_a, float(self.adversary_weight))
        opt.zero_grad()
        _assign(d, params)
        opt.step()
        self._adv_opt.zero_grad()
        for p, g in zip(adv_params, g_u, strict=True):
            p.grad = None if g is None else g.detach()
        self._adv_opt.step()
        self._last_adversary_loss = float(loss_a.detach())
        return float(loss_p.detach())

    def _end_epoch(self, train, model, epoch):
        return {"adversary_loss": getattr(self, "_last_adversary_loss", float("nan"))}


def _flatten(grads, params):
    torch = _torch()
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params, strict=True)])


def _assign(flat, params):
    i = 0
    for p in params:
        n = p.numel()
        p.grad = flat[i:i + n].view_as(p).detach().clone()
        i += n
