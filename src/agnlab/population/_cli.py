"""``agnlab population select|crossmatch|tracks|fit`` (thin: parse, call the library)."""

from __future__ import annotations

import numpy as np

from ._angles import ANGLE_SUBSTEPS

__all__ = ["register"]


def _load_catalog(spec, *, which, n, seed):
    """A table from a file, or ``builtin`` (mock WISE / spectra / regions table)."""
    if spec == "builtin":
        from ..catalog import make_mock_catalog

        return getattr(make_mock_catalog(n_sources=n, seed=seed), which)
    from ..catalog import read_catalog

    return read_catalog(spec, required=("ra", "dec"))


def _select_hats(args, options) -> int:
    from ..catalog import select_wise_agn_hats

    if args.catalog == "builtin":
        raise ValueError("--hats reads a HATS catalogue folder (e.g. written by agnlab.catalog.write_hats or "
                         "hats-import), not 'builtin'")
    res = select_wise_agn_hats(args.catalog, args.out, spectra=args.spectra_hats, radius_arcsec=args.radius_arcsec,
                               overwrite=args.overwrite, **options)
    print(res["report"].to_string(index=False))
    matched = f"; {res['n_matched']} with a spectrum within {args.radius_arcsec} arcsec" if args.spectra_hats else ""
    print(f"wrote HATS catalogue {res['out']}: {res['n_selected']} of {res['n_input']} sources selected{matched}")
    return 0


def _cmd_select(args) -> int:
    from ..catalog import select_wise_agn
    from ..io import write_table

    if args.spectra_hats and not args.hats:
        raise ValueError("--spectra-hats needs --hats (the crossmatch runs on HATS catalogues)")
    regions = None
    if args.exclusions:
        regions = _load_catalog(args.exclusions, which="regions", n=args.n_sources, seed=args.seed)
    options = dict(preset=args.preset, alpha=args.alpha, beta=args.beta, gamma=args.gamma,
                   snr_min=None if args.snr_min <= 0 else args.snr_min, w2_max=args.w2_max, b_min_deg=args.b_min_deg,
                   gc_radius_deg=args.gc_radius_deg, exclusion_regions=regions, require_w3=not args.no_w3)
    if args.hats:
        return _select_hats(args, options)
    table = _load_catalog(args.catalog, which="wise", n=args.n_sources, seed=args.seed)
    mask, report = select_wise_agn(table, **options)
    print(report.to_string(index=False))
    write_table(table[mask].reset_index(drop=True), args.out)
    print(f"wrote {int(mask.sum())} of {len(table)} sources to {args.out}")
    return 0


def _cmd_crossmatch(args) -> int:
    from ..catalog import crossmatch, crossmatch_hats, filter_spectra
    from ..io import write_table

    if args.z_min is not None and args.z_max is not None and args.z_min > args.z_max:
        raise ValueError(f"--z-min {args.z_min:g} > --z-max {args.z_max:g}: empty redshift range")
    if args.classes == []:
        raise ValueError("--classes needs at least one class (e.g. --classes QSO)")
    left = _load_catalog(args.left, which="wise", n=args.n_sources, seed=args.seed)
    right = _load_catalog(args.right, which="spectra", n=args.n_sources, seed=args.seed)
    if args.classes or args.z_min is not None or args.z_max is not None:
        keep, report = filter_spectra(right, classes=args.classes or None, z_min=args.z_min, z_max=args.z_max)
        print(report.to_string(index=False))
        right = right[keep].reset_index(drop=True)
    if args.backend == "lsdb":
        pairs = crossmatch_hats(left, right, radius_arcsec=args.radius_arcsec)
    else:
        pairs = crossmatch(left, right, radius_arcsec=args.radius_arcsec)
    out = left.iloc[pairs["left_index"].to_numpy()].reset_index(drop=True)
    rcols = right.iloc[pairs["right_index"].to_numpy()].reset_index(drop=True)
    out = out.join(rcols.add_prefix("spec_"))
    out["left_index"] = pairs["left_index"].to_numpy()
    out["right_index"] = pairs["right_index"].to_numpy()
    out["sep_arcsec"] = pairs["sep_arcsec"].to_numpy()
    write_table(out, args.out)
    print(f"{len(pairs)} of {len(left)} sources matched within {args.radius_arcsec} arcsec; wrote {args.out}")
    return 0


