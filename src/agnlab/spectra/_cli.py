"""``agnlab spectra simulate|train|predict|evaluate`` (thin: parse, call the library)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["register"]


_OBSERVED_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fz")


def _read(path):
    """An agnlab spectra file (HDF5/FITS with truth), else observed spectra (:func:`read_spectrum`)."""
    from ._io import SpectraFileError, read_spectra
    from ._readers import read_spectrum

    try:
        return read_spectra(path)
    except SpectraFileError as exc:
        if "not an agnlab spectra file" in str(exc) and str(path).lower().endswith(_OBSERVED_SUFFIXES):
            return read_spectrum(path)
        raise


def _is_agnlab_file(path) -> bool:
    """True for one file written by ``agnlab spectra simulate`` (read as before, with its truth table)."""
    p = Path(path)
    if not p.is_file():
        return False
    if p.name.lower().endswith((".h5", ".hdf5")):
        return True
    try:
        from astropy.io import fits

        with fits.open(p, memmap=False) as hl:
            return hl[0].header.get("AGNKIND") == "spectra"
    except (OSError, ValueError):
        return False


def _truth(data, path):
    truth = getattr(data, "truth", None)
    if truth is None or len(truth) == 0:
        raise ValueError(f"{path}: holds no truth table (z_qso, z_dla, log_nhi); training/evaluation needs one")
    return truth


def _cmd_simulate(args) -> int:
    from ._simulate import QuasarSimulator

    sim = QuasarSimulator(seed=args.seed, z_range=tuple(args.z_range), mag_range=tuple(args.mag_range),
                          dla_rate_per_dz=args.dla_rate, bal_fraction=args.bal_fraction)
    if args.dask:
        return _simulate_dask(args, sim)
    out = sim.simulate(args.n, n_jobs=args.n_jobs or 1).write(args.out, arrays=args.arrays)
    print(f"wrote {args.n} spectra to {out if out is not None else args.out}")
    return 0


def _simulate_shard(item, folder, sim):
    start, n, suffix, arrays = item
    sim.simulate(n, start=start, progress=False).write(Path(folder) / f"shard-{start:010d}{suffix}", arrays=arrays)


def _simulate_dask(args, sim) -> int:
    """``--dask``: shards of ``--shard-size`` spectra, each spectrum seeded by (seed, index) as in memory."""
    from ..scale import dask_client, map_files

    size = int(args.shard_size)
    if size < 1:
        raise ValueError(f"--shard-size must be >= 1, got {size}")
    suffix = Path(args.out).suffix or ".h5"
    items = [(start, min(size, args.n - start), suffix, args.arrays) for start in range(0, args.n, size)]
    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        out = map_files(_simulate_shard, items, args.out, model=sim, client=client, overwrite=args.overwrite,
                        progress=args.progress)
    print(f"wrote {args.n} spectra to {out}/ ({len(items)} shards of <= {size})")
    return 0


def _cmd_train(args) -> int:
    from ._dla import DLAFinder
    from ._redshift_cnn import RedshiftEstimator

    data = _read(args.data)
    truth = _truth(data, args.data)
    kw = dict(random_state=args.seed, n_jobs=args.n_jobs, progress=args.progress)
    if args.epochs is not None:
        kw["max_epochs"] = args.epochs
    if args.kind == "redshift":
        est = RedshiftEstimator(**kw)
    else:
        est = DLAFinder(**kw)
    est.fit(data.wave_aa, data.flux, data.ivar, truth)
    path = est.save(args.out)
    h = est.training_record_
    print(f"trained {type(est).__name__} on {h['n_train']} spectra ({h['epochs']} epochs, "
          f"{h['train_seconds']:.1f} s); wrote {path}")
    return 0


def _load_models(args) -> dict:
    from ._dla import DLAFinder
    from ._redshift_cnn import RedshiftEstimator

    models = {}
    if args.redshift_model:
        models["redshift"] = RedshiftEstimator.load(args.redshift_model).set_params(n_jobs=args.n_jobs)
    if args.dla_model:
        models["dla"] = DLAFinder.load(args.dla_model).set_params(n_jobs=args.n_jobs)
    if not models:
        models = _pretrained_models(args)
    return models


def _pretrained_models(args) -> dict:
    """The shipped default models when no model file is given (redshift needed; DLA when shipped too)."""
    from ..cli_common import CLIError
    from ._dla import DLAFinder
    from ._redshift_cnn import RedshiftEstimator

    models = {}
    for key, cls in (("redshift", RedshiftEstimator), ("dla", DLAFinder)):
        loader = getattr(cls, "pretrained", None)
        if loader is None:
            continue
        try:
            models[key] = loader().set_params(n_jobs=args.n_jobs)
        except (OSError, ValueError) as exc:
            if key == "redshift":
                raise CLIError(f"no --redshift-model/--dla-model given and no default model could be loaded ({exc}); "
                               "pass a model file, or train one with 'agnlab spectra train'") from None
    if "redshift" not in models:
        raise CLIError("give --redshift-model and/or --dla-model: this installation ships no default model "
                       "(train one with 'agnlab spectra train')")
    return models


def _predict(args, data, models=None):
    import pandas as pd

    models = models or _load_models(args)
    out = {}
    if "redshift" in models:
        out["redshift"] = models["redshift"].predict(data.wave_aa, data.flux, data.ivar)
    if "dla" in models:
        if getattr(args, "true_z", False):
            zq = np.asarray(_truth(data, args.data)["z_qso"], float)
        elif "redshift" in out:
            zq = out["redshift"]["z_pred"].to_numpy()
        else:
            raise ValueError("--dla-model needs quasar redshifts: give --redshift-model or --true-z")
        thr = getattr(args, "threshold", None)
        out["dlas"], out["dla_spectra"] = models["dla"].detect(data.wave_aa, data.flux, data.ivar, z_qso=zq,
                                                               threshold=thr)
        out["z_used"] = zq
    return out, pd


def _dla_out(args) -> Path:
    """The DLA table's path: ``--dla-out`` or ``<out>_dlas.<ext>``, checked like every output."""
    from ..cli_common import CLIError

    out = Path(args.out)
    path = Path(args.dla_out) if args.dla_out else out.with_name(out.stem + "_dlas" + out.suffix)
    if not args.dla_out and path.exists() and not args.overwrite:
        raise CLIError(f"{path} (the default DLA table of --out) already exists; pass --overwrite or --dla-out")
    for data in _data_paths(args):
        if path.resolve() == Path(data).resolve():
            raise CLIError(f"the DLA table {path} is the input {data}; choose another --dla-out")
    return path


