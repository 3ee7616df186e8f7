"""Run every benchmark in this folder, then assemble BENCHMARKS.md from benchmarks/results/*.md.

    python benchmarks/run_all.py                 # all benchmarks, then assemble
    python benchmarks/run_all.py emulate nebular # a subset
    python benchmarks/run_all.py --assemble-only
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = ["emulate", "population", "nebular", "nebular_inference", "spectra_sim", "spectra"]
RESULT_ORDER = ["emulate", "emulate_builtin", "emulate_real", "population", "nebular", "inference", "spectra_sim", "spectra"]


def assemble() -> Path:
    parts = [
        "# agnlab benchmarks\n",
        "Each benchmark compares side by side in one run (ratios); absolute times are for the "
        "machine named below. Re-run with `make bench` (or `python benchmarks/<name>.py`).\n",
        f"Assembled {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} on {platform.machine()} "
        f"({platform.python_implementation()} {platform.python_version()}).\n",
    ]
    results = sorted((HERE / "results").glob("*.md"), key=lambda p: (RESULT_ORDER.index(p.stem) if p.stem in RESULT_ORDER else 99, p.stem))
    for res in results:
        text = res.read_text().strip()
        if text.startswith("# "):  # each result becomes a level-2 section
            text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        parts.append(text + "\n")
    out = ROOT / "BENCHMARKS.md"
    out.write_text("\n".join(parts))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {ORDER})")
    parser.add_argument("--assemble-only", action="store_true")
    args = parser.parse_args(argv)
    failed = []
    if not args.assemble_only:
        names = args.names or [n for n in ORDER if (HERE / f"{n}.py").exists()]
        for name in names:
            print(f"== benchmark {name}", flush=True)
            if subprocess.run([sys.executable, str(HERE / f"{name}.py")], cwd=ROOT).returncode != 0:
                failed.append(name)
    print(f"wrote {assemble()}")
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
