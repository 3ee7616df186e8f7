"""Contract cases of agnlab.explore."""

from __future__ import annotations

import numpy as np
import pytest

from agnlab import OutOfDomainError
from agnlab.explore import Explorer, Preprocessor, mock_table

from ._case import ContractCase

_TABLE, _ = mock_table(120, seed=0)
_NEW, _ = mock_table(30, seed=1)
_NEW = _NEW.assign(redshift=_NEW["redshift"].clip(_TABLE["redshift"].min(), _TABLE["redshift"].max()))


def _bad_fit():
    inf = _TABLE.copy()
    inf.loc[0, "logf_g"] = np.inf
    const = _TABLE.assign(logf_g=1.0)
    allnan = _TABLE.assign(logf_g=np.nan)
    return {
        "inf": lambda est: est.fit(inf),
        "empty": lambda est: est.fit(_TABLE.iloc[:0]),
        "strings": lambda est: est.set_params(features=["logf_g", "logf_r"]).fit(_TABLE.assign(logf_g="bright")),
        "constant": lambda est: est.fit(const),
        "all_nan_column": lambda est: est.fit(allnan),
        "not_a_table": lambda est: est.fit(42),
        "too_few_rows": lambda est: est.fit(_TABLE.iloc[:1]),
    }


def _bad_predict(method):
    return {
        "missing_column": lambda est: getattr(est, method)(_NEW.drop(columns=["logf_g"])),
        "strings": lambda est: getattr(est, method)(_NEW.assign(logf_g="x")),
        "empty": lambda est: getattr(est, method)(_NEW.iloc[:0]),
        "inf": lambda est: getattr(est, method)(_NEW.assign(logf_g=np.inf)),
    }


def _ood(method):
    def check(est):
        table = _NEW.copy()
        table.loc[table.index[0], "survey"] = "survey_Z"
        table.loc[table.index[1], "redshift"] = 50.0
        with pytest.raises(OutOfDomainError, match="survey_Z"):
            getattr(est, method)(table)
        est.set_params(on_out_of_domain="nan")
        out, flags = getattr(est, method)(table, return_flags=True)
        assert list(flags[:2]) == ["out_of_domain"] * 2 and (flags[2:] == "ok").all()
        first = out.iloc[0] if hasattr(out, "iloc") else out[0]
        assert np.isnan(np.asarray(first, dtype=float)).all() or np.asarray(first).min() == -1
    return check


CASES = [
    ContractCase("Preprocessor",
                 lambda: Preprocessor(survey_column="survey", control=("redshift",), impute="knn", random_state=0),
                 lambda est: est.fit(_TABLE), lambda est: est.transform(_NEW), _ood("transform"),
                 _bad_fit(), _bad_predict("transform")),
    ContractCase("Explorer",
                 lambda: Explorer(survey_column="survey", control=("redshift",), clustering="gmm", n_clusters=3,
                                  covariance_type="diag", embedding="autoencoder", outliers="gmm", max_epochs=3,
                                  hidden=8, random_state=0),
                 lambda est: est.fit(_TABLE),
                 lambda est: (est.transform(_NEW), est.predict(_NEW), est.score_samples(_NEW)),
                 _ood("transform"), _bad_fit(), _bad_predict("score_samples")),
]
