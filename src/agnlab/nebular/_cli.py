"""``agnlab nebular train|temden|mc|icf|grid-fit`` (thin: parse, call the library)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["register"]


def _add_diag_args(p):
    p.add_argument("--tem-diag", default="[OIII] 4363/5007",
                   help="PyNeb temperature diagnostic (default '[OIII] 4363/5007'; "
                        "'[OIII] 4363/5007+' means 4363/(4959+5007))")
    p.add_argument("--den-diag", default="[SII] 6731/6716",
                   help="PyNeb density diagnostic (default: '[SII] 6731/6716')")
    p.add_argument("--method", choices=("table", "nn"), default="table",
                   help="inversion: spline table + Newton, or a neural network (default: table)")
    p.add_argument("--te-range", nargs=2, type=float, default=(5000.0, 25000.0), metavar=("LO", "HI"),
                   help="trained Te range [K] (default: 5000 25000)")
    p.add_argument("--log-ne-range", nargs=2, type=float, default=(0.0, 6.0), metavar=("LO", "HI"),
                   help="trained log10 Ne range [cm^-3] (default: 0 6)")


_DIAG_DEFAULTS = {"tem_diag": "[OIII] 4363/5007", "den_diag": "[SII] 6731/6716", "method": "table",
                  "te_range": (5000.0, 25000.0), "log_ne_range": (0.0, 6.0)}


def _estimator_from_args(args):
    from . import TeNeEstimator

    if getattr(args, "model", None):
        given = [k for k, v in _DIAG_DEFAULTS.items() if tuple(np.atleast_1d(getattr(args, k))) != tuple(
            np.atleast_1d(v))]
        if given:
            raise ValueError(f"--model {args.model} fixes the diagnostics and ranges; do not also give "
                             f"{', '.join('--' + k.replace('_', '-') for k in given)}")
        return TeNeEstimator.load(args.model)
    print("[agnlab nebular] no --model given: fitting a TeNeEstimator from PyNeb", file=sys.stderr)
    return TeNeEstimator(args.tem_diag, args.den_diag, args.method, te_range_k=tuple(args.te_range),
                         log_ne_range=tuple(args.log_ne_range), random_state=getattr(args, "seed", 0),
                         progress=args.progress).fit()


def _cmd_train(args) -> int:
    from . import TeNeEstimator

    kw = {}
    if args.method == "nn":
        kw["nn_config"] = {"max_epochs": args.epochs, "seed": args.seed}
    est = TeNeEstimator(args.tem_diag, args.den_diag, args.method, te_range_k=tuple(args.te_range),
                        log_ne_range=tuple(args.log_ne_range), random_state=args.seed, **kw).fit()
    path = est.save(args.out)
    print(json.dumps({"model": str(path), "lines": est.lines_, "ne_upper_log_at_1e4K": est.ne_upper_log_,
                      "training_record": {k: v for k, v in est.training_record_.items() if k != "history"}},
                     indent=1, default=float))
    return 0


def _temden_columns(est, tem_col, den_col) -> list:
    """The input columns ``temden`` needs: the two ratio columns, or the estimator's line columns."""
    if tem_col or den_col:
        if not (tem_col and den_col):
            raise ValueError("give both --tem-col and --den-col, or neither (then line columns are used)")
        return [tem_col, den_col]
    return list(est.lines_)


def _temden_table(est, table, tem_col, den_col, name):
    """``table`` with ``te_k``, ``log_ne_cm3`` and ``temden_flag`` added (ratio columns or line columns)."""
    import pandas as pd

    from ..validation import check_columns

    columns = _temden_columns(est, tem_col, den_col)
    check_columns(table, columns, name=name if tem_col else f"{name} (line columns)")
    if tem_col:
        X = np.column_stack([pd.to_numeric(table[tem_col], errors="coerce"),
                             pd.to_numeric(table[den_col], errors="coerce")])
        out, flags = est.predict(X, return_flags=True)
        te, ln = out[:, 0], out[:, 1]
    else:
        te, ln, flags = est.predict_from_lines({k: pd.to_numeric(table[k], errors="coerce").to_numpy()
                                                for k in est.lines_}, return_flags=True)
    return table.assign(te_k=te, log_ne_cm3=ln, temden_flag=pd.array(np.asarray(flags).ravel(), dtype="string"))


