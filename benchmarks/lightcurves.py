"""Benchmark of the lightcurves workflow: feature speed, classifier F1 on another seed, anomaly recall.

    python benchmarks/lightcurves.py [--quick] [--seeds 0 1 2] [--out-dir DIR] [--only anomalies]

Features: objects/s per core (light-curve Rust statistics + DRW/IAR/MHPS/Villar/periodogram), the
Rust statistics and the fast (NFFT) periodogram side by side with plain numpy/scipy implementations of
the same quantities, and the cost against the number of epochs. Classifier: macro F1 (top, bottom) on
simulated objects of another seed, training time, per-class precision/recall/F1 and the confusion
matrix; robustness when the test cadence is LSST-like (g, r only). Anomalies: recall of injected
changing-state events (1 % of AGN/QSO) at <= 2 % flagged, for R (ranked by ``R_z``, R calibrated for the
number of epochs and the photometric error; R itself and the calibration on N alone also reported), the latent
Isolation Forest (on the whitened latent posterior of the forest's own VRAE plus the step and flare contrasts; as
references also with the step contrast alone, on that latent alone and on the reconstruction network's latent means,
the paper's set-up)
and their combination (Fisher's method on the training p-values, the detector's ``combined``), per event kind;
VRAE training time (both networks); as a reference, the recall of the plain scatter of the magnitudes.
``--only anomalies``
reruns one part (into another --out-dir).

Sizes (full run): features 100 objects per class; classifier 400 per class for training and 100 per
class for each test set; anomalies 1000 AGN + 1000 QSO for training and 2500 + 2500 for testing (about
50 events per seed; each of the two VRAEs trains on one thread, at most 20 epochs). About 6 minutes per seed on
2 cores.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
from _common import (
    RESULTS_DIR,
    RunInfo,
    add_common_args,
    fmt_spread,
    log,
    md_table,
    parse_args,
    pin_threads,
    seeds_note,
    write_results,
)
from scipy import stats as sps

from agnlab.lightcurves import (
    HierarchicalClassifier,
    VRAEAnomalyDetector,
    classification_report,
    extract_features,
    fit_r_calibration,
    r_calibrated,
    simulate,
)


def _numpy_stats(groups):
    """Plain numpy/scipy versions of a subset of the Rust statistics (amplitude, std, skew, kurtosis, ...)."""
    out = []
    for t, m, e in groups:
        w = 1 / e ** 2
        wm = np.sum(w * m) / np.sum(w)
        sd = np.std(m, ddof=1)
        delta = np.sqrt(m.size / (m.size - 1)) * (m - wm) / e
        out.append([0.5 * np.ptp(m), sd, sps.skew(m, bias=False), sps.kurtosis(m, bias=False), wm,
                    np.sum(w * (m - wm) ** 2) / (m.size - 1), np.mean(np.abs(delta)) / np.sqrt(np.mean(delta ** 2)),
                    np.median(m), np.median(np.abs(m - np.median(m)))])
    return np.array(out)


def _rust_stats(groups):
    import light_curve as lc

    ext = lc.Extractor(lc.Amplitude(), lc.StandardDeviation(), lc.Skew(), lc.Kurtosis(), lc.WeightedMean(),
                       lc.ReducedChi2(), lc.StetsonK(), lc.Median(), lc.MedianAbsoluteDeviation())
    return ext.many(groups, fill_value=np.nan, sorted=True, check=False)


def _periodogram_groups(groups, k=14, fmax=2 * np.pi / 0.04):
    """The same frequency grid through the light-curve NFFT periodogram and scipy's direct Lomb-Scargle."""
    import light_curve as lc
    from scipy.signal import lombscargle

    freqs = np.linspace(0.0, fmax, 2 ** k + 1)
    fast = lc.Periodogram(freqs=freqs, fast=True, peaks=1)

    def rust():
        return [fast.freq_power(t - t[0], (m - m.mean()) / m.std())[1] for t, m, _ in groups]

    def scipy_ls():
        return [lombscargle(t - t[0], (m - m.mean()) / m.std(), freqs[1:], normalize=True) for t, m, _ in groups]

    return rust, scipy_ls


