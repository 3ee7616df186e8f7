"""``agnlab demo`` section of the lightcurves workflow (simulated ZTF-like data, no files)."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run_demo"]


def _plot_examples(lc, labels, classes):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 5, figsize=(15, 7.5), constrained_layout=True)
    for ax, cls in zip(axes.ravel(), classes):
        oid = labels.loc[labels["class"] == cls, "object_id"].iloc[0]
        sub = lc.loc[(lc["object_id"] == oid)]
        for band, colour in (("g", "tab:green"), ("r", "tab:red")):
            b = sub.loc[(sub["band"] == band) & sub["detected"]]
            ax.errorbar(b["mjd"], b["mag"], b["mag_err"], fmt=".", color=colour, ms=3, lw=0.5)
            u = sub.loc[(sub["band"] == band) & ~sub["detected"]]
            ax.plot(u["mjd"], u["mag"], "v", color=colour, ms=3, alpha=0.4)
        ax.invert_yaxis()
        ax.set_title(cls, fontsize=9)
    return fig


def _plot_confusion(cm):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    im = ax.imshow(cm.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cm.columns)), cm.columns, rotation=90, fontsize=8)
    ax.set_yticks(range(len(cm.index)), cm.index, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, label="fraction of true class")
    return fig


def _plot_anomalies(rec, top_ids, scores):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(top_ids), figsize=(4 * len(top_ids), 3), constrained_layout=True, squeeze=False)
    for ax, oid in zip(axes[0], top_ids):
        sub = rec.loc[rec["object_id"] == oid]
        for band, colour in (("g", "tab:green"), ("r", "tab:red")):
            b = sub.loc[sub["band"] == band]
            det = b["detected"].to_numpy(bool) if "detected" in b else np.ones(len(b), bool)
            ax.errorbar(b["mjd"][det], b["mag"][det], b["mag_err"][det], fmt=".", color=colour, ms=3, lw=0.5)
            ax.plot(b["mjd"][~det], b["mag"][~det], "v", color=colour, ms=3, alpha=0.4)     # upper limits
            ax.plot(b["mjd"], b["mag_pred"], "-", color=colour, lw=1)
        ax.invert_yaxis()
        r = float(scores.loc[scores["object_id"] == oid, "R"].iloc[0])
        ax.set_title(f"{oid}  R = {r:.1f}", fontsize=9)
    return fig


def run_demo(report, *, seed: int = 0, quick: bool = False) -> None:
    """Simulate, extract features, classify (held-out seed) and rank anomalous AGN; one report section."""
    from . import (
        CLASSES,
        HierarchicalClassifier,
        VRAEAnomalyDetector,
        classification_report,
        extract_features,
        simulate,
    )

    n_train, n_test = (25, 15) if quick else (150, 60)
    sec = report.section("lightcurves", "Light curves: ZTF-like classification and AGN anomalies",
                         intro=(f"Simulated ZTF-like g/r light curves of the 15 ALeRCE classes ({n_train} per class "
                                f"for training, seed {seed}; {n_test} per class held out, seed {seed + 1}); "
                                "features from the light-curve package plus DRW, IAR, MHPS, Villar and a multiband "
                                "period; a balanced hierarchical random forest; a VRAE + Isolation Forest ranking "
                                "AGN/QSO light curves with 2 % injected changing-state events. Small sizes: "
                                "the benchmark (BENCHMARKS.md) gives the full-size numbers."))
    lc, labels = simulate(n_train, seed=seed)
    lct, labt = simulate(n_test, seed=seed + 1)
    sec.figure(_plot_examples(lc, labels, CLASSES), "one simulated light curve per class (triangles: upper limits)")
    t0 = time.perf_counter()
    feats = extract_features(lc, villar=not quick)
    feats_t = extract_features(lct, villar=not quick)
    feat_s = time.perf_counter() - t0
    clf = HierarchicalClassifier(n_estimators=100 if quick else 300, random_state=seed).fit(feats, labels)
    pred = clf.predict(feats_t)
    truth = labt.set_index("object_id").loc[feats_t.index, "class"]
    rep = classification_report(truth.to_numpy(), pred, classes=CLASSES)
    sec.figure(_plot_confusion(rep["bottom"]["confusion"].div(
        rep["bottom"]["confusion"].sum(axis=1).replace(0, 1), axis=0)), "confusion matrix (held-out objects)")
    per = rep["bottom"]["per_class"].reset_index()
    sec.table([{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in per.to_dict("records")],
              "per-class precision, recall, F1 (held-out objects)")
    imp = sorted(zip(clf.feature_names_, clf.feature_importances_), key=lambda x: -x[1])[:15]
    sec.table([{"feature": n, "importance": round(float(v), 4)} for n, v in imp],
              "most used features (fraction of split nodes)")
    # anomalies among AGN/QSO
    n_agn = 60 if quick else 400
    lca, _ = simulate(n_agn, classes=["AGN", "QSO"], seed=seed + 2)
    lcs, labs = simulate(n_agn // 2, classes=["AGN", "QSO"], seed=seed + 3, changing_state_fraction=0.02)
    det = VRAEAnomalyDetector(max_epochs=5 if quick else 30, random_state=seed, on_out_of_domain="nan").fit(lca)
    scores = det.score(lcs).merge(labs[["object_id", "changing_state", "event"]], on="object_id")
    top = scores.head(10)
    sec.table([{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
               for r in top[["object_id", "R", "if_score", "anomalous", "changing_state", "event"]].to_dict("records")],
              "ranked anomaly candidates (highest R first; truth from the simulation)")
    ids = list(top["object_id"].head(3))
    rec = det.reconstruct(lcs.loc[lcs["object_id"].isin(ids)])
    sec.figure(_plot_anomalies(rec, ids, scores),
               "top candidates: light curve (points) and VRAE reconstruction (lines)")
    n_cs = int(scores["changing_state"].sum())
    sec.metrics({"top_macro_f1": rep["top"]["macro_f1"], "bottom_macro_f1": rep["bottom"]["macro_f1"],
                 "features_objects_per_s": (len(feats) + len(feats_t)) / feat_s,
                 "anomaly_recall": float(scores.loc[scores["changing_state"], "anomalous"].mean()) if n_cs else None,
                 "anomaly_flagged_fraction": float(scores["anomalous"].mean())})
    from ._stamp_demo import stamps_demo_section

    stamps_demo_section(report, quick=quick, seed=seed)
