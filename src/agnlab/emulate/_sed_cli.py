"""``agnlab infer sed``: solution sets of an SED model (emulator or grid) for an observed SED (thin).

The work is in :func:`agnlab.emulate.fit_sed` (over :func:`agnlab.inference.solution_set`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["register"]


def _parse_bounds(items):
    out = {}
    for item in items or []:
        try:
            name, rng = item.split("=", 1)
            lo, hi = (float(v) for v in rng.split(":", 1))
        except ValueError:
            raise ValueError(f"--bound {item!r}: expected NAME=LO:HI, e.g. tv=10:100") from None
        out[name.strip()] = (lo, hi)
    return out


def _cmd_sed(args) -> int:
    from ..io import atomic_path, read_table, write_table
    from ..validation import check_columns
    from ._sed_fit import fit_sed, load_sed_model

    model = load_sed_model(args.model)
    obs = read_table(args.observed)
    check_columns(obs, [args.wave_col, args.flux_col, args.err_col], name=f"observed SED {args.observed}")
    kwargs = {"method": args.method, "confidence": args.confidence, "random_state": args.seed, "maxiter": args.maxiter,
              "n_steps": args.n_steps, "n_fill": args.n_fill, "max_calls": args.max_calls, "max_time": args.max_time,
              "progress": args.progress}
    import warnings

    with warnings.catch_warnings():   # an early stop is reported below with the option's spelling
        warnings.filterwarnings("ignore", message="solution_set: stopped early", category=RuntimeWarning)
        res = fit_sed(model, obs[args.wave_col].to_numpy(float), obs[args.flux_col].to_numpy(float),
                      obs[args.err_col].to_numpy(float), bounds=_parse_bounds(args.bound), **kwargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_table(res.to_dataframe("solutions"), out / "solutions.csv")
    if res.samples is not None:
        write_table(res.to_dataframe("samples"), out / "samples.csv")
    summary = res.summary()
    summary["best_log_normalisation"] = res.best_offset
    summary["credible_intervals"] = json.loads(res.credible_intervals(args.confidence).to_json(orient="index"))
    with atomic_path(out / "summary.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    fig = res.plot_corner()
    with atomic_path(out / "corner.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    best = ", ".join(f"{k}={v:.4g}" for k, v in summary["best"].items())
    if "stopped" in res.info:
        limit = "--max-calls" if res.info["stopped"].startswith("max_calls") else "--max-time"
        print(f"agnlab: warning: the search stopped early at {limit} after {res.n_forward_calls} evaluations; "
              "the result is that of an unfinished search", file=sys.stderr)
    print(f"best fit: {best} (chi2={res.best_chi2:.3g}, dof={res.dof}); {res.n_solutions} consistent parameter "
          f"vectors; {res.n_forward_calls} forward evaluations in {res.runtime_s:.2f} s")
    for name, (lo, hi) in res.ranges().items():
        print(f"  {name}: [{lo:.4g}, {hi:.4g}]")
    print(f"wrote {out}/solutions.csv, summary.json, corner.png" + (", samples.csv" if res.samples is not None
                                                                    else ""))
    return 0


def register(subparsers) -> None:
    """Add ``agnlab infer <verb>`` to the top-level parser's subparsers."""
    from ..cli_common import add_common, add_input, add_output

    p = subparsers.add_parser("infer", help="solution sets and posterior sampling over emulators / model grids")
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)
    sed = verbs.add_parser(
        "sed", help="every parameter vector of an SED model consistent with an observed SED",
        description="Fit an observed SED (table with wavelength, flux, error columns) with an agnlab "
                    "emulator artifact or a regular model grid (.npz / CLUMPY .hdf5), in log flux with a "
                    "free normalisation; writes solutions.csv, summary.json, corner.png (and samples.csv "
                    "for samplers).")
    add_input(sed, "model", option=True, help="emulator artifact (.npz) or regular model grid file")
    add_input(sed, "observed", option=True, help="table (csv/parquet/fits/hdf5) of the observed SED")
    sed.add_argument("--wave-col", default="wave_um", help="wavelength column [um] (default wave_um)")
    sed.add_argument("--flux-col", default="flux", help="flux column (default flux)")
    sed.add_argument("--err-col", default="flux_err", help="1-sigma flux error column (default flux_err)")
    sed.add_argument("--bound", action="append", metavar="NAME=LO:HI",
                     help="narrower range for a parameter, repeatable (default: the model's whole domain)")
    sed.add_argument("--method", default="de", choices=["de", "emcee", "dynesty", "pymoo"],
                     help="search: differential evolution, or a sampler (default: de)")
    sed.add_argument("--confidence", type=float, default=0.6827, help="joint confidence of the set (default: 0.6827)")
    sed.add_argument("--maxiter", type=int, default=200, help="evolution generations (default: 200)")
    sed.add_argument("--n-steps", type=int, default=1500, help="emcee steps per walker (default: 1500)")
    sed.add_argument("--n-fill", type=int, default=0, help="extra uniform draws to fill the region (default: 0)")
    sed.add_argument("--max-calls", type=int, default=None, metavar="N",
                     help="stop the search (any --method, dynesty included) after N model evaluations and report "
                          "what it found (default: no limit)")
    sed.add_argument("--max-time", type=float, default=None, metavar="SECONDS",
                     help="stop the search after this many seconds and report what it found (default: no limit)")
    add_output(sed, help="output folder", directory=True, default="infer-out")
    add_common(sed, n_jobs=False)
    sed.set_defaults(func=_cmd_sed)
