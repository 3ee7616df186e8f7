"""Tests of the quasar spectra simulator (physics, determinism, validation)."""

from __future__ import annotations

import numpy as np
import pytest

from agnlab.spectra import (
    SIGMA_LL_CM2,
    ContinuumModel,
    ForestModel,
    Instrument,
    QuasarSimulator,
    SimulatedSpectra,
    add_line_tau,
    add_lyman_continuum_tau,
    rest_equivalent_width_aa,
    tau_eff_fg08,
    voigt_hjerting,
    voigt_hjerting_exact,
)

LYA = 1215.67


@pytest.fixture(scope="module")
def batch():
    return QuasarSimulator(seed=7).simulate(12, chunk_size=5)


def test_api_shapes_dtypes(batch):
    n, n_pix = 12, batch.wave_aa.size
    assert isinstance(batch, SimulatedSpectra)
    assert 23900 <= n_pix <= 24100
    np.testing.assert_allclose(batch.wave_aa[[0, -1]], [3600.0, 9600.0], rtol=0, atol=1e-6)
    for k in ("flux", "ivar", "continuum", "transmission"):
        a = getattr(batch, k)
        assert a.shape == (n, n_pix) and a.dtype == np.float32
        assert np.all(np.isfinite(a))
    assert np.all(batch.ivar > 0)
    assert np.all((batch.transmission >= -1e-6) & (batch.transmission <= 1 + 1e-6))
    for col in ("z_qso", "mag", "n_abs", "n_lls", "n_subdla", "n_dla", "z_dla", "log_nhi", "bal", "balnicity_kms"):
        assert col in batch.truth.columns
    assert batch.truth["z_qso"].between(2.0, 4.0).all()
    assert batch.truth["mag"].between(18.0, 22.5).all()
    assert batch.truth["n_dla"].sum() == len(batch.dlas)
    assert batch.truth["bal"].dtype == bool
    ab = batch.absorbers
    assert list(ab.columns) == ["spec_index", "z_abs", "log_nhi", "kind", "proximate"]
    assert (ab["log_nhi"] >= 17.2).all() and set(ab["kind"]) <= {"lls", "subdla", "dla"}
    # the DLA table and truth columns are the kind == 'dla' rows of the absorber table
    d = ab[ab["kind"] == "dla"]
    np.testing.assert_allclose(np.sort(d["z_abs"]), np.sort(batch.dlas["z_dla"]), rtol=0, atol=0)
    for col, kind in (("n_lls", "lls"), ("n_subdla", "subdla"), ("n_dla", "dla")):
        counts = np.bincount(ab.loc[ab["kind"] == kind, "spec_index"], minlength=len(batch))
        np.testing.assert_array_equal(batch.truth[col], counts)
    assert batch.truth.attrs == {}


def test_seeded_chunk_and_thread_invariant(batch):
    sim = QuasarSimulator(seed=7)
    a = sim.simulate(12, chunk_size=12)
    np.testing.assert_array_equal(a.flux, batch.flux)
    b = sim.simulate(12, chunk_size=3, n_jobs=2)
    np.testing.assert_array_equal(b.flux, batch.flux)
    tail = sim.simulate(4, start=8)
    np.testing.assert_array_equal(tail.flux, batch.flux[8:])
    for part in (a, b):
        assert part.truth.drop(columns=["z_dla", "log_nhi"]).equals(batch.truth.drop(columns=["z_dla", "log_nhi"]))
        assert part.absorbers.equals(batch.absorbers)
    np.testing.assert_allclose(tail.truth["z_qso"], batch.truth["z_qso"].to_numpy()[8:], rtol=0, atol=0)
    other = QuasarSimulator(seed=8).simulate(2)
    assert not np.allclose(other.flux, batch.flux[:2])


def test_noise_free_flux_and_magnitude():
    sim = QuasarSimulator(seed=3, noise=False, z_range=(2.5, 3.5))
    s = sim.simulate(6)
    np.testing.assert_allclose(s.flux, s.continuum * s.transmission, rtol=1e-5, atol=1e-6)
    num, den = sim._band
    mag = -2.5 * np.log10(np.sum(s.flux.astype(float) * num, axis=1) / den * 1e-17) - 48.6
    np.testing.assert_allclose(mag, s.truth["mag"], rtol=0, atol=1e-3)


