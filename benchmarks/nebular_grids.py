"""Benchmark of agnlab.nebular.GridInverter against NebulaBayes on the MAPPINGS grids (issue 15, items 2-3).

Run: ``.venv/bin/python benchmarks/nebular_grids.py [--quick --out-dir DIR] [--seeds 0 1 2] [--grids hii nlr]``;
writes <out-dir>/nebular_grids.md and .json. ``--no-nebulabayes`` (development runs; needs another ``--out-dir``)
leaves NebulaBayes out: its results do not depend on agnlab. ``--only-throughput`` fits the first seed's models
and times the throughput run alone (``nebular_grids_throughput.md``: a second measurement of the 1,000,000-spectra
rows, whose wall time follows the machine's state). ``--quick`` (smoke run): 20,000 training spectra, 40 test
spectra, one seed unless given. Full size: 200,000 training spectra (100,000 for "gbm"), 200
test spectra per grid and seed, 3 seeds. "gbm" at its default 200,000 fits 1.7-1.8x longer and is slightly more
accurate than the 100,000 measured here (development seed 10, 3,000 spectra of the held-out nodes, median error,
strong / strong + auroral lines: HII log U 0.043 -> 0.037 / 0.036 -> 0.034 dex, log P/k 0.207 -> 0.200 /
0.193 -> 0.188, O/H 0.020 -> 0.019 / 0.018 -> 0.018; NLR log U 0.140 -> 0.137 / 0.111 -> 0.106, log P/k
0.351 -> 0.339 / 0.324 -> 0.325, O/H 0.027 -> 0.029 / 0.025 -> 0.025, E_peak unchanged), so its rows understate
the default by 0-14 %.

Per grid and seed:

* held-out models: one interior node is drawn on *every* axis and the models on those node slices are
  left out (``GridInverter.fit(..., exclude=...)``); what remains is still a full Cartesian grid, and
  NebulaBayes (0.9.9, Thomas et al. 2018; run through the shims of ``_nebulabayes.py``, its defaults:
  uniform prior, ``grid_error`` 0.1, ~60,000 interpolated points) gets exactly that grid too. Test
  spectra are held-out models (``--n-test`` per seed) with noise: S/N 20 on H-beta and the strong lines,
  5 on the auroral lines; lines the model does not emit (below MAPPINGS' output threshold) are
  "not detected" (left out for both methods);
* line sets: optical strong lines, and strong + auroral ([O III] 4363, [N II] 5755);
* GridInverter ("nn" and "gbm") is trained once per grid and seed on strong + auroral lines with line
  dropout, and predicts both line sets (the strong set = the auroral columns absent);
* metrics per parameter: median |estimate - truth| and the fraction of truths inside the 68 % interval;
  with 200 test spectra a coverage has a binomial standard error of ~3.3 points, so agnlab's coverage is
  also measured on ``--n-coverage`` (2,000) further noisy spectra of the same held-out models per seed
  (every held-out model in turn, fresh noise; a separate random stream, so the shared 200 are unchanged),
  an extra column beside the shared-sample one (NebulaBayes, ~25 ms a spectrum, stays on the shared 200);
  time per spectrum of each method as called (NebulaBayes: one call per spectrum; agnlab: one
  ``predict`` on all test spectra), in wall and in CPU time (``time.process_time``), and the speed ratios;
* throughput: ``predict`` on 1,000,000 spectra of the strong lines (8 lines + H-beta on the HII grid, 9 on
  the NLR grid; first seed's models; both methods).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import (
    RESULTS_DIR,
    RunInfo,
    add_common_args,
    fmt_spread,
    md_table,
    parse_args,
    pin_threads,
    seeds_note,
    write_results,
)
from _common import log as _clog

STRONG = {
    "hii": ["OII3726_29", "NeIII3869", "OIII5007", "OI6300", "Halpha", "NII6583", "SII6716", "SII6731"],
    "nlr": ["OII3726_29", "NeIII3869", "HeII4686", "OIII5007", "OI6300", "Halpha", "NII6583", "SII6716",
            "SII6731"],
}
AURORAL = ["OIII4363", "NII5755"]
REPEATS = 5           # further predict calls timed after the first (CPU time)
SNR_STRONG, SNR_AURORAL = 20.0, 5.0
GRID_NAMES = {"hii": "mappings-hii", "nlr": "mappings-nlr"}


def _log(msg):
    _clog(msg, "nebular_grids")


def held_out_mask(grid, rng):
    """Models on one random interior node of every axis; returns (mask, {param: node value})."""
    mask = np.zeros(grid.n_models, dtype=bool)
    nodes = {}
    for p, values in grid.axes.items():
        v = float(rng.choice(values[1:-1]))
        nodes[p] = v
        mask |= grid.node_mask(p, v)
    return mask, nodes


def noisy_spectra(grid, rows, lines, rng):
    """Fluxes and errors (DataFrames, Hbeta included) of models ``rows`` at the benchmark's S/N."""
    f = grid.fluxes.iloc[rows][["Hbeta", *lines]].reset_index(drop=True)
    snr = pd.Series({ln: SNR_AURORAL if ln in AURORAL else SNR_STRONG for ln in f.columns})
    e = f / snr
    obs = f + e * rng.standard_normal(f.shape)
    undetected = f <= 0          # below MAPPINGS' output threshold: not observed
    return obs.mask(undetected), e.mask(undetected)


