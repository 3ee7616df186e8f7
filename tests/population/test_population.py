"""Tests of agnlab.population: tracks, histograms, design matrix, solver, PopulationFit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from agnlab.population import (
    PopulationFit,
    angle_weights,
    color_histogram,
    color_tracks,
    design_matrix,
    histogram_edges,
    jensen_shannon,
    nonneg_enet,
    parameter_distributions,
)


def _toy_tracks(rng, n_tracks=600, n_angles=12):
    """Smooth tracks: start point depends on two parameters, direction on a third."""
    p = np.column_stack([rng.integers(0, 6, n_tracks), rng.integers(0, 5, n_tracks),
                         rng.integers(0, 4, n_tracks)]).astype(float)
    t = np.linspace(0, 1, n_angles)[None, :]
    x = 0.3 + 0.25 * p[:, :1] + 0.6 * t * np.cos(0.4 * p[:, 2:3])
    y = 1.5 + 0.5 * p[:, 1:2] + 0.8 * t * np.sin(0.4 * p[:, 2:3] + 0.3) + 0.1 * p[:, :1] * t
    return np.stack([x, y], axis=2), p, np.linspace(0, 90, n_angles)


def _sample(rng, tracks, weights, angle_w, n, noise=0.03):
    ti = rng.choice(tracks.shape[0], n, p=weights / weights.sum())
    ai = rng.choice(tracks.shape[1], n, p=angle_w)
    return tracks[ti, ai] + rng.normal(0, noise, (n, 2))


def test_histogram_and_drop_counts():
    c = np.array([[0.1, 0.1], [0.9, 0.9], [np.nan, 0.5], [5.0, 0.5], [1.0, 1.0]])
    edges = histogram_edges(None, bins=2, color_range=((0, 1), (0, 1)))
    h, dropped = color_histogram(c, edges)
    assert dropped == {"non_finite": 1, "outside_range": 1}
    np.testing.assert_allclose(h, [[1, 0], [0, 2]], rtol=0, atol=0)
    with pytest.raises(ValueError, match="color_range"):
        histogram_edges(None, bins=3, color_range=((1, 0), (0, 1)))


def test_design_matrix_matches_histogram2d(rng):
    tracks, _, angles = _toy_tracks(rng, n_tracks=50)
    tracks[3] = 100.0  # entirely outside: an all-zero column
    tracks[4, :2] = np.nan
    edges = histogram_edges(np.delete(tracks, 3, axis=0).reshape(-1, 2), bins=15, quantiles=(0.0, 1.0))
    w = angle_weights(angles)
    dm = design_matrix(tracks, edges, weights=w, chunk_size=7)
    assert sp.isspmatrix_csc(dm.matrix) and dm.matrix.shape == (225, 50)
    assert dm.empty_tracks.tolist() == [3]
    assert dm.n_nonfinite_points == 2
    for j in (0, 10, 49):
        ref = np.histogram2d(tracks[j, :, 0], tracks[j, :, 1], bins=edges, weights=w)[0].ravel()
        np.testing.assert_allclose(dm.matrix[:, j].toarray().ravel(), ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dm.inside_fraction[3], 0.0, atol=0)
    # blurred columns conserve the weight of points far from the edges and match a Monte-Carlo histogram
    blurred = design_matrix(tracks[:1], edges, weights=w, color_error=0.05).matrix.toarray().ravel()
    pts = np.repeat(tracks[0], 20000, axis=0) + rng.normal(0, 0.05, (20000 * tracks.shape[1], 2))
    mc = np.histogram2d(pts[:, 0], pts[:, 1], bins=edges, weights=np.repeat(w, 20000) / 20000)[0].ravel()
    np.testing.assert_allclose(blurred, mc, rtol=0, atol=3e-3)


def test_angle_weights_isotropic():
    w = angle_weights(np.linspace(0, 90, 91))
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-12)
    assert w[-1] > w[1] > w[0]  # P(i) ~ sin(i)
    with pytest.raises(ValueError, match="increasing"):
        angle_weights([0, 50, 40])


def test_solver_matches_sklearn(rng):
    from sklearn.linear_model import ElasticNet

    X = sp.random(300, 3000, density=0.03, random_state=1, format="csc")
    wt = np.zeros(3000)
    wt[rng.choice(3000, 15, replace=False)] = rng.uniform(1, 3, 15)
    y = X @ wt + rng.normal(0, 0.02, 300)
    a, l1 = 1e-3, 0.7
    w, info = nonneg_enet(X, y, alpha=a, l1_ratio=l1, tol=1e-7)
    ref = ElasticNet(alpha=a, l1_ratio=l1, fit_intercept=False, positive=True, tol=1e-12,
                     max_iter=100000).fit(X, y).coef_

    def obj(v):
        return 0.5 / 300 * np.sum((y - X @ v) ** 2) + a * l1 * v.sum() + 0.5 * a * (1 - l1) * v @ v

    assert info["converged"]
    assert (w >= 0).all()
    np.testing.assert_allclose(obj(w), obj(ref), rtol=1e-7)
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-4)


def test_population_fit_recovers_sparse_mix(rng):
    tracks, params, angles = _toy_tracks(rng)
    true = np.zeros(tracks.shape[0])
    idx = rng.choice(tracks.shape[0], 12, replace=False)
    true[idx] = rng.dirichlet(np.ones(12))
    obs = _sample(rng, tracks, true, angle_weights(angles), 60000)
    fit = PopulationFit(bins=30, n_alphas=6, cv=3, l1_ratios=(0.5, 1.0), color_error=0.03, random_state=0).fit(
        tracks, obs, angles_deg=angles)
    assert (fit.weights_ >= 0).all()
    np.testing.assert_allclose(fit.model_hist_.sum(), fit.observed_hist_.sum(), rtol=0.05)
    assert fit.reduced_chi2_ <= 1.5
    got = fit.parameter_distributions(params, param_names=["a", "b", "c"])
    ref = parameter_distributions(params, true, param_names=["a", "b", "c"])
    for name in ("a", "b", "c"):
        assert jensen_shannon(got[name]["weighted"], ref[name]["weighted"]) <= 0.05
    assert fit.model_histogram().shape == (30, 30)
    assert fit.residuals_.shape == (30, 30)
    assert np.shape(fit.training_record_["cv"]["mean_deviance"]) == (2, 6)
    assert fit.training_record_["n_tracks"] == tracks.shape[0] and fit.training_record_["fit_seconds"] > 0


def test_population_fit_bad_input(rng):
    tracks, _, angles = _toy_tracks(rng, n_tracks=40)
    with pytest.raises(ValueError, match="degenerate observed histogram"):
        PopulationFit(bins=10).fit(tracks, np.array([[1.0, 2.0], [1.1, 2.1]]))
    obs = _sample(rng, tracks, np.ones(40), np.full(tracks.shape[1], 1 / tracks.shape[1]), 2000)
    with pytest.raises(ValueError, match="all-zero columns"):
        PopulationFit(bins=10, color_range=((50, 60), (50, 60))).fit(tracks, obs + 55)
    with pytest.raises(ValueError, match="track_colors"):
        PopulationFit().fit(tracks[:, :, 0], obs)
    with pytest.raises(ValueError, match="l1_ratios"):
        PopulationFit(l1_ratios=(0.0,)).fit(tracks, obs)
    with pytest.raises(NotFittedError):
        PopulationFit().model_histogram()
    bad = obs.copy()
    bad[:7] = np.nan
    tr = tracks.copy()
    tr[0] = 99.0
    with pytest.warns(UserWarning, match="non-finite"):
        fit = PopulationFit(bins=12, n_alphas=3, cv=2, l1_ratios=(1.0,)).fit(tr, bad)
    assert fit.training_record_["dropped"]["non_finite"] == 7
    assert fit.training_record_["dropped"]["empty_tracks"] >= 1
    assert fit.weights_[0] == 0


def test_population_fit_save_roundtrip(rng, tmp_path):
    tracks, _, _ = _toy_tracks(rng, n_tracks=60)
    obs = _sample(rng, tracks, np.ones(60), np.full(tracks.shape[1], 1 / tracks.shape[1]), 3000)
    fit = PopulationFit(bins=12, n_alphas=3, cv=2, l1_ratios=(1.0,)).fit(tracks, obs)
    path = fit.save(tmp_path / "fit.npz")
    loaded = PopulationFit.load(path)
    assert loaded.get_params() == fit.get_params()
    np.testing.assert_allclose(loaded.weights_, fit.weights_, rtol=0, atol=0)
    np.testing.assert_allclose(loaded.residuals_, fit.residuals_, rtol=0, atol=0)
    np.testing.assert_allclose(loaded.reduced_chi2_, fit.reduced_chi2_, rtol=1e-12)
    assert loaded.training_record_["dropped"] == fit.training_record_["dropped"]


def test_population_fit_reads_legacy_files(rng, tmp_path):
    """Files of the older ``population_fit`` layout load into a PopulationFit."""
    from agnlab.io import save_artifact

    tracks, _, _ = _toy_tracks(rng, n_tracks=60)
    obs = _sample(rng, tracks, np.ones(60), np.full(tracks.shape[1], 1 / tracks.shape[1]), 3000)
    fit = PopulationFit(bins=12, n_alphas=3, cv=2, l1_ratios=(1.0,)).fit(tracks, obs)
    rec = fit.training_record_
    arrays = {"weights": fit.weights_, "edges_x": fit.edges_[0], "edges_y": fit.edges_[1],
              "observed_hist": fit.observed_hist_, "model_hist": fit.model_hist_,
              "cv_deviance": np.array(rec["cv"]["mean_deviance"]), "cv_l1_ratios": np.array(rec["cv"]["l1_ratios"]),
              "cv_alpha_ratios": np.array(rec["cv"]["alpha_ratios"])}
    meta = {"alpha": fit.alpha_, "l1_ratio": fit.l1_ratio_, "alpha_ratio": fit.alpha_ratio_,
            "reduced_chi2": fit.reduced_chi2_, "chi2": fit.chi2_, "dof": fit.dof_, "n_nonzero": fit.n_nonzero_,
            "dropped": rec["dropped"], "params": {"bins": 12, "n_alphas": 3, "cv": 2, "l1_ratios": [1.0],
                                                  "random_state": 0}}
    path = save_artifact(tmp_path / "old.npz", kind="population_fit", arrays=arrays, metadata=meta)
    old = PopulationFit.load(path)
    assert old.l1_ratios == (1.0,) and old.bins == 12
    np.testing.assert_allclose(old.weights_, fit.weights_, rtol=0, atol=0)
    np.testing.assert_allclose(old.reduced_chi2_, fit.reduced_chi2_, rtol=1e-12)
    assert old.training_record_["dropped"] == rec["dropped"]


def test_population_fit_tables_by_column_name_and_color_tracks(rng):
    """Observed tables are read by column name (any order); a ColorTracks brings its angles."""
    import pandas as pd

    from agnlab.population import ColorTracks

    tracks, params, angles = _toy_tracks(rng, n_tracks=60)
    obs = _sample(rng, tracks, np.ones(60), angle_weights(angles), 3000)
    kw = dict(bins=12, n_alphas=3, cv=2, l1_ratios=(1.0,), random_state=0)
    ref = PopulationFit(**kw).fit(tracks, obs, angles_deg=angles)
    table = pd.DataFrame({"w2_w3": obs[:, 1], "other": 0.0, "w1_w2": obs[:, 0]})   # not in colour order
    ct = ColorTracks(tracks, params, ["a", "b", "c"], angles)
    got = PopulationFit(**kw).fit(ct, table)
    np.testing.assert_allclose(got.weights_, ref.weights_, rtol=0, atol=0)
    named = PopulationFit(color_columns=("c1", "c2"), **kw).fit(tracks, table.rename(
        columns={"w1_w2": "c1", "w2_w3": "c2"}), angles_deg=angles)
    np.testing.assert_allclose(named.weights_, ref.weights_, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['w1_w2'\]"):
        PopulationFit(**kw).fit(tracks, table.drop(columns="w1_w2"))


def test_population_fit_is_documented_as_not_a_pipeline_step(rng):
    """The docstring says why PopulationFit is not a Pipeline step; the (X, y) call is refused clearly."""
    assert "Not a Pipeline step" in PopulationFit.__doc__ and "track library" in PopulationFit.__doc__
    tracks, _, _ = _toy_tracks(rng, n_tracks=20)
    obs = _sample(rng, tracks, np.ones(20), np.full(tracks.shape[1], 1 / tracks.shape[1]), 500)
    with pytest.raises(ValueError, match="observed_colors|track_colors"):   # (X, y) = (observations, None)
        PopulationFit().fit(obs, None)


def test_jensen_shannon_bounds():
    np.testing.assert_allclose(jensen_shannon([1, 2, 3], [2, 4, 6]), 0.0, atol=1e-12)
    np.testing.assert_allclose(jensen_shannon([1, 0], [0, 1]), 1.0, atol=1e-12)


def test_color_tracks_from_sed_function():
    from agnlab.grids import CLUMPY_PARAM_NAMES, CLUMPY_WAVE_UM, clumpy_like_sed

    params = np.array([[40.0, 5.0, 30.0, 20.0, 1.5], [100.0, 10.0, 60.0, 50.0, 1.0]])
    tr = color_tracks(lambda X: clumpy_like_sed(X, include_agn=True), params, angles_deg=[0, 45, 90],
                      param_names=list(CLUMPY_PARAM_NAMES), wave_um=CLUMPY_WAVE_UM, z=[0.0, 1.0])
    assert tr.colors.shape == (4, 3, 2)
    assert tr.param_names == ["tv", "N0", "sig", "Y", "q", "z"]
    np.testing.assert_allclose(tr.params[2:, 5], 1.0, atol=0)
    from agnlab.photometry import synthetic_colors

    fnu = clumpy_like_sed(np.array([[100.0, 10.0, 60.0, 50.0, 1.0, 45.0]]), include_agn=True)
    ref = synthetic_colors(CLUMPY_WAVE_UM, fnu, z=1.0)
    np.testing.assert_allclose(tr.colors[3, 1], ref[0], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="angle_name"):
        color_tracks(lambda X: X, params, param_names=["a", "b", "c", "d", "e", "f"], wave_um=CLUMPY_WAVE_UM)


def test_color_tracks_from_neural_emulator():
    """Tracks through an emulator (param_names_ / wave_um_ taken from it) follow the emulated SEDs."""
    emulate = pytest.importorskip("agnlab.emulate")
    from agnlab.grids import CLUMPY_WAVE_UM, clumpy_like_grid
    from agnlab.photometry import synthetic_colors

    grid = clumpy_like_grid(300, seed=0, include_agn=True)
    emu = emulate.NeuralEmulator(n_components=8, hidden=(16,), max_epochs=5, patience=5, lr_patience=3, lbfgs_steps=0,
                                 param_names=grid.param_names, random_state=0, progress=False)
    emu.fit(grid.params, grid.flux, wave_um=grid.wave_um)
    params = np.array([[40.0, 5.0, 30.0, 20.0, 1.5], [100.0, 10.0, 60.0, 50.0, 1.0]])
    tr = color_tracks(emu, params, angles_deg=[10.0, 50.0, 80.0], z=0.5)
    assert tr.colors.shape == (2, 3, 2) and np.isfinite(tr.colors).all()
    full = np.insert(np.repeat(params, 3, axis=0), 5, np.tile([10.0, 50.0, 80.0], 2), axis=1)
    ref = synthetic_colors(CLUMPY_WAVE_UM, emu.predict(full), z=0.5).reshape(2, 3, 2)
    np.testing.assert_allclose(tr.colors, ref, rtol=0, atol=1e-5)
