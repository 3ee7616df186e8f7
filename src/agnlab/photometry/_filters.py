"""Filter curves (from speclite) and precomputed response matrices for synthetic photometry."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["BAND_ALIASES", "VEGA_AB_OFFSETS", "available_bands", "resolve_band", "response_matrix"]

#: Short names accepted for speclite filters (full speclite names such as ``"sdss2010-r"`` always work).
BAND_ALIASES = {
    "W1": "wise2010-W1", "W2": "wise2010-W2", "W3": "wise2010-W3", "W4": "wise2010-W4",
    "u": "sdss2010-u", "g": "sdss2010-g", "r": "sdss2010-r", "i": "sdss2010-i", "z": "sdss2010-z",
}

#: m_AB - m_Vega per band (WISE: Jarrett et al. 2011; Wright et al. 2010 explanatory supplement).
VEGA_AB_OFFSETS = {
    "wise2010-W1": 2.699, "wise2010-W2": 3.339, "wise2010-W3": 5.174, "wise2010-W4": 6.620,
}

_C_ANGSTROM_S = 2.99792458e18  # speed of light [Angstrom / s]

#: speclite filter groups offered by :func:`available_bands`.
_GROUPS = ("wise2010", "sdss2010", "sdss2010noatm", "decam2014", "decamDR1", "decamDR1noatm")


def available_bands() -> list[str]:
    """Names of the speclite filters usable here (WISE, SDSS and DECam sets), plus the short aliases."""
    import speclite.filters as sf

    names = []
    for group in _GROUPS:
        names.extend(sf.load_filters(f"{group}-*").names)
    return sorted(BAND_ALIASES) + names


def resolve_band(name: str) -> str:
    """Full speclite name of ``name`` (an alias like ``"W1"`` or a speclite name); ``ValueError`` if unknown."""
    if not isinstance(name, str):
        raise TypeError(f"band names must be strings, got {type(name).__name__}")
    full = BAND_ALIASES.get(name, name)
    if full not in _known_filters():
        raise ValueError(f"unknown band {name!r}; use one of {available_bands()}")
    return full


@functools.lru_cache(maxsize=1)
def _known_filters() -> frozenset:
    import speclite.filters as sf

    names = set()
    for group in _GROUPS:
        names.update(sf.load_filters(f"{group}-*").names)
    return frozenset(names)


@functools.lru_cache(maxsize=64)
def _matrix_cached(wave_key: bytes, n_wave: int, bands: tuple) -> np.ndarray:
    import speclite.filters as sf

    wave_um = np.frombuffer(wave_key, dtype=np.float64, count=n_wave)
    wave_aa = wave_um * 1e4
    eye = np.eye(n_wave)
    filters = sf.load_filters(*bands)
    rows = []
    for f in filters:
        lo, hi = f.wavelength[0], f.wavelength[-1]
        if wave_aa[0] > lo or wave_aa[-1] < hi:
            raise ValueError(f"wave_um covers {wave_um[0]:.4g}-{wave_um[-1]:.4g} um but band {f.name} needs "
                             f"{lo / 1e4:.4g}-{hi / 1e4:.4g} um (after redshifting)")
        # speclite interpolates the spectrum linearly, so maggies are linear in f_lambda: apply it to a basis
        rows.append(np.asarray(f.get_ab_maggies(eye, wave_aa, axis=-1), dtype=np.float64))
    m = np.stack(rows, axis=0)                        # maggies per unit f_lambda at each grid point
    m = m * (_C_ANGSTROM_S / wave_aa ** 2)[None, :]   # per unit f_nu [erg/s/cm2/Hz]
    m.setflags(write=False)
    return m


def response_matrix(wave_um, bands=("W1", "W2", "W3", "W4")) -> np.ndarray:
    """Matrix ``R`` (n_bands, n_wave) with ``maggies = fnu @ R.T`` for spectra sampled at ``wave_um``.

    Built once per (wavelength grid, bands) by applying speclite's own
    ``get_ab_maggies`` (linear interpolation of the spectrum, trapezoid rule)
    to a basis of unit spectra, so it reproduces speclite exactly; cached.

    Parameters
    ----------
    wave_um : array_like, shape (n_wave,)
        Observed-frame wavelengths [um], strictly increasing, covering every band.
    bands : sequence of str
        Band names (aliases or speclite names).

    Returns
    -------
    ndarray, shape (n_bands, n_wave), read-only
        AB maggies per unit ``f_nu`` in erg s^-1 cm^-2 Hz^-1 at each wavelength.
    """
    wave = np.ascontiguousarray(np.asarray(wave_um, dtype=np.float64))
    full = tuple(resolve_band(b) for b in bands)
    return _matrix_cached(wave.tobytes(), wave.size, full)
