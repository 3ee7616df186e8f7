"""Generic spectrum files: 1-D FITS images with a spectral WCS, binary tables, and echelle spectra.

* FITS image (IRAF ``onedspec``/``dispcor`` and FITS WCS Paper III, Greisen et al. 2006):
  ``lambda = CRVAL1 + (p - CRPIX1) * CDELT1`` (or ``CD1_1``), ``p`` the 1-based pixel; ``DC-FLAG = 1``
  means the axis is ``log10(lambda)``; ``CTYPE1 = 'WAVE-LOG'`` is ``CRVAL1 * exp(CDELT1 (p - CRPIX1) / CRVAL1)``.
  Units from ``CUNIT1`` or the IRAF ``WAT1_001`` ``units=`` attribute. Errors from a separate file
  (``error_files=``), an extension named ``ERR``/``SIGMA``/``IVAR``/``VAR``... or an IRAF ``BANDID`` band
  containing ``sigma``; a ``MASK``/``QUAL``/``DQ`` extension marks bad pixels (non-zero).
* Binary table (ESO science data products 1-D spectra: one row with array columns ``WAVE``, ``FLUX``,
  ``ERR``, ``QUAL``; or one row per pixel): units from ``TUNITn``, air/vacuum from ``AIRORVAC``/``VACUUM``
  or the column name, resolution from ``SPEC_RES``, ``CONTNORM`` for continuum-normalised flux.
* Echelle: a table whose rows are orders (or a merged 1-D image / table); the orders are merged onto one
  grid (inverse-variance weighted) into one spectrum per file.
"""

from __future__ import annotations

import re

import numpy as np

from ._io import SpectraFileError
from ._observed import _find
from ._readers_merge import merge_segments
from ._readers_units import RawSpectrum, error_to_ivar, wave_to_aa

__all__ = ["read_echelle", "read_image", "read_table", "image_hdu", "table_hdu"]

_WAVE = ("wave", "wavelength", "lambda", "lam", "wave_aa", "awav", "wave_air", "wave_vac", "wavelength_air",
         "wavelength_vac", "loglam")
_FLUX = ("flux", "flux_density", "f_lambda", "flam", "norm_flux", "flux_norm", "fluxnorm", "flux_reduced", "data")
_ERR = ("err", "error", "sigma", "flux_err", "noise", "err_flux", "error_flux", "sig", "err_reduced", "flux_error")
_IVAR = ("ivar", "inverse_variance", "invvar", "weight")
_VAR = ("var", "variance", "flux_var")
_MASK = ("mask", "and_mask", "qual", "quality", "pixel_mask", "bad_pixel", "pixmask", "dq")
_ERR_EXT = {"ERR": "sigma", "ERROR": "sigma", "ERRS": "sigma", "SIGMA": "sigma", "NOISE": "sigma", "STAT": "variance",
            "VAR": "variance", "VARIANCE": "variance", "IVAR": "ivar", "INVVAR": "ivar"}
_MASK_EXT = ("MASK", "QUAL", "QUALITY", "DQ", "BADPIX")


# ---------------------------------------------------------------- images
def image_hdu(hl, hdu=None):
    """The image HDU holding the flux (``hdu`` given, else the primary or the first image extension with data)."""
    from astropy.io import fits

    if hdu is not None:
        return hl[hdu]
    for h in hl:
        if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)) and h.data is not None and h.data.size:
            if h.name.upper() in _ERR_EXT or h.name.upper() in _MASK_EXT:
                continue
            return h
    return None


def _wat(hdr, axis: int) -> str:
    """The IRAF ``WATn_mmm`` attribute string (68-character cards joined; astropy strips trailing blanks)."""
    keys = sorted(k for k in hdr if k.startswith(f"WAT{axis}_"))
    return "".join(str(hdr[k]).ljust(68) for k in keys)


def _multispec_x(hdr, n, aperture, where):
    """IRAF multispec dispersion of one aperture: ``spec<k> = "ap beam dtype w1 dw nw z ..."`` in WAT2."""
    m = re.search(r'spec%d\s*=\s*"([^"]*)"' % aperture, _wat(hdr, 2))
    if m is None:
        raise SpectraFileError(f"{where}: CTYPE1 = MULTISPE but WAT2 has no spec{aperture} dispersion")
    f = m.group(1).split()
    dtype, w1, dw, z = int(f[2]), float(f[3]), float(f[4]), float(f[6])
    if dtype not in (0, 1):
        raise SpectraFileError(f"{where}: IRAF multispec dispersion type {dtype} (non-linear) is not supported; "
                               "resample it to a linear grid (IRAF dispcor linearize=yes)")
    x = w1 + dw * np.arange(n)
    return (10.0 ** x if dtype == 1 else x) / (1.0 + z)


