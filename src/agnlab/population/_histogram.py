"""Colour-colour histograms of observed sources and the sparse design matrix of model tracks."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..validation import check_array

__all__ = ["DesignMatrix", "angle_weights", "color_histogram", "design_matrix", "histogram_edges"]


def histogram_edges(colors, *, bins=40, color_range=None, quantiles=(0.002, 0.998), pad=0.05):
    """Bin edges for a 2-D colour-colour histogram.

    Parameters
    ----------
    colors : array_like, shape (n, 2)
        (W1-W2, W2-W3); non-finite rows are ignored.
    bins : int or (int, int)
        Number of bins per axis.
    color_range : ((lo, hi), (lo, hi)), optional
        Explicit ranges; default from ``quantiles`` of ``colors``, padded by ``pad`` (fraction).

    Returns
    -------
    (edges_x, edges_y) : tuple of ndarray, shapes (bx + 1,), (by + 1,)
    """
    bx, by = (bins, bins) if np.isscalar(bins) else tuple(bins)
    if int(bx) < 2 or int(by) < 2:
        raise ValueError(f"bins: need at least 2 per axis, got {bins}")
    if color_range is None:
        c = np.asarray(colors, float).reshape(-1, 2)
        c = c[np.isfinite(c).all(axis=1)]
        if c.shape[0] < 2:
            raise ValueError("colors: fewer than 2 finite rows; cannot choose histogram ranges "
                             "(pass color_range explicitly)")
        lo = np.quantile(c, quantiles[0], axis=0)
        hi = np.quantile(c, quantiles[1], axis=0)
        span = np.maximum(hi - lo, 1e-3)
        color_range = ((lo[0] - pad * span[0], hi[0] + pad * span[0]), (lo[1] - pad * span[1], hi[1] + pad * span[1]))
    (x0, x1), (y0, y1) = color_range
    if not (np.isfinite([x0, x1, y0, y1]).all() and x1 > x0 and y1 > y0):
        raise ValueError(f"color_range: need finite (lo < hi) per axis, got {color_range}")
    return np.linspace(x0, x1, int(bx) + 1), np.linspace(y0, y1, int(by) + 1)


def _bin_index(colors, edges):
    """Flat bin index (ix * by + iy) of each row of ``colors`` (..., 2); -1 outside or non-finite."""
    ex, ey = edges
    x = colors[..., 0]
    y = colors[..., 1]
    ix = np.searchsorted(ex, x, side="right") - 1
    iy = np.searchsorted(ey, y, side="right") - 1
    bx, by = ex.size - 1, ey.size - 1
    # include the upper edge in the last bin, as numpy.histogram2d
    ix = np.where(x == ex[-1], bx - 1, ix)
    iy = np.where(y == ey[-1], by - 1, iy)
    ok = (ix >= 0) & (ix < bx) & (iy >= 0) & (iy < by) & np.isfinite(x) & np.isfinite(y)
    return np.where(ok, ix * by + iy, -1)


def color_histogram(colors, edges):
    """Counts of observed sources per colour-colour bin.

    Parameters
    ----------
    colors : array_like, shape (n, 2)
    edges : (edges_x, edges_y)

    Returns
    -------
    counts : ndarray, shape (bx, by), float64
    dropped : dict
        ``{"non_finite": n, "outside_range": n}``.
    """
    c = check_array(colors, name="observed_colors", ndim=2, finite=False)
    if c.shape[1] != 2:
        raise ValueError(f"observed_colors: expected shape (n, 2) (W1-W2, W2-W3), got {c.shape}")
    idx = _bin_index(c, edges)
    nonfinite = ~np.isfinite(c).all(axis=1)
    nb = (edges[0].size - 1) * (edges[1].size - 1)
    counts = np.bincount(idx[idx >= 0], minlength=nb).astype(float)
    dropped = {"non_finite": int(nonfinite.sum()), "outside_range": int(((idx < 0) & ~nonfinite).sum())}
    return counts.reshape(edges[0].size - 1, edges[1].size - 1), dropped


def angle_weights(angles_deg, *, kind="isotropic"):
    """Weights of viewing angles (deg from the pole, 0-90) for isotropic orientations or uniform.

    ``"isotropic"``: each angle gets the solid angle of its cell (cells between midpoints),
    i.e. P(i) ~ sin(i). ``"uniform"``: equal weights. Normalised to sum 1.
    """
    a = check_array(angles_deg, name="angles_deg", ndim=1)
    if np.any(np.diff(a) <= 0) or a[0] < 0 or a[-1] > 90:
        raise ValueError("angles_deg: must be strictly increasing within [0, 90]")
    if kind == "uniform" or a.size == 1:
        w = np.ones(a.size)
    elif kind == "isotropic":
        mid = np.concatenate([[max(a[0] - 0.5 * (a[1] - a[0]), 0.0)], 0.5 * (a[1:] + a[:-1]),
                              [min(a[-1] + 0.5 * (a[-1] - a[-2]), 90.0)]])
        w = np.cos(np.deg2rad(mid[:-1])) - np.cos(np.deg2rad(mid[1:]))
    else:
        raise ValueError(f"kind: 'isotropic' or 'uniform', got {kind!r}")
    return w / w.sum()


class DesignMatrix(NamedTuple):
    """Sparse model histograms: ``matrix`` (n_bins, n_tracks) CSC; each column sums to the track's
    fraction of (weighted) points inside the histogram (``inside_fraction``); ``empty_tracks``: indices
    of all-zero columns (tracks entirely outside the range or non-finite); ``n_nonfinite_points``."""

    matrix: sp.csc_matrix
    inside_fraction: np.ndarray
    empty_tracks: np.ndarray
    n_nonfinite_points: int


def _blur_axis(x, e, sigma, k):
    """Bin indices (..., 2k+1) and Gaussian probabilities of each value over neighbouring bins."""
    from scipy.special import ndtr

    nb = e.size - 1
    d = e[1] - e[0]
    i0 = np.floor((x - e[0]) / d).astype(np.int64)
    off = np.arange(-k, k + 1)
    idx = i0[..., None] + off
    lo = e[0] + idx * d
    prob = ndtr((lo + d - x[..., None]) / sigma) - ndtr((lo - x[..., None]) / sigma)
    ok = (idx >= 0) & (idx < nb) & np.isfinite(x)[..., None]
    return np.where(ok, idx, -1), np.where(ok, prob, 0.0)


def design_matrix(track_colors, edges, *, weights=None, color_error=None, chunk_size=20_000, dtype=np.float32,
                  progress=None):
    """Histogram every colour track into the bins of ``edges``: a sparse (n_bins, n_tracks) matrix.

    Parameters
    ----------
    track_colors : array_like, shape (n_tracks, n_angles, 2)
        Colours (W1-W2, W2-W3) of each track at each viewing angle (NaN allowed: dropped and counted).
    edges : (edges_x, edges_y)
    weights : array_like, shape (n_angles,), optional
        Probability of each viewing angle (default: equal); normalised to sum 1.
    chunk_size : int
        Tracks processed at once (capped so that the dense per-chunk accumulator of
        chunk_size * n_bins values stays <= 64 MB).
    color_error : float or (float, float), optional
        Gaussian colour errors (mag) of the observations: each track point is spread
        over the neighbouring bins (within 3 sigma), so the model histogram is
        comparable with noisy observed colours. ``None``: no blurring.
    dtype : numpy dtype
        Stored value type (float32 keeps 10^6 tracks x 100 angles well under 1 GB).

    Returns
    -------
    DesignMatrix
    """
    from .._progress import progress as _bar

    tc = np.asarray(track_colors)
    if tc.ndim != 3 or tc.shape[2] != 2:
        raise ValueError(f"track_colors: expected shape (n_tracks, n_angles, 2), got {tc.shape}")
    n_tracks, n_angles, _ = tc.shape
    if n_tracks == 0 or n_angles == 0:
        raise ValueError(f"track_colors: empty array of shape {tc.shape}")
    w = np.full(n_angles, 1.0 / n_angles) if weights is None else check_array(weights, name="angle weights",
                                                                              shape=(n_angles,))
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("angle weights: must be non-negative with a positive sum")
    w = w / w.sum()
    nb = (edges[0].size - 1) * (edges[1].size - 1)
    blur = None
    if color_error is not None:
        se = np.broadcast_to(np.asarray(color_error, float), (2,))
        if not np.all(np.isfinite(se)) or np.any(se < 0):
            raise ValueError(f"color_error: need non-negative finite values, got {color_error}")
        if np.any(se > 0):
            se = np.maximum(se, 1e-9)
            steps = np.array([edges[0][1] - edges[0][0], edges[1][1] - edges[1][0]])
            blur = (se, np.ceil(3.0 * se / steps).astype(int))
    indptr = [np.zeros(1, np.int64)]
    indices, data = [], []
    n_nonfinite = 0
    offset = 0
    chunk_size = int(max(1, min(int(chunk_size), 8_000_000 // max(nb, 1))))  # dense accumulator <= 64 MB
    starts = range(0, n_tracks, chunk_size)
    disable = None if progress is None else not progress
    for s in _bar(starts, total=len(starts), desc="design matrix", disable=disable):
        block = np.asarray(tc[s:s + chunk_size], dtype=float)
        m = block.shape[0]
        n_nonfinite += int((~np.isfinite(block).all(axis=2)).sum())
        if blur is None:
            idx = _bin_index(block, edges)                                 # (m, A)
            key = (np.arange(m, dtype=np.int64)[:, None] * nb + idx).ravel()
            val = np.broadcast_to(w, (m, n_angles)).ravel()
            ok = idx.ravel() >= 0
        else:
            (sx, sy), (kx, ky) = blur
            by = edges[1].size - 1
            ix, px = _blur_axis(block[..., 0], edges[0], sx, kx)          # (m, A, 2kx+1)
            iy, py = _blur_axis(block[..., 1], edges[1], sy, ky)
            idx = np.where((ix[..., :, None] >= 0) & (iy[..., None, :] >= 0),
                           ix[..., :, None] * by + iy[..., None, :], -1)  # (m, A, X, Y)
            val = (px[..., :, None] * py[..., None, :] * w[None, :, None, None]).ravel()
            key = (np.arange(m, dtype=np.int64)[:, None, None, None] * nb + idx).ravel()
            ok = (idx.ravel() >= 0) & (val > 0)
        key, val = key[ok], val[ok]
        dense = np.bincount(key, weights=val, minlength=m * nb)   # (m * nb,), bounded by the chunk size
        uniq = np.flatnonzero(dense)                               # sorted: track-major, then bin = CSC order
        sums = dense[uniq]
        col = uniq // nb
        indices.append((uniq % nb).astype(np.int32))
        data.append(sums.astype(dtype))
        counts = np.bincount(col, minlength=m)
        indptr.append(offset + np.cumsum(counts))
        offset += uniq.size
    indptr = np.concatenate(indptr)
    mat = sp.csc_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(nb, n_tracks))
    inside = np.asarray(mat.sum(axis=0)).ravel()
    empty = np.flatnonzero(inside <= 0)
    return DesignMatrix(mat, inside, empty, n_nonfinite)
