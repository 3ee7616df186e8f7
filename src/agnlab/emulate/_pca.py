"""PCA emulator: PCA on log10 flux + interpolation of the coefficients in parameter space (the baseline)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin

from ._base import _LN10, EmulatorBase

__all__ = ["PCAEmulator"]

_INTERP = ("auto", "regular", "rbf", "linear", "nearest")


def _regular_axes(Xs: np.ndarray):
    """Node values per axis if the rows of ``Xs`` form a complete Cartesian grid, else None."""
    axes = [np.unique(Xs[:, j]) for j in range(Xs.shape[1])]
    if int(np.prod([a.size for a in axes], dtype=np.int64)) != Xs.shape[0]:
        return None
    if any(a.size < 2 for a in axes):
        return None
    idx = np.stack([np.searchsorted(a, Xs[:, j]) for j, a in enumerate(axes)], axis=1)
    flat = np.ravel_multi_index(idx.T, [a.size for a in axes])
    if np.unique(flat).size != Xs.shape[0]:
        return None
    return axes, flat


class PCAEmulator(RegressorMixin, EmulatorBase):
    """PCA on log10 flux plus interpolation of the PCA coefficients over the parameters.

    The baseline emulator: exact at the grid nodes, linear (or RBF) between them.

    Parameters
    ----------
    n_components : int, float in (0, 1) or None
        Number of PCA components of the log10 fluxes (a float keeps that fraction
        of the variance; None keeps all).
    interpolation : {"auto", "regular", "rbf", "linear", "nearest"}
        ``"regular"``: :class:`scipy.interpolate.RegularGridInterpolator` (training
        parameters must form a complete Cartesian grid); ``"rbf"``: local
        :class:`scipy.interpolate.RBFInterpolator` (scattered, any dimension);
        ``"linear"``: Delaunay :class:`~scipy.interpolate.LinearNDInterpolator`
        (scattered, few dimensions; NaN outside the convex hull); ``"nearest"``.
        ``"auto"`` picks "regular" for complete grids, else "rbf".
    regular_method : str
        Method of RegularGridInterpolator ("linear", "cubic", ...).
    rbf_kernel : str
        Kernel of RBFInterpolator.
    rbf_neighbors : int or None
        Nearest training points used per prediction (None: all, only for small grids).
    log_params : "auto" or sequence of str
        Parameters interpolated in log space; "auto": positive parameters spanning
        a factor >= 10 whose values crowd at the low end (median in the lowest
        30 % of the range, as for log-spaced grids).
    param_names : sequence of str, optional
        Names of the parameters (else taken from a DataFrame X, else p0, p1...).
    on_out_of_domain : {"raise", "nan"}
        What to do with parameters outside the training ranges.
    chunk_size : int
        Rows per interpolation chunk (bounds memory).

    Attributes
    ----------
    components_ : ndarray, shape (n_components_, n_wave)
    log_mean_ : ndarray, shape (n_wave,)
    interpolation_ : str
        The interpolation actually used.
    param_ranges_ : dict
        Training domain.

    Examples
    --------
    >>> from agnlab.grids import clumpy_like_grid
    >>> from agnlab.emulate import PCAEmulator
    >>> g = clumpy_like_grid(300, seed=0)
    >>> emu = PCAEmulator(n_components=8).fit(g.params, g.flux, wave_um=g.wave_um)
    >>> emu.predict(g.params[:2]).shape
    (2, 119)
    """

    _fitted_attributes = ("interpolation_",)

    def __init__(self, *, n_components=16, interpolation="auto", regular_method="linear",
                 rbf_kernel="thin_plate_spline", rbf_neighbors=64, log_params="auto", param_names=None,
                 on_out_of_domain="raise", chunk_size=65536):
        self.n_components = n_components
        self.interpolation = interpolation
        self.regular_method = regular_method
        self.rbf_kernel = rbf_kernel
        self.rbf_neighbors = rbf_neighbors
        self.log_params = log_params
        self.param_names = param_names
        self.on_out_of_domain = on_out_of_domain
        self.chunk_size = chunk_size

    def fit(self, X, Y=None, *, wave_um=None):
        """Fit on parameters ``X`` (n_models, n_params) and fluxes ``Y`` (n_models, n_wave) > 0.

        ``wave_um`` (n_wave,) is optional and stored for evaluation (colours).

        ``X`` may also be a :class:`agnlab.grids.ModelGrid` (then ``Y`` is omitted):
        its parameter names and ``wave_um`` are carried into the emulator, so
        ``emu.fit(grid)`` gives a model every CLI verb accepts.
        """
        if self.interpolation not in _INTERP:
            raise ValueError(f"interpolation must be one of {_INTERP}, got {self.interpolation!r}")
        X, Y, names, wave_um = self._validate_fit(X, Y, wave_um)
        self._set_param_scaling(X, names)
        self.wave_um_ = wave_um
        coef = self._fit_pca(np.log10(Y), self.n_components)
        self._build_interpolator(self._scale_params(X), coef)
        self.training_record_ = {"n_train": int(X.shape[0]),
                                 "explained_variance": float(self.explained_variance_ratio_.sum())}
        return self

    def _build_interpolator(self, Xs, coef):
        from scipy import interpolate

        mode = self.interpolation
        reg = _regular_axes(Xs) if mode in ("auto", "regular") else None
        if mode == "regular" and reg is None:
            raise ValueError("interpolation='regular' needs training parameters on a complete Cartesian grid; "
                             "use 'rbf' for scattered models")
        if mode == "auto":
            mode = "regular" if reg is not None else "rbf"
        self.interpolation_ = mode
        self.train_x_ = Xs
        self.train_coef_ = coef
        if mode == "regular":
            axes, flat = reg
            values = np.empty((int(np.prod([a.size for a in axes])), coef.shape[1]))
            values[flat] = coef
            values = values.reshape(*[a.size for a in axes], coef.shape[1])
            self._interp = interpolate.RegularGridInterpolator(tuple(axes), values, method=self.regular_method,
                                                               bounds_error=False, fill_value=None)
        elif mode == "rbf":
            nb = None if self.rbf_neighbors is None else min(int(self.rbf_neighbors), Xs.shape[0])
            self._interp = interpolate.RBFInterpolator(Xs, coef, neighbors=nb, kernel=self.rbf_kernel)
        elif mode == "linear":
            self._interp = interpolate.LinearNDInterpolator(Xs, coef)
        else:
            self._interp = interpolate.NearestNDInterpolator(Xs, coef)

    def predict(self, X, *, out=None, dtype=np.float64, output: str = "flux", return_flags: bool = False):
        """Fluxes (n, n_wave); rows out of the training domain raise or are NaN.

        ``out``, ``dtype`` and ``output`` ("flux" or "log10_flux") as in
        :meth:`NeuralEmulator.predict`. With ``return_flags=True`` returns
        ``(fluxes, flags)``, flags (n,) ``"ok"``/``"out_of_domain"``.
        """
        self._check_fitted()
        X = self._validate_predict(X)
        ok = self._domain_mask(X)
        out = self._output_buffer(out, X.shape[0], dtype, output)
        out[~ok] = np.nan
        Xs = self._scale_params(X)
        rows = np.flatnonzero(ok)
        step = max(1, int(self.chunk_size))
        basis = self.components_ * _LN10
        mean = self.log_mean_ * _LN10
        for s in range(0, rows.size, step):
            r = rows[s:s + step]
            z = self._interp(Xs[r]) @ basis + mean
            out[r] = z / _LN10 if output == "log10_flux" else np.exp(z)
        return self._with_flags(out, ok, return_flags)

    def _get_state(self):
        arrays = {**self._common_arrays(), "train_x": self.train_x_, "train_coef": self.train_coef_}
        return arrays, {**self._common_meta(), "interpolation": self.interpolation_}

    def _set_state(self, arrays, meta):
        self._restore_common(arrays, meta)
        if meta["interpolation"] not in _INTERP[1:]:
            raise ValueError(f"unknown interpolation {meta['interpolation']!r}")
        saved, self.interpolation = self.interpolation, meta["interpolation"]
        try:
            self._build_interpolator(np.asarray(arrays["train_x"], float), np.asarray(arrays["train_coef"], float))
        finally:
            self.interpolation = saved