def _cmd_temden_dask(args, est) -> int:
    import pandas as pd

    from ..scale import dask_client, map_table, read_dataset, write_dataset

    ddf = read_dataset(args.input)
    meta = ddf._meta.assign(te_k=pd.Series(dtype=float), log_ne_cm3=pd.Series(dtype=float),
                            temden_flag=pd.Series(dtype="string"))

    def part(df, model):
        return _temden_table(model, df, args.tem_col, args.den_col, str(args.input))

    from ..validation import check_columns

    check_columns(ddf._meta, _temden_columns(est, args.tem_col, args.den_col), name=str(args.input))  # up front
    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        out = write_dataset(map_table(part, ddf, meta, model=est), args.out, overwrite=args.overwrite, client=client,
                            progress=args.progress)
        flags = pd.read_parquet(out, columns=["temden_flag"])["temden_flag"].to_numpy(dtype=object)
    from . import flag_summary

    print(json.dumps({"output": str(out), "rows": len(flags), "flags": flag_summary(flags)}, indent=1))
    return 0


def _cmd_temden(args) -> int:
    from ..io import read_table, write_table

    est = _estimator_from_args(args)
    if args.dask:
        return _cmd_temden_dask(args, est)
    table = read_table(args.input)
    res = _temden_table(est, table, args.tem_col, args.den_col, str(args.input))
    flags = res["temden_flag"].to_numpy(dtype=object)
    write_table(res, args.out)
    from . import flag_summary

    print(json.dumps({"output": str(args.out), "rows": len(res), "flags": flag_summary(flags)}, indent=1))
    return 0


def _mc_maps(est, fluxes, errors, args):
    from . import monte_carlo_temden

    return monte_carlo_temden(est, fluxes, errors, n_draws=args.n_draws, seed=args.seed,
                              percentiles=tuple(args.percentiles), min_valid_fraction=args.min_valid_fraction,
                              n_jobs=args.n_jobs, progress=False if args.dask else args.progress)


def _write_maps(res, out):
    from ..io import atomic_path

    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **res.to_arrays())


def _mc_cube(path, folder, est_args):
    from . import read_line_maps

    est, args = est_args
    fluxes, errors = read_line_maps(path, est.lines_)
    _write_maps(_mc_maps(est, fluxes, errors, args), Path(folder) / f"{Path(path).name.split('.')[0]}_mc.npz")


def _mc_dask(args, est) -> int:
    """``--dask``: every cube of a folder/glob on a worker (same seed per cube as the in-memory verb)."""
    from ..scale import dask_client, list_files, map_files

    if not args.cube:
        raise ValueError("--dask needs --cube: a folder or glob of cubes (.npz / .fits)")
    cubes = list_files(args.cube, (".npz", ".fits", ".fits.gz", ".fit"))
    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        out = map_files(_mc_cube, cubes, args.out, model=(est, args), client=client, overwrite=args.overwrite,
                        progress=args.progress)
    print(json.dumps({"output": str(out), "cubes": len(cubes)}, indent=1))
    return 0


def _cmd_mc(args) -> int:
    from . import make_synthetic_cube, read_line_maps

    est = _estimator_from_args(args)
    if args.dask:
        return _mc_dask(args, est)
    if args.cube:
        fluxes, errors = read_line_maps(args.cube, est.lines_)
    else:
        print(f"[agnlab nebular] no --cube given: synthetic {args.synthetic} x {args.synthetic} cube",
              file=sys.stderr)
        cube = make_synthetic_cube((args.synthetic, args.synthetic), tem_diag=est.tem_spec_.name,
                                   den_diag=est.den_spec_.name, seed=args.seed)
        fluxes, errors = cube["fluxes"], cube["errors"]
    res = _mc_maps(est, fluxes, errors, args)
    _write_maps(res, Path(args.out))
    print(json.dumps({"output": str(args.out), **res.summary()}, indent=1))
    return 0


