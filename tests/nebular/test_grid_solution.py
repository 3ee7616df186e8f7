"""grid_solution_set: every parameter vector consistent with a spectrum, posterior and modes."""

import importlib.util

import matplotlib
import numpy as np
import pandas as pd
import pytest

from agnlab.nebular import GridEmulator, grid_solution_set, load_photoionization_grid

matplotlib.use("Agg")
needs_nb = pytest.mark.skipif(importlib.util.find_spec("NebulaBayes") is None,
                              reason="the MAPPINGS grids come with NebulaBayes (agnlab[nebular])")
LINES = ["OIII5007", "NII6583", "SII6716"]
_FAST = {"n_scan": 20_000, "n_fill": 20_000, "n_samples": 5_000, "de_maxiter": 20}


@pytest.fixture(scope="module")
def toy():
    u, oh = np.meshgrid(np.linspace(-4.0, -2.0, 5), np.linspace(7.6, 9.2, 5), indexing="ij")
    t = pd.DataFrame({"log U": u.ravel(), "12 + log O/H": oh.ravel(), "Hbeta": 1.0})
    z = t["12 + log O/H"] - 8.4
    t["OIII5007"] = 10 ** (0.6 * (t["log U"] + 3) + 0.3 - 0.5 * z)
    t["NII6583"] = 10 ** (-0.5 + 0.8 * z - 0.3 * (t["log U"] + 3))
    t["SII6716"] = 10 ** (-0.7 + 0.2 * z - 0.4 * (t["log U"] + 3))
    grid = load_photoionization_grid(t, params=["log U", "12 + log O/H"])
    return grid, GridEmulator("linear").fit(grid, lines=LINES)


def test_single_mode_contains_truth(toy):
    grid, emu = toy
    row = 12                                            # log U = -3, O/H = 8.4 (the centre)
    f = grid.fluxes.iloc[row][["Hbeta", *LINES]]
    sol = grid_solution_set(emu, f, 0.03 * f, random_state=0, **_FAST)
    truth = grid.params.iloc[row].to_numpy()
    np.testing.assert_allclose(sol.best_theta, truth, atol=0.02)   # noise-free spectrum: best fit at the node
    assert sol.n_modes == 1 and sol.modes["mass"].iloc[0] == pytest.approx(1.0)
    assert np.all(sol.solutions_chi2 <= sol.best_chi2 + sol.delta_chi2 + 1e-9)
    assert np.all((sol.samples >= sol.bounds[:, 0]) & (sol.samples <= sol.bounds[:, 1]))
    ci = sol.credible_intervals()
    assert ((ci["lo"].to_numpy() <= truth) & (truth <= ci["hi"].to_numpy())).all()
    fig = sol.plot_corner(truths=truth)
    assert len(fig.axes) >= 3
    same = grid_solution_set(emu, f, 0.03 * f, random_state=0, **_FAST)
    np.testing.assert_array_equal(same.samples, sol.samples)        # seeded


def test_bad_spectra(toy):
    grid, emu = toy
    f = grid.fluxes.iloc[[0, 1]][["Hbeta", *LINES]]
    with pytest.raises(ValueError, match="one spectrum"):
        grid_solution_set(emu, f, 0.1 * f, **_FAST)
    one = f.iloc[0].copy()
    one[LINES] = np.nan
    with pytest.raises(ValueError, match="no usable line"):
        grid_solution_set(emu, one, 0.1 * f.iloc[0], **_FAST)
    with pytest.raises(ValueError, match="not lines of the grid"):
        grid_solution_set(emu, {"Hbeta": 1.0, "HeII4686": 0.1}, {"Hbeta": 0.1, "HeII4686": 0.01}, **_FAST)


@needs_nb
def test_r23_branches_are_separate_modes():
    """[O II] + [O III] alone: a low-metallicity HII region also fits the upper R23 branch (two O/H modes)."""
    grid = load_photoionization_grid("mappings-hii")
    lines = ["OII3726_29", "OIII5007"]
    emu = GridEmulator("linear").fit(grid, lines=lines + ["NeIII3869"])
    p = grid.params
    row = np.flatnonzero(np.isclose(p["12 + log O/H"], 7.663) & np.isclose(p["log U"], -3.5)
                         & np.isclose(p["log P/k"], 6.2))[0]
    f = grid.fluxes.iloc[row][["Hbeta", *lines]]
    sol = grid_solution_set(emu, f, 0.05 * f, random_state=0)
    oh = sol.modes["12 + log O/H"].to_numpy()
    assert sol.n_modes == 2
    assert np.sum(oh < 8.2) == 1 and np.sum(oh > 8.6) == 1      # lower and upper branch, not their average
    low = sol.modes.iloc[int(np.argmin(oh))]
    assert low["12 + log O/H_lo"] <= 7.663 <= low["12 + log O/H_hi"]
    f3 = grid.fluxes.iloc[row][["Hbeta", *lines, "NeIII3869"]]   # [Ne III] breaks the degeneracy
    assert grid_solution_set(emu, f3, 0.05 * f3, random_state=0).n_modes == 1
