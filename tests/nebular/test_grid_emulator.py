"""GridEmulator: the photoionisation grid as a forward model (multilinear and neural)."""

import numpy as np
import pandas as pd
import pytest

from agnlab.nebular import GridEmulator, GridError, load_photoionization_grid

LINES = ["OIII5007", "NII6583", "SII6716"]


def _truth(u, oh):
    """Exact log10 ratios of the toy grid (linear in the parameters, so multilinear interpolation is exact)."""
    z = oh - 8.4
    return np.stack([0.6 * (u + 3) + 0.3 - 0.5 * z, -0.5 + 0.8 * z - 0.3 * (u + 3), -0.7 + 0.2 * z - 0.4 * (u + 3)],
                    axis=-1)


@pytest.fixture(scope="module")
def grid():
    u, oh = np.meshgrid(np.linspace(-4.0, -2.0, 5), np.linspace(7.6, 9.2, 5), indexing="ij")
    t = pd.DataFrame({"log U": u.ravel(), "12 + log O/H": oh.ravel(), "Hbeta": 2.0})
    t[LINES] = 2.0 * 10 ** _truth(u.ravel(), oh.ravel())
    return load_photoionization_grid(t, params=["log U", "12 + log O/H"])


def test_linear_is_exact_and_never_extrapolates(grid):
    emu = GridEmulator("linear").fit(grid, lines=LINES)
    theta = np.random.default_rng(0).uniform([-4, 7.6], [-2, 9.2], size=(200, 2))
    np.testing.assert_allclose(emu.predict(theta), _truth(theta[:, 0], theta[:, 1]), atol=1e-12)
    np.testing.assert_allclose(emu.predict(grid.params), np.log10(grid.fluxes[LINES].to_numpy()), atol=1e-12)
    out = emu(np.array([[-4.01, 8.0], [-3.0, 9.3], [np.nan, 8.0]]))
    assert np.isnan(out).all()
    assert emu.predict_table(theta[:2]).columns.tolist() == LINES


def test_exclude_interpolates_across_the_gap(grid):
    node = np.isclose(grid.params["log U"], -3.0)
    emu = GridEmulator("linear").fit(grid, lines=LINES, exclude=node)
    held = grid.params[node].to_numpy()
    assert emu.training_record_["n_models"] == grid.n_models - int(node.sum())
    np.testing.assert_allclose(emu.predict(held), _truth(held[:, 0], held[:, 1]), atol=1e-12)   # exact: linear toy


def test_neural_emulator_and_save_load(grid, tmp_path):
    emu = GridEmulator("neural", emulator_params={"hidden": (16, 16), "max_epochs": 300, "lbfgs_steps": 100,
                                                   "validation_fraction": 0.2}).fit(grid, lines=LINES)
    theta = np.random.default_rng(1).uniform([-4, 7.6], [-2, 9.2], size=(100, 2))
    err = emu.predict(theta) - _truth(theta[:, 0], theta[:, 1])
    assert np.sqrt(np.mean(err**2)) < 0.05            # dex; a smooth 2-D toy
    assert np.isnan(emu.predict(np.array([[-1.0, 8.0]]))).all()
    back = GridEmulator.load(emu.save(tmp_path / "emu"))
    np.testing.assert_allclose(back.predict(theta), emu.predict(theta), rtol=0, atol=1e-6)
    lin = GridEmulator("linear").fit(grid, lines=LINES)
    np.testing.assert_array_equal(GridEmulator.load(lin.save(tmp_path / "lin")).predict(theta), lin.predict(theta))


def test_bad_input(grid):
    with pytest.raises(GridError, match="not in grid"):
        GridEmulator().fit(grid, lines=["OIII5007", "NeV3426"])
    with pytest.raises(ValueError, match="method"):
        GridEmulator("cubic").fit(grid)
    emu = GridEmulator().fit(grid, lines=LINES)
    with pytest.raises(ValueError, match="expected 2 columns"):
        emu.predict(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no columns"):
        emu.predict(pd.DataFrame({"log U": [-3.0]}))
