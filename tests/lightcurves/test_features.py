import numpy as np
import pandas as pd
import pytest

from agnlab.lightcurves import clean_lightcurves, extract_features, feature_names, simulate


def _sine(period, n=120, seed=0, amp=0.3, baseline=700.0):
    rng = np.random.default_rng(seed)
    t = np.sort(58200 + rng.uniform(0, baseline, n))
    rows = []
    for band, a in (("g", amp), ("r", 0.8 * amp)):
        m = 17.0 + a * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.02, n)
        rows.append(pd.DataFrame({"object_id": "s", "mjd": t + (0.01 if band == "r" else 0), "band": band,
                                  "mag": m, "mag_err": 0.02, "detected": True}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("period", [0.061, 0.3137, 2.71, 37.0])
def test_multiband_period_reaches_short_periods(period):
    f = extract_features(_sine(period), villar=False)
    assert f.loc["s", "period_days"] == pytest.approx(period, rel=2e-3)
    assert f.loc["s", "harm_amp1_g"] == pytest.approx(0.3, abs=0.03)


def test_feature_table_shape_names_and_nan_policy(small_sim):
    lc, _, feats = small_sim
    assert list(feats.columns[:-1]) == feature_names(("g", "r"), villar=False)
    assert feats.index.name == "object_id" and list(feats.index) == list(pd.unique(lc["object_id"]))
    X = feats.drop(columns="flag").to_numpy(float)
    assert not np.isinf(X).any()
    assert np.isfinite(X).mean() > 0.7          # non-detection features are NaN without upper limits
    assert (feats["flag"] != "ok").sum() <= 0.1 * len(feats) + 2    # artefact-free simulation: few flags


def test_bad_curves_are_reported_and_never_stop_the_batch():
    lc, _ = simulate(1, classes=["QSO", "RRL", "E", "LPV", "CEP", "AGN", "YSO"], seed=3)
    ids = list(pd.unique(lc["object_id"]))
    good = extract_features(lc, villar=False)
    bad = lc.copy()
    m = bad["object_id"] == ids[0]                   # unsorted
    bad.loc[m] = bad.loc[m].iloc[::-1].to_numpy()
    bad = pd.concat([bad, bad.loc[bad["object_id"] == ids[1]].iloc[:5]], ignore_index=True)   # duplicates
    bad.loc[bad.index[bad["object_id"] == ids[2]][:3], "mag"] = np.nan                          # NaN mags
    bad.loc[bad.index[bad["object_id"] == ids[3]][:1], "mag_err"] = -0.1                        # negative error
    bad.loc[bad["object_id"] == ids[4], "mag"] = 10 ** (-0.4 * (bad.loc[bad["object_id"] == ids[4], "mag"] - 23.9))
    bad.loc[bad.index[bad["object_id"] == ids[5]][:4], "band"] = "x"                            # unknown band
    extra = pd.DataFrame({"object_id": ["single", "empty_r"], "mjd": [58300.0, 58301.0], "band": ["g", "g"],
                          "mag": [18.0, 18.5], "mag_err": [0.05, 0.05], "detected": [True, True]})
    bad = pd.concat([bad, extra], ignore_index=True)
    feats = extract_features(bad, bands=("g", "r"), villar=False)
    flag = feats["flag"]
    assert flag[ids[0]].startswith("fixed") and "unsorted" in flag[ids[0]]
    assert "duplicated" in flag[ids[1]] and "NaN" in flag[ids[2]]
    assert flag[ids[3]].startswith("rejected") and "negative" in flag[ids[3]]
    assert flag[ids[4]].startswith("rejected") and "fluxes" in flag[ids[4]]
    assert "unknown band" in flag[ids[5]] and flag[ids[6]] == "ok"
    X = feats.drop(columns="flag")
    assert X.loc[[ids[3], ids[4]]].isna().all().all()
    # repaired curves give the features of the clean curve (same numbers, 1e-9 relative)
    for o in (ids[0], ids[1]):
        np.testing.assert_allclose(X.loc[o].to_numpy(float), good.drop(columns="flag").loc[o].to_numpy(float),
                                   rtol=1e-9, equal_nan=True)
    assert X.loc["single", "mean_g"] == pytest.approx(18.0, abs=1e-12)
    assert np.isnan(X.loc["single", "mean_r"]) and np.isnan(X.loc["single", "period_days"])


def test_clean_keeps_upper_limits_and_rejects_no_detection():
    table = pd.DataFrame({"object_id": ["a", "a", "b"], "mjd": [1.0, 2.0, 1.0], "band": ["g", "g", "r"],
                          "mag": [20.0, 19.0, 20.5], "mag_err": [np.nan, 0.1, np.nan],
                          "detected": [False, True, False]})
    clean, flags = clean_lightcurves(table)
    assert len(clean) == 2 and flags["a"] == "ok" and flags["b"].startswith("rejected")


def test_n_jobs_and_pyarrow_input_give_identical_features(small_sim):
    import pyarrow as pa

    lc, _, feats = small_sim
    sub = lc.loc[lc["object_id"].isin(feats.index[:40])]
    a = extract_features(sub, villar=False, chunk_size=10, n_jobs=2)
    b = extract_features(pa.Table.from_pandas(sub), villar=False)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(a, feats.loc[a.index], check_exact=False, rtol=1e-12)


def test_drw_tau_orders_fast_and_slow_variability():
    from agnlab.lightcurves import drw

    rng = np.random.default_rng(0)
    rows = []
    for k, tau in enumerate([5.0] * 6 + [300.0] * 6):
        t = np.sort(58200 + rng.uniform(0, 1000, 200))
        m = 18 + 0.3 * drw(rng, t, tau) + rng.normal(0, 0.02, t.size)
        rows.append(pd.DataFrame({"object_id": f"o{k}", "mjd": t, "band": "g", "mag": m, "mag_err": 0.02}))
    f = extract_features(pd.concat(rows), bands=("g",), villar=False)
    fast, slow = f["drw_log_tau_g"].iloc[:6], f["drw_log_tau_g"].iloc[6:]
    assert fast.median() == pytest.approx(np.log10(5.0), abs=0.5)
    assert slow.median() == pytest.approx(np.log10(300.0), abs=0.6)
    assert (f["iar_phi_g"].iloc[6:].median() > f["iar_phi_g"].iloc[:6].median())


def test_context_features():
    lc, _ = simulate(1, classes=["QSO", "RRL"], seed=0)
    ids = list(pd.unique(lc["object_id"]))
    ctx = pd.DataFrame({"ra": [10.0, 200.0], "dec": [-5.0, 30.0], "w1mpro": [14.0, 15.0], "w2mpro": [13.0, 15.0],
                        "w3mpro": [10.0, 14.5], "sgscore1": [0.1, 0.9]}, index=ids)
    f = extract_features(lc, villar=False, context=ctx)
    assert f.loc[ids[0], "W1-W2"] == pytest.approx(1.0, abs=1e-12)
    assert f["gal_b"].between(-90, 90).all() and f.loc[ids[1], "sgscore1"] == pytest.approx(0.9, abs=1e-12)


def test_bad_table_raises():
    with pytest.raises(ValueError, match="missing column"):
        extract_features(pd.DataFrame({"object_id": ["a"], "mjd": [1.0]}))
    with pytest.raises(TypeError, match="numeric"):
        extract_features(pd.DataFrame({"object_id": ["a"], "mjd": ["x"], "band": ["g"], "mag": [1.0],
                                       "mag_err": [0.1]}))
    with pytest.raises(ValueError, match="unknown band"):
        extract_features(pd.DataFrame({"object_id": ["a"], "mjd": [1.0], "band": ["g"], "mag": [18.0],
                                       "mag_err": [0.1]}), bands=("g", "q"))
