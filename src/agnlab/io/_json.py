"""Numpy-aware conversion of nested values to plain JSON types."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(obj, *, nan_to_none: bool = False):
    """Convert dicts, sequences, numpy arrays/scalars and paths to JSON-ready Python values.

    ``nan_to_none=True`` maps NaN and infinities to ``None`` (strict JSON has no NaN).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v, nan_to_none=nan_to_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, nan_to_none=nan_to_none) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), nan_to_none=nan_to_none)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if nan_to_none and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
