"""Issue 17's pipeline runs for ``benchmarks/scale.py``: the CLI verbs as users call them, in memory and on Dask.

Each verb runs as a subprocess (``python -m agnlab ...``, exactly the command a user types); a
thread polls the resident memory of the process and of its children (the LocalCluster's nannies
and workers), so the peak of the busiest worker is measured, not estimated. The in-memory run
uses both cores (``--n-jobs 2``) on a slice of the data; the Dask run uses two single-threaded
workers limited to 2 GB each on all of it: "per core" divides each by the two cores.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

DASK = ["--dask", "local:2", "--dask-memory-limit", "2GB"]
QUIET = ["--no-progress", "--overwrite"]
LC_OBJECTS_PER_FILE = 5_000  # ~60 MB in memory per file: a partition must fit a 2 GB worker with room to spare
OBSERVED = ["--arrays", "observed"]  # flux + ivar: 250,000 4MOST-like spectra with all arrays would take ~96 GB
# float32 networks on 1 (worker) or 2 (in-memory) threads sum in another order: ~1e-7 differences
SAME_ATOL = 1e-5


def run_cli(args) -> dict:
    """Run ``agnlab ARGS``; wall seconds and peak resident memory (GB) of the main process and busiest child."""
    import psutil

    cmd = [sys.executable, "-m", "agnlab", *map(str, args)]
    peaks: dict[int, int] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def poll():
        parent = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                for p in [parent, *parent.children(recursive=True)]:
                    peaks[p.pid] = max(peaks.get(p.pid, 0), p.memory_info().rss)
            except psutil.Error:        # a process ended between listing and reading it
                pass
            done.wait(0.25)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    watcher.join()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    main = peaks.pop(proc.pid, 0)
    return {"wall_s": wall, "peak_main_gb": main / 1e9, "peak_worker_gb": max(peaks.values(), default=0) / 1e9}


def _summary(kind: str, n_mem: int, mem: list[dict], n_dask: int, dask: list[dict], same: bool) -> dict:
    t_mem, t_dask = sum(r["wall_s"] for r in mem), sum(r["wall_s"] for r in dask)
    per_core_mem, per_core_dask = n_mem / t_mem / 2, n_dask / t_dask / 2
    return {"pipeline": kind, "in_memory_n": n_mem, "in_memory_s": t_mem, "dask_n": n_dask, "dask_s": t_dask,
            "in_memory_per_s_per_core": per_core_mem, "dask_per_s_per_core": per_core_dask,
            "in_memory_over_dask": per_core_mem / per_core_dask,
            "peak_worker_gb": max(r["peak_worker_gb"] for r in dask),
            "peak_client_gb": max(r["peak_main_gb"] for r in dask), "first_shard_matches": bool(same)}


def spectra_pipeline(work: Path, n_total: int, n_memory: int, seed: int) -> dict:
    """``spectra simulate`` then ``spectra predict`` (shipped redshift and DLA models), in memory and on Dask."""
    from agnlab.spectra import DLAFinder, RedshiftEstimator

    work.mkdir(parents=True, exist_ok=True)
    z_model, dla_model = work / "redshift.npz", work / "dla.npz"
    RedshiftEstimator.pretrained().save(z_model)
    DLAFinder.pretrained().save(dla_model)
    models = ["--redshift-model", z_model, "--dla-model", dla_model]
    shard = min(2_000, n_memory)
    mem = [run_cli(["spectra", "simulate", "--n", n_memory, "--out", work / "memory.h5", "--seed", seed, *OBSERVED,
                    "--n-jobs", 2, *QUIET]),
           run_cli(["spectra", "predict", work / "memory.h5", *models, "--out", work / "memory.parquet",
                    "--n-jobs", 2, *QUIET])]
    dask = [run_cli(["spectra", "simulate", "--n", n_total, "--out", work / "shards", "--seed", seed,
                     "--shard-size", shard, *OBSERVED, *DASK, *QUIET]),
            run_cli(["spectra", "predict", work / "shards", *models, "--out", work / "predictions", *DASK, *QUIET])]
    first = pd.read_parquet(sorted((work / "predictions").glob("spectra-*.parquet"))[0])
    ref = pd.read_parquet(work / "memory.parquet").iloc[:len(first)]
    cols = [c for c in first.columns if c in ref.columns and pd.api.types.is_numeric_dtype(first[c])]
    same = len(cols) > 0 and np.allclose(first[cols].to_numpy(float), ref[cols].to_numpy(float), rtol=0,
                                         atol=SAME_ATOL, equal_nan=True)
    return _summary("spectra simulate + predict (redshift, DLAs)", n_memory, mem, n_total, dask, same)


def write_lightcurves(folder: Path, n_objects: int, per_file: int, seed: int) -> int:
    """Partitioned Parquet of simulated light curves (all 15 classes), object ids unique across files."""
    from agnlab.lightcurves import CLASSES, simulate

    folder.mkdir(parents=True, exist_ok=True)
    n_files = -(-n_objects // per_file)
    per_class = max(1, per_file // len(CLASSES))
    for i in range(n_files):
        path = folder / f"part{i:05d}.parquet"
        if path.exists():
            continue
        lc, _ = simulate(per_class, seed=np.random.default_rng([seed, i]))
        lc["object_id"] = f"p{i:05d}-" + lc["object_id"].astype(str)
        lc.to_parquet(path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    return n_files * per_class * len(CLASSES)


def lightcurve_pipeline(work: Path, n_total: int, n_memory: int, seed: int) -> dict:
    """``lightcurves features`` on the first files joined in memory and on every file on Dask."""
    per_file = min(LC_OBJECTS_PER_FILE, max(n_memory, 15))
    folder = work / "lightcurves"
    n_dask = write_lightcurves(folder, n_total, per_file, seed)
    first = sorted(folder.glob("*.parquet"))[:max(1, -(-n_memory // per_file))]
    memory_input = work / "memory_input.parquet"
    pd.concat([pd.read_parquet(p) for p in first], ignore_index=True).to_parquet(memory_input)
    n_mem = pd.read_parquet(memory_input, columns=["object_id"])["object_id"].nunique()
    mem = [run_cli(["lightcurves", "features", memory_input, "--out", work / "memory.parquet", "--n-jobs", 2,
                    *QUIET])]
    dask = [run_cli(["lightcurves", "features", folder, "--out", work / "features", *DASK, *QUIET])]
    ref = pd.read_parquet(work / "memory.parquet")
    got = pd.concat([pd.read_parquet(p) for p in sorted((work / "features").glob("*.parquet"))])
    key = "object_id" if "object_id" in ref.columns else None
    ref = ref.set_index(key) if key else ref
    got = got.set_index(key) if key and key in got.columns else got
    got = got.loc[got.index.isin(ref.index)].reindex(ref.index)
    num = [c for c in ref.columns if c in got.columns and pd.api.types.is_numeric_dtype(ref[c])]
    same = len(num) > 0 and np.allclose(got[num].to_numpy(float), ref[num].to_numpy(float), rtol=1e-6,
                                        atol=SAME_ATOL, equal_nan=True)
    files = sorted(folder.glob("*.parquet"))
    disk_gb = sum(p.stat().st_size for p in files) / 1e9
    table_gb = pd.read_parquet(files[0]).memory_usage(deep=True).sum() * len(files) / 1e9
    return {**_summary("lightcurves features", n_mem, mem, n_dask, dask, same), "input_parquet_gb": disk_gb,
            "input_as_table_gb": table_gb}
