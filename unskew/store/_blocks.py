"""Columnar blocks: the feature values of one ingested batch as one compressed Parquet blob.

Since revision ``0003`` a prediction row keeps only its index columns
(id, sequence, time, bucket, group, prediction, score, OOD score, label) in
``monitor_rows``; the values of its stored columns live in the batch's block
(``monitor_row_blocks``), at position ``block_row``. One Parquet file per batch
(zstd) is far smaller and faster to write than one JSON document per row.

Values read back equal the values a JSON document per row gave before
(:func:`decode_block` of :func:`encode_block` of a frame has the dtypes that
``pd.DataFrame(json.loads(frame.to_json(orient="records")))`` would have),
except that floats are exact (JSON kept 15 significant digits). Columns of
other types (datetimes, categoricals, nullable extension types, mixed objects)
are stored as their JSON text, so they come back exactly as JSON gave them.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

FORMAT = "parquet-v1"
_META_KEY = b"unskew.json_columns"


def _storage_kind(s: pd.Series) -> str | None:
    """How column ``s`` is stored natively ('float', 'int', 'bool', 'str'), or None for JSON text."""
    dt = s.dtype
    if isinstance(dt, np.dtype):
        if dt.kind == "f":
            return "float"
        if dt.kind in "iu":
            return "int"
        if dt.kind == "b":
            return "bool"
        if dt.kind == "O" and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
            return "str"
        return None
    if isinstance(dt, pd.StringDtype):
        return "str"
    return None


def _json_values(frame: pd.DataFrame) -> list[list]:
    """Per column of ``frame``: the values JSON gives back (pandas' writer, ISO dates, 15 digits)."""
    text = frame.to_json(orient="values", date_format="iso", double_precision=15)
    rows = json.loads(text)
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in frame.columns]


def encode_block(frame: pd.DataFrame) -> bytes:
    """``frame`` (the stored columns of a batch's new rows) as zstd-compressed Parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.reset_index(drop=True)
    arrays, names, json_cols = [], [], []
    other = [c for c in frame.columns if _storage_kind(frame[c]) is None]
    other_vals = dict(zip(other, _json_values(frame[other]), strict=True)) if other else {}
    for c in frame.columns:
        kind = _storage_kind(frame[c])
        s = frame[c]
        if kind == "float":
            arr = pa.array(s.to_numpy(dtype=np.float64), from_pandas=True)
        elif kind == "int":
            arr = pa.array(s.to_numpy(dtype=np.int64))
        elif kind == "bool":
            arr = pa.array(s.to_numpy(dtype=bool))
        elif kind == "str":
            arr = pa.array(s.to_numpy(dtype=object, na_value=None), type=pa.string(), from_pandas=True)
        else:
            arr = pa.array([None if v is None else json.dumps(v) for v in other_vals[c]], type=pa.string())
            json_cols.append(str(c))
        arrays.append(arr)
        names.append(str(c))
    table = pa.Table.from_arrays(arrays, names=names)
    table = table.replace_schema_metadata({_META_KEY: json.dumps(json_cols).encode()})
    strings = [n for n, a in zip(names, arrays, strict=True) if pa.types.is_string(a.type)]
    floats = [n for n, a in zip(names, arrays, strict=True) if pa.types.is_floating(a.type)]
    buf = io.BytesIO()
    # dictionaries only for text (on measured floats they cost time and bytes); floats byte-stream-split
    pq.write_table(table, buf, compression="zstd", compression_level=1, use_dictionary=strings or False,
                   use_byte_stream_split=floats or False)
    return buf.getvalue()


def decode_block(data: bytes) -> pd.DataFrame:
    """The frame :func:`encode_block` stored."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    meta = table.schema.metadata or {}
    json_cols = json.loads(meta.get(_META_KEY, b"[]"))
    frame = table.to_pandas()
    for c in json_cols:
        vals = [None if v is None or v != v else json.loads(v) for v in frame[c].tolist()]
        frame[c] = pd.Series(vals, index=frame.index) if vals else pd.Series([], index=frame.index, dtype=object)
    return frame


def records(frame: pd.DataFrame) -> list[dict]:
    """One JSON-ready dict per row (missing -> None, times as ISO strings), via pandas' C writer."""
    if len(frame) == 0:
        return []
    text = frame.to_json(orient="records", date_format="iso", double_precision=15)
    return json.loads(text)


def record_lines(frame: pd.DataFrame) -> list[str]:
    """:func:`records` as JSON text, one object per row (to embed in a JSON document without re-encoding)."""
    if len(frame) == 0:
        return []
    text = frame.to_json(orient="records", lines=True, date_format="iso", double_precision=15)
    return text.rstrip("\n").split("\n")


def blank_rows(frame: pd.DataFrame, positions) -> pd.DataFrame:
    """``frame`` with the values at ``positions`` erased, keeping every column's type (so the other rows
    read back unchanged): missing for floats and text, 0 for integers, False for booleans."""
    frame = frame.copy()
    pos = np.asarray(sorted(set(int(p) for p in positions)), dtype=np.int64)
    if len(pos) == 0:
        return frame
    for c in frame.columns:
        s = frame[c]
        kind = _storage_kind(s)
        if kind == "int":
            fill = 0
        elif kind == "bool":
            fill = False
        elif kind == "float":
            fill = np.nan
        else:
            fill = None
        frame.iloc[pos, frame.columns.get_loc(c)] = fill
    return frame
