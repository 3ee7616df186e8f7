"""Tests of the maximum-entropy (KL-to-prior) regularised fit: solver, lam choice, PopulationFit integration."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

from agnlab.population import (
    PopulationFit,
    jensen_shannon,
    lam_band,
    maxent_poisson,
    maxent_select,
    parameter_distributions,
    poisson_deviance,
    prior_counts,
)


def _problem(rng, n_bins=60, n_tracks=40, scale=1000.0):
    A = rng.uniform(0, 1, (n_bins, n_tracks)) * (rng.uniform(size=(n_bins, n_tracks)) < 0.3)
    A /= A.sum(axis=0) * 1.2            # 1/1.2 of every track inside the histogram
    A = sp.csc_matrix(A)
    w_true = np.zeros(n_tracks)
    w_true[[3, 7, 11]] = np.array([0.5, 0.3, 0.2]) * scale
    return A, rng.poisson(A @ w_true).astype(float)


def _objective(A, h, m, lam, w):
    mu = A @ w
    nll = np.sum(mu - np.where(h > 0, h * np.log(np.maximum(mu, 1e-300)), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.sum(np.where(w > 0, w * np.log(w / m), 0.0) - w + m)
    return nll + lam * kl


@pytest.mark.parametrize("lam", [100.0, 1.0, 0.05])
def test_maxent_solver_is_optimal(rng, lam):
    A, h = _problem(rng)
    m = prior_counts(A, h)
    w, info = maxent_poisson(A, h, m, lam, tol=1e-12)
    assert info["converged"]
    # stationarity of the primal: lam ln(w/m) = A^T (h/mu) - c for every track (tolerance 1e-6 absolute)
    mu = A @ w
    c = np.asarray(A.sum(axis=0)).ravel()
    grad = A.T @ np.where(h > 0, h / mu, 0.0) - c
    np.testing.assert_allclose(lam * np.log(w / m), grad, rtol=0, atol=1e-6)
    # and no better point found by a generic optimiser from the prior (objective within 1e-6 relative)
    res = minimize(lambda u: _objective(A, h, m, lam, m * np.exp(u)), np.zeros(m.size), method="L-BFGS-B",
                   options={"maxiter": 5000})
    assert _objective(A, h, m, lam, w) <= res.fun + 1e-6 * abs(res.fun)


def test_maxent_limits_and_prior_counts(rng):
    A, h = _problem(rng)
    m = prior_counts(A, h)
    # the prior explains as many sources as the histogram holds
    assert np.isclose((A @ m).sum(), h.sum(), rtol=1e-12)
    w_big, _ = maxent_poisson(A, h, m, 1e6)
    np.testing.assert_allclose(w_big, m, rtol=1e-3)          # lam -> inf: the prior
    cash = [poisson_deviance(h, A @ maxent_poisson(A, h, m, lam)[0]) for lam in (10.0, 1.0, 0.1, 0.01)]
    assert all(np.diff(cash) <= 1e-6)                          # the data term falls as lam falls
    with pytest.raises(ValueError, match="lam"):
        maxent_poisson(A, h, m, 0.0)
    with pytest.raises(ValueError, match="prior"):
        prior_counts(A, h, np.ones(3))
    with pytest.raises(ValueError, match="prior"):
        prior_counts(A, h, -np.ones(A.shape[1]))


def test_indistinguishable_tracks_share_weight_as_the_prior_does(rng):
    A, h = _problem(rng)
    A = sp.hstack([A, A[:, [3]]]).tocsc()                   # track 40 = track 3: the data cannot tell them apart
    prior = np.ones(A.shape[1])
    prior[40] = 3.0
    w, _ = maxent_poisson(A, h, prior_counts(A, h, prior), 0.01)
    assert w[40] / w[3] == pytest.approx(3.0, rel=1e-6)      # split in the prior's proportion, exactly
    assert (w[3] + w[40]) / w.sum() > 0.3                     # while the data still choose that track


def test_discrepancy_rule(rng):
    A, h = _problem(rng, scale=5000.0)
    m = prior_counts(A, h)
    lam, w, rec = maxent_select(A, h, m, lams=np.logspace(2, -4, 13))
    cash = poisson_deviance(h[(h > 0) | (A @ w > 0)], (A @ w)[(h > 0) | (A @ w > 0)])
    assert rec["lam"] == lam and cash == pytest.approx(rec["cash"][rec["lams"].index(lam)], rel=1e-9)
    # within the tolerance of the best fit, and not far below it (bisection: 5 halvings of half a decade)
    assert rec["cash_min"] + 0.5 * rec["delta"] <= cash <= rec["cash_min"] + rec["delta"] + 1e-9
    assert rec["misfit_scale"] >= 1.0 and not rec["at_edge"]["ml"]
    lo, hi = lam_band(rec)
    assert lo <= lam <= hi                                   # the lams for 0.5x and 2x the tolerance bracket the pick
    # a larger tolerance regularises more
    lam2, _, _ = maxent_select(A, h, m, lams=np.logspace(2, -4, 13), tolerance=4.0)
    assert lam2 > lam
    with pytest.raises(ValueError, match="lams"):
        maxent_select(A, h, m, lams=[-1.0, 1.0])


def _degenerate_tracks(rng, n_nuisance=4):
    """Toy library: 30 colour tracks, each repeated for ``n_nuisance`` values of a parameter the colours do not see."""
    base = rng.uniform(0.2, 2.5, (30, 2))
    t = np.linspace(0, 0.6, 10)[None, :, None] * np.array([0.8, 0.5])
    tracks = np.repeat(base[:, None, :] + t, n_nuisance, axis=0)
    params = np.column_stack([np.repeat(np.arange(30.0), n_nuisance), np.tile(np.arange(float(n_nuisance)), 30)])
    return tracks, params


def test_unconstrained_parameter_returns_the_prior(rng):
    tracks, params = _degenerate_tracks(rng)
    true = np.zeros(tracks.shape[0])
    true[[8, 41, 90]] = [0.5, 0.3, 0.2]                   # nuisance values 0, 1, 2: never all four
    ti = rng.choice(tracks.shape[0], 20000, p=true)
    obs = tracks[ti, rng.integers(0, 10, ti.size)] + rng.normal(0, 0.04, (ti.size, 2))
    kw = dict(bins=25, color_error=0.04, n_gof_boot=3, random_state=0, regularization="maxent")
    me = PopulationFit(**kw).fit(tracks, obs)
    d_me = parameter_distributions(params, me.weights_, param_names=["colour", "nuisance"])
    # the nuisance parameter: the fit returns the prior (uniform; JSD below 1e-6 bits)
    assert jensen_shannon(d_me["nuisance"]["weighted"], np.ones(4)) < 1e-6
    # the constrained parameter: the data (JSD to the truth below 0.05 bits)
    truth = parameter_distributions(params, true, param_names=["colour", "nuisance"])
    assert jensen_shannon(d_me["colour"]["weighted"], truth["colour"]["weighted"]) < 0.05
    # a prior that favours nuisance value 3 is returned for it (where the data are silent)
    prior = np.where(params[:, 1] == 3, 5.0, 1.0)
    mp = PopulationFit(**kw).fit(tracks, obs, track_prior=prior)
    d_mp = parameter_distributions(params, mp.weights_, param_names=["colour", "nuisance"])
    np.testing.assert_allclose(d_mp["nuisance"]["weighted"], np.array([1, 1, 1, 5]) / 8, atol=1e-6)
    rec = me.training_record_["maxent"]
    assert me.lam_ == rec["lam"] and rec["effective_tracks"] > 1
    assert np.isnan(me.alpha_ratio_) and me.training_record_["cv"]["method"] == "maxent discrepancy"


def test_maxent_goodness_of_fit_bootstrap_and_save(rng, tmp_path):
    tracks, params = _degenerate_tracks(rng, n_nuisance=2)
    true = np.zeros(tracks.shape[0])
    true[[4, 21, 50]] = [0.5, 0.3, 0.2]
    ti = rng.choice(tracks.shape[0], 20000, p=true)
    obs = tracks[ti, rng.integers(0, 10, ti.size)] + rng.normal(0, 0.04, (ti.size, 2))
    fit = PopulationFit(bins=25, color_error=0.04, n_gof_boot=10, random_state=1,
                        regularization="maxent").fit(tracks, obs)
    g = fit.goodness_of_fit_
    assert g["p_value"] > 0.01 and g["n_boot"] == 10       # the correct model is not rejected
    shifted = PopulationFit(bins=25, color_error=0.04, n_gof_boot=10, random_state=1,
                            regularization="maxent").fit(tracks + 0.05, obs)
    assert shifted.goodness_of_fit_["p_value"] < 0.01      # a 0.05 mag offset is
    b = fit.bootstrap(4, random_state=0, params=params, param_names=["colour", "nuisance"])
    lo, hi = lam_band(fit.training_record_["maxent"])
    assert np.all((b["alpha_ratios"] >= min(lo, hi) * 0.999) & (b["alpha_ratios"] <= max(lo, hi) * 1.001))
    assert np.all(np.isnan(b["l1_ratios"]))
    bands = b["distributions"]["nuisance"]["bands"]
    assert np.all(bands[0] <= bands[-1]) and np.allclose(bands[2], 0.5, atol=1e-3)   # prior, whatever the draw
    fit.save(tmp_path / "me.npz")
    back = PopulationFit.load(tmp_path / "me.npz")
    assert back.lam_ == fit.lam_ and back.regularization == "maxent"
    np.testing.assert_allclose(back.weights_, fit.weights_, rtol=0, atol=0)


def test_maxent_bad_input(rng):
    tracks, _ = _degenerate_tracks(rng, n_nuisance=2)
    obs = tracks[rng.integers(0, 60, 2000), rng.integers(0, 10, 2000)]
    kw = dict(bins=15, color_error=0.04, n_gof_boot=0, regularization="maxent")
    with pytest.raises(ValueError, match="regularization"):
        PopulationFit(**{**kw, "regularization": "lasso"}).fit(tracks, obs)
    with pytest.raises(ValueError, match="track_prior"):
        PopulationFit(**kw).fit(tracks, obs, track_prior=np.ones(5))
    with pytest.raises(ValueError, match="track_prior"):
        PopulationFit(**kw).fit(tracks, obs, track_prior=-np.ones(60))
    with pytest.raises(ValueError, match="track_prior"):
        PopulationFit(**{**kw, "regularization": "elasticnet"}).fit(tracks, obs, track_prior=np.ones(60))
    with pytest.raises(ValueError, match="refine"):
        PopulationFit(refine=1, **kw).fit(tracks, obs)
    with pytest.raises(ValueError, match="lams"):
        PopulationFit(lams=[1.0], **kw).fit(tracks, obs)
    with pytest.raises(ValueError, match="maxent_tolerance"):
        PopulationFit(maxent_tolerance=0.0, **kw).fit(tracks, obs)
