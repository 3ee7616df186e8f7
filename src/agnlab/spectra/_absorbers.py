"""H I absorbers along a quasar sight line (forest, LLS, sub-DLAs, DLAs) and their optical depth.

The forest (``log N < 17.2``) and the optically thick systems (``log N >= 17.2``) are drawn from the one
column-density distribution (:mod:`._cddf`) with separate random streams.  Optically thick systems may
lie up to the quasar redshift; those within 3000 km/s of it are *proximate* (flagged in the absorber
table), drawn at the intervening incidence (the measured excess of proximate DLAs, up to a factor ~2
at z > 3.5 in Prochaska, Hennawi & Herbert 2008, is not modelled).  ``proximate=False`` keeps them
3000 km/s away, as in most DLA surveys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..constants import C_KMS
from ._cddf import LOG_N_DLA, LOG_N_LLS, absorber_kind
from ._igm import add_line_tau, add_lyman_continuum_tau

__all__ = ["ABSORBER_COLUMNS", "PROXIMATE_KMS", "AbsorberSystems", "absorber_tau", "empty_absorbers", "sample_forest",
           "sample_absorbers"]

#: velocity below which an absorber counts as proximate to the quasar (km/s)
PROXIMATE_KMS = 3000.0
#: columns of the per-system table of a batch
ABSORBER_COLUMNS = ("spec_index", "z_abs", "log_nhi", "kind", "proximate")


def empty_absorbers() -> pd.DataFrame:
    """An empty absorber table (one row per H I system with log N >= 17.2)."""
    return pd.DataFrame({"spec_index": np.zeros(0, np.int64), "z_abs": np.zeros(0), "log_nhi": np.zeros(0),
                         "kind": pd.Series(np.zeros(0, dtype=object)).astype(str),
                         "proximate": np.zeros(0, dtype=bool)})


def sample_forest(forest, rngs, z_qso, z_lo: float):
    """Forest absorbers between ``z_lo`` and each ``z_qso`` (one random stream per sight line).

    Returns
    -------
    absorbers : tuple of lists ``(rows, z, log_n, b_kms)``, one array per sight line with absorbers
    n_abs : ndarray int64 (n,)
    """
    n = len(rngs)
    rows, zs, lns, bs, n_abs = [], [], [], [], np.zeros(n, np.int64)
    c0 = forest.cumulative_number(z_lo)
    for j, r in enumerate(rngs):
        if z_qso[j] <= z_lo:
            continue
        c1 = forest.cumulative_number(z_qso[j])
        k = r.poisson(c1 - c0)
        uu = r.random((3, k))
        zs.append(forest.inverse_cumulative(c0 + uu[0] * (c1 - c0)))
        lns.append(forest.sample_log_n(uu[1]))
        bs.append(forest.sample_b(-np.log1p(-uu[2])))
        rows.append(np.full(k, j))
        n_abs[j] = k
    return (rows, zs, lns, bs), n_abs


@dataclass
class AbsorberSystems:
    """Optically thick H I systems of a chunk (flat arrays, one entry per system)."""

    spec: np.ndarray
    z_abs: np.ndarray
    log_nhi: np.ndarray
    b_kms: np.ndarray
    proximate: np.ndarray

    def table(self) -> pd.DataFrame:
        if self.spec.size == 0:
            return empty_absorbers()
        t = pd.DataFrame({"spec_index": self.spec.astype(np.int64), "z_abs": self.z_abs, "log_nhi": self.log_nhi,
                          "kind": pd.Series(absorber_kind(self.log_nhi)).astype(str),
                          "proximate": self.proximate.astype(bool)})
        return t.sort_values(["spec_index", "z_abs"], kind="stable").reset_index(drop=True)


def sample_absorbers(forest, dla_model, rngs, z_qso, z_lo: float, *, proximate: bool = True) -> AbsorberSystems:
    """LLS and sub-DLAs (``17.2 <= log N < 20.3``) and DLAs between ``z_lo`` and each quasar.

    LLS/sub-DLAs follow the measured incidence of the column-density distribution; DLAs too when
    ``dla_model.rate_per_dz`` is None, else a constant incidence per unit redshift.  Doppler
    parameters: Hui & Rutledge for LLS/sub-DLAs, ``dla_model.b_kms`` for DLAs.
    """
    cddf = forest.cddf
    lo_d, hi_d = dla_model.log_nhi_range
    cum_t = cddf.cumulative_incidence(z_lo, LOG_N_LLS, LOG_N_DLA)
    cum_d = cddf.cumulative_incidence(z_lo, lo_d, hi_d)
    out = {k: [] for k in ("spec", "z", "n", "b")}
    for j, r in enumerate(rngs):
        zq = z_qso[j]
        hi = zq if proximate else zq - (1.0 + zq) * PROXIMATE_KMS / C_KMS
        if hi <= z_lo:
            continue
        # LLS and sub-DLAs
        c1 = cddf.cumulative_incidence(hi, LOG_N_LLS, LOG_N_DLA)
        k = r.poisson(c1 - cum_t)
        uu = r.random((3, k))
        z_t = cddf.inverse_cumulative_incidence(cum_t + uu[0] * (c1 - cum_t), LOG_N_LLS, LOG_N_DLA)
        n_t = cddf.sample_log_n(uu[1], LOG_N_LLS, LOG_N_DLA)
        b_t = forest.sample_b(-np.log1p(-uu[2]))
        # DLAs
        if dla_model.rate_per_dz is None:
            c1 = cddf.cumulative_incidence(hi, lo_d, hi_d)
            kd = r.poisson(c1 - cum_d)
            ud = r.random((2, kd))
            z_d = cddf.inverse_cumulative_incidence(cum_d + ud[0] * (c1 - cum_d), lo_d, hi_d)
        else:
            kd = r.poisson(dla_model.rate_per_dz * (hi - z_lo))
            ud = r.random((2, kd))
            z_d = z_lo + (hi - z_lo) * ud[0]
        n_d = cddf.sample_log_n(ud[1], lo_d, hi_d)
        out["spec"].append(np.full(k + kd, j))
        out["z"] += [z_t, z_d]
        out["n"] += [n_t, n_d]
        out["b"] += [b_t, np.full(kd, float(dla_model.b_kms))]
    if not out["spec"]:
        e = np.zeros(0)
        return AbsorberSystems(np.zeros(0, np.int64), e, e, e, np.zeros(0, bool))
    spec = np.concatenate(out["spec"]).astype(np.int64)
    z = np.concatenate(out["z"])
    zq = np.asarray(z_qso, dtype=float)[spec]
    prox = (zq - z) < (1.0 + zq) * PROXIMATE_KMS / C_KMS
    return AbsorberSystems(spec, z, np.concatenate(out["n"]), np.concatenate(out["b"]), prox)


def absorber_tau(wave, n: int, forest_absorbers, systems: AbsorberSystems) -> np.ndarray:
    """Optical depth (n, n_pix) of the forest and the optically thick systems (Lyman series + continuum)."""
    tau = np.zeros((n, wave.size))
    rows, zs, lns, bs = forest_absorbers
    if rows:
        ri, zi, li, bi = (np.concatenate(x) for x in (rows, zs, lns, bs))
        add_line_tau(tau, wave, ri, zi, li, bi)
        add_lyman_continuum_tau(tau, wave, ri, zi, li)
    if systems.spec.size:
        s = systems
        add_line_tau(tau, wave, s.spec, s.z_abs, s.log_nhi, s.b_kms, eps=1e-4)
        add_lyman_continuum_tau(tau, wave, s.spec, s.z_abs, s.log_nhi)
    return tau
