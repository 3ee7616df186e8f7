"""``agnlab lightcurves simulate|features|train|classify|anomalies|stamps`` (thin: parse, call the library)."""

from __future__ import annotations

__all__ = ["register"]

_TABLE_SUFFIXES = (".parquet", ".csv")


def _read_lc(spec: str, args, *, agn_only: bool = False):
    """Light curves from a file (ZTF alert .avro, ZTF DR or generic table) or ``builtin`` (simulated)."""
    from . import read_lightcurves, read_ztf_alerts, read_ztf_dr, simulate

    if spec == "builtin":
        if agn_only:   # AGN/QSO with 2 % changing-state events
            return simulate(args.n_per_class, classes=["AGN", "QSO"], seed=args.seed,
                            changing_state_fraction=0.02)[0]
        return simulate(args.n_per_class, seed=args.seed)[0]
    if spec.endswith(".avro"):
        return read_ztf_alerts(spec)
    if getattr(args, "format", "generic") == "ztf-dr":
        return read_ztf_dr(spec)
    return read_lightcurves(spec)


def _cmd_simulate(args) -> int:
    from ..io import write_table
    from . import simulate

    lc, labels = simulate(args.n_per_class, survey=args.survey, seed=args.seed,
                          changing_state_fraction=args.changing_state_fraction,
                          classes=args.classes.split(",") if args.classes else None)
    write_table(lc, args.out)
    write_table(labels, args.labels_out)
    print(f"wrote {args.out} ({len(lc)} epochs) and {args.labels_out} ({len(labels)} objects)")
    return 0


def _features_dask(args) -> int:
    from ..scale import dask_client, read_dataset, write_dataset
    from . import extract_features_dask, group_by_object

    if args.lightcurves == "builtin" or args.format != "generic":
        raise ValueError("--dask reads a generic long table (Parquet folder or glob: object_id, mjd, band, mag, "
                         "mag_err[, detected])")
    from ..validation import check_columns

    ddf = read_dataset(args.lightcurves)       # every column: 'detected' and context columns are optional
    check_columns(ddf._meta, ["object_id", "mjd", "band", "mag", "mag_err"], name=str(args.lightcurves))
    with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
        feats = extract_features_dask(group_by_object(ddf), bands=tuple(args.bands.split(",")),
                                      villar=not args.no_villar)
        out = write_dataset(feats, args.out, overwrite=args.overwrite, client=client, progress=args.progress)
    print(f"wrote {out} (partitioned Parquet, {feats.npartitions} partitions)")
    return 0


def _cmd_features(args) -> int:
    from ..io import write_table
    from . import extract_features

    if args.dask:
        return _features_dask(args)
    lc = _read_lc(args.lightcurves, args)
    feats = extract_features(lc, bands=tuple(args.bands.split(",")), n_jobs=args.n_jobs,
                             villar=not args.no_villar, progress=args.progress)
    write_table(feats.reset_index(), args.out)
    bad = int((feats["flag"] != "ok").sum())
    print(f"wrote {args.out} ({len(feats)} objects x {feats.shape[1] - 1} features; {bad} flagged)")
    return 0


def _read_features(path):
    from ..io import read_table
    from ..validation import check_columns

    df = read_table(path)
    check_columns(df, ["object_id"], name="feature table from 'agnlab lightcurves features'")
    return df.set_index(df["object_id"].astype(str)).drop(columns=["object_id"])


def _cmd_train(args) -> int:
    import json

    from ..io import read_table
    from . import HierarchicalClassifier

    feats = _read_features(args.features)
    labels = read_table(args.labels)
    clf = HierarchicalClassifier(n_estimators=args.n_estimators, n_jobs=args.n_jobs, random_state=args.seed,
                                 progress=args.progress).fit(feats, labels)
    path = clf.save(args.out)
    print(json.dumps(clf.training_record_, indent=1))
    print(f"wrote {path}")
    return 0


def _cmd_classify(args) -> int:
    from ..io import write_table
    from . import HierarchicalClassifier, probability_table

    clf = HierarchicalClassifier.load(args.model)
    if args.n_jobs is not None:
        clf.set_params(n_jobs=args.n_jobs)
    if args.dask:
        from ..scale import dask_client, read_dataset, write_dataset
        from . import classify_dask

        with dask_client(args.dask, memory_limit=args.dask_memory_limit) as client:
            proba = classify_dask(clf, read_dataset(args.features))
            out = write_dataset(proba, args.out, overwrite=args.overwrite, client=client, progress=args.progress)
        print(f"wrote {out} (partitioned Parquet, {proba.npartitions} partitions)")
        return 0
    out = probability_table(clf, _read_features(args.features))
    write_table(out.reset_index(), args.out)
    print(f"wrote {args.out} ({len(out)} objects)")
    return 0


