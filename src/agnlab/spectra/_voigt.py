"""Voigt-Hjerting function: fast Tepper-Garcia (2006) approximation and the exact Faddeeva form."""

from __future__ import annotations

import numpy as np
from scipy.special import wofz

__all__ = ["voigt_hjerting", "voigt_hjerting_exact"]

_SQRT_PI = np.sqrt(np.pi)


def voigt_hjerting(a, x):
    """Voigt-Hjerting function ``H(a, x)`` in the Tepper-Garcia (2006) approximation.

    Accurate to better than ~1e-4 relative for the damping parameters of
    hydrogen Lyman lines (``a < 1e-2``); ``H(a, 0)`` is set to ``exp(-x^2)``
    within ``|x| < 1e-3`` where the expansion is numerically unstable.

    Parameters
    ----------
    a : array_like
        Damping parameter (broadcast against ``x``).
    x : array_like
        Frequency offset in Doppler widths.

    Returns
    -------
    numpy.ndarray
        ``H(a, x)``, normalised so that ``H(0, x) = exp(-x^2)``.
    """
    x = np.asarray(x, dtype=float)
    x2 = x * x
    h0 = np.exp(-x2)
    small = x2 < 1e-6
    x2s = np.where(small, 1.0, x2)
    q = 1.5 / x2s
    corr = (np.asarray(a) / _SQRT_PI / x2s) * (h0 * h0 * (4.0 * x2s * x2s + 7.0 * x2s + 4.0 + q) - q - 1.0)
    return np.where(small, h0, h0 - corr)


def voigt_hjerting_exact(a, x):
    """Exact ``H(a, x) = Re[w(x + i a)]`` through the Faddeeva function (slower)."""
    return wofz(np.asarray(x) + 1j * np.asarray(a)).real
