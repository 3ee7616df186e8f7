"""Real spectra: :class:`ObservedSpectra`, :class:`SpectrumFlag`, bad-pixel masking, resampling.

:func:`agnlab.spectra.read_spectrum` (``_readers``) is the entry point for every file layout (SDSS,
DESI, FITS images, tables, echelle); :func:`read_spectra_fits` below is the plain FITS-table reader.

Spectra are read from FITS binary tables with a wavelength column
(``wave``/``wavelength``/``lambda`` in Angstrom, or SDSS ``loglam``), ``flux``,
and ``ivar`` (or an error column), optionally a ``mask`` / ``and_mask``
column; either one row per pixel (SDSS ``coadd`` style) or one row per
spectrum with array columns.  Pixels with ``ivar = 0``, NaN/infinite values
or a non-zero mask are *masked*: ``ivar`` is set to 0 and ``flux`` to 0, so
nothing downstream propagates them.
"""

from __future__ import annotations

import enum
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import SpectraFileError

__all__ = ["ObservedSpectra", "SpectrumFlag", "flag_names", "mask_bad_pixels", "read_spectra_fits",
           "resample_spectra"]


class SpectrumFlag(enum.IntFlag):
    """Per-spectrum quality bits (``meta['flag']``; ``meta['flags']`` spells them out).

    ``ALL_MASKED``, ``OUTSIDE_MODEL_RANGE`` and ``Z_OUTSIDE_TRAINED_RANGE`` make a spectrum unusable:
    predictions for it are NaN, never a silent redshift. The others are warnings.
    """

    ALL_MASKED = 1               # no valid pixel
    OUTSIDE_MODEL_RANGE = 2      # valid pixels cover < min_coverage of the model grid
    BAD_IVAR_MASKED = 4          # NaN/infinite/negative ivar or flux pixels were masked
    MOSTLY_MASKED = 8            # more than half of the pixels masked
    CONTINUUM_NORMALISED = 16    # flux divided by a continuum (emission lines may be gone)
    RESOLUTION_UNKNOWN = 32      # no LSF in the file or options: not matched to the model resolution
    BROADER_THAN_MODEL = 64      # input LSF broader than the model's (the model sees broader lines)
    AIR_VACUUM_UNKNOWN = 128     # the file does not say air or vacuum; vacuum assumed
    WAVE_UNIT_ASSUMED = 256      # the file gives no wavelength unit; Angstrom assumed from the range
    Z_OUTSIDE_TRAINED_RANGE = 512  # predicted/known z outside the model's trained range


#: bits that make a spectrum unusable for the models
UNUSABLE = SpectrumFlag.ALL_MASKED | SpectrumFlag.OUTSIDE_MODEL_RANGE | SpectrumFlag.Z_OUTSIDE_TRAINED_RANGE


def flag_names(flag) -> str:
    """``'bad_ivar_masked|continuum_normalised'`` for a flag value (``'ok'`` for 0)."""
    value = int(flag)
    names = [f.name.lower() for f in SpectrumFlag if value & f.value]
    return "|".join(names) if names else "ok"


@dataclass
class ObservedSpectra:
    """Spectra read from files, on one wavelength grid.

    Attributes
    ----------
    wave_aa : ndarray, shape (n_pix,)
    flux, ivar : ndarray, shape (n, n_pix), float32
        Masked pixels have ``ivar = 0`` and ``flux = 0``.
    mask : ndarray, shape (n, n_pix), bool
        True where a pixel was masked (bad in the file, NaN, ``ivar <= 0``).
    meta : pandas.DataFrame
        One row per spectrum: ``source`` (file name, row) and header keywords
        such as ``z`` when present; from :func:`read_spectrum` also ``file``,
        ``format``, ``flag`` (int, :class:`SpectrumFlag` bits), ``flags`` (their names)
        and ``normalised``.
    lsf_sigma_kms : ndarray, shape (n, n_pix), optional
        Gaussian line-spread-function sigma in km/s per pixel (NaN: unknown).
    status : pandas.DataFrame, optional
        One row per file read: ``file``, ``format``, ``n_spectra``, ``status``
        (``ok``/``error``), ``message``; files that failed are listed here and
        hold no spectra.
    """

    wave_aa: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    lsf_sigma_kms: np.ndarray | None = None
    status: pd.DataFrame | None = None

    def __len__(self):
        return int(self.flux.shape[0])


_WAVE_COLS = ("wave_aa", "wave", "wavelength", "lambda", "lam", "loglam")
_FLUX_COLS = ("flux", "flux_density", "f_lambda")
_IVAR_COLS = ("ivar", "inverse_variance", "invvar")
_ERR_COLS = ("error", "err", "sigma", "flux_err", "noise")
_MASK_COLS = ("mask", "and_mask", "pixel_mask", "bad_pixel", "pixmask")


