import numpy as np
import pandas as pd
import pytest

from agnlab.io import load_artifact, save_artifact
from agnlab.lightcurves import (
    IF_INPUTS,
    IF_NETWORKS,
    IF_STATISTICS,
    SCHEDULES,
    VRAEAnomalyDetector,
    curve_statistics,
    fit_r_calibration,
    r_calibrated,
    reconstruction_terms,
    simulate,
    variability_scale,
)


@pytest.fixture(scope="module")
def detector():
    lc, _ = simulate(25, classes=["AGN", "QSO"], seed=0)
    return VRAEAnomalyDetector(hidden=12, latent=4, max_len=80, max_epochs=4, batch_size=16, if_n_estimators=50,
                               random_state=0).fit(lc)


def test_score_table_and_ranking(detector):
    lc, labels = simulate(10, classes=["AGN", "QSO"], seed=1, changing_state_fraction=0.3)
    s = detector.score(lc)
    assert list(s.columns) == ["object_id", "R", "n_epochs", "err_median", "R_z", "if_score", "combined", "R_anomalous",
                               "if_anomalous", "anomalous", "flag"]
    assert set(s["object_id"]) == set(labels["object_id"]) and (s["flag"] == "ok").all()
    assert s["R_z"].is_monotonic_decreasing and (s["R"] > 0).all()     # ranked by the N-calibrated R
    np.testing.assert_allclose(s["R_z"], r_calibrated(s["R"], s["n_epochs"], detector.r_calibration_,
                                                      error=s["err_median"]), rtol=1e-12)
    np.testing.assert_array_equal(s["anomalous"], s["R_anomalous"] | s["if_anomalous"])
    assert s["R_anomalous"].equals(s["R"] > 3.0)


def test_a_huge_jump_scores_high(detector):
    lc, _ = simulate(6, classes=["QSO"], seed=2)
    ids = list(pd.unique(lc["object_id"]))
    jump = lc.copy()
    sel = (jump["object_id"] == ids[0]) & (jump["mjd"] > jump.loc[jump["object_id"] == ids[0], "mjd"].median())
    jump.loc[sel & jump["detected"], "mag"] -= 2.0
    s = detector.score(jump).set_index("object_id")
    assert s.loc[ids[0], "R"] > 3.0 * s["R"].drop(index=ids[0]).median()


def test_reconstruct_and_transform(detector):
    lc, _ = simulate(2, classes=["AGN"], seed=3)
    rec = detector.reconstruct(lc)
    assert {"mag_pred", "err_pred"} <= set(rec.columns) and np.isfinite(rec["mag_pred"]).all()
    z = detector.transform(lc)
    assert z.shape == (2, 4)


def test_training_record(detector):
    rec = detector.training_record_
    assert rec["n_objects"] == 50 and len(rec["history"]) >= 1 and np.isfinite(rec["best_val_loss"])


def test_combined_score_is_fisher_of_training_p_values(detector):
    lc, _ = simulate(8, classes=["AGN", "QSO"], seed=4)
    s = detector.score(lc)
    n = detector.train_R_.size

    def p(train, x):
        return (1.0 + np.sum(train >= x)) / (n + 1.0)

    for _, row in s.iterrows():
        expect = -2.0 * (np.log(p(detector.train_Rz_, row["R_z"])) + np.log(p(detector.train_if_, row["if_score"])))
        assert row["combined"] == pytest.approx(expect, rel=1e-12)
    # highest possible when an object beats every training object in both scores
    assert s["combined"].max() <= -4.0 * np.log(1.0 / (n + 1.0)) + 1e-12


def test_reconstruction_terms_censor_upper_limits():
    tgt = np.array([18.0, 20.5, 20.5])          # a detection, then two 5-sigma limits
    pred = np.array([18.3, 19.5, 21.0])         # the second limit is fainter than the prediction
    err, err_pred, lim = np.array([0.1, 0.2, 0.2]), np.full(3, 0.1), np.array([0.0, 1.0, 1.0])
    t = reconstruction_terms(tgt, pred, err, err_pred, lim)
    np.testing.assert_allclose(t, [0.09 / 0.02, 1.0 / 0.05, 0.0], rtol=1e-12)


