"""Evaluation of the learned spectra models: overall and per-magnitude tables, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import C_KMS, LYA_AA
from ._metrics import dla_metrics, redshift_metrics

__all__ = ["MAG_BINS", "redshift_table", "dla_table", "plot_redshift", "plot_roc", "plot_localisation",
           "plot_examples"]

MAG_BINS = (18.0, 19.0, 20.0, 20.5)


def _mag_bins(mag, bins=MAG_BINS):
    mag = np.asarray(mag, float)
    out = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        last = i == len(bins) - 2
        sel = (mag >= lo) & ((mag <= hi) if last else (mag < hi))
        out.append((f"{lo:g}-{hi:g}", sel))
    return out


def redshift_table(z_true, z_pred, mag, *, name: str = "CNN", bins=MAG_BINS) -> list[dict]:
    """Rows of redshift metrics: all spectra, then per magnitude bin."""
    rows = []
    for label, sel in [("all", np.ones(len(z_true), bool))] + _mag_bins(mag, bins):
        m = redshift_metrics(np.asarray(z_true)[sel], np.asarray(z_pred)[sel])
        rows.append({"method": name, "mag": label, "n": m["n"], "median |dv| km/s": round(m["median_abs_dv_kms"], 1),
                     "NMAD dv km/s": round(m["nmad_dv_kms"], 1),
                     "catastrophic %": round(100 * m["catastrophic_frac"], 2)})
    return rows


def dla_table(true_dlas, pred, spectra_scores, z_qso, mag, *, threshold: float, bins=MAG_BINS, **kw) -> list[dict]:
    """Rows of DLA metrics (AUC, completeness, purity, localisation): all, then per magnitude bin."""
    rows = []
    mag = np.asarray(mag, float)
    zq = np.asarray(z_qso, float)
    scores = np.asarray(spectra_scores, float)
    for label, sel in [("all", np.ones(mag.size, bool))] + _mag_bins(mag, bins):
        idx = np.nonzero(sel)[0]
        remap = -np.ones(mag.size, int)
        remap[idx] = np.arange(idx.size)
        p = pred[np.isin(pred["spec_index"].to_numpy(int), idx)].copy()
        p["spec_index"] = remap[p["spec_index"].to_numpy(int)]
        m = dla_metrics([true_dlas[i] for i in idx], p, zq[idx], spectrum_scores=scores[idx], threshold=threshold,
                        **kw)
        rows.append({"mag": label, "n spectra": m["n_spectra"], "n DLA": m["n_true"],
                     "ROC AUC": round(m["roc_auc"], 4), "completeness %": round(100 * m["completeness"], 1),
                     "purity %": round(100 * m["purity"], 1) if np.isfinite(m["purity"]) else float("nan"),
                     "median |dz|": round(m["median_abs_dz"], 5), "sigma logNHI": round(m["sigma_log_nhi"], 3),
                     "NMAD logNHI": round(m["nmad_log_nhi"], 3)})
    return rows


def plot_redshift(z_true, z_pred, *, z_base=None, base_name="template"):
    """z_pred vs z_true and the velocity-error histogram."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    zt = np.asarray(z_true, float)
    ax[0].plot(zt, z_pred, ".", ms=3, alpha=0.6, label="CNN")
    if z_base is not None:
        ax[0].plot(zt, z_base, "x", ms=3, alpha=0.4, label=base_name)
    lo, hi = np.nanmin(zt), np.nanmax(zt)
    ax[0].plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax[0].set_xlabel("z true")
    ax[0].set_ylabel("z predicted")
    ax[0].legend()
    dv = C_KMS * (np.asarray(z_pred) - zt) / (1 + zt)
    bins = np.linspace(-2000, 2000, 81)
    ax[1].hist(np.clip(dv[np.isfinite(dv)], -2000, 2000), bins=bins, histtype="step", label="CNN")
    if z_base is not None:
        dvb = C_KMS * (np.asarray(z_base) - zt) / (1 + zt)
        ax[1].hist(np.clip(dvb[np.isfinite(dvb)], -2000, 2000), bins=bins, histtype="step", label=base_name)
    ax[1].set_xlabel("dv = c dz / (1+z)  [km/s] (clipped at +-2000)")
    ax[1].legend()
    fig.tight_layout()
    return fig


