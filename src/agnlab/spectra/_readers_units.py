"""Header vocabulary shared by the spectrum readers: wavelength units, air/vacuum, resolution, normalisation."""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..constants import C_KMS
from ._io import SpectraFileError

__all__ = ["RawSpectrum", "air_from_header", "error_to_ivar", "header_resolution", "is_normalised", "wave_to_aa"]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

_UNIT_ALIASES = {
    "a": "Angstrom", "aa": "Angstrom", "ang": "Angstrom", "angs": "Angstrom", "angstrom": "Angstrom",
    "angstroms": "Angstrom", "0.1nm": "Angstrom", "nm": "nm", "nanometer": "nm", "nanometers": "nm",
    "nanometre": "nm", "nanometres": "nm", "um": "um", "micron": "um", "microns": "um", "micrometer": "um",
    "micrometers": "um", "m": "m", "meter": "m", "meters": "m", "metre": "m", "cm": "cm",
}


class RawSpectrum:
    """One spectrum as read from a file: vacuum ``wave_aa``, ``flux``, ``ivar``, ``bad`` (file mask), LSF, meta."""

    __slots__ = ("wave_aa", "flux", "ivar", "bad", "lsf_sigma_kms", "meta", "flag")

    def __init__(self, wave_aa, flux, ivar, bad=None, lsf_sigma_kms=None, meta=None, flag=0):
        self.wave_aa = np.asarray(wave_aa, dtype=np.float64)
        self.flux = np.asarray(flux, dtype=np.float64)
        self.ivar = np.asarray(ivar, dtype=np.float64)
        self.bad = np.zeros(self.flux.shape, bool) if bad is None else np.asarray(bad, bool)
        self.lsf_sigma_kms = None if lsf_sigma_kms is None else np.broadcast_to(
            np.asarray(lsf_sigma_kms, dtype=np.float64), self.flux.shape).copy()
        self.meta = dict(meta or {})
        self.flag = int(flag)


def _parse_unit(text: str):
    from astropy import units as u

    key = re.sub(r"\s+", "", str(text)).lower()
    name = _UNIT_ALIASES.get(key, str(text).strip())
    try:
        unit = u.Unit(name, parse_strict="raise")
    except (ValueError, TypeError):
        return None
    return unit if unit.physical_type == "length" else None


