"""Log-wavelength rebinning of spectra with inverse-variance weighting.

Spectra arrive on any strictly increasing wavelength grid (e.g. the 4MOST-like
0.25 A linear grid, ~24,000 pixels). Models work on a fixed grid that is
uniform in ``log10(wavelength)``. :class:`LogRebinner` builds, once per input
grid, a sparse overlap matrix ``W`` (input pixel -> output bin, weight = the
fraction of the input pixel inside the bin) and then maps chunks of spectra:

    flux_out = (W^T (ivar * flux)) / (W^T ivar),   ivar_out = W^T ivar

so that masked pixels (``ivar = 0``, NaN or infinite flux/ivar) carry no
weight and are never propagated; an output bin with no valid input gets
``flux = 0, ivar = 0`` (masked). The sparse product was measured faster than
``numpy.add.reduceat`` over the whole pixels of a bin plus its edge fractions
(~1.5x) and than cumulative sums (which need float64 to be exact).
:meth:`LogRebinner.rebin_raw` cleans and rebins raw spectra, a cache-sized block
of spectra at a time, copying nothing when a block has no NaN/inf values.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._domain import OutOfDomainError

__all__ = ["LogRebinner", "log_wave_grid", "clean_spectra", "rebin_log"]


def log_wave_grid(wave_min_aa: float, wave_max_aa: float, dlog10: float) -> np.ndarray:
    """Bin centres uniform in ``log10(wavelength)``.

    Parameters
    ----------
    wave_min_aa, wave_max_aa : float
        First and (at most) last bin centre, Angstrom.
    dlog10 : float
        Bin width in ``log10(wavelength / A)``.

    Returns
    -------
    ndarray, shape (n_bins,)
        Bin centres in Angstrom.
    """
    if not (wave_min_aa > 0 and wave_max_aa > wave_min_aa):
        raise ValueError(f"log_wave_grid: need 0 < wave_min_aa < wave_max_aa, got {wave_min_aa}, {wave_max_aa}")
    if not dlog10 > 0:
        raise ValueError(f"log_wave_grid: dlog10 must be > 0, got {dlog10}")
    lo, hi = np.log10(wave_min_aa), np.log10(wave_max_aa)
    n = int(np.floor((hi - lo) / dlog10 + 1e-9)) + 1
    return 10 ** (lo + dlog10 * np.arange(n))


def _edges_from_centres(logc: np.ndarray) -> np.ndarray:
    mid = 0.5 * (logc[1:] + logc[:-1])
    first = logc[0] - (mid[0] - logc[0])
    last = logc[-1] + (logc[-1] - mid[-1])
    return np.concatenate([[first], mid, [last]])


def check_wave(wave_aa, *, name: str = "wave_aa") -> np.ndarray:
    """Validate a wavelength grid: 1-D, finite, positive, strictly increasing."""
    wave = np.asarray(wave_aa, dtype=float)
    if wave.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D wavelength grid, got shape {wave.shape}")
    if wave.size < 2:
        raise ValueError(f"{name}: wavelength grid has {wave.size} pixel(s); at least 2 are needed")
    if not np.all(np.isfinite(wave)):
        raise ValueError(f"{name}: {int((~np.isfinite(wave)).sum())} non-finite wavelengths")
    if np.any(wave <= 0):
        raise ValueError(f"{name}: {int((wave <= 0).sum())} wavelengths <= 0 (Angstrom expected)")
    if np.any(np.diff(wave) <= 0):
        raise ValueError(f"{name}: wavelengths must be strictly increasing "
                         f"({int((np.diff(wave) <= 0).sum())} non-increasing steps)")
    return wave


def _check_shapes(flux, ivar, n_pix: int, name: str):
    """``flux, ivar`` as float32 (n_spec, n_pix) arrays, with clear errors for wrong shapes."""
    flux = np.asarray(flux, dtype=np.float32)
    ivar = np.asarray(ivar, dtype=np.float32)
    if flux.ndim == 1:
        flux = flux[None]
    if ivar.ndim == 1:
        ivar = ivar[None]
    if flux.ndim != 2:
        raise ValueError(f"{name}: flux must be 1-D or 2-D (n_spec, n_pix), got shape {flux.shape}")
    if flux.shape != ivar.shape:
        raise ValueError(f"{name}: flux shape {flux.shape} and ivar shape {ivar.shape} differ")
    if flux.shape[0] == 0:
        raise ValueError(f"{name}: no spectra (flux has shape {flux.shape})")
    if flux.shape[1] != n_pix:
        raise ValueError(f"{name}: wave grid mismatch: flux has {flux.shape[1]} pixels per spectrum but "
                         f"wave_aa has {n_pix}")
    return flux, ivar


def clean_spectra(wave_aa, flux, ivar, *, name: str = "spectra"):
    """Validate a batch of spectra and mask bad pixels.

    Pixels whose flux or ivar is NaN or infinite get ``ivar = 0`` (masked; their
    flux is set to 0 so nothing propagates). Negative ivar is an error (it has
    no meaning; usually a sign of a wrong column).

    Parameters
    ----------
    wave_aa : array_like, shape (n_pix,)
    flux, ivar : array_like, shape (n_spec, n_pix) or (n_pix,)

    Returns
    -------
    wave : ndarray (n_pix,) float64
    flux, ivar : ndarray (n_spec, n_pix) float32
    n_masked : int
        Number of pixels masked because of NaN/inf values.
    """
    wave = check_wave(wave_aa)
    flux, ivar = _check_shapes(flux, ivar, wave.size, name)
    bad = ~(np.isfinite(flux) & np.isfinite(ivar))
    neg = (ivar < 0) & ~bad
    if neg.any():
        rows = np.unique(np.nonzero(neg)[0])
        raise ValueError(f"{name}: {int(neg.sum())} pixels with negative ivar in {rows.size} spectra "
                         f"(first rows {rows[:5].tolist()}); ivar must be >= 0 (0 = masked)")
    n_masked = int(bad.sum())
    if n_masked:
        flux = np.where(bad, np.float32(0), flux)
        ivar = np.where(bad, np.float32(0), ivar)
    return wave, flux, ivar, n_masked


class LogRebinner:
    """Inverse-variance-weighted rebinning from one input grid to a log grid.

    Parameters
    ----------
    wave_in_aa : array_like, shape (n_in,)
        Input pixel centres (strictly increasing, Angstrom).
    wave_out_aa : array_like, shape (n_out,)
        Output bin centres, uniform in log10 (see :func:`log_wave_grid`).
    min_coverage : float
        Minimum fraction of output bins that the input grid must cover; below
        it an :class:`agnlab.OutOfDomainError` (a ``ValueError``) describes the
        mismatch (e.g. a spectrum from another instrument that barely overlaps
        the trained range).

    Attributes
    ----------
    coverage : float
        Fraction of output bins with any input pixel.
    covered : ndarray of bool, shape (n_out,)
    """

    def __init__(self, wave_in_aa, wave_out_aa, *, min_coverage: float = 0.5):
        win = check_wave(wave_in_aa, name="wave_aa")
        wout = check_wave(wave_out_aa, name="wave_out_aa")
        le_in = _edges_from_centres(np.log10(win))
        le_out = _edges_from_centres(np.log10(wout))
        a, b = le_in[:-1], le_in[1:]
        j_lo = np.searchsorted(le_out, a, side="right") - 1
        j_hi = np.searchsorted(le_out, b, side="left") - 1
        j_lo = np.clip(j_lo, 0, wout.size - 1)
        j_hi = np.clip(j_hi, 0, wout.size - 1)
        span = np.maximum(j_hi - j_lo + 1, 0)
        rows = np.repeat(np.arange(win.size), span)
        offs = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
        cols = np.repeat(j_lo, span) + offs
        ov = np.minimum(b[rows], le_out[cols + 1]) - np.maximum(a[rows], le_out[cols])
        frac = ov / (b[rows] - a[rows])
        keep = frac > 1e-9
        self.matrix_ = sp.csr_matrix((frac[keep].astype(np.float32), (rows[keep], cols[keep])),
                                     shape=(win.size, wout.size))
        weight = np.asarray(self.matrix_.sum(axis=0)).ravel()
        self.covered = weight > 0.5 * np.median(weight[weight > 0]) if np.any(weight > 0) else weight > 0
        self.coverage = float(self.covered.mean())
        self.wave_in_aa = win
        self.wave_out_aa = wout
        if self.coverage < min_coverage:
            raise OutOfDomainError(
                f"wave grid mismatch: the input grid {win[0]:.1f}-{win[-1]:.1f} A covers only "
                f"{100 * self.coverage:.0f}% of the model grid {wout[0]:.1f}-{wout[-1]:.1f} A "
                f"(need >= {100 * min_coverage:.0f}%)")

    def matches(self, wave_in_aa) -> bool:
        """True when ``wave_in_aa`` is the grid this rebinner was built for."""
        w = np.asarray(wave_in_aa, dtype=float)
        return w.shape == self.wave_in_aa.shape and np.allclose(w, self.wave_in_aa, rtol=0, atol=1e-6)

    #: spectra per block in :meth:`rebin_raw` (a block of raw 4MOST spectra stays in the CPU cache)
    block = 32

    def _integrate(self, v):
        """Overlap-weighted sums of ``v`` (n, n_in) over the output bins: ``v @ matrix_`` (float32)."""
        return np.asarray(np.asarray(v, dtype=np.float32) @ self.matrix_)

    def rebin_raw(self, flux, ivar, *, name: str = "spectra"):
        """Clean (as :func:`clean_spectra`) and rebin raw spectra on this rebinner's input grid.

        Spectra without NaN/inf values are not copied (fast path); a block with any is cleaned
        first. Negative ivar raises.

        Returns
        -------
        flux_out, ivar_out : ndarray float32, shape (n_spec, n_out)
        n_masked : int
            Pixels masked because of NaN/inf flux or ivar.
        """
        flux, ivar = _check_shapes(flux, ivar, self.wave_in_aa.size, name)
        n = flux.shape[0]
        f_out = np.empty((n, self.wave_out_aa.size), np.float32)
        i_out = np.empty_like(f_out)
        n_masked = 0
        for s in range(0, n, self.block):
            f, iv = flux[s:s + self.block], ivar[s:s + self.block]
            with np.errstate(invalid="ignore", over="ignore"):
                fi = f * iv
            # any NaN/inf in flux or ivar makes the total non-finite (a float64 sum of float32 cannot overflow)
            if not (np.isfinite(np.sum(fi, dtype=np.float64)) and iv.min() >= 0):
                _, f, iv, nm = clean_spectra(self.wave_in_aa, f, iv, name=name)
                n_masked += nm
                fi = f * iv
            f_out[s:s + self.block], i_out[s:s + self.block] = self._finish(self._integrate(fi), self._integrate(iv))
        return f_out, i_out, n_masked

    def __call__(self, flux, ivar):
        """Rebin already-cleaned spectra (float32, masked pixels with ivar 0).

        Parameters
        ----------
        flux, ivar : ndarray, shape (n_spec, n_in)

        Returns
        -------
        flux_out, ivar_out : ndarray float32, shape (n_spec, n_out)
        """
        return self._finish(self._integrate(flux * ivar), self._integrate(ivar))

    def _finish(self, fi, iv):
        """``(flux, ivar)`` of the output bins from the integrated ``ivar * flux`` and ``ivar``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(iv > 0, fi / np.where(iv > 0, iv, 1), 0.0)
        iv = np.where(self.covered[None], iv, 0.0)
        out = np.where(self.covered[None], out, 0.0)
        return out.astype(np.float32), iv.astype(np.float32)