def _cmd_icf(args) -> int:
    from ..io import read_table, write_table
    from . import ICFRegressor, compare_icfs, ionization_table

    if args.table:
        table = read_table(args.table)
    elif args.generate:
        print(f"[agnlab nebular] using the built-in approximate ionisation table ({args.generate} models); "
              "production use needs a real photoionisation grid", file=sys.stderr)
        table = ionization_table(args.generate, seed=args.seed)
    else:
        table = None
    if args.predict and not args.predictions_out:
        raise ValueError("--predict needs --predictions-out (the table to write)")
    if args.predictions_out and not args.predict:
        raise ValueError("--predictions-out needs --predict (the table to predict for)")
    if args.model:
        conflicts = [o for o, v in (("--target", args.target), ("--features", args.features),
                                    ("--backend", args.backend), ("--out", args.out)) if v]
        if conflicts:
            raise ValueError(f"--model {args.model} is used as saved; {', '.join(conflicts)} would be ignored "
                             "(they apply to training): drop them, or drop --model to train")
        reg = ICFRegressor.load(args.model)
    else:
        if table is None:
            raise ValueError("give --table (or --generate N) to train, or --model to use a saved regressor")
        if not args.target:
            raise ValueError("--target (the log-ICF column, e.g. log_icf_N) is required to train")
        reg = ICFRegressor(target=args.target, backend=args.backend or "gbm", features=args.features,
                           random_state=args.seed).fit(table)
        if args.out:
            path = reg.save(args.out)
            print(f"saved {path}", file=sys.stderr)
    summary = {"target": reg.target_name_, "features": list(reg.feature_names_in_),
               "training_record": {k: v for k, v in reg.training_record_.items() if k != "history"},
               "feature_importances": dict(zip(map(str, reg.feature_names_in_),
                                               map(float, reg.feature_importances_)))}
    if args.predict:
        data = read_table(args.predict)
        pred, flags = reg.predict(data, return_flags=True)
        res = data.copy()
        res[f"pred_{reg.target_name_}"] = pred
        res["icf_flag"] = flags
        write_table(res, args.predictions_out)
        summary["predictions"] = str(args.predictions_out)
    if args.compare:
        if table is None:
            raise ValueError("--compare needs --table or --generate")
        pred = reg.predict(table)
        cmp = compare_icfs(table, args.compare, predictions=pred)
        summary["comparison"] = cmp.to_dict(orient="records")
    print(json.dumps(summary, indent=1, default=float))
    return 0


def _cube_line_names(path) -> list:
    """Names of the line maps in a cube file that come with an error map (``<label>_err`` / ``<LABEL>_ERR``)."""
    from ..io import read_npz

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: cube file not found")
    if path.suffix.lower() == ".npz":
        keys = set(read_npz(path, what="line-map cube"))
    else:
        from astropy.io import fits

        try:
            with fits.open(path) as hdul:
                keys = {h.name.upper() for h in hdul}
        except OSError as exc:
            raise ValueError(f"{path}: cannot read as a FITS cube ({exc})") from None
    return sorted(k for k in keys if k + "_err" in keys or k + "_ERR" in keys)


def _load_inverters(args) -> list:
    """``--model`` file(s), sorted HII first; checked against ``--grid``."""
    from . import GridInverter

    names = ["mappings-hii", "mappings-nlr"] if args.grid == "auto" else [args.grid]
    if len(args.model) != len(names):
        raise ValueError(f"--grid {args.grid} needs {len(names)} --model file(s) ({' and '.join(names)}), "
                         f"got {len(args.model)}")
    invs = sorted((GridInverter.load(m) for m in args.model), key=lambda inv: "log E_peak" in inv.param_names_)
    if args.grid == "auto" and ("log E_peak" in invs[0].param_names_ or "log E_peak" not in invs[1].param_names_):
        raise ValueError("--grid auto needs one HII-region inverter and one AGN-NLR inverter (the one with a "
                         "'log E_peak' parameter)")
    return invs


def _train_inverters(args, grids, cube_lines) -> list:
    """``--train``: one GridInverter per grid on the cube's lines (minutes)."""
    from . import GridInverter

    invs = []
    for grid in grids:
        lines = grid.check_lines(args.lines) if args.lines else [
            ln for ln in cube_lines if ln in grid.line_names and ln != grid.norm_line]
        print(f"[agnlab nebular] training GridInverter({args.method!r}) on {grid.meta.get('name')}: "
              f"{args.n_samples} simulated spectra, lines {lines}", file=sys.stderr)
        invs.append(GridInverter(method=args.method, n_samples=args.n_samples, calibration_set=args.calibration_set,
                                 random_state=args.seed, n_jobs=args.n_jobs, progress=args.progress
                                 ).fit(grid, lines=lines))
    if args.model_out:
        if len(invs) != 1:
            raise ValueError("--model-out saves one inverter: train with --grid mappings-hii or mappings-nlr")
        print(f"saved {invs[0].save(args.model_out)}", file=sys.stderr)
    return invs