def test_fading_below_the_limit_scores_high_only_with_upper_limits(detector):
    lc, _ = simulate(6, classes=["QSO"], seed=5)
    ids = list(pd.unique(lc["object_id"]))
    fade = lc.copy()
    first = fade["object_id"] == ids[0]
    late = first & (fade["mjd"] > fade.loc[first, "mjd"].median())
    # the AGN switches off: the second half are non-detections 1.5 mag fainter than the median
    fade.loc[late, "mag"] = fade.loc[first & fade["detected"], "mag"].median() + 1.5
    fade.loc[late, "detected"] = False
    fade.loc[late, "mag_err"] = np.nan
    s = detector.score(fade).set_index("object_id")
    assert s.loc[ids[0], "R"] > 3.0 * s["R"].drop(index=ids[0]).median()
    rec = detector.reconstruct(fade.loc[first])
    assert (~rec["detected"]).any() and np.isfinite(rec["mag_pred"]).all()


def _noise_curve(rng, sigma=0.05, step=0.0):
    """Two bands, 3-day cadence in 8-month seasons over 3 years, white noise of ``sigma`` mag and an
    optional brightening by ``step`` mag halfway."""
    t = np.concatenate([np.arange(365.0 * k, 365.0 * k + 240.0, 3.0) for k in range(3)])
    t = np.concatenate([t, t + 0.5])
    band = np.r_[np.zeros(t.size // 2, int), np.ones(t.size // 2, int)]
    order = np.argsort(t, kind="stable")
    t, band = t[order], band[order]
    m = rng.normal(0.0, sigma, t.size) - step * (t > np.median(t))
    return t, m, band, np.ones(t.size, bool)


def test_variability_scale_is_the_noise_and_ignores_one_step():
    rng = np.random.default_rng(0)
    t, m, band, det = _noise_curve(rng)
    s0 = variability_scale(t, m, band, det)
    assert s0 == pytest.approx(0.05, rel=0.15)                 # 480 epochs: the estimate is good to ~10 %
    t, m2, band, det = _noise_curve(np.random.default_rng(0), step=2.0)
    assert variability_scale(t, m2, band, det) == pytest.approx(s0, rel=0.05)   # one pair in ~480 straddles it
    assert np.std(m2) > 10 * np.std(m)                         # whereas the standard deviation explodes


@pytest.mark.parametrize("normalize", ["variability", "amplitude"])
def test_normalized_scores_do_not_depend_on_the_amplitude(normalize):
    lc, _ = simulate(4, classes=["AGN", "QSO"], seed=6)
    lc = lc.loc[lc["detected"]].reset_index(drop=True)          # limits keep a fixed error: leave them out
    det = VRAEAnomalyDetector(hidden=8, latent=3, max_len=60, max_epochs=2, batch_size=8, if_n_estimators=20,
                              upper_limits=False, normalize=normalize, random_state=0).fit(lc)
    med = lc.groupby(["object_id", "band"])["mag"].transform("median")
    stretched = lc.assign(mag=med + 2.0 * (lc["mag"] - med), mag_err=2.0 * lc["mag_err"])
    a, b = det.score(lc).set_index("object_id"), det.score(stretched).set_index("object_id")
    b = b.loc[a.index]
    np.testing.assert_allclose(b["R"], a["R"], rtol=1e-4)       # float32 network: identical inputs up to rounding
    np.testing.assert_allclose(b["if_score"], a["if_score"], rtol=1e-4)
    # the reconstruction comes back in magnitudes: twice as far from the median, with twice the error
    ra, rb = det.reconstruct(lc), det.reconstruct(stretched)
    band_median = lc.groupby(["object_id", "band"])["mag"].median().rename("med")   # over all epochs kept or not
    mb = ra.join(band_median, on=["object_id", "band"])["med"]
    np.testing.assert_allclose(rb["mag_pred"], mb + 2.0 * (ra["mag_pred"] - mb), atol=1e-4)
    np.testing.assert_allclose(rb["err_pred"], 2.0 * ra["err_pred"], rtol=1e-4)


def test_unknown_normalization_is_rejected():
    lc, _ = simulate(3, classes=["AGN"], seed=7)
    with pytest.raises(ValueError, match="normalize must be one of"):
        VRAEAnomalyDetector(normalize="zscore", max_epochs=1).fit(lc)


def test_r_calibration_recovers_a_known_location_and_width():
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(np.log(30), np.log(300), 4000)).round()
    x = np.log(n)
    loc, wid = 0.8 - 0.17 * x, 1.2 - 0.19 * x                  # widths 0.55 (N = 30) to 0.12 (N = 300)
    R = np.exp(loc + wid * rng.normal(size=n.size))
    cal = fit_r_calibration(R, n)
    # 8 bins of 500: medians good to ~0.02, 90th-percentile widths to ~0.03 (compared inside the range of N,
    # where the lines are used; slope and intercept alone are strongly correlated)
    xs = np.log([40.0, 200.0])
    np.testing.assert_allclose(np.polyval(cal["loc"], xs), 0.8 - 0.17 * xs, atol=0.04)
    np.testing.assert_allclose(np.polyval(cal["width"], xs), 1.2 - 0.19 * xs, atol=0.04)
    z = r_calibrated(R, n, cal)
    for sel in (n < 60, n > 150):                               # standardised at every N: 10 % above 1.2816
        assert np.mean(z[sel] > 1.2816) == pytest.approx(0.10, abs=0.025)
    # the same R is more anomalous for a dense curve than for a sparse one
    assert r_calibrated(2.0, 250, cal) > r_calibrated(2.0, 40, cal) + 1.0


def test_r_calibration_edges():
    ident = {"loc": [0.0, 0.0], "width": [0.0, 1.0], "ln_n_range": [-1e3, 1e3]}
    np.testing.assert_allclose(r_calibrated([0.5, 2.0], [10, 100], ident), np.log([0.5, 2.0]), rtol=1e-12)
    cal = fit_r_calibration([1.0, 2.0, 3.0, 1.5], [40, 50, 60, 70])   # too few for bins: constant lines
    assert cal["loc"][0] == 0.0 and cal["width"][0] == 0.0
    # N beyond the training range is clipped to it: no extrapolation of the lines
    assert r_calibrated(2.0, 5000, cal) == pytest.approx(r_calibrated(2.0, 70, cal), rel=1e-12)
    with pytest.raises(ValueError, match="finite"):
        fit_r_calibration([np.nan, 1.0], [10, np.nan])


def test_training_r_z_is_standardised(detector):
    """In sample, R_z has median ~0 and 10 % of objects above 1.2816 (up to 50 objects' granularity). The
    quantile regressions pass exactly through a few training objects (3 planes' parameters), whose R_z is then
    1.2816 up to rounding: they are not counted as above."""
    z = detector.train_Rz_
    assert abs(np.median(z)) < 0.1 and np.mean(z > 1.2816 + 1e-6) == pytest.approx(0.10, abs=0.04)


def test_isolation_forest_sees_whitened_latent_means_log_variances_and_statistics(detector):
    from sklearn.ensemble import IsolationForest

    lc, _ = simulate(25, classes=["AGN", "QSO"], seed=0)          # the fixture's training set
    assert detector.if_input == "posterior" and detector.if_whiten
    n_stats = len(VRAEAnomalyDetector().if_statistics)
    assert tuple(detector.if_statistics) == tuple(VRAEAnomalyDetector().if_statistics)
    assert detector.train_stats_.shape == (50, n_stats)
    X = np.hstack([detector.train_latent_, detector.train_logvar_, detector.train_stats_])
    cov = np.cov(X, rowvar=False)
    L = np.linalg.cholesky(cov + 1e-6 * np.mean(np.diag(cov)) * np.eye(len(cov)))
    X = np.linalg.solve(L, (X - X.mean(axis=0)).T).T              # whitened: unit covariance
    # unit covariance up to the ridge (1e-6 of the mean variance), relatively larger on a low-variance coordinate:
    # the step and flare contrasts' variances (~10-100) raise the mean far above that of this 4-epoch network's
    # log-variances
    np.testing.assert_allclose(np.cov(X, rowvar=False), np.eye(len(cov)), atol=3e-2)
    forest = IsolationForest(n_estimators=detector.if_n_estimators, random_state=detector.if_seed_).fit(X)
    # same objects, same batch: the network gives the same latents; the forest's scores agree to float64 rounding
    np.testing.assert_allclose(np.sort(detector.score(lc)["if_score"]), np.sort(-forest.score_samples(X)),
                               rtol=1e-9)


def test_unknown_if_input_is_rejected():
    lc, _ = simulate(3, classes=["AGN"], seed=7)
    with pytest.raises(ValueError, match="if_input must be one of"):
        VRAEAnomalyDetector(if_input="latent", max_epochs=1).fit(lc)


@pytest.fixture(scope="module")
def old_layout_detector():
    """Files written before this session: the forest on the main network's raw latent, R without an error cap."""
    lc, _ = simulate(25, classes=["AGN", "QSO"], seed=0)
    return VRAEAnomalyDetector(hidden=12, latent=4, max_len=80, max_epochs=4, batch_size=16, if_n_estimators=50,
                               if_network="shared", if_whiten=False, error_cap_quantile=None,
                               error_cap_variability=None, random_state=0).fit(lc)


def test_files_from_before_the_calibration_and_log_variances_score_as_they_did(old_layout_detector, tmp_path):
    """Old files: R_z = ln R (ranking by R) and a forest on the latent means alone, of the main network."""
    from sklearn.ensemble import IsolationForest

    detector = old_layout_detector
    path = detector.save(tmp_path / "vrae.npz")
    arrays, meta = load_artifact(path)
    assert not any(k.startswith("forest_nn.") for k in arrays)
    del arrays["train_Rz"], arrays["train_logvar"], arrays["train_stats"]
    for name in ("r_calibration", "if_whitened", "err_pred_cap", "err_pred_cap_variability"):
        del meta["estimator_state"][name]
    for name in ("if_input", "if_network", "if_hidden", "if_latent", "if_energy", "if_whiten", "error_cap_quantile",
                 "error_cap_variability", "if_statistics", "r_calibrate_error"):
        del meta["params"][name]
    old = tmp_path / "old.npz"
    save_artifact(old, kind=meta["_kind"], arrays=arrays,
                  metadata={k: v for k, v in meta.items() if not k.startswith("_")})
    lc, _ = simulate(6, classes=["AGN", "QSO"], seed=8)
    loaded = VRAEAnomalyDetector.load(old)
    assert loaded.if_input == "mean" and loaded.if_network == "shared" and not loaded.if_whiten
    assert loaded.err_pred_cap_ == np.inf
    a, b = detector.score(lc).set_index("object_id"), loaded.score(lc)
    np.testing.assert_allclose(b["R_z"], np.log(b["R"]), rtol=1e-12)
    assert b["R"].is_monotonic_decreasing
    b = b.set_index("object_id").loc[a.index]
    np.testing.assert_allclose(b["R"], a["R"], rtol=1e-12)
    forest = IsolationForest(n_estimators=detector.if_n_estimators, random_state=detector.if_seed_)
    forest.fit(detector.train_latent_)
    np.testing.assert_allclose(b["if_score"], -forest.score_samples(detector.transform(lc).loc[a.index].to_numpy()),
                               rtol=1e-9)


def test_save_load_round_trip_keeps_both_networks(detector, tmp_path):
    lc, _ = simulate(6, classes=["AGN", "QSO"], seed=9)
    loaded = VRAEAnomalyDetector.load(detector.save(tmp_path / "vrae.npz"))
    assert loaded.if_network == "separate"
    a, b = detector.score(lc), loaded.score(lc)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_the_forest_has_its_own_network(detector):
    """if_network="separate": the forest sees a second VRAE's latent (if_latent dimensions), not the main one."""
    assert detector.train_latent_.shape[1] == detector.if_latent == 8
    lc, _ = simulate(25, classes=["AGN", "QSO"], seed=0)
    assert detector.transform(lc).shape == (50, detector.latent) and detector.latent == 4   # the reconstruction one


def test_amplitude_far_beyond_training_leaves_the_training_latents(detector):
    """The forest network's energy pooling is unbounded: a curve 10x more variable than the training curves
    scores above every training object (with the tanh-bounded states alone it would sit at their edge)."""
    lc, _ = simulate(3, classes=["QSO"], seed=10)
    med = lc.groupby(["object_id", "band"])["mag"].transform("median")
    wild = lc.assign(mag=np.where(lc["detected"], med + 10.0 * (lc["mag"] - med), lc["mag"]))
    s = detector.score(wild)
    assert (s["if_score"] > detector.train_if_.max()).all()


def test_unknown_if_network_is_rejected():
    lc, _ = simulate(3, classes=["AGN"], seed=7)
    with pytest.raises(ValueError, match="if_network must be one of"):
        VRAEAnomalyDetector(if_network="both", max_epochs=1).fit(lc)


def _variability_scales(table):
    """variability_scale of each object's detections (magnitudes relative to their band's median)."""
    det = table.loc[table["detected"]].sort_values(["object_id", "mjd"], kind="stable")
    rel = det["mag"] - det.groupby(["object_id", "band"])["mag"].transform("median")
    return pd.Series({o: variability_scale(g["mjd"].to_numpy(), rel[g.index].to_numpy(), g["band"].to_numpy(),
                                           np.ones(len(g), bool)) for o, g in det.groupby("object_id")})


@pytest.mark.parametrize("per_object", [None, 2.0])
def test_r_uses_predicted_errors_capped_at_their_training_quantile_and_the_objects_variability(detector, per_object):
    """err_pred_cap_ is the 0.99 quantile of err_pred over the training detections, and R is the mean of
    reconstruction_terms with err_pred capped there and, with error_cap_variability (default None), at that
    multiple of the object's variability_scale (float32 network: 1e-5)."""
    import copy

    assert detector.error_cap_variability is None
    detector = copy.copy(detector)
    detector.error_cap_variability = per_object
    lc, _ = simulate(25, classes=["AGN", "QSO"], seed=0)          # the fixture's training set
    rec = detector.reconstruct(lc)
    assert detector.error_cap_quantile == 0.99
    assert detector.err_pred_cap_ == pytest.approx(np.quantile(rec.loc[rec["detected"], "err_pred"], 0.99), rel=1e-5)
    test, _ = simulate(4, classes=["AGN", "QSO"], seed=11)
    test = test.loc[test["detected"]].reset_index(drop=True)      # detections only: their errors are mag_err
    rec = detector.reconstruct(test)
    cap = detector.err_pred_cap_
    if per_object is not None:
        cap = np.minimum(cap, per_object * _variability_scales(test).loc[rec["object_id"]].to_numpy())
    terms = reconstruction_terms(rec["mag"].to_numpy(), rec["mag_pred"].to_numpy(), rec["mag_err"].to_numpy(),
                                 np.minimum(rec["err_pred"].to_numpy(), cap), np.zeros(len(rec)))
    expect = pd.Series(terms).groupby(rec["object_id"].to_numpy()).mean()
    s = detector.score(test).set_index("object_id")
    np.testing.assert_allclose(s.loc[expect.index, "R"], expect, rtol=1e-5)


def test_error_cap_can_be_switched_off_and_is_validated():
    lc, _ = simulate(4, classes=["AGN"], seed=12)
    det = VRAEAnomalyDetector(hidden=8, latent=3, max_len=60, max_epochs=1, batch_size=8, if_n_estimators=20,
                              if_hidden=8, if_latent=2, if_energy=2, error_cap_quantile=None,
                              error_cap_variability=None, random_state=0).fit(lc)
    assert det.err_pred_cap_ == np.inf and det.training_record_["err_pred_cap"] is None
    rec = det.reconstruct(lc.loc[lc["detected"]])
    terms = reconstruction_terms(rec["mag"].to_numpy(), rec["mag_pred"].to_numpy(), rec["mag_err"].to_numpy(),
                                 rec["err_pred"].to_numpy(), np.zeros(len(rec)))
    expect = pd.Series(terms).groupby(rec["object_id"].to_numpy()).mean()
    s = det.score(lc.loc[lc["detected"]]).set_index("object_id")
    np.testing.assert_allclose(s.loc[expect.index, "R"], expect, rtol=1e-5)   # uncapped (float32 network)
    with pytest.raises(ValueError, match="error_cap_quantile"):
        VRAEAnomalyDetector(error_cap_quantile=1.5, max_epochs=1).fit(lc)
    for bad in (0.0, -1.0, np.inf, True, "1"):
        with pytest.raises(ValueError, match="error_cap_variability"):
            VRAEAnomalyDetector(error_cap_variability=bad, max_epochs=1).fit(lc)


def test_option_names_are_exported():
    assert IF_INPUTS == ("posterior", "mean") and IF_NETWORKS == ("separate", "shared")
    assert SCHEDULES == ("plateau", "cosine")
    assert IF_STATISTICS == ("spread_ratio", "step_contrast", "flare_contrast")


def test_curve_statistics_of_white_noise_and_of_a_step():
    """White noise: spread ratio ~ ln 1 and no step; a 1 mag step in both bands: step contrast ~ 1 / noise.
    Tolerances: 200 epochs per band, robust scales to ~10 %."""
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0.0, 1000.0, 400))
    band = rng.integers(0, 2, t.size)
    noise = 0.05 * rng.standard_normal(t.size)
    flat = curve_statistics(t, noise, band, variability_scale(t, noise, band, np.ones(t.size, bool)))
    assert abs(flat[0]) < 0.15 and flat[1] < 1.0
    step = noise + np.where(t > 500.0, 1.0, 0.0)
    step = step - np.array([np.median(step[band == j]) for j in (0, 1)])[band]
    scale = variability_scale(t, step, band, np.ones(t.size, bool))
    assert scale == pytest.approx(0.05, rel=0.15)
    s = curve_statistics(t, step, band, scale)
    assert s[1] == pytest.approx(1.0 / scale, rel=0.1) and s[0] > 2.0
    assert np.array_equal(curve_statistics(t[:1], step[:1], band[:1], 0.05), np.zeros(3))
    with pytest.raises(ValueError, match="one length"):
        curve_statistics(t, step[:-1], band, 0.05)
    with pytest.raises(ValueError, match="scale must be positive"):
        curve_statistics(t, step, band, 0.0)


