"""Forward models for the inference tests: PyNeb line ratios and simple analytic ones."""

from __future__ import annotations

import numpy as np
import pytest


class TeNeForward:
    """Vectorised Te/Ne forward model computed directly with PyNeb emissivities.

    theta (n, 2) = [Te in K, log10 Ne in cm^-3] -> (n, 2) =
    [log10 I(4363)/I(5007) of [O III], log10 I(6731)/I(6716) of [S II]].
    """

    def __init__(self):
        import pyneb as pn

        self.o3 = pn.Atom("O", 3)
        self.s2 = pn.Atom("S", 2)
        self.n_calls = 0
        self.n_rows = 0

    def __call__(self, theta):
        theta = np.atleast_2d(theta)
        self.n_calls += 1
        self.n_rows += theta.shape[0]
        te, ne = theta[:, 0], 10 ** theta[:, 1]
        o3 = self.o3.getEmissivity(te, ne, wave=4363, product=False) / \
            self.o3.getEmissivity(te, ne, wave=5007, product=False)
        s2 = self.s2.getEmissivity(te, ne, wave=6731, product=False) / \
            self.s2.getEmissivity(te, ne, wave=6716, product=False)
        return np.log10(np.stack([o3, s2], axis=1))


@pytest.fixture(scope="session")
def tene_forward():
    return TeNeForward()


@pytest.fixture(scope="session")
def tene_grid_forward():
    """The same model tabulated on a Te x log Ne grid and interpolated (cubic)."""
    from agnlab.inference._demo import tene_forward

    return tene_forward(n_te=41, n_ne=51)


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
