"""Lazy imports of optional dependencies with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from .exceptions import MissingExtraError

#: Which extra provides which importable package.
EXTRAS = {
    "polars": "polars",
    "torch": "torch",
    "skops": "models",
    "onnxruntime": "models",
    "fairlearn": "peers",
    "aif360": "peers",
    "imblearn": "peers",
    "cleanlab": "peers",
    "numba": "explain",
    "shap": "explain",
    "captum": "explain",
    "duckdb": "duckdb",
    "pyspark": "spark",
    "dask": "dask",
    "distributed": "dask",
}


def import_optional(module: str, feature: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming its extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingExtraError(top, EXTRAS.get(top, top), feature) from exc
