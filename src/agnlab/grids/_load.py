"""Load and save model grids: agnlab/column npz files and the CLUMPY HDF5 layout."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from .._progress import progress
from ..io import atomic_path, read_npz
from ._model_grid import ModelGrid

__all__ = ["load_grid", "save_grid", "iter_clumpy_hdf5", "CLUMPY_PARAM_NAMES"]

#: The CLUMPY parameter names, in file order (the one definition in agnlab): optical depth per
#: cloud, clouds on the equator, angular width [deg], radial thickness Ro/Rd, radial power law,
#: viewing angle [deg]. Every array of CLUMPY(-like) parameters uses this column order.
CLUMPY_PARAM_NAMES = ("tv", "N0", "sig", "Y", "q", "i")
_FLUX_KEYS = ("flux", "fnu", "flux_toragn", "flux_tor")


def load_grid(path, *, flux_key: str | None = None, chunk_rows: int = 200_000, rows=None) -> ModelGrid:
    """Load a model grid from ``.npz`` or CLUMPY ``.hdf5``/``.h5``.

    Parameters
    ----------
    path : str or Path
        * ``.npz`` written by :func:`save_grid` (``params``, ``param_names``,
          ``wave_um``, ``flux``), or a column layout: ``wave_um`` (or
          ``wave``), a 2-D flux array (``flux``, ``fnu``, ...) and one 1-D
          array per parameter (as ``../shared/data/torus``).
        * CLUMPY HDF5: ``wave``; 1-D ``Y``, ``N0``, ``q``, ``sig``, ``tv``,
          ``i``; ``flux_tor``/``flux_toragn`` (n_models, n_wave). Read in
          chunks of ``chunk_rows`` with a progress bar.
    flux_key : str, optional
        Which flux array to read (default: ``flux_toragn`` for CLUMPY HDF5,
        else the first of ``flux``, ``fnu``).
    rows : slice, index array or boolean mask, optional
        Read only these models, returned in file order (HDF5: only these
        rows are read from disk).

    Returns
    -------
    ModelGrid
        Wavelengths sorted ascending (flux columns follow).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"grid file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, flux_key, rows)
    if suffix in (".h5", ".hdf5", ".hdf"):
        return _load_clumpy_hdf5(path, flux_key, chunk_rows, rows)
    raise ValueError(f"{path}: unknown grid format {suffix!r}; expected .npz or CLUMPY .hdf5/.h5")


def _sorted_axis(wave, flux):
    wave = np.asarray(wave, dtype=float)
    order = np.argsort(wave)
    return wave[order], np.asarray(flux)[:, order]


def _load_npz(path: Path, flux_key, rows) -> ModelGrid:
    data = read_npz(path, what="model grid")
    if "__agnlab_metadata__" in data:
        raise ValueError(f"{path}: is an agnlab model file (see 'agnlab info {path}'), not a model grid")
    try:
        return _grid_from_arrays(data, path, flux_key, rows)
    except (ValueError, IndexError, TypeError) as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(str(path)) else f"{path}: {text}") from None


def _check_flux(flux, wave, path, fkey):
    flux = np.asarray(flux)
    if flux.ndim != 2:
        raise ValueError(f"{path}: {fkey!r} must be 2-D (n_models, n_wave), got shape {flux.shape}")
    if np.ndim(wave) != 1 or flux.shape[1] != np.size(wave):
        raise ValueError(f"{path}: {fkey!r} has {flux.shape[1]} wavelength columns but the wavelength array "
                         f"has shape {np.shape(wave)}")


