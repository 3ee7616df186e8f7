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
    """Add the "spectra" section: the shipped default models on freshly simulated held-out spectra.

    The models are those of :meth:`RedshiftEstimator.pretrained` / :meth:`DLAFinder.pretrained`
    (trained by ``scripts/train_spectra_models.py``; their cards give the training set); the test
    spectra use another seed than their training and held-out sets.
    """
    from ._pretrained import pretrained_card

    n_test = 200 if quick else 600
    t0 = time.perf_counter()
    test = QuasarSimulator(seed=seed + 2).simulate(n_test, n_jobs=1)
    t_sim = time.perf_counter() - t0
    zest, dla = RedshiftEstimator.pretrained(), DLAFinder.pretrained()
    cards = {name: pretrained_card(name) for name in ("RedshiftEstimator", "DLAFinder")}
    t = time.perf_counter()
    zt = test.truth["z_qso"].to_numpy()
    mag = test.truth["mag"].to_numpy()
    pz = zest.predict(test.wave_aa, test.flux, test.ivar)
    # DLAs searched with the *estimated* redshifts, as on real data; low threshold for the curves
    dl, sp = dla.detect(test.wave_aa, test.flux, test.ivar, z_qso=pz["z_pred"].to_numpy(), threshold=0.02)
    lists = truth_dlas(test.truth, len(zt))
    m = dla_metrics(lists, dl, zt, spectrum_scores=sp["score"].to_numpy(), threshold=dla.threshold)
    rz = redshift_metrics(zt, pz["z_pred"])

    t_pred = time.perf_counter() - t
    sim = QuasarSimulator()
    sec = report.section(
        "spectra", "Quasar spectra: redshifts and DLAs",
        intro=(f"The shipped default models (RedshiftEstimator.pretrained(), DLAFinder.pretrained(); trained on "
               f"{cards['RedshiftEstimator']['training']['n_train']} and {cards['DLAFinder']['training']['n_train']} "
               f"simulated spectra, see src/agnlab/spectra/models/MODEL_CARD.md) on {n_test} held-out 4MOST-like "
               f"quasar spectra simulated now (seed {seed + 2}; 3600-9600 A, 0.25 A pixels; z {sim.z_range[0]:g}-"
               f"{sim.z_range[1]:g}, r {sim.mag_range[0]:g}-{sim.mag_range[1]:g}; forest, Lyman-limit systems, "
               f"sub-DLAs and DLAs from one measured column-density distribution, metal lines, "
               f"{sim.bal_fraction:.0%} BAL quasars, proximate absorbers, sky-subtraction residuals). DLAs are "
               "searched at the CNN's own redshifts, as on real data. Figures on larger sets, the independent "
               "evaluation generator and the targets: benchmarks/results/spectra.md."))
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
        "n_test": n_test, "simulate_seconds": round(t_sim, 2), "predict_seconds": round(t_pred, 2),
        "models": {name: card.get("file") for name, card in cards.items()},
        "redshift_median_abs_dv_kms": rz["median_abs_dv_kms"], "redshift_catastrophic_frac": rz["catastrophic_frac"],
        "dla_roc_auc": m["roc_auc"], "dla_completeness": m["completeness"], "dla_purity": m["purity"],
        "dla_median_abs_dz": m["median_abs_dz"], "dla_sigma_log_nhi": m["sigma_log_nhi"],
        "n_true_dla": m["n_true"], "quick": bool(quick),
    })
