"""Metal lines, BAL troughs, the far-UV continuum and sky residuals against their published figures."""

from __future__ import annotations

import numpy as np
import pytest

from agnlab.spectra import (
    METAL_LINES,
    AbsorberSystems,
    ContinuumModel,
    Instrument,
    MetalModel,
    QuasarSimulator,
    add_line_tau,
    add_metal_tau,
    balnicity_index,
    doublet_columns,
)

C_KMS = 299792.458
DW = 0.02
WAVE = np.arange(3000.0, 9800.0, DW)


def _ew_obs(tau, lo, hi):
    m = (WAVE > lo) & (WAVE < hi)
    return np.sum(1.0 - np.exp(-tau[..., m]), axis=-1) * DW


@pytest.mark.parametrize("ion", ["CIV", "MgII"])
def test_doublet_positions_ratios_and_equivalent_width(ion):
    lines = METAL_LINES[ion]
    z = 1.7
    rngs = [np.random.default_rng([3, i]) for i in range(40)]
    comps, counts = MetalModel(w_min_aa=0.3).sample_doublets(rngs, np.full(40, 3.2), 3600.0, 9600.0)
    spec, zc, log_n, b = comps[ion]
    assert counts[ion].sum() > 0 and np.unique(spec).size == np.count_nonzero(counts[ion])
    # one synthetic doublet at z: both lines at (1 + z) lambda_rest, EW of the strong line as asked
    for w_target in (0.3, 0.8, 2.0):
        n_c = int(np.ceil(w_target * C_KMS / lines["wave_aa"][0] / 40.0))
        lc = doublet_columns(np.full(n_c, w_target / n_c), lines["wave_aa"][0], lines["f"][0])
        v = 45.0 * (np.arange(n_c) - 0.5 * (n_c - 1))
        tau = np.zeros((1, WAVE.size))
        add_metal_tau(tau, WAVE, {ion: (np.zeros(n_c, int), (1 + z) * (1 + v / C_KMS) - 1, lc, np.full(n_c, 10.0))})
        lam = lines["wave_aa"] * (1 + z)
        half = 0.5 * (lam[1] - lam[0])
        w1, w2 = _ew_obs(tau, lam[0] - half, lam[0] + half)[0], _ew_obs(tau, lam[1] - half, lam[1] + half)[0]
        np.testing.assert_allclose(w1 / (1 + z), w_target, rtol=0.05)
        assert 1.0 <= w1 / w2 <= 2.0 + 0.02  # doublet ratio: 2 unsaturated, -> 1 saturated
        for lam_k in lam:
            m = np.abs(WAVE - lam_k) < half
            cen = np.sum(WAVE[m] * (1 - np.exp(-tau[0, m]))) / np.sum(1 - np.exp(-tau[0, m]))
            np.testing.assert_allclose(cen, lam_k, atol=0.05)


def test_weak_doublet_ratio_is_the_oscillator_strength_ratio():
    lines = METAL_LINES["CIV"]
    lc = doublet_columns(np.array([0.02]), lines["wave_aa"][0], lines["f"][0])
    tau = np.zeros((1, WAVE.size))
    add_metal_tau(tau, WAVE, {"CIV": (np.zeros(1, int), np.array([2.0]), lc, np.array([10.0]))})
    lam = lines["wave_aa"] * 3.0
    w1, w2 = _ew_obs(tau, lam[0] - 3, lam[0] + 3)[0], _ew_obs(tau, lam[1] - 3, lam[1] + 3)[0]
    np.testing.assert_allclose(w1 / w2, lines["f"][0] * lines["wave_aa"][0] / (lines["f"][1] * lines["wave_aa"][1]),
                               rtol=0.05)


def test_metal_incidences_follow_the_measurements():
    m = MetalModel()
    # Cooksey et al. (2013): dN/dX(W >= 0.6 A) = 0.34 at z <= 1.96, 2.37 times lower at z = 4.55
    dxdz = lambda z: (1 + z) ** 2 / np.sqrt(0.3 * (1 + z) ** 3 + 0.7)  # noqa: E731
    np.testing.assert_allclose(m.civ_dn_dz(1.8, 0.6) / dxdz(1.8), 0.34, rtol=1e-6)
    np.testing.assert_allclose(m.civ_dn_dz(1.96, 0.6) / m.civ_dn_dz(4.55, 0.6) * dxdz(4.55) / dxdz(1.96), 2.37,
                               rtol=1e-6)
    # Nestor et al. (2005): dN/dz(W >= 0.3 A) = N* exp(-0.3 / W*) at z = 1
    np.testing.assert_allclose(m.mgii_dn_dz(1.0), 1.001 * 2 ** 0.226 * np.exp(-0.3 / (0.443 * 2 ** 0.634)), rtol=1e-9)
    # the simulated counts follow the incidence integrated over each sight line (Poisson, 4 sigma)
    n, zq = 300, 2.5
    _, counts = m.sample_doublets([np.random.default_rng([9, i]) for i in range(n)], np.full(n, zq), 3600.0, 9600.0)
    zz = np.linspace(3600 / 1548.204 - 1, zq, 2001)
    want = n * np.trapezoid(m.civ_dn_dz(zz), zz)
    assert abs(counts["CIV"].sum() - want) < 4 * np.sqrt(want)