def rebin_log(wave_aa, flux, ivar, wave_out_aa, *, chunk_size: int = 512, min_coverage: float = 0.5):
    """Clean and rebin spectra onto ``wave_out_aa`` in chunks.

    Parameters
    ----------
    wave_aa : array_like, shape (n_pix,)
    flux, ivar : array_like, shape (n_spec, n_pix)
    wave_out_aa : array_like, shape (n_out,)
        Output log-uniform grid (see :func:`log_wave_grid`).
    chunk_size : int
        Spectra per chunk (memory stays bounded).

    Returns
    -------
    flux_out, ivar_out : ndarray float32, shape (n_spec, n_out)
    """
    wave = check_wave(wave_aa)
    reb = LogRebinner(wave, wave_out_aa, min_coverage=min_coverage)
    flux = np.asarray(flux)
    if flux.ndim == 1:
        flux = flux[None]
        ivar = np.asarray(ivar)[None]
    n = flux.shape[0]
    f_out = np.empty((n, reb.wave_out_aa.size), np.float32)
    i_out = np.empty_like(f_out)
    for s in range(0, max(n, 1), chunk_size):
        f_out[s:s + chunk_size], i_out[s:s + chunk_size], _ = reb.rebin_raw(flux[s:s + chunk_size],
                                                                             ivar[s:s + chunk_size])
    return f_out, i_out
