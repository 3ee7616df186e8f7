"""Colour-colour histograms of observed sources and the sparse design matrix of model tracks."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..parallel import chunked_map
from ..validation import check_array
from ._blur import _blur_axis, _window
from ._w2_quadrature import N_CELLS, N_CELLS_SMOOTH, N_SUB, N_SUB_SMOOTH, cut_blur

__all__ = ["DesignMatrix", "angle_weights", "color_histogram", "design_matrix", "error_classes", "histogram_edges",
           "magnitude_error_model"]


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


def error_classes(errors, *, n_classes=3, rel_tol=0.1, return_labels=False):
    """Group per-source colour errors into a few classes for blurring the model histograms.

    The model histogram of a population with varying measurement errors is the mixture, over the
    sources' error distribution, of the tracks blurred with each error. Sources are grouped by
    quantiles of their error in each colour (``n_classes`` per colour, up to ``n_classes**2`` classes);
    each class is represented by the RMS error of its members (the mixture of Gaussians in a class has
    that variance) and weighted by its share of the sources. Colours whose errors vary by less than
    ``rel_tol`` (relative) get one class.

    Parameters
    ----------
    errors : array_like, shape (n_sources, 2) or (n_sources, 3)
        Gaussian 1-sigma errors (mag) of the two colours, finite and >= 0; a third column is the part
        shared by both colours (the error of W2 in W1-W2 and W2-W3, entering with opposite signs).
    n_classes : int
        Quantile classes per colour (>= 1).

    Returns
    -------
    sigmas : ndarray, shape (K, 2) or (K, 3)
        RMS error of each class per column.
    fractions : ndarray, shape (K,)
        Share of the sources in each class (sums to 1).
    labels : ndarray of int, shape (n_sources,)
        Class of each source (only with ``return_labels=True``).
    """
    err = check_array(errors, name="observed_errors", ndim=2)
    if err.shape[1] not in (2, 3) or err.shape[0] == 0:
        raise ValueError(f"observed_errors: expected shape (n_sources, 2) (or 3 with the shared W2 error) with "
                         f"n_sources >= 1, got {err.shape}")
    if np.any(err < 0):
        raise ValueError("observed_errors: must be >= 0")
    if int(n_classes) < 1:
        raise ValueError(f"n_classes: need >= 1, got {n_classes}")
    nc = err.shape[1]
    labels = np.zeros((err.shape[0], nc), np.int64)
    for j in range(nc):
        e = err[:, j]
        if e.max() <= (1.0 + rel_tol) * e.min() or int(n_classes) == 1:
            continue
        cuts = np.unique(np.quantile(e, np.linspace(0, 1, int(n_classes) + 1)[1:-1]))
        labels[:, j] = np.searchsorted(cuts, e, side="right")
    key = np.zeros(err.shape[0], np.int64)
    for j in range(nc):
        key = key * (int(n_classes) + 1) + labels[:, j]
    uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    sig = np.sqrt(np.column_stack([np.bincount(inv, weights=err[:, j] ** 2) for j in range(nc)]) / counts[:, None])
    if return_labels:
        return sig, counts / counts.sum(), inv
    return sig, counts / counts.sum()


def _law_lsq(m, e):
    """Floor and depth of the noise law by weighted least squares of magnitude given error (weights 1/e^2: the
    listed magnitude scatters by its error): for a floor f, m_5sigma is the weighted mean of
    ``m - 2.5 log10(sqrt(e^2 - f^2) / 0.2171)``; f minimises the weighted residuals, within [0, min(e))."""
    from scipy.optimize import minimize_scalar

    w = 1.0 / np.maximum(e, 1e-6) ** 2
    e_min = float(e.min())

    def fit(f):
        r = m - 2.5 * np.log10(np.sqrt(np.maximum(e * e - f * f, 1e-300)) / 0.2171)
        depth = float(np.sum(w * r) / w.sum())
        return float(np.sum(w * (r - depth) ** 2)), depth

    if e_min <= 0:
        return 0.0, fit(0.0)[1]
    f = float(minimize_scalar(lambda v: fit(v)[0], bounds=(0.0, 0.999 * e_min), method="bounded",
                              options={"xatol": 1e-4 * e_min}).x)
    return f, fit(f)[1]


def _noise_law(m, e, n_iter=8):
    """Fit ``sigma^2 = floor^2 + (0.2171 10^(0.4 (m - m_5sigma)))^2`` to (magnitude, error) pairs: (floor, m_5sigma).

    The law of background-limited photometry with a calibration floor (a constant flux error: the
    magnitude error grows as ``1 / flux``). A catalogue's error is a function of *a* magnitude (true or
    measured) while the listed magnitude carries the noise, so the law is fitted as magnitude given error
    (the noise is then in the dependent variable, unbiased): ``m_5sigma`` is the median over sources well
    above the floor of ``m - 2.5 log10(sqrt(sigma^2 - floor^2) / 0.2171)``; ``floor`` the median of
    ``sigma^2`` minus the background term over sources where that term is small; iterated. When no
    (or fewer than 20) sources are floor-dominated -- a sample of faint sources only, e.g. one cut at a
    W2 level -- the floor is not seen directly and both are fitted jointly by weighted least squares of
    magnitude given error (:func:`_law_lsq`; the median start, the brightest sources' error, would
    overestimate the floor: 0.034 for a true 0.018 mag on sources at W2 >= 13.5).

    Floor-dominated means bright by the listed magnitude *and* an error near the floor (< 2 floor): faint
    sources scattered bright by their noise are not (without the second condition ~100 W1 = 20-21 sources
    with 2.9 mag errors, listed at W1 < 13.5 in one AllWISE-like mock, made the floor jump to 2.86 mag).
    The floor counts as seen only if the last iteration still finds >= 20 floor-dominated sources.
    """
    floor = float(np.percentile(e, 2.0))
    depth = float(m.max() + 5.0)
    seen = False
    for _ in range(int(n_iter)):
        faint = e > 1.5 * max(floor, 1e-4)
        if faint.sum() >= 20:
            bg = np.sqrt(e[faint] ** 2 - floor ** 2)
            depth = float(np.median(m[faint] - 2.5 * np.log10(bg / 0.2171)))
        bg_all = 0.2171 * 10 ** (0.4 * (m - depth))
        bright = (bg_all < 0.5 * max(floor, 1e-4)) & (e < 2.0 * max(floor, 1e-4))
        seen = bool(bright.sum() >= 20)
        if seen:
            floor = float(np.sqrt(max(np.median(e[bright] ** 2 - bg_all[bright] ** 2), 0.0)))
    if not seen:
        return _law_lsq(m, e)
    return floor, depth


def magnitude_error_model(w1, w2, w3, sig1, sig2, sig3, *, n_w2_nodes=6, step_mag=0.25, kind="law",
                          w2_sample=None):
    """An error model from a catalogue: each band's error as a function of its magnitude, and the W2 distribution.

    ``kind="law"`` (default) fits each band with the noise law of background-limited photometry,
    ``sigma(m)^2 = floor^2 + (0.2171 * 10^(0.4 (m - m_5sigma)))^2`` (a constant flux error plus a
    calibration floor, as for AllWISE ``w?sigmpro``; Cutri et al. 2012, Explanatory Supplement). A law
    holds at the faint end, where a running median of the catalogue's errors in bins of the *measured*
    magnitude is biased low (sources scattered faint by their noise carry the smaller errors of their true
    magnitude; measured on the benchmark's AllWISE-like mock: 0.6x at the 5-sigma depth), which made the
    blurred model too narrow there and the goodness of fit reject the true model. ``kind="median"``: the
    running median of the errors in ``step_mag`` bins (non-decreasing with magnitude, constant beyond the
    catalogue's range), for catalogues whose errors follow no such law.

    The W2 distribution is represented by ``n_w2_nodes`` equal-probability nodes. For a track point with
    colours (x, y) the model then gives, at each W2 node, the errors of W1 = W2 + x, W2 and W3 = W2 - y:
    errors that depend on colour as real ones do (a red W2-W3 means a bright W3), with the W2 error shared
    by both colours.

    ``w2_sample``: the W2 magnitudes whose distribution the nodes represent (default ``w2``), e.g. the
    selected sources when the errors are fitted on the whole catalogue: a cut on colours and W2 selects on
    the noise too (sources scattered bright in W2 and red in W1-W2 pass), so magnitude given error is
    biased on a selected sample (measured on the benchmark's Assef et al. sample: W2 depth 0.05 mag and W1
    depth 0.08 mag off, errors at W2 = 15-16 4 % too large).

    Returns
    -------
    dict
        ``grids``: three (magnitudes, sigmas) pairs (W1, W2, W3); ``w2_nodes`` (n_w2_nodes,); ``kind``;
        with ``kind="law"`` also ``law``: per band (floor, m_5sigma).
    """
    if kind not in ("law", "median"):
        raise ValueError(f"kind: 'law' or 'median', got {kind!r}")
    cols = [check_array(a, name=n, ndim=1) for a, n in ((w1, "w1"), (w2, "w2"), (w3, "w3"), (sig1, "sig1"),
                                                         (sig2, "sig2"), (sig3, "sig3"))]
    if len({c.size for c in cols}) != 1 or cols[0].size < 2:
        raise ValueError("magnitude_error_model: need >= 2 sources and arrays of equal length")
    grids, law = [], []
    for m, e in zip(cols[:3], cols[3:]):
        if np.any(e < 0):
            raise ValueError("magnitude_error_model: errors must be >= 0")
        if kind == "law":
            floor, depth = _noise_law(m, e)
            law.append((floor, depth))
            mags = np.arange(np.floor(m.min()) - 4.0, np.ceil(m.max()) + 4.0 + 1e-9, 0.05)
            grids.append((mags, np.sqrt(floor ** 2 + (0.2171 * 10 ** (0.4 * (mags - depth))) ** 2)))
            continue
        lo, hi = np.floor(m.min() / step_mag) * step_mag, np.ceil(m.max() / step_mag) * step_mag + step_mag
        edges = np.arange(lo, hi + 0.5 * step_mag, step_mag)
        k = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, edges.size - 2)
        mags, sigs = [], []
        for b in np.unique(k):
            sel = k == b
            mags.append(float(np.median(m[sel])))
            sigs.append(float(np.median(e[sel])))
        grids.append((np.asarray(mags), np.maximum.accumulate(np.asarray(sigs))))
    q = (np.arange(int(n_w2_nodes)) + 0.5) / int(n_w2_nodes)
    w2s = cols[1] if w2_sample is None else check_array(w2_sample, name="w2_sample", ndim=1)
    out = {"grids": grids, "w2_nodes": np.quantile(w2s, q), "kind": kind}
    if law:
        out["law"] = law
    return out


def _n_nodes(shared, independent):
    """Gauss-Hermite nodes for a shared error: finer when the shared error dominates the independent ones."""
    r = float(shared) / max(float(independent), 1e-9)
    return int(min(15, max(5, 2 * int(np.ceil(1.5 * r)) + 1)))


def _expand_classes(se):
    """Error classes (K, 2|3) -> separable sub-classes: sigmas, shifts, quadrature weights, parent class."""
    sx, sy, shx, shy, fq, parent = [], [], [], [], [], []
    for k, row in enumerate(se):
        s2 = row[2] if row.size == 3 else 0.0
        ix = np.sqrt(max(row[0] ** 2 - s2 ** 2, 0.0))
        iy = np.sqrt(max(row[1] ** 2 - s2 ** 2, 0.0))
        if s2 > 0:
            n_nodes = _n_nodes(s2, min(ix, iy))
            t, wt = np.polynomial.hermite.hermgauss(n_nodes)
            u = np.sqrt(2.0) * s2 * t
            sx += [ix] * n_nodes
            sy += [iy] * n_nodes
            shx += list(-u)
            shy += list(u)
            fq += list(wt / np.sqrt(np.pi))
            parent += [k] * n_nodes
        else:
            sx.append(ix)
            sy.append(iy)
            shx.append(0.0)
            shy.append(0.0)
            fq.append(1.0)
            parent.append(k)
    sx, sy = np.maximum(sx, 1e-9), np.maximum(sy, 1e-9)
    return sx, sy, np.array(shx), np.array(shy), np.array(fq), np.array(parent)


def design_matrix(track_colors, edges, *, weights=None, color_error=None, error_weights=None, error_map=None,
                  error_model=None, w2_points=None, x_min=None, x_min_fn=None, chunk_size=20_000, dtype=np.float32,
                  n_jobs=None, progress=None):
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
    color_error : float, (float, float) or array of shape (K, 2) or (K, 3), optional
        Gaussian colour errors (mag) of the observations: each track point is spread
        over the neighbouring bins (within 3 sigma of the largest error), so the model histogram is
        comparable with noisy observed colours. ``(K, 2)``: K error classes (see :func:`error_classes`)
        mixed with ``error_weights``. ``(K, 3)``: the third column is the part of the two colour errors
        shared through W2 (it enters W1-W2 and W2-W3 with opposite signs: covariance -s^2); it is
        integrated with Gauss-Hermite quadrature (5-21 nodes, finer when the shared part dominates; each
        node a separable blur). ``None`` or 0:
        no blurring.
    error_weights : array_like, shape (K,), optional
        Shares of the error classes (default: equal); normalised to sum 1.
    error_map : (cell_edges_x, cell_edges_y, shares), optional
        Error classes whose shares depend on colour: ``shares`` (cx, cy, K) gives the class shares
        of sources in each colour cell; each track point uses the shares of the cell it lies in
        (nearest cell outside). Replaces ``error_weights``. Real errors depend on magnitudes and
        hence on colour (e.g. red W2-W3 means a bright W3): this keeps that dependence.
    error_model : dict, optional
        A magnitude-dependent error model (:func:`magnitude_error_model`): each track point is blurred
        with the errors it would have at each W2 node (or at its own ``w2_points``), the shared W2 error
        included. Replaces ``color_error``.
    w2_points : array_like, shape (n_tracks, n_angles), optional
        W2 magnitude of every track point for ``error_model`` (default: the model's W2 distribution).
    x_min : array_like, shape (n_tracks, n_angles), optional
        A selection on the observed first colour: only the part of each point's (blurred) distribution
        above its ``x_min`` counts (e.g. the W1-W2 threshold of the Assef et al. cut at the point's W2
        magnitude). Columns then sum to the selected fraction inside the range.
    x_min_fn : callable, optional
        With ``error_model``: a threshold on the first colour that depends on the *observed* W2,
        ``x_min_fn(w2_observed) -> threshold`` (e.g. :func:`selection_threshold` of the Assef et al. cut).
        The shared W2 error is then integrated with a cell quadrature that resolves the step the cut makes
        (``agnlab.population._w2_quadrature``, 48 x 4 cells instead of the 32 x 2 used without it). Replaces
        ``x_min``.
    dtype : numpy dtype
        Stored value type (float32 keeps 10^6 tracks x 100 angles well under 1 GB).
    n_jobs : int, optional
        Threads over the chunks of tracks (None: one; -1: every core), each with single-threaded BLAS;
        the matrix is the same for any value.

    Returns
    -------
    DesignMatrix
    """
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
        se = np.asarray(color_error, float)
        se = np.broadcast_to(se, (2,))[None, :] if se.ndim <= 1 else se
        if se.ndim != 2 or se.shape[1] not in (2, 3) or se.shape[0] == 0:
            raise ValueError(f"color_error: need a number, (err_x, err_y) or (K, 2) / (K, 3) error classes, got "
                             f"shape {np.shape(color_error)}")
        if not np.all(np.isfinite(se)) or np.any(se < 0):
            raise ValueError(f"color_error: need non-negative finite values, got {color_error}")
        fk = np.full(se.shape[0], 1.0 / se.shape[0]) if error_weights is None else \
            check_array(error_weights, name="error_weights", shape=(se.shape[0],))
        if np.any(fk < 0) or fk.sum() <= 0:
            raise ValueError("error_weights: must be non-negative with a positive sum")
        if np.any(se > 0):
            sx, sy, shx, shy, fq, parent = _expand_classes(se)
            steps = np.array([edges[0][1] - edges[0][0], edges[1][1] - edges[1][0]])
            reach = np.array([np.max(3.0 * sx + np.abs(shx)), np.max(3.0 * sy + np.abs(shy))])
            blur = (sx, sy, shx, shy, np.ceil(reach / steps).astype(int), fq, parent, fk / fk.sum())
    if error_model is not None:
        ex_, ey_ = edges
        top2 = float(np.max(error_model["w2_nodes"] if w2_points is None else np.nanmax(w2_points)))
        (g1, v1), (g2, v2), (g3, v3) = error_model["grids"]
        s2max = float(np.interp(top2, g2, v2))
        reach = np.array([3.0 * np.interp(top2 + ex_[-1], g1, v1) + 3.5 * s2max,
                          3.0 * np.interp(top2 - ey_[0], g3, v3) + 3.5 * s2max])
        steps = np.array([ex_[1] - ex_[0], ey_[1] - ey_[0]])
        blur = ("model", np.ceil(reach / steps).astype(int))
        w2p = None if w2_points is None else np.broadcast_to(np.asarray(w2_points, float), (n_tracks, n_angles))
    emap = None
    if error_map is not None and blur is not None and not isinstance(blur[0], str):
        cex, cey, shares = (np.asarray(a, float) for a in error_map)
        n_k = np.asarray(color_error).shape[0]
        if shares.shape != (cex.size - 1, cey.size - 1, n_k) or np.any(shares < 0):
            raise ValueError(f"error_map: shares of shape (cells_x, cells_y, K) = ({cex.size - 1}, {cey.size - 1}, "
                             f"{n_k}) and >= 0 needed, got {shares.shape}")
        emap = (cex, cey, shares / np.maximum(shares.sum(axis=2, keepdims=True), 1e-300))
    xm = None
    if x_min is not None:
        xm = np.broadcast_to(np.asarray(x_min, float), (n_tracks, n_angles))
        if np.isnan(xm).any():
            raise ValueError("x_min: NaN thresholds (use -inf for points without a cut)")
    chunk_size = int(max(1, min(int(chunk_size), 8_000_000 // max(nb, 1))))  # dense accumulator <= 64 MB
    if blur is not None:   # per-chunk blur arrays (m, A, K', W) and (m, A, Wx, Wy) <= ~32 MB each
        n_sub = len(blur[0]) if not isinstance(blur[0], str) else \
            np.size(error_model["w2_nodes"] if w2_points is None else 1) * (N_CELLS_SMOOTH * N_SUB_SMOOTH
                                                                             if x_min_fn is None else N_CELLS * N_SUB)
        wx, wy = (_window(k, e.size - 1) for k, e in zip(blur[1] if isinstance(blur[0], str) else blur[4], edges))
        per_point = max(n_sub * max(wx, wy), wx * wy)
        chunk_size = int(max(1, min(chunk_size, 4_000_000 // max(n_angles * per_point, 1))))

    def one(s):   # the columns of tracks s .. s + chunk_size: (row indices, values, counts per column, non-finite)
        block = np.asarray(tc[s:s + chunk_size], dtype=float)
        m = block.shape[0]
        bad = int((~np.isfinite(block).all(axis=2)).sum())
        if blur is None:
            idx = _bin_index(block, edges)                                 # (m, A)
            if xm is not None:
                idx = np.where(block[..., 0] > xm[s:s + chunk_size], idx, -1)
            key = (np.arange(m, dtype=np.int64)[:, None] * nb + idx).ravel()
            val = np.broadcast_to(w, (m, n_angles)).ravel()
            ok = idx.ravel() >= 0
        elif isinstance(blur[0], str):
            kx, ky = blur[1]
            by = edges[1].size - 1
            w2c = None if w2p is None else w2p[s:s + chunk_size]
            if x_min_fn is not None:    # the cut at the *observed* W2 (W2 error shared): cell quadrature
                ix, iy, pxy = cut_blur(block, edges, error_model, w2c, x_min_fn, (kx, ky))
            else:                       # smooth in the W2 error: fewer cells
                ix, iy, pxy = cut_blur(block, edges, error_model, w2c, None, (kx, ky), N_CELLS_SMOOTH, N_SUB_SMOOTH,
                                       x_min=None if xm is None else xm[s:s + chunk_size])
            idx = np.where((ix[..., :, None] >= 0) & (iy[..., None, :] >= 0),
                           ix[..., :, None] * by + iy[..., None, :], -1)
            val = (pxy * w[None, :, None, None]).ravel()
            key = (np.arange(m, dtype=np.int64)[:, None, None, None] * nb + idx).ravel()
            ok = (idx.ravel() >= 0) & (val > 0)
        else:
            sx, sy, shx, shy, (kx, ky), fq, parent, fk = blur
            by = edges[1].size - 1
            ix, px = _blur_axis(block[..., 0], edges[0], sx, kx,             # (m, A, 2kx+1), (m, A, K', 2kx+1)
                                None if xm is None else xm[s:s + chunk_size], shx)
            iy, py = _blur_axis(block[..., 1], edges[1], sy, ky, None, shy)
            idx = np.where((ix[..., :, None] >= 0) & (iy[..., None, :] >= 0),
                           ix[..., :, None] * by + iy[..., None, :], -1)  # (m, A, X, Y)
            if emap is not None:
                cex, cey, shares = emap
                cx = np.clip(np.searchsorted(cex, np.nan_to_num(block[..., 0]), side="right") - 1, 0, cex.size - 2)
                cy = np.clip(np.searchsorted(cey, np.nan_to_num(block[..., 1]), side="right") - 1, 0, cey.size - 2)
                fpt = shares[cx, cy][..., parent] * fq                         # (m, A, K')
                pxy = np.matmul(np.swapaxes(px * fpt[..., :, None], -1, -2), py)
            elif fq.size == 1:
                pxy = px[..., 0, :, None] * py[..., 0, None, :]
            else:   # sum_k f_k px_k py_k^T
                pxy = np.matmul(np.swapaxes(px * (fk[parent] * fq)[:, None], -1, -2), py)
            val = (pxy * w[None, :, None, None]).ravel()
            key = (np.arange(m, dtype=np.int64)[:, None, None, None] * nb + idx).ravel()
            ok = (idx.ravel() >= 0) & (val > 0)
        key, val = key[ok], val[ok]
        dense = np.bincount(key, weights=val, minlength=m * nb)   # (m * nb,), bounded by the chunk size
        uniq = np.flatnonzero(dense)                               # sorted: track-major, then bin = CSC order
        return (uniq % nb).astype(np.int32), dense[uniq].astype(dtype), np.bincount(uniq // nb, minlength=m), bad

    parts = chunked_map(one, range(0, n_tracks, chunk_size), n_jobs=n_jobs, progress=progress, desc="design matrix",
                        blas_threads=1)
    indices = [part[0] for part in parts]
    data = [part[1] for part in parts]
    counts = [part[2] for part in parts]
    n_nonfinite = sum(part[3] for part in parts)
    indptr = np.concatenate([np.zeros(1, np.int64), np.cumsum(np.concatenate(counts), dtype=np.int64)])
    mat = sp.csc_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(nb, n_tracks))
    inside = np.asarray(mat.sum(axis=0)).ravel()
    empty = np.flatnonzero(inside <= 0)
    return DesignMatrix(mat, inside, empty, n_nonfinite)
