"""Forward models for the inference tests: PyNeb line ratios and simple analytic ones."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tene_forward():
    """Direct PyNeb emissivities: theta (n, 2) = [Te in K, log10 Ne] -> log10 [O III] 4363/5007, [S II] 6731/6716."""
    from agnlab.nebular import TeNeForward

    return TeNeForward()


@pytest.fixture(scope="session")
def tene_grid_forward():
    """The same model tabulated on a Te x log Ne grid and interpolated (cubic)."""
    from agnlab.nebular import temden_forward

    return temden_forward(table_shape=(41, 51))


@pytest.fixture
def linear_problem(rng):
    """y = A theta + noise with known Gaussian posterior (flat prior, wide bounds)."""
    a = np.array([[1.0, 0.5], [0.2, 1.0], [1.0, -1.0], [0.3, 0.3]])
    truth = np.array([0.3, -0.2])
    sigma = np.array([0.05, 0.05, 0.1, 0.05])
    obs = a @ truth + rng.normal(0.0, sigma)
    w = np.diag(1 / sigma**2)
    cov = np.linalg.inv(a.T @ w @ a)
    mean = cov @ a.T @ w @ obs

    def forward(theta):
        return np.atleast_2d(theta) @ a.T

    return {"forward": forward, "obs": obs, "sigma": sigma, "truth": truth, "cov": cov, "mean": mean,
            "bounds": [[-2.0, 2.0], [-2.0, 2.0]]}
