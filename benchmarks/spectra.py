"""Benchmark of the `spectra` workflow's shipped models on held-out and independently generated spectra.

Run: ``.venv/bin/python benchmarks/spectra.py [--quick] [--seeds 0 1 2] [--out-dir DIR] [--n-test 3000]
[--n-indep 2000] [--model-dir DIR]``.

Measures what a user gets: the default models (``RedshiftEstimator.pretrained()``,
``DLAFinder.pretrained()``, or the files of ``--model-dir`` written by
``scripts/train_spectra_models.py``) called as users call them (``predict``/``detect`` on the raw
24,001-pixel spectra, rebinning included).

1. Per seed s: ``--n-test`` held-out spectra of the training simulator (``QuasarSimulator`` defaults,
   seed 2 + s, magnitudes ``--mag-range``, natural absorber incidence: sub-DLAs, LLS, metals and BALs
   as the simulator draws them) and ``--n-indep`` spectra of the independent evaluation generator
   (``benchmarks/_spectra_independent.py``, seed 500 + s: redrock PCA continua, lognormal forest,
   its own absorber laws, BALs and noise model).
2. Redshift: median |dv|, NMAD, catastrophic rate (|dv| > 3000 km/s), overall, per magnitude bin and
   for BAL / non-BAL quasars. DLA (log NHI >= 20.3; searched at the true and at the predicted quasar
   redshift): sight-line ROC AUC, completeness and purity, best completeness at purity >= 95 %,
   localisation; false positives on sub-DLAs and on sight lines without a DLA (BAL and non-BAL) per
   magnitude bin.
   A diagnostic (not the target): purity when detections of sub-DLAs with log NHI >= 20.0 count as
   correct (how much of the impurity is sub-DLAs just below the DLA limit). An alternative scope (not the
   issue's): best completeness at purity >= 95 % on the spectra with r < 21 alone (the information ceiling of
   the target on these spectra, overall and per bin, is measured by ``benchmarks/spectra_dla_ceiling.py``).
3. The degradation from the training simulator to the independent generator.
4. Quasars just outside the valid redshift range (z 4.1-4.6 and 1.6-1.95, ``--n-out-of-range`` per
   seed): the fraction returned with flag ``ok`` (they should be flagged).
5. Speed: inference (spectra/s, rebinning included, best of 3): each model, both as two calls, and
   both through ``predict_quasars`` (one rebinning); simulation with 2 workers.

Headline figures are median (min-max) over the seeds; the per-bin tables are those of the first seed.
Writes ``<out-dir>/spectra.md`` (and ``spectra.json``).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import RunInfo, add_common_args, fmt_spread, md_table, parse_args, pin_threads, seeds_note, write_results
from _common import timed as _timed
from _spectra_independent import IndependentQuasarGenerator

from agnlab.spectra import (
    DLAFinder,
    QuasarSimulator,
    RedshiftEstimator,
    dla_metrics,
    evaluate_predictions,
    predict_batches,
    predict_quasars,
    truth_dlas,
)


def _log(msg):
    print(f"[spectra {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--n-test", type=int, default=3000, help="held-out spectra of the training simulator per seed")
    ap.add_argument("--n-indep", type=int, default=2000, help="independent-generator spectra per seed")
    ap.add_argument("--mag-range", type=float, nargs=2, default=(18.0, 22.5))
    ap.add_argument("--model-dir", default=None, help="model files + cards (default: the shipped models)")
    ap.add_argument("--n-timing", type=int, default=500, help="raw spectra for the inference timing")
    ap.add_argument("--sim-jobs", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--n-out-of-range", type=int, default=300,
                    help="quasars per seed just outside the valid redshift range (default 300)")
    args = parse_args(ap, argv)
    if args.quick:  # smoke run
        args.n_test, args.n_indep, args.n_timing = min(args.n_test, 200), min(args.n_indep, 150), \
            min(args.n_timing, 100)
        args.n_out_of_range = min(args.n_out_of_range, 60)
    info = RunInfo(argv)
    with pin_threads(args.threads):
        return _run(args, info)


def _models(args):
    zest = RedshiftEstimator.pretrained(model_dir=args.model_dir, n_jobs=args.threads, progress=False)
    dla = DLAFinder.pretrained(model_dir=args.model_dir, n_jobs=args.threads, progress=False)
    used = {zest.model_card_["simulator"]["train"]["seed"], zest.model_card_["simulator"]["heldout"]["seed"],
            dla.model_card_["simulator"]["train"]["seed"]}
    clash = used & {2 + s for s in args.seeds}
    if clash:
        raise SystemExit(f"test simulator seeds {sorted(clash)} were used to build the models; choose other --seeds")
    return zest, dla


def _evaluate(batches, zest, dla):
    t = time.perf_counter()
    res = predict_batches(batches, zest, dla)
    ev = evaluate_predictions(res, threshold=dla.threshold)
    ev["purity_subdla20"] = _purity_with_subdlas(res, dla.threshold)
    ev["dla_r21_completeness_at_purity"] = _completeness_at_purity_brighter(res, 21.0)
    ev["seconds"] = round(time.perf_counter() - t, 1)
    return ev


def _purity_with_subdlas(res, threshold, min_log_nhi=20.0):
    """Diagnostic, not the target: DLA purity at ``threshold`` (search at the true z) when a detection
    within |dz| <= 0.02 of a sub-DLA with log NHI >= ``min_log_nhi`` also counts as correct."""
    ab = res.get("absorbers")
    if ab is None or not len(ab):
        return None
    zt = res["truth"]["z_qso"].to_numpy(float)
    lists = truth_dlas(res["truth"], zt.size, dlas=ab[ab["log_nhi"].to_numpy(float) >= min_log_nhi])
    dl, sp = res["dla_true_z"]
    m = dla_metrics(lists, dl, zt, spectrum_scores=sp["score"].to_numpy(), threshold=threshold,
                    min_log_nhi=min_log_nhi)
    return m["purity"]


def _completeness_at_purity_brighter(res, mag_max):
    """Alternative scope, not the issue's: best completeness at purity >= 95 % of DLAs (log NHI >= 20.3, search at
    the true z) on the spectra brighter than ``mag_max`` alone."""
    idx = np.flatnonzero(res["truth"]["mag"].to_numpy(float) < mag_max)
    remap = -np.ones(len(res["truth"]), int)
    remap[idx] = np.arange(idx.size)
    dl, sp = res["dla_true_z"]
    dl = dl[np.isin(dl["spec_index"].to_numpy(int), idx)]
    dl = dl.assign(spec_index=remap[dl["spec_index"].to_numpy(int)])
    zt = res["truth"]["z_qso"].to_numpy(float)[idx]
    return dla_metrics([res["dlas"][i] for i in idx], dl, zt,
                       spectrum_scores=sp["score"].to_numpy()[idx])["completeness_at_purity"]


def _out_of_range(args, zest) -> dict:
    """Quasars outside the valid redshift range: fraction returned with flag 'ok' (should be flagged)."""
    out = {}
    for name, zr, seed in (("high", (4.1, 4.6), 700), ("low", (1.6, 1.95), 800)):
        fr = []
        for s in args.seeds:
            b = QuasarSimulator(seed=seed + s, z_range=zr, mag_range=tuple(args.mag_range)).simulate(
                args.n_out_of_range, n_jobs=args.sim_jobs, progress=False)
            fr.append(float(np.mean(zest.predict(b)["flag"].to_numpy() == "ok")))
        out[name] = {"z_range": list(zr), "ok_frac": fr}
    return out


def _timing(args, zest, dla) -> dict:
    """Inference rates on raw spectra as users call the models (1 and ``--threads`` threads)."""
    sim = QuasarSimulator(seed=2 + args.seeds[0], mag_range=tuple(args.mag_range))
    t = time.perf_counter()
    b = sim.simulate(args.n_timing, n_jobs=args.sim_jobs, progress=False)
    out = {"sim_spectra_per_s": round(args.n_timing / (time.perf_counter() - t), 1), "sim_jobs": args.sim_jobs}
    n = len(b.flux)
    zest.predict(b)  # warm-up: rebinning weights and the fused network are built once per grid
    dla.detect(b, z_qso=b.truth["z_qso"].to_numpy())
    for threads in sorted({1, args.threads}):
        zest.n_jobs = dla.n_jobs = threads
        pz, w, c = _timed(lambda: zest.predict(b), 3)
        out[f"z_{threads}t"] = (round(n / w, 1), round(n / c, 1))
        _, w, c = _timed(lambda: dla.detect(b, z_qso=pz), 3)
        out[f"dla_{threads}t"] = (round(n / w, 1), round(n / c, 1))
        _, w, c = _timed(lambda: dla.detect(b, z_qso=zest.predict(b)), 3)
        out[f"both_{threads}t"] = (round(n / w, 1), round(n / c, 1))
        _, w, c = _timed(lambda: predict_quasars(b, redshift_model=zest, dla_model=dla), 3)
        out[f"pq_{threads}t"] = (round(n / w, 1), round(n / c, 1))
    zest.n_jobs = dla.n_jobs = args.threads
    return out


def _run(args, info) -> int:
    zest, dla = _models(args)
    res = {"n_test": args.n_test, "n_indep": args.n_indep, "seeds": args.seeds, "mag_range": list(args.mag_range),
           "threads": args.threads, "model_dir": args.model_dir or "shipped (pretrained())",
           "cards": {"redshift": {k: zest.model_card_[k] for k in ("model", "date_utc", "command", "training",
                                                                  "weights_dtype", "size_bytes")},
                     "dla": {k: dla.model_card_[k] for k in ("model", "date_utc", "command", "training",
                                                             "weights_dtype", "size_bytes")}
                     | {"threshold": dla.threshold,
                        "threshold_calibrated_by": dla.model_card_.get("threshold_calibrated_by"),
                        "nhi_sigma": dla.nhi_sigma, "nhi_sigma_snr": dla.nhi_sigma_snr,
                        "voigt_refit": bool(getattr(dla, "voigt_refit", False)),
                        "refit_sigma_floor": getattr(dla, "refit_sigma_floor", None),
                        "refit_sigma_scale": getattr(dla, "refit_sigma_scale", None),
                        "bal_veto_ratio": getattr(dla, "bal_veto_ratio", 0.0),
                        "bal_veto_width": getattr(dla, "bal_veto_width", None)}},
           "valid_z_range": list(zest.valid_range()), "sim": [], "indep": []}
    for s in args.seeds:
        _log(f"seed {s}: {args.n_test} held-out spectra of the training simulator (seed {2 + s})")
        sim = QuasarSimulator(seed=2 + s, mag_range=tuple(args.mag_range))
        ev = _evaluate(sim.iter_chunks(args.n_test, chunk_size=args.chunk, n_jobs=args.sim_jobs), zest, dla)
        res["sim"].append(ev)
        _log(f"  done in {ev['seconds']} s; catastrophic {ev['redshift']['catastrophic_frac']:.4f}, "
             f"DLA AUC {ev['dla']['roc_auc']:.4f}")
        _log(f"seed {s}: {args.n_indep} spectra of the independent generator (seed {500 + s})")
        gen = IndependentQuasarGenerator(seed=500 + s, mag_range=tuple(args.mag_range))
        ev = _evaluate(gen.iter_chunks(args.n_indep, chunk_size=args.chunk), zest, dla)
        res["indep"].append(ev)
        _log(f"  done in {ev['seconds']} s; catastrophic {ev['redshift']['catastrophic_frac']:.4f}, "
             f"DLA AUC {ev['dla']['roc_auc']:.4f}")
    _log("quasars outside the valid redshift range")
    res["out_of_range"] = _out_of_range(args, zest)
    _log("timing")
    res["timing"] = _timing(args, zest, dla)
    _write(res, args, info)
    return 0


# --------------------------------------------------------------------------- report
def _vals(res, part, *keys, scale=1.0):
    out = []
    for ev in res[part]:
        v = ev
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        out.append(None if v is None else scale * float(v))
    return out


def _sp(res, part, *keys, spec=".4g", scale=1.0):
    return fmt_spread(_vals(res, part, *keys), spec, scale)


def _bin_vals(res, part, table, row_filter, col):
    """Per seed: the worst (max) value of ``col`` over the rows of ``table`` passing ``row_filter``."""
    out = []
    for ev in res[part]:
        vals = [r[col] for r in ev[table] if row_filter(r) and r[col] == r[col]]
        out.append(max(vals) if vals else None)
    return out


def _bright(r, method="all quasars"):
    """Rows of magnitude bins brighter than r = 21.5."""
    if r.get("method", method) != method or r["mag"] == "all":
        return False
    return float(r["mag"].split("-")[1]) <= 21.5


def _rate(t, key):
    v = t.get(key)
    return "n/a" if v is None else f"{v[0]:.0f}; {v[1]:.0f}"


def _write(res, args, info):
    seeds = res["seeds"]
    cz, cd = res["cards"]["redshift"], res["cards"]["dla"]
    lo, hi = res["mag_range"]
    lines = [f"Models: {res['model_dir']} -- `{cz['model']}` ({cz['training']['n_train']} training spectra, "
             f"{cz['training']['epochs']} epochs; {cz['date_utc']}, `{cz['command']}`) and `{cd['model']}` "
             f"({cd['training']['n_train']} spectra, {cd['training']['epochs']} epochs"
             f"{', fine-tuned' if cd['training'].get('initialised_from') else ''}; {cd['date_utc']}, "
             f"`{cd['command']}`; detection threshold {cd['threshold']:.3f}"
             + (f", set to maximise F1 on held-out spectra by `{cd['threshold_calibrated_by']}`"
                if cd.get("threshold_calibrated_by") else "")
             + (f"; confidence = presence x P(log NHI >= 20.3) for a log NHI error sqrt({cd['nhi_sigma']:g}^2 + "
                f"({cd.get('nhi_sigma_snr', 0.0):g} / S/N)^2) dex" if "nhi_sigma" in cd else "")
             + (f"; log NHI of candidates near the DLA limit refitted with a Voigt profile and averaged with the "
                f"network's (fit error sqrt(({cd['refit_sigma_scale']:g} x statistical)^2 + "
                f"{cd['refit_sigma_floor']:g}^2) dex)" if cd.get("voigt_refit") else "")
             + (f"; BAL veto: confidence x Phi((R - {cd['bal_veto_ratio']:g}) / {cd['bal_veto_width']:g}), R the "
                "flux blueward of C IV at the outflow velocity of the candidate as a Ly-alpha or N V trough"
                if cd.get("bal_veto_ratio") else "")
             + f"); {(cz['size_bytes'] + cd['size_bytes']) / 1e6:.2f} MB ({cz['weights_dtype']}). "
             f"Test data per seed: {res['n_test']} held-out spectra of the training simulator "
             f"(`QuasarSimulator`, seeds {', '.join(str(2 + s) for s in seeds)}, r {lo:g}-{hi:g}, natural "
             f"absorber incidence) and {res['n_indep']} spectra of the independent generator "
             f"(`benchmarks/_spectra_independent.py`, seeds {', '.join(str(500 + s) for s in seeds)}). "
             f"{seeds_note(seeds)} Models called as users call them (raw spectra, rebinning included).", ""]
    cat = ("redshift", "catastrophic_frac")
    p1, p2 = {"spec": ".1f", "scale": 100}, {"spec": ".2f", "scale": 100}
    lines += ["## Targets", "",
              md_table([
                  {"metric": "redshift median |dv| (km/s), all", "target": "<= 200",
                   "training simulator": _sp(res, "sim", "redshift", "median_abs_dv_kms"),
                   "independent": _sp(res, "indep", "redshift", "median_abs_dv_kms")},
                  {"metric": "redshift catastrophic (|dv| > 3000 km/s, %), all", "target": "<= 1 % (indep. <= 2 %)",
                   "training simulator": _sp(res, "sim", *cat, spec=".2f", scale=100),
                   "independent": _sp(res, "indep", *cat, spec=".2f", scale=100)},
                  {"metric": "worst magnitude bin to r = 21.5: median |dv| (km/s)", "target": "<= 200",
                   "training simulator": fmt_spread(_bin_vals(res, "sim", "redshift_rows", _bright,
                                                              "median |dv| km/s"), ".4g"),
                   "independent": fmt_spread(_bin_vals(res, "indep", "redshift_rows", _bright,
                                                       "median |dv| km/s"), ".4g")},
                  {"metric": "worst magnitude bin to r = 21.5: catastrophic (%)", "target": "<= 1 %",
                   "training simulator": fmt_spread(_bin_vals(res, "sim", "redshift_rows", _bright,
                                                              "catastrophic %"), ".2f"),
                   "independent": fmt_spread(_bin_vals(res, "indep", "redshift_rows", _bright,
                                                       "catastrophic %"), ".2f")},
                  {"metric": "BAL quasars: median |dv| (km/s); catastrophic (%)", "target": "reported",
                   "training simulator": f"{_sp(res, 'sim', 'redshift_bal', 'median_abs_dv_kms')}; "
                                         f"{_sp(res, 'sim', 'redshift_bal', 'catastrophic_frac', **p2)}",
                   "independent": f"{_sp(res, 'indep', 'redshift_bal', 'median_abs_dv_kms')}; "
                                  f"{_sp(res, 'indep', 'redshift_bal', 'catastrophic_frac', **p2)}"},
                  {"metric": "DLA ROC AUC (sight lines, search at true z)", "target": ">= 0.99 (indep. >= 0.97)",
                   "training simulator": _sp(res, "sim", "dla", "roc_auc"),
                   "independent": _sp(res, "indep", "dla", "roc_auc")},
                  {"metric": "DLA best completeness with purity >= 95 % (%)", "target": ">= 95 %",
                   "training simulator": _sp(res, "sim", "dla", "completeness_at_purity", spec=".1f", scale=100),
                   "independent": _sp(res, "indep", "dla", "completeness_at_purity", spec=".1f", scale=100)},
                  {"metric": "DLA completeness / purity at the model threshold (%)", "target": ">= 95 / >= 95",
                   "training simulator": f"{_sp(res, 'sim', 'dla', 'completeness', **p1)} / "
                                         f"{_sp(res, 'sim', 'dla', 'purity', **p1)}",
                   "independent": f"{_sp(res, 'indep', 'dla', 'completeness', **p1)} / "
                                  f"{_sp(res, 'indep', 'dla', 'purity', **p1)}"},
                  {"metric": "diagnostic: DLA purity at the model threshold if sub-DLAs with log NHI >= 20.0 "
                             "counted as correct (%)", "target": "reported",
                   "training simulator": _sp(res, "sim", "purity_subdla20", **p1),
                   "independent": _sp(res, "indep", "purity_subdla20", **p1)},
                  {"metric": "alternative scope (not the issue's): r < 21 only, DLA best completeness with "
                             "purity >= 95 % (%)", "target": "reported (ceiling: spectra_dla_ceiling.md)",
                   "training simulator": _sp(res, "sim", "dla_r21_completeness_at_purity", **p1),
                   "independent": _sp(res, "indep", "dla_r21_completeness_at_purity", **p1)},
                  {"metric": "DLA median |dz|", "target": "<= 0.003",
                   "training simulator": _sp(res, "sim", "dla", "median_abs_dz", spec=".3g"),
                   "independent": _sp(res, "indep", "dla", "median_abs_dz", spec=".3g")},
                  {"metric": "sigma(log NHI) (std, dex)", "target": "<= 0.2",
                   "training simulator": _sp(res, "sim", "dla", "sigma_log_nhi", spec=".3f"),
                   "independent": _sp(res, "indep", "dla", "sigma_log_nhi", spec=".3f")},
                  {"metric": "DLA searched at the predicted z: AUC; completeness at purity >= 95 % (%)",
                   "target": "reported",
                   "training simulator": f"{_sp(res, 'sim', 'dla_pred_z', 'roc_auc')}; "
                                         f"{_sp(res, 'sim', 'dla_pred_z', 'completeness_at_purity', **p1)}",
                   "independent": f"{_sp(res, 'indep', 'dla_pred_z', 'roc_auc')}; "
                                  f"{_sp(res, 'indep', 'dla_pred_z', 'completeness_at_purity', **p1)}"},
              ]), ""]
    med = {k: [np.median([x for x in _vals(res, p, *k[1:], scale=k[0]) if x is not None] or [np.nan])
               for p in ("sim", "indep")]
           for k in ((1.0, "redshift", "median_abs_dv_kms"), (100.0, *cat), (1.0, "dla", "roc_auc"),
                     (100.0, "dla", "completeness_at_purity"))}
    d = [b - a for a, b in med.values()]
    lines += [f"Degradation from the training simulator to the independent generator (difference of the medians "
              f"over seeds): redshift median |dv| {d[0]:+.1f} km/s, catastrophic rate {d[1]:+.2f} percentage "
              f"points, DLA AUC {d[2]:+.4f}, DLA completeness at purity >= 95 % {d[3]:+.1f} percentage points.", ""]
    oor = res["out_of_range"]
    lines += [f"Quasars outside the valid redshift range {res['valid_z_range']} returned with flag `ok` "
              f"(should be flagged `out_of_range` / `edge_of_range`; {args.n_out_of_range} per seed): "
              + "; ".join(f"z {v['z_range'][0]:g}-{v['z_range'][1]:g}: "
                          f"{fmt_spread([100 * f for f in v['ok_frac']], '.1f')} %" for v in oor.values()) + ".", ""]
    t = res["timing"]
    th = res["threads"]
    lines += ["## Speed", "",
              f"Inference on {args.n_timing} raw spectra (best of 3), spectra/s wall; per CPU-second. "
              f"Simulation of the same spectra with {t['sim_jobs']} workers: {t['sim_spectra_per_s']} spectra/s "
              "(target >= 100 on 2 cores).", "",
              md_table([{"model": name, "target": ">= 1000",
                         **{f"{k} thread(s)": _rate(t, f"{key}_{k}t") for k in sorted({1, th})}}
                        for name, key in (("RedshiftEstimator.predict", "z"), ("DLAFinder.detect", "dla"),
                                          ("both (redshift, then DLAs at it), two calls", "both"),
                                          ("both, predict_quasars (one rebinning)", "pq"))]), ""]
    for part, title in (("sim", "training simulator (held-out seed)"), ("indep", "independent generator")):
        ev = res[part][0]
        lines += [f"## By magnitude: {title}, first seed", "",
                  f"Redshift flags: {ev['redshift_flags']}.", "",
                  md_table(ev["redshift_rows"]), "",
                  "DLAs (search at the true z_qso):", "", md_table(ev["dla_rows"]), "",
                  "False positives at the model threshold: sub-DLAs (19 <= log NHI < 20.3) in the searched stretch "
                  "with a detection within |dz| <= 0.02 not explained by a DLA; sight lines without a DLA with any "
                  "detection (BAL troughs vs non-BAL).", "", md_table(ev["fp_rows"]), ""]
    data = {k: v for k, v in res.items() if k not in ("sim", "indep")}
    for part in ("sim", "indep"):
        data[part] = [{k: v for k, v in ev.items()} for ev in res[part]]
    write_results("spectra", "# spectra: shipped redshift and DLA models, training simulator vs independent "
                  "generator", "\n".join(lines), data, info, args.out_dir)


if __name__ == "__main__":
    sys.exit(main())
