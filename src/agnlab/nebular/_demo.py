"""``agnlab demo`` section for the nebular workflow (built-in synthetic data only)."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run_demo", "degeneracy_figure", "maps_figure"]


def maps_figure(cube, res):
    """Truth, Monte Carlo medians, uncertainties and valid fraction of a cube.

    Parameters
    ----------
    cube : dict
        From :func:`agnlab.nebular.make_synthetic_cube`.
    res : MonteCarloResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis").with_extremes(bad="0.75")
    te_lo, te_hi = np.nanpercentile(cube["te_k"], [1, 99])
    ne_lo, ne_hi = np.nanpercentile(cube["log_ne"], [1, 99])
    te_err = 0.5 * (res.te_k_percentiles[-1] - res.te_k_percentiles[0])
    ne_err = 0.5 * (res.log_ne_percentiles[-1] - res.log_ne_percentiles[0])
    panels = [
        (cube["te_k"], "true Te [K]", (te_lo, te_hi), cmap),
        (res.te_k, "MC median Te [K]", (te_lo, te_hi), cmap),
        (te_err, "Te half 68% width [K]", None, cmap),
        (cube["log_ne"], "true log Ne [cm$^{-3}$]", (ne_lo, ne_hi), cmap),
        (res.log_ne, "MC median log Ne", (ne_lo, ne_hi), cmap),
        (ne_err, "log Ne half 68% width [dex]", None, cmap),
        (res.valid_fraction, "valid fraction of draws", (0, 1), plt.get_cmap("magma")),
        (np.where(res.spaxel_flags == 0, np.nan, res.spaxel_flags.astype(float)),
         "spaxel flag (blank = ok)", (0.5, 4.5), plt.get_cmap("tab10", 4)),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.2))
    for ax, (img, title, lim, cm) in zip(axes.ravel(), panels):
        kw = {} if lim is None else {"vmin": lim[0], "vmax": lim[1]}
        if lim is None:
            finite = img[np.isfinite(img)]
            if finite.size:
                kw = {"vmin": 0.0, "vmax": float(np.percentile(finite, 98))}
        im = ax.imshow(np.ma.masked_invalid(img), origin="lower", cmap=cm, **kw)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        bar = fig.colorbar(im, ax=ax, shrink=0.8)
        if title.startswith("spaxel flag"):  # integer codes of SPAXEL_FLAG_CODES
            bar.set_ticks([1, 2, 3, 4], labels=["no data", "bad error", "no valid", "few valid"])
    fig.suptitle("Synthetic IFU cube: Monte Carlo Te/Ne maps (NaN spaxels kept and flagged)", fontsize=11)
    fig.tight_layout()
    return fig


def _ratio_plane(ax, est):
    """Iso-Te and iso-Ne curves in the plane of the two observed ratios."""
    tes = [7000.0, 10000.0, 14000.0, 20000.0]
    lns = np.arange(0.0, 6.01, 1.0)
    lg = np.linspace(-1.5, 6.5, 300)
    for te in tes:
        r = est.forward(np.full(lg.size, te), lg)
        ax.plot(r[:, 1], r[:, 0], color="C0", lw=1)
        ax.annotate(f"{te / 1e3:.0f}kK", (r[-1, 1], r[-1, 0]), fontsize=7, color="C0")
    tg = np.geomspace(6000.0, 24000.0, 200)
    for ln in lns:
        r = est.forward(tg, np.full(tg.size, ln))
        ax.plot(r[:, 1], r[:, 0], color="C3", lw=0.8, ls="--")
        ax.annotate(f"{ln:.0f}", (r[0, 1], r[0, 0]), fontsize=7, color="C3")
    ax.set_yscale("log")
    ax.set_xlabel(est.den_spec_.name)
    ax.set_ylabel(est.tem_spec_.name)
    ax.set_title("ratio plane: iso-Te (solid), iso-log Ne (dashed);\nNe lines crowd at the low-density "
                 "limit and fold back at high density", fontsize=8)


