"""Fitted estimators shared by the nebular tests (fitting calls PyNeb once per session)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def est_default():
    """The default estimator (benchmark quality)."""
    pytest.importorskip("pyneb")
    from agnlab.nebular import TeNeEstimator

    return TeNeEstimator().fit()


@pytest.fixture(scope="session")
def est_small():
    """A coarser table estimator, quick to fit."""
    pytest.importorskip("pyneb")
    from agnlab.nebular import TeNeEstimator

    return TeNeEstimator(grid_shape=(100, 120), n_inverse=(160, 160)).fit()