def test_step_contrast_equals_the_split_by_split_definition():
    """The vectorised step contrast equals medians taken split by split (ties in time and 1-3 bands included).
    Tolerance 1e-12 (same arithmetic)."""
    from agnlab.lightcurves import IF_STATISTICS

    k = IF_STATISTICS.index("step_contrast")

    def reference(t, rel, band, scale):
        best, best_diff = 0.0, 0.0
        for tc in np.quantile(t, np.linspace(0.1, 0.9, 17)):
            z2, diff_max = 0.0, 0.0
            for j in np.unique(band):
                before, after = rel[(band == j) & (t < tc)], rel[(band == j) & (t >= tc)]
                if before.size >= 3 and after.size >= 3:
                    diff = np.median(after) - np.median(before)
                    z2 += diff ** 2 / (scale ** 2 * (1.0 / before.size + 1.0 / after.size))
                    diff_max = max(diff_max, abs(diff))
            if z2 > best:
                best, best_diff = z2, diff_max
        return best_diff / scale

    rng = np.random.default_rng(3)
    for trial in range(60):
        n = int(rng.integers(2, 300))
        t = np.sort(rng.uniform(0.0, 1500.0, n))
        if trial % 3 == 0:
            t = np.round(t / 50.0) * 50.0
        band = rng.integers(0, int(rng.integers(1, 4)), n)
        rel = 0.1 * rng.standard_normal(n) + (t > 700.0) * rng.normal(0.0, 0.5)
        assert curve_statistics(t, rel, band, 0.1)[k] == pytest.approx(reference(t, rel, band, 0.1), abs=1e-12)


