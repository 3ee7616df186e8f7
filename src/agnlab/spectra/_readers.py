"""``read_spectrum``: one entry point for the spectrum files astronomers have.

Formats (detected from the file, or forced with ``format=``):

======== ==============================================================================
sdss     SDSS/BOSS ``spec-*.fits``: ``COADD`` table (loglam, flux, ivar, and_mask, wdisp)
desi     DESI ``coadd-*``/``spectra-*``: B/R/Z arms merged onto one grid, FIBERMAP ids
fits-image  1-D FITS image with a linear/log-linear spectral WCS (+ separate error file)
table    FITS binary table (ESO 1-D products, one row per pixel or array columns)
echelle  orders in table rows (merged) or a merged 1-D image; normalisation detected
agnlab   files written by :func:`write_spectra` (simulated, 4MOST-like)
======== ==============================================================================

Every spectrum ends up in vacuum Angstrom, with masked pixels at ``ivar = 0``,
its LSF (``lsf_sigma_kms``, NaN when unknown) and per-spectrum flags
(:class:`SpectrumFlag`). One bad file never stops a batch: it is listed in
``status`` and holds no spectra.
"""

from __future__ import annotations

import glob
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._airvac import air_to_vacuum
from ._io import SpectraFileError
from ._observed import ObservedSpectra, SpectrumFlag, flag_names
from ._readers_merge import rebin_onto, sanitise, union_grid
from ._readers_units import RawSpectrum, air_from_header, header_resolution, is_normalised, sigma_kms_from_resolution

__all__ = ["FORMATS", "detect_format", "read_spectrum"]

FORMATS = ("sdss", "desi", "fits-image", "table", "echelle", "agnlab")
_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fz", ".h5", ".hdf5")
_ECHELLE_INSTRUMENTS = ("UVES", "HIRES", "ESPRESSO", "HARPS", "MIKE", "ESI", "FEROS", "XSHOOTER", "SHOOT", "MAGE",
                        "NIRSPEC", "PEPSI", "HDS", "GRACES", "ESPADONS", "KPF")
_HEADER_KEYS = ("AIRORVAC", "AIRVAC", "WAVETYPE", "WAVEFRAM", "AIR_VAC", "VACUUM", "SPEC_RES", "RESOLVPW",
                "RESPOWER", "RES_POW", "CONTNORM", "NORMALIZ", "NORMALIS", "CONT_NORM", "INSTRUME", "OBJECT",
                "REDSHIFT", "Z")


def _expand(paths):
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out = []
    for p in paths:
        text = str(p)
        path = Path(text).expanduser()
        if any(ch in text for ch in "*?[") and not path.exists():
            hits = sorted(Path(x) for x in glob.glob(text))
            if not hits:
                raise FileNotFoundError(f"{text}: no file matches")
            out.extend(h for h in hits if h.is_file())
        elif path.is_dir():
            hits = sorted(f for f in path.iterdir() if f.is_file() and f.name.lower().endswith(_SUFFIXES))
            if not hits:
                raise FileNotFoundError(f"{text}: folder holds no {'/'.join(_SUFFIXES)} files")
            out.extend(hits)
        else:
            out.append(path)
    if not out:
        raise ValueError("read_spectrum: no files given")
    return out


def _header(hl):
    out = {}
    for h in hl:
        for k in _HEADER_KEYS:
            if k in h.header and k not in out:
                out[k] = h.header[k]
    return out


