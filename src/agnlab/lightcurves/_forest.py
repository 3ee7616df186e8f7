"""Fitted decision-tree ensembles as plain arrays: saved without pickle, predicted without sklearn.

A fitted scikit-learn forest is exported node by node (``tree_.children_left``, ``children_right``,
``feature``, ``threshold``, class fractions of ``value``); prediction walks all trees at once,
comparing float32 features with the float64 thresholds exactly as scikit-learn does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["export_forest", "forest_arrays_names", "predict_forest"]

_KEYS = ("left", "right", "feature", "threshold", "value", "tree_start")


def export_forest(estimators, n_classes: int, class_index) -> dict:
    """Arrays of a list of fitted trees; ``class_index[k]`` maps tree class k to the ensemble column."""
    left, right, feat, thr, val, starts = [], [], [], [], [], []
    offset = 0
    for tree in estimators:
        t = tree.tree_
        n = t.node_count
        starts.append(offset)
        cl, cr = t.children_left.astype(np.int64), t.children_right.astype(np.int64)
        left.append(np.where(cl >= 0, cl + offset, -1))
        right.append(np.where(cr >= 0, cr + offset, -1))
        feat.append(t.feature.astype(np.int64))
        thr.append(t.threshold.astype(np.float64))
        v = t.value[:, 0, :].astype(np.float64)
        v = v / np.maximum(v.sum(axis=1, keepdims=True), 1e-300)
        full = np.zeros((n, n_classes))
        full[:, np.asarray(class_index)[np.asarray(tree.classes_, dtype=int)]] = v
        val.append(full)
        offset += n
    return {"left": np.concatenate(left), "right": np.concatenate(right), "feature": np.concatenate(feat),
            "threshold": np.concatenate(thr), "value": np.concatenate(val), "tree_start": np.asarray(starts)}


def forest_arrays_names() -> tuple[str, ...]:
    return _KEYS


def predict_forest(arrays: dict, X) -> np.ndarray:
    """Mean class probabilities (n, n_classes) of the exported trees for features ``X`` (n, n_features)."""
    X32 = np.asarray(X, dtype=np.float32)
    left, right, feat, thr, val = (arrays[k] for k in _KEYS[:5])
    starts = arrays["tree_start"]
    n, n_trees = X32.shape[0], starts.size
    node = np.broadcast_to(starts[None, :], (n, n_trees)).copy()
    rows = np.broadcast_to(np.arange(n)[:, None], (n, n_trees))
    active = left[node] >= 0
    while active.any():
        nd = node[active]
        go_left = X32[rows[active], feat[nd]] <= thr[nd]
        node[active] = np.where(go_left, left[nd], right[nd])
        active = left[node] >= 0
    return val[node].mean(axis=1)
