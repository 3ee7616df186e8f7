"""Survey spectrum files: SDSS/BOSS ``spec-*.fits`` and DESI ``coadd-*.fits`` / ``spectra-*.fits``.

Data models followed:

* SDSS/BOSS spec (https://data.sdss.org/datamodel/files/BOSS_SPECTRO_REDUX/RUN2D/spectra/PLATE4/spec.html):
  HDU 1 ``COADD`` table with ``flux`` (1e-17 erg/s/cm^2/A), ``loglam`` (log10 vacuum A), ``ivar``,
  ``and_mask``, ``wdisp`` (LSF sigma in units of the 1e-4 dex pixel); HDU 2 ``SPECOBJ`` (``Z``, ``CLASS``,
  ``PLATE``, ``MJD``, ``FIBERID``, ``ZWARNING``).
* DESI coadd/spectra (https://desidatamodel.readthedocs.io, ``coadd-SURVEY-PROGRAM-PIXNUM.fits``):
  image HDUs ``{B,R,Z}_WAVELENGTH`` (vacuum A, 1-D), ``{arm}_FLUX``/``_IVAR``/``_MASK`` (n_spec, n_wave),
  ``{arm}_RESOLUTION`` (n_spec, n_diag, n_wave; band-diagonal resolution matrix) and ``FIBERMAP``
  (``TARGETID``); a camera-coadded file has ``BRZ_*`` instead. Arms are merged onto one grid by
  inverse-variance weighting where they overlap.
"""

from __future__ import annotations

import numpy as np

from ..constants import C_KMS
from ._io import SpectraFileError
from ._readers_merge import merge_segments
from ._readers_units import RawSpectrum

__all__ = ["is_desi", "is_sdss", "read_desi", "read_sdss"]

_SDSS_PIX_KMS = 1e-4 * np.log(10.0) * C_KMS  # one SDSS pixel (1e-4 dex) in km/s


def _cols(hdu):
    return {n.lower(): n for n in hdu.columns.names}


def is_sdss(hl) -> bool:
    """An HDU named ``COADD``, or HDU 1 a table with ``loglam`` and ``flux`` columns."""
    from astropy.io import fits

    if "COADD" in hl:
        return True
    if len(hl) > 1 and isinstance(hl[1], fits.BinTableHDU):
        c = _cols(hl[1])
        return "loglam" in c and "flux" in c
    return False


def _exact_loglam(loglam, header):
    """The float64 grid behind a float32 ``loglam`` column: ``COEFF0 + COEFF1 * i`` from the header, else a linear
    fit, when either matches the column to 2e-6 dex (float32 rounding); otherwise the column itself."""
    i = np.arange(loglam.size, dtype=np.float64)
    cands = []
    if "COEFF0" in header and "COEFF1" in header:
        cands.append(float(header["COEFF0"]) + float(header["COEFF1"]) * i)
    if loglam.size >= 2 and np.all(np.isfinite(loglam)):
        cands.append(np.polyval(np.polyfit(i, loglam, 1), i))
    for grid in cands:
        if np.max(np.abs(grid - loglam)) < 2e-6:
            return grid
    return loglam


def read_sdss(path, hl, opts) -> list[RawSpectrum]:
    h = hl["COADD"] if "COADD" in hl else hl[1]
    c = _cols(h)
    missing = [k for k in ("loglam", "flux", "ivar") if k not in c]
    if missing:
        raise SpectraFileError(f"{path}: SDSS COADD table has no {', '.join(missing)} column; columns are "
                               f"{h.columns.names}")
    d = h.data
    wave = 10.0 ** _exact_loglam(np.asarray(d[c["loglam"]], dtype=np.float64), hl[0].header)
    flux = np.asarray(d[c["flux"]], dtype=np.float64)
    ivar = np.asarray(d[c["ivar"]], dtype=np.float64)
    bad = np.zeros(flux.shape, bool)
    if "and_mask" in c:
        m = np.asarray(d[c["and_mask"]]).astype(np.int64)
        bits = opts.get("mask_bits")
        bad = (m & int(bits)) != 0 if bits is not None else m != 0
    lsf = None
    if "wdisp" in c:
        w = np.asarray(d[c["wdisp"]], dtype=np.float64)
        lsf = np.where(w > 0, w * _SDSS_PIX_KMS, np.nan)
    meta = {"survey": "sdss"}
    hdr0 = hl[0].header
    for key in ("PLATEID", "MJD", "FIBERID"):
        if key in hdr0:
            meta[key.lower()] = hdr0[key]
    if "SPECOBJ" in hl and len(hl["SPECOBJ"].data):
        so, sc = hl["SPECOBJ"].data, _cols(hl["SPECOBJ"])
        for key, out in (("z", "z_file"), ("zwarning", "zwarning"), ("class", "class"), ("plate", "plate"),
                         ("mjd", "mjd"), ("fiberid", "fiberid")):
            if key in sc:
                v = so[sc[key]][0]
                meta[out] = v.strip() if isinstance(v, str) else v.item() if hasattr(v, "item") else v
    return [RawSpectrum(wave, flux, ivar, bad, lsf, meta)]