def wave_to_aa(values, unit, *, name: str, where: str, log10: bool = False, unit_option=None):
    """Wavelengths in Angstrom from ``values`` in ``unit`` (a header string; ``None`` = not given).

    ``log10=True`` (SDSS ``loglam``, IRAF ``DC-FLAG = 1``): ``values`` are ``log10(wavelength / unit)``.
    Returns ``(wave_aa, assumed)``: ``assumed`` is True when no unit was given and Angstrom was inferred
    from the range (900-30000 A); any other unit-less range is an error naming the file and column.
    """
    values = np.asarray(values, dtype=np.float64)
    text = unit_option if unit_option is not None else unit
    if text is not None and str(text).strip():
        s = str(text).strip()
        m = re.fullmatch(r"(?i)(?:log|log10|dex)\s*\(\s*(.+?)\s*\)", s)
        if m:
            s, log10 = m.group(1), True
        unit = _parse_unit(s)
        if unit is None:
            raise SpectraFileError(f"{where}: unknown wavelength unit {text!r} of {name}; pass wave_unit= "
                                   "(e.g. 'Angstrom', 'nm', 'um')")
        lin = 10.0 ** values if log10 else values
        from astropy import units as u

        return (lin * unit).to_value(u.AA), False
    lin = 10.0 ** values if log10 else values
    finite = lin[np.isfinite(lin)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (np.nan, np.nan)
    if 900.0 <= lo and hi <= 30000.0:      # pixel numbers (1, 2, ...) or nm never pass
        return lin, True
    raise SpectraFileError(f"{where}: {name} has no unit and its values ({lo:.4g}-{hi:.4g}) are not "
                           "Angstrom-like; pass wave_unit= (e.g. 'nm')")


def air_from_header(header, *, ctype=None, column=None, ucd=None):
    """``(air, source)``: True for air wavelengths, False for vacuum, None when the file does not say.

    Looks at ``AIRORVAC``/``AIRVAC``/``WAVETYPE`` (``air``/``vac``), ``VACUUM`` (T/F), the FITS WCS
    ``CTYPE1`` (``AWAV`` air, ``WAVE`` vacuum; Greisen et al. 2006), the column's UCD (``em.wl;obs.atmos``
    = air, the IVOA/VizieR convention) and the column name (``..._air``).
    """
    for key in ("AIRORVAC", "AIRVAC", "WAVETYPE", "WAVEFRAM", "AIR_VAC"):
        v = header.get(key)
        if isinstance(v, str):
            t = v.strip().lower()
            if t.startswith("air"):
                return True, key
            if t.startswith("vac"):
                return False, key
    v = header.get("VACUUM")
    if isinstance(v, bool):
        return (not v), "VACUUM"
    if ctype:
        c = str(ctype).strip().upper()
        if c.startswith("AWAV"):
            return True, "CTYPE1"
        if c.startswith("WAVE"):
            return False, "CTYPE1"
    if ucd and "obs.atmos" in str(ucd).lower():
        return True, "TUCD"
    if column:
        c = column.lower()
        if "air" in c:
            return True, "column name"
        if "vac" in c:
            return False, "column name"
    return None, ""


def header_resolution(header):
    """Resolving power from ``SPEC_RES`` (ESO science data products) or ``RESOLVPW``/``RESPOWER``; None if absent."""
    for key in ("SPEC_RES", "RESOLVPW", "RESPOWER", "RES_POW"):
        v = header.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v)
    return None


def sigma_kms_from_resolution(resolving_power):
    """Gaussian LSF sigma (km/s) of resolving power ``R = lambda / FWHM``."""
    return C_KMS / np.asarray(resolving_power, dtype=float) / FWHM_PER_SIGMA


def error_to_ivar(err, kind: str, *, where: str):
    """Inverse variance from an error array of ``kind`` ``sigma`` / ``variance`` / ``ivar`` (<= 0 or NaN -> 0)."""
    err = np.asarray(err, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "sigma":
            iv = 1.0 / err ** 2
        elif kind == "variance":
            iv = 1.0 / err
        elif kind == "ivar":
            iv = err.copy()
        else:
            raise ValueError(f"{where}: error_kind must be 'sigma', 'variance' or 'ivar', got {kind!r}")
    if kind != "ivar":
        iv = np.where((err > 0) & np.isfinite(err), iv, 0.0)
    return iv


_NORMALISED_UNITS = ("", "normalized", "normalised", "relative", "dimensionless", "none", "arbitrary", "adu/adu")


def is_normalised(flux, ok, *, flux_unit=None, header=None, option=None):
    """``(normalised, source)``: the option, else ``CONTNORM`` (ESO), else a physical flux unit says no, else
    the data: median of valid pixels within 0.6-1.4 and 2-98 % percentiles within -0.5..2.5."""
    if option is not None:
        return bool(option), "option"
    if header is not None:
        for key in ("CONTNORM", "NORMALIZ", "NORMALIS", "CONT_NORM"):
            v = header.get(key)
            if isinstance(v, bool):
                return v, key
    if flux_unit is not None and str(flux_unit).strip().lower() not in _NORMALISED_UNITS:
        return False, "flux unit"
    f = np.asarray(flux)[np.asarray(ok, bool)]
    if f.size < 10:
        return False, ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = float(np.median(f))
        lo, hi = np.percentile(f, [2, 98])
    return bool(0.6 <= med <= 1.4 and lo >= -0.5 and hi <= 2.5), "median"
