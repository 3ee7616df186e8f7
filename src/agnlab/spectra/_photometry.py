"""Magnitudes and luminosities of simulated quasars: AB band weights, luminosity relative to a pivot quasar."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..constants import C_AA_S

__all__ = ["band_response", "relative_log_luminosity"]


@lru_cache(maxsize=8)
def band_response(band, wave_key, w0, dw, n):
    """AB synthetic-magnitude weights of ``band`` on a linear grid ``w0 + dw * arange(n)``.

    Returns ``(num (n,), den)`` with ``m_AB = -2.5 log10(sum(f_lambda * num) / den) - 48.6``.
    """
    import speclite.filters

    wave = w0 + dw * np.arange(n)
    name = {"g": "sdss2010-g", "r": "sdss2010-r", "i": "sdss2010-i", "z": "sdss2010-z"}.get(band, band)
    filt = speclite.filters.load_filter(name)
    fw = np.asarray(filt.wavelength, dtype=float)
    fr = np.asarray(filt.response, dtype=float)
    if fw.min() < wave[0] or fw.max() > wave[-1]:
        raise ValueError(f"magnitude band {band!r} ({fw.min():.0f}-{fw.max():.0f} A) is not covered by the "
                         f"instrument grid ({wave[0]:.0f}-{wave[-1]:.0f} A); choose mag_band inside it")
    resp = np.interp(wave, fw, fr, left=0.0, right=0.0)
    # AB: m = -2.5 log10( sum f_lambda lambda R dlambda / sum (c / lambda) R dlambda ) - 48.6
    num = resp * wave * dw
    den = float(np.sum(resp * C_AA_S / wave * dw))
    return num, den


def relative_log_luminosity(z, mag, z_pivot=3.0, mag_pivot=19.25, omega_m=0.3097):
    """log10 luminosity relative to a z = 3, mag = 19.25 quasar (Baldwin-effect driver).

    Flat Lambda-CDM luminosity distances (Planck 2018 matter density; the
    Hubble constant cancels in the ratio), without a K-correction.
    """
    z = np.asarray(z, dtype=float)
    grid = np.linspace(0.0, 8.0, 8001)  # fixed grid: results do not depend on the other objects
    inv_e = 1.0 / np.sqrt(omega_m * (1.0 + grid) ** 3 + 1.0 - omega_m)
    dc = np.concatenate([[0.0], np.cumsum(0.5 * (inv_e[1:] + inv_e[:-1]) * np.diff(grid))])
    dl = (1.0 + z) * np.interp(z, grid, dc)
    dl_p = (1.0 + z_pivot) * np.interp(z_pivot, grid, dc)
    return -0.4 * (np.asarray(mag) - mag_pivot) + 2.0 * np.log10(dl / dl_p) - np.log10((1.0 + z) / (1.0 + z_pivot))