def bench_features(quick):
    lc, _ = simulate(10 if quick else 100, seed=100)
    n_obj = lc["object_id"].nunique()
    rows = []
    for villar in (True, False):
        t0, c0 = time.perf_counter(), time.process_time()
        extract_features(lc, villar=villar, n_jobs=1)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append({"configuration": f"full set{'' if villar else ' without Villar fit'}", "objects": n_obj,
                     "objects/s (wall, 1 thread)": n_obj / wall, "objects/s per CPU-s": n_obj / cpu})
    det = lc.loc[lc["detected"] & (lc["band"] == "g")]
    groups = [(g["mjd"].to_numpy(), g["mag"].to_numpy(), g["mag_err"].to_numpy()) for _, g in det.groupby("object_id")
              if len(g) >= 4]
    def best_of(fn, n=3):
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return min(out)

    side = []
    reps = {"light-curve (Rust)": best_of(lambda: _rust_stats(groups)),
            "numpy/scipy": best_of(lambda: _numpy_stats(groups))}
    side += [{"quantity": "9 statistics (g band)", "implementation": k, "curves/s": len(groups) / v,
              "speed-up of light-curve": reps["numpy/scipy"] / reps["light-curve (Rust)"]} for k, v in reps.items()]
    pg = groups[: 10 if quick else 30]
    rust, scipy_ls = _periodogram_groups(pg)
    pr = {"light-curve NFFT": best_of(rust, 2), "scipy lombscargle": best_of(scipy_ls, 1)}
    side += [{"quantity": "periodogram, 16385 frequencies to 0.04 d", "implementation": k, "curves/s": len(pg) / v,
              "speed-up of light-curve": pr["scipy lombscargle"] / pr["light-curve NFFT"]} for k, v in pr.items()]
    # cost vs number of epochs
    by_n = []
    qso, _ = simulate(6 if quick else 40, classes=["QSO", "RRL", "E"], seed=101)
    for cap in (20, 50, 100, 200, 300):
        sub = qso.groupby(["object_id", "band"], group_keys=False).head(cap)
        n_ep = sub.loc[sub["detected"]].groupby(["object_id", "band"]).size().mean()
        t0 = time.perf_counter()
        extract_features(sub)
        by_n.append({"epochs per band (at most)": cap, "mean detections per band": n_ep,
                     "ms per object": 1e3 * (time.perf_counter() - t0) / sub["object_id"].nunique()})
    return rows, side, by_n


def bench_classifier(seed, quick):
    n_tr, n_te = (20, 10) if quick else (400, 100)
    lc, lab = simulate(n_tr, seed=1000 + seed)
    lct, labt = simulate(n_te, seed=2000 + seed)
    lcl, labl = simulate(n_te, seed=3000 + seed, survey="lsst")
    f, ft = extract_features(lc, n_jobs=2), extract_features(lct, n_jobs=2)
    fl = extract_features(lcl, bands=("g", "r"), n_jobs=2)
    t0 = time.perf_counter()
    clf = HierarchicalClassifier(n_estimators=100 if quick else 500, n_jobs=2, random_state=seed).fit(f, lab)
    fit_s = time.perf_counter() - t0
    out = {"fit_s": fit_s}
    for key, feats, labels in (("ztf", ft, labt), ("lsst", fl, labl)):
        rep = classification_report(labels.set_index("object_id").loc[feats.index, "class"], clf.predict(feats))
        out[f"{key}_top"] = rep["top"]["macro_f1"]
        out[f"{key}_bottom"] = rep["bottom"]["macro_f1"]
        if key == "ztf":
            out["per_class"] = rep["bottom"]["per_class"]
            out["confusion"] = rep["bottom"]["confusion"]
            out["top_per_class"] = rep["top"]["per_class"]
    return out


def _recall_at(score, truth, frac=0.02):
    k = max(1, int(np.floor(frac * score.size)))
    top = np.argsort(-np.nan_to_num(score, nan=-np.inf))[:k]
    return truth[top].sum() / max(truth.sum(), 1)


def _if_scores_with(det, names, lc, lct, order):
    """The detector's forest refitted (same trees' seed, same networks) on the latent posterior plus the curve
    statistics ``names`` instead of its own: test scores in the order of ``order``."""
    other = copy.copy(det)
    other.if_statistics = tuple(names)
    ids, seqs, _, n_det = other._seqs(lc)
    other.train_stats_ = other._stats_of([seqs[o] for o in ids if o in seqs and n_det.get(o, 0) >= det.min_detections])
    other._iforest = other._make_iforest()
    return other.score(lct).set_index("object_id").loc[order, "if_score"].to_numpy()