def run_nebulabayes(grid_kept, lines, f, e):
    from _nebulabayes import NebulaBayesRunner

    t0 = time.perf_counter()
    runner = NebulaBayesRunner(grid_kept, lines)
    init = time.perf_counter() - t0
    rows, t0, c0 = [], time.perf_counter(), time.process_time()
    for i in range(len(f)):
        ok = f.iloc[i].notna()
        res = runner(f.iloc[i][ok].to_dict(), e.iloc[i][ok].to_dict())
        rows.append({**{p: res.loc[p, "est"] for p in res.index}, **{f"{p}_lo": res.loc[p, "lo"] for p in res.index},
                     **{f"{p}_hi": res.loc[p, "hi"] for p in res.index}})
    per = (time.perf_counter() - t0) / len(f)
    cpu = (time.process_time() - c0) / len(f)
    return pd.DataFrame(rows), per, cpu, init


def metrics(pred, truth, params):
    out = {}
    for p in params:
        t = truth[p].to_numpy()
        est = pred[p].to_numpy(dtype=float)
        lo = pred[f"{p}_lo"].to_numpy(dtype=float)
        hi = pred[f"{p}_hi"].to_numpy(dtype=float)
        ok = np.isfinite(est)
        lo = np.where(np.isnan(lo), -np.inf, lo)     # NebulaBayes: CI limits may be -inf/+inf at an edge
        hi = np.where(np.isnan(hi), np.inf, hi)
        out[p] = {"mae": float(np.median(np.abs(est[ok] - t[ok]))) if ok.any() else float("nan"),
                  "coverage": float(np.mean((lo[ok] <= t[ok]) & (t[ok] <= hi[ok]))) if ok.any() else float("nan"),
                  "n": int(ok.sum()), "n_missing": int((~ok).sum())}
    return out


def coverage_set(grid, mask, lines, n, seed):
    """``n`` noisy spectra of the held-out models (each in turn, fresh noise), their truths; own random stream."""
    rng = np.random.default_rng(2000 + seed)
    held = np.flatnonzero(mask)
    rows = np.resize(rng.permutation(held), n)
    f, e = noisy_spectra(grid, rows, lines, rng)
    return f, e, grid.params.iloc[rows].reset_index(drop=True)


