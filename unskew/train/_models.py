"""Small, CPU-friendly PyTorch models.

Every model takes one float tensor (the output of
:class:`unskew.train._data.Preprocessor`) and returns logits of shape
``(n, n_classes)``. Each exposes

- ``features(x)``: the penultimate representation, shape ``(n, feature_dim)``;
- ``head``: the final :class:`torch.nn.Linear` (``forward = head(features(x))``);
- ``feature_dim``.

so that methods that act on the representation (DANN's domain head, the
adversary, deep feature reweighting's last-layer retraining) work with any of
them, and so that TRAK can take per-example gradients of the margin through
``functional_call`` (no data-dependent Python control flow in ``forward``).
"""

from __future__ import annotations

import torch
from torch import nn

from ._data import InputSpec


def default_embedding_dim(cardinality: int) -> int:
    """Embedding width for a categorical column: ``min(16, ceil(k / 2) + 1)``."""
    return int(min(16, (cardinality + 1) // 2 + 1))


def _mlp_layers(width: int, hidden, dropout: float) -> tuple[list[nn.Module], int]:
    """``Linear -> ReLU (-> Dropout)`` per hidden size, and the output width."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    return layers, width


class TabularNet(nn.Module):
    """MLP on numeric columns plus embedded categorical codes.

    The input holds ``n_numeric`` standardised columns followed by one integer
    code (stored as float) per categorical column. With ``hidden=()`` and
    embeddings of width ``n_classes`` it is a linear (logistic) model in the
    one-hot encoding of the categories.
    """

    def __init__(self, n_numeric: int, cardinalities, n_classes: int, hidden=(64, 64),
                 dropout: float = 0.0, embedding_dims=None):
        super().__init__()
        self.n_numeric = int(n_numeric)
        cards = [int(c) for c in cardinalities]
        if embedding_dims is None:
            embedding_dims = [default_embedding_dim(c) for c in cards]
        self.embeddings = nn.ModuleList(nn.Embedding(c, d) for c, d in zip(cards, embedding_dims, strict=True))
        layers, width = _mlp_layers(self.n_numeric + int(sum(embedding_dims)), hidden, dropout)
        self.body = nn.Sequential(*layers)
        self.feature_dim = width
        self.head = nn.Linear(width, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x[:, : self.n_numeric]]
        for j, emb in enumerate(self.embeddings):
            parts.append(emb(x[:, self.n_numeric + j].long()))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.embed(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FlatNet(nn.Module):
    """MLP (or, with ``hidden=()``, logistic regression) on flattened inputs such as images."""

    def __init__(self, n_inputs: int, n_classes: int, hidden=(64, 64), dropout: float = 0.0):
        super().__init__()
        layers, width = _mlp_layers(int(n_inputs), hidden, dropout)
        self.body = nn.Sequential(nn.Flatten(), *layers)
        self.feature_dim = width
        self.head = nn.Linear(width, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    """Three 3x3 convolution blocks (pooling after the first two), global average pooling, linear head.

    About 25k parameters with the default widths ``(16, 32, 64)``; for 28x28
    grey or colour images. ``cam(x)`` returns class activation maps
    ``(n, n_classes, H', W')`` whose spatial mean equals the logits.
    """

    def __init__(self, in_channels: int, n_classes: int, channels=(16, 32, 64)):
        super().__init__()
        ch = [int(in_channels)] + [int(c) for c in channels]
        self.blocks = nn.ModuleList(
            _conv_block(ch[i], ch[i + 1], pool=i < len(channels) - 1) for i in range(len(channels))
        )
        self.feature_dim = ch[-1]
        self.head = nn.Linear(ch[-1], n_classes)

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_maps(x).mean(dim=(2, 3))

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.feature_maps(x)
        return torch.einsum("kc,nchw->nkhw", self.head.weight, maps) + self.head.bias[None, :, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class LinearHead(nn.Module):
    """A linear classifier on fixed embeddings.

    ``encoder`` (optional) is a frozen module that maps the input to the
    embedding; its parameters get ``requires_grad=False`` so that training and
    attribution (TRAK) only touch the head.
    """

    def __init__(self, n_inputs: int, n_classes: int, encoder: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        if encoder is not None:
            for p in encoder.parameters():
                p.requires_grad_(False)
        self.feature_dim = int(n_inputs)
        self.head = nn.Linear(self.feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            self.encoder.eval()
            x = self.encoder(x)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ---------------------------------------------------------------- OccamNets
def _gate(width: int, hidden: int = 16) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))


class _OccamBase(nn.Module):
    """Shared early-exit logic (Shrestha, Kafle and Kanan 2022).

    ``exits(x)`` returns one dict per exit with ``logits``, ``gate`` (the
    probability of stopping there) and, for images, ``cam``. As in the
    reference code, exit 0 sees a detached copy of the first block's output
    (it does not train the trunk) and serves only training (it specialises in
    the easiest examples); inference starts at exit ``first_inference_exit``
    (1). In evaluation mode ``forward`` returns the logits of the *shallowest*
    inference exit whose gate is at least ``threshold`` (the last exit if
    none is); in training mode it returns the last exit's logits. The
    selection uses ``torch.where``, not Python branching, so it works under
    ``vmap``. Gates are small MLPs on the detached exit features, so the gate
    loss does not shape the representation.
    """

    threshold: float = 0.5
    first_inference_exit: int = 1

    def exits(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def select(self, outs):
        """Logits of the chosen exit and the index of that exit, per example."""
        logits = outs[-1]["logits"]
        chosen = torch.full(logits.shape[:1], len(outs) - 1, dtype=torch.long, device=logits.device)
        for j in range(len(outs) - 2, self.first_inference_exit - 1, -1):
            stop = outs[j]["gate"] >= self.threshold
            logits = torch.where(stop[:, None], outs[j]["logits"], logits)
            chosen = torch.where(stop, torch.full_like(chosen, j), chosen)
        return logits, chosen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = self.exits(x)
        if self.training:
            return outs[-1]["logits"]
        return self.select(outs)[0]


class OccamMLP(_OccamBase):
    """MLP with an exit (linear classifier plus gate) after every hidden layer."""

    def __init__(self, n_numeric: int, cardinalities, n_classes: int, hidden=(64, 64, 64),
                 threshold: float = 0.5, flat_inputs: int | None = None, first_inference_exit: int = 1):
        super().__init__()
        if len(hidden) < first_inference_exit + 1:
            raise ValueError("OccamMLP needs more hidden layers than first_inference_exit.")
        self.threshold = float(threshold)
        self.first_inference_exit = int(first_inference_exit)
        self.flat = flat_inputs is not None
        if self.flat:
            self.stem = nn.Flatten()
            width = int(flat_inputs)
        else:
            self.stem = TabularNet(n_numeric, cardinalities, n_classes, hidden=())
            self.stem.head = nn.Identity()
            width = self.stem.n_numeric + sum(e.embedding_dim for e in self.stem.embeddings)
        self.blocks = nn.ModuleList()
        self.exit_heads = nn.ModuleList()
        self.gates = nn.ModuleList()
        for h in hidden:
            self.blocks.append(nn.Sequential(nn.Linear(width, int(h)), nn.ReLU()))
            width = int(h)
            self.exit_heads.append(nn.Linear(width, n_classes))
            self.gates.append(_gate(width))
        self.feature_dim = width

    @property
    def head(self) -> nn.Linear:
        return self.exit_heads[-1]

    def _embed(self, x):
        return self.stem(x) if self.flat else self.stem.embed(x)

    def features(self, x):
        h = self._embed(x)
        for b in self.blocks:
            h = b(h)
        return h

    def exits(self, x):
        h = self._embed(x)
        outs = []
        for j, (b, head, gate) in enumerate(zip(self.blocks, self.exit_heads, self.gates, strict=True)):
            h = b(h)
            hin = h.detach() if j == 0 else h
            outs.append({"logits": head(hin), "gate": torch.sigmoid(gate(h.detach())).squeeze(1)})
        return outs


class OccamCNN(_OccamBase):
    """:class:`SmallCNN` with an exit after every block.

    Each exit is a 3x3 convolution (``exit_width`` channels) followed by a 1x1
    convolution to one class activation map per class; the exit's logits are
    the spatial means of its maps, so the CAM suppression loss acts on the
    same maps that make the prediction. The gate is a small MLP on the pooled
    exit features.
    """

    def __init__(self, in_channels: int, n_classes: int, channels=(16, 32, 64), exit_width: int = 16,
                 threshold: float = 0.5, first_inference_exit: int = 1):
        super().__init__()
        if len(channels) < first_inference_exit + 1:
            raise ValueError("OccamCNN needs more blocks than first_inference_exit.")
        self.threshold = float(threshold)
        self.first_inference_exit = int(first_inference_exit)
        ch = [int(in_channels)] + [int(c) for c in channels]
        self.blocks = nn.ModuleList(
            _conv_block(ch[i], ch[i + 1], pool=i < len(channels) - 1) for i in range(len(channels))
        )
        self.exit_convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, exit_width, 3, padding=1), nn.ReLU()) for c in ch[1:]
        )
        self.cam_convs = nn.ModuleList(nn.Conv2d(exit_width, n_classes, 1) for _ in ch[1:])
        self.gates = nn.ModuleList(_gate(exit_width) for _ in ch[1:])
        self.feature_dim = exit_width

    @property
    def head(self) -> nn.Module:
        return self.cam_convs[-1]

    def features(self, x):
        for b in self.blocks:
            x = b(x)
        return self.exit_convs[-1](x).mean(dim=(2, 3))

    def exits(self, x):
        outs = []
        for j, (b, ec, cc, gate) in enumerate(zip(self.blocks, self.exit_convs, self.cam_convs, self.gates,
                                                  strict=True)):
            x = b(x)
            hid = ec(x.detach() if j == 0 else x)
            cam = cc(hid)
            pooled = hid.mean(dim=(2, 3))
            outs.append({"logits": cam.mean(dim=(2, 3)), "cam": cam,
                         "gate": torch.sigmoid(gate(pooled.detach())).squeeze(1)})
        return outs


# ---------------------------------------------------------------- factory
MODEL_KINDS = ("auto", "logistic", "mlp", "cnn", "linear")


def build_model(kind: str, spec: InputSpec, n_classes: int, *, hidden=(64, 64), dropout: float = 0.0,
                cnn_channels=(16, 32, 64), encoder=None) -> nn.Module:
    """Build a model for the input ``spec`` (see :data:`MODEL_KINDS`).

    ``auto`` is ``cnn`` for images and ``mlp`` otherwise.
    """
    if kind == "auto":
        kind = "cnn" if spec.kind == "image" else "mlp"
    if kind == "cnn":
        if spec.kind != "image":
            from ..exceptions import UnskewInputError

            raise UnskewInputError("model='cnn' needs image inputs of shape (n, C, H, W), (n, H, W) or (n, H, W, C).")
        return SmallCNN(spec.image_shape[0], n_classes, channels=cnn_channels)
    if kind == "linear":
        if encoder is not None:
            import copy

            enc = copy.deepcopy(encoder)
            with torch.no_grad():
                probe = torch.zeros((1,) + _probe_shape(spec))
                d = int(enc.eval()(probe).flatten(1).shape[1])
            return LinearHead(d, n_classes, encoder=enc)
        return LinearHead(spec.n_inputs, n_classes)
    if kind in ("logistic", "mlp"):
        hid = () if kind == "logistic" else tuple(hidden)
        if spec.kind == "image":
            return FlatNet(spec.n_inputs, n_classes, hidden=hid, dropout=dropout)
        emb = [n_classes] * len(spec.cardinalities) if kind == "logistic" else None
        return TabularNet(spec.n_numeric, spec.cardinalities, n_classes, hidden=hid, dropout=dropout,
                          embedding_dims=emb)
    from ..exceptions import UnskewInputError

    raise UnskewInputError(f"model must be one of {MODEL_KINDS} or a callable; got {kind!r}.")


def _probe_shape(spec: InputSpec) -> tuple:
    return tuple(spec.image_shape) if spec.kind == "image" else (spec.n_inputs,)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Correct-class margin ``logit_y - logsumexp(other logits)`` per example."""
    mask = torch.arange(logits.shape[1], device=logits.device)[None, :] == y[:, None]
    correct = (logits * mask).sum(1)
    others = logits.masked_fill(mask, float("-inf"))
    return correct - others.logsumexp(1)
