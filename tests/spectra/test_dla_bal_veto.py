"""DLAFinder BAL veto: the C IV region it reads, the factor it applies, its effect on detections, bad input."""

import functools

import numpy as np
import pytest

from agnlab.spectra import DLAFinder, QuasarSimulator

C_KMS = 299792.458


def _unfitted_with_grid():
    est = DLAFinder()
    est.wave_grid_aa_ = est._geometry()[0]
    return est


@functools.lru_cache(maxsize=None)
def _pretrained():
    return DLAFinder.pretrained(n_jobs=1, progress=False)


def test_civ_region_is_the_flux_blueward_of_civ_in_units_of_the_flux_scale():
    wave = np.arange(3600.0, 9600.0, 0.5)
    flux = np.full((2, wave.size), 2.0)
    ivar = np.ones_like(flux)
    est = DLAFinder()
    X, i0, empty, civ = est.preprocess(wave, flux, ivar, np.array([3.0, 6.5]), civ=True)
    assert civ.shape[0] == 2 and civ.shape[1] == int(np.ceil(0.055 / est.dlog10))
    # z = 3: C IV at 6196 A, all inside; flux / (median flux at rest 1270-1350 A) = 1 (to float32 rounding)
    assert np.all(np.isfinite(civ[0]))
    np.testing.assert_allclose(civ[0], 1.0, atol=1e-5)
    # z = 6.5: rest 1380-1567 A (C IV - 0.05 dex ..) lies beyond the spectrum: nothing to read (NaN), and no veto
    assert np.all(np.isnan(civ[1]))
    assert len(est.preprocess(wave, flux, ivar, np.array([3.0, 6.5]))) == 3  # default output unchanged


def test_veto_factor_follows_a_civ_trough_to_its_lyman_alpha_and_nv_velocities():
    est = _unfitted_with_grid()
    grid = est.wave_grid_aa_
    _, lo, n_win = est._geometry()
    z = np.array([3.0])
    i0 = est._starts(z, grid, lo)
    loglam_c = est._cell_loglam(i0, n_win // 8, grid)
    c0, n_civ = est._civ_geometry(z, grid)
    # a C IV trough at blueshift 8000-12000 km/s with 20 % of the flux left; flux 1 elsewhere
    v_civ = C_KMS * (1.0 - grid[c0[0] + np.arange(n_civ)] / (1549.06 * 4.0))
    civ = np.where((v_civ > 8000) & (v_civ < 12000), 0.2, 1.0)[None].astype(np.float32)
    f = est._bal_veto(civ, loglam_c, z)
    for lam0 in (1215.67, 1240.81):  # the cell as a Lyman-alpha trough and as an N V trough
        v_cell = C_KMS * (1.0 - 10 ** (loglam_c[0] - np.log10(lam0 * 4.0)))
        inside = (v_cell > 9000) & (v_cell < 11000)
        assert inside.any() and np.all(f[0, inside] < 0.01)  # Phi((0.2 - 0.55) / 0.1) = 2e-4
    v_lya = C_KMS * (1.0 - 10 ** (loglam_c[0] - np.log10(1215.67 * 4.0)))
    v_nv = C_KMS * (1.0 - 10 ** (loglam_c[0] - np.log10(1240.81 * 4.0)))
    far = (np.abs(v_lya - 10000) > 4000) & (np.abs(v_nv - 10000) > 4000)
    assert np.all(f[0, far] > 0.99)  # Phi((1 - 0.55) / 0.1) = 1 - 3e-6
    # switched off, or nothing to read: no veto
    assert est.set_params(bal_veto_ratio=0.0)._bal_veto(civ, loglam_c, z) == 1.0
    est.set_params(bal_veto_ratio=0.55)
    assert np.all(est._bal_veto(np.full_like(civ, np.nan), loglam_c, z) == 1.0)


def test_veto_lowers_confidences_on_bal_quasars_and_barely_touches_others():
    est = _pretrained()
    for frac, check in ((1.0, "bal"), (0.0, "plain")):
        b = QuasarSimulator(seed=5, bal_fraction=frac, mag_range=(18.0, 20.0)).simulate(40, progress=False)
        z = b.truth["z_qso"].to_numpy()
        off = est.set_params(bal_veto_ratio=0.0).detect(b, z_qso=z, threshold=0.02)[1]["score"].to_numpy()
        on = est.set_params(bal_veto_ratio=0.55).detect(b, z_qso=z, threshold=0.02)[1]["score"].to_numpy()
        assert np.all(on <= off + 1e-12)  # a factor <= 1 on every cell
        if check == "bal":  # some BAL troughs looked like DLAs to the network and are now vetoed
            assert np.sum(on < 0.5 * off) >= 1
        else:  # no C IV troughs: scores within 2 % (R ~ 0.8-1 gives factors 0.994-1)
            hit = off > 0.1
            assert np.median(on[hit] / off[hit]) > 0.98


def test_bad_veto_settings_raise_and_settings_survive_save_load(tmp_path):
    est = _pretrained()
    b = QuasarSimulator(seed=6, mag_range=(18.0, 20.0)).simulate(3, progress=False)
    for bad in ({"bal_veto_ratio": -0.1}, {"bal_veto_width": 0.0}, {"bal_veto_ratio": float("nan")}):
        with pytest.raises(ValueError, match="bal_veto"):
            DLAFinder.load(est.save(tmp_path / "m.npz")).set_params(**bad).detect(b)
    est.set_params(bal_veto_ratio=0.6, bal_veto_width=0.07).save(tmp_path / "v.npz")
    back = DLAFinder.load(tmp_path / "v.npz")
    assert (back.bal_veto_ratio, back.bal_veto_width) == (0.6, 0.07)
    est.set_params(bal_veto_ratio=0.55, bal_veto_width=0.1)
