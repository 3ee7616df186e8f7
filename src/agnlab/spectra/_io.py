"""Read and write spectra: simulated batches (HDF5 / FITS) and real spectra FITS tables.

Simulated batches are written with their truth tables:

* HDF5: datasets ``wave_aa``, ``flux``, ``ivar``, ``continuum``, ``transmission``
  (float32), groups ``truth`` (one 1-D dataset per scalar column) and ``dlas``
  (``spec_index``, ``z_dla``, ``log_nhi``), and the JSON attribute ``meta``;
* FITS: image HDUs ``WAVE``, ``FLUX``, ``IVAR``, ``CONTINUUM``, ``TRANSMISSION``
  and binary tables ``TRUTH`` and ``DLAS``; ``meta`` as JSON in the primary header.

Real spectra are read from FITS binary tables with a wavelength column
(``wave``/``wavelength``/``lambda`` in Angstrom, or SDSS ``loglam``), ``flux``,
and ``ivar`` (or an error column), optionally a ``mask`` / ``and_mask``
column; either one row per pixel (SDSS ``coadd`` style) or one row per
spectrum with array columns.  Pixels with ``ivar = 0``, NaN/infinite values
or a non-zero mask are *masked*: ``ivar`` is set to 0 and ``flux`` to 0, so
nothing downstream propagates them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import atomic_path

__all__ = [
    "write_spectra", "read_spectra", "read_spectra_fits", "ObservedSpectra", "SpectraFileError",
    "mask_bad_pixels", "resample_spectra",
]

_ARRAYS = ("flux", "ivar", "continuum", "transmission")
_HDF5 = (".h5", ".hdf5", ".hdf")
_FITS = (".fits", ".fit", ".fits.gz", ".fit.gz")


class SpectraFileError(ValueError):
    """A spectra file is missing, corrupt, truncated, or not in the expected layout."""


def _format(path: Path, fmt):
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


def _scalar_truth(truth: pd.DataFrame) -> pd.DataFrame:
    cols = {}
    for c in truth.columns:
        v = truth[c]
        if v.dtype == object:
            continue  # per-DLA lists live in the DLA table
        cols[c] = v.to_numpy()
    return pd.DataFrame(cols)


def write_spectra(spectra, path, *, format=None) -> Path:
    """Write a :class:`SimulatedSpectra` batch (spectra + truth) atomically.

    Parameters
    ----------
    spectra : SimulatedSpectra
    path : str or Path
        ``.h5``/``.hdf5`` or ``.fits``.
    format : {'hdf5', 'fits'}, optional
        Overrides the suffix.

    Returns
    -------
    Path
    """
    path = Path(path)
    fmt = _format(path, format)
    for k in _ARRAYS:
        a = getattr(spectra, k)
        if a.shape != (len(spectra), spectra.wave_aa.size):
            raise ValueError(f"write_spectra: {k} has shape {a.shape}, expected {(len(spectra), spectra.wave_aa.size)}")
    truth = _scalar_truth(spectra.truth)
    dlas = spectra.dlas[["spec_index", "z_dla", "log_nhi"]]
    meta = json.dumps(spectra.meta, default=_json_default)
    with atomic_path(path) as tmp:
        if fmt == "hdf5":
            import h5py

            with h5py.File(tmp, "w") as h5:
                h5.attrs["agnlab_kind"] = "spectra"
                h5.attrs["meta"] = meta
                h5.create_dataset("wave_aa", data=np.asarray(spectra.wave_aa, dtype=np.float64))
                for k in _ARRAYS:
                    h5.create_dataset(k, data=np.asarray(getattr(spectra, k), dtype=np.float32),
                                      chunks=(min(64, max(1, len(spectra))), spectra.wave_aa.size))
                g = h5.create_group("truth")
                g.attrs["columns"] = json.dumps([str(c) for c in truth.columns])
                for c in truth.columns:
                    g.create_dataset(c, data=truth[c].to_numpy())
                g = h5.create_group("dlas")
                g.attrs["columns"] = json.dumps([str(c) for c in dlas.columns])
                for c in dlas.columns:
                    g.create_dataset(c, data=dlas[c].to_numpy())
        else:
            from astropy.io import fits

            hdr = fits.Header()
            hdr["AGNKIND"] = "spectra"
            hdr["META"] = meta
            hdus = [fits.PrimaryHDU(header=hdr), fits.ImageHDU(np.asarray(spectra.wave_aa, np.float64), name="WAVE")]
            for k in _ARRAYS:
                hdus.append(fits.ImageHDU(np.asarray(getattr(spectra, k), dtype=np.float32), name=k.upper()))
            hdus.append(fits.BinTableHDU.from_columns(_fits_columns(truth), name="TRUTH"))
            hdus.append(fits.BinTableHDU.from_columns(_fits_columns(dlas), name="DLAS"))
            fits.HDUList(hdus).writeto(tmp)
    return path


def _fits_columns(df):
    from astropy.io import fits

    cols = []
    for c in df.columns:
        v = df[c].to_numpy()
        fmt = "K" if np.issubdtype(v.dtype, np.integer) else ("L" if v.dtype == bool else "D")
        cols.append(fits.Column(name=c, format=fmt, array=v))
    return cols


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def read_spectra(path):
    """Read a batch written by :func:`write_spectra` back into a :class:`SimulatedSpectra`.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    SpectraFileError
        Corrupt, truncated, or not a spectra file (the message says what is wrong).
    """
    from ._simulate import SimulatedSpectra

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"spectra file not found: {path}")
    fmt = _format(path, None)
    try:
        if fmt == "hdf5":
            import h5py

            with h5py.File(path, "r") as h5:
                if h5.attrs.get("agnlab_kind") != "spectra":
                    raise SpectraFileError(f"{path}: not an agnlab spectra file (no agnlab_kind='spectra')")
                missing = [k for k in ("wave_aa", *_ARRAYS, "truth", "dlas") if k not in h5]
                if missing:
                    raise SpectraFileError(f"{path}: missing datasets {missing}")
                wave = np.asarray(h5["wave_aa"])
                arrays = {k: np.asarray(h5[k]) for k in _ARRAYS}
                truth = _h5_table(h5["truth"])
                dlas = _h5_table(h5["dlas"])
                meta = json.loads(h5.attrs.get("meta", "{}"))
        else:
            from astropy.io import fits

            with fits.open(path, memmap=False) as hl:
                if hl[0].header.get("AGNKIND") != "spectra":
                    raise SpectraFileError(f"{path}: not an agnlab spectra file (no AGNKIND='spectra')")
                names = [h.name for h in hl]
                missing = [k for k in ("WAVE", *(a.upper() for a in _ARRAYS), "TRUTH", "DLAS") if k not in names]
                if missing:
                    raise SpectraFileError(f"{path}: missing HDUs {missing}")
                wave = np.asarray(hl["WAVE"].data, dtype=np.float64)
                arrays = {k: np.asarray(hl[k.upper()].data, dtype=np.float32) for k in _ARRAYS}
                truth = pd.DataFrame({c: _native(hl["TRUTH"].data[c]) for c in hl["TRUTH"].columns.names})
                dlas = pd.DataFrame({c: _native(hl["DLAS"].data[c]) for c in hl["DLAS"].columns.names})
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
    return SimulatedSpectra(wave, arrays["flux"].astype(np.float32), arrays["ivar"].astype(np.float32),
                            arrays["continuum"].astype(np.float32), arrays["transmission"].astype(np.float32),
                            truth, dlas, meta)


def _h5_table(group):
    order = json.loads(group.attrs.get("columns", "[]")) or sorted(group)
    return pd.DataFrame({c: np.asarray(group[c]) for c in order})


def _native(a):
    a = np.asarray(a)
    return a.astype(a.dtype.newbyteorder("=")) if a.dtype.byteorder not in ("=", "|") else a


# ---------------------------------------------------------------------------
# real spectra
# ---------------------------------------------------------------------------


@dataclass
class ObservedSpectra:
    """Spectra read from files, on one wavelength grid.

    Attributes
    ----------
    wave_aa : ndarray, shape (n_pix,)
    flux, ivar : ndarray, shape (n, n_pix), float32
        Masked pixels have ``ivar = 0`` and ``flux = 0``.
    mask : ndarray, shape (n, n_pix), bool
        True where a pixel was masked (bad in the file, NaN, ``ivar <= 0``).
    meta : pandas.DataFrame
        One row per spectrum: ``source`` (file name, row) and header keywords
        such as ``z`` when present.
    """

    wave_aa: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __len__(self):
        return int(self.flux.shape[0])


_WAVE_COLS = ("wave_aa", "wave", "wavelength", "lambda", "lam", "loglam")
_FLUX_COLS = ("flux", "flux_density", "f_lambda")
_IVAR_COLS = ("ivar", "inverse_variance", "invvar")
_ERR_COLS = ("error", "err", "sigma", "flux_err", "noise")
_MASK_COLS = ("mask", "and_mask", "pixel_mask", "bad_pixel", "pixmask")


def _find(names, candidates):
    low = {n.lower(): n for n in names}
    for c in candidates:
        if c in low:
            return low[c]
    return None


def mask_bad_pixels(flux, ivar, mask=None, *, negative_ivar="raise", name="spectra"):
    """Mask pixels with ``ivar = 0``, NaN/infinite flux or ivar, or ``mask != 0``.

    Parameters
    ----------
    flux, ivar : array_like, shape (n, n_pix) or (n_pix,)
    mask : array_like of int or bool, optional
        Non-zero = bad.
    negative_ivar : {'raise', 'mask'}
        Negative inverse variances are meaningless: raise (default) or mask them.

    Returns
    -------
    flux, ivar : ndarray (float32)
        Copies with masked pixels set to 0.
    bad : ndarray of bool
    """
    flux = np.array(flux, dtype=np.float64, copy=True)
    ivar = np.array(ivar, dtype=np.float64, copy=True)
    if flux.shape != ivar.shape:
        raise ValueError(f"{name}: flux has shape {flux.shape} but ivar has {ivar.shape}")
    if flux.size == 0:
        raise ValueError(f"{name}: empty spectra (no pixels)")
    nonfinite = ~np.isfinite(flux) | ~np.isfinite(ivar)
    with np.errstate(invalid="ignore"):
        neg = np.isfinite(ivar) & (ivar < 0)
    if np.any(neg):
        if negative_ivar == "raise":
            raise ValueError(f"{name}: {int(neg.sum())} pixels have negative ivar; fix the input or pass "
                             f"negative_ivar='mask'")
        if negative_ivar != "mask":
            raise ValueError(f"negative_ivar must be 'raise' or 'mask', got {negative_ivar!r}")
    bad = nonfinite | neg | (ivar == 0)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != flux.shape:
            raise ValueError(f"{name}: mask has shape {mask.shape} but flux has {flux.shape}")
        bad |= mask.astype(bool)
    flux[bad] = 0.0
    ivar[bad] = 0.0
    return flux.astype(np.float32), ivar.astype(np.float32), bad


def read_spectra_fits(paths, *, hdu=1, wave_col=None, flux_col=None, ivar_col=None, mask_col=None,
                      wave_aa=None, negative_ivar="raise", min_valid_fraction=0.0):
    """Read real spectra from FITS binary tables.

    Parameters
    ----------
    paths : str, Path or sequence of them
        FITS files; each holds one spectrum per file (one row per pixel) or
        several (one row per spectrum with array columns).
    hdu : int or str
        HDU holding the table.
    wave_col, flux_col, ivar_col, mask_col : str, optional
        Column names; found automatically when not given (``loglam`` is
        converted with ``10**loglam``; an error column becomes ``1/err^2``).
    wave_aa : array_like, optional
        Common output grid; spectra on other grids are resampled onto it
        (linear interpolation; a pixel touching a masked input pixel is
        masked). Without it all spectra must share one grid.
    negative_ivar : {'raise', 'mask'}
    min_valid_fraction : float
        Raise if a spectrum has a smaller fraction of unmasked pixels.

    Returns
    -------
    ObservedSpectra
    """
    from astropy.io import fits

    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_spectra_fits: no files given")
    waves, fluxes, ivars, masks, meta = [], [], [], [], []
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"spectrum file not found: {p}")
        try:
            with fits.open(p, memmap=False) as hl:
                try:
                    h = hl[hdu]
                except (KeyError, IndexError):
                    raise SpectraFileError(f"{p}: no HDU {hdu!r} (file has {[x.name for x in hl]})") from None
                if not isinstance(h, (fits.BinTableHDU, fits.TableHDU)):
                    raise SpectraFileError(f"{p}: HDU {hdu!r} is not a table")
                data = h.data
                names = list(data.columns.names)
                hdr = dict(hl[0].header)
                hdr.update(h.header)
                wc = wave_col or _find(names, _WAVE_COLS)
                fc = flux_col or _find(names, _FLUX_COLS)
                ic = ivar_col or _find(names, _IVAR_COLS)
                ec = None if ic else _find(names, _ERR_COLS)
                mc = mask_col or _find(names, _MASK_COLS)
                missing = [k for k, v in (("wavelength", wc), ("flux", fc)) if v is None]
                if ic is None and ec is None:
                    missing.append("ivar (or error)")
                if missing:
                    raise SpectraFileError(f"{p}: table has no {', '.join(missing)} column; columns are {names}")
                w = np.asarray(data[wc], dtype=np.float64)
                f = np.asarray(data[fc], dtype=np.float64)
                if ic is not None:
                    iv = np.asarray(data[ic], dtype=np.float64)
                else:
                    err = np.asarray(data[ec], dtype=np.float64)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        iv = np.where(err > 0, 1.0 / err ** 2, 0.0)
                mk = np.asarray(data[mc]) if mc is not None else None
        except SpectraFileError:
            raise
        except (OSError, TypeError, ValueError) as exc:
            raise SpectraFileError(f"{p}: cannot read FITS table ({type(exc).__name__}: {exc})") from None
        if wc.lower() == "loglam":
            w = 10.0 ** w
        if f.ndim == 1:  # one row per pixel
            w, f, iv = w[None, :], f[None, :], iv[None, :]
            mk = None if mk is None else mk[None, :]
        elif w.ndim == 1:
            w = np.broadcast_to(w[:, None], f.shape)
        if f.shape[1] == 0:
            raise SpectraFileError(f"{p}: empty spectrum (no pixels)")
        for r in range(f.shape[0]):
            wr = w[r]
            if not np.all(np.isfinite(wr)) or np.any(np.diff(wr) <= 0):
                raise SpectraFileError(f"{p} row {r}: wavelength must be finite and strictly increasing")
            fr, ir, bad = mask_bad_pixels(f[r], iv[r], None if mk is None else mk[r], negative_ivar=negative_ivar,
                                          name=f"{p.name} row {r}")
            n_bad = int(bad.sum())
            frac = 1.0 - n_bad / bad.size
            if frac <= min_valid_fraction or frac == 0.0:
                raise SpectraFileError(f"{p} row {r}: only {frac:.1%} of pixels are valid")
            if n_bad:
                warnings.warn(f"{p.name} row {r}: {n_bad} of {bad.size} pixels masked (ivar<=0, NaN or mask)",
                              stacklevel=2)
            waves.append(wr)
            fluxes.append(fr)
            ivars.append(ir)
            masks.append(bad)
            meta.append({"source": f"{p.name}[{r}]", **{k.lower(): hdr[k] for k in ("Z", "Z_VI", "Z_PIPE", "ZQSO")
                                                         if k in hdr}})
    if wave_aa is None:
        ref = waves[0]
        for k, wr in enumerate(waves[1:], 1):
            if wr.shape != ref.shape or not np.allclose(wr, ref, rtol=1e-7, atol=0):
                raise ValueError(f"spectrum {meta[k]['source']} is on a different wavelength grid than "
                                 f"{meta[0]['source']}; pass wave_aa= to resample onto a common grid")
        out_w = np.asarray(ref, dtype=np.float64)
        F, I, M = np.array(fluxes), np.array(ivars), np.array(masks)
    else:
        out_w = np.asarray(wave_aa, dtype=np.float64)
        F, I, M = [], [], []
        for wr, fr, ir in zip(waves, fluxes, ivars):
            f2, i2 = resample_spectra(wr, fr[None, :], ir[None, :], out_w)
            F.append(f2[0])
            I.append(i2[0])
            M.append(i2[0] == 0)
        F, I, M = np.array(F), np.array(I), np.array(M)
    return ObservedSpectra(out_w, F.astype(np.float32), I.astype(np.float32), M, pd.DataFrame(meta))


def resample_spectra(wave_in, flux, ivar, wave_out):
    """Linear resampling onto ``wave_out``; output pixels next to masked or outside pixels are masked.

    Parameters
    ----------
    wave_in : ndarray, shape (n_in,)
    flux, ivar : ndarray, shape (n, n_in)
    wave_out : ndarray, shape (n_out,)

    Returns
    -------
    flux_out, ivar_out : ndarray, shape (n, n_out), float32
        ``ivar`` is the inverse variance of the interpolated value (point
        sampling; onto much coarser grids an inverse-variance weighted
        rebinning keeps more signal).
    """
    wave_in = np.asarray(wave_in, dtype=float)
    wave_out = np.asarray(wave_out, dtype=float)
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=float))
    if flux.shape != ivar.shape or flux.shape[1] != wave_in.size:
        raise ValueError(f"resample_spectra: flux {flux.shape} / ivar {ivar.shape} do not match "
                         f"wave_in {wave_in.shape}")
    j = np.searchsorted(wave_in, wave_out) - 1
    inside = (j >= 0) & (j < wave_in.size - 1)
    j = np.clip(j, 0, wave_in.size - 2)
    t = (wave_out - wave_in[j]) / (wave_in[j + 1] - wave_in[j])
    f = flux[:, j] * (1 - t) + flux[:, j + 1] * t
    good = (ivar[:, j] > 0) & (ivar[:, j + 1] > 0) & inside[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(good, (1 - t) ** 2 / ivar[:, j] + t ** 2 / ivar[:, j + 1], np.inf)
    iv = np.where(good, 1.0 / var, 0.0)
    f = np.where(good, f, 0.0)
    return f.astype(np.float32), iv.astype(np.float32)
