"""Approximate photoionisation model table: an isothermal slab in ionisation balance.

Production use needs a real photoionisation grid (e.g. an export of the
Mexican Million Models database 3MdB, or a Cloudy / MAPPINGS grid) read with
``agnlab.io.read_table``. For tests, demos and benchmarks that run offline,
:func:`ionization_table` computes an *approximate* table honestly here: a
plane-parallel, isothermal slab photoionised by a blackbody, integrated
through the H+ zone with the photon field attenuated by H0, He0 and He+
(on-the-spot approximation), local ionisation balance for H, He, O, N, Ne, S
and Ar including charge transfer with hydrogen, and line-emission (n_e n_ion)
weighted ionic abundances. Atomic data are in :mod:`._atomic_data`; metal
opacity and the temperature structure are ignored. The resulting ICFs have
the right qualitative behaviour (ionisation stratification, the O+/O++ and
He++ dependences that the classical formulae encode) but are not a substitute
for a real grid.

Status: a documented toy, kept for offline examples, doctests and the solution-set demos. Learned
ICFs for science come from a real grid through :func:`agnlab.nebular.grid_abundance_table` (the
NebulaBayes MAPPINGS HII and AGN-NLR grids, or any table in the same layout).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._progress import progress as _progress
from ..validation import check_random_state
from ._atomic_data import (
    _ALPHA,
    _C_CM_S,
    _CHI_EV,
    _CT_ION,
    _CT_REC,
    _METALS,
    _SIGMA_TH,
    _SLOPE,
    _SLOPE_METAL,
    _SOLAR_LOG_ABUND,
    _ion_name,
)
from ._icf_features import OBSERVED_IONS, icf_features

__all__ = ["ionization_table"]


def ionization_table(n_models: int = 2000, *, seed=0, log_u_range=(-4.0, -1.5),
                     teff_k_range=(30000.0, 150000.0), log_z_range=(-1.0, 0.3),
                     depth_range=(0.4, 1.2), n_energy: int = 90, progress: bool | None = None
                     ) -> pd.DataFrame:
    """Approximate photoionisation model table (ionic abundances and true ICFs).

    See the module docstring for the physics and its limits. Parameters are
    drawn uniformly (T_eff log-uniformly) within the given ranges.

    Parameters
    ----------
    n_models : int
    seed : int or numpy Generator
    log_u_range : (float, float)
        log10 ionisation parameter U = Phi(H) / (n_H c).
    teff_k_range : (float, float)
        Blackbody temperature of the ionising star [K].
    log_z_range : (float, float)
        log10 metallicity relative to solar (scales the metal abundances and
        sets the isothermal electron temperature).
    depth_range : (float, float)
        Stopping column in units of the pure-hydrogen Stromgren column
        U c / alpha_B; < ~0.9 gives matter-bounded models. Integration also
        stops at the ionisation front (H+ fraction < 1 %).
    n_energy : int
        Points of the photon-energy grid (10 - 400 eV, log spaced).
    progress : bool, optional
        Progress bar (``None``: on a terminal only).

    Returns
    -------
    pandas.DataFrame, n_models rows
        ``log_u, teff_k, log_z, depth, te_k``; total abundances by number
        relative to H (``He, O, N, Ne, S, Ar``); emission-weighted ionic
        abundances relative to H+ with PyNeb names (``He2`` = He+, ``He3`` =
        He++, ``O2`` = O+, ``O3`` = O++, ...); true targets
        ``log_icf_O`` (O / (O+ + O++)), ``log_icf_N`` (N / N+),
        ``log_icf_Ne`` (Ne / Ne++), ``log_icf_S`` (S / (S+ + S++)),
        ``log_icf_Ar`` (Ar / Ar++); and the features of :func:`icf_features`.
    """
    n = int(n_models)
    if n < 1:
        raise ValueError(f"n_models must be >= 1, got {n_models}")
    rng = check_random_state(seed)
    for name, r in (("log_u_range", log_u_range), ("teff_k_range", teff_k_range),
                    ("log_z_range", log_z_range), ("depth_range", depth_range)):
        if len(r) != 2 or not r[0] < r[1]:
            raise ValueError(f"{name} must be (lo, hi) with lo < hi, got {r}")
    if teff_k_range[0] <= 0 or depth_range[0] <= 0:
        raise ValueError("teff_k_range and depth_range must be positive")
    log_u = rng.uniform(*log_u_range, n)
    teff = 10 ** rng.uniform(np.log10(teff_k_range[0]), np.log10(teff_k_range[1]), n)
    log_z = rng.uniform(*log_z_range, n)
    depth = rng.uniform(*depth_range, n)
    te = np.clip(1e4 * 10 ** (-0.25 * log_z) * (teff / 5e4) ** 0.15, 6000.0, 20000.0)
    tscale = (te / 1e4) ** -0.7

    # photon energy grid and normalised blackbody photon spectrum
    e = np.geomspace(10.0, 400.0, int(n_energy))
    de = np.gradient(e)
    kt = 8.617e-5 * teff
    with np.errstate(over="ignore"):
        ph = e[None, :] ** 2 / np.expm1(np.minimum(e[None, :] / kt[:, None], 700.0))
    ionising = e >= _CHI_EV["H"][0]
    ph /= (ph[:, ionising] * de[ionising]).sum(axis=1, keepdims=True)   # per unit H-ionising photon
    u_c = 10 ** log_u * _C_CM_S

    # cross-section matrix: columns = H0, He0, He+, then metals stage by stage
    species = [("H", 0), ("He", 0), ("He", 1)] + [(el, s) for el in _METALS for s in range(4)]
    sig = np.zeros((e.size, len(species)))
    for j, (el, s) in enumerate(species):
        chi = _CHI_EV[el][s]
        slope = _SLOPE.get(el, _SLOPE_METAL)
        sig[:, j] = np.where(e >= chi, _SIGMA_TH[el][s] * 1e-18 * (e / chi) ** -slope, 0.0)
    sig_de = sig * de[:, None]

    y_he = 10 ** (_SOLAR_LOG_ABUND["He"] + 0.02 * log_z + rng.normal(0, 0.01, n))
    abund = {"He": y_he}
    for el in _METALS:
        extra = np.maximum(-1.46, -0.86 + log_z) - (-0.86) if el == "N" else 0.0
        abund[el] = 10 ** (_SOLAR_LOG_ABUND[el] + log_z + extra + rng.normal(0, 0.05, n))

    alpha_h = _ALPHA["H"][0] * tscale
    n_strom = u_c / alpha_h                      # pure-H Stromgren column [cm^-2]
    n_stop = depth * n_strom
    col = np.zeros((n, 3))                      # columns of H0, He0, He+
    depth_n = np.zeros(n)
    active = np.ones(n, dtype=bool)
    x_e = np.full(n, 1.0 + y_he)
    em_h = np.zeros(n)
    em_he = np.zeros((n, 3))
    em_met = {el: np.zeros((n, 5)) for el in _METALS}
    x_h = np.ones(n)
    bar = _progress(total=None, desc="ionisation balance", disable=None if progress is None else (not progress))
    for _ in range(20000):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        tau = col[idx] @ sig[:, :3].T                     # (m, n_energy)
        phi = ph[idx] * np.exp(-tau)
        gam = (phi @ sig_de) * u_c[idx, None]             # rates per H nucleus [cm^3 s^-1]
        ts = tscale[idx]
        xe = x_e[idx]
        for _it in range(4):
            xh = gam[:, 0] / (gam[:, 0] + alpha_h[idx] * xe)
            r1 = gam[:, 1] / (_ALPHA["He"][0] * ts * xe)
            r2 = gam[:, 2] / (_ALPHA["He"][1] * ts * xe)
            f0 = 1.0 / (1.0 + r1 + r1 * r2)
            f1, f2 = r1 * f0, r1 * r2 * f0
            xe = xh + y_he[idx] * (f1 + 2 * f2) + 1e-4
        x_e[idx] = xe
        x_h[idx] = xh
        # step: at most 0.2 in H0 optical depth, between 2e-4 and 4e-3 Stromgren columns
        dn = 0.2 / (_SIGMA_TH["H"][0] * 1e-18 * np.maximum(1.0 - xh, 1e-12))
        dn = np.clip(dn, 2e-4 * n_strom[idx], 4e-3 * n_strom[idx])
        dn = np.minimum(dn, n_stop[idx] - depth_n[idx])
        w = xe * dn                                        # n_e-weighted path
        em_h[idx] += w * xh
        em_he[idx] += w[:, None] * np.stack([f0, f1, f2], axis=1)
        col[idx, 0] += (1.0 - xh) * dn
        col[idx, 1] += y_he[idx] * f0 * dn
        col[idx, 2] += y_he[idx] * f1 * dn
        for k, el in enumerate(_METALS):
            g = gam[:, 3 + 4 * k: 7 + 4 * k]
            logr = np.empty((idx.size, 4))
            for s in range(4):
                up = g[:, s] + _CT_ION.get(el, [0.0] * 4)[s] * xh
                down = _ALPHA[el][s] * ts * xe + _CT_REC[el][s] * (1.0 - xh)
                logr[:, s] = np.log(np.maximum(up, 1e-300)) - np.log(down)
            logf = np.concatenate([np.zeros((idx.size, 1)), np.cumsum(logr, axis=1)], axis=1)
            logf -= logf.max(axis=1, keepdims=True)
            f = np.exp(logf)
            f /= f.sum(axis=1, keepdims=True)
            em_met[el][idx] += w[:, None] * f
        depth_n[idx] += dn
        done = (xh < 0.01) | (depth_n[idx] >= n_stop[idx] * (1 - 1e-9))
        active[idx[done]] = False
        bar.update(1)
    bar.close()

    out = {"log_u": log_u, "teff_k": teff, "log_z": log_z, "depth": depth, "te_k": te}
    for el in ("He",) + _METALS:
        out[el] = abund[el]
    out["He2"] = y_he * em_he[:, 1] / em_h
    out["He3"] = y_he * em_he[:, 2] / em_h
    for el in _METALS:
        for s in range(5):
            out[_ion_name(el, s)] = abund[el] * em_met[el][:, s] / em_h
    df = pd.DataFrame(out)
    for el, ions in OBSERVED_IONS.items():
        df[f"log_icf_{el}"] = np.log10(df[el] / df[list(ions)].sum(axis=1))
    feats = icf_features(df)
    for c in feats.columns:
        df[c] = feats[c]
    return df

