"""The built-in clumpy-torus-like generator (an approximation of CLUMPY)."""

import numpy as np
import pytest

from agnlab.grids import (
    CLUMPY_PARAM_NAMES,
    CLUMPY_PARAM_RANGES,
    CLUMPY_WAVE_UM,
    ModelGrid,
    clumpy_like_grid,
    clumpy_like_regular_grid,
    clumpy_like_sed,
)

BASE = np.array([40.0, 5.0, 30.0, 20.0, 1.5, 45.0])


def _vary(name, values):
    p = np.tile(BASE, (len(values), 1))
    p[:, CLUMPY_PARAM_NAMES.index(name)] = values
    return clumpy_like_sed(p)


def _idx(um):
    return int(np.argmin(np.abs(CLUMPY_WAVE_UM - um)))


def test_wave_grid_is_the_clumpy_grid(shared_data):
    real = np.load(shared_data / "torus" / "clumpy_nenkova08_3p.npz")["wave_um"]
    assert CLUMPY_WAVE_UM.shape == (119,)
    # the AGNfitter copy went through frequency; nominal CLUMPY values differ by a factor 1.000309
    np.testing.assert_allclose(CLUMPY_WAVE_UM * 1.000309, real, rtol=1e-6)


def test_grid_shapes_positive_and_deterministic(seed):
    g1 = clumpy_like_grid(300, seed=seed)
    g2 = clumpy_like_grid(300, seed=seed)
    g3 = clumpy_like_grid(300, seed=seed + 1)
    assert isinstance(g1, ModelGrid)
    assert g1.params.shape == (300, 6) and g1.flux.shape == (300, 119)
    assert g1.param_names == CLUMPY_PARAM_NAMES
    assert np.all(np.isfinite(g1.flux)) and np.all(g1.flux > 0)
    np.testing.assert_array_equal(g1.flux, g2.flux)
    assert not np.allclose(g1.params, g3.params, rtol=1e-3, atol=0)
    for j, name in enumerate(CLUMPY_PARAM_NAMES):
        lo, hi = CLUMPY_PARAM_RANGES[name]
        assert g1.params[:, j].min() >= lo and g1.params[:, j].max() <= hi


def test_energy_conservation_bolometric_below_covering():
    # angle-averaged luminosity equals the covering factor (< 1); single views scatter around it
    p = np.tile(BASE, (10, 1))
    p[:, 5] = np.linspace(0, 90, 10)
    fnu = clumpy_like_sed(p)
    nu = 2.99792458e14 / CLUMPY_WAVE_UM
    lbol = -np.trapezoid(fnu, nu, axis=1)
    assert np.all(lbol > 0.05) and np.all(lbol < 1.5)


def test_physical_trends():
    # edge-on views hide the hot dust: less near-IR relative to mid-IR than face-on
    f = _vary("i", [0.0, 90.0])
    ratio = f[:, _idx(2.179)] / f[:, _idx(12.0)]
    assert ratio[1] < 0.5 * ratio[0]
    # 9.7 um silicate: emission for thin clouds face-on, absorption for thick clouds edge-on with many clouds
    p = np.array([[10.0, 3.0, 30.0, 20.0, 1.5, 0.0], [300.0, 15.0, 60.0, 20.0, 1.5, 90.0]])
    f = clumpy_like_sed(p)
    cont = np.sqrt(f[:, _idx(7.0)] * f[:, _idx(13.5)])  # geometric mean of the continuum around the feature
    strength = np.log(f[:, _idx(9.7)] / cont)
    assert strength[0] > 0.05 and strength[1] < strength[0] - 0.2
    # larger tori (Y) emit more far-IR relative to mid-IR
    f = _vary("Y", [5.0, 100.0])
    assert f[1, _idx(58.31)] / f[1, _idx(12.0)] > 3 * f[0, _idx(58.31)] / f[0, _idx(12.0)]


def test_include_agn_adds_direct_light_face_on():
    p = np.array([[40.0, 5.0, 30.0, 20.0, 1.5, 0.0], [40.0, 15.0, 70.0, 20.0, 1.5, 90.0]])
    tor = clumpy_like_sed(p)
    both = clumpy_like_sed(p, include_agn=True)
    k = _idx(0.1)
    assert both[0, k] > 100 * tor[0, k]      # unobscured: the disk dominates the UV
    assert both[1, k] < 2.0 * tor[1, k] + 1e-300 or both[1, k] < 1e-3 * both[0, k]  # obscured: hidden
    np.testing.assert_array_less(tor - 1e-300, both)


def test_regular_grid_is_cartesian():
    vals = {"tv": [10, 100], "N0": [5], "sig": [30, 60], "Y": [20], "q": [1], "i": [0, 45, 90]}
    g = clumpy_like_regular_grid(vals)
    assert g.flux.shape == (12, 119)
    assert sorted(np.unique(g.params[:, 5]).tolist()) == [0.0, 45.0, 90.0]
    np.testing.assert_allclose(g.flux[0], clumpy_like_sed(g.params[:1])[0], rtol=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="tv"):
        clumpy_like_sed(np.array([[5.0, 5.0, 30.0, 20.0, 1.5, 45.0]]))
    with pytest.raises(ValueError, match="6 columns"):
        clumpy_like_sed(np.ones((2, 5)))
    with pytest.raises(ValueError, match="non-finite"):
        clumpy_like_sed(np.array([[np.nan, 5.0, 30.0, 20.0, 1.5, 45.0]]))
    with pytest.raises(ValueError, match="unknown parameter"):
        clumpy_like_grid(10, ranges={"tau": (10, 20)})
    with pytest.raises(ValueError, match="unknown parameter"):
        clumpy_like_regular_grid({"foo": [1, 2]})
    with pytest.raises(ValueError, match="n_models"):
        clumpy_like_grid(0)


def test_narrower_ranges_respected(seed):
    g = clumpy_like_grid(50, seed=seed, ranges={"i": (80.0, 90.0)})
    assert g.params[:, 5].min() >= 80.0 and g.params[:, 5].max() <= 90.0
