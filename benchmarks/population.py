"""Benchmark of the population workflow (writes <out-dir>/population.md and .json).

Run: ``.venv/bin/python benchmarks/population.py [--quick] [--seeds 0 1 2] [--out-dir DIR] [--sizes 1e4,1e5,1e6]
[--xmatch 1e6]``

Recovery (1.) is repeated for every seed (a new true mix, observed sample and CV folds; seed s uses
``default_rng(1 + s)`` for the mix and ``random_state=s``) and reported as median (min-max);
scale, crossmatch and colours use one seed.

1. Recovery of a known sparse mix of clumpy-torus colour tracks (250,000 sources,
   Poisson noise): JSD per parameter, reduced chi^2.
2. Scale: PopulationFit (design matrix + CV over alpha and l1_ratio + refit) for
   10^4, 10^5, 10^6 tracks against a 250,000-source histogram; each size in its own
   process (peak RSS measured there).
3. Crossmatch n x n at 1.5 arcsec: agnlab k-d tree vs astropy match_coordinates_sky
   (same run, identical pairs checked), and the LSDB/HATS path on disk.
4. Colours: speclite reference vs precomputed response matrices.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import (
    RunInfo,
    add_common_args,
    fmt_spread,
    log,
    parse_args,
    peak_rss_mb,
    pin_threads,
    seeds_note,
    write_results,
)

N_OBS = 250_000
COLOR_ERROR = 0.05          # scale test only (constant error)
HOST_LEVELS = (0.0, 0.4, 0.7)   # host-galaxy share of F_nu at 2.2 um rest (quick)
HOST_LEVELS_FULL = (0.0, 0.4, 0.7)
W2_RANGE = (12.0, 14.5)     # W2 (Vega) of mock sources: errors from the AllWISE-like noise model below
ASSEF_W2_LEVELS = (13.5, 15.0, 16.0)
# AllWISE-like noise model (as agnlab.catalog's mock): 5-sigma depths and error floors (Vega)
DEPTH = {"w1": 17.1, "w2": 15.7, "w3": 12.2}
FLOOR = {"w1": 0.015, "w2": 0.018, "w3": 0.03}
# Approximate peak of the AllWISE colour distribution of Assef et al. (2018) R90 AGN (Vega; read off their
# colour-colour figure, +- 0.1 mag): the mock library should put its peak within 0.3 mag of it.
ASSEF18_PEAK = (1.0, 3.1)


def _peak_gb():
    return peak_rss_mb() / 1024


def _model(torus_only=False):
    """Built-in torus (+ disk + hot dust) + host galaxy: X columns tv, N0, sig, Y, q, i, f_host.

    The full model is :func:`agnlab.catalog.agn_sed` (torus + disk + hot graphite dust at its prior median,
    15 % of L_AGN at 1,300 K, Mor & Netzer 2012), as the mock catalogue's AGN; ``torus_only``: the torus
    generator alone (the mismatched family's library)."""
    from agnlab.catalog import agn_sed
    from agnlab.grids import CLUMPY_WAVE_UM, clumpy_like_sed
    from agnlab.population import add_host

    def model(X):
        X = np.asarray(X, float)
        fnu = clumpy_like_sed(X[:, :6], progress=False) if torus_only else agn_sed(X[:, :6])[1]
        return add_host(CLUMPY_WAVE_UM, fnu, X[:, 6])
    return model


def _zs(quick):
    return (0.5, 1.0, 2.0) if quick else (0.5, 1.0, 1.5, 2.0)


def _hosts(quick):
    return HOST_LEVELS if quick else HOST_LEVELS_FULL


def base_tracks(quick, torus_only=False):
    """Library: built-in torus + disk + hot dust (+ host) on the node grid x host levels x redshifts.

    The torus nodes are QUICK_TRACK_NODES in both modes (the magnitude error model makes each track costlier
    to blur; the full mode spends its time on more redshifts and host shares); 10^6-track scale: below."""
    from agnlab.grids import CLUMPY_PARAM_NAMES, CLUMPY_WAVE_UM
    from agnlab.population import QUICK_TRACK_NODES, color_tracks

    vals = QUICK_TRACK_NODES
    keys = np.array([k + (fh,) for k in itertools.product(*vals.values()) for fh in _hosts(quick)], float)
    angles = np.linspace(0, 90, 10)
    return color_tracks(_model(torus_only), keys, angles_deg=angles, param_names=list(CLUMPY_PARAM_NAMES) + ["f_host"],
                        wave_um=CLUMPY_WAVE_UM, z=_zs(quick))


def dense_tracks(quick, n_sobol=None, dz=0.025):
    """A denser library with scattered parameters: a scrambled Sobol sequence (Owen 1998; scipy.stats.qmc) over the
    torus parameters, host share and redshift within the node library's range, so that off-grid truths have near
    neighbours in every parameter (3,584 tracks, as 512 x 7 redshift levels before; quick: 512). Redshifts are
    scattered too (binned to ``dz`` only to share the colour computation): on 7 fixed levels, three of them lay
    on the edges of the node library's redshift cells used for scoring (0.75, 1.25, 1.75), so whole levels were
    scored in the upper cell (a uniform dense library scored JSD 0.088 against a uniform truth, 0.038 scattered)."""
    import warnings

    from scipy.stats import qmc

    from agnlab.grids import CLUMPY_PARAM_NAMES, CLUMPY_WAVE_UM
    from agnlab.population import QUICK_TRACK_NODES, ColorTracks, color_tracks

    n = n_sobol or (512 if quick else 3584)
    lo = [min(v) for v in QUICK_TRACK_NODES.values()] + [min(_hosts(quick)), min(_zs(quick))]
    hi = [max(v) for v in QUICK_TRACK_NODES.values()] + [max(_hosts(quick)), max(_zs(quick))]
    with warnings.catch_warnings():     # the first n points of the sequence (n need not be a power of 2)
        warnings.simplefilter("ignore", UserWarning)
        keys = qmc.scale(qmc.Sobol(len(lo), scramble=True, seed=0).random(n), lo, hi)
    zq = lo[-1] + (np.floor((keys[:, -1] - lo[-1]) / dz) + 0.5) * dz
    parts = [color_tracks(_model(), keys[zq == zv, :-1], angles_deg=np.linspace(0, 90, 10),
                          param_names=list(CLUMPY_PARAM_NAMES) + ["f_host"], wave_um=CLUMPY_WAVE_UM, z=float(zv))
             for zv in np.unique(zq)]
    return ColorTracks(np.concatenate([t.colors for t in parts]), np.concatenate([t.params for t in parts]),
                       parts[0].param_names, parts[0].angles_deg, parts[0].color_names, generator=parts[0].generator)


def noise_model(rng, colors, w2):
    """Per-source W1, W2, W3 errors (AllWISE-like depths); returns noisy colours, magnitude errors (n, 3), noisy W2.

    The fit gets the magnitude errors: W2's error is shared by both colours (covariance -sigma_W2^2)."""
    mags = {"w2": w2, "w1": w2 + colors[:, 0], "w3": w2 - colors[:, 1]}
    sig = {b: np.sqrt(FLOOR[b] ** 2 + (0.2171 * 10 ** (0.4 * (mags[b] - DEPTH[b]))) ** 2) for b in mags}
    err = np.column_stack([sig["w1"], sig["w2"], sig["w3"]])
    m = {b: mags[b] + rng.normal(size=w2.size) * sig[b] for b in mags}
    return np.column_stack([m["w1"] - m["w2"], m["w2"] - m["w3"]]), err, m["w2"]


def continuous_points(colors, angles_deg, w2=None):
    """Track points at continuous inclinations, as the default fit models them: every sampled angle interval
    subdivided (``agnlab.population.ANGLE_SUBSTEPS``) with colours (and W2) interpolated linearly; returns the
    points, their isotropic weights and W2. Sources of a model the fit should accept are drawn from these."""
    from agnlab.population import ANGLE_SUBSTEPS, angle_weights, interpolate_points, subdivide_angles

    fine, i0, fr = subdivide_angles(angles_deg, ANGLE_SUBSTEPS)
    return (interpolate_points(colors, i0, fr), angle_weights(fine),
            None if w2 is None else interpolate_points(w2, i0, fr))


def sample_sources(rng, colors, weights, angle_w, n, w2=None):
    """Sources from tracks (weights) x angles (angle_w); W2 uniform in W2_RANGE unless given per track point."""
    ti = rng.choice(colors.shape[0], n, p=weights / weights.sum())
    ai = rng.choice(colors.shape[1], n, p=angle_w)
    w2s = rng.uniform(*W2_RANGE, n) if w2 is None else w2[ti, ai]
    obs, err, w2_obs = noise_model(rng, colors[ti, ai].astype(float), w2s)
    return obs, err, w2_obs


def sample_observed(rng, colors, weights, angle_w, n):
    """Scale test: constant colour noise."""
    ti = rng.choice(colors.shape[0], n, p=weights / weights.sum())
    ai = rng.choice(colors.shape[1], n, p=angle_w)
    return colors[ti, ai].astype(float) + rng.normal(0, COLOR_ERROR, (n, 2))


def _fit(tracks, obs, err, seed, **kw):
    import warnings

    from agnlab.population import PopulationFit

    fit = PopulationFit(bins=40, random_state=seed,
                        **{k: v for k, v in kw.items() if k in ("selection", "refine", "regularization")})
    with warnings.catch_warnings():   # refine: the ColorTracks itself (its params and forward model)
        warnings.simplefilter("ignore", UserWarning)
        fit.fit(tracks if kw.get("refine") else (tracks.colors if hasattr(tracks, "colors") else tracks), obs, err,
                angles_deg=kw.get("angles"), track_w2=kw.get("track_w2"), observed_w2=kw.get("observed_w2"))
    return fit


def _gof(fit):
    g = fit.goodness_of_fit_
    return {k: g[k] for k in ("cash", "expected_cash", "std_cash", "p_value", "p_value_empirical", "n_bins")}


def _truth_gof(fit, colors, true, angles_deg, track_w2=None, selection=None):
    """Cash statistic of the *true* model (known tracks and weights) on the fit's histogram, with its exact Poisson
    expectation and spread (``cash_expectation``) and a normal-approximation p-value: tells a sample that is an
    outlier under the truth itself (no fit can then be accepted) from a model that misses. Uses the fit's own
    error model and edges; None for fits without the magnitude error model."""
    from scipy.stats import norm

    from agnlab.population import cash_expectation, design_matrix, poisson_deviance, selection_threshold

    ei = fit.training_record_["errors"]
    if ei.get("model") != "magnitudes":
        return None
    em = {"grids": [(np.asarray(g[0]), np.asarray(g[1])) for g in ei["grids"].values()],
          "w2_nodes": np.asarray(ei["w2_nodes"])}
    t = np.flatnonzero(true)
    colors, angle_w, track_w2 = continuous_points(colors[t], angles_deg, None if track_w2 is None else track_w2[t])
    fn = None if selection is None else (lambda w: selection_threshold(selection, w))
    dm = design_matrix(np.asarray(colors, float), fit.edges_, weights=angle_w, error_model=em,
                       w2_points=track_w2, x_min_fn=fn)
    mu = N_OBS * np.asarray(dm.matrix @ (true[t] / true.sum()), float).ravel()
    h = fit.observed_hist_.ravel()
    used = (h > 0) | (mu > 0)
    cash = poisson_deviance(h[used], mu[used])
    mean, var = cash_expectation(mu)
    return {"cash": cash, "expected_cash": mean, "std_cash": float(np.sqrt(var)),
            "p_value": float(norm.sf((cash - mean) / np.sqrt(var)))}


def _binned_truth(lib_params, dists, true_params, true_w):
    """Distribution of continuous true parameters on the library's bins (values outside go to the end bins)."""
    out = {}
    for j, (name, d) in enumerate(dists.items()):
        e = d["edges"]
        v = np.clip(true_params[:, j], e[0] + 1e-9, e[-1] - 1e-9)
        h = np.histogram(v, bins=e, weights=true_w)[0]
        out[name] = {"weighted": h / h.sum()}
    return out


def _jsd(got, ref, keys=None):
    from agnlab.population import jensen_shannon

    return {k: jensen_shannon(got[k]["weighted"], ref[k]["weighted"]) for k in (keys or got)}


def offgrid_truth(rng, quick, n_true=20):
    """True tracks NOT from the library: continuous parameters within the library's node range, own redshift,
    31 viewing angles."""
    from agnlab.grids import CLUMPY_PARAM_NAMES, CLUMPY_WAVE_UM
    from agnlab.population import QUICK_TRACK_NODES, color_tracks

    p = np.column_stack([rng.uniform(min(v), max(v), n_true) for v in QUICK_TRACK_NODES.values()] +
                        [rng.uniform(min(_hosts(quick)), max(_hosts(quick)), n_true)])
    z = rng.uniform(min(_zs(quick)), max(_zs(quick)), n_true)
    angles = np.linspace(0, 90, 31)
    colors = np.concatenate([color_tracks(_model(), p[k:k + 1], angles_deg=angles, wave_um=CLUMPY_WAVE_UM,
                                          param_names=list(CLUMPY_PARAM_NAMES) + ["f_host"], z=z[k]).colors
                             for k in range(n_true)])
    return colors, np.column_stack([p, z]), angles


def clumpy_truth(rng, quick, n_true=20):
    """Observed tracks from the real CLUMPY grid (torus only) + host, on the library's host levels and redshifts."""
    from agnlab.photometry import synthetic_colors
    from agnlab.population import add_host

    d = np.load(CLUMPY_FILE)
    wave, fnu = d["wave_um"], d["fnu"]
    fnu = fnu / fnu.max(axis=1, keepdims=True)
    keys, inv = np.unique(np.column_stack([d["sig"], d["tv"]]), axis=0, return_inverse=True)
    angles = np.unique(d["i"])
    pick = rng.choice(keys.shape[0], n_true, replace=False)
    fh = rng.choice(_hosts(quick), n_true)
    z = rng.choice(_zs(quick), n_true)
    colors = np.empty((n_true, angles.size, 2))
    for k in range(n_true):
        rows = np.flatnonzero(inv.ravel() == pick[k])
        rows = rows[np.argsort(d["i"][rows])]
        colors[k] = synthetic_colors(wave, add_host(wave, fnu[rows], fh[k]), z=float(z[k]))
    return colors, angles


CLUMPY_FILE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "torus" / "clumpy_nenkova08_3p.npz"


def _fit_summary(fit):
    """Regularisation summary of a fit (ElasticNet: CV choice; maxent: the discrepancy rule's choice)."""
    tr = fit.training_record_
    out = {"fit_seconds": tr["fit_seconds"], "n_nonzero": fit.n_nonzero_, "regularization": fit.regularization}
    if fit.regularization == "maxent":
        me = tr["maxent"]
        out.update(lam=me["lam"], misfit_scale=me["misfit_scale"], effective_tracks=me["effective_tracks"],
                   lam_at_prior=me["at_edge"]["prior"], cv_widened=len(me["widened"]))
    else:
        out.update(alpha_ratio=fit.alpha_ratio_, l1_ratio=fit.l1_ratio_, cv_widened=len(tr["cv"]["widened"]),
                   at_edge=tr["cv"]["at_edge"])
    return out


def bench_recovery(quick, seed=0, tracks=None, torus_only=None, figs=None, dense=None, refine=0,
                   parts=("offgrid", "gof", "assef"), compare=("maxent",)):
    """Per seed: off-grid recovery, a correct / shifted / mismatched model for the goodness of fit, the Assef cut.

    The default fit (``PopulationFit()``: ElasticNet by cross-validation) everywhere; the off-grid recovery is
    repeated with each regularisation in ``compare`` (rows ``offgrid_<reg>``, ``offgrid_dense_<reg>``)."""
    from scipy.special import ndtr

    from agnlab.population import angle_weights, parameter_distributions, selection_threshold

    tr = base_tracks(quick) if tracks is None else tracks
    aw = angle_weights(tr.angles_deg)
    out = {"n_tracks": tr.n_tracks, "param_names": tr.param_names}
    lib_d = parameter_distributions(tr.params, np.ones(tr.n_tracks), param_names=tr.param_names)

    # 1. off-grid recovery
    if "offgrid" in parts:
        rng = np.random.default_rng(1000 + seed)
        tcol, tpar, tang = offgrid_truth(rng, quick)
        tw = rng.dirichlet(np.ones(tcol.shape[0]))
        obs, err, w2o = sample_sources(rng, tcol, tw, angle_weights(tang), N_OBS)
        ref = _binned_truth(tr.params, lib_d, tpar, tw)
        uni = {k: {"weighted": lib_d[k]["uniform"]} for k in lib_d}
        fit = None
        for reg in (None,) + tuple(compare):
            f = _fit(tr, obs, err, seed, angles=tr.angles_deg, observed_w2=w2o,
                     **({} if reg is None else {"regularization": reg}))
            got = f.parameter_distributions(tr.params, param_names=tr.param_names)
            out["offgrid" if reg is None else f"offgrid_{reg}"] = {
                "jsd": _jsd(got, ref), "jsd_uniform": _jsd(uni, ref), "gof": _gof(f), **_fit_summary(f)}
            fit = f if reg is None else fit
        if dense is not None:   # the same sources, the dense scattered library; scored on the node library's cells
            uni_d = _binned_truth(tr.params, lib_d, dense.params, np.ones(dense.n_tracks))
            for reg in (None,) + tuple(compare):
                dfit = _fit(dense, obs, err, seed, angles=dense.angles_deg, observed_w2=w2o,
                            **({} if reg is None else {"regularization": reg}))
                got_d = _binned_truth(tr.params, lib_d, dense.params, dfit.weights_)
                out["offgrid_dense" if reg is None else f"offgrid_dense_{reg}"] = {
                    "jsd": _jsd(got_d, ref), "jsd_uniform": _jsd(uni_d, ref), "gof": _gof(dfit),
                    "n_tracks": dense.n_tracks, **_fit_summary(dfit)}
            if refine:   # the dense library refined through the forward model (ElasticNet; PopulationFit(refine=...))
                rfit = _fit(dense, obs, err, seed, angles=dense.angles_deg, observed_w2=w2o, refine=refine,
                            regularization="elasticnet")
                got_r = _binned_truth(tr.params, lib_d, rfit.track_params_, rfit.weights_)
                rr = rfit.training_record_["refine"]
                out["offgrid_refined"] = {"jsd": _jsd(got_r, ref),
                                          "jsd_uniform": out["offgrid_dense"]["jsd_uniform"],
                                          "gof": _gof(rfit), "fit_seconds": rfit.training_record_["fit_seconds"],
                                          "n_nonzero": rfit.n_nonzero_, "n_added": rr["n_added"], "rounds": refine,
                                          "deviance": [r["deviance"] for r in rr["rounds"]]}
        if figs is not None:
            boot = fit.bootstrap(10 if quick else 20, params=tr.params, param_names=tr.param_names)
            figs["offgrid"] = (boot["distributions"], ref)
            out["offgrid"]["bootstrap_band_width"] = {
                k: float(np.max(d["bands"][-1] - d["bands"][0])) for k, d in boot["distributions"].items()}
    # 2. goodness of fit: the right model (library tracks), shifted by 0.015 mag, another torus family
    if "gof" in parts:
        rng = np.random.default_rng(2000 + seed)
        true = np.zeros(tr.n_tracks)
        true[rng.choice(tr.n_tracks, 20, replace=False)] = rng.dirichlet(np.ones(20))
        c_f, aw_f, _ = continuous_points(tr.colors, tr.angles_deg)
        obs, err, w2o = sample_sources(rng, c_f, true, aw_f, N_OBS)
        ok_fit = _fit(tr, obs, err, seed, angles=tr.angles_deg, observed_w2=w2o)
        sh_fit = _fit(tr.colors + np.float32(0.015), obs, err, seed, angles=tr.angles_deg, observed_w2=w2o)
        gotc = ok_fit.parameter_distributions(tr.params, param_names=tr.param_names)
        refc = parameter_distributions(tr.params, true, param_names=tr.param_names)
        out["correct"] = {"gof": _gof(ok_fit), "jsd": _jsd(gotc, refc),
                          "truth": _truth_gof(ok_fit, tr.colors, true, tr.angles_deg)}
        out["shifted"] = {"gof": _gof(sh_fit)}
        if torus_only is not None and CLUMPY_FILE.exists():
            mcol, mang = clumpy_truth(rng, quick)
            mcol, maw, _ = continuous_points(mcol, mang)
            obs, err, w2o = sample_sources(rng, mcol, rng.dirichlet(np.ones(mcol.shape[0])), maw,
                                           N_OBS)
            mm_fit = _fit(torus_only, obs, err, seed, angles=torus_only.angles_deg, observed_w2=w2o)
            out["mismatch"] = {"gof": _gof(mm_fit)}
            if figs is not None:
                figs["mismatch"] = mm_fit
        if figs is not None:
            figs["correct"], figs["shifted"] = ok_fit, sh_fit

    # 3. the Assef et al. cut: tracks at W2 levels, observations cut; forward-modelled vs ignored
    if "assef" in parts:
        colors, w2, params, names, true, obs, err, w2_obs = assef_sample(tr, seed)
        keep = obs[:, 0] > selection_threshold("default", w2_obs)
        fwd = _assef_forward_fit(tr, colors, w2, obs, err, w2_obs, seed)
        ign = _fit(colors, obs[keep], err[keep], seed, angles=tr.angles_deg, observed_w2=w2_obs[keep])
        # the data speak only for tracks the cut lets through: compare on those with >= 30 % selected
        sx = np.median(np.hypot(err[keep, 0], err[keep, 1]))
        comp = (ndtr((colors[..., 0] - selection_threshold("default", w2)) / sx) * aw).sum(axis=1)
        ok = comp >= 0.3
        ref = parameter_distributions(params[ok], true[ok], param_names=names)
        got_f = parameter_distributions(params[ok], fwd.weights_[ok], param_names=names)
        got_i = parameter_distributions(params[ok], ign.weights_[ok], param_names=names)
        out["assef"] = {"selected_fraction": float(keep.mean()), "true_weight_visible": float(true[ok].sum()),
                        "jsd_forward": _jsd(got_f, ref), "jsd_ignored": _jsd(got_i, ref),
                        "gof_forward": _gof(fwd), "gof_ignored": _gof(ign),
                        "truth": _truth_gof(fwd, colors, true, tr.angles_deg, track_w2=w2, selection="default")}
        if figs is not None:
            figs["assef"] = (got_f, got_i, ref)
    return out


def assef_sample(tr, seed):
    """The Assef et al. part's library (tracks x W2 levels), true mix and parent sample of ``seed``
    (``default_rng(3000 + seed)``): colors, w2, params, names, true weights, observed colours, errors, W2.
    Sources are drawn at continuous inclinations along the tracks (``continuous_points``)."""
    rng = np.random.default_rng(3000 + seed)
    lv = np.asarray(ASSEF_W2_LEVELS)
    colors = np.concatenate([tr.colors] * lv.size)
    w2 = np.repeat(lv, tr.n_tracks)[:, None] * np.ones((1, tr.colors.shape[1]))
    params = np.column_stack([np.tile(tr.params, (lv.size, 1)), np.repeat(lv, tr.n_tracks)])
    true = np.zeros(colors.shape[0])
    true[rng.choice(colors.shape[0], 20, replace=False)] = rng.dirichlet(np.ones(20))
    c_f, aw_f, w2_f = continuous_points(colors, tr.angles_deg, w2)
    obs, err, w2_obs = sample_sources(rng, c_f, true, aw_f, N_OBS, w2=w2_f)
    return colors, w2, params, tr.param_names + ["W2"], true, obs, err, w2_obs


def _assef_forward_fit(tr, colors, w2, obs, err, w2_obs, seed):
    """Forward-modelled fit: the parent sample, the cut applied by the fit (its error model sees every source; a
    pre-cut sample biases magnitude given error)."""
    return _fit(colors, obs, err, seed, angles=tr.angles_deg, selection="default", track_w2=w2, observed_w2=w2_obs)


def bench_acceptance(tr, n_seeds):
    """Acceptance rate of the correct model: the Assef et al. forward-modelled fit of seeds 0..n_seeds-1 (exactly
    the path of the recovery part), its Cash p-value, and the true model's own p on the same histogram."""
    rows = []
    for seed in range(int(n_seeds)):
        t0 = time.process_time()
        colors, w2, _, _, true, obs, err, w2_obs = assef_sample(tr, seed)
        fwd = _assef_forward_fit(tr, colors, w2, obs, err, w2_obs, seed)
        rows.append({"seed": seed, "gof": _gof(fwd), "truth": _truth_gof(fwd, colors, true, tr.angles_deg, track_w2=w2,
                                                                          selection="default"),
                     "cpu_seconds": time.process_time() - t0})
        log(f"acceptance seed {seed}: p = {rows[-1]['gof']['p_value']:.3g}, truth p = "
            f"{rows[-1]['truth']['p_value']:.3g}", "population")
    return rows


def acceptance_lines(rows):
    """Markdown section: fraction of seeds whose forward-modelled fit (and whose true model) has p > 0.05."""
    p = np.array([r["gof"]["p_value"] for r in rows])
    pt = np.array([r["truth"]["p_value"] for r in rows])
    worst = ", ".join(f"seed {r['seed']}: {r['gof']['p_value']:.2g} (truth {r['truth']['p_value']:.2g})"
                      for r in sorted(rows, key=lambda r: r["gof"]["p_value"])[:3])
    return ["## Acceptance rate of the correct model (Assef et al. cut, forward-modelled)", "",
            f"The forward-modelled fit of the Assef et al. part (the library, generator and fit of that part) on seeds "
            f"0-{len(rows) - 1}: correct model accepted (p > 0.05) in {int((p > 0.05).sum())} of {len(rows)} seeds "
            f"({100 * (p > 0.05).mean():.0f} %; target >= 90 %); p < 0.01 in {int((p < 0.01).sum())}. The true model "
            f"itself (no fit) has p > 0.05 in {int((pt > 0.05).sum())} of {len(rows)} (p < 0.05 is expected in 5 % "
            f"of samples). Lowest fit p: {worst}. CPU {fmt_spread([r['cpu_seconds'] for r in rows], '.0f')} s per "
            "seed.", ""]


def scale_worker(n_tracks, quick, threads=2, n_jobs=1, max_inner_iter=None):
    """One scale point (run in a subprocess): tracks by jittering base tracks, fit with CV on ``n_jobs`` threads
    (``max_inner_iter``: the solver's sweeps per working set, None: the default)."""
    with pin_threads(threads):
        return _scale_worker(n_tracks, quick, n_jobs, max_inner_iter)


def _scale_worker(n_tracks, quick, n_jobs, max_inner_iter):
    import warnings

    from agnlab.population import PopulationFit

    tr = base_tracks(quick)
    rng = np.random.default_rng(n_tracks)
    k = rng.integers(0, tr.n_tracks, n_tracks)
    colors = tr.colors[k] + rng.normal(0, 0.15, (n_tracks, 1, 2)).astype(np.float32)  # distinct tracks
    colors += rng.normal(0, 0.02, colors.shape).astype(np.float32)
    true = np.zeros(n_tracks)
    idx = rng.choice(n_tracks, 20, replace=False)
    true[idx] = rng.dirichlet(np.ones(20))
    c_f, aw_f, _ = continuous_points(colors, tr.angles_deg)
    obs = sample_observed(rng, c_f, true, aw_f, N_OBS)
    del c_f
    t0 = time.perf_counter()
    c0 = time.process_time()
    fit = PopulationFit(bins=40, color_error=COLOR_ERROR, random_state=0, n_jobs=n_jobs)
    if max_inner_iter is not None:
        fit.set_params(max_inner_iter=max_inner_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit.fit(colors, obs, angles_deg=tr.angles_deg)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"n_tracks": n_tracks, "n_jobs": n_jobs, "max_inner_iter": fit.max_inner_iter,
            "fit_seconds": secs, "cpu_seconds": cpu, "peak_gb": _peak_gb(),
            "nnz": fit.training_record_["design_nnz"], "p_value": fit.goodness_of_fit_["p_value"],
            "n_nonzero": fit.n_nonzero_, "regularization": fit.regularization,
            "cv_fits": (len(fit.training_record_["maxent"]["lams"]) if fit.regularization == "maxent" else
                        int(np.size(fit.training_record_["cv"]["mean_deviance"]) * fit.cv)),
            "track_mb": colors.nbytes / 1e6}


def scale_rows(args):
    """Scale points, each size x ``--scale-jobs`` x ``--scale-inner`` in its own process (peak RSS measured there)."""
    rows = []
    jobs = [int(j) for j in str(args.scale_jobs).split(",") if j.strip()]
    inner = [int(v) for v in str(args.scale_inner).split(",") if v.strip()] or [None]
    for n, it, nj in [(int(float(s)), v, j) for s in args.sizes.split(",") if s.strip() for v in inner for j in jobs]:
        log(f"scale {n}, n_jobs={nj}, max_inner_iter={it or 'default'}", "population")
        cmd = [sys.executable, __file__, "--worker", str(n), "--worker-jobs", str(nj), "--threads", str(args.threads),
               "--out-dir", str(args.out_dir)] + (["--quick"] if args.quick else []) + \
            ([] if it is None else ["--max-inner-iter", str(it)])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        res = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not res:
            rows.append({"n_tracks": n, "n_jobs": nj, "error": proc.stderr[-500:]})
            print(proc.stderr[-2000:], flush=True)
            continue
        r = json.loads(res[-1][7:])
        r["process_wall_s"] = wall
        rows.append(r)
        print(r, flush=True)
    return rows


def scale_lines(rows):
    lines = ["## Scale: PopulationFit (default) vs a 250,000-source histogram", "",
             "Tracks for the scale test are the recovery tracks replicated with random colour offsets "
             "(0.15 mag per track, 0.02 mag per point) so that all columns differ; 10 angles per track. "
             "Fit = design matrix (blurred, float32 sparse) + the regularisation search (maxent: path of KL "
             "strengths + bisection; ElasticNet: 3-fold CV over 4 l1_ratios x 8 alphas, widened at edges) + final fit "
             "+ goodness-of-fit bootstrap (20 refits). Peak = peak RSS of the process (incl. the track array and "
             "Python).", "",
             "| tracks | regularisation | n_jobs | max_inner_iter | fit incl. search, wall (s) | "
             "wall vs the size's first row | CPU time (s) | peak memory (GB) | design nnz | fits in the search | "
             "Cash p-value | non-zero |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    first = {}     # wall time of each size's first row, the reference of the ratios
    for r in rows:
        if "error" not in r:
            first.setdefault(r["n_tracks"], r["fit_seconds"])
    for r in rows:
        nj = r.get("n_jobs", 1)
        if "error" in r:
            lines.append(f"| {r['n_tracks']:,} | | {nj} | {r.get('max_inner_iter', '')} | failed | | | | | | | |")
        else:
            cpu = f"{r['cpu_seconds']:.1f}" if "cpu_seconds" in r else "-"
            ratio = f"{r['fit_seconds'] / first[r['n_tracks']]:.2f}x" if r["n_tracks"] in first else "-"
            lines.append(f"| {r['n_tracks']:,} | {r.get('regularization', 'elasticnet')} | {nj} | "
                         f"{r.get('max_inner_iter', 2000)} | "
                         f"{r['fit_seconds']:.1f} | {ratio} | {cpu} | {r['peak_gb']:.2f} | {r['nnz']:,} | "
                         f"{r['cv_fits']} | {r['p_value']:.2g} | {r['n_nonzero']} |")
    lines += ["", "Targets: 10^6 tracks in <= 600 s and <= 8 GB on 2 cores (regularisation search and goodness-of-fit "
              "bootstrap of 20 replicates included): `PopulationFit(n_jobs=2)` builds the design matrix and runs the "
              "independent solves (CV paths, bootstrap refits) on two threads, each with single-threaded BLAS; its "
              "weights are identical to "
              "n_jobs=1. CPU time (user + sys of the fit, all threads) is less sensitive to the shared machine than "
              "wall time.", ""]
    return lines


def bench_crossmatch(n, quick):
    from agnlab.catalog import crossmatch, crossmatch_astropy, crossmatch_hats, have_lsdb

    rng = np.random.default_rng(7)
    ra = rng.uniform(0, 360, n)
    dec = np.rad2deg(np.arcsin(rng.uniform(-1, 1, n)))
    left = pd.DataFrame({"ra": ra, "dec": dec})
    k = rng.permutation(n)[: int(0.7 * n)]
    off = rng.normal(0, 0.7 / 3600, (k.size, 2))
    rdec = np.clip(dec[k] + off[:, 1], -90, 90)
    rra = (ra[k] + off[:, 0] / np.cos(np.deg2rad(rdec))) % 360
    n_rand = n - k.size
    r2 = rng.uniform(0, 360, n_rand)
    d2 = np.rad2deg(np.arcsin(rng.uniform(-1, 1, n_rand)))
    right = pd.DataFrame({"ra": np.concatenate([rra, r2]), "dec": np.concatenate([rdec, d2])})
    right = right.iloc[rng.permutation(n)].reset_index(drop=True)
    t0 = time.perf_counter()
    ours = crossmatch(left, right, radius_arcsec=1.5)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = crossmatch_astropy(left, right, radius_arcsec=1.5)
    t_ref = time.perf_counter() - t0
    same = bool(np.array_equal(ours["left_index"], ref["left_index"]) and
                np.array_equal(ours["right_index"], ref["right_index"]))
    max_dsep = float(np.abs(ours["sep_arcsec"].to_numpy() - ref["sep_arcsec"].to_numpy()).max()) if same else np.nan
    res = {"n": n, "pairs": len(ours), "pairs_astropy": len(ref), "identical": same, "max_dsep_arcsec": max_dsep,
           "seconds": t_ours, "seconds_astropy": t_ref}
    if have_lsdb():
        with tempfile.TemporaryDirectory() as tmp:
            from agnlab.catalog import write_hats

            t0 = time.perf_counter()
            lp = write_hats(left, Path(tmp) / "left", name="left", margin_arcsec=5.0)
            rp = write_hats(right, Path(tmp) / "right", name="right", margin_arcsec=5.0)
            t_write = time.perf_counter() - t0
            t0 = time.perf_counter()
            hats = crossmatch_hats(lp, rp, radius_arcsec=1.5, n_workers=2)
            t_hats = time.perf_counter() - t0
        res.update(lsdb_seconds=t_hats, lsdb_write_seconds=t_write, lsdb_pairs=len(hats),
                   lsdb_identical=bool(np.array_equal(hats["left_index"], ours["left_index"]) and
                                       np.array_equal(hats["right_index"], ours["right_index"])))
    return res


def bench_colors():
    from agnlab.grids import CLUMPY_WAVE_UM, clumpy_like_sed
    from agnlab.photometry import synthetic_mags

    rng = np.random.default_rng(3)
    p = np.column_stack([rng.uniform(10, 300, 200), rng.uniform(1, 15, 200), rng.uniform(15, 70, 200),
                         rng.uniform(5, 100, 200), rng.uniform(0, 3, 200), rng.uniform(0, 90, 200)])
    fnu = clumpy_like_sed(p, include_agn=True, progress=False)
    out = {}
    for z in (0.0, 1.0, 2.0):
        a = synthetic_mags(CLUMPY_WAVE_UM, fnu, z=z)
        b = synthetic_mags(CLUMPY_WAVE_UM, fnu, z=z, method="speclite")
        ca = np.column_stack([a[:, 0] - a[:, 1], a[:, 1] - a[:, 2]])
        cb = np.column_stack([b[:, 0] - b[:, 1], b[:, 1] - b[:, 2]])
        out[f"z={z}"] = float(np.abs(ca - cb).max())
    return out


def _peak(w12, w23, weights=None):
    """Peak (W1-W2, W2-W3) of a colour distribution: 0.1-mag bins smoothed by a 0.2-mag Gaussian."""
    from scipy.ndimage import gaussian_filter

    h, ex, ey = np.histogram2d(w12, w23, bins=(np.arange(-0.5, 3.0, 0.1), np.arange(0.0, 8.0, 0.1)), weights=weights)
    i, j = np.unravel_index(np.argmax(gaussian_filter(h, 2.0)), h.shape)
    return 0.5 * (ex[i] + ex[i + 1]), 0.5 * (ey[j] + ey[j + 1])


def bench_loci(tracks, n_mock=60_000):
    """Where the library's colours and the mock catalogue's R90 AGN peak vs Assef et al. 2018."""
    from agnlab.catalog import ASSEF_PRESETS, assef_cut, make_mock_catalog
    from agnlab.population import angle_weights

    c = tracks.colors.reshape(-1, 2).astype(float)
    w = np.tile(angle_weights(tracks.angles_deg), tracks.n_tracks)
    peak = _peak(c[:, 0], c[:, 1], w)
    inside = ((c[:, 0] > 0.8) & (c[:, 0] < 1.5) & (c[:, 1] > 2) & (c[:, 1] < 4))
    wise = make_mock_catalog(n_sources=n_mock, seed=0).wise
    agn = wise[(wise["true_class"] == "AGN") & (wise["w3mpro"] < 90)]
    w12 = (agn["w1mpro"] - agn["w2mpro"]).to_numpy()
    w23 = (agn["w2mpro"] - agn["w3mpro"]).to_numpy()
    a, b, g = ASSEF_PRESETS["assef18_r90"]
    sel = assef_cut(w12, agn["w2mpro"], alpha=a, beta=b, gamma=g) & np.isfinite(w23)
    mpeak = _peak(w12[sel], w23[sel])
    in_m = (w12[sel] > 0.8) & (w12[sel] < 1.5) & (w23[sel] > 2) & (w23[sel] < 4)
    return {"peak_w1_w2": peak[0], "peak_w2_w3": peak[1], "assef18_peak": list(ASSEF18_PEAK),
            "offset_mag": [peak[0] - ASSEF18_PEAK[0], peak[1] - ASSEF18_PEAK[1]],
            "fraction_in_agn_locus": float(np.sum(w[inside]) / np.sum(w)),
            "median": np.median(c, axis=0).tolist(),
            "mock": {"n_sources": n_mock, "n_agn_r90_w3": int(sel.sum()), "peak": list(mpeak),
                     "median": [float(np.median(w12[sel])), float(np.median(w23[sel]))],
                     "offset_mag": [mpeak[0] - ASSEF18_PEAK[0], mpeak[1] - ASSEF18_PEAK[1]],
                     "fraction_in_agn_locus": float(in_m.mean())}}


def write_figures(figs, tracks, out_dir):
    """PNG figures next to the markdown: bands, Assef cut biased vs forward-modelled, goodness of fit, loci."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agnlab.population import plot_fit_histograms, plot_parameter_distributions

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}

    def save(fig, name):
        path = out_dir / f"population_{name}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        files[name] = path.name

    if "offgrid" in figs:
        dists, ref = figs["offgrid"]
        save(plot_parameter_distributions(dists, truth=ref), "offgrid_bands")
    if "assef" in figs:
        got_f, got_i, ref = figs["assef"]
        save(plot_parameter_distributions(got_f, truth=ref, others={"cut ignored": got_i}), "assef_cut")
    gof_fits = {k: figs[k] for k in ("correct", "shifted", "mismatch") if k in figs}
    if gof_fits:
        fig, axes = plt.subplots(1, len(gof_fits), figsize=(4.2 * len(gof_fits), 3.2), constrained_layout=True)
        for ax, (k, f) in zip(np.atleast_1d(axes), gof_fits.items()):
            g = f.goodness_of_fit_
            lo, hi = g["expected_cash"] - 4 * g["std_cash"], g["expected_cash"] + 4 * g["std_cash"]
            x = np.linspace(lo, max(g["cash"], hi), 200)
            ax.plot(x, np.exp(-0.5 * ((x - g["expected_cash"]) / g["std_cash"]) ** 2), "k-",
                    label="bootstrap of the fitted model")
            ax.axvline(g["cash"], color="C3", label=f"observed, p = {g['p_value']:.2g}")
            ax.set_title(f"{k} model")
            ax.set_xlabel("Cash statistic")
            ax.legend(fontsize=7)
        save(fig, "goodness_of_fit")
        for k, f in gof_fits.items():
            save(plot_fit_histograms(f), f"residuals_{k}")
    fig, ax = plt.subplots(figsize=(5, 4), constrained_layout=True)
    c = tracks.colors.reshape(-1, 2)
    ax.hist2d(c[:, 1], c[:, 0], bins=(np.arange(0, 8, 0.1), np.arange(-0.5, 3, 0.05)), cmap="Greys")
    ax.plot(ASSEF18_PEAK[1], ASSEF18_PEAK[0], "r*", ms=12, label="Assef+18 R90 peak (approx.)")
    ax.set_xlabel("W2-W3 (Vega)")
    ax.set_ylabel("W1-W2 (Vega)")
    ax.legend(fontsize=7)
    save(fig, "loci")
    return files


def _spread(recs):
    def sp(path, spec):
        vals = []
        for r in recs:
            v = r
            for key in path:
                v = v[key] if v is not None and key in v else None
            if v is not None:
                vals.append(v)
        return fmt_spread(vals, spec) if vals else "n/a"
    return sp


_REGS = ("elasticnet", "maxent")


def _reg_note(recs, key):
    """One sentence on the regularisation of the fits in row ``key``."""
    sp = _spread(recs)
    if recs[0][key].get("regularization") == "maxent":
        return (f"maximum-entropy fit (KL penalty to the uniform prior over the library's tracks; strength lam "
                f"{sp((key, 'lam'), '.2g')} by the discrepancy rule, misfit scale {sp((key, 'misfit_scale'), '.0f')}; "
                f"{sp((key, 'effective_tracks'), '.0f')} effective tracks)")
    return (f"ElasticNet fit (alpha/alpha_max {sp((key, 'alpha_ratio'), '.2g')}, l1_ratio "
            f"{sp((key, 'l1_ratio'), '.2g')} by CV, grid widened {sp((key, 'cv_widened'), '.0f')} times; "
            f"{sp((key, 'n_nonzero'), '.0f')} non-zero weights)")


def _jsd_table(recs, key, label):
    """JSD table of one recovery row and the parameters it leaves unconstrained or above the target."""
    sp = _spread(recs)
    names = list(recs[0][key]["jsd"])
    ratio = {k: [r[key]["jsd_uniform"][k] / max(r[key]["jsd"][k], 1e-12) for r in recs] for k in names}
    lines = [f"| parameter | JSD {label} vs truth (bits) | JSD uniform vs truth | uniform / fit | target |",
             "|---|---|---|---|---|"]
    for k in names:
        lines.append(f"| {k} | {sp((key, 'jsd', k), '.4f')} | {sp((key, 'jsd_uniform', k), '.3f')} | "
                     f"{fmt_spread(ratio[k], '.1f')} | <= 0.05 and >= 2x better than uniform |")
    unc = [k for k in names if min(ratio[k]) < 2]
    over = [k for k in names if np.median([r[key]["jsd"][k] for r in recs]) > 0.05]
    worse = [k for k in names if np.median(ratio[k]) < 1]
    lines += ["", f"Not 2x better than the uniform library in every seed: {', '.join(unc) or 'none'}; median JSD "
              f"above 0.05: {', '.join(over) or 'none'}; median JSD worse than the uniform library: "
              f"{', '.join(worse) or 'none'}.", ""]
    return lines


def offgrid_lines(recs, args, t_tracks):
    sp = _spread(recs)
    rec = recs[0]
    lines = ["## Recovery with true tracks off the library grid", "",
             f"Library: {rec['n_tracks']:,} tracks = built-in clumpy-like torus + disk + hot dust "
             "(agnlab.catalog.agn_sed) on the node grid x host-galaxy "
             f"share {_hosts(args.quick)} of F_nu(2.2 um) x redshifts {_zs(args.quick)}, 10 viewing angles "
             f"({t_tracks:.0f} s to make the libraries). Truth: 20 tracks with continuous parameters drawn "
             "uniformly within the library's node range (incl. redshift and host share), computed by the forward "
             "model at 31 viewing angles "
             f"(not in the library). {N_OBS:,} sources, W2 uniform in {W2_RANGE}, per-source errors from an "
             "AllWISE-like noise model (depths W1 17.1, W2 15.7, W3 12.2); the fit gets the magnitude errors "
             "and W2 (its magnitude error model, W2 covariance included). 40x40 bins, default "
             f"PopulationFit (tracks as curves over the viewing angle: angle_substeps={_substeps()}), "
             f"{_reg_note(recs, 'offgrid')}; 20 bootstrap replicates for the p-value. "
             f"{seeds_note(args.seeds)} Fit {sp(('offgrid', 'fit_seconds'), '.1f')} s.", ""]
    lines += _jsd_table(recs, "offgrid", "fit")
    regs = [reg for reg in _REGS if f"offgrid_{reg}" in rec]      # the ``compare`` fits beside the default
    rows = [(f"offgrid_{reg}", reg, f"The same sources, node library, `regularization='{reg}'` (an option): ")
            for reg in regs]
    if "offgrid_dense" in rec:
        rows += [("offgrid_dense", "dense fit",
                  f"The same sources fitted with a dense scattered library ({rec['offgrid_dense']['n_tracks']:,} "
                  "tracks: scrambled Sobol sequence over the torus parameters, host share and redshift; "
                  "`dense_tracks`), scored on the same cells, default PopulationFit: ")]
        rows += [(f"offgrid_dense_{reg}", f"dense {reg}",
                  f"The same sources and dense library, `regularization='{reg}'` (an option): ") for reg in regs]
    for key, label, intro in rows:
        if key not in rec:
            continue
        lines += [intro + f"{_reg_note(recs, key)}; fit {sp((key, 'fit_seconds'), '.1f')} s, Cash "
                  f"{sp((key, 'gof', 'cash'), '.0f')} against {sp((key, 'gof', 'expected_cash'), '.0f')} expected, "
                  f"p = {sp((key, 'gof', 'p_value'), '.2g')}.", ""]
        lines += _jsd_table(recs, key, label)
    if "offgrid_refined" in rec:
        rn = list(rec["offgrid_refined"]["jsd"])
        base = "offgrid_dense" if recs[0]["offgrid_dense"].get("regularization") == "elasticnet" \
            else "offgrid_dense_elasticnet"
        better = {k: sum(r["offgrid_refined"]["jsd"][k] < r[base]["jsd"][k] for r in recs)
                  for k in rn} if base in rec else None
        lines += [f"The same sources and dense library with continuous refinement "
                  f"(`PopulationFit(refine={rec['offgrid_refined']['rounds']}, regularization='elasticnet')`: after "
                  "the fit, the active tracks are moved through the forward model -- axis moves and Gauss-Newton steps "
                  "added as new columns, weights re-solved, step halved per round; `agnlab.population._refine`); fit "
                  f"{sp(('offgrid_refined', 'fit_seconds'), '.1f')} s, {sp(('offgrid_refined', 'n_added'), '.0f')} "
                  f"tracks added, {sp(('offgrid_refined', 'n_nonzero'), '.0f')} non-zero weights, Cash "
                  f"{sp(('offgrid_refined', 'gof', 'cash'), '.0f')} against "
                  f"{sp(('offgrid_refined', 'gof', 'expected_cash'), '.0f')} expected, p = "
                  f"{sp(('offgrid_refined', 'gof', 'p_value'), '.2g')}" +
                  ("" if better is None else "; seeds better than the dense ElasticNet fit: " +
                   ", ".join(f"{k} {better[k]}/{len(recs)}" for k in rn)) + ".", ""]
        lines += _jsd_table(recs, "offgrid_refined", "refined fit")
    if "bootstrap_band_width" in rec["offgrid"]:
        bw = rec["offgrid"]["bootstrap_band_width"]
        lines += ["Bootstrap (seed " + f"{args.seeds[0]}, 20 replicates over sources and the penalty strength) of the "
                  "default node-library fit: widest 95 % band of a parameter's share per cell: " +
                  ", ".join(f"{k} {v:.2f}" for k, v in bw.items()) + ".", ""]
    lines += [f"Goodness of fit of the off-grid recovery: p = {sp(('offgrid', 'gof', 'p_value'), '.2g')} (a discrete "
              "library cannot reproduce continuous truths exactly; with 250,000 sources the test notices).", ""]
    return lines


def _substeps():
    from agnlab.population import ANGLE_SUBSTEPS

    return ANGLE_SUBSTEPS


def gof_lines(recs):
    sp = _spread(recs)
    lines = ["## Goodness of fit: Cash statistic vs a parametric bootstrap of the fitted model", "",
             "Same library, default PopulationFit; the correct model = 20 library tracks, its sources at continuous "
             "inclinations along them as the default fit models a track (every sampled angle interval subdivided "
             f"into {_substeps()} with colours interpolated linearly, `angle_substeps`; `continuous_points`; also "
             "for the mismatched family and the Assef et al. part); the shifted model = the "
             "library moved by +0.015 mag in both colours, fitted to the same data; the mismatched family = "
             "observations from the real CLUMPY grid (torus only, Nenkova et al. 2008; 20 (sigma, tau_V) tracks + "
             "host, on the library's redshifts and host shares) fitted with the built-in torus-only library. Targets: "
             "correct p > 0.05 in >= 90 % of seeds, shifted and mismatched p < 0.01.", "",
             "| model | Cash | expected (bootstrap) | spread | p-value | bins |", "|---|---|---|---|---|---|"]
    for k, key in (("correct", "correct"), ("shifted by 0.015 mag", "shifted"), ("mismatched family", "mismatch")):
        lines.append(f"| {k} | {sp((key, 'gof', 'cash'), '.0f')} | {sp((key, 'gof', 'expected_cash'), '.0f')} | "
                     f"{sp((key, 'gof', 'std_cash'), '.0f')} | {sp((key, 'gof', 'p_value'), '.2g')} | "
                     f"{sp((key, 'gof', 'n_bins'), '.0f')} |")
    n_ok = sum(r["correct"]["gof"]["p_value"] > 0.05 for r in recs)
    lines += ["", f"Correct model accepted (p > 0.05) in {n_ok} of {len(recs)} seeds. Max JSD of the correct-model "
              f"fit: {fmt_spread([max(r['correct']['jsd'].values()) for r in recs], '.4f')}. The true model itself "
              "(the 20 tracks at their true weights, no fit) on the same histogram: Cash "
              f"{sp(('correct', 'truth', 'cash'), '.0f')} against {sp(('correct', 'truth', 'expected_cash'), '.0f')} "
              f"+- {sp(('correct', 'truth', 'std_cash'), '.0f')} expected (exact Poisson moments), p = "
              f"{sp(('correct', 'truth', 'p_value'), '.2g')}.", ""]
    return lines


def assef_lines(recs, args):
    sp = _spread(recs)
    rec = recs[0]
    lines = ["## Selection: the Assef et al. cut forward-modelled vs ignored", "",
             f"Library x W2 levels {ASSEF_W2_LEVELS} (W2 of each track point; errors from the noise model); 20 true "
             "tracks; observations cut with W1-W2 > 0.662 exp(0.232 (W2 - 13.97)^2) (selected fraction "
             f"{sp(('assef', 'selected_fraction'), '.2f')}). Forward-modelled: PopulationFit(selection='default') "
             "(given the parent sample: the fit applies the cut to the observations and to the blurred tracks at each "
             "point's observed W2, with the cell quadrature over the shared W2 error; its magnitude error model is "
             "fitted on every source); ignored: the selected sources fitted without the cut. Compared on "
             "the tracks with >= 30 % of their sources selected (the data say nothing about the rest; true weight "
             f"there {sp(('assef', 'true_weight_visible'), '.2f')}).", "",
             "| parameter | JSD forward-modelled | JSD cut ignored (bias) | target |", "|---|---|---|---|"]
    for k in rec["assef"]["jsd_forward"]:
        lines.append(f"| {k} | {sp(('assef', 'jsd_forward', k), '.4f')} | {sp(('assef', 'jsd_ignored', k), '.4f')} | "
                     "<= 0.05 (forward) |")
    per_seed = "; ".join(
        f"seed {sd}: fit p = {r['assef']['gof_forward']['p_value']:.2g}" +
        ("" if not r["assef"].get("truth") else
         f", truth Cash {r['assef']['truth']['cash']:.0f} vs {r['assef']['truth']['expected_cash']:.0f} +- "
         f"{r['assef']['truth']['std_cash']:.0f} (p = {r['assef']['truth']['p_value']:.2g})")
        for sd, r in zip(args.seeds, recs))
    lines += ["", f"Goodness of fit: forward-modelled p = {sp(('assef', 'gof_forward', 'p_value'), '.2g')}, "
              f"cut ignored p = {sp(('assef', 'gof_ignored', 'p_value'), '.2g')}. (W2 itself is degenerate between "
              "levels with the same threshold: the colours do not tell 13.5 from 15.0 apart.) Per seed, with the "
              "true model itself (the 20 true tracks at their true weights, no fit, the fit's error model and the "
              f"cell quadrature) scored on the same histogram: {per_seed}. A sample on which the truth itself scores "
              "p < 0.05 is a fluctuation of the sample that no fitted model should pass (it happens in 5 % of "
              "samples).", ""]
    return lines


def loci_lines(loci, fig_files):
    return ["## Colour loci of the library", "",
            f"Peak of the library's colour distribution (isotropic angles, uniform over tracks): W1-W2 "
            f"{loci['peak_w1_w2']:.2f}, W2-W3 {loci['peak_w2_w3']:.2f} (Vega) vs the approximate peak of the AllWISE "
            f"Assef et al. 2018 R90 AGN {ASSEF18_PEAK}: offsets {loci['offset_mag'][0]:+.2f}, "
            f"{loci['offset_mag'][1]:+.2f} mag (target within 0.3). Share of the library in W1-W2 0.8-1.5, W2-W3 "
            f"2-4: {loci['fraction_in_agn_locus']:.2f}.", "",
            f"Mock catalogue (`make_mock_catalog(n_sources={loci['mock']['n_sources']:,}, seed=0)`: torus + disk "
            "+ hot dust + host, W2 flux limited), its AGN with W3 detected passing the Assef et al. 2018 R90 cut "
            f"({loci['mock']['n_agn_r90_w3']:,}): peak W1-W2 {loci['mock']['peak'][0]:.2f}, W2-W3 "
            f"{loci['mock']['peak'][1]:.2f} (median {loci['mock']['median'][0]:.2f}, "
            f"{loci['mock']['median'][1]:.2f}); "
            f"offsets {loci['mock']['offset_mag'][0]:+.2f}, {loci['mock']['offset_mag'][1]:+.2f} mag (target within "
            f"0.3); share in the box: {loci['mock']['fraction_in_agn_locus']:.2f}. The reference peak is read off "
            "published colour-colour figures (WISE-selected AGN and SDSS quasars: Wright et al. 2010 Fig. 12, "
            "Stern et al. 2012, Assef et al. 2018), +- 0.1-0.2 mag; no tabulated peak exists.", "",
            "Figures: " + ", ".join(f"[{k}]({v})" for k, v in fig_files.items()), ""]


def recovery_lines(recs, args, t_tracks, loci=None, fig_files=None):
    """Markdown of the recovery, goodness-of-fit and selection parts (those present in ``recs``) and the loci."""
    lines = offgrid_lines(recs, args, t_tracks) if "offgrid" in recs[0] else []
    if "correct" in recs[0]:
        lines += gof_lines(recs)
    if "assef" in recs[0]:
        lines += assef_lines(recs, args)
    if loci is not None:
        lines += loci_lines(loci, fig_files or {})
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    ap.add_argument("--sizes", default=None, help="scale points (default: 1e4,1e5,1e6; none with --only-recovery)")
    ap.add_argument("--xmatch", type=float, default=1e6)
    ap.add_argument("--only-crossmatch", action="store_true",
                    help="run only the crossmatch part (writes population_crossmatch.md)")
    ap.add_argument("--acceptance-seeds", type=int, default=0,
                    help="also fit the Assef et al. part on seeds 0..N-1 and report the share accepted "
                         "(p > 0.05); 24-65 CPU s per seed, 20 seeds 11 min on 2 cores (default: %(default)s, off)")
    ap.add_argument("--only-acceptance", action="store_true",
                    help="run only the acceptance part on --acceptance-seeds seeds (20 if not given; writes "
                         "population_acceptance.md)")
    ap.add_argument("--refine", type=int, default=4,
                    help="rounds of PopulationFit(refine=..., regularization='elasticnet') for the refined "
                         "dense-library recovery row (0: skip; about 30 CPU s per round and seed; "
                         "default: %(default)s)")
    ap.add_argument("--only-recovery", action="store_true",
                    help="run only the per-seed parts named by --parts (and the scale points of --sizes, if given; "
                         "no crossmatch, colours, loci or figures); writes population_<variant>.md")
    ap.add_argument("--parts", default="offgrid,gof,assef",
                    help="per-seed parts with --only-recovery: offgrid, gof, assef (default: %(default)s)")
    ap.add_argument("--variant", default="partial",
                    help="with --only-recovery: results go to population_<variant>.md; with --only-acceptance "
                         "(unless partial): population_acceptance_<variant>.md (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="with --only-recovery: seeds fitted in this many processes at once (default: %(default)s)")
    ap.add_argument("--compare", default="maxent",
                    help="regularisations fitted beside the default in the off-grid recovery (comma list, '' for "
                         "none; default: %(default)s)")
    ap.add_argument("--scale-jobs", default="1,2",
                    help="PopulationFit(n_jobs=...) values measured side by side at every scale point (comma list; "
                         "default: %(default)s)")
    ap.add_argument("--worker", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--scale-inner", default="",
                    help="PopulationFit(max_inner_iter=...) values measured side by side at every scale point (comma "
                         "list; default: the estimator's default alone)")
    ap.add_argument("--max-inner-iter", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parse_args(ap, argv)
    if args.worker:
        print("RESULT " + json.dumps(scale_worker(int(args.worker), args.quick, args.threads, args.worker_jobs,
                                                  args.max_inner_iter)), flush=True)
        return 0
    info = RunInfo(argv)
    with pin_threads(args.threads):
        return _run(args, info)


_JOB = {}


def _recovery_job(seed):
    j = _JOB
    log(f"{', '.join(j['parts'])}: seed {seed}", "population")
    with pin_threads(j["threads"]):
        rec = bench_recovery(j["quick"], seed, j["tracks"], j["torus_only"], dense=j["dense"], refine=j["refine"],
                             parts=j["parts"], compare=j["compare"])
    print(json.dumps(rec, indent=1, default=float), flush=True)
    return rec


def _run_recovery_only(args, info, compare):
    """The per-seed parts alone (``--only-recovery``): population_<variant>.md, beside population.md."""
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    bad = set(parts) - {"offgrid", "gof", "assef"}
    if bad:
        raise SystemExit(f"--parts: choose from offgrid, gof, assef; got {args.parts!r}")
    t0 = time.perf_counter()
    tracks = base_tracks(args.quick)
    torus_only = base_tracks(args.quick, torus_only=True) if "gof" in parts else None
    dense = dense_tracks(args.quick) if "offgrid" in parts else None
    t_tracks = time.perf_counter() - t0
    _JOB.update(quick=args.quick, tracks=tracks, torus_only=torus_only, dense=dense, refine=args.refine, parts=parts,
                compare=compare, threads=args.threads)
    if not parts:
        recs = []
    elif args.jobs > 1:   # seeds in forked worker processes (the libraries are inherited, not pickled)
        import multiprocessing as mp

        with mp.get_context("fork").Pool(min(args.jobs, len(args.seeds))) as pool:
            recs = pool.map(_recovery_job, args.seeds)
    else:
        recs = [_recovery_job(seed) for seed in args.seeds]
    lines = recovery_lines(recs, args, t_tracks) if recs else []
    rows = scale_rows(args) if args.sizes else []
    if rows:
        lines += scale_lines(rows)
    what = ", ".join(([] if not recs else list(parts)) + (["scale " + args.sizes] if rows else []))
    write_results(f"population_{args.variant}", "# population benchmark: partial run, the default PopulationFit "
                  f"(angle_substeps={_substeps()}) beside regularization {', '.join(compare) or '(none)'}; parts: "
                  f"{what} (complements population.md)",
                  "\n".join(lines),
                  {"seeds": args.seeds, "parts": list(parts), "compare": list(compare), "recovery": recs,
                   "scale": rows}, info, args.out_dir)
    return 0


def _crossmatch_lines(xm):
    lines = ["## Crossmatch (1.5 arcsec, nearest neighbour)", "",
             f"{xm['n']:,} x {xm['n']:,} sources (70 % with a counterpart at 0.7 arcsec rms).", "",
             "| method | seconds | pairs | identical to astropy | speed-up vs astropy |", "|---|---|---|---|---|",
             f"| astropy match_coordinates_sky | {xm['seconds_astropy']:.2f} | {xm['pairs_astropy']:,} | - | 1.0 |",
             f"| agnlab.catalog.crossmatch (k-d tree, bounded) | {xm['seconds']:.2f} | {xm['pairs']:,} | "
             f"{xm['identical']} (max sep diff {xm['max_dsep_arcsec']:.1e} arcsec) | "
             f"{xm['seconds_astropy'] / xm['seconds']:.1f}x |"]
    if "lsdb_seconds" in xm:
        lines.append(f"| agnlab.catalog.crossmatch_hats (LSDB/HATS on disk) | {xm['lsdb_seconds']:.2f} "
                     f"(+ {xm['lsdb_write_seconds']:.1f} s writing HATS) | {xm['lsdb_pairs']:,} | "
                     f"{xm['lsdb_identical']} | {xm['seconds_astropy'] / xm['lsdb_seconds']:.1f}x |")
    return lines


def _run(args, info):
    if args.sizes is None:
        args.sizes = "" if args.only_recovery else "1e4,1e5,1e6"
    if args.quick:  # smoke run: small scale points and crossmatch
        args.sizes = "2e3" if args.sizes == "1e4,1e5,1e6" else args.sizes
        args.xmatch = min(args.xmatch, 2e4)
    if args.only_crossmatch:
        xm = bench_crossmatch(int(args.xmatch), args.quick)
        write_results("population_crossmatch", "# population benchmark: crossmatch only",
                      "\n".join(_crossmatch_lines(xm)), {"crossmatch": xm}, info, args.out_dir)
        return 0
    if args.only_acceptance:
        rows = bench_acceptance(base_tracks(args.quick), args.acceptance_seeds or 20)
        name, title = "population_acceptance", "# population benchmark: acceptance rate only"
        if args.variant != "partial":   # a variant beside the reference acceptance file
            name, title = f"{name}_{args.variant}", (f"{title}, default PopulationFit (angle_substeps={_substeps()}); "
                                                     "complements population_acceptance.md")
        write_results(name, title,
                      "\n".join(acceptance_lines(rows)), {"acceptance": rows}, info, args.out_dir)
        return 0
    compare = tuple(c for c in args.compare.split(",") if c)
    if args.only_recovery:
        return _run_recovery_only(args, info, compare)
    log("colours", "population")
    col = bench_colors()
    t0 = time.perf_counter()
    tracks = base_tracks(args.quick)
    torus_only = base_tracks(args.quick, torus_only=True)
    dense = dense_tracks(args.quick)
    t_tracks = time.perf_counter() - t0
    recs, figs = [], {}
    for seed in args.seeds:
        log(f"recovery, goodness of fit, Assef cut: seed {seed}", "population")
        recs.append(bench_recovery(args.quick, seed, tracks, torus_only, figs=figs if seed == args.seeds[0] else None,
                                   dense=dense, refine=args.refine, compare=compare))
        print(json.dumps(recs[-1], indent=1, default=float), flush=True)
    loci = bench_loci(tracks)
    fig_files = write_figures(figs, tracks, Path(args.out_dir))
    lines = recovery_lines(recs, args, t_tracks, loci, fig_files)
    acc = bench_acceptance(tracks, args.acceptance_seeds) if args.acceptance_seeds > 0 else None
    if acc:
        lines += acceptance_lines(acc)
    rows = scale_rows(args)
    lines += scale_lines(rows)
    log("crossmatch", "population")
    xm = bench_crossmatch(int(args.xmatch), args.quick)
    print(xm, flush=True)
    lines += _crossmatch_lines(xm)
    lines += ["", "## Colours: speclite vs precomputed response matrices", "",
              "| redshift | max abs colour difference (mag), 200 SEDs | target |", "|---|---|---|"]
    for k, v in col.items():
        lines.append(f"| {k} | {v:.2e} | <= 1e-3 |")
    write_results("population", "# population benchmark", "\n".join(lines),
                  {"seeds": args.seeds, "recovery": recs, "loci": loci, "figures": fig_files, "scale": rows,
                   "crossmatch": xm, "colours": col, "acceptance": acc},
                  info, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
