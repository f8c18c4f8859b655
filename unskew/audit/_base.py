"""The check interface and registry.

A check is a small class with a registry ``name``, a ``title``, documented
``default_thresholds`` and a :meth:`Check.run` method that returns a
:class:`~unskew.report.CheckResult`. Register it in :data:`CHECKS` with
:func:`register_check` (a decorator) or by subclassing with
``class MyCheck(Check, register=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._registry import Registry
from ..data import Dataset
from ..exceptions import UnskewInputError
from ..report import CheckResult, Status


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
    counts : dict
        Exact counts an engine measured over whole tables, by check name
        (``{"shift": ShiftCounts}``); the check then uses its datasets (the
        engine's samples) only for what needs rows.
    """

    reference: dict | None = None
    compare: Dataset | None = None
    random_state: int = 0
    cache: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)


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

    def __init_subclass__(cls, register: bool = False, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if register:
            register_check(cls)

    def __init__(self, **thresholds: Any):
        unknown = set(thresholds) - set(self.default_thresholds)
        if unknown:
            raise UnskewInputError(
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

    def status_for(self, value: float, warn_key: str, fail_key: str, higher_is_worse: bool = True) -> Status:
        """Compare ``value`` with the ``warn``/``fail`` thresholds named by the keys."""
        warn, fail = self.thresholds[warn_key], self.thresholds[fail_key]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return Status.PASS
        if higher_is_worse:
            return Status.FAIL if value >= fail else Status.WARN if value >= warn else Status.PASS
        return Status.FAIL if value <= fail else Status.WARN if value <= warn else Status.PASS


#: The audit checks, in run order (:class:`unskew._registry.Registry`).
CHECKS: Registry[type[Check]] = Registry("check", option="--checks")


def register_check(cls: type[Check]) -> type[Check]:
    """Class decorator adding a check to :data:`CHECKS` under ``cls.name``.

    Subclassing with ``class MyCheck(Check, register=True)`` does the same.
    Registering a different class under a taken name warns and replaces it.
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    return CHECKS.register(cls)


def get_check(name: str) -> type[Check]:
    """The check class registered as ``name``.

    Raises
    ------
    UnskewInputError
        For an unknown name, with the closest names ("did you mean").
    """
    return CHECKS[name]


def list_checks() -> list[str]:
    """Names of the registered checks, in run order."""
    return CHECKS.names()
