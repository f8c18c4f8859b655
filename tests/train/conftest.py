"""Fixtures for the robust-training tests."""

from __future__ import annotations

import pytest
from train_helpers import spurious

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def problem():
    """Train (90% agreement), validation and test (50% agreement) splits."""
    tr = spurious(600, 0.9, 0)
    va = spurious(300, 0.5, 1)
    te = spurious(1000, 0.5, 2)
    return tr, va, te
