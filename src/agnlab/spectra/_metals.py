"""Metal absorption lines: low ions in DLAs and sub-DLAs, intervening C IV and Mg II doublets.

Atomic data (rest vacuum wavelengths, oscillator strengths, damping constants) from Morton (2003,
ApJS 149, 205); solar abundances from Asplund et al. (2009, ARA&A 47, 481).

Low-ionisation lines at DLA and sub-DLA redshifts (Si II 1260/1304/1526, O I 1302, C II 1334,
Fe II 1608/2344/2382/2586/2600, Al II 1670, Mg II 2796/2803):

* metallicity ``[M/H] ~ N(-0.22 z - 0.65, 0.5 dex)``, the cosmic mean and scatter of DLA metallicities
  of Rafelski et al. (2012, ApJ 755, 89), clipped to [-3, 0.3];
* ion columns ``log N_X = log N_HI + [M/H] + log(X/H)_sun`` (singly ionised species dominate in
  self-shielded gas; no ionisation correction), Fe depleted by 0.3 dex onto dust ([Fe/Si] ~ -0.3 in
  DLAs, e.g. Prochaska & Wolfe 2002);
* velocity width ``Delta v_90`` from the velocity-metallicity correlation of Ledoux et al. (2006,
  A&A 457, 71), ``[M/H] = 1.55 log Delta v_90 - 4.33``, 0.2 dex scatter; the column is shared by four
  components (b = 10 km/s, column fractions from a Dirichlet(2) draw) evenly spread over
  ``Delta v_90``.  This reproduces the measured Si II 1526
  equivalent width-metallicity relation of Prochaska et al. (2008, ApJ 672, 59):
  ``[M/H] = 1.41 log W_1526 - 0.92`` (tested).

Intervening doublets, rest equivalent width ``W_r`` of the stronger line ``>= 0.3`` A:

* C IV 1548/1551 (Cooksey et al. 2013, ApJ 763, 37): exponential frequency distribution
  ``d^2N/dX dW ~ exp(-alpha W)`` with ``alpha = 2 / A`` (their fitted exponential index is ~2 per A);
  ``dN/dX(W >= 0.6 A) = 0.34`` for ``z <= 1.96``, falling by 2.37 to ``z = 4.55`` (a power law in
  ``1 + z`` between the two);
* Mg II 2796/2803 (Nestor, Turnshek & Rao 2005, ApJ 628, 637):
  ``d^2N/dz dW = (N*/W*) exp(-W/W*)``, ``N* = 1.001 (1+z)^0.226``, ``W* = 0.443 (1+z)^0.634`` A.

Each doublet is a set of components (b = 10 km/s, 45 km/s apart) whose columns are set, through the
curve of growth, to give the drawn ``W_r`` in the stronger line; the weaker line (half the
oscillator strength) then has the doublet ratio of that curve of growth (2 when unsaturated, -> 1
when saturated).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..constants import C_KMS
from ._cddf import ColumnDensityDistribution
from ._igm import add_line_tau
from ._physics import tau0_factor

__all__ = ["METAL_LINES", "SOLAR_LOG_EPS", "MetalModel", "add_metal_tau", "doublet_columns"]

_DT = [("wave_aa", "f8"), ("f", "f8"), ("gamma_s", "f8")]

#: ion -> transitions (Morton 2003)
METAL_LINES = {
    "SiII": np.array([(1260.4221, 1.18, 2.95e9), (1304.3702, 0.0863, 1.01e9), (1526.7070, 0.133, 1.13e9)], _DT),
    "OI": np.array([(1302.1685, 0.0520, 5.65e8)], _DT),
    "CII": np.array([(1334.5323, 0.1278, 2.88e8)], _DT),
    "FeII": np.array([(1608.4511, 0.0577, 2.74e8), (2344.2139, 0.114, 2.68e8), (2382.7652, 0.320, 3.13e8),
                      (2586.6500, 0.0691, 2.72e8), (2600.1729, 0.239, 2.70e8)], _DT),
    "AlII": np.array([(1670.7886, 1.74, 1.39e9)], _DT),
    "MgII": np.array([(2796.3543, 0.6155, 2.625e8), (2803.5315, 0.3058, 2.595e8)], _DT),
    "CIV": np.array([(1548.2040, 0.1899, 2.642e8), (1550.7810, 0.09475, 2.628e8)], _DT),
}

#: solar photospheric abundances, log10(X/H) + 12 (Asplund et al. 2009)
SOLAR_LOG_EPS = {"C": 8.43, "N": 7.83, "O": 8.69, "Mg": 7.60, "Al": 6.45, "Si": 7.51, "Fe": 7.50}

#: low ions of DLAs/sub-DLAs: (ion, element, depletion dex)
_LOW_IONS = (("SiII", "Si", 0.0), ("OI", "O", 0.0), ("CII", "C", 0.0), ("FeII", "Fe", -0.3), ("AlII", "Al", 0.0),
             ("MgII", "Mg", 0.0))
_CDDF = ColumnDensityDistribution()  # for dX/dz
_N_COMP_LOW = 4
_B_KMS = 10.0
_SPACING_KMS = 45.0
_MAX_COMP_W_KMS = 40.0


@lru_cache(maxsize=1)
def _cog_table():
    """Doppler curve of growth: ``G(tau0) = int (1 - exp(-tau0 exp(-x^2))) dx`` on a log tau0 grid."""
    log_t = np.linspace(-4.0, 7.0, 1101)
    x = np.linspace(-12.0, 12.0, 4801)
    g = np.trapezoid(1.0 - np.exp(-(10.0 ** log_t)[:, None] * np.exp(-x * x)[None, :]), x, axis=1)
    return log_t, g


def doublet_columns(w_rest_aa, wave_aa, f, b_kms=_B_KMS):
    """log10 column per component giving rest equivalent width ``w_rest_aa`` in a line (Doppler profile)."""
    log_t, g = _cog_table()
    target = np.asarray(w_rest_aa, dtype=float) * C_KMS / (wave_aa * b_kms)
    if np.any(target >= g[-1]):
        raise ValueError("doublet_columns: equivalent width beyond the tabulated curve of growth")
    lt = np.interp(target, g, log_t)
    return lt - np.log10(tau0_factor(f, wave_aa, b_kms))


class MetalModel:
    """Metal-line populations (see the module docstring).

    Parameters
    ----------
    enabled : bool
        ``False`` switches all metal lines off.
    w_min_aa : float
        Smallest rest equivalent width (A) of intervening C IV / Mg II doublets (stronger line).
    civ_alpha_per_aa : float
        Exponential index of the C IV equivalent-width distribution (1/A).
    civ_dndx_06 : float
        C IV doublets per unit absorption distance with ``W_1548 >= 0.6`` A at ``z <= 1.96``.

    Examples
    --------
    >>> import numpy as np
    >>> from agnlab.spectra import MetalModel
    >>> m = MetalModel()
    >>> round(float(m.civ_dn_dz(1.8, 0.6) / ((2.8 ** 2) / np.sqrt(0.3 * 2.8 ** 3 + 0.7))), 2)
    0.34
    """

    def __init__(self, *, enabled=True, w_min_aa=0.3, civ_alpha_per_aa=2.0, civ_dndx_06=0.34):
        self.enabled = bool(enabled)
        if not (0.05 <= w_min_aa <= 2.0):
            raise ValueError(f"metal w_min_aa must lie in [0.05, 2], got {w_min_aa}")
        self.w_min_aa = float(w_min_aa)
        self.civ_alpha_per_aa = float(civ_alpha_per_aa)
        self.civ_dndx_06 = float(civ_dndx_06)

    # incidences ------------------------------------------------------------------
    def civ_dn_dz(self, z, w_min_aa=None):
        """C IV doublets per unit redshift with ``W_1548 >= w_min_aa`` (Cooksey et al. 2013)."""
        w = self.w_min_aa if w_min_aa is None else w_min_aa
        z = np.asarray(z, dtype=float)
        gamma = np.log(1.0 / 2.37) / np.log(5.55 / 2.96)
        dndx = self.civ_dndx_06 * np.where(z <= 1.96, 1.0, ((1.0 + z) / 2.96) ** gamma)
        return dndx * np.exp(-self.civ_alpha_per_aa * (w - 0.6)) * _CDDF.dx_dz(z)

    def civ_w_scale_aa(self, z):
        return np.full_like(np.asarray(z, dtype=float), 1.0 / self.civ_alpha_per_aa)

    def mgii_dn_dz(self, z, w_min_aa=None):
        """Mg II doublets per unit redshift with ``W_2796 >= w_min_aa`` (Nestor et al. 2005)."""
        w = self.w_min_aa if w_min_aa is None else w_min_aa
        z = np.asarray(z, dtype=float)
        return 1.001 * (1.0 + z) ** 0.226 * np.exp(-w / self.mgii_w_scale_aa(z))

    def mgii_w_scale_aa(self, z):
        return 0.443 * (1.0 + np.asarray(z, dtype=float)) ** 0.634

    def _table(self, ion):
        return _cumulative(self, ion)

    # sampling --------------------------------------------------------------------
    def sample_low_ions(self, rngs, systems, z_min_metal=0.0):
        """Components of low-ion lines for the DLAs and sub-DLAs in ``systems`` (one stream per spectrum).

        Returns ``(components, metallicity)``: ``components`` maps ion -> (spec, z, log_n, b) arrays;
        ``metallicity`` is [M/H] per system (NaN for LLS).
        """
        n_sys = systems.spec.size
        metal = np.full(n_sys, np.nan)
        comps = {ion: ([], [], [], []) for ion, *_ in _LOW_IONS}
        if not self.enabled or n_sys == 0:
            return _flat(comps), metal
        order = np.argsort(systems.spec, kind="stable")
        thick = systems.log_nhi >= 19.0
        for j, r in enumerate(rngs):
            idx = order[systems.spec[order] == j]
            idx = idx[thick[idx]]
            if idx.size == 0:
                continue
            k = idx.size
            d = r.standard_normal((2, k))
            u = r.random((k, _N_COMP_LOW))
            g = r.gamma(2.0, size=(k, _N_COMP_LOW))
            z = systems.z_abs[idx]
            mh = np.clip(-0.22 * z - 0.65 + 0.5 * d[0], -3.0, 0.3)
            metal[idx] = mh
            dv90 = np.clip(10.0 ** ((mh + 4.33) / 1.55 + 0.2 * d[1]), 15.0, 600.0)
            # components evenly spread over Delta v_90 (jittered by +-5 % of it)
            v = dv90[:, None] * (np.linspace(-0.5, 0.5, _N_COMP_LOW)[None, :] + 0.1 * (u - 0.5))
            frac = g / g.sum(axis=1, keepdims=True)
            zc = (1.0 + z[:, None]) * (1.0 + v / C_KMS) - 1.0
            for ion, el, dep in _LOW_IONS:
                log_n = (systems.log_nhi[idx] + mh + SOLAR_LOG_EPS[el] - 12.0 + dep)[:, None] + np.log10(frac)
                c = comps[ion]
                c[0].append(np.full(zc.size, j))
                c[1].append(zc.ravel())
                c[2].append(log_n.ravel())
                c[3].append(np.full(zc.size, _B_KMS))
        return _flat(comps), metal

    def sample_doublets(self, rngs, z_qso, wave_min_aa, wave_max_aa):
        """Intervening C IV and Mg II doublets: ``(components, counts)``; counts maps ion -> (n,) int."""
        n = len(rngs)
        comps = {"CIV": ([], [], [], []), "MgII": ([], [], [], [])}
        counts = {"CIV": np.zeros(n, np.int64), "MgII": np.zeros(n, np.int64)}
        if not self.enabled:
            return _flat(comps), counts
        for j, r in enumerate(rngs):
            for ion in ("CIV", "MgII"):
                lines = METAL_LINES[ion]
                lo = max(wave_min_aa / lines["wave_aa"][0] - 1.0, 0.0)
                hi = min(z_qso[j], wave_max_aa / lines["wave_aa"][0] - 1.0)
                grid, cum = self._table(ion)
                c0, c1 = np.interp([lo, hi], grid, cum) if hi > lo else (0.0, 0.0)
                k = r.poisson(c1 - c0)
                uu = r.random((3, k))
                if k == 0:
                    continue
                z = np.interp(c0 + uu[0] * (c1 - c0), cum, grid)
                scale = self.civ_w_scale_aa(z) if ion == "CIV" else self.mgii_w_scale_aa(z)
                w = np.minimum(self.w_min_aa - scale * np.log1p(-uu[1]), 4.0)
                counts[ion][j] = k
                lam = lines["wave_aa"][0]
                n_c = np.ceil(w * C_KMS / lam / _MAX_COMP_W_KMS).astype(int)
                log_nc = doublet_columns(w / n_c, lam, lines["f"][0])
                for i in range(k):
                    v = _SPACING_KMS * (np.arange(n_c[i]) - 0.5 * (n_c[i] - 1))
                    v = v + 5.0 * (uu[2, i] - 0.5)
                    c = comps[ion]
                    c[0].append(np.full(n_c[i], j))
                    c[1].append((1.0 + z[i]) * (1.0 + v / C_KMS) - 1.0)
                    c[2].append(np.full(n_c[i], log_nc[i]))
                    c[3].append(np.full(n_c[i], _B_KMS))
        return _flat(comps), counts


@lru_cache(maxsize=8)
def _cumulative_cached(key, ion):
    model = MetalModel(w_min_aa=key[0], civ_alpha_per_aa=key[1], civ_dndx_06=key[2])
    grid = np.linspace(0.0, 8.0, 8001)
    dndz = model.civ_dn_dz(grid) if ion == "CIV" else model.mgii_dn_dz(grid)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dndz[1:] + dndz[:-1]) * np.diff(grid))])
    return grid, cum


def _cumulative(model, ion):
    return _cumulative_cached((model.w_min_aa, model.civ_alpha_per_aa, model.civ_dndx_06), ion)


def _flat(comps):
    out = {}
    for ion, parts in comps.items():
        if parts[0]:
            out[ion] = tuple(np.concatenate(p) for p in parts)
    return out


def add_metal_tau(tau, wave_aa, components):
    """Add the optical depth of metal-line components ``{ion: (spec, z, log_n, b)}`` to ``tau`` in place."""
    for ion, (spec, z, log_n, b) in components.items():
        add_line_tau(tau, wave_aa, spec.astype(np.int64), z, log_n, b, transitions=METAL_LINES[ion], eps=1e-3)
    return tau
