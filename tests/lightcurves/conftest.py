import pytest

from agnlab.lightcurves import extract_features, simulate


@pytest.fixture(scope="session")
def small_sim():
    """8 objects per class (seed 0) and their features (no Villar fit, for speed)."""
    lc, labels = simulate(8, seed=0)
    return lc, labels, extract_features(lc, villar=False)
