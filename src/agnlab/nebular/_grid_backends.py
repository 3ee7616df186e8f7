"""Back-ends of :class:`GridInverter`: a quantile MLP (PyTorch) and quantile gradient-boosted trees.

Both predict, for every parameter, the 16th, 50th and 84th percentiles of its posterior given the
inputs (quantile regression, Koenker & Bassett 1978; pinball loss). The trees are saved as the
node records of scikit-learn's ``HistGradientBoostingRegressor`` (plain numeric arrays, no pickle)
and predicted with scikit-learn's compiled tree walker on uint8-binned features (:func:`split_bins`;
the same numbers as the walk on the float64 features, 1.3-1.7x faster); :class:`agnlab.nebular._trees.FlatTrees`
(pure numpy) takes over if that private API ever disappears.
"""

from __future__ import annotations

import numpy as np

from ..parallel import chunk_slices, chunked_map

__all__ = ["QUANTILES", "GBMQuantiles", "pinball_loss", "quantile_net"]

QUANTILES = (0.15865, 0.5, 0.84135)   # +-1 sigma of a Gaussian: a 68.27 % central interval
_ROW_BLOCK = 4096     # rows per block of GBMQuantiles.predict
_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")
_MISSING_BIN = 255    # the uint8 bin of NaN features; values take bins 0-254
_SORT_FEATURES = 3    # predict walks the rows sorted by this many features (3, 6, 12: the same speed-up)


def quantile_net(n_in, n_params, hidden, activation):
    """The quantile network (an ``nn.Module``; torch is imported only here)."""
    import torch
    from torch import nn

    from ..nn import MLP

    class QuantileNet(nn.Module):
        """MLP -> (median, lower gap, upper gap) per parameter; gaps through softplus keep lo <= med <= hi.

        Input (batch, n_in) float32 -> output (batch, n_params, 3) = (q16, q50, q84) in scaled units.
        """

        def __init__(self):
            super().__init__()
            self.mlp = MLP(n_in, 3 * n_params, tuple(hidden), activation)
            self.n_params = n_params

        def forward(self, x):
            o = self.mlp(x).view(-1, self.n_params, 3)
            med = o[..., 0]
            lo = med - nn.functional.softplus(o[..., 1])
            hi = med + nn.functional.softplus(o[..., 2])
            return torch.stack([lo, med, hi], dim=-1)

    return QuantileNet()



def pinball_loss(out, y):
    """Mean pinball (quantile) loss of ``out`` (batch, P, 3) against ``y`` (batch, P) at :data:`QUANTILES`."""
    import torch

    q = torch.tensor(QUANTILES, dtype=out.dtype, device=out.device)
    d = y[..., None] - out
    return torch.mean(torch.maximum(q * d, (q - 1.0) * d))


def split_bins(nodes, n_features):
    """Exact uint8 bins for the splits of tree ``nodes`` (records with ``feature_idx``, ``num_threshold``, ``is_leaf``).

    Per feature, the edges are the sorted distinct thresholds ``t`` of its splits, and a value x goes to bin
    #(t < x), so ``x <= t[k]`` exactly when its bin is ``<= k``: every split sends every value (+-inf included)
    the way its float threshold does. Returns (edges per feature, each node's bin threshold), or None when a
    feature would need more than 255 bins (bin 255 is for NaN). A GridInverter's quantile models are fitted on the
    same features, so their thresholds come from one scikit-learn binning and fit.
    """
    split = ~nodes["is_leaf"].astype(bool)
    feat, thr = nodes["feature_idx"][split], nodes["num_threshold"][split]
    edges = [np.unique(thr[feat == f]) for f in range(n_features)]
    if any(e.size - bool(e.size and np.isposinf(e[-1])) >= _MISSING_BIN for e in edges):
        return None                                   # (a value above every finite edge takes bin e.size)
    bin_threshold = np.zeros(len(nodes), dtype=np.uint8)
    rows = np.flatnonzero(split)
    for f, e in enumerate(edges):
        bin_threshold[rows[feat == f]] = np.searchsorted(e, thr[feat == f])     # each threshold's own edge
    return edges, bin_threshold


