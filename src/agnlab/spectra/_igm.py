"""Intergalactic absorption: Lyman-alpha forest, Lyman-limit systems, sub-DLAs and DLAs.

All H I absorbers follow one column-density distribution ``f(N_HI, X)``
(:class:`~agnlab.spectra.ColumnDensityDistribution`: the Prochaska et al. 2014 spline, optically thick
systems normalised to the Lyman-limit incidence of Prochaska, O'Meara & Worseck 2010).

Forest absorbers (``12 <= log N < 17.2``) are Voigt profiles with

* column densities from the spline's shape;
* Doppler parameters from the Hui & Rutledge (1999) distribution
  ``dn/db ~ b^-5 exp(-b_sigma^4 / b^4)`` (``b_sigma = 24`` km/s), clipped to 8-100 km/s
  (also used for the LLS and sub-DLAs);
* a line density ``dn/dz`` solved so that all systems below the DLA threshold (forest, LLS and
  sub-DLAs together) give the effective optical depth of Faucher-Giguere et al. (2008),
  ``tau_eff = 0.0018 (1 + z)^3.92``, at every redshift (DLAs, masked in that measurement, come on
  top).  For Poisson-distributed absorbers ``tau_eff(z) = (1+z)/lambda_alpha * sum_k dn_k/dz <W_r>_k``
  exactly, where ``<W_r>_k`` is the mean rest equivalent width (Angstrom) of population ``k`` over its
  column-density and Doppler-parameter distributions, computed once from the curve of growth.

All absorbers carry the Lyman series up to n = 13 and Lyman-continuum absorption
``sigma ~ (lambda / 912 A)^3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..constants import C_KMS
from ._cddf import LOG_N_DLA, LOG_N_LLS, LOG_N_TAU2, ColumnDensityDistribution
from ._physics import LYMAN_LIMIT_AA, LYMAN_SERIES, SIGMA_LL_CM2, damping_a, tau0_factor
from ._voigt import voigt_hjerting

__all__ = ["ForestModel", "DLAModel", "tau_eff_fg08", "add_line_tau", "add_lyman_continuum_tau",
           "rest_equivalent_width_aa"]

LYA = LYMAN_SERIES[0]
_FG08_A, _FG08_G = 0.0018, 3.92


def tau_eff_fg08(z):
    """Lyman-alpha effective optical depth of Faucher-Giguere et al. (2008): ``0.0018 (1+z)^3.92``."""
    return _FG08_A * (1.0 + np.asarray(z, dtype=float)) ** _FG08_G


def _hui_rutledge_b(u, b_sigma_kms, b_min_kms, b_max_kms):
    """Map ``u ~ Exp(1)`` to Hui & Rutledge ``b`` (``b = b_sigma u^-1/4``), clipped."""
    u = np.maximum(u, 1e-12)
    return np.clip(b_sigma_kms * u ** -0.25, b_min_kms, b_max_kms)


def rest_equivalent_width_aa(log_n, b_kms):
    """Lyman-alpha rest equivalent width (Angstrom) of a Voigt line; arrays broadcast."""
    log_n = np.asarray(log_n, dtype=float)[..., None]
    b = np.asarray(b_kms, dtype=float)[..., None]
    tau0 = tau0_factor(LYA["f"], LYA["wave_aa"], b) * 10.0 ** log_n
    a = damping_a(LYA["gamma_s"], LYA["wave_aa"], b)
    # integrate 1 - exp(-tau) over x on a sinh-stretched grid that reaches the damping wings
    s = np.linspace(-1.0, 1.0, 1201)
    xmax = np.maximum(8.0, np.sqrt(tau0 * a / np.sqrt(np.pi) / 1e-5))
    x = np.sinh(s * np.arcsinh(xmax))
    depth = 1.0 - np.exp(-tau0 * voigt_hjerting(a, x))
    w_dopp = np.trapezoid(depth, x, axis=-1)
    return w_dopp * (b[..., 0] / C_KMS) * LYA["wave_aa"]


@dataclass(frozen=True)
class ForestModel:
    """Lyman-alpha forest statistics (see the module docstring).

    Parameters
    ----------
    log_n_range : tuple of float
        Forest column densities (log10 cm^-2); the upper end is where Lyman-limit systems start.
    b_sigma_kms, b_range_kms : float, tuple
        Hui & Rutledge Doppler-parameter distribution and its clipping range.
    cddf : ColumnDensityDistribution
        The one column-density distribution (shape and optically thick incidence).
    """

    log_n_range: tuple = (12.0, LOG_N_LLS)
    b_sigma_kms: float = 24.0
    b_range_kms: tuple = (8.0, 100.0)
    cddf: ColumnDensityDistribution = field(default_factory=ColumnDensityDistribution)

    def __post_init__(self):
        object.__setattr__(self, "log_n_range", tuple(float(v) for v in self.log_n_range))
        object.__setattr__(self, "b_range_kms", tuple(float(v) for v in self.b_range_kms))
        lo, hi = self.log_n_range
        if not (10.0 <= lo < hi <= LOG_N_LLS):
            raise ValueError(f"forest log_n_range must satisfy 10 <= lo < hi <= {LOG_N_LLS}, got {self.log_n_range}")
        if not (0 < self.b_range_kms[0] < self.b_range_kms[1]):
            raise ValueError(f"forest b_range_kms must be increasing and positive, got {self.b_range_kms}")
        if not isinstance(self.cddf, ColumnDensityDistribution):
            raise TypeError(f"cddf must be a ColumnDensityDistribution, got {type(self.cddf).__name__}")
        z = np.linspace(0.0, 8.0, 81)
        if np.any(self.line_density(z) <= 0):
            raise ValueError("ForestModel: optically thick systems alone exceed the FG08 effective optical depth")

    # column densities and Doppler parameters ----------------------------------------
    def sample_log_n(self, u):
        """Forest column densities (inverse CDF of the spline's shape) for uniform ``u``."""
        return self.cddf.sample_log_n(u, *self.log_n_range)

    def sample_b(self, u_exp):
        return _hui_rutledge_b(u_exp, self.b_sigma_kms, *self.b_range_kms)

    def mean_rest_ew_aa(self):
        """Mean Lyman-alpha rest equivalent width per forest absorber (Angstrom)."""
        return _mean_rest_ew_cached(self, *self.log_n_range)

    def thick_rest_ew_aa(self):
        """Mean Lyman-alpha rest equivalent width of LLS and sub-DLAs (``17.2 <= log N < 20.3``)."""
        return _mean_rest_ew_cached(self, LOG_N_LLS, LOG_N_DLA)

    # normalisation ---------------------------------------------------------------
    def _coeffs(self):
        """``(a, c, gamma)`` with ``dn/dz = a (1+z)^2.92 - c (1+z)^gamma`` (forest line density)."""
        cd = self.cddf
        a = _FG08_A * LYA["wave_aa"] / self.mean_rest_ew_aa()
        amp, zp1, g = cd.lls_incidence
        frac = cd.shape_integral(LOG_N_LLS, LOG_N_DLA) / cd.shape_integral(LOG_N_TAU2, 23.0)
        c = frac * amp * zp1 ** -g * self.thick_rest_ew_aa() / self.mean_rest_ew_aa()
        return a, c, g

    def line_density(self, z):
        """Expected number of forest absorbers per unit redshift, ``dn/dz``, at ``z``."""
        a, c, g = self._coeffs()
        zp = 1.0 + np.asarray(z, dtype=float)
        return a * zp ** (_FG08_G - 1.0) - c * zp ** g

    def thick_line_density(self, z):
        """LLS + sub-DLAs per unit redshift (``17.2 <= log N < 20.3``)."""
        return self.cddf.incidence_per_dz(z, LOG_N_LLS, LOG_N_DLA)

    def cumulative_number(self, z):
        """``n(<z)``: integral of the forest ``dn/dz`` from 0 (closed form)."""
        a, c, g = self._coeffs()
        zp = 1.0 + np.asarray(z, dtype=float)
        return a * (zp ** _FG08_G - 1.0) / _FG08_G - c * (zp ** (g + 1.0) - 1.0) / (g + 1.0)

    def inverse_cumulative(self, n_cum):
        """Redshift where :meth:`cumulative_number` reaches ``n_cum`` (table + two Newton steps)."""
        grid = _z_grid()
        z = np.interp(np.asarray(n_cum, dtype=float), self.cumulative_number(grid), grid)
        for _ in range(2):
            z = z - (self.cumulative_number(z) - n_cum) / self.line_density(z)
        return z


@lru_cache(maxsize=1)
def _z_grid():
    return np.linspace(0.0, 8.0, 4001)


@lru_cache(maxsize=16)
def _mean_rest_ew_cached(model: ForestModel, lo: float, hi: float) -> float:
    log_n = np.linspace(lo, hi, 71)
    # Doppler parameters: quantiles of u ~ Exp(1)
    q = (np.arange(24) + 0.5) / 24
    b = model.sample_b(-np.log1p(-q))
    w = rest_equivalent_width_aa(log_n[:, None], b[None, :]).mean(axis=1)
    # pdf in log N of the spline's shape
    p = 10.0 ** (model.cddf.log_f_shape(log_n) + log_n)
    return float(np.trapezoid(w * p, log_n) / np.trapezoid(p, log_n))


@dataclass(frozen=True)
class DLAModel:
    """DLA incidence and column densities.

    ``rate_per_dz=None`` takes the incidence of the column-density distribution (measured, evolving
    with redshift); a number fixes a constant incidence per unit redshift (e.g. DLA-rich training sets).
    Column densities follow the distribution's shape on ``log_nhi_range``.
    """

    rate_per_dz: float | None = None
    log_nhi_range: tuple = (LOG_N_DLA, 22.0)
    b_kms: float = 20.0

    def __post_init__(self):
        object.__setattr__(self, "log_nhi_range", tuple(float(v) for v in self.log_nhi_range))
        if self.rate_per_dz is not None and not (np.isfinite(self.rate_per_dz) and self.rate_per_dz >= 0):
            raise ValueError(f"dla_rate_per_dz must be None or finite and >= 0, got {self.rate_per_dz}")
        lo, hi = self.log_nhi_range
        if not (LOG_N_DLA <= lo < hi <= 23.0):
            raise ValueError(f"DLA log_nhi_range must satisfy {LOG_N_DLA} <= lo < hi <= 23 (sub-DLAs come from the "
                             f"column-density distribution), got {self.log_nhi_range}")

    def sample_log_nhi(self, u, cddf=None):
        cddf = ColumnDensityDistribution() if cddf is None else cddf
        return cddf.sample_log_n(u, *self.log_nhi_range)


# ---------------------------------------------------------------------------
# optical depth accumulation
# ---------------------------------------------------------------------------

_WINDOW_CLASSES = np.array([2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768])


def add_line_tau(tau, wave_aa, spec_idx, z_abs, log_n, b_kms, *, eps=1e-3, tau_min=1e-3,
                 max_transitions=None, block_elems=1_000_000, transitions=None):
    """Add Voigt optical depths of absorbers (default: the H I Lyman series) to ``tau`` in place.

    Each line is evaluated only inside a window where its optical depth can
    exceed ``eps`` (Gaussian core, plus the damping wings when they matter);
    windows are grouped in power-of-two classes and evaluated as dense
    blocks, then scattered with one ``np.add.at`` per transition (sequential, so
    each spectrum gets the same sums whatever else shares its chunk).

    Parameters
    ----------
    tau : ndarray, shape (n_spec, n_pix)
        Optical depth, modified in place (float64).
    wave_aa : ndarray, shape (n_pix,)
        Increasing observed-frame wavelength grid.
    spec_idx, z_abs, log_n, b_kms : ndarray, shape (n_abs,)
        Absorber spectrum index, redshift, log10 column density and Doppler parameter.
    eps : float
        Optical depth below which a line's contribution is neglected.
    tau_min : float
        Transitions with a line-centre optical depth below this are skipped.
    transitions : structured array, optional
        Fields ``wave_aa``, ``f``, ``gamma_s`` (e.g. a metal ion's lines); default ``LYMAN_SERIES``.
    """
    n_spec, n_pix = tau.shape
    flat = tau.reshape(-1)
    wave_aa = np.asarray(wave_aa, dtype=float)
    dw_all = np.diff(wave_aa)
    uniform = np.allclose(dw_all, dw_all[0], rtol=1e-6, atol=0)
    dw = np.gradient(wave_aa)
    wmin, wmax = wave_aa[0], wave_aa[-1]
    series = LYMAN_SERIES if transitions is None else transitions
    series = series if max_transitions is None else series[:max_transitions]
    spec_idx = np.asarray(spec_idx, dtype=np.int64)
    z_abs = np.asarray(z_abs, dtype=float)
    b_kms = np.asarray(b_kms, dtype=float)
    col = 10.0 ** np.asarray(log_n, dtype=float)
    for tr in series:
        tau0 = tau0_factor(tr["f"], tr["wave_aa"], b_kms) * col
        keep = tau0 > tau_min
        if not np.any(keep):
            continue
        lam_c = tr["wave_aa"] * (1.0 + z_abs[keep])
        t0 = tau0[keep]
        bk = b_kms[keep]
        a = damping_a(tr["gamma_s"], tr["wave_aa"], bk)
        dopp_aa = bk / C_KMS * lam_c
        x_core = np.sqrt(np.log(np.maximum(t0 / eps, 1.0 + 1e-9)))
        x_wing = np.sqrt(t0 * a / (np.sqrt(np.pi) * eps))
        damped = x_wing > x_core
        half_aa = (np.maximum(x_core, x_wing) + 1.0) * dopp_aa
        inside = (lam_c + half_aa > wmin) & (lam_c - half_aa < wmax)
        if not np.any(inside):
            continue
        lam_c, t0, a, dopp_aa, damped, half_aa = (v[inside] for v in (lam_c, t0, a, dopp_aa, damped, half_aa))
        rows = spec_idx[keep][inside]
        if uniform:
            centre = np.clip(np.rint((lam_c - wmin) / dw_all[0]).astype(np.int64), 0, n_pix - 1)
        else:
            centre = np.clip(np.searchsorted(wave_aa, lam_c), 0, n_pix - 1)
        half_pix = np.ceil(half_aa / dw[centre]).astype(np.int64) + 1
        cls = np.minimum(np.searchsorted(_WINDOW_CLASSES, half_pix), len(_WINDOW_CLASSES) - 1)
        base = rows * n_pix
        if uniform:
            frac = (lam_c - wmin) / dw_all[0] - centre  # line centre - centre pixel, in pixels
            scale = dw_all[0] / dopp_aa  # Doppler widths per pixel
        idx_parts, val_parts = [], []
        for c in np.unique(cls):
            in_c = cls == c
            w = int(min(_WINDOW_CLASSES[c], n_pix))
            off = np.arange(-w, w + 1)
            block = max(1, block_elems // (2 * w + 1))
            for dflag in (False, True):
                sel = np.flatnonzero(in_c & (damped == dflag))
                for s0 in range(0, sel.size, block):
                    s = sel[s0:s0 + block]
                    if uniform:
                        # x from the pixel offset: no gather from the wavelength grid
                        x = (off[None, :] - frac[s, None]) * scale[s, None]
                    else:
                        pix = np.clip(centre[s, None] + off[None, :], 0, n_pix - 1)
                        x = (wave_aa[pix] - lam_c[s, None]) / dopp_aa[s, None]
                    if dflag:
                        val = voigt_hjerting(a[s, None], x)
                    else:
                        val = np.exp(-(x * x))
                    val *= t0[s, None]
                    idx = (base[s] + centre[s])[:, None] + off[None, :]
                    edge = (centre[s] < w) | (centre[s] + w >= n_pix)
                    if np.any(edge):
                        pe = centre[s[edge], None] + off[None, :]
                        out = (pe < 0) | (pe >= n_pix)
                        val[edge] = np.where(out, 0.0, val[edge])
                        idx[edge] = np.where(out, base[s[edge], None], idx[edge])
                    idx_parts.append(idx.ravel())
                    val_parts.append(val.ravel())
        # one scatter per transition: every spectrum's sums are then independent of the chunking
        if idx_parts:
            np.add.at(flat, np.concatenate(idx_parts), np.concatenate(val_parts))
    return tau


def add_lyman_continuum_tau(tau, wave_aa, spec_idx, z_abs, log_n, *, log_n_min=15.0):
    """Add Lyman-continuum (bound-free) optical depth ``N sigma_LL (lambda/lambda_edge)^3`` in place."""
    sel = np.asarray(log_n) >= log_n_min
    if not np.any(sel):
        return tau
    spec_idx, z_abs, log_n = spec_idx[sel], z_abs[sel], np.asarray(log_n)[sel]
    edge = LYMAN_LIMIT_AA * (1.0 + z_abs)
    for i in np.unique(spec_idx):
        m = spec_idx == i
        e = edge[m]
        order = np.argsort(e)[::-1]
        e = e[order]
        # sum over absorbers with edge > lambda of N / edge^3
        csum = np.cumsum((10.0 ** log_n[m][order]) / e ** 3)
        k = np.searchsorted(-e, -wave_aa, side="left")  # number of edges strictly > lambda
        pos = k > 0
        if np.any(pos):
            tau[i, pos] += SIGMA_LL_CM2 * wave_aa[pos] ** 3 * csum[k[pos] - 1]
    return tau