def _data_paths(args) -> list:
    return list(args.data) if isinstance(args.data, (list, tuple)) else [args.data]


def _prediction_tables(args, data, models=None):
    """The per-spectrum table and the DLA table (None without --dla-model) of one batch."""
    out, pd = _predict(args, data, models)
    table = pd.DataFrame({"spec_index": np.arange(len(data.flux))})
    if "redshift" in out:
        table = pd.concat([table, out["redshift"].reset_index(drop=True)], axis=1)
    if "dlas" in out:
        table["dla_score"] = out["dla_spectra"]["score"].to_numpy()
        table["n_dla"] = out["dla_spectra"]["n_dla"].to_numpy()
        table["dla_flag"] = out["dla_spectra"]["flag"].to_numpy()
    return table, out.get("dlas")


def _predict_shard(path, folder, args_models):
    args, models = args_models
    if _is_agnlab_file(path):
        table, dlas = _prediction_tables(args, _read(path), models)
        table.insert(0, "file", Path(path).name)
    else:
        from ._predict_files import observed_tables

        table, dlas = observed_tables(args, [path], models, unreadable_rows=True)
    stem = Path(path).name.split(".")[0]
    table.to_parquet(Path(folder) / f"spectra-{stem}.parquet")
    if dlas is not None:
        dlas.insert(0, "file", Path(path).name)
        dlas.to_parquet(Path(folder) / f"dlas-{stem}.parquet")


def _predict_dask(args) -> int:
    """``--dask``: every spectra file of a folder/glob on a worker; per-file Parquet tables in the --out folder."""
    from ..cli_common import CLIError
    from ..scale import dask_client, list_files, map_files

    if args.dla_out:
        raise CLIError("--dask writes the DLA tables into the --out folder (dlas-*.parquet); drop --dla-out")
    models = _load_models(args)
    if "dla" in models and not (args.true_z or "redshift" in models):
        raise ValueError("--dla-model needs quasar redshifts: give --redshift-model or --true-z")
    files = [f for d in _data_paths(args) for f in list_files(d, (".h5", ".hdf5", *_OBSERVED_SUFFIXES))]
    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        out = map_files(_predict_shard, files, args.out, model=(args, models), client=client,
                        overwrite=args.overwrite, progress=args.progress)
    print(f"wrote {out}/ (spectra-*.parquet{', dlas-*.parquet' if args.dla_model else ''} for {len(files)} files)")
    return 0


