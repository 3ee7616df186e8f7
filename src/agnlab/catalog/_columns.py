"""Catalogue readers and boundary checks: AllWISE column names, sentinels, positions."""

from __future__ import annotations

import difflib
import warnings

import numpy as np
import pandas as pd

from ..validation import MissingColumnError, table_name

__all__ = [
    "ALLWISE_COLUMNS",
    "WISE_BANDS",
    "clean_photometry",
    "read_catalog",
    "validate_positions",
]

#: WISE bands as used in AllWISE column names.
WISE_BANDS = ("w1", "w2", "w3", "w4")

#: AllWISE catalogue columns understood by agnlab (lower case, as in IRSA).
ALLWISE_COLUMNS = (
    ("ra", "dec")
    + tuple(f"{b}mpro" for b in WISE_BANDS)
    + tuple(f"{b}sigmpro" for b in WISE_BANDS)
    + tuple(f"{b}snr" for b in WISE_BANDS)
    + ("cc_flags", "ext_flg", "ph_qual")
)

#: Values that AllWISE-like tables and their derivatives use for "no measurement".
DEFAULT_SENTINELS = (99.0, 99.99, 999.0, 9999.0, -99.0, -999.0, -9999.0)

# Plausible range of WISE Vega profile-fit magnitudes; values outside are not magnitudes.
_MAG_RANGE = (-5.0, 30.0)


def _as_frame(table) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    if hasattr(table, "to_pandas"):  # astropy Table
        return table.to_pandas()
    if isinstance(table, dict):
        return pd.DataFrame(table)
    raise TypeError(f"expected a pandas DataFrame, astropy Table or dict of columns, got {type(table).__name__}")


def _lower_columns(df: pd.DataFrame) -> pd.DataFrame:
    lower = [str(c).lower() for c in df.columns]
    dup = sorted({c for c in lower if lower.count(c) > 1})
    if dup:
        raise ValueError(f"columns {dup} appear more than once when case is ignored")
    if lower != list(df.columns):
        df = df.rename(columns=dict(zip(df.columns, lower)))
    return df


def require_columns(df: pd.DataFrame, required, *, name: str = "table") -> None:
    """Raise :class:`~agnlab.validation.MissingColumnError` listing missing columns with suggestions."""
    have = [str(c) for c in df.columns]
    missing = [c for c in required if c not in have]
    if not missing:
        return
    hints = []
    for c in missing:
        close = difflib.get_close_matches(c, have, n=2, cutoff=0.5)
        if close:
            hints.append(f"{c!r} (did you mean {' or '.join(map(repr, close))}? pass rename={{{close[0]!r}: {c!r}}})")
        else:
            hints.append(repr(c))
    raise MissingColumnError(f"{table_name(df, name)}: missing column(s) {', '.join(hints)}; available: {have}")


def _table_with_units_checked(tab, *, name):
    """astropy Table -> DataFrame: positions converted to degrees, magnitude columns must be magnitudes."""
    from astropy import units as u

    tab = tab.copy(copy_data=False)
    for col in list(tab.colnames):
        unit = getattr(tab[col], "unit", None)
        low = col.lower()
        if unit is None:
            continue
        if low in ("ra", "dec"):
            try:
                tab[col] = u.Quantity(tab[col]).to_value(u.deg)
            except u.UnitConversionError:
                raise ValueError(f"{name}: column {col!r} has unit {unit}, not an angle") from None
        elif low.endswith("mpro") or low.endswith("sigmpro"):
            if not (unit.physical_type == "dimensionless" or "mag" in unit.to_string().lower()):
                raise ValueError(f"{name}: column {col!r} has unit {unit}; Vega magnitudes are required "
                                 "(convert fluxes to magnitudes first)")
    multi = [c for c in tab.colnames if len(tab[c].shape) > 1]
    if multi:
        tab.remove_columns(multi)
    return tab.to_pandas()


def read_catalog(source, *, required=("ra", "dec"), rename=None, name="catalogue") -> pd.DataFrame:
    """Read a catalogue (FITS, Parquet, CSV, HDF5 or an in-memory table) with AllWISE column names.

    Column names are lower-cased (FITS files often use ``RA``, ``W1MPRO``), then
    ``rename`` is applied, then ``required`` columns are checked. Units of FITS
    tables / astropy Tables are checked: ``ra``/``dec`` are converted to degrees
    (e.g. from radians or hour angles), magnitude columns with a non-magnitude
    unit (e.g. Jy) raise ``ValueError``.

    Parameters
    ----------
    source : str, Path, pandas.DataFrame or astropy.table.Table
    required : sequence of str
        Columns that must be present after renaming (e.g. ``("ra", "dec", "w1mpro", "w2mpro")``).
    rename : dict, optional
        Map from the table's (lower-cased) names to agnlab's names, e.g. ``{"w1mag": "w1mpro"}``.
    name : str
        Used in error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with normalised column names.

    Raises
    ------
    MissingColumnError
        Listing every missing column and close matches among the available names.
    """
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        from pathlib import Path

        path = Path(source)
        if path.name.lower().endswith((".fits", ".fit", ".fits.gz", ".fit.gz")) and path.exists():
            from astropy.table import Table

            if path.stat().st_size == 0:
                raise ValueError(f"{path}: empty file, expected a FITS table")
            try:
                source = Table.read(path, hdu=1, format="fits")
            except (OSError, ValueError, TypeError, IndexError, EOFError) as exc:
                raise ValueError(f"{path}: cannot read FITS table ({type(exc).__name__}: {exc})") from None
            df = _table_with_units_checked(source, name=name)
            df.attrs["source"] = str(path)
        else:
            from ..io import read_table

            df = read_table(source)
    elif hasattr(source, "colnames"):
        df = _table_with_units_checked(source, name=name)
    else:
        df = _as_frame(source).copy()
    df = _lower_columns(df)
    if rename:
        df = df.rename(columns={str(k).lower(): v for k, v in rename.items()})
    require_columns(df, required, name=name)
    return df


