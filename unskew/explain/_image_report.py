"""``unskew explain --images``: where an image model looks, per group, as a report.

:func:`explain_images_report` validates a table (one row per image: the
sensitive columns and, optionally, the class to explain), an image array
(``.npy``), an optional boolean mask (``.npy``, shape (H, W)) and a TorchScript
model, then builds the ``saliency`` section (:func:`saliency_section`):
example and per-group mean maps as PNG grids (capped), the share of
attribution inside the mask per group, and the Adebayo et al. (2018)
model-randomisation sanity check of each method (a failing method warns).

TorchScript files are loaded with ``torch.jit.load`` on the CPU. Like a
pickle, a TorchScript archive carries code that runs when the model is
called (and it can call any registered operator), so loading one requires
``trust_pickle=True`` (``--trust-pickle``): only for files you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import UnskewInputError
from ..report import Report

METHOD_ALIASES = {"gradcam": "grad_cam", "ig": "integrated_gradients"}


def _load_npy(path, what: str) -> np.ndarray:
    if isinstance(path, np.ndarray):
        return path
    path = Path(path)
    if not path.exists():
        raise UnskewInputError(f"{what} file not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UnskewInputError(f"Cannot read {path} as a NumPy .npy array ({what}): {exc}") from exc


def load_torchscript(path, *, trust_pickle: bool = False):
    """Load a TorchScript model file on the CPU (``torch.jit.load``), in eval mode.

    Raises :class:`~unskew.exceptions.UnskewInputError` unless ``trust_pickle``
    (the file's code runs when the model is called) or when the file is not a
    TorchScript archive.
    """
    from .._optional import import_optional

    path = Path(path)
    if not path.exists():
        raise UnskewInputError(f"Model file not found: {path}")
    if not trust_pickle:
        raise UnskewInputError(f"{path} is loaded as a TorchScript model, whose code runs when it is called (like a "
                               f"pickle). If you trust this file, pass --trust-pickle (trust_pickle=True in Python).")
    torch = import_optional("torch", "explaining image models")
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError/ValueError with varied texts for non-archives
        raise UnskewInputError(f"{path} is not a TorchScript model file (save one with torch.jit.save("
                               f"torch.jit.script(model), path)): {str(exc).splitlines()[0][:200]}") from exc
    return model.eval()


def explain_images_report(data: Any, *, sensitive, model: Any, images: Any, target: str | None = None,
                          mask: Any = None, methods=("integrated_gradients",), trust_pickle: bool = False,
                          sanity_images: int = 64, sanity_threshold: float = 0.5, thresholds: dict | None = None,
                          na_values=None, delimiter=None) -> Report:
    """Saliency maps of an image model per group, as a :class:`~unskew.report.Report` (kind ``explain``).

    Parameters
    ----------
    data : path or DataFrame
        One row per image, in the order of ``images``: the sensitive columns and optionally ``target``.
    sensitive : str or list of str
    model : path or torch.nn.Module
        A TorchScript file (needs ``trust_pickle``) or a module returning logits (n, n_classes).
    images : path to .npy or array
        uint8 or float, shape (n, H, W) or (n, C, H, W); uint8 is scaled to [0, 1].
    target : str, optional
        Column of integer class indices to explain (default: the predicted class).
    mask : path to .npy or array, optional
        Boolean (or 0/1) region of shape (H, W), e.g. the background; its share of each map is reported per group.
    thresholds : dict, optional
        ``{"sanity_spearman": value}`` overrides ``sanity_threshold`` (as ``--threshold`` passes it).
    methods : str or list of str
        Among ``gradient``, ``smoothgrad``, ``integrated_gradients``, ``grad_cam`` (``gradcam``).

    Examples
    --------
    >>> import numpy as np, pandas as pd, torch
    >>> from unskew.explain import explain_images_report
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(2 * 8 * 8, 2))
    >>> df = pd.DataFrame({"g": ["a", "b"] * 5})
    >>> rep = explain_images_report(df, sensitive="g", model=net, images=np.random.rand(10, 8, 8),
    ...                             methods="gradient", mask=np.eye(8, dtype=bool))
    >>> rep.checks[0].name, "region_share_by_group" in rep.checks[0].summary["methods"]["gradient"]
    ('saliency', True)
    """
    from ..data import Dataset
    from ._report import saliency_section
    from ._saliency import SALIENCY_METHODS

    for k, v in (thresholds or {}).items():
        if k != "sanity_spearman":
            raise UnskewInputError(f"Unknown threshold {k!r} for images; have sanity_spearman.")
        sanity_threshold = float(v)
    if isinstance(sensitive, str):
        sensitive = [s.strip() for s in sensitive.split(",") if s.strip()]
    if not sensitive:
        raise UnskewInputError("Pass the sensitive column(s) (--sensitive COL[,COL...]).")
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = [METHOD_ALIASES.get(m, m) for m in methods]
    bad = [m for m in methods if m not in SALIENCY_METHODS]
    if bad or not methods:
        raise UnskewInputError(f"Unknown saliency method(s) {bad}; choose from {', '.join(SALIENCY_METHODS)} "
                               f"(gradcam = grad_cam).")
    ds = Dataset.from_data(data, target=target, sensitive=sensitive, na_values=na_values, delimiter=delimiter)
    frame = ds.frame.reset_index(drop=True)
    img_name = str(images) if isinstance(images, (str, Path)) else "images"
    X = _load_npy(images, "images")
    if X.ndim not in (3, 4) or X.shape[0] == 0:
        raise UnskewInputError(f"{img_name} must have shape (n, H, W) or (n, C, H, W) with n >= 1, got {X.shape}.")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)):
        raise UnskewInputError(f"{img_name} must hold uint8 or float pixels, got dtype {X.dtype}.")
    if len(X) != len(frame):
        raise UnskewInputError(f"{img_name} has {len(X)} images but the table has {len(frame)} rows; they must be "
                               f"one row per image, in the same order.")
    X = X.astype(np.float32) / 255.0 if X.dtype == np.uint8 else X.astype(np.float32)
    if not np.isfinite(X).all():
        raise UnskewInputError(f"{img_name} holds NaN or infinite pixels.")
    H, W = X.shape[-2:]
    m = None
    if mask is not None:
        mask_name = str(mask) if isinstance(mask, (str, Path)) else "mask"
        m = _load_npy(mask, "mask")
        if m.shape != (H, W):
            raise UnskewInputError(f"{mask_name} has shape {m.shape} but the images are {H}x{W}; pass one boolean "
                                   f"(H, W) mask.")
        if m.dtype != bool:
            if not np.isin(m, (0, 1)).all():
                raise UnskewInputError(f"{mask_name} must be boolean or 0/1 (True inside the region).")
            m = m.astype(bool)
    module = load_torchscript(model, trust_pickle=trust_pickle) if isinstance(model, (str, Path)) else model
    t = None
    if target is not None:
        import pandas as pd

        col = pd.to_numeric(frame[target], errors="coerce").to_numpy(float)
        if np.isnan(col).any() or not np.all(np.mod(col, 1) == 0):
            raise UnskewInputError(f"--target {target!r} must hold integer class indices (the logit to explain); "
                                   f"{int(np.isnan(col).sum())} value(s) are missing or not numbers.")
        t = col.astype(np.int64)
    torch = __import__("torch")
    probe = X[:1] if X.ndim == 4 else X[:1, None]
    try:
        with torch.no_grad():
            out = module(torch.as_tensor(probe))
    except Exception as exc:  # a shape/dtype mismatch surfaces as a RuntimeError from inside the model
        raise UnskewInputError(f"The model cannot take {img_name}'s images (fed as shape {tuple(probe.shape[1:])} "
                               f"per image): {str(exc).strip().splitlines()[-1][:200]}") from exc
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise UnskewInputError("The model must return logits of shape (n, n_classes) for saliency maps.")
    n_classes = int(out.shape[-1])
    if t is not None and (t.min() < 0 or t.max() >= n_classes):
        raise UnskewInputError(f"--target {target!r} has class indices outside 0..{n_classes - 1} "
                               f"(the model has {n_classes} outputs).")
    section = saliency_section(module, X, sensitive=frame[list(sensitive)], mask=m, methods=tuple(methods),
                               target=t, sanity_images=sanity_images, threshold=sanity_threshold)
    dataset = ds.describe()
    dataset["images"] = {"n": int(len(X)), "shape": [int(s) for s in X.shape[1:]]}
    return Report(kind="explain", checks=[section], dataset=dataset,
                  parameters={"model": str(model) if isinstance(model, (str, Path)) else type(module).__name__,
                              "images": img_name, "mask": None if mask is None else str(mask)
                              if isinstance(mask, (str, Path)) else "array", "methods": list(methods),
                              "target": target, "sanity_images": sanity_images,
                              "sanity_threshold": sanity_threshold})
