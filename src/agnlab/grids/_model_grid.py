"""The ModelGrid container: model parameters, a wavelength axis and fluxes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..validation import check_array, check_random_state

__all__ = ["ModelGrid"]


@dataclass(frozen=True, eq=False)
class ModelGrid:
    """A grid of precomputed model spectra.

    Parameters
    ----------
    params : ndarray, shape (n_models, n_params)
        Model parameters, one row per model.
    param_names : sequence of str, length n_params
        Unique parameter names (e.g. ``("tv", "N0", "sig", "Y", "q", "i")``).
    wave_um : ndarray, shape (n_wave,)
        Strictly increasing wavelengths in micron.
    flux : ndarray, shape (n_models, n_wave)
        Finite fluxes (F_nu in any consistent unit).
    meta : dict, optional
        Free-form description (source, units, flux kind).

    Examples
    --------
    >>> import numpy as np
    >>> g = ModelGrid(np.array([[1.0], [2.0]]), ["a"], np.array([1.0, 2.0]), np.ones((2, 2)))
    >>> g.n_models, g.n_params, g.n_wave
    (2, 1, 2)
    """

    params: np.ndarray
    param_names: tuple
    wave_um: np.ndarray
    flux: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        params = check_array(self.params, name="params", ndim=2)
        names = tuple(str(n) for n in self.param_names)
        if len(names) != params.shape[1]:
            raise ValueError(f"param_names has {len(names)} names but params has {params.shape[1]} columns")
        if len(set(names)) != len(names):
            raise ValueError(f"param_names must be unique, got {names}")
        wave = check_array(self.wave_um, name="wave_um", ndim=1, positive=True)
        if np.any(np.diff(wave) <= 0):
            raise ValueError("wave_um must be strictly increasing (sort the grid's wavelength axis)")
        flux = check_array(self.flux, name="flux", ndim=2)
        if flux.shape != (params.shape[0], wave.size):
            raise ValueError(f"flux has shape {flux.shape}; expected (n_models, n_wave) = "
                             f"({params.shape[0]}, {wave.size})")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "param_names", names)
        object.__setattr__(self, "wave_um", wave)
        object.__setattr__(self, "flux", flux)
        object.__setattr__(self, "meta", dict(self.meta or {}))

    @property
    def n_models(self) -> int:
        return self.params.shape[0]

    @property
    def n_params(self) -> int:
        return self.params.shape[1]

    @property
    def n_wave(self) -> int:
        return self.wave_um.size

    @property
    def log_flux(self) -> np.ndarray:
        """log10 of the fluxes, shape (n_models, n_wave); raises if any flux is <= 0."""
        bad = self.flux <= 0
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            raise ValueError(f"flux: {int(bad.sum())} values <= 0 in {rows.size} models (first rows "
                             f"{rows[:5].tolist()}); log flux is undefined there")
        return np.log10(self.flux)

    @property
    def param_ranges(self) -> dict:
        """``{name: (min, max)}`` over the grid."""
        return {n: (float(lo), float(hi)) for n, lo, hi in
                zip(self.param_names, self.params.min(axis=0), self.params.max(axis=0))}

    def param_index(self, name: str) -> int:
        try:
            return self.param_names.index(name)
        except ValueError:
            raise KeyError(f"unknown parameter {name!r}; grid has {list(self.param_names)}") from None

    def subset(self, rows) -> "ModelGrid":
        """A new grid with the selected models (index array, slice or boolean mask)."""
        return ModelGrid(self.params[rows], self.param_names, self.wave_um, self.flux[rows], self.meta)

    def split(self, test_fraction: float = 0.2, *, seed=0) -> tuple["ModelGrid", "ModelGrid"]:
        """Random (train, test) split of the models; ``test_fraction`` in (0, 1).

        Held-out models always lie inside the training set's parameter box
        (a model drawn for the test set that holds a parameter's extreme value
        goes to the training set instead), so an emulator trained on ``train``
        can predict every row of ``test`` without leaving its domain. The test
        set can therefore be slightly smaller than ``test_fraction``.
        """
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        if self.n_models < 2:
            raise ValueError(f"cannot split a grid of {self.n_models} model(s)")
        perm = check_random_state(seed).permutation(self.n_models)
        n_test = max(1, int(round(test_fraction * self.n_models)))
        test, train = perm[:n_test], perm[n_test:]
        lo, hi = self.params[train].min(axis=0), self.params[train].max(axis=0)
        outside = np.any((self.params[test] < lo) | (self.params[test] > hi), axis=1)
        if outside.all():
            raise ValueError("split: every held-out model lies outside the training box; grid too small to split")
        train = np.concatenate([train, test[outside]])
        return self.subset(np.sort(train)), self.subset(np.sort(test[~outside]))

    def __repr__(self) -> str:
        return (f"ModelGrid(n_models={self.n_models}, params={list(self.param_names)}, "
                f"wave_um=[{self.wave_um[0]:.3g}..{self.wave_um[-1]:.3g}] ({self.n_wave}))")
