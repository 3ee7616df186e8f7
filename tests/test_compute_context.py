"""``agnlab.compute_context``: threads limited for the call and restored, including libraries loaded later."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _torch_libgomp() -> Path | None:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "lib" / "libgomp.so.1"
    return path if path.exists() else None


def test_threads_limited_inside_and_restored_including_later_loaded_libraries():
    # A fresh interpreter. The library scan is cached, so an OpenMP runtime loaded after the first call
    # (torch's own libgomp, loaded here without torch so nothing else limits it) must be found again.
    libgomp = _torch_libgomp()
    if libgomp is None:
        pytest.skip("torch's libgomp not found")
    code = textwrap.dedent(f"""
        import ctypes
        from threadpoolctl import threadpool_info
        import agnlab

        def threads():
            return {{info["filepath"]: info["num_threads"] for info in threadpool_info()}}

        with agnlab.compute_context(1):
            pass
        ctypes.CDLL({str(libgomp)!r}, mode=ctypes.RTLD_GLOBAL)
        import colorsys  # noqa: F401  (libraries arrive with imports: the cue to rescan)
        before = threads()
        with agnlab.compute_context(1):
            inside = threads()
        after = threads()
        assert any("torch" in path for path in inside), inside
        assert set(inside) == set(before), (inside, before)
        assert all(n == 1 for n in inside.values()), inside
        assert after == before, (after, before)
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "PATH": ""})
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok")


def test_chunked_map_limits_blas_inside_its_threads_only():
    # A fresh interpreter: BLAS limits are process-wide, and a thread another test left running in this
    # worker (a Dask or torch pool) may set them at any moment.
    code = textwrap.dedent("""
        from threadpoolctl import threadpool_info, threadpool_limits
        from agnlab.parallel import chunked_map

        def blas_threads(_=None):
            return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

        with threadpool_limits(2, user_api="blas"):
            assert chunked_map(blas_threads, range(3), n_jobs=2, blas_threads=1) == [1, 1, 1]
            assert blas_threads() == 2                                          # restored after the map
            assert chunked_map(blas_threads, range(2), n_jobs=1, blas_threads=1) == [2, 2]   # one thread: untouched
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok")