def test_snr_scales_with_magnitude():
    bright = QuasarSimulator(seed=1, mag_range=(18.0, 18.0), z_range=(3, 3)).simulate(4)
    faint = QuasarSimulator(seed=1, mag_range=(20.5, 20.5), z_range=(3, 3)).simulate(4)
    assert bright.truth["snr_median"].min() > 2.0 * faint.truth["snr_median"].max()
    # the noise matches ivar: normalised residuals have unit variance
    s = QuasarSimulator(seed=2).simulate(4)
    resid = (s.flux - s.continuum * s.transmission) * np.sqrt(s.ivar)
    np.testing.assert_allclose(np.std(resid), 1.0, rtol=0.05, atol=0)


def test_voigt_approximation_matches_faddeeva():
    x = np.linspace(-30, 30, 6001)
    for a in (1e-4, 1e-3):
        h, e = voigt_hjerting(a, x), voigt_hjerting_exact(a, x)
        np.testing.assert_allclose(h, e, rtol=0, atol=2 * a)


def test_line_tau_equivalent_width_matches_curve_of_growth():
    wave = np.arange(2000.0, 6000.0, 0.05)
    for log_n, b in ((13.5, 25.0), (15.0, 20.0), (19.5, 30.0)):
        tau = np.zeros((1, wave.size))
        z = 2.0
        add_line_tau(tau, wave, np.array([0]), np.array([z]), np.array([log_n]), np.array([b]), max_transitions=1,
                     eps=1e-5)
        ew_obs = np.sum(1 - np.exp(-tau[0])) * 0.05
        ew_rest = float(rest_equivalent_width_aa(log_n, b))
        np.testing.assert_allclose(ew_obs / (1 + z), ew_rest, rtol=0.02)


def test_lyman_limit_optical_depth():
    wave = np.array([3000.0, 3500.0, 3600.0])
    tau = np.zeros((1, 3))
    z = 3500.0 / 911.753 - 1.0 + 1e-6
    add_lyman_continuum_tau(tau, wave, np.array([0]), np.array([z]), np.array([17.5]))
    edge = 911.753 * (1 + z)
    np.testing.assert_allclose(tau[0, :2], 10 ** 17.5 * SIGMA_LL_CM2 * (wave[:2] / edge) ** 3, rtol=1e-6)
    assert tau[0, 2] == 0.0


def test_forest_normalisation_reproduces_fg08():
    # forest + LLS + sub-DLAs together give the FG08 effective optical depth (DLAs come on top)
    fm = ForestModel()
    for z in (2.0, 3.0, 4.0):
        tau = (1 + z) / LYA * (fm.line_density(z) * fm.mean_rest_ew_aa() + fm.thick_line_density(z) *
                               fm.thick_rest_ew_aa())
        np.testing.assert_allclose(tau, tau_eff_fg08(z), rtol=1e-6)
    # cumulative number is the integral of the line density
    zz = np.linspace(2.0, 3.0, 2001)
    np.testing.assert_allclose(np.trapezoid(fm.line_density(zz), zz), fm.cumulative_number(3.0) -
                               fm.cumulative_number(2.0), rtol=1e-6)
    np.testing.assert_allclose(fm.inverse_cumulative(fm.cumulative_number(3.3)), 3.3, rtol=1e-9)


def _forest_mean(s, z0, dz=0.1):
    w = s.wave_aa
    zq = s.truth["z_qso"].to_numpy()
    rest = w[None, :] / (1 + zq[:, None])
    zp = np.broadcast_to(w / LYA - 1, rest.shape)
    m = (rest > 1041) & (rest < 1185) & (np.abs(zp - z0) < dz)
    return s.transmission[m].mean(), np.exp(-tau_eff_fg08(zp[m])).mean()


def test_mean_transmission_statistical():
    s = QuasarSimulator(seed=5, z_range=(2.8, 3.3), dla_rate_per_dz=0.0, noise=False, metals=False,
                        bal_fraction=0.0).simulate(60)
    got, want = _forest_mean(s, 3.0)
    np.testing.assert_allclose(got, want, rtol=0.04)
    n_abs = s.truth["n_abs"].to_numpy()
    assert np.all(n_abs > 300)


