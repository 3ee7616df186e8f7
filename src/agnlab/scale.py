"""Scale out on Dask: read partitioned tables, apply a fitted model partition by partition, write safely.

The one place where agnlab talks to Dask (``pip install 'agnlab[dask]'``):

- :func:`dask_client` opens a client from a ``--dask`` spec: ``local`` (a
  ``LocalCluster`` with one single-threaded worker per core), ``local:N`` (N
  workers) or a scheduler address (``tcp://host:8786``). No home-made scheduler.
- :func:`read_dataset` opens a Parquet file, folder or glob (or CSV glob) lazily
  and checks the columns a step needs.
- :func:`map_table` runs ``func(partition, model)`` on every partition: the
  model is one task of the graph (shipped to each worker once, not once per
  partition) and BLAS/torch threads are pinned per task, so workers do not
  oversubscribe the cores.
- :func:`write_dataset` writes partitioned Parquet under a temporary name and
  renames it into place only when every partition succeeded: a failed run (a
  worker killed, a bad partition that raised) never leaves a dataset that looks
  complete.
- :func:`map_files` does the same for array data kept in files (spectra, cubes):
  one task per input item, each writing its files into the output folder.
- :func:`zarr_group` / :func:`zarr_array` / :func:`store_dask_arrays` write large
  arrays (SEDs, spectra) to a Zarr store, chunked by rows, with the same
  temporary-name-then-rename safety (on a cluster, ``out`` must be on storage
  every worker sees).

Without a client the graph runs on Dask's default local scheduler.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["ScaleError", "dask_client", "list_files", "map_files", "map_table", "parse_dask_spec", "read_dataset",
           "store_dask_arrays", "write_dataset", "zarr_array", "zarr_group"]


class ScaleError(RuntimeError):
    """A partitioned run failed; nothing that looks complete was written."""


def _need_dask():
    try:
        import dask.dataframe  # noqa: F401
    except ImportError:
        raise ImportError("the Dask path needs dask: pip install 'agnlab[dask]'") from None


def parse_dask_spec(spec: str) -> tuple[str, int | str]:
    """``"local"`` -> ("local", cores), ``"local:N"`` -> ("local", N), an address -> ("address", spec).

    Examples
    --------
    >>> parse_dask_spec("local:3")
    ('local', 3)
    >>> parse_dask_spec("tcp://10.0.0.5:8786")
    ('address', 'tcp://10.0.0.5:8786')
    """
    text = str(spec).strip()
    if text == "local" or text.startswith("local:"):
        if text == "local":
            n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            return "local", int(n)
        count = text.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--dask {spec!r}: expected local:N with N >= 1 workers")
        return "local", int(count)
    host = text.split("://", 1)[-1]
    if ":" not in host or not host.rsplit(":", 1)[1].isdigit():
        raise ValueError(f"--dask {spec!r}: expected 'local', 'local:N' or a scheduler address such as "
                         "tcp://host:8786")
    return "address", text


@contextlib.contextmanager
def dask_client(spec: str, *, memory_limit: str | int = "auto", timeout_s: float = 20.0):
    """A ``distributed.Client`` for ``spec`` (see :func:`parse_dask_spec`), closed on exit.

    Local workers have one thread each and ``memory_limit`` each (Dask's
    syntax: ``"2GB"``; ``"auto"`` shares the machine's memory).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("--dask needs dask.distributed: pip install 'agnlab[dask]'") from None
    kind, value = parse_dask_spec(spec)
    cluster = None
    try:
        if kind == "local":
            cluster = LocalCluster(n_workers=int(value), threads_per_worker=1, processes=True,
                                   memory_limit=memory_limit, dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(value, timeout=timeout_s)
            except OSError as exc:
                raise ScaleError(f"cannot reach the Dask scheduler at {value}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def read_dataset(source, *, columns: Sequence[str] | None = None, partition_rows: int = 250_000):
    """A lazy Dask DataFrame from a Parquet file/folder/glob, a CSV glob, or an in-memory table.

    ``columns`` are checked (and only those are read from Parquet);
    a pandas DataFrame is split into partitions of ``partition_rows``.
    """
    _need_dask()
    import dask.dataframe as dd
    import pandas as pd

    from .validation import check_columns

    if isinstance(source, dd.DataFrame):
        ddf = source
    elif isinstance(source, pd.DataFrame):
        ddf = dd.from_pandas(source, npartitions=max(1, -(-len(source) // int(partition_rows))))
    else:
        text = str(source)
        path = Path(text).expanduser()
        is_glob = any(ch in text for ch in "*?[")
        if not is_glob and not path.exists():
            raise FileNotFoundError(f"dataset {text} does not exist")
        csv = text.lower().endswith(".csv") or (path.is_dir() and not any(path.rglob("*.parquet"))
                                                and any(path.glob("*.csv")))
        try:
            if csv:
                ddf = dd.read_csv(str(path / "*.csv") if path.is_dir() else text)
            else:
                ddf = dd.read_parquet(text, columns=list(columns) if columns else None)
        except Exception as exc:  # pyarrow/fsspec raise many types for unreadable files
            raise ScaleError(f"cannot read dataset {text}: {exc}") from exc
    if columns:
        check_columns(ddf._meta, list(columns), name=f"dataset {getattr(source, 'name', None) or source!s:.80}")
    return ddf


class _ThreadPin:
    """BLAS, OpenMP and torch thread limits while tasks run, safe when tasks overlap in one process.

    BLAS (OpenBLAS/MKL) and torch limits are process-wide: with Dask's threaded
    scheduler the first task to start sets them and the last to finish restores
    them, so no task sees a limit lifted under it. OpenMP's limit belongs to the
    calling thread, so every task sets (and restores) its own.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._active = 0
        self._stack = None

    def _enter_process_limits(self, threads):
        from threadpoolctl import threadpool_limits

        stack = contextlib.ExitStack()
        stack.enter_context(threadpool_limits(limits=threads, user_api="blas"))
        torch = sys.modules.get("torch")
        if torch is not None:
            old = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, old)
        return stack

    @contextlib.contextmanager
    def __call__(self, threads: int):
        from threadpoolctl import threadpool_limits

        with self._lock:
            if self._active == 0:
                self._stack = self._enter_process_limits(threads)
            self._active += 1
        try:
            with threadpool_limits(limits=threads, user_api="openmp"):
                yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._stack.close()
                    self._stack = None


_PIN = _ThreadPin()


class _Pinned:
    """``func(part, model)`` with BLAS/OpenMP and torch threads limited to ``threads`` while it runs."""

    def __init__(self, func: Callable, threads: int):
        self.func, self.threads = func, int(threads)
        self._token = uuid.uuid4().hex  # closures cannot be hashed deterministically; one graph, one token

    def __dask_tokenize__(self):
        return self._token

    def __call__(self, part, model):
        with _PIN(self.threads):
            return self.func(part, model)


def _as_strings(frame, columns, index: bool):
    """Object (text) columns and index as pandas' string dtype, which Parquet writes without guessing."""
    frame = frame.astype({c: "string" for c in columns}) if columns else frame
    if index:
        frame.index = frame.index.astype("string")
    return frame


class _StringOutput:
    """``func``'s partitions with object columns and index cast to strings (as in the Dask ``meta``)."""

    def __init__(self, func, columns, index: bool):
        self.func, self.columns, self.index = func, columns, index

    def __call__(self, part, model):
        return _as_strings(self.func(part, model), self.columns, self.index)


def map_table(func: Callable, ddf, meta, *, model=None, threads: int = 1):
    """``func(partition, model)`` on every partition of ``ddf`` (lazy Dask DataFrame with ``meta``).

    ``model`` becomes one task of the graph, so a cluster ships it to each
    worker once; threads are pinned to ``threads`` per task. Text (object or
    string) columns and index of ``meta`` become pandas' string dtype, in
    ``meta`` and in every partition, so that Parquet stores them as text.
    """
    _need_dask()
    import dask
    import pandas as pd

    if isinstance(meta, pd.DataFrame):
        def is_text(dtype):
            return pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)

        text = [c for c in meta.columns if is_text(meta[c].dtype)]
        text_index = is_text(meta.index.dtype)
        if text or text_index:
            meta = _as_strings(meta, text, text_index)
            func = _StringOutput(func, text, text_index)
    shipped = dask.delayed(model, pure=True, traverse=False) if model is not None else None
    return ddf.map_partitions(_Pinned(func, threads), shipped, meta=meta, enforce_metadata=False)


def list_files(source, suffixes: Sequence[str]) -> list[Path]:
    """The files of a folder, a glob or a single file whose suffix is one of ``suffixes``, sorted."""
    import glob

    text = str(source)
    path = Path(text).expanduser()
    if any(ch in text for ch in "*?["):
        files = [Path(p) for p in glob.glob(text)]
    elif path.is_dir():
        files = list(path.iterdir())
    elif path.exists():
        files = [path]
    else:
        raise FileNotFoundError(f"{text} does not exist")
    files = sorted(f for f in files if f.is_file() and f.name.lower().endswith(tuple(suffixes)))
    if not files:
        raise FileNotFoundError(f"{text}: no {'/'.join(suffixes)} files")
    return files


def _commit(tmp: Path, out: Path) -> Path:
    """Rename the finished temporary folder ``tmp`` to ``out`` (replacing an old ``out`` last)."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    else:
        tmp.rename(out)
    return out


def _fail(out: Path, tmp: Path, exc: BaseException):
    shutil.rmtree(tmp, ignore_errors=True)
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    why = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "KilledWorker":
        why = (f"a Dask worker died on every try of one partition ({exc}); out of memory? give workers more "
               "(--dask-memory-limit) or write smaller partitions")
    raise ScaleError(f"writing {out} failed ({why}); nothing was written there") from exc


def _new_output(out, overwrite: bool) -> tuple[Path, Path]:
    out = Path(out).expanduser()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")


def map_files(func: Callable, items, out, *, model=None, threads: int = 1, client=None, overwrite: bool = False,
              progress: bool | None = None) -> Path:
    """``func(item, folder, model)`` for every item on Dask, each writing its files into ``folder``; returns ``out``.

    ``folder`` is a temporary folder renamed to ``out`` when every item
    succeeded (:class:`ScaleError` otherwise, with nothing at ``out``). Items
    must name their files uniquely (e.g. after the input file or shard).
    """
    _need_dask()
    import dask

    out, tmp = _new_output(out, overwrite)
    tmp.mkdir()
    shipped = dask.delayed(model, pure=True, traverse=False) if model is not None else None
    run = _Pinned(lambda item, m: func(item, tmp, m), threads)
    tasks = [dask.delayed(run, pure=False)(item, shipped) for item in items]
    try:
        _compute(dask.delayed(list)(tasks), client, progress)
    except BaseException as exc:
        _fail(out, tmp, exc)
    return _commit(tmp, out)


def _compute(task, client, progress):
    if progress is None:
        from ._progress import _default_disable

        progress = not _default_disable()
    if client is not None:
        future = client.compute(task)
        if progress:
            from distributed import progress as dask_progress

            dask_progress(future)
        return future.result()
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return task.compute()
    return task.compute()


def write_dataset(ddf, out, *, overwrite: bool = False, client=None, progress: bool | None = None) -> Path:
    """Write ``ddf`` as partitioned Parquet at ``out``: under a temporary name, renamed when complete.

    Returns ``out``. Raises :class:`ScaleError` when a partition fails (the
    temporary folder is removed; an existing ``out`` is left as it was).
    """
    out, tmp = _new_output(out, overwrite)
    try:
        _compute(ddf.to_parquet(str(tmp), write_index=True, compute=False), client, progress)
    except BaseException as exc:
        _fail(out, tmp, exc)
    return _commit(tmp, out)


@contextlib.contextmanager
def zarr_group(out, *, overwrite: bool = False):
    """A new Zarr group written under a temporary name and renamed to ``out`` when the block succeeds.

    On an error inside the block the temporary store is removed and :class:`ScaleError` raised
    (an existing ``out`` is left as it was).
    """
    try:
        import zarr
    except ImportError:
        raise ImportError("Zarr output needs zarr: pip install 'agnlab[dask]'") from None
    out, tmp = _new_output(out, overwrite)
    try:
        yield zarr.open_group(str(tmp), mode="w")
    except BaseException as exc:
        _fail(out, tmp, exc)
    _commit(tmp, out)


def zarr_array(group, name: str, *, shape, dtype, chunk_rows: int = 65_536, data=None):
    """An array in ``group`` chunked by ``chunk_rows`` rows (whole rows per chunk), optionally filled with ``data``."""
    shape = tuple(int(n) for n in shape)
    chunks = (max(1, min(int(chunk_rows), shape[0] or 1)),) + shape[1:]
    create = getattr(group, "create_array", None) or group.create_dataset  # zarr 3 / zarr 2
    arr = create(name, shape=shape, chunks=chunks, dtype=dtype)
    if data is not None:
        arr[...] = data
    return arr


def store_dask_arrays(arrays, targets, *, client=None, progress: bool | None = None):
    """Compute dask arrays block by block into ``targets`` (e.g. arrays of :func:`zarr_array`), in one graph: inputs
    they share (a Parquet dataset read once) are computed once. Rows are re-chunked to each target's row
    chunks so that no two tasks write one chunk."""
    import dask
    import dask.array as da

    arrays = [a.rechunk((t.chunks[0],) + tuple(-1 for _ in a.shape[1:])) for a, t in zip(arrays, targets)]
    stored = da.store(arrays, list(targets), lock=False, compute=False)  # zero-byte placeholders per chunk
    stored = stored if isinstance(stored, (tuple, list)) else (stored,)
    _compute(dask.delayed(_done)(*stored), client, progress)
    return targets


def _done(*_stored):
    return None
