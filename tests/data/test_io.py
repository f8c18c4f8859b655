import gzip

import numpy as np
import pandas as pd
import pytest

from unskew.data import load_table, sniff_delimiter
from unskew.exceptions import UnskewInputError


def test_reads_csv_parquet_and_in_memory(tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as fh:
        df.to_csv(fh, index=False)
    for src in (tmp_path / "t.csv", tmp_path / "t.parquet", tmp_path / "t.csv.gz"):
        out, source = load_table(src)
        pd.testing.assert_frame_equal(out.reset_index(drop=True), df, check_dtype=False)
        assert str(src) == source
    pl = pytest.importorskip("polars")
    out, source = load_table(pl.from_pandas(df))
    assert source == "polars.DataFrame" and out.shape == (3, 2)
    import pyarrow as pa

    out, source = load_table(pa.Table.from_pandas(df))
    assert source == "pyarrow.Table" and list(out.columns) == ["a", "b"]
    out, source = load_table(np.arange(6).reshape(3, 2))
    assert list(out.columns) == ["x0", "x1"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, sep):
    p = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2], "b": ["u", "v"]}).to_csv(p, sep=sep, index=False)
    out, _ = load_table(p)
    assert list(out.columns) == ["a", "b"]
    assert sniff_delimiter(p.read_text()) == sep


def test_wrong_explicit_delimiter_gets_hint(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(p, sep=";", index=False)
    with pytest.raises(UnskewInputError, match="delimited by ';'"):
        load_table(p, delimiter=",")


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(UnskewInputError, match="empty"):
        load_table(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(UnskewInputError, match="no data rows"):
        load_table(tmp_path / "h.csv")


def test_non_utf8_file_names_encoding(tmp_path):
    p = tmp_path / "l.csv"
    p.write_bytes("name,y\nJosé,1\nZoë,0\n".encode("latin-1"))
    with pytest.raises(UnskewInputError, match="--encoding latin-1"):
        load_table(p)
    out, _ = load_table(p, encoding="latin-1")
    assert out["name"].tolist() == ["José", "Zoë"]


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(UnskewInputError, match="not found"):
        load_table(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_bytes(b"abc")
    with pytest.raises(UnskewInputError, match="Do not know how to read"):
        load_table(tmp_path / "x.xlsx")
