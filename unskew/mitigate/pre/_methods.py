"""The registry of table mitigation methods: one name per method, shared by every command.

``unskew mitigate --method NAME`` (:func:`unskew.mitigate.mitigate_table`), the
weight schemes of :func:`~unskew.mitigate.pre.group_class_weights` and
``unskew compare`` use the same names (``correlation_remover``, not
``correlation``: the old name still works with a FutureWarning).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._registry import Registry

#: Kinds of mitigation method: what the method changes in the table.
KINDS = ("weights", "sampler", "transform")


@dataclass(frozen=True)
class MitigationMethod:
    """A table mitigation method.

    Attributes
    ----------
    name : str
        Registry name (``--method`` on the command line).
    kind : str
        ``"weights"`` (adds a weight column), ``"sampler"`` (resamples rows)
        or ``"transform"`` (rewrites feature columns).
    description : str
    """

    name: str
    kind: str
    description: str


#: Table mitigation methods (:class:`unskew._registry.Registry` of :class:`MitigationMethod`).
METHODS: Registry[MitigationMethod] = Registry("mitigation method", option="--method")

for _m in [
    MitigationMethod("reweighing", "weights",
                     "Kamiran-Calders reweighing: weight = P(group) P(class) / P(group, class)."),
    MitigationMethod("inverse", "weights",
                     "Inverse-frequency weights per (group, class): every cell carries the same total weight."),
    MitigationMethod("sqrt", "weights", "Inverse square-root frequency weights per (group, class)."),
    MitigationMethod("effective", "weights", "Effective-number weights per (group, class) (Cui et al. 2019)."),
    MitigationMethod("oversample", "sampler", "Random over-sampling of (group, class) cells; added rows are copies."),
    MitigationMethod("undersample", "sampler", "Random under-sampling of (group, class) cells."),
    MitigationMethod("smote", "sampler",
                     "SMOTE within each (group, class) cell; categorical columns handled as codes (SMOTE-NC)."),
    MitigationMethod("mixup", "sampler", "Mixup within each (group, class) cell (numeric features)."),
    MitigationMethod("correlation_remover", "transform",
                     "Linear removal of the sensitive attribute from the numeric features."),
]:
    METHODS.register(_m)
del _m
METHODS.alias("correlation", "correlation_remover", removal="0.3")


def methods_of_kind(kind: str) -> tuple[str, ...]:
    """Names of the registered methods of one kind, in registry order."""
    return tuple(n for n, m in METHODS.items() if m.kind == kind)
