"""Absorbers along a quasar sight line: Lyman-alpha forest (with LLS) and DLAs, and their optical depth."""

from __future__ import annotations

import numpy as np

from ..constants import C_KMS, LYA_AA
from ._igm import add_line_tau, add_lyman_continuum_tau

__all__ = ["absorber_tau", "sample_dlas", "sample_forest"]


def sample_forest(forest, rngs, z_qso, z_lo: float):
    """Forest absorbers between ``z_lo`` and each ``z_qso`` (one random stream per sight line).

    Returns
    -------
    absorbers : tuple of lists ``(rows, z, log_n, b_kms)``, one array per sight line with absorbers
    n_abs, n_lls : ndarray int64 (n,)
        Absorbers per sight line, and of them those with log N >= 17.2.
    """
    n = len(rngs)
    rows, zs, lns, bs, n_abs, n_lls = [], [], [], [], np.zeros(n, np.int64), np.zeros(n, np.int64)
    for j, r in enumerate(rngs):
        if z_qso[j] <= z_lo:
            continue
        c0, c1 = forest.cumulative_number(z_lo), forest.cumulative_number(z_qso[j])
        k = r.poisson(c1 - c0)
        uu = r.random((3, k))
        zs.append(forest.inverse_cumulative(c0 + uu[0] * (c1 - c0)))
        lns.append(forest.sample_log_n(uu[1]))
        bs.append(forest.sample_b(-np.log1p(-uu[2])))
        rows.append(np.full(k, j))
        n_abs[j] = k
        n_lls[j] = int(np.sum(lns[-1] >= 17.2))
    return (rows, zs, lns, bs), n_abs, n_lls


def sample_dlas(dla_model, rngs, z_qso, wave_min_aa: float, z_lo: float):
    """DLAs between the blue end of the spectra and 3000 km/s below each ``z_qso``.

    Returns ``(rows, z_dla, log_nhi)``: lists with one array per sight line with DLAs.
    """
    d_rows, d_z, d_n = [], [], []
    for j, r in enumerate(rngs):
        lo = max(z_lo, (wave_min_aa + 10.0) / LYA_AA - 1.0)
        hi = z_qso[j] - (1.0 + z_qso[j]) * 3000.0 / C_KMS
        if hi <= lo or dla_model.rate_per_dz <= 0:
            continue
        k = r.poisson(dla_model.rate_per_dz * (hi - lo))
        uu = r.random((2, k))
        d_rows.append(np.full(k, j))
        d_z.append(lo + (hi - lo) * uu[0])
        d_n.append(dla_model.sample_log_nhi(uu[1]))
    return d_rows, d_z, d_n


def absorber_tau(wave, n: int, forest_absorbers, dlas, dla_b_kms: float) -> np.ndarray:
    """Optical depth (n, n_pix) of the forest absorbers and DLAs (Lyman series and Lyman continuum)."""
    tau = np.zeros((n, wave.size))
    rows, zs, lns, bs = forest_absorbers
    if rows:
        ri, zi, li, bi = (np.concatenate(x) for x in (rows, zs, lns, bs))
        add_line_tau(tau, wave, ri, zi, li, bi)
        add_lyman_continuum_tau(tau, wave, ri, zi, li)
    d_rows, d_z, d_n = dlas
    if d_rows:
        ri, zi, li = (np.concatenate(x) for x in (d_rows, d_z, d_n))
        if ri.size:
            add_line_tau(tau, wave, ri, zi, li, np.full(ri.size, dla_b_kms), eps=1e-4)
            add_lyman_continuum_tau(tau, wave, ri, zi, li)
    return tau
