"""Validation at the boundary: every error names the input and the problem."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np
from sklearn.exceptions import NotFittedError

__all__ = [
    "MissingColumnError",
    "check_array",
    "check_columns",
    "check_is_fitted",
    "check_random_state",
    "from_dict",
    "table_name",
]


class MissingColumnError(KeyError):
    """A table lacks columns that are required."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def check_array(x, *, name: str, ndim=None, shape=None, finite: bool = True,
                positive: bool = False, dtype=float) -> np.ndarray:
    """Convert ``x`` to an array and check it, raising ``ValueError`` naming ``name``.

    Parameters
    ----------
    x : array_like
    name : str
        Name used in error messages (e.g. ``"params"``).
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries match any length.
    finite : bool
        Reject NaN and infinities.
    positive : bool
        Reject values <= 0 (e.g. before a logarithm).
    dtype : numpy dtype or None
        Convert to this dtype (``None`` keeps the input dtype).
    """
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot convert to a numeric array ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if np.isscalar(ndim) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name}: expected {' or '.join(map(str, allowed))}-D array, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = tuple("any" if s is None else s for s in shape)
            raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: array is empty (shape {arr.shape})")
    if finite and np.issubdtype(arr.dtype, np.number):
        bad = ~np.isfinite(arr)
        if bad.any():
            n_nan = int(np.isnan(arr).sum())
            raise ValueError(f"{name}: {int(bad.sum())} non-finite values ({n_nan} NaN, "
                             f"{int(bad.sum()) - n_nan} inf) out of {arr.size}")
    if positive:
        nonpos = arr <= 0
        if nonpos.any():
            raise ValueError(f"{name}: {int(nonpos.sum())} values <= 0 out of {arr.size}; "
                             "positive values are required (a logarithm is taken)")
    return arr


def _column_names(table) -> list[str]:
    if hasattr(table, "colnames"):  # astropy Table
        return list(table.colnames)
    if hasattr(table, "columns"):  # pandas DataFrame
        return [str(c) for c in table.columns]
    if isinstance(table, Mapping):
        return list(table.keys())
    raise TypeError(f"expected a table (pandas DataFrame, astropy Table or mapping), got {type(table).__name__}")


def check_columns(table, required: Iterable[str], *, name: str = "table") -> None:
    """Raise :class:`MissingColumnError` listing every required column ``table`` lacks."""
    have = _column_names(table)
    missing = [c for c in required if c not in have]
    if missing:
        raise MissingColumnError(f"{table_name(table, name)}: missing column(s) {missing}; available: {have}")


def table_name(table, name: str = "table") -> str:
    """``name`` for messages, prefixed by the file ``table`` was read from (``agnlab.io.read_table`` records it)."""
    attrs = getattr(table, "attrs", None)
    source = attrs.get("source") if isinstance(attrs, dict) else None
    if source and source not in name:
        return f"{source} ({name})"
    return name


def check_is_fitted(estimator, attributes) -> None:
    """Raise sklearn's ``NotFittedError`` unless every attribute in ``attributes`` is set."""
    if isinstance(attributes, str):
        attributes = [attributes]
    if not all(getattr(estimator, a, None) is not None for a in attributes):
        raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet; call 'fit' first.")


def check_random_state(seed) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from an int, a Generator (used as is), or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"random_state/seed must be an int or numpy Generator, got {type(seed).__name__}")


def from_dict(cls, data: Mapping):
    """Build dataclass ``cls`` from ``data``, rejecting unknown fields by name."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TypeError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}")
    return cls(**dict(data))
