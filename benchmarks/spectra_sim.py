"""Benchmark: quasar spectra simulation speed, memory, forest transmission, continuum, template redshifts.

Run: ``.venv/bin/python benchmarks/spectra_sim.py [--n 10000] [--quick] [--seeds 0 1 2] [--out-dir DIR]``.
Writes ``<out-dir>/spectra_sim.md`` and ``.json``.

Accuracy parts (forest transmission vs FG08, continuum vs DR16Q, template redshifts) are repeated
per seed (simulator seeds 101 + s, 12345 + s; continuum draws seeded s) and reported as median
(min-max); the speed part uses one seed.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    SHARED_DATA,
    RunInfo,
    add_common_args,
    fmt_spread,
    md_table,
    parse_args,
    peak_rss_mb,
    pin_threads,
    seeds_note,
    write_results,
)

from agnlab.spectra import QuasarSimulator, TemplateRedshift, tau_eff_fg08  # noqa: E402

C_KMS = 299792.458
LYA = 1215.67
REFERENCE_S_PER_SPECTRUM = 20 * 3600 / 10000  # reference study: 10,000 spectra in ~20 h
SHARED = SHARED_DATA
rss_mb = peak_rss_mb


def forest_stats(wave, trans, zq, acc, z_bins, half=0.1):
    rest = wave[None, :] / (1 + zq[:, None])
    zp = np.broadcast_to(wave / LYA - 1, rest.shape)
    forest = (rest > 1041) & (rest < 1185)
    for z0 in z_bins:
        m = forest & (np.abs(zp - z0) < half)
        acc.setdefault(z0, [0.0, 0.0, 0])
        acc[z0][0] += float(trans[m].sum())
        acc[z0][1] += float(np.exp(-tau_eff_fg08(zp[m])).sum())
        acc[z0][2] += int(m.sum())


def cpu_seconds():
    ru_s, ru_c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru_s.ru_utime + ru_s.ru_stime + ru_c.ru_utime + ru_c.ru_stime


def run_speed(n, n_jobs, chunk=256, seed=0, backend="threads"):
    sim = QuasarSimulator(seed=seed)
    sim.simulate(2)  # warm caches
    t0 = time.perf_counter()
    c0 = cpu_seconds()
    acc, n_dla, n_abs = {}, 0, 0
    for part in sim.iter_chunks(n, chunk_size=chunk, n_jobs=n_jobs, backend=backend):
        forest_stats(part.wave_aa, part.transmission, part.truth["z_qso"].to_numpy(), acc, (2.0, 3.0))
        n_dla += len(part.dlas)
        n_abs += int(part.truth["n_abs"].sum())
    dt = time.perf_counter() - t0
    cpu = cpu_seconds() - c0
    return dict(n=n, n_jobs=n_jobs, backend=backend, seconds=dt, rate=n / dt, cpu_ms=1000 * cpu / n, n_dla=n_dla,
                n_abs_mean=n_abs / n, acc=acc)


def run_fg08(n, n_jobs, seed=0):
    sim = QuasarSimulator(seed=101 + seed, z_range=(2.15, 4.3), dla_rate_per_dz=0.0, noise=False)
    acc = {}
    for part in sim.iter_chunks(n, chunk_size=256, n_jobs=n_jobs):
        forest_stats(part.wave_aa, part.transmission, part.truth["z_qso"].to_numpy(), acc, (2.0, 2.5, 3.0, 3.5, 4.0))
    return acc


def continuum_check(seed=0):
    from agnlab.spectra import ContinuumModel, read_redrock_templates, relative_log_luminosity

    path = SHARED / "qso" / "rrtemplate-QSO-HIZ-v1.1.fits"
    if not path.exists():
        return None
    wave, eig = read_redrock_templates(path)
    ref = eig[0] / np.interp(1450.0, wave, eig[0])
    sel = (wave > 1100) & (wave < 3000) & ~((wave > 1215.67) & (wave < 1216.9))
    rng = np.random.default_rng(seed)
    n = 1000
    z, mag = rng.uniform(2, 4, n), rng.uniform(18, 20.5, n)
    m = ContinuumModel()
    p = m.sample_params([np.random.default_rng([seed, i]) if seed else np.random.default_rng(i) for i in range(n)],
                        relative_log_luminosity(z, mag))
    spec = m.evaluate_rest(p, wave[sel])
    spec /= np.array([np.interp(1450.0, wave[sel], s) for s in spec])[:, None]
    rel = spec.mean(0) / ref[sel] - 1
    return dict(max_abs=float(np.abs(rel).max()), rms=float(np.sqrt(np.mean(rel ** 2))),
                at=float(wave[sel][np.argmax(np.abs(rel))]))


def template_bench(n, seed=0):
    test = QuasarSimulator(seed=12345 + seed).simulate(n, chunk_size=64)
    z = test.truth["z_qso"].to_numpy()
    mag = test.truth["mag"].to_numpy()
    rows = []
    variants = [("built-in PCA (4)", None)]
    rr = SHARED / "qso" / "rrtemplate-QSO-HIZ-v1.1.fits"
    if rr.exists():
        variants.append(("redrock QSO-HIZ (4)", rr))
    for name, t in variants:
        tz = TemplateRedshift(templates=t).fit()
        t0 = time.perf_counter()
        res = tz.predict(test.wave_aa, test.flux, test.ivar)
        dt = time.perf_counter() - t0
        dv = C_KMS * (res["z"].to_numpy() - z) / (1 + z)
        row = dict(templates=name, n=n, median_abs_dv=float(np.median(np.abs(dv))),
                   cat_rate=float(np.mean(np.abs(dv) > 3000)), rate=n / dt)
        for lo, hi in ((18.0, 19.0), (19.0, 20.0), (20.0, 20.5)):
            m = (mag >= lo) & (mag < hi + 1e-9)
            row[f"med_{lo:.0f}_{hi:.1f}"] = float(np.median(np.abs(dv[m])))
            row[f"cat_{lo:.0f}_{hi:.1f}"] = float(np.mean(np.abs(dv[m]) > 3000))
        rows.append(row)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, threads=1)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--n-fg", type=int, default=2000)
    ap.add_argument("--n-template", type=int, default=1000)
    args = parse_args(ap, argv)
    if args.quick:
        args.n, args.n_fg, args.n_template = 512, 256, 64
    info = RunInfo(argv)
    with pin_threads(args.threads):
        r1 = run_speed(max(256, args.n // 10), n_jobs=1)
        rss1 = rss_mb()
        rt = run_speed(max(512, args.n // 5), n_jobs=2, backend="threads")
        r2 = run_speed(args.n, n_jobs=2, backend="processes")
        rss = rss_mb()
        fgs = [run_fg08(args.n_fg, n_jobs=2, seed=seed) for seed in args.seeds]
        conts = [continuum_check(seed) for seed in args.seeds]
        tmpls = [template_bench(args.n_template, seed) for seed in args.seeds]
    lines = [f"Workers use {args.threads} BLAS thread(s) each. {seeds_note(args.seeds)}", ""]
    lines += ["## Speed and memory (default 4MOST-like instrument, 24,001 pixels, z 2-4, mag 18-20.5)", "",
              "| run | spectra | wall s | spectra/s (wall) | x reference (20 h / 10,000) | CPU ms / spectrum |",
              "|---|---|---|---|---|---|"]
    for r in (r1, rt, r2):
        lines.append(f"| {r['n_jobs']} worker(s), {r['backend'] if r['n_jobs'] > 1 else 'serial'} | {r['n']} | "
                     f"{r['seconds']:.1f} | {r['rate']:.1f} | {r['rate'] * REFERENCE_S_PER_SPECTRUM:.0f}x | "
                     f"{r['cpu_ms']:.1f} |")
    lines += ["", f"Peak RSS of the main process: {rss1:.0f} MB after the serial run, {rss:.0f} MB at the end "
              f"(workers hold one 64-spectrum chunk each). CPU time per spectrum projects to "
              f"{2000.0 / r1['cpu_ms']:.0f} spectra/s on 2 idle cores. "
              f"2 processes vs serial (wall): {r2['rate'] / r1['rate']:.2f}x; 2 threads vs serial: "
              f"{rt['rate'] / r1['rate']:.2f}x. "
              f"Mean forest absorbers per spectrum: {r2['n_abs_mean']:.0f}; DLAs: {r2['n_dla']} "
              f"({r2['n_dla'] / r2['n']:.3f} per spectrum). Streaming in chunks of 256 spectra "
              f"(`iter_chunks` / `simulate_to_file`), so memory does not grow with n.", ""]
    lines += ["## Mean Lyman-alpha forest transmission vs Faucher-Giguere et al. (2008)", "",
              f"Noise-free transmission in the Ly-alpha forest (rest 1041-1185 A), absorber redshift z +- 0.1, "
              f"{args.n_fg} spectra without DLAs per seed (simulator seed 101 + seed):", "",
              "| z | pixels | <F> simulated | exp(-tau_eff) FG08 | ratio - 1 (%) |", "|---|---|---|---|---|"]
    for z0 in sorted(fgs[0]):
        vals = [fg[z0] for fg in fgs if fg[z0][2]]
        if vals:
            lines.append(f"| {z0:.1f} | {fmt_spread([c for _, _, c in vals], '.0f')} | "
                         f"{fmt_spread([s / c for s, _, c in vals], '.4f')} | "
                         f"{fmt_spread([e / c for _, e, c in vals], '.4f')} | "
                         f"{fmt_spread([s / e - 1 for s, e, _ in vals], '+.2f', 100)} |")
    lines += ["", "With DLAs (0.2 per unit z) in the main run: " + ", ".join(
        f"z={z0:.0f}: {s / e - 1:+.2%}" for z0, (s, e, c) in sorted(r2["acc"].items()) if c), ""]
    if conts[0]:
        lines += ["## Continuum vs the SDSS DR16Q mean quasar (redrock QSO-HIZ eigenspectrum 0)", "",
                  f"Mean of 1,000 simulated continua normalised at 1450 A, rest 1100-3000 A: max |deviation| "
                  f"{fmt_spread([c['max_abs'] for c in conts], '.1f', 100)} % (at "
                  f"{fmt_spread([c['at'] for c in conts], '.0f')} A), rms "
                  f"{fmt_spread([c['rms'] for c in conts], '.1f', 100)} % (issue limit: 10 %).", ""]
    lines += ["## Template chi-square redshift baseline (`TemplateRedshift`)", "",
              f"{args.n_template} held-out simulated spectra per seed (simulator seed 12345 + seed), coarse grid "
              f"69 km/s + fine 10 km/s, mean-IGM-corrected templates, {args.threads} thread(s).", ""]
    trows = []
    for k, r in enumerate(tmpls[0]):
        rs = [t[k] for t in tmpls]

        def sp(key, spec=".0f", scale=1.0):
            return fmt_spread([x[key] for x in rs], spec, scale)

        trows.append({"templates": r["templates"], "median abs dv (km/s)": sp("median_abs_dv"),
                      "catastrophic (>3000 km/s) %": sp("cat_rate", ".2f", 100), "med 18-19": sp("med_18_19.0"),
                      "med 19-20": sp("med_19_20.0"), "med 20-20.5": sp("med_20_20.5"),
                      "cat 20-20.5 %": sp("cat_20_20.5", ".2f", 100), "spectra/s": sp("rate", ".1f")})
    lines += [md_table(trows)]
    data = {"seeds": args.seeds, "speed": {"serial": r1, "threads": rt, "processes": r2, "rss_mb": [rss1, rss]},
            "fg08": [{str(k): v for k, v in fg.items()} for fg in fgs], "continuum": conts, "templates": tmpls}
    for r in (r1, rt, r2):
        r["acc"] = {str(k): v for k, v in r["acc"].items()}
    write_results("spectra_sim", "# Spectra simulation benchmark (`benchmarks/spectra_sim.py`)", "\n".join(lines),
                  data, info, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
