"""Readers for the light-curve formats users have; each returns the long table of this workflow.

* ZTF alert packets (Avro, https://github.com/ZwickyTransientFacility/ztf-avro-alert): the
  ``candidate`` and the ``prv_candidates`` history; history entries without ``magpsf`` are upper
  limits at ``diffmaglim``. ``fid`` 1, 2, 3 are g, r, i; times are ``jd - 2400000.5``.
* ZTF data-release light curves (Parquet or CSV): ``oid``/``objectid``, ``mjd``/``hmjd``,
  ``filtercode`` (zg, zr, zi) or ``fid``, ``mag``, ``magerr``, ``catflags``; epochs with
  ``catflags != 0`` are dropped and counted.
* A generic long table with columns renamed by a mapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._validate import as_long_table

__all__ = ["read_lightcurves", "read_ztf_alerts", "read_ztf_dr"]

_FID = {1: "g", 2: "r", 3: "i"}
_FILTERCODE = {"zg": "g", "zr": "r", "zi": "i"}


def read_ztf_alerts(paths) -> pd.DataFrame:
    """Long table from ZTF alert Avro files (one or many packets per file); duplicates across alerts merged.

    Parameters
    ----------
    paths : path or sequence of paths
    """
    rows = []
    for path, packets in alert_packets(paths):
        try:
            for packet in packets:
                oid = str(packet["objectId"])
                for c in [packet["candidate"], *(packet.get("prv_candidates") or [])]:
                    if c is None or c.get("jd") is None or c.get("fid") not in _FID:
                        continue
                    det = c.get("magpsf") is not None
                    mag = c["magpsf"] if det else c.get("diffmaglim")
                    if mag is None:
                        continue
                    rows.append((oid, float(c["jd"]) - 2400000.5, _FID[c["fid"]], float(mag),
                                 float(c["sigmapsf"]) if det and c.get("sigmapsf") is not None else np.nan, det))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: not a readable ZTF alert file ({type(exc).__name__}: {exc})") from None
    df = pd.DataFrame(rows, columns=["object_id", "mjd", "band", "mag", "mag_err", "detected"])
    # the same epoch appears in every later alert's history: keep one (a detection over a limit)
    df = df.sort_values(["object_id", "band", "mjd", "detected"], ascending=[True, True, True, False])
    df = df.drop_duplicates(["object_id", "band", "mjd"], keep="first")
    return df.sort_values(["object_id", "mjd"], kind="stable").reset_index(drop=True)


def alert_packets(paths):
    """``(path, packets)`` for each ZTF Avro alert file, in order.

    A missing file raises FileNotFoundError, a file that is not Avro ValueError naming it.
    """
    import fastavro

    for path in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        if not path.exists():
            raise FileNotFoundError(f"alert file not found: {path}")
        try:
            with open(path, "rb") as fh:
                packets = list(fastavro.reader(fh))
        except (ValueError, KeyError, TypeError, EOFError, OSError) as exc:
            raise ValueError(f"{path}: not a readable ZTF alert file ({type(exc).__name__}: {exc})") from None
        yield path, packets


def _pick(df, names, what, path):
    for n in names:
        if n in df.columns:
            return n
    raise ValueError(f"{path}: no {what} column (looked for {list(names)}; have {list(df.columns)})")


def read_ztf_dr(path) -> pd.DataFrame:
    """Long table from a ZTF data-release light-curve file (Parquet or CSV).

    Flagged epochs (``catflags != 0``) are dropped; their number is in ``df.attrs["n_flagged_dropped"]``
    (and per object in ``df.attrs["flagged_per_object"]``).
    """
    from ..io import read_table

    raw = read_table(path)
    oid = _pick(raw, ("oid", "objectid", "object_id"), "object id", path)
    t = _pick(raw, ("mjd", "hmjd"), "time", path)
    mag = _pick(raw, ("mag",), "magnitude", path)
    err = _pick(raw, ("magerr", "mag_err"), "magnitude error", path)
    if "filtercode" in raw.columns:
        band = raw["filtercode"].astype(str).str.lower().map(_FILTERCODE)
    elif "fid" in raw.columns:
        band = pd.to_numeric(raw["fid"], errors="coerce").map(_FID)
    else:
        raise ValueError(f"{path}: no band column (filtercode or fid)")
    band = band.fillna(raw.get("filtercode", raw.get("fid")).astype(str))   # unknown codes stay, reported later
    flagged = pd.to_numeric(raw["catflags"], errors="coerce").fillna(1).to_numpy() != 0 \
        if "catflags" in raw.columns else np.zeros(len(raw), bool)
    df = pd.DataFrame({"object_id": raw[oid].astype(str), "mjd": raw[t], "band": band, "mag": raw[mag],
                       "mag_err": raw[err], "detected": True})
    per = df.loc[flagged, "object_id"].value_counts()
    df = df.loc[~flagged].reset_index(drop=True)
    df.attrs["n_flagged_dropped"] = int(flagged.sum())
    df.attrs["flagged_per_object"] = {str(k): int(v) for k, v in per.items()}
    return df


def read_lightcurves(source, *, columns=None) -> pd.DataFrame:
    """A generic long table from a file (CSV, Parquet, FITS, HDF5) or a DataFrame / pyarrow Table.

    ``columns`` maps the file's names to ``object_id, mjd, band, mag, mag_err, detected``
    (e.g. ``{"oid": "object_id", "hmjd": "mjd"}``).
    """
    if isinstance(source, (str, Path)):
        from ..io import read_table

        source = read_table(source)
    if hasattr(source, "to_pandas") and not isinstance(source, pd.DataFrame):
        source = source.to_pandas()
    if columns:
        source = source.rename(columns=dict(columns))
    return as_long_table(source)
