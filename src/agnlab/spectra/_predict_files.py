"""``agnlab spectra predict`` on observed files: read, match the model resolution, predict, flag.

Each spectrum gets a row with its file, source, the model outputs and two input columns:
``input_flag`` (int, :class:`SpectrumFlag` bits) and ``input_flags`` (their names). A spectrum the
models cannot use (all masked, outside the model's wavelength range) gets ``z_pred = NaN`` and
``flag = 'input_<reason>'``, never a silent redshift; a file that cannot be read gets one row with
``flag = 'unreadable_file'`` and the reason in ``message``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._observed import ObservedSpectra, SpectrumFlag, flag_names

__all__ = ["observed_tables"]

_UNUSABLE_INPUT = SpectrumFlag.ALL_MASKED | SpectrumFlag.OUTSIDE_MODEL_RANGE


def _reader_kwargs(args) -> dict:
    return {k: getattr(args, k, None) for k in ("format", "error_files", "error_kind", "wave_unit", "air",
                                                "normalised", "resolution")}


def _unusable_reason(flag: int) -> str:
    for f in (SpectrumFlag.ALL_MASKED, SpectrumFlag.OUTSIDE_MODEL_RANGE):
        if flag & f:
            return f"input_{f.name.lower()}"
    return ""


def _unreadable(status) -> pd.DataFrame:
    bad = status[status["status"] != "ok"]
    return pd.DataFrame({"spec_index": -1, "file": [Path(f).name for f in bad["file"]], "source": "",
                         "format": bad["format"].to_numpy(), "flag": "unreadable_file",
                         "message": bad["message"].to_numpy()})


def _rows(obs, sl) -> ObservedSpectra:
    lsf = None if obs.lsf_sigma_kms is None else obs.lsf_sigma_kms[sl]
    return ObservedSpectra(obs.wave_aa, obs.flux[sl], obs.ivar[sl], obs.mask[sl],
                           obs.meta.iloc[sl].reset_index(drop=True), lsf, obs.status)


def observed_tables(args, paths, models, *, unreadable_rows: bool = False, chunk_size: int = 512):
    """``(per-spectrum table, DLA table or None)`` for observed spectrum files (see the module docstring).

    ``unreadable_rows=True`` (one file per Dask task): a file that cannot be read gives its
    ``unreadable_file`` row instead of an error. Spectra go through the models ``chunk_size`` at a time.
    """
    from ._io import SpectraFileError
    from ._readers import read_spectrum

    kw = _reader_kwargs(args)
    resolution = kw.pop("resolution")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)     # bad files are reported in the table
            obs = read_spectrum(paths, resolution=resolution, **kw)
    except (SpectraFileError, ValueError, OSError) as exc:
        if not unreadable_rows:
            raise
        status = pd.DataFrame({"file": [str(p) for p in paths], "format": kw.get("format") or "",
                               "status": "error", "message": str(exc)})
        return _unreadable(status), None
    tables, dla_tables, offset = [], [], 0
    for s in range(0, len(obs), chunk_size):
        t, d = _chunk_tables(args, _rows(obs, slice(s, s + chunk_size)), models)
        t["spec_index"] += offset
        if d is not None:
            d["spec_index"] += offset
            dla_tables.append(d)
        tables.append(t)
        offset += len(t)
    table = pd.concat(tables, ignore_index=True)
    dlas = pd.concat(dla_tables, ignore_index=True) if dla_tables else None
    if obs.status is not None and (obs.status["status"] != "ok").any():
        table = pd.concat([table, _unreadable(obs.status)], ignore_index=True)
    return table, dlas


def _chunk_tables(args, obs, models):
    from ._resolution import match_resolution, restore_continuum

    m = match_resolution(obs)
    n = len(m)
    flags = m.meta["flag"].to_numpy(np.int64)
    unusable = (flags & int(_UNUSABLE_INPUT)) != 0
    table = pd.DataFrame({"spec_index": np.arange(n), "file": m.meta["file"], "source": m.meta["source"],
                          "format": m.meta["format"]})
    dlas = None
    zq = np.full(n, np.nan)
    if "redshift" in models:
        red = models["redshift"].predict(m.wave_aa, m.flux, m.ivar).reset_index(drop=True)
        red.loc[unusable, "z_pred"] = np.nan
        red.loc[unusable, "confidence"] = 0.0
        normalised = (flags & int(SpectrumFlag.CONTINUUM_NORMALISED)) != 0
        red.loc[normalised & (red["flag"] == "ok"), "flag"] = "continuum_normalised"
        table = pd.concat([table, red], axis=1)
        zq = red["z_pred"].to_numpy(float)
    if getattr(args, "true_z", False):
        if "z_file" not in m.meta.columns:
            raise ValueError("--true-z: the files give no redshift (SDSS SPECOBJ Z or an agnlab truth table)")
        zq = pd.to_numeric(m.meta["z_file"], errors="coerce").to_numpy(float)
    if "dla" in models:
        if not (getattr(args, "true_z", False) or "redshift" in models):
            raise ValueError("--dla-model needs quasar redshifts: give --redshift-model or --true-z")
        zq = np.where(unusable, np.nan, zq)
        data = restore_continuum(m, zq)
        dlas, sp = models["dla"].detect(data.wave_aa, data.flux, data.ivar, z_qso=zq,
                                        threshold=getattr(args, "threshold", None))
        table["dla_score"] = sp["score"].to_numpy()
        table["n_dla"] = sp["n_dla"].to_numpy()
        table["dla_flag"] = sp["flag"].to_numpy()
        dlas.insert(1, "source", m.meta["source"].to_numpy()[dlas["spec_index"].to_numpy(int)])
    if "flag" not in table.columns:
        table["flag"] = "ok"
    outside = np.zeros(n, bool)
    if "redshift" in models:
        outside |= np.isin(table["flag"].to_numpy(), ("edge_of_range", "out_of_range"))
    if "dla" in models:
        outside |= table["dla_flag"].to_numpy() == "z_outside_trained_range"
    flags = np.where(outside, flags | int(SpectrumFlag.Z_OUTSIDE_TRAINED_RANGE), flags)
    reasons = np.array([_unusable_reason(int(f)) for f in flags], dtype=object)
    table.loc[unusable, "flag"] = reasons[unusable]
    table["input_flag"] = flags
    table["input_flags"] = [flag_names(v) for v in flags]
    table["model_coverage"] = m.meta["model_coverage"].to_numpy()
    return table, dlas
