"""Solution-set search and posterior sampling (agnlab.inference.solution_set)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from agnlab.inference import SolutionSet, credible_intervals, delta_chi2_threshold, solution_set

matplotlib.use("Agg")


def _chi2(p, theta):
    r = (p["obs"] - p["forward"](np.atleast_2d(theta))) / p["sigma"]
    return (r**2).sum(axis=1)


def test_delta_chi2_threshold_values():
    assert delta_chi2_threshold(0.6827, 1) == pytest.approx(1.0, abs=1e-3)
    assert delta_chi2_threshold(0.6827, 2) == pytest.approx(2.30, abs=1e-2)
    assert delta_chi2_threshold(0.9545, 3) == pytest.approx(8.02, abs=1e-2)
    with pytest.raises(ValueError, match="confidence"):
        delta_chi2_threshold(1.5, 2)


def test_de_finds_minimum_and_region_of_linear_model(linear_problem, seed):
    p = linear_problem
    res = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], random_state=seed, maxiter=80,
                       n_fill=20000, param_names=["a", "b"])
    assert isinstance(res, SolutionSet)
    np.testing.assert_allclose(res.best_theta, p["mean"], atol=1e-5)
    # every solution is within the threshold, recomputed independently
    chi2 = _chi2(p, res.solutions)
    np.testing.assert_allclose(chi2, res.solutions_chi2, rtol=1e-9, atol=1e-9)
    assert np.all(chi2 <= res.best_chi2 + res.delta_chi2 + 1e-9)
    # projection of the joint region: mean +- sqrt(delta * C_ii) for a linear Gaussian model
    half = np.sqrt(res.delta_chi2 * np.diag(p["cov"]))
    ranges = np.array(list(res.ranges().values()))
    np.testing.assert_allclose(ranges[:, 0], p["mean"] - half, atol=0.1 * half.max())
    np.testing.assert_allclose(ranges[:, 1], p["mean"] + half, atol=0.1 * half.max())
    assert res.n_forward_calls >= res.n_solutions
    assert res.n_batches > 0 and res.runtime_s > 0
    assert res.dof == 2
    s = res.summary()
    assert s["n_solutions"] == res.n_solutions and s["best"]["a"] == pytest.approx(p["mean"][0], abs=1e-5)


def test_emcee_posterior_matches_analytic_gaussian(linear_problem, seed):
    p = linear_problem
    res = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], method="emcee", random_state=seed,
                       maxiter=60, n_steps=1500)
    assert res.samples is not None and res.samples.shape[1] == 2
    sd = np.sqrt(np.diag(p["cov"]))
    # statistical check: mean within 0.2 sd, sd within 15 %
    np.testing.assert_allclose(res.samples.mean(axis=0), p["mean"], atol=0.2 * sd.max())
    np.testing.assert_allclose(res.samples.std(axis=0), sd, rtol=0.15)
    ci = res.credible_intervals(0.6827)
    np.testing.assert_allclose(ci["hi"] - ci["lo"], 2 * sd, rtol=0.2)
    assert 0.2 < res.info["emcee_acceptance"] < 0.9
    # the solution set now also holds sampled points, all within the threshold
    assert np.all(res.solutions_chi2 <= res.chi2_threshold + 1e-9)


def test_same_seed_same_result(linear_problem):
    p = linear_problem
    r1 = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], random_state=3, maxiter=30)
    r2 = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], random_state=3, maxiter=30)
    np.testing.assert_array_equal(r1.solutions, r2.solutions)
    assert r1.n_forward_calls == r2.n_forward_calls


def test_out_of_bounds_never_evaluated_and_out_of_domain_excluded(seed):
    seen = []

    def forward(theta):
        seen.append(theta.copy())
        out = np.stack([theta[:, 0] + theta[:, 1], theta[:, 0] - theta[:, 1]], axis=1)
        out[theta[:, 0] > 0.8] = np.nan          # the model's domain ends at p0 = 0.8
        return out

    bounds = np.array([[0.0, 1.0], [0.0, 1.0]])
    res = solution_set(forward, [1.5, 0.1], [0.2, 0.2], bounds, method="emcee", random_state=seed, maxiter=30,
                       n_steps=300)
    allx = np.concatenate(seen)
    assert np.all((allx >= bounds[:, 0]) & (allx <= bounds[:, 1]))
    assert res.n_invalid > 0
    assert res.n_out_of_bounds > 0            # emcee proposals outside the box were refused
    assert np.all(res.solutions[:, 0] <= 0.8)
    assert np.all(np.isfinite(res.samples_log_prob))
    assert np.all(res.samples[:, 0] <= 0.8)


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": [0.1, 0.0]}, "sigma"),
    ({"observed": [np.nan, 1.0]}, "observed"),
    ({"bounds": [[1.0, 0.0], [0.0, 1.0]]}, "lower >= upper"),
    ({"bounds": [[0.0, 1.0, 2.0]]}, "bounds"),
    ({"method": "annealing"}, "method"),
    ({"param_names": ["a"]}, "param_names"),
    ({"delta_chi2": -1.0}, "delta_chi2"),
])
def test_bad_inputs_raise_clear_errors(kwargs, match):
    args = {"forward": lambda t: t.copy(), "observed": [0.5, 0.5], "sigma": [0.1, 0.1],
            "bounds": [[0.0, 1.0], [0.0, 1.0]]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        solution_set(args.pop("forward"), args.pop("observed"), args.pop("sigma"), args.pop("bounds"),
                     maxiter=5, **args)


def test_forward_with_wrong_output_shape_is_named():
    with pytest.raises(ValueError, match=r"forward returned shape \(\d+, 3\)"):
        solution_set(lambda t: np.zeros((t.shape[0], 3)), [0.5, 0.5], 0.1, [[0, 1], [0, 1]], maxiter=5)


def test_forward_undefined_everywhere_raises():
    with pytest.raises(RuntimeError, match="undefined over the whole box"):
        solution_set(lambda t: np.full((t.shape[0], 2), np.nan), [0.5, 0.5], 0.1, [[0, 1], [0, 1]],
                     maxiter=5, polish=False)


def test_tene_pyneb_forward_de_recovers_truth(tene_forward, seed):
    truth = np.array([[12000.0, 2.5]])
    obs = tene_forward(truth)[0]
    sigma = np.full(2, 0.01)                       # 0.01 dex ~ 2.3 % on each ratio
    rows0, calls0 = tene_forward.n_rows, tene_forward.n_calls
    res = solution_set(tene_forward, obs, sigma, [[5000.0, 25000.0], [0.0, 5.0]], random_state=seed, maxiter=60,
                       param_names=["te_k", "log_ne_cm3"])
    # every parameter vector handed to PyNeb is counted, and so is every call
    assert res.n_forward_calls == tene_forward.n_rows - rows0
    assert res.n_batches == tene_forward.n_calls - calls0
    np.testing.assert_allclose(res.best_theta, truth[0], rtol=1e-3)
    lo, hi = res.ranges()["te_k"]
    assert lo < 12000.0 < hi and hi - lo > 100.0   # a region, not a point
    # the region is tilted: [S II] 6731/6716 also depends on Te, so Te and Ne are correlated
    corr = np.corrcoef(res.solutions.T)[0, 1]
    assert abs(corr) > 0.05


def test_tene_emcee_credible_interval_covers_truth(tene_grid_forward, rng, seed):
    truth = np.array([[10500.0, 3.2]])
    sigma = np.full(2, 0.01)
    obs = tene_grid_forward(truth)[0] + rng.normal(0, sigma)
    res = solution_set(tene_grid_forward, obs, sigma, [[5000.0, 25000.0], [0.0, 5.0]], method="emcee",
                       random_state=seed, maxiter=40, n_steps=800, param_names=tene_grid_forward.param_names)
    ci = res.credible_intervals(0.9973)
    assert ci.loc["te_k", "lo"] < truth[0, 0] < ci.loc["te_k", "hi"]
    assert ci.loc["log_ne_cm3", "lo"] < truth[0, 1] < ci.loc["log_ne_cm3", "hi"]


def test_corner_plot_and_credible_intervals(rng):
    x = rng.normal(size=(20000, 3))
    ci = credible_intervals(x, level=0.6827, param_names=["a", "b", "c"])
    np.testing.assert_allclose(ci["lo"], -1.0, atol=0.05)
    np.testing.assert_allclose(ci["hi"], 1.0, atol=0.05)
    from agnlab.inference import corner_plot

    fig = corner_plot(x, param_names=["a", "b", "c"], truths=[0, 0, 0])
    assert len(fig.axes) == 9
    with pytest.raises(ValueError, match="param_names"):
        corner_plot(x, param_names=["a"])


def test_solution_set_plots_and_tables(linear_problem, seed):
    p = linear_problem
    res = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], random_state=seed, maxiter=30)
    fig = res.plot_corner()
    assert len(fig.axes) == 4
    df = res.to_dataframe()
    assert list(df.columns) == ["p0", "p1", "chi2"] and len(df) == res.n_solutions
    with pytest.raises(ValueError, match="no posterior samples"):
        res.to_dataframe("samples")


def test_dynesty_backend(linear_problem, seed):
    pytest.importorskip("dynesty")
    p = linear_problem
    res = solution_set(p["forward"], p["obs"], p["sigma"], [[-1, 1], [-1, 1]], method="dynesty", random_state=seed,
                       nlive=150, dlogz=0.5)
    sd = np.sqrt(np.diag(p["cov"]))
    np.testing.assert_allclose(res.samples.mean(axis=0), p["mean"], atol=0.3 * sd.max())
    np.testing.assert_allclose(res.samples.std(axis=0), sd, rtol=0.3)
    assert np.isfinite(res.info["dynesty_logz"])


def test_pymoo_backend(linear_problem, seed):
    pytest.importorskip("pymoo")
    p = linear_problem
    res = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], method="pymoo", random_state=seed, maxiter=60)
    np.testing.assert_allclose(res.best_theta, p["mean"], atol=0.02)
    assert res.n_solutions > 10


def test_offset_profiling_recovers_normalisation(linear_problem, seed):
    p = linear_problem
    obs = p["forward"](p["truth"][None])[0] + 2.5       # unknown additive offset (log normalisation)
    res = solution_set(p["forward"], obs, p["sigma"], p["bounds"], offset="profile", random_state=seed, maxiter=60)
    # the offset is degenerate with a*(1,1) direction only through the model; check the fit is exact
    assert res.best_chi2 == pytest.approx(0.0, abs=1e-6)
    pred = p["forward"](res.best_theta[None])[0] + res.best_offset
    np.testing.assert_allclose(pred, obs, atol=1e-4)
    assert res.dof == 4 - 2 - 1


def test_deprecated_seed_and_progress_bar_spellings(linear_problem):
    """``seed``/``progress_bar`` still work (same numbers as ``random_state``/``progress``) but warn."""
    p = linear_problem
    ref = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], random_state=5, maxiter=10, progress=False)
    with pytest.warns(DeprecationWarning, match="random_state"):
        old = solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], seed=5, maxiter=10)
    with pytest.warns(DeprecationWarning, match="progress"):
        solution_set(p["forward"], p["obs"], p["sigma"], p["bounds"], random_state=5, maxiter=10, progress_bar=False)
    np.testing.assert_allclose(old.best_theta, ref.best_theta, rtol=0, atol=0)
