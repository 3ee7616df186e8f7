"""Checking and cleaning a long light-curve table, object by object.

One bad light curve never stops a batch: problems that can be repaired are
repaired and reported (``"fixed: ..."``), objects that cannot be used are
reported (``"rejected: ..."``) and get NaN features; only a table that cannot
be read at all (missing columns, non-numeric times or magnitudes) raises.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import check_columns
from ._classes import BAND_WAVE_UM

__all__ = ["REQUIRED_COLUMNS", "as_long_table", "clean_lightcurves"]

REQUIRED_COLUMNS = ("object_id", "mjd", "band", "mag", "mag_err")
#: magnitudes outside this range are fluxes (or a mix of units), not magnitudes
MAG_RANGE = (-5.0, 35.0)


def as_long_table(lightcurves) -> pd.DataFrame:
    """A pandas copy of a long table (pandas DataFrame or pyarrow Table), with the required columns."""
    if hasattr(lightcurves, "to_pandas") and not isinstance(lightcurves, pd.DataFrame):
        lightcurves = lightcurves.to_pandas()
    if not isinstance(lightcurves, pd.DataFrame):
        raise TypeError("lightcurves must be a pandas DataFrame or pyarrow Table with columns "
                        f"{list(REQUIRED_COLUMNS)} (+ optional 'detected'), got {type(lightcurves).__name__}")
    try:
        check_columns(lightcurves, REQUIRED_COLUMNS, name="lightcurves")
    except KeyError as exc:       # MissingColumnError: a bad table is a ValueError here
        raise ValueError(str(exc)) from None
    df = lightcurves.loc[:, [c for c in (*REQUIRED_COLUMNS, "detected") if c in lightcurves.columns]].copy()
    for col in ("mjd", "mag", "mag_err"):
        if not (pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])):
            try:
                df[col] = pd.to_numeric(df[col])
            except (ValueError, TypeError):
                raise TypeError(f"lightcurves: column {col!r} must be numeric, got dtype {df[col].dtype}") from None
        df[col] = df[col].astype(float)
    if "detected" in df.columns:
        det = df["detected"]
        if det.isna().any():
            raise ValueError("lightcurves: column 'detected' has missing values")
        df["detected"] = det.astype(bool)
    else:
        df["detected"] = True
    df["object_id"] = df["object_id"].astype(str)
    df["band"] = df["band"].astype(str)
    return df


def clean_lightcurves(lightcurves, *, bands=None):
    """Validate and repair a long table.

    Per object: rows in unknown bands (not in ``bands``, default every band
    agnlab knows: ugrizy) are dropped, rows with NaN/inf time or magnitude
    dropped, detections with NaN errors dropped, duplicated (band, time) rows
    dropped (first kept), unsorted times sorted; an object is rejected when it
    has negative or zero errors, magnitudes outside [-5, 35] (fluxes or mixed
    units), or no detection left.

    Returns
    -------
    clean : DataFrame
        Usable rows, sorted by object, band, time.
    flags : Series of str indexed by object_id
        ``"ok"``, ``"fixed: ..."`` or ``"rejected: ..."`` for every object of the input.
    """
    df = as_long_table(lightcurves).reset_index(drop=True)
    known = tuple(BAND_WAVE_UM) if bands is None else tuple(bands)
    oid = df["object_id"].to_numpy()
    notes: dict[str, list] = {}
    rejected: dict[str, list] = {}

    def per_object(mask, text, target):
        if mask.any():
            counts = pd.Series(oid[mask]).value_counts()
            for o, n in counts.items():
                target.setdefault(o, []).append(text.format(n=n))

    # ordering first (so "unsorted" means: not in time order within an object and band)
    order_ok = np.ones(len(df), bool)
    if len(df) > 1:    # within one object and band, rows kept in input order must have rising times
        grouped = df.sort_values(["object_id", "band"], kind="stable")
        same = ((grouped["object_id"].to_numpy()[1:] == grouped["object_id"].to_numpy()[:-1])
                & (grouped["band"].to_numpy()[1:] == grouped["band"].to_numpy()[:-1]))
        down = same & (np.diff(grouped["mjd"].to_numpy()) < 0)
        order_ok[grouped.index.to_numpy()[1:][down] if isinstance(df.index, pd.RangeIndex) else
                 np.flatnonzero(df.index.isin(grouped.index[1:][down]))] = False
    per_object(~order_ok, "unsorted times (sorted)", notes)
    unknown = ~df["band"].isin(known).to_numpy()
    if unknown.any():
        bad_names = df.loc[unknown].groupby("object_id")["band"].agg(lambda s: sorted(set(s)))
        for o, names in bad_names.items():
            notes.setdefault(o, []).append(f"{int((oid == o)[unknown].sum())} rows in unknown band(s) {names} dropped")
    mjd, mag, err = (df[c].to_numpy() for c in ("mjd", "mag", "mag_err"))
    det = df["detected"].to_numpy()
    bad_val = ~np.isfinite(mjd) | ~np.isfinite(mag)
    per_object(bad_val & ~unknown, "{n} rows with NaN/inf time or magnitude dropped", notes)
    nan_err = det & np.isnan(err) & ~bad_val
    per_object(nan_err & ~unknown, "{n} detections with NaN error dropped", notes)
    keep = ~unknown & ~bad_val & ~nan_err
    neg = keep & det & (err <= 0)
    per_object(neg, "{n} negative or zero errors", rejected)
    out_range = keep & ((mag < MAG_RANGE[0]) | (mag > MAG_RANGE[1]))
    per_object(out_range, "{n} magnitudes outside [-5, 35] (fluxes or mixed units?)", rejected)
    clean = df.loc[keep]
    dup = clean.duplicated(["object_id", "band", "mjd"], keep="first").to_numpy()
    per_object_dup = pd.Series(clean["object_id"].to_numpy()[dup]).value_counts()
    for o, n in per_object_dup.items():
        notes.setdefault(o, []).append(f"{n} duplicated times dropped")
    clean = clean.loc[~dup]
    n_det = clean.groupby("object_id")["detected"].sum()
    all_ids = pd.unique(oid)
    for o in all_ids:
        if n_det.get(o, 0) == 0 and o not in rejected:
            rejected[o] = ["no usable detection"]
    if rejected:
        clean = clean.loc[~clean["object_id"].isin(list(rejected))]
    clean = clean.sort_values(["object_id", "band", "mjd"], kind="stable").reset_index(drop=True)
    flags = {}
    for o in all_ids:
        if o in rejected:
            flags[o] = "rejected: " + "; ".join(rejected[o] + notes.get(o, []))
        elif o in notes:
            flags[o] = "fixed: " + "; ".join(notes[o])
        else:
            flags[o] = "ok"
    return clean, pd.Series(flags, name="flag", dtype=object).rename_axis("object_id")