def _wcs_wave(hdr, n, where, opts, aperture=1):
    ctype = str(hdr.get("CTYPE1", "")).upper()
    unit = hdr.get("CUNIT1")
    if unit is None:
        m = re.search(r"units=(\w+)", _wat(hdr, 1))
        unit = m.group(1) if m else None
    if ctype.startswith("MULTISPE"):
        x = _multispec_x(hdr, n, aperture, where)
        wave, assumed = wave_to_aa(x, unit, name="the spectral axis", where=where, unit_option=opts.get("wave_unit"))
        return wave, assumed, ctype
    if "CRVAL1" not in hdr and "COEFF0" in hdr and "COEFF1" in hdr:   # SDSS-style log-linear images
        x = float(hdr["COEFF0"]) + float(hdr["COEFF1"]) * np.arange(n)
        wave, assumed = wave_to_aa(x, unit, name="the spectral axis", where=where, log10=True,
                                   unit_option=opts.get("wave_unit"))
        return wave, assumed, ctype
    if "CRVAL1" not in hdr:
        raise SpectraFileError(f"{where}: image has no spectral WCS (no CRVAL1 keyword), so no wavelengths")
    crval = float(hdr["CRVAL1"])
    crpix = float(hdr.get("CRPIX1", 1.0))
    step = hdr.get("CDELT1", hdr.get("CD1_1"))
    if step is None or float(step) == 0:
        raise SpectraFileError(f"{where}: image has CRVAL1 but neither CDELT1 nor CD1_1 (wavelength step)")
    p = np.arange(1, n + 1, dtype=np.float64)
    x = crval + (p - crpix) * float(step)
    log10 = int(hdr.get("DC-FLAG", 0) or 0) == 1
    if ctype.endswith("-LOG"):
        x = crval * np.exp((p - crpix) * float(step) / crval)
    wave, assumed = wave_to_aa(x, unit, name="the spectral axis", where=where, log10=log10,
                               unit_option=opts.get("wave_unit"))
    return wave, assumed, ctype


def _bands(hdr, nband):
    return {i: str(hdr.get(f"BANDID{i + 1}", "")).lower() for i in range(nband)}


def read_image(path, hl, opts, *, as_orders=False) -> list[RawSpectrum]:
    from astropy.io import fits

    where = str(path)
    h = image_hdu(hl, opts.get("hdu"))
    if h is None or h.data is None:
        raise SpectraFileError(f"{where}: no image data")
    data = np.asarray(h.data, dtype=np.float64)
    hdr = h.header
    err, kind = None, opts.get("error_kind") or "sigma"
    if data.ndim == 3 and "BANDID1" in hdr:  # IRAF apall multispec: (band, aperture, pixel)
        bands = _bands(hdr, data.shape[0])
        e = [i for i, t in bands.items() if "sigma" in t or "error" in t]
        if e:
            err = data[e[0]]
        data = data[0]
    data = data.reshape(-1, data.shape[-1])
    wave, assumed, ctype = _wcs_wave(hdr, data.shape[-1], where, opts)
    waves = [wave] * data.shape[0]
    if ctype.startswith("MULTISPE"):
        waves = [_wcs_wave(hdr, data.shape[-1], where, opts, aperture=i + 1)[0] for i in range(data.shape[0])]
    if opts.get("error_file") is not None:
        with fits.open(opts["error_file"], memmap=False) as he:
            eh = image_hdu(he, opts.get("hdu"))
            if eh is None:
                raise SpectraFileError(f"{opts['error_file']}: error file has no image data")
            err = np.asarray(eh.data, dtype=np.float64).reshape(-1, eh.data.shape[-1])
            if "CRVAL1" in eh.header:
                ew, _, _ = _wcs_wave(eh.header, err.shape[-1], str(opts["error_file"]), opts)
                if ew.shape != wave.shape or not np.allclose(ew, wave, rtol=1e-7, atol=0):
                    raise SpectraFileError(f"{opts['error_file']}: its wavelength grid differs from {where}'s")
    elif err is None:
        for name, k in _ERR_EXT.items():
            if name in hl and hl[name].data is not None:
                err, kind = np.asarray(hl[name].data, dtype=np.float64), opts.get("error_kind") or k
                break
    if err is None:
        raise SpectraFileError(f"{where}: no error array (no ERR/SIGMA/IVAR extension or sigma band); pass "
                               "error_files= with the matching error spectrum")
    err = np.asarray(err).reshape(-1, np.asarray(err).shape[-1])
    if err.shape != data.shape:
        raise SpectraFileError(f"{where}: error array has shape {err.shape} but the flux has {data.shape}")
    ivar = error_to_ivar(err, kind, where=where)
    bad = np.zeros(data.shape, bool)
    for name in _MASK_EXT:
        if name in hl and hl[name].data is not None:
            bad = np.asarray(hl[name].data).reshape(data.shape) != 0
            break
    meta = {"wave_unit_assumed": assumed, "ctype1": ctype, "flux_unit": hdr.get("BUNIT")}
    if as_orders and data.shape[0] > 1:
        raise SpectraFileError(f"{where}: unmerged echelle images (one order per row, IRAF multispec WCS) are not "
                               "supported; merge the orders first or give a table with one row per order")
    return [RawSpectrum(waves[i], data[i], ivar[i], bad[i], None, dict(meta, row=i)) for i in range(data.shape[0])]


