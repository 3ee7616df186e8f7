"""Log-wavelength rebinning: conservation, masking, grid checks."""

import numpy as np
import pytest

from agnlab.spectra import LogRebinner, clean_spectra, log_wave_grid, rebin_log


def test_log_grid_is_uniform_in_log10():
    g = log_wave_grid(3600.0, 9600.0, 3e-4)
    np.testing.assert_allclose(np.diff(np.log10(g)), 3e-4, rtol=0, atol=1e-12)
    assert g[0] == pytest.approx(3600.0, rel=1e-12)
    assert g[-1] <= 9600.0 * (1 + 1e-9)


def test_constant_spectrum_is_preserved_and_ivar_adds_up(rng):
    wave = np.arange(3600.0, 9600.0, 0.25)
    grid = log_wave_grid(3700.0, 9500.0, 3e-4)
    flux = np.full((3, wave.size), 2.5)
    ivar = np.full((3, wave.size), 4.0)
    f, iv = rebin_log(wave, flux, ivar, grid)
    np.testing.assert_allclose(f, 2.5, rtol=1e-5, atol=0)
    # total inverse variance is conserved (each input pixel distributes its weight)
    inside = (wave > grid[0] * 10**1.5e-4) & (wave < grid[-1] / 10**1.5e-4)
    assert iv.sum(axis=1) == pytest.approx(np.full(3, 4.0 * inside.sum()), rel=2e-3)


def test_ivar_weighted_mean_and_masked_pixels_not_propagated():
    wave = np.linspace(4000.0, 4100.0, 2001)
    grid = log_wave_grid(4010.0, 4090.0, 4e-4)
    rng = np.random.default_rng(1)
    flux = rng.normal(1.0, 0.1, (2, wave.size))
    ivar = rng.uniform(1.0, 3.0, (2, wave.size))
    flux_bad = flux.copy()
    flux_bad[:, ::7] = np.nan
    ivar_bad = ivar.copy()
    ivar_bad[:, 3::11] = 0.0
    flux_bad[:, 3::11] = 1e6  # masked by ivar = 0: must not leak
    f, iv = rebin_log(wave, flux_bad, ivar_bad, grid)
    assert np.all(np.isfinite(f))
    assert np.all(np.abs(f - 1.0) < 0.1)
    # explicit weighted mean for one bin
    reb = LogRebinner(wave, grid)
    _, fc, ic, n_masked = clean_spectra(wave, flux_bad, ivar_bad)
    assert n_masked == int(np.isnan(flux_bad).sum())
    w = reb.matrix_[:, 10].toarray().ravel()
    expect = np.sum(w * ic[0] * fc[0]) / np.sum(w * ic[0])
    assert f[0, 10] == pytest.approx(expect, rel=1e-5)


def test_fully_masked_region_gives_zero_ivar():
    wave = np.arange(3600.0, 9600.0, 0.25)
    grid = log_wave_grid(3600.0, 9600.0, 3e-4)
    flux = np.ones((1, wave.size))
    ivar = np.ones((1, wave.size))
    ivar[0, (wave > 5000) & (wave < 5200)] = 0.0
    f, iv = rebin_log(wave, flux, ivar, grid)
    hole = (grid > 5005) & (grid < 5195)
    assert np.all(iv[0, hole] == 0.0) and np.all(f[0, hole] == 0.0)


def test_coarser_input_grid_is_resampled():
    wave = np.linspace(3000.0, 10000.0, 300)
    grid = log_wave_grid(3600.0, 9600.0, 3e-4)
    f, iv = rebin_log(wave, np.ones((1, 300)), np.ones((1, 300)), grid)
    np.testing.assert_allclose(f, 1.0, rtol=1e-5, atol=0)


def test_bad_inputs_raise_with_named_problem():
    wave = np.arange(3600.0, 9600.0, 0.25)
    grid = log_wave_grid(3600.0, 9600.0, 3e-4)
    flux = np.ones((2, wave.size))
    ivar = np.ones((2, wave.size))
    with pytest.raises(ValueError, match="wave grid mismatch"):
        rebin_log(wave[:-5], flux, ivar, grid)
    with pytest.raises(ValueError, match="strictly increasing"):
        rebin_log(wave[::-1], flux, ivar, grid)
    bad = ivar.copy()
    bad[1, 5] = -1.0
    with pytest.raises(ValueError, match="negative ivar"):
        rebin_log(wave, flux, bad, grid)
    with pytest.raises(ValueError, match="covers only"):
        LogRebinner(np.linspace(9000.0, 9600.0, 100), grid)
    with pytest.raises(ValueError, match="no spectra"):
        clean_spectra(wave, np.ones((0, wave.size)), np.ones((0, wave.size)))
    with pytest.raises(ValueError, match="differ"):
        clean_spectra(wave, flux, ivar[:1])
