"""Benchmark of the first-detection stamp classifier: held-out accuracy, per-class recall, calibration, speed.

    python benchmarks/stamps.py [--quick] [--seeds 0 1 2] [--out-dir DIR] [--n-train 4000] [--n-test 300]
                                [--max-epochs 60] [--n-networks N]

Per seed ``s``: ``simulate_stamps(n_train, seed=s)`` for training, ``simulate_stamps(n_test, seed=1000 + s)``
held out (another seed: other skies, seeing, hosts, artefacts). Reported: accuracy and per-class recall
(median and range over seeds), the confusion matrix summed over seeds, bogus recall per artefact kind,
expected calibration error before/after the temperature, side by side: 1 / 4 / 8 averaged views
(rotation invariance at prediction) and the metadata withheld at prediction (imputed). Speed: training
wall and CPU seconds (one thread), inference alerts per CPU second on one thread (preprocessing included)
and the wall time on 2 threads for 1 M alerts extrapolated.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import (
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

from agnlab.lightcurves import (
    STAMP_CLASSES,
    STAMP_METADATA_COLUMNS,
    StampClassifier,
    confusion_matrix,
    simulate_stamps,
)


def _ece(p, y_idx, bins=10):
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y_idx
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            e += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(e)


def run_seed(seed, n_train, n_test, max_epochs, n_networks):
    t0 = time.perf_counter()
    X, meta, y = simulate_stamps(n_train, seed=seed)
    Xt, mt, yt = simulate_stamps(n_test, seed=1000 + seed)
    sim_s = time.perf_counter() - t0
    log(f"seed {seed}: simulated {len(y)} + {len(yt)} alerts in {sim_s:.0f} s; training", "stamps")
    c0, w0 = time.process_time(), time.perf_counter()
    clf = StampClassifier(max_epochs=max_epochs, n_networks=n_networks, random_state=seed, n_jobs=1,
                          progress=False).fit(X, meta, y)
    train_cpu, train_wall = time.process_time() - c0, time.perf_counter() - w0
    classes = list(clf.classes_)
    yi = np.array([classes.index(c) for c in yt])
    c0 = time.process_time()
    p = clf.predict_proba(Xt, mt)
    infer_cpu = time.process_time() - c0
    pred = clf.classes_[p.argmax(axis=1)]
    cm = confusion_matrix(yt, pred, classes=classes)
    out = {"seed": seed, "n_train": len(y), "n_test": len(yt), "simulate_s": sim_s, "train_wall_s": train_wall,
           "train_cpu_s": train_cpu, "epochs": len(clf.training_record_["history"]),
           "best_epoch": clf.training_record_["best_epoch"], "temperature": clf.temperature_,
           "accuracy": float(np.mean(pred == yt)), "confusion": cm.to_numpy().tolist(),
           "alerts_per_cpu_s": len(yt) / infer_cpu}
    for c in classes:
        out[f"recall:{c}"] = float(cm.loc[c, c] / cm.loc[c].sum())
    # diagnostic: favour one class of a confused pair by a log-probability offset; if accuracy stays flat
    # while the two recalls trade, the pair is ambiguous in the inputs (not a default: argmax is used above)
    logp = np.log(np.clip(p, 1e-12, None))
    for a, b in (("AGN", "VS"), ("SN", "asteroid")):
        for off in (0.25, 0.5, 1.0):
            shifted = logp.copy()
            shifted[:, classes.index(a)] += off
            pr = clf.classes_[shifted.argmax(axis=1)]
            out[f"tradeoff:{a} +{off}"] = (float(np.mean(pr[yt == a] == a)), float(np.mean(pr[yt == b] == b)),
                                           float(np.mean(pr == yt)))
    subs = mt.attrs["subclass"]
    for c in ("AGN", "SN", "asteroid"):
        for k in sorted(set(subs[yt == c])):
            sel = (yt == c) & (subs == k)
            out[f"subclass:{c} {k}"] = float(np.mean(pred[sel] == c))
            out[f"subclass_n:{c} {k}"] = int(sel.sum())
            errs = {q: int(np.sum(pred[sel] == q)) for q in classes if q != c}
            worst = max(errs, key=errs.get)
            out[f"subclass_err:{c} {k}"] = f"{worst} ({errs[worst]})" if errs[worst] else "none"
    kinds = mt.attrs["bogus_kind"]
    for k in sorted(set(kinds[yt == "bogus"])):
        sel = (yt == "bogus") & (kinds == k)
        out[f"bogus:{k}"] = float(np.mean(pred[sel] == "bogus"))
    out["ece:calibrated"] = _ece(p, yi)
    T = clf.temperature_
    clf.temperature_ = 1.0
    out["ece:uncalibrated"] = _ece(clf.predict_proba(Xt, mt), yi)
    clf.temperature_ = T
    out["log_loss"] = float(-np.mean(np.log(np.clip(p[np.arange(len(yi)), yi], 1e-12, None))))
    for views in (1, 8):
        clf.set_params(test_rotations=views)
        out[f"accuracy:views={views}"] = float(np.mean(clf.classes_[clf.predict_proba(Xt, mt).argmax(1)] == yt))
    clf.set_params(test_rotations=4)
    out["accuracy:views=4"] = out["accuracy"]
    out["accuracy:no metadata at prediction"] = float(np.mean(clf.predict(Xt, None) == yt))
    return out, clf, (Xt, mt)


def speed(clf, Xt, mt, n_alerts):
    reps = int(np.ceil(n_alerts / len(Xt)))
    X = np.concatenate([Xt] * reps)[:n_alerts]
    M = mt.iloc[np.arange(n_alerts) % len(mt)].reset_index(drop=True)
    res = {}
    for threads in (1, 2):
        clf.set_params(n_jobs=threads)
        best_c = best_w = np.inf
        for _ in range(2):
            c0, w0 = time.process_time(), time.perf_counter()
            clf.predict_proba(X, M)
            best_c, best_w = min(best_c, time.process_time() - c0), min(best_w, time.perf_counter() - w0)
        res[threads] = {"cpu_s": best_c, "wall_s": best_w}
    return {"alerts": n_alerts, "alerts_per_cpu_s_1thread": n_alerts / res[1]["cpu_s"],
            "alerts_per_wall_s_1thread": n_alerts / res[1]["wall_s"],
            "alerts_per_wall_s_2threads": n_alerts / res[2]["wall_s"],
            "1M_alerts_minutes_2cores": 1e6 / (2 * n_alerts / res[1]["cpu_s"]) / 60}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--n-train", type=int, default=None, help="training alerts per class (default: 4000; 60 quick)")
    ap.add_argument("--n-test", type=int, default=None, help="held-out alerts per class (default: 300; 20 quick)")
    ap.add_argument("--max-epochs", type=int, default=None, help="training epochs (default: 60; 3 quick)")
    ap.add_argument("--n-networks", type=int, default=None,
                    help="networks averaged (StampClassifier n_networks; default: the estimator's)")
    args = parse_args(ap, argv)
    info = RunInfo(argv)
    n_train = args.n_train or (60 if args.quick else 4000)
    n_test = args.n_test or (20 if args.quick else 300)
    epochs = args.max_epochs or (3 if args.quick else 60)
    n_networks = args.n_networks or StampClassifier().n_networks
    per_seed = []
    with pin_threads(args.threads):
        for seed in args.seeds:
            res, clf, (Xt, mt) = run_seed(seed, n_train, n_test, epochs, n_networks)
            log(f"seed {seed}: accuracy {res['accuracy']:.3f}, train {res['train_wall_s']:.0f} s", "stamps")
            per_seed.append(res)
        sp = speed(clf, Xt, mt, 2000 if args.quick else 10000)
    classes = list(STAMP_CLASSES)
    acc = [r["accuracy"] for r in per_seed]
    rec = {c: [r[f"recall:{c}"] for r in per_seed] for c in classes}
    worst = float(np.median([min(r[f"recall:{c}"] for c in classes) for r in per_seed]))
    train_max = max(r["train_wall_s"] for r in per_seed)
    targets = [
        {"target": "accuracy >= 0.95 (held-out seed)", "measured": fmt_spread(acc),
         "met": bool(np.median(acc) >= 0.95)},
        {"target": "every class recall >= 0.90", "measured": f"lowest per seed: median {worst:.3f}",
         "met": worst >= 0.90},
        {"target": "training <= 20 min on 2 cores", "measured": f"max {train_max / 60:.1f} min ({n_train * 5} alerts, "
         "1 thread)", "met": train_max <= 1200},
        {"target": ">= 500 alerts/s per core", "measured": f"{sp['alerts_per_cpu_s_1thread']:.0f} per CPU-second "
         f"(1 thread); {sp['alerts_per_wall_s_2threads']:.0f}/s wall on 2 threads (shared machine)",
         "met": sp["alerts_per_cpu_s_1thread"] >= 500},
        {"target": "1 M alerts < 20 min on 2 cores", "measured": f"{sp['1M_alerts_minutes_2cores']:.1f} min (from CPU "
         "time per alert)", "met": sp["1M_alerts_minutes_2cores"] < 20},
    ]
    rows = [{"class": c, "recall": fmt_spread(rec[c]), "ALeRCE (real data)": ref}
            for c, ref in zip(classes, ("0.93", "0.88", "0.97", "0.98", "0.96"))]
    cm = np.sum([np.array(r["confusion"]) for r in per_seed], axis=0)
    cm_rows = [{"true \\ predicted": c, **{p: f"{cm[i, j] / cm[i].sum():.3f}" for j, p in enumerate(classes)}}
               for i, c in enumerate(classes)]
    side = [{"variant": k.split(":", 1)[1], "accuracy": fmt_spread([r[k] for r in per_seed])}
            for k in per_seed[0] if k.startswith("accuracy:")]
    kinds = [k.split(":", 1)[1] for k in per_seed[0] if k.startswith("subclass:")]
    subrows = [{"class / kind": k, "alerts (first seed)": per_seed[0][f"subclass_n:{k}"],
                "recall": fmt_spread([r.get(f"subclass:{k}", np.nan) for r in per_seed]),
                "most common error (last seed)": per_seed[-1].get(f"subclass_err:{k}", "")} for k in kinds]
    trade = []
    for a, b in (("AGN", "VS"), ("SN", "asteroid")):
        trade.append({"log-probability offset": f"{a} +0 (argmax)", f"recall {a}": fmt_spread(rec[a]),
                      "recall of the other": f"{b} " + fmt_spread(rec[b]), "accuracy": fmt_spread(acc)})
        for k in [k for k in per_seed[0] if k.startswith(f"tradeoff:{a} ")]:
            v = np.array([r[k] for r in per_seed])
            trade.append({"log-probability offset": k.split(":", 1)[1], f"recall {a}": fmt_spread(v[:, 0]),
                          "recall of the other": f"{b} " + fmt_spread(v[:, 1]), "accuracy": fmt_spread(v[:, 2])})
    trade = [{"log-probability offset": t["log-probability offset"],
              "recall of the favoured class": t.get("recall AGN", t.get("recall SN")),
              "recall of the other": t["recall of the other"], "accuracy": t["accuracy"]} for t in trade]
    bogus = [{"artefact": k.split(":", 1)[1], "recall as bogus": fmt_spread([r.get(k) for r in per_seed])}
             for k in per_seed[0] if k.startswith("bogus:")]
    calib = [{"probabilities": k.split(":", 1)[1], "ECE (10 bins)": fmt_spread([r[k] for r in per_seed])}
             for k in per_seed[0] if k.startswith("ece:")]
    runs = [{k: r[k] for k in ("seed", "n_train", "n_test", "simulate_s", "train_wall_s", "train_cpu_s", "epochs",
                               "best_epoch", "temperature", "accuracy")} for r in per_seed]
    body = (f"Simulated ZTF-like alerts (`simulate_stamps`), {n_train} per class for training, {n_test} per class "
            "held out from seed 1000 + s. StampClassifier defaults (rotation-augmented CNN, 4 averaged rotations "
            "at prediction, metadata through a two-layer branch, temperature calibration), "
            f"{n_networks} network(s) averaged, max {epochs} epochs, one thread. Metadata columns: "
            + ", ".join(f"`{c}`" for c in STAMP_METADATA_COLUMNS) + ".\n\n"
            + seeds_note(args.seeds) + "\n\n" + md_table(targets) + "\nPer-class recall (ALeRCE's published diagonal "
            "on real ZTF alerts beside it, for orientation only: different data):\n\n" + md_table(rows)
            + "\nConfusion matrix (rows: true class, normalised; summed over seeds):\n\n" + md_table(cm_rows)
            + "\nRecall per kind (quasars: a faint compact host, star-like in the catalogue; hostless SNe: host "
            "below the catalogue depth):\n\n" + md_table(subrows)
            + "\nTrade-off diagnostic (not a default): adding an offset to one class's log-probability of a "
            "confused pair; a flat accuracy while the two recalls trade means the pair is ambiguous in the inputs, "
            "not under-fitted:\n\n" + md_table(trade)
            + "\nSide by side on the same held-out alerts:\n\n" + md_table(side) + "\nBogus recall per artefact:\n\n"
            + md_table(bogus) + "\nCalibration:\n\n" + md_table(calib) + "\nRuns:\n\n"
            + md_table(runs, fmt={k: "{:.3g}" for k in ("simulate_s", "train_wall_s", "train_cpu_s", "temperature",
                                                        "accuracy")})
            + "\nInference speed (the last seed's model; preprocessing included):\n\n"
            + md_table([sp], fmt={k: "{:.1f}" for k in sp}))
    write_results("stamps", "# stamps benchmark", body, {"per_seed": per_seed, "speed": sp, "targets": targets},
                  info, args.out_dir)


if __name__ == "__main__":
    main()
