"""Monte Carlo propagation over IFU maps."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyneb")

from agnlab.nebular import (  # noqa: E402
    FLAG_NAMES,
    SPAXEL_FLAG_CODES,
    line_emissivities,
    make_synthetic_cube,
    monte_carlo_temden,
)


def exact_cube(est, te, ne):
    fl = {}
    for spec in (est.tem_spec_, est.den_spec_):
        for k, v in line_emissivities(spec, np.ravel(te), np.ravel(ne)).items():
            fl[k] = v.reshape(np.shape(te)) * 1e22
    return fl


def test_cube_with_nan_spaxels(est_small, seed):
    cube = make_synthetic_cube((14, 12), seed=seed)
    res = monte_carlo_temden(est_small, cube["fluxes"], cube["errors"], n_draws=40, seed=seed)
    assert res.te_k.shape == (14, 12)
    assert res.te_k_percentiles.shape == (3, 14, 12)
    nan_mask = cube["nan_mask"]
    assert nan_mask.any()
    # every spaxel with a NaN line is kept and marked, none dropped
    np.testing.assert_array_equal(res.spaxel_flags[nan_mask], 1)
    assert np.all(np.isnan(res.te_k[nan_mask])) and np.all(res.valid_fraction[nan_mask] == 0)
    ok = res.spaxel_flags == 0
    assert ok.sum() > 0.8 * (~nan_mask).sum()
    assert np.all((res.valid_fraction >= 0) & (res.valid_fraction <= 1))
    p16, p50, p84 = res.te_k_percentiles
    assert np.all(p16[ok] <= res.te_k[ok] + 1e-9) and np.all(res.te_k[ok] <= p84[ok] + 1e-9)
    np.testing.assert_allclose(p50[ok], res.te_k[ok], rtol=1e-12, atol=0)
    # the medians follow the truth (statistically: median over the map)
    assert np.median(np.abs(res.te_k[ok] - cube["te_k"][ok])) < 600.0  # K
    assert np.median(np.abs(res.log_ne[ok] - cube["log_ne"][ok])) < 0.2  # dex
    s = res.summary()
    assert s["n_spaxels"] == 14 * 12 and s["spaxel_flags"]["no_data"] == int(nan_mask.sum())
    assert set(SPAXEL_FLAG_CODES) == {0, 1, 2, 3, 4}
    arrays = res.to_arrays()
    assert arrays["valid_fraction"].shape == (14, 12)
    # string flags: the nominal inversion and the dominant failure of each spaxel
    assert set(np.unique(res.nominal_flags)) <= set(FLAG_NAMES) | {"none"}
    assert np.all(res.nominal_flags[nan_mask] == "none")
    assert set(np.unique(res.dominant_flag)) <= set(FLAG_NAMES[1:]) | {"none"}
    assert arrays["dominant_flag"].dtype.kind == "U"      # saved without pickle


def test_zero_errors_reproduce_nominal(est_small):
    te = np.array([[9000.0, 12000.0], [15000.0, 10000.0]])
    ne = np.array([[1e2, 1e3], [1e4, 3e2]])
    fl = exact_cube(est_small, te, ne)
    err = {k: np.zeros_like(v) for k, v in fl.items()}
    res = monte_carlo_temden(est_small, fl, err, n_draws=5, seed=1)
    np.testing.assert_allclose(res.te_k, te, rtol=1e-5, atol=0)
    np.testing.assert_allclose(res.log_ne, np.log10(ne), rtol=0, atol=1e-4)
    np.testing.assert_allclose(res.te_k_percentiles[0], res.te_k_nominal, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(res.valid_fraction, 1.0)


def test_statistics_match_linear_propagation(est_small, rng):
    """1 % errors on the [O III] lines: Te scatter matches the analytic derivative."""
    n = 400
    te = np.full((1, n), 12000.0)
    ne = np.full((1, n), 1e3)
    fl = exact_cube(est_small, te, ne)
    err = {k: np.zeros_like(v) for k, v in fl.items()}
    err["O3_4363A"] = 0.01 * fl["O3_4363A"]
    res = monte_carlo_temden(est_small, fl, err, n_draws=50, seed=3)
    # d ln r / d ln Te from the surrogate
    r1 = est_small.forward(12000.0 * 1.001, 3.0)[0]
    r0 = est_small.forward(12000.0 / 1.001, 3.0)[0]
    slope = (np.log(r1) - np.log(r0)) / (2 * np.log(1.001))
    sigma_te = 12000.0 * 0.01 / slope
    half_width = 0.5 * (res.te_k_percentiles[2] - res.te_k_percentiles[0])
    np.testing.assert_allclose(np.median(half_width), sigma_te, rtol=0.1, atol=0)
    np.testing.assert_allclose(np.median(res.te_k), 12000.0, rtol=2e-3, atol=0)


def test_reproducible_and_thread_independent(est_small, seed):
    cube = make_synthetic_cube((10, 10), seed=seed)
    kw = dict(n_draws=20, seed=7, chunk_pairs=300)
    a = monte_carlo_temden(est_small, cube["fluxes"], cube["errors"], **kw)
    b = monte_carlo_temden(est_small, cube["fluxes"], cube["errors"], n_jobs=2, **kw)
    np.testing.assert_array_equal(a.te_k, b.te_k)
    np.testing.assert_array_equal(a.log_ne_percentiles, b.log_ne_percentiles)
    np.testing.assert_array_equal(a.spaxel_flags, b.spaxel_flags)


def test_array_input_and_bad_inputs(est_small, seed):
    cube = make_synthetic_cube((6, 5), seed=seed)
    F = np.stack([cube["fluxes"][k] for k in est_small.lines_])
    E = np.stack([cube["errors"][k] for k in est_small.lines_])
    a = monte_carlo_temden(est_small, F, E, n_draws=10, seed=0)
    b = monte_carlo_temden(est_small, cube["fluxes"], cube["errors"], n_draws=10, seed=0)
    np.testing.assert_array_equal(a.te_k, b.te_k)
    with pytest.raises(ValueError, match="n_lines"):
        monte_carlo_temden(est_small, F[:2], E, n_draws=10)
    fl = dict(cube["fluxes"])
    del fl["S2_6716A"]
    with pytest.raises(KeyError, match="S2_6716A"):
        monte_carlo_temden(est_small, fl, cube["errors"])
    with pytest.raises(ValueError, match="n_draws"):
        monte_carlo_temden(est_small, cube["fluxes"], cube["errors"], n_draws=0)
    with pytest.raises(ValueError, match="percentiles"):
        monte_carlo_temden(est_small, cube["fluxes"], cube["errors"], percentiles=(5, 120))
    bad = {k: v.copy() for k, v in cube["errors"].items()}
    bad["O3_5007A"][0, 0] = -1.0
    fine = np.isfinite(F).all(axis=0)
    res = monte_carlo_temden(est_small, cube["fluxes"], bad, n_draws=5)
    if fine[0, 0]:
        assert res.spaxel_flags[0, 0] == 2
    with pytest.raises(TypeError):
        monte_carlo_temden(object(), cube["fluxes"], cube["errors"])
