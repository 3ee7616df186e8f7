"""``agnlab lightcurves stamps simulate|train|classify`` (thin: parse, call the library).

Alerts travel as ZTF-like Avro files (``simulate`` writes them; ``train`` and ``classify`` read real ZTF
alert packets the same way); labels as a table ``object_id, class``.
"""

from __future__ import annotations

__all__ = ["register_stamps"]

_TABLE_SUFFIXES = (".parquet", ".csv")


def _read_alerts(spec: str, args):
    """``(stamps, metadata, labels or None)`` from an Avro file or ``builtin`` (simulated, labelled)."""
    from ._stamp_io import read_ztf_stamps
    from ._stamps import simulate_stamps

    if spec == "builtin":
        stamps, meta, labels = simulate_stamps(args.n_per_class, seed=args.seed)
        meta = meta.assign(object_id=[f"sim{i:07d}" for i in range(len(meta))], flag="ok")
        return stamps, meta, labels
    stamps, meta = read_ztf_stamps(spec)
    if len(meta) == 0:
        raise ValueError(f"{spec}: no alerts in the file")
    return stamps, meta, None


def _cmd_simulate(args) -> int:
    import pandas as pd

    from ..io import write_table
    from ._stamp_io import write_ztf_stamp_alerts
    from ._stamps import simulate_stamps

    stamps, meta, labels = simulate_stamps(args.n_per_class, seed=args.seed)
    ids = [f"ZTFsim{args.seed:03d}{i:07d}" for i in range(len(labels))]
    write_ztf_stamp_alerts(args.out, stamps, meta, object_ids=ids)
    write_table(pd.DataFrame({"object_id": ids, "class": labels, "bogus_kind": meta.attrs["bogus_kind"]}),
                args.labels_out)
    print(f"wrote {args.out} ({len(labels)} alerts) and {args.labels_out}")
    return 0


def _cmd_train(args) -> int:
    import json

    import numpy as np

    from ..io import read_table
    from ..validation import check_columns
    from ._stamp_net import StampClassifier

    stamps, meta, labels = _read_alerts(args.alerts, args)
    if labels is None:
        if not args.labels:
            raise ValueError("--labels is required unless the alerts are 'builtin'")
        lab = read_table(args.labels)
        check_columns(lab, ["object_id", "class"], name=f"labels table {args.labels}")
        lookup = dict(zip(lab["object_id"].astype(str), lab["class"].astype(str)))
        labels = np.array([lookup.get(o, "") for o in meta["object_id"]])
        keep = labels != ""
        if not keep.any():
            raise ValueError(f"{args.labels}: no object_id matches an alert of {args.alerts}")
        stamps, meta, labels = stamps[keep], meta.loc[keep].reset_index(drop=True), labels[keep]
    good = (meta["flag"] == "ok").to_numpy()
    if not good.all():
        print(f"skipping {int((~good).sum())} alert(s) with missing or corrupt cutouts")
        stamps, meta, labels = stamps[good], meta.loc[good].reset_index(drop=True), labels[good]
    clf = StampClassifier(max_epochs=args.max_epochs, n_networks=args.n_networks, random_state=args.seed,
                          n_jobs=args.n_jobs, progress=args.progress).fit(stamps, meta, labels)
    path = clf.save(args.out)
    rec = {k: v for k, v in clf.training_record_.items() if k != "history"}
    print(json.dumps(rec, indent=1))
    print(f"wrote {path}")
    return 0


def _cmd_classify(args) -> int:
    from ..io import write_table
    from ._stamp_net import StampClassifier

    clf = StampClassifier.load(args.model)
    if args.n_jobs is not None:
        clf.set_params(n_jobs=args.n_jobs)
    stamps, meta, _ = _read_alerts(args.alerts, args)
    out = clf.set_params(on_out_of_domain="nan").classify(stamps, meta, alert_ids=meta["object_id"])
    out = out.rename(columns={"alert_id": "object_id"})
    if "candid" in meta.columns:
        out.insert(1, "candid", meta["candid"].to_numpy())
    read_flag = meta["flag"].astype(str).to_numpy()
    out["flag"] = [f if r == "ok" else (r if f == "ok" else f"{r}+{f}") for r, f in zip(read_flag, out["flag"])]
    write_table(out, args.out)
    n_bad = int((out["class"] == "").sum())
    print(f"wrote {args.out} ({len(out)} alerts; {n_bad} unusable)")
    return 0


_ALERTS_HELP = ("ZTF alert .avro file: the three cutouts and the candidate fields ra, dec, magpsf, elong, fwhm, "
                "distpsnr1, sgscore1, s[griz]mag1, ndethist, ncovhist (-999 or null: missing, imputed and flagged)")


def register_stamps(verbs) -> None:
    """Add ``stamps`` and its sub-verbs to the ``lightcurves`` verbs (an argparse subparsers object)."""
    from ..cli_common import add_common, add_input, add_output

    p = verbs.add_parser("stamps", help="first-detection image stamps: simulate, train, classify "
                                        "(AGN / SN / variable star / asteroid / bogus)")
    sv = p.add_subparsers(dest="stamps_verb", metavar="<verb>", required=True)

    s = sv.add_parser("simulate", help="simulate labelled alerts as a ZTF-like Avro file")
    add_output(s, help="alert file to write", suffixes=(".avro",))
    add_output(s, "labels_out", help="labels table to write (object_id, class)", suffixes=_TABLE_SUFFIXES)
    s.add_argument("--n-per-class", type=int, default=200, help="alerts per class (default: 200)")
    add_common(s, n_jobs=False)
    s.set_defaults(func=_cmd_simulate)

    t = sv.add_parser("train", help="train the stamp classifier")
    add_input(t, "alerts", help=_ALERTS_HELP, builtin=True)
    add_input(t, "labels", option=True, required=False, help="labels table (object_id, class)")
    add_output(t, help="model file to write", suffixes=(".npz",))
    t.add_argument("--max-epochs", type=int, default=60, help="training epochs (default: 60)")
    t.add_argument("--n-per-class", type=int, default=200, help="alerts per class for 'builtin' (default: 200)")
    t.add_argument("--n-networks", type=int, default=1,
                   help="networks trained and averaged (a deep ensemble; cost scales with it) (default: 1)")
    add_common(t)
    t.set_defaults(func=_cmd_train)

    c = sv.add_parser("classify", help="class probabilities of alerts from a saved stamp classifier")
    add_input(c, "model", help="stamp classifier (.npz from 'stamps train')")
    add_input(c, "alerts", help=_ALERTS_HELP, builtin=True)
    add_output(c, help="probability table to write", suffixes=_TABLE_SUFFIXES)
    c.add_argument("--n-per-class", type=int, default=20, help="alerts per class for 'builtin' (default: 20)")
    add_common(c)
    c.set_defaults(func=_cmd_classify)