def _observed_colors(table):
    """Colours (n, 2), errors and W2 (or None): ``w1_w2, w2_w3`` (colour errors ``w1_w2_err, w2_w3_err``) or the
    WISE magnitudes; with ``w*sigmpro`` the errors are the three magnitude errors (n, 3), so the fit models the
    W2 error both colours share (a magnitude without error, e.g. an upper limit, gets NaN and is dropped)."""
    from ..catalog import clean_photometry

    cols = set(table.columns)
    sig = [f"w{b}sigmpro" for b in (1, 2, 3)]
    w2 = table["w2mpro"].to_numpy(float) if "w2mpro" in cols else None
    if {"w1_w2", "w2_w3"} <= cols:
        obs = table[["w1_w2", "w2_w3"]].to_numpy(float)
        if {"w1_w2_err", "w2_w3_err"} <= cols:
            return obs, table[["w1_w2_err", "w2_w3_err"]].to_numpy(float), w2
        if set(sig) <= cols:
            return obs, table[sig].to_numpy(float), w2
        return obs, None, w2
    clean, _ = clean_photometry(table, bands=("w1", "w2", "w3"))
    obs = np.column_stack([(clean["w1mpro"] - clean["w2mpro"]).to_numpy(),
                           (clean["w2mpro"] - clean["w3mpro"]).to_numpy()])
    w2 = clean["w2mpro"].to_numpy(float)
    if not set(sig) <= set(clean.columns):
        return obs, None, w2
    return obs, clean[sig].to_numpy(float), w2


def _cmd_fit(args) -> int:

    from ..io import read_table
    from . import PopulationFit, load_tracks

    arrays = load_tracks(args.tracks)
    table = read_table(args.observed)
    obs, err, w2 = _observed_colors(table)
    sel_kw = {} if w2 is None else {"observed_w2": w2}
    if args.selection and "w2_mag" in arrays:
        sel_kw["track_w2"] = arrays["w2_mag"]
    if args.color_error is not None:
        err = None   # an explicit constant error replaces the catalogue's
    elif err is None:
        raise ValueError(f"{args.observed}: no measurement errors (columns w1sigmpro, w2sigmpro, w3sigmpro or "
                         "w1_w2_err, w2_w3_err); give --color-error MAG (0 for noise-free colours)")
    fit = PopulationFit(bins=args.bins, cv=args.cv, n_alphas=args.n_alphas, color_error=args.color_error,
                        n_gof_boot=args.gof_boot, selection=args.selection, random_state=args.seed,
                        progress=args.progress, regularization=args.regularization,
                        maxent_tolerance=args.maxent_tolerance, angle_substeps=args.angle_substeps,
                        n_jobs=args.n_jobs)
    fit.fit(arrays["colors"], obs, err, angles_deg=arrays.get("angles_deg"), **sel_kw)
    path = fit.save(args.out)
    gof = fit.goodness_of_fit_
    if fit.regularization == "maxent":
        me = fit.training_record_["maxent"]
        reg = (f"{me['effective_tracks']:.0f} effective tracks, KL-to-prior penalty lam {fit.lam_:.3g} (misfit scale "
               f"{me['misfit_scale']:.1f}, grid widened {len(me['widened'])} times)")
    else:
        reg = (f"{fit.n_nonzero_} non-zero weights, alpha/alpha_max {fit.alpha_ratio_:.3g}, l1_ratio "
               f"{fit.l1_ratio_} (grid widened {len(fit.training_record_['cv']['widened'])} times)")
    print(f"Cash {gof['cash']:.1f} (expected {gof['expected_cash']:.1f} +- {gof['std_cash']:.1f} over "
          f"{gof['n_bins']} bins, p = {gof['p_value']:.3g}), {reg}; dropped {fit.training_record_['dropped']}; "
          f"wrote {path}")
    if args.report:
        from ..report import Report
        from . import plot_fit_histograms, plot_parameter_distributions

        rep = Report("agnlab population fit")
        sec = rep.section("population_fit", "Population fit")
        sec.figure(plot_fit_histograms(fit), "Observed, model and residual histograms")
        names = [str(n) for n in arrays["param_names"]] if "param_names" in arrays else None
        if "params" in arrays:
            if args.bootstrap:
                boot = fit.bootstrap(args.bootstrap, params=arrays["params"], param_names=names)
                sec.figure(plot_parameter_distributions(boot["distributions"]),
                           f"Uniform vs weighted parameter distributions, with 68 % and 95 % bands from "
                           f"{args.bootstrap} bootstrap replicates (sources and regularisation)")
            else:
                sec.figure(plot_parameter_distributions(fit.parameter_distributions(arrays["params"],
                                                                                    param_names=names)),
                           "Uniform vs weighted parameter distributions")
        sec.metrics({"cash": gof["cash"], "expected_cash": gof["expected_cash"], "std_cash": gof["std_cash"],
                     "p_value": gof["p_value"], "n_bins": gof["n_bins"], "n_nonzero": fit.n_nonzero_,
                     "alpha_ratio": fit.alpha_ratio_, "l1_ratio": fit.l1_ratio_,
                     "regularization": fit.regularization, "lam": getattr(fit, "lam_", None),
                     "cv_widened": len(fit.training_record_["cv"]["widened"]), **{
                         f"dropped_{k}": v for k, v in fit.training_record_["dropped"].items()}})
        print(f"wrote {rep.write(args.report)}")
    return 0