def _grid_from_arrays(data: dict, path: Path, flux_key, rows) -> ModelGrid:
    sel = slice(None) if rows is None else rows
    if {"params", "param_names", "flux"} <= data.keys():
        wave = data.get("wave_um")
        if wave is None:
            raise KeyError(f"{path}: missing dataset 'wave_um'")
        _check_flux(data["flux"], wave, path, "flux")
        if np.ndim(data["params"]) != 2 or len(data["params"]) != len(data["flux"]):
            raise ValueError(f"{path}: 'params' has shape {np.shape(data['params'])}; expected "
                             f"({len(data['flux'])}, n_params) to match 'flux'")
        wave, flux = _sorted_axis(wave, data["flux"][sel])
        meta = {"source": str(path)}
        return ModelGrid(data["params"][sel], [str(n) for n in np.atleast_1d(data["param_names"])], wave, flux,
                         meta)
    wave_key = "wave_um" if "wave_um" in data else ("wave" if "wave" in data else None)
    fkey = flux_key or next((k for k in _FLUX_KEYS if k in data), None)
    missing = [name for name, key in (("wave_um", wave_key), ("flux", fkey)) if key is None or key not in data]
    if missing:
        raise KeyError(f"{path}: missing dataset(s) {missing}; found {sorted(data)}")
    flux = data[fkey]
    _check_flux(flux, data[wave_key], path, fkey)
    n = flux.shape[0]
    names = [k for k, v in data.items() if v.ndim == 1 and len(v) == n and k not in (wave_key, fkey)
             and np.issubdtype(v.dtype, np.number)]
    if not names:
        raise KeyError(f"{path}: no 1-D parameter arrays of length {n} found")
    params = np.column_stack([data[k] for k in names])[sel]
    wave, flux = _sorted_axis(data[wave_key], flux[sel])
    return ModelGrid(params, names, wave, flux, {"source": str(path), "flux_key": fkey})


@contextlib.contextmanager
def _open_clumpy(path, flux_key: str):
    """Open a CLUMPY HDF5 file read-only, checking that every needed dataset is there."""
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: cannot open as HDF5 (corrupt, truncated or wrong type: {exc})") from None
    with h5:
        missing = [k for k in ("wave", *CLUMPY_PARAM_NAMES, flux_key) if k not in h5]
        if missing:
            raise KeyError(f"{path}: missing dataset(s) {missing} in CLUMPY HDF5; found {sorted(h5.keys())}")
        n = h5[flux_key].shape[0]
        for k in CLUMPY_PARAM_NAMES:
            if h5[k].shape != (n,):
                raise ValueError(f"{path}: dataset {k!r} has shape {h5[k].shape}, expected ({n},)")
        yield h5


def iter_clumpy_hdf5(path, *, flux_key: str = "flux_toragn", chunk_rows: int = 200_000):
    """Yield ``(params, flux)`` chunks of a CLUMPY HDF5 file (params in :data:`CLUMPY_PARAM_NAMES` order).

    Lets grids larger than memory stream through a fit or an evaluation.
    """
    with _open_clumpy(path, flux_key) as h5:
        n = h5[flux_key].shape[0]
        for start in range(0, n, chunk_rows):
            sl = slice(start, min(n, start + chunk_rows))
            params = np.column_stack([np.asarray(h5[k][sl], dtype=float) for k in CLUMPY_PARAM_NAMES])
            yield params, np.asarray(h5[flux_key][sl], dtype=float)


def _load_clumpy_hdf5(path: Path, flux_key, chunk_rows, rows) -> ModelGrid:
    flux_key = flux_key or "flux_toragn"
    with _open_clumpy(path, flux_key) as h5:
        fds = h5[flux_key]
        n, n_wave = fds.shape
        idx = np.unique(np.arange(n)[rows]) if rows is not None else None  # file order, no repeats
        count = n if idx is None else idx.size
        params = np.empty((count, len(CLUMPY_PARAM_NAMES)))
        flux = np.empty((count, n_wave))
        for start in progress(range(0, count, chunk_rows), desc="reading grid", unit="chunk"):
            stop = min(count, start + chunk_rows)
            sl = slice(start, stop) if idx is None else idx[start:stop]
            flux[start:stop] = fds[sl]
            for j, k in enumerate(CLUMPY_PARAM_NAMES):
                params[start:stop, j] = h5[k][sl]
        wave = np.asarray(h5["wave"], dtype=float)
        meta = {"source": str(path), "flux_key": flux_key}
    _check_flux(flux, wave, path, flux_key)
    wave, flux = _sorted_axis(wave, flux)
    try:
        return ModelGrid(params, CLUMPY_PARAM_NAMES, wave, flux, meta)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def save_grid(grid: ModelGrid, path) -> Path:
    """Save a :class:`ModelGrid` to ``.npz`` (no pickle), atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: grids are saved as .npz")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, params=grid.params, param_names=np.array(grid.param_names, dtype=str),
                     wave_um=grid.wave_um, flux=grid.flux)
    return path
