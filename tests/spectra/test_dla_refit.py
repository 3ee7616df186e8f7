"""Voigt refit of DLA candidates (``DLAFinder(voigt_refit=True)``): log NHI recovery on synthetic DLAs through
the public preprocess/detect path, bad input, and persistence (files without the option load with it off)."""

import numpy as np
import pytest
from scipy.special import wofz

from agnlab.constants import LYA_AA
from agnlab.io import load_artifact, save_artifact
from agnlab.spectra import DLAFinder, DLANet


def _lya_tau(wave_aa, z_abs, log_nhi, b_kms=30.0):
    """Ly-alpha Voigt optical depth (Faddeeva function; f = 0.4164, Gamma = 6.265e8 s^-1), independent of agnlab."""
    c = 299792.458
    x = c * (wave_aa / (LYA_AA * (1 + z_abs)) - 1) / b_kms
    a = 6.265e8 * LYA_AA * 1e-13 / (4 * np.pi * b_kms)
    return 1.4974e-15 * 0.4164 * LYA_AA / b_kms * 10 ** log_nhi * wofz(x + 1j * a).real


def _spectra(seed, n, snr, *, forest=True, z_qso=3.0):
    """Raw spectra on the finder's grid: sloped continuum, narrow forest lines, one DLA each, Gaussian noise."""
    rng = np.random.default_rng(seed)
    est = DLAFinder()
    wave = est._geometry()[0]
    z_abs = rng.uniform(2.55, 2.9, n)
    log_n = rng.uniform(20.4, 21.3, n)  # above the DLA limit: all reported
    cont = 1.0 + 0.2 * (wave / 5000.0 - 1)
    flux = np.empty((n, wave.size))
    lo, hi = LYA_AA * (1 + 2.4), LYA_AA * (1 + z_qso)
    for i in range(n):
        trans = np.exp(-_lya_tau(wave, z_abs[i], log_n[i]))
        if forest:
            for lam in rng.uniform(lo, hi, 80):
                trans *= np.exp(-rng.exponential(1.0) * np.exp(-0.5 * ((wave - lam) / (lam * 1.5e-4)) ** 2))
        flux[i] = cont * trans + rng.normal(0, 1.0 / snr, wave.size)
    ivar = np.full_like(flux, float(snr) ** 2)
    return est, wave, flux, ivar, np.full(n, z_qso), z_abs, log_n


def _network_says(est, X, i0, z_abs, cnn_log_nhi, presence_logit=3.0):
    """Fix the network's output: a candidate at each true DLA (cell + offset) with the given log NHI."""
    grid, lo, n_win = est._geometry()
    n_cells = n_win // 8
    out = np.zeros((len(i0), 3, n_cells), np.float32)
    out[:, 0] = -20.0
    p = (np.log10(LYA_AA * (1 + z_abs)) - np.log10(grid[0])) / est.dlog10 - i0
    u = (p - 3.5) / 8
    cell = np.rint(u).astype(int)
    rows = np.arange(len(i0))
    out[rows, 0, cell] = presence_logit
    out[rows, 1, cell] = u - cell
    out[:, 2] = ((np.asarray(cnn_log_nhi, float) - 20.8) / 0.5)[:, None]
    est.net_ = object()
    est.wave_grid_aa_, est.n_window_, est.z_range_ = grid, n_win, (1.8, 4.4)
    est._raw = lambda X_, batch_size=64: out
    return est


def _refit_only(est):
    """A wide network error and a tight fit error: the reported log NHI is the Voigt fit's."""
    return est.set_params(voigt_refit=True, nhi_sigma=3.0, nhi_sigma_snr=0.0, refit_sigma_floor=1e-3,
                          refit_sigma_scale=1.0, threshold=0.01)


def test_noise_free_profile_is_recovered():
    est, wave, flux, ivar, zq, z_abs, log_n = _spectra(0, 6, 1000.0, forest=False)
    X, i0, empty = est.preprocess(wave, flux, ivar, zq)
    est = _refit_only(_network_says(est, X, i0, z_abs, np.full(6, 20.3)))
    dl, _ = est.detect_preprocessed(X, i0, zq, empty)
    assert len(dl) == 6
    np.testing.assert_allclose(dl.sort_values("spec_index")["log_nhi"], log_n, rtol=0, atol=0.02)


def test_recovers_log_nhi_through_forest_and_noise():
    """S/N 10 per pixel, forest lines clipped, network log NHI off by 0.5 dex: median |error| <= 0.05 dex and
    90 % within 0.15 dex."""
    est, wave, flux, ivar, zq, z_abs, log_n = _spectra(1, 40, 10.0)
    X, i0, empty = est.preprocess(wave, flux, ivar, zq)
    cnn = log_n + np.where(np.arange(40) % 2, 0.5, -0.5)
    est = _refit_only(_network_says(est, X, i0, z_abs, cnn))
    dl, _ = est.detect_preprocessed(X, i0, zq, empty)
    err = dl.sort_values("spec_index")["log_nhi"].to_numpy() - log_n
    assert err.size == 40
    assert np.median(np.abs(err)) <= 0.05
    assert np.quantile(np.abs(err), 0.9) <= 0.15


