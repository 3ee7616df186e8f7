"""Alert stamps from ZTF Avro alert packets (gzipped FITS cutouts), and a writer of such packets.

A ZTF alert (https://github.com/ZwickyTransientFacility/ztf-avro-alert) carries three cutouts,
``cutoutScience``, ``cutoutTemplate`` and ``cutoutDifference``, each a record whose ``stampData`` is a
gzipped (or plain) FITS file of up to 63 x 63 pixels; the metadata come from ``candidate``: ``ra``,
``dec`` (latitudes computed from them), ``magpsf``, ``elong``, ``distpsnr1`` (``-999`` = none: missing),
``fwhm`` (pixels of 1.01 arcsec), ``sgscore1`` (the Tachibana & Miller 2018 star/galaxy score of the nearest
Pan-STARRS1 source), ``srmag1``, ``sgmag1``, ``simag1``, ``szmag1`` (its PS1 r, g, i, z PSF magnitudes),
``ndethist`` and ``ncovhist`` (earlier detections at the position and epochs that covered it). ``-999``, a
null, a negative count or a value out of range reads as missing (imputed, with its flag, by the
classifier). The same files are read by :func:`agnlab.lightcurves.read_ztf_alerts` for the light curves.

A bad alert never stops a batch: a missing or corrupt cutout gives NaN images and a ``flag`` naming the
problem; a cutout smaller than 63 x 63 (at a CCD edge) is padded with NaN (flag ``padded``).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ._readers import alert_packets
from ._stamps import STAMP_METADATA_COLUMNS, STAMP_SIZE, galactic_ecliptic_latitudes

__all__ = ["CUTOUT_FIELDS", "read_ztf_stamps", "write_ztf_stamp_alerts"]

#: the Avro fields of the science, reference (template) and difference cutouts, in the stamp order
CUTOUT_FIELDS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
ZTF_PIXEL_ARCSEC = 1.01


def _decode_cutout(data) -> tuple[np.ndarray, str]:
    """63 x 63 float32 image (NaN-padded, centred) from FITS bytes (gzipped or not), and a flag."""
    from astropy.io import fits

    if data is None:
        return np.full((STAMP_SIZE, STAMP_SIZE), np.nan, np.float32), "missing_cutout"
    try:
        raw = bytes(data)
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        with fits.open(io.BytesIO(raw), memmap=False) as hdul:
            img = next((h.data for h in hdul if getattr(h, "data", None) is not None), None)
            if img is None:
                raise ValueError("no image HDU")
            img = np.asarray(img, dtype=np.float32)
    except Exception as exc:   # noqa: BLE001 - any decoding failure of one cutout is that alert's flag
        return np.full((STAMP_SIZE, STAMP_SIZE), np.nan, np.float32), f"corrupt_cutout ({type(exc).__name__})"
    if img.ndim != 2 or img.shape[0] > STAMP_SIZE or img.shape[1] > STAMP_SIZE or 0 in img.shape:
        return np.full((STAMP_SIZE, STAMP_SIZE), np.nan, np.float32), f"bad_cutout_shape {img.shape}"
    if img.shape == (STAMP_SIZE, STAMP_SIZE):
        return img, ""
    out = np.full((STAMP_SIZE, STAMP_SIZE), np.nan, np.float32)
    y0, x0 = (STAMP_SIZE - img.shape[0]) // 2, (STAMP_SIZE - img.shape[1]) // 2
    out[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
    return out, "padded"


def _num(c, key):
    v = c.get(key) if c is not None else None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return np.nan
    return v if np.isfinite(v) else np.nan


def read_ztf_stamps(paths):
    """Stamps and metadata of every alert in ZTF Avro files.

    Parameters
    ----------
    paths : path or sequence of paths

    Returns
    -------
    stamps : ndarray (n, 3, 63, 63) float32
        Science, template (reference) and difference cutouts; NaN where missing or padded.
    metadata : DataFrame
        ``object_id, candid, ra_deg, dec_deg`` + :data:`STAMP_METADATA_COLUMNS` + ``flag`` (``"ok"``, or the
        problems of the alert joined by ``+``).

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or a file that is not Avro (an unreadable alert inside a file is flagged).
    """
    images, rows = [], []
    for path, packets in alert_packets(paths):
        for packet in packets:
            flags = []
            trip = []
            for field in CUTOUT_FIELDS:
                cut = packet.get(field) if isinstance(packet, dict) else None
                img, flag = _decode_cutout(cut.get("stampData") if isinstance(cut, dict) else None)
                trip.append(img)
                if flag:
                    flags.append(f"{field}:{flag}")
            images.append(np.stack(trip))
            c = packet.get("candidate") if isinstance(packet, dict) else None
            if not isinstance(c, dict):
                c = {}
                flags.append("missing_candidate")
            dist = _num(c, "distpsnr1")
            fwhm = _num(c, "fwhm")
            elong = _num(c, "elong")
            sg = _num(c, "sgscore1")
            mags = {b: _num(c, f"s{b}mag1") for b in "griz"}
            mags = {b: v if 0 < v < 40 else np.nan for b, v in mags.items()}
            ndet, ncov = _num(c, "ndethist"), _num(c, "ncovhist")
            rows.append({"object_id": str(packet.get("objectId", "")), "candid": c.get("candid"),
                         "ra_deg": _num(c, "ra"), "dec_deg": _num(c, "dec"), "mag": _num(c, "magpsf"),
                         "elongation": elong if elong > 0 else np.nan,
                         "dist_nearest_arcsec": dist if dist >= 0 else np.nan,
                         "fwhm_arcsec": fwhm * ZTF_PIXEL_ARCSEC if fwhm > 0 else np.nan,
                         "sgscore_nearest": sg if 0 <= sg <= 1 else np.nan,
                         "mag_nearest": mags["r"], "gmag_nearest": mags["g"], "imag_nearest": mags["i"],
                         "zmag_nearest": mags["z"], "ndethist": ndet if ndet >= 1 else np.nan,
                         "ncovhist": ncov if ncov >= 0 else np.nan,
                         "flag": "+".join(flags) if flags else "ok"})
    stamps = np.stack(images) if images else np.zeros((0, 3, STAMP_SIZE, STAMP_SIZE), np.float32)
    meta = pd.DataFrame(rows, columns=["object_id", "candid", "ra_deg", "dec_deg", "mag", "elongation",
                                       "dist_nearest_arcsec", "fwhm_arcsec", "sgscore_nearest", "mag_nearest",
                                       "gmag_nearest", "imag_nearest", "zmag_nearest", "ndethist", "ncovhist",
                                       "flag"])
    b, beta = galactic_ecliptic_latitudes(meta["ra_deg"].to_numpy(float), meta["dec_deg"].to_numpy(float))
    meta["gal_lat_deg"], meta["ecl_lat_deg"] = b, beta
    meta = meta[["object_id", "candid", "ra_deg", "dec_deg", *STAMP_METADATA_COLUMNS, "flag"]]
    return stamps, meta


def _fits_gz(img) -> bytes:
    from astropy.io import fits

    buf = io.BytesIO()
    fits.PrimaryHDU(np.asarray(img, dtype=np.float32)).writeto(buf)
    return gzip.compress(buf.getvalue())


#: the part of the ZTF alert schema that these readers use
ZTF_STAMP_SCHEMA = {
    "type": "record", "name": "alert", "namespace": "ztf",
    "fields": [
        {"name": "objectId", "type": "string"},
        {"name": "candid", "type": "long"},
        {"name": "candidate", "type": {"type": "record", "name": "candidate", "fields": [
            {"name": "candid", "type": "long"}, {"name": "jd", "type": "double"}, {"name": "fid", "type": "int"},
            {"name": "ra", "type": "double"}, {"name": "dec", "type": "double"},
            {"name": "magpsf", "type": ["null", "float"], "default": None},
            {"name": "sigmapsf", "type": ["null", "float"], "default": None},
            {"name": "isdiffpos", "type": ["null", "string"], "default": None},
            {"name": "fwhm", "type": ["null", "float"], "default": None},
            {"name": "elong", "type": ["null", "float"], "default": None},
            {"name": "distpsnr1", "type": ["null", "float"], "default": None},
            {"name": "sgscore1", "type": ["null", "float"], "default": None},
            {"name": "srmag1", "type": ["null", "float"], "default": None},
            {"name": "sgmag1", "type": ["null", "float"], "default": None},
            {"name": "simag1", "type": ["null", "float"], "default": None},
            {"name": "szmag1", "type": ["null", "float"], "default": None},
            {"name": "ndethist", "type": ["null", "int"], "default": None},
            {"name": "ncovhist", "type": ["null", "int"], "default": None}]}},
        {"name": "prv_candidates", "type": ["null", {"type": "array", "items": "candidate"}], "default": None},
        *({"name": f, "type": ["null", {"type": "record", "name": f"cutout_{f}", "fields": [
            {"name": "fileName", "type": "string"}, {"name": "stampData", "type": "bytes"}]}], "default": None}
          for f in CUTOUT_FIELDS),
    ],
}


def write_ztf_stamp_alerts(path, stamps, metadata, *, object_ids=None, jd: float = 2460000.5, fid: int = 2) -> Path:
    """Write alerts as ZTF-like Avro packets (the subset of the schema the readers use), one per stamp.

    ``metadata`` needs ``ra_deg, dec_deg`` and :data:`STAMP_METADATA_COLUMNS` but the latitudes (as from
    :func:`simulate_stamps`); NaN values are written as nulls (``-999`` for ``distpsnr1``, ``sgscore1`` and
    the PS1 magnitudes ``s[griz]mag1``, as ZTF does).
    """
    import fastavro

    stamps = np.asarray(stamps, dtype=np.float32)
    n = stamps.shape[0]
    need = ["ra_deg", "dec_deg", *STAMP_METADATA_COLUMNS[2:]]
    missing = [c for c in need if c not in metadata.columns]
    if missing:
        raise ValueError(f"metadata: missing column(s) {missing}")
    if len(metadata) != n:
        raise ValueError(f"metadata has {len(metadata)} rows but stamps has {n} alerts")
    ids = list(object_ids) if object_ids is not None else [f"ZTFsim{i:07d}" for i in range(n)]

    def opt(v, scale=1.0):
        return None if v is None or not np.isfinite(v) else float(v) * scale

    def or999(v):
        return float(v) if np.isfinite(v) else -999.0

    def count(v):
        return int(v) if np.isfinite(v) else None

    def records():
        for i in range(n):
            m = metadata.iloc[i]
            cand = {"candid": i + 1, "jd": jd, "fid": fid, "ra": float(m["ra_deg"]), "dec": float(m["dec_deg"]),
                    "magpsf": opt(m["mag"]), "sigmapsf": None, "isdiffpos": None,
                    "fwhm": opt(m["fwhm_arcsec"], 1.0 / ZTF_PIXEL_ARCSEC), "elong": opt(m["elongation"]),
                    "distpsnr1": or999(m["dist_nearest_arcsec"]), "sgscore1": or999(m["sgscore_nearest"]),
                    "srmag1": or999(m["mag_nearest"]), "sgmag1": or999(m["gmag_nearest"]),
                    "simag1": or999(m["imag_nearest"]), "szmag1": or999(m["zmag_nearest"]),
                    "ndethist": count(m["ndethist"]), "ncovhist": count(m["ncovhist"])}
            rec = {"objectId": str(ids[i]), "candid": i + 1, "candidate": cand, "prv_candidates": None}
            for k, f in enumerate(CUTOUT_FIELDS):
                rec[f] = {"fileName": f"candid{i + 1}_{f}.fits.gz", "stampData": _fits_gz(stamps[i, k])}
            yield rec

    from ..io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(ZTF_STAMP_SCHEMA), records())
    return path