def detect_format(hl) -> str:
    """The format of an open FITS file (see the module docstring)."""
    from astropy.io import fits

    from ._readers_generic import image_hdu, table_hdu
    from ._readers_survey import is_desi, is_sdss

    if any(str(h.header.get("AGNKIND", "")).strip() == "spectra" for h in hl):
        return "agnlab"
    if is_desi(hl):
        return "desi"
    if is_sdss(hl):
        return "sdss"
    inst = str(_header(hl).get("INSTRUME", "")).upper().replace("-", "")
    echelle = any(k in inst for k in _ECHELLE_INSTRUMENTS)
    img = image_hdu(hl)
    if img is not None and ("CRVAL1" in img.header or "COEFF0" in img.header):
        return "echelle" if echelle else "fits-image"
    tab = table_hdu(hl)
    if tab is not None:
        return "echelle" if echelle else "table"
    kinds = [type(h).__name__ for h in hl if not isinstance(h, fits.PrimaryHDU) or h.data is not None]
    raise SpectraFileError(f"cannot tell the spectrum format (HDUs: {kinds or 'none with data'}); pass format= "
                           f"one of {FORMATS}")


def _read_agnlab(path):
    from ._instrument import Instrument
    from ._io import read_spectra

    data = read_spectra(path)
    lsf = sigma_kms_from_resolution(Instrument().resolving_power(data.wave_aa))
    truth = getattr(data, "truth", None)
    out = []
    for i in range(len(data.flux)):
        meta = {"survey": "agnlab"}
        if truth is not None and "z_qso" in truth.columns:
            meta["z_file"] = float(truth["z_qso"].iloc[i])
        out.append(RawSpectrum(data.wave_aa, data.flux[i], data.ivar[i], None, lsf, dict(meta, row=i)))
    return out, {"VACUUM": True}


