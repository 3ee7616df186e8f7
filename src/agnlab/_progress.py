"""Progress bars for long work (tqdm), quiet when nobody is watching."""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

__all__ = ["progress"]


def _default_disable() -> bool:
    flag = os.environ.get("AGNLAB_PROGRESS")
    if flag is not None:
        return flag.strip().lower() in ("0", "false", "no", "off")
    return not sys.stderr.isatty()


def progress(iterable=None, *, total=None, desc=None, disable=None, unit="it", leave=False):
    """Return a tqdm progress bar.

    Shown on an interactive terminal, hidden otherwise; ``AGNLAB_PROGRESS=1``
    forces it on and ``AGNLAB_PROGRESS=0`` off. ``disable`` overrides both.
    """
    if disable is None:
        disable = _default_disable()
    return tqdm(iterable, total=total, desc=desc, disable=disable, unit=unit, leave=leave)
