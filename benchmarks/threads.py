"""Thread defaults of small-batch training, measured (issue 9): one thread vs two, idle vs shared cores.

Run: ``.venv/bin/python benchmarks/threads.py [--quick --out-dir DIR] [--seeds 0 1 2]``; writes
benchmarks/results/threads.md. ``NeuralEmulator.fit`` on the real CLUMPY grid (../shared/data/torus;
the built-in grid when absent), 100 Adam epochs, no L-BFGS, with ``n_jobs=1`` and ``n_jobs=2``; once on
otherwise idle cores and once while a competing process keeps one core busy (as when another job
shares the machine). The estimator's default (``n_jobs=None``) is one thread for training.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time

import numpy as np
from _common import SHARED_DATA, RunInfo, add_common_args, fmt_spread, md_table, parse_args, write_results


def _busy(stop):
    """Keep one core busy (a competing single-threaded job) until ``stop`` is set."""
    x = 0.0
    while not stop.is_set():
        for i in range(100_000):
            x += i * 1e-9


def _data(quick: bool):
    path = SHARED_DATA / "torus" / "clumpy_nenkova08_3p.npz"
    if path.exists():
        d = np.load(path)
        return np.stack([d["tv"], d["sig"], d["i"]], axis=1), d["fnu"], d["wave_um"], "real CLUMPY (1080 models)"
    from agnlab.grids import clumpy_like_grid

    g = clumpy_like_grid(300 if quick else 1080, seed=0)
    return g.params, g.flux, g.wave_um, f"built-in ({g.params.shape[0]} models)"


def _fit(X, Y, wave, n_jobs, seed, epochs):
    """``(seconds, batch size)`` of one ``NeuralEmulator.fit`` as a user calls it."""
    from agnlab.emulate import NeuralEmulator

    emu = NeuralEmulator(max_epochs=epochs, lbfgs_steps=0, n_jobs=n_jobs, random_state=seed, progress=False)
    t0 = time.perf_counter()
    emu.fit(X, Y, wave_um=wave)
    return time.perf_counter() - t0, emu.training_record_["batch_size"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap)
    args = parse_args(ap, argv)
    info = RunInfo(argv)
    X, Y, wave, label = _data(args.quick)
    epochs = 10 if args.quick else 100
    rows, data = [], {}
    for shared in (False, True):
        stop = mp.Event()
        worker = mp.Process(target=_busy, args=(stop,), daemon=True) if shared else None
        if worker is not None:
            worker.start()
        try:
            runs = {n: [_fit(X, Y, wave, n, s, epochs) for s in args.seeds] for n in (1, 2)}
        finally:
            if worker is not None:
                stop.set()
                worker.join()
        times = {n: [t for t, _ in r] for n, r in runs.items()}
        batch = runs[1][0][1]
        data["shared" if shared else "idle"] = times
        rows.append({"cores": "one busy with another job" if shared else "idle",
                     "n_jobs=1 (default) s": fmt_spread(times[1], ".1f"),
                     "n_jobs=2 s": fmt_spread(times[2], ".1f"),
                     "ratio 2 threads / 1 thread": fmt_spread(np.array(times[2]) / np.array(times[1]), ".2f")})
    body = "\n".join([
        f"`NeuralEmulator.fit` on the {label} grid, {epochs} Adam epochs (automatic batch size: {batch}), "
        "no L-BFGS, as a user calls it. Median (min-max) over seeds "
        f"{', '.join(map(str, args.seeds))}; the competing job is one single-threaded Python loop.", "",
        md_table(rows), "",
        "A ratio above 1 means the second thread slows training down: small batches give torch too little "
        "work per step to split, and a shared core stalls every step. Hence the default `n_jobs=None` -> one "
        "training thread; pass `n_jobs` to use more for large batches.",
    ])
    write_results("threads", "# Thread defaults of small-batch training", body, data, info, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
