"""Ionisation correction factors (ICFs) learned from a photoionisation model table.

An ICF converts the sum of the *observed* ionic abundances of an element into
its total abundance: X/H = ICF(X) * sum(observed X^i+/H+). Classical ICFs
(Kingsburgh & Barlow 1994, Delgado-Inglada et al. 2014, ... available in
PyNeb's ``pn.ICF``) are fitted formulae of ionic fractions such as
O+/(O+ + O++) and He++/(He+ + He++). :class:`ICFRegressor` learns log ICF
from observable ionic fractions or line ratios of a model table instead, with
a neural network (``backend="ann"``) or gradient-boosted trees
(``backend="gbm"``), reports gain and permutation feature importances, and
:func:`compare_icfs` scores it against PyNeb's classical ICFs on the same
rows.

Training table
--------------
Production use needs a real photoionisation grid (e.g. an export of the
Mexican Million Models database 3MdB, or a Cloudy / MAPPINGS grid) read with
``agnlab.io.read_table``. For tests, demos and benchmarks that run offline,
:func:`ionization_table` computes an *approximate* table honestly here: a
plane-parallel, isothermal slab photoionised by a blackbody, integrated
through the H+ zone with the photon field attenuated by H0, He0 and He+
(on-the-spot approximation), local ionisation balance for H, He, O, N, Ne, S
and Ar including charge transfer with hydrogen, and line-emission (n_e n_ion)
weighted ionic abundances. Atomic data are rounded textbook values
(thresholds from NIST; threshold cross-sections of order Verner et al. 1996
with a power-law frequency dependence; total recombination coefficients at
10^4 K of order Osterbrock & Ferland 2006 / Aldrovandi & Pequignot 1973
scaled as T^-0.7); metal opacity and the temperature structure are ignored.
The resulting ICFs have the right qualitative behaviour (ionisation
stratification, the O+/O++ and He++ dependences that the classical formulae
encode) but are not a substitute for a real grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from .._progress import progress
from .._validation import check_array, check_columns, check_is_fitted, check_random_state

__all__ = [
    "CLASSICAL_ICFS",
    "ICF_FEATURES",
    "ICFRegressor",
    "classical_icf",
    "compare_icfs",
    "icf_features",
    "ionization_table",
]

# ----------------------------------------------------------------------
# approximate atomic data (see module docstring)
_C_CM_S = 2.998e10
_SOLAR_LOG_ABUND = {"He": np.log10(0.085), "O": -3.31, "N": -4.17, "Ne": -4.07, "S": -4.88, "Ar": -5.60}
# ionisation potentials of stage i -> i+1 [eV]
_CHI_EV = {
    "H": [13.598],
    "He": [24.587, 54.418],
    "O": [13.618, 35.121, 54.936, 77.414],
    "N": [14.534, 29.601, 47.449, 77.474],
    "Ne": [21.565, 40.963, 63.45, 97.12],
    "S": [10.360, 23.338, 34.79, 47.222],
    "Ar": [15.760, 27.630, 40.74, 59.81],
}
# threshold photoionisation cross-sections [1e-18 cm^2] and power-law slope
_SIGMA_TH = {
    "H": [6.30], "He": [7.40, 1.58],
    "O": [3.0, 7.3, 3.6, 2.0], "N": [11.0, 7.0, 3.5, 1.7], "Ne": [5.3, 5.2, 4.5, 2.8],
    "S": [8.0, 6.0, 8.0, 6.0], "Ar": [30.0, 20.0, 10.0, 5.0],
}
_SLOPE = {"H": 3.0, "He": 2.0}
_SLOPE_METAL = 2.5
# total recombination coefficients to stage i from i+1 at 1e4 K [cm^3 s^-1]
_ALPHA = {
    "H": [2.59e-13], "He": [2.73e-13, 1.53e-12],
    "O": [3.3e-13, 2.0e-12, 5.1e-12, 9.6e-12], "N": [4.1e-13, 2.2e-12, 4.0e-12, 8.0e-12],
    "Ne": [4.0e-13, 1.5e-12, 4.4e-12, 8.0e-12], "S": [4.1e-13, 1.8e-12, 2.7e-12, 6.0e-12],
    "Ar": [4.0e-13, 2.0e-12, 4.0e-12, 8.0e-12],
}
# charge-transfer recombination X^(i+1) + H0 -> X^i + H+ [cm^3 s^-1] (rough, Kingdon & Ferland 1996)
_CT_REC = {
    "O": [1.0e-9, 1.0e-9, 2.0e-9, 3.0e-9], "N": [1.0e-12, 1.0e-9, 3.0e-9, 3.0e-9],
    "Ne": [1.0e-12, 1.0e-14, 4.0e-9, 4.0e-9], "S": [1.0e-12, 1.0e-9, 2.3e-9, 3.0e-9],
    "Ar": [1.0e-12, 1.0e-10, 4.0e-9, 4.0e-9],
}
# charge-transfer ionisation X^i + H+ -> X^(i+1) + H0 (only the O0/O+ resonance matters)
_CT_ION = {"O": [0.9e-9, 0.0, 0.0, 0.0]}
_METALS = ("O", "N", "Ne", "S", "Ar")

ICF_FEATURES = ("x_o2", "x_he3", "log_o3_o2", "log_s3_s2", "log_ar4_ar3")
"""Observable ionisation-state features produced by :func:`icf_features`."""

# ion sums that the target ICFs of :func:`ionization_table` refer to
_OBSERVED_IONS = {"O": ("O2", "O3"), "N": ("N2",), "Ne": ("Ne3",), "S": ("S2", "S3"), "Ar": ("Ar3",)}

CLASSICAL_ICFS = {
    "O": ("TPP77_13", "KB94_A10", "DIMS14_12", "Ial06_17"),
    "N": ("TPP77_14", "KB94_A1.10", "DIMS14_14", "Ial06_18a"),
    "Ne": ("TPP77_15", "KB94_A28.10", "PHCD07_12", "DIMS14_17a"),
    "S": ("KB94_A36.10", "DIMS14_23", "Ial06_20a"),
    "Ar": ("KB94_A32", "DIMS14_35", "Ial06_22a"),
}
"""PyNeb ICF labels compared by default for each element."""


def _ion_name(elem: str, stage: int) -> str:
    """PyNeb spectroscopic name: stage 0 (neutral) -> 'O1', stage 1 (O+) -> 'O2'."""
    return f"{elem}{stage + 1}"


def ionization_table(n_models: int = 2000, *, seed=0, log_u_range=(-4.0, -1.5),
                     teff_k_range=(30000.0, 150000.0), log_z_range=(-1.0, 0.3),
                     depth_range=(0.4, 1.2), n_energy: int = 90, progress_bar: bool | None = None
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
    bar = progress(total=None, desc="ionisation balance", disable=None if progress_bar is None
                   else (not progress_bar))
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
    for el, ions in _OBSERVED_IONS.items():
        df[f"log_icf_{el}"] = np.log10(df[el] / df[list(ions)].sum(axis=1))
    feats = icf_features(df)
    for c in feats.columns:
        df[c] = feats[c]
    return df


def icf_features(table, *, floor: float = 1e-12) -> pd.DataFrame:
    """Observable ionisation-state features from ionic abundances (PyNeb names).

    Parameters
    ----------
    table : DataFrame
        Columns ``O2, O3, He2, He3, S2, S3, Ar3, Ar4`` (ionic abundances
        relative to H+).
    floor : float
        Abundances below it are raised to it before logarithms (an
        undetected ion).

    Returns
    -------
    DataFrame with columns :data:`ICF_FEATURES`: ``x_o2`` = O+/(O+ + O++),
    ``x_he3`` = He++/(He+ + He++), and log10 of O++/O+, S++/S+, Ar3+/Ar++.
    """
    need = ["O2", "O3", "He2", "He3", "S2", "S3", "Ar3", "Ar4"]
    check_columns(table, need, name="ionic-abundance table")
    g = {c: np.maximum(np.asarray(table[c], dtype=float), floor) for c in need}
    return pd.DataFrame({
        "x_o2": g["O2"] / (g["O2"] + g["O3"]),
        "x_he3": g["He3"] / (g["He2"] + g["He3"]),
        "log_o3_o2": np.log10(g["O3"] / g["O2"]),
        "log_s3_s2": np.log10(g["S3"] / g["S2"]),
        "log_ar4_ar3": np.log10(g["Ar4"] / g["Ar3"]),
    }, index=getattr(table, "index", None))


# ----------------------------------------------------------------------
# classical ICFs (PyNeb)
def classical_icf(table, label: str) -> pd.DataFrame:
    """Apply a PyNeb classical ICF to every row of an ionic-abundance table.

    Parameters
    ----------
    table : DataFrame
        Ionic abundances relative to H+ with PyNeb names (``O2``, ``O3``,
        ``He2``, ``He3``, ``N2``, ...). Ions the formula needs but the table
        lacks make the result NaN (PyNeb's convention for absent ions).
    label : str
        A label from ``pn.ICF().getAvailableICFs()`` (e.g. ``"KB94_A10"``).

    Returns
    -------
    DataFrame with ``elem_abund`` (X/H from the formula), ``icf`` and
    ``ion_sum`` (the ionic sum the formula multiplies).
    """
    import pyneb as pn

    icf = pn.ICF()
    if label not in icf.all_icfs:
        raise ValueError(f"unknown PyNeb ICF label {label!r}; see pn.ICF().getAvailableICFs()")
    import re

    ions = [c for c in table.columns if c[:1].isupper() and c[-1].isdigit()]
    abun = {c: np.asarray(table[c], dtype=float) for c in ions}
    n = len(table)
    # the formula may use other ICFs (elem_abun["KB94_A10"]): evaluate those too
    needed, todo = [], [label]
    while todo:
        lab = todo.pop()
        if lab in needed:
            continue
        needed.append(lab)
        todo += re.findall(r'elem_abun\["([^"]+)"\]', str(icf.all_icfs[lab]["icf"]))
    level = getattr(pn.log_, "level", None)
    try:
        pn.log_.level = 0          # PyNeb prints a warning per ICF it cannot evaluate
        with np.errstate(all="ignore"):
            elem = icf.getElemAbundance(abun, icf_list=needed[::-1])
    finally:
        if level is not None:
            pn.log_.level = level
    with np.errstate(all="ignore"):
        value = np.broadcast_to(np.asarray(icf.icf_value.get(label, np.nan), dtype=float), (n,))
        tot = np.broadcast_to(np.asarray(elem.get(label, np.nan), dtype=float), (n,))
        ion_sum = tot / value
    return pd.DataFrame({"elem_abund": tot, "icf": value, "ion_sum": ion_sum}, index=table.index)


def compare_icfs(table, element: str, *, predictions=None, labels=None, name: str = "ICFRegressor"
                 ) -> pd.DataFrame:
    """Score ICFs by the total abundance they recover: log10(X/H) against the truth.

    Parameters
    ----------
    table : DataFrame
        Ionic abundances (PyNeb names) and the true total abundance column
        ``element`` (e.g. a held-out part of :func:`ionization_table`).
    element : str
        ``"O"``, ``"N"``, ``"Ne"``, ``"S"`` or ``"Ar"``.
    predictions : array_like, shape (n,), optional
        log10 ICF predicted by a regressor for the target ``log_icf_<element>``
        (i.e. relative to the ionic sum of :data:`_OBSERVED_IONS`).
    labels : list of str, optional
        PyNeb ICF labels (default :data:`CLASSICAL_ICFS[element]`).

    Returns
    -------
    DataFrame, one row per method: ``method, n_valid, median_abs_dex,
    p95_abs_dex, rmse_dex, bias_dex``.
    """
    if element not in _OBSERVED_IONS:
        raise ValueError(f"element must be one of {sorted(_OBSERVED_IONS)}, got {element!r}")
    check_columns(table, [element, *_OBSERVED_IONS[element]], name="ICF comparison table")
    truth = np.log10(np.asarray(table[element], dtype=float))
    rows = []

    def score(method, est):
        d = est - truth
        ok = np.isfinite(d)
        rows.append({"method": method, "n_valid": int(ok.sum()),
                     "median_abs_dex": float(np.median(np.abs(d[ok]))) if ok.any() else np.nan,
                     "p95_abs_dex": float(np.percentile(np.abs(d[ok]), 95)) if ok.any() else np.nan,
                     "rmse_dex": float(np.sqrt(np.mean(d[ok] ** 2))) if ok.any() else np.nan,
                     "bias_dex": float(np.mean(d[ok])) if ok.any() else np.nan})

    if predictions is not None:
        p = check_array(predictions, name="predictions", ndim=1, finite=False)
        if p.shape[0] != len(table):
            raise ValueError(f"predictions: {p.shape[0]} values for {len(table)} table rows")
        ion_sum = np.asarray(table[list(_OBSERVED_IONS[element])], dtype=float).sum(axis=1)
        score(name, np.log10(ion_sum) + p)
    for lab in (CLASSICAL_ICFS[element] if labels is None else labels):
        with np.errstate(all="ignore"):
            score(f"PyNeb {lab}", np.log10(classical_icf(table, lab)["elem_abund"].to_numpy()))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------
# array-only predictors (identical before and after save/load)
class _MLPArrays:
    def __init__(self, coefs, intercepts, activation):
        self.coefs = [np.asarray(c, dtype=float) for c in coefs]
        self.intercepts = [np.asarray(b, dtype=float) for b in intercepts]
        self.activation = activation

    def __call__(self, z):
        act = {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh,
               "logistic": lambda a: 1.0 / (1.0 + np.exp(-a)), "identity": lambda a: a}[self.activation]
        h = z
        for i, (w, b) in enumerate(zip(self.coefs, self.intercepts)):
            h = h @ w + b
            if i < len(self.coefs) - 1:
                h = act(h)
        return h[:, 0]

    def to_arrays(self):
        out = {}
        for i, (w, b) in enumerate(zip(self.coefs, self.intercepts)):
            out[f"mlp.w{i}"] = w
            out[f"mlp.b{i}"] = b
        return out

    @classmethod
    def from_arrays(cls, arrays, n_layers, activation):
        return cls([arrays[f"mlp.w{i}"] for i in range(n_layers)],
                   [arrays[f"mlp.b{i}"] for i in range(n_layers)], activation)


class _TreeArrays:
    """Sum of regression trees held in flat arrays (numerical splits only)."""

    def __init__(self, feature, threshold, left, right, is_leaf, value, missing_left, roots, baseline,
                 max_depth):
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=float)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.is_leaf = np.asarray(is_leaf, dtype=bool)
        self.value = np.asarray(value, dtype=float)
        self.missing_left = np.asarray(missing_left, dtype=bool)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.baseline = float(baseline)
        self.max_depth = int(max_depth)

    @classmethod
    def from_hist_gbm(cls, model, x_ref):
        """Flatten a fitted HistGradientBoostingRegressor (numerical features only)."""
        preds = getattr(model, "_predictors", None)
        if preds is None:
            raise RuntimeError("this scikit-learn version does not expose the fitted trees of "
                               "HistGradientBoostingRegressor; GBM save/gain importances unavailable")
        feats, thr, left, right, leaf, val, miss, roots = [], [], [], [], [], [], [], []
        offset, depth = 0, 0
        for it in preds:
            for tp in it:
                nodes = tp.nodes
                if "is_categorical" in nodes.dtype.names and nodes["is_categorical"].any():
                    raise RuntimeError("categorical splits are not supported")
                roots.append(offset)
                feats.append(nodes["feature_idx"])
                thr.append(nodes["num_threshold"])
                left.append(nodes["left"].astype(np.int64) + offset)
                right.append(nodes["right"].astype(np.int64) + offset)
                leaf.append(nodes["is_leaf"].astype(bool))
                val.append(nodes["value"])
                miss.append(nodes["missing_go_to_left"].astype(bool))
                depth = max(depth, int(nodes["depth"].max()))
                offset += nodes.shape[0]
        obj = cls(np.concatenate(feats), np.concatenate(thr), np.concatenate(left), np.concatenate(right),
                  np.concatenate(leaf), np.concatenate(val), np.concatenate(miss), roots, 0.0, depth)
        obj.baseline = float(np.mean(model.predict(x_ref) - obj._trees(x_ref)))
        gains = np.zeros(x_ref.shape[1])
        all_nodes = np.concatenate([tp.nodes for it in preds for tp in it])
        split = ~all_nodes["is_leaf"].astype(bool)
        np.add.at(gains, all_nodes["feature_idx"][split].astype(np.int64), all_nodes["gain"][split])
        return obj, gains

    def _trees(self, x):
        out = np.zeros(x.shape[0])
        for start in range(0, x.shape[0], 4096):
            xc = x[start:start + 4096]
            node = np.broadcast_to(self.roots, (xc.shape[0], self.roots.size)).copy()
            rows = np.arange(xc.shape[0])[:, None]
            for _ in range(self.max_depth + 1):
                leaf = self.is_leaf[node]
                if leaf.all():
                    break
                xv = xc[rows, self.feature[node]]
                go_left = np.where(np.isnan(xv), self.missing_left[node], xv <= self.threshold[node])
                node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
            out[start:start + xc.shape[0]] = self.value[node].sum(axis=1)
        return out

    def __call__(self, x):
        return self.baseline + self._trees(x)

    def to_arrays(self):
        return {"tree.feature": self.feature, "tree.threshold": self.threshold, "tree.left": self.left,
                "tree.right": self.right, "tree.is_leaf": self.is_leaf, "tree.value": self.value,
                "tree.missing_left": self.missing_left, "tree.roots": self.roots,
                "tree.meta": np.array([self.baseline, self.max_depth], dtype=float)}

    @classmethod
    def from_arrays(cls, a):
        meta = a["tree.meta"]
        return cls(a["tree.feature"], a["tree.threshold"], a["tree.left"], a["tree.right"], a["tree.is_leaf"],
                   a["tree.value"], a["tree.missing_left"], a["tree.roots"], meta[0], int(meta[1]))


# ----------------------------------------------------------------------
class ICFRegressor(RegressorMixin, BaseEstimator):
    """Learn log10 ICF of an element from observable ionisation-state features.

    Parameters
    ----------
    features : list of str, optional
        Feature columns when fitting on a table (default
        :data:`ICF_FEATURES`). Ignored for array input.
    target : str
        Target column when ``fit`` gets a table and no ``y`` (e.g.
        ``"log_icf_N"``).
    backend : {"gbm", "ann"}
        ``"gbm"``: scikit-learn HistGradientBoostingRegressor (gain
        importances from its split gains). ``"ann"``: scikit-learn
        MLPRegressor on standardised inputs and target.
    backend_params : dict, optional
        Extra keyword arguments for the back-end estimator.
    validation_fraction : float
        Rows held out for validation scores and permutation importances.
    n_repeats : int
        Permutations per feature for the permutation importances.
    domain_margin : float
        Fraction of each feature's training range tolerated outside it.
    on_out_of_domain : {"nan", "raise", "keep"}
        What ``predict`` does for rows outside the training domain (always
        recorded in ``last_out_of_domain_``).
    random_state : int
        Seed of the split, the back-end and the permutations.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
    n_features_in_ : int
    target_name_ : str
    feature_min_, feature_max_ : ndarray, shape (n_features,)
    validation_scores_ : dict
        ``rmse_dex, median_abs_dex, r2`` on the held-out rows.
    gain_importances_ : ndarray or None
        Normalised total split gain per feature (``"gbm"`` only).
    permutation_importances_ : DataFrame
        Mean and std of the R^2 drop when a feature is permuted.
    feature_importances_ : ndarray
        Gain importances when available, else normalised permutation ones.
    last_out_of_domain_ : ndarray of bool
        Rows of the last ``predict`` call outside the training domain.

    Examples
    --------
    >>> from agnlab.nebular import ICFRegressor, ionization_table
    >>> table = ionization_table(300, seed=0)
    >>> reg = ICFRegressor(target="log_icf_N", backend="gbm",
    ...                    backend_params={"max_iter": 50}).fit(table)
    >>> reg.predict(table.iloc[:3]).shape
    (3,)
    """

    def __init__(self, *, features=None, target=None, backend="gbm", backend_params=None,
                 validation_fraction=0.2, n_repeats=5, domain_margin=0.02, on_out_of_domain="nan",
                 random_state=0):
        self.features = features
        self.target = target
        self.backend = backend
        self.backend_params = backend_params
        self.validation_fraction = validation_fraction
        self.n_repeats = n_repeats
        self.domain_margin = domain_margin
        self.on_out_of_domain = on_out_of_domain
        self.random_state = random_state

    # -------------------------------------------------------------- input
    def _table_xy(self, X, y, *, fitting):
        if isinstance(X, (str, Path)):
            from ..io import read_table

            X = read_table(X)
        if hasattr(X, "columns") or hasattr(X, "colnames"):
            if fitting:
                feats = list(self.features) if self.features is not None else (
                    [str(c) for c in X.columns] if y is not None else list(ICF_FEATURES))
            else:
                feats = list(self.feature_names_in_)
            need = feats + ([self.target] if (fitting and y is None) else [])
            if fitting and y is None and self.target is None:
                raise ValueError("ICFRegressor: give y, or target= naming the log-ICF column of the table")
            check_columns(X, need, name="ICF table")
            xa = check_array(np.column_stack([np.asarray(X[c], dtype=float) for c in feats]),
                             name=f"features {feats}", ndim=2)
            ya = None
            if fitting:
                ya = y if y is not None else X[self.target]
            return xa, ya, feats
        xa = check_array(X, name="X", ndim=2)
        if fitting:
            feats = [f"x{i}" for i in range(xa.shape[1])] if self.features is None else list(self.features)
            if len(feats) != xa.shape[1]:
                raise ValueError(f"X: {xa.shape[1]} columns for {len(feats)} features {feats}")
            if y is None:
                raise ValueError("ICFRegressor.fit: y is required with array input")
        else:
            feats = list(self.feature_names_in_)
            if xa.shape[1] != len(feats):
                raise ValueError(f"X: expected {len(feats)} columns {feats}, got {xa.shape[1]}")
        return xa, y, feats

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Fit on a table (DataFrame or path to Parquet/CSV/HDF5/FITS) or arrays.

        Parameters
        ----------
        X : DataFrame, str/Path, or array_like (n, n_features)
        y : array_like (n,), optional
            log10 ICF; taken from column ``target`` when omitted.

        Returns
        -------
        self
        """
        from sklearn.inspection import permutation_importance

        if self.backend not in ("gbm", "ann"):
            raise ValueError(f"backend must be 'gbm' or 'ann', got {self.backend!r}")
        if self.on_out_of_domain not in ("nan", "raise", "keep"):
            raise ValueError(f"on_out_of_domain must be 'nan', 'raise' or 'keep', got {self.on_out_of_domain!r}")
        if not 0.0 < float(self.validation_fraction) < 0.9:
            raise ValueError(f"validation_fraction must lie in (0, 0.9), got {self.validation_fraction}")
        xa, ya, feats = self._table_xy(X, y, fitting=True)
        ya = check_array(ya, name="y (log ICF)", ndim=1)
        if ya.shape[0] != xa.shape[0]:
            raise ValueError(f"y: {ya.shape[0]} values for {xa.shape[0]} rows of X")
        if xa.shape[0] < 20:
            raise ValueError(f"ICFRegressor.fit: need >= 20 rows, got {xa.shape[0]}")
        rng = check_random_state(self.random_state)
        perm = rng.permutation(xa.shape[0])
        n_val = max(1, int(round(self.validation_fraction * xa.shape[0])))
        val, tr = perm[:n_val], perm[n_val:]
        seed = int(rng.integers(2**31 - 1))
        params = dict(self.backend_params or {})
        self.feature_names_in_ = np.array(feats, dtype=str)
        self.n_features_in_ = len(feats)
        self.target_name_ = str(self.target) if self.target is not None else "log_icf"
        self.feature_min_ = xa[tr].min(axis=0)
        self.feature_max_ = xa[tr].max(axis=0)
        self.x_mean_ = xa[tr].mean(axis=0)
        self.x_scale_ = np.where(xa[tr].std(axis=0) > 0, xa[tr].std(axis=0), 1.0)
        self.y_mean_ = float(ya[tr].mean())
        self.y_scale_ = float(ya[tr].std()) if ya[tr].std() > 0 else 1.0
        if self.backend == "ann":
            from sklearn.neural_network import MLPRegressor

            kw = {"hidden_layer_sizes": (64, 64), "activation": "tanh", "max_iter": 800,
                  "learning_rate_init": 3e-3, "early_stopping": True, "n_iter_no_change": 30,
                  "tol": 1e-6, "random_state": seed}
            kw.update(params)
            mlp = MLPRegressor(**kw).fit((xa[tr] - self.x_mean_) / self.x_scale_,
                                         (ya[tr] - self.y_mean_) / self.y_scale_)
            self._net = _MLPArrays(mlp.coefs_, mlp.intercepts_, mlp.activation)
            self._trees = None
            self.gain_importances_ = None
            self.n_iter_ = int(mlp.n_iter_)
        else:
            from sklearn.ensemble import HistGradientBoostingRegressor

            kw = {"max_iter": 300, "learning_rate": 0.1, "max_leaf_nodes": 31, "early_stopping": False,
                  "random_state": seed}
            kw.update(params)
            gbm = HistGradientBoostingRegressor(**kw).fit(xa[tr], ya[tr])
            self._trees, gains = _TreeArrays.from_hist_gbm(gbm, xa[tr][:512])
            check = np.max(np.abs(self._trees(xa[val]) - gbm.predict(xa[val])))
            if not check < 1e-8:
                raise RuntimeError(f"flattened trees disagree with scikit-learn by {check:.3g}")
            self._net = None
            self.gain_importances_ = gains / gains.sum() if gains.sum() > 0 else gains
            self.n_iter_ = int(gbm.n_iter_)
        pred = self._raw_predict(xa[val])
        resid = pred - ya[val]
        ss = np.sum((ya[val] - ya[val].mean()) ** 2)
        self.validation_scores_ = {
            "n_train": int(tr.size), "n_validation": int(val.size),
            "rmse_dex": float(np.sqrt(np.mean(resid**2))), "median_abs_dex": float(np.median(np.abs(resid))),
            "r2": float(1 - np.sum(resid**2) / ss) if ss > 0 else float("nan")}
        pi = permutation_importance(_Scorer(self), xa[val], ya[val], n_repeats=int(self.n_repeats),
                                    random_state=seed, scoring="r2")
        self.permutation_importances_ = pd.DataFrame(
            {"mean": pi.importances_mean, "std": pi.importances_std}, index=list(feats))
        if self.gain_importances_ is not None:
            self.feature_importances_ = np.asarray(self.gain_importances_)
        else:
            p = np.maximum(pi.importances_mean, 0)
            self.feature_importances_ = p / p.sum() if p.sum() > 0 else p
        return self

    # ------------------------------------------------------------ predict
    def _raw_predict(self, xa):
        if self._net is not None:
            return self._net((xa - self.x_mean_) / self.x_scale_) * self.y_scale_ + self.y_mean_
        return self._trees(xa)

    def predict(self, X):
        """log10 ICF for every row; rows outside the training domain follow ``on_out_of_domain``.

        Parameters
        ----------
        X : DataFrame (feature columns by name), str/Path, or array (n, n_features)

        Returns
        -------
        ndarray, shape (n,)
        """
        check_is_fitted(self, ["feature_names_in_", "validation_scores_"])
        xa, _, feats = self._table_xy(X, None, fitting=False)
        span = self.feature_max_ - self.feature_min_
        tol = self.domain_margin * np.where(span > 0, span, 1.0)
        out = (xa < self.feature_min_ - tol) | (xa > self.feature_max_ + tol)
        ood = out.any(axis=1)
        self.last_out_of_domain_ = ood
        if ood.any() and self.on_out_of_domain == "raise":
            bad = [feats[j] for j in np.flatnonzero(out.any(axis=0))]
            raise ValueError(f"{int(ood.sum())} rows outside the training domain (features {bad}); "
                             f"ranges: {dict(zip(feats, zip(self.feature_min_, self.feature_max_)))}")
        pred = self._raw_predict(xa)
        if self.on_out_of_domain == "nan":
            pred = np.where(ood, np.nan, pred)
        return pred

    def predict_icf(self, X):
        """ICF itself (10 ** predict)."""
        return 10.0 ** self.predict(X)

    # --------------------------------------------------------- save/load
    def save(self, path):
        """Write a safe artifact (npz + JSON; no pickle) with agnlab.io."""
        from ..io import save_artifact

        check_is_fitted(self, ["feature_names_in_", "validation_scores_"])
        arrays = {"feature_min": self.feature_min_, "feature_max": self.feature_max_,
                  "x_mean": self.x_mean_, "x_scale": self.x_scale_}
        meta = {"params": _json_params(self.get_params()), "features": list(self.feature_names_in_),
                "target": self.target_name_, "y_mean": self.y_mean_, "y_scale": self.y_scale_,
                "validation_scores": self.validation_scores_, "n_iter": self.n_iter_,
                "permutation_importances": {
                    "mean": self.permutation_importances_["mean"].tolist(),
                    "std": self.permutation_importances_["std"].tolist()},
                "gain_importances": None if self.gain_importances_ is None else list(self.gain_importances_)}
        if self._net is not None:
            arrays.update(self._net.to_arrays())
            meta["mlp_layers"] = len(self._net.coefs)
            meta["mlp_activation"] = self._net.activation
        else:
            arrays.update(self._trees.to_arrays())
        return save_artifact(path, kind="agnlab.nebular.ICFRegressor", arrays=arrays, metadata=meta)

    @classmethod
    def load(cls, path):
        """Load an artifact written by :meth:`save` (never executes code)."""
        from ..io import ArtifactError, load_artifact

        arrays, meta = load_artifact(path, kind="agnlab.nebular.ICFRegressor")
        try:
            obj = cls(**meta["params"])
            obj.feature_names_in_ = np.array(meta["features"], dtype=str)
            obj.n_features_in_ = len(meta["features"])
            obj.target_name_ = meta["target"]
            obj.feature_min_, obj.feature_max_ = arrays["feature_min"], arrays["feature_max"]
            obj.x_mean_, obj.x_scale_ = arrays["x_mean"], arrays["x_scale"]
            obj.y_mean_, obj.y_scale_ = float(meta["y_mean"]), float(meta["y_scale"])
            obj.validation_scores_ = meta["validation_scores"]
            obj.n_iter_ = meta["n_iter"]
            obj.permutation_importances_ = pd.DataFrame(meta["permutation_importances"],
                                                        index=list(meta["features"]))
            gi = meta["gain_importances"]
            obj.gain_importances_ = None if gi is None else np.asarray(gi, dtype=float)
            if obj.backend == "ann":
                obj._net = _MLPArrays.from_arrays(arrays, int(meta["mlp_layers"]), meta["mlp_activation"])
                obj._trees = None
                p = np.maximum(obj.permutation_importances_["mean"].to_numpy(), 0)
                obj.feature_importances_ = p / p.sum() if p.sum() > 0 else p
            else:
                obj._trees = _TreeArrays.from_arrays(arrays)
                obj._net = None
                obj.feature_importances_ = obj.gain_importances_
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: incomplete ICFRegressor artifact ({exc})") from None
        return obj


class _Scorer(RegressorMixin, BaseEstimator):
    """Minimal estimator view for sklearn.inspection.permutation_importance."""

    def __init__(self, reg=None):
        self.reg = reg

    def fit(self, X, y):  # pragma: no cover - never refitted
        return self

    def predict(self, X):
        return self.reg._raw_predict(np.asarray(X, dtype=float))

    def score(self, X, y):
        from sklearn.metrics import r2_score

        return r2_score(y, self.predict(X))


def _json_params(params):
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out