def _cmd_predict(args) -> int:
    from ..io import write_table

    if args.dask:
        return _predict_dask(args)
    paths = _data_paths(args)
    for p in paths:     # a missing input is named before any model is loaded
        if not any(ch in str(p) for ch in "*?[") and not Path(p).exists():
            raise FileNotFoundError(f"spectra file not found: {p}")
    models = _load_models(args)
    dla_out = _dla_out(args) if "dla" in models else None
    if len(paths) == 1 and _is_agnlab_file(paths[0]) and not _reader_options_given(args):
        args.data = paths[0]
        table, dlas = _prediction_tables(args, _read(paths[0]), models)
    else:
        from ._predict_files import observed_tables

        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        table, dlas = observed_tables(args, paths, models, chunk_size=args.batch_size)
    n = len(table)
    write_table(table, args.out)
    msg = f"wrote {n} rows to {args.out}"
    if dlas is not None:
        write_table(dlas, dla_out)
        msg += f" and {len(dlas)} DLAs to {dla_out}"
    print(msg)
    return 0


def _cmd_evaluate(args) -> int:
    from ._metrics import dla_metrics, redshift_metrics
    from ._ml_eval import dla_table, redshift_table
    from ._truth import truth_dlas

    data = _read(args.data)
    truth = _truth(data, args.data)
    args.threshold = None
    out, _ = _predict(args, data)
    zt = np.asarray(truth["z_qso"], float)
    mag = np.asarray(truth["mag"], float) if "mag" in truth.columns else np.full(zt.size, 19.0)
    res = {}
    if "redshift" in out:
        res["redshift"] = redshift_metrics(zt, out["redshift"]["z_pred"])
        res["redshift_by_mag"] = redshift_table(zt, out["redshift"]["z_pred"], mag)
    if "dlas" in out:
        from ._dla import DLAFinder

        thr = DLAFinder.load(args.dla_model).threshold
        lists = truth_dlas(truth, zt.size)
        dl, sp = out["dlas"], out["dla_spectra"]
        m = dla_metrics(lists, dl, zt, spectrum_scores=sp["score"].to_numpy(), threshold=thr)
        res["dla"] = {k: v for k, v in m.items() if k not in ("roc", "pr", "matched")}
        res["dla_by_mag"] = dla_table(lists, dl, sp["score"].to_numpy(), zt, mag, threshold=thr)
    text = json.dumps(res, indent=1, default=float)
    if args.out:
        from ..io import atomic_path

        with atomic_path(Path(args.out)) as tmp:
            Path(tmp).write_text(text)
        print(f"wrote {args.out}")
    print(text)
    return 0


_TABLE_SUFFIXES = (".csv", ".parquet", ".fits", ".h5", ".hdf5")
_SPECTRA_SUFFIXES = (".h5", ".hdf5", ".fits")


def _add_reader_options(q) -> None:
    from ..cli_common import add_input
    from ._readers import FORMATS

    g = q.add_argument_group("observed spectrum files")
    g.add_argument("--format", choices=FORMATS, default=None, help="file format (default: detected per file)")
    add_input(q, "error_files", option=True, required=False, nargs="+",
                 help="separate error spectra of 1-D FITS images, one per input file")
    g.add_argument("--error-kind", choices=("sigma", "variance", "ivar"), default=None,
                   help="what the error arrays hold (default: from their names, else sigma)")
    g.add_argument("--wave-unit", default=None,
                   help="wavelength unit when the files give none, e.g. nm (default: Angstrom, if the values lie in "
                        "900-30000, flagged; else an error)")
    air = g.add_mutually_exclusive_group()
    air.add_argument("--air", dest="air", action="store_true", default=None, help="wavelengths are in air")
    air.add_argument("--vacuum", dest="air", action="store_false", help="wavelengths are in vacuum")
    norm = g.add_mutually_exclusive_group()
    norm.add_argument("--normalised", dest="normalised", action="store_true", default=None,
                      help="fluxes are continuum-normalised (default: detected)")
    norm.add_argument("--flux-calibrated", dest="normalised", action="store_false",
                      help="fluxes are not continuum-normalised")
    g.add_argument("--resolution", type=float, default=None, metavar="R",
                   help="resolving power lambda/FWHM of the input (default: from the files)")


