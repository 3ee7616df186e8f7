"""Spectroscopic confirmation: class and redshift-quality filters for SDSS / DESI-like tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._columns import _as_frame, _lower_columns, require_columns

__all__ = ["filter_spectra"]

_CLASS_COLUMNS = ("class", "spectype")
_WARN_COLUMNS = ("zwarning", "zwarn")


def filter_spectra(table, *, classes=("QSO",), z_min=None, z_max=None, class_column=None,
                   zwarning_column=None, z_column="z", deltachi2_min=None):
    """Keep spectra of the wanted classes with reliable redshifts; report counts per reason.

    Parameters
    ----------
    table : pandas.DataFrame or astropy Table
        SDSS-like (``class``, ``z``, ``zwarning``) or DESI-like (``spectype``,
        ``z``, ``zwarn``, ``deltachi2``) columns (case-insensitive).
    classes : sequence of str or None
        Accepted classes (compared case-insensitively after stripping blanks);
        None keeps every class (no class column needed).
    z_min, z_max : float, optional
        Redshift range.
    deltachi2_min : float, optional
        Minimum ``deltachi2`` (DESI redshift confidence; e.g. 25).

    Returns
    -------
    mask : ndarray of bool, shape (n,)
    report : pandas.DataFrame
        ``step``, ``removed``, ``remaining``, ``detail``.
    """
    if z_min is not None and z_max is not None and not z_min <= z_max:
        raise ValueError(f"z_min={z_min} > z_max={z_max}: empty redshift range")
    df = _lower_columns(_as_frame(table))
    class_column = class_column or next((c for c in _CLASS_COLUMNS if c in df.columns), "class")
    zwarning_column = zwarning_column or next((c for c in _WARN_COLUMNS if c in df.columns), None)
    require_columns(df, (z_column,) if classes is None else (class_column, z_column), name="spectroscopic table")
    n = len(df)
    alive = np.ones(n, bool)
    rows = []

    def step(name, keep, detail):
        nonlocal alive
        removed = int((alive & ~keep).sum())
        alive &= keep
        rows.append({"step": name, "removed": removed, "remaining": int(alive.sum()), "detail": detail})

    if classes is None:
        rows.append({"step": "class", "removed": 0, "remaining": n, "detail": "skipped: any class"})
    else:
        want = {str(c).strip().upper() for c in classes}
        cls = df[class_column].astype(str).str.strip().str.upper()
        step("class", cls.isin(want).to_numpy(), f"{class_column} in {sorted(want)}")
    z = pd.to_numeric(df[z_column], errors="coerce").to_numpy(float)
    step("z_finite", np.isfinite(z), f"{z_column} finite")
    if zwarning_column is not None:
        zw = pd.to_numeric(df[zwarning_column], errors="coerce").to_numpy()
        step("zwarning", zw == 0, f"{zwarning_column} == 0")
    else:
        rows.append({"step": "zwarning", "removed": 0, "remaining": int(alive.sum()),
                     "detail": "skipped: no zwarning/zwarn column"})
    if deltachi2_min is not None:
        require_columns(df, ("deltachi2",), name="spectroscopic table (deltachi2_min given)")
        dc = pd.to_numeric(df["deltachi2"], errors="coerce").to_numpy(float)
        step("deltachi2", np.nan_to_num(dc, nan=-np.inf) >= deltachi2_min, f"deltachi2 >= {deltachi2_min}")
    if z_min is not None or z_max is not None:
        lo = -np.inf if z_min is None else z_min
        hi = np.inf if z_max is None else z_max
        with np.errstate(invalid="ignore"):
            step("z_range", (z >= lo) & (z <= hi), f"{lo} <= z <= {hi}")
    return alive, pd.DataFrame(rows, columns=["step", "removed", "remaining", "detail"])
