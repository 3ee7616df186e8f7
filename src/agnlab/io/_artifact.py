"""Safe model artifacts: arrays and JSON metadata in one ``.npz``, no pickle.

Loading never executes code: ``numpy.load(..., allow_pickle=False)`` refuses
object arrays, and the metadata is plain JSON.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import json
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from ._json import to_jsonable
from ._npz import NpzError, read_npz

__all__ = ["ArtifactError", "save_artifact", "load_artifact"]

_META_KEY = "__agnlab_metadata__"
FORMAT_VERSION = 1

#: the command line that is running (set by ``agnlab.cli.main``), recorded in every artifact it writes
CREATION_COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("agnlab_command", default=None)


class ArtifactError(ValueError):
    """A model file is corrupt, truncated, of the wrong kind, or unsafe."""


def save_artifact(path, *, kind: str, arrays: dict, metadata: dict | None = None) -> Path:
    """Save ``arrays`` and ``metadata`` to ``path`` (a ``.npz``), atomically.

    Parameters
    ----------
    path : str or Path
        Destination; ``.npz`` is appended when missing.
    kind : str
        What the file holds, e.g. ``"agnlab.emulate.NeuralEmulator"``;
        :func:`load_artifact` can insist on it.
    arrays : dict of str -> ndarray
        Numeric arrays only (object arrays are refused).
    metadata : dict
        JSON-serialisable description (parameter names, ranges, metrics...).
    """
    from .. import __version__

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    clean = {}
    for key, value in arrays.items():
        if key == _META_KEY:
            raise ValueError(f"array name {key!r} is reserved")
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ValueError(f"array {key!r} has dtype object; only numeric/string arrays can be saved safely")
        clean[key] = arr
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "agnlab_version": __version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": CREATION_COMMAND.get(),
        "metadata": to_jsonable(metadata or {}),
    }
    try:
        blob = json.dumps(meta, allow_nan=True).encode("utf-8")
    except TypeError as exc:
        raise ValueError(f"metadata is not JSON-serialisable: {exc}") from None
    clean[_META_KEY] = np.frombuffer(blob, dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **clean)
    return path


def load_artifact(path, *, kind: str | None = None):
    """Load an artifact written by :func:`save_artifact`.

    Returns
    -------
    arrays : dict of str -> ndarray
    metadata : dict
        The ``metadata`` given at save time, plus ``"_kind"``,
        ``"_agnlab_version"`` and ``"_created_utc"``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ArtifactError
        Not an agnlab artifact, corrupt or truncated, holds pickled objects,
        or is of another ``kind``.
    """
    path = Path(path)
    try:
        arrays = read_npz(path, what="agnlab model file")
    except NpzError as exc:
        raise ArtifactError(str(exc)) from None
    blob = arrays.pop(_META_KEY, None)
    if blob is None:
        raise ArtifactError(f"{path}: no agnlab metadata; not an agnlab model file")
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict) or "kind" not in meta:
        raise ArtifactError(f"{path}: malformed metadata")
    if kind is not None and meta["kind"] != kind:
        raise ArtifactError(f"{path}: holds a {meta['kind']!r}, expected {kind!r}")
    out = dict(meta.get("metadata", {}))
    out["_kind"] = meta["kind"]
    out["_agnlab_version"] = meta.get("agnlab_version")
    out["_created_utc"] = meta.get("created_utc")
    out["_command"] = meta.get("command")
    return arrays, out
