"""Specs shared by the engine modules (kept apart so that no engine module imports another)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._source import check_columns


@dataclass(frozen=True)
class AuditSpec:
    target: str
    sensitive: tuple[str, ...]
    weights: str | None = None
    columns: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    bins: int = 10
    bounds: dict = field(default_factory=dict)  # numeric column -> (min, max)
    #: A continuous numeric target: the centre its per-cell sums are taken around (None: the target's values
    #: are counted as classes). Its bins use ``bounds[target]``.
    target_centre: float | None = None

    @property
    def read(self) -> list[str]:
        return list(dict.fromkeys([self.target, *self.sensitive, *self.columns]
                                  + ([self.weights] if self.weights else [])))


def quotas(counts: np.ndarray, n: int, min_per_stratum: int) -> np.ndarray:
    """Rows to draw per stratum: proportional to its size, at least ``min_per_stratum``, at most all of it."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    prop = np.floor(counts * (n / max(total, 1))).astype(np.int64)
    return np.minimum(counts, np.maximum(prop, min_per_stratum))


def _spec(have, numeric_types, target, sens, weights, columns, bins, where, target_centre=None) -> AuditSpec:
    check_columns(list(have), [target, *sens] + ([weights] if weights else []) + list(columns or []), where)
    if columns is None:
        columns = [c for c in have if c not in {target, weights, *sens}]
    numeric = tuple(c for c in columns if numeric_types.get(c))
    return AuditSpec(target=target, sensitive=tuple(sens), weights=weights, columns=tuple(columns),
                     numeric=numeric, bins=int(bins), target_centre=target_centre)


