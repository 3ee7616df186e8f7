"""A batch of simulated quasar spectra with its truth tables (:class:`SimulatedSpectra`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._absorbers import empty_absorbers

__all__ = ["ARRAY_KEYS", "TRUTH_ARRAY_KEYS", "SimulatedSpectra", "empty_absorbers", "empty_dlas"]

#: the per-pixel arrays of a batch, in file order
ARRAY_KEYS = ("flux", "ivar", "continuum", "transmission")
#: the noise-free truth arrays, optional in files (``arrays="observed"`` leaves them out)
TRUTH_ARRAY_KEYS = ("continuum", "transmission")


def empty_dlas() -> pd.DataFrame:
    """An empty per-DLA table (``spec_index``, ``z_dla``, ``log_nhi``)."""
    return pd.DataFrame({"spec_index": np.zeros(0, np.int64), "z_dla": np.zeros(0), "log_nhi": np.zeros(0)})


@dataclass
class SimulatedSpectra:
    """A batch of simulated quasar spectra.

    Attributes
    ----------
    wave_aa : ndarray, shape (n_pix,)
        Observed-frame wavelength of the pixel centres (Angstrom, vacuum).
    flux : ndarray, shape (n, n_pix), float32
        Observed flux density (``flux_unit``), with noise.
    ivar : ndarray, shape (n, n_pix), float32
        Inverse variance of ``flux`` (pipeline-style estimate).
    continuum : ndarray, shape (n, n_pix), float32, or None
        Unabsorbed, noise-free quasar continuum (same units as ``flux``); None when
        read from a file written with ``arrays="observed"``.
    transmission : ndarray, shape (n, n_pix), float32, or None
        Noise-free transmission of everything that absorbs (H I forest, LLS, sub-DLAs,
        DLAs, metal lines, BAL troughs) convolved with the line-spread function, so that
        ``continuum * transmission`` is the noise-free observed flux; None like ``continuum``.
    truth : pandas.DataFrame
        One row per spectrum: ``z_qso``, ``mag`` (synthetic AB magnitude in
        ``meta['mag_band']`` of the noise-free spectrum), ``n_abs`` (forest
        absorbers, log N < 17.2), ``n_lls`` (Lyman-limit systems, 17.2 <= log N < 19),
        ``n_dla``, ``z_dla`` and ``log_nhi`` (DLAs: one float array per row),
        ``n_subdla`` and ``n_proximate`` (systems of the absorber table), ``bal`` (BAL quasar),
        ``balnicity_kms`` (Weymann et al. 1991 balnicity index of the C IV trough, 0 for non-BALs),
        ``bal_vmin_kms``/``bal_vmax_kms`` (trough velocities, NaN for non-BALs), ``n_civ`` and
        ``n_mgii`` (intervening metal doublets), continuum parameters (``beta``,
        ``blueshift_kms``, ``log_lum_rel``) and ``snr_median`` (median per-pixel S/N redward of
        Ly-alpha).
        (pandas ``attrs`` are left empty so that tables concatenate cleanly.)
    dlas : pandas.DataFrame
        One row per DLA: ``spec_index`` (row in this batch), ``z_dla``, ``log_nhi``
        (the ``kind == 'dla'`` rows of ``absorbers``).
    meta : dict
        Seed, instrument, simulator settings, ``flux_unit``.
    absorbers : pandas.DataFrame
        One row per H I system with log N >= 17.2: ``spec_index``, ``z_abs``, ``log_nhi``, ``kind``
        (``'lls'``: < 19, ``'subdla'``: < 20.3, ``'dla'``) and ``proximate`` (within 3000 km/s of
        the quasar).
    """

    wave_aa: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    continuum: np.ndarray | None
    transmission: np.ndarray | None
    truth: pd.DataFrame
    dlas: pd.DataFrame
    meta: dict = field(default_factory=dict)
    absorbers: pd.DataFrame = field(default_factory=empty_absorbers)

    def __len__(self) -> int:
        return int(self.flux.shape[0])

    def __repr__(self) -> str:
        w = self.wave_aa
        return (f"SimulatedSpectra(n={len(self)}, n_pix={w.size}, wave_aa={w[0]:.1f}-{w[-1]:.1f}, "
                f"n_dla={len(self.dlas)}, n_absorbers={len(self.absorbers)}, seed={self.meta.get('seed')})")

    @property
    def n_pix(self) -> int:
        return int(self.wave_aa.size)

    def __getitem__(self, item) -> "SimulatedSpectra":
        """Subset of spectra (int, slice, boolean or integer index array)."""
        idx = np.arange(len(self))[item]
        idx = np.atleast_1d(idx)
        truth = self.truth.iloc[idx].reset_index(drop=True)
        remap = {int(old): new for new, old in enumerate(idx)}
        d = self.dlas[self.dlas["spec_index"].isin(list(remap))].copy()
        d["spec_index"] = d["spec_index"].map(remap).astype(np.int64)
        d = d.sort_values(["spec_index", "z_dla"]).reset_index(drop=True)
        a = self.absorbers[self.absorbers["spec_index"].isin(list(remap))].copy()
        a["spec_index"] = a["spec_index"].map(remap).astype(np.int64)
        a = a.sort_values(["spec_index", "z_abs"]).reset_index(drop=True)
        return SimulatedSpectra(self.wave_aa, self.flux[idx], self.ivar[idx], _rows(self.continuum, idx),
                                _rows(self.transmission, idx), truth, d, dict(self.meta), a)

    @classmethod
    def concatenate(cls, parts) -> "SimulatedSpectra":
        """Join batches that share a wavelength grid."""
        parts = list(parts)
        if not parts:
            raise ValueError("concatenate: no batches given")
        w = parts[0].wave_aa
        for p in parts[1:]:
            if p.wave_aa.shape != w.shape or not np.allclose(p.wave_aa, w, rtol=0, atol=1e-6):
                raise ValueError("concatenate: batches have different wavelength grids")
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        dl, ab = [], []
        for off, p in zip(offsets, parts):
            for tab, acc in ((p.dlas, dl), (p.absorbers, ab)):
                t = tab.copy()
                t["spec_index"] = t["spec_index"] + int(off)
                acc.append(t)
        dlas = pd.concat(dl, ignore_index=True) if dl else empty_dlas()
        absorbers = pd.concat(ab, ignore_index=True)
        truth = pd.concat([p.truth for p in parts], ignore_index=True)
        return cls(w, np.concatenate([p.flux for p in parts]), np.concatenate([p.ivar for p in parts]),
                   _joined([p.continuum for p in parts]), _joined([p.transmission for p in parts]),
                   truth, dlas, dict(parts[0].meta), absorbers)

    def write(self, path, *, format=None, arrays="all"):
        """Write spectra + truth to HDF5 (``.h5``/``.hdf5``) or FITS (``.fits``); see :func:`write_spectra`."""
        from ._write import write_spectra

        return write_spectra(self, path, format=format, arrays=arrays)


def _rows(a, idx):
    return None if a is None else a[idx]


def _joined(arrays):
    """Rows of every batch joined; None when any batch lacks the array (read with ``arrays="observed"``)."""
    return None if any(a is None for a in arrays) else np.concatenate(arrays)