def _angle_range(args, domain, *, source):
    """Viewing angles [deg]: ``--angle-range-deg`` (checked against the model's domain) or the whole domain."""
    lo, hi = float(domain[0]), float(domain[1])
    if args.angle_range_deg is None:
        return lo, hi
    a, b = args.angle_range_deg
    if not a < b:
        raise ValueError(f"--angle-range-deg {a:g} {b:g}: needs LO < HI")
    if a < lo or b > hi:
        raise ValueError(f"--angle-range-deg {a:g} {b:g} lies outside the viewing angles of {source} "
                         f"[{lo:g}, {hi:g}] deg")
    return a, b


def _cmd_tracks(args) -> int:
    import itertools

    from ..grids import CLUMPY_PARAM_NAMES
    from . import TRACK_NODES, color_tracks, save_tracks

    names = list(CLUMPY_PARAM_NAMES)
    if args.emulator:
        from ..emulate import load_emulator

        model = load_emulator(args.emulator)
        names = list(model.param_names_)
        if args.angle_name not in names:
            raise ValueError(f"{args.emulator}: the emulator has no viewing-angle parameter {args.angle_name!r} "
                             f"(parameters: {names}); name it with --angle-name")
        if getattr(model, "wave_um_", None) is None:
            raise ValueError(f"{args.emulator}: the emulator was fitted without wave_um; colours need wavelengths "
                             "(fit it with 'agnlab emulate train' or emu.fit(grid))")
        wave = None
        lo, hi = np.array([model.param_ranges_[n] for n in names if n != args.angle_name]).T
        rng = np.random.default_rng(args.seed)
        params = lo + (hi - lo) * rng.random((args.n_tracks, len(names) - 1))
        angle_range = _angle_range(args, model.param_ranges_[args.angle_name], source=args.emulator)
    else:
        from ..grids import CLUMPY_WAVE_UM

        model = _BuiltinSED(args.torus_only)
        wave = CLUMPY_WAVE_UM
        params = np.array(list(itertools.product(*(TRACK_NODES[n] for n in names[:-1]))), float)
        if args.n_tracks < params.shape[0]:  # a random subset of the regular grid
            keep = np.sort(np.random.default_rng(args.seed).choice(params.shape[0], args.n_tracks, replace=False))
            params = params[keep]
        angle_range = _angle_range(args, (0.0, 90.0), source="the built-in model")
    angles = np.linspace(*angle_range, args.n_angles)
    metadata = {"z": list(map(float, args.z)),
                "source": args.emulator or "agnlab.grids.clumpy_like_sed (approximation)"}
    kwargs = dict(angles_deg=angles, angle_name=args.angle_name, param_names=names, wave_um=wave, z=args.z)
    if args.dask:
        return _tracks_dask(args, model, params, kwargs, metadata)
    tracks = color_tracks(model, params, progress=args.progress, **kwargs)
    path = save_tracks(tracks, args.out, metadata=metadata)
    print(f"wrote {tracks.n_tracks} tracks x {angles.size} angles to {path}")
    return 0


class _BuiltinSED:
    """The built-in generator as a picklable model (shipped to Dask workers)."""

    def __init__(self, torus_only: bool):
        self.torus_only = torus_only

    def __call__(self, X):
        from ..grids import clumpy_like_sed

        return clumpy_like_sed(X, include_agn=not self.torus_only, progress=False)


def _tracks_shard(item, folder, payload):
    from pathlib import Path

    from . import color_tracks, save_tracks

    start, stop = item
    model, params, kwargs, metadata = payload
    tracks = color_tracks(model, params[start:stop], progress=False, **kwargs)
    save_tracks(tracks, Path(folder) / f"tracks-{start:010d}.npz", metadata={**metadata, "first_track": start})