def test_mean_transmission_fg08_at_2_3_4():
    # the 3 % criterion at z = 2, 3, 4: H I as FG08 measured it (DLAs masked there, metals
    # corrected, no BALs); 120 noise-free sight lines whose forest covers z0 +- 0.1 each (the
    # sight-line-to-sight-line scatter of the mean is ~0.6 %, so 3 % is a 5 sigma bound)
    for z0, seed in ((2.0, 61), (3.0, 62), (4.0, 63)):
        zq = ((1 + z0 + 0.1) * LYA / 1185.0 - 1, (1 + z0 - 0.1) * LYA / 1041.0 - 1)
        s = QuasarSimulator(seed=seed, z_range=zq, dla_rate_per_dz=0.0, noise=False, metals=False,
                            bal_fraction=0.0).simulate(120)
        got, want = _forest_mean(s, z0)
        np.testing.assert_allclose(got, want, rtol=0.03)


def test_dlas_incidence_columns_and_damping():
    sim = QuasarSimulator(seed=4, dla_rate_per_dz=3.0, z_range=(3.0, 3.5), noise=False, proximate=False)
    s = sim.simulate(40)
    d = s.dlas
    assert len(d) > 0
    assert d["log_nhi"].between(20.3, 22.0).all()
    zq = s.truth["z_qso"].to_numpy()[d["spec_index"]]
    assert np.all(d["z_dla"] < zq)
    assert np.all(d["z_dla"] > 3600.0 / LYA - 1)
    # expected count: rate * dz summed over spectra (Poisson, 4 sigma)
    z_lo = (3610.0) / LYA - 1
    expect = np.sum(3.0 * (s.truth["z_qso"] - (1 + s.truth["z_qso"]) * 3000 / 299792.458 - z_lo))
    assert abs(len(d) - expect) < 4 * np.sqrt(expect)
    # damped Lyman-alpha: the transmission is black at the line centre
    for _, row in d.iterrows():
        pix = np.argmin(np.abs(s.wave_aa - LYA * (1 + row.z_dla)))
        assert s.transmission[int(row.spec_index), pix] < 0.02
    # list columns agree with the DLA table
    for i, zl in enumerate(s.truth["z_dla"]):
        np.testing.assert_allclose(np.sort(zl), np.sort(d.loc[d.spec_index == i, "z_dla"]), rtol=0, atol=0)
    assert np.all(QuasarSimulator(seed=4, dla_rate_per_dz=0.0).simulate(5).truth["n_dla"] == 0)


def test_high_redshift_and_custom_instrument():
    inst = Instrument(wave_min_aa=5000.0, wave_max_aa=9000.0, dwave_aa=0.5, resolution=(3000.0, 3000.0))
    s = QuasarSimulator(seed=2, z_range=(4.8, 5.0), instrument=inst, mag_band="i").simulate(3)
    assert s.flux.shape == (3, inst.wave_aa.size)
    rest = s.wave_aa[None, :] / (1 + s.truth["z_qso"].to_numpy()[:, None])
    forest = (rest > 1041) & (rest < 1185)
    assert s.transmission[forest].mean() < 0.35


def test_subset_and_concatenate(batch):
    sub = batch[[1, 3, 5]]
    assert len(sub) == 3
    np.testing.assert_array_equal(sub.flux, batch.flux[[1, 3, 5]])
    assert set(sub.dlas["spec_index"]) <= {0, 1, 2}
    both = SimulatedSpectra.concatenate([batch[:6], batch[6:]])
    np.testing.assert_array_equal(both.flux, batch.flux)
    assert len(both.dlas) == len(batch.dlas)