# ---------------------------------------------------------------- tables
def table_hdu(hl, hdu=None):
    """The table HDU with a wavelength column (``hdu`` given, else the first such table)."""
    from astropy.io import fits

    if hdu is not None:
        h = hl[hdu]
        return h if isinstance(h, (fits.BinTableHDU, fits.TableHDU)) else None
    tables = [h for h in hl if isinstance(h, (fits.BinTableHDU, fits.TableHDU))]
    for h in tables:
        if _find(h.columns.names, _WAVE):
            return h
    return tables[0] if tables else None


def _table_columns(h, where, opts):
    names = list(h.columns.names)
    wc = opts.get("wave_col") or _find(names, _WAVE)
    fc = opts.get("flux_col") or _find(names, _FLUX)
    if wc is None:
        raise SpectraFileError(f"{where}: table has no wavelength column ({'/'.join(_WAVE[:4])}...); columns are "
                               f"{names}; pass wave_col=")
    if fc is None:
        raise SpectraFileError(f"{where}: table has no flux column; columns are {names}; pass flux_col=")
    for cands, kind in ((_IVAR, "ivar"), (_ERR, "sigma"), (_VAR, "variance")):
        ec = _find(names, cands)
        if ec is not None:
            return wc, fc, ec, opts.get("error_kind") or kind, _find(names, _MASK)
    raise SpectraFileError(f"{where}: table has no ivar/error/variance column; columns are {names}")


def _unit(h, col):
    u = h.columns[col].unit
    return u if u not in (None, "") else None


def read_table(path, hl, opts, *, as_orders=False) -> list[RawSpectrum]:
    where = str(path)
    h = table_hdu(hl, opts.get("hdu"))
    if h is None:
        raise SpectraFileError(f"{where}: no table HDU")
    if h.data is None or len(h.data) == 0:
        raise SpectraFileError(f"{where}: table is empty")
    wc, fc, ec, kind, mc = _table_columns(h, where, opts)
    d = h.data
    w = np.asarray(d[wc], dtype=np.float64)
    f = np.asarray(d[fc], dtype=np.float64)
    e = np.asarray(d[ec], dtype=np.float64)
    m = np.asarray(d[mc]) if mc is not None else None
    if f.ndim == 1:  # one row per pixel
        w, f, e = w[None], f[None], e[None]
        m = None if m is None else m[None]
    elif w.ndim == 1:
        w = np.broadcast_to(w[:, None], f.shape)
    if f.shape[-1] == 0:
        raise SpectraFileError(f"{where}: empty spectrum (no pixels)")
    wave_aa, assumed = wave_to_aa(w, _unit(h, wc), name=f"column {wc!r}", where=where,
                                  log10=wc.lower() == "loglam" and _unit(h, wc) is None,
                                  unit_option=opts.get("wave_unit"))
    ivar = error_to_ivar(e, kind, where=where)
    bad = np.zeros(f.shape, bool) if m is None else np.asarray(m) != 0
    ucd = h.header.get(f"TUCD{h.columns.names.index(wc) + 1}")
    meta = {"wave_unit_assumed": assumed, "wave_col": wc, "wave_ucd": ucd, "flux_unit": _unit(h, fc),
            "table_hdu": h.name}
    if as_orders and f.shape[0] > 1:
        segs = [(wave_aa[i], f[i], ivar[i], bad[i], None) for i in range(f.shape[0])]
        grid, flux, iv, bd, _, n_invalid = merge_segments(segs, where=where)
        return [RawSpectrum(grid, flux[0], iv[0], bd[0], None,
                            dict(meta, n_orders=f.shape[0], n_invalid=int(n_invalid[0])))]
    return [RawSpectrum(wave_aa[i], f[i], ivar[i], bad[i], None, dict(meta, row=i)) for i in range(f.shape[0])]


def read_echelle(path, hl, opts) -> list[RawSpectrum]:
    """A table (rows = orders, merged) or a merged 1-D image; continuum normalisation is detected downstream."""
    if table_hdu(hl, opts.get("hdu")) is not None and image_hdu(hl) is None:
        return read_table(path, hl, opts, as_orders=True)
    return read_image(path, hl, opts, as_orders=True)
