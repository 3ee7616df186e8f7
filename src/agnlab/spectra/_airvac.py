"""Air <-> vacuum wavelengths (IAU standard, Ciddor 1996 refractive index of standard air).

Formulae as used by VALD3 and SDSS/IDL ``airtovac`` / astropy-specutils:

* vacuum -> air (Morton 2000, ApJS 130, 403, eq. 8, from Ciddor 1996, Appl. Opt. 35, 1566):
  ``n = 1 + 8.34254e-5 + 2.406147e-2 / (130 - s^2) + 1.5998e-4 / (38.9 - s^2)``,
  ``s = 1e4 / lambda_vac[A]``, ``lambda_air = lambda_vac / n``;
* air -> vacuum: N. Piskunov's inversion of the same relation (VALD3 documentation),
  ``n = 1 + 8.336624212083e-5 + 2.408926869968e-2 / (130.1065924522 - s^2)
  + 1.599740894897e-4 / (38.92568793293 - s^2)``, ``s = 1e4 / lambda_air[A]``,
  ``lambda_vac = lambda_air * n``; consistent with the forward formula to < 1e-4 A in the optical.

By convention wavelengths below 2000 A are vacuum in both systems and are left unchanged.
"""

from __future__ import annotations

import numpy as np

__all__ = ["air_to_vacuum", "vacuum_to_air"]

_MIN_AIR_AA = 2000.0


def vacuum_to_air(wave_vac_aa):
    """Air wavelengths (Angstrom) of vacuum wavelengths ``wave_vac_aa`` (Morton 2000 / Ciddor 1996)."""
    w = np.asarray(wave_vac_aa, dtype=float)
    s2 = (1e4 / w) ** 2
    n = 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)
    return np.where(w >= _MIN_AIR_AA, w / n, w)


def air_to_vacuum(wave_air_aa):
    """Vacuum wavelengths (Angstrom) of air wavelengths ``wave_air_aa`` (Piskunov's inversion, VALD3)."""
    w = np.asarray(wave_air_aa, dtype=float)
    s2 = (1e4 / w) ** 2
    n = 1.0 + 8.336624212083e-5 + 2.408926869968e-2 / (130.1065924522 - s2) + 1.599740894897e-4 / (38.92568793293 - s2)
    return np.where(w >= _MIN_AIR_AA, w * n, w)
