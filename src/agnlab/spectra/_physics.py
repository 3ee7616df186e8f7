"""Atomic data and physical constants for the hydrogen Lyman series."""

from __future__ import annotations

import numpy as np

from ..constants import LYMAN_LIMIT_AA

__all__ = [
    "LYMAN_LIMIT_AA", "SIGMA_LL_CM2", "LYMAN_SERIES", "tau0_factor", "damping_a",
]

#: photo-ionisation cross-section of H I at the Lyman limit (cm^2); the edge wavelength
#: ``LYMAN_LIMIT_AA`` lives in :mod:`agnlab.constants` (re-exported here).
SIGMA_LL_CM2 = 6.304e-18

#: Hydrogen Lyman series (upper level n, wavelength in Angstrom, oscillator strength f,
#: damping constant Gamma in s^-1); Morton (2003) / Wiese & Fuhr (2009).
LYMAN_SERIES = np.array(
    [
        (2, 1215.6701, 0.41640, 6.265e8),
        (3, 1025.7223, 0.07912, 1.897e8),
        (4, 972.5368, 0.02900, 8.127e7),
        (5, 949.7431, 0.01394, 4.204e7),
        (6, 937.8035, 0.007799, 2.450e7),
        (7, 930.7483, 0.004814, 1.236e7),
        (8, 926.2257, 0.003183, 8.255e6),
        (9, 923.1504, 0.002216, 5.785e6),
        (10, 920.9631, 0.001605, 4.210e6),
        (11, 919.3514, 0.001200, 3.160e6),
        (12, 918.1294, 0.000921, 2.432e6),
        (13, 917.1806, 0.000723, 1.911e6),
    ],
    dtype=[("n", "i4"), ("wave_aa", "f8"), ("f", "f8"), ("gamma_s", "f8")],
)


def tau0_factor(f, wave_aa, b_kms):
    """Line-centre optical depth per unit column density (cm^2).

    ``tau0 = sqrt(pi) e^2 / (m_e c) * f * lambda / (sqrt(pi) * b) * N``, i.e.
    ``1.4974e-15 * f * lambda[A] / b[km/s]`` per cm^-2.
    """
    return 1.4974e-15 * np.asarray(f) * np.asarray(wave_aa) / np.asarray(b_kms)


def damping_a(gamma_s, wave_aa, b_kms):
    """Voigt damping parameter ``a = Gamma lambda / (4 pi b)`` (dimensionless)."""
    return np.asarray(gamma_s) * np.asarray(wave_aa) * 1e-13 / (4.0 * np.pi * np.asarray(b_kms))