def bin_features(x, edges):
    """uint8 bins (n, n_features) of float features ``x`` for the ``edges`` of :func:`split_bins`; NaN -> 255."""
    xb = np.zeros(x.shape, dtype=np.uint8)
    for f, e in enumerate(edges):
        if e.size:
            xb[:, f] = np.searchsorted(e, x[:, f])     # side="left": the count of edges < x
    xb[np.isnan(x)] = _MISSING_BIN
    return xb


class GBMQuantiles:
    """``n_params`` x 3 quantile HistGradientBoostingRegressors as flat node arrays.

    Parameters
    ----------
    trees : list of list of dict
        Per (parameter, quantile) model: list of per-tree node-field dicts.
    baselines : ndarray, shape (n_params, 3)
    """

    def __init__(self, trees, baselines, n_features):
        self.trees = trees
        self.baselines = np.asarray(baselines, dtype=float)
        self.n_features = int(n_features)
        self._run = None     # built on the first predict

    @classmethod
    def fit(cls, x, y, *, params, seed, n_threads=None, progress=None):
        """Fit one model per parameter column of ``y`` and quantile; ``params`` go to scikit-learn.

        ``progress``: a bar over the n_params x 3 models (None: shown on an interactive terminal).
        """
        from sklearn.ensemble import HistGradientBoostingRegressor

        from .._estimator import compute_context
        from .._progress import progress as progress_bar

        kw = {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 40,
              "early_stopping": False, "random_state": seed}
        kw.update(params)
        trees, base, models = [], np.zeros((y.shape[1], 3)), []
        bar = progress_bar(total=3 * y.shape[1], desc="GridInverter GBM", unit="model",
                           disable=None if progress is None else not progress)
        with compute_context(n_threads, default_threads=None), bar:
            for p in range(y.shape[1]):
                row = []
                for j, q in enumerate(QUANTILES):
                    m = HistGradientBoostingRegressor(loss="quantile", quantile=q, **kw).fit(x, y[:, p])
                    bar.update(1)
                    row.append([{f: np.asarray(tp.nodes[f]) for f in _NODE_FIELDS} for it in m._predictors
                                for tp in it])
                    base[p, j] = float(np.ravel(m._baseline_prediction)[0])
                    models.append(m)
                trees.append(row)
        out = cls(trees, base, x.shape[1])
        check = x[:256].copy()
        check[1::3, ::2] = np.nan                                 # missing lines
        check[2::3] = 10.0 * check[2::3] - 5.0                    # outside the training range
        diff = max(float(np.max(np.abs(out.predict(check)[:, i // 3, i % 3] - m.predict(check))))
                   for i, m in enumerate(models))
        if not diff < 1e-8:
            raise RuntimeError(f"exported trees disagree with scikit-learn by {diff:.3g}")
        return out

    # ------------------------------------------------------------ prediction
    def _build(self, binned=True):
        """``run(x) -> (n, n_params, 3)``: the sums of every model's trees, one tree at a time.

        ``binned``: walk the trees on uint8 bins of the features (:func:`split_bins`; the same branches as
        on the float64 features, less memory traffic) unless a feature has more split thresholds than 255 bins hold.
        """
        try:
            from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE, X_BITSET_INNER_DTYPE
            from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
        except ImportError:  # pragma: no cover - depends on the scikit-learn version
            return self._build_flat()
        empty = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)
        models = [model for row in self.trees for model in row]
        nodes = np.zeros(sum(len(t["value"]) for model in models for t in model), dtype=PREDICTOR_RECORD_DTYPE)
        for f in _NODE_FIELDS:
            nodes[f] = np.concatenate([t[f] for model in models for t in model])
        bins = split_bins(nodes, self.n_features) if binned else None
        if bins is not None:
            nodes["bin_threshold"] = bins[1]
        sizes = [len(t["value"]) for model in models for t in model]
        tps = iter(TreePredictor(n, empty, empty) for n in np.split(nodes, np.cumsum(sizes)[:-1]))
        preds = [[next(tps) for _ in model] for model in models]
        fmap = np.zeros(self.n_features, dtype=np.uint32)

        def run(x):
            xb = None if bins is None else bin_features(x, bins[0])
            out = np.zeros((len(preds), x.shape[0]))
            for acc, model in zip(out, preds):
                for tp in model:     # in place on a contiguous row
                    acc += tp.predict(x, empty, fmap, 1) if xb is None else tp.predict_binned(xb, _MISSING_BIN, 1)
            return out.T.reshape(x.shape[0], -1, 3)

        run.binned = bins is not None
        return run

    def _build_flat(self):  # pragma: no cover - fallback for a scikit-learn without TreePredictor
        from ._trees import FlatTrees

        flats = []
        for row in self.trees:
            for model in row:
                offs = np.cumsum([0] + [len(t["value"]) for t in model])
                cat = {f: np.concatenate([t[f] for t in model]) for f in _NODE_FIELDS}
                shift = np.repeat(offs[:-1], np.diff(offs))
                flats.append(FlatTrees(cat["feature_idx"], cat["num_threshold"], cat["left"].astype(np.int64) + shift,
                                       cat["right"].astype(np.int64) + shift, cat["is_leaf"], cat["value"],
                                       cat["missing_go_to_left"], offs[:-1], 0.0, 64))
        return lambda x: np.stack([ft._trees(x) for ft in flats], axis=1).reshape(x.shape[0], -1, 3)

    def _sort_features(self):
        """The :data:`_SORT_FEATURES` features most split on, most first (the keys of the row order in predict)."""
        feat = np.concatenate([t["feature_idx"][~np.asarray(t["is_leaf"], bool)]
                               for row in self.trees for model in row for t in model]).astype(np.int64)
        return np.argsort(-np.bincount(feat, minlength=self.n_features), kind="stable")[:_SORT_FEATURES]

    def predict(self, x, n_threads: int = 1) -> np.ndarray:
        """Quantiles, shape (n, n_params, 3); blocks of rows on ``n_threads`` threads (-1: every core; a block's
        features stay in cache while every tree passes over them).

        The rows are walked sorted by the features most split on (similar rows in a row take the same
        branches: fewer mispredicted branches; 1.2x faster on rows in random order) and returned in their order.
        """
        if self._run is None:
            self._run = (self._build(), self._sort_features())
        run, keys = self._run
        x = np.asarray(x, dtype=np.float64)
        if len(x) == 0:
            return np.empty((0, len(self.trees), 3))
        order = np.lexsort(x[:, keys[::-1]].T)        # NaN last
        xs = np.ascontiguousarray(x[order])
        parts = chunked_map(lambda rows: run(xs[rows]), chunk_slices(len(x), _ROW_BLOCK),
                            n_jobs=n_threads, progress=False)
        out = np.empty((len(x), len(self.trees), 3))
        out[order] = np.concatenate(parts, axis=0)
        return self.baselines + out

    # ------------------------------------------------------------ arrays
    def to_arrays(self, prefix="gbm.") -> dict:
        arrays = {prefix + "baselines": self.baselines}
        for p, row in enumerate(self.trees):
            for j, model in enumerate(row):
                sizes = np.array([len(t["value"]) for t in model], dtype=np.int64)
                arrays[f"{prefix}{p}.{j}.sizes"] = sizes
                for f in _NODE_FIELDS:
                    arrays[f"{prefix}{p}.{j}.{f}"] = np.concatenate([t[f] for t in model])
        return arrays

    @classmethod
    def from_arrays(cls, arrays, n_params, n_features, prefix="gbm.") -> GBMQuantiles:
        base = np.asarray(arrays[prefix + "baselines"], dtype=float)
        if base.shape != (n_params, 3):
            raise ValueError(f"GBM baselines have shape {base.shape}, expected ({n_params}, 3)")
        trees = []
        for p in range(n_params):
            row = []
            for j in range(3):
                sizes = np.asarray(arrays[f"{prefix}{p}.{j}.sizes"], dtype=np.int64)
                cuts = np.cumsum(sizes)[:-1]
                fields = {f: np.split(np.asarray(arrays[f"{prefix}{p}.{j}.{f}"]), cuts) for f in _NODE_FIELDS}
                row.append([{f: fields[f][t] for f in _NODE_FIELDS} for t in range(sizes.size)])
            trees.append(row)
        return cls(trees, base, n_features)
