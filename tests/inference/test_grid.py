"""GridForward (tabulated forward models) and sed_forward (SED at observed wavelengths)."""

from __future__ import annotations

import numpy as np
import pytest

from agnlab.inference import GridForward, sed_forward, solution_set


def test_grid_forward_exact_at_nodes_and_nan_outside(rng):
    x, y = np.linspace(0, 1, 6), np.linspace(-1, 1, 5)
    vals = np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1) @ np.array([[1.0, 2.0], [3.0, -1.0]])
    f = GridForward([x, y], vals)
    pts = np.array([[x[2], y[3]], [0.5, 0.1]])
    np.testing.assert_allclose(f(pts), pts @ np.array([[1.0, 2.0], [3.0, -1.0]]), atol=1e-12)
    out = f(np.array([[1.5, 0.0], [0.5, -1.01]]))
    assert np.isnan(out).all()


def test_grid_forward_from_points_any_order(rng):
    a, b = np.array([1.0, 2.0, 4.0]), np.array([10.0, 20.0])
    pts = np.array([[i, j] for i in a for j in b])
    vals = np.stack([pts[:, 0] * pts[:, 1], pts[:, 0] + pts[:, 1]], axis=1)
    perm = rng.permutation(len(pts))
    f = GridForward.from_points(pts[perm], vals[perm])
    np.testing.assert_allclose(f(pts), vals, rtol=1e-12)
    with pytest.raises(ValueError, match="complete Cartesian grid"):
        GridForward.from_points(pts[:-1], vals[:-1])


@pytest.mark.parametrize("axes, values, match", [
    ([np.array([0.0, 0.0, 1.0])], np.zeros((3, 1)), "strictly increasing"),
    ([np.array([0.0, 1.0])], np.zeros((3, 1)), "expected shape"),
])
def test_grid_forward_bad_input(axes, values, match):
    with pytest.raises(ValueError, match=match):
        GridForward(axes, values)


def test_sed_forward_interpolates_in_log_wavelength():
    mw = np.array([1.0, 10.0, 100.0])
    f = sed_forward(lambda t: np.tile(10 ** np.array([0.0, 1.0, 3.0]), (t.shape[0], 1)), mw,
                    np.array([np.sqrt(10.0), 10.0, 31.6227766]))
    np.testing.assert_allclose(f(np.zeros((2, 1))), [[0.5, 1.0, 2.0]] * 2, atol=1e-6)
    with pytest.raises(ValueError, match="outside the model range"):
        sed_forward(lambda t: t, mw, np.array([0.5, 2.0]))


def test_clumpy_grid_sed_fit_shows_degeneracy(shared_data, seed, rng):
    """Real CLUMPY SEDs (3 params): fit an IR SED with unknown normalisation."""
    from agnlab.grids import load_grid

    grid = load_grid(shared_data / "torus" / "clumpy_nenkova08_3p.npz")
    fwd = GridForward.from_model_grid(grid)
    wave = np.array([1.25, 1.65, 2.2, 3.4, 4.6, 8.0, 10.0, 12.0, 18.0, 22.0, 30.0, 70.0])
    f = sed_forward(fwd, grid.wave_um, wave, output="log_flux")
    names = list(grid.param_names)
    truth = np.array([[40.0, 50.0, 120.0]])                      # (i, sig, tv): a grid node
    assert names == ["i", "sig", "tv"]
    sigma = np.full(wave.size, 0.04)                             # ~10 % photometry
    obs = f(truth)[0] + 5.0 + rng.normal(0, sigma)               # unknown log normalisation 5
    bounds = np.array([list(grid.param_ranges[n]) for n in names])
    res = solution_set(f, obs, sigma, bounds, param_names=names, offset="profile", random_state=seed, maxiter=80,
                       confidence=0.9973)
    assert res.best_offset == pytest.approx(5.0, abs=0.3)   # offset trades off with i
    # the truth is consistent with the data (its chi^2 is within the threshold)
    from agnlab.inference import ChiSquare

    chi2_truth = ChiSquare(f, obs, sigma, bounds, offset="profile", archive=False)(truth)[0]
    assert chi2_truth <= res.chi2_threshold
    # degeneracy: i and sigma trade off -> wide, anti-correlated projections
    rng_i = res.ranges()["i"]
    assert rng_i[1] - rng_i[0] > 20.0
    corr = np.corrcoef(res.solutions[:, 0], res.solutions[:, 1])[0, 1]
    assert corr < -0.5