def _tracks_dask(args, model, params, kwargs, metadata) -> int:
    """``--dask``: shards of ``--shard-size`` parameter sets, each a tracks file in the output folder
    (``population fit`` reads the folder); the model and parameters are shipped to each worker once."""
    from ..scale import dask_client, map_files

    size = int(args.shard_size)
    if size < 1:
        raise ValueError(f"--shard-size must be >= 1, got {size}")
    n = params.shape[0]
    items = [(start, min(start + size, n)) for start in range(0, n, size)]
    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        out = map_files(_tracks_shard, items, args.out, model=(model, params, kwargs, metadata), client=client,
                        overwrite=args.overwrite, progress=args.progress)
    print(f"wrote {n * len(args.z)} tracks x {len(kwargs['angles_deg'])} angles to {out}/ "
          f"({len(items)} shards of <= {size} parameter sets x {len(args.z)} redshifts)")
    return 0


_TABLE_SUFFIXES = (".csv", ".parquet", ".fits", ".h5", ".hdf5")


def register(subparsers) -> None:
    """Add ``population`` and its verbs to the top-level ``agnlab`` parser."""
    from ..cli_common import add_common, add_dask, add_input, add_output

    p = subparsers.add_parser("population", help="WISE AGN selection, crossmatch, and track-mixing fits")
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    s = verbs.add_parser("select", help="select WISE AGN (colour cut, quality, sky masks) from a catalogue")
    add_input(s, "catalog", help="AllWISE-like table (FITS/Parquet/CSV/HDF5)", builtin=True)
    add_output(s, help="output table of selected sources", suffixes=_TABLE_SUFFIXES)
    s.add_argument("--preset", default="default",
                   help="colour-cut preset of agnlab.catalog.ASSEF_PRESETS (default: default)")
    s.add_argument("--alpha", type=float, help="override the preset's alpha (W1-W2 offset of the cut; "
                                               "default: the preset's)")
    s.add_argument("--beta", type=float, help="override the preset's beta (W2 slope of the cut; default: the preset's)")
    s.add_argument("--gamma", type=float, help="override the preset's gamma (W2 pivot magnitude, Vega; "
                                               "default: the preset's)")
    s.add_argument("--snr-min", type=float, default=5.0, help="minimum S/N in W1, W2 (<= 0 disables; default: 5)")
    s.add_argument("--w2-max", type=float, help="faint W2 limit (Vega; default: none)")
    s.add_argument("--b-min-deg", type=float, default=10.0, help="Galactic latitude cut |b| >= this (default: 10)")
    s.add_argument("--gc-radius-deg", type=float, default=30.0,
                   help="Galactic-centre exclusion radius [deg] (default: 30)")
    add_input(s, "exclusions", option=True, required=False,
              help="table of circular exclusion regions (ra, dec, radius_arcsec)", builtin=True)
    s.add_argument("--no-w3", action="store_true", help="do not require a W3 detection")
    s.add_argument("--n-sources", type=int, default=100_000, help="size of the builtin mock (default: 100000)")
    s.add_argument("--hats", action="store_true",
                   help="CATALOG is a HATS catalogue: select partition by partition with LSDB, add colours, and "
                        "write a HATS catalogue to --out (default: an in-memory table)")
    add_input(s, "spectra_hats", option=True, required=False,
              help="with --hats: HATS catalogue of spectra (with a margin cache) to crossmatch the selected sources "
                   "with")
    s.add_argument("--radius-arcsec", type=float, default=1.5,
                   help="with --spectra-hats: match radius in arcsec (default: 1.5)")
    add_common(s, n_jobs=False)
    s.set_defaults(func=_cmd_select)

    c = verbs.add_parser("crossmatch", help="nearest-neighbour crossmatch (e.g. WISE AGN with spectra)")
    add_input(c, "left", help="table with ra, dec", builtin=True)
    add_input(c, "right", help="table with ra, dec (and class, z for --classes/--z-min/--z-max)", builtin=True)
    add_output(c, help="matched table", suffixes=_TABLE_SUFFIXES)
    c.add_argument("--radius-arcsec", type=float, default=1.5, help="match radius [arcsec] (default: 1.5)")
    c.add_argument("--backend", choices=("kdtree", "lsdb"), default="kdtree",
                   help="in-memory k-d tree, or LSDB/HATS partitions on disk (default: kdtree)")
    c.add_argument("--classes", nargs="+", help="keep right rows of these spectral classes (e.g. QSO; default: all)")
    c.add_argument("--z-min", type=float, help="keep right rows with z >= this (default: no lower limit)")
    c.add_argument("--z-max", type=float, help="keep right rows with z <= this (default: no upper limit)")
    c.add_argument("--n-sources", type=int, default=100_000, help="size of the builtin mocks (default: 100000)")
    add_common(c, n_jobs=False)
    c.set_defaults(func=_cmd_crossmatch)

    t = verbs.add_parser("tracks", help="colour tracks (W1-W2, W2-W3 over viewing angles) of a model")
    add_output(t, help="tracks file for 'population fit'", suffixes=(".npz",))
    add_input(t, "emulator", option=True, required=False,
              help="saved emulator (agnlab emulate train); default: built-in clumpy-like generator on its "
                   "regular parameter grid")
    t.add_argument("--n-tracks", type=int, default=100_000,
                   help="parameter sets: random within the emulator's domain, or a random subset of the built-in "
                        "regular grid (2,000 nodes) (default: 100000)")
    t.add_argument("--n-angles", type=int, default=10, help="viewing angles per track (default: 10)")
    t.add_argument("--angle-range-deg", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="viewing-angle range [deg], within the model's domain (default: the emulator's trained "
                        "range of --angle-name, or 0 90 for the built-in model)")
    t.add_argument("--angle-name", default="i", help="name of the viewing-angle parameter (default: i)")
    t.add_argument("--z", type=float, nargs="+", default=[0.0], help="redshift(s) (default: 0)")
    t.add_argument("--torus-only", action="store_true", help="built-in model without the accretion disk")
    t.add_argument("--shard-size", type=int, default=100_000,
                   help="with --dask: parameter sets per task, each written as OUT/tracks-<first>.npz "
                        "(default: 100000)")
    add_dask(t)
    add_common(t)
    t.set_defaults(func=_cmd_tracks)

    f = verbs.add_parser("fit", help="non-negative mix of colour tracks to an observed histogram (maximum-entropy "
                                     "or ElasticNet regularisation)")
    add_input(f, "tracks", help="tracks file from 'population tracks' (npz with 'colors' (n_tracks, n_angles, 2), "
                                "optional 'angles_deg', 'params', 'param_names'), or its --dask output folder")
    add_input(f, "observed", help="table with w1mpro, w2mpro, w3mpro (or w1_w2, w2_w3)")
    add_output(f, help="fitted model file", suffixes=(".npz",))
    f.add_argument("--bins", type=int, default=40, help="histogram bins per colour (default: 40)")
    f.add_argument("--cv", type=int, default=3, help="cross-validation folds (default: 3)")
    f.add_argument("--n-alphas", type=int, default=8,
                   help="ElasticNet regularisation strengths tried (default: 8)")
    f.add_argument("--regularization", choices=("elasticnet", "maxent"), default="elasticnet",
                   help="maxent: KL penalty to a uniform prior over the tracks, strength by the discrepancy rule "
                        "(weights of tracks the colours cannot tell apart stay in the prior's proportions); "
                        "elasticnet: sparse, by cross-validation (default: %(default)s)")
    f.add_argument("--maxent-tolerance", type=float, default=1.0,
                   help="maxent: how far (in standard deviations of the Cash statistic, scaled by the best fit's "
                        "misfit) the fit may sit above the best one (default: %(default)s)")
    f.add_argument("--color-error", type=float, help="constant colour error (mag) to blur the model histograms, "
                                                     "replacing the catalogue's errors; 0 for noise-free colours "
                                                     "(default: per-source errors from w*sigmpro)")
    f.add_argument("--selection", help="forward-model this colour cut (a preset of agnlab.catalog.ASSEF_PRESETS, e.g. "
                                       "default); needs w2mpro in the table and w2_mag in the tracks file when the "
                                       "cut depends on W2 (default: none)")
    f.add_argument("--angle-substeps", type=int, default=ANGLE_SUBSTEPS,
                   help="split every interval between the tracks' sampled viewing angles into this many parts, "
                        "colours interpolated linearly (tracks as curves; needs angles_deg in the tracks file; "
                        "1: the sampled points alone; default: %(default)s)")
    f.add_argument("--gof-boot", type=int, default=20,
                   help="parametric-bootstrap replicates of the goodness-of-fit p-value (default: 20)")
    f.add_argument("--bootstrap", type=int, default=0,
                   help="bootstrap replicates for bands on the parameter distributions in --report (default: 0)")
    add_output(f, "report", help="also write an HTML report to this folder", required=False, directory=True)
    add_common(f)
    f.set_defaults(func=_cmd_fit)