def bench_anomalies(seed, quick):
    n_tr, n_te = (60, 150) if quick else (1000, 2500)
    lc, _ = simulate(n_tr, classes=["AGN", "QSO"], seed=4000 + seed)
    lct, labt = simulate(n_te, classes=["AGN", "QSO"], seed=5000 + seed, changing_state_fraction=0.01)
    t0 = time.perf_counter()
    det = VRAEAnomalyDetector(max_epochs=3 if quick else 20, random_state=seed, n_jobs=1,
                              on_out_of_domain="nan").fit(lc)
    fit_s = time.perf_counter() - t0
    s = det.score(lct).merge(labt, on="object_id")
    truth = s["changing_state"].to_numpy(bool)
    r, i = s["R_z"].to_numpy(), s["if_score"].to_numpy()
    comb = s["combined"].to_numpy()
    out = {"fit_s": fit_s, "epochs_run": len(det.training_record_["history"]), "n_test": int(len(s)),
           "n_events": int(truth.sum()), "recall_R": _recall_at(r, truth),
           "recall_R_uncalibrated": _recall_at(s["R"].to_numpy(), truth),
           "recall_IF": _recall_at(i, truth), "recall_both": _recall_at(comb, truth),
           "flagged_fraction_default": float(s["anomalous"].mean()),
           "recall_default": float(s.loc[truth, "anomalous"].mean()) if truth.any() else float("nan")}
    # reference, not a VRAE score: the scatter of the detections about their band medians
    det_t = lct.loc[lct["detected"]]
    rel = det_t["mag"] - det_t.groupby(["object_id", "band"])["mag"].transform("median")
    scatter = rel.groupby(det_t["object_id"]).std().reindex(s["object_id"]).to_numpy()
    out["recall_scatter_reference"] = _recall_at(scatter, truth)
    # reference: the paper's set-up, a forest on the reconstruction network's latent means
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=det.if_n_estimators, random_state=seed).fit(det.transform(lc).to_numpy())
    z_test = det.transform(lct).reindex(s["object_id"]).to_numpy()
    shared = np.full(len(s), np.nan)
    ok = np.isfinite(z_test).all(axis=1)
    shared[ok] = -forest.score_samples(z_test[ok])
    out["recall_IF_shared_mean"] = _recall_at(shared, truth)
    out["err_pred_cap"] = det.training_record_.get("err_pred_cap")
    # references, side by side: the previous defaults (R_z calibrated on N alone; the forest on the latent alone)
    tr = det.score(lc)
    tr = tr.loc[np.isfinite(tr["R"])]
    rz_n = r_calibrated(s["R"], s["n_epochs"], fit_r_calibration(tr["R"], tr["n_epochs"]))
    out["recall_R_calibrated_on_N"] = _recall_at(np.asarray(rz_n), truth)
    for key, names in (("recall_IF_step_only", ("step_contrast",)), ("recall_IF_latent_only", ())):
        out[key] = _recall_at(_if_scores_with(det, names, lc, lct, s["object_id"]), truth)
    # side by side: R from predictions of each season made without it (r_mode option; its recall is R's alone, so
    # the second network's forest is skipped: the combined score joins it with the default forest's scores)
    t0 = time.perf_counter()
    held = VRAEAnomalyDetector(r_mode="held_out_season", if_network="shared", max_epochs=3 if quick else 20,
                               random_state=seed, n_jobs=1, on_out_of_domain="nan").fit(lc)
    out["fit_s_held_out"] = time.perf_counter() - t0
    r_held = held.score(lct).set_index("object_id").loc[s["object_id"], "R_z"].to_numpy()
    p_value = VRAEAnomalyDetector._p_value
    comb_held = -2.0 * (np.log(p_value(held.train_Rz_, r_held)) + np.log(p_value(det.train_if_, i)))
    out["recall_R_held_out"], out["recall_both_held_out"] = _recall_at(r_held, truth), _recall_at(comb_held, truth)
    # per event kind: which events sit in the top 2 % of each score
    k = max(1, int(np.floor(0.02 * r.size)))
    for name, sc in (("R", r), ("IF", i), ("both", comb), ("R_held_out", r_held), ("both_held_out", comb_held)):
        top = np.zeros(r.size, bool)
        top[np.argsort(-np.nan_to_num(sc, nan=-np.inf))[:k]] = True
        for kind in ("turn_on", "turn_off", "flare"):
            ev = truth & (s["event"].to_numpy() == kind)
            out[f"found_{name}_{kind}"] = [int((top & ev).sum()), int(ev.sum())]
    return out


