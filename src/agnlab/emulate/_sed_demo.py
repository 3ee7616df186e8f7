"""Demo section "infer": the solution set of a torus SED fitted with a NeuralEmulator.

Also the worked problem behind it (:func:`torus_sed_problem`), used by the
inference benchmark.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TORUS_SED_TRUTH", "TORUS_SED_WAVE_UM", "run_demo", "torus_sed_problem"]

#: Observed bands [um] of the demo torus SED (near- to far-infrared).
TORUS_SED_WAVE_UM = np.array([1.25, 1.65, 2.2, 3.4, 4.6, 8.0, 10.0, 12.0, 15.0, 18.0, 22.0, 25.0, 30.0, 40.0,
                              70.0])
#: True parameters of the demo torus SED, in ``agnlab.grids.CLUMPY_PARAM_NAMES`` order (tv, N0, sig, Y, q, i).
TORUS_SED_TRUTH = np.array([40.0, 5.0, 30.0, 20.0, 1.5, 60.0])
TORUS_SED_WAVE_UM.setflags(write=False)
TORUS_SED_TRUTH.setflags(write=False)


def torus_sed_problem(*, n_models: int = 4000, max_epochs: int = 400, seed: int = 0, noise_dex: float = 0.03):
    """A NeuralEmulator of the built-in clumpy-torus generator and an observed IR SED.

    Returns
    -------
    dict
        ``emulator``, ``forward`` (theta (n, 6) -> log10 flux at :data:`TORUS_SED_WAVE_UM`),
        ``exact`` (the generator itself), ``observed``, ``sigma`` (photometric and emulator
        error in quadrature, dex), ``emulator_rms_dex``, ``bounds``, ``names``, ``truth``.
    """
    from ..grids import CLUMPY_PARAM_NAMES, CLUMPY_PARAM_RANGES, clumpy_like_grid, clumpy_like_sed
    from ..inference import sed_forward
    from ._neural import NeuralEmulator

    names = list(CLUMPY_PARAM_NAMES)
    grid = clumpy_like_grid(n_models, seed=seed, progress=False)
    emu = NeuralEmulator(hidden=(64, 64), n_components=12, max_epochs=max_epochs, patience=60, batch_size=512,
                         lbfgs_steps=0, progress=False, param_names=names, on_out_of_domain="nan", n_jobs=1,
                         random_state=seed)
    emu.fit(grid.params, grid.flux, wave_um=grid.wave_um)
    fwd = sed_forward(emu.predict, grid.wave_um, TORUS_SED_WAVE_UM)
    exact = sed_forward(clumpy_like_sed, grid.wave_um, TORUS_SED_WAVE_UM)
    rng = np.random.default_rng(seed)
    observed = exact(TORUS_SED_TRUTH[None])[0] + 2.0 + rng.normal(0.0, noise_dex, TORUS_SED_WAVE_UM.size)
    # photometric error + the emulator's own error in each band (RMS over fresh generator models), in dex
    check = clumpy_like_grid(300, seed=seed + 1, progress=False)
    with np.errstate(invalid="ignore"):
        err = fwd(check.params) - exact(check.params)
    emu_rms = np.sqrt(np.nanmean(err**2, axis=0))
    sigma = np.hypot(noise_dex, emu_rms)
    bounds = np.array([CLUMPY_PARAM_RANGES[n] for n in names], dtype=float)
    return {"emulator": emu, "forward": fwd, "exact": exact, "observed": observed, "sigma": sigma,
            "emulator_rms_dex": emu_rms,
            "bounds": bounds, "names": names, "truth": TORUS_SED_TRUTH.copy()}


def _banana_figure(sol, truth, names):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 4.2))
    ax = fig.subplots()
    d = sol.solutions_chi2 - sol.best_chi2
    sc = ax.scatter(sol.solutions[:, 0], sol.solutions[:, 1], c=d, s=3, cmap="viridis_r", rasterized=True,
                    linewidths=0)
    fig.colorbar(sc, ax=ax, label=r"$\Delta\chi^2$")
    ax.plot(truth[0], truth[1], "s", color="red", label="truth")
    ax.plot(sol.best_theta[0], sol.best_theta[1], "x", color="k", ms=8, label="best fit")
    ax.set_xscale("log")
    ax.set_xlabel(names[0] + r" ($\tau_V$ per cloud)")
    ax.set_ylabel(names[1] + " (clouds per equatorial ray)")
    ax.legend(loc="best", fontsize=8)
    return fig


def run_demo(report, *, seed: int = 0, quick: bool = False) -> None:
    """Add the "infer" section: the tau_V - N0 degeneracy of a torus SED fit with a NeuralEmulator."""
    from ..inference import solution_set

    sec = report.section(
        "infer", "Inference: every parameter set consistent with an observation",
        intro="agnlab.inference.solution_set searches a forward model or emulator with differential evolution "
              "(vectorised; every evaluated vector archived) and keeps all parameter vectors with chi^2 within "
              "Delta chi^2 of the minimum; emcee then samples the posterior from that archive. Here a "
              "clumpy-torus IR SED is fitted with a NeuralEmulator of the built-in generator (an approximation "
              "of CLUMPY), where tau_V and N0 trade off along an elongated valley. (Te and Ne from line ratios: "
              "the nebular section.)")
    rows = []
    prob = torus_sed_problem(n_models=2000 if quick else 6000, max_epochs=250 if quick else 800, seed=seed)
    names = prob["names"]
    k_tv, k_n0 = names.index("tv"), names.index("N0")
    fixed = prob["truth"].copy()

    def slice_fwd(theta2):
        th = np.repeat(fixed[None], theta2.shape[0], axis=0)
        th[:, k_tv], th[:, k_n0] = theta2[:, 0], theta2[:, 1]
        return prob["forward"](th)

    b2 = prob["bounds"][[k_tv, k_n0]]
    sl = solution_set(slice_fwd, prob["observed"], prob["sigma"], b2, offset="profile", random_state=seed,
                      maxiter=60, confidence=0.9545, n_fill=5000 if quick else 40000, param_names=["tv", "N0"])
    sec.figure(_banana_figure(sl, prob["truth"][[k_tv, k_n0]], ["tv", "N0"]),
               "Solution set (95 % joint) in the tau_V - N0 plane, other torus parameters at their true "
               "values: an elongated, anti-correlated degeneracy valley, not a point")
    rows.append({"problem": "torus SED, tv-N0 slice (emulator)", "params": 2,
                 "n_forward_calls": sl.n_forward_calls, "runtime_s": round(sl.runtime_s, 3),
                 "n_solutions": sl.n_solutions, "best": ", ".join(f"{v:.4g}" for v in sl.best_theta)})
    full = solution_set(prob["forward"], prob["observed"], prob["sigma"], prob["bounds"], offset="profile",
                        method="de" if quick else "emcee", random_state=seed, maxiter=60 if quick else 150,
                        n_steps=3000, param_names=names)
    sec.figure(full.plot_corner(truths=prob["truth"]),
               "All six torus parameters: " + ("solution set (DE archive, colour = Delta chi^2)" if quick else
                                               "posterior samples (emcee)") + "; red = truth")
    rows.append({"problem": "torus SED, 6 params (emulator)", "params": 6, "n_forward_calls": full.n_forward_calls,
                 "runtime_s": round(full.runtime_s, 3), "n_solutions": full.n_solutions,
                 "best": ", ".join(f"{v:.3g}" for v in full.best_theta)})
    sec.table(rows, "Solution-set searches: forward-model evaluations and run time")
    rng_tv = sl.ranges()["tv"]
    rng_n0 = sl.ranges()["N0"]
    sec.metrics({
        "torus_slice_n_forward_calls": sl.n_forward_calls, "torus_slice_runtime_s": sl.runtime_s,
        "torus_slice_n_solutions": sl.n_solutions, "torus_slice_tv_range": list(rng_tv),
        "torus_slice_n0_range": list(rng_n0),
        "torus_slice_tv_n0_corr": float(np.corrcoef(np.log(sl.solutions[:, 0]), sl.solutions[:, 1])[0, 1]),
        "torus_full_n_forward_calls": full.n_forward_calls, "torus_full_runtime_s": full.runtime_s,
        "torus_full_n_solutions": full.n_solutions, "torus_full_reduced_chi2": full.reduced_chi2,
        "emulator_rms_dex_at_bands": float(np.sqrt(np.mean(prob["emulator_rms_dex"] ** 2))),
    })
