"""``agnlab nebular train|temden|mc|icf`` (thin: parse, call the library)."""

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
    p.add_argument("--den-diag", default="[SII] 6731/6716", help="PyNeb density diagnostic")
    p.add_argument("--method", choices=("table", "nn"), default="table")
    p.add_argument("--te-range", nargs=2, type=float, default=(5000.0, 25000.0), metavar=("LO", "HI"),
                   help="trained Te range in K")
    p.add_argument("--log-ne-range", nargs=2, type=float, default=(0.0, 6.0), metavar=("LO", "HI"),
                   help="trained log10 Ne range (cm^-3)")


def _estimator_from_args(args):
    from . import TeNeEstimator

    if getattr(args, "model", None):
        return TeNeEstimator.load(args.model)
    print("[agnlab nebular] no --model given: fitting a TeNeEstimator from PyNeb", file=sys.stderr)
    return TeNeEstimator(args.tem_diag, args.den_diag, args.method, te_range_k=tuple(args.te_range),
                         log_ne_range=tuple(args.log_ne_range)).fit()


def _cmd_train(args) -> int:
    from . import TeNeEstimator

    kw = {}
    if args.method == "nn":
        kw["nn_config"] = {"max_epochs": args.epochs, "seed": args.seed}
    est = TeNeEstimator(args.tem_diag, args.den_diag, args.method, te_range_k=tuple(args.te_range),
                        log_ne_range=tuple(args.log_ne_range), random_state=args.seed, **kw).fit()
    path = est.save(args.out)
    print(json.dumps({"model": str(path), "lines": est.lines_, "ne_upper_log_at_1e4K": est.ne_upper_log_,
                      "fit_info": est.fit_info_}, indent=1, default=float))
    return 0


def _cmd_temden(args) -> int:
    import pandas as pd

    from ..io import read_table, write_table
    from . import FLAG_NAMES

    est = _estimator_from_args(args)
    table = read_table(args.input)
    if args.tem_col or args.den_col:
        if not (args.tem_col and args.den_col):
            raise ValueError("give both --tem-col and --den-col, or neither (then line columns are used)")
        from .._validation import check_columns

        check_columns(table, [args.tem_col, args.den_col], name=str(args.input))
        X = np.column_stack([pd.to_numeric(table[args.tem_col], errors="coerce"),
                             pd.to_numeric(table[args.den_col], errors="coerce")])
        out = est.predict(X)
        te, ln = out[:, 0], out[:, 1]
    else:
        from .._validation import check_columns

        check_columns(table, est.lines_, name=f"{args.input} (line columns)")
        te, ln = est.predict_from_lines({k: pd.to_numeric(table[k], errors="coerce").to_numpy()
                                         for k in est.lines_})
    flags = np.asarray(est.last_flags_).ravel()
    res = table.copy()
    res["te_k"] = te
    res["log_ne_cm3"] = ln
    res["temden_flag"] = flags
    res["temden_flag_name"] = [FLAG_NAMES[int(f)] for f in flags]
    write_table(res, args.output)
    from . import flag_summary

    print(json.dumps({"output": str(args.output), "rows": len(res), "flags": flag_summary(flags)}, indent=1))
    return 0


