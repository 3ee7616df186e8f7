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
        ANGLE_SUBSTEPS,
        PopulationFit,
        angle_weights,
        color_tracks,
        interpolate_points,
        jensen_shannon,
        parameter_distributions,
        plot_fit_histograms,
        plot_parameter_distributions,
        plot_selection,
        subdivide_angles,
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
    # the catalogue table itself: colours from w1mpro..w3mpro, per-source errors from w1sigmpro..w3sigmpro
    fit = PopulationFit(bins=20 if quick else 30, n_alphas=5 if quick else 8, cv=3,
                        l1_ratios=(0.5, 1.0) if quick else (0.2, 0.6, 1.0), n_gof_boot=10 if quick else 20,
                        random_state=seed)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit.fit(tracks.colors, conf[["w1mpro", "w2mpro", "w3mpro", "w1sigmpro", "w2sigmpro", "w3sigmpro"]],
                angles_deg=angles)
    sec.figure(plot_fit_histograms(fit), "Confirmed mock AGN: observed vs fitted colour-colour histogram and residuals "
                                         "(tracks blurred with the sources' own errors)")
    gof = fit.goodness_of_fit_
    sec.table([{"statistic": "Cash (Poisson deviance)", "value": round(gof["cash"], 1)},
               {"statistic": "expected (parametric bootstrap)", "value": round(gof["expected_cash"], 1)},
               {"statistic": "spread (bootstrap)", "value": round(gof["std_cash"], 1)},
               {"statistic": "p-value", "value": float(f"{gof['p_value']:.3g}")},
               {"statistic": "bins", "value": gof["n_bins"]}],
              "Goodness of fit of the confirmed mock AGN (the built-in torus tracks are not the generator of the "
              "mock catalogue: a small p-value flags that)")
    boot = fit.bootstrap(8 if quick else 30, params=tracks.params, param_names=tracks.param_names)
    sec.figure(plot_parameter_distributions(boot["distributions"]),
               "Torus parameters: uniform grid vs weighted by the fit, with bootstrap bands (sources and "
               "regularisation; 95 % thin, 68 % thick)")

    # recovery check: a known sparse mix of the same tracks, Poisson noise, refit
    rng = np.random.default_rng(seed)
    true = np.zeros(tracks.n_tracks)
    idx = rng.choice(tracks.n_tracks, 15, replace=False)
    true[idx] = rng.dirichlet(np.ones(15))
    # sources at continuous inclinations along the tracks, as the fit models a track (angle_substeps)
    fine, i0, fr = subdivide_angles(angles, ANGLE_SUBSTEPS)
    aw = angle_weights(fine)
    n_obs = 50_000 if quick else 250_000
    ti = rng.choice(tracks.n_tracks, n_obs, p=true)
    ai = rng.choice(fine.size, n_obs, p=aw)
    mock_err = np.column_stack([rng.uniform(0.02, 0.06, n_obs), rng.uniform(0.03, 0.12, n_obs)])
    mock_obs = interpolate_points(tracks.colors, i0, fr)[ti, ai].astype(float) + \
        rng.normal(size=(n_obs, 2)) * mock_err
    rec = PopulationFit(bins=fit.bins, n_alphas=fit.n_alphas, cv=3, l1_ratios=fit.l1_ratios,
                        n_gof_boot=fit.n_gof_boot, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rec.fit(tracks.colors, mock_obs, mock_err, angles_deg=angles)
    got = rec.parameter_distributions(tracks.params, param_names=tracks.param_names)
    ref = parameter_distributions(tracks.params, true, param_names=tracks.param_names)
    jsd = {k: jensen_shannon(got[k]["weighted"], ref[k]["weighted"]) for k in got}
    sec.figure(plot_parameter_distributions(got, truth=ref),
               "Recovery of a known sparse mix (15 tracks, Poisson noise, per-source errors 0.02-0.12 mag): "
               "weighted vs true distributions")
    sec.table([{"parameter": k, "JSD (bits)": round(v, 4)} for k, v in jsd.items()],
              "Jensen-Shannon divergence of recovered vs true parameter distributions (target <= 0.05)")
    # selection: the Assef et al. cut forward-modelled vs ignored (tracks at three W2 magnitudes)
    from . import selection_threshold

    lv = np.array([13.5, 15.0, 16.0])
    colors = np.concatenate([tracks.colors] * lv.size)
    w2 = np.repeat(lv, tracks.n_tracks)[:, None] * np.ones((1, angles.size))
    params = np.column_stack([np.tile(tracks.params, (lv.size, 1)), np.repeat(lv, tracks.n_tracks)])
    names = list(tracks.param_names) + ["W2"]
    true = np.zeros(colors.shape[0])
    true[rng.choice(colors.shape[0], 15, replace=False)] = rng.dirichlet(np.ones(15))
    ti = rng.choice(colors.shape[0], n_obs, p=true)
    ai = rng.choice(fine.size, n_obs, p=aw)
    w2_true = interpolate_points(w2, i0, fr)[ti, ai]
    c_true = interpolate_points(colors, i0, fr)[ti, ai].astype(float)
    mags = np.column_stack([w2_true + c_true[:, 0], w2_true, w2_true - c_true[:, 1]])
    sig = np.sqrt(np.array([0.015, 0.018, 0.03]) ** 2 +
                  (0.2171 * 10 ** (0.4 * (mags - np.array([17.1, 15.7, 12.2])))) ** 2)
    m_obs = mags + rng.normal(size=mags.shape) * sig
    c_obs = np.column_stack([m_obs[:, 0] - m_obs[:, 1], m_obs[:, 1] - m_obs[:, 2]])
    keep = c_obs[:, 0] > selection_threshold("default", m_obs[:, 1])
    kw = dict(bins=fit.bins, n_alphas=fit.n_alphas, cv=3, l1_ratios=fit.l1_ratios, n_gof_boot=fit.n_gof_boot,
              random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fwd = PopulationFit(selection="default", **kw).fit(colors, c_obs[keep], sig[keep], angles_deg=angles,
                                                           track_w2=w2, observed_w2=m_obs[keep, 1])
        ign = PopulationFit(**kw).fit(colors, c_obs[keep], sig[keep], angles_deg=angles, observed_w2=m_obs[keep, 1])
    from scipy.special import ndtr

    comp = (ndtr((colors[..., 0] - selection_threshold("default", w2)) / 0.05) * angle_weights(angles)).sum(axis=1)
    vis = comp >= 0.3       # the data say nothing about tracks the cut removes
    ref_s = parameter_distributions(params[vis], true[vis], param_names=names)
    got_f = parameter_distributions(params[vis], fwd.weights_[vis], param_names=names)
    got_i = parameter_distributions(params[vis], ign.weights_[vis], param_names=names)
    sec.figure(plot_parameter_distributions(got_f, truth=ref_s, others={"cut ignored (biased)": got_i}),
               f"Assef et al. cut on a known mix ({keep.mean():.0%} of sources selected): forward-modelled fit "
               "(bars) vs the same fit ignoring the cut (dashed), on the tracks with >= 30 % of their sources "
               "selected")
    jsd_f = {k: jensen_shannon(got_f[k]["weighted"], ref_s[k]["weighted"]) for k in names}
    jsd_i = {k: jensen_shannon(got_i[k]["weighted"], ref_s[k]["weighted"]) for k in names}
    p_f, p_i = fwd.goodness_of_fit_["p_value"], ign.goodness_of_fit_["p_value"]
    sec.table([{"parameter": k, "JSD forward-modelled": round(jsd_f[k], 4), "JSD cut ignored": round(jsd_i[k], 4)}
               for k in names] +
              [{"parameter": "p-value (goodness of fit)", "JSD forward-modelled": float(f"{p_f:.3g}"),
                "JSD cut ignored": float(f"{p_i:.3g}")}],
              "Selection forward-modelled vs ignored: Jensen-Shannon divergence from the true mix, and goodness of fit")
    sec.metrics({
        "n_sources": int(len(wise)), "n_selected": int(mask.sum()), "selection_purity": purity,
        "n_confirmed": int(len(conf)), "n_tracks": int(tracks.n_tracks), "fit_cash": gof["cash"],
        "fit_expected_cash": gof["expected_cash"], "fit_std_cash": gof["std_cash"], "fit_p_value": gof["p_value"],
        "fit_n_bins": gof["n_bins"], "fit_dropped": fit.training_record_["dropped"],
        "fit_alpha_ratio": float(fit.alpha_ratio_), "fit_l1_ratio": float(fit.l1_ratio_),
        "fit_cv_widened": len(fit.training_record_["cv"]["widened"]),
        "fit_n_nonzero": int(fit.n_nonzero_), "recovery_cash": rec.goodness_of_fit_["cash"],
        "recovery_expected_cash": rec.goodness_of_fit_["expected_cash"],
        "recovery_p_value": rec.goodness_of_fit_["p_value"],
        "recovery_max_jsd": float(max(jsd.values())), "selection_max_jsd_forward": float(max(jsd_f.values())),
        "selection_max_jsd_ignored": float(max(jsd_i.values())),
        "selection_p_forward": fwd.goodness_of_fit_["p_value"], "selection_p_ignored": ign.goodness_of_fit_["p_value"],
        "seconds": time.perf_counter() - t0,
    })
