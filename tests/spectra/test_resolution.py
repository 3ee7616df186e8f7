"""The degrade-and-rebin step (match_resolution), continuum restoration, and the CNNs' per-spectrum scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnlab.spectra import (
    DLAFinder,
    Instrument,
    ObservedSpectra,
    RedshiftEstimator,
    SpectrumFlag,
    degrade_resolution,
    match_resolution,
    model_lsf_sigma_kms,
    restore_continuum,
)

C_KMS = 299792.458


def log_grid(lo, hi, dv_kms):
    d = dv_kms / C_KMS / np.log(10)
    return 10 ** np.arange(np.log10(lo), np.log10(hi), d)


def lines(wave, centres, sigma_kms, depth=0.5):
    """Unit continuum with Gaussian absorption lines of velocity width ``sigma_kms`` (scalar or per pixel)."""
    out = np.ones_like(wave)
    for c in centres:
        out -= depth * np.exp(-0.5 * (np.log(wave / c) * C_KMS / sigma_kms) ** 2)
    return out


def observed(wave, flux, ivar, lsf_kms, flag=0):
    flux, ivar = np.atleast_2d(flux), np.atleast_2d(ivar)
    n = flux.shape[0]
    meta = pd.DataFrame({"flag": np.full(n, flag, np.int64), "file": "x", "source": "x[0]"})
    lsf = np.broadcast_to(np.asarray(lsf_kms, float), flux.shape).astype(np.float32)
    return ObservedSpectra(wave, flux.astype(np.float32), ivar.astype(np.float32), ivar <= 0, meta, lsf)


def test_model_lsf_is_the_instrument_one():
    inst = Instrument()
    w = np.array([3600.0, 9600.0])
    np.testing.assert_allclose(model_lsf_sigma_kms(w), C_KMS / np.array([4000.0, 7500.0]) / 2.35482, rtol=1e-5)
    np.testing.assert_allclose(model_lsf_sigma_kms(w, inst), model_lsf_sigma_kms(w), rtol=0)


def test_degrade_sharp_lines_to_the_model_width():
    """Echelle-like input (sigma 5 km/s, 1.5 km/s pixels): after the step the lines have the model's width."""
    wave = log_grid(4000.0, 4400.0, 1.5)
    centres = [4100.0, 4250.0]
    flux = lines(wave, centres, 5.0)
    target = model_lsf_sigma_kms(wave)
    f, iv = degrade_resolution(wave, flux[None], np.ones((1, wave.size)), 5.0, target)
    # Gaussian (5 km/s) * Gaussian (sqrt(target^2 - 5^2)) = Gaussian of the target width, depth x 5 / target
    expect = 1 - (1 - lines(wave, centres, target)) * 5.0 / target
    np.testing.assert_allclose(f[0], expect, rtol=0, atol=2e-3)
    # equivalent width (flux) conserved to 0.1 %
    ew_in = np.trapezoid(1 - flux, wave)
    ew_out = np.trapezoid(1 - f[0], wave)
    np.testing.assert_allclose(ew_out, ew_in, rtol=1e-3)
    # a broader input is left alone
    f2, iv2 = degrade_resolution(wave, flux[None], np.ones((1, wave.size)), 60.0, target)
    np.testing.assert_array_equal(f2[0], flux.astype(np.float32))


def test_masked_pixels_carry_no_weight_and_stay_masked():
    wave = log_grid(4000.0, 4100.0, 2.0)
    flux = np.ones((1, wave.size))
    ivar = np.ones((1, wave.size))
    flux[0, 500] = 1e6          # a cosmic ray, masked
    ivar[0, 500] = 0.0
    f, iv = degrade_resolution(wave, flux, ivar, 3.0, 30.0)
    assert iv[0, 500] == 0
    np.testing.assert_allclose(f[0, iv[0] > 0], 1.0, rtol=1e-6)


def test_noise_after_degrade_and_rebin_matches_ivar():
    """White noise, degraded (kernel ~ 30 km/s) then rebinned onto 207 km/s bins: the scatter of the rebinned
    pixels agrees with 1/sqrt(ivar) to 10 % (the smoothing-induced correlation is not counted as extra S/N)."""
    rng = np.random.default_rng(3)
    wave = log_grid(5000.0, 6000.0, 3.0)
    noise = rng.standard_normal((100, wave.size))
    f, iv = degrade_resolution(wave, 1.0 + noise, np.ones_like(noise), 2.0, 30.0)
    from agnlab.spectra import LogRebinner, log_wave_grid

    grid = log_wave_grid(5100.0, 5900.0, 3e-4)
    fr, ir = LogRebinner(wave, grid)(f, iv)
    pull = (fr - 1.0) * np.sqrt(ir)
    assert 0.9 < np.std(pull) < 1.1


