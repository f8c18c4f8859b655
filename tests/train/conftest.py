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


def pytest_collection_modifyitems(config, items):
    """Skip this folder's ``slow`` tests unless they were asked for (``-m slow``)."""
    if "slow" in (config.getoption("-m") or ""):
        return
    here = __file__.rsplit("/", 1)[0]
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords and str(item.fspath).startswith(here):
            item.add_marker(skip)