def _find(names, candidates):
    """The first of ``candidates`` among ``names``, compared case-insensitively (its spelling in ``names``)."""
    low = {n.lower(): n for n in names}
    for c in candidates:
        if c in low:
            return low[c]
    return None


def mask_bad_pixels(flux, ivar, mask=None, *, negative_ivar="raise", name="spectra"):
    """Mask pixels with ``ivar = 0``, NaN/infinite flux or ivar, or ``mask != 0``.

    Parameters
    ----------
    flux, ivar : array_like, shape (n, n_pix) or (n_pix,)
    mask : array_like of int or bool, optional
        Non-zero = bad.
    negative_ivar : {'raise', 'mask'}
        Negative inverse variances are meaningless: raise (default) or mask them.

    Returns
    -------
    flux, ivar : ndarray (float32)
        Copies with masked pixels set to 0.
    bad : ndarray of bool
    """
    flux = np.array(flux, dtype=np.float64, copy=True)
    ivar = np.array(ivar, dtype=np.float64, copy=True)
    if flux.shape != ivar.shape:
        raise ValueError(f"{name}: flux has shape {flux.shape} but ivar has {ivar.shape}")
    if flux.size == 0:
        raise ValueError(f"{name}: empty spectra (no pixels)")
    nonfinite = ~np.isfinite(flux) | ~np.isfinite(ivar)
    with np.errstate(invalid="ignore"):
        neg = np.isfinite(ivar) & (ivar < 0)
    if np.any(neg):
        if negative_ivar == "raise":
            raise ValueError(f"{name}: {int(neg.sum())} pixels have negative ivar; fix the input or pass "
                             f"negative_ivar='mask'")
        if negative_ivar != "mask":
            raise ValueError(f"negative_ivar must be 'raise' or 'mask', got {negative_ivar!r}")
    bad = nonfinite | neg | (ivar == 0)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != flux.shape:
            raise ValueError(f"{name}: mask has shape {mask.shape} but flux has {flux.shape}")
        bad |= mask.astype(bool)
    flux[bad] = 0.0
    ivar[bad] = 0.0
    return flux.astype(np.float32), ivar.astype(np.float32), bad


