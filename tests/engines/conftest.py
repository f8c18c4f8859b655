"""Shared fixtures: small tables on disk, one local SparkSession and one Dask LocalCluster per session."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pandas as pd
import pytest


def make_table(n: int = 3000, seed: int = 0, missing: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6]).astype(object)
    race = rng.choice([0, 1, 2], n, p=[0.6, 0.3, 0.1])
    if missing:
        sex[rng.random(n) < 0.03] = None
    # dyadic scores and values (multiples of 2**-10, 2**-6) and integer weights: every sum is exact in floating
    # point whatever the order, so engines that add in different orders must agree to the last digit
    s = np.round((rng.beta(2, 2, n) * 0.8 + 0.1 * (race == 0)) * 1024) / 1024
    y = (rng.random(n) < s).astype(np.int64)
    return pd.DataFrame({
        "sex": sex, "race": race, "y": y, "score": s, "pred": (s >= 0.5).astype(np.int64),
        "w": rng.integers(1, 4, n).astype(np.float64), "x": rng.normal(size=n),
        "value": np.round((rng.normal(size=n) * 3 + race) * 64) / 64,
        "value_hat": np.round((rng.normal(size=n) + race) * 64) / 64,
    })


@pytest.fixture(scope="session")
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture(scope="session")
def table_files(tmp_path_factory, table):
    """The same rows as one Parquet file, a directory of three Parquet files and a CSV file."""
    d = tmp_path_factory.mktemp("engines")
    one = d / "t.parquet"
    table.to_parquet(one, row_group_size=700)
    parts = d / "parts"
    parts.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(len(table)), 3)):
        table.iloc[chunk].to_parquet(parts / f"part-{i}.parquet")
    csv = d / "t.csv"
    table.to_csv(csv, index=False)
    return {"parquet": one, "dir": parts, "csv": csv}


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("unskew-tests")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "2").config("spark.default.parallelism", "2")
         .config("spark.sql.files.openCostInBytes", str(1 << 30))  # one partition per small file
         .config("spark.driver.memory", "1g").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
