"""Broad absorption line (BAL) quasars: C IV, Si IV, N V and Lyman-alpha troughs, and their balnicity.

A fraction of quasars (default 12 %: ~10-15 % of optically selected quasars show C IV BAL troughs,
e.g. Hewett & Foltz 2003; Trump et al. 2006; Gibson et al. 2009) gets one trough, shared in velocity
by the four high-ionisation lines (as observed in HiBALs, e.g. Weymann et al. 1991):

* outflow velocities (blueshift from the line): onset ``v_min ~ U(2000, 18000)`` km/s, width
  ``U(2000, 12000)`` km/s, ``v_max <= 29000`` km/s (the BI window of Weymann et al. 1991 is 3000-25000);
* C IV depth (fraction of the continuum absorbed at the deepest point) ``~ U(0.3, 0.95)``, soft edges
  (10 % of the width) and a gentle modulation inside the trough;
* Si IV, N V and Lyman-alpha troughs scale the C IV depth by ``U(0.2, 0.9)``, ``U(0.5, 1.0)`` and
  ``U(0.3, 0.9)`` (Si IV troughs are usually shallower than C IV, N V comparable).

The balnicity index is that of Weymann et al. (1991):
``BI = int_{25000}^{3000} (1 - f(v) / 0.9) C dv`` (km/s), with ``f`` the C IV trough transmission
(continuum-normalised flux of the trough alone) and ``C = 1`` only where ``f < 0.9`` has held
continuously for more than 2000 km/s counting from high to low velocity, else 0.
"""

from __future__ import annotations

import numpy as np

from ..constants import C_KMS

__all__ = ["BAL_IONS", "balnicity_index", "bal_tau", "sample_bals"]

#: trough lines: (name, rest wavelength (A), depth scale range relative to C IV)
BAL_IONS = (("CIV", 1549.06, (1.0, 1.0)), ("SiIV", 1396.76, (0.2, 0.9)), ("NV", 1240.81, (0.5, 1.0)),
            ("Lya", 1215.67, (0.3, 0.9)))
_N_DRAWS = 6 + len(BAL_IONS)


def _profile(v, v_min, v_max, depth, phase):
    """Absorbed fraction of the continuum at blueshift ``v`` (km/s)."""
    width = v_max - v_min
    edge = 0.1 * width
    shape = 0.5 * (np.tanh((v - v_min) / edge) - np.tanh((v - v_max) / edge))
    mod = 0.85 + 0.15 * np.cos(2.0 * np.pi * (v - v_min) / (0.5 * width) + phase)
    return depth * shape * mod


def balnicity_index(v_kms, flux_norm):
    """Weymann et al. (1991) balnicity index (km/s) of a continuum-normalised C IV flux.

    Parameters
    ----------
    v_kms : ndarray (m,)
        Increasing blueshift grid (km/s), uniform.
    flux_norm : ndarray (m,) or (n, m)
        Flux divided by the continuum.

    Returns
    -------
    float or ndarray (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from agnlab.spectra import balnicity_index
    >>> v = np.arange(0.0, 30000.0, 10.0)
    >>> f = np.where((v >= 5000) & (v < 10000), 0.5, 1.0)  # a 5000 km/s trough at half depth
    >>> round(balnicity_index(v, f))  # (1 - 0.5 / 0.9) * (5000 - 2000)
    1333
    """
    v = np.asarray(v_kms, dtype=float)
    f = np.atleast_2d(np.asarray(flux_norm, dtype=float))
    dv = v[1] - v[0]
    win = (v >= 3000.0) & (v <= 25000.0)
    below = f < 0.9
    # run length of f < 0.9 counting from high to low velocity
    run = np.zeros_like(f)
    acc = np.zeros(f.shape[0])
    for k in range(v.size - 1, -1, -1):
        acc = np.where(below[:, k], acc + dv, 0.0)
        run[:, k] = acc
    c = run > 2000.0
    bi = np.sum(np.where(win & c, 1.0 - f / 0.9, 0.0), axis=1) * dv
    return bi if np.ndim(flux_norm) == 2 else float(bi[0])


def sample_bals(rngs, fraction):
    """Per-spectrum BAL parameters (one stream each): dict of (n,) arrays; ``bal`` False -> no trough."""
    n = len(rngs)
    d = np.array([r.random(1 + _N_DRAWS) for r in rngs]).reshape(n, 1 + _N_DRAWS)
    bal = d[:, 0] < fraction
    v_min = 2000.0 + 16000.0 * d[:, 1]
    v_max = np.minimum(v_min + 2000.0 + 10000.0 * d[:, 2], 29000.0)
    depth = 0.3 + 0.65 * d[:, 3]
    phase = 2.0 * np.pi * d[:, 4]
    scales = np.stack([lo + (hi - lo) * d[:, 6 + k] for k, (_, _, (lo, hi)) in enumerate(BAL_IONS)], axis=1)
    # balnicity from the C IV trough on a fine velocity grid
    v = np.arange(0.0, 30000.0 + 5.0, 10.0)
    bi = np.zeros(n)
    if np.any(bal):
        prof = _profile(v[None, :], v_min[bal, None], v_max[bal, None], depth[bal, None], phase[bal, None])
        bi[bal] = balnicity_index(v, 1.0 - prof)
    nan = np.full(n, np.nan)
    return dict(bal=bal, balnicity_kms=bi, bal_vmin_kms=np.where(bal, v_min, nan),
                bal_vmax_kms=np.where(bal, v_max, nan), depth=depth, phase=phase, scales=scales)


def bal_tau(tau, wave_aa, z_qso, bals):
    """Add the optical depth ``-ln(1 - absorbed fraction)`` of the BAL troughs to ``tau`` in place."""
    for j in np.flatnonzero(bals["bal"]):
        vmin, vmax = bals["bal_vmin_kms"][j], bals["bal_vmax_kms"][j]
        pad = 0.4 * (vmax - vmin)
        for k, (_, lam0, _) in enumerate(BAL_IONS):
            lam_em = lam0 * (1.0 + z_qso[j])
            lo = np.searchsorted(wave_aa, lam_em * _doppler(vmax + pad))
            hi = np.searchsorted(wave_aa, lam_em * _doppler(max(vmin - pad, 0.0)))
            if hi <= lo:
                continue
            r2 = (wave_aa[lo:hi] / lam_em) ** 2
            v = C_KMS * (1.0 - r2) / (1.0 + r2)
            absorbed = bals["scales"][j, k] * _profile(v, vmin, vmax, bals["depth"][j], bals["phase"][j])
            tau[j, lo:hi] -= np.log1p(-np.clip(absorbed, 0.0, 0.999))
    return tau


def _doppler(v_kms):
    """Observed / emitted wavelength for an outflow at blueshift ``v`` (relativistic)."""
    b = v_kms / C_KMS
    return np.sqrt((1.0 - b) / (1.0 + b))