def test_match_resolution_flags_and_grid():
    inst = Instrument()
    # SDSS-like: 69 km/s pixels, sigma 69 km/s, full coverage -> on the training grid, flagged broader
    w_sdss = log_grid(3580.0, 10300.0, 69.0)
    sdss = observed(w_sdss, 2.0 + 0 * w_sdss, np.ones(w_sdss.size), 69.0)
    m = match_resolution(sdss)
    np.testing.assert_array_equal(m.wave_aa, inst.wave_aa)
    assert m.meta["flag"][0] == SpectrumFlag.BROADER_THAN_MODEL
    np.testing.assert_allclose(m.flux[0][m.ivar[0] > 0], 2.0, rtol=1e-5)
    assert m.meta["model_coverage"][0] > 0.99
    # ivar is conserved through the rebin: summed over the grid it equals the input's (in range)
    inside = (w_sdss > inst.wave_aa[0] + 1) & (w_sdss < inst.wave_aa[-1] - 1)
    np.testing.assert_allclose(m.ivar.sum(), inside.sum(), rtol=0.01)
    # echelle piece 4000-5000 A: covers < 50 % of the model grid -> OUTSIDE_MODEL_RANGE
    w_ech = log_grid(4000.0, 5000.0, 2.0)
    ech = observed(w_ech, lines(w_ech, [4500.0], 4.0), np.ones(w_ech.size), 4.0)
    m2 = match_resolution(ech)
    assert m2.meta["flag"][0] == SpectrumFlag.OUTSIDE_MODEL_RANGE
    # after the step the LSF is the model's where the input was sharper
    j = int(np.argmin(abs(m2.wave_aa - 4500.0)))
    np.testing.assert_allclose(m2.lsf_sigma_kms[0, j], model_lsf_sigma_kms(4500.0), rtol=1e-4)
    # unknown resolution: flagged, and no smoothing applied
    unk = observed(w_ech, lines(w_ech, [4500.0], 4.0), np.ones(w_ech.size), np.nan)
    m3 = match_resolution(unk)
    assert m3.meta["flag"][0] & SpectrumFlag.RESOLUTION_UNKNOWN
    ok = m2.ivar[0] > 0
    assert m3.flux[0][ok].min() < m2.flux[0][ok].min() - 0.05   # the sharper, unsmoothed line is deeper
    m4 = match_resolution(unk, resolution=60000.0)              # an explicit R overrides
    assert not m4.meta["flag"][0] & SpectrumFlag.RESOLUTION_UNKNOWN
    np.testing.assert_allclose(m4.flux[0], m2.flux[0], atol=0.01)


def test_restore_continuum_only_on_normalised_rows():
    wave = Instrument().wave_aa[::8]
    flux = np.ones((2, wave.size))
    s = observed(wave, flux, np.ones_like(flux), 30.0)
    s.meta.loc[0, "flag"] = int(SpectrumFlag.CONTINUUM_NORMALISED)
    r = restore_continuum(s, [3.0, 3.0])
    np.testing.assert_array_equal(r.flux[1], s.flux[1])
    from agnlab.spectra import ContinuumModel

    cm = ContinuumModel()
    c = cm.evaluate_observed(wave, np.array([3.0]), cm.mean_params(1))[0]
    np.testing.assert_allclose(r.flux[0], c / np.median(c), rtol=1e-5)
    np.testing.assert_allclose(r.ivar[0], (np.median(c) / c) ** 2, rtol=1e-5)
    # Ly-alpha emission now stands above the red continuum, as in the training spectra
    lya = int(np.argmin(abs(wave - 1216.0 * 4)))
    assert r.flux[0, lya] > 1.5 * np.median(r.flux[0])
    with pytest.raises(ValueError, match="redshifts"):
        restore_continuum(s, [3.0])


@pytest.mark.parametrize("factor", [1e-3, 1e4])
def test_networks_normalise_each_spectrum(factor):
    """The CNN inputs do not depend on the flux scale: flux * a with ivar / a^2 gives the same features, so
    flux-calibrated (any unit) and continuum-normalised input share one scale."""
    rng = np.random.default_rng(0)
    wave = Instrument().wave_aa
    flux = 3.0 + 0.3 * rng.standard_normal((3, wave.size))
    ivar = np.full_like(flux, 25.0)
    a, _ = RedshiftEstimator().preprocess(wave, flux, ivar)
    b, _ = RedshiftEstimator().preprocess(wave, flux * factor, ivar / factor ** 2)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    z = np.full(3, 3.0)
    a, _, _ = DLAFinder().preprocess(wave, flux, ivar, z)
    b, _, _ = DLAFinder().preprocess(wave, flux * factor, ivar / factor ** 2, z)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_match_resolution_in_chunks_is_the_same():
    rng = np.random.default_rng(5)
    wave = log_grid(3700.0, 9500.0, 8.0)
    flux = lines(wave, [4100.0, 6000.0], 6.0)[None] + 0.05 * rng.standard_normal((5, wave.size))
    s = observed(wave, flux, np.full(flux.shape, 400.0), 6.0)
    whole = match_resolution(s)
    parts = match_resolution(s, chunk_rows=2)
    np.testing.assert_allclose(parts.flux, whole.flux, rtol=0, atol=1e-6)
    np.testing.assert_allclose(parts.ivar, whole.ivar, rtol=1e-6)
    np.testing.assert_array_equal(parts.meta["flag"], whole.meta["flag"])
