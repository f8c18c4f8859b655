"""The Dask engine's Parquet partitions: whole row groups, about ROWS_PER_PARTITION rows each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")

from unskew.engines._dask import dataframe  # noqa: E402
from unskew.engines._source import resolve_source  # noqa: E402


def test_partitions_join_whole_row_groups(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"g": np.arange(1000) % 3, "y": np.arange(1000) % 2}).to_parquet(path, row_group_size=100)
    ddf = dataframe(resolve_source(str(path)), ["g", "y"], rows_per_partition=300)
    sizes = ddf.map_partitions(len).compute().tolist()
    assert sizes == [300, 300, 300, 100]  # 10 row groups of 100 rows, three to a partition
    # a row group larger than the target stays one partition; every row is read once
    one = dataframe(resolve_source(str(path)), None, rows_per_partition=10)
    assert one.npartitions == 10 and len(one) == 1000 and list(one.columns) == ["g", "y"]