def test_dla_si_ii_1526_follows_the_metallicity_relation():
    # Prochaska et al. (2008): [M/H] = 1.41 log W_1526 - 0.92 (0.25 dex scatter); simulated DLAs
    n = 300
    rng = np.random.default_rng(0)
    z = rng.uniform(2.0, 3.5, n)
    sy = AbsorberSystems(np.arange(n), z, rng.uniform(20.3, 21.5, n), np.full(n, 20.0), np.zeros(n, bool))
    comps, mh = MetalModel().sample_low_ions([np.random.default_rng([1, i]) for i in range(n)], sy)
    spec, zc, log_n, b = comps["SiII"]
    # every system moved to z = 2 (velocity offsets kept) on a local grid around Si II 1526
    z_at_2 = (1 + zc) / (1 + z[spec]) * 3.0 - 1.0
    wave = np.arange(4540.0, 4620.0, DW)
    tau = np.zeros((n, wave.size))
    add_line_tau(tau, wave, spec, z_at_2, log_n, b, transitions=METAL_LINES["SiII"][2:3], eps=1e-4)
    w1526 = np.sum(1 - np.exp(-tau), axis=1) * DW / 3.0
    resid = mh - (1.41 * np.log10(w1526) - 0.92)
    assert abs(np.median(resid)) < 0.2
    assert np.corrcoef(np.log10(w1526), mh)[0, 1] > 0.6
    assert set(comps) == {"SiII", "OI", "CII", "FeII", "AlII", "MgII"}
    # LLS (log N < 19) carry no low-ion lines
    lls = AbsorberSystems(np.zeros(1, int), np.array([2.5]), np.array([18.0]), np.array([20.0]), np.zeros(1, bool))
    assert MetalModel().sample_low_ions([np.random.default_rng(0)], lls)[0] == {}


def test_balnicity_index_definition():
    v = np.arange(0.0, 30000.0, 10.0)
    f = np.ones_like(v)
    f[(v >= 5000) & (v < 10000)] = 0.5  # 5000 km/s wide, depth 0.5
    np.testing.assert_allclose(balnicity_index(v, f), (1 - 0.5 / 0.9) * 3000.0, rtol=0.01)
    f[:] = 1.0
    f[(v >= 5000) & (v < 6500)] = 0.2  # narrower than 2000 km/s: not a BAL
    assert balnicity_index(v, f) == 0.0


def test_bal_fraction_balnicity_and_troughs():
    s = QuasarSimulator(seed=2, z_range=(2.2, 3.0), bal_fraction=0.5, noise=False, metals=False,
                        dla_rate_per_dz=0.0).simulate(60)
    t = s.truth
    k = int(t["bal"].sum())
    assert abs(k - 30) < 4 * np.sqrt(60 * 0.25)
    assert np.all(t.loc[t["bal"], "balnicity_kms"] > 0) and np.all(t.loc[~t["bal"], "balnicity_kms"] == 0)
    # the C IV trough sits at the recorded velocities: transmission < 1 there, 1 red of C IV
    for i in np.flatnonzero(t["bal"]):
        zq, v0, v1 = t.loc[i, ["z_qso", "bal_vmin_kms", "bal_vmax_kms"]]
        vm = 0.5 * (v0 + v1) / C_KMS
        lam = 1549.06 * (1 + zq) * np.sqrt((1 - vm) / (1 + vm))
        assert s.transmission[i, np.argmin(np.abs(s.wave_aa - lam))] < 0.9
    none = QuasarSimulator(seed=2, bal_fraction=0.0).simulate(8).truth
    assert not none["bal"].any()
    assert QuasarSimulator(seed=1).bal_fraction == 0.12  # the documented default


def test_far_uv_continuum_is_igm_free_power_law():
    m = ContinuumModel()
    p = m.mean_params(1)
    w = np.array([450.0, 780.0])  # blueward of the broad C III 977 wings
    f = m.evaluate_rest(p, w)[0]
    # f_lambda ~ lambda^-0.3 blueward of the break (Lusso et al. 2015: f_nu ~ nu^-1.7)
    np.testing.assert_allclose(np.log(f[1] / f[0]) / np.log(w[1] / w[0]), -0.30, atol=0.01)
    assert p["break_aa"][0] == pytest.approx(1000.0)
    # no IGM absorption folded in: the continuum rises from 1100 A to 950 A
    pl = m.powerlaw(np.array([[950.0, 1100.0]]), p)[0]
    assert pl[0] > pl[1]


def test_sky_residuals_scale_with_sky_lines():
    inst = Instrument()
    w = inst.wave_aa
    lines = np.zeros(w.size)
    for lo, hi, prof in inst.sky_line_profiles(w):
        lines[lo:hi] += prof
    # the per-line profiles are the lines of the instrument's sky spectrum (6 sigma windows)
    np.testing.assert_allclose(inst._sky_continuum(w) + lines, inst.sky_flux(w), rtol=1e-6)
    assert Instrument(sky_lines=False).sky_line_profiles(w) == []
    a = QuasarSimulator(seed=4, sky_residual_frac=0.0).simulate(6)
    b = QuasarSimulator(seed=4, sky_residual_frac=0.05).simulate(6)
    d = b.flux - a.flux
    sky_lines = np.zeros(a.n_pix)
    for lo, hi, prof in inst.sky_line_profiles(a.wave_aa):
        sky_lines[lo:hi] += prof
    assert np.all(d[:, sky_lines == 0] == 0)
    # residual ~ 5 % of the line, random in sign from spectrum to spectrum
    k = np.argmin(np.abs(a.wave_aa - 5577.34))
    ratio = d[:, k] / sky_lines[k]
    assert np.all(np.abs(ratio) < 0.3) and np.std(ratio) > 0.01
    assert (ratio > 0).any() and (ratio < 0).any()
    # the noise-free flux carries none
    c = QuasarSimulator(seed=4, noise=False, sky_residual_frac=0.05).simulate(2)
    np.testing.assert_allclose(c.flux, c.continuum * c.transmission, rtol=1e-5, atol=1e-6)
