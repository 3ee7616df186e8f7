"""Contract cases of agnlab.emulate."""

from __future__ import annotations

import numpy as np
import pytest

from agnlab import OutOfDomainError
from agnlab.emulate import NeuralEmulator, PCAEmulator
from agnlab.grids import clumpy_like_grid

from ._case import ContractCase

_GRID = clumpy_like_grid(160, seed=0)
_X, _Y = _GRID.params, _GRID.flux
_TRAIN = slice(0, 120)
# held-out models, moved inside the training ranges (the domain is the box of the training models)
_TEST_X = np.clip(_X[120:160], _X[_TRAIN].min(axis=0), _X[_TRAIN].max(axis=0))


def _fit(est):
    return est.fit(_X[_TRAIN], _Y[_TRAIN], wave_um=_GRID.wave_um)


def _predict(est):
    return est.predict(_TEST_X)


def _out_of_domain(est):
    x = np.array(_X[:2], dtype=float)
    x[1, 0] = est.param_max_[0] + 10.0 * (est.param_max_[0] - est.param_min_[0])
    with pytest.raises(OutOfDomainError, match="outside the training domain"):
        est.predict(x)
    flux, flags = est.set_params(on_out_of_domain="nan").predict(x, return_flags=True)
    assert list(flags) == ["ok", "out_of_domain"]
    assert np.isnan(flux[1]).all() and np.isfinite(flux[0]).all()


def _bad_fit():
    nan_x = _X[_TRAIN].copy()
    nan_x[3, 2] = np.nan
    return {
        "nan_params": lambda est: est.fit(nan_x, _Y[_TRAIN]),
        "inf_flux": lambda est: est.fit(_X[_TRAIN], np.where(np.arange(_Y.shape[1]) == 0, np.inf, _Y[_TRAIN])),
        "negative_flux": lambda est: est.fit(_X[_TRAIN], -_Y[_TRAIN]),
        "row_mismatch": lambda est: est.fit(_X[:50], _Y[:60]),
        "one_dim": lambda est: est.fit(_X[_TRAIN, 0], _Y[_TRAIN]),
        "empty": lambda est: est.fit(_X[:0], _Y[:0]),
        "strings": lambda est: est.fit(np.full((20, 6), "a"), _Y[:20]),
    }


_BAD_PREDICT = {
    "nan": lambda est: est.predict(np.full((2, 6), np.nan)),
    "wrong_width": lambda est: est.predict(_X[:3, :4]),
    "empty": lambda est: est.predict(_X[:0]),
    "strings": lambda est: est.predict(np.full((2, 6), "x")),
}

CASES = [
    ContractCase("PCAEmulator", lambda: PCAEmulator(n_components=6), _fit, _predict, _out_of_domain,
                 _bad_fit(), _BAD_PREDICT),
    ContractCase("NeuralEmulator",
                 lambda: NeuralEmulator(n_components=6, hidden=(16, 16), max_epochs=3, batch_size=32,
                                        lbfgs_steps=0, random_state=3),
                 _fit, _predict, _out_of_domain, _bad_fit(), _BAD_PREDICT),
]
