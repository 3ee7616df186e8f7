"""Synthetic photometry: response matrices agree with speclite; units, redshift, bad input."""

import numpy as np
import pytest

from agnlab.grids import CLUMPY_WAVE_UM, clumpy_like_grid
from agnlab.photometry import (
    VEGA_AB_OFFSETS,
    accretion_disk_fnu,
    available_bands,
    redshift_sed,
    response_matrix,
    synthetic_colors,
    synthetic_mags,
)


@pytest.fixture(scope="module")
def builtin_grid():
    return clumpy_like_grid(200, seed=0)


def test_matrix_matches_speclite_builtin(builtin_grid):
    g = builtin_grid
    for z in (0.0, 0.7):
        fast = synthetic_mags(g.wave_um, g.flux[:40], z=z)
        ref = synthetic_mags(g.wave_um, g.flux[:40], z=z, method="speclite")
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-3)


def test_matrix_matches_speclite_real_grid(shared_data):
    d = np.load(shared_data / "torus" / "clumpy_nenkova08_3p.npz")
    wave, fnu = d["wave_um"], d["fnu"][::27]      # fluxes ~1e-80: handled via per-SED scaling
    fast = synthetic_mags(wave, fnu, bands=("W1", "W2", "W3", "W4"))
    ref = synthetic_mags(wave, fnu, bands=("W1", "W2", "W3", "W4"), method="speclite")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-3)
    assert np.all(np.isfinite(fast))


def test_optical_bands_match_speclite(builtin_grid):
    g = builtin_grid
    bands = ("g", "r", "decam2014-z", "sdss2010noatm-i")
    fast = synthetic_mags(g.wave_um, g.flux[:10], bands=bands, system="ab")
    ref = synthetic_mags(g.wave_um, g.flux[:10], bands=bands, system="ab", method="speclite")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-3)


def test_flat_ab_spectrum_and_vega_offsets():
    wave = np.logspace(-1, 2, 2000)
    flat = np.full(wave.size, 3631e-23)                  # 3631 Jy in erg/s/cm2/Hz
    ab = synthetic_mags(wave, flat, system="ab")
    np.testing.assert_allclose(ab, 0.0, atol=2e-3)
    vega = synthetic_mags(wave, flat, system="vega")
    np.testing.assert_allclose(ab - vega, [2.699, 3.339, 5.174, 6.620], rtol=0, atol=1e-12)
    assert VEGA_AB_OFFSETS["wise2010-W3"] == pytest.approx(5.174, abs=0)


def test_scaling_shifts_magnitudes_not_colours(builtin_grid):
    g = builtin_grid
    c1 = synthetic_colors(g.wave_um, g.flux[:5])
    c2 = synthetic_colors(g.wave_um, g.flux[:5] * 1e-60)
    np.testing.assert_allclose(c1, c2, rtol=0, atol=1e-9)
    m1 = synthetic_mags(g.wave_um, g.flux[:5])
    m2 = synthetic_mags(g.wave_um, g.flux[:5] * 10.0)
    np.testing.assert_allclose(m1 - m2, 2.5, rtol=0, atol=1e-9)


def test_single_sed_and_colors_shape(builtin_grid):
    g = builtin_grid
    m = synthetic_mags(g.wave_um, g.flux[0])
    assert m.shape == (4,)
    c = synthetic_colors(g.wave_um, g.flux[:3], colors=(("W1", "W2"), ("W2", "W3"), ("W3", "W4")))
    assert c.shape == (3, 3)
    m4 = synthetic_mags(g.wave_um, g.flux[:3])
    np.testing.assert_allclose(c[:, 0], m4[:, 0] - m4[:, 1], rtol=0, atol=1e-12)


def test_redshift_sed_factor():
    wave = np.array([1.0, 2.0, 3.0])
    fnu = np.array([[1.0, 2.0, 3.0]])
    w, f = redshift_sed(wave, fnu, 1.5)
    np.testing.assert_allclose(w, wave * 2.5, rtol=1e-15)
    np.testing.assert_allclose(f, fnu * 2.5, rtol=1e-15)
    with pytest.raises(ValueError, match="z"):
        redshift_sed(wave, fnu, -0.1)


def test_response_matrix_shape_and_cache():
    r1 = response_matrix(CLUMPY_WAVE_UM, ("W1", "W2"))
    r2 = response_matrix(CLUMPY_WAVE_UM, ("wise2010-W1", "wise2010-W2"))
    assert r1.shape == (2, 119) and r1 is r2
    assert not r1.flags.writeable


def test_disk_normalisation():
    wave = np.logspace(-3, 3, 20001)
    fnu = accretion_disk_fnu(wave, luminosity=2.0)
    nu = 2.99792458e14 / wave
    np.testing.assert_allclose(-np.trapezoid(fnu, nu), 2.0, rtol=1e-2)


def test_bad_inputs(builtin_grid):
    g = builtin_grid
    with pytest.raises(ValueError, match="unknown band"):
        synthetic_mags(g.wave_um, g.flux[:2], bands=("W5",))
    with pytest.raises(ValueError, match="<= 0"):
        synthetic_mags(g.wave_um, -g.flux[:2])
    with pytest.raises(ValueError, match="non-finite"):
        bad = g.flux[:2].copy()
        bad[0, 3] = np.nan
        synthetic_mags(g.wave_um, bad)
    with pytest.raises(ValueError, match="wave_um has"):
        synthetic_mags(g.wave_um[:-1], g.flux[:2])
    with pytest.raises(ValueError, match="system"):
        synthetic_mags(g.wave_um, g.flux[:2], system="st")
    with pytest.raises(ValueError, match="needs"):
        synthetic_mags(np.linspace(1, 5, 50), np.ones(50))       # does not cover W3 / W4
    with pytest.raises(ValueError, match="AB-Vega"):
        synthetic_mags(g.wave_um, g.flux[:2], bands=("g",), system="vega")
    assert "W1" in available_bands() and "decam2014-g" in available_bands()
