"""Hot (near-sublimation) dust emission of type-1 AGN, the near-IR bump that torus-only models miss."""

from __future__ import annotations

import numpy as np

from ..validation import check_array

__all__ = ["hot_dust_fnu"]

_C_UM_HZ = 2.99792458e14
_HC_K_UM = 14387.7688   # h c / k [um K]


def hot_dust_fnu(wave_um, *, temp_k: float = 1300.0, beta: float = 1.0, luminosity: float = 1.0) -> np.ndarray:
    """``F_nu`` of hot graphite dust: a modified blackbody ``B_nu(T) lambda^-beta`` of total ``luminosity``.

    Clumpy-torus models alone under-predict the 1-5 um emission of type-1 AGN; fits of Spitzer quasar
    SEDs need an extra component of pure-graphite dust near its sublimation temperature (Mor, Netzer &
    Elitzur 2009, ApJ 705, 298; Mor & Netzer 2012, MNRAS 420, 526: T ~ 1,200-1,500 K, carrying ~ 5-30 %
    of the AGN luminosity). Graphite grains emit with an efficiency ``~ lambda^-1`` in the near-IR
    (``beta = 1``). An approximation for colour modelling, not a radiative-transfer model.

    Parameters
    ----------
    wave_um : array_like, shape (n_wave,)
        Rest-frame wavelengths [um], positive.
    temp_k : float
        Dust temperature [K].
    beta : float
        Emissivity index (>= 0).
    luminosity : float
        ``integral F_nu dnu`` (same units as :func:`accretion_disk_fnu`'s ``luminosity``).

    Returns
    -------
    ndarray, shape (n_wave,)

    Examples
    --------
    >>> from agnlab.photometry import hot_dust_fnu
    >>> hot_dust_fnu([1.0, 3.0, 10.0]).shape
    (3,)
    """
    lam = check_array(wave_um, name="wave_um", ndim=1, positive=True)
    for name, v, lo in (("temp_k", temp_k, 0.0), ("luminosity", luminosity, 0.0)):
        if not np.isfinite(v) or v <= lo:
            raise ValueError(f"{name}: must be positive and finite, got {v}")
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"beta: must be >= 0 and finite, got {beta}")

    def shape(x):
        return x ** (-3.0 - beta) / np.expm1(np.minimum(_HC_K_UM / (x * temp_k), 700.0))

    # normalise on a fine grid in ln(nu): L = integral nu F_nu dln(nu)
    fine = np.logspace(-1.5, 3.0, 4001)
    g = shape(fine) * _C_UM_HZ / fine
    bol = float(np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(np.log(fine))))
    return luminosity * shape(lam) / bol
