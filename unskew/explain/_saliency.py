"""Saliency maps for image models: where does the model look, per group?

:func:`saliency` computes non-negative (n, H, W) maps (absolute attributions
summed over channels) with vanilla gradients (Simonyan et al. 2014),
SmoothGrad (Smilkov et al. 2017), integrated gradients (Sundararajan et al.
2017) or Grad-CAM (Selvaraju et al. 2017), in bounded memory (rows are fed
to the model in automatically sized batches). :func:`region_share` gives
each map's share inside a mask, :func:`group_mean_maps` the mean map per
group, and :func:`sanity_check` the model-randomisation test of Adebayo et
al. (2018).

Deviations and choices
----------------------
* Integrated gradients use Gauss-Legendre nodes on [0, 1] (Captum's default
  ``method="gausslegendre"``), ``n_steps=50``, a zero baseline by default; the
  attribution is ``(x - x0) * mean gradient``; the map is its absolute value
  summed over channels.
* SmoothGrad averages the *absolute* gradients of ``n_samples`` noisy copies
  (noise standard deviation ``noise`` times the range of each image), the
  variant Smilkov et al. show as the clearer one.
* Grad-CAM uses the last ``Conv2d`` layer unless ``layer`` is given; the ReLU
  of the gradient-weighted activation sum is upsampled bilinearly to (H, W).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .._optional import import_optional
from ..exceptions import UnskewInputError

SALIENCY_METHODS = ("gradient", "smoothgrad", "integrated_gradients", "grad_cam")

#: Input elements per forward/backward pass at most when ``batch_size`` is not given.
AUTO_ELEMENTS = 1 << 20


def _torch():
    return import_optional("torch", "saliency maps")


def _module_and_inputs(model, images, image_shape):
    """(torch module, float32 array (n, C, H, W) of model inputs, function: inputs -> module input)."""
    torch = _torch()
    if hasattr(model, "model_") and hasattr(model, "attribution_inputs"):  # unskew.train classifiers
        X = np.asarray(model.attribution_inputs(images), np.float32)
        module = model.model_
    elif isinstance(model, torch.nn.Module):
        X = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
        module = model
    else:
        raise UnskewInputError(f"saliency needs a torch.nn.Module or an unskew.train classifier, got "
                               f"{type(model).__name__}.")
    X = np.asarray(X, np.float32)
    flat_shape = None
    if X.ndim == 2:  # flattened images (e.g. Coloured MNIST's MLP)
        if image_shape is None:
            raise UnskewInputError("The model takes flattened inputs; pass image_shape=(C, H, W) so the maps "
                                   "can be drawn.")
        if int(np.prod(image_shape)) != X.shape[1]:
            raise UnskewInputError(f"image_shape {tuple(image_shape)} has {int(np.prod(image_shape))} pixels but the "
                                   f"inputs have {X.shape[1]} values.")
        flat_shape = X.shape[1:]
        X = X.reshape((len(X),) + tuple(image_shape))
    elif X.ndim == 3:
        X = X[:, None]
    elif X.ndim != 4:
        raise UnskewInputError(f"images must have shape (n, C, H, W), (n, H, W) or (n, C*H*W), got {X.shape}.")

    def to_module(x):
        return x.reshape((x.shape[0],) + tuple(flat_shape)) if flat_shape is not None else x

    return module, X, to_module


def _targets(module, X, to_module, target, rows):
    torch = _torch()
    if target is None:
        out = []
        with torch.no_grad():
            for s in range(0, len(X), rows):
                out.append(module(to_module(torch.as_tensor(X[s:s + rows]))).argmax(dim=1))
        return torch.cat(out)
    t = np.asarray(target).reshape(-1)
    if t.size == 1:
        t = np.repeat(t, len(X))
    if len(t) != len(X):
        raise UnskewInputError(f"target has {len(t)} values for {len(X)} images; pass one per image or one for all.")
    return torch.as_tensor(t.astype(np.int64))


def _grad(module, to_module, x, t):
    """Gradient of the target logit with respect to the input batch ``x``."""
    torch = _torch()
    x = x.detach().requires_grad_(True)
    out = module(to_module(x))
    sel = out.gather(1, t.view(-1, 1)).sum()
    (g,) = torch.autograd.grad(sel, x)
    return g


def saliency(model, images, *, target=None, method: str = "integrated_gradients", batch_size: int | None = None,
             n_steps: int = 50, baseline: Any = None, n_samples: int = 25, noise: float = 0.15,
             layer: Any = None, image_shape=None, random_state: int = 0) -> np.ndarray:
    """Non-negative saliency maps of shape (n, H, W) (channels summed).

    Parameters
    ----------
    model : torch.nn.Module or unskew.train classifier
        A classifier returning logits ``(n, n_classes)``.
    images : array or tensor of shape (n, C, H, W) or (n, H, W)
        (Or flat (n, C*H*W) with ``image_shape`` for models on flat inputs.)
    target : int or array of int, optional
        Class whose logit is explained; default the predicted class.
    method : {"gradient", "smoothgrad", "integrated_gradients", "grad_cam"}
    batch_size : int, optional
        Rows per forward pass (for integrated gradients, interpolation steps
        count as rows); by default sized so that a pass holds at most
        ``AUTO_ELEMENTS`` input values, which bounds memory.
    n_steps : int, default 50
        Integration steps (integrated gradients).
    baseline : array, optional
        Integrated-gradients baseline, one image or one per image (default zeros).
    n_samples, noise : SmoothGrad's number of noisy copies and noise level.
    layer : torch.nn.Module, optional
        Grad-CAM's layer (default: the last Conv2d).

    Returns
    -------
    ndarray of shape (n, H, W), float32, non-negative.

    Examples
    --------
    >>> import torch
    >>> from unskew.explain import saliency
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 2))
    >>> maps = saliency(net, torch.rand(5, 1, 8, 8), method="gradient")
    >>> maps.shape, bool((maps >= 0).all())
    ((5, 8, 8), True)
    """
    torch = _torch()
    if method not in SALIENCY_METHODS:
        raise UnskewInputError(f"method must be one of {', '.join(SALIENCY_METHODS)}, got {method!r}.")
    if n_steps < 1 or n_samples < 1:
        raise UnskewInputError("n_steps and n_samples must be at least 1.")
    module, X, to_module = _module_and_inputs(model, images, image_shape)
    if method == "integrated_gradients" and hasattr(model, "attribution_inputs") and module is not model:
        # an unskew.train classifier: the baseline goes through the same preprocessing as the images
        raw0 = np.zeros_like(np.asarray(images, np.float32)[:1]) if baseline is None else np.asarray(baseline, np.float32)
        baseline = np.asarray(model.attribution_inputs(raw0), np.float32)
    n, C, H, W = X.shape
    if n == 0:
        return np.zeros((0, H, W), np.float32)
    rows = int(batch_size) if batch_size else max(1, AUTO_ELEMENTS // (C * H * W))
    if rows < 1:
        raise UnskewInputError(f"batch_size must be positive, got {batch_size}.")
    was_training = module.training
    module.eval()
    req = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)  # gradients with respect to the inputs only
    try:
        t_all = _targets(module, X, to_module, target, rows)
        out = np.empty((n, H, W), np.float32)
        if method == "integrated_gradients":
            base = np.zeros_like(X[:1]) if baseline is None else np.asarray(baseline, np.float32)
            if base.ndim == 3 and C == base.shape[0]:
                base = base[None]
            if base.ndim == 2 and image_shape is not None:  # flat baselines for flat-input models
                base = base.reshape((len(base),) + tuple(image_shape))
            if base.shape[1:] != X.shape[1:] or len(base) not in (1, n):
                raise UnskewInputError(f"baseline must be one image {X.shape[1:]} or one per image, got {base.shape}.")
            nodes, weights = np.polynomial.legendre.leggauss(n_steps)
            alphas = torch.as_tensor((nodes + 1) / 2, dtype=torch.float32)
            w = torch.as_tensor(weights / 2, dtype=torch.float32)
            per = max(1, rows // n_steps)
            for s in range(0, n, per):
                x = torch.as_tensor(X[s:s + per])
                x0 = torch.as_tensor(base if len(base) == 1 else base[s:s + per]).expand_as(x)
                b = len(x)
                path = x0[None] + alphas.view(-1, 1, 1, 1, 1) * (x - x0)[None]   # (steps, b, C, H, W)
                g = _grad(module, to_module, path.reshape(-1, C, H, W), t_all[s:s + b].repeat(n_steps))
                avg = (g.view(n_steps, b, C, H, W) * w.view(-1, 1, 1, 1, 1)).sum(0)
                out[s:s + b] = ((x - x0) * avg).abs().sum(1).numpy()
        elif method == "gradient":
            for s in range(0, n, rows):
                g = _grad(module, to_module, torch.as_tensor(X[s:s + rows]), t_all[s:s + rows])
                out[s:s + len(g)] = g.abs().sum(1).numpy()
        elif method == "smoothgrad":
            gen = torch.Generator().manual_seed(int(random_state))
            per = max(1, rows // n_samples)
            for s in range(0, n, per):
                x = torch.as_tensor(X[s:s + per])
                b = len(x)
                span = (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).clamp_min(1e-12).view(1, -1, 1, 1, 1)
                eps = torch.randn((n_samples,) + tuple(x.shape), generator=gen) * noise * span
                g = _grad(module, to_module, (x[None] + eps).reshape(-1, C, H, W), t_all[s:s + b].repeat(n_samples))
                out[s:s + b] = g.view(n_samples, b, C, H, W).abs().mean(0).sum(1).numpy()
        else:
            out[:] = _grad_cam(module, to_module, X, t_all, rows, layer)
    finally:
        for p, r in zip(module.parameters(), req, strict=True):
            p.requires_grad_(r)
        module.train(was_training)
    return out


def _grad_cam(module, to_module, X, t_all, rows, layer):
    torch = _torch()
    if layer is None and isinstance(module, torch.jit.ScriptModule):
        raise UnskewInputError("Grad-CAM needs a forward hook on a Conv2d layer, which TorchScript models do not "
                               "support; use another method (gradient, smoothgrad, integrated_gradients).")
    if layer is None:
        convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
        if not convs:
            raise UnskewInputError("Grad-CAM needs a convolutional layer and the model has no Conv2d; pass layer=... "
                                   "or use another method.")
        layer = convs[-1]
    n, C, H, W = X.shape
    store = {}

    def hook(_m, _i, output):
        output.retain_grad() if output.requires_grad else None
        store["a"] = output

    handle = layer.register_forward_hook(hook)
    out = np.empty((n, H, W), np.float32)
    try:
        for s in range(0, n, rows):
            x = torch.as_tensor(X[s:s + rows]).requires_grad_(True)  # makes activations require grad
            logits = module(to_module(x))
            a = store["a"]
            (g,) = torch.autograd.grad(logits.gather(1, t_all[s:s + len(x)].view(-1, 1)).sum(), a)
            cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
            cam = torch.nn.functional.interpolate(cam, size=(H, W), mode="bilinear", align_corners=False)
            out[s:s + len(x)] = cam[:, 0].detach().numpy()
    finally:
        handle.remove()
    return out


# ----------------------------------------------------------------------------- summaries
def region_share(maps, mask) -> np.ndarray:
    """Each map's share of attribution inside ``mask``.

    Parameters
    ----------
    maps : array of shape (n, H, W), non-negative
    mask : bool array of shape (H, W) (one region for all) or (n, H, W)

    Returns
    -------
    ndarray of shape (n,): ``sum(map * mask) / sum(map)``; NaN for an all-zero map.

    Examples
    --------
    >>> import numpy as np
    >>> from unskew.explain import region_share
    >>> m = np.ones((2, 4, 4)); mask = np.zeros((4, 4), bool); mask[:, :1] = True
    >>> region_share(m, mask).tolist()
    [0.25, 0.25]
    """
    maps = np.asarray(maps, float)
    mask = np.asarray(mask)
    if maps.ndim != 3:
        raise UnskewInputError(f"maps must have shape (n, H, W), got {maps.shape}.")
    if mask.dtype != bool:
        raise UnskewInputError("mask must be a boolean array (True inside the region).")
    if mask.shape not in (maps.shape[1:], maps.shape):
        raise UnskewInputError(f"mask must have shape {maps.shape[1:]} or {maps.shape}, got {mask.shape}.")
    if np.any(maps < 0):
        raise UnskewInputError("maps must be non-negative (use the output of saliency()).")
    total = maps.sum(axis=(1, 2))
    inside = (maps * mask).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def group_mean_maps(maps, sensitive) -> dict[str, np.ndarray]:
    """Mean map per group (names as everywhere in unskew: ``attr=value``)."""
    from ._shap import group_masks

    maps = np.asarray(maps)
    return {name: maps[m].mean(axis=0) for name, m in group_masks(sensitive, len(maps)).items() if m.any()}


def _randomised(module):
    torch = _torch()
    if isinstance(module, torch.jit.ScriptModule):
        # TorchScript: a deep copy's parameters are not leaves and its layers have no reset_parameters;
        # a save/load round trip gives a fresh copy whose parameters are re-drawn below
        import io

        buf = io.BytesIO()
        torch.jit.save(module, buf)
        buf.seek(0)
        rand = torch.jit.load(buf, map_location="cpu")
    else:
        rand = copy.deepcopy(module)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(12345)
    reset = set()
    for m in rand.modules():
        if m is not rand and callable(getattr(m, "reset_parameters", None)):
            m.reset_parameters()
            reset.update(id(p) for p in m.parameters(recurse=False))
    with torch.no_grad():
        for p in rand.parameters():
            if id(p) in reset:
                continue
            # layers without reset_parameters (e.g. scripted): PyTorch's default init of Linear/Conv layers,
            # uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in the inputs per output (a 1-D vector's length)
            fan_in = int(np.prod(p.shape[1:])) if p.ndim > 1 else int(p.numel())
            b = 1.0 / np.sqrt(max(fan_in, 1))
            p.uniform_(-b, b)
    torch.random.set_rng_state(gen_state)
    return rand


def _spearman_rows(a, b) -> np.ndarray:
    from scipy.stats import rankdata

    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1), np.nan)


def sanity_check(model, images, *, method: str = "integrated_gradients", target=None, threshold: float = 0.5,
                 image_shape=None, **kwargs) -> dict:
    """Model-randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

    Every layer's weights are re-initialised at once (the paper's
    "independent" randomisation of the whole network) and the maps of the
    randomised model compared with the trained model's by the Spearman rank
    correlation of each pair of maps (of their absolute values, as in the
    paper). A method whose maps barely change (mean correlation at or above
    ``threshold``) does not depend on what the model learned and fails.
    The trained model's predicted class is explained for both models.

    Returns
    -------
    dict with ``method``, ``spearman_mean``, ``spearman_median``, ``passed`` and ``threshold``.
    """
    module, X, to_module = _module_and_inputs(model, images, image_shape)
    if target is None:
        target = _targets(module, X, to_module, None, 4096).numpy()
    flat = image_shape if X.ndim == 4 and image_shape is not None else None
    Xin = X.reshape(len(X), -1) if flat is not None else X
    trained = saliency(module, Xin, target=target, method=method, image_shape=flat, **kwargs)
    rand = _randomised(module)
    randomised = saliency(rand, Xin, target=target, method=method, image_shape=flat, **kwargs)
    rho = _spearman_rows(trained, randomised)
    mean = float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")
    return {"method": method, "spearman_mean": mean, "spearman_median": float(np.nanmedian(rho)),
            "passed": bool(np.isfinite(mean) and mean < threshold), "threshold": threshold, "n_images": len(X)}