def _cmd_grid_fit(args) -> int:
    from . import direct_oh_maps, grid_fit_cube, load_photoionization_grid, read_line_maps

    if args.model and args.train:
        raise ValueError("give either --model (saved GridInverter files) or --train, not both")
    if not (args.model or args.train):
        raise ValueError("give --model FILE (a saved GridInverter; two for --grid auto) or --train to fit one "
                         "now (minutes)")
    if args.model_out and not args.train:
        raise ValueError("--model-out needs --train (it saves the trained inverter)")
    available = _cube_line_names(args.cube)
    if args.model:
        invs = _load_inverters(args)
        known = set().union(*(set(inv.grid_lines_) | {inv.norm_line_} for inv in invs))
    else:
        grids = [load_photoionization_grid(n) for n in (
            ["mappings-hii", "mappings-nlr"] if args.grid == "auto" else [args.grid])]
        known = set().union(*(set(g.line_names) | {g.norm_line} for g in grids))
    lookup = {k.upper(): k for k in known if k}
    lines = [lookup[a.upper()] for a in available if a.upper() in lookup]
    ignored = [a for a in available if a.upper() not in lookup]
    if ignored:
        print(f"[agnlab nebular] {args.cube}: maps {ignored} are not lines of the grid(s); ignored", file=sys.stderr)
    if "Hbeta" not in lines:
        raise ValueError(f"{args.cube}: no Hbeta map (with Hbeta_err): the grid fluxes are relative to H-beta")
    if args.train:
        invs = _train_inverters(args, grids, lines)
    fluxes, errors = read_line_maps(args.cube, lines)
    maps = grid_fit_cube(invs[0], fluxes, errors, nlr_inverter=invs[1] if len(invs) > 1 else None,
                         composite=args.composite, bpt_min_snr=args.bpt_min_snr)
    if args.direct_draws:
        d = direct_oh_maps(fluxes, errors, n_draws=args.direct_draws, seed=args.seed, progress=args.progress)
        maps.extra = {"oh_direct": d["oh_direct"], "oh_direct_percentiles": d["oh_direct_percentiles"],
                      "direct_valid_fraction": d["valid_fraction"], "direct_flag": d["flag"]}
    maps.save(args.out)
    print(json.dumps({"output": str(args.out), **maps.summary()}, indent=1, default=float))
    return 0


_TABLE_SUFFIXES = (".csv", ".parquet", ".fits", ".h5", ".hdf5")


