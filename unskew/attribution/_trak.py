"""TRAK attributions (Park et al. 2023) for PyTorch classifiers on the CPU.

For each checkpoint ``c``:

1. per-example gradients of the correct-class margin
   ``f(z) = logit_y - logsumexp(other logits)`` (for a single-logit binary
   model, ``+z`` for a positive and ``-z`` for a negative label) with
   ``torch.func`` (``vmap(grad(...))``), in batches;
2. a Gaussian random projection to ``proj_dim`` dimensions (``Phi_c``),
   generated blockwise from a seed so it never needs the full gradient matrix;
3. the kernel ``Phi_c (Phi_c^T Phi_c + lambda I)^{-1} Phi_target,c^T``.

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
    batch_size : int, default=256
        Examples per gradient batch (bounds memory: ``batch_size x n_params``).
    seed : int, default=0
        Seed of the projection.
    cache_dir : str or Path, optional
        Folder for cached score matrices.

    Attributes
    ----------
    n_params_ : int
        Number of parameters the gradients cover.
    cache_path_ : Path or None
        Where the last result was cached.
    """

    def __init__(self, model, checkpoints, *, proj_dim: int = 512, lambda_reg: float = 0.0,
                 lambda_scale: float = 0.0, batch_size: int = 256, seed: int = 0, cache_dir=None):
        self.model = model
        self.checkpoints = checkpoints
        self.proj_dim = proj_dim
        self.lambda_reg = lambda_reg
        self.lambda_scale = lambda_scale
        self.batch_size = batch_size
        self.seed = seed
        self.cache_dir = cache_dir

    # ---------------------------------------------------------------- helpers
    def _cache_key(self, arrays) -> str:
        torch = import_optional("torch", "TRAK attributions")
        h = hashlib.sha256()
        h.update(f"trak-v2|{self.proj_dim}|{self.lambda_reg}|{self.lambda_scale}|{self.seed}|{type(self.model).__name__}".encode())
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

    def _featurize(self, X, y, torch, proj_blocks, names, params, buffers):
        from torch.func import functional_call, grad, vmap

        model = self.model

        def margin(p, b, x, label):
            logits = functional_call(model, (p, b), (x.unsqueeze(0),)).reshape(-1)
            if logits.numel() == 1:
                z = logits[0]
                return torch.where(label == 1, z, -z)
            mask = torch.arange(logits.numel()) == label
            correct = (logits * mask).sum()
            return correct - logits.masked_fill(mask, float("-inf")).logsumexp(0)

        per_example = vmap(grad(margin), in_dims=(None, None, 0, 0))
        n = X.shape[0]
        feats = torch.empty(n, self.proj_dim, dtype=torch.float64)
        q = torch.empty(n, dtype=torch.float64)
        norm = float(np.sqrt(sum(params[k].numel() for k in names)))
        for start in range(0, n, self.batch_size):
            xb = X[start:start + self.batch_size]
            yb = y[start:start + self.batch_size]
            g = per_example(params, buffers, xb, yb)
            flat = torch.cat([g[k].reshape(xb.shape[0], -1) for k in names], dim=1)
            proj = torch.zeros(xb.shape[0], self.proj_dim)
            col = 0
            for P in proj_blocks:
                proj += flat[:, col:col + P.shape[0]] @ P
                col += P.shape[0]
            feats[start:start + xb.shape[0]] = (proj / norm).double()
            with torch.no_grad():
                logits = functional_call(model, (params, buffers), (xb,))
                if logits.shape[-1] == 1 or logits.ndim == 1:
                    z = logits.reshape(-1)
                    m = torch.where(yb == 1, z, -z)
                    p_correct = torch.sigmoid(m)
                else:
                    p_correct = torch.softmax(logits, dim=1)[torch.arange(xb.shape[0]), yb]
            q[start:start + xb.shape[0]] = (1 - p_correct).double()
        return feats, q

    # ---------------------------------------------------------------- API
    def attribute(self, X_train, y_train, X_target, y_target) -> np.ndarray:
        """Score matrix of shape (n_train, n_target); positive = helps the target's margin."""
        torch = import_optional("torch", "TRAK attributions")
        if not self.checkpoints:
            raise UnskewInputError("TRAK needs at least one checkpoint (a state_dict).")
        if self.lambda_scale < 0 or self.lambda_reg < 0:
            raise UnskewInputError(f"TRAK's lambda_reg and lambda_scale must be non-negative; got "
                                   f"{self.lambda_reg} and {self.lambda_scale}.")
        arrays = [np.asarray(X_train), np.asarray(y_train), np.asarray(X_target), np.asarray(y_target)]
        self.cache_path_ = None
        if self.cache_dir is not None:
            key = self._cache_key(arrays)
            self.cache_path_ = Path(self.cache_dir) / f"trak-{key}.npy"
            if self.cache_path_.exists():
                return np.load(self.cache_path_)
        Xtr = torch.as_tensor(arrays[0], dtype=torch.float32)
        ytr = torch.as_tensor(arrays[1]).long()
        Xta = torch.as_tensor(arrays[2], dtype=torch.float32)
        yta = torch.as_tensor(arrays[3]).long()
        names = [k for k, p in self.model.named_parameters() if p.requires_grad]
        self.n_params_ = int(sum(p.numel() for k, p in self.model.named_parameters() if k in names))
        proj_blocks = self._projection_blocks(self.n_params_, torch)
        scores = torch.zeros(Xtr.shape[0], Xta.shape[0], dtype=torch.float64)
        q_sum = torch.zeros(Xtr.shape[0], dtype=torch.float64)
        was_training = self.model.training
        self.model.eval()
        try:
            for ckpt in self.checkpoints:
                self.model.load_state_dict(ckpt)
                params = {k: v.detach() for k, v in self.model.named_parameters() if k in names}
                buffers = {k: v.detach() for k, v in self.model.named_buffers()}
                phi, q = self._featurize(Xtr, ytr, torch, proj_blocks, names, params, buffers)
                phi_t, _ = self._featurize(Xta, yta, torch, proj_blocks, names, params, buffers)
                K = phi.T @ phi
                lam = float(self.lambda_reg) + float(self.lambda_scale) * float(torch.trace(K)) / K.shape[0]
                eye = torch.eye(K.shape[0], dtype=K.dtype)
                if lam == 0.0 and torch.linalg.matrix_rank(K) < K.shape[0]:
                    lam = 1e-6 * float(torch.trace(K)) / K.shape[0]
                sol = torch.linalg.solve(K + lam * eye, phi_t.T)
                scores += phi @ sol
                q_sum += q
        finally:
            self.model.train(was_training)
        n_ck = len(self.checkpoints)
        out = ((scores / n_ck) * (q_sum / n_ck)[:, None]).numpy()
        if self.cache_path_ is not None:
            self.cache_path_.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path_.with_suffix(".tmp.npy")
            np.save(tmp, out)
            tmp.replace(self.cache_path_)
        return out
