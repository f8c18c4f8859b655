"""The one list of types unskew trusts when loading ``.skops`` files beyond skops' defaults.

Every entry is plain data (no code runs when it is rebuilt): numpy dtypes,
scikit-learn's gradient-boosting tree predictor, and the three unskew classes a
model saved by ``unskew train`` may hold: the table encoder, the correlation
remover (coefficients and category lists) and the portable PyTorch classifier
(which keeps its weights as numpy arrays and rebuilds the network from
unskew's own code). Anything else in a file is refused unless
the caller trusts the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .exceptions import UnskewInputError

#: skops type names (``module.Class``) unskew trusts in addition to skops' defaults.
EXTRA_TRUSTED = frozenset({
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "unskew.data._encoding.EmbeddingEncoder",
    "unskew.mitigate.pre._correlation.CorrelationRemover",
    "unskew.train._portable.PortableClassifier",
})


def beyond_trusted(untrusted: Iterable[str]) -> list[str]:
    """The types of ``untrusted`` (skops' ``get_untrusted_types``) that unskew does not trust either."""
    return [t for t in untrusted if t not in EXTRA_TRUSTED]


def loads_trusted(data: bytes, what: str, *, trust: bool = False, hint: str | None = None) -> Any:
    """Load skops ``data`` (the bytes of ``what``), refusing types beyond skops' defaults and
    :data:`EXTRA_TRUSTED` unless ``trust``; ``hint`` ends the refusal message (what to do)."""
    from ._optional import import_optional

    sio = import_optional("skops.io", "loading .skops models")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise UnskewInputError(f"Cannot read {what} as a skops file: {exc}") from None
    bad = beyond_trusted(untrusted)
    if bad and not trust:
        raise UnskewInputError(
            f"{what} contains types that skops does not trust: {', '.join(bad[:8])}. Loading them can run code; "
            + (hint or "save the model with `unskew train` or with types skops trusts.")
        )
    return sio.loads(data, trusted=list(untrusted) or None)