def _read_cube(path, lines):
    """Line and error maps from .npz (keys LABEL and LABEL_err) or FITS (EXTNAME LABEL / LABEL_ERR)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"cube file not found: {path}")
    fluxes, errors = {}, {}
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = [k for k in lines if k not in keys] + [k + "_err" for k in lines if k + "_err" not in keys]
            if missing:
                raise KeyError(f"{path}: missing arrays {missing}; need each line label and '<label>_err' "
                               f"for {lines}")
            for k in lines:
                fluxes[k] = np.asarray(z[k], dtype=float)
                errors[k] = np.asarray(z[k + "_err"], dtype=float)
        return fluxes, errors
    if path.suffix.lower() in (".fits", ".fit", ".fz"):
        from astropy.io import fits

        with fits.open(path) as hdul:
            names = {h.name.upper(): h for h in hdul}
            missing = [k for k in lines if k.upper() not in names] + [
                k + "_ERR" for k in lines if (k + "_ERR").upper() not in names]
            if missing:
                raise KeyError(f"{path}: missing extensions {missing}; need EXTNAME=<label> and <label>_ERR")
            for k in lines:
                fluxes[k] = np.asarray(names[k.upper()].data, dtype=float)
                errors[k] = np.asarray(names[(k + "_ERR").upper()].data, dtype=float)
        return fluxes, errors
    raise ValueError(f"{path}: cube must be .npz or .fits")


def _cmd_mc(args) -> int:
    from ..io import atomic_path
    from . import make_synthetic_cube, monte_carlo_temden

    est = _estimator_from_args(args)
    if args.cube:
        fluxes, errors = _read_cube(args.cube, est.lines_)
    else:
        print(f"[agnlab nebular] no --cube given: synthetic {args.synthetic} x {args.synthetic} cube",
              file=sys.stderr)
        cube = make_synthetic_cube((args.synthetic, args.synthetic), tem_diag=est.tem_spec_.name,
                                   den_diag=est.den_spec_.name, seed=args.seed)
        fluxes, errors = cube["fluxes"], cube["errors"]
    res = monte_carlo_temden(est, fluxes, errors, n_draws=args.n_draws, seed=args.seed,
                             percentiles=tuple(args.percentiles), min_valid_fraction=args.min_valid_fraction,
                             n_jobs=args.n_jobs, progress=True if args.progress else None)
    out = Path(args.output)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **res.to_arrays())
    print(json.dumps({"output": str(out), **res.summary()}, indent=1))
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
    if args.model:
        reg = ICFRegressor.load(args.model)
    else:
        if table is None:
            raise ValueError("give --table (or --generate N) to train, or --model to use a saved regressor")
        if not args.target:
            raise ValueError("--target (the log-ICF column, e.g. log_icf_N) is required to train")
        reg = ICFRegressor(target=args.target, backend=args.backend, features=args.features,
                           random_state=args.seed).fit(table)
        if args.out:
            path = reg.save(args.out)
            print(f"saved {path}", file=sys.stderr)
    summary = {"target": reg.target_name_, "features": list(reg.feature_names_in_),
               "validation_scores": reg.validation_scores_,
               "feature_importances": dict(zip(map(str, reg.feature_names_in_),
                                               map(float, reg.feature_importances_)))}
    if args.predict:
        data = read_table(args.predict)
        pred = reg.predict(data)
        res = data.copy()
        res[f"pred_{reg.target_name_}"] = pred
        res["icf_out_of_domain"] = reg.last_out_of_domain_
        write_table(res, args.output or "icf_predictions.csv")
        summary["predictions"] = str(args.output or "icf_predictions.csv")
    if args.compare:
        if table is None:
            raise ValueError("--compare needs --table or --generate")
        pred = reg.predict(table)
        cmp = compare_icfs(table, args.compare, predictions=pred)
        summary["comparison"] = cmp.to_dict(orient="records")
    print(json.dumps(summary, indent=1, default=float))
    return 0


def register(subparsers) -> None:
    """Add ``nebular`` and its verbs to the top-level ``agnlab`` parser."""
    neb = subparsers.add_parser("nebular", help="Te/Ne from diagnostic ratios (PyNeb-trained), Monte Carlo "
                                                "over IFU cubes, ICF regressors")
    verbs = neb.add_subparsers(dest="verb", metavar="<verb>")
    neb.set_defaults(func=lambda a: (neb.print_help(), 0)[1])

    p = verbs.add_parser("train", help="fit a TeNeEstimator from PyNeb and save it (npz + JSON)")
    _add_diag_args(p)
    p.add_argument("--out", required=True, help="model file (.npz)")
    p.add_argument("--epochs", type=int, default=150, help="max epochs for --method nn")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_train)

    p = verbs.add_parser("temden", help="Te and Ne for every row of a table (ratios or line fluxes)")
    _add_diag_args(p)
    p.add_argument("--model", help="saved TeNeEstimator (otherwise fitted on the fly from PyNeb)")
    p.add_argument("--input", required=True, help="table (csv, parquet, fits, hdf5)")
    p.add_argument("--tem-col", help="column with the temperature-diagnostic ratio")
    p.add_argument("--den-col", help="column with the density-diagnostic ratio "
                                     "(without --tem-col/--den-col: line-flux columns such as O3_4363A)")
    p.add_argument("--output", required=True, help="output table (suffix selects the format)")
    p.set_defaults(func=_cmd_temden)

    p = verbs.add_parser("mc", help="Monte Carlo Te/Ne maps from line-flux and error maps")
    _add_diag_args(p)
    p.add_argument("--model", help="saved TeNeEstimator (otherwise fitted on the fly from PyNeb)")
    p.add_argument("--cube", help=".npz with arrays <label> and <label>_err, or FITS with extensions "
                                  "<label> and <label>_ERR (labels: e.g. O3_4363A O3_5007A S2_6716A S2_6731A)")
    p.add_argument("--synthetic", type=int, default=40, help="size of the synthetic cube used without --cube")
    p.add_argument("--n-draws", type=int, default=150)
    p.add_argument("--percentiles", nargs="+", type=float, default=(16.0, 50.0, 84.0))
    p.add_argument("--min-valid-fraction", type=float, default=0.5)
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="always show the progress bar")
    p.add_argument("--output", required=True, help="output maps (.npz)")
    p.set_defaults(func=_cmd_mc)

    p = verbs.add_parser("icf", help="train / apply an ICFRegressor (ionisation correction factors)")
    p.add_argument("--table", help="model table (parquet, csv, hdf5, fits) with features and log-ICF targets")
    p.add_argument("--generate", type=int, default=0,
                   help="use N models of the built-in approximate ionisation table instead of --table")
    p.add_argument("--target", help="target column, e.g. log_icf_N")
    p.add_argument("--features", nargs="+", help="feature columns (default: the ICF_FEATURES)")
    p.add_argument("--backend", choices=("gbm", "ann"), default="gbm")
    p.add_argument("--model", help="saved ICFRegressor to use instead of training")
    p.add_argument("--out", help="save the trained regressor here (.npz)")
    p.add_argument("--predict", help="table to predict log ICF for")
    p.add_argument("--output", help="where to write the predictions (default icf_predictions.csv)")
    p.add_argument("--compare", metavar="ELEMENT",
                   help="compare with PyNeb's classical ICFs for this element on the table (O, N, Ne, S, Ar)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_icf)
