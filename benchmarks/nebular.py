"""Benchmark of agnlab.nebular Te/Ne inversion against PyNeb's getCrossTemDen (issue 4, items 1-2).

Run: ``.venv/bin/python benchmarks/nebular.py [--quick] [--seeds 0 1 2] [--out-dir DIR] [--n-pyneb 500]``;
writes <out-dir>/nebular.md and nebular.json.

Accuracy is reported as median (min-max) over ``--seeds``: per seed a new draw of truth pairs,
of the PyNeb subsample and of the high-density pairs (the table methods are deterministic; the
nn is trained once, with ``random_state`` = the first seed). Speed: the first seed's pairs,
best of 5 calls.

(a) The same 10,000 ratio pairs with known truth (Te uniform in 7,000-20,000 K,
    log Ne uniform in 1-4; ratios computed with PyNeb's emissivities exactly as
    PyNeb's diagnostics define them: '[OIII] 4363/5007' = L(4363)/L(5007),
    '[SII] 6731/6716' = L(6731)/L(6716)) inverted by
    - PyNeb ``Diagnostics.getCrossTemDen`` (default settings; on a random
      subsample of ``--n-pyneb`` pairs, its time scaled to 10,000 pairs),
    - TeNeEstimator(method="table") (inverted table + Newton polishing),
    - TeNeEstimator(method="table", newton_steps=0) (inverted table alone),
    - TeNeEstimator(method="nn") (neural network).
    Speed ratios are per pair; accuracy is against the truth (on the same
    subsample for getCrossTemDen, and on all 10,000 pairs for ours).
(b) High densities: pairs with log Ne uniform in 4-5 (Te 8,000-15,000 K):
    fraction of valid (non-NaN) answers and accuracy, both methods.
(c) Monte Carlo over a 200 x 200 synthetic cube with 150 draws per spaxel
    (6 M inversions), in a fresh subprocess to measure its peak RSS,
    1 and 2 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _common import (
    RunInfo,
    add_common_args,
    fmt_spread,
    log,
    md_table,
    parse_args,
    peak_rss_mb,
    pin_threads,
    seeds_note,
    timed,
    write_results,
)

TEM, DEN = "[OIII] 4363/5007", "[SII] 6731/6716"


def _rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _truth(n, seed, te_range=(7000.0, 20000.0), ln_range=(1.0, 4.0)):
    from agnlab.nebular import diagnostic_ratio

    rng = np.random.default_rng(seed)
    te = rng.uniform(*te_range, n)
    ln = rng.uniform(*ln_range, n)
    X = np.stack([diagnostic_ratio(TEM, te, 10 ** ln), diagnostic_ratio(DEN, te, 10 ** ln)], axis=1)
    return te, ln, X


def _acc(pred, te, ln):
    ok = np.isfinite(pred).all(axis=1)
    dte = np.abs(pred[ok, 0] - te[ok])
    dne = np.abs(pred[ok, 1] - ln[ok])
    return {"valid": ok.mean(), "med_dte": np.median(dte), "p95_dte": np.percentile(dte, 95),
            "max_dte": dte.max(), "med_dne": np.median(dne), "p95_dne": np.percentile(dne, 95),
            "max_dne": dne.max()}


def _pyneb(X):
    import pyneb as pn

    diags = pn.Diagnostics()
    pn.log_.level = 0
    t0 = time.perf_counter()
    te, ne = diags.getCrossTemDen(TEM, DEN, X[:, 0].copy(), X[:, 1].copy())
    dt = time.perf_counter() - t0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.stack([np.asarray(te, float), np.log10(np.asarray(ne, float))], axis=1)
    return out, dt


def mc_only(args):
    """Subprocess body: time the 6 M-inversion Monte Carlo and report peak RSS."""
    with pin_threads(args.threads):
        return _mc_only(args)


def _mc_only(args):
    from agnlab.nebular import TeNeEstimator, make_synthetic_cube, monte_carlo_temden

    est = TeNeEstimator().fit()
    cube = make_synthetic_cube((args.mc_size, args.mc_size), seed=0)
    rss0 = _rss_mb()
    hwm0 = peak_rss_mb()
    t0 = time.perf_counter()
    res = monte_carlo_temden(est, cube["fluxes"], cube["errors"], n_draws=args.mc_draws, seed=0,
                             n_jobs=args.mc_jobs)
    dt = time.perf_counter() - t0
    n_inv = int((res.spaxel_flags != 1).sum()) * args.mc_draws
    print(json.dumps({"seconds": dt, "n_inversions": n_inv, "rss_before_mb": rss0, "peak_before_mb": hwm0,
                      "peak_rss_mb": peak_rss_mb(), "summary": res.summary()}))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--n-pyneb", type=int, default=500)
    ap.add_argument("--mc-size", type=int, default=200)
    ap.add_argument("--mc-draws", type=int, default=150)
    ap.add_argument("--mc-jobs", type=int, default=2)
    ap.add_argument("--mc-only", action="store_true", help=argparse.SUPPRESS)
    args = parse_args(ap, argv)
    if args.mc_only:
        return mc_only(args)
    if args.quick:
        args.n_pyneb = min(args.n_pyneb, 100)
        args.mc_size = min(args.mc_size, 60)
    info = RunInfo(argv)
    with pin_threads(args.threads):
        return _run(args, info)


def _pct(values):
    return fmt_spread(values, ".1f", scale=100) + " %"


def _run(args, info):
    from agnlab.nebular import TeNeEstimator

    ests = {
        "TeNeEstimator table + Newton": TeNeEstimator(),
        "TeNeEstimator table only (newton_steps=0)": TeNeEstimator(newton_steps=0),
        "TeNeEstimator nn": TeNeEstimator(
            method="nn", nn_train_size=30_000 if args.quick else 100_000, random_state=args.seeds[0],
            nn_config={"max_epochs": 30 if args.quick else 100, "batch_size": 1024, "lr": 3e-3,
                       "patience": 10, "lr_patience": 4}),
    }
    pn_name = f"PyNeb getCrossTemDen (on {args.n_pyneb} pairs)"
    speed = {}  # method -> fit_s, per_pair_s (first seed)
    acc = {pn_name: [], **{k: [] for k in ests}}      # all pairs of each seed (PyNeb: its subsample)
    acc_sub = {pn_name: [], **{k: [] for k in ests}}  # the PyNeb subsample of each seed
    hd = {"PyNeb getCrossTemDen": [], "TeNeEstimator table + Newton": []}
    for name, est in ests.items():
        log(f"fit {name}", "nebular")
        t0 = time.perf_counter()
        est.fit()
        speed[name] = {"fit_s": time.perf_counter() - t0}
        est.predict(_truth(1000, seed=10_000)[2])  # warm up
    for k, seed in enumerate(args.seeds):
        te, ln, X = _truth(args.n, seed=seed)
        sub = np.random.default_rng(1000 + seed).choice(args.n, size=args.n_pyneb, replace=False)
        log(f"seed {seed}: getCrossTemDen on {args.n_pyneb} pairs", "nebular")
        p_pn, t_pn = _pyneb(X[sub])
        if k == 0:
            speed[pn_name] = {"fit_s": None, "per_pair_s": t_pn / args.n_pyneb}
        acc[pn_name].append(_acc(p_pn, te[sub], ln[sub]))
        acc_sub[pn_name].append(acc[pn_name][-1])
        for name, est in ests.items():
            if k == 0:
                pred, t, _ = timed(lambda: est.predict(X), 5)
                speed[name]["per_pair_s"] = t / len(X)
            else:
                pred = est.predict(X)
            acc[name].append(_acc(pred, te, ln))
            acc_sub[name].append(_acc(pred[sub], te[sub], ln[sub]))
        # (b) high densities
        te_h, ln_h, X_h = _truth(min(400, args.n_pyneb * 2), seed=100 + seed, te_range=(8000.0, 15000.0),
                                 ln_range=(4.0, 5.0))
        hd["PyNeb getCrossTemDen"].append(_acc(_pyneb(X_h)[0], te_h, ln_h))
        hd["TeNeEstimator table + Newton"].append(_acc(ests["TeNeEstimator table + Newton"].predict(X_h), te_h, ln_h))

    # (c) Monte Carlo in a fresh process (peak RSS), 1 and N threads
    mc = []
    for jobs in sorted({1, args.mc_jobs}):
        log(f"Monte Carlo {args.mc_size}x{args.mc_size}x{args.mc_draws}, {jobs} thread(s)", "nebular")
        cmd = [sys.executable, __file__, "--mc-only", "--mc-size", str(args.mc_size), "--mc-draws",
               str(args.mc_draws), "--mc-jobs", str(jobs), "--threads", str(args.threads)]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        outp = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
        r = json.loads(outp.strip().splitlines()[-1])
        r["jobs"] = jobs
        mc.append(r)

    def col(accs, key, spec=".2g"):
        return fmt_spread([a[key] for a in accs], spec)

    pn_pp = speed[pn_name]["per_pair_s"]
    table_rows = []
    for name, sp in speed.items():
        a = acc[name]
        pn = name == pn_name
        table_rows.append({
            "method": name, "fit [s]": "-" if pn else f"{sp['fit_s']:.1f}",
            "10k pairs [s]": f"{sp['per_pair_s'] * 10_000:.1f} (scaled)" if pn else f"{sp['per_pair_s'] * 10_000:.4f}",
            "pairs/s": f"{1 / sp['per_pair_s']:.3g}", "speed-up vs PyNeb": f"{pn_pp / sp['per_pair_s']:.0f}",
            "valid": _pct([x["valid"] for x in a]),
            "median abs dTe [K]": col(a, "med_dte"), "p95 abs dTe [K]": col(a, "p95_dte"),
            "max abs dTe [K]": col(a, "max_dte"),
            "median abs dlogNe [dex]": col(a, "med_dne"), "p95 abs dlogNe [dex]": col(a, "p95_dne"),
        })
    table_rows.insert(0, table_rows.pop())  # PyNeb first
    sub_rows = [{"method": name, "median abs dTe [K]": col(a, "med_dte", ".3g"),
                 "p95 abs dTe [K]": col(a, "p95_dte", ".3g"), "median abs dlogNe [dex]": col(a, "med_dne", ".3g"),
                 "p95 abs dlogNe [dex]": col(a, "p95_dne", ".3g"), "valid": _pct([x["valid"] for x in a])}
                for name, a in acc_sub.items()]
    hd_rows = [{"method": name, "valid (not NaN)": _pct([x["valid"] for x in a]),
                "median abs dTe [K]": col(a, "med_dte", ".3g"), "median abs dlogNe [dex]": col(a, "med_dne", ".3g"),
                "max abs dlogNe [dex]": col(a, "max_dne", ".3g")} for name, a in hd.items()]
    mc_rows = [{"threads": r["jobs"], "spaxels x draws": f"{args.mc_size}x{args.mc_size} x {args.mc_draws}",
                "inversions": f"{r['n_inversions']:,}", "wall [s]": f"{r['seconds']:.1f}",
                "inversions/s": f"{r['n_inversions'] / r['seconds']:.3g}",
                "RSS before [MB]": f"{r['rss_before_mb']:.0f}", "peak RSS [MB]": f"{r['peak_rss_mb']:.0f}",
                "spaxels ok": r["summary"]["spaxel_flags"].get("ok", 0)} for r in mc]
    best = min(mc, key=lambda r: r["seconds"])
    tab_name = "TeNeEstimator table + Newton"
    tab = acc[tab_name]
    md = [
        f"{args.n:,} ratio pairs per seed "
        "([O III] 4363/5007 = L(4363)/L(5007), [S II] 6731/6716 = L(6731)/L(6716), as PyNeb defines them) with "
        "known truth (Te uniform 7,000-20,000 K, log Ne uniform 1-4, ratios from PyNeb emissivities). "
        f"getCrossTemDen (default settings) runs on a random subsample of {args.n_pyneb} pairs and its time is "
        f"scaled linearly to 10,000 pairs. Speed: first seed, best of 5 calls (PyNeb: one call). "
        f"{seeds_note(args.seeds)} The nn is trained once (random_state {args.seeds[0]}).\n",
        md_table(table_rows),
        f"\nSpeed-up of the table method: **{pn_pp / speed[tab_name]['per_pair_s']:.0f}x** (target >= 10,000x). "
        f"Accuracy (all {args.n:,} pairs): median |dTe| = {col(tab, 'med_dte')} K (target <= 2 K), "
        f"p95 |dTe| = {col(tab, 'p95_dte')} K (<= 10 K), median |dlogNe| = {col(tab, 'med_dne')} dex "
        "(<= 0.001 dex).\n",
        f"\nSame {args.n_pyneb}-pair subsample for every method (accuracy against the truth):\n",
        md_table(sub_rows),
        "\nHigh densities (log Ne uniform 4-5, Te 8,000-15,000 K; the [S II] ratio is still density "
        "sensitive there; TeNeEstimator's sensitive range ends "
        f"{ests[tab_name].ne_upper_log_:.2f} at 10^4 K):\n",
        md_table(hd_rows),
        "\nMonte Carlo over a synthetic IFU cube (`monte_carlo_temden`, table method, chunks of 1 M "
        "inversions; fresh process, peak RSS = max RSS; no-data spaxels are not inverted):\n",
        md_table(mc_rows),
        f"\nFastest: {best['seconds']:.1f} s for {best['n_inversions']:,} inversions with {best['jobs']} thread(s) "
        "(target <= 15 s for 6 M); memory is bounded by the chunk size (peak RSS minus RSS before = "
        f"{best['peak_rss_mb'] - best['rss_before_mb']:.0f} MB).\n",
        "\nThe solution-set search on the same Te/Ne forward model (run time, forward calls) is in the "
        "`nebular_inference` benchmark.\n",
    ]
    data = {"seeds": args.seeds, "speed": speed, "accuracy": acc, "accuracy_subsample": acc_sub,
            "high_density": hd, "monte_carlo": mc}
    write_results("nebular", "# nebular: Te/Ne inversion (TeNeEstimator vs PyNeb getCrossTemDen)", "\n".join(md),
                  data, info, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
