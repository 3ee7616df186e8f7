"""Shared helpers of the benchmark scripts (not a benchmark itself: ``run_all.py`` skips ``_*.py``).

Every script in ``benchmarks/`` follows one pattern::

    from _common import RunInfo, add_common_args, parse_args, pin_threads, write_results

    ap = argparse.ArgumentParser(description=...)
    add_common_args(ap)                     # --quick, --seeds, --out-dir, --threads
    args = parse_args(ap, argv)             # refuses --quick into benchmarks/results
    info = RunInfo(argv)                    # command line, date, commit, load at start
    with pin_threads(args.threads):
        ...                                 # accuracy over args.seeds, speed best-of-N
    write_results("name", "# title", body, data, info, args.out_dir)

The results file ``<out-dir>/<name>.md`` (and ``<name>.json``) is written only by its
script, atomically, and begins with :meth:`RunInfo.header`: the exact command line, UTC
date, git commit, load average at start and end, CPU count and thread settings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_SEEDS = (0, 1, 2)
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

if str(ROOT / "src") not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))


# --------------------------------------------------------------------------- arguments
def add_common_args(parser: argparse.ArgumentParser, *, threads: int = 2) -> argparse.ArgumentParser:
    """Add ``--quick``, ``--seeds``, ``--out-dir`` and ``--threads`` to ``parser``."""
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (smoke run); needs an --out-dir other than benchmarks/results")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="seeds (or splits) for the accuracy part; median and range are reported "
                             "(default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR,
                        help="folder for <name>.md and <name>.json (default: benchmarks/results)")
    parser.add_argument("--threads", type=int, default=threads,
                        help="BLAS/OpenMP and torch threads while measuring (default: %(default)s)")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse; refuse ``--quick`` into ``benchmarks/results`` (quick runs never replace real results)."""
    args = parser.parse_args(argv)
    if getattr(args, "quick", False) and Path(args.out_dir).resolve() == RESULTS_DIR.resolve():
        parser.error("--quick writes smoke-run numbers: give another --out-dir (e.g. /tmp/bench_quick)")
    return args


# --------------------------------------------------------------------------- threads
@contextmanager
def pin_threads(n: int = 2, *, torch: bool = True):
    """Limit BLAS/OpenMP pools (threadpoolctl) and torch to ``n`` threads inside the block.

    Use as ``with pin_threads(2): ...``. torch is imported only with ``torch=True`` (default) and
    when installed; its previous thread count is restored on exit.
    """
    from threadpoolctl import threadpool_limits

    old = None
    if torch:
        try:
            import torch as _torch
        except ImportError:
            _torch = None
        if _torch is not None:
            old = _torch.get_num_threads()
            _torch.set_num_threads(n)
    with threadpool_limits(limits=n):
        try:
            yield
        finally:
            if old is not None:
                sys.modules["torch"].set_num_threads(old)


def thread_settings() -> dict:
    """Environment thread variables, threadpoolctl pools and torch threads (if torch is imported)."""
    out = {"env": {k: os.environ.get(k) for k in THREAD_ENV}}
    try:
        from threadpoolctl import threadpool_info

        out["threadpools"] = [{"api": p.get("internal_api"), "num_threads": p.get("num_threads"),
                               "version": p.get("version")} for p in threadpool_info()]
    except ImportError:
        out["threadpools"] = None
    if "torch" in sys.modules:
        out["torch_threads"] = sys.modules["torch"].get_num_threads()
    return out


