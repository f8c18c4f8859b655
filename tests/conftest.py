"""Shared fixtures: where the real datasets are, and small synthetic tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_SHARED = ROOT.parent / "shared" / "datasets"


def shared_datasets_dir() -> Path | None:
    env = os.environ.get("UNSKEW_DATA_HOME")
    for cand in (Path(env) if env else None, _DEFAULT_SHARED):
        if cand is not None and (cand / "adult").is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def data_home() -> Path:
    """Folder with the real datasets (``../shared/datasets``).

    Tests that need it are skipped where it is absent, except in CI
    (``CI=true``), where its absence is an error.
    """
    path = shared_datasets_dir()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("../shared/datasets is missing in CI; set UNSKEW_DATA_HOME")
        pytest.skip("real datasets not found (set UNSKEW_DATA_HOME to ../shared/datasets)")
    return path
