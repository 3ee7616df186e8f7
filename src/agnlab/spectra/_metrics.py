"""Evaluation metrics of the learned spectra models: redshift velocity errors, DLA detection and localisation.

Residual summaries come from :func:`agnlab.metrics.residual_summary` (one set of keys across agnlab); the
spectra-specific headline keys (``median_abs_dv_kms``, ``median_abs_dz``, ...) are read from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import C_KMS, LYA_AA, LYB_AA
from ..metrics import residual_summary

__all__ = ["dla_false_positives", "dla_metrics", "dla_search_range", "redshift_metrics"]


def redshift_metrics(z_true, z_pred, *, catastrophic_kms: float = 3000.0) -> dict:
    """Velocity errors ``dv = c (z_pred - z_true) / (1 + z_true)``.

    Returns
    -------
    dict
        ``n``, ``median_abs_dv_kms``, ``nmad_dv_kms``, ``mean_abs_frac_err`` (|dz|/z),
        ``catastrophic_frac`` (|dv| > ``catastrophic_kms``; NaN predictions count as failures),
        ``dv_summary_kms`` (:func:`agnlab.metrics.residual_summary` of ``dv``; the
        median and NMAD above are read from it).
    """
    zt = np.asarray(z_true, float)
    zp = np.asarray(z_pred, float)
    dv = C_KMS * (zp - zt) / (1 + zt)
    ok = np.isfinite(dv)
    adv = np.abs(dv[ok])
    summary = residual_summary(dv)
    return {"n": int(zt.size), "median_abs_dv_kms": summary["median"], "nmad_dv_kms": summary["nmad"],
            "dv_summary_kms": summary,
            "mean_abs_frac_err": float(np.mean(np.abs(zp[ok] - zt[ok]) / zt[ok])) if ok.any() else float("nan"),
            "catastrophic_frac": float((np.sum(adv > catastrophic_kms) + np.sum(~ok)) / max(zt.size, 1))}


def dla_search_range(z_qso, *, wave_min_aa: float = 3600.0, margin_aa: float = 10.0):
    """Absorber redshifts searched for each quasar: Lyman-alpha between rest Ly-beta and Ly-alpha.

    Parameters
    ----------
    z_qso : array_like (n,)
    wave_min_aa : float
        Blue end of the observed spectra; absorbers whose Ly-alpha falls
        within ``margin_aa`` of it are not searched.

    Returns
    -------
    z_lo, z_hi : ndarray (n,)
    """
    zq = np.asarray(z_qso, float)
    z_lo = np.maximum((1 + zq) * LYB_AA / LYA_AA - 1, (wave_min_aa + margin_aa) / LYA_AA - 1)
    return z_lo, zq.copy()


def dla_metrics(true_dlas, pred: pd.DataFrame, z_qso, *, spectrum_scores=None, min_log_nhi: float = 20.3,
                match_dz: float = 0.02, threshold: float = 0.5, purity_target: float = 0.95,
                wave_min_aa: float = 3600.0) -> dict:
    """Detection and localisation metrics of DLA predictions against the truth.

    Only true DLAs with ``log_nhi >= min_log_nhi`` inside the search range of
    :func:`dla_search_range` count. Predictions are matched greedily (highest
    confidence first) to the nearest unmatched true DLA within ``match_dz``.

    Parameters
    ----------
    true_dlas : list of (z_dla (k,), log_nhi (k,))
    pred : DataFrame with ``spec_index``, ``z_dla``, ``log_nhi``, ``confidence``
        (ideally with a low threshold so that curves can be drawn).
    z_qso : array_like (n,)
        Quasar redshifts defining the search range (true ones).
    spectrum_scores : array_like (n,), optional
        Per-spectrum DLA score for the ROC curve (default: max confidence).
    threshold : float
        Confidence cut for the headline completeness/purity.

    Returns
    -------
    dict
        ``roc_auc``, ``roc`` (fpr, tpr arrays), ``completeness``, ``purity``
        (at ``threshold``), ``best_threshold`` / ``completeness_at_purity``
        (highest completeness with purity >= ``purity_target``), ``pr``
        (thresholds, completeness, purity), ``median_abs_dz``,
        ``sigma_log_nhi`` (std), ``nmad_log_nhi``, ``bias_log_nhi`` (mean),
        ``dz_summary`` / ``log_nhi_summary`` (:func:`agnlab.metrics.residual_summary`
        of the matched residuals at ``threshold``; the headline numbers above
        are read from them), ``matched`` (DataFrame of matched pairs),
        ``n_true``, ``n_spec_pos``.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    zq = np.asarray(z_qso, float)
    n = zq.size
    z_lo, z_hi = dla_search_range(zq, wave_min_aa=wave_min_aa)
    trues = []
    for i, (zd, nh) in enumerate(true_dlas):
        zd, nh = np.asarray(zd, float), np.asarray(nh, float)
        keep = (nh >= min_log_nhi) & (zd >= z_lo[i]) & (zd <= z_hi[i])
        trues.append((zd[keep], nh[keep]))
    n_true = int(sum(t[0].size for t in trues))
    has = np.array([t[0].size > 0 for t in trues])
    pred = pred.sort_values("confidence", ascending=False, kind="stable")
    if spectrum_scores is None:
        spectrum_scores = np.zeros(n)
        if len(pred):
            g = pred.groupby("spec_index")["confidence"].max()
            spectrum_scores[g.index.to_numpy(int)] = g.to_numpy()
    spectrum_scores = np.asarray(spectrum_scores, float)
    if has.any() and (~has).any():
        auc = float(roc_auc_score(has, spectrum_scores))
        fpr, tpr, _ = roc_curve(has, spectrum_scores)
    else:
        auc, fpr, tpr = float("nan"), np.zeros(0), np.zeros(0)
    used = [np.zeros(t[0].size, bool) for t in trues]
    is_match = np.zeros(len(pred), bool)
    rows = []
    for j, (si, zp, nhp, conf) in enumerate(zip(pred["spec_index"].to_numpy(int), pred["z_dla"].to_numpy(float),
                                                 pred["log_nhi"].to_numpy(float), pred["confidence"].to_numpy(float))):
        zt, nt = trues[si]
        if zt.size == 0:
            continue
        d = np.abs(zt - zp)
        d[used[si]] = np.inf
        k = int(np.argmin(d))
        if d[k] <= match_dz:
            used[si][k] = True
            is_match[j] = True
            rows.append({"spec_index": si, "z_true": zt[k], "z_pred": zp, "log_nhi_true": nt[k],
                         "log_nhi_pred": nhp, "confidence": conf})
    conf_sorted = pred["confidence"].to_numpy(float)
    cum_match = np.cumsum(is_match)
    n_pred_at = np.arange(1, len(pred) + 1)
    comp_curve = cum_match / max(n_true, 1)
    pur_curve = cum_match / n_pred_at
    at = int(np.searchsorted(-conf_sorted, -threshold, side="right"))
    comp = float(cum_match[at - 1] / max(n_true, 1)) if at > 0 else 0.0
    pur = float(cum_match[at - 1] / at) if at > 0 else float("nan")
    ok = pur_curve >= purity_target
    if ok.any():
        best = int(np.argmax(np.where(ok, comp_curve, -1)))
        best_thr, comp_at = float(conf_sorted[best]), float(comp_curve[best])
    else:
        best_thr, comp_at = float("nan"), 0.0
    matched = pd.DataFrame(rows, columns=["spec_index", "z_true", "z_pred", "log_nhi_true", "log_nhi_pred",
                                          "confidence"])
    m_thr = matched[matched["confidence"] >= threshold]
    dz = residual_summary((m_thr["z_pred"] - m_thr["z_true"]).to_numpy())
    dn_res = (m_thr["log_nhi_pred"] - m_thr["log_nhi_true"]).to_numpy()
    dn = residual_summary(dn_res)
    return {
        "n_spectra": int(n), "n_true": n_true, "n_spec_pos": int(has.sum()), "roc_auc": auc,
        "roc": (fpr, tpr), "threshold": float(threshold), "completeness": comp, "purity": pur,
        "best_threshold": best_thr, "completeness_at_purity": comp_at, "purity_target": purity_target,
        "pr": (conf_sorted, comp_curve, pur_curve),
        "median_abs_dz": dz["median"], "sigma_log_nhi": dn["std"], "nmad_log_nhi": dn["nmad"],
        "bias_log_nhi": float(np.mean(dn_res)) if dn_res.size else float("nan"),
        "dz_summary": dz, "log_nhi_summary": dn,
        "matched": matched,
    }