def _reader_options_given(args) -> bool:
    return any(getattr(args, k, None) is not None for k in ("format", "error_files", "error_kind", "wave_unit", "air",
                                                           "normalised", "resolution"))


def register(subparsers) -> None:
    """Add ``agnlab spectra <verb>`` to the top-level CLI."""
    from ..cli_common import add_common, add_dask, add_input, add_output

    p = subparsers.add_parser("spectra",
                              help="quasar spectra: simulate, train/predict/evaluate redshift and DLA models")
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    s = verbs.add_parser("simulate", help="simulate 4MOST-like quasar spectra + truth to HDF5/FITS")
    s.add_argument("--n", type=int, required=True, help="number of spectra")
    add_output(s, help="spectra file", suffixes=_SPECTRA_SUFFIXES)
    s.add_argument("--z-range", type=float, nargs=2, default=(2.0, 4.0), metavar=("ZMIN", "ZMAX"),
                   help="quasar redshift range (default: 2 4)")
    s.add_argument("--mag-range", type=float, nargs=2, default=(18.0, 22.5), metavar=("MMIN", "MMAX"),
                   help="r magnitude range, AB (default: 18 22.5)")
    s.add_argument("--dla-rate", type=float, default=None,
                   help="constant DLA incidence per unit z (default: the measured incidence, 0.17 at z = 2.5 and "
                        "0.27 at z = 3.5, from one column-density distribution with LLS and sub-DLAs)")
    s.add_argument("--bal-fraction", type=float, default=0.12,
                   help="fraction of broad-absorption-line quasars (default: 0.12)")
    s.add_argument("--arrays", choices=("all", "observed"), default="all",
                   help="per-pixel arrays written: all (flux, ivar and the noise-free continuum and transmission) "
                        "or observed (flux and ivar: half the size, ~190 KB per spectrum) (default: all)")
    s.add_argument("--shard-size", type=int, default=2_000,
                   help="with --dask: spectra per shard file in the --out folder; a worker holds ~0.4 MB per "
                        "spectrum of its shard while simulating (default: 2000)")
    add_dask(s)
    add_common(s)
    s.set_defaults(func=_cmd_simulate)

    t = verbs.add_parser("train", help="train a redshift CNN or a DLA finder on spectra with truth")
    add_input(t, "data", help="spectra file with truth (from 'agnlab spectra simulate')")
    t.add_argument("--kind", choices=["redshift", "dla"], required=True, help="which model to train")
    add_output(t, help="model file", suffixes=(".npz",))
    t.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the model's)")
    add_common(t)
    t.set_defaults(func=_cmd_train)

    for name, helptext, func in (("predict", "redshifts and DLA lists for spectra", _cmd_predict),
                                 ("evaluate", "metrics against the file's truth table", _cmd_evaluate)):
        q = verbs.add_parser(name, help=helptext)
        if name == "predict":
            add_input(q, "data", nargs="+",
                      help="spectra files, folders or globs: agnlab HDF5/FITS, SDSS spec-*.fits, DESI coadds, "
                           "1-D FITS images, FITS tables, echelle spectra (see docs/spectra-files.md)")
        else:
            add_input(q, "data", help="spectra file (agnlab HDF5/FITS, or observed spectra)")
        add_input(q, "redshift_model", option=True, required=False,
                  help="RedshiftEstimator model file (.npz; default for predict: the shipped model)")
        add_input(q, "dla_model", option=True, required=False, help="DLAFinder model file (.npz)")
        q.add_argument("--true-z", action="store_true",
                       help="search DLAs at the truth table's z_qso (observed files: the redshift the file gives)")
        if name == "predict":
            _add_reader_options(q)
            add_output(q, help="per-spectrum table", suffixes=_TABLE_SUFFIXES)
            add_output(q, "dla_out", help="DLA table (default: <out>_dlas.<ext>)", suffixes=_TABLE_SUFFIXES,
                       required=False)
            q.add_argument("--threshold", type=float, default=None,
                           help="DLA confidence threshold (default: the model's)")
            q.add_argument("--batch-size", type=int, default=512,
                           help="observed spectra put through the models at a time (bounds memory; results do "
                                "not depend on it; default: 512)")
            add_dask(q)
        else:
            add_output(q, help="write the metrics as JSON here", suffixes=(".json",), required=False)
        add_common(q, seed=False)
        q.set_defaults(func=func)