def fit_inverter(grid, key, method, seed, mask, args):
    """GridInverter ``method`` fitted on the grid without ``mask`` (strong + auroral lines); (model, fit seconds).

    The model predicts on ``args.threads`` threads."""
    from agnlab.nebular import GridInverter

    t0 = time.perf_counter()
    # one training thread: small-batch training on shared cores is fastest so (see agnlab._estimator)
    n = args.n_samples if method == "nn" else args.gbm_samples
    kw = {"n_samples": n, "random_state": seed, "progress": False, "n_jobs": 1,
          "interpolation": args.interpolation, "held_out_correction": args.held_out_correction}
    inv = GridInverter(method, **kw).fit(grid, lines=STRONG[key] + AURORAL, exclude=mask)
    fit_s = time.perf_counter() - t0
    inv.set_params(n_jobs=args.threads)
    return inv, fit_s


def bench_grid(key, seeds, args):
    from agnlab.nebular import load_photoionization_grid

    grid = load_photoionization_grid(GRID_NAMES[key])
    strong = STRONG[key]
    all_lines = strong + AURORAL
    line_sets = {"strong": strong, "strong+auroral": all_lines}
    runs, models = [], {}
    for seed in seeds:
        rng = np.random.default_rng(1000 + seed)
        mask, nodes = held_out_mask(grid, rng)
        kept = grid.subset(~mask)
        test_rows = rng.choice(np.flatnonzero(mask), size=min(args.n_test, int(mask.sum())), replace=False)
        truth = grid.params.iloc[test_rows].reset_index(drop=True)
        f_all, e_all = noisy_spectra(grid, test_rows, all_lines, rng)
        _log(f"{key} seed {seed}: held out {nodes} ({int(mask.sum())} models), {len(test_rows)} test spectra")
        rec = {"seed": seed, "held_out_nodes": nodes, "n_held_out": int(mask.sum()), "n_test": int(len(test_rows)),
               "results": {}}
        f_cov, e_cov, truth_cov = coverage_set(grid, mask, all_lines, args.n_coverage, seed)
        for method in args.methods:
            inv, fit_s = fit_inverter(grid, key, method, seed, mask, args)
            stretch = inv.training_record_.get("held_out_slice_stretch")
            _log(f"  {method}: fitted in {fit_s:.0f} s; calibration {inv.training_record_['calibration_coverage_68']}; "
                 f"held-out-slice stretch {stretch}")
            models.setdefault(method, (inv, fit_s))   # the first seed's: throughput
            for ls_name, ls in line_sets.items():
                cols = ["Hbeta", *ls]
                f_ls, e_ls = f_all[cols], e_all[cols]     # the user's tables (not timed)
                # as the user calls it: the first call on the fitted model, wall and CPU time (all threads)
                t0, c0 = time.perf_counter(), time.process_time()
                pred = inv.predict(f_ls, e_ls)
                per = (time.perf_counter() - t0) / len(pred)
                cpu = (time.process_time() - c0) / len(pred)
                cpu_rep = []
                for _ in range(REPEATS):
                    c0 = time.process_time()
                    inv.predict(f_ls, e_ls)
                    cpu_rep.append((time.process_time() - c0) / len(pred))
                m = metrics(pred, truth, grid.param_names)
                if args.n_coverage:      # the larger sample (not timed)
                    big = metrics(inv.predict(f_cov[cols], e_cov[cols]), truth_cov, grid.param_names)
                    for p in m:
                        m[p]["coverage_large"] = big[p]["coverage"]
                flags = pred["flag"].value_counts().to_dict()
                rec["results"][(method, ls_name)] = {"metrics": m, "s_per_spectrum": per, "cpu_s_per_spectrum": cpu,
                                                     "cpu_s_per_spectrum_repeat": float(np.median(cpu_rep)),
                                                     "fit_s": fit_s, "flags": flags, "held_out_slice_stretch": stretch}
                _log(f"  {method} {ls_name}: " + ", ".join(f"{p} {v['mae']:.3f}/{v['coverage']:.2f}"
                                                          for p, v in m.items()) + f"; flags {flags}")
        for ls_name, ls in line_sets.items():
            if not args.nebulabayes:
                break
            cols = ["Hbeta", *ls]
            pred, per, cpu, init = run_nebulabayes(kept, ls, f_all[cols], e_all[cols])
            m = metrics(pred, truth, grid.param_names)
            rec["results"][("NebulaBayes", ls_name)] = {"metrics": m, "s_per_spectrum": per, "cpu_s_per_spectrum": cpu,
                                                        "init_s": init}
            _log(f"  NebulaBayes {ls_name}: " + ", ".join(f"{p} {v['mae']:.3f}/{v['coverage']:.2f}"
                                                        for p, v in m.items()) + f"; {per * 1e3:.1f} ms/spectrum")
        runs.append(rec)
    return grid, runs, models


