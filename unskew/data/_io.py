"""Reading tables from files and in-memory objects into a pandas DataFrame."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError

_CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".data", ".gz", ".bz2", ".zip", ".xz"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


def load_table(
    data: Any,
    *,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    na_values: list[str] | None = None,
    columns: list[str] | None = None,
) -> tuple[pd.DataFrame, str]:
    """Read ``data`` into a pandas DataFrame.

    Parameters
    ----------
    data : str, Path, pandas.DataFrame, polars.DataFrame, pyarrow.Table, numpy.ndarray or dict
        A path to a CSV/TSV (optionally compressed) or Parquet file, or an in-memory table.
        A numpy array gets columns named ``x0, x1, ...`` unless ``columns`` is given.
    delimiter : str, optional
        CSV delimiter. By default it is detected from the first lines among ``, ; tab |``.
    encoding : str, default "utf-8"
        Text encoding of a CSV file.
    na_values : list of str, optional
        Extra strings to read as missing (for example ``["?"]``).
    columns : list of str, optional
        Column names for a numpy array.

    Returns
    -------
    frame : pandas.DataFrame
    source : str
        A short description of where the data came from, used in messages and reports.
    """
    if isinstance(data, pd.DataFrame):
        return data, "pandas.DataFrame"
    if isinstance(data, (str, os.PathLike)):
        return _read_path(Path(data), delimiter, encoding, na_values), str(data)
    mod = type(data).__module__.split(".")[0]
    if mod == "polars":
        import polars as pl

        if isinstance(data, pl.LazyFrame):
            data = data.collect()
        return data.to_pandas(), "polars.DataFrame"
    if mod == "pyarrow":
        return data.to_pandas(), "pyarrow.Table"
    if isinstance(data, np.ndarray):
        if data.dtype.names:  # structured array
            return pd.DataFrame.from_records(data), "numpy structured array"
        arr = np.atleast_2d(data)
        if arr.ndim != 2:
            raise UnskewInputError(f"A numpy array must be 2-D; got shape {data.shape}.")
        names = columns or [f"x{i}" for i in range(arr.shape[1])]
        if len(names) != arr.shape[1]:
            raise UnskewInputError(
                f"{len(names)} column names were given for an array with {arr.shape[1]} columns."
            )
        return pd.DataFrame(arr, columns=names), "numpy.ndarray"
    if isinstance(data, dict):
        return pd.DataFrame(data), "dict"
    raise UnskewInputError(
        f"Cannot read data of type {type(data).__name__}. Pass a CSV or Parquet path, a pandas "
        f"or polars DataFrame, a pyarrow Table or a numpy array."
    )


def _read_path(path: Path, delimiter, encoding, na_values) -> pd.DataFrame:
    if not path.exists():
        raise UnskewInputError(f"File not found: {path}")
    if path.is_dir():
        if any(path.glob("*.parquet")):
            return _read_parquet(path)
        raise UnskewInputError(f"{path} is a folder; pass a CSV or Parquet file.")
    if path.stat().st_size == 0:
        raise UnskewInputError(f"File {path} is empty (0 bytes); nothing to read.")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _PARQUET_SUFFIXES:
        return _read_parquet(path)
    if _is_parquet_magic(path):
        return _read_parquet(path)
    if suffixes and suffixes[-1] not in _CSV_SUFFIXES:
        raise UnskewInputError(
            f"Do not know how to read {path.name}: use a .csv, .tsv or .parquet file "
            f"(optionally .gz/.bz2/.zip/.xz compressed)."
        )
    return _read_csv(path, delimiter, encoding, na_values)


def _is_parquet_magic(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types
        raise UnskewInputError(f"Could not read Parquet file {path}: {exc}") from exc


def _head_text(path: Path, encoding: str, nbytes: int = 65536) -> str:
    import bz2
    import gzip
    import lzma
    import zipfile

    suffix = path.suffix.lower()
    if suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            raw = fh.read(nbytes)
    elif suffix == ".bz2":
        with bz2.open(path, "rb") as fh:
            raw = fh.read(nbytes)
    elif suffix == ".xz":
        with lzma.open(path, "rb") as fh:
            raw = fh.read(nbytes)
    elif suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise UnskewInputError(f"{path} must hold exactly one file; it holds {len(names)}.")
            with zf.open(names[0]) as fh:
                raw = fh.read(nbytes)
    else:
        with open(path, "rb") as fh:
            raw = fh.read(nbytes)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 4:  # a multi-byte character cut by the read limit
            return raw[: exc.start].decode(encoding)
        raise UnskewInputError(
            f"File {path} is not valid {encoding} text (byte 0x{raw[exc.start]:02x} at position "
            f"{exc.start}). Pass its encoding, for example --encoding latin-1 "
            f"(encoding='latin-1' in Python)."
        ) from exc


def sniff_delimiter(text: str) -> str:
    """Guess the delimiter of CSV-like text among ``, ; tab |``."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # last line may be cut
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sum(ln.count(d) for ln in lines) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def sniff_decimal(text: str, sep: str) -> str:
    """``","`` when a non-comma-delimited text writes numbers with decimal commas
    (``12,5`` in a semicolon file, as European spreadsheets export), else ``"."``."""
    if sep == ",":
        return "."
    lines = [ln for ln in text.splitlines()[1:51] if ln.strip()]
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]
    fields = [f.strip().strip('"') for ln in lines for f in ln.split(sep)]
    n_comma = sum(1 for f in fields if _DECIMAL_COMMA.match(f))
    n_dot = sum(1 for f in fields if re.match(r"^-?\d+\.\d+$", f))
    return "," if n_comma > 0 and n_dot == 0 else "."


def _read_csv(path: Path, delimiter, encoding, na_values) -> pd.DataFrame:
    head = _head_text(path, encoding)
    if not head.strip():
        raise UnskewInputError(f"File {path} holds no data (only blank lines).")
    sep = delimiter or sniff_delimiter(head)
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            encoding=encoding,
            na_values=na_values,
            skipinitialspace=True,
            low_memory=False,
            decimal=sniff_decimal(head, sep),
        )
    except UnicodeDecodeError as exc:
        raise UnskewInputError(
            f"File {path} is not valid {encoding} text ({exc.reason} at byte {exc.start}). "
            f"Pass its encoding, for example --encoding latin-1."
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise UnskewInputError(f"File {path} holds no columns to read.") from exc
    except pd.errors.ParserError as exc:
        raise UnskewInputError(
            f"Could not parse {path} with delimiter {sep!r}: {str(exc).strip()}. Check the delimiter "
            f"(--delimiter) and quoting."
        ) from exc
    if frame.shape[0] == 0:
        raise UnskewInputError(f"File {path} has a header but no data rows.")
    if frame.shape[1] == 1:
        name = str(frame.columns[0])
        others = [d for d in ",;\t|" if d != sep and d in name]
        if others:
            raise UnskewInputError(
                f"File {path} was read as a single column named {name[:60]!r}; it looks "
                f"delimited by {others[0]!r} rather than {sep!r}. Pass --delimiter "
                f"{others[0]!r} (delimiter={others[0]!r} in Python)."
            )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def read_text_sample(path: str | Path, encoding: str = "utf-8") -> str:
    """First bytes of a (possibly compressed) text file, decoded; for diagnostics."""
    return _head_text(Path(path), encoding)


def frame_to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()
