"""Reading IFU line maps (flux and error per line) from ``.npz`` or FITS files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["read_line_maps"]


def read_line_maps(path, lines) -> tuple[dict, dict]:
    """Line-flux and error maps of an IFU cube file, for :func:`monte_carlo_temden`.

    Parameters
    ----------
    path : str or Path
        ``.npz`` with arrays ``<label>`` and ``<label>_err``, or FITS with extensions
        ``EXTNAME=<label>`` and ``<label>_ERR``.
    lines : sequence of str
        Line labels, e.g. ``TeNeEstimator.lines_``.

    Returns
    -------
    fluxes, errors : dict of str -> ndarray
        One map per line, all of the same shape; errors name the file and the label.
    """
    from ..io import read_npz

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: cube file not found")
    fluxes, errors = {}, {}
    if path.suffix.lower() == ".npz":
        z = read_npz(path, what="line-map cube")
        missing = [k for k in lines if k not in z] + [k + "_err" for k in lines if k + "_err" not in z]
        if missing:
            raise KeyError(f"{path}: missing arrays {missing}; need each line label and '<label>_err' for {lines}")
        for k in lines:
            fluxes[k] = _map(z[k], path, k)
            errors[k] = _map(z[k + "_err"], path, k + "_err")
    elif path.suffix.lower() in (".fits", ".fit", ".fz"):
        from astropy.io import fits

        try:
            with fits.open(path) as hdul:
                names = {h.name.upper(): h for h in hdul}
                missing = [k for k in lines if k.upper() not in names] + [
                    k + "_ERR" for k in lines if (k + "_ERR").upper() not in names]
                if missing:
                    raise KeyError(f"{path}: missing extensions {missing}; need EXTNAME=<label> and <label>_ERR")
                for k in lines:
                    fluxes[k] = _map(names[k.upper()].data, path, k)
                    errors[k] = _map(names[(k + "_ERR").upper()].data, path, k + "_ERR")
        except (OSError, TypeError, IndexError, EOFError) as exc:
            raise ValueError(f"{path}: cannot read as a FITS cube ({type(exc).__name__}: {exc})") from None
    else:
        raise ValueError(f"{path}: cube must be .npz or .fits")
    shapes = {v.shape for v in (*fluxes.values(), *errors.values())}
    if len(shapes) != 1:
        raise ValueError(f"{path}: line and error maps differ in shape {sorted(shapes)}")
    return fluxes, errors


def _map(data, path, label):
    if data is None:
        raise ValueError(f"{path}: {label} holds no data")
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {label} is not numeric") from None
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(f"{path}: {label} must be a map (1-D or 2-D), got shape {arr.shape}")
    return arr
