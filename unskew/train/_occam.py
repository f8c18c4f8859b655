"""OccamNets (Shrestha, Kafle and Kanan 2022): prefer the simplest sufficient hypothesis."""

from __future__ import annotations

import numpy as np

from ..exceptions import UnskewInputError
from ._base import Batch, RobustClassifier, Split, _torch


def cam_suppression_loss(cam, y):
    """OccamNets' CAM suppression loss.

    At every location whose class activation for the true class is below
    that map's mean (outside the attended region), the KL divergence from the
    uniform distribution over classes to the softmax of the class activations
    is penalised: activations there are pushed to carry no class evidence.
    """
    torch = _torch()
    n, k, h, w = cam.shape
    flat = cam.reshape(n, k, h * w)
    gt = flat.gather(1, y[:, None, None].expand(n, 1, h * w)).squeeze(1)
    outside = (gt <= gt.mean(1, keepdim=True)).to(cam.dtype)
    log_p = torch.log_softmax(flat, dim=1)
    kl = (np.log(1.0 / k) - log_p).mean(1)  # sum_c (1/k) (log(1/k) - log p_c)
    return (outside * kl).mean()


class OccamNetClassifier(RobustClassifier):
    """OccamNet-style network with early exits and, for images, CAM suppression.

    The network (an MLP, or the small CNN for images) has an exit after every
    block. Each exit has a classifier and a gate that predicts whether the
    exit's prediction can be trusted. At inference an example stops at the
    *shallowest* exit whose gate is at least ``threshold`` (the last exit
    otherwise), so easy examples use little depth: the architecture is biased
    toward the simplest hypothesis that suffices.

    Training follows the paper and its reference code, per exit ``j``:

    - gate-weighted cross-entropy: exit 0 weighs each example by
      ``p_true ** gamma0`` (it specialises in easy examples); exit ``j > 0``
      by ``(1 - gate_{j-1}) ** gamma`` (examples the earlier exit did not
      take). Weights are divided by their running maximum within the epoch
      and ``weight_offset`` is added;
    - exit-gate loss: binary cross-entropy of the gate against "this exit's
      prediction is correct", with the two outcomes weighted to balance
      (``balance_factor``); once the exit's mean per-class training accuracy
      in the epoch exceeds ``gate_accuracy_thresholds[j]`` the targets are
      frozen at each example's last recorded correctness;
    - for images, the CAM suppression loss (:func:`cam_suppression_loss`)
      weighted by ``cam_weight``: each exit's logits are the spatial means of
      its class activation maps, and activation outside the region attended
      for the true class is suppressed.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(64, 64, 64)
        One exit per hidden layer for the MLP.
    threshold : float, default=0.5
    gamma0 : float, default=3.0
    gamma : float, default=1.0
    weight_offset : float, default=0.1
    gate_weight : float, default=1.0
    cam_weight : float, default=0.1
    gate_accuracy_thresholds : sequence of float, optional
        Default: ``chance + (1 - chance) * t`` with ``t`` evenly spaced from
        0.5 to 0.8 over the exits (the reference code's 0.5 to 0.8, set for
        ten or more classes, rescaled so that binary tasks get 0.75 to 0.9).
    balance_factor : float, default=0.5

    Attributes
    ----------
    model_ : OccamMLP or OccamCNN
        ``model_.exits(x)`` returns every exit's logits, gates (and CAMs);
        ``model_(x)`` in eval mode returns the chosen exit's logits.
    """

    group_requirement = "none"
    _method_params = {"hidden_sizes": (64, 64, 64), "threshold": 0.5, "gamma0": 3.0, "gamma": 1.0,
                      "weight_offset": 0.1, "gate_weight": 1.0, "cam_weight": 0.1,
                      "gate_accuracy_thresholds": None, "balance_factor": 0.5}

    def _build_model(self):
        from ._models import OccamCNN, OccamMLP

        spec = self.input_spec_
        k = len(self.classes_)
        kind = self.model
        if kind not in ("auto", "mlp", "cnn"):
            raise UnskewInputError("OccamNetClassifier builds its own multi-exit model; use model='auto', 'mlp' or 'cnn'.")
        if spec.kind == "image" and kind in ("auto", "cnn"):
            return OccamCNN(spec.image_shape[0], k, channels=tuple(self.cnn_channels), threshold=self.threshold)
        if kind == "cnn":
            raise UnskewInputError("model='cnn' needs image inputs.")
        if len(self.hidden_sizes) < 2:
            raise UnskewInputError("OccamNet needs at least two hidden layers (one exit each).")
        if spec.kind == "image":
            return OccamMLP(0, [], k, hidden=tuple(self.hidden_sizes), threshold=self.threshold,
                            flat_inputs=spec.n_inputs)
        return OccamMLP(spec.n_numeric, spec.cardinalities, k, hidden=tuple(self.hidden_sizes),
                        threshold=self.threshold)

    def _start(self, train: Split, model):
        torch = _torch()
        n_exits = len(model.gates)
        thr = self.gate_accuracy_thresholds
        if thr is None:
            chance = 1.0 / len(self.classes_)
            thr = chance + (1.0 - chance) * np.linspace(0.5, 0.8, n_exits)
        self._acc_thr = [float(t) for t in thr]
        if len(self._acc_thr) != n_exits:
            raise UnskewInputError(f"gate_accuracy_thresholds needs {n_exits} values (one per exit).")
        self._memory = torch.zeros(n_exits, len(train))
        self._epoch = 0
        self._new_epoch(len(self.classes_), n_exits)

    def _new_epoch(self, k, n_exits):
        self._max_wt = [0.0] * n_exits
        self._class_correct = np.zeros((n_exits, k))
        self._class_total = np.zeros((n_exits, k))

    def _end_epoch(self, train, model, epoch):
        self._epoch = epoch + 1
        self._new_epoch(len(self.classes_), len(self._max_wt))
        return {}

    def _loss(self, model, batch: Batch):
        torch = _torch()
        F = torch.nn.functional
        outs = model.exits(batch.x)
        y = batch.y
        total = 0.0
        for j, o in enumerate(outs):
            logits = o["logits"]
            ce = F.cross_entropy(logits, y, reduction="none")
            if j == 0:
                wt = torch.softmax(logits, 1).gather(1, y[:, None]).squeeze(1).detach() ** float(self.gamma0)
            else:
                wt = (1 - outs[j - 1]["gate"].detach()) ** float(self.gamma)
            self._max_wt[j] = max(self._max_wt[j], float(wt.max()))
            wt = wt / (self._max_wt[j] + 1e-5)
            total = total + ((wt + float(self.weight_offset)) * ce * batch.w).mean()

            correct = (logits.argmax(1) == y).float().detach()
            yn = y.numpy()
            np.add.at(self._class_correct[j], yn, correct.numpy())
            np.add.at(self._class_total[j], yn, 1.0)
            seen = self._class_total[j] > 0
            mpc = float((self._class_correct[j][seen] / self._class_total[j][seen]).mean())
            if self._epoch < 1 or mpc <= self._acc_thr[j]:
                target = correct
                self._memory[j, batch.idx] = correct
            else:
                target = self._memory[j, batch.idx]
            if float(self.gate_weight):
                n_exit, n_cont = target.sum(), (1 - target).sum()
                top = torch.clamp(torch.maximum(n_exit, n_cont), min=1.0)
                bf = float(self.balance_factor)
                wts = torch.where(target > 0, (top / (n_exit + 1e-5)) ** bf, (top / (n_cont + 1e-5)) ** bf)
                gate = o["gate"].clamp(1e-6, 1 - 1e-6)
                total = total + float(self.gate_weight) * (wts * F.binary_cross_entropy(gate, target, reduction="none")).mean()
            if "cam" in o and float(self.cam_weight):
                total = total + float(self.cam_weight) * cam_suppression_loss(o["cam"], y)
        return total

    def exit_indices(self, X) -> np.ndarray:
        """Index of the exit each example stops at (0 = shallowest)."""
        self._check_fitted()
        torch = _torch()
        Xt = torch.as_tensor(self.preprocessor_.transform(X))
        self.model_.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(Xt), 1024):
                out.append(self.model_.select(self.model_.exits(Xt[i:i + 1024]))[1])
        return torch.cat(out).numpy()
