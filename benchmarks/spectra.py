"""Benchmark of the `spectra` workflow's learned models (redshift CNN, DLA finder) vs baselines.

Run: ``.venv/bin/python benchmarks/spectra.py [--quick] [--seeds 0 1 2] [--out-dir DIR] [--n-train 12000]
[--n-test 3000]``.

1. Simulates a training set (seed 1; DLA incidence raised to ``--train-dla-rate`` per unit z so the
   DLA finder sees enough absorbers) and one held-out test set per ``--seeds`` entry s (simulator
   seed 2 + s, default incidence 0.2, magnitudes 18-20.5), rebinning on the fly in chunks (the raw
   24,001-pixel spectra are not kept, except ``--n-template`` spectra of the first test set for the
   template baseline). The headline metrics are median (min-max) over the test sets; the models are
   trained once; detailed tables and timings use the first test set.
2. Trains :class:`~agnlab.spectra.RedshiftEstimator` and :class:`~agnlab.spectra.DLAFinder` (timed).
3. Measures on the test set: redshift median |dv|, NMAD, catastrophic rate (CNN beside the template
   chi^2 baseline when available); DLA ROC AUC, completeness/purity, localisation; all per magnitude;
   inference throughput (spectra/s, rebinning included).
4. Writes ``<out-dir>/spectra.md`` (and ``spectra.json``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _common import RunInfo, add_common_args, fmt_spread, md_table, parse_args, pin_threads, seeds_note, write_results
from _common import timed as _timed

from agnlab.spectra import (
    DLAFinder,
    QuasarSimulator,
    RedshiftEstimator,
    dla_metrics,
    dla_table,
    redshift_metrics,
    redshift_table,
    truth_dlas,
)


def build_set(n, *, seed, dla_rate, zest, dla, chunk=250, keep_raw=0, n_jobs=1, desc=""):
    """Simulate ``n`` spectra in chunks; return preprocessed features for both models + truth."""
    sim = QuasarSimulator(seed=seed, dla_rate_per_dz=dla_rate)
    Xz, Xd, I0, E, truths, lists = [], [], [], [], [], []
    raw = None
    t_sim = 0.0
    t0 = time.perf_counter()
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        t = time.perf_counter()
        b = sim.simulate(m, start=s, n_jobs=n_jobs, progress=False)
        t_sim += time.perf_counter() - t
        xz, ez = zest.preprocess(b.wave_aa, b.flux, b.ivar)
        zq = b.truth["z_qso"].to_numpy()
        xd, i0, ed = dla.preprocess(b.wave_aa, b.flux, b.ivar, zq)
        Xz.append(xz)
        Xd.append(xd)
        I0.append(i0)
        E.append(ez | ed)
        tr = pd.DataFrame({c: b.truth[c].to_numpy() for c in ("z_qso", "mag", "n_dla", "snr_median")})
        truths.append(tr)
        lists += truth_dlas(b.truth, m)
        if keep_raw and raw is None:
            k = min(keep_raw, m)
            raw = (b.wave_aa, b.flux[:k].copy(), b.ivar[:k].copy())
        elif keep_raw and raw is not None and raw[1].shape[0] < keep_raw:
            k = min(keep_raw - raw[1].shape[0], m)
            raw = (raw[0], np.concatenate([raw[1], b.flux[:k]]), np.concatenate([raw[2], b.ivar[:k]]))
        print(f"  {desc} {s + m}/{n} spectra ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    truth = pd.concat(truths, ignore_index=True)
    return {"Xz": np.concatenate(Xz), "Xd": np.concatenate(Xd), "i0": np.concatenate(I0),
            "empty": np.concatenate(E), "truth": truth, "dlas": lists, "raw": raw,
            "sim_rate": n / t_sim}


def _save_cache(path, d):
    np.savez(path, Xz=d["Xz"], Xd=d["Xd"], i0=d["i0"], empty=d["empty"], sim_rate=d["sim_rate"],
             **{f"t_{c}": d["truth"][c].to_numpy() for c in d["truth"].columns},
             dla_spec=np.concatenate([np.full(len(a[0]), i) for i, a in enumerate(d["dlas"])] or [np.zeros(0)]),
             dla_z=np.concatenate([a[0] for a in d["dlas"]] or [np.zeros(0)]),
             dla_n=np.concatenate([a[1] for a in d["dlas"]] or [np.zeros(0)]),
             **({"raw_wave": d["raw"][0], "raw_flux": d["raw"][1], "raw_ivar": d["raw"][2]} if d["raw"] else {}))


def _load_cache(path):
    z = np.load(path)
    truth = pd.DataFrame({k[2:]: z[k] for k in z.files if k.startswith("t_")})
    n = len(truth)
    spec = z["dla_spec"].astype(int)
    lists = [(z["dla_z"][spec == i], z["dla_n"][spec == i]) for i in range(n)]
    raw = (z["raw_wave"], z["raw_flux"], z["raw_ivar"]) if "raw_wave" in z.files else None
    return {"Xz": z["Xz"], "Xd": z["Xd"], "i0": z["i0"], "empty": z["empty"], "truth": truth, "dlas": lists,
            "raw": raw, "sim_rate": float(z["sim_rate"])}


def get_set(name, n, cache_dir, **kw):
    path = None if cache_dir is None else Path(cache_dir) / f"{name}_{n}.npz"
    if path is not None and path.exists():
        print(f"  {name}: cached {path}", file=sys.stderr)
        return _load_cache(path)
    d = build_set(n, desc=name, **kw)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_cache(path, d)
    return d


def timed(fn, n, repeats=3):
    """Run ``fn`` ``repeats`` times; the last result, best wall-clock and best CPU throughput (items/s)."""
    out, w, c = _timed(fn, repeats)
    return out, round(n / w, 1), round(n / c, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--n-train", type=int, default=12000)
    ap.add_argument("--n-test", type=int, default=3000)
    ap.add_argument("--n-template", type=int, default=300, help="test spectra for the template baseline")
    ap.add_argument("--train-dla-rate", type=float, default=1.0)
    ap.add_argument("--z-epochs", type=int, default=30)
    ap.add_argument("--dla-epochs", type=int, default=30)
    ap.add_argument("--infer-threads", type=int, default=1,
                    help="torch threads while timing inference (1: per-core rate; cores scale it by data parallelism)")
    ap.add_argument("--templates", nargs="*", default=["builtin"],
                    help="template sets for the chi2 baseline: 'builtin' and/or redrock template FITS paths")
    ap.add_argument("--sim-jobs", type=int, default=2)
    ap.add_argument("--cache", default=None, help="folder caching the simulated, preprocessed sets")
    ap.add_argument("--stage", choices=["all", "data", "redshift", "dla"], default="all")
    ap.add_argument("--model-dir", default=None, help="save/reuse trained models here")
    args = parse_args(ap, argv)
    if args.quick:  # smoke run
        args.n_train, args.n_test, args.n_template = min(args.n_train, 300), min(args.n_test, 100), \
            min(args.n_template, 20)
        args.z_epochs, args.dla_epochs = min(args.z_epochs, 2), min(args.dla_epochs, 2)
    info = RunInfo(argv)
    with pin_threads(args.threads):
        return _run(args, info)


def _run(args, info) -> int:
    zest = RedshiftEstimator(max_epochs=args.z_epochs, n_jobs=args.threads, progress=True)
    dla = DLAFinder(max_epochs=args.dla_epochs, n_jobs=args.threads, progress=True)
    print("simulating the training set ...", file=sys.stderr)
    train = get_set("train", args.n_train, args.cache, seed=1, dla_rate=args.train_dla_rate, zest=zest, dla=dla,
                    n_jobs=args.sim_jobs)
    tests = []
    for k, seed in enumerate(args.seeds):
        print(f"simulating the test set for seed {seed} (simulator seed {2 + seed}) ...", file=sys.stderr)
        tests.append(get_set(f"test-s{2 + seed}", args.n_test, args.cache, seed=2 + seed, dla_rate=0.2, zest=zest,
                             dla=dla, keep_raw=args.n_template if k == 0 else 0, n_jobs=args.sim_jobs))
    test = tests[0]
    if args.stage == "data":
        return 0
    mdir = Path(args.model_dir) if args.model_dir else None
    tt = train["truth"]
    ok = ~train["empty"]
    res = {"n_train": int(len(tt)), "n_test": int(len(test["truth"])), "train_dla_rate": args.train_dla_rate,
           "seeds": args.seeds,
           "sim_spectra_per_s": round(test["sim_rate"], 1), "threads": args.threads,
           "infer_threads": args.infer_threads}
    zt = test["truth"]["z_qso"].to_numpy()
    mag = test["truth"]["mag"].to_numpy()
    # --- redshift ----------------------------------------------------------------------------------------
    if args.stage in ("all", "redshift"):
        zpath = mdir / "redshift.npz" if mdir else None
        if zpath is not None and zpath.exists():
            zest = RedshiftEstimator.load(zpath)
            zest.n_jobs = args.threads
            res["z_train_s"] = round(zest.training_record_["train_seconds"], 1)
            res["z_epochs"] = zest.training_record_["epochs"]
        else:
            t, c = time.perf_counter(), time.process_time()
            zest.fit_preprocessed(train["Xz"][ok], tt["z_qso"].to_numpy()[ok])
            res["z_train_s"] = round(time.perf_counter() - t, 1)
            res["z_train_cpu_s"] = round(time.process_time() - c, 1)
            res["z_epochs"] = zest.training_record_["epochs"]
            if zpath is not None:
                zpath.parent.mkdir(parents=True, exist_ok=True)
                zest.save(zpath)
        zest.progress = False
        zest.predict_preprocessed(test["Xz"][:16])  # warm-up (builds the fused inference network)
        torch.set_num_threads(args.infer_threads)
        zest.n_jobs = args.infer_threads
        pz, res["z_infer_net_per_s"], res["z_infer_net_per_cpu_s"] = timed(
            lambda: zest.predict_preprocessed(test["Xz"], test["empty"]), len(test["Xz"]))
        res["redshift"] = redshift_metrics(zt, pz["z_pred"])
        res["redshift_flags"] = pz["flag"].value_counts().to_dict()
        rows = redshift_table(zt, pz["z_pred"], mag, name="CNN")
        raw = test["raw"]
        if raw is not None:
            k = raw[1].shape[0]
            zest.predict(raw[0], raw[1][:8], raw[2][:8])  # warm-up: builds the rebinning weights once per grid
            pr, res["z_infer_full_per_s"], res["z_infer_full_per_cpu_s"] = timed(
                lambda: zest.predict(raw[0], raw[1], raw[2]), k)
            torch.set_num_threads(args.threads)
            res["redshift_cnn_subset"] = redshift_metrics(zt[:k], pr["z_pred"])
            try:
                from agnlab.spectra import TemplateRedshift
            except ImportError:
                TemplateRedshift = None
            for tpl in (args.templates if TemplateRedshift is not None else []):
                label = "built-in PCA templates" if tpl == "builtin" else Path(tpl).name
                tmpl = TemplateRedshift(templates=None if tpl == "builtin" else tpl).fit()
                t = time.perf_counter()
                pt = tmpl.predict(raw[0], raw[1], raw[2])
                dt = time.perf_counter() - t
                ztp = np.asarray(pt["z"], float)
                res.setdefault("template_per_s", {})[label] = round(k / dt, 2)
                res.setdefault("redshift_template_subset", {})[label] = redshift_metrics(zt[:k], ztp)
                rows += redshift_table(zt[:k], ztp, mag[:k], name=f"template chi2, {label} ({k} spectra)")
                rows += redshift_table(zt[:k], pr["z_pred"], mag[:k], name=f"CNN (same {k} spectra)")
        res["redshift_rows"] = rows
    # --- DLA ---------------------------------------------------------------------------------------------
    if args.stage in ("all", "dla"):
        dpath = mdir / "dla.npz" if mdir else None
        if dpath is not None and dpath.exists():
            dla = DLAFinder.load(dpath)
            dla.n_jobs = args.threads
            res["dla_train_s"] = round(dla.training_record_["train_seconds"], 1)
            res["dla_epochs"] = dla.training_record_["epochs"]
        else:
            t, c = time.perf_counter(), time.process_time()
            dla.fit_preprocessed(train["Xd"][ok], train["i0"][ok], tt["z_qso"].to_numpy()[ok],
                                 [train["dlas"][i] for i in np.nonzero(ok)[0]])
            res["dla_train_s"] = round(time.perf_counter() - t, 1)
            res["dla_train_cpu_s"] = round(time.process_time() - c, 1)
            res["dla_epochs"] = dla.training_record_["epochs"]
            if dpath is not None:
                dpath.parent.mkdir(parents=True, exist_ok=True)
                dla.save(dpath)
        dla.progress = False
        dla.detect_preprocessed(test["Xd"][:16], test["i0"][:16], zt[:16])  # warm-up
        torch.set_num_threads(args.infer_threads)
        dla.n_jobs = args.infer_threads
        (dl, sp), res["dla_infer_net_per_s"], res["dla_infer_net_per_cpu_s"] = timed(
            lambda: dla.detect_preprocessed(test["Xd"], test["i0"], zt, test["empty"], threshold=0.02), len(zt))
        m = dla_metrics(test["dlas"], dl, zt, spectrum_scores=sp["score"].to_numpy(), threshold=dla.threshold)
        res["dla"] = {k: v for k, v in m.items() if k not in ("roc", "pr", "matched")}
        res["dla_rows"] = dla_table(test["dlas"], dl, sp["score"].to_numpy(), zt, mag, threshold=dla.threshold)
        raw = test["raw"]
        if raw is not None:
            k = raw[1].shape[0]
            dla.detect(raw[0], raw[1][:8], raw[2][:8], z_qso=zt[:8])  # warm-up
            (dlt, spt), res["dla_infer_full_per_s"], res["dla_infer_full_per_cpu_s"] = timed(
                lambda: dla.detect(raw[0], raw[1], raw[2], z_qso=zt[:k], threshold=0.02), k)
            if "redshift" in res:  # the pipeline on real data: DLAs searched at the CNN redshifts
                zp = zest.predict(raw[0], raw[1], raw[2])["z_pred"].to_numpy()
                dle, spe = dla.detect(raw[0], raw[1], raw[2], z_qso=zp, threshold=0.02)
                for name, (a, b) in (("true z_qso", (dlt, spt)), ("CNN z_pred", (dle, spe))):
                    row = dla_table(test["dlas"][:k], a, b["score"].to_numpy(), zt[:k], mag[:k],
                                    threshold=dla.threshold)[0]
                    row["mag"] = f"all, first {k}, search at {name}"
                    res["dla_rows"].append(row)
    # headline metrics on every test set (the first is the one above)
    res["per_seed"] = []
    for seed, t in zip(args.seeds, tests):
        entry = {"seed": seed, "test_simulator_seed": 2 + seed}
        zt_s = t["truth"]["z_qso"].to_numpy()
        if "redshift" in res:
            entry["redshift"] = redshift_metrics(zt_s, zest.predict_preprocessed(t["Xz"], t["empty"])["z_pred"])
        if "dla" in res:
            dl_s, sp_s = dla.detect_preprocessed(t["Xd"], t["i0"], zt_s, t["empty"], threshold=0.02)
            m = dla_metrics(t["dlas"], dl_s, zt_s, spectrum_scores=sp_s["score"].to_numpy(), threshold=dla.threshold)
            entry["dla"] = {k: v for k, v in m.items() if k not in ("roc", "pr", "matched")}
        res["per_seed"].append(entry)
    _write(res, args, info)
    return 0


def _rates(res, key) -> str:
    """``"<per s>; <per CPU-second>"`` of a throughput measured as ``<key>_per_s`` / ``<key>_per_cpu_s``."""
    return f"{_fmt(res.get(key + '_per_s'), 5)}; {_fmt(res.get(key + '_per_cpu_s'), 5)}"


def _fmt(v, nd=3):
    return "n/a" if v is None else (f"{v:.{nd}g}" if isinstance(v, float) else str(v))


def _sp(res, part, key, spec=".4g", scale=1.0):
    """median (min-max) of ``res["per_seed"][*][part][key]`` over the test sets."""
    return fmt_spread([e[part][key] for e in res["per_seed"] if part in e], spec, scale)


def _write(res, args, info):
    seeds = res["seeds"]
    lines = [f"Held-out simulated 4MOST-like spectra ({len(seeds)} test sets of {res['n_test']} spectra, simulator "
             f"seeds {', '.join(str(2 + s) for s in seeds)}; mag 18-20.5, z 2-4, DLA "
             f"incidence 0.2 per unit z). Training: {res['n_train']} spectra (seed 1, DLA incidence "
             f"{res['train_dla_rate']} per unit z), trained once. {seeds_note(seeds)} Tables by magnitude, the "
             f"template baseline and timings: the first test set. Inference timed with "
             f"{res.get('infer_threads', 1)} torch thread "
             "(best of 3 runs; one core's rate -- batches are independent, so 2 cores give up to twice as much); "
             "rates per CPU-second are less sensitive to other load on the machine than wall-clock rates.", ""]
    if "redshift" in res:
        lines += ["## Redshift", "",
                  md_table([{"metric": "median |dv| (km/s)", "target": "<= 300",
                             "CNN": _sp(res, "redshift", "median_abs_dv_kms")},
                            {"metric": "catastrophic |dv| > 3000 km/s (%)", "target": "<= 1 %",
                             "CNN": _sp(res, "redshift", "catastrophic_frac", ".2f", 100)},
                            {"metric": "NMAD dv (km/s)", "target": "", "CNN": _sp(res, "redshift", "nmad_dv_kms")},
                            {"metric": "training time (s)", "target": "<= 1200",
                             "CNN": f"{_fmt(res.get('z_train_s'))} ({res.get('z_epochs')} epochs)"},
                            {"metric": "inference, network only: spectra/s wall; per CPU-second", "target": ">= 1000",
                             "CNN": _rates(res, "z_infer_net")},
                            {"metric": "inference incl. rebinning 24k-pixel spectra: spectra/s wall; per CPU-second",
                             "target": ">= 1000",
                             "CNN": _rates(res, "z_infer_full")}]),
                  "",
                  "By magnitude (and the template chi^2 baseline on a subset, same spectra):", "",
                  md_table(res["redshift_rows"]), ""]
        if "template_per_s" in res:
            speeds = ", ".join(f"{k}: {v} spectra/s" for k, v in res["template_per_s"].items())
            lines += [f"Template chi2 baseline speed (wall, same conditions): {speeds}; CNN incl. rebinning: "
                      f"{res.get('z_infer_full_per_s')} spectra/s on one thread.", ""]
    if "dla" in res:
        d = res["dla"]
        lines += ["## DLA detection and localisation", "",
                  "Truth: DLAs with log NHI >= 20.3 whose Ly-alpha lies between the quasar's rest Ly-beta and "
                  "Ly-alpha (the searched stretch) and above 3610 A. Sight-line ROC uses the maximum presence "
                  "probability per spectrum; absorbers are matched within |dz| <= 0.02.", "",
                  md_table([{"metric": "ROC AUC (sight lines)", "target": ">= 0.99",
                             "value": _sp(res, "dla", "roc_auc")},
                            {"metric": f"completeness / purity at threshold {d['threshold']} (%)",
                             "target": ">= 95 % / >= 95 %",
                             "value": f"{_sp(res, 'dla', 'completeness', '.1f', 100)} / "
                                      f"{_sp(res, 'dla', 'purity', '.1f', 100)}"},
                            {"metric": "best completeness with purity >= 95 % (%)", "target": ">= 95 %",
                             "value": f"{_sp(res, 'dla', 'completeness_at_purity', '.1f', 100)} (threshold "
                                      f"{_sp(res, 'dla', 'best_threshold', '.3g')})"},
                            {"metric": "median |dz_dla|", "target": "<= 0.003",
                             "value": _sp(res, "dla", "median_abs_dz", ".3g")},
                            {"metric": "sigma(log NHI) (std; NMAD)", "target": "<= 0.2 dex",
                             "value": f"{_sp(res, 'dla', 'sigma_log_nhi', '.3f')}; "
                                      f"{_sp(res, 'dla', 'nmad_log_nhi', '.3f')}"},
                            {"metric": "training time (s)", "target": "<= 1200",
                             "value": f"{_fmt(res.get('dla_train_s'))} ({res.get('dla_epochs')} epochs)"},
                            {"metric": "inference, network only: spectra/s wall; per CPU-second", "target": ">= 1000",
                             "value": _rates(res, "dla_infer_net")},
                            {"metric": "inference incl. rebinning: spectra/s wall; per CPU-second", "target": ">= 1000",
                             "value": _rates(res, "dla_infer_full")}]),
                  "",
                  f"{d['n_true']} true DLAs in the first test set's {d['n_spectra']} spectra. By magnitude:", "",
                  md_table(res["dla_rows"]), ""]
    lines += [f"Simulation speed while building the test set: {res['sim_spectra_per_s']} spectra/s.", ""]
    write_results("spectra", "# spectra: redshift CNN and DLA finder", "\n".join(lines), res, info, args.out_dir)


if __name__ == "__main__":
    sys.exit(main())