def test_flare_contrast_of_white_noise_and_of_a_flare():
    """White noise (0.05 mag): flare contrast < 3 (the largest of ~190 windows' median differences); a 1 mag,
    60-day flare: ~1 / noise (the window median sits ~1 mag from the rest), while the step contrast, which sees
    the flare only on one side of a split, stays well below that. Tolerances: 400 epochs, robust scales ~15 %."""
    rng = np.random.default_rng(5)
    t = np.sort(rng.uniform(0.0, 1000.0, 400))
    band = rng.integers(0, 2, t.size)
    noise = 0.05 * rng.standard_normal(t.size)
    ones = np.ones(t.size, bool)
    k_step, k_flare = IF_STATISTICS.index("step_contrast"), IF_STATISTICS.index("flare_contrast")
    assert curve_statistics(t, noise, band, variability_scale(t, noise, band, ones))[k_flare] < 3.0
    flare = noise - np.where((t > 400.0) & (t < 460.0), 1.0, 0.0)
    scale = variability_scale(t, flare, band, ones)
    s = curve_statistics(t, flare, band, scale)
    assert s[k_flare] == pytest.approx(1.0 / scale, rel=0.15) and s[k_step] < 0.5 * s[k_flare]


def test_flare_contrast_equals_the_window_by_window_definition():
    """The vectorised flare contrast equals medians taken window by window (ties in time and 1-3 bands
    included). Tolerance 1e-12 (same arithmetic)."""
    from agnlab.lightcurves import FLARE_WINDOWS_DAYS

    k = IF_STATISTICS.index("flare_contrast")

    def reference(t, rel, band, scale):
        starts = np.unique(t)
        if starts.size > 64:
            starts = starts[np.unique(np.linspace(0, starts.size - 1, 64).round().astype(int))]
        best, best_diff = 0.0, 0.0
        for w in FLARE_WINDOWS_DAYS:
            for lo in starts:
                z2, diff_max = 0.0, 0.0
                for j in np.unique(band):
                    inside = (band == j) & (t >= lo) & (t < lo + w)
                    outside = (band == j) & ~inside
                    if inside.sum() >= 3 and outside.sum() >= 3:
                        diff = np.median(rel[inside]) - np.median(rel[outside])
                        z2 += diff ** 2 / (scale ** 2 * (1.0 / inside.sum() + 1.0 / outside.sum()))
                        diff_max = max(diff_max, abs(diff))
                if z2 > best:
                    best, best_diff = z2, diff_max
        return best_diff / scale

    rng = np.random.default_rng(4)
    for trial in range(30):
        n = int(rng.integers(2, 250))
        t = np.sort(rng.uniform(0.0, 1500.0, n))
        if trial % 3 == 0:
            t = np.round(t / 50.0) * 50.0
        band = rng.integers(0, int(rng.integers(1, 4)), n)
        rel = 0.1 * rng.standard_normal(n) - np.where((t > 700.0) & (t < 800.0), rng.normal(0.0, 0.5), 0.0)
        assert curve_statistics(t, rel, band, 0.1)[k] == pytest.approx(reference(t, rel, band, 0.1), abs=1e-12)


