"""TRAK attributions (Park et al. 2023) for PyTorch classifiers (CPU or CUDA).

For each checkpoint ``c``:

1. per-example gradients of the correct-class margin
   ``f(z) = logit_y - logsumexp(other logits)`` (for a single-logit binary
   model, ``+z`` for a positive and ``-z`` for a negative label) with
   ``torch.func`` (``vmap(grad_and_value(...))``), in batches, float32;
2. a Gaussian random projection to ``proj_dim`` dimensions (``Phi_c``),
   generated blockwise from a seed so it never needs the full gradient matrix;
3. the kernel ``Phi_c (Phi_c^T Phi_c + lambda I)^{-1} Phi_target,c^T``, the
   ``proj_dim``-square system solved in float64 by Cholesky.

The final score averages the kernels over checkpoints and multiplies row ``i``
by the average out-to-loss term ``Q_i = 1 - p_i(correct)`` (Section 3.4 of the
paper), as the reference implementation ``traker`` does. Results are cached
on disk under a key that changes with the data, the checkpoints and every
setting.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .._optional import import_optional
from ..exceptions import UnskewInputError


def _hash_update(h, arr) -> None:
    a = np.ascontiguousarray(np.asarray(arr))
    h.update(str(a.dtype).encode() + str(a.shape).encode())
    h.update(a.tobytes())


def _margins(logits, y, torch):
    """Correct-class margin per example (batched): ``logit_y - logsumexp(other logits)``."""
    if logits.ndim == 1 or logits.shape[-1] == 1:
        z = logits.reshape(-1)
        return torch.where(y == 1, z, -z)
    idx = torch.arange(logits.shape[0], device=logits.device)
    correct = logits[idx, y]
    if logits.shape[-1] == 2:
        return correct - logits[idx, 1 - y]
    others = logits.clone()
    others[idx, y] = float("-inf")
    return correct - others.logsumexp(dim=1)


class TRAK:
    """TRAK attribution matrix for a PyTorch classifier.

    Parameters
    ----------
    model : torch.nn.Module
        The architecture; its weights are replaced by each checkpoint in turn.
    checkpoints : list of dict
        ``state_dict`` objects saved during (or at the end of) training; more
        checkpoints give better estimates.
    proj_dim : int, default=512
        Dimension of the random projection.
    lambda_reg : float, default=0.0
        Ridge term added to ``Phi^T Phi``; a tiny multiple of its trace is used
        automatically when the matrix is singular.
    lambda_scale : float, default=0.0
        A further ridge term relative to the kernel's size: ``lambda_scale``
        times the mean eigenvalue ``trace(Phi^T Phi) / proj_dim``, per
        checkpoint. ``0`` is TRAK as published. Large values damp the
        directions the inverse would otherwise amplify; with one training run
        (few checkpoints, no ensemble) they keep the shared structure
        (for example a spurious feature) visible in the scores. As it grows,
        the scores tend to a scaled gradient inner product ``Phi Phi_target^T``.
    batch_size : int, default=512
        Examples per gradient batch (bounds memory: ``batch_size x n_params``).
    seed : int, default=0
        Seed of the projection.
    cache_dir : str or Path, optional
        Folder for cached score matrices.
    fast_path : bool, default=True
        When every trainable parameter belongs to an ``nn.Linear`` layer used
        once on 2-D inputs (MLPs, logistic heads), per-example gradients come
        from one batched backward pass as outer products of each layer's
        input and output gradient, instead of ``vmap`` over examples; the
        result is the same (tested). Other models use ``vmap``.
    device : str, default="auto"
        Torch device for gradients and projections; ``auto`` is CUDA when
        ``torch.cuda.is_available()``, else the CPU. Results come back as
        NumPy arrays either way.

    Attributes
    ----------
    n_params_ : int
        Number of parameters the gradients cover.
    cache_path_ : Path or None
        Where the last result was cached.
    """

    def __init__(self, model, checkpoints, *, proj_dim: int = 512, lambda_reg: float = 0.0,
                 lambda_scale: float = 0.0, batch_size: int = 512, seed: int = 0, cache_dir=None,
                 device: str = "auto", fast_path: bool = True):
        self.model = model
        self.checkpoints = checkpoints
        self.proj_dim = proj_dim
        self.lambda_reg = lambda_reg
        self.lambda_scale = lambda_scale
        self.batch_size = batch_size
        self.seed = seed
        self.cache_dir = cache_dir
        self.device = device
        self.fast_path = fast_path

    # ---------------------------------------------------------------- helpers
    def _cache_key(self, arrays) -> str:
        torch = import_optional("torch", "TRAK attributions")
        h = hashlib.sha256()
        h.update(f"trak-v3|{self.proj_dim}|{self.lambda_reg}|{self.lambda_scale}|{self.seed}|{type(self.model).__name__}".encode())
        for a in arrays:
            _hash_update(h, a)
        for ckpt in self.checkpoints:
            for k in sorted(ckpt):
                h.update(k.encode())
                v = ckpt[k]
                _hash_update(h, v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
        return h.hexdigest()[:24]

    def _projection_blocks(self, n_params: int, torch):
        block = 8192
        gen = torch.Generator().manual_seed(int(self.seed))
        blocks = []
        for start in range(0, n_params, block):
            rows = min(block, n_params - start)
            blocks.append(torch.randn(rows, self.proj_dim, generator=gen, dtype=torch.float32))
        return blocks

    def _linear_layers(self, torch, names):
        """The ``nn.Linear`` modules holding every trainable parameter, or None (then vmap is used).

        Per-example gradients of a Linear layer are outer products of the
        gradient at its output and its input, which one ordinary backward pass
        gives for a whole batch (examples do not interact in eval mode), so no
        ``vmap`` over examples is needed.
        """
        layers, owned = [], {}
        for mname, mod in self.model.named_modules():
            if isinstance(mod, torch.nn.Linear):
                layers.append((mname, mod))
                for pname, _ in mod.named_parameters(recurse=False):
                    owned[f"{mname}.{pname}" if mname else pname] = (len(layers) - 1, pname)
        if not layers or not set(names) <= set(owned):
            return None
        return layers, owned

    def _featurize_linear(self, X, y, torch, per_param, names, layers, owned):
        inputs, outputs, calls = {}, {}, {}

        def hook(idx):
            def fn(mod, args, out):
                calls[idx] = calls.get(idx, 0) + 1
                inputs[idx] = args[0].detach()
                outputs[idx] = out
            return fn

        handles = [mod.register_forward_hook(hook(i)) for i, (_, mod) in enumerate(layers)]
        n = X.shape[0]
        feats = torch.empty(n, self.proj_dim, dtype=torch.float32, device=X.device)
        q = torch.empty(n, dtype=torch.float32, device=X.device)
        norm = float(np.sqrt(self.n_params_))
        try:
            for start in range(0, n, self.batch_size):
                xb = X[start:start + self.batch_size]
                yb = y[start:start + self.batch_size]
                inputs.clear(), outputs.clear(), calls.clear()
                with torch.enable_grad():
                    logits = self.model(xb)
                    m = _margins(logits, yb, torch)
                    used = sorted(outputs)
                    if any(calls[i] != 1 for i in used) or any(inputs[i].dim() != 2 for i in used):
                        return None  # a layer used twice, or on sequences: not a plain stack of Linears
                    grads = torch.autograd.grad(m.sum(), [outputs[i] for i in used], allow_unused=True)
                g_out = dict(zip(used, grads, strict=True))
                proj = torch.zeros(xb.shape[0], self.proj_dim, device=X.device)
                for k, P in zip(names, per_param, strict=True):
                    idx, pname = owned[k]
                    g = g_out.get(idx)
                    if g is None:
                        continue  # the parameter does not affect the output
                    if pname == "weight":
                        G = (g[:, :, None] * inputs[idx][:, None, :]).reshape(xb.shape[0], -1)
                    else:
                        G = g
                    proj.add_(G @ P)
                feats[start:start + xb.shape[0]] = proj / norm
                q[start:start + xb.shape[0]] = torch.sigmoid(-m.detach())
        finally:
            for h in handles:
                h.remove()
        return feats, q

    def _featurize(self, X, y, torch, proj_blocks, names, params, buffers):
        """Projected margin gradients ``Phi`` (n x proj_dim, float32) and ``Q = 1 - p(correct)``.

        One ``vmap(grad_and_value)`` pass per batch: the margin's value gives
        ``p(correct) = sigmoid(margin)`` (for softmax, ``logit_y - logsumexp(others)``
        is exactly the log-odds of the correct class), so no second forward pass.
        """
        from torch.func import functional_call, grad_and_value, vmap

        model = self.model

        def margin(p, b, x, label):
            logits = functional_call(model, (p, b), (x.unsqueeze(0),)).reshape(-1)
            if logits.numel() == 1:
                z = logits[0]
                return torch.where(label == 1, z, -z)
            mask = torch.arange(logits.numel(), device=logits.device) == label
            if logits.numel() == 2:  # logit_y - logit_other: no logsumexp needed
                return (logits * (2.0 * mask - 1.0)).sum()
            correct = (logits * mask).sum()
            return correct - logits.masked_fill(mask, float("-inf")).logsumexp(0)

        per_example = vmap(grad_and_value(margin), in_dims=(None, None, 0, 0))
        n = X.shape[0]
        feats = torch.empty(n, self.proj_dim, dtype=torch.float32, device=X.device)
        q = torch.empty(n, dtype=torch.float32, device=X.device)
        norm = float(np.sqrt(sum(params[k].numel() for k in names)))
        # with the whole projection in memory, each parameter's gradient is projected by its
        # own rows of it: no concatenated (batch x n_params) copy
        per_param = self._per_param_projection(proj_blocks, names, torch)
        for start in range(0, n, self.batch_size):
            xb = X[start:start + self.batch_size]
            yb = y[start:start + self.batch_size]
            g, m = per_example(params, buffers, xb, yb)
            if per_param is not None:
                proj = None
                for k, P in zip(names, per_param, strict=True):
                    part = g[k].reshape(xb.shape[0], -1) @ P
                    proj = part if proj is None else proj.add_(part)
            else:
                flat = torch.cat([g[k].reshape(xb.shape[0], -1) for k in names], dim=1)
                proj = torch.zeros(xb.shape[0], self.proj_dim, device=X.device)
                col = 0
                for P in proj_blocks:
                    proj += flat[:, col:col + P.shape[0]] @ P
                    col += P.shape[0]
                del flat
            feats[start:start + xb.shape[0]] = proj / norm
            q[start:start + xb.shape[0]] = torch.sigmoid(-m.detach())  # 1 - sigmoid(margin)
        return feats, q

    def _per_param_projection(self, proj_blocks, names, torch):
        """Each parameter's rows of the projection, when the whole of it fits in 512 MB (else None)."""
        if sum(P.shape[0] for P in proj_blocks) * self.proj_dim > 2 ** 27:
            return None
        full = proj_blocks[0] if len(proj_blocks) == 1 else torch.cat(proj_blocks, dim=0)
        sizes = dict(self.model.named_parameters())
        out, col = [], 0
        for k in names:
            size = sizes[k].numel()
            out.append(full[col:col + size])
            col += size
        return out

    def _device(self, torch):
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _check(self):
        if not self.checkpoints:
            raise UnskewInputError("TRAK needs at least one checkpoint (a state_dict).")
        if self.lambda_scale < 0 or self.lambda_reg < 0:
            raise UnskewInputError(f"TRAK's lambda_reg and lambda_scale must be non-negative; got "
                                   f"{self.lambda_reg} and {self.lambda_scale}.")

    def _solve(self, K, phi_t, lambda_scale, torch):
        """``(K + lambda I)^-1 Phi_target^T``, transposed, by Cholesky in float64."""
        mean_eig = float(torch.trace(K)) / K.shape[0]
        lam = float(self.lambda_reg) + float(lambda_scale) * mean_eig
        eye = torch.eye(K.shape[0], dtype=K.dtype, device=K.device)
        chol, info = torch.linalg.cholesky_ex(K + lam * eye)
        d = torch.diagonal(chol)
        # singular kernel (Cholesky fails, or its pivots span more than a float64 rank
        # tolerance, as matrix_rank would judge): a tiny ridge, 1e-6 of the mean eigenvalue
        if int(info) != 0 or float((d.min() / d.max()) ** 2) < K.shape[0] * 2.2e-16:
            lam = max(lam, 1e-6 * mean_eig)
            chol, info = torch.linalg.cholesky_ex(K + lam * eye)
            while int(info) != 0:  # rounding left it indefinite: grow the ridge tenfold
                lam *= 10
                chol, info = torch.linalg.cholesky_ex(K + lam * eye)
        return torch.cholesky_solve(phi_t.T.double(), chol).T.float()

    def terms(self, X_train, y_train, X_target, y_target, *, lambda_scales=None) -> list[tuple]:
        """Per-checkpoint factors ``(Phi, R, Q)``: checkpoint ``c`` contributes ``Phi_c @ R_c.T``.

        With ``lambda_scales`` (a sequence), ``R`` is a list with one matrix per
        relative ridge, the gradients computed once (see ``combine_terms(index=)``).

        ``Phi_c`` (n_train x proj_dim) holds projected training gradients, ``R_c``
        (n_target x proj_dim) the target gradients times the inverse kernel, and
        ``Q_c`` (n_train,) the out-to-loss term. :meth:`attribute` averages
        ``Phi_c R_c^T`` and ``Q_c`` over checkpoints and multiplies them; an
        ensemble does the same over the factors of its members.
        """
        torch = import_optional("torch", "TRAK attributions")
        self._check()
        dev = self._device(torch)
        Xtr = torch.as_tensor(np.asarray(X_train), dtype=torch.float32).to(dev)
        ytr = torch.as_tensor(np.asarray(y_train)).long().to(dev)
        Xta = torch.as_tensor(np.asarray(X_target), dtype=torch.float32).to(dev)
        yta = torch.as_tensor(np.asarray(y_target)).long().to(dev)
        names = [k for k, p in self.model.named_parameters() if p.requires_grad]
        self.n_params_ = int(sum(p.numel() for k, p in self.model.named_parameters() if k in names))
        proj_blocks = [P.to(dev) for P in self._projection_blocks(self.n_params_, torch)]
        out = []
        linear = self._linear_layers(torch, names) if self.fast_path else None
        per_param = self._per_param_projection(proj_blocks, names, torch)
        was_training = self.model.training
        self.model.eval()
        try:
            self.model.to(dev)
            for ckpt in self.checkpoints:
                self.model.load_state_dict(ckpt)
                params = {k: v.detach() for k, v in self.model.named_parameters() if k in names}
                buffers = {k: v.detach() for k, v in self.model.named_buffers()}
                feats = None
                if linear is not None and per_param is not None:
                    feats = self._featurize_linear(Xtr, ytr, torch, per_param, names, *linear)
                    feats_t = self._featurize_linear(Xta, yta, torch, per_param, names, *linear) if feats else None
                    if feats is None or feats_t is None:
                        linear = None  # not a plain stack of Linear layers after all
                        feats = None
                if feats is None:
                    feats = self._featurize(Xtr, ytr, torch, proj_blocks, names, params, buffers)
                    feats_t = self._featurize(Xta, yta, torch, proj_blocks, names, params, buffers)
                phi, q = feats
                phi_t = feats_t[0]
                # the kernel in float32 (the slow part of a float64 product), factorised in float64;
                # a kernel left indefinite by rounding gets the growing jitter of _solve
                K = (phi.T @ phi).double()
                scales = [self.lambda_scale] if lambda_scales is None else list(lambda_scales)
                Rs = [self._solve(K, phi_t, scale, torch).cpu().numpy() for scale in scales]
                out.append((phi.cpu().numpy(), Rs[0] if lambda_scales is None else Rs, q.cpu().numpy()))
        finally:
            self.model.to("cpu")
            self.model.train(was_training)
        return out

    # ---------------------------------------------------------------- API
    def attribute(self, X_train, y_train, X_target, y_target) -> np.ndarray:
        """Score matrix of shape (n_train, n_target); positive = helps the target's margin."""
        self._check()
        arrays = [np.asarray(X_train), np.asarray(y_train), np.asarray(X_target), np.asarray(y_target)]
        self.cache_path_ = None
        if self.cache_dir is not None:
            key = self._cache_key(arrays)
            self.cache_path_ = Path(self.cache_dir) / f"trak-{key}.npy"
            if self.cache_path_.exists():
                return np.load(self.cache_path_)
        out = combine_terms(self.terms(*arrays))
        if self.cache_path_ is not None:
            self.cache_path_.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path_.with_suffix(".tmp.npy")
            np.save(tmp, out)
            tmp.replace(self.cache_path_)
        return out


def combine_terms(terms, index: int | None = None) -> np.ndarray:
    """TRAK scores from per-checkpoint (or per-model) factors: ``mean_c(Phi_c R_c^T) * mean_c(Q_c)``.

    ``index`` picks one ridge when the terms hold a list of ``R`` per ridge.
    """
    scores = None
    q_sum = None
    for phi, R, q in terms:
        if index is not None:
            R = R[index]
        part = phi @ R.T
        scores = part.astype(np.float64) if scores is None else scores + part
        q_sum = q.astype(np.float64) if q_sum is None else q_sum + q
    n = len(terms)
    return (scores / n) * (q_sum / n)[:, None]
