"""Write to a temporary name in the destination folder, then move into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success move it to ``path``.

    Nothing is left half-written: on an exception the temporary file is
    removed and ``path`` keeps its old content (or stays absent). The
    temporary name keeps the suffix of ``path`` so suffix-sensitive writers
    (``np.savez``, astropy) behave.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers create the file themselves
    tmp = Path(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {path}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
