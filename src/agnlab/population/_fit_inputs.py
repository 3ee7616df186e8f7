"""Reading PopulationFit's inputs: observed colours (arrays or tables by column name), WISE magnitude
errors, W2 magnitudes and track libraries."""

from __future__ import annotations

import numpy as np

from ..validation import check_array, table_name

_MAG_COLUMNS = ("w1mpro", "w2mpro", "w3mpro")
_SIG_COLUMNS = ("w1sigmpro", "w2sigmpro", "w3sigmpro")


def _table_columns(table):
    if hasattr(table, "columns"):
        return [str(c) for c in table.columns]
    if hasattr(table, "colnames"):
        return list(table.colnames)
    return [str(c) for c in table]


def _numeric_column(table, name):
    try:
        return np.asarray(table[name], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"observed_colors: column {name!r} is not numeric ({exc})") from None


def _observed_array(observed_colors, columns):
    """(n_objects, 2) colours, (n_objects, 2) errors or None, and a note on where the errors came from.

    Tables are read by column name, never by position: the colour columns ``columns``, or else the
    WISE magnitudes ``w1mpro, w2mpro, w3mpro``; colour errors from ``w1sigmpro, w2sigmpro, w3sigmpro``
    when present (a magnitude without its error, e.g. an AllWISE W3 upper limit, gives a NaN error).
    """
    is_table = hasattr(observed_colors, "columns") or hasattr(observed_colors, "colnames") or \
        isinstance(observed_colors, dict)
    if not is_table:
        return check_array(observed_colors, name="observed_colors", ndim=2, finite=False), None, None
    have = _table_columns(observed_colors)
    cols = [str(c) for c in columns]
    sig = None
    if all(c in have for c in cols):
        obs = np.column_stack([_numeric_column(observed_colors, c) for c in cols])
        if all(c in have for c in _SIG_COLUMNS):
            sig = np.column_stack([_numeric_column(observed_colors, c) for c in _SIG_COLUMNS])
    elif all(c in have for c in _MAG_COLUMNS):
        m = np.column_stack([_numeric_column(observed_colors, c) for c in _MAG_COLUMNS])
        obs = np.column_stack([m[:, 0] - m[:, 1], m[:, 1] - m[:, 2]])
        if all(c in have for c in _SIG_COLUMNS):
            sig = np.column_stack([_numeric_column(observed_colors, c) for c in _SIG_COLUMNS])
    else:
        missing = [c for c in cols if c not in have]
        raise ValueError(f"{table_name(observed_colors, 'observed_colors')}: missing column(s) {missing} "
                         f"(set color_columns=... to the names of the two colours, or give the WISE magnitudes "
                         f"{list(_MAG_COLUMNS)}); available: {have}")
    if sig is None:
        return obs, None, None
    return obs, _color_errors(sig), "catalogue columns " + ", ".join(_SIG_COLUMNS)


def _observed_w2(table, observed_w2, n):
    """W2 magnitudes of the observed sources (``observed_w2`` or the table's ``w2mpro``), or None."""
    if observed_w2 is not None:
        return check_array(observed_w2, name="observed_w2", shape=(n,), finite=False)
    is_table = hasattr(table, "columns") or hasattr(table, "colnames") or isinstance(table, dict)
    if is_table and "w2mpro" in _table_columns(table):
        return _numeric_column(table, "w2mpro")
    return None


def _color_errors(mag_err):
    """Errors of the W1, W2, W3 magnitudes (n, 3) -> (err W1-W2, err W2-W3, shared W2 error) (n, 3)."""
    return np.column_stack([np.hypot(mag_err[:, 0], mag_err[:, 1]), np.hypot(mag_err[:, 1], mag_err[:, 2]),
                            mag_err[:, 1]])


def _track_array(track_colors) -> np.ndarray:
    """(n_tracks, n_angles, 2) numeric array (its dtype kept: track libraries are large float32 arrays)."""
    tc = np.asarray(track_colors)
    if not (np.issubdtype(tc.dtype, np.floating) or np.issubdtype(tc.dtype, np.integer)):
        raise TypeError(f"track_colors: expected numbers, got an array of dtype {tc.dtype}")
    if tc.ndim != 3 or tc.shape[2] != 2:
        raise ValueError(f"track_colors: expected shape (n_tracks, n_angles, 2), got {tc.shape}")
    if tc.size == 0:
        raise ValueError(f"track_colors: array is empty (shape {tc.shape})")
    return tc
