"""The ``agnlab`` command line: ``agnlab <workflow> <verb>``; thin, all work is in the library."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from . import __version__

__all__ = ["main", "WORKFLOWS"]

#: CLI name -> subpackage. Each subpackage's ``_cli.register(subparsers)`` adds its verbs
#: and its ``_demo.run_demo(report, seed=..., quick=...)`` adds a report section.
WORKFLOWS = {
    "emulate": "emulate",
    "population": "population",
    "nebular": "nebular",
    "infer": "inference",
    "spectra": "spectra",
}


def _plugin(package: str, module: str):
    """Import ``agnlab.<package>.<module>``; None if that workflow does not provide it."""
    name = f"agnlab.{package}.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in (name, f"agnlab.{package}"):
            return None
        raise


def run_demo(outdir="agnlab-report", *, seed: int = 0, quick: bool = False, only=None) -> Path:
    """Run every available workflow's demo on built-in data and write the HTML report.

    Returns the path of ``index.html``; ``metrics.json`` lies beside it.
    """
    from .report import Report

    report = Report("agnlab demo report")
    names = list(WORKFLOWS) if not only else list(only)
    unknown = [n for n in names if n not in WORKFLOWS]
    if unknown:
        raise ValueError(f"unknown workflow(s) {unknown}; choose from {list(WORKFLOWS)}")
    for name in names:
        demo = _plugin(WORKFLOWS[name], "_demo")
        if demo is None:
            continue
        print(f"[agnlab demo] {name} ...", file=sys.stderr, flush=True)
        demo.run_demo(report, seed=seed, quick=quick)
    return report.write(outdir)


def _cmd_demo(args) -> int:
    index = run_demo(args.out, seed=args.seed, quick=args.quick, only=args.only)
    print(f"wrote {index} and {index.with_name('metrics.json')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agnlab",
        description="Machine learning for AGN and survey astronomy. Run 'agnlab demo' for a tour.")
    parser.add_argument("--version", action="version", version=f"agnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<workflow>")
    demo = sub.add_parser("demo", help="run every workflow on built-in data and write an HTML report")
    demo.add_argument("--out", default="agnlab-report", help="report folder (default: agnlab-report)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--quick", action="store_true", help="smaller data and shorter training (for CI)")
    demo.add_argument("--only", nargs="+", metavar="WORKFLOW", help=f"subset of {list(WORKFLOWS)}")
    demo.set_defaults(func=_cmd_demo)
    for package in WORKFLOWS.values():
        plugin = _plugin(package, "_cli")
        if plugin is not None:
            plugin.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as exc:
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
