"""Put spectra or spectrograph arms/echelle orders on one grid (flux-conserving, inverse-variance weighted)."""

from __future__ import annotations

import numpy as np

from ._rebin import LogRebinner

__all__ = ["merge_segments", "rebin_onto", "sanitise", "union_grid"]


def sanitise(flux, ivar, bad):
    """Mask NaN/infinite flux or ivar, negative ivar and file-masked pixels: ``(flux, ivar, bad, n_invalid)``.

    ``n_invalid`` (per row) counts pixels with NaN/infinite values or negative ivar (not the file mask).
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=np.float64))
    bad = np.atleast_2d(np.asarray(bad, bool))
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(flux) | ~np.isfinite(ivar) | (ivar < 0)
    out_bad = invalid | bad | (ivar == 0)
    return (np.where(out_bad, 0.0, flux), np.where(out_bad, 0.0, ivar), out_bad, invalid.sum(axis=1))


def _lattice(waves, transform):
    """The common lattice of grids uniform in ``transform(wave)`` with one step and aligned starts, or None."""
    ts = [transform(w) for w in waves]
    steps = []
    for t in ts:
        d = np.diff(t)
        if d.size == 0 or not np.allclose(d, d.mean(), rtol=1e-2, atol=0):   # float32 files: ~1e-3 jitter
            return None
        steps.append((t[-1] - t[0]) / (t.size - 1))
    step = steps[0]
    if not np.allclose(steps, step, rtol=1e-5, atol=0):
        return None
    lo = min(t[0] for t in ts)
    if any(abs((t[0] - lo) / step - round((t[0] - lo) / step)) > 1e-2 for t in ts):
        return None
    hi = max(t[-1] for t in ts)
    return lo + step * np.arange(int(round((hi - lo) / step)) + 1)


def union_grid(waves):
    """One grid for several wavelength grids (Angstrom).

    Equal grids are returned as they are; grids on one linear (e.g. DESI 0.8 A) or log-linear (SDSS 1e-4 dex)
    lattice give that lattice over their union, so pixels map one to one; otherwise a log grid over the union
    with the finest input step.
    """
    waves = [np.asarray(w, dtype=np.float64) for w in waves]
    first = waves[0]
    if all(w.shape == first.shape and np.allclose(w, first, rtol=1e-9, atol=0) for w in waves[1:]):
        return first
    g = _lattice(waves, lambda w: w)
    if g is not None:
        return g
    g = _lattice(waves, np.log10)
    if g is not None:
        return 10.0 ** g
    dlog = min(float(np.median(np.diff(np.log10(w)))) for w in waves)
    lo = min(np.log10(w[0]) for w in waves)
    hi = max(np.log10(w[-1]) for w in waves)
    return 10.0 ** (lo + dlog * np.arange(int(np.floor((hi - lo) / dlog + 1e-9)) + 1))


def rebin_onto(wave, flux, ivar, sigma, grid, rebinner=None):
    """Sanitised ``flux, ivar`` (n, n_pix) and optional LSF ``sigma`` (n, n_pix) onto ``grid``.

    Returns ``(flux, ivar, sigma)`` on ``grid``: overlap-weighted inverse-variance means (masked pixels carry
    no weight, ``ivar`` sums), sigma averaged with the same overlaps over pixels where it is known.
    """
    reb = rebinner or LogRebinner(wave, grid, min_coverage=0.0)
    f, iv = reb(np.asarray(flux, np.float32), np.asarray(ivar, np.float32))
    s = None
    if sigma is not None:
        sig = np.asarray(sigma, dtype=np.float64)
        known = np.isfinite(sig) & (sig > 0)
        s, w = reb(np.where(known, sig, 0.0).astype(np.float32), known.astype(np.float32))
        s = np.where(w > 0, s, np.nan)
    return f.astype(np.float64), iv.astype(np.float64), s


def merge_segments(segments, *, where: str):
    """Merge arms/orders ``[(wave (n_pix,), flux, ivar, bad, sigma or None), ...]`` (rows = spectra) onto one grid.

    Returns ``wave, flux, ivar, bad, sigma, n_invalid`` with arrays of shape (n, n_grid); overlaps are
    inverse-variance weighted.
    """
    if not segments:
        raise ValueError(f"{where}: no arms/orders to merge")
    grid = union_grid([s[0] for s in segments])
    n = np.atleast_2d(segments[0][1]).shape[0]
    fi = np.zeros((n, grid.size))
    iv = np.zeros((n, grid.size))
    si = np.zeros((n, grid.size))
    sw = np.zeros((n, grid.size))
    n_invalid = np.zeros(n, int)
    any_sigma = False
    for wave, flux, ivar, bad, sigma in segments:
        order = np.argsort(wave)
        wave = np.asarray(wave, dtype=np.float64)[order]
        f, i, _, ninv = sanitise(np.atleast_2d(flux)[:, order], np.atleast_2d(ivar)[:, order],
                                 np.atleast_2d(bad)[:, order])
        n_invalid += ninv
        sig = None if sigma is None else np.atleast_2d(sigma)[:, order]
        fr, ir, sr = rebin_onto(wave, f, i, sig, grid)
        fi += fr * ir
        iv += ir
        if sr is not None:
            any_sigma = True
            ok = np.isfinite(sr) & (ir > 0)
            si += np.where(ok, sr * ir, 0.0)
            sw += np.where(ok, ir, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = np.where(iv > 0, fi / np.where(iv > 0, iv, 1.0), 0.0)
        sigma = np.where(sw > 0, si / np.where(sw > 0, sw, 1.0), np.nan) if any_sigma else None
    return grid, flux, iv, iv <= 0, sigma, n_invalid
