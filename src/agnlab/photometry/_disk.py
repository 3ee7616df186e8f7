"""A simple accretion-disk (big blue bump) spectrum, for torus + AGN SEDs."""

from __future__ import annotations

import numpy as np

from ..validation import check_array

__all__ = ["accretion_disk_fnu"]

_C_UM_HZ = 2.99792458e14


def accretion_disk_fnu(wave_um, *, luminosity: float = 1.0) -> np.ndarray:
    """Broken power-law accretion-disk spectrum ``F_nu`` normalised to a bolometric ``luminosity``.

    The shape is the one used with CLUMPY (Nenkova et al. 2008): ``lambda F_lambda``
    ~ ``lambda^1.2`` for 0.001-0.01 um, flat for 0.01-0.1 um, ``lambda^-0.5`` for
    0.1-1 um and the Rayleigh-Jeans tail ``lambda^-3`` beyond 1 um.

    Parameters
    ----------
    wave_um : array_like, shape (n_wave,)
        Wavelengths [um], positive.
    luminosity : float
        ``integral F_nu dnu`` over 0.001 um - infinity (arbitrary units).

    Returns
    -------
    ndarray, shape (n_wave,)
        ``F_nu`` per Hz.

    Examples
    --------
    >>> from agnlab.photometry import accretion_disk_fnu
    >>> accretion_disk_fnu([0.1, 1.0, 10.0]).shape
    (3,)
    """
    lam = check_array(wave_um, name="wave_um", ndim=1, positive=True)
    if not np.isfinite(luminosity) or luminosity <= 0:
        raise ValueError(f"luminosity: must be positive and finite, got {luminosity}")

    def lam_flam(x):
        x = np.asarray(x, dtype=float)
        out = np.where(x < 0.01, (x / 0.01) ** 1.2, 1.0)
        out = np.where(x > 0.1, (x / 0.1) ** -0.5, out)
        out = np.where(x > 1.0, (0.1 ** 0.5) * x ** -3.0, out)
        return np.where(x < 0.001, 0.0, out)

    # normalise: integral of lambda F_lambda d ln(lambda) over a fine grid
    fine = np.logspace(-3, 3, 4001)
    g = lam_flam(fine)
    bol = float(np.sum(0.5 * (g[1:] + g[:-1]) * np.diff(np.log(fine))))
    nu = _C_UM_HZ / lam
    return luminosity * lam_flam(lam) / bol / nu
