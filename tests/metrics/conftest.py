"""Fixtures of the metric tests."""

from __future__ import annotations

import pytest
from metrics_data import make_binary


@pytest.fixture
def binary_data():
    return make_binary()
