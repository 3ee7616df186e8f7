"""Bring observed spectra to the resolution and grid the spectra models were trained on.

The models are trained on 4MOST-like spectra (:class:`Instrument`: Gaussian LSF with resolving power
rising linearly from R = 4000 at 3600 A to R = 7500 at 9600 A, i.e. sigma = 32 -> 17 km/s, on a
0.25 A grid). :func:`match_resolution` maps any spectrum onto that:

1. **degrade**: where the input LSF is sharper than the model's (echelle R ~ 5000-50000, DESI red
   arm), convolve in velocity (log-lambda) space with a Gaussian of
   ``sigma_k^2 = sigma_model^2 - sigma_in^2``, so lines have the model's width;
2. where the input is *broader* (SDSS/BOSS R ~ 1500-2500: sigma ~ 50-85 km/s) nothing can sharpen it:
   the spectrum is used as it is and flagged ``BROADER_THAN_MODEL``. The models rebin onto grids of
   69 km/s (DLA) and 207 km/s (redshift) pixels, so the extra width changes the effective resolution
   they see from sqrt(32^2 + 20^2) ~ 38 to sqrt(64^2 + 20^2) ~ 67 km/s (DLA grid, blue end) and from
   ~68 to ~88 km/s (redshift grid); damped Ly-alpha profiles (> 500 km/s) and broad emission lines
   (> 1000 km/s) are far wider than either;
3. **rebin** onto the model's training grid (flux-conserving overlap weights, inverse-variance
   weighted, ``ivar`` summed: :class:`LogRebinner`), masking what the input does not cover.

Noise: the convolution averages neighbouring pixels and correlates their noise. The output variance
per pixel is kept at the kernel-weighted mean of the input variances (not the smaller variance of an
average of independent pixels), which is what survives once the models sum pixels into bins wider
than the kernel.

Continuum-normalised input: the networks divide every spectrum by its own median (redshift: over the
whole grid; DLA: over a rest-frame window redward of Ly-alpha) and take ``sqrt(ivar) * scale``, so the
flux *scale* never matters; the *shape* does: :func:`restore_continuum` multiplies a normalised
spectrum by the population-mean quasar continuum at a given redshift so the DLA finder sees a
continuum like the ones it was trained on.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..constants import C_KMS
from ._observed import ObservedSpectra, SpectrumFlag, flag_names
from ._readers_units import sigma_kms_from_resolution
from ._rebin import LogRebinner, check_wave

__all__ = ["degrade_resolution", "match_resolution", "model_lsf_sigma_kms", "restore_continuum"]

#: kernels narrower than this fraction of a pixel are not applied
_MIN_SIGMA_PIX = 0.15
#: pixels (rows x n_pix) convolved at a time in match_resolution
_CHUNK_PIXELS = 2_000_000


def model_lsf_sigma_kms(wave_aa, instrument=None) -> np.ndarray:
    """LSF sigma (km/s) of the training instrument (default: the 4MOST-like :class:`Instrument`)."""
    from ._instrument import Instrument

    inst = instrument or Instrument()
    return sigma_kms_from_resolution(inst.resolving_power(np.asarray(wave_aa, dtype=float)))


def _pixel_kms(wave):
    return np.gradient(np.log(wave)) * C_KMS


def degrade_resolution(wave_aa, flux, ivar, lsf_sigma_kms, target_sigma_kms):
    """Convolve spectra to a broader LSF: Gaussian kernel ``sqrt(target^2 - lsf^2)`` in velocity.

    Parameters
    ----------
    wave_aa : array_like (n_pix,)
    flux, ivar : array_like (n, n_pix)
        Masked pixels have ``ivar = 0``; they carry no weight and stay masked.
    lsf_sigma_kms : array_like (n, n_pix) or (n_pix,)
        Input LSF sigma; where it is >= the target no smoothing is applied.
    target_sigma_kms : array_like (n_pix,) or float

    Returns
    -------
    flux, ivar : ndarray float32 (n, n_pix)
        ``ivar`` is the inverse of the kernel-weighted mean input variance (see the module notes).
    """
    wave = check_wave(wave_aa)
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=np.float64))
    if flux.shape != ivar.shape or flux.shape[1] != wave.size:
        raise ValueError(f"degrade_resolution: flux {flux.shape}, ivar {ivar.shape} and wave {wave.shape} differ")
    sig_in = np.broadcast_to(np.asarray(lsf_sigma_kms, dtype=np.float64), flux.shape)
    target = np.broadcast_to(np.asarray(target_sigma_kms, dtype=np.float64), (wave.size,))
    if np.any(~np.isfinite(sig_in)) or np.any(sig_in < 0):
        raise ValueError("degrade_resolution: lsf_sigma_kms must be finite and >= 0")
    kern_kms = np.sqrt(np.clip(target[None] ** 2 - sig_in ** 2, 0.0, None))
    sig_pix = kern_kms / _pixel_kms(wave)[None]
    sig_pix = np.where(sig_pix < _MIN_SIGMA_PIX, 0.0, sig_pix)
    hw = int(np.ceil(4.0 * sig_pix.max())) if sig_pix.size else 0
    if hw == 0:
        return flux.astype(np.float32), ivar.astype(np.float32)
    good = ivar > 0
    fm = np.where(good, flux, 0.0)
    var = np.where(good, 1.0 / np.where(good, ivar, 1.0), 0.0)
    m = good.astype(np.float64)
    n_pix = wave.size
    pad = ((0, 0), (hw, hw))
    fp, vp, mp = np.pad(fm, pad), np.pad(var, pad), np.pad(m, pad)
    s_safe = np.where(sig_pix > 0, sig_pix, 1.0)
    sum_kf = np.zeros_like(fm)
    sum_kv = np.zeros_like(fm)
    sum_km = np.zeros_like(fm)
    sum_k = np.zeros_like(fm)
    for off in range(-hw, hw + 1):
        k = np.where(sig_pix > 0, np.exp(-0.5 * (off / s_safe) ** 2), float(off == 0))
        sl = slice(hw + off, hw + off + n_pix)
        km = k * mp[:, sl]
        sum_kf += km * fp[:, sl]
        sum_kv += km * vp[:, sl]
        sum_km += km
        sum_k += k
    ok = good & (sum_km >= 0.5 * sum_k)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_out = np.where(ok, sum_kf / np.where(ok, sum_km, 1.0), 0.0)
        v_out = np.where(ok, sum_kv / np.where(ok, sum_km, 1.0), np.inf)
        iv_out = np.where(ok & (v_out > 0), 1.0 / v_out, 0.0)
    return f_out.astype(np.float32), iv_out.astype(np.float32)


def _fill_lsf(lsf):
    """Fill NaN pixels of each LSF row by interpolation; rows with nothing known stay NaN."""
    out = np.array(lsf, dtype=np.float32)
    x = np.arange(out.shape[1])
    for i in range(out.shape[0]):
        known = np.isfinite(out[i]) & (out[i] > 0)
        if known.any() and not known.all():
            out[i] = np.interp(x, x[known], out[i, known])
        elif not known.any():
            out[i] = np.nan
    return out


def match_resolution(spectra: ObservedSpectra, *, resolution=None, wave_out_aa=None, instrument=None,
                     min_coverage: float = 0.5, broader_tolerance: float = 1.1,
                     chunk_rows: int | None = None) -> ObservedSpectra:
    """Degrade to the model LSF and rebin onto the model's training grid (see the module docstring).

    Parameters
    ----------
    spectra : ObservedSpectra
        From :func:`read_spectrum` (its ``lsf_sigma_kms`` is used).
    resolution : float, optional
        Resolving power of the input (overrides ``spectra.lsf_sigma_kms``).
    wave_out_aa : array_like, optional
        Output grid (default: the training instrument's grid, 3600-9600 A in 0.25 A pixels).
    instrument : Instrument, optional
        The training instrument (default: the 4MOST-like one).
    min_coverage : float
        A spectrum whose valid pixels cover less than this fraction of the output grid is flagged
        ``OUTSIDE_MODEL_RANGE`` (the models' own limit is 0.5).
    broader_tolerance : float
        Flag ``BROADER_THAN_MODEL`` when the median input/model LSF ratio exceeds this.
    chunk_rows : int, optional
        Spectra processed at a time (default: as many as fit in ~2e6 input pixels; bounds the memory
        of long echelle grids). Results do not depend on it.

    Returns
    -------
    ObservedSpectra on ``wave_out_aa`` with updated ``meta['flag']``/``['flags']``, ``lsf_sigma_kms``
    (the LSF after the step: max of input and model) and the input's ``status``.
    """
    from ._instrument import Instrument

    inst = instrument or Instrument()
    wave = check_wave(spectra.wave_aa)
    flux = np.asarray(spectra.flux)
    ivar = np.asarray(spectra.ivar)
    n = flux.shape[0]
    if resolution is not None:
        lsf = np.full(flux.shape, float(sigma_kms_from_resolution(resolution)), np.float32)
    elif spectra.lsf_sigma_kms is not None:
        lsf = _fill_lsf(np.broadcast_to(spectra.lsf_sigma_kms, flux.shape))
    else:
        lsf = np.full(flux.shape, np.nan, np.float32)
    meta = spectra.meta.copy() if len(spectra.meta) == n else pd.DataFrame(index=range(n))
    flags = (meta["flag"].to_numpy(np.int64) if "flag" in meta.columns else np.zeros(n, np.int64)).copy()
    target = model_lsf_sigma_kms(wave, inst).astype(np.float32)
    known = np.all(np.isfinite(lsf), axis=1)
    flags[~known] |= int(SpectrumFlag.RESOLUTION_UNKNOWN)
    flags[known] &= ~int(SpectrumFlag.RESOLUTION_UNKNOWN)
    sig_in = np.where(np.isfinite(lsf), lsf, target[None])
    del lsf
    grid = inst.wave_aa if wave_out_aa is None else check_wave(wave_out_aa, name="wave_out_aa")
    reb = LogRebinner(wave, grid, min_coverage=0.0)
    fo = np.empty((n, grid.size), np.float32)
    io_ = np.empty((n, grid.size), np.float32)
    step = max(1, int(chunk_rows) if chunk_rows is not None else _CHUNK_PIXELS // wave.size)
    for s in range(0, n, step):
        sl = slice(s, s + step)
        with warnings.catch_warnings():     # all-masked rows: NaN ratio, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            ratio = np.nanmedian(np.where(ivar[sl] > 0, sig_in[sl] / target[None], np.nan), axis=1)
        broader = known[sl] & (np.nan_to_num(ratio, nan=0.0) > broader_tolerance)
        flags[sl][broader] |= int(SpectrumFlag.BROADER_THAN_MODEL)
        f, iv = degrade_resolution(wave, flux[sl], ivar[sl], sig_in[sl], target)
        fo[sl], io_[sl] = reb(f, iv)
    cover = (io_ > 0).mean(axis=1)
    flags[cover == 0] |= int(SpectrumFlag.ALL_MASKED)
    flags[cover < min_coverage] |= int(SpectrumFlag.OUTSIDE_MODEL_RANGE)
    meta["flag"] = flags
    meta["flags"] = [flag_names(v) for v in flags]
    meta["model_coverage"] = cover
    target_out = model_lsf_sigma_kms(grid, inst).astype(np.float32)
    lsf_out = np.empty((n, grid.size), np.float32)
    for i in range(n):
        lsf_out[i] = np.maximum(np.interp(grid, wave, sig_in[i]), target_out) if known[i] else np.nan
    return ObservedSpectra(np.asarray(grid, float), fo, io_, io_ <= 0, meta.reset_index(drop=True), lsf_out,
                           spectra.status)


def restore_continuum(spectra: ObservedSpectra, z, *, only_flagged: bool = True) -> ObservedSpectra:
    """Multiply continuum-normalised spectra by the population-mean quasar continuum at redshift ``z``.

    Parameters
    ----------
    spectra : ObservedSpectra
    z : array_like (n,)
        Quasar redshifts (NaN: left unchanged).
    only_flagged : bool
        Only rows flagged ``CONTINUUM_NORMALISED`` (default); False: every row.

    Returns
    -------
    ObservedSpectra (copy): ``flux * C``, ``ivar / C^2`` with ``C`` the mean continuum of
    :class:`ContinuumModel` (emission lines included) normalised to its median over the spectrum.
    """
    from ._continuum import ContinuumModel

    z = np.asarray(z, dtype=float).reshape(-1)
    n = len(spectra.flux)
    if z.size != n:
        raise ValueError(f"restore_continuum: {z.size} redshifts for {n} spectra")
    flags = spectra.meta["flag"].to_numpy(np.int64) if "flag" in spectra.meta.columns else np.zeros(n, np.int64)
    rows = np.isfinite(z) & (z > -1)
    if only_flagged:
        rows &= (flags & int(SpectrumFlag.CONTINUUM_NORMALISED)) != 0
    flux = np.array(spectra.flux, dtype=np.float32, copy=True)
    ivar = np.array(spectra.ivar, dtype=np.float32, copy=True)
    idx = np.nonzero(rows)[0]
    if idx.size:
        model = ContinuumModel()
        cont = model.evaluate_observed(spectra.wave_aa, z[idx], model.mean_params(idx.size))
        cont = cont / np.median(cont, axis=1, keepdims=True)
        cont = np.where(cont > 0, cont, np.nan)
        flux[idx] = np.nan_to_num(flux[idx] * cont)
        ivar[idx] = np.nan_to_num(ivar[idx] / cont ** 2)
    return ObservedSpectra(spectra.wave_aa, flux, ivar, ivar <= 0, spectra.meta.copy(), spectra.lsf_sigma_kms,
                           spectra.status)
