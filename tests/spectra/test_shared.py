"""One rebinning for both learned models (rebin_spectra, predict_quasars) and the raw rebinning fast path."""

import functools
import types
import warnings

import numpy as np
import pytest

from agnlab.constants import C_KMS
from agnlab.spectra import (
    DLAFinder,
    LogRebinner,
    QuasarSimulator,
    RebinnedSpectra,
    RedshiftEstimator,
    SpectraWarning,
    clean_spectra,
    log_wave_grid,
    predict_quasars,
    rebin_spectra,
    shared_grid,
)


@functools.lru_cache(maxsize=None)
def _spectra(n: int = 40):
    return QuasarSimulator(seed=91, mag_range=(18.0, 21.0), dla_rate_per_dz=0.5).simulate(n, progress=False)


@functools.lru_cache(maxsize=None)
def _models():
    return (RedshiftEstimator.pretrained(n_jobs=1, progress=False),
            DLAFinder.pretrained(n_jobs=1, progress=False))


def _grid_model(grid):
    return types.SimpleNamespace(wave_grid_aa_=grid)


def test_rebin_raw_matches_clean_then_rebin_and_masks_bad_pixels():
    b = _spectra()
    flux, ivar = b.flux[:8].copy(), b.ivar[:8].copy()
    flux[1, 100:140] = np.nan
    ivar[2, 5000:5010] = np.inf
    reb = LogRebinner(b.wave_aa, log_wave_grid(3600.0, 9600.0, 1e-4))
    reb.block = 3  # several blocks, clean and NaN-holding ones mixed
    f1, i1, n_masked = reb.rebin_raw(flux, ivar)
    _, fc, ic, n_ref = clean_spectra(b.wave_aa, flux, ivar)
    f2, i2 = reb(fc, ic)
    assert n_masked == n_ref == 50
    np.testing.assert_allclose(f1, f2, rtol=1e-6, atol=1e-6 * np.abs(f2).max())  # float32 rounding
    np.testing.assert_allclose(i1, i2, rtol=1e-6, atol=0)
    assert np.all(np.isfinite(f1)) and np.all(np.isfinite(i1))
    dense = np.asarray(fc * ic) @ reb.matrix_.toarray()  # the documented product W^T (ivar * flux)
    np.testing.assert_allclose(i1 * f1, np.where(reb.covered, dense, 0), rtol=1e-4, atol=1e-3 * np.abs(dense).max())
    bad = ivar.copy()
    bad[0, 10] = -1.0
    with pytest.raises(ValueError, match="negative ivar"):
        reb.rebin_raw(flux, bad)


def test_shared_grid_nests_the_model_grids_and_coarse_bins_are_reproduced():
    b = _spectra()
    coarse = log_wave_grid(3600.0, 9600.0, 3e-4)[:1408]
    fine = log_wave_grid(3600.0, 9600.0, 1e-4)
    grid = shared_grid(_grid_model(coarse), _grid_model(fine))
    assert np.log10(grid[1] / grid[0]) == pytest.approx(1e-4, rel=1e-9)
    assert grid[0] < fine[0] and grid[-1] > fine[-1]
    shared = rebin_spectra(b, wave_out_aa=grid)
    assert isinstance(shared, RebinnedSpectra) and len(shared) == len(b.flux)
    assert shared.truth is b.truth  # the source's truth table travels with the container
    direct_f, direct_i, _ = LogRebinner(b.wave_aa, coarse).rebin_raw(b.flux, b.ivar)
    via_f, via_i, _ = LogRebinner(grid, coarse).rebin_raw(shared.flux, shared.ivar)
    inner = slice(1, -1)  # the end bins depend on how much of them the input covers
    np.testing.assert_allclose(via_i[:, inner], direct_i[:, inner], rtol=2e-5, atol=0)
    np.testing.assert_allclose(via_f[:, inner], direct_f[:, inner], rtol=2e-4, atol=2e-4 * np.abs(direct_f).max())
    with pytest.raises(ValueError, match="not nested"):
        shared_grid(_grid_model(log_wave_grid(3600.0, 9600.0, 2.5e-4)), _grid_model(fine))


def test_predict_quasars_matches_the_two_raw_calls():
    zest, dla = _models()
    b = _spectra()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectraWarning)
        z_raw = zest.predict(b)
        dl_raw, sp_raw = dla.detect(b, z_qso=z_raw)
        z, dl, sp = predict_quasars(b, redshift_model=zest, dla_model=dla)
    dv = C_KMS * np.abs(z["z_pred"].to_numpy() - z_raw["z_pred"].to_numpy()) / (1 + z_raw["z_pred"].to_numpy())
    # stated tolerance: the shared grid differs from raw rebinning only in the first/last redshift-grid bin
    assert np.median(dv) < 1.0 and np.mean(dv < 20.0) >= 0.95
    assert np.mean(z["flag"].to_numpy() == z_raw["flag"].to_numpy()) >= 0.95
    same = np.abs(z["z_pred"].to_numpy() - z_raw["z_pred"].to_numpy()) < 1e-6
    np.testing.assert_allclose(sp["score"].to_numpy()[same], sp_raw["score"].to_numpy()[same], rtol=0, atol=1e-4)
    assert list(sp.columns) == list(sp_raw.columns) and list(dl.columns) == list(dl_raw.columns)
    # array form, and NaN pixels masked with a warning (not silently propagated)
    flux = b.flux[:5].copy()
    flux[0, :300] = np.nan
    with pytest.warns(SpectraWarning, match="300 pixels"):
        z5, _, sp5 = predict_quasars(b.wave_aa, flux, b.ivar[:5], redshift_model=zest, dla_model=dla)
    assert len(z5) == 5 and np.all(np.isfinite(z5["z_pred"])) and len(sp5) == 5
