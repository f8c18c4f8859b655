"""One registry type for every pluggable part of unskew.

Audit checks (:data:`unskew.audit.CHECKS`), compare methods
(:data:`unskew.compare.METHODS`), training methods (:data:`unskew.train.METHODS`)
and table mitigation methods (:data:`unskew.mitigate.pre.METHODS`) are each one
:class:`Registry`. A registry maps a name to an entry (a class or an object),
keeps registration order, warns when a name is registered again with a
different entry, resolves deprecated aliases with a warning, and answers an
unknown name with an :class:`~unskew.exceptions.UnskewInputError` that suggests
the closest names.

Examples
--------
>>> from unskew._registry import Registry
>>> shapes = Registry("shape")
>>> @shapes.register
... class Square:
...     name = "square"
>>> shapes.register(object(), name="circle")  # doctest: +ELLIPSIS
<object object at ...>
>>> shapes.names()
['square', 'circle']
>>> shapes["square"].__name__
'Square'
>>> shapes["squar"]
Traceback (most recent call last):
...
unskew.exceptions.UnskewInputError: Unknown shape 'squar'. Did you mean 'square'? Available: square, circle.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

from .exceptions import UnskewInputError

T = TypeVar("T")

__all__ = ["Registry", "RegistryWarning"]


class RegistryWarning(UserWarning):
    """A name registered twice with different entries."""


class Registry(Mapping[str, T], Generic[T]):
    """An ordered name -> entry mapping with checks on both sides.

    Parameters
    ----------
    kind : str
        What the entries are, in words (``"check"``, ``"compare method"``);
        used in messages.
    option : str, optional
        The user-facing option that takes these names (``"--method"``); the
        unknown-name error then mentions it.

    Notes
    -----
    A registry is a read-only :class:`~collections.abc.Mapping` (``reg[name]``,
    ``name in reg``, ``list(reg)``, ``reg.items()``), so code written for a
    plain dict keeps working. ``name in reg`` is true for canonical names only;
    deprecated aliases are resolved by :meth:`get` / ``reg[name]`` /
    :meth:`canonical`.

    Examples
    --------
    >>> reg = Registry("method", option="--method")
    >>> _ = reg.register(len, name="size", aliases={"length": "1.2"})
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     reg.canonical("length")
    'size'
    >>> str(w[0].message)
    "method 'length' is deprecated (to be removed in 1.2); use 'size'."
    """

    def __init__(self, kind: str, *, option: str | None = None):
        self.kind = kind
        self.option = option
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, tuple[str, str | None]] = {}

    # -- registering -------------------------------------------------------------------------
    @overload
    def register(self, entry: T, *, name: str | None = ..., aliases: Any = ...) -> T: ...

    @overload
    def register(self, entry: None = ..., *, name: str | None = ..., aliases: Any = ...) -> Callable[[T], T]: ...

    def register(self, entry=None, *, name=None, aliases=None):
        """Add ``entry`` under ``name`` (default: ``entry.name``); usable as a decorator.

        Parameters
        ----------
        entry : class or object, optional
            What to register. Without it, a decorator is returned
            (``@reg.register`` or ``@reg.register(name="x")``).
        name : str, optional
            Registry name; defaults to the entry's ``name`` attribute.
        aliases : iterable of str, or dict alias -> removal version, optional
            Deprecated names that resolve to this entry with a warning.

        Returns
        -------
        The entry itself (so the decorator leaves the class unchanged).

        Warns
        -----
        RegistryWarning
            When ``name`` already holds a different entry (the new one replaces it).
        """
        if entry is None:
            return lambda obj: self.register(obj, name=name, aliases=aliases)
        key = name if name is not None else getattr(entry, "name", None)
        if not isinstance(key, str) or not key:
            raise ValueError(f"{self.kind} {entry!r} has no name; set a 'name' attribute or pass name=.")
        old = self._entries.get(key)
        if old is not None and old is not entry and not _same_definition(old, entry):
            warnings.warn(f"{self.kind} {key!r} was already registered ({_describe(old)}); "
                          f"{_describe(entry)} replaces it.", RegistryWarning, stacklevel=3)
        self._entries[key] = entry
        self._aliases.pop(key, None)
        if aliases:
            items = aliases.items() if isinstance(aliases, Mapping) else ((a, None) for a in aliases)
            for alias, version in items:
                self.alias(alias, key, removal=version)
        return entry

    def alias(self, alias: str, target: str, *, removal: str | None = None) -> None:
        """Make ``alias`` a deprecated name of ``target`` (resolved with a FutureWarning)."""
        if target not in self._entries:
            raise ValueError(f"cannot alias {alias!r} to unregistered {self.kind} {target!r}")
        if alias in self._entries:
            raise ValueError(f"{alias!r} is a registered {self.kind}, not free for an alias")
        self._aliases[alias] = (target, removal)

    def unregister(self, name: str) -> T:
        """Remove ``name`` (and its aliases) and return its entry."""
        entry = self[name]
        key = self.canonical(name, warn=False)
        del self._entries[key]
        self._aliases = {a: t for a, t in self._aliases.items() if t[0] != key}
        return entry

    def pop(self, name: str, *default: Any) -> T:
        """Remove ``name`` and return its entry (dict-style; ``default`` when absent)."""
        if name not in self._entries and name not in self._aliases and default:
            return default[0]
        return self.unregister(name)

    # -- looking up --------------------------------------------------------------------------
    def canonical(self, name: str, *, warn: bool = True) -> str:
        """The registered name for ``name``: itself, or the target of a deprecated alias.

        Raises
        ------
        UnskewInputError
            For an unknown name, with the closest registered names and the full list.
        """
        if name in self._entries:
            return name
        if name in self._aliases:
            target, removal = self._aliases[name]
            if warn:
                when = f" (to be removed in {removal})" if removal else ""
                warnings.warn(f"{self.kind} {name!r} is deprecated{when}; use {target!r}.",
                              FutureWarning, stacklevel=3)
            return target
        raise UnskewInputError(self.unknown_message(name))

    def unknown_message(self, name: Any) -> str:
        """The sentence an unknown ``name`` gets: closest matches first, then all names."""
        where = f" for {self.option}" if self.option else ""
        close = difflib.get_close_matches(str(name), [*self._entries, *self._aliases], n=3, cutoff=0.6)
        close = list(dict.fromkeys(self._aliases.get(c, (c,))[0] for c in close))
        hint = ""
        if close:
            hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
        avail = ", ".join(self._entries) or "none registered"
        return f"Unknown {self.kind} {name!r}{where}.{hint} Available: {avail}."

    def get(self, name: str, default: Any = ...) -> T:  # type: ignore[override]
        """The entry for ``name`` (aliases resolved); unknown names raise unless ``default`` is given."""
        try:
            return self._entries[self.canonical(name)]
        except UnskewInputError:
            if default is not ...:
                return default
            raise

    def __getitem__(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Registered names in registration order (aliases not included)."""
        return list(self._entries)

    def aliases(self) -> dict[str, str]:
        """Deprecated alias -> registered name."""
        return {a: t for a, (t, _) in self._aliases.items()}

    def check(self, names: Any) -> list[str]:
        """Resolve a name or list of names to registered names, all unknown ones in one error."""
        if isinstance(names, str):
            names = [names]
        unknown = [n for n in names if n not in self._entries and n not in self._aliases]
        if len(unknown) > 1:
            raise UnskewInputError(
                f"Unknown {self.kind}s {', '.join(repr(n) for n in unknown)}"
                f"{' for ' + self.option if self.option else ''}. Available: {', '.join(self._entries)}.")
        return [self.canonical(n) for n in names]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def _describe(entry: Any) -> str:
    if isinstance(entry, type):
        return f"{entry.__module__}.{entry.__qualname__}"
    return repr(entry)


def _same_definition(old: Any, new: Any) -> bool:
    """A class re-created by re-importing its module is the same definition (no warning)."""
    return (isinstance(old, type) and isinstance(new, type)
            and (old.__module__, old.__qualname__) == (new.__module__, new.__qualname__))
