"""ICFRegressor, the approximate ionisation-balance table and the PyNeb classical ICFs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from agnlab import OutOfDomainError
from agnlab.nebular import (
    ICF_FEATURES,
    ICFRegressor,
    classical_icf,
    compare_icfs,
    icf_features,
    ionization_table,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST_GBM = {"max_iter": 120}
FAST_ANN = {"hidden_layer_sizes": (32, 32), "max_iter": 300}


@pytest.fixture(scope="module")
def table():
    return ionization_table(900, seed=0)


@pytest.fixture(scope="module")
def split(table):
    return table.iloc[:700].reset_index(drop=True), table.iloc[700:].reset_index(drop=True)


def test_ionization_table_is_physical(table):
    assert len(table) == 900
    # fractions: observed ions never exceed the element; ionic abundances are non-negative
    for el, ions in {"O": ["O1", "O2", "O3", "O4", "O5"], "N": ["N1", "N2", "N3", "N4", "N5"]}.items():
        assert (table[ions] >= 0).all().all()
        # relative to H+, the n_e-weighted ion sum is >= the element abundance (partly neutral H at
        # the ionisation front counts in the metals' weight but not in H+'s) and close to it overall
        ratio = table[ions].sum(axis=1) / table[el]
        assert ratio.min() >= 1.0 - 1e-9
        assert ratio.median() == pytest.approx(1.0, abs=0.05)
    # ICF(N) = N/N+ >= 1 and grows with the ionisation parameter (stratification)
    assert (table["log_icf_N"] > 0).all()
    hi_u = table["log_icf_N"][table["log_u"] > -2.0].median()
    lo_u = table["log_icf_N"][table["log_u"] < -3.5].median()
    assert hi_u > lo_u + 0.2
    # He++ only appears for hot stars
    hot = table["x_he3"][table["teff_k"] > 100000].median()
    cool = table["x_he3"][table["teff_k"] < 40000].median()
    assert hot > 10 * cool
    assert set(ICF_FEATURES) <= set(table.columns)


def test_ionization_table_is_deterministic():
    a = ionization_table(50, seed=3)
    b = ionization_table(50, seed=3)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=0)


def test_ionization_table_rejects_bad_ranges():
    with pytest.raises(ValueError, match="log_u_range"):
        ionization_table(10, log_u_range=(-1.0, -3.0))
    with pytest.raises(ValueError, match="n_models"):
        ionization_table(0)


@pytest.mark.parametrize("backend, params", [("gbm", FAST_GBM), ("ann", FAST_ANN)])
def test_regressor_learns_icf_and_beats_classical_on_model_grid(split, backend, params):
    train, test = split
    reg = ICFRegressor(target="log_icf_N", backend=backend, backend_params=params).fit(train)
    pred = reg.predict(test)
    assert pred.shape == (len(test),)
    ok = np.isfinite(pred)
    assert ok.mean() > 0.95                              # a few rows may fall outside the domain
    err = np.abs(pred[ok] - test["log_icf_N"].to_numpy()[ok])
    assert np.median(err) < 0.06                          # dex
    assert reg.training_record_["r2"] > 0.9
    cmp = compare_icfs(test[ok].reset_index(drop=True), "N", predictions=pred[ok])
    ours = cmp.set_index("method").loc["ICFRegressor", "median_abs_dex"]
    tpp = cmp.set_index("method").loc["PyNeb TPP77_14", "median_abs_dex"]
    assert ours < tpp                                     # trained on the same model family
    assert reg.permutation_importances_.shape == (len(ICF_FEATURES), 2)
    np.testing.assert_allclose(reg.feature_importances_.sum(), 1.0, rtol=1e-9)


def test_gain_importances_point_at_the_relevant_feature(split):
    train, _ = split
    reg = ICFRegressor(target="log_icf_N", features=["x_o2", "x_he3"], backend_params=FAST_GBM).fit(train)
    # ICF(N) ~ O/O+: the O+ fraction carries it
    assert reg.gain_importances_[0] > 0.7
    assert reg.permutation_importances_.loc["x_o2", "mean"] > reg.permutation_importances_.loc["x_he3", "mean"]


@pytest.mark.parametrize("backend, params", [("gbm", FAST_GBM), ("ann", FAST_ANN)])
def test_save_load_roundtrip_is_exact(split, tmp_path, backend, params):
    train, test = split
    reg = ICFRegressor(target="log_icf_O", backend=backend, backend_params=params).fit(train)
    path = reg.save(tmp_path / f"icf_{backend}")
    back = ICFRegressor.load(path)
    np.testing.assert_allclose(back.predict(test), reg.predict(test), rtol=0, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(back.feature_importances_, reg.feature_importances_, atol=1e-12)
    assert back.training_record_ == reg.training_record_
    assert list(back.feature_names_in_) == list(reg.feature_names_in_)


def test_load_rejects_other_artifacts(tmp_path):
    from agnlab.io import ArtifactError, save_artifact

    p = save_artifact(tmp_path / "x", kind="something.else", arrays={"a": np.zeros(2)}, metadata={})
    with pytest.raises(ArtifactError, match="expected"):
        ICFRegressor.load(p)


def test_fit_from_table_file(split, tmp_path):
    from agnlab.io import write_table

    train, test = split
    path = write_table(train, tmp_path / "grid.csv")
    reg = ICFRegressor(target="log_icf_Ne", backend_params=FAST_GBM).fit(path)
    assert np.isfinite(reg.predict(test)).mean() > 0.9


def test_missing_columns_are_named(split):
    train, _ = split
    with pytest.raises(KeyError, match="x_he3"):
        ICFRegressor(target="log_icf_N").fit(train.drop(columns=["x_he3"]))
    with pytest.raises(KeyError, match="log_icf_Zn"):
        ICFRegressor(target="log_icf_Zn").fit(train)
    reg = ICFRegressor(target="log_icf_N", backend_params=FAST_GBM).fit(train)
    with pytest.raises(KeyError, match="log_s3_s2"):
        reg.predict(train.drop(columns=["log_s3_s2"]))


def test_bad_values_and_unfitted(split):
    train, _ = split
    bad = train.copy()
    bad.loc[3, "x_o2"] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        ICFRegressor(target="log_icf_N").fit(bad)
    with pytest.raises(ValueError, match="backend"):
        ICFRegressor(target="log_icf_N", backend="xgb").fit(train)
    with pytest.raises(NotFittedError):
        ICFRegressor().predict(train)


def test_out_of_domain_rows_are_flagged(split):
    train, test = split
    reg = ICFRegressor(target="log_icf_N", features=["x_o2", "log_o3_o2"], backend_params=FAST_GBM).fit(train)
    x = test[["x_o2", "log_o3_o2"]].to_numpy()[:5].copy()
    x[0, 1] = 50.0                                       # far outside the trained range
    pred, flags = reg.predict(x, return_flags=True)
    assert np.isnan(pred[0]) and np.isfinite(pred[1:]).all()
    assert flags.tolist() == ["out_of_domain", "ok", "ok", "ok", "ok"]
    np.testing.assert_array_equal(reg.predict(x), pred)
    assert not any(k.startswith("last_") for k in vars(reg))
    reg.set_params(on_out_of_domain="raise")
    with pytest.raises(OutOfDomainError, match="outside the training domain.*log_o3_o2"):
        reg.predict(x)
    with pytest.raises(ValueError, match="on_out_of_domain"):
        reg.set_params(on_out_of_domain="keep").predict(x)


def test_works_in_sklearn_pipeline(split):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    train, test = split
    feats = list(ICF_FEATURES)
    pipe = make_pipeline(FunctionTransformer(lambda df: df[feats].to_numpy()),
                         ICFRegressor(backend_params=FAST_GBM))
    pipe.fit(train, train["log_icf_S"].to_numpy())
    assert pipe.predict(test).shape == (len(test),)


def test_classical_icf_matches_formula(table):
    # TPP77_14: ICF(N) = (O+ + O++)/O+
    got = classical_icf(table, "TPP77_14")
    want = (table["O2"] + table["O3"]) / table["O2"]
    np.testing.assert_allclose(got["icf"], want, rtol=1e-12)
    np.testing.assert_allclose(got["elem_abund"], want * table["N2"], rtol=1e-12)
    # KB94_A1.10 uses another ICF (KB94_A10) internally: evaluated too
    kb = classical_icf(table, "KB94_A1.10")
    assert np.isfinite(kb["icf"]).all()
    with pytest.raises(ValueError, match="unknown PyNeb ICF"):
        classical_icf(table, "NOPE_1")


def test_icf_features_need_columns(table):
    f = icf_features(table)
    np.testing.assert_allclose(f["x_o2"], table["O2"] / (table["O2"] + table["O3"]), rtol=1e-9)
    with pytest.raises(KeyError, match="Ar4"):
        icf_features(table.drop(columns=["Ar4"]))
