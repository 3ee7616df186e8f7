"""Inference spread over threads by chunk: each thread runs whole chunks with one intra-op torch thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

__all__ = ["run_in_threads"]


def run_in_threads(fn, chunks) -> None:
    """Call ``fn(chunk)`` for every chunk under ``torch.inference_mode``, on ``torch.get_num_threads()`` threads.

    Small networks on many rows spend much of torch's intra-op threading in per-operation
    synchronisation and in moving activations between cores; a thread that takes a chunk through every
    layer keeps it in its core's cache. Measured on the emulator (6-80x4-32 MLP, 10^6 rows, 2 cores):
    0.28x a numpy forward pass against 0.38x with intra-op threads (``benchmarks/scale.py``).
    ``fn`` writes its results itself (into disjoint parts of an output); the first exception raised
    in any thread is raised here once all threads have stopped. Torch's thread count is restored.
    """
    import torch

    chunks = list(chunks)
    workers = min(torch.get_num_threads(), len(chunks))
    if workers <= 1:
        with torch.inference_mode():
            for chunk in chunks:
                fn(chunk)
        return

    def run(k):
        with torch.inference_mode():               # thread-local: entered in each thread
            for chunk in chunks[k::workers]:
                fn(chunk)

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(run, k) for k in range(workers)]
        for f in futures:
            f.result()
    finally:
        torch.set_num_threads(old)
