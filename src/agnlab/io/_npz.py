"""Plain ``.npz`` archives read safely: no pickle, every failure names the file."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["NpzError", "read_npz"]


class NpzError(ValueError):
    """An ``.npz`` file is empty, truncated, corrupt, not an archive, or holds pickled objects."""


def read_npz(path, *, what: str = "npz file") -> dict:
    """All arrays of ``path`` as ``{name: ndarray}``, read with ``allow_pickle=False``.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file should be (``"model file"``, ``"grid"``...), used in messages.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    NpzError
        Empty, truncated or corrupt file, not a zip archive, or pickled content;
        the message starts with the path.
    """
    path = Path(path)
    a = f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if path.is_dir():
        raise NpzError(f"{path}: is a folder, expected {a} (.npz)")
    if path.stat().st_size == 0:
        raise NpzError(f"{path}: empty file, expected {a} (.npz)")
    if not zipfile.is_zipfile(path):
        raise NpzError(f"{path}: not {a} (not an npz archive; corrupt, truncated or another file type)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise NpzError(f"{path}: contains pickled objects; refused (loading could execute code)") from None
        raise NpzError(f"{path}: corrupt {what} ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, RuntimeError) as exc:
        raise NpzError(f"{path}: corrupt or truncated {what} ({type(exc).__name__}: {exc})") from None
