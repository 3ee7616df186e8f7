"""One chunked map with progress: split ``n`` rows into chunks, run them on threads, show a bar."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from ._progress import progress as _progress

__all__ = ["chunk_slices", "chunked_map", "resolve_n_jobs"]


def resolve_n_jobs(n_jobs, *, default: int | None = 1) -> int | None:
    """Number of threads for ``n_jobs``: None -> ``default``; -1 -> every core this process may use."""
    if n_jobs is None:
        return default
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise TypeError(f"n_jobs must be an int or None, got {n_jobs!r}")
    n_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n_jobs == 0 or n_jobs < -n_cores:
        raise ValueError(f"n_jobs must be >= 1 or a negative count from the number of cores, got {n_jobs}")
    return int(n_jobs) if n_jobs > 0 else n_cores + 1 + int(n_jobs)


def chunk_slices(n: int, chunk_size: int) -> list[slice]:
    """Consecutive slices of at most ``chunk_size`` rows covering ``range(n)``."""
    step = max(1, int(chunk_size))
    return [slice(s, min(s + step, n)) for s in range(0, int(n), step)]


def chunked_map(func: Callable, chunks, *, n_jobs=None, progress=None, desc: str | None = None,
                unit: str = "chunk", blas_threads: int | None = None) -> list:
    """``[func(c) for c in chunks]`` on ``n_jobs`` threads, in order, with a progress bar.

    Threads suit work that releases the GIL (numpy, torch, compiled code). The
    bar is hidden for four chunks or fewer and follows ``agnlab.progress``
    otherwise (``progress=True/False`` forces it). ``KeyboardInterrupt`` cancels
    the chunks not yet started. ``blas_threads``: BLAS/OpenMP threads while
    ``n_jobs`` > 1 (e.g. 1, so that the workers do not each start a full pool);
    None leaves them as they are.

    Examples
    --------
    >>> chunked_map(sum, [[1, 2], [3]], n_jobs=2)
    [3, 3]
    """
    chunks = list(chunks)
    jobs = resolve_n_jobs(n_jobs, default=1)
    if blas_threads is not None and jobs > 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(int(blas_threads)):
            return chunked_map(func, chunks, n_jobs=jobs, progress=progress, desc=desc, unit=unit)
    disable = True if len(chunks) <= 4 and progress is None else (None if progress is None else not progress)
    results = []
    with _progress(total=len(chunks), desc=desc, disable=disable, unit=unit) as bar:
        if jobs <= 1 or len(chunks) <= 1:
            for c in chunks:
                results.append(func(c))
                bar.update(1)
            return results
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(jobs, len(chunks))) as pool:
            futures = [pool.submit(func, c) for c in chunks]
            try:
                for fut in futures:
                    results.append(fut.result())
                    bar.update(1)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    return results
