"""Evaluation of the learned spectra models: overall and per-magnitude tables, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..constants import C_KMS, LYA_AA
from ._metrics import dla_false_positives, dla_metrics, redshift_metrics

__all__ = ["MAG_BINS", "dla_table", "evaluate_predictions", "false_positive_table", "plot_examples",
           "plot_localisation", "plot_redshift", "plot_roc", "predict_batches", "redshift_table"]

#: truth columns kept by :func:`predict_batches` (when present)
_TRUTH_KEEP = ("z_qso", "mag", "snr_median", "bal", "balnicity_kms")

#: magnitude bins of the evaluation tables (bins without spectra are left out)
MAG_BINS = (18.0, 19.0, 20.0, 21.0, 21.5, 22.0, 22.5)


def _mag_bins(mag, bins=MAG_BINS):
    mag = np.asarray(mag, float)
    out = []
    for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
        last = i == len(bins) - 2
        sel = (mag >= lo) & ((mag <= hi) if last else (mag < hi))
        if sel.any():
            out.append((f"{lo:g}-{hi:g}", sel))
    return out


def redshift_table(z_true, z_pred, mag, *, name: str = "CNN", bins=MAG_BINS, subset=None) -> list[dict]:
    """Rows of redshift metrics: all spectra, then per magnitude bin (only spectra in ``subset``, if given)."""
    rows = []
    keep = np.ones(len(z_true), bool) if subset is None else np.asarray(subset, bool)
    for label, sel in [("all", np.ones(len(z_true), bool))] + _mag_bins(mag, bins):
        sel = sel & keep
        if not sel.any():
            continue
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
        if not idx.size:
            continue
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


def false_positive_table(fp: dict, mag, bal=None, *, bins=MAG_BINS) -> list[dict]:
    """Rows of DLA false-positive rates (all, then per magnitude bin) from :func:`dla_false_positives`.

    Columns: sub-DLAs in the search range and the percentage with a spurious detection on them; sight
    lines without a DLA (BAL and non-BAL when ``bal`` is given) and the percentage with any detection.
    """
    mag = np.asarray(mag, float)
    bal = np.zeros(mag.size, bool) if bal is None else np.asarray(bal, bool)
    rows = []

    def pct(a):
        return round(100 * float(np.mean(a)), 2) if a.size else float("nan")

    for label, sel in [("all", np.ones(mag.size, bool))] + _mag_bins(mag, bins):
        s_sel = sel[fp["subdla_spec"]]
        nd = fp["no_dla"] & sel
        rows.append({"mag": label, "n sub-DLA": int(s_sel.sum()), "FP on sub-DLAs %": pct(fp["subdla_detected"][s_sel]),
                     "n no-DLA non-BAL": int((nd & ~bal).sum()), "FP no-DLA non-BAL %": pct(fp["fired"][nd & ~bal]),
                     "n no-DLA BAL": int((nd & bal).sum()), "FP no-DLA BAL %": pct(fp["fired"][nd & bal])})
    return rows


def predict_batches(batches, zest, dla, *, curve_threshold: float = 0.02) -> dict:
    """Run both models as a user calls them (``predict``/``detect`` on raw spectra) over batches.

    Parameters
    ----------
    batches : iterable of spectra containers with ``truth`` (e.g. ``QuasarSimulator.iter_chunks``);
        an ``absorbers`` table (``spec_index``, ``z_abs``, ``log_nhi``), when a batch has one, is kept.
    zest : fitted RedshiftEstimator
    dla : fitted DLAFinder
    curve_threshold : float
        Low detection threshold, so that completeness/purity curves can be drawn.

    Returns
    -------
    dict
        ``truth`` (DataFrame of the kept truth columns), ``dlas`` (true DLA lists), ``absorbers``
        (DataFrame or None), ``z`` (redshift prediction table), ``dla_true_z`` / ``dla_pred_z``
        (``(dlas, spectra)`` tables of :meth:`DLAFinder.detect` at the true and at the predicted
        quasar redshifts); ``spec_index`` is global over the batches.
    """
    import warnings

    from ._mlcommon import SpectraWarning
    from ._truth import truth_dlas

    truths, lists, absorbers, zs = [], [], [], []
    found = {"dla_true_z": ([], []), "dla_pred_z": ([], [])}
    offset = 0
    for b in batches:
        n = len(b.flux)
        tr = b.truth
        truths.append(pd.DataFrame({c: tr[c].to_numpy() for c in _TRUTH_KEEP if c in tr.columns}))
        lists += truth_dlas(tr, n)
        ab = getattr(b, "absorbers", None)
        if ab is not None and len(ab):
            ab = ab.copy()
            ab["spec_index"] = ab["spec_index"].to_numpy(int) + offset
            absorbers.append(ab)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SpectraWarning)
            pz = zest.predict(b)
            for key, zq in (("dla_true_z", tr["z_qso"].to_numpy(float)), ("dla_pred_z", pz)):
                dl, sp = dla.detect(b, z_qso=zq, threshold=curve_threshold)
                dl = dl.copy()
                dl["spec_index"] = dl["spec_index"].to_numpy(int) + offset
                found[key][0].append(dl)
                found[key][1].append(sp)
        zs.append(pz)
        offset += n
    cat = lambda parts: pd.concat(parts, ignore_index=True)  # noqa: E731
    return {"truth": cat(truths), "dlas": lists, "absorbers": cat(absorbers) if absorbers else None,
            "z": cat(zs), **{k: (cat(v[0]), cat(v[1])) for k, v in found.items()}}


def evaluate_predictions(res: dict, *, threshold: float, bins=MAG_BINS) -> dict:
    """Headline metrics and tables of :func:`predict_batches` output.

    Returns
    -------
    dict
        ``redshift`` (:func:`redshift_metrics`, all spectra), ``redshift_bal`` / ``redshift_nonbal``
        (when the truth has ``bal``), ``redshift_flags`` (counts), ``dla`` (:func:`dla_metrics`, DLAs
        searched at the true redshift, without curves), ``dla_pred_z`` (same, searched at the predicted
        redshift), and tables ``redshift_rows``, ``dla_rows``, ``fp_rows``.
    """
    tr = res["truth"]
    zt = tr["z_qso"].to_numpy(float)
    mag = tr["mag"].to_numpy(float)
    bal = tr["bal"].to_numpy(bool) if "bal" in tr.columns else None
    zp = res["z"]["z_pred"].to_numpy(float)
    out = {"n": int(zt.size), "redshift": redshift_metrics(zt, zp),
           "redshift_flags": res["z"]["flag"].value_counts().to_dict()}
    rows = redshift_table(zt, zp, mag, name="all quasars", bins=bins)
    if bal is not None:
        out["n_bal"] = int(bal.sum())
        for name, sel in (("redshift_bal", bal), ("redshift_nonbal", ~bal)):
            if sel.any():
                out[name] = redshift_metrics(zt[sel], zp[sel])
        rows += redshift_table(zt, zp, mag, name="BAL quasars", bins=bins, subset=bal)
        rows += redshift_table(zt, zp, mag, name="non-BAL quasars", bins=bins, subset=~bal)
    out["redshift_rows"] = rows
    drop = ("roc", "pr", "matched")
    for key, label in (("dla_true_z", "dla"), ("dla_pred_z", "dla_pred_z")):
        dl, sp = res[key]
        m = dla_metrics(res["dlas"], dl, zt, spectrum_scores=sp["score"].to_numpy(), threshold=threshold)
        out[label] = {k: v for k, v in m.items() if k not in drop}
    dl, sp = res["dla_true_z"]
    out["dla_rows"] = dla_table(res["dlas"], dl, sp["score"].to_numpy(), zt, mag, threshold=threshold, bins=bins)
    ab = res.get("absorbers")
    fp = dla_false_positives(res["dlas"], dl, zt, threshold=threshold,
                             subdlas=None if ab is None else ab.rename(columns={"z_dla": "z_abs"}))
    out["fp_rows"] = false_positive_table(fp, mag, bal, bins=bins)
    return out


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
