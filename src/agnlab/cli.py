"""The ``agnlab`` command line: ``agnlab <workflow> <verb>``; thin, all work is in the library."""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
import zlib
from pathlib import Path

from . import __version__

__all__ = ["build_parser", "main", "run_demo"]


def run_demo(outdir="agnlab-report", *, seed: int = 0, quick: bool = False, only=None) -> Path:
    """Run every registered workflow's demo on built-in data and write the HTML report.

    Returns the path of ``index.html``; ``metrics.json`` lies beside it.
    """
    from .registry import WORKFLOWS, get_workflow, hook
    from .report import Report

    chosen = [get_workflow(n) for n in only] if only else list(WORKFLOWS)
    report = Report("agnlab demo report")
    for wf in chosen:
        if wf.demo is None:
            continue
        print(f"[agnlab demo] {wf.name} ...", file=sys.stderr, flush=True)
        hook(wf, wf.demo, "run_demo")(report, seed=seed, quick=quick)
    return report.write(outdir)


def _cmd_demo(args) -> int:
    index = run_demo(args.out, seed=args.seed, quick=args.quick, only=args.only)
    print(f"wrote {index} and {index.with_name('metrics.json')}")
    return 0


def describe_artifact(path) -> dict:
    """What an agnlab model file holds: kind, versions, creation, hyperparameters, domain and training record."""
    from .io import load_artifact

    arrays, meta = load_artifact(path)
    state = meta.get("estimator_state", {})
    out = {"file": str(path), "kind": meta["_kind"], "agnlab_version": meta["_agnlab_version"],
           "created_utc": meta["_created_utc"]}
    if meta.get("_command"):
        out["command"] = meta["_command"]
    if "params" in meta:
        out["params"] = meta["params"]
    for key in ("param_names", "param_ranges", "n_wave", "z_range", "feature_names", "classes"):
        if key in state:
            out[key] = state[key]
    out["training_record"] = meta.get("training_record", meta.get("training_metrics", {}))
    out["arrays"] = {k: f"{v.dtype}{list(v.shape)}" for k, v in arrays.items()}
    return out


def _cmd_info(args) -> int:
    import json

    print(json.dumps(describe_artifact(args.input), indent=1, default=str))
    return 0


def _cmd_notebooks_html(args) -> int:
    from .report.notebooks import run_html_command

    return run_html_command(args)


def _add_notebooks(sub) -> None:
    """``agnlab notebooks html``; nbclient/nbconvert are imported only when it runs."""
    parser = sub.add_parser("notebooks", help="execute the example notebooks and convert them to HTML")
    verbs = parser.add_subparsers(dest="verb", metavar="<verb>", required=True)
    html = verbs.add_parser(
        "html", help="execute notebooks and write their HTML copies (all, named, or changed since a git ref)",
        description="Execute notebooks top to bottom and write HTML copies that record the notebook's hash. "
                    "Exit status 2 when a notebook fails (the failing cell is shown), 1 when --check finds a "
                    "stale copy.")
    html.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="notebooks to convert (default: all in --dir)")
    html.add_argument("--dir", default="notebooks", metavar="DIR",
                      help="folder of the notebooks when none is named (default: notebooks)")
    html.add_argument("--changed", metavar="BASE_REF",
                      help="only the notebooks changed since BASE_REF in git, or that use an agnlab module "
                           "changed since then (default: all)")
    html.add_argument("--out", metavar="DIR", default=None,
                      help="folder of the HTML copies (default: html/ beside each notebook)")
    html.add_argument("--check", action="store_true",
                      help="execute nothing; exit 1 when an HTML copy is missing or stale")
    html.add_argument("--timeout", type=int, default=600, metavar="S", help="seconds one cell may run (default: 600)")
    html.add_argument("--quiet", action="store_true", help="print only errors")
    html.set_defaults(func=_cmd_notebooks_html)


def build_parser() -> argparse.ArgumentParser:
    from .cli_common import add_common, add_output
    from .registry import WORKFLOWS, hook

    parser = argparse.ArgumentParser(
        prog="agnlab",
        description="Machine learning for AGN and survey astronomy. Run 'agnlab demo' for a tour.")
    parser.add_argument("--version", action="version", version=f"agnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<workflow>")
    demo = sub.add_parser("demo", help="run every workflow on built-in data and write an HTML report")
    add_output(demo, help="report folder", directory=True, default="agnlab-report")
    add_common(demo, n_jobs=False)
    demo.add_argument("--quick", action="store_true", help="smaller data and shorter training (for CI)")
    demo.add_argument("--only", nargs="+", metavar="WORKFLOW", choices=[w.name for w in WORKFLOWS],
                      help=f"run only these workflows ({', '.join(w.name for w in WORKFLOWS)}; default: all)")
    demo.set_defaults(func=_cmd_demo)
    info = sub.add_parser("info", help="show what an agnlab model file holds (kind, parameters, ranges, metrics)")
    info.add_argument("input", metavar="FILE", help="a model file written by agnlab (.npz)")
    info.set_defaults(func=_cmd_info)
    _add_notebooks(sub)
    for wf in WORKFLOWS:
        for module in wf.cli:
            hook(wf, module, "register")(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    import shlex

    from .cli_common import apply_runtime_options, check_outputs
    from .io._artifact import CREATION_COMMAND

    CREATION_COMMAND.set(shlex.join(["agnlab", *(sys.argv[1:] if argv is None else argv)]))
    try:
        check_outputs(args)
        apply_runtime_options(args)
        return int(func(args) or 0)
    except (ValueError, KeyError, OSError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if os.environ.get("AGNLAB_DEBUG"):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"agnlab: error: {msg} (set AGNLAB_DEBUG=1 for a traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("agnlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
