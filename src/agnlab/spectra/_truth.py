"""Truth tables of spectra: quasar redshifts and per-spectrum DLA lists, checked against the spectra."""

from __future__ import annotations

import numpy as np

from ..validation import check_columns

__all__ = ["truth_dlas", "truth_z"]


def truth_z(truth, n: int) -> np.ndarray:
    """``z_qso`` column of a truth table as float array, checked against ``n`` spectra."""
    if isinstance(truth, (np.ndarray, list, tuple)) and np.ndim(truth) == 1:
        try:
            z = np.asarray(truth, dtype=float)
        except (TypeError, ValueError):
            raise TypeError("truth: z_qso values must be numbers") from None
    else:
        check_columns(truth, ["z_qso"], name="truth")
        try:
            z = np.asarray(truth["z_qso"], dtype=float)
        except (TypeError, ValueError):
            raise TypeError("truth: z_qso values must be numbers") from None
    if z.shape != (n,):
        raise ValueError(f"truth: z_qso has {z.size} rows but there are {n} spectra")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"truth: {int((~np.isfinite(z)).sum())} non-finite z_qso values")
    if np.any(z <= 0):
        raise ValueError(f"truth: {int((z <= 0).sum())} z_qso values <= 0")
    return z


def _as_list(v):
    if v is None:
        return np.zeros(0)
    if isinstance(v, str):
        v = v.strip().strip("[]")
        return np.array([float(x) for x in v.replace(",", " ").split()]) if v else np.zeros(0)
    arr = np.atleast_1d(np.asarray(v, dtype=float))
    return arr[np.isfinite(arr)]


def truth_dlas(truth, n: int, *, dlas=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-spectrum DLA lists ``[(z_dla (k,), log_nhi (k,)), ...]`` from a truth table.

    Accepted layouts:

    * a table whose ``z_dla`` and ``log_nhi`` columns hold one sequence per
      spectrum (lists, arrays or strings such as ``"[2.31 2.85]"``), used
      first when present;
    * a separate per-DLA table ``dlas`` with columns ``spec_index`` (or
      ``qso_index`` / ``index``), ``z_dla`` (or ``z_abs``) and ``log_nhi``, passed as ``dlas``
      or found as ``truth.attrs['dlas']``; the simulator's ``absorbers`` table (every H I system
      with log N >= 17.2) is accepted too, so the lists can hold sub-DLAs.
    """
    cols = list(getattr(truth, "columns", getattr(truth, "colnames", [])))
    if dlas is None and not ("z_dla" in cols and "log_nhi" in cols) and isinstance(getattr(truth, "attrs", None), dict):
        dlas = truth.attrs.get("dlas")
    if dlas is not None:
        idx_col = next((c for c in ("spec_index", "qso_index", "index", "row") if c in list(dlas.columns)), None)
        if idx_col is None:
            raise ValueError(f"dlas table needs a spec_index column; has {list(dlas.columns)}")
        zname = "z_abs" if "z_abs" in list(dlas.columns) and "z_dla" not in list(dlas.columns) else "z_dla"
        check_columns(dlas, [zname, "log_nhi"], name="dlas")
        idx = np.asarray(dlas[idx_col], dtype=int)
        zd = np.asarray(dlas[zname], dtype=float)
        nh = np.asarray(dlas["log_nhi"], dtype=float)
        return [(zd[idx == i], nh[idx == i]) for i in range(n)]
    check_columns(truth, ["z_dla", "log_nhi"], name="truth")
    zcol, ncol = truth["z_dla"], truth["log_nhi"]
    zcol = zcol.to_numpy() if hasattr(zcol, "to_numpy") else np.asarray(zcol, dtype=object)
    ncol = ncol.to_numpy() if hasattr(ncol, "to_numpy") else np.asarray(ncol, dtype=object)
    if len(zcol) != n:
        raise ValueError(f"truth: z_dla has {len(zcol)} rows but there are {n} spectra")
    out = []
    for i in range(n):
        zd, nh = _as_list(zcol[i]), _as_list(ncol[i])
        if zd.size != nh.size:
            raise ValueError(f"truth row {i}: {zd.size} z_dla values but {nh.size} log_nhi values")
        out.append((zd, nh))
    return out