@pytest.mark.parametrize("kwargs, match", [
    (dict(z_range=(4.0, 2.0)), "z_range"),
    (dict(z_range=(2.0, 9.0)), "z_range"),
    (dict(mag_range=(18.0, float("nan"))), "mag_range"),
    (dict(seed=-1), "seed"),
    (dict(dla_rate_per_dz=-0.1), "dla_rate_per_dz"),
    (dict(dla_log_nhi_range=(22.0, 20.3)), "log_nhi_range"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QuasarSimulator(**kwargs)


def test_bad_calls():
    sim = QuasarSimulator()
    with pytest.raises(ValueError, match="n must be"):
        sim.simulate(0)
    with pytest.raises(TypeError, match="n must be an int"):
        sim.simulate(2.5)
    with pytest.raises(TypeError, match="instrument"):
        QuasarSimulator(instrument="4MOST")
    with pytest.raises(ValueError, match="band"):
        QuasarSimulator(instrument=Instrument(wave_min_aa=7000.0, wave_max_aa=9000.0))
    with pytest.raises(ValueError, match="wave_min_aa"):
        Instrument(wave_min_aa=9000.0, wave_max_aa=4000.0)
    with pytest.raises(ValueError, match="redder mag_band"):
        QuasarSimulator(z_range=(6.5, 7.0), mag_band="g").simulate(1)


# ---------------------------------------------------------------------------
# continuum against the SDSS DR16Q mean spectrum (redrock HIZ templates)
# ---------------------------------------------------------------------------


def _redrock_mean(shared_data):
    from agnlab.spectra import read_redrock_templates

    wave, eig = read_redrock_templates(shared_data / "qso" / "rrtemplate-QSO-HIZ-v1.1.fits")
    return wave, eig[0] / np.interp(1450.0, wave, eig[0])


def _centroid(w, f, lam, half):
    m = (w > lam - half) & (w < lam + half)
    x, y = w[m], f[m]
    base = np.interp(x, [x[0], x[-1]], [y[0], y[-1]])
    top = y - base
    top = np.where(top > 0.5 * top.max(), top, 0.0)
    return np.sum(x * top) / np.sum(top)


def test_mean_continuum_follows_sdss_mean_quasar(shared_data):
    from agnlab.spectra import relative_log_luminosity

    wave, ref = _redrock_mean(shared_data)
    sel = (wave > 1100) & (wave < 3000)
    # exclude the 300 km/s redward of Ly-alpha: the template has a step there (its forest
    # correction stops at 1215.67 A, see the file header), not a feature of quasars
    sel &= ~((wave > 1215.67) & (wave < 1216.9))
    w = wave[sel]
    n = 1000
    rng = np.random.default_rng(0)
    z, mag = rng.uniform(2.0, 4.0, n), rng.uniform(18.0, 20.5, n)
    m = ContinuumModel()
    p = m.sample_params([np.random.default_rng(i) for i in range(n)], relative_log_luminosity(z, mag))
    spec = m.evaluate_rest(p, w)
    spec /= np.array([np.interp(1450.0, w, s) for s in spec])[:, None]
    mean = spec.mean(axis=0)
    np.testing.assert_allclose(mean, ref[sel], rtol=0.10)
    # emission-line peaks at the right (blueshifted) wavelengths: centroids within 300 km/s
    for lam, half in ((1215.67, 12.0), (1549.06, 25.0), (1908.73, 30.0), (2798.75, 30.0)):
        c_sim, c_ref = _centroid(w, mean, lam, half), _centroid(wave, ref, lam, half)
        np.testing.assert_allclose(c_sim, c_ref, rtol=300.0 / 299792.458)
    # C IV is blueshifted in both
    assert _centroid(w, mean, 1549.06, 25.0) < 1549.06


def test_simulated_continuum_equals_model_on_grid():
    s = QuasarSimulator(seed=9, noise=False).simulate(3)
    ratio = s.continuum / s.continuum.max(axis=1, keepdims=True)
    assert np.all(ratio > 0)
    # the Ly-alpha emission line sits at (1 + z) 1216 A
    for i, z in enumerate(s.truth["z_qso"]):
        m = np.abs(s.wave_aa / (1 + z) - 1216.0) < 40.0
        peak = s.wave_aa[m][np.argmax(s.continuum[i, m])] / (1 + z)
        np.testing.assert_allclose(peak, 1215.0, atol=6.0)


def test_pca_template_family(shared_data):
    from agnlab.spectra import read_redrock_templates

    t = read_redrock_templates(shared_data / "qso" / "rrtemplate-QSO-HIZ-v1.1.fits")
    s = QuasarSimulator(seed=1, templates=t, noise=False).simulate(3)
    assert np.all(np.isfinite(s.continuum)) and np.all(s.continuum >= 0)
    assert s.meta["continuum"] == "templates"
    with pytest.raises(ValueError, match="templates"):
        QuasarSimulator(templates=(t[0][:10], t[1]))


def test_iter_chunks_and_process_backend(batch):
    sim = QuasarSimulator(seed=7)
    parts = list(sim.iter_chunks(12, chunk_size=5))
    assert [len(p) for p in parts] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate([p.flux for p in parts]), batch.flux)
    np.testing.assert_array_equal(np.concatenate([p.truth["obj_index"] for p in parts]), np.arange(12))
    proc = sim.simulate(6, chunk_size=3, n_jobs=2, backend="processes")
    np.testing.assert_array_equal(proc.flux, batch.flux[:6])
    with pytest.raises(ValueError, match="backend"):
        sim.simulate(2, n_jobs=2, backend="mpi")
