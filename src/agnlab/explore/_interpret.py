"""Interpretation: per-cluster feature summaries with effect sizes, averages per embedding bin, stability."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["average_by", "cluster_summary", "embedding_bins"]


def cluster_summary(labels, X, raw, features) -> pd.DataFrame:
    """Per cluster and feature: size, median (input units), median of the rest, Cohen's d (preprocessed space).

    ``X`` is the preprocessed matrix (n, d) used by the models, ``raw`` the
    feature values in input units (after logs; NaN = missing). The effect size
    is ``(mean_cluster - mean_rest) / pooled_std`` on ``X``; rows are sorted by
    cluster, then by ``|effect_size|``. Noise (label -1) is summarised as its own group.
    """
    labels = np.asarray(labels)
    rows = []
    for c in np.unique(labels):
        inside = labels == c
        n_in, n_out = int(inside.sum()), int((~inside).sum())
        for j, f in enumerate(features):
            a, b = X[inside, j], X[~inside, j]
            if n_out > 1 and n_in > 1:
                pooled = np.sqrt(((n_in - 1) * a.var(ddof=1) + (n_out - 1) * b.var(ddof=1)) / (n_in + n_out - 2))
                d = (a.mean() - b.mean()) / pooled if pooled > 0 else 0.0
            else:
                d = np.nan
            ra, rb = raw[inside, j], raw[~inside, j]
            rows.append({"cluster": int(c), "n": n_in, "feature": f,
                         "median": float(np.nanmedian(ra)) if np.isfinite(ra).any() else np.nan,
                         "median_rest": float(np.nanmedian(rb)) if np.isfinite(rb).any() else np.nan,
                         "effect_size": float(d)})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["abs_effect"] = df["effect_size"].abs()
    df = df.sort_values(["cluster", "abs_effect"], ascending=[True, False]).drop(columns="abs_effect")
    return df.reset_index(drop=True)


def embedding_bins(embedding, bins: int = 8):
    """Bin the first two embedding axes on a ``bins x bins`` grid; returns ``(key (n,), edges_x, edges_y)``."""
    E = np.asarray(embedding, dtype=float)
    if E.ndim != 2 or E.shape[1] < 1:
        raise ValueError(f"embedding must be (n, >=1), got shape {E.shape}")
    y = E[:, 1] if E.shape[1] > 1 else np.zeros(len(E))
    ex = np.linspace(np.nanmin(E[:, 0]), np.nanmax(E[:, 0]) + 1e-12, bins + 1)
    ey = np.linspace(np.nanmin(y), np.nanmax(y) + 1e-12, bins + 1)
    ix = np.clip(np.digitize(E[:, 0], ex) - 1, 0, bins - 1)
    iy = np.clip(np.digitize(y, ey) - 1, 0, bins - 1)
    return ix * bins + iy, ex, ey


def average_by(keys, values, names=None, *, min_count: int = 1) -> pd.DataFrame:
    """Mean of ``values`` (n, m) per distinct key (NaN ignored); columns ``key``, ``n`` and the ``m`` means."""
    keys = np.asarray(keys)
    V = np.asarray(values, dtype=float)
    if V.ndim == 1:
        V = V[:, None]
    if len(V) != len(keys):
        raise ValueError(f"values have {len(V)} rows, the fitted table {len(keys)}")
    names = list(names) if names is not None else [f"v{i}" for i in range(V.shape[1])]
    out = []
    for k in np.unique(keys):
        sel = keys == k
        if sel.sum() < min_count:
            continue
        sub = np.where(np.isfinite(V[sel]), V[sel], 0.0)
        cnt = np.isfinite(V[sel]).sum(axis=0)
        m = np.where(cnt > 0, sub.sum(axis=0) / np.maximum(cnt, 1), np.nan)
        out.append({"key": k.item() if hasattr(k, "item") else k, "n": int(sel.sum()), **dict(zip(names, m))})
    return pd.DataFrame(out)
