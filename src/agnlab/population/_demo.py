"""``agnlab demo`` section of the population workflow (built-in mock data only)."""

from __future__ import annotations

import itertools
import time

import numpy as np


def _track_grid(quick):
    from . import QUICK_TRACK_NODES, TRACK_NODES

    if quick:
        return QUICK_TRACK_NODES, np.linspace(0, 90, 7), (0.5, 1.0, 1.5, 2.0)
    return TRACK_NODES, np.linspace(0, 90, 10), (0.5, 1.0, 1.5, 2.0, 2.5)


def run_demo(report, *, seed: int = 0, quick: bool = False) -> None:
    """Select WISE AGN in a mock catalogue, confirm them by crossmatch with spectra, and fit a
    non-negative ElasticNet mix of clumpy-torus colour tracks to their colour-colour histogram."""
    from ..catalog import crossmatch, filter_spectra, make_mock_catalog, select_wise_agn
    from ..grids import CLUMPY_PARAM_NAMES, CLUMPY_WAVE_UM, clumpy_like_sed
    from . import (
        PopulationFit,
        angle_weights,
        color_tracks,
        jensen_shannon,
        parameter_distributions,
        plot_fit_histograms,
        plot_parameter_distributions,
        plot_selection,
    )

    t0 = time.perf_counter()
    sec = report.section("population", "Population: WISE AGN selection, crossmatch and track mixing",
                         intro="Mock AllWISE + spectroscopic catalogues (built-in generator), the Assef et al. "
                               "colour cut with sky masks, a 1.5 arcsec crossmatch with spectra (QSO, zwarning=0), "
                               "then non-negative ElasticNet weights over clumpy-torus colour tracks (approximate "
                               "built-in torus model, not CLUMPY).")
    n_src = 30_000 if quick else 100_000
    mock = make_mock_catalog(n_sources=n_src, seed=seed)
    wise = mock.wise
    mask, rep = select_wise_agn(wise, exclusion_regions=mock.regions)
    sec.table(rep, "Selection steps: sources removed at each step")
    sel = wise[mask].reset_index(drop=True)
    good_spec, srep = filter_spectra(mock.spectra, classes=("QSO",), z_min=0.1)
    spec = mock.spectra[good_spec].reset_index(drop=True)
    pairs = crossmatch(sel, spec, radius_arcsec=1.5)
    conf = sel.iloc[pairs["left_index"].to_numpy()].reset_index(drop=True)
    sec.table(srep, "Spectroscopic filters (class QSO, zwarning = 0, z >= 0.1)")
    w12 = (wise["w1mpro"] - wise["w2mpro"]).to_numpy()
    w23 = (wise["w2mpro"] - wise["w3mpro"]).to_numpy()
    sec.figure(plot_selection(w23, w12, mask, w2=wise["w2mpro"].to_numpy()),
               "Mock WISE sources (grey) and the selected AGN (red); right: the colour cut in W1-W2 vs W2")
    purity = float((sel["true_class"] == "AGN").mean()) if len(sel) else float("nan")

    # colour tracks of the built-in torus + disk model over viewing angles and redshifts
    vals, angles, zs = _track_grid(quick)
    keys = np.array(list(itertools.product(*vals.values())), float)
    tracks = color_tracks(lambda X: clumpy_like_sed(X, include_agn=True, progress=False), keys, angles_deg=angles,
                          param_names=list(CLUMPY_PARAM_NAMES), wave_um=CLUMPY_WAVE_UM, z=zs)
    obs = np.column_stack([(conf["w1mpro"] - conf["w2mpro"]).to_numpy(), (conf["w2mpro"] - conf["w3mpro"]).to_numpy()])
    fit = PopulationFit(bins=20 if quick else 30, n_alphas=5 if quick else 8, cv=3, color_error=0.05,
                        l1_ratios=(0.5, 1.0) if quick else (0.2, 0.6, 1.0), random_state=seed)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit.fit(tracks.colors, obs, angles_deg=angles)
    sec.figure(plot_fit_histograms(fit), "Confirmed mock AGN: observed vs fitted colour-colour histogram and residuals")
    dists = fit.parameter_distributions(tracks.params, param_names=tracks.param_names)
    sec.figure(plot_parameter_distributions(dists), "Torus parameters: uniform grid vs weighted by the fit")

    # recovery check: a known sparse mix of the same tracks, Poisson noise, refit
    rng = np.random.default_rng(seed)
    true = np.zeros(tracks.n_tracks)
    idx = rng.choice(tracks.n_tracks, 15, replace=False)
    true[idx] = rng.dirichlet(np.ones(15))
    aw = angle_weights(angles)
    n_obs = 50_000 if quick else 250_000
    ti = rng.choice(tracks.n_tracks, n_obs, p=true)
    ai = rng.choice(angles.size, n_obs, p=aw)
    mock_obs = tracks.colors[ti, ai].astype(float) + rng.normal(0, 0.05, (n_obs, 2))
    rec = PopulationFit(bins=fit.bins, n_alphas=fit.n_alphas, cv=3, color_error=0.05, l1_ratios=fit.l1_ratios,
                        random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rec.fit(tracks.colors, mock_obs, angles_deg=angles)
    got = rec.parameter_distributions(tracks.params, param_names=tracks.param_names)
    ref = parameter_distributions(tracks.params, true, param_names=tracks.param_names)
    jsd = {k: jensen_shannon(got[k]["weighted"], ref[k]["weighted"]) for k in got}
    sec.figure(plot_parameter_distributions(got, truth=ref),
               "Recovery of a known sparse mix (15 tracks, Poisson noise): weighted vs true distributions")
    sec.table([{"parameter": k, "JSD (bits)": round(v, 4)} for k, v in jsd.items()],
              "Jensen-Shannon divergence of recovered vs true parameter distributions (target <= 0.05)")
    sec.metrics({
        "n_sources": int(len(wise)), "n_selected": int(mask.sum()), "selection_purity": purity,
        "n_confirmed": int(len(conf)), "n_tracks": int(tracks.n_tracks), "fit_reduced_chi2": float(fit.reduced_chi2_),
        "fit_alpha_ratio": float(fit.alpha_ratio_), "fit_l1_ratio": float(fit.l1_ratio_),
        "fit_n_nonzero": int(fit.n_nonzero_), "recovery_reduced_chi2": float(rec.reduced_chi2_),
        "recovery_max_jsd": float(max(jsd.values())), "seconds": time.perf_counter() - t0,
    })
