"""Fitted scikit-learn gradient-boosted trees as flat numpy arrays (pickle-free saving, same predictions)."""

from __future__ import annotations

import numpy as np

__all__ = ["FlatTrees"]


class FlatTrees:
    """Sum of regression trees held in flat arrays (numerical splits only)."""

    def __init__(self, feature, threshold, left, right, is_leaf, value, missing_left, roots, baseline,
                 max_depth):
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=float)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.is_leaf = np.asarray(is_leaf, dtype=bool)
        self.value = np.asarray(value, dtype=float)
        self.missing_left = np.asarray(missing_left, dtype=bool)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.baseline = float(baseline)
        self.max_depth = int(max_depth)

    @classmethod
    def from_hist_gbm(cls, model, x_ref):
        """Flatten a fitted HistGradientBoostingRegressor (numerical features only)."""
        preds = getattr(model, "_predictors", None)
        if preds is None:
            raise RuntimeError("this scikit-learn version does not expose the fitted trees of "
                               "HistGradientBoostingRegressor; GBM save/gain importances unavailable")
        feats, thr, left, right, leaf, val, miss, roots = [], [], [], [], [], [], [], []
        offset, depth = 0, 0
        for it in preds:
            for tp in it:
                nodes = tp.nodes
                if "is_categorical" in nodes.dtype.names and nodes["is_categorical"].any():
                    raise RuntimeError("categorical splits are not supported")
                roots.append(offset)
                feats.append(nodes["feature_idx"])
                thr.append(nodes["num_threshold"])
                left.append(nodes["left"].astype(np.int64) + offset)
                right.append(nodes["right"].astype(np.int64) + offset)
                leaf.append(nodes["is_leaf"].astype(bool))
                val.append(nodes["value"])
                miss.append(nodes["missing_go_to_left"].astype(bool))
                depth = max(depth, int(nodes["depth"].max()))
                offset += nodes.shape[0]
        obj = cls(np.concatenate(feats), np.concatenate(thr), np.concatenate(left), np.concatenate(right),
                  np.concatenate(leaf), np.concatenate(val), np.concatenate(miss), roots, 0.0, depth)
        obj.baseline = float(np.mean(model.predict(x_ref) - obj._trees(x_ref)))
        gains = np.zeros(x_ref.shape[1])
        all_nodes = np.concatenate([tp.nodes for it in preds for tp in it])
        split = ~all_nodes["is_leaf"].astype(bool)
        np.add.at(gains, all_nodes["feature_idx"][split].astype(np.int64), all_nodes["gain"][split])
        return obj, gains

    def _trees(self, x):
        out = np.zeros(x.shape[0])
        for start in range(0, x.shape[0], 4096):
            xc = x[start:start + 4096]
            node = np.broadcast_to(self.roots, (xc.shape[0], self.roots.size)).copy()
            rows = np.arange(xc.shape[0])[:, None]
            for _ in range(self.max_depth + 1):
                leaf = self.is_leaf[node]
                if leaf.all():
                    break
                xv = xc[rows, self.feature[node]]
                go_left = np.where(np.isnan(xv), self.missing_left[node], xv <= self.threshold[node])
                node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
            out[start:start + xc.shape[0]] = self.value[node].sum(axis=1)
        return out

    def __call__(self, x):
        return self.baseline + self._trees(x)

    def to_arrays(self):
        return {"tree.feature": self.feature, "tree.threshold": self.threshold, "tree.left": self.left,
                "tree.right": self.right, "tree.is_leaf": self.is_leaf, "tree.value": self.value,
                "tree.missing_left": self.missing_left, "tree.roots": self.roots,
                "tree.meta": np.array([self.baseline, self.max_depth], dtype=float)}

    @classmethod
    def from_arrays(cls, a):
        meta = a["tree.meta"]
        return cls(a["tree.feature"], a["tree.threshold"], a["tree.left"], a["tree.right"], a["tree.is_leaf"],
                   a["tree.value"], a["tree.missing_left"], a["tree.roots"], meta[0], int(meta[1]))