def throughput_record(inv, grid, key, args, fit_s):
    """:func:`throughput` of the fitted ``inv`` on the strong lines of grid ``key``, as a results-table record."""
    n = args.n_throughput
    dt, flags = throughput(inv, grid, STRONG[key], n, args.threads)
    _log(f"throughput {key} {inv.method}: {n} spectra x {len(STRONG[key])} lines in {dt:.1f} s (fit {fit_s:.0f} s)")
    return {"n": n, "lines": len(STRONG[key]), "seconds": dt, "flags": flags, "fit_s": fit_s}


def throughput(inv, grid, lines, n, threads):
    """Seconds for ``inv.predict`` on ``n`` noisy spectra of ``lines`` (tiled grid models)."""
    rng = np.random.default_rng(7)
    rows = rng.integers(0, grid.n_models, n)
    f, e = noisy_spectra(grid, rows, lines, rng)
    f = f.fillna(1e-3 * f["Hbeta"].median())   # every spaxel has all 8 lines
    e = e.fillna(1e-4)
    t0 = time.perf_counter()
    out = inv.predict(f, e)
    dt = time.perf_counter() - t0
    return dt, out["flag"].value_counts().to_dict()


def throughput_section(thr, threads):
    return "## Throughput\n\n" + md_table([{"grid": k, "method": m, "spectra": v["n"], "lines": v["lines"],
                                             "seconds": f"{v['seconds']:.1f}", "fit s": f"{v['fit_s']:.0f}",
                                             "threads": threads}
                                            for k, d in thr.items() for m, v in d.items()])


def throughput_only(args, info, data):
    """``--only-throughput``: the first seed's models (as the full run fits them) and the throughput run."""
    from agnlab.nebular import load_photoionization_grid

    thr = {}
    with pin_threads(args.threads):
        for key in args.grids:
            grid = load_photoionization_grid(GRID_NAMES[key])
            mask, _ = held_out_mask(grid, np.random.default_rng(1000 + args.seeds[0]))
            thr[key] = {}
            for method in args.methods:
                inv, fit_s = fit_inverter(grid, key, method, args.seeds[0], mask, args)
                thr[key][method] = throughput_record(inv, grid, key, args, fit_s)
    data["throughput"] = thr
    body = (f"`predict` on {args.n_throughput:,} spectra of the strong lines (every line present; tiled grid "
            f"models with noise), one call, on {args.threads} threads; the models of seed {args.seeds[0]} fitted as "
            "the full run fits them (not timed).\n\n" + throughput_section(thr, args.threads))
    write_results("nebular_grids_throughput", "# nebular grids benchmark: throughput alone", body, data, info,
                  args.out_dir)


