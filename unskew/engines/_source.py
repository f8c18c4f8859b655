"""What an engine reads: a Parquet file/directory/glob, a CSV file, or an in-memory table."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import UnskewInputError

_PARQUET = {".parquet", ".pq"}
_CSV = {".csv", ".tsv", ".txt", ".gz"}


@dataclass(frozen=True)
class Source:
    """``kind`` is ``parquet``, ``csv`` or ``frame``; ``paths`` the files (for files)."""

    kind: str
    paths: tuple[str, ...] = ()
    frame: Any = None
    delimiter: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "frame":
            return type(self.frame).__module__.split(".")[0] + ".DataFrame"
        return self.paths[0] if len(self.paths) == 1 else f"{self.paths[0]} (+{len(self.paths) - 1} files)"


def resolve_source(data: Any, delimiter: str | None = None) -> Source:
    """Classify ``data`` and check that its files exist."""
    if not isinstance(data, (str, os.PathLike)):
        return Source("frame", frame=data)
    text = str(data)
    if any(ch in text for ch in "*?["):
        paths = sorted(glob.glob(text))
        if not paths:
            raise UnskewInputError(f"No file matches {text!r}.")
    else:
        p = Path(text)
        if not p.exists():
            raise UnskewInputError(f"File not found: {p}")
        if p.is_dir():
            paths = sorted(str(q) for q in p.rglob("*") if q.suffix.lower() in _PARQUET)
            if not paths:
                raise UnskewInputError(f"The directory {p} holds no .parquet files.")
        else:
            paths = [str(p)]
    suffixes = {Path(q).suffix.lower() for q in paths}
    if suffixes <= _PARQUET:
        return Source("parquet", tuple(paths))
    if suffixes <= _CSV:
        if ".tsv" in suffixes and delimiter is None:
            delimiter = "\t"
        return Source("csv", tuple(paths), delimiter=delimiter)
    raise UnskewInputError(f"{text}: the engines read Parquet (.parquet) or CSV (.csv, .tsv) files, "
                           f"not {sorted(suffixes)}.")


def check_columns(have: list[str], need: list[str], where: str) -> None:
    for c in need:
        if c not in have:
            raise UnskewInputError(f"Column {c!r} is not in {where}; available columns: {have[:20]}.")
