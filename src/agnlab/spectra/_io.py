"""Read simulated spectra files (written by :mod:`._write`) back into :class:`SimulatedSpectra` batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ._batch import TRUTH_ARRAY_KEYS, SimulatedSpectra
from ._write import ARRAYS, OBSERVED_ARRAYS, spectra_format

__all__ = ["SpectraFileError", "read_spectra"]


class SpectraFileError(ValueError):
    """A spectra file is missing, corrupt, truncated, or not in the expected layout."""


def read_spectra(path):
    """Read a batch written by :func:`write_spectra` back into a :class:`SimulatedSpectra`.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    SpectraFileError
        Corrupt, truncated, or not a spectra file (the message says what is wrong).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"spectra file not found: {path}")
    fmt = spectra_format(path, None)
    try:
        if fmt == "hdf5":
            import h5py

            with h5py.File(path, "r") as h5:
                if h5.attrs.get("agnlab_kind") != "spectra":
                    raise SpectraFileError(f"{path}: not an agnlab spectra file (no agnlab_kind='spectra')")
                missing = [k for k in ("wave_aa", *OBSERVED_ARRAYS, "truth", "dlas") if k not in h5]
                if missing:
                    raise SpectraFileError(f"{path}: missing datasets {missing}")
                wave = np.asarray(h5["wave_aa"])
                arrays = {k: np.asarray(h5[k]) for k in ARRAYS if k in h5}
                truth = _h5_table(h5["truth"])
                dlas = _h5_table(h5["dlas"])
                absorbers = _h5_table(h5["absorbers"]) if "absorbers" in h5 else None
                meta = json.loads(h5.attrs.get("meta", "{}"))
        else:
            from astropy.io import fits

            with fits.open(path, memmap=False) as hl:
                if hl[0].header.get("AGNKIND") != "spectra":
                    raise SpectraFileError(f"{path}: not an agnlab spectra file (no AGNKIND='spectra')")
                names = [h.name for h in hl]
                missing = [k for k in ("WAVE", *(a.upper() for a in OBSERVED_ARRAYS), "TRUTH", "DLAS")
                           if k not in names]
                if missing:
                    raise SpectraFileError(f"{path}: missing HDUs {missing}")
                wave = np.asarray(hl["WAVE"].data, dtype=np.float64)
                arrays = {k: np.asarray(hl[k.upper()].data, dtype=np.float32) for k in ARRAYS if k.upper() in names}
                truth = pd.DataFrame({c: _native(hl["TRUTH"].data[c]) for c in hl["TRUTH"].columns.names})
                dlas = pd.DataFrame({c: _native(hl["DLAS"].data[c]) for c in hl["DLAS"].columns.names})
                absorbers = None
                if "ABSORBERS" in names:
                    tab = hl["ABSORBERS"]
                    absorbers = pd.DataFrame({c: _native(tab.data[c]) for c in tab.columns.names})
                meta = json.loads(hl[0].header.get("META", "{}"))
    except SpectraFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py/astropy raise many types for corrupt files
        raise SpectraFileError(f"{path}: cannot read spectra file ({type(exc).__name__}: {exc})") from None
    n = arrays["flux"].shape[0] if arrays["flux"].ndim == 2 else -1
    for k, a in arrays.items():
        if a.ndim != 2 or a.shape != (n, wave.size):
            raise SpectraFileError(f"{path}: {k} has shape {a.shape}, expected ({n}, {wave.size})")
    if len(truth) != n:
        raise SpectraFileError(f"{path}: truth table has {len(truth)} rows for {n} spectra")
    if "spec_index" not in dlas or len(dlas) and (dlas["spec_index"].min() < 0 or dlas["spec_index"].max() >= n):
        raise SpectraFileError(f"{path}: DLA table spec_index out of range")
    dlas = dlas.astype({"spec_index": np.int64}) if len(dlas) else dlas.astype({"spec_index": np.int64})
    groups = {int(k): g for k, g in dlas.groupby("spec_index")} if len(dlas) else {}
    truth["z_dla"] = [groups[j]["z_dla"].to_numpy() if j in groups else np.zeros(0) for j in range(n)]
    truth["log_nhi"] = [groups[j]["log_nhi"].to_numpy() if j in groups else np.zeros(0) for j in range(n)]
    absorbers = _absorbers(path, absorbers, n)
    truth_arrays = [arrays[k].astype(np.float32) if k in arrays else None for k in TRUTH_ARRAY_KEYS]
    return SimulatedSpectra(wave, arrays["flux"].astype(np.float32), arrays["ivar"].astype(np.float32),
                            *truth_arrays, truth, dlas, meta, absorbers)


def _absorbers(path, tab, n):
    """The absorber table as written (empty for files written before it existed), checked."""
    from ._absorbers import ABSORBER_COLUMNS, empty_absorbers

    if tab is None:
        return empty_absorbers()
    missing = [c for c in ABSORBER_COLUMNS if c not in tab.columns]
    if missing:
        raise SpectraFileError(f"{path}: absorber table lacks columns {missing}")
    tab = tab[list(ABSORBER_COLUMNS)].copy()
    kind = tab["kind"].to_numpy()
    tab["kind"] = np.array([k.decode() if isinstance(k, bytes) else str(k) for k in kind], dtype=object)
    tab["kind"] = tab["kind"].astype(str).str.strip()
    if len(tab) and (tab["spec_index"].min() < 0 or tab["spec_index"].max() >= n):
        raise SpectraFileError(f"{path}: absorber table spec_index out of range")
    bad = set(tab["kind"]) - {"lls", "subdla", "dla"}
    if bad:
        raise SpectraFileError(f"{path}: absorber table has unknown kinds {sorted(bad)}")
    return tab.astype({"spec_index": np.int64, "z_abs": float, "log_nhi": float, "proximate": bool})


def _h5_table(group):
    order = json.loads(group.attrs.get("columns", "[]")) or sorted(group)
    return pd.DataFrame({c: np.asarray(group[c]) for c in order})


def _native(a):
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder not in ("=", "|") else a
