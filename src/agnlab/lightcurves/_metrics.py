"""Confusion matrices and per-class precision / recall / F1 of a hierarchical classification."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._classes import HIERARCHY, class_group

__all__ = ["classification_report", "confusion_matrix"]


def confusion_matrix(true, pred, *, classes=None, normalize: bool = False) -> pd.DataFrame:
    """Confusion matrix (rows: true class, columns: predicted); ``normalize`` divides each row by its sum."""
    true, pred = np.asarray(true).astype(str), np.asarray(pred).astype(str)
    if true.shape != pred.shape:
        raise ValueError(f"true and pred differ in length: {true.shape} vs {pred.shape}")
    classes = list(classes) if classes is not None else sorted(set(true) | set(pred))
    m = pd.crosstab(pd.Categorical(true, classes), pd.Categorical(pred, classes), dropna=False)
    m.index.name, m.columns.name = "true", "predicted"
    m = m.reindex(index=classes, columns=classes, fill_value=0)
    if normalize:
        m = m.div(m.sum(axis=1).replace(0, np.nan), axis=0)
    return m


def classification_report(true, pred, *, classes=None, hierarchy=None) -> dict:
    """Per-class precision, recall, F1 and support, macro averages, at both levels.

    Returns
    -------
    dict with ``bottom`` and ``top`` entries, each ``{"per_class": DataFrame, "macro_f1": float,
    "macro_precision": float, "macro_recall": float, "accuracy": float, "confusion": DataFrame}``.
    """
    hier = hierarchy or HIERARCHY
    true, pred = np.asarray(true).astype(str), np.asarray(pred).astype(str)
    out = {}
    for level, (t, p) in {"bottom": (true, pred),
                          "top": (np.array([class_group(c, hier) for c in true]),
                                  np.array([class_group(c, hier) for c in pred]))}.items():
        labels = (list(classes) if classes is not None and level == "bottom"
                  else [c for g in hier for c in (hier[g] if level == "bottom" else [g]) if c in set(t) | set(p)])
        cm = confusion_matrix(t, p, classes=labels)
        tp = np.diag(cm.to_numpy()).astype(float)
        support = cm.sum(axis=1).to_numpy().astype(float)
        predicted = cm.sum(axis=0).to_numpy().astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = np.where(predicted > 0, tp / predicted, 0.0)
            rec = np.where(support > 0, tp / support, np.nan)
            f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
        per = pd.DataFrame({"precision": prec, "recall": rec, "f1": f1, "support": support.astype(int)},
                           index=pd.Index(labels, name="class"))
        has = support > 0
        out[level] = {"per_class": per, "macro_f1": float(np.mean(f1[has])) if has.any() else float("nan"),
                      "macro_precision": float(np.mean(prec[has])) if has.any() else float("nan"),
                      "macro_recall": float(np.mean(rec[has])) if has.any() else float("nan"),
                      "accuracy": float(np.mean(t == p)) if t.size else float("nan"), "confusion": cm}
    return out
