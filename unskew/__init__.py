"""unskew: keep machine-learning models from learning flawed patterns from their data.

Main entry points
-----------------
- :func:`unskew.audit` -- audit a table for bias-related data problems.
- :func:`unskew.evaluate` -- a model's metrics per group, fairness gaps and gates
  (:mod:`unskew.metrics` has the engine and the metric functions).
- :mod:`unskew.data` -- load tables and declare column roles.
- :mod:`unskew.datasets` -- real datasets (Adult, COMPAS, German credit, CelebA) and
  synthetic generators with planted problems.
- :mod:`unskew.report` -- typed results, JSON and HTML reports.
- :mod:`unskew.slices` -- slice discovery: where a model's error is significantly
  worse (conjunctions of column conditions, or clusters of embeddings).
"""

from ._version import __version__
from .audit import audit
from .data import Dataset, as_dataset
from .metrics import evaluate

__all__ = ["Dataset", "__version__", "as_dataset", "audit", "evaluate"]