def degeneracy_figure(est, *, seed=0, quick=True):
    """Solution sets for two observations: a low-density one and one beyond the turnover.

    Uses :func:`agnlab.inference.solution_set` on the estimator's forward
    surrogate (:meth:`TeNeEstimator.forward`).

    Returns
    -------
    fig : matplotlib.figure.Figure
    info : dict
        Run time, forward calls and number of solutions of each search.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..inference import solution_set

    cases = [("low density: Ne only bounded above", 10000.0, 1.0, 0.02),
             ("beyond the [S II] turnover: a ridge of solutions", 10000.0, 5.9, 0.01)]
    n_cols = 1 + len(cases)
    fig, axes = plt.subplots(1, n_cols, figsize=(4.6 * n_cols, 4.2))
    axes = np.atleast_1d(axes)
    _ratio_plane(axes[0], est)
    info = {}
    log_bounds = [[np.log10(est.te_range_k_[0]), np.log10(est.te_range_k_[1])], [-1.0, 6.5]]

    def forward(theta):
        theta = np.atleast_2d(theta)
        return np.log10(est.forward(10.0 ** theta[:, 0], theta[:, 1]))

    for k, (title, te, ln, rel) in enumerate(cases):
        obs = forward(np.array([[np.log10(te), ln]]))[0]
        sigma = np.full(2, rel / np.log(10.0))
        t0 = time.perf_counter()
        sol = solution_set(forward, obs, sigma, log_bounds, param_names=["log Te", "log Ne"], random_state=seed,
                           maxiter=60 if quick else 150, n_fill=4000 if quick else 20000,
                           progress=False)
        dt = time.perf_counter() - t0
        info[f"case{k + 1}"] = {"seconds": dt, "n_forward_calls": int(sol.n_forward_calls),
                                "n_solutions": int(sol.n_solutions)}
        ax = axes[k + 1]
        s = sol.solutions
        ax.scatter(10.0 ** s[:, 0], s[:, 1], s=2, alpha=0.3, color="C0", label="solution set (68%)")
        # the inversion of the same observation
        pred = est.predict(10.0 ** obs[None, :])
        ax.plot([te], [ln], "k*", ms=12, label="truth")
        if np.isfinite(pred[0, 0]):
            ax.plot(pred[0, 0], pred[0, 1], "rx", ms=10, mew=2, label="TeNeEstimator")
        ax.set_xlabel("Te [K]")
        ax.set_ylabel("log Ne [cm$^{-3}$]")
        ax.set_title(f"{title}\n{sol.n_forward_calls} forward calls, {dt:.1f} s", fontsize=8)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig, info


def run_demo(report, *, seed: int = 0, quick: bool = False) -> None:
    """Add the ``nebular`` section: Te/Ne maps of a synthetic IFU cube and a degeneracy plot.

    Parameters
    ----------
    report : agnlab.report.Report
    seed : int
    quick : bool
        Smaller cube, fewer draws, coarser tables (< 60 s on one core).
    """
    from . import TeNeEstimator, flag_summary, make_synthetic_cube, monte_carlo_temden
    from ._grid_demo import grid_demo
    from ._solution_demo import tene_posterior_demo

    sec = report.section(
        "nebular", "Nebular diagnostics: Te and Ne from line ratios, Monte Carlo over an IFU cube",
        intro=("A TeNeEstimator is built from PyNeb forward grids ([O III] 4363/5007 and [S II] 6731/6716) "
               "and inverts ratio pairs by an inverted table polished with Newton steps on a bicubic "
               "surrogate. Line-flux errors of a synthetic IFU cube are propagated by Monte Carlo; "
               "spaxels without data are kept and flagged. The degeneracy plot shows every (Te, Ne) "
               "consistent with two observations, and an emcee posterior of Te and Ne from the two ratios "
               "(agnlab.inference.solution_set over agnlab.nebular.temden_forward). Last, a cube drawn from the "
               "MAPPINGS HII and AGN-NLR grids is inverted spaxel by spaxel with GridInverter (grid chosen by "
               "the BPT class): a BPT diagram coloured by the inferred O/H, log U and E_peak, maps with 68% "
               "widths, and the direct-method O/H with its grid-trained correction."))
    t0 = time.perf_counter()
    if quick:
        est = TeNeEstimator(grid_shape=(120, 140), n_inverse=(256, 256)).fit()
        shape, n_draws = (40, 40), 50
    else:
        est = TeNeEstimator().fit()
        shape, n_draws = (100, 100), 150
    fit_s = time.perf_counter() - t0
    cube = make_synthetic_cube(shape, tem_diag=est.tem_spec_.name, den_diag=est.den_spec_.name, seed=seed)
    res = monte_carlo_temden(est, cube["fluxes"], cube["errors"], n_draws=n_draws, seed=seed, progress=None)
    ok = res.spaxel_flags == 0
    n_inv = int((res.spaxel_flags != 1).sum()) * n_draws
    sec.figure(maps_figure(cube, res),
               f"Synthetic {shape[0]}x{shape[1]} cube, {n_draws} draws per spaxel: truth, Monte Carlo "
               "median, half 68% width, valid fraction and spaxel flags (1 = no data, 3 = no valid draw, "
               "4 = valid fraction < 0.5, usually draws beyond the low-density limit).")
    fig, deg = degeneracy_figure(est, seed=seed, quick=quick)
    sec.figure(fig, "Degeneracies: left, the ratio plane (density lines crowd near the low-density limit "
                    "and the [S II] ratio turns over near log Ne ~ 5.5); middle/right, solution sets from "
                    "agnlab.inference.solution_set on the forward surrogate.")
    dom = flag_summary(res.dominant_flag[res.dominant_flag != "none"])
    sec.table([{"spaxel flag": k, "count": v} for k, v in res.summary()["spaxel_flags"].items()]
              + [{"spaxel flag": f"dominant draw flag: {k}", "count": v} for k, v in dom.items()],
              "Spaxel flags and the most frequent reason for failed draws")
    metrics = {
        "fit_seconds": fit_s,
        "mc_seconds": res.seconds,
        "mc_inversions": n_inv,
        "mc_inversions_per_second": n_inv / max(res.seconds, 1e-9),
        "n_spaxels": int(res.spaxel_flags.size),
        "n_no_data_spaxels": int((res.spaxel_flags == 1).sum()),
        "fraction_spaxels_ok": float(ok.mean()),
        "te_median_abs_error_k": float(np.median(np.abs(res.te_k[ok] - cube["te_k"][ok]))),
        "log_ne_median_abs_error_dex": float(np.median(np.abs(res.log_ne[ok] - cube["log_ne"][ok]))),
        "median_valid_fraction": res.summary()["median_valid_fraction"],
    }
    for k, v in deg.items():
        for kk, vv in v.items():
            metrics[f"solution_set_{k}_{kk}"] = vv
    metrics.update(tene_posterior_demo(sec, seed=seed, quick=quick))
    metrics.update(grid_demo(sec, seed=seed, quick=quick))
    sec.metrics(metrics)