def register(subparsers) -> None:
    """Add ``nebular`` and its verbs to the top-level ``agnlab`` parser."""
    from ..cli_common import add_common, add_dask, add_input, add_output

    neb = subparsers.add_parser("nebular", help="Te/Ne from diagnostic ratios (PyNeb-trained), Monte Carlo "
                                                "over IFU cubes, ICF regressors")
    verbs = neb.add_subparsers(dest="verb", metavar="<verb>", required=True)

    p = verbs.add_parser("train", help="fit a TeNeEstimator from PyNeb and save it (npz + JSON)")
    _add_diag_args(p)
    add_output(p, help="model file", suffixes=(".npz",))
    p.add_argument("--epochs", type=int, default=150, help="max epochs for --method nn (default: 150)")
    add_common(p)
    p.set_defaults(func=_cmd_train)

    p = verbs.add_parser("temden", help="Te and Ne for every row of a table (ratios or line fluxes)")
    add_input(p, "input", help="table (csv, parquet, fits, hdf5) of ratios or line fluxes")
    _add_diag_args(p)
    add_input(p, "model", option=True, required=False,
              help="saved TeNeEstimator (otherwise fitted on the fly from PyNeb with the diagnostic options)")
    p.add_argument("--tem-col", help="column with the temperature-diagnostic ratio (default: none, use line columns)")
    p.add_argument("--den-col", help="column with the density-diagnostic ratio "
                                     "(default: none; without --tem-col/--den-col: line-flux columns such as O3_4363A)")
    add_output(p, help="output table (suffix selects the format; with --dask a partitioned Parquet folder)",
               suffixes=_TABLE_SUFFIXES)
    add_dask(p)
    add_common(p, seed=False)
    p.set_defaults(func=_cmd_temden)

    p = verbs.add_parser("mc", help="Monte Carlo Te/Ne maps from line-flux and error maps")
    _add_diag_args(p)
    add_input(p, "model", option=True, required=False,
              help="saved TeNeEstimator (otherwise fitted on the fly from PyNeb with the diagnostic options)")
    add_input(p, "cube", option=True, required=False,
              help=".npz with arrays <label> and <label>_err, or FITS with extensions <label> and <label>_ERR "
                   "(labels: e.g. O3_4363A O3_5007A S2_6716A S2_6731A); with --dask a folder or glob of cubes; "
                   "default: a synthetic cube")
    p.add_argument("--synthetic", type=int, default=40,
                   help="side of the synthetic cube used without --cube (default: 40)")
    p.add_argument("--n-draws", type=int, default=150, help="Monte Carlo draws per spaxel (default: 150)")
    p.add_argument("--percentiles", nargs="+", type=float, default=(16.0, 50.0, 84.0),
                   help="percentiles of the draws to map (default: 16 50 84)")
    p.add_argument("--min-valid-fraction", type=float, default=0.5,
                   help="fraction of valid draws below which a spaxel is flagged (default: 0.5)")
    add_output(p, help="output maps (with --dask: a folder of <cube>_mc.npz)", suffixes=(".npz",))
    add_dask(p)
    add_common(p)
    p.set_defaults(func=_cmd_mc)

    p = verbs.add_parser("grid-fit", help="maps of photoionisation-grid parameters (O/H, log U, log P/k, "
                                          "E_peak) with 68%% intervals from an IFU cube's line maps")
    add_input(p, "cube", help=".npz with arrays <line> and <line>_err, or FITS with extensions <LINE> and <LINE>_ERR "
                              "(grid line names, e.g. Hbeta OIII5007 NII6583; Hbeta required)")
    p.add_argument("--grid", choices=("mappings-hii", "mappings-nlr", "auto"), default="auto",
                   help="grid of the inverter; auto: BPT per spaxel, AGN spaxels to the NLR grid, star-forming "
                        "ones to the HII grid (default: auto)")
    add_input(p, "model", option=True, required=False, nargs="+",
              help="saved GridInverter file(s): one, or an HII and an NLR one for --grid auto")
    p.add_argument("--train", action="store_true",
                   help="train the inverter(s) now on the cube's lines (minutes; without --model it is required)")
    p.add_argument("--method", choices=("nn", "gbm"), default="nn",
                   help="inverter trained by --train: neural network (faster, and more accurate in BENCHMARKS.md) or "
                        "gradient-boosted trees (default: nn)")
    p.add_argument("--n-samples", type=int, default=100_000,
                   help="simulated spectra per inverter trained by --train (default: 100000)")
    p.add_argument("--calibration-set", choices=("held-out-slices", "node-gap", "simulated"),
                   default="held-out-slices",
                   help="what --train calibrates the 68 %% intervals on: held-out-slices adds a half-size helper "
                        "fit without every third node slice (about 1.5-2x the training time); node-gap skips it "
                        "(default: held-out-slices)")
    p.add_argument("--lines", nargs="+", help="lines --train uses (default: every cube line the grid has)")
    add_output(p, "model_out", help="save the inverter trained by --train (single grid)", suffixes=(".npz",),
               required=False)
    p.add_argument("--composite", choices=("skip", "hii", "nlr"), default="skip",
                   help="BPT composite spaxels with --grid auto: not fitted, or fitted with one grid (default: skip)")
    p.add_argument("--bpt-min-snr", type=float, default=3.0, help="S/N cut of the BPT lines (default: 3)")
    p.add_argument("--direct-draws", type=int, default=0,
                   help="also map the direct-method (Te-based) O/H by Monte Carlo with this many draws per "
                        "spaxel (default: 0, off)")
    add_output(p, help="maps (one per parameter, _lo/_hi, flag, bpt, grid)", suffixes=(".npz", ".fits"))
    add_common(p)
    p.set_defaults(func=_cmd_grid_fit)

    p = verbs.add_parser("icf", help="train / apply an ICFRegressor (ionisation correction factors)")
    add_input(p, "table", option=True, required=False,
              help="model table (parquet, csv, hdf5, fits) with features and log-ICF targets")
    p.add_argument("--generate", type=int, default=0,
                   help="use N models of the built-in approximate ionisation table instead of --table "
                        "(default: 0, none)")
    p.add_argument("--target", help="target column to train on, e.g. log_icf_N (required to train; default: none)")
    p.add_argument("--features", nargs="+", help="feature columns to train on (default: the ICF_FEATURES)")
    p.add_argument("--backend", choices=("gbm", "ann"), default=None, help="regressor to train (default: gbm)")
    add_input(p, "model", option=True, required=False, help="saved ICFRegressor to use instead of training")
    add_output(p, help="save the trained regressor here", suffixes=(".npz",), required=False)
    add_input(p, "predict", option=True, required=False, help="table to predict log ICF for")
    add_output(p, "predictions_out", help="table of predictions for --predict", suffixes=_TABLE_SUFFIXES,
               required=False)
    p.add_argument("--compare", metavar="ELEMENT",
                   help="compare with PyNeb's classical ICFs for this element on the table (O, N, Ne, S, "
                        "Ar; default: no comparison)")
    add_common(p, n_jobs=False)
    p.set_defaults(func=_cmd_icf)