def read_spectra_fits(paths, *, hdu=1, wave_col=None, flux_col=None, ivar_col=None, mask_col=None,
                      wave_aa=None, negative_ivar="raise", min_valid_fraction=0.0):
    """Read real spectra from FITS binary tables.

    Parameters
    ----------
    paths : str, Path or sequence of them
        FITS files; each holds one spectrum per file (one row per pixel) or
        several (one row per spectrum with array columns).
    hdu : int or str
        HDU holding the table.
    wave_col, flux_col, ivar_col, mask_col : str, optional
        Column names; found automatically when not given (``loglam`` is
        converted with ``10**loglam``; an error column becomes ``1/err^2``).
    wave_aa : array_like, optional
        Common output grid; spectra on other grids are resampled onto it
        (linear interpolation; a pixel touching a masked input pixel is
        masked). Without it all spectra must share one grid.
    negative_ivar : {'raise', 'mask'}
    min_valid_fraction : float
        Raise if a spectrum has a smaller fraction of unmasked pixels.

    Returns
    -------
    ObservedSpectra
    """
    from astropy.io import fits

    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_spectra_fits: no files given")
    waves, fluxes, ivars, masks, meta = [], [], [], [], []
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"spectrum file not found: {p}")
        try:
            with fits.open(p, memmap=False) as hl:
                try:
                    h = hl[hdu]
                except (KeyError, IndexError):
                    raise SpectraFileError(f"{p}: no HDU {hdu!r} (file has {[x.name for x in hl]})") from None
                if not isinstance(h, (fits.BinTableHDU, fits.TableHDU)):
                    raise SpectraFileError(f"{p}: HDU {hdu!r} is not a table")
                data = h.data
                names = list(data.columns.names)
                hdr = dict(hl[0].header)
                hdr.update(h.header)
                wc = wave_col or _find(names, _WAVE_COLS)
                fc = flux_col or _find(names, _FLUX_COLS)
                ic = ivar_col or _find(names, _IVAR_COLS)
                ec = None if ic else _find(names, _ERR_COLS)
                mc = mask_col or _find(names, _MASK_COLS)
                missing = [k for k, v in (("wavelength", wc), ("flux", fc)) if v is None]
                if ic is None and ec is None:
                    missing.append("ivar (or error)")
                if missing:
                    raise SpectraFileError(f"{p}: table has no {', '.join(missing)} column; columns are {names}")
                w = np.asarray(data[wc], dtype=np.float64)
                f = np.asarray(data[fc], dtype=np.float64)
                if ic is not None:
                    iv = np.asarray(data[ic], dtype=np.float64)
                else:
                    err = np.asarray(data[ec], dtype=np.float64)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        iv = np.where(err > 0, 1.0 / err ** 2, 0.0)
                mk = np.asarray(data[mc]) if mc is not None else None
        except SpectraFileError:
            raise
        except (OSError, TypeError, ValueError) as exc:
            raise SpectraFileError(f"{p}: cannot read FITS table ({type(exc).__name__}: {exc})") from None
        if wc.lower() == "loglam":
            w = 10.0 ** w
        if f.ndim == 1:  # one row per pixel
            w, f, iv = w[None, :], f[None, :], iv[None, :]
            mk = None if mk is None else mk[None, :]
        elif w.ndim == 1:
            w = np.broadcast_to(w[:, None], f.shape)
        if f.shape[1] == 0:
            raise SpectraFileError(f"{p}: empty spectrum (no pixels)")
        for r in range(f.shape[0]):
            wr = w[r]
            if not np.all(np.isfinite(wr)) or np.any(np.diff(wr) <= 0):
                raise SpectraFileError(f"{p} row {r}: wavelength must be finite and strictly increasing")
            fr, ir, bad = mask_bad_pixels(f[r], iv[r], None if mk is None else mk[r], negative_ivar=negative_ivar,
                                          name=f"{p.name} row {r}")
            n_bad = int(bad.sum())
            frac = 1.0 - n_bad / bad.size
            if frac <= min_valid_fraction or frac == 0.0:
                raise SpectraFileError(f"{p} row {r}: only {frac:.1%} of pixels are valid")
            if n_bad:
                warnings.warn(f"{p.name} row {r}: {n_bad} of {bad.size} pixels masked (ivar<=0, NaN or mask)",
                              stacklevel=2)
            waves.append(wr)
            fluxes.append(fr)
            ivars.append(ir)
            masks.append(bad)
            meta.append({"source": f"{p.name}[{r}]", **{k.lower(): hdr[k] for k in ("Z", "Z_VI", "Z_PIPE", "ZQSO")
                                                         if k in hdr}})
    if wave_aa is None:
        ref = waves[0]
        for k, wr in enumerate(waves[1:], 1):
            if wr.shape != ref.shape or not np.allclose(wr, ref, rtol=1e-7, atol=0):
                raise ValueError(f"spectrum {meta[k]['source']} is on a different wavelength grid than "
                                 f"{meta[0]['source']}; pass wave_aa= to resample onto a common grid")
        out_w = np.asarray(ref, dtype=np.float64)
        F, IV, M = np.array(fluxes), np.array(ivars), np.array(masks)
    else:
        out_w = np.asarray(wave_aa, dtype=np.float64)
        F, IV, M = [], [], []
        for wr, fr, ir in zip(waves, fluxes, ivars):
            f2, i2 = resample_spectra(wr, fr[None, :], ir[None, :], out_w)
            F.append(f2[0])
            IV.append(i2[0])
            M.append(i2[0] == 0)
        F, IV, M = np.array(F), np.array(IV), np.array(M)
    return ObservedSpectra(out_w, F.astype(np.float32), IV.astype(np.float32), M, pd.DataFrame(meta))


def resample_spectra(wave_in, flux, ivar, wave_out):
    """Linear resampling onto ``wave_out``; output pixels next to masked or outside pixels are masked.

    Parameters
    ----------
    wave_in : ndarray, shape (n_in,)
    flux, ivar : ndarray, shape (n, n_in)
    wave_out : ndarray, shape (n_out,)

    Returns
    -------
    flux_out, ivar_out : ndarray, shape (n, n_out), float32
        ``ivar`` is the inverse variance of the interpolated value (point
        sampling; onto much coarser grids an inverse-variance weighted
        rebinning keeps more signal).
    """
    wave_in = np.asarray(wave_in, dtype=float)
    wave_out = np.asarray(wave_out, dtype=float)
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=float))
    if flux.shape != ivar.shape or flux.shape[1] != wave_in.size:
        raise ValueError(f"resample_spectra: flux {flux.shape} / ivar {ivar.shape} do not match "
                         f"wave_in {wave_in.shape}")
    j = np.searchsorted(wave_in, wave_out) - 1
    inside = (j >= 0) & (j < wave_in.size - 1)
    j = np.clip(j, 0, wave_in.size - 2)
    t = (wave_out - wave_in[j]) / (wave_in[j + 1] - wave_in[j])
    f = flux[:, j] * (1 - t) + flux[:, j + 1] * t
    good = (ivar[:, j] > 0) & (ivar[:, j + 1] > 0) & inside[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(good, (1 - t) ** 2 / ivar[:, j] + t ** 2 / ivar[:, j + 1], np.inf)
    iv = np.where(good, 1.0 / var, 0.0)
    f = np.where(good, f, 0.0)
    return f.astype(np.float32), iv.astype(np.float32)