def _cmd_anomalies(args) -> int:
    from ..io import write_table
    from . import VRAEAnomalyDetector

    lc = _read_lc(args.lightcurves, args, agn_only=True)
    if args.model:
        det = VRAEAnomalyDetector.load(args.model).set_params(on_out_of_domain="nan")
    else:
        det = VRAEAnomalyDetector(max_epochs=args.max_epochs, r_mode=args.r_mode, random_state=args.seed,
                                  n_jobs=args.n_jobs, on_out_of_domain="nan", progress=args.progress).fit(lc)
        if args.save_model:
            det.save(args.save_model)
    scores = det.score(lc)
    write_table(scores, args.out)
    print(f"wrote {args.out} ({int(scores['anomalous'].sum())} of {len(scores)} flagged)")
    return 0


def register(subparsers) -> None:
    """Add ``lightcurves`` and its verbs to the top-level ``agnlab`` parser."""
    from ..cli_common import add_common, add_dask, add_input, add_output

    p = subparsers.add_parser("lightcurves", help="ZTF/LSST light curves: simulate, features, classify, anomalies")
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)
    from ._stamp_cli import register_stamps

    register_stamps(verbs)

    s = verbs.add_parser("simulate", help="simulate labelled light curves of the 15 ALeRCE classes")
    add_output(s, help="light-curve table to write", suffixes=_TABLE_SUFFIXES)
    add_output(s, "labels_out", help="labels table to write", suffixes=_TABLE_SUFFIXES)
    s.add_argument("--n-per-class", type=int, default=100, help="objects per class (default: 100)")
    s.add_argument("--survey", choices=("ztf", "lsst"), default="ztf", help="cadence and bands (default: ztf)")
    s.add_argument("--classes", default=None, help="comma-separated subset of classes (default: all 15)")
    s.add_argument("--changing-state-fraction", type=float, default=0.0,
                   help="fraction of AGN/QSO with a changing-state event (default: 0)")
    add_common(s, n_jobs=False)
    s.set_defaults(func=_cmd_simulate)

    f = verbs.add_parser("features", help="extract features from light curves")
    add_input(f, "lightcurves", help="light curves (.parquet/.csv long table, ZTF DR file, ZTF alert .avro)",
              builtin=True)
    add_output(f, help="feature table to write", suffixes=_TABLE_SUFFIXES)
    f.add_argument("--format", choices=("generic", "ztf-dr"), default="generic",
                   help="table layout of a .parquet/.csv input (default: generic long table)")
    f.add_argument("--bands", default="g,r", help="comma-separated bands (default: g,r)")
    f.add_argument("--no-villar", action="store_true", help="skip the Villar supernova fit (faster)")
    f.add_argument("--n-per-class", type=int, default=20, help="objects per class for 'builtin' (default: 20)")
    add_dask(f)
    add_common(f)
    f.set_defaults(func=_cmd_features)

    t = verbs.add_parser("train", help="train the hierarchical classifier on a feature table and labels")
    add_input(t, "features", help="feature table (from 'features')")
    add_input(t, "labels", help="labels table (object_id, class)")
    add_output(t, help="model file to write", suffixes=(".npz",))
    t.add_argument("--n-estimators", type=int, default=500, help="trees per forest (default: 500)")
    add_common(t)
    t.set_defaults(func=_cmd_train)

    c = verbs.add_parser("classify", help="class probabilities from a saved classifier")
    add_input(c, "model", help="classifier (.npz from 'train')")
    add_input(c, "features", help="feature table")
    add_output(c, help="probability table to write", suffixes=_TABLE_SUFFIXES)
    add_dask(c)
    add_common(c, seed=False)
    c.set_defaults(func=_cmd_classify)

    a = verbs.add_parser("anomalies", help="rank AGN light curves by VRAE reconstruction error and latent IF")
    add_input(a, "lightcurves", help="AGN/QSO light curves", builtin=True)
    add_input(a, "model", option=True, required=False, help="saved detector (default: train one on the input)")
    add_output(a, help="ranked score table to write", suffixes=_TABLE_SUFFIXES)
    add_output(a, "save_model", required=False, help="also save the trained detector", suffixes=(".npz",))
    a.add_argument("--format", choices=("generic", "ztf-dr"), default="generic",
                   help="table layout of a .parquet/.csv input (default: generic long table)")
    a.add_argument("--max-epochs", type=int, default=40, help="training epochs (default: 40)")
    a.add_argument("--r-mode", default="reconstruction",
                   help="when training, what R compares each epoch with: 'reconstruction' (of the whole curve) or "
                        "'held_out_season' (the prediction of its season from the other seasons) "
                        "(default: reconstruction)")
    a.add_argument("--n-per-class", type=int, default=100, help="objects per class for 'builtin' (default: 100)")
    add_common(a)
    a.set_defaults(func=_cmd_anomalies)
