"""GBMQuantiles: the tree walk on uint8 bins gives the same numbers as on float features, scikit-learn and FlatTrees."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from agnlab.nebular._grid_backends import QUANTILES, GBMQuantiles, bin_features, split_bins

_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")
_KW = {"max_iter": 25, "max_leaf_nodes": 31, "min_samples_leaf": 20, "early_stopping": False}


def _data(n, seed):
    """Features with missing values (NaN, as missing lines are) and two targets."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    y = np.column_stack([x[:, 0] + np.nan_to_num(x[:, 1]) ** 2, np.sin(x[:, 2]) - x[:, 3]])
    y += 0.1 * rng.standard_normal(y.shape)
    x[rng.random(x.shape) < 0.2] = np.nan
    return x, y


def _awkward(x, seed):
    """Rows with NaN, values far outside the training range, +-inf, and values equal to split thresholds."""
    rng = np.random.default_rng(seed)
    out = x.copy()
    out[rng.random(out.shape) < 0.3] = np.nan
    out[::4] = 50.0 * out[::4]
    out[1::7, 0], out[2::7, 1], out[3::7, 2] = np.inf, -np.inf, np.inf
    return out


@pytest.fixture(scope="module")
def fitted():
    x, y = _data(3000, 0)
    return GBMQuantiles.fit(x, y, params=_KW, seed=4, progress=False), x, y


def test_binned_walk_is_the_float_walk_and_scikit_learn(fitted):
    gbm, x, y = fitted
    test = _awkward(_data(2000, 1)[0], 2)
    binned, raw = gbm._build(), gbm._build(binned=False)
    assert binned.binned and not raw.binned
    pred = binned(test)
    assert np.array_equal(pred, raw(test))                      # the same branches: bit-identical sums
    np.testing.assert_allclose(pred, gbm._build_flat()(test), rtol=0, atol=1e-12)
    # predict walks the rows sorted by their most-split features and puts them back in the callers' order
    shuffle = np.random.default_rng(5).permutation(len(test))
    assert np.array_equal(gbm.predict(test), gbm.baselines + pred)
    assert np.array_equal(gbm.predict(test[shuffle]), gbm.predict(test)[shuffle])
    for p, j in [(0, 0), (1, 2)]:           # the fit is seeded: refitting one model gives scikit-learn's prediction
        m = HistGradientBoostingRegressor(loss="quantile", quantile=QUANTILES[j], random_state=4, **_KW).fit(x, y[:, p])
        np.testing.assert_allclose(gbm.predict(test)[:, p, j], m.predict(test), rtol=0, atol=1e-12)


def test_saved_arrays_predict_the_same(fitted):
    """The file layout is unchanged (node records only; the bins are rebuilt on load), so files written before
    the binned walk load and predict the same."""
    gbm, x, _ = fitted
    arrays = gbm.to_arrays(prefix="gbm.")
    expected = {"gbm.baselines"} | {f"gbm.{p}.{j}.{f}" for p in range(2) for j in range(3)
                                    for f in ("sizes", *_FIELDS)}
    assert set(arrays) == expected
    back = GBMQuantiles.from_arrays(arrays, 2, x.shape[1], prefix="gbm.")
    test = _awkward(x[:500], 3)
    assert np.array_equal(back.predict(test), gbm.predict(test))
    assert np.array_equal(back.predict(test, n_threads=2), gbm.predict(test))


def _stumps(thresholds, missing_left=True):
    """One single-split tree per threshold on feature 0: 1 to the left (x <= t), 0 to the right."""
    return [{"value": np.array([0.0, 1.0, 0.0]), "feature_idx": np.array([0, 0, 0]),
             "num_threshold": np.array([t, 0.0, 0.0]), "missing_go_to_left": np.array([missing_left, 0, 0], np.uint8),
             "left": np.array([1, 0, 0], np.uint32), "right": np.array([2, 0, 0], np.uint32),
             "is_leaf": np.array([0, 1, 1], np.uint8)} for t in thresholds]


@pytest.mark.parametrize("n_thresholds, binned", [(254, True), (300, False)])
def test_split_thresholds_bin_exactly_or_fall_back(n_thresholds, binned):
    """Counting the thresholds >= x: every split keeps its branch for values at, between and beyond them; a feature
    with more thresholds than 254 bins walks on its float values."""
    thr = np.append(np.linspace(-1.0, 1.0, n_thresholds - 1), np.inf)
    model = _stumps(thr)
    gbm = GBMQuantiles([[model, model, model]], np.zeros((1, 3)), n_features=2)
    x = np.concatenate([thr, thr[:-1] + 1e-12, [-np.inf, -5.0, 5.0, np.inf, np.nan]])
    xx = np.column_stack([x, np.zeros_like(x)])
    expected = np.where(np.isnan(x), len(thr), (thr[None, :] >= x[:, None]).sum(axis=1))
    assert gbm._build().binned is binned
    np.testing.assert_array_equal(gbm.predict(xx)[:, 0, :], np.repeat(expected[:, None], 3, axis=1).astype(float))


def test_bin_features_counts_edges_below():
    edges = [np.array([-1.0, 0.0, 2.0, np.inf]), np.array([])]
    x = np.array([[-2.0, 7.0], [-1.0, np.nan], [0.5, 1.0], [np.inf, 0.0], [np.nan, 0.0], [3.0, 0.0]])
    np.testing.assert_array_equal(bin_features(x, edges), [[0, 0], [0, 255], [2, 0], [3, 0], [255, 0], [3, 0]])
    nodes = np.zeros(3, dtype=[("feature_idx", np.intp), ("num_threshold", float), ("is_leaf", np.uint8)])
    nodes["num_threshold"], nodes["is_leaf"] = [2.0, 0.0, 0.0], [0, 0, 1]
    found, bin_threshold = split_bins(nodes, 2)
    np.testing.assert_array_equal(found[0], [0.0, 2.0])
    np.testing.assert_array_equal(bin_threshold[:2], [1, 0])
