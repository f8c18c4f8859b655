"""unskew: keep machine-learning models from learning flawed patterns from their data.

Main entry points
-----------------
- :func:`unskew.audit` -- audit a table for bias-related data problems.
- :mod:`unskew.data` -- load tables and declare column roles.
- :mod:`unskew.datasets` -- real datasets (Adult, COMPAS, German credit, CelebA) and
  synthetic generators with planted problems.
- :mod:`unskew.report` -- typed results, JSON and HTML reports.
"""

from ._version import __version__
from .audit import audit
from .data import Dataset, as_dataset

__all__ = ["Dataset", "__version__", "as_dataset", "audit"]
