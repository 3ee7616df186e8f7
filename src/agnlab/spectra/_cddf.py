"""One H I column-density distribution ``f(N_HI, X)`` from the Lyman-alpha forest to DLAs.

Shape in ``N_HI``: the monotonic Hermite spline of ``log10 f(N_HI, X)`` of Prochaska et al. (2014,
MNRAS 438, 476; the ``fN`` model of pyigm) at ``z = 2.4``, pivots ``log N = 12, 15, 17, 18, 20, 21,
21.5, 22`` with ``log f = -9.72, -14.41, -17.94, -19.39, -21.28, -22.82, -23.95, -25.50``.  It joins the
forest (Rudie et al. 2013; Kim et al. 2013), the Lyman-limit and super-LLS counts (O'Meara et al. 2007,
2013; Prochaska, O'Meara & Worseck 2010) and the SDSS DLA distribution (Noterdaeme et al. 2009, 2012;
Prochaska & Wolfe 2009).  At ``z = 2.4`` it gives ``l(X) = 0.36`` for ``tau_912 >= 2``, 0.16 for sub-DLAs
(``19 <= log N < 20.3``) and 0.057 for DLAs.

Redshift evolution of the optically thick systems (``log N >= 17.2``: LLS, sub-DLAs, DLAs): their
number per unit redshift follows the measured Lyman-limit incidence of Prochaska, O'Meara & Worseck
(2010), ``l(z) = 1.9 [(1 + z) / 4.7]^1.94`` for ``tau_912 >= 2`` (``log N >= 17.50``), with the spline's
shape above ``log N = 17.2``.  The DLA incidence then is ``0.156 l(z)``: 0.17 at ``z = 2.5`` and 0.27 at
``z = 3.5``, as measured from SDSS (Noterdaeme et al. 2012: ``dN/dX ~ 0.048`` at ``z ~ 2.5`` and ~0.07 at
``z ~ 3.5``; Prochaska & Wolfe 2009).  The forest (``log N < 17.2``) keeps the spline's shape; its
normalisation is set by the mean transmission (:class:`agnlab.spectra.ForestModel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._physics import SIGMA_LL_CM2

__all__ = ["ColumnDensityDistribution", "LOG_N_LLS", "LOG_N_SUBDLA", "LOG_N_DLA", "LOG_N_TAU2", "absorber_kind"]

#: lower column densities (log10 cm^-2) of Lyman-limit systems, sub-DLAs and DLAs
LOG_N_LLS, LOG_N_SUBDLA, LOG_N_DLA = 17.2, 19.0, 20.3
#: column density of a Lyman-limit optical depth of 2
LOG_N_TAU2 = float(np.log10(2.0 / SIGMA_LL_CM2))

_PW14_LOG_N = (12.0, 15.0, 17.0, 18.0, 20.0, 21.0, 21.5, 22.0)
_PW14_LOG_F = (-9.72, -14.41, -17.94, -19.39, -21.28, -22.82, -23.95, -25.50)


def absorber_kind(log_nhi) -> np.ndarray:
    """``'lls'``, ``'subdla'`` or ``'dla'`` for each column density (``'forest'`` below 17.2)."""
    log_nhi = np.asarray(log_nhi, dtype=float)
    kinds = np.array(["forest", "lls", "subdla", "dla"], dtype=object)
    return kinds[np.searchsorted([LOG_N_LLS, LOG_N_SUBDLA, LOG_N_DLA], log_nhi, side="right")]


@dataclass(frozen=True)
class ColumnDensityDistribution:
    """``f(N_HI, X)`` of H I absorbers (see the module docstring for the sources).

    Parameters
    ----------
    pivot_log_n, pivot_log_f : tuple of float
        Spline pivots: ``log10 N_HI`` and ``log10 f(N_HI, X)`` at ``z_pivot``.
    z_pivot : float
        Redshift of the spline.
    lls_incidence : tuple (A, 1 + z_0, gamma)
        Incidence of ``tau_912 >= 2`` systems per unit redshift, ``A [(1 + z) / (1 + z_0)]^gamma``.
    omega_m : float
        Matter density of the flat cosmology used for ``dX/dz``.

    Examples
    --------
    >>> from agnlab.spectra import ColumnDensityDistribution
    >>> c = ColumnDensityDistribution()
    >>> round(float(c.incidence_per_dz(2.5, 20.3, 22.0)), 3)  # DLAs per unit z at z = 2.5
    0.168
    >>> round(float(c.lls_incidence_per_dz(3.5)), 2)  # tau_912 >= 2 systems (POW10)
    1.75
    """

    pivot_log_n: tuple = _PW14_LOG_N
    pivot_log_f: tuple = _PW14_LOG_F
    z_pivot: float = 2.4
    lls_incidence: tuple = (1.9, 4.7, 1.94)
    omega_m: float = 0.3

    def __post_init__(self):
        for name in ("pivot_log_n", "pivot_log_f", "lls_incidence"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        n, f = self.pivot_log_n, self.pivot_log_f
        if len(n) != len(f) or len(n) < 2 or np.any(np.diff(n) <= 0):
            raise ValueError("ColumnDensityDistribution: pivots need >= 2 increasing log N values, one log f each")
        if not np.all(np.isfinite(f)):
            raise ValueError("ColumnDensityDistribution: pivot_log_f must be finite")
        if len(self.lls_incidence) != 3 or self.lls_incidence[0] <= 0 or self.lls_incidence[1] <= 0:
            raise ValueError(f"lls_incidence must be (A > 0, 1 + z0 > 0, gamma), got {self.lls_incidence}")

    # shape -------------------------------------------------------------------
    def log_f_shape(self, log_n):
        """``log10 f(N_HI, X)`` of the spline at ``z_pivot`` (cm^2)."""
        return _spline(self.pivot_log_n, self.pivot_log_f)(np.asarray(log_n, dtype=float))

    def dx_dz(self, z):
        """Absorption distance per unit redshift, ``(1 + z)^2 H_0 / H(z)`` (flat Lambda-CDM)."""
        z = np.asarray(z, dtype=float)
        return (1.0 + z) ** 2 / np.sqrt(self.omega_m * (1.0 + z) ** 3 + 1.0 - self.omega_m)

    def shape_integral(self, lo, hi):
        """``l(X) = integral of f(N, X) dN`` between ``log N = lo`` and ``hi`` at ``z_pivot``."""
        return _shape_integral(self, float(lo), float(hi))

    def sample_log_n(self, u, lo, hi):
        """Inverse CDF of the spline's column densities on ``[lo, hi)`` for uniform ``u``."""
        grid, cdf = _shape_cdf(self, float(lo), float(hi))
        return np.interp(u, cdf, grid)

    # incidence of optically thick systems ----------------------------------------
    def lls_incidence_per_dz(self, z):
        """Measured ``tau_912 >= 2`` incidence ``l(z)`` (Prochaska, O'Meara & Worseck 2010)."""
        a, zp1, g = self.lls_incidence
        return a * ((1.0 + np.asarray(z, dtype=float)) / zp1) ** g

    def incidence_per_dz(self, z, lo, hi):
        """Systems per unit redshift with ``lo <= log N < hi`` (``lo >= 17.2``)."""
        if lo < LOG_N_LLS - 1e-9:
            raise ValueError(f"incidence_per_dz covers optically thick systems (log N >= {LOG_N_LLS}), got {lo}")
        frac = self.shape_integral(lo, hi) / self.shape_integral(LOG_N_TAU2, 23.0)
        return frac * self.lls_incidence_per_dz(z)

    def cumulative_incidence(self, z, lo, hi):
        """Integral of :meth:`incidence_per_dz` from 0 to ``z`` (closed form)."""
        a, zp1, g = self.lls_incidence
        frac = self.shape_integral(lo, hi) / self.shape_integral(LOG_N_TAU2, 23.0)
        x = (1.0 + np.asarray(z, dtype=float)) / zp1
        return frac * a * zp1 / (g + 1.0) * (x ** (g + 1.0) - zp1 ** -(g + 1.0))

    def inverse_cumulative_incidence(self, n_cum, lo, hi):
        """Redshift at which :meth:`cumulative_incidence` reaches ``n_cum``."""
        a, zp1, g = self.lls_incidence
        frac = self.shape_integral(lo, hi) / self.shape_integral(LOG_N_TAU2, 23.0)
        x = np.asarray(n_cum, dtype=float) * (g + 1.0) / (frac * a * zp1) + zp1 ** -(g + 1.0)
        return zp1 * x ** (1.0 / (g + 1.0)) - 1.0


@lru_cache(maxsize=8)
def _spline(log_n, log_f):
    from scipy.interpolate import PchipInterpolator

    return PchipInterpolator(np.array(log_n), np.array(log_f), extrapolate=True)


@lru_cache(maxsize=64)
def _shape_cdf(model, lo, hi):
    if not hi > lo:
        raise ValueError(f"column-density range must be increasing, got [{lo}, {hi})")
    grid = np.linspace(lo, hi, 4001)
    pdf = 10.0 ** (model.log_f_shape(grid) + grid)  # per d log N (up to ln 10)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
    return grid, cdf / cdf[-1]


@lru_cache(maxsize=64)
def _shape_integral(model, lo, hi):
    grid = np.linspace(lo, hi, 8001)
    return float(np.trapezoid(10.0 ** (model.log_f_shape(grid) + grid), grid) * np.log(10.0))
