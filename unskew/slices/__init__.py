"""Slice discovery: find the subpopulations on which a model fails.

- :class:`SliceFinder` -- lattice search (SliceLine pruning, SliceFinder tests)
  over conjunctions of feature conditions on a table.
- :class:`EmbeddingSliceFinder` -- clusters of high-error examples in an
  embedding space, described by their most over-represented attributes.
- :func:`find_slices` -- load a table with a model's output, search it and
  build a ``Report(kind="slices")``.

Discovered slices are usable as groups anywhere unskew accepts groups:
``finder.to_groups(X)`` returns one integer per row (one id per reported slice,
plus ``"rest"``).
"""

from ._embedding import ClusterSlice, EmbeddingSliceFinder
from ._encode import Level, SliceEncoder
from ._finder import Slice, SliceFinder, lattice_size
from ._report import slices_report
from ._search import SliceSearch, find_slices
from ._significance import adjust_pvalues, row_errors, slice_tests

__all__ = [
    "ClusterSlice",
    "EmbeddingSliceFinder",
    "Level",
    "Slice",
    "SliceEncoder",
    "SliceFinder",
    "SliceSearch",
    "adjust_pvalues",
    "find_slices",
    "lattice_size",
    "row_errors",
    "slice_tests",
    "slices_report",
]