def test_unknown_if_statistics_are_rejected():
    lc, _ = simulate(3, classes=["AGN"], seed=7)
    with pytest.raises(ValueError, match="if_statistics must be distinct names"):
        VRAEAnomalyDetector(if_statistics=("skewness",), max_epochs=1).fit(lc)


def test_files_from_before_the_forest_statistics_score_as_they_did(detector, tmp_path):
    """Files without the forest's statistics (and an R_z calibration on N alone) load with if_statistics=() and
    r_calibrate_error=False: the forest sees the whitened latent posterior alone, R_z is calibrated on N."""
    from sklearn.ensemble import IsolationForest

    path = detector.save(tmp_path / "vrae.npz")
    arrays, meta = load_artifact(path)
    del arrays["train_stats"]
    del meta["params"]["if_statistics"], meta["params"]["r_calibrate_error"]
    lc, _ = simulate(25, classes=["AGN", "QSO"], seed=0)          # the fixture's training set
    train = detector.score(lc)
    calibration = fit_r_calibration(train["R"], train["n_epochs"])
    meta["estimator_state"]["r_calibration"] = calibration
    old = tmp_path / "old.npz"
    save_artifact(old, kind=meta["_kind"], arrays=arrays,
                  metadata={k: v for k, v in meta.items() if not k.startswith("_")})
    loaded = VRAEAnomalyDetector.load(old)
    assert tuple(loaded.if_statistics) == () and not loaded.r_calibrate_error
    test, _ = simulate(6, classes=["AGN", "QSO"], seed=8)
    b = loaded.score(test).set_index("object_id")
    np.testing.assert_allclose(b["R_z"], r_calibrated(b["R"], b["n_epochs"], calibration), rtol=1e-12)
    X = np.hstack([detector.train_latent_, detector.train_logvar_])
    centre = X.mean(axis=0)
    cov = np.cov(X, rowvar=False)
    W = np.linalg.inv(np.linalg.cholesky(cov + 1e-6 * np.mean(np.diag(cov)) * np.eye(len(cov))))
    forest = IsolationForest(n_estimators=detector.if_n_estimators, random_state=detector.if_seed_)
    forest.fit((X - centre) @ W.T)
    s = loaded.score(lc)
    # the training objects: the forest's scores over them agree with a forest refitted on the latents alone
    np.testing.assert_allclose(np.sort(s["if_score"]), np.sort(-forest.score_samples((X - centre) @ W.T)), rtol=1e-9)


