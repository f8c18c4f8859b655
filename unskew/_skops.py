"""The one list of types unskew trusts when loading ``.skops`` files beyond skops' defaults.

Every entry is plain data (no code runs when it is rebuilt): numpy dtypes,
scikit-learn's gradient-boosting tree predictor, and the two unskew classes a
model saved by ``unskew train`` may hold: the table encoder and the portable
PyTorch classifier (which keeps its weights as numpy arrays and rebuilds the
network from unskew's own code). Anything else in a file is refused unless
the caller trusts the file.
"""

from __future__ import annotations

from collections.abc import Iterable

#: skops type names (``module.Class``) unskew trusts in addition to skops' defaults.
EXTRA_TRUSTED = frozenset({
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "unskew.data._encoding.EmbeddingEncoder",
    "unskew.train._portable.PortableClassifier",
})


def beyond_trusted(untrusted: Iterable[str]) -> list[str]:
    """The types of ``untrusted`` (skops' ``get_untrusted_types``) that unskew does not trust either."""
    return [t for t in untrusted if t not in EXTRA_TRUSTED]
