"""Contract cases of agnlab.population.

``PopulationFit`` fits a mix of a track library to one histogram of observations
(``fit(track_colors, observed_colors)``; not an ``(X, y)`` Pipeline step, see its
docstring). Its "prediction" is what the fit produces: the mixing fractions and the
model histogram. Its domain is the histogram range: observed rows outside it are
counted in ``training_record_["dropped"]``, tracks entirely outside get weight 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from agnlab.population import PopulationFit

from ._case import ContractCase


def _toy(seed=0, n_tracks=40, n_angles=6, n_obs=2000):
    rng = np.random.default_rng(seed)
    start = rng.uniform(0.0, 2.0, (n_tracks, 1, 2))
    tracks = start + np.linspace(0.0, 0.6, n_angles)[None, :, None] * np.array([1.0, 0.4])
    pick = rng.choice(n_tracks, 4, replace=False)
    ti = rng.choice(pick, n_obs)
    ai = rng.integers(0, n_angles, n_obs)
    obs = tracks[ti, ai] + rng.normal(0.0, 0.05, (n_obs, 2))
    return tracks, obs, np.linspace(0.0, 90.0, n_angles)


_TRACKS, _OBS, _ANGLES = _toy()
_PARAMS = np.random.default_rng(1).uniform(0.0, 1.0, (_TRACKS.shape[0], 3))


def _make():
    return PopulationFit(bins=10, n_alphas=3, cv=2, l1_ratios=(1.0,), color_error=0.05, n_gof_boot=3, random_state=2,
                         progress=False)


def _fit(est):
    return est.fit(_TRACKS, _OBS, angles_deg=_ANGLES)


def _predict(est):
    return est.weight_fractions(), est.model_histogram()


def _out_of_domain(est):
    """Observed rows outside the histogram range are counted, tracks outside get weight 0 (documented)."""
    lo, hi = _OBS.min(axis=0), _OBS.max(axis=0)
    far = np.array([[hi[0] + 50.0, lo[1]], [lo[0] - 50.0, hi[1] + 50.0], [np.nan, 1.0]])
    tracks = _TRACKS.copy()
    tracks[0] = 100.0                     # a track entirely outside the range
    rng = ((lo[0] - 0.1, hi[0] + 0.1), (lo[1] - 0.1, hi[1] + 0.1))
    with pytest.warns(UserWarning):
        est.set_params(color_range=rng).fit(tracks, np.vstack([_OBS, far]), angles_deg=_ANGLES)
    dropped = est.training_record_["dropped"]
    assert dropped["outside_range"] == 2 and dropped["non_finite"] == 1 and dropped["empty_tracks"] == 1
    assert est.weights_[0] == 0.0
    assert est.training_record_["n_objects_used"] == _OBS.shape[0]


def _bad_fit():
    nan_tracks = _TRACKS.copy()
    nan_tracks[:] = np.nan
    return {
        "all_nan_tracks": lambda est: est.fit(nan_tracks, _OBS),
        "inf_observed_everywhere": lambda est: est.fit(_TRACKS, np.full_like(_OBS, np.inf)),
        "tracks_2d": lambda est: est.fit(_TRACKS[:, :, 0], _OBS),
        "observed_3_columns": lambda est: est.fit(_TRACKS, np.column_stack([_OBS, _OBS[:, 0]])),
        "empty_observed": lambda est: est.fit(_TRACKS, _OBS[:0]),
        "empty_tracks": lambda est: est.fit(_TRACKS[:0], _OBS),
        "string_tracks": lambda est: est.fit(np.full(_TRACKS.shape, "a"), _OBS),
        "string_observed": lambda est: est.fit(_TRACKS, np.full(_OBS.shape, "x")),
        "angles_mismatch": lambda est: est.fit(_TRACKS, _OBS, angles_deg=_ANGLES[:3]),
        "missing_column": lambda est: est.fit(_TRACKS, {"w1_w2": _OBS[:, 0], "w2w3": _OBS[:, 1]}),
        "no_errors": lambda est: est.set_params(color_error=None).fit(_TRACKS, _OBS),
        "errors_and_color_error": lambda est: est.fit(_TRACKS, _OBS, np.full_like(_OBS, 0.05)),
        "errors_wrong_shape": lambda est: est.set_params(color_error=None).fit(_TRACKS, _OBS, _OBS[:5]),
        "negative_errors": lambda est: est.set_params(color_error=None).fit(_TRACKS, _OBS, -np.ones_like(_OBS)),
        "range_excludes_all": lambda est: est.set_params(color_range=((50, 51), (50, 51))).fit(_TRACKS, _OBS),
    }


_BAD_PREDICT = {
    "nan_params": lambda est: est.parameter_distributions(np.full_like(_PARAMS, np.nan)),
    "wrong_rows": lambda est: est.parameter_distributions(_PARAMS[:5]),
    "empty_params": lambda est: est.parameter_distributions(_PARAMS[:0]),
    "string_params": lambda est: est.parameter_distributions(np.full(_PARAMS.shape, "x")),
}

CASES = [
    ContractCase("PopulationFit", _make, _fit, _predict, _out_of_domain, _bad_fit(), _BAD_PREDICT),
]