def _read_file(path, fmt, opts):
    from astropy.io import fits

    from ._readers_generic import read_echelle, read_image, read_table
    from ._readers_survey import read_desi, read_sdss

    if not path.exists():
        raise FileNotFoundError(f"spectrum file not found: {path}")
    if fmt == "agnlab" or (fmt is None and path.name.lower().endswith((".h5", ".hdf5"))):
        raws, hdr = _read_agnlab(path)
        return "agnlab", raws, hdr
    readers = {"sdss": read_sdss, "desi": read_desi, "fits-image": read_image, "table": read_table,
               "echelle": read_echelle}
    try:
        with fits.open(path, memmap=False) as hl:
            hl.verify("silentfix")
            kind = fmt or detect_format(hl)
            if kind == "agnlab":
                raws, hdr = _read_agnlab(path)
                return kind, raws, hdr
            raws = readers[kind](path, hl, opts)
            return kind, raws, _header(hl)
    except (SpectraFileError, FileNotFoundError):
        raise
    except (OSError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise SpectraFileError(f"{path}: cannot read as a {fmt or 'FITS'} spectrum ({type(exc).__name__}: {exc})") \
            from None


def _finish(raw: RawSpectrum, kind, hdr, opts, where):
    """Vacuum wavelengths, sanitised pixels, LSF, normalisation and flags of one spectrum (in place)."""
    flag = SpectrumFlag(0)
    w = raw.wave_aa
    if w.ndim != 1 or w.size != raw.flux.size:
        raise SpectraFileError(f"{where}: wavelength ({w.shape}) and flux ({raw.flux.shape}) do not match")
    if w.size >= 2 and w[0] > w[-1]:
        w, raw.flux, raw.ivar, raw.bad = w[::-1], raw.flux[::-1], raw.ivar[::-1], raw.bad[::-1]
        raw.lsf_sigma_kms = None if raw.lsf_sigma_kms is None else raw.lsf_sigma_kms[::-1]
    if w.size < 2 or not np.all(np.isfinite(w)) or np.any(np.diff(w) <= 0) or w[0] <= 0:
        raise SpectraFileError(f"{where}: wavelengths must be positive, finite and strictly monotonic")
    if kind in ("sdss", "desi", "agnlab"):
        air, air_from = False, "data model"
    else:
        air, air_from = air_from_header(hdr, ctype=raw.meta.get("ctype1"), column=raw.meta.get("wave_col"),
                                        ucd=raw.meta.pop("wave_ucd", None))
    if opts.get("air") is not None:
        air, air_from = bool(opts["air"]), "option"
    if air is None:
        flag |= SpectrumFlag.AIR_VACUUM_UNKNOWN
    elif air:
        w = air_to_vacuum(w)
    raw.wave_aa = w
    f, iv, bad, n_inv = sanitise(raw.flux, raw.ivar, raw.bad)
    raw.flux, raw.ivar, raw.bad = f[0], iv[0], bad[0]
    if int(n_inv[0]) + int(raw.meta.pop("n_invalid", 0)):
        flag |= SpectrumFlag.BAD_IVAR_MASKED
    if raw.bad.all():
        flag |= SpectrumFlag.ALL_MASKED
    elif raw.bad.mean() > 0.5:
        flag |= SpectrumFlag.MOSTLY_MASKED
    if raw.meta.pop("wave_unit_assumed", False):
        flag |= SpectrumFlag.WAVE_UNIT_ASSUMED
    if kind in ("sdss", "desi", "agnlab"):
        norm, norm_from = (bool(opts["normalised"]), "option") if opts.get("normalised") is not None else \
            (False, "data model")
    else:
        norm, norm_from = is_normalised(raw.flux, ~raw.bad, flux_unit=raw.meta.get("flux_unit"), header=hdr,
                                        option=opts.get("normalised"))
    if norm:
        flag |= SpectrumFlag.CONTINUUM_NORMALISED
    res = opts.get("resolution")
    if res is not None:
        raw.lsf_sigma_kms = np.full(w.shape, float(sigma_kms_from_resolution(res)))
    elif raw.lsf_sigma_kms is None and header_resolution(hdr) is not None:
        raw.lsf_sigma_kms = np.full(w.shape, float(sigma_kms_from_resolution(header_resolution(hdr))))
    if raw.lsf_sigma_kms is None or not np.any(np.isfinite(raw.lsf_sigma_kms)):
        flag |= SpectrumFlag.RESOLUTION_UNKNOWN
    raw.flag = int(flag)
    raw.meta.update(air=air, air_from=air_from, normalised=norm, normalised_from=norm_from)


def read_spectrum(paths, *, format=None, error_files=None, error_kind=None, wave_unit=None, air=None,
                  normalised=None, resolution=None, mask_bits=None, hdu=None, wave_col=None, flux_col=None,
                  wave_aa=None, errors="skip") -> ObservedSpectra:
    """Read spectra from SDSS, DESI, FITS-image, table, echelle or agnlab files onto one grid.

    Parameters
    ----------
    paths : str, Path, folder, glob, or a sequence of them
    format : {'sdss', 'desi', 'fits-image', 'table', 'echelle', 'agnlab'} or None
        ``None`` detects the format of each file.
    error_files : path or sequence of paths, optional
        Separate error spectra of 1-D FITS images, one per file in ``paths`` (same order).
    error_kind : {'sigma', 'variance', 'ivar'}, optional
        What the error array holds (default: from the column/extension name, else sigma).
    wave_unit : str, optional
        Wavelength unit when the file gives none or a wrong one (``'Angstrom'``, ``'nm'``, ``'um'``).
    air : bool, optional
        Wavelengths are in air (True; converted to vacuum, Morton 2000) or vacuum (False); default: from
        the header (``AIRORVAC``, ``VACUUM``, ``CTYPE1 = AWAV``), else vacuum with the
        ``AIR_VACUUM_UNKNOWN`` flag. SDSS, DESI and agnlab files are vacuum by their data models.
    normalised : bool, optional
        The flux is continuum-normalised; default: ``CONTNORM`` keyword, else detected (no physical flux unit
        and a median ~1).
    resolution : float, optional
        Resolving power ``R = lambda / FWHM`` of the spectra (overrides the file's LSF: SDSS ``wdisp``,
        DESI resolution matrices, ESO ``SPEC_RES``).
    mask_bits : int, optional
        SDSS ``and_mask`` bits that mark a bad pixel (default: any bit).
    hdu, wave_col, flux_col :
        Which HDU / columns hold the spectrum (default: found by name).
    wave_aa : array_like, optional
        Output grid (Angstrom, vacuum); default: the files' common grid (their shared lattice, else a
        log grid at the finest input step over their union).
    errors : {'skip', 'raise'}
        ``'skip'``: a file that cannot be read is listed in ``status`` and the batch goes on (an error is
        raised only when no file could be read); ``'raise'``: the first bad file raises.

    Returns
    -------
    ObservedSpectra
        ``meta`` has ``file``, ``source``, ``format``, ``flag``/``flags``, ``normalised``, ``air`` and the
        file's identifiers (``z_file`` when the file gives a redshift); ``lsf_sigma_kms`` the LSF;
        ``status`` one row per file.

    Raises
    ------
    FileNotFoundError, SpectraFileError
        No readable file (the message names the file and the problem).
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS} or None, got {format!r}")
    if errors not in ("skip", "raise"):
        raise ValueError(f"errors must be 'skip' or 'raise', got {errors!r}")
    files = _expand(paths)
    if error_files is not None:
        error_files = [error_files] if isinstance(error_files, (str, Path)) else list(error_files)
        if len(error_files) != len(files):
            raise ValueError(f"error_files has {len(error_files)} entries but there are {len(files)} files")
    opts = dict(error_kind=error_kind, wave_unit=wave_unit, air=air, normalised=normalised, resolution=resolution,
                mask_bits=mask_bits, hdu=hdu, wave_col=wave_col, flux_col=flux_col)
    raws, status, first_exc = [], [], None
    for k, path in enumerate(files):
        o = dict(opts, error_file=None if error_files is None else error_files[k])
        try:
            kind, got, hdr = _read_file(path, format, o)
            for j, raw in enumerate(got):
                _finish(raw, kind, hdr, o, f"{path} spectrum {j}")
                raw.meta = {"file": path.name, "source": f"{path.name}[{j}]", "format": kind, **raw.meta}
        except (SpectraFileError, FileNotFoundError, ValueError) as exc:
            if errors == "raise" or len(files) == 1:
                raise
            first_exc = first_exc or exc
            status.append({"file": str(path), "format": format or "", "n_spectra": 0, "status": "error",
                           "message": str(exc)})
            warnings.warn(f"skipped {path}: {exc}", stacklevel=2)
            continue
        raws.extend(got)
        status.append({"file": str(path), "format": kind, "n_spectra": len(got), "status": "ok", "message": ""})
    if not raws:
        raise SpectraFileError(f"none of the {len(files)} files could be read; first error: {first_exc}")
    return _assemble(raws, wave_aa, pd.DataFrame(status))


def _assemble(raws, wave_aa, status) -> ObservedSpectra:
    grid = union_grid([r.wave_aa for r in raws]) if wave_aa is None else np.asarray(wave_aa, dtype=np.float64)
    n = len(raws)
    F = np.zeros((n, grid.size), np.float32)
    IV = np.zeros((n, grid.size), np.float32)
    S = np.full((n, grid.size), np.nan, np.float32)
    for i, r in enumerate(raws):
        if r.wave_aa.shape == grid.shape and np.allclose(r.wave_aa, grid, rtol=1e-9, atol=0):
            F[i], IV[i] = r.flux, r.ivar
            if r.lsf_sigma_kms is not None:
                S[i] = r.lsf_sigma_kms
        else:
            lsf = None if r.lsf_sigma_kms is None else r.lsf_sigma_kms[None]
            f, iv, s = rebin_onto(r.wave_aa, r.flux[None], r.ivar[None], lsf, grid)
            F[i], IV[i] = f[0], iv[0]
            if s is not None:
                S[i] = s[0]
            if not np.any(iv > 0):
                r.flag |= SpectrumFlag.ALL_MASKED
    meta = pd.DataFrame([r.meta for r in raws])
    meta["flag"] = np.array([r.flag for r in raws], dtype=np.int64)
    meta["flags"] = [flag_names(r.flag) for r in raws]
    return ObservedSpectra(grid, F, IV, IV <= 0, meta, S, status)
