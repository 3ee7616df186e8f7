"""Abundance corrections learned on a photoionisation grid: direct-method O/H against the models' truth.

:func:`grid_abundance_table` applies the direct method (:func:`agnlab.nebular.direct_method_abundances`)
to every model of a grid, noise-free or through Monte Carlo draws at given signal-to-noise, and
returns one row per (model, draw) with the ionic abundances (PyNeb names, so PyNeb's classical
ICFs apply: :func:`agnlab.nebular.compare_icfs`), observable features (:data:`GRID_ICF_FEATURES`),
the true total ``O`` (linear O/H) and the target ``log_icf_O`` = log10(O/H true) - log10(O+/H + O++/H),
an *effective* ICF that absorbs the unseen ions (O3+ and above in AGN narrow-line regions) and the
bias of the Te-based abundances from temperature gradients and fluctuations (Peimbert 1967;
Stasinska 2005, A&A 434, 507). :class:`agnlab.nebular.ICFRegressor` learns it
(``ICFRegressor(features=list(GRID_ICF_FEATURES), target="log_icf_O")``); :func:`correct_direct_oh`
applies it to observed fluxes; :func:`holdout_nodes` and :func:`score_oh` give honest held-out
comparisons with the classical ICFs (whole grid nodes left out along O/H and log U).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import check_random_state
from ._direct_method import direct_method_abundances, normalised_fluxes

__all__ = ["GRID_ICF_FEATURES", "WEAK_LINES", "abundance_features", "correct_direct_oh", "grid_abundance_table",
           "holdout_nodes", "score_oh"]

GRID_ICF_FEATURES = ("oh_direct", "te_o3_1e4k", "log_o3_o2", "x_he3", "log_oiii_hb", "log_oii_hb", "log_nii_oii",
                     "log_neiii_oii")
"""Observable features of :func:`abundance_features`: direct-method 12 + log O/H, Te([O III]) / 1e4 K,
log O++/O+, He++/(He+ + He++), and log of [O III] 5007/Hbeta, [O II] 3727/Hbeta, [N II] 6583/[O II] 3727,
[Ne III] 3869/[O II] 3727."""

WEAK_LINES = ("OIII4363", "NII5755", "SIII6312", "OII7320", "OII7330", "HeII4686", "ArIV4711", "ArIV4740")
"""Lines drawn at the auroral signal-to-noise (``snr_weak``) by :func:`grid_abundance_table`."""

_OH = "12 + log O/H"
_FEATURE_LINES = {"x_he3": ("HeI5876", "HeII4686"), "log_nii_oii": ("NII6583",), "log_neiii_oii": ("NeIII3869",)}


def _log_ratio(a, b):
    with np.errstate(all="ignore"):
        r = np.asarray(a, dtype=float) / np.asarray(b, dtype=float)
        return np.where(r > 0, np.log10(np.where(r > 0, r, 1.0)), np.nan)


def abundance_features(fluxes, direct=None) -> pd.DataFrame:
    """The :data:`GRID_ICF_FEATURES` of dereddened fluxes (grid line names, with ``Hbeta``).

    Parameters
    ----------
    fluxes : DataFrame, shape (n, n_lines)
    direct : DataFrame, optional
        :func:`direct_method_abundances` of ``fluxes`` (computed when omitted).

    Returns
    -------
    DataFrame, shape (n, 8), same index; NaN where a line is missing or non-positive or the direct
    method failed.
    """
    if direct is None:
        direct = direct_method_abundances(fluxes)
    f = normalised_fluxes(fluxes)

    def col(name):
        return f[name].to_numpy() if name in f.columns else np.full(len(f), np.nan)

    o2 = col("OII3726") + col("OII3729") if {"OII3726", "OII3729"} <= set(f.columns) else col("OII3726_29")
    he2, he3 = direct["He2"].to_numpy(), direct["He3"].to_numpy()
    with np.errstate(all="ignore"):
        x_he3 = he3 / (he2 + he3)
    return pd.DataFrame({"oh_direct": direct["oh_direct"].to_numpy(), "te_o3_1e4k": direct["te_o3_k"].to_numpy() / 1e4,
                         "log_o3_o2": direct["log_o3_o2"].to_numpy(), "x_he3": x_he3,
                         "log_oiii_hb": _log_ratio(col("OIII5007"), 1.0), "log_oii_hb": _log_ratio(o2, 1.0),
                         "log_nii_oii": _log_ratio(col("NII6583"), o2),
                         "log_neiii_oii": _log_ratio(col("NeIII3869"), o2)}, index=fluxes.index)


def _noisy(fluxes: pd.DataFrame, n_draws: int, snr_strong: float, snr_weak: float, rng) -> pd.DataFrame:
    f = np.repeat(fluxes.to_numpy(dtype=float), n_draws, axis=0)
    snr = np.array([snr_weak if c in WEAK_LINES else snr_strong for c in fluxes.columns], dtype=float)
    f = f + (f / snr) * rng.standard_normal(f.shape)
    return pd.DataFrame(f, columns=fluxes.columns)


def grid_abundance_table(grid, *, n_draws=0, snr_strong=20.0, snr_weak=5.0, mask=None, te_low="garnett92",
                         seed=0) -> pd.DataFrame:
    """Direct-method abundances, features and the effective-ICF target for every model of a grid.

    Parameters
    ----------
    grid : PhotoionizationGrid
        With a ``12 + log O/H`` parameter and the lines of :data:`agnlab.nebular.DIRECT_METHOD_LINES`
        (``HeI5876``, ``HeII4686``, ``NII6583``, ``NeIII3869`` used when present).
    n_draws : int
        0: the noise-free model fluxes; otherwise Monte Carlo draws per model with Gaussian errors of
        flux / ``snr_strong`` (flux / ``snr_weak`` for :data:`WEAK_LINES`), Hbeta included.
    mask : array_like of bool, shape (n_models,), optional
        Use only these models (e.g. the training or the held-out nodes of :func:`holdout_nodes`).
    te_low : {"garnett92", "nii"}
        Te of the O+ zone (see :func:`agnlab.nebular.direct_method_abundances`).
    seed : int, Generator or None
        Seed of the noise draws.

    Returns
    -------
    DataFrame, one row per (model, draw)
        ``model`` (row of the grid), the grid parameters, the direct-method columns (``O2``, ``O3``,
        ``He2``, ``He3``, ``te_o3_k``, ``oh_direct``, ``flag``, ...), :data:`GRID_ICF_FEATURES`,
        ``O`` (true O/H, linear), ``oh_true`` and ``log_icf_O`` (NaN unless ``flag == "ok"``).
    """
    if _OH not in grid.params.columns:
        raise ValueError(f"the grid has no {_OH!r} parameter (its parameters: {grid.param_names})")
    n_draws = int(n_draws)
    if n_draws < 0:
        raise ValueError(f"n_draws must be >= 0, got {n_draws}")
    if not (snr_strong > 0 and snr_weak > 0):
        raise ValueError(f"snr_strong and snr_weak must be > 0, got {snr_strong}, {snr_weak}")
    if grid.norm_line not in ("Hbeta", None) or "Hbeta" not in grid.fluxes.columns:
        raise ValueError("the grid's fluxes must include Hbeta (the normalisation of the abundances)")
    idx = np.arange(grid.n_models)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != (grid.n_models,):
            raise ValueError(f"mask must have shape ({grid.n_models},), got {m.shape}")
        idx = idx[m]
    fluxes = grid.fluxes.iloc[idx].reset_index(drop=True)
    params = grid.params.iloc[idx].reset_index(drop=True)
    if n_draws:
        fluxes = _noisy(fluxes, n_draws, float(snr_strong), float(snr_weak), check_random_state(seed))
        params = params.loc[params.index.repeat(n_draws)].reset_index(drop=True)
        idx = np.repeat(idx, n_draws)
    direct = direct_method_abundances(fluxes, te_low=te_low)
    feats = abundance_features(fluxes, direct)
    oh_true = params[_OH].to_numpy()
    ok = direct["flag"].to_numpy() == "ok"
    ion_sum = (direct["O2"] + direct["O3"]).to_numpy()
    with np.errstate(all="ignore"):
        target = np.where(ok, (oh_true - 12.0) - np.log10(ion_sum), np.nan)
    extra = feats.drop(columns=[c for c in feats.columns if c in direct.columns])
    out = pd.concat([pd.DataFrame({"model": idx}), params, direct, extra], axis=1)
    return out.assign(O=10.0 ** (oh_true - 12.0), oh_true=oh_true, log_icf_O=target)


def holdout_nodes(grid, *, axes=(_OH, "log U"), fraction=0.25, seed=0) -> np.ndarray:
    """Models on randomly chosen interior nodes of the given axes (held out from training).

    For every axis, ``max(1, round(fraction * n_interior))`` interior node values are drawn; a model
    is held out when it sits on a drawn value of any axis, so the held-out models are never
    neighbours in the interpolation sense of the training set along that axis.

    Returns
    -------
    ndarray of bool, shape (n_models,)
    """
    rng = check_random_state(seed)
    test = np.zeros(grid.n_models, dtype=bool)
    for ax in axes:
        if ax not in grid.params.columns:
            raise ValueError(f"axis {ax!r} not in the grid's parameters {grid.param_names}")
        vals = np.unique(grid.params[ax].to_numpy())
        inner = vals[1:-1]
        if inner.size == 0:
            raise ValueError(f"axis {ax!r} has no interior node to hold out ({vals.size} values)")
        k = max(1, int(round(float(fraction) * inner.size)))
        test |= np.isin(grid.params[ax].to_numpy(), rng.choice(inner, size=min(k, inner.size), replace=False))
    return test


def correct_direct_oh(regressor, fluxes, *, direct=None, te_low="garnett92") -> pd.DataFrame:
    """Direct-method and regressor-corrected 12 + log O/H of observed fluxes.

    Parameters
    ----------
    regressor : ICFRegressor
        Fitted on a :func:`grid_abundance_table` (target ``log_icf_O``, features among
        :data:`GRID_ICF_FEATURES`).
    fluxes : DataFrame
        Dereddened fluxes (grid line names, with ``Hbeta``).
    direct : DataFrame, optional
        :func:`direct_method_abundances` of ``fluxes`` (computed otherwise).

    Returns
    -------
    DataFrame with ``oh_direct``, ``log_icf_O``, ``oh_corrected`` and ``flag`` (the direct-method
    flag, ``missing_feature`` where a feature the regressor needs is NaN, or ``out_of_domain``
    where the features lie outside the training grid's range: never extrapolated).
    """
    regressor._check_fitted()
    need = sorted({ln for feat in regressor.feature_names_in_ for ln in _FEATURE_LINES.get(str(feat), ())})
    absent = [ln for ln in need if ln not in getattr(fluxes, "columns", ())]
    if absent:
        raise ValueError(f"the regressor's features {list(regressor.feature_names_in_)} need the lines {absent}, "
                         "which the fluxes lack (train a regressor with fewer features= to use without them)")
    if direct is None:
        direct = direct_method_abundances(fluxes, te_low=te_low)
    feats = abundance_features(fluxes, direct)
    names = list(regressor.feature_names_in_)
    unknown = [c for c in names if c not in feats.columns]
    if unknown:
        raise ValueError(f"the regressor needs features {unknown} that abundance_features does not make")
    flag = direct["flag"].to_numpy().astype(object)
    x = feats[names].to_numpy()
    usable = (flag == "ok") & np.isfinite(x).all(axis=1)
    flag[(flag == "ok") & ~usable] = "missing_feature"
    icf = np.full(len(feats), np.nan)
    if usable.any():
        pred, fl = regressor.predict(pd.DataFrame(x[usable], columns=names), return_flags=True)
        icf[usable] = pred
        sub = flag[usable]
        sub[np.asarray(fl) != "ok"] = "out_of_domain"
        flag[usable] = sub
    oh = direct["oh_direct"].to_numpy()
    return pd.DataFrame({"oh_direct": oh, "log_icf_O": icf, "oh_corrected": oh + icf, "flag": flag.astype(str)},
                        index=fluxes.index)


def score_oh(table, *, predictions=None, labels=None, by=None) -> pd.DataFrame:
    """Errors of 12 + log O/H against the grid's truth: direct method, regressor, classical ICFs.

    Parameters
    ----------
    table : DataFrame
        From :func:`grid_abundance_table`.
    predictions : array_like, shape (n,), optional
        Regressor log ICF for every row (NaN where not predicted).
    labels : list of str, optional
        PyNeb ICF labels (default: ``CLASSICAL_ICFS["O"]``).
    by : str, optional
        Group rows by this column (e.g. ``"12 + log O/H"``) and score each group.

    Returns
    -------
    DataFrame: one row per method (and group): ``method, n_valid, valid_fraction, median_abs_dex,
    p95_abs_dex, rmse_dex, bias_dex`` (valid fraction over all rows, including failed direct methods).
    """
    from ._classical_icf import compare_icfs

    if by is not None:
        parts = []
        for key, sub in table.groupby(by, sort=True):
            pred = None if predictions is None else np.asarray(predictions)[table.index.get_indexer(sub.index)]
            parts.append(score_oh(sub, predictions=pred, labels=labels).assign(**{by: key}))
        return pd.concat(parts, ignore_index=True)
    ok = table["flag"].to_numpy() == "ok"
    sub = table[ok]
    pred = None if predictions is None else np.asarray(predictions, dtype=float)[ok]
    rows = compare_icfs(sub, "O", predictions=pred, labels=labels, name="grid regressor") if ok.any() else None
    d = sub["oh_direct"].to_numpy() - sub["oh_true"].to_numpy()
    direct = {"method": "direct (O+ + O++)", "n_valid": int(ok.sum()),
              "median_abs_dex": float(np.median(np.abs(d))) if d.size else np.nan,
              "p95_abs_dex": float(np.percentile(np.abs(d), 95)) if d.size else np.nan,
              "rmse_dex": float(np.sqrt(np.mean(d**2))) if d.size else np.nan,
              "bias_dex": float(np.mean(d)) if d.size else np.nan}
    out = pd.concat([pd.DataFrame([direct]), rows], ignore_index=True) if rows is not None else pd.DataFrame([direct])
    return out.assign(valid_fraction=out["n_valid"] / max(len(table), 1))
