"""``agnlab emulate train|predict|evaluate`` (thin: parse, call the library)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def _load_any_grid(spec: str, *, n_models: int, seed: int):
    """A grid from a file (npz / CLUMPY HDF5) or the built-in generator (``builtin``)."""
    if spec == "builtin":
        from ..grids import clumpy_like_grid

        return clumpy_like_grid(n_models, seed=seed)
    from ..grids import load_grid

    return load_grid(spec)


def _lbfgs_steps(text: str):
    """argparse type: 'auto' or an integer >= 0."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 0, got {text!r}")
    return value


def _cmd_train(args) -> int:
    from . import NeuralEmulator, PCAEmulator, evaluate_emulator

    grid = _load_any_grid(args.grid, n_models=args.n_models, seed=args.seed)
    train, test = grid.split(args.test_fraction, seed=args.seed) if args.test_fraction > 0 else (grid, None)
    size = {} if args.n_components is None else {"n_components": args.n_components}
    if args.kind == "pca":
        emu = PCAEmulator(param_names=grid.param_names, **size)
    else:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
        emu = NeuralEmulator(hidden=hidden, activation=args.activation,
                             max_epochs=args.max_epochs, lbfgs_steps=args.lbfgs_steps,
                             focus_wave_um=None if args.focus_wave_um is None else tuple(args.focus_wave_um),
                             param_names=grid.param_names, random_state=args.seed, n_jobs=args.n_jobs,
                             progress=args.progress, **size)
    emu.fit(train.params, train.flux, wave_um=grid.wave_um)
    if test is not None:
        metrics = evaluate_emulator(emu, test.params, test.flux, wave_um=grid.wave_um)
        emu.training_record_["held_out"] = metrics
        print(json.dumps({"held_out": metrics}, indent=1))
    path = emu.save(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")
    return 0


def _flux_columns(emu, n_wave, output):
    import numpy as np

    wave = emu.wave_um_ if emu.wave_um_ is not None else np.arange(n_wave, dtype=float)
    prefix = "log10_fnu" if output == "log10_flux" else "fnu"
    return [f"{prefix}_{w:.6g}um" for w in wave]


def _cmd_predict_dask(args, emu) -> int:
    import numpy as np
    import pandas as pd

    from ..scale import dask_client, map_table, read_dataset, write_dataset

    names = list(emu.param_names_)
    ddf = read_dataset(args.params, columns=names)
    cols = _flux_columns(emu, emu.n_wave_, args.output)
    dtype = np.dtype(args.dtype)
    meta = pd.DataFrame({**{n: pd.Series(dtype=float) for n in names}, **{c: pd.Series(dtype=dtype) for c in cols},
                         "flag": pd.Series(dtype="string")})

    def part(df, model):
        params = df[names].astype(float)
        flux, flags = model.predict(params, dtype=dtype, output=args.output, return_flags=True)
        res = pd.concat([params, pd.DataFrame(flux, columns=cols, index=df.index)], axis=1)
        return res.assign(flag=pd.array(flags, dtype="string"))

    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        if Path(args.out).suffix.lower() == ".zarr":
            return _predict_dask_zarr(args, emu, ddf[names], client)
        out = write_dataset(map_table(part, ddf, meta, model=emu), args.out, overwrite=args.overwrite,
                            client=client, progress=args.progress)
    print(f"wrote {out} (partitioned Parquet, {ddf.npartitions} partitions x {len(cols)} wavelengths)")
    return 0


def _zarr_layout(group, emu, params_shape, dtype, output, chunk_rows):
    """The arrays of a predictions store: ``params`` (n, n_params), ``fnu``/``log10_fnu`` (n, n_wave), ``wave_um``."""
    import numpy as np

    from ..scale import zarr_array

    key = "log10_fnu" if output == "log10_flux" else "fnu"
    wave = np.asarray(emu.wave_um_ if emu.wave_um_ is not None else np.arange(emu.n_wave_), float)
    zarr_array(group, "wave_um", shape=wave.shape, dtype="f8", data=wave)
    group.attrs.update({"param_names": list(emu.param_names_), "output": output, "kind": "agnlab.emulate.predict"})
    params = zarr_array(group, "params", shape=params_shape, dtype="f8", chunk_rows=chunk_rows)
    flux = zarr_array(group, key, shape=(params_shape[0], emu.n_wave_), dtype=dtype, chunk_rows=chunk_rows)
    return params, flux


def _predict_dask_zarr(args, emu, ddf, client) -> int:
    """``--dask`` to a Zarr store: the emulator's ``predict_dask`` block by block, stored chunk by chunk."""
    import numpy as np

    from ..scale import store_dask_arrays, zarr_group

    X = ddf.to_dask_array(lengths=True).astype(float)
    with zarr_group(args.out, overwrite=args.overwrite) as group:
        params, flux = _zarr_layout(group, emu, X.shape, np.dtype(args.dtype), args.output, args.zarr_chunk_rows)
        flux_lazy = emu.predict_dask(X, dtype=np.dtype(args.dtype), output=args.output)
        store_dask_arrays([X, flux_lazy], [params, flux], client=client, progress=args.progress)
    print(f"wrote {args.out} (Zarr: {X.shape[0]} SEDs x {emu.n_wave_} wavelengths, {X.numblocks[0]} partitions)")
    return 0


def _cmd_predict(args) -> int:
    import numpy as np
    import pandas as pd

    from ..io import atomic_path, read_table, write_table
    from . import load_emulator

    emu = load_emulator(args.model).set_params(on_out_of_domain=args.on_out_of_domain)
    if args.n_jobs is not None and "n_jobs" in emu.get_params():
        emu.set_params(n_jobs=args.n_jobs)
    if args.dask:
        return _cmd_predict_dask(args, emu)
    table = read_table(args.params)
    from ..validation import check_columns

    check_columns(table, emu.param_names_, name=str(args.params))
    params = table[list(emu.param_names_)]
    from .._domain import OutOfDomainError

    out = Path(args.out)
    if args.zarr_chunk_rows < 1:
        raise ValueError(f"--zarr-chunk-rows must be >= 1, got {args.zarr_chunk_rows}")
    try:
        if out.suffix.lower() == ".zarr":  # checked before the store is created; predicted chunk by chunk below
            emu._domain_mask(emu._validate_predict(params))
        else:
            flux = emu.predict(params, dtype=np.dtype(args.dtype), output=args.output)
    except OutOfDomainError as exc:   # say it with the command line's spelling
        msg = str(exc).replace("pass on_out_of_domain='nan'", "pass --on-out-of-domain nan")
        raise OutOfDomainError(f"{args.params}: {msg}") from None
    if out.suffix.lower() == ".zarr":
        from ..scale import zarr_group

        with zarr_group(out, overwrite=args.overwrite) as group:
            p_arr, flux = _zarr_layout(group, emu, params.shape, np.dtype(args.dtype), args.output,
                                       args.zarr_chunk_rows)
            p_arr[...] = params.to_numpy(dtype=float)
            emu.predict_to(params, flux, output=args.output, chunk_rows=args.zarr_chunk_rows)
        print(f"wrote {out} (Zarr: {params.shape[0]} SEDs x {emu.n_wave_} wavelengths)")
        return 0
    if out.suffix == ".npz":
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as fh:
                key = "log10_fnu" if args.output == "log10_flux" else "fnu"
                np.savez(fh, params=params.to_numpy(dtype=float), param_names=np.array(emu.param_names_),
                         wave_um=np.asarray(emu.wave_um_ if emu.wave_um_ is not None else np.arange(flux.shape[1])),
                         **{key: flux})
    else:
        cols = pd.DataFrame(flux, columns=_flux_columns(emu, flux.shape[1], args.output), index=params.index)
        write_table(pd.concat([params.reset_index(drop=True), cols.reset_index(drop=True)], axis=1), out)
    print(f"wrote {out} ({flux.shape[0]} SEDs x {flux.shape[1]} wavelengths)")
    return 0


def _cmd_evaluate(args) -> int:
    from ..report import Report
    from . import load_emulator
    from ._report import add_accuracy_section

    emu = load_emulator(args.model)
    grid = _load_any_grid(args.grid, n_models=args.n_models, seed=args.seed)
    if args.test_fraction > 0:
        _, grid = grid.split(args.test_fraction, seed=args.seed)
    emu.set_params(on_out_of_domain="nan")
    report = Report(f"agnlab emulate evaluate: {Path(args.model).name}")
    metrics = add_accuracy_section(report, emu, grid, key="emulate", title=f"Accuracy on {args.grid}")
    index = report.write(args.out)
    print(json.dumps(metrics, indent=1))
    print(f"wrote {index}")
    return 0


def register(subparsers) -> None:
    """Add ``emulate`` and its verbs to the top-level ``agnlab`` parser."""
    from ..cli_common import add_common, add_dask, add_input, add_output

    p = subparsers.add_parser("emulate", help="emulators of model-spectrum grids (PCA, neural)")
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    t = verbs.add_parser("train", help="fit an emulator to a grid and save it")
    add_input(t, "grid", help="grid file (.npz or CLUMPY .hdf5)", builtin=True)
    add_output(t, help="model file to write", suffixes=(".npz",))
    t.add_argument("--kind", choices=("neural", "pca"), default="neural", help="emulator kind (default: neural)")
    t.add_argument("--n-components", type=int, default=None, help="PCA components (default: the model's)")
    t.add_argument("--hidden", default="80,80,80,80",
                   help="hidden layer widths, comma-separated (neural; default: 80,80,80,80)")
    t.add_argument("--activation", default="silu",
                   help="silu, tanh, gelu, relu or leaky_relu (neural; default: silu)")
    t.add_argument("--max-epochs", type=int, default=None, help="Adam epochs (default: about 60,000 steps)")
    t.add_argument("--lbfgs-steps", type=_lbfgs_steps, default="auto",
                   help="L-BFGS polish iterations, or 'auto' (default: 4000 for grids up to 5000 training models)")
    t.add_argument("--focus-wave-um", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="wavelength range [um] weighted 10x in the training loss (e.g. 1 30; default: none)")
    t.add_argument("--test-fraction", type=float, default=0.2,
                   help="fraction held out and evaluated (0: none; default: 0.2)")
    t.add_argument("--n-models", type=int, default=100_000, help="models of the built-in grid (default: 100000)")
    add_common(t)
    t.set_defaults(func=_cmd_train)

    pr = verbs.add_parser("predict", help="predict SEDs for a table of parameters")
    add_input(pr, "model", help="emulator file written by 'train'")
    add_input(pr, "params", help="table of parameters (.csv, .parquet, .fits, .h5) with one column per parameter; "
              "with --dask also a partitioned Parquet folder or glob")
    add_output(pr, help="output table, .npz, or .zarr store (arrays params, fnu or log10_fnu, wave_um; chunked by "
                        "rows, written as the rows are predicted); with --dask a partitioned Parquet folder or .zarr",
               suffixes=(".csv", ".parquet", ".npz", ".zarr"))
    pr.add_argument("--on-out-of-domain", choices=("raise", "nan"), default="raise",
                    help="parameters outside the trained ranges: stop with an error, or write NaN (default: raise)")
    pr.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                    help="precision written (default: float64)")
    pr.add_argument("--output", choices=("flux", "log10_flux"), default="flux",
                    help="fluxes or their log10 (columns fnu_* or log10_fnu_*; default: flux)")
    pr.add_argument("--zarr-chunk-rows", type=int, default=65_536,
                    help="with --out X.zarr: SEDs per Zarr chunk, also predicted at a time (default: 65536)")
    add_dask(pr)
    add_common(pr, seed=False)
    pr.set_defaults(func=_cmd_predict)

    e = verbs.add_parser("evaluate", help="accuracy of an emulator on a grid (HTML figures + metrics.json)")
    add_input(e, "model", help="emulator file written by 'train'")
    add_input(e, "grid", help="grid file", builtin=True)
    add_output(e, help="report folder", directory=True, default="emulate-evaluation")
    e.add_argument("--test-fraction", type=float, default=0.0,
                   help="evaluate only the held-out part of this split (use train's value and seed; default: 0)")
    e.add_argument("--n-models", type=int, default=100_000, help="models of the built-in grid (default: 100000)")
    add_common(e, n_jobs=False)
    e.set_defaults(func=_cmd_evaluate)
