"""The check interface and registry.

A check is a small class with a registry ``name``, a ``title``, documented
``default_thresholds`` and a :meth:`Check.run` method that returns a
:class:`~unskew.report.CheckResult`. Register it with :func:`register_check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..data import Dataset
from ..report import CheckResult


@dataclass
class AuditContext:
    """Inputs shared by all checks of one audit run.

    Attributes
    ----------
    reference : dict, optional
        Reference population shares, ``{attribute: {value: share}}``; an
        intersection can be given with the key ``"a & b"`` and values
        ``"x & y"`` (for example census shares).
    compare : Dataset, optional
        A second table (test or production) for the shift check.
    random_state : int
        Seed for every randomised step.
    cache : dict
        Results that several checks share (for example out-of-sample
        probabilities), computed once.
    """

    reference: dict | None = None
    compare: Dataset | None = None
    random_state: int = 0
    cache: dict = field(default_factory=dict)


class Check:
    """Base class for data checks.

    Subclasses set ``name``, ``title``, ``explanation``, ``requires`` (which
    roles the dataset must declare: any of ``"target"``, ``"sensitive"``,
    ``"compare"``, ``"reference"``) and ``default_thresholds``, and implement
    :meth:`run`. ``__init__`` only stores threshold overrides.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    explanation: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    default_thresholds: ClassVar[dict[str, Any]] = {}

    def __init__(self, **thresholds: Any):
        unknown = set(thresholds) - set(self.default_thresholds)
        if unknown:
            raise ValueError(
                f"Unknown threshold(s) {sorted(unknown)} for check '{self.name}'; "
                f"known: {sorted(self.default_thresholds)}"
            )
        self.thresholds = {**self.default_thresholds, **thresholds}

    def missing_requirements(self, ds: Dataset, ctx: AuditContext) -> list[str]:
        """Roles this check needs that the run lacks."""
        have = {
            "target": ds.target is not None,
            "sensitive": bool(ds.sensitive),
            "compare": ctx.compare is not None,
            "reference": bool(ctx.reference),
        }
        return [r for r in self.requires if not have.get(r, False)]

    def run(self, ds: Dataset, ctx: AuditContext) -> CheckResult:  # pragma: no cover
        raise NotImplementedError

    def result(self, **kwargs) -> CheckResult:
        """A :class:`CheckResult` pre-filled with this check's name, title and thresholds."""
        kwargs.setdefault("explanation", self.explanation)
        kwargs.setdefault("thresholds", dict(self.thresholds))
        return CheckResult(name=self.name, title=self.title, **kwargs)

    def status_for(self, value: float, warn_key: str, fail_key: str, higher_is_worse: bool = True) -> str:
        """Compare ``value`` with the ``warn``/``fail`` thresholds named by the keys."""
        warn, fail = self.thresholds[warn_key], self.thresholds[fail_key]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "pass"
        if higher_is_worse:
            return "fail" if value >= fail else "warn" if value >= warn else "pass"
        return "fail" if value <= fail else "warn" if value <= warn else "pass"


_REGISTRY: dict[str, type[Check]] = {}


def register_check(cls: type[Check]) -> type[Check]:
    """Class decorator adding a check to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def get_check(name: str) -> type[Check]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"No check named {name!r}; available: {sorted(_REGISTRY)}") from None


def list_checks() -> list[str]:
    """Names of the registered checks, in run order."""
    return list(_REGISTRY)
