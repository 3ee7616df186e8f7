"""Shared command-line pieces: one spelling per option, and output safety before any work starts.

Every verb declares its inputs and outputs with :func:`add_input` and
:func:`add_output`; ``agnlab.cli.main`` then calls :func:`check_outputs` before
the verb runs, so a bad output (equal to an input, already there without
``--overwrite``, wrong suffix, unwritable place) fails in a second, not after
the training. Writes themselves stay atomic (``agnlab.io.atomic_path``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["CLIError", "add_common", "add_dask", "add_input", "add_output", "apply_runtime_options", "check_outputs"]


class CLIError(ValueError):
    """A command-line usage problem (reported as ``agnlab: error: ...``, exit status 2)."""


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _register(parser: argparse.ArgumentParser, key: str, entry: tuple) -> None:
    entries = list(parser.get_default(key) or [])
    entries.append(entry)
    parser.set_defaults(**{key: entries})


def add_input(parser, dest: str = "input", *, help: str, option: bool = False, required: bool = True,
              builtin: bool = False, **kwargs):
    """An input file: positional ``dest`` (or ``--dest`` with ``option=True``).

    ``builtin=True`` also accepts the word ``builtin`` (built-in demo data).
    Inputs are remembered so that no output may overwrite them.
    """
    if builtin:
        help = f"{help} (or 'builtin' for built-in demo data)"
    if option and not required and "default" not in help:
        help = f"{help} (default: none)"
    if option:
        parser.add_argument(_option(dest), dest=dest, required=required, help=help, metavar="FILE", **kwargs)
    else:
        parser.add_argument(dest, help=help, metavar=dest.upper(), **kwargs)
    _register(parser, "_cli_inputs", (dest,))


def add_output(parser, dest: str = "out", *, help: str, suffixes=None, required: bool = True,
               directory: bool = False, default=None):
    """An output path ``--out`` (or ``--<dest>``), checked by :func:`check_outputs` before any work.

    Parameters
    ----------
    suffixes : sequence of str, optional
        Allowed suffixes (e.g. ``(".npz",)``); listed in the help text.
    directory : bool
        The output is a folder (a report); an existing folder is refused without ``--overwrite``.
    """
    if suffixes:
        help = f"{help} ({', '.join(suffixes)})"
    if default is not None:
        help = f"{help} (default: {default})"
    elif not required and "default" not in help:
        help = f"{help} (default: not written)"
    parser.add_argument(_option(dest), dest=dest, required=required and default is None, default=default,
                        help=help, metavar="DIR" if directory else "FILE")
    _register(parser, "_cli_outputs", (dest, tuple(suffixes or ()), directory))


def add_common(parser, *, seed: bool = True, n_jobs: bool = True, overwrite: bool = True):
    """The options every verb spells the same way: ``--seed``, ``--n-jobs``, progress and ``--overwrite``."""
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    if n_jobs:
        parser.add_argument("--n-jobs", type=int, default=None, metavar="N",
                            help="threads to use (default: one for training, the machine's setting otherwise; "
                                 "-1: all cores)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="always show progress bars")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")
    parser.add_argument("--quiet", action="store_true", help="print only errors (implies --no-progress)")
    if overwrite:
        parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")


def add_dask(parser):
    """``--dask local[:N] | ADDRESS`` and ``--dask-memory-limit`` for a batch verb (see :mod:`agnlab.scale`)."""
    parser.add_argument("--dask", default=None, metavar="SPEC",
                        help="run partition by partition on Dask: 'local' (one worker per core), 'local:N' or a "
                             "scheduler address tcp://host:8786; the input may then be a partitioned Parquet folder "
                             "or glob (default: in memory)")
    parser.add_argument("--dask-memory-limit", default="auto", metavar="SIZE",
                        help="memory per local Dask worker, e.g. 2GB (default: auto, the machine's memory shared)")


def apply_runtime_options(args) -> None:
    """Make ``--progress/--no-progress/--quiet`` effective for every progress bar of the library."""
    progress = getattr(args, "progress", None)
    if getattr(args, "quiet", False):
        progress = False
    if progress is not None:
        os.environ["AGNLAB_PROGRESS"] = "1" if progress else "0"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _writable_place(path: Path) -> str | None:
    """Why ``path`` cannot be written (None when it can): the nearest existing ancestor must be a writable folder."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"folder {parent} is not writable"
    return None


_FOLDER_STORES = (".zarr",)


def check_outputs(args) -> None:
    """Check every output declared with :func:`add_output` against the inputs and the file system.

    Raises :class:`CLIError` naming the option when an output equals an input,
    exists without ``--overwrite``, has a suffix the verb cannot write, or lies
    in a place that cannot be written.
    """
    inputs = []
    for (dest,) in getattr(args, "_cli_inputs", None) or []:
        values = getattr(args, dest, None)
        for v in values if isinstance(values, (list, tuple)) else [values]:
            if v not in (None, "builtin", "-"):
                inputs.append((dest, Path(str(v)).expanduser()))
    seen = {}
    for dest, suffixes, directory in getattr(args, "_cli_outputs", None) or []:
        value = getattr(args, dest, None)
        if value is None:
            continue
        path = Path(str(value)).expanduser()
        opt = _option(dest)
        # --dask / --hats: the output is a folder of parts (partitioned Parquet, shards, a HATS catalogue)
        parts_folder = bool(getattr(args, "dask", None) or getattr(args, "hats", False)) and not path.suffix
        if not directory and suffixes and path.suffix.lower() not in suffixes and not parts_folder:
            raise CLIError(f"{opt} {path}: unsupported suffix {path.suffix or '(none)'!r}; use one of "
                           f"{', '.join(suffixes)}")
        resolved = path.resolve()
        for in_dest, in_path in inputs:
            if resolved == in_path.resolve() or _same_file(path, in_path):
                raise CLIError(f"{opt} {path} is the input {in_dest} {in_path}; choose another output "
                               "(an input is never overwritten)")
            if directory and in_path.resolve().is_relative_to(resolved):
                raise CLIError(f"{opt} {path} contains the input {in_path}; choose another output folder")
        if resolved in seen:
            raise CLIError(f"{opt} and {seen[resolved]} name the same file {path}")
        seen[resolved] = opt
        if path.exists() and not getattr(args, "overwrite", False):
            raise CLIError(f"{opt} {path} already exists; pass --overwrite to replace it")
        store = path.suffix.lower() in _FOLDER_STORES  # a file-like output that is a folder on disk
        if path.exists() and (directory or store) != path.is_dir() and not (getattr(args, "dask", None)
                                                                            or getattr(args, "hats", False)):
            raise CLIError(f"{opt} {path} exists and is {'a file' if directory else 'a folder'}")
        why = _writable_place(path)
        if why is not None:
            raise CLIError(f"{opt} {path}: cannot be written ({why})")