def dla_false_positives(true_dlas, pred: pd.DataFrame, z_qso, *, subdlas=None, threshold: float = 0.5,
                        match_dz: float = 0.02, min_log_nhi: float = 20.3, sub_log_nhi: float = 19.0,
                        wave_min_aa: float = 3600.0) -> dict:
    """Where the DLA finder fires without a DLA: on sub-DLAs, and per sight line without a DLA.

    Parameters
    ----------
    true_dlas : list of (z_dla (k,), log_nhi (k,)), one per spectrum
    pred : DataFrame with ``spec_index``, ``z_dla``, ``confidence``
    z_qso : array_like (n,)
        True quasar redshifts (define the search range of :func:`dla_search_range`).
    subdlas : DataFrame, optional
        Absorbers with ``spec_index``, ``z_abs``, ``log_nhi``; those with ``sub_log_nhi <= log_nhi <
        min_log_nhi`` inside the search range are the sub-DLAs.
    threshold : float
        Confidence at which a prediction counts as a detection.

    Returns
    -------
    dict
        ``subdla_spec`` (int (m,), spectrum of each sub-DLA), ``subdla_log_nhi`` (m,),
        ``subdla_detected`` (bool (m,): a detection within ``match_dz`` of the sub-DLA and no true DLA
        within ``match_dz`` of that detection), ``no_dla`` (bool (n,): sight line without a DLA in its
        search range), ``fired`` (bool (n,): at least one detection).
    """
    zq = np.asarray(z_qso, float)
    n = zq.size
    z_lo, z_hi = dla_search_range(zq, wave_min_aa=wave_min_aa)
    p = pred[pred["confidence"].to_numpy(float) >= threshold]
    ps = p["spec_index"].to_numpy(int)
    pz = p["z_dla"].to_numpy(float)
    no_dla = np.ones(n, bool)
    for i, (zd, nh) in enumerate(true_dlas):
        zd, nh = np.asarray(zd, float), np.asarray(nh, float)
        no_dla[i] = not np.any((nh >= min_log_nhi) & (zd >= z_lo[i]) & (zd <= z_hi[i]))
    fired = np.bincount(ps, minlength=n)[:n] > 0
    # detections not explained by a true DLA
    spurious = np.ones(ps.size, bool)
    for j, (i, z) in enumerate(zip(ps, pz)):
        zd, nh = (np.asarray(a, float) for a in true_dlas[i])
        spurious[j] = not np.any((nh >= min_log_nhi) & (np.abs(zd - z) <= match_dz))
    s_spec, s_nhi, s_hit = np.zeros(0, int), np.zeros(0), np.zeros(0, bool)
    if subdlas is not None and len(subdlas):
        si = subdlas["spec_index"].to_numpy(int)
        sz = subdlas["z_abs"].to_numpy(float)
        sn = subdlas["log_nhi"].to_numpy(float)
        keep = (sn >= sub_log_nhi) & (sn < min_log_nhi) & (si < n)
        keep[keep] &= (sz[keep] >= z_lo[si[keep]]) & (sz[keep] <= z_hi[si[keep]])
        s_spec, s_nhi, sz = si[keep], sn[keep], sz[keep]
        s_hit = np.array([np.any(spurious & (ps == i) & (np.abs(pz - z) <= match_dz)) for i, z in zip(s_spec, sz)],
                         bool)
    return {"subdla_spec": s_spec, "subdla_log_nhi": s_nhi, "subdla_detected": s_hit, "no_dla": no_dla,
            "fired": fired}
