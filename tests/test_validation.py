import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from agnlab.validation import (
    MissingColumnError,
    check_array,
    check_columns,
    check_is_fitted,
    check_random_state,
    from_dict,
)


def test_check_array_names_the_problem():
    with pytest.raises(ValueError, match=r"params: 1 non-finite values \(1 NaN"):
        check_array([1.0, np.nan], name="params")
    with pytest.raises(ValueError, match="flux: 1 values <= 0"):
        check_array([1.0, 0.0], name="flux", positive=True)
    with pytest.raises(ValueError, match="expected shape"):
        check_array(np.zeros((2, 3)), name="x", shape=(None, 2))
    with pytest.raises(ValueError, match="2-D"):
        check_array(np.zeros(3), name="x", ndim=2)
    with pytest.raises(ValueError, match="empty"):
        check_array([], name="x")
    np.testing.assert_allclose(check_array([1, 2], name="x"), [1.0, 2.0], rtol=0, atol=0)


def test_check_columns_lists_missing():
    df = pd.DataFrame({"ra": [1.0], "dec": [2.0]})
    check_columns(df, ["ra"])
    with pytest.raises(MissingColumnError, match=r"missing column\(s\) \['w1mpro'\]"):
        check_columns(df, ["ra", "w1mpro"], name="catalog")


def test_fitted_random_state_and_strict_dataclass():
    class Est:
        coef_ = None

    with pytest.raises(NotFittedError):
        check_is_fitted(Est(), "coef_")
    a = check_random_state(3).normal(size=3)
    b = check_random_state(3).normal(size=3)
    np.testing.assert_allclose(a, b, rtol=0, atol=0)

    @dataclasses.dataclass
    class Cfg:
        lr: float = 1.0

    assert from_dict(Cfg, {"lr": 2.0}).lr == 2.0
    with pytest.raises(TypeError, match=r"unknown field\(s\) \['lrr'\]"):
        from_dict(Cfg, {"lrr": 2.0})
