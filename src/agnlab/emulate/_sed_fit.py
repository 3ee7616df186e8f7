"""Fit an observed SED with an emulator or a regular model grid: the solution set.

The emulator-specific front end of :func:`agnlab.inference.solution_set` (the
shared, model-agnostic search); it lives in ``agnlab.emulate`` so that the
shared ``inference`` layer imports no workflow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..inference import GridForward, sed_forward, solution_set
from ..validation import check_array

__all__ = ["fit_sed", "load_sed_model", "sed_model_forward"]


def load_sed_model(path):
    """Load an SED model from a file: an agnlab emulator artifact, or a model grid.

    Emulators (``agnlab.emulate`` artifacts) are returned as they are; grid
    files (``.npz`` / CLUMPY ``.hdf5``, read with ``agnlab.grids.load_grid``)
    must be regular (Cartesian product) and are returned as a ``ModelGrid``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix.lower() == ".npz":
        from ..io import ArtifactError, load_artifact

        try:
            _, meta = load_artifact(path)
        except ArtifactError:
            meta = None
        if meta is not None:
            if not str(meta.get("_kind", "")).startswith("agnlab.emulate."):
                raise ValueError(f"{path}: holds a {meta.get('_kind')!r}, not an emulator or model grid")
            from . import load_emulator

            return load_emulator(path)
    from ..grids import load_grid

    return load_grid(path)


def sed_model_forward(model, wave_um):
    """Forward model theta -> log10 flux at ``wave_um`` for an emulator or a ModelGrid.

    Returns
    -------
    forward : callable
    param_names : list of str
    bounds : ndarray, shape (n_params, 2)
        The model's domain (training ranges of an emulator, grid extent).
    """
    if hasattr(model, "param_min_") and hasattr(model, "predict"):          # an agnlab emulator
        wave_model = getattr(model, "wave_um_", None)
        if wave_model is None:
            raise ValueError("the emulator was fitted without wave_um; cannot place observed wavelengths")
        if hasattr(model, "predict_log10"):
            fwd = sed_forward(model.predict_log10, wave_model, wave_um, output="log_flux")
        else:
            fwd = sed_forward(model.predict, wave_model, wave_um, output="flux")
        bounds = np.stack([model.param_min_, model.param_max_], axis=1)
        return fwd, list(model.param_names_), bounds
    if hasattr(model, "params") and hasattr(model, "flux"):                 # a ModelGrid
        grid_fwd = GridForward.from_model_grid(model)
        fwd = sed_forward(grid_fwd, model.wave_um, wave_um, output="log_flux")
        return fwd, list(model.param_names), grid_fwd.bounds
    if isinstance(model, GridForward) and hasattr(model, "wave_um"):
        return sed_forward(model, model.wave_um, wave_um, output="log_flux"), model.param_names, model.bounds
    raise TypeError(f"model must be an agnlab emulator or a ModelGrid, got {type(model).__name__}")


def fit_sed(model, wave_um, flux, flux_err, *, bounds=None, method: str = "de", **kwargs):
    """Every parameter vector of an SED model consistent with an observed SED.

    The fit is done in log10 flux with an unknown normalisation profiled
    analytically (``offset="profile"``); errors are propagated to dex as
    ``flux_err / (flux ln 10)``.

    Parameters
    ----------
    model : agnlab emulator (``NeuralEmulator``/``PCAEmulator``) or ``ModelGrid`` (regular grid)
    wave_um, flux, flux_err : array_like, shape (n_obs,)
        Observed wavelengths [um], fluxes (> 0, F_nu in any unit) and 1-sigma errors (> 0).
    bounds : dict name -> (lo, hi), optional
        Narrower search ranges (default: the model's whole domain).
    method : str
        See :func:`agnlab.inference.solution_set`.
    **kwargs
        Passed to :func:`agnlab.inference.solution_set`.

    Returns
    -------
    SolutionSet
        ``best_offset`` is the fitted log10 normalisation.
    """
    w = check_array(wave_um, name="wave_um", ndim=1, positive=True)
    f = check_array(flux, name="flux", shape=w.shape, positive=True)
    e = check_array(flux_err, name="flux_err", shape=w.shape, positive=True)
    wu, counts = np.unique(w, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"wave_um: duplicated wavelength(s) {wu[counts > 1][:5].tolist()} um would be counted "
                         "twice; merge them first (e.g. an error-weighted mean per wavelength)")
    fwd, names, box = sed_model_forward(model, w)
    n_free = len(names) + (1 if kwargs.get("offset", "profile") == "profile" else 0)
    if w.size <= n_free:
        raise ValueError(f"{w.size} data point(s) cannot constrain {len(names)} parameters"
                         + (" and a normalisation" if n_free > len(names) else "")
                         + f" (degrees of freedom {w.size - n_free} <= 0); need at least {n_free + 1} points")
    box = np.array(box, dtype=float)
    if bounds:
        unknown = sorted(set(bounds) - set(names))
        if unknown:
            raise ValueError(f"bounds: unknown parameter(s) {unknown}; the model has {names}")
        for n, (lo, hi) in bounds.items():
            k = names.index(n)
            if not (box[k, 0] <= lo < hi <= box[k, 1]):
                raise ValueError(f"bounds[{n!r}] = ({lo}, {hi}) must lie within the model domain "
                                 f"{tuple(box[k])} with lo < hi")
            box[k] = (lo, hi)
    kwargs.setdefault("offset", "profile")
    return solution_set(fwd, np.log10(f), e / (f * np.log(10.0)), box, method=method, param_names=names,
                        **kwargs)