def test_files_from_before_the_per_object_error_cap_score_as_they_did(detector, tmp_path):
    """Files without the per-object cap load with error_cap_variability=None (the default): R with the global cap
    alone, as the detector that wrote them; a file with the cap keeps it."""
    import copy

    path = detector.save(tmp_path / "vrae.npz")
    arrays, meta = load_artifact(path)
    del meta["estimator_state"]["err_pred_cap_variability"], meta["params"]["error_cap_variability"]
    old = tmp_path / "old.npz"
    save_artifact(old, kind=meta["_kind"], arrays=arrays,
                  metadata={k: v for k, v in meta.items() if not k.startswith("_")})
    loaded = VRAEAnomalyDetector.load(old)
    assert loaded.error_cap_variability is None
    test, _ = simulate(6, classes=["AGN", "QSO"], seed=13)
    per_object = copy.copy(detector)
    per_object.error_cap_variability = 1.0
    path = per_object.save(tmp_path / "per_object.npz")
    assert VRAEAnomalyDetector.load(path).error_cap_variability == 1.0
    a = detector.score(test).set_index("object_id")
    b = loaded.score(test).set_index("object_id").loc[a.index]
    np.testing.assert_allclose(b["R"], a["R"], rtol=1e-12)
    capped = per_object.score(test).set_index("object_id").loc[a.index, "R"]
    assert (capped >= a["R"] * (1 - 1e-6)).all() and (capped > a["R"] * 1.01).any()   # a lower cap, a larger R


