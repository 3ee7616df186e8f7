"""The one writer of simulated spectra files (HDF5 / FITS), used by :meth:`SimulatedSpectra.write` and the simulator.

* HDF5: datasets ``wave_aa``, ``flux``, ``ivar``, ``continuum``, ``transmission``
  (float32; the two noise-free truth arrays left out with ``arrays="observed"``, which halves
  the file: a 4MOST-like spectrum takes ~96 KB per array), groups ``truth`` (one 1-D dataset
  per scalar column), ``dlas`` (``spec_index``, ``z_dla``, ``log_nhi``) and ``absorbers`` (``spec_index``, ``z_abs``,
  ``log_nhi``, ``kind`` as ASCII bytes, ``proximate``), and the JSON attribute ``meta``;
  written whole (:func:`write_spectra`) or batch by batch
  (:func:`hdf5_spectra_writer`, for :meth:`QuasarSimulator.simulate_to_file`);
* FITS: image HDUs ``WAVE``, ``FLUX``, ``IVAR``, ``CONTINUUM``, ``TRANSMISSION``
  (the last two optional, as in HDF5) and binary tables ``TRUTH``, ``DLAS`` and ``ABSORBERS``;
  ``meta`` as JSON in the primary header.

Files read back with :func:`agnlab.spectra.read_spectra`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path

__all__ = ["ABSORBER_COLUMNS", "ARRAYS", "DLA_COLUMNS", "OBSERVED_ARRAYS", "hdf5_spectra_writer", "json_default",
           "scalar_truth", "spectra_format", "write_spectra", "written_arrays"]

ARRAYS = ("flux", "ivar", "continuum", "transmission")
OBSERVED_ARRAYS = ("flux", "ivar")
DLA_COLUMNS = ("spec_index", "z_dla", "log_nhi")
ABSORBER_COLUMNS = ("spec_index", "z_abs", "log_nhi", "kind", "proximate")
_HDF5 = (".h5", ".hdf5", ".hdf")
_FITS = (".fits", ".fit", ".fits.gz", ".fit.gz")


def spectra_format(path: Path, fmt):
    """``'hdf5'`` or ``'fits'`` from ``fmt`` or the file suffix."""
    if fmt is not None:
        fmt = str(fmt).lower()
        if fmt not in ("hdf5", "fits"):
            raise ValueError(f"format must be 'hdf5' or 'fits', got {fmt!r}")
        return fmt
    name = path.name.lower()
    if name.endswith(_HDF5):
        return "hdf5"
    if name.endswith(_FITS):
        return "fits"
    raise ValueError(f"{path}: cannot tell the format from the suffix; use .h5/.hdf5 or .fits (or pass format=)")


def scalar_truth(truth: pd.DataFrame) -> pd.DataFrame:
    """The scalar columns of a truth table (per-DLA lists live in the DLA table)."""
    cols = {}
    for c in truth.columns:
        v = truth[c]
        if v.dtype == object:
            continue  # per-DLA lists live in the DLA table
        cols[c] = v.to_numpy()
    return pd.DataFrame(cols)


def _array_keys(arrays) -> tuple[str, ...]:
    if arrays not in ("all", "observed"):
        raise ValueError(f"arrays must be 'all' or 'observed', got {arrays!r}")
    return OBSERVED_ARRAYS if arrays == "observed" else ARRAYS


def written_arrays(spectra, arrays="all") -> tuple[str, ...]:
    """The per-pixel arrays a file gets: ``"all"`` (observed + the noise-free truth arrays) or ``"observed"``."""
    if _array_keys(arrays) == OBSERVED_ARRAYS:
        return OBSERVED_ARRAYS
    missing = [k for k in ARRAYS if getattr(spectra, k, None) is None]
    if missing:
        raise ValueError(f"write_spectra: this batch has no {missing} (read from a file written with "
                         "arrays='observed'); write it with arrays='observed'")
    return ARRAYS


def write_spectra(spectra, path, *, format=None, arrays="all") -> Path:
    """Write a :class:`SimulatedSpectra` batch (spectra + truth) atomically.

    Parameters
    ----------
    spectra : SimulatedSpectra
        (any object with ``wave_aa``, ``flux``, ``ivar``, ``continuum``,
        ``transmission``, ``truth``, ``dlas`` and ``meta``).
    path : str or Path
        ``.h5``/``.hdf5`` or ``.fits``.
    format : {'hdf5', 'fits'}, optional
        Overrides the suffix.
    arrays : {'all', 'observed'}
        ``'observed'`` writes ``flux`` and ``ivar`` only (half the size; the file reads back
        with ``continuum`` and ``transmission`` set to None).

    Returns
    -------
    Path
    """
    path = Path(path)
    fmt = spectra_format(path, format)
    keys = written_arrays(spectra, arrays)
    n = len(spectra)
    for k in keys:
        a = getattr(spectra, k)
        if a.shape != (n, spectra.wave_aa.size):
            raise ValueError(f"write_spectra: {k} has shape {a.shape}, expected {(n, spectra.wave_aa.size)}")
    if fmt == "hdf5":
        with hdf5_spectra_writer(path, spectra.wave_aa, n, spectra.meta, arrays=arrays) as writer:
            writer.append(spectra)
        return path
    from astropy.io import fits

    truth = scalar_truth(spectra.truth)
    dlas = spectra.dlas[list(DLA_COLUMNS)]
    absorbers = _absorber_table(spectra)
    hdr = fits.Header()
    hdr["AGNKIND"] = "spectra"
    hdr["META"] = json.dumps(spectra.meta, default=json_default)
    hdus = [fits.PrimaryHDU(header=hdr), fits.ImageHDU(np.asarray(spectra.wave_aa, np.float64), name="WAVE")]
    for k in keys:
        hdus.append(fits.ImageHDU(np.asarray(getattr(spectra, k), dtype=np.float32), name=k.upper()))
    hdus.append(fits.BinTableHDU.from_columns(_fits_columns(truth), name="TRUTH"))
    hdus.append(fits.BinTableHDU.from_columns(_fits_columns(dlas), name="DLAS"))
    hdus.append(fits.BinTableHDU.from_columns(_fits_columns(absorbers), name="ABSORBERS"))
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp)
    return path


class _HDF5SpectraWriter:
    """The HDF5 layout, spectra appended batch by batch (see :func:`hdf5_spectra_writer`)."""

    def __init__(self, h5, wave_aa, n: int, meta: dict, keys: tuple[str, ...]):
        h5.attrs["agnlab_kind"] = "spectra"
        h5.attrs["meta"] = json.dumps(meta, default=json_default)
        wave = np.asarray(wave_aa, dtype=np.float64)
        h5.create_dataset("wave_aa", data=wave)
        self._h5 = h5
        self._n = int(n)
        self._ds = {k: h5.create_dataset(k, shape=(n, wave.size), dtype=np.float32,
                                         chunks=(min(64, max(1, n)), wave.size)) for k in keys}
        self._start = 0
        self._truths, self._dlas, self._absorbers = [], [], []

    def append(self, batch) -> None:
        """Write the next ``len(batch)`` spectra (their DLA ``spec_index`` counts within the batch)."""
        m = len(batch)
        s = self._start
        if s + m > self._n:
            raise ValueError(f"HDF5 spectra writer: {s + m} spectra written, the file holds {self._n}")
        for k, d in self._ds.items():
            d[s:s + m] = np.asarray(getattr(batch, k), dtype=np.float32)
        self._truths.append(scalar_truth(batch.truth))
        d = batch.dlas[list(DLA_COLUMNS)].copy()
        d["spec_index"] += s
        self._dlas.append(d)
        a = _absorber_table(batch)
        a["spec_index"] += s
        self._absorbers.append(a)
        self._start = s + m

    def finish(self) -> None:
        if self._start != self._n:
            raise ValueError(f"HDF5 spectra writer: {self._start} spectra written, the file holds {self._n}")
        truth = pd.concat(self._truths, ignore_index=True) if self._truths else pd.DataFrame()
        dlas = pd.concat(self._dlas, ignore_index=True) if self._dlas else pd.DataFrame(
            {"spec_index": np.zeros(0, np.int64), "z_dla": np.zeros(0), "log_nhi": np.zeros(0)})
        absorbers = pd.concat(self._absorbers, ignore_index=True) if self._absorbers else _empty_absorbers()
        for name, tab in (("truth", truth), ("dlas", dlas), ("absorbers", absorbers)):
            g = self._h5.create_group(name)
            g.attrs["columns"] = json.dumps([str(c) for c in tab.columns])
            for c in tab.columns:
                v = tab[c].to_numpy()
                g.create_dataset(c, data=v.astype("S") if v.dtype == object else v)


@contextlib.contextmanager
def hdf5_spectra_writer(path, wave_aa, n: int, meta: dict, *, arrays="all"):
    """Write ``n`` spectra to an HDF5 file batch by batch (bounded memory), atomically.

    ``arrays``: ``"all"`` or ``"observed"`` (``flux`` and ``ivar`` only), as in :func:`write_spectra`.
    Yields an object whose ``append(batch)`` writes the next batch (a
    :class:`SimulatedSpectra`); the truth and DLA tables are written on exit.
    The file equals :func:`write_spectra` of all batches joined.
    """
    import h5py

    path = Path(path)
    keys = _array_keys(arrays)
    if spectra_format(path, None) != "hdf5":
        raise ValueError(f"{path}: the streaming writer writes HDF5; use a .h5 or .hdf5 suffix")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            writer = _HDF5SpectraWriter(h5, wave_aa, n, meta, keys)
            yield writer
            writer.finish()


def _fits_columns(df):
    from astropy.io import fits

    cols = []
    for c in df.columns:
        v = df[c].to_numpy()
        if v.dtype == object:
            v = v.astype("U")
            fmt = f"{max(1, max((len(x) for x in v), default=1))}A"
        else:
            fmt = "K" if np.issubdtype(v.dtype, np.integer) else ("L" if v.dtype == bool else "D")
        cols.append(fits.Column(name=c, format=fmt, array=v))
    return cols


def _empty_absorbers():
    from ._absorbers import empty_absorbers

    return empty_absorbers()


def _absorber_table(batch) -> pd.DataFrame:
    """The batch's absorber table in file column order (empty for batches without one)."""
    tab = getattr(batch, "absorbers", None)
    if tab is None:
        tab = _empty_absorbers()
    missing = [c for c in ABSORBER_COLUMNS if c not in tab.columns]
    if missing:
        raise ValueError(f"write_spectra: absorber table lacks columns {missing}")
    out = tab[list(ABSORBER_COLUMNS)].copy()
    out["spec_index"] = out["spec_index"].astype(np.int64)
    out["proximate"] = out["proximate"].astype(bool)
    out["kind"] = out["kind"].astype(str).astype(object)
    return out


def json_default(o):
    """JSON encoder fallback for numpy scalars and arrays."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
