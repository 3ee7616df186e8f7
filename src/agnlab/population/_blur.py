"""Gaussian blur of track points over neighbouring histogram bins (the kernel of the design matrix)."""

from __future__ import annotations

import numpy as np

__all__ = ["_blur_axis", "_window"]


def _window(k, nb):
    """Bins per point of a blur reaching ``k`` bins either side: at most the whole axis (``nb``)."""
    return int(min(2 * int(k) + 1, nb))


def _blur_axis(x, e, sigma, k, x_min=None, shift=None, deriv=False):
    """Bin indices (..., W) and Gaussian probabilities (..., K, W) of each value over neighbouring bins,
    for every error class ``sigma`` (K,) centred at ``x + shift`` (K,); with ``x_min`` (shape of ``x``) only
    the part above it counts; ``deriv`` (without ``x_min``): also the derivatives of the probabilities with
    respect to the shift.

    The window of ``W = min(2k + 1, n_bins)`` bins starts ``k`` bins below the value's bin, shifted to stay
    inside the histogram (bins farther than ``k`` from the value get index -1): only histogram bins are ever
    evaluated, so an extreme error (``k`` of thousands of bins, as the noise law gives near a band's
    detection limit) costs no more than the whole axis."""
    from scipy.special import ndtr

    nb = e.size - 1
    d = e[1] - e[0]
    width = _window(k, nb)
    fin = np.isfinite(x)
    i0 = np.floor((np.where(fin, x, e[0]) - e[0]) / d)
    start = np.clip(i0 - int(k), 0, nb - width).astype(np.int64)
    idx = start[..., None] + np.arange(width)
    ok = fin[..., None] & (np.abs(idx - i0[..., None]) <= int(k))     # the same reach as before, in the histogram
    sig = np.asarray(sigma, float)[..., None]        # (K', 1) or per point (..., K', 1)
    sh = np.zeros(1) if shift is None else np.asarray(shift, float)[..., None]
    # the CDF at the W + 1 edges once, differences per bin
    edges_all = e[0] + (start[..., None] + np.arange(width + 1)) * d
    z = ((edges_all - x[..., None])[..., None, :] - sh) / sig
    cdf = ndtr(z)
    if x_min is None:
        prob = np.maximum(cdf[..., 1:] - cdf[..., :-1], 0.0)
        out = (np.where(ok, idx, -1), np.where(ok[..., None, :], prob, 0.0))
        if deriv:
            pdf = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
            out += (np.where(ok[..., None, :], -(pdf[..., 1:] - pdf[..., :-1]) / sig, 0.0),)
        return out
    # only the part above x_min: the lower CDF is Phi(max(lo, x_min)) = max(Phi(lo), Phi(x_min))
    xm = np.asarray(x_min, float)
    xm = xm[..., None] if np.ndim(xm) == x.ndim + 1 else np.broadcast_to(xm, x.shape)[..., None, None]
    cut = ndtr(((xm - x[..., None, None]) - sh) / sig)               # (..., K', 1)
    prob = np.maximum(cdf[..., 1:] - np.maximum(cdf[..., :-1], cut), 0.0)
    return np.where(ok, idx, -1), np.where(ok[..., None, :], prob, 0.0)
