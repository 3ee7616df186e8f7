"""Demo part of the ``nebular`` section: grid inversion of a synthetic IFU cube drawn from MAPPINGS models."""

from __future__ import annotations

import importlib.util
import time

import numpy as np

__all__ = ["bpt_figure", "grid_demo", "grid_maps_figure"]

_OH, _U, _PK, _EP = "12 + log O/H", "log U", "log P/k", "log E_peak"
_DEMO_LINES = ("OII3726", "OII3729", "NeIII3869", "OIII4363", "HeII4686", "OIII5007", "HeI5876", "OI6300", "NII6583",
               "Halpha", "SII6716", "SII6731")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def bpt_figure(fluxes, maps, params=(_OH, _U, _EP)):
    """[N II]-BPT diagram of the spaxels, one panel per parameter, coloured by its inferred value.

    Parameters
    ----------
    fluxes : mapping of line -> map
    maps : GridMaps
    params : sequence of str

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._bpt import kauffmann03, kewley01

    plt = _plt()
    with np.errstate(all="ignore"):
        x = np.log10(fluxes["NII6583"] / fluxes["Halpha"]).ravel()
        y = np.log10(fluxes["OIII5007"] / fluxes["Hbeta"]).ravel()
    params = [p for p in params if p in maps.params]
    fig, axes = plt.subplots(1, len(params), figsize=(4.6 * len(params), 4.0), squeeze=False)
    xs = np.linspace(-2.0, 0.4, 200)
    for ax, p in zip(axes[0], params):
        v = maps.value[p].ravel()
        has = np.isfinite(v) & np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[~has], y[~has], s=4, c="0.8", label="no estimate")
        sc = ax.scatter(x[has], y[has], s=6, c=v[has], cmap="viridis")
        ax.plot(xs, kauffmann03(xs), "k--", lw=1, label="Kauffmann+03")
        ax.plot(xs, kewley01(xs), "k-", lw=1, label="Kewley+01")
        ax.set_xlim(-2.0, 0.6)
        ax.set_ylim(-1.5, 1.4)
        ax.set_xlabel("log [N II] 6583 / H$\\alpha$")
        ax.set_ylabel("log [O III] 5007 / H$\\beta$")
        ax.set_title(f"coloured by inferred {p}", fontsize=9)
        fig.colorbar(sc, ax=ax, shrink=0.85)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def grid_maps_figure(cube, maps):
    """Truth, inferred value and half 68 % width of every parameter, plus the BPT class map.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.8")
    fig, axes = plt.subplots(3, len(maps.params) + 1, figsize=(3.2 * (len(maps.params) + 1), 8.4))
    for j, p in enumerate(maps.params):
        truth = cube["truth"].get(p, np.full(maps.flag.shape, np.nan))
        lim = np.nanpercentile(np.concatenate([truth.ravel(), maps.value[p].ravel()]), [1, 99])
        half = 0.5 * (maps.hi[p] - maps.lo[p])
        for i, (img, title, kw) in enumerate([(truth, f"true {p}", {"vmin": lim[0], "vmax": lim[1]}),
                                              (maps.value[p], f"inferred {p}", {"vmin": lim[0], "vmax": lim[1]}),
                                              (half, f"{p}: half 68% width", {})]):
            im = axes[i, j].imshow(np.ma.masked_invalid(img), origin="lower", cmap=cmap, **kw)
            axes[i, j].set_title(title, fontsize=8)
            fig.colorbar(im, ax=axes[i, j], shrink=0.8)
    classes = ["star-forming", "composite", "agn", "unclassified"]
    code = np.select([maps.bpt == c for c in classes], range(4), 3).astype(float)
    im = axes[0, -1].imshow(code, origin="lower", cmap=plt.get_cmap("Set2", 4), vmin=-0.5, vmax=3.5)
    fig.colorbar(im, ax=axes[0, -1], shrink=0.8).set_ticks(range(4), labels=["SF", "comp.", "AGN", "n/a"])
    axes[0, -1].set_title("BPT class", fontsize=8)
    truth_comp = np.where(cube["component"] == "nlr", 2.0, 0.0)
    axes[1, -1].imshow(truth_comp, origin="lower", cmap=plt.get_cmap("Set2", 4), vmin=-0.5, vmax=3.5)
    axes[1, -1].set_title("true component (HII / NLR)", fontsize=8)
    ok = np.isin(maps.flag, ("ok", "line_dropped", "nonpositive_flux")).astype(float)
    axes[2, -1].imshow(ok, origin="lower", cmap="gray", vmin=0, vmax=1)
    axes[2, -1].set_title("estimated (white)", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def grid_demo(sec, *, seed=0, quick=True) -> dict:
    """Add the grid-inversion figures and tables to a report section; returns metrics (``grid_*``)."""
    if importlib.util.find_spec("NebulaBayes") is None:
        sec.text("The MAPPINGS grids come with the NebulaBayes package (agnlab[nebular]); not installed, so the "
                 "photoionisation-grid part of this section is skipped.")
        return {"grid_skipped": 1}
    from . import (
        GRID_ICF_FEATURES,
        GridInverter,
        ICFRegressor,
        direct_oh_maps,
        grid_abundance_table,
        grid_fit_cube,
        load_photoionization_grid,
        make_grid_cube,
        map_key,
    )

    t0 = time.perf_counter()
    hii, nlr = load_photoionization_grid("mappings-hii"), load_photoionization_grid("mappings-nlr")
    # He II 4686 (the hardness diagnostic) only for the NLR grid: HII models predict ~0, so noise spikes
    # in it would push star-forming spaxels out of the HII grid's domain
    lines = {"hii": [ln for ln in _DEMO_LINES if ln not in ("Hbeta", "HeII4686")],
             "nlr": [ln for ln in _DEMO_LINES if ln != "Hbeta"]}
    kw = ({"n_samples": 6000, "hidden": (64, 64), "max_epochs": 40} if quick else {"n_samples": 100000})
    invs = [GridInverter(method="nn", random_state=seed, progress=False, **kw).fit(g, lines=lines[k])
            for g, k in ((hii, "hii"), (nlr, "nlr"))]
    fit_s = time.perf_counter() - t0
    shape = (24, 24) if quick else (48, 48)
    cube = make_grid_cube(shape, hii_grid=hii, nlr_grid=nlr, lines=_DEMO_LINES, seed=seed)
    maps = grid_fit_cube(invs[0], cube["fluxes"], cube["errors"], nlr_inverter=invs[1])
    sec.figure(bpt_figure(cube["fluxes"], maps),
               "BPT diagram of the synthetic cube's spaxels coloured by the parameters inferred by GridInverter "
               "(HII grid for star-forming spaxels, AGN-NLR grid above the Kewley line; grey: no estimate).")
    sec.figure(grid_maps_figure(cube, maps),
               f"Synthetic {shape[0]}x{shape[1]} cube drawn from MAPPINGS models (an AGN bi-cone in a "
               "star-forming disc): truth, inferred maps and half 68% widths; BPT class, true component, "
               "estimated spaxels.")
    est = np.isin(maps.flag, ("ok", "line_dropped", "nonpositive_flux"))
    rows, metrics = [], {"grid_fit_seconds": fit_s, "grid_map_seconds": maps.seconds}
    for p in maps.params:
        t = cube["truth"].get(p)
        ok = est & np.isfinite(maps.value[p]) & np.isfinite(t)
        if not ok.any():
            continue
        err = np.median(np.abs(maps.value[p][ok] - t[ok]))
        cover = np.mean((t[ok] >= maps.lo[p][ok]) & (t[ok] <= maps.hi[p][ok]))
        rows.append({"parameter": p, "spaxels": int(ok.sum()), "median |error|": round(float(err), 3),
                     "68% coverage": round(float(cover), 2)})
        metrics[f"grid_{map_key(p)}_median_abs_error"] = float(err)
    comp_ok = (cube["component"] == "nlr") == (maps.bpt == "agn")
    metrics["grid_bpt_component_agreement"] = float(np.mean(comp_ok[~cube["nan_mask"]]))
    metrics["grid_fraction_estimated"] = float(est.mean())
    sec.table(rows, "GridInverter maps against the cube's truth (spaxels with an estimate)")
    # direct-method O/H and its grid-trained correction (HII spaxels), by Monte Carlo
    t1 = time.perf_counter()
    table = grid_abundance_table(hii, n_draws=2 if quick else 10, seed=seed)
    use = (table["flag"] == "ok") & table[list(GRID_ICF_FEATURES)].notna().all(axis=1)
    reg = ICFRegressor(features=list(GRID_ICF_FEATURES), target="log_icf_O", random_state=seed, n_repeats=1,
                       backend_params={"max_iter": 80 if quick else 300}).fit(table[use])
    direct = direct_oh_maps(cube["fluxes"], cube["errors"], regressor=reg, n_draws=20 if quick else 100, seed=seed)
    sf = (direct["flag"] == "ok") & (cube["component"] == "hii")
    truth = cube["truth"][_OH][sf]
    if sf.any():
        metrics["grid_direct_oh_median_bias"] = float(np.median(direct["oh_direct"][sf] - truth))
        corrected = np.isfinite(direct["oh_corrected"][sf])
        metrics["grid_corrected_oh_median_bias"] = float(np.median(direct["oh_corrected"][sf][corrected]
                                                                   - truth[corrected])) if corrected.any() else None
        sec.table([{"O/H estimate (HII spaxels, Monte Carlo medians)": k, "spaxels": int(n), "median bias [dex]": b}
                   for k, n, b in (("direct method (Te from [O III] 4363)", sf.sum(),
                                    round(metrics["grid_direct_oh_median_bias"], 3)),
                                   ("direct + grid-trained correction", corrected.sum(),
                                    None if metrics["grid_corrected_oh_median_bias"] is None
                                    else round(metrics["grid_corrected_oh_median_bias"], 3)))],
                  "Direct-method O/H is biased low against the models' truth (temperature structure); an "
                  "ICFRegressor trained on the HII grid (agnlab.nebular.grid_abundance_table) corrects it")
    metrics["grid_direct_seconds"] = time.perf_counter() - t1
    return metrics