# --------------------------------------------------------------------------- run record
def _git_commit():
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + (" (with uncommitted changes)" if dirty else "")) if sha else None


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class RunInfo:
    """What a results file records about its run; create it at the start of ``main``.

    ``argv`` is the argument list ``main`` was given (``None``: ``sys.argv[1:]``); the command line
    recorded is ``python <script> <argv...>``.
    """

    def __init__(self, argv=None, script=None):
        script = script or sys.argv[0]
        args = sys.argv[1:] if argv is None else list(argv)
        try:
            script = str(Path(script).resolve().relative_to(ROOT))
        except ValueError:
            pass
        self.command = ["python", script, *args]
        self.date_utc = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.commit = _git_commit()
        self.cpu_count = os.cpu_count()
        self.load_start = _loadavg()
        self.load_end = None
        self._t0 = time.perf_counter()
        self.wall_s = None

    def finish(self) -> "RunInfo":
        """Record the load average and wall time at the end (called by :func:`write_results`)."""
        self.load_end = _loadavg()
        self.wall_s = round(time.perf_counter() - self._t0, 1)
        return self

    def as_dict(self) -> dict:
        return {"command": shlex.join(self.command), "argv": self.command, "date_utc": self.date_utc,
                "commit": self.commit, "cpu_count": self.cpu_count, "load_start": self.load_start,
                "load_end": self.load_end, "wall_s": self.wall_s, "python": sys.version.split()[0],
                "threads": thread_settings()}

    def header(self) -> str:
        """Markdown paragraph: command, date, commit, machine load, thread settings."""
        th = thread_settings()
        env = ", ".join(f"{k.split('_')[0]}={v if v is not None else 'unset'}" for k, v in th["env"].items())
        pools = th["threadpools"]
        if pools is not None:  # one entry per (library, threads); numpy, scipy, torch may each load a copy
            seen = {}
            for p in pools:
                key = f"{p['api']} {p['num_threads']}"
                seen[key] = seen.get(key, 0) + 1
            pools = "; threadpoolctl: " + (", ".join(k + (f" (x{n})" if n > 1 else "") for k, n in seen.items())
                                           or "no pools")
        else:
            pools = ""
        tt = f"; torch {th['torch_threads']}" if "torch_threads" in th else ""

        def la(x):
            return "n/a" if x is None else f"{x[0]:.1f}/{x[1]:.1f}/{x[2]:.1f}"

        return (f"Command: `{shlex.join(self.command)}`; {self.date_utc}; commit {self.commit or 'n/a'}; "
                f"Python {sys.version.split()[0]}; {self.cpu_count} CPUs; load average (1/5/15 min) "
                f"{la(self.load_start)} at start, {la(self.load_end)} at end"
                f"{'' if self.wall_s is None else f'; run {self.wall_s:.0f} s'}. "
                f"Threads: {env}{pools}{tt}. Absolute times depend on the machine and its load; compare the "
                "ratios measured side by side in one run.")


# --------------------------------------------------------------------------- timing and statistics
def best_time(fn, repeats: int = 3) -> float:
    """Best (minimum) wall-clock seconds of ``repeats`` calls of ``fn()``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def timed(fn, repeats: int = 3):
    """Call ``fn()`` ``repeats`` times; return (last result, best wall s, best CPU s of this process)."""
    best_w = best_c = float("inf")
    out = None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        best_w = min(best_w, time.perf_counter() - t)
        best_c = min(best_c, max(time.process_time() - c, 1e-9))
    return out, best_w, best_c


def spread(values) -> dict:
    """Median, min, max and n of finite ``values`` (the spread over seeds or splits)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def fmt_spread(values, spec: str = ".3g", scale: float = 1.0) -> str:
    """``median (min–max)`` of ``values`` times ``scale``, e.g. ``0.187 (0.180–0.195)``; one value alone."""
    s = spread(values)
    if s["n"] == 0:
        return "n/a"
    m, lo, hi = (format(scale * s[k], spec) for k in ("median", "min", "max"))
    return m if s["n"] == 1 else f"{m} ({lo}–{hi})"


def seeds_note(seeds) -> str:
    """Sentence saying what ``median (min–max)`` means in a table."""
    return (f"Accuracy figures: median (min–max) over {len(seeds)} seed(s) {', '.join(map(str, seeds))}"
            + (" (fewer than 3: no meaningful spread)" if len(seeds) < 3 else "") + ".")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def log(msg: str, name: str = "bench") -> None:
    print(f"[{name}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- output
def md_table(rows, cols=None, fmt=None) -> str:
    """Markdown table of dict ``rows``; ``fmt`` maps a column to a format string (``"{:.2f}"``).

    Missing or ``None`` cells print ``-``; ``|`` inside a cell is escaped.
    """
    if not rows:
        return ""
    cols = list(cols or rows[0].keys())
    fmt = fmt or {}

    def cell(r, c):
        v = r.get(c)
        if v is None:
            return "-"
        try:
            s = fmt[c].format(v) if c in fmt else str(v)
        except (ValueError, TypeError):
            s = str(v)
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(str(c).replace("|", "\\|") for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r, c) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(name: str, title: str, body: str, data: dict, info: RunInfo, out_dir=RESULTS_DIR) -> Path:
    """Write ``<out_dir>/<name>.md`` (title, run header, body) and ``<name>.json`` atomically.

    ``title`` is the level-1 heading (``"# emulate benchmark"``); ``data`` (JSON-able; numpy arrays
    allowed) is stored with the run record under ``"run"``. Prints the markdown; returns its path.
    """
    info.finish()
    out_dir = Path(out_dir)
    md = f"{title.rstrip()}\n\n{info.header()}\n\n{body.strip()}\n"
    _atomic_write(out_dir / f"{name}.md", md)
    _atomic_write(out_dir / f"{name}.json",
                  json.dumps({"run": info.as_dict(), **data}, indent=1, default=_json_default) + "\n")
    print(md)
    print(f"wrote {out_dir / (name + '.md')} and .json", file=sys.stderr)
    return out_dir / f"{name}.md"