def is_desi(hl) -> bool:
    return any(f"{a}_FLUX" in hl for a in ("B", "R", "Z", "BRZ"))


def _resolution_sigma_kms(res, wave):
    """LSF sigma (km/s) per pixel from DESI resolution-matrix diagonals (n, n_diag, n_wave): second moment.

    desispec stores the band matrix with offsets ``n_diag // 2 - arange(n_diag)``; column j of the matrix is
    the response to input pixel j, so its second moment about its centroid is sigma^2 in pixels.
    """
    res = np.asarray(res, dtype=np.float64)
    off = (res.shape[1] // 2 - np.arange(res.shape[1]))[None, :, None].astype(float)
    tot = res.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (res * off).sum(axis=1) / tot
        var = (res * off ** 2).sum(axis=1) / tot - mean ** 2
        dpix = np.gradient(wave)
        sig = np.sqrt(np.where(var > 0, var, np.nan)) * dpix[None] / wave[None] * C_KMS
    return np.where(tot > 0, sig, np.nan)


def read_desi(path, hl, opts) -> list[RawSpectrum]:
    arms = ["BRZ"] if "BRZ_FLUX" in hl else [a for a in ("B", "R", "Z") if f"{a}_FLUX" in hl]
    segments = []
    n = None
    for a in arms:
        for part in ("WAVELENGTH", "IVAR"):
            if f"{a}_{part}" not in hl:
                raise SpectraFileError(f"{path}: DESI file has {a}_FLUX but no {a}_{part} HDU")
        wave = np.asarray(hl[f"{a}_WAVELENGTH"].data, dtype=np.float64)
        flux = np.atleast_2d(np.asarray(hl[f"{a}_FLUX"].data, dtype=np.float64))
        ivar = np.atleast_2d(np.asarray(hl[f"{a}_IVAR"].data, dtype=np.float64))
        if wave.ndim != 1 or flux.shape != ivar.shape or flux.shape[1] != wave.size:
            raise SpectraFileError(f"{path}: DESI arm {a}: wavelength {wave.shape}, flux {flux.shape} and ivar "
                                   f"{ivar.shape} do not match")
        if n is not None and flux.shape[0] != n:
            raise SpectraFileError(f"{path}: DESI arms hold different numbers of spectra ({n} vs {flux.shape[0]})")
        n = flux.shape[0]
        bad = np.zeros(flux.shape, bool)
        if f"{a}_MASK" in hl:
            bad = np.atleast_2d(np.asarray(hl[f"{a}_MASK"].data)) != 0
        sig = None
        if f"{a}_RESOLUTION" in hl:
            res = np.asarray(hl[f"{a}_RESOLUTION"].data)
            res = res[None] if res.ndim == 2 else res
            sig = _resolution_sigma_kms(res, wave)
        segments.append((wave, flux, ivar, bad, sig))
    wave, flux, ivar, bad, sig, n_invalid = merge_segments(segments, where=str(path))
    ids = {}
    if "FIBERMAP" in hl:
        fm, fc = hl["FIBERMAP"].data, _cols(hl["FIBERMAP"])
        for key in ("targetid", "target_ra", "target_dec"):
            if key in fc and len(fm) == n:
                ids[key] = np.asarray(fm[fc[key]])
    out = []
    for i in range(n):
        meta = {"survey": "desi", **{k: v[i].item() for k, v in ids.items()}}
        meta["n_invalid"] = int(n_invalid[i])
        out.append(RawSpectrum(wave, flux[i], ivar[i], bad[i], None if sig is None else sig[i], meta))
    return out