def summarise(key, grid, runs, methods, thr, n_coverage=0):
    rows = []
    peers = [*methods, "NebulaBayes"] if ("NebulaBayes", "strong") in runs[0]["results"] else list(methods)
    for ls_name in ("strong", "strong+auroral"):
        for p in grid.param_names:
            row = {"grid": key, "lines": ls_name, "parameter": p}
            for method in peers:
                res = [r["results"][(method, ls_name)]["metrics"][p] for r in runs]
                row[f"MAE {method}"] = fmt_spread([x["mae"] for x in res], ".3f")
                row[f"cover68 {method}"] = fmt_spread([100 * x["coverage"] for x in res], ".0f")
                if method != "NebulaBayes" and n_coverage:
                    row[f"cover68 {method} ({n_coverage} more)"] = fmt_spread(
                        [100 * x["coverage_large"] for x in res], ".0f")
            rows.append(row)
    if "NebulaBayes" not in peers:
        return rows, [], []
    speed, cpu = [], []
    for ls_name in ("strong", "strong+auroral"):
        nb = [r["results"][("NebulaBayes", ls_name)]["s_per_spectrum"] for r in runs]
        nb_cpu = np.array([r["results"][("NebulaBayes", ls_name)]["cpu_s_per_spectrum"] for r in runs])
        for method in methods:
            res = [r["results"][(method, ls_name)] for r in runs]
            ours = [x["s_per_spectrum"] for x in res]
            at_scale = thr[method]["seconds"] / thr[method]["n"] if method in thr else float("nan")
            speed.append({"grid": key, "lines": ls_name, "method": method,
                          "agnlab us/spectrum (one call)": fmt_spread(np.array(ours) * 1e6, ".3g"),
                          "agnlab us/spectrum (at scale)": f"{at_scale * 1e6:.3g}",
                          "NebulaBayes ms/spectrum": fmt_spread(np.array(nb) * 1e3, ".3g"),
                          "speed-up (one call)": fmt_spread(np.array(nb) / np.array(ours), ".3g"),
                          "speed-up (at scale)": fmt_spread(np.array(nb) / at_scale, ".3g"),
                          "fit s": fmt_spread([x["fit_s"] for x in res], ".0f")})
            first = np.array([x["cpu_s_per_spectrum"] for x in res])
            again = np.array([x["cpu_s_per_spectrum_repeat"] for x in res])
            cpu.append({"grid": key, "lines": ls_name, "method": method,
                        "agnlab CPU us/spectrum (first call)": fmt_spread(first * 1e6, ".3g"),
                        f"agnlab CPU us/spectrum (median of {REPEATS} more)": fmt_spread(again * 1e6, ".3g"),
                        "NebulaBayes CPU ms/spectrum": fmt_spread(nb_cpu * 1e3, ".3g"),
                        "speed-up CPU (first call)": fmt_spread(nb_cpu / first, ".3g"),
                        f"speed-up CPU (median of {REPEATS})": fmt_spread(nb_cpu / again, ".3g")})
    return rows, speed, cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(ap)
    ap.add_argument("--grids", nargs="+", default=["hii", "nlr"], choices=sorted(GRID_NAMES))
    ap.add_argument("--methods", nargs="+", default=["nn", "gbm"], choices=["nn", "gbm"])
    ap.add_argument("--n-test", type=int, default=None, help="held-out test spectra per grid and seed (default 200)")
    ap.add_argument("--n-samples", type=int, default=None,
                    help="GridInverter training spectra (default: the estimator's 200,000)")
    ap.add_argument("--gbm-samples", type=int, default=None,
                    help="training spectra of the gbm method (default 100,000: its fit is ~10x slower)")
    ap.add_argument("--interpolation", choices=["linear", "neural"], default="linear",
                    help="how GridInverter makes training spectra between nodes (default: %(default)s)")
    ap.add_argument("--held-out-correction", choices=["constant", "conditional"], default="constant",
                    help="GridInverter held_out_correction (default: %(default)s, the estimator's default)")
    ap.add_argument("--n-throughput", type=int, default=None, help="spectra of the throughput test (1,000,000)")
    ap.add_argument("--n-coverage", type=int, default=None,
                    help="further test spectra per grid and seed for agnlab's coverage alone (default 2000; 0: none)")
    ap.add_argument("--only-throughput", action="store_true",
                    help="fit the first seed's models and time the throughput run alone (writes "
                         "nebular_grids_throughput.md)")
    ap.add_argument("--no-nebulabayes", dest="nebulabayes", action="store_false",
                    help="leave NebulaBayes out (development runs; not into benchmarks/results)")
    args = parse_args(ap, argv)
    if not args.nebulabayes and Path(args.out_dir).resolve() == RESULTS_DIR.resolve():
        ap.error("--no-nebulabayes writes no comparison: give another --out-dir")
    if args.quick and argv is not None and "--seeds" not in argv:
        args.seeds = [0]
    args.n_test = args.n_test or (40 if args.quick else 200)
    args.gbm_samples = args.gbm_samples or (20_000 if args.quick else 100_000)
    args.n_samples = args.n_samples or (20_000 if args.quick else 200_000)
    args.n_throughput = args.n_throughput or (20_000 if args.quick else 1_000_000)
    if args.n_coverage is None:
        args.n_coverage = 400 if args.quick else 2000
    info = RunInfo(argv)
    body, data = [], {"settings": {k: (str(v) if k == "out_dir" else v) for k, v in vars(args).items()},
                      "grids": {}}
    if args.only_throughput:
        return throughput_only(args, info, data)
    with pin_threads(args.threads):
        acc_rows, speed_rows, cpu_rows, thr = [], [], [], {}
        for key in args.grids:
            grid, runs, models = bench_grid(key, args.seeds, args)
            thr[key] = {method: throughput_record(inv, grid, key, args, fit_s)
                        for method, (inv, fit_s) in models.items()}
            rows, speed, cpu = summarise(key, grid, runs, args.methods, thr[key], args.n_coverage)
            acc_rows += rows
            speed_rows += speed
            cpu_rows += cpu
            data["grids"][key] = [{**{k: v for k, v in r.items() if k != "results"},
                                   "results": {f"{m}|{ls}": v for (m, ls), v in r["results"].items()}} for r in runs]
    data["throughput"] = thr
    body.append("## Accuracy on held-out grid models\n\n" + seeds_note(args.seeds) + " MAE: median |estimate - "
                "truth| (dex); cover68: % of truths inside the 68 % interval (target 68 +- 5), on the shared "
                f"{args.n_test} test spectra per seed (binomial standard error ~3.3 points at 200) and, for agnlab, "
                f"also on {args.n_coverage} more spectra of the same held-out models per seed (fresh noise; "
                "'more' columns; NebulaBayes is too slow for them). Test spectra: "
                f"S/N {SNR_STRONG:g} on H-beta and strong lines, {SNR_AURORAL:g} on {', '.join(AURORAL)}; the "
                "models on one random interior node of every axis are held out of training (and of "
                "NebulaBayes' grid).\n\n" + md_table(acc_rows))
    if speed_rows:           # (none without NebulaBayes: no peer to compare with)
        body.append("## Speed per spectrum as called\n\nagnlab: one `predict` call on the "
                    f"{args.n_test} test spectra of a seed (includes validation and the out-of-domain test, "
                    "whose k-d trees are only built when many spectra need a search), and at scale: the throughput "
                    "run below (strong lines, tiled grid models); NebulaBayes: "
                    "one call per spectrum on its interpolated grid (initialisation not counted).\n\n"
                    + md_table(speed_rows))
    if cpu_rows:
        body.append("## One-call speed in CPU time (the issue's >= 1000x)\n\nCPU time of the process "
                    "(`time.process_time`, every thread; the machine's load inflates it far less than wall time), "
                    "side by side in one run: agnlab's first `predict` call on the "
                    f"{args.n_test} test spectra of a seed right after `fit` (as a user calls it; validation and the "
                    f"out-of-domain test included), and the median of {REPEATS} further calls; NebulaBayes: its "
                    "calls on the same spectra, one per spectrum, initialisation not counted. Per spectrum; the "
                    "speed-up is NebulaBayes' CPU time over agnlab's, per seed.\n\n" + md_table(cpu_rows))
    body.append(throughput_section(thr, args.threads))
    write_results("nebular_grids", "# nebular grids benchmark (GridInverter vs NebulaBayes)", "\n\n".join(body),
                  data, info, args.out_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
