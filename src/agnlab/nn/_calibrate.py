"""Probabilities from logits, and temperature scaling (Guo et al. 2017) to calibrate them."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_temperature", "softmax"]


def softmax(logits) -> np.ndarray:
    """Row-wise softmax of an (n, k) array, computed stably.

    >>> softmax(np.array([[0.0, 0.0], [0.0, np.log(3.0)]])).round(3).tolist()
    [[0.5, 0.5], [0.25, 0.75]]
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits, y) -> float:
    """Temperature T minimising the log-loss of ``softmax(logits / T)`` on held-out labels ``y`` (ints).

    One parameter, so it cannot overfit a validation set of a few hundred rows; it leaves the
    ranking (and the argmax) of every row unchanged. Grid in log T over [0.05, 20], then refined.
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if logits.ndim != 2 or y.shape != (logits.shape[0],) or y.size == 0:
        raise ValueError(f"fit_temperature: logits (n, k) and labels (n,) expected, got {logits.shape} and {y.shape}")

    def nll(t):
        p = softmax(logits / t)
        return -np.mean(np.log(np.clip(p[np.arange(y.size), y], 1e-12, None)))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 80))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.07, 0.07, 15))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])
