"""The H I column-density distribution against the published incidences; proximate systems; absorber table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnlab.spectra import (
    LOG_N_TAU2,
    ColumnDensityDistribution,
    DLAModel,
    ForestModel,
    QuasarSimulator,
    absorber_kind,
    read_spectra,
    sample_absorbers,
)

C_KMS = 299792.458

# published incidences per unit redshift
#  - tau_912 >= 2 (log N >= 17.5): Prochaska, O'Meara & Worseck (2010), l(z) = 1.9 [(1+z)/4.7]^1.94
#  - DLAs: Noterdaeme et al. (2012, SDSS DR9) dN/dX ~ 0.048 at z ~ 2.5 and ~0.07 at z ~ 3.5
#    (Prochaska & Wolfe 2009 agree), times dX/dz = 3.33 and 3.82
#  - sub-DLAs (19 <= log N < 20.3): the f(N, X) of Prochaska et al. (2014) with its (1+z)^1.5 evolution
#    in X (pyigm fN model): l(X) = 0.156 at z = 2.4, i.e. 0.54 per unit z at z = 2.5
LLS_POW10 = {2.5: 1.9 * (3.5 / 4.7) ** 1.94, 3.5: 1.9 * (4.5 / 4.7) ** 1.94}
DLA_N12 = {2.5: 0.048 * 3.33, 3.5: 0.07 * 3.82}
SUBDLA_P14 = {2.5: 0.156 * (3.5 / 3.4) ** 1.5 * 3.33}


@pytest.fixture(scope="module")
def many_sightlines():
    """Optically thick systems on 20,000 sight lines to z = 4.5 (the H I systems only: fast)."""
    n = 20000
    rngs = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(5, spawn_key=(i, 3)))) for i in range(n)]
    return n, sample_absorbers(ForestModel(), DLAModel(), rngs, np.full(n, 4.5), 2.0)


def _per_dz(systems, n, z0, lo, hi=99.0, dz=0.1):
    m = (np.abs(systems.z_abs - z0) < dz) & (systems.log_nhi >= lo) & (systems.log_nhi < hi)
    return m.sum() / (n * 2 * dz)


@pytest.mark.parametrize("z0", [2.5, 3.5])
def test_lls_and_dla_incidence_match_measurements(many_sightlines, z0):
    n, sy = many_sightlines
    # the criterion: within 20 % of the measurements (Poisson error here: < 4 %)
    np.testing.assert_allclose(_per_dz(sy, n, z0, LOG_N_TAU2), LLS_POW10[z0], rtol=0.2)
    np.testing.assert_allclose(_per_dz(sy, n, z0, 20.3), DLA_N12[z0], rtol=0.2)


def test_subdla_incidence_and_evolution(many_sightlines):
    n, sy = many_sightlines
    sub25 = _per_dz(sy, n, 2.5, 19.0, 20.3)
    np.testing.assert_allclose(sub25, SUBDLA_P14[2.5], rtol=0.2)
    # more systems at higher redshift, as measured for all three classes (e.g. Zafar et al. 2013)
    for lo, hi in ((17.2, 19.0), (19.0, 20.3), (20.3, 23.0)):
        assert _per_dz(sy, n, 3.5, lo, hi) > 1.3 * _per_dz(sy, n, 2.5, lo, hi)


def test_cddf_shape_is_the_prochaska_spline():
    c = ColumnDensityDistribution()
    np.testing.assert_allclose(c.log_f_shape([12.0, 17.0, 20.0, 22.0]), [-9.72, -17.94, -21.28, -25.50], atol=1e-12)
    # pyigm's test of this spline: l(X) = 0.363 for log N >= 17.49 at z = 2.4
    np.testing.assert_allclose(c.shape_integral(17.19 + np.log10(2.0), 23.0), 0.363, rtol=0.01)
    # the cumulative incidence is the integral of the incidence, and its inverse inverts it
    zz = np.linspace(2.0, 3.0, 2001)
    np.testing.assert_allclose(np.trapezoid(c.incidence_per_dz(zz, 19.0, 20.3), zz),
                               c.cumulative_incidence(3.0, 19.0, 20.3) - c.cumulative_incidence(2.0, 19.0, 20.3),
                               rtol=1e-6)
    np.testing.assert_allclose(c.inverse_cumulative_incidence(c.cumulative_incidence(3.3, 17.2, 19), 17.2, 19), 3.3,
                               rtol=1e-10)
    np.testing.assert_array_equal(absorber_kind([17.0, 17.2, 18.99, 19.0, 20.29, 20.3]),
                                  ["forest", "lls", "lls", "subdla", "subdla", "dla"])
    with pytest.raises(ValueError, match="increasing"):
        ColumnDensityDistribution(pivot_log_n=(12.0, 11.0), pivot_log_f=(-9.0, -10.0))
    with pytest.raises(ValueError, match="lls_incidence"):
        ColumnDensityDistribution(lls_incidence=(-1.0, 4.7, 1.94))


def test_proximate_systems_allowed_and_flagged():
    s = QuasarSimulator(seed=3, z_range=(3.0, 3.5), dla_rate_per_dz=2.0, noise=False, metals=False,
                        bal_fraction=0.0).simulate(60)
    ab = s.absorbers
    zq = s.truth["z_qso"].to_numpy()[ab["spec_index"]]
    dv = (zq - ab["z_abs"].to_numpy()) / (1 + zq) * C_KMS
    assert np.all(dv >= 0)
    np.testing.assert_array_equal(ab["proximate"].to_numpy(), dv < 3000.0)
    assert ab["proximate"].sum() > 0
    np.testing.assert_array_equal(s.truth["n_proximate"], np.bincount(ab["spec_index"][ab["proximate"]],
                                                                      minlength=len(s)))
    far = QuasarSimulator(seed=3, z_range=(3.0, 3.5), dla_rate_per_dz=2.0, noise=False, metals=False,
                          bal_fraction=0.0, proximate=False).simulate(20)
    assert not far.absorbers["proximate"].any()


@pytest.mark.parametrize("ext", ["h5", "fits"])
def test_absorbers_and_new_truth_round_trip(tmp_path, ext):
    s = QuasarSimulator(seed=11, z_range=(3.0, 3.5), dla_rate_per_dz=1.0, bal_fraction=0.5).simulate(6)
    path = s.write(tmp_path / f"s.{ext}")
    r = read_spectra(path)
    pd.testing.assert_frame_equal(r.absorbers, s.absorbers)
    for col in ("bal", "balnicity_kms", "n_subdla", "n_proximate", "n_civ", "n_mgii"):
        np.testing.assert_array_equal(r.truth[col].to_numpy(), s.truth[col].to_numpy())
    # subsets and joins keep the absorber table consistent with the spectra
    sub = s[[4, 1]]
    expect = s.absorbers[s.absorbers["spec_index"] == 4]
    np.testing.assert_allclose(sub.absorbers.loc[sub.absorbers["spec_index"] == 0, "z_abs"], expect["z_abs"],
                               rtol=0, atol=0)
    both = type(s).concatenate([s[:3], s[3:]])
    pd.testing.assert_frame_equal(both.absorbers, s.absorbers)
    if ext == "h5":  # the streaming writer appends the absorber table batch by batch
        sim = QuasarSimulator(seed=11, z_range=(3.0, 3.5), dla_rate_per_dz=1.0, bal_fraction=0.5)
        streamed = read_spectra(sim.simulate_to_file(tmp_path / "stream.h5", 6, chunk_size=4))
        pd.testing.assert_frame_equal(streamed.absorbers, s.absorbers)


def test_new_parameters_validated():
    for kw, match in ((dict(bal_fraction=1.5), "bal_fraction"), (dict(bal_fraction="x"), "bal_fraction"),
                      (dict(sky_residual_frac=-0.1), "sky_residual_frac"),
                      (dict(dla_rate_per_dz="many"), "dla_rate_per_dz"),
                      (dict(dla_log_nhi_range=(19.5, 22.0)), "sub-DLAs")):
        with pytest.raises(ValueError, match=match):
            QuasarSimulator(**kw)
    for kw in (dict(metals="yes"), dict(proximate=1)):
        with pytest.raises(TypeError, match=next(iter(kw))):
            QuasarSimulator(**kw)
