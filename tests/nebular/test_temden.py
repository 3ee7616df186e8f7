"""TeNeEstimator: accuracy against PyNeb, flags, persistence, methods."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

pn = pytest.importorskip("pyneb")

from agnlab.io import ArtifactError  # noqa: E402
from agnlab.nebular import FLAG_CODES, FLAG_NAMES, TeNeEstimator, diagnostic_ratio, flag_summary  # noqa: E402

TEM, DEN = "[OIII] 4363/5007", "[SII] 6731/6716"


def pairs(te, log_ne, tem=TEM, den=DEN):
    te = np.asarray(te, dtype=float)
    ne = 10.0 ** np.asarray(log_ne, dtype=float)
    return np.stack([diagnostic_ratio(tem, te, ne), diagnostic_ratio(den, te, ne)], axis=1)


def test_default_accuracy_against_pyneb_truth(est_default, rng):
    n = 2000
    te = rng.uniform(7000, 20000, n)
    ln = rng.uniform(1, 4, n)
    out = est_default.predict(pairs(te, ln))
    assert np.all(est_default.last_flags_ == 0)
    dte = np.abs(out[:, 0] - te)
    dne = np.abs(out[:, 1] - ln)
    assert np.median(dte) <= 2.0  # K
    assert np.percentile(dte, 95) <= 10.0
    assert np.median(dne) <= 1e-3  # dex
    np.testing.assert_allclose(out[:, 0], te, rtol=1e-4, atol=0)
    np.testing.assert_allclose(out[:, 1], ln, rtol=0, atol=0.01)


def test_agrees_with_getcrosstemden(est_default):
    te = np.array([9000.0, 14000.0])
    ln = np.array([2.0, 3.0])
    X = pairs(te, ln)
    diags = pn.Diagnostics()
    t_pn, n_pn = diags.getCrossTemDen(TEM, DEN, X[:, 0], X[:, 1])
    out = est_default.predict(X)
    np.testing.assert_allclose(out[:, 0], t_pn, rtol=0.01, atol=0)  # PyNeb's own tolerance is 1 %
    np.testing.assert_allclose(out[:, 1], np.log10(n_pn), rtol=0, atol=0.01)


def test_valid_up_to_log_ne_5_where_density_sensitive(est_default):
    ln = np.array([4.5, 4.8, 5.0])
    out = est_default.predict(pairs(np.full(3, 1e4), ln))
    assert np.all(est_default.last_flags_ == 0)
    np.testing.assert_allclose(out[:, 1], ln, rtol=0, atol=1e-3)
    assert est_default.ne_upper_log_ >= 5.0


def test_flags_per_element(est_default):
    good = pairs([1e4], [2.5])[0]
    ldl = pairs([1e4], [-3.0])[0] * [1.0, 0.97]  # below the low-density limit
    hdl = pairs([1e4], [5.5])[0] * [1.0, 1.05]  # above the turnover of the [S II] ratio
    low_ne = pairs([1e4], [-1.0])[0]  # reachable, but below the trained range
    high_ne = pairs([1e4], [5.4])[0]  # reachable, beyond the density-sensitive range
    hot = pairs([40000.0], [2.0])[0]
    cold = pairs([3000.0], [2.0])[0]
    X = np.array([good, [np.nan, 1.0], [0.01, -1.0], [0.0, 1.0], ldl, hdl, low_ne, high_ne, hot, cold,
                  [np.inf, 1.0]])
    out = est_default.predict(X)
    flags = est_default.last_flags_
    names = [FLAG_NAMES[int(f)] for f in flags]
    assert names == ["ok", "nonfinite_input", "nonpositive_input", "nonpositive_input", "low_density_limit",
                     "high_density_limit", "ne_below_range", "ne_above_range", "te_above_range",
                     "te_below_range", "nonfinite_input"]
    assert np.all(np.isfinite(out[0]))
    assert np.all(np.isnan(out[1:]))
    assert flag_summary(flags)["nonpositive_input"] == 2
    assert set(FLAG_CODES) == set(FLAG_NAMES)


def test_empty_and_bad_shapes(est_small):
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        est_small.predict(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        est_small.predict(np.ones(2))
    out = est_small.predict(np.empty((0, 2)))
    assert out.shape == (0, 2)


@pytest.mark.parametrize(
    "tem,den",
    [("[NII] 5755/6584", "[OII] 3726/3729"),
     ("[OIII] 4363/5007+", "[ArIV] 4740/4711"),
     ("[NII] 5755/6584+", "[ClIII] 5538/5518")],
)
def test_other_diagnostic_pairs(tem, den, rng):
    est = TeNeEstimator(tem, den, grid_shape=(80, 100), n_inverse=(128, 128)).fit()
    assert set(est.lines_) == set(est.tem_spec_.lines) | set(est.den_spec_.lines)
    n = 200
    te = rng.uniform(8000, 18000, n)
    hi = min(4.0, est.ne_upper_log_ - 0.2)
    ln = rng.uniform(2.0, hi, n)
    out = est.predict(pairs(te, ln, tem, den))
    assert np.all(est.last_flags_ == 0)
    np.testing.assert_allclose(out[:, 0], te, rtol=1e-3, atol=0)
    np.testing.assert_allclose(out[:, 1], ln, rtol=0, atol=0.01)


def test_invalid_configuration():
    with pytest.raises(ValueError, match="unknown diagnostic"):
        TeNeEstimator("[OIII] 4363/5008").fit()
    with pytest.raises(ValueError, match="method"):
        TeNeEstimator(method="magic").fit()
    with pytest.raises(ValueError, match="different"):
        TeNeEstimator(DEN, DEN).fit()
    with pytest.raises(ValueError, match="not a temperature diagnostic"):
        TeNeEstimator("[SII] 6731/6716", "[OII] 3726/3729", grid_shape=(40, 40)).fit()
    with pytest.raises(ValueError, match="not a density diagnostic"):
        TeNeEstimator("[OIII] 4363/5007", "[NII] 5755/6584", grid_shape=(40, 40)).fit()
    with pytest.raises(ValueError, match="te_range_k"):
        TeNeEstimator(te_range_k=(2e4, 1e4)).fit()
    with pytest.raises(NotFittedError):
        TeNeEstimator().predict([[0.01, 1.0]])


def test_sklearn_clone_and_params(est_small):
    c = clone(est_small)
    assert c.get_params()["grid_shape"] == (100, 120)
    assert not hasattr(c, "_sur")


def test_table_only_mode(rng):
    est = TeNeEstimator(newton_steps=0, grid_shape=(100, 120), n_inverse=(256, 256)).fit()
    te = rng.uniform(8000, 18000, 300)
    ln = rng.uniform(1.5, 4, 300)
    out = est.predict(pairs(te, ln))
    assert np.mean(est.last_flags_ == 0) > 0.99
    ok = est.last_flags_ == 0
    np.testing.assert_allclose(out[ok, 0], te[ok], rtol=2e-3, atol=0)
    np.testing.assert_allclose(out[ok, 1], ln[ok], rtol=0, atol=0.05)


def test_threads_give_identical_results(est_small, rng):
    X = pairs(rng.uniform(8000, 18000, 500), rng.uniform(1, 4, 500))
    a, fa = est_small.predict_with_flags(X, n_jobs=1)
    est = clone(est_small).set_params(chunk_size=64, n_jobs=2).fit()
    b, fb = est.predict_with_flags(X)
    np.testing.assert_allclose(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(fa, fb)


def test_save_load_roundtrip_without_pyneb(est_small, tmp_path, rng, monkeypatch):
    X = pairs(rng.uniform(8000, 18000, 100), rng.uniform(1, 4, 100))
    X[0, 1] = 0.3  # flagged
    want = est_small.predict(X)
    path = est_small.save(tmp_path / "tene")
    assert path.suffix == ".npz"
    monkeypatch.setitem(sys.modules, "pyneb", None)  # any PyNeb import now fails
    est = TeNeEstimator.load(path)
    got = est.predict(X)
    np.testing.assert_allclose(got, want, rtol=0, atol=0)
    np.testing.assert_array_equal(est.last_flags_, est_small.last_flags_)
    assert est.get_params() == est_small.get_params()


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError):
        TeNeEstimator.load(bad)
    from agnlab.io import save_artifact

    other = save_artifact(tmp_path / "other", kind="something.else", arrays={"a": np.ones(2)}, metadata={})
    with pytest.raises(ArtifactError):
        TeNeEstimator.load(other)


def test_predict_from_lines(est_small):
    te = np.array([[9000.0, 12000.0], [15000.0, 10000.0]])
    ne = np.array([[1e2, 1e3], [1e4, 3e2]])
    from agnlab.nebular._forward import line_emissivities

    fl = {}
    for spec in (est_small.tem_spec_, est_small.den_spec_):
        for k, v in line_emissivities(spec, te.ravel(), ne.ravel()).items():
            fl[k] = v.reshape(te.shape)
    fl["S2_6716A"] = fl["S2_6716A"].copy()
    fl["S2_6716A"][1, 1] = -1.0
    fl["O3_4363A"] = fl["O3_4363A"].copy()
    fl["O3_4363A"][0, 0] = np.nan
    t, n = est_small.predict_from_lines(fl)
    assert t.shape == (2, 2)
    np.testing.assert_allclose(t[0, 1], 12000.0, rtol=1e-4, atol=0)
    np.testing.assert_allclose(n[1, 0], 4.0, rtol=0, atol=1e-3)
    assert est_small.last_flags_.shape == (2, 2)
    assert est_small.last_flags_[1, 1] == 2 and est_small.last_flags_[0, 0] == 1
    del fl["O3_5007A"]
    with pytest.raises(KeyError, match="O3_5007A"):
        est_small.predict_from_lines(fl)


def test_forward_surrogate_matches_pyneb(est_small):
    te = np.array([7500.0, 13000.0])
    ln = np.array([1.5, 3.5])
    np.testing.assert_allclose(est_small.forward(te, ln), pairs(te, ln), rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="outside the forward grid"):
        est_small.forward([1e5], [2.0])


def test_neural_method(tmp_path, rng):
    est = TeNeEstimator(method="nn", grid_shape=(80, 100), n_inverse=(128, 128), nn_hidden=(32, 32),
                        nn_train_size=4000,
                        nn_config={"max_epochs": 40, "batch_size": 256, "lr": 3e-3, "patience": 10}).fit()
    te = rng.uniform(8000, 18000, 300)
    ln = rng.uniform(1.5, 4, 300)
    out = est.predict(pairs(te, ln))
    ok = est.last_flags_ == 0
    assert ok.mean() > 0.95
    assert np.median(np.abs(out[ok, 0] - te[ok])) < 500.0  # K (small net, few epochs)
    assert np.median(np.abs(out[ok, 1] - ln[ok])) < 0.2  # dex
    # unreachable ratios are still flagged
    bad = pairs([1e4], [-3.0]) * [1.0, 0.95]
    est.predict(bad)
    assert FLAG_NAMES[int(est.last_flags_[0])] == "low_density_limit"
    path = est.save(tmp_path / "nn")
    again = TeNeEstimator.load(path)
    np.testing.assert_allclose(again.predict(pairs(te, ln)), out, rtol=0, atol=1e-6)
    assert "nn_best_val_loss" in again.fit_info_
    assert again.get_params()["nn_config"] == est.nn_config
