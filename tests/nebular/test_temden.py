"""TeNeEstimator: accuracy against PyNeb, flags, persistence, methods, Pipeline use."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

pn = pytest.importorskip("pyneb")

from agnlab import OutOfDomainError  # noqa: E402
from agnlab.io import ArtifactError  # noqa: E402
from agnlab.nebular import (  # noqa: E402
    FLAG_DESCRIPTIONS,
    FLAG_NAMES,
    OUT_OF_DOMAIN_FLAGS,
    TeNeEstimator,
    diagnostic_ratio,
    flag_summary,
    line_emissivities,
)

TEM, DEN = "[OIII] 4363/5007", "[SII] 6731/6716"


def pairs(te, log_ne, tem=TEM, den=DEN):
    te = np.asarray(te, dtype=float)
    ne = 10.0 ** np.asarray(log_ne, dtype=float)
    return np.stack([diagnostic_ratio(tem, te, ne), diagnostic_ratio(den, te, ne)], axis=1)


def test_default_accuracy_against_pyneb_truth(est_default, rng):
    n = 2000
    te = rng.uniform(7000, 20000, n)
    ln = rng.uniform(1, 4, n)
    out, flags = est_default.predict(pairs(te, ln), return_flags=True)
    assert np.all(flags == "ok")
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
    out, flags = est_default.predict(pairs(np.full(3, 1e4), ln), return_flags=True)
    assert np.all(flags == "ok")
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
    out, flags = est_default.predict(X, return_flags=True)
    assert flags.tolist() == ["ok", "nonfinite_input", "nonpositive_input", "nonpositive_input", "low_density_limit",
                     "high_density_limit", "ne_below_range", "ne_above_range", "te_above_range",
                     "te_below_range", "nonfinite_input"]
    assert np.all(np.isfinite(out[0]))
    assert np.all(np.isnan(out[1:]))
    assert flag_summary(flags)["nonpositive_input"] == 2
    assert set(FLAG_DESCRIPTIONS) == set(FLAG_NAMES) and FLAG_NAMES[0] == "ok"
    # predict stores nothing on the estimator
    assert not any(k.startswith("last_") for k in vars(est_default))


def test_on_out_of_domain_raise(est_small):
    est = clone(est_small).set_params(on_out_of_domain="raise").fit()
    good = pairs([1e4], [2.5])
    assert np.isfinite(est.predict(good)).all()
    with pytest.raises(OutOfDomainError, match="te_above_range"):
        est.predict(np.vstack([good, pairs([40000.0], [2.0])]))
    # missing or non-positive ratios are flagged, not raised (spaxels without data)
    out, flags = est.predict(np.array([[np.nan, 1.0], [0.0, 1.0]]), return_flags=True)
    assert flags.tolist() == ["nonfinite_input", "nonpositive_input"] and np.isnan(out).all()
    assert set(OUT_OF_DOMAIN_FLAGS) <= set(FLAG_NAMES)


def test_empty_and_bad_shapes(est_small):
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        est_small.predict(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        est_small.predict(np.ones(2))
    with pytest.raises(ValueError, match="empty"):
        est_small.predict(np.empty((0, 2)))
    with pytest.raises(ValueError, match="numeric"):
        est_small.predict([["a", "b"]])


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
    out, flags = est.predict(pairs(te, ln, tem, den), return_flags=True)
    assert np.all(flags == "ok")
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
    out, flags = est.predict(pairs(te, ln), return_flags=True)
    ok = flags == "ok"
    assert np.mean(ok) > 0.99
    np.testing.assert_allclose(out[ok, 0], te[ok], rtol=2e-3, atol=0)
    np.testing.assert_allclose(out[ok, 1], ln[ok], rtol=0, atol=0.05)


def test_threads_give_identical_results(est_small, rng):
    X = pairs(rng.uniform(8000, 18000, 500), rng.uniform(1, 4, 500))
    a, fa = est_small.predict(X, return_flags=True)
    est = clone(est_small).set_params(chunk_size=64, n_jobs=2).fit()
    b, fb = est.predict(X, return_flags=True)
    np.testing.assert_allclose(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(fa, fb)


def test_save_load_roundtrip_without_pyneb(est_small, tmp_path, rng, monkeypatch):
    X = pairs(rng.uniform(8000, 18000, 100), rng.uniform(1, 4, 100))
    X[0, 1] = 0.3  # flagged
    want, want_flags = est_small.predict(X, return_flags=True)
    path = est_small.save(tmp_path / "tene")
    assert path.suffix == ".npz"
    monkeypatch.setitem(sys.modules, "pyneb", None)  # any PyNeb import now fails
    est = TeNeEstimator.load(path)
    got, flags = est.predict(X, return_flags=True)
    np.testing.assert_allclose(got, want, rtol=0, atol=0)
    np.testing.assert_array_equal(flags, want_flags)
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
    fl = {}
    for spec in (est_small.tem_spec_, est_small.den_spec_):
        for k, v in line_emissivities(spec, te.ravel(), ne.ravel()).items():
            fl[k] = v.reshape(te.shape)
    fl["S2_6716A"] = fl["S2_6716A"].copy()
    fl["S2_6716A"][1, 1] = -1.0
    fl["O3_4363A"] = fl["O3_4363A"].copy()
    fl["O3_4363A"][0, 0] = np.nan
    t, n, flags = est_small.predict_from_lines(fl, return_flags=True)
    assert t.shape == (2, 2)
    np.testing.assert_allclose(t[0, 1], 12000.0, rtol=1e-4, atol=0)
    np.testing.assert_allclose(n[1, 0], 4.0, rtol=0, atol=1e-3)
    assert flags.shape == (2, 2)
    assert flags[1, 1] == "nonpositive_input" and flags[0, 0] == "nonfinite_input"
    t2, n2 = est_small.predict_from_lines(fl)
    np.testing.assert_array_equal(t2, t)
    del fl["O3_5007A"]
    with pytest.raises(KeyError, match="O3_5007A"):
        est_small.predict_from_lines(fl)


def test_forward_surrogate_matches_pyneb(est_small):
    te = np.array([7500.0, 13000.0])
    ln = np.array([1.5, 3.5])
    np.testing.assert_allclose(est_small.forward(te, ln), pairs(te, ln), rtol=1e-5, atol=0)
    with pytest.raises(OutOfDomainError, match="outside the forward grid"):
        est_small.forward([1e5], [2.0])


def test_neural_method(tmp_path, rng):
    est = TeNeEstimator(method="nn", grid_shape=(80, 100), n_inverse=(128, 128), nn_hidden=(32, 32),
                        nn_train_size=4000,
                        nn_config={"max_epochs": 40, "batch_size": 256, "lr": 3e-3, "patience": 10}).fit()
    te = rng.uniform(8000, 18000, 300)
    ln = rng.uniform(1.5, 4, 300)
    out, flags = est.predict(pairs(te, ln), return_flags=True)
    ok = flags == "ok"
    assert ok.mean() > 0.95
    assert np.median(np.abs(out[ok, 0] - te[ok])) < 500.0  # K (small net, few epochs)
    assert np.median(np.abs(out[ok, 1] - ln[ok])) < 0.2  # dex
    # unreachable ratios are still flagged
    bad = pairs([1e4], [-3.0]) * [1.0, 0.95]
    assert est.predict(bad, return_flags=True)[1].tolist() == ["low_density_limit"]
    path = est.save(tmp_path / "nn")
    again = TeNeEstimator.load(path)
    np.testing.assert_allclose(again.predict(pairs(te, ln)), out, rtol=0, atol=1e-6)
    assert "nn_best_val_loss" in again.training_record_
    assert again.training_record_["nn_n_train"] == 4000
    assert again.get_params()["nn_config"] == est.nn_config


def test_in_a_pipeline_fit_ignores_the_data(est_small):
    """fit(X) builds the model from PyNeb only; a Pipeline ending with it predicts from a line table."""
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    te = np.array([9000.0, 12000.0, 15000.0])
    ne = np.array([1e2, 1e3, 1e4])
    fl = {}
    for spec in (est_small.tem_spec_, est_small.den_spec_):
        fl.update(line_emissivities(spec, te, ne))
    table = pd.DataFrame(fl)

    def to_ratios(df):
        cols = {k: df[k].to_numpy() for k in df.columns}
        return np.stack([est_small.tem_spec_.ratio_from_lines(cols), est_small.den_spec_.ratio_from_lines(cols)],
                        axis=1)

    pipe = make_pipeline(FunctionTransformer(to_ratios), clone(est_small))
    assert pipe.fit(table) is pipe
    np.testing.assert_allclose(pipe.predict(table), est_small.predict(to_ratios(table)), rtol=0, atol=0)
    np.testing.assert_allclose(pipe.predict(table)[:, 0], te, rtol=1e-4, atol=0)
    # whatever X is, fit builds the same model
    other = clone(est_small).fit(np.full((5, 2), np.nan))
    np.testing.assert_array_equal(other.predict(to_ratios(table)), est_small.predict(to_ratios(table)))


def test_generator_random_state_is_honoured():
    kw = dict(method="nn", grid_shape=(40, 40), n_inverse=(32, 32), nn_hidden=(8,), nn_train_size=200,
              nn_config={"max_epochs": 2, "batch_size": 64})
    a = TeNeEstimator(random_state=np.random.default_rng(1), **kw).fit()
    b = TeNeEstimator(random_state=np.random.default_rng(1), **kw).fit()
    c = TeNeEstimator(random_state=np.random.default_rng(2), **kw).fit()
    X = pairs([1e4], [2.0])
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_reads_files_of_the_older_layout(est_small, tmp_path, rng):
    """Files written by agnlab <= 0.1 (hand-written save: params/fit_info at the top) still load."""
    from agnlab.io import save_artifact

    arrays, meta = est_small._get_state()
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in est_small.get_params().items()
              if k not in ("nn_config", "validation_fraction", "on_out_of_domain")}
    old = save_artifact(tmp_path / "old", kind="agnlab.nebular.TeNeEstimator", arrays=arrays,
                        metadata={**meta, "params": {**params, "n_jobs": 1}, "nn_config": None,
                                  "fit_info": {"grid_seconds": 1.0}})
    est = TeNeEstimator.load(old)
    X = pairs(rng.uniform(8000, 18000, 50), rng.uniform(1, 4, 50))
    np.testing.assert_array_equal(est.predict(X), est_small.predict(X))
    assert est.training_record_ == {"grid_seconds": 1.0}