def plot_roc(metrics: dict):
    """ROC (spectrum level) and completeness vs purity (absorber level)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    fpr, tpr = metrics["roc"]
    ax[0].plot(fpr, tpr)
    ax[0].plot([0, 1], [0, 1], "k:", lw=0.8)
    ax[0].set_xlabel("false positive rate")
    ax[0].set_ylabel("true positive rate")
    ax[0].set_title(f"DLA sight lines: AUC = {metrics['roc_auc']:.4f}")
    thr, comp, pur = metrics["pr"]
    ax[1].plot(comp, pur)
    ax[1].axhline(0.95, color="k", ls=":", lw=0.8)
    ax[1].axvline(0.95, color="k", ls=":", lw=0.8)
    ax[1].set_xlabel("completeness")
    ax[1].set_ylabel("purity")
    ax[1].set_xlim(0, 1.02)
    ax[1].set_ylim(0, 1.02)
    ax[1].set_title("DLA absorbers (log NHI >= 20.3)")
    fig.tight_layout()
    return fig


def plot_localisation(metrics: dict):
    """Residuals of matched DLAs: dz histogram and log NHI predicted vs true."""
    import matplotlib.pyplot as plt

    m = metrics["matched"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    dz = (m["z_pred"] - m["z_true"]).to_numpy()
    ax[0].hist(np.clip(dz, -0.02, 0.02), bins=41)
    ax[0].set_xlabel("z_dla predicted - true (clipped at +-0.02)")
    ax[0].set_title(f"median |dz| = {metrics['median_abs_dz']:.4f}")
    ax[1].plot(m["log_nhi_true"], m["log_nhi_pred"], ".", ms=4)
    ax[1].plot([20.3, 22], [20.3, 22], "k-", lw=0.8)
    ax[1].set_xlabel("log NHI true")
    ax[1].set_ylabel("log NHI predicted")
    ax[1].set_title(f"sigma(log NHI) = {metrics['sigma_log_nhi']:.3f} dex")
    fig.tight_layout()
    return fig


def plot_examples(wave_aa, flux, z_qso, true_dlas, pred: pd.DataFrame, indices, *, z_pred=None):
    """Example spectra with true (green) and found (red dashed) DLAs, Ly-alpha of the QSO marked."""
    import matplotlib.pyplot as plt

    indices = list(indices)
    fig, axes = plt.subplots(len(indices), 1, figsize=(10, 2.3 * len(indices)), squeeze=False)
    wave = np.asarray(wave_aa)
    for ax, i in zip(axes[:, 0], indices):
        zq = float(z_qso[i])
        sel = (wave > 1000 * (1 + zq) - 300) & (wave < 1600 * (1 + zq))
        step = max(int(sel.sum() // 2000), 1)
        ax.plot(wave[sel][::step], flux[i][sel][::step], lw=0.5, color="0.3")
        for zd, nh in zip(*true_dlas[i]):
            ax.axvline(LYA_AA * (1 + zd), color="g", lw=2, alpha=0.5)
        p = pred[pred["spec_index"] == i]
        for zd, nh, c in zip(p["z_dla"], p["log_nhi"], p["confidence"]):
            ax.axvline(LYA_AA * (1 + zd), color="r", ls="--", lw=1)
            ax.text(LYA_AA * (1 + zd), ax.get_ylim()[1] * 0.85, f" {nh:.2f} ({c:.2f})", color="r", fontsize=7)
        title = f"spectrum {i}: z_qso = {zq:.3f}"
        if z_pred is not None:
            title += f", z_pred = {float(z_pred[i]):.3f}"
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("flux")
    axes[-1, 0].set_xlabel("observed wavelength [A]  (green: true DLAs, red dashed: found, log NHI (confidence))")
    fig.tight_layout()
    return fig