def test_refit_off_keeps_the_network_and_masked_windows_keep_it_too():
    est, wave, flux, ivar, zq, z_abs, log_n = _spectra(3, 2, 10.0)
    ivar[1] = 0.0  # all masked: the window is empty, nothing is reported for it
    X, i0, empty = est.preprocess(wave, flux, ivar, zq)
    est = _network_says(est, X, i0, z_abs, np.full(2, 20.5)).set_params(threshold=0.01)
    base, _ = est.detect_preprocessed(X, i0, zq, empty)
    _refit_only(est)
    dl, sp = est.detect_preprocessed(X, i0, zq, empty)
    assert empty.tolist() == [False, True] and sp["flag"].tolist() == ["ok", "empty"]
    assert base["log_nhi"].tolist() == pytest.approx([20.5], abs=1e-5)
    assert len(dl) == 1 and abs(dl["log_nhi"].iloc[0] - log_n[0]) <= 0.15


def _without_and_with_refit(seed, snr, *, true_nhi, network_nhi, noise_seed, threshold):
    """One absorber of ``true_nhi`` on a tilted continuum at S/N ``snr``; the network is made to say
    ``network_nhi``. Returns the DLA list without the refit, and the list and spectrum table with it."""
    est, wave, flux, ivar, zq, z_abs, _ = _spectra(seed, 1, snr, forest=False)
    flux = (1.0 + 0.2 * (wave / 5000.0 - 1)) * np.exp(-_lya_tau(wave, z_abs[0], true_nhi))[None]
    flux = flux + np.random.default_rng(noise_seed).normal(0, 1 / snr, flux.shape)
    X, i0, empty = est.preprocess(wave, flux, ivar, zq)
    est = _network_says(est, X, i0, z_abs, [network_nhi]).set_params(nhi_sigma=0.15, threshold=threshold)
    base, _ = est.detect_preprocessed(X, i0, zq, empty)
    est.set_params(voigt_refit=True, refit_sigma_floor=0.05, refit_sigma_scale=1.0)
    dl, sp = est.detect_preprocessed(X, i0, zq, empty)
    return base, dl, sp


def test_detect_with_refit_raises_the_confidence_of_an_underestimated_dla():
    """The network says 20.0 (a sub-DLA); the spectrum holds a log NHI = 20.7 DLA at S/N 8: with the refit the
    reported log NHI is within 0.15 dex of 20.7, the confidence and the spectrum score rise."""
    base, dl, sp = _without_and_with_refit(5, 8.0, true_nhi=20.7, network_nhi=20.0, noise_seed=6, threshold=0.02)
    assert len(dl) == 1 and len(base) == 1
    assert abs(dl["log_nhi"].iloc[0] - 20.7) <= 0.15
    assert dl["confidence"].iloc[0] > base["confidence"].iloc[0] + 0.3
    assert sp["score"].iloc[0] == pytest.approx(dl["confidence"].iloc[0], abs=1e-12)


@pytest.mark.parametrize("params", [{"refit_sigma_floor": 0.0}, {"refit_sigma_scale": float("nan")}])
def test_bad_refit_errors_raise(params):
    est, wave, flux, ivar, zq, z_abs, _ = _spectra(7, 1, 10.0, forest=False)
    X, i0, empty = est.preprocess(wave, flux, ivar, zq)
    est = _network_says(est, X, i0, z_abs, [20.2]).set_params(voigt_refit=True, **params)
    with pytest.raises(ValueError, match="refit_sigma_floor and refit_sigma_scale"):
        est.detect_preprocessed(X, i0, zq, empty)


def test_refit_is_saved_and_files_without_it_load_with_refit_off(tmp_path):
    est = DLAFinder(channels=(4, 4, 4, 4), voigt_refit=True, refit_sigma_floor=0.07)
    grid, _, n_win = est._geometry()
    est._set_net(DLANet(channels=(4, 4, 4, 4), dilations=est.dilations, kernel=est.kernel))
    est.wave_grid_aa_, est.n_window_, est.z_range_ = grid, n_win, (1.8, 4.4)
    path = est.save(tmp_path / "refit.npz")
    back = DLAFinder.load(path)
    assert back.voigt_refit is True and back.refit_sigma_floor == pytest.approx(0.07, abs=0)
    arrays, meta = load_artifact(path)
    for key in ("voigt_refit", "refit_sigma_floor", "refit_sigma_scale", "refit_min_presence"):
        meta["params"].pop(key)
    kind = meta.pop("_kind")
    old = save_artifact(tmp_path / "old.npz", kind=kind, arrays=arrays,
                        metadata={k: v for k, v in meta.items() if not k.startswith("_")})
    assert DLAFinder.load(old).voigt_refit is False


def test_refit_lowers_the_confidence_of_an_overestimated_subdla():
    """A log NHI = 19.9 sub-DLA (S/N 15) that the network puts at 20.5: the refit brings the confidence from
    > 0.8 to < 0.2 (sub-DLAs just below the limit are the main false detections)."""
    base, _, sp = _without_and_with_refit(8, 15.0, true_nhi=19.9, network_nhi=20.5, noise_seed=9, threshold=0.01)
    assert base["confidence"].iloc[0] > 0.8
    assert sp["score"].iloc[0] < 0.2
