"""Self-organising map: MiniSom when installed, else a small deterministic numpy batch SOM."""

from __future__ import annotations

import numpy as np

__all__ = ["som_bmu", "train_som"]


def som_bmu(X, weights) -> np.ndarray:
    """Index (row-major cell number) of the best-matching unit of every row of ``X``; weights (rows, cols, d)."""
    W = np.asarray(weights).reshape(-1, np.asarray(weights).shape[-1])
    out = np.empty(len(X), dtype=np.int64)
    w2 = (W ** 2).sum(axis=1)
    for start in range(0, len(X), 65536):
        xb = X[start:start + 65536]
        out[start:start + 65536] = np.argmin(w2[None, :] - 2.0 * xb @ W.T, axis=1)
    return out


def _numpy_batch_som(X, shape, n_iter, rng):
    rows, cols = shape
    grid = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), -1).reshape(-1, 2).astype(float)
    # PCA initialisation spans the first two principal axes
    mu = X.mean(axis=0)
    _, s, vt = np.linalg.svd(X[rng.choice(len(X), min(len(X), 5000), replace=False)] - mu, full_matrices=False)
    scale = s[:2] / np.sqrt(max(1, min(len(X), 5000)))
    a = (grid[:, 0] / max(rows - 1, 1) - 0.5) * 2 * scale[0]
    b = (grid[:, 1] / max(cols - 1, 1) - 0.5) * 2 * (scale[1] if len(scale) > 1 else 0.0)
    W = mu + a[:, None] * vt[0] + (b[:, None] * vt[1] if len(vt) > 1 else 0.0)
    sigma0, sigma1 = max(rows, cols) / 2.0, 0.5
    for t in range(n_iter):
        sigma = sigma0 * (sigma1 / sigma0) ** (t / max(n_iter - 1, 1))
        bmu = som_bmu(X, W.reshape(rows, cols, -1))
        d2 = ((grid[:, None, :] - grid[None, :, :]) ** 2).sum(-1)
        h = np.exp(-d2 / (2 * sigma ** 2))              # (cells, cells)
        counts = np.bincount(bmu, minlength=len(grid)).astype(float)
        sums = np.zeros_like(W)
        np.add.at(sums, bmu, X)
        num = h @ sums
        den = h @ counts
        W = np.where(den[:, None] > 0, num / np.maximum(den[:, None], 1e-12), W)
    return W.reshape(rows, cols, -1)


def train_som(X, shape=(8, 8), *, n_iter: int = 20, rng=None, backend: str = "auto") -> np.ndarray:
    """Train a SOM on ``X`` (n, d); return the codebook, shape ``(rows, cols, d)``.

    ``backend="minisom"`` uses MiniSom (batch training, PCA initialisation);
    ``"numpy"`` a batch SOM with a Gaussian neighbourhood shrinking over ``n_iter``
    epochs; ``"auto"`` MiniSom when installed.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    rows, cols = (int(v) for v in shape)
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise ValueError(f"som_shape must be two positive sizes with at least 2 cells, got {shape!r}")
    if backend not in ("auto", "minisom", "numpy"):
        raise ValueError(f"SOM backend must be 'auto', 'minisom' or 'numpy', got {backend!r}")
    if backend in ("auto", "minisom"):
        try:
            from minisom import MiniSom
        except ImportError:
            if backend == "minisom":
                raise ImportError("MiniSom is not installed: pip install minisom (or som_backend='numpy')") from None
            MiniSom = None
        if MiniSom is not None:
            som = MiniSom(rows, cols, X.shape[1], sigma=max(rows, cols) / 2.0, learning_rate=0.5,
                          random_seed=int(rng.integers(0, 2**31 - 1)))
            som.pca_weights_init(X if len(X) <= 20000 else X[rng.choice(len(X), 20000, replace=False)])
            som.train(X, num_iteration=int(n_iter) * min(len(X), 5000), random_order=True)
            return np.asarray(som.get_weights(), dtype=float)
    return _numpy_batch_som(np.asarray(X, dtype=float), (rows, cols), int(n_iter), rng)
