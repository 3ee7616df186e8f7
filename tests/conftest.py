"""Shared fixtures: seeds, the shared reference data, single-threaded numerics."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("AGNLAB_PROGRESS", "0")

SHARED_DATA = Path(os.environ.get("AGNLAB_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def seed() -> int:
    """The seed every random path of a test takes."""
    return 0


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real reference data); the test is skipped where it is absent."""
    path = SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.skip(f"shared reference data not found at {path}")
    return path
