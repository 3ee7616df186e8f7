"""Contract cases of agnlab.lightcurves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agnlab import OutOfDomainError
from agnlab.lightcurves import (
    HierarchicalClassifier,
    StampClassifier,
    VRAEAnomalyDetector,
    extract_features,
    simulate,
    simulate_stamps,
)

from ._case import ContractCase

_CLASSES = ["QSO", "RRL", "E", "SNIa", "LPV", "AGN"]
_LC, _LAB = simulate(6, classes=_CLASSES, seed=0)
_FEATS = extract_features(_LC, villar=False)
_LC_T, _ = simulate(2, classes=_CLASSES, seed=1)
_FEATS_T = extract_features(_LC_T, villar=False)


def _clf_bad_fit():
    inf = _FEATS.copy()
    inf.iloc[0, 0] = np.inf
    strings = _FEATS.copy()
    strings["mean_g"] = "x"
    return {
        "inf_feature": lambda est: est.fit(inf, _LAB),
        "empty": lambda est: est.fit(_FEATS.iloc[:0], _LAB),
        "strings": lambda est: est.fit(strings, _LAB),
        "label_count": lambda est: est.fit(_FEATS.to_numpy()[:, :-1].astype(float), _LAB["class"].to_numpy()[:5]),
        "unknown_class": lambda est: est.fit(_FEATS, _LAB.assign(**{"class": "Alien"})),
        "one_dim": lambda est: est.fit(np.zeros(10), np.array(["QSO"] * 10)),
    }


def _clf_bad_predict():
    inf = _FEATS_T.copy()
    inf.iloc[0, 3] = np.inf
    return {
        "missing_column": lambda est: est.predict_proba(_FEATS_T.drop(columns=["mean_g"])),
        "inf": lambda est: est.predict_proba(inf),
        "empty": lambda est: est.predict_proba(_FEATS_T.iloc[:0]),
        "strings": lambda est: est.predict_proba(_FEATS_T.assign(mean_g="x")),
    }


_AGN, _ = simulate(8, classes=["AGN", "QSO"], seed=2)
_AGN_T, _ = simulate(3, classes=["AGN", "QSO"], seed=3)


def _short_curve():
    lc = _AGN_T.loc[_AGN_T["object_id"] == _AGN_T["object_id"].iloc[0]]
    short = lc.loc[lc["detected"]].iloc[:3].assign(object_id="short")
    return pd.concat([_AGN_T, short], ignore_index=True)


def _vrae_out_of_domain(est):
    table = _short_curve()
    with pytest.raises(OutOfDomainError, match="short"):
        est.score(table)
    scores = est.set_params(on_out_of_domain="nan").score(table).set_index("object_id")
    assert scores.loc["short", "flag"] == "out_of_domain" and np.isnan(scores.loc["short", "R"])
    assert (scores.drop(index="short")["flag"] == "ok").all()


_VRAE_BAD_FIT = {
    "empty": lambda est: est.fit(_AGN.iloc[:0]),
    "missing_column": lambda est: est.fit(_AGN.drop(columns=["mag_err"])),
    "strings": lambda est: est.fit(_AGN.assign(mag="bright")),
    "too_few_objects": lambda est: est.fit(_AGN.loc[_AGN["object_id"] == _AGN["object_id"].iloc[0]]),
    "not_a_table": lambda est: est.fit(np.zeros((10, 6))),
}
_VRAE_BAD_PREDICT = {
    "empty": lambda est: est.score(_AGN_T.iloc[:0]),
    "missing_column": lambda est: est.score(_AGN_T.drop(columns=["mjd"])),
    "strings": lambda est: est.score(_AGN_T.assign(mjd="yesterday")),
}

_ST, _ST_META, _ST_Y = simulate_stamps(3, seed=0)
_ST_T, _ST_META_T, _ = simulate_stamps(1, seed=1)


def _stamps_out_of_domain(est):
    bad = _ST_T.copy()
    bad[0, 1] = np.nan
    p, flags = est.set_params(on_out_of_domain="nan").predict_proba(bad, _ST_META_T, return_flags=True)
    assert np.isnan(p[0]).all() and flags[0] == "out_of_domain" and np.isfinite(p[1:]).all()
    est.set_params(on_out_of_domain="raise")
    with pytest.raises(OutOfDomainError):
        est.predict_proba(bad, _ST_META_T)


def _nan_train():
    x = _ST.copy()
    x[0, 2] = np.nan
    return x


_STAMP_BAD_FIT = {
    "wrong_shape": lambda est: est.fit(_ST[:, :, :32, :32], _ST_META, _ST_Y),
    "two_channels": lambda est: est.fit(_ST[:, :2], _ST_META, _ST_Y),
    "missing_column": lambda est: est.fit(_ST, _ST_META.drop(columns=["mag"]), _ST_Y),
    "strings": lambda est: est.fit(_ST, _ST_META.assign(mag="bright"), _ST_Y),
    "label_count": lambda est: est.fit(_ST, _ST_META, _ST_Y[:4]),
    "one_class": lambda est: est.fit(_ST, _ST_META, np.full(len(_ST_Y), "SN")),
    "empty": lambda est: est.fit(_ST[:0], _ST_META.iloc[:0], _ST_Y[:0]),
    "unusable_image": lambda est: est.fit(_nan_train(), _ST_META, _ST_Y),
}
_STAMP_BAD_PREDICT = {
    "wrong_shape": lambda est: est.predict_proba(_ST_T[:, :, :32, :32], _ST_META_T),
    "row_mismatch": lambda est: est.predict_proba(_ST_T, _ST_META_T.iloc[:2]),
    "missing_column": lambda est: est.predict_proba(_ST_T, _ST_META_T.drop(columns=["fwhm_arcsec"])),
    "strings": lambda est: est.predict_proba(_ST_T, _ST_META_T.assign(mag="bright")),
    "not_numeric": lambda est: est.predict_proba([["a"]], None),
}

CASES = [
    ContractCase("HierarchicalClassifier", lambda: HierarchicalClassifier(n_estimators=8, random_state=0),
                 lambda est: est.fit(_FEATS, _LAB), lambda est: est.predict_proba(_FEATS_T), None,
                 _clf_bad_fit(), _clf_bad_predict()),
    ContractCase("VRAEAnomalyDetector",
                 lambda: VRAEAnomalyDetector(hidden=8, latent=3, max_len=60, max_epochs=2, batch_size=8,
                                             min_detections=5, if_n_estimators=20, random_state=1),
                 lambda est: est.fit(_AGN), lambda est: est.score(_AGN_T), _vrae_out_of_domain,
                 _VRAE_BAD_FIT, _VRAE_BAD_PREDICT),
    ContractCase("StampClassifier",
                 lambda: StampClassifier(width=4, hidden=8, max_epochs=2, batch_size=8, random_state=0),
                 lambda est: est.fit(_ST, _ST_META, _ST_Y), lambda est: est.predict_proba(_ST_T, _ST_META_T),
                 _stamps_out_of_domain, _STAMP_BAD_FIT, _STAMP_BAD_PREDICT),
]
