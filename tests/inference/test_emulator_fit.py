"""solution_set over a NeuralEmulator of torus SEDs (fit of an observed IR SED)."""

from __future__ import annotations

import numpy as np
import pytest

import agnlab.emulate as emulate
import agnlab.grids as clumpy
from agnlab.inference import sed_forward, solution_set

WAVE_UM = np.array([1.25, 1.65, 2.2, 3.4, 4.6, 8.0, 10.0, 12.0, 15.0, 18.0, 22.0, 25.0, 30.0, 40.0, 70.0])


@pytest.fixture(scope="module")
def emulator():
    grid = clumpy.clumpy_like_grid(3000, seed=0, progress=False)
    emu = emulate.NeuralEmulator(hidden=(64, 64), n_components=12, max_epochs=400, patience=60, batch_size=512,
                                 lbfgs_steps=0, progress=False,
                                 on_out_of_domain="nan", n_jobs=1, random_state=0)
    return emu.fit(grid.params, grid.flux, wave_um=grid.wave_um), grid.wave_um


def test_neural_emulator_sed_fit_contains_truth(emulator, seed, rng):
    emu, wave_model = emulator
    names = list(clumpy.CLUMPY_PARAM_NAMES)
    bounds = np.array([clumpy.CLUMPY_PARAM_RANGES[n] for n in names])
    truth = np.array([[40.0, 5.0, 30.0, 20.0, 1.5, 60.0]])
    exact = sed_forward(clumpy.clumpy_like_sed, wave_model, WAVE_UM)          # the generator itself
    sigma = np.full(WAVE_UM.size, 0.08)          # photometry (~10 %) + emulator error (~0.05 dex)
    obs = exact(truth)[0] + 2.0 + rng.normal(0, 0.03, WAVE_UM.size)
    f = sed_forward(emu.predict, wave_model, WAVE_UM)
    res = solution_set(f, obs, sigma, bounds, param_names=names, offset="profile", random_state=seed, maxiter=80,
                       confidence=0.9973)
    assert res.reduced_chi2 < 2.0
    # the true parameters belong to the solution set
    from agnlab.inference import ChiSquare

    chi2_truth = ChiSquare(f, obs, sigma, bounds, offset="profile", archive=False)(truth)[0]
    assert chi2_truth <= res.chi2_threshold
    # and the set is wide in the degenerate directions (tau_V, N0, sigma)
    r = res.ranges()
    assert r["N0"][1] - r["N0"][0] > 3.0
    assert r["sig"][1] - r["sig"][0] > 15.0
    assert np.all(res.solutions >= bounds[:, 0]) and np.all(res.solutions <= bounds[:, 1])


def test_emulator_out_of_domain_vectors_are_never_solutions(emulator, seed):
    """A box wider than the emulator's training domain: NaN predictions are refused, not used."""
    emu, wave_model = emulator
    names = list(clumpy.CLUMPY_PARAM_NAMES)
    bounds = np.array([clumpy.CLUMPY_PARAM_RANGES[n] for n in names])
    wide = bounds.copy()
    wide[1] = [0.1, 25.0]                       # N0 beyond the trained 1 - 15
    f = sed_forward(emu.predict, wave_model, WAVE_UM)
    obs = f(np.array([[40.0, 14.0, 30.0, 20.0, 1.5, 60.0]]))[0]
    res = solution_set(f, obs, 0.05, wide, param_names=names, offset="profile", random_state=seed, maxiter=20,
                       polish=False)
    assert res.n_invalid > 0
    assert np.all(res.solutions[:, 1] >= 1.0 - 1e-9) and np.all(res.solutions[:, 1] <= 15.0 + 1e-9)


def test_fit_sed_uses_emulator_names_domain_and_flux_errors(seed):
    from agnlab.emulate import fit_sed

    grid = clumpy.clumpy_like_grid(600, seed=1, progress=False)
    emu = emulate.NeuralEmulator(hidden=(16,), n_components=6, max_epochs=30, patience=10, batch_size=512,
                                 lbfgs_steps=0, progress=False,
                                 param_names=list(grid.param_names), on_out_of_domain="nan", n_jobs=1)
    emu.fit(grid.params, grid.flux, wave_um=grid.wave_um)
    f = sed_forward(emu.predict, grid.wave_um, WAVE_UM)
    flux = 10 ** (f(grid.params[:1])[0] + 4.0)
    res = fit_sed(emu, WAVE_UM, flux, 0.1 * flux, bounds={"i": (30.0, 80.0)}, random_state=seed, maxiter=15)
    assert res.param_names == list(grid.param_names)
    np.testing.assert_allclose(res.bounds[:, 0][:5], emu.param_min_[:5], rtol=1e-12)
    assert res.bounds[5].tolist() == [30.0, 80.0]
    assert res.best_offset == pytest.approx(4.0, abs=0.5)
    with pytest.raises(ValueError, match="unknown parameter"):
        fit_sed(emu, WAVE_UM, flux, 0.1 * flux, bounds={"zz": (0, 1)})
    with pytest.raises(ValueError, match="flux_err"):
        fit_sed(emu, WAVE_UM, flux, -flux)
