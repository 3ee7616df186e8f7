"""Contract cases of agnlab.nebular (tiny grids, few models, few epochs).

TeNeEstimator needs PyNeb (the ``nebular`` extra) to fit; without it only the
ICFRegressor cases are listed (and the completeness check names the missing one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnlab import OutOfDomainError
from agnlab.nebular import (
    ICF_FEATURES,
    OUT_OF_DOMAIN_FLAGS,
    GridEmulator,
    GridInverter,
    ICFRegressor,
    TeNeEstimator,
    diagnostic_ratio,
    ionization_table,
    load_photoionization_grid,
)

from ._case import ContractCase

try:
    import pyneb  # noqa: F401
    HAVE_PYNEB = True
except ImportError:  # pragma: no cover - the nebular extra is installed in CI
    HAVE_PYNEB = False

# ----------------------------------------------------------------- TeNeEstimator
_TEM, _DEN = "[OIII] 4363/5007", "[SII] 6731/6716"
_TE = np.array([8000.0, 10000.0, 12000.0, 15000.0, 40000.0])      # the last one is too hot: outside
_LN = np.array([1.5, 2.0, 3.0, 3.5, 2.0])
_PAIRS = {}


def _pairs():
    if not _PAIRS:
        _PAIRS["x"] = np.stack([diagnostic_ratio(_TEM, _TE, 10 ** _LN), diagnostic_ratio(_DEN, _TE, 10 ** _LN)],
                               axis=1)
    return _PAIRS["x"]


def _tene_fit(est):
    return est.fit()          # no training data: built from PyNeb (see the class docstring)


def _tene_predict(est):
    return est.predict(_pairs()[:4], return_flags=True)


def _tene_out_of_domain(est):
    x = _pairs()[[0, 4]]
    out, flags = est.predict(x, return_flags=True)     # default on_out_of_domain="nan": flagged
    assert flags[1] in OUT_OF_DOMAIN_FLAGS and np.isnan(out[1]).all()
    if est.method == "table":                            # (the 3-epoch network of the nn case is rough)
        assert flags.tolist() == ["ok", "te_above_range"] and np.isfinite(out[0]).all()
    with pytest.raises(OutOfDomainError, match="outside the training domain"):
        est.set_params(on_out_of_domain="raise").predict(x)


_TENE_BAD_FIT = {
    "nan_te_range": lambda est: est.set_params(te_range_k=(np.nan, 2e4)).fit(),
    "reversed_range": lambda est: est.set_params(log_ne_range=(5.0, 1.0)).fit(),
    "wrong_shape_grid": lambda est: est.set_params(grid_shape=(40,)).fit(),
    "string_range": lambda est: est.set_params(te_range_k=("a", "b")).fit(),
    "unknown_diagnostic": lambda est: est.set_params(tem_diag="[OIII] 1/2").fit(),
}

# NaN/inf ratios are flagged per row by design (a missing line in a spaxel), not rejected
_TENE_BAD_PREDICT = {
    "wrong_width": lambda est: est.predict(np.ones((3, 3))),
    "one_dim": lambda est: est.predict(np.ones(2)),
    "empty": lambda est: est.predict(np.empty((0, 2))),
    "strings": lambda est: est.predict(np.full((2, 2), "x")),
}

_TENE_SMALL = dict(grid_shape=(40, 48), n_inverse=(32, 32), random_state=0)

# ----------------------------------------------------------------- ICFRegressor
_TABLE = ionization_table(120, seed=0)
_TRAIN, _TEST = _TABLE.iloc[:90].reset_index(drop=True), _TABLE.iloc[90:].reset_index(drop=True)
_FEATS = list(ICF_FEATURES)
# held-out rows moved inside the training table's ranges (the cases use domain_margin=0.5, so the
# ranges of the training split, 80 % of these rows, cover them)
_TEST_X = np.clip(_TEST[_FEATS].to_numpy(), _TRAIN[_FEATS].min().to_numpy(), _TRAIN[_FEATS].max().to_numpy())


def _icf_fit(est):
    return est.fit(_TRAIN[_FEATS].to_numpy(), _TRAIN["log_icf_N"].to_numpy())


def _icf_predict(est):
    return est.predict(_TEST_X, return_flags=True)


def _icf_out_of_domain(est):
    x = _TEST_X[:2].copy()
    x[1, 2] = est.feature_max_[2] + 10.0 * (est.feature_max_[2] - est.feature_min_[2])
    with pytest.raises(OutOfDomainError, match="outside the training domain"):
        est.set_params(on_out_of_domain="raise").predict(x)
    pred, flags = est.set_params(on_out_of_domain="nan").predict(x, return_flags=True)
    assert flags.tolist() == ["ok", "out_of_domain"]
    assert np.isfinite(pred[0]) and np.isnan(pred[1])


def _icf_bad_fit():
    x, y = _TRAIN[_FEATS].to_numpy(), _TRAIN["log_icf_N"].to_numpy()
    nan_x = x.copy()
    nan_x[3, 1] = np.nan
    return {
        "nan_features": lambda est: est.fit(nan_x, y),
        "inf_target": lambda est: est.fit(x, np.where(np.arange(y.size) == 0, np.inf, y)),
        "row_mismatch": lambda est: est.fit(x[:50], y[:60]),
        "one_dim": lambda est: est.fit(x[:, 0], y),
        "empty": lambda est: est.fit(x[:0], y[:0]),
        "strings": lambda est: est.fit(np.full((30, 5), "a"), y[:30]),
        "missing_target": lambda est: est.fit(x),
    }


_ICF_BAD_PREDICT = {
    "nan": lambda est: est.predict(np.full((2, 5), np.nan)),
    "wrong_width": lambda est: est.predict(_TEST[_FEATS].to_numpy()[:3, :4]),
    "empty": lambda est: est.predict(_TEST[_FEATS].to_numpy()[:0]),
    "strings": lambda est: est.predict(np.full((2, 5), "x")),
}

_MIN_ROWS = "fit needs >= 20 models (validation split and permutation importances); sklearn fits fewer"
_WORDING = "the error names the problem in agnlab's words, not the phrase sklearn's check greps for"
_ICF_SKLEARN_EXEMPT = {
    "check_n_features_in_after_fitting": _MIN_ROWS,
    "check_estimators_nan_inf": _MIN_ROWS,
    "check_regressors_no_decision_function": _MIN_ROWS,
    "check_complex_data": _WORDING,
    "check_dtype_object": _WORDING,
    "check_estimators_empty_data_messages": _WORDING,
    "check_fit2d_1sample": _WORDING,
    "check_fit2d_1feature": _WORDING,
    "check_fit2d_predict1d": _WORDING,
    "check_requires_y_none": _WORDING,
    "check_estimator_sparse_tag": "dense features only (physical line ratios); sparse input is refused",
    "check_estimator_sparse_array": "dense features only; sparse input is refused with agnlab's message",
    "check_estimator_sparse_matrix": "dense features only; sparse input is refused with agnlab's message",
    "check_supervised_y_2d": "the target is one log ICF: a 2-D y is refused, not raveled with a warning",
    "check_regressor_data_not_an_array": "features are matched by name; a name-less array-like container is "
                                         "refused",
}

# ----------------------------------------------------------------- GridInverter, GridEmulator (a toy 5 x 5 grid)
_GRID_LINES = ["OIII5007", "NII6583", "SII6716"]


def _toy_photoion_grid():
    u, oh = np.meshgrid(np.linspace(-4.0, -2.0, 5), np.linspace(7.6, 9.2, 5), indexing="ij")
    t = pd.DataFrame({"log U": u.ravel(), "12 + log O/H": oh.ravel(), "Hbeta": 1.0})
    z = t["12 + log O/H"] - 8.4
    t["OIII5007"] = 10 ** (0.6 * (t["log U"] + 3) + 0.3 - 0.5 * z)
    t["NII6583"] = 10 ** (-0.5 + 0.8 * z - 0.3 * (t["log U"] + 3))
    t["SII6716"] = 10 ** (-0.7 + 0.2 * z - 0.4 * (t["log U"] + 3))
    return load_photoionization_grid(t, params=["log U", "12 + log O/H"])


def _grid_obs(rows=(3, 7, 12, 18)):
    g = _toy_photoion_grid()
    f = g.fluxes.iloc[list(rows)][["Hbeta", *_GRID_LINES]].reset_index(drop=True)
    return f, 0.05 * f


def _inv_predict(est):
    return est.predict(*_grid_obs())


def _inv_out_of_domain(est):
    f, e = _grid_obs()
    f.loc[0, "OIII5007"] *= 300.0
    out = est.predict(f, e)
    assert out["flag"].iloc[0] == "out_of_domain" and np.isnan(out["log U"].iloc[0])
    with pytest.raises(OutOfDomainError, match="outside the domain"):
        est.set_params(on_out_of_domain="raise").predict(f, e)


_INV_BAD_FIT = {
    "unknown_line": lambda est: est.fit(_toy_photoion_grid(), lines=["OIII5007", "NoSuchLine"]),
    "bad_exclude": lambda est: est.fit(_toy_photoion_grid(), lines=_GRID_LINES, exclude=np.ones(3, bool)),
    "not_a_grid": lambda est: est.fit(np.zeros((5, 3)), lines=_GRID_LINES),
}
_INV_BAD_PREDICT = {
    "unknown_column": lambda est: est.predict(*(d.rename(columns={"OIII5007": "O3"}) for d in _grid_obs())),
    "no_hbeta": lambda est: est.predict(*(d.drop(columns="Hbeta") for d in _grid_obs())),
    "row_mismatch": lambda est: est.predict(_grid_obs()[0], _grid_obs()[1].iloc[:2]),
}

GRID_CASES = [
    ContractCase("GridInverter",
                 lambda: GridInverter("nn", n_samples=2000, hidden=(8,), max_epochs=3, random_state=0, progress=False),
                 lambda est: est.fit(_toy_photoion_grid(), lines=_GRID_LINES), _inv_predict, _inv_out_of_domain,
                 _INV_BAD_FIT, _INV_BAD_PREDICT),
    ContractCase("GridInverter[gbm]",
                 lambda: GridInverter("gbm", n_samples=1000, gbm_params={"max_iter": 10}, random_state=0),
                 lambda est: est.fit(_toy_photoion_grid(), lines=_GRID_LINES), _inv_predict, _inv_out_of_domain,
                 {}, _INV_BAD_PREDICT),
    ContractCase("GridEmulator",
                 lambda: GridEmulator("neural", emulator_params={"hidden": (8,), "max_epochs": 100, "lbfgs_steps": 0}),
                 lambda est: est.fit(_toy_photoion_grid(), lines=_GRID_LINES),
                 lambda est: est.predict(np.array([[-3.5, 8.0], [-2.5, 9.0], [-1.0, 8.0]])),   # last: NaN outside
                 None,
                 {"unknown_line": lambda est: est.fit(_toy_photoion_grid(), lines=["NoSuchLine"])},
                 {"wrong_columns": lambda est: est.predict(np.zeros((2, 3)))}),
]


_TENE_CASES = [
    ContractCase("TeNeEstimator", lambda: TeNeEstimator(**_TENE_SMALL), _tene_fit, _tene_predict,
                 _tene_out_of_domain, _TENE_BAD_FIT, _TENE_BAD_PREDICT),
    ContractCase("TeNeEstimator[nn]",
                 lambda: TeNeEstimator(method="nn", nn_hidden=(8, 8), nn_train_size=300,
                                       nn_config={"max_epochs": 3, "batch_size": 64}, **_TENE_SMALL),
                 _tene_fit, _tene_predict, _tene_out_of_domain, {}, _TENE_BAD_PREDICT),
]

CASES = (_TENE_CASES if HAVE_PYNEB else []) + [
    ContractCase("ICFRegressor",
                 lambda: ICFRegressor(backend_params={"max_iter": 20}, n_repeats=2, domain_margin=0.5,
                                      random_state=1),
                 _icf_fit, _icf_predict, _icf_out_of_domain, _icf_bad_fit(), _ICF_BAD_PREDICT,
                 sklearn_checks=_ICF_SKLEARN_EXEMPT),
    ContractCase("ICFRegressor[ann]",
                 lambda: ICFRegressor(backend="ann", n_repeats=2, domain_margin=0.5, random_state=2,
                                      backend_params={"hidden_layer_sizes": (8,), "max_iter": 5}),
                 _icf_fit, _icf_predict, _icf_out_of_domain, {}, _ICF_BAD_PREDICT),
] + GRID_CASES
