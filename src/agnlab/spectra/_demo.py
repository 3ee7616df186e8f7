"""`agnlab demo` section "spectra": train the redshift CNN and the DLA finder on simulated spectra."""

from __future__ import annotations

import time

from ._dla import DLAFinder
from ._metrics import dla_metrics, redshift_metrics
from ._ml_eval import dla_table, plot_examples, plot_localisation, plot_redshift, plot_roc, redshift_table
from ._redshift_cnn import RedshiftEstimator
from ._simulate import QuasarSimulator
from ._truth import truth_dlas

__all__ = ["run_demo"]


def run_demo(report, *, seed: int = 0, quick: bool = False) -> None:
    """Add the "spectra" section: simulate, train both models at demo time, evaluate on held-out spectra.

    Nothing is downloaded and nothing pretrained is shipped: the models are trained here on
    freshly simulated spectra (tiny training when ``quick``; the benchmark trains the full models).
    """
    n_train, n_test, z_epochs, d_epochs = (1000, 200, 6, 6) if quick else (2000, 500, 15, 15)
    t0 = time.perf_counter()
    train = QuasarSimulator(seed=seed + 1, dla_rate_per_dz=1.0).simulate(n_train, n_jobs=1)
    test = QuasarSimulator(seed=seed + 2).simulate(n_test, n_jobs=1)
    t_sim = time.perf_counter() - t0

    zest = RedshiftEstimator(max_epochs=z_epochs, patience=3, random_state=seed)
    t = time.perf_counter()
    zest.fit(train.wave_aa, train.flux, train.ivar, train.truth)
    t_z = time.perf_counter() - t
    dla = DLAFinder(max_epochs=d_epochs, patience=3, random_state=seed)
    t = time.perf_counter()
    dla.fit(train.wave_aa, train.flux, train.ivar, train.truth)
    t_d = time.perf_counter() - t
    del train

    zt = test.truth["z_qso"].to_numpy()
    mag = test.truth["mag"].to_numpy()
    pz = zest.predict(test.wave_aa, test.flux, test.ivar)
    # DLAs searched with the *estimated* redshifts, as on real data; low threshold for the curves
    dl, sp = dla.detect(test.wave_aa, test.flux, test.ivar, z_qso=pz["z_pred"].to_numpy(), threshold=0.02)
    lists = truth_dlas(test.truth, len(zt))
    m = dla_metrics(lists, dl, zt, spectrum_scores=sp["score"].to_numpy(), threshold=dla.threshold)
    rz = redshift_metrics(zt, pz["z_pred"])

    size = "tiny (quick mode)" if quick else "small"
    sec = report.section(
        "spectra", "Quasar spectra: redshifts and DLAs",
        intro=(f"{n_train} 4MOST-like quasar spectra (3600-9600 A, 0.25 A pixels; z 2-4, mag 18-20.5; DLA "
               f"incidence raised to 1 per unit z) were simulated and used to train, at demo time, a {size} "
               f"redshift CNN ({z_epochs} epochs at most) and DLA window CNN ({d_epochs} epochs). They are evaluated "
               f"on {n_test} held-out spectra (other seed, default DLA incidence 0.2). DLAs are searched using the "
               "CNN's own redshifts. Nothing pretrained is shipped or downloaded; the full-size training and the "
               "targets are in benchmarks/results/spectra.md, so these numbers understate the trained models."))
    found = dl[dl["confidence"] >= dla.threshold]
    with_dla = [i for i in range(len(zt)) if len(lists[i][0])][:2]
    without = [i for i in range(len(zt)) if not len(lists[i][0])][:1]
    sec.figure(plot_examples(test.wave_aa, test.flux, zt, lists, found, with_dla + without,
                             z_pred=pz["z_pred"].to_numpy()),
               "Example held-out spectra: true DLAs (green) and DLAs found (red dashed; log NHI and confidence).")
    sec.figure(plot_redshift(zt, pz["z_pred"].to_numpy()), "Redshift CNN: predicted vs true z, velocity errors.")
    sec.figure(plot_roc(m), "DLA detection: sight-line ROC curve and absorber completeness vs purity.")
    if len(m["matched"]):
        sec.figure(plot_localisation(m), "DLA localisation residuals of matched absorbers.")
    sec.table(redshift_table(zt, pz["z_pred"], mag), "Redshift errors by magnitude.")
    sec.table(dla_table(lists, dl, sp["score"].to_numpy(), zt, mag, threshold=dla.threshold),
              f"DLA metrics by magnitude (threshold {dla.threshold}).")
    sec.metrics({
        "n_train": n_train, "n_test": n_test, "simulate_seconds": round(t_sim, 2),
        "redshift_train_seconds": round(t_z, 2), "dla_train_seconds": round(t_d, 2),
        "redshift_median_abs_dv_kms": rz["median_abs_dv_kms"], "redshift_catastrophic_frac": rz["catastrophic_frac"],
        "dla_roc_auc": m["roc_auc"], "dla_completeness": m["completeness"], "dla_purity": m["purity"],
        "dla_median_abs_dz": m["median_abs_dz"], "dla_sigma_log_nhi": m["sigma_log_nhi"],
        "n_true_dla": m["n_true"], "quick": bool(quick),
    })