PARTS = ("features", "classifier", "anomalies")


def _feature_section(feat_rows, side, by_n):
    return ["## Feature extraction", md_table(feat_rows, fmt={"objects/s (wall, 1 thread)": "{:.0f}",
                                                              "objects/s per CPU-s": "{:.0f}"}),
            "Target: >= 200 objects/s per core (1 M objects in <= 45 min on 2 cores).",
            "Side by side with plain numpy/scipy implementations of the same quantities:",
            md_table(side, fmt={"curves/s": "{:.0f}", "speed-up of light-curve": "{:.1f}"}),
            "Cost against epochs (QSO, RRL, E; full set, 1 thread):",
            md_table(by_n, fmt={"ms per object": "{:.2f}", "mean detections per band": "{:.0f}"})]


def _classifier_section(cls, seeds):
    return ["## Classifier (held-out seed)", seeds_note(seeds),
            md_table([{"test cadence": k.upper(), "macro F1 top": fmt_spread([c[f"{k}_top"] for c in cls]),
                       "macro F1 bottom (15 classes)": fmt_spread([c[f"{k}_bottom"] for c in cls])}
                      for k in ("ztf", "lsst")]),
            f"Training time: {fmt_spread([c['fit_s'] for c in cls], '.1f')} s.",
            "Targets: macro F1 >= 0.97 (top), >= 0.80 (15 classes); training <= 10 min.",
            "Per class (first seed, ZTF cadence):",
            md_table(cls[0]["per_class"].round(3).reset_index().to_dict("records")),
            md_table(cls[0]["top_per_class"].round(3).reset_index().to_dict("records")),
            "Confusion matrix (first seed, ZTF cadence; rows true, columns predicted):",
            md_table(cls[0]["confusion"].reset_index().to_dict("records"))]


def _pooled(ano, k):
    """Events in the top 2 % over all seeds / all events, with its binomial standard error: with ~50 events
    per seed one seed's recall has a standard error of ~0.06, the pooled figure of sqrt(n_seeds) less."""
    found = sum(a[f"found_{k}_{kind}"][0] for a in ano for kind in ("turn_on", "turn_off", "flare"))
    n = sum(a[f"found_{k}_{kind}"][1] for a in ano for kind in ("turn_on", "turn_off", "flare"))
    p = found / max(n, 1)
    return f"{found}/{n} = {p:.3f} +- {np.sqrt(p * (1 - p) / max(n, 1)):.3f}"


