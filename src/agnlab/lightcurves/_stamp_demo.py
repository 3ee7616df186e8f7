"""``agnlab demo`` section of the stamp classifier (simulated alerts, no files)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

__all__ = ["stamps_demo_section"]


def _plot_examples(stamps, labels, classes, per_class: int = 2):
    import matplotlib.pyplot as plt

    rows = [(c, i) for c in classes for i in np.flatnonzero(labels == c)[:per_class]]
    fig, axes = plt.subplots(len(rows), 3, figsize=(5.4, 1.8 * len(rows)), constrained_layout=True, squeeze=False)
    for r, (cls, i) in enumerate(rows):
        for k, name in enumerate(("science", "reference", "difference")):
            img = stamps[i, k]
            lo, hi = np.nanpercentile(img, [1, 99.5]) if np.isfinite(img).any() else (0, 1)
            ax = axes[r, k]
            ax.imshow(img, origin="lower", cmap="gray" if k < 2 else "RdBu_r", vmin=lo if k < 2 else -hi,
                      vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
        axes[r, 0].set_ylabel(cls, fontsize=9)
    return fig


def _plot_confusion(cm):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2), constrained_layout=True)
    im = ax.imshow(cm.to_numpy(float), cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(cm.to_numpy(float)):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="white" if v > 0.5 else "black")
    ax.set_xticks(range(len(cm.columns)), cm.columns, rotation=45)
    ax.set_yticks(range(len(cm.index)), cm.index)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, label="fraction of true class")
    return fig


def stamps_demo_section(report, *, quick: bool = False, seed: int = 0) -> None:
    """Simulate alert stamps, train the stamp classifier, show example stamps and the held-out confusion."""
    from ._metrics import confusion_matrix
    from ._stamp_combine import combine_stamp_lightcurve
    from ._stamp_net import StampClassifier
    from ._stamps import STAMP_CLASSES, simulate_stamps

    n_train, n_test, epochs = (16, 8, 2) if quick else (600, 200, 30)
    sec = report.section("stamps", "Alert stamps: first-detection classification",
                         intro=(f"Simulated ZTF-like first-alert cutouts (science, reference, PSF-matched difference; "
                                f"per-epoch seeing, sky, Poisson and read noise) of five classes, {n_train} per class "
                                f"for training (seed {seed}), {n_test} per class held out (seed {seed + 1}); a "
                                "rotation-invariant CNN with the alert metadata, temperature-calibrated. Small "
                                "sizes: the benchmark (BENCHMARKS.md) gives the full-size numbers."))
    X, meta, y = simulate_stamps(n_train, seed=seed)
    Xt, metat, yt = simulate_stamps(n_test, seed=seed + 1)
    sec.figure(_plot_examples(Xt, yt, STAMP_CLASSES), "example alerts per class (held-out set)")
    clf = StampClassifier(max_epochs=epochs, random_state=seed, progress=False).fit(X, meta, y)
    t0 = time.perf_counter()
    proba = clf.predict_proba(Xt, metat)
    dt = time.perf_counter() - t0
    pred = clf.classes_[proba.argmax(axis=1)]
    cm = confusion_matrix(yt, pred, classes=clf.classes_, normalize=True)
    sec.figure(_plot_confusion(cm), "confusion matrix (held-out alerts, rows normalised)")
    recall = {f"recall_{c}": float(cm.loc[c, c]) for c in clf.classes_}
    # how the stamp prior hands over to a light-curve classification as detections accumulate
    i = int(np.flatnonzero(yt == "SN")[0])
    rows = []
    for n in (1, 2, 5, 20):
        lc = {"AGN": 0.1, "SN": 0.8, "VS": 0.1}
        comb = combine_stamp_lightcurve(proba[i:i + 1], pd.DataFrame([lc]), n)
        rows.append({"detections": n, **{c: round(float(comb[c].iloc[0]), 3) for c in STAMP_CLASSES},
                     "stamp_weight": round(float(comb["stamp_weight"].iloc[0]), 3)})
    sec.table(rows, "one SN alert: stamp probabilities merged with a light-curve classification "
                    "(AGN 0.1, SN 0.8, VS 0.1) as detections accumulate")
    sec.metrics({"accuracy": float(np.mean(pred == yt)), **recall,
                 "temperature": float(clf.temperature_), "alerts_per_s": len(yt) / dt,
                 "fit_seconds": clf.training_record_["fit_seconds"]})
