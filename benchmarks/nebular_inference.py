"""Benchmark of agnlab.inference (solution sets) and agnlab.nebular ICFRegressor (issue 4, items 3-4).

Run: ``.venv/bin/python benchmarks/nebular_inference.py [--quick] [--seeds 0 1 2] [--out-dir DIR]``;
writes <out-dir>/nebular_inference.md and .json.

Spread over ``--seeds``: (a) the width of the solution region relative to the reference for each
sampler seed (run times and calls: the first seed); (b) the emulator's RMS error, one emulator
trained per seed (the fits: first seed); (c) ICF accuracy, per seed a new table, split and
regressor initialisation.

(a) Te/Ne from [O III] 4363/5007 + [S II] 6731/6716: solution-set search on the
    PyNeb forward model (direct emissivities, and a cubic table of them), run
    time and forward-model calls per method; the region compared with a dense
    brute-force scan of the same model.
(b) Torus SED fit: NeuralEmulator of the built-in clumpy-torus generator fitting
    a 15-band IR SED (6 parameters, free normalisation), per method; the same
    search with the generator itself as forward model (speed ratio); and the
    real CLUMPY 3-parameter grid (../shared/data/torus) through GridForward.
(c) ICF accuracy: ICFRegressor (GBM and ANN) against PyNeb's classical ICFs on
    held-out rows of the approximate ionisation-balance table.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import (
    SHARED_DATA,
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


def _log(msg):
    _clog(msg, "nebular_inference")


_md_table = md_table


class _Counted:
    def __init__(self, f):
        self.f, self.rows = f, 0

    def __call__(self, theta):
        self.rows += np.atleast_2d(theta).shape[0]
        return self.f(theta)


def bench_tene(quick, seeds=(0,)):
    from agnlab.inference import ChiSquare, solution_set
    from agnlab.nebular import TEMDEN_BOUNDS as TENE_BOUNDS
    from agnlab.nebular import TeNeForward, temden_forward

    table = temden_forward(table_shape=(61, 61))
    direct = TeNeForward()
    truth = np.array([11000.0, 3.3])
    sig = np.full(2, 0.013)
    obs = table(truth[None])[0] + np.random.default_rng(1).normal(0, sig)
    rows = []
    n_steps = 1000 if quick else 3000
    cases = [("PyNeb direct", direct, "de", {}),
             ("PyNeb direct", direct, "emcee", {"n_steps": 300 if quick else 1000}),
             ("PyNeb table (cubic)", table, "de", {}),
             ("PyNeb table (cubic)", table, "de", {"n_fill": 20000}),
             ("PyNeb table (cubic)", table, "emcee", {"n_steps": n_steps}),
             ("PyNeb table (cubic)", table, "dynesty", {"nlive": 300}),
             ("PyNeb table (cubic)", table, "pymoo", {})]
    results = {}
    for name, f, method, kw in cases:
        _log(f"Te/Ne {name} {method}")
        try:
            res = solution_set(f, obs, sig, TENE_BOUNDS, method=method, random_state=seeds[0], maxiter=80,
                               param_names=["te_k", "log_ne_cm3"], **kw)
        except ImportError as exc:
            rows.append({"model": name, "method": method, "note": f"skipped: {exc}"})
            continue
        r = res.ranges()
        label = method + (" + fill" if kw.get("n_fill") else "")
        results[(name, label)] = res
        ci = res.credible_intervals(0.6827) if res.samples is not None else None
        rows.append({"model": name, "method": label, "calls": res.n_forward_calls, "batches": res.n_batches,
                     "time_s": res.runtime_s, "us_per_call": 1e6 * res.runtime_s / res.n_forward_calls,
                     "n_solutions": res.n_solutions, "te_range": f"{r['te_k'][0]:.0f}-{r['te_k'][1]:.0f}",
                     "ne_range": f"{r['log_ne_cm3'][0]:.3f}-{r['log_ne_cm3'][1]:.3f}",
                     "te_ci": None if ci is None else f"{ci.loc['te_k', 'median']:.0f} -{ci.loc['te_k', 'minus']:.0f}"
                                                        f" +{ci.loc['te_k', 'plus']:.0f}",
                     "note": ""})
    # brute force: dense scan of the table model (the reference region)
    n = 300 if quick else 800
    te = np.linspace(*TENE_BOUNDS[0], n)
    ne = np.linspace(*TENE_BOUNDS[1], n)
    grid = np.stack(np.meshgrid(te, ne, indexing="ij"), axis=-1).reshape(-1, 2)
    t0 = time.perf_counter()
    chi2 = ChiSquare(table, obs, sig, TENE_BOUNDS, archive=False)(grid)
    t_bf = time.perf_counter() - t0
    ref = results[("PyNeb table (cubic)", "de")]
    inside = grid[chi2 <= chi2.min() + ref.delta_chi2]
    rows.append({"model": "PyNeb table (cubic)", "method": f"brute-force {n}x{n} scan", "calls": grid.shape[0],
                 "batches": None, "time_s": t_bf, "us_per_call": 1e6 * t_bf / grid.shape[0],
                 "n_solutions": int(inside.shape[0]),
                 "te_range": f"{inside[:, 0].min():.0f}-{inside[:, 0].max():.0f}",
                 "ne_range": f"{inside[:, 1].min():.3f}-{inside[:, 1].max():.3f}", "te_ci": None,
                 "note": "full box, coarse"})
    # reference region: a dense scan zoomed on the region (box = DE ranges widened 2x each side)
    lo = np.array([v[0] for v in ref.ranges().values()])
    hi = np.array([v[1] for v in ref.ranges().values()])
    zlo, zhi = np.maximum(lo - (hi - lo), TENE_BOUNDS[:, 0]), np.minimum(hi + (hi - lo), TENE_BOUNDS[:, 1])
    m = 600
    zg = np.stack(np.meshgrid(np.linspace(zlo[0], zhi[0], m), np.linspace(zlo[1], zhi[1], m), indexing="ij"),
                  axis=-1).reshape(-1, 2)
    zc = ChiSquare(table, obs, sig, TENE_BOUNDS, archive=False)(zg)
    zin = zg[zc <= min(zc.min(), chi2.min()) + ref.delta_chi2]
    rows.append({"model": "PyNeb table (cubic)", "method": f"zoomed {m}x{m} scan", "calls": zg.shape[0],
                 "batches": None, "time_s": None, "us_per_call": None, "n_solutions": int(zin.shape[0]),
                 "te_range": f"{zin[:, 0].min():.0f}-{zin[:, 0].max():.0f}",
                 "ne_range": f"{zin[:, 1].min():.3f}-{zin[:, 1].max():.3f}", "te_ci": None,
                 "note": "reference region (needs the answer first)"})
    cover = {}  # sampler -> [[Te width ratio, log Ne width ratio] per seed]
    for seed in seeds:
        for name, f, method, kw in cases:
            label = method + (" + fill" if kw.get("n_fill") else "")
            if name != "PyNeb table (cubic)" or method == "pymoo" or (name, label) not in results:
                continue
            if seed == seeds[0]:
                res = results[(name, label)]
            else:
                _log(f"Te/Ne {name} {label} seed {seed}")
                res = solution_set(f, obs, sig, TENE_BOUNDS, method=method, random_state=seed, maxiter=80,
                                   param_names=["te_k", "log_ne_cm3"], **kw)
            r = res.ranges()
            cover.setdefault(label, []).append([(r["te_k"][1] - r["te_k"][0]) / np.ptp(zin[:, 0]),
                                                (r["log_ne_cm3"][1] - r["log_ne_cm3"][0]) / np.ptp(zin[:, 1])])
    d_de = results[("PyNeb direct", "de")]
    d_tab = results[("PyNeb table (cubic)", "de")]
    return rows, cover, {"direct_over_table_time": d_de.runtime_s / d_tab.runtime_s,
                         "bf_over_de_calls": grid.shape[0] / d_tab.n_forward_calls}


def bench_torus(quick, shared, with_dynesty=False, seeds=(0,)):
    from agnlab.emulate import TORUS_SED_WAVE_UM as SED_WAVE_UM
    from agnlab.emulate import torus_sed_problem as torus_problem
    from agnlab.inference import GridForward, sed_forward, solution_set

    t0 = time.perf_counter()
    prob = torus_problem(n_models=3000 if quick else 6000, max_epochs=300 if quick else 800, seed=seeds[0])
    t_train = time.perf_counter() - t0
    emu_rms = [float(np.sqrt(np.mean(prob["emulator_rms_dex"] ** 2)))]
    for seed in seeds[1:]:  # the emulator's accuracy over training seeds (the fits below use the first)
        _log(f"torus emulator, seed {seed}")
        p_s = torus_problem(n_models=3000 if quick else 6000, max_epochs=300 if quick else 800, seed=seed)
        emu_rms.append(float(np.sqrt(np.mean(p_s["emulator_rms_dex"] ** 2))))
    rows = []
    res_emu = None
    # dynesty evaluates one vector per likelihood call: on this 6-parameter fit that is ~10^5-10^6 single
    # emulator calls (minutes), so it runs only with --with-dynesty
    methods = [("de", {}), ("emcee", {"n_steps": 1000 if quick else 4000}), ("pymoo", {})]
    if with_dynesty:
        methods.insert(2, ("dynesty", {"nlive": 300}))
    for method, kw in methods:
        _log(f"torus emulator {method}")
        try:
            res = solution_set(prob["forward"], prob["observed"], prob["sigma"], prob["bounds"], method=method,
                               offset="profile", random_state=0, maxiter=150, param_names=prob["names"], **kw)
        except ImportError as exc:
            rows.append({"forward": "NeuralEmulator", "method": method, "note": f"skipped: {exc}"})
            continue
        if method == "de":
            res_emu = res
        r = res.ranges()
        rows.append({"forward": "NeuralEmulator", "method": method, "calls": res.n_forward_calls,
                     "time_s": res.runtime_s, "us_per_call": 1e6 * res.runtime_s / res.n_forward_calls,
                     "n_solutions": res.n_solutions, "red_chi2": res.reduced_chi2,
                     "tv": f"{r['tv'][0]:.0f}-{r['tv'][1]:.0f}", "N0": f"{r['N0'][0]:.1f}-{r['N0'][1]:.1f}",
                     "note": ""})
    # the same DE search with the generator itself (no emulator)
    _log("torus generator de")
    res_gen = solution_set(prob["exact"], prob["observed"], prob["sigma"], prob["bounds"], method="de",
                           offset="profile", random_state=0, maxiter=150 if not quick else 40,
                           param_names=prob["names"])
    r = res_gen.ranges()
    rows.append({"forward": "built-in generator (exact)", "method": "de" + (" (40 gen)" if quick else ""),
                 "calls": res_gen.n_forward_calls, "time_s": res_gen.runtime_s,
                 "us_per_call": 1e6 * res_gen.runtime_s / res_gen.n_forward_calls,
                 "n_solutions": res_gen.n_solutions, "red_chi2": res_gen.reduced_chi2,
                 "tv": f"{r['tv'][0]:.0f}-{r['tv'][1]:.0f}", "N0": f"{r['N0'][0]:.1f}-{r['N0'][1]:.1f}", "note": ""})
    extra = {"train_s": t_train, "emu_rms_dex": emu_rms,
             "speed_ratio": (res_gen.runtime_s / res_gen.n_forward_calls) /
                            (res_emu.runtime_s / res_emu.n_forward_calls) if res_emu else None}
    # real CLUMPY grid (3 parameters) via GridForward
    path = shared / "torus" / "clumpy_nenkova08_3p.npz"
    if path.exists():
        from agnlab.grids import load_grid

        g = load_grid(path)
        f = sed_forward(GridForward.from_model_grid(g), g.wave_um, SED_WAVE_UM, output="log_flux")
        truth = np.array([[40.0, 50.0, 120.0]])
        sig = np.full(SED_WAVE_UM.size, 0.04)
        obs = f(truth)[0] + 3.0 + np.random.default_rng(2).normal(0, sig)
        b = np.array([g.param_ranges[n] for n in g.param_names])
        for method, kw in [("de", {}), ("emcee", {"n_steps": 1000 if quick else 3000})]:
            res = solution_set(f, obs, sig, b, method=method, offset="profile", random_state=0, maxiter=150,
                               param_names=list(g.param_names), **kw)
            r = res.ranges()
            rows.append({"forward": "real CLUMPY 3-param grid (GridForward)", "method": method,
                         "calls": res.n_forward_calls, "time_s": res.runtime_s,
                         "us_per_call": 1e6 * res.runtime_s / res.n_forward_calls, "n_solutions": res.n_solutions,
                         "red_chi2": res.reduced_chi2, "tv": f"{r['tv'][0]:.0f}-{r['tv'][1]:.0f}",
                         "N0": "(i " + f"{r['i'][0]:.0f}-{r['i'][1]:.0f})", "note": ""})
    return rows, extra


def bench_icf(quick, seeds=(0,)):
    """ICF accuracy per seed (new table, split, regressor seed); rows as median (min-max) over seeds."""
    per_seed, imp_rows, t_gen = [], None, []
    for seed in seeds:
        rows, imp, extra = _bench_icf_seed(quick, seed)
        per_seed.append(rows)
        imp_rows = imp_rows or imp  # importances: the first seed
        t_gen.append(extra["gen_s"])
    rows = []
    for k, r0 in enumerate(per_seed[0]):
        vals = [rs[k] for rs in per_seed if k < len(rs) and rs[k]["method"] == r0["method"]]
        row = {"element": r0["element"], "method": r0["method"]}
        for c, spec in (("n_valid", ".0f"), ("median_abs_dex", ".4f"), ("p95_abs_dex", ".3f"), ("rmse_dex", ".3f"),
                        ("bias_dex", "+.3f"), ("out_of_domain", ".0f")):
            row[c] = fmt_spread([v[c] for v in vals], spec)
        rows.append(row)
    return rows, imp_rows, {"n_models": extra["n_models"], "gen_s": t_gen, "per_seed": per_seed}


def _bench_icf_seed(quick, seed):
    from agnlab.nebular import ICFRegressor, compare_icfs, ionization_table

    n = 3000 if quick else 10000
    t0 = time.perf_counter()
    table = ionization_table(n, seed=seed)
    t_gen = time.perf_counter() - t0
    n_tr = int(0.8 * n)
    train, test = table.iloc[:n_tr].reset_index(drop=True), table.iloc[n_tr:].reset_index(drop=True)
    rows = []
    imp_rows = []
    for el in ("O", "N", "Ne", "S", "Ar"):
        preds = {}
        for backend in ("gbm", "ann"):
            _log(f"ICF {el} {backend}")
            t0 = time.perf_counter()
            reg = ICFRegressor(target=f"log_icf_{el}", backend=backend, random_state=seed).fit(train)
            fit_s = time.perf_counter() - t0
            preds[backend] = reg.predict(test)
            if backend == "gbm":
                imp_rows.append({"element": el, **{f: float(v) for f, v in zip(reg.feature_names_in_,
                                                                            reg.gain_importances_)}})
            preds[backend + "_fit_s"] = fit_s
        ok = np.isfinite(preds["gbm"]) & np.isfinite(preds["ann"])
        sub = test[ok].reset_index(drop=True)
        cmp_g = compare_icfs(sub, el, predictions=preds["gbm"][ok], name="ICFRegressor gbm")
        cmp_a = compare_icfs(sub, el, predictions=preds["ann"][ok], name="ICFRegressor ann", labels=[])
        both = cmp_g.iloc[:1].to_dict("records") + cmp_a.to_dict("records") + cmp_g.iloc[1:].to_dict("records")
        for r in both:
            r["element"] = el
            r["out_of_domain"] = int((~ok).sum())
            rows.append(r)
    return rows, imp_rows, {"n_models": n, "gen_s": t_gen}


def main(argv=None) -> int:
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module="dynesty")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--with-dynesty", action="store_true", help="also run dynesty on the torus fit (slow)")
    args = parse_args(parser, argv)
    info = RunInfo(argv)
    with pin_threads(args.threads):
        tene_rows, cover, tene_extra = bench_tene(args.quick, args.seeds)
        torus_rows, torus_extra = bench_torus(args.quick, SHARED_DATA, args.with_dynesty, args.seeds)
        icf_rows, imp_rows, icf_extra = bench_icf(args.quick, args.seeds)

    md = [f"{seeds_note(args.seeds)} Run times, forward calls and fits: the first seed.\n",
          "## (a) Te / Ne from [O III] 4363/5007 and [S II] 6731/6716 (68.27 % joint region, 3 % errors)\n",
          "calls = parameter vectors evaluated by the forward model (all stages); batches = calls of the "
          "vectorised model.\n",
          _md_table(tene_rows, ["model", "method", "calls", "batches", "time_s", "us_per_call", "n_solutions",
                                "te_range", "ne_range", "te_ci", "note"],
                    {"time_s": "{:.3f}", "us_per_call": "{:.1f}"}),
          f"\nDE on the direct PyNeb model takes {tene_extra['direct_over_table_time']:.1f}x the time of DE on "
          f"the cubic table; the full-box brute-force scan needs {tene_extra['bf_over_de_calls']:.0f}x the forward "
          "calls of DE (and still resolves the region poorly). Width of the projected region relative to the "
          "zoomed-scan reference (Te, log Ne; sampler seeds as above): "
          + "; ".join(f"{k}: {fmt_spread([c[0] for c in v], '.2f')}, {fmt_spread([c[1] for c in v], '.2f')}"
                      for k, v in cover.items()) + ".\n",
          "## (b) Torus IR SED (15 bands, 6 parameters, free normalisation; 68.27 % joint region)\n",
          f"NeuralEmulator of the built-in clumpy-torus generator trained in {torus_extra['train_s']:.1f} s; "
          f"its RMS error at the fitted bands is {fmt_spread(torus_extra['emu_rms_dex'], '.3f')} dex over training "
          "seeds (added in quadrature to "
          "the 0.03 dex photometric errors).\n",
          _md_table(torus_rows, ["forward", "method", "calls", "time_s", "us_per_call", "n_solutions", "red_chi2",
                                 "tv", "N0", "note"],
                    {"time_s": "{:.3f}", "us_per_call": "{:.2f}", "red_chi2": "{:.2f}"}),
          "" if args.with_dynesty else "\ndynesty evaluates one parameter vector per likelihood call (no "
          "vectorised batches); on this 6-parameter fit that takes minutes, so it only runs with --with-dynesty; "
          "on the 2-parameter Te/Ne problem it is in table (a).\n",
          "\n" + (f"Per forward call the emulator is {torus_extra['speed_ratio']:.0f}x faster than the "
                  "generator in the same DE search.\n" if torus_extra["speed_ratio"] else ""),
          "## (c) ICF accuracy: total abundance log10(X/H) recovered on held-out models\n",
          f"Table: {icf_extra['n_models']} models of the approximate ionisation-balance model "
          f"per seed (agnlab.nebular.ionization_table, {fmt_spread(icf_extra['gen_s'], '.1f')} s), 80/20 split; "
          "features x_o2, x_he3, log O++/O+, log S++/S+, log Ar3+/Ar++. Caveat: the regressors are trained on "
          "the same model family they are tested on, while the classical ICFs were calibrated on other "
          "photoionisation grids; the comparison shows the method works, not that the approximate table is a "
          "good nebula. Production use "
          "needs a real photoionisation grid (e.g. 3MdB).\n",
          _md_table(icf_rows, ["element", "method", "n_valid", "median_abs_dex", "p95_abs_dex", "rmse_dex",
                               "bias_dex", "out_of_domain"]),
          "\nGBM gain importances (fraction of total split gain):\n",
          _md_table(imp_rows, list(imp_rows[0].keys()), {k: "{:.3f}" for k in imp_rows[0] if k != "element"})]
    data = {"seeds": args.seeds, "tene": {"rows": tene_rows, "cover": cover, **tene_extra},
            "torus": {"rows": torus_rows, **torus_extra}, "icf": {"rows": icf_rows, "importances": imp_rows,
                                                                  **icf_extra}}
    write_results("nebular_inference", "# Inference: solution sets (agnlab.inference) and ICF regressors "
                  "(agnlab.nebular.ICFRegressor)", "\n".join(md), data, info, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
