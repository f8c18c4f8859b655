"""Synthetic production data for the monitoring tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _monitor_data import make_rows  # noqa: E402


@pytest.fixture
def reference():
    return make_rows(6000, 0).drop(columns="id")


@pytest.fixture
def mon(tmp_path, reference):
    from unskew.monitor import Monitor

    m = Monitor(f"sqlite:///{tmp_path / 'm.db'}")
    m.init("credit", reference, target="y", predictions="pred", scores="score", sensitive=["sex", "race"],
           block_rows=100)
    return m
