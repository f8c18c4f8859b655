"""Writing output files: checked before a long run, written whole or not at all.

Every command's outputs (JSON and HTML reports, output tables, CSV
leaderboards) go through these functions, so a bad path is an
:class:`~unskew.exceptions.UnskewInputError` naming the file before any work is
done, and an interrupted write never leaves a half-written file behind (the
data goes to a temporary file in the same folder, which is then renamed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..exceptions import UnskewInputError

#: Table formats :func:`write_table` writes, by file ending.
TABLE_SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".gz": "csv", ".tsv": "tsv", ".tsv.gz": "tsv",
                  ".parquet": "parquet", ".pq": "parquet"}

__all__ = ["TABLE_SUFFIXES", "check_output_path", "table_format", "write_atomic", "write_table", "write_text"]


def check_output_path(path: str | Path, option: str = "output") -> Path:
    """Check that ``path`` can be written: create its folder, refuse a folder or an unwritable place.

    Parameters
    ----------
    path : str or Path
    option : str
        How the user named this output (``"--json"``), for the message.

    Returns
    -------
    Path

    Raises
    ------
    UnskewInputError
        When ``path`` is a folder, its folder cannot be created, or it is not writable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_path(d / "sub" / "audit.json", "--json").parent.is_dir()
    True
    """
    path = Path(path)
    if path.is_dir():
        raise UnskewInputError(f"{option} {path} is a folder; give a file name, e.g. {path / 'report'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnskewInputError(f"{option}: cannot create the folder {path.parent}: {exc.strerror or exc}.") from exc
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UnskewInputError(f"{option}: cannot write {path} (permission denied).")
    return path


def table_format(path: str | Path, option: str = "--out") -> str:
    """``"csv"``, ``"tsv"`` or ``"parquet"`` from the file ending; anything else is an input error."""
    name = Path(path).name.lower()
    for suffix in sorted(TABLE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return TABLE_SUFFIXES[suffix]
    raise UnskewInputError(f"{option} must end in .csv, .tsv, .csv.gz or .parquet, got {Path(path).name!r}.")


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file to ``path``: whole or absent."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_table(frame: Any, path: str | Path, option: str = "--out") -> Path:
    """Write a pandas DataFrame as CSV, TSV (``.gz`` compressed by ending) or Parquet, atomically."""
    fmt = table_format(path, option)
    compression = "gzip" if str(path).lower().endswith(".gz") else None
    if fmt == "parquet":
        return write_atomic(path, lambda p: frame.to_parquet(p, index=False))
    sep = "\t" if fmt == "tsv" else ","
    return write_atomic(path, lambda p: frame.to_csv(p, index=False, sep=sep, compression=compression))