def validate_positions(table, *, on_invalid: str = "drop", name: str = "catalogue"):
    """Check ``ra``/``dec`` (degrees): NaN, RA outside [0, 360), Dec outside [-90, 90].

    Parameters
    ----------
    table : pandas.DataFrame
        With columns ``ra`` and ``dec`` in degrees.
    on_invalid : {"drop", "raise", "flag"}
        ``"drop"`` removes bad rows, ``"raise"`` raises ``ValueError`` with counts,
        ``"flag"`` keeps every row (``valid`` mask returned).

    Returns
    -------
    valid : ndarray of bool, shape (n,)
        Rows with usable positions.
    counts : dict
        ``{"nan_position": n, "ra_out_of_range": n, "dec_out_of_range": n}`` (disjoint).
    """
    if on_invalid not in ("drop", "raise", "flag"):
        raise ValueError(f"on_invalid must be 'drop', 'raise' or 'flag', got {on_invalid!r}")
    df = _as_frame(table)
    require_columns(df, ("ra", "dec"), name=name)
    try:
        ra = pd.to_numeric(df["ra"], errors="coerce").to_numpy(dtype=float)
        dec = pd.to_numeric(df["dec"], errors="coerce").to_numpy(dtype=float)
    except TypeError as exc:
        raise ValueError(f"{name}: ra/dec are not numeric ({exc})") from None
    nan = ~(np.isfinite(ra) & np.isfinite(dec))
    with np.errstate(invalid="ignore"):
        bad_ra = ~nan & ((ra < 0.0) | (ra >= 360.0))
        bad_dec = ~nan & ~bad_ra & ((dec < -90.0) | (dec > 90.0))
    counts = {
        "nan_position": int(nan.sum()),
        "ra_out_of_range": int(bad_ra.sum()),
        "dec_out_of_range": int(bad_dec.sum()),
    }
    valid = ~(nan | bad_ra | bad_dec)
    good = valid.sum()
    if (good > 1000 and np.nanmax(np.abs(ra[valid])) <= 2 * np.pi + 1e-9
            and np.nanmax(np.abs(dec[valid])) <= np.pi / 2 + 1e-9):
        warnings.warn(f"{name}: all ra/dec lie within [0, 2pi] x [-pi/2, pi/2]; are they radians? "
                      "agnlab expects degrees", stacklevel=2)
    if on_invalid == "raise" and not valid.all():
        raise ValueError(f"{name}: invalid positions: {counts} (ra must be in [0, 360) deg, dec in [-90, 90] deg)")
    return valid, counts


def clean_photometry(table, *, bands=("w1", "w2", "w3"), sentinels=DEFAULT_SENTINELS,
                     mag_range=_MAG_RANGE, name="catalogue"):
    """Replace sentinel / null magnitudes by NaN and count them per band.

    Parameters
    ----------
    table : pandas.DataFrame
        With ``{band}mpro`` columns (Vega magnitudes) and optionally ``{band}sigmpro``.
    bands : sequence of str
        Bands to check (``"w1"``...``"w4"``).
    sentinels : sequence of float
        Values meaning "no measurement" (e.g. 99).
    mag_range : (float, float)
        Values outside are treated as invalid; if most values fall outside, a
        ``ValueError`` says the column does not look like Vega magnitudes.

    Returns
    -------
    cleaned : pandas.DataFrame
        Copy with NaN in place of invalid magnitudes (and of negative errors).
    counts : dict
        ``{"w1mpro": {"null": n, "sentinel": n, "out_of_range": n}, ...}``.
    """
    df = _as_frame(table).copy()
    cols = [f"{b.lower()}mpro" for b in bands]
    require_columns(df, cols, name=name)
    counts = {}
    for b, col in zip(bands, cols):
        raw = df[col]
        vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        null = ~np.isfinite(vals)
        sent = np.zeros_like(null)
        for s in sentinels:
            sent |= np.isclose(vals, s, rtol=0.0, atol=1e-6)
        with np.errstate(invalid="ignore"):
            oor = ~null & ~sent & ((vals < mag_range[0]) | (vals > mag_range[1]))
        n_meas = int((~null & ~sent).sum())
        if n_meas > 10 and oor.sum() > 0.5 * n_meas:
            raise ValueError(
                f"{name}: column {col!r} does not look like Vega magnitudes: {int(oor.sum())} of {n_meas} "
                f"measured values lie outside {mag_range} (median {np.nanmedian(vals[~null & ~sent]):.3g}); "
                "fluxes or another unit?")
        vals = np.where(null | sent | oor, np.nan, vals)
        df[col] = vals
        counts[col] = {"null": int(null.sum()), "sentinel": int(sent.sum()), "out_of_range": int(oor.sum())}
        sig = f"{b.lower()}sigmpro"
        if sig in df.columns:
            s = pd.to_numeric(df[sig], errors="coerce").to_numpy(dtype=float)
            s_bad = np.isfinite(s) & ((s < 0) | np.isin(np.round(s, 6), np.asarray(sentinels, float)))
            df[sig] = np.where(s_bad | ~np.isfinite(vals), np.nan, s)
            counts[col]["bad_error"] = int(s_bad.sum())
    return df, counts
