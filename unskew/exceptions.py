"""Exceptions raised by unskew.

Every error a user can cause by passing bad input derives from
:class:`UnskewInputError`. The CLI turns it into a one-paragraph message and
exit code 2, without a traceback.
"""

from __future__ import annotations


class UnskewError(Exception):
    """Base class of every exception unskew raises on purpose."""


class UnskewInputError(UnskewError, ValueError):
    """The input (a file, a column, a value or an option) cannot be used.

    The message names the file, column or value and says what to do.
    """


class UnskewNotFoundError(UnskewInputError):
    """A named thing (a monitored model, a queue, an item) is not in the store.

    Services answer it with 404 rather than 422.
    """


class MissingExtraError(UnskewError, ImportError):
    """An optional dependency is needed for this feature but is not installed."""

    def __init__(self, package: str, extra: str, feature: str = ""):
        self.package = package
        self.extra = extra
        what = f" for {feature}" if feature else ""
        super().__init__(
            f"The optional package '{package}' is needed{what} but is not installed. "
            f"Install it with: pip install 'unskew[{extra}]'"
        )
