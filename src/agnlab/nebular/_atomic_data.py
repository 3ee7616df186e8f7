"""Approximate atomic data for the ionisation-balance slab of :func:`agnlab.nebular.ionization_table`.

Rounded textbook values: ionisation potentials from NIST; threshold
photoionisation cross-sections of order Verner et al. (1996) with a power-law
frequency dependence; total recombination coefficients at 10^4 K of order
Osterbrock & Ferland (2006) / Aldrovandi & Pequignot (1973); rough
charge-transfer rates (Kingdon & Ferland 1996). Good for qualitative
behaviour, not a substitute for a real photoionisation code.
"""

from __future__ import annotations

import numpy as np

_C_CM_S = 2.998e10
_SOLAR_LOG_ABUND = {"He": np.log10(0.085), "O": -3.31, "N": -4.17, "Ne": -4.07, "S": -4.88, "Ar": -5.60}
# ionisation potentials of stage i -> i+1 [eV]
_CHI_EV = {
    "H": [13.598],
    "He": [24.587, 54.418],
    "O": [13.618, 35.121, 54.936, 77.414],
    "N": [14.534, 29.601, 47.449, 77.474],
    "Ne": [21.565, 40.963, 63.45, 97.12],
    "S": [10.360, 23.338, 34.79, 47.222],
    "Ar": [15.760, 27.630, 40.74, 59.81],
}
# threshold photoionisation cross-sections [1e-18 cm^2] and power-law slope
_SIGMA_TH = {
    "H": [6.30], "He": [7.40, 1.58],
    "O": [3.0, 7.3, 3.6, 2.0], "N": [11.0, 7.0, 3.5, 1.7], "Ne": [5.3, 5.2, 4.5, 2.8],
    "S": [8.0, 6.0, 8.0, 6.0], "Ar": [30.0, 20.0, 10.0, 5.0],
}
_SLOPE = {"H": 3.0, "He": 2.0}
_SLOPE_METAL = 2.5
# total recombination coefficients to stage i from i+1 at 1e4 K [cm^3 s^-1]
_ALPHA = {
    "H": [2.59e-13], "He": [2.73e-13, 1.53e-12],
    "O": [3.3e-13, 2.0e-12, 5.1e-12, 9.6e-12], "N": [4.1e-13, 2.2e-12, 4.0e-12, 8.0e-12],
    "Ne": [4.0e-13, 1.5e-12, 4.4e-12, 8.0e-12], "S": [4.1e-13, 1.8e-12, 2.7e-12, 6.0e-12],
    "Ar": [4.0e-13, 2.0e-12, 4.0e-12, 8.0e-12],
}
# charge-transfer recombination X^(i+1) + H0 -> X^i + H+ [cm^3 s^-1] (rough, Kingdon & Ferland 1996)
_CT_REC = {
    "O": [1.0e-9, 1.0e-9, 2.0e-9, 3.0e-9], "N": [1.0e-12, 1.0e-9, 3.0e-9, 3.0e-9],
    "Ne": [1.0e-12, 1.0e-14, 4.0e-9, 4.0e-9], "S": [1.0e-12, 1.0e-9, 2.3e-9, 3.0e-9],
    "Ar": [1.0e-12, 1.0e-10, 4.0e-9, 4.0e-9],
}
# charge-transfer ionisation X^i + H+ -> X^(i+1) + H0 (only the O0/O+ resonance matters)
_CT_ION = {"O": [0.9e-9, 0.0, 0.0, 0.0]}
_METALS = ("O", "N", "Ne", "S", "Ar")


def _ion_name(elem: str, stage: int) -> str:
    """PyNeb spectroscopic name: stage 0 (neutral) -> 'O1', stage 1 (O+) -> 'O2'."""
    return f"{elem}{stage + 1}"