def _anomaly_section(ano, seeds):
    return ["## Anomalies (1 % injected changing-state events among AGN/QSO)", seeds_note(seeds),
            md_table([{"score": label, "recall at 2 % flagged": fmt_spread([a[f"recall_{k}"] for a in ano]),
                       "pooled over seeds": _pooled(ano, k),
                       **{f"{kind} found (all seeds)": "{}/{}".format(*np.sum([a[f"found_{k}_{kind}"] for a in ano],
                                                                             axis=0))
                          for kind in ("turn_on", "turn_off", "flare")}}
                      for k, label in (("R", "R (ranked by R_z)"),
                                       ("IF", "IF (latent of its own VRAE + step and flare contrasts)"),
                                       ("both", "combined"),
                                       ("R_held_out", "option: R from held-out-season predictions (ranked by R_z)"),
                                       ("both_held_out", "option: combined with it")) if f"recall_{k}" in ano[0]]),
            "Target: recall >= 0.8 at <= 2 % flagged for each score; VRAE training <= 20 min.",
            "Option rows: a second reconstruction network trained with `r_mode=\"held_out_season\"` (each training "
            "curve loses one observing season from the encoder's input, the decoder predicts it; R compares every "
            "epoch with the prediction made without its season; same seeds, same calibration and cap), its R_z "
            "joined with the default forest's score for 'combined'"
            + (f"; trained in {fmt_spread([a['fit_s_held_out'] for a in ano], '.1f')} s." if "fit_s_held_out" in ano[0]
               else "."),
            "R is ranked by R_z = (ln R - median) / width, the median and upper-tail width of ln R on the "
            "training curves fitted as planes in ln N (N epochs) and ln(median photometric error) (linear quantile "
            "regressions); calibrated on ln N alone (the previous default), recall is "
            f"{fmt_spread([a['recall_R_calibrated_on_N'] for a in ano])}; ranked by R itself, "
            f"{fmt_spread([a['recall_R_uncalibrated'] for a in ano])} (sparse normal curves fill the top).",
            "R uses the network's predicted error capped at its 0.99 quantile over the training detections "
            f"(caps {[round(a['err_pred_cap'], 3) for a in ano]} mag). The Isolation Forest runs on the whitened "
            "latent posterior (means and log-variances) of a second, small VRAE with energy pooling, plus the step "
            "contrast (the largest change of the band medians across one split time over the object's short-lag "
            "scatter) and the flare contrast (the same for the median inside a 30-270 d window against the median "
            "outside it); with the step contrast alone (the previous default) it finds "
            f"{fmt_spread([a['recall_IF_step_only'] for a in ano])}, on the latent alone "
            f"{fmt_spread([a['recall_IF_latent_only'] for a in ano])}; on the "
            "reconstruction network's latent means (the paper's set-up, reference) "
            f"{fmt_spread([a['recall_IF_shared_mean'] for a in ano])}.",
            "Reference (not a VRAE score): ranking by the standard deviation of the detections about their band "
            f"medians finds {fmt_spread([a['recall_scatter_reference'] for a in ano])} of the events at 2 % "
            "flagged: the injected events stand out mostly by their amplitude.",
            f"Test objects per seed: {[a['n_test'] for a in ano]}; events per seed: {[a['n_events'] for a in ano]}; "
            f"VRAE training (both networks) {fmt_spread([a['fit_s'] for a in ano], '.1f')} s "
            f"({[a['epochs_run'] for a in ano]} epochs); the default thresholds (R > 3 or IF above its 99th "
            f"training percentile) flag {fmt_spread([a['flagged_fraction_default'] for a in ano], '.3f')} of "
            f"objects and find {fmt_spread([a['recall_default'] for a in ano], '.2f')} of the events."]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--only", choices=PARTS, nargs="+", default=list(PARTS),
                    help="run only these parts; a partial run needs an --out-dir other than benchmarks/results "
                         "(default: all of %(default)s)")
    args = parse_args(ap, argv)
    if set(args.only) != set(PARTS) and args.out_dir.resolve() == RESULTS_DIR.resolve():
        ap.error("--only writes a partial results file: give another --out-dir (e.g. /tmp/bench_anomalies)")
    info = RunInfo(argv)
    body, data = [], {}
    with pin_threads(args.threads):
        if "features" in args.only:
            log("features", "lightcurves")
            feat_rows, side, by_n = bench_features(args.quick)
            body += _feature_section(feat_rows, side, by_n)
            data.update({"features": feat_rows, "side_by_side": side, "epochs": by_n})
        cls, ano = [], []
        for seed in args.seeds:
            if "classifier" in args.only:
                log(f"classifier seed {seed}", "lightcurves")
                cls.append(bench_classifier(seed, args.quick))
            if "anomalies" in args.only:
                log(f"anomalies seed {seed}", "lightcurves")
                ano.append(bench_anomalies(seed, args.quick))
    if cls:
        body += _classifier_section(cls, args.seeds)
        data.update({"classifier": [{k: v for k, v in c.items()
                                     if k not in ("per_class", "confusion", "top_per_class")} for c in cls],
                     "per_class_first_seed": cls[0]["per_class"].reset_index().to_dict("records"),
                     "confusion_first_seed": cls[0]["confusion"].to_dict()})
    if ano:
        body += _anomaly_section(ano, args.seeds)
        data["anomalies"] = ano
    write_results("lightcurves", "# lightcurves benchmark", "\n\n".join(body), data, info, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