def test_r_calibration_on_n_and_error_recovers_known_planes():
    """ln R = 0.5 ln N - 0.8 ln err + 1 + 0.3 eps, eps ~ N(0, 1): location and width planes recovered
    (4000 objects; tolerance 0.05 on the coefficients, 0.03 on the width)."""
    rng = np.random.default_rng(1)
    n = rng.integers(20, 300, 4000)
    err = np.exp(rng.uniform(np.log(0.01), np.log(0.3), 4000))
    lnr = 0.5 * np.log(n) - 0.8 * np.log(err) + 1.0 + 0.3 * rng.standard_normal(4000)
    cal = fit_r_calibration(np.exp(lnr), n, error=err)
    np.testing.assert_allclose(cal["loc"], [0.5, -0.8, 1.0], atol=0.1)
    width = np.polyval([cal["width"][0], cal["width"][2]], np.log(100.0)) + cal["width"][1] * np.log(0.05)
    assert width == pytest.approx(0.3, abs=0.03)
    z = r_calibrated(np.exp(lnr), n, cal, error=err)
    assert abs(np.median(z)) < 0.05 and np.mean(z > 1.2816) == pytest.approx(0.10, abs=0.015)
    with pytest.raises(ValueError, match="pass error="):
        r_calibrated(np.exp(lnr), n, cal)


def test_the_schedule_is_the_reconstruction_networks_alone():
    """``schedule`` changes how the reconstruction network is trained; the forest's network, trained after it from
    the same seeds, comes out identical (forest scores equal to 1e-12), and an unknown schedule is rejected."""
    lc, _ = simulate(8, classes=["AGN", "QSO"], seed=13)
    kw = dict(hidden=8, latent=3, max_len=60, max_epochs=3, patience=None, batch_size=8, if_n_estimators=20,
              if_hidden=8, if_latent=2, if_energy=2, random_state=0)
    plateau = VRAEAnomalyDetector(schedule="plateau", **kw).fit(lc)
    cosine = VRAEAnomalyDetector(schedule="cosine", **kw).fit(lc)
    a, b = plateau.score(lc).set_index("object_id"), cosine.score(lc).set_index("object_id")
    np.testing.assert_allclose(b.loc[a.index, "if_score"], a["if_score"], rtol=1e-12)
    assert not np.allclose(b.loc[a.index, "R"], a["R"], rtol=1e-3)
    assert len(cosine.training_record_["history"]) == 3
    with pytest.raises(ValueError, match="schedule must be one of"):
        VRAEAnomalyDetector(schedule="step", max_epochs=1).fit(lc)
