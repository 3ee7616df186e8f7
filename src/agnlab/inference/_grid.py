"""A vectorised forward model interpolating a tabulated model grid."""

from __future__ import annotations

import numpy as np

from ..validation import check_array

__all__ = ["GridForward", "sed_forward"]


class GridForward:
    """Interpolate a rectangular model grid: theta (n, k) -> predictions (n, n_obs).

    Useful as the forward model of :func:`solution_set` when the model is a
    tabulated grid (PyNeb emissivity ratios on a Te x Ne grid, a CLUMPY SED
    grid...). Vectors outside the grid are out of the model's domain and get
    NaN predictions (never extrapolated); :func:`solution_set` then treats
    them as invalid.

    Parameters
    ----------
    axes : sequence of k 1-D arrays
        Strictly increasing grid coordinates of every parameter.
    values : array_like, shape (len(axes[0]), ..., len(axes[k-1]), n_obs)
        Model predictions at the grid nodes (finite).
    method : {"linear", "cubic", "pchip"}
        Interpolation (scipy ``RegularGridInterpolator``); "cubic"/"pchip"
        need >= 4 nodes per axis.
    param_names : list of str, optional

    Examples
    --------
    >>> import numpy as np
    >>> from agnlab.inference import GridForward
    >>> x = np.linspace(0, 1, 5); y = np.linspace(0, 2, 4)
    >>> vals = (x[:, None, None] + y[None, :, None]) * np.ones(2)
    >>> f = GridForward([x, y], vals)
    >>> f(np.array([[0.5, 1.0], [2.0, 0.0]])).round(6).tolist()
    [[1.5, 1.5], [nan, nan]]
    """

    def __init__(self, axes, values, *, method: str = "linear", param_names=None):
        from scipy.interpolate import RegularGridInterpolator

        self.axes = [check_array(a, name=f"axes[{i}]", ndim=1) for i, a in enumerate(axes)]
        for i, a in enumerate(self.axes):
            if a.size < 2 or np.any(np.diff(a) <= 0):
                raise ValueError(f"axes[{i}]: must hold >= 2 strictly increasing values")
        k = len(self.axes)
        vals = check_array(values, name="values")
        want = tuple(a.size for a in self.axes)
        if vals.ndim == k:
            vals = vals[..., None]
        if vals.shape[:k] != want or vals.ndim != k + 1:
            raise ValueError(f"values: expected shape {want} + (n_obs,), got {vals.shape}")
        if method not in ("linear", "cubic", "pchip"):
            raise ValueError(f"method must be 'linear', 'cubic' or 'pchip', got {method!r}")
        self.method = method
        self.n_obs = vals.shape[-1]
        self.param_names = list(param_names) if param_names is not None else [f"p{i}" for i in range(k)]
        self.bounds = np.array([[a[0], a[-1]] for a in self.axes])
        self._interp = RegularGridInterpolator(self.axes, vals, method=method, bounds_error=False,
                                               fill_value=np.nan)

    @classmethod
    def from_points(cls, params, values, *, method: str = "linear", param_names=None):
        """Build from a list of models lying on a complete Cartesian grid (any order).

        Parameters
        ----------
        params : array_like, shape (n_models, k)
            Node coordinates of every model.
        values : array_like, shape (n_models, n_obs)
        method, param_names : as in the constructor.

        Raises
        ------
        ValueError
            When the models do not fill the Cartesian product of the unique
            node values exactly once (a scattered grid: use an emulator).
        """
        p = check_array(params, name="params", ndim=2)
        v = check_array(values, name="values", ndim=2)
        if v.shape[0] != p.shape[0]:
            raise ValueError(f"values: {v.shape[0]} rows for {p.shape[0]} models in params")
        axes, index = [], []
        for j in range(p.shape[1]):
            u, inv = np.unique(p[:, j], return_inverse=True)
            axes.append(u)
            index.append(inv)
        shape = tuple(a.size for a in axes)
        if int(np.prod(shape)) != p.shape[0]:
            raise ValueError(f"params: {p.shape[0]} models do not form a complete Cartesian grid "
                             f"of {shape} nodes; use an emulator for scattered grids")
        flat = np.ravel_multi_index(tuple(index), shape)
        if np.unique(flat).size != flat.size:
            raise ValueError("params: duplicated grid nodes")
        cube = np.empty(shape + (v.shape[1],))
        cube.reshape(-1, v.shape[1])[flat] = v
        return cls(axes, cube, method=method, param_names=param_names)

    @classmethod
    def from_model_grid(cls, grid, *, log: bool = True, method: str = "linear"):
        """Forward model of an ``agnlab.grids.ModelGrid`` on a regular grid.

        Predicts log10 flux (``log=True``) or flux at the grid wavelengths.
        """
        vals = grid.log_flux if log else grid.flux
        obj = cls.from_points(grid.params, vals, method=method, param_names=list(grid.param_names))
        obj.wave_um = np.asarray(grid.wave_um, dtype=float)
        return obj

    def __call__(self, theta) -> np.ndarray:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.shape[1] != len(self.axes):
            raise ValueError(f"theta: expected {len(self.axes)} parameters per row, got shape {theta.shape}")
        out = np.asarray(self._interp(theta), dtype=float).reshape(theta.shape[0], self.n_obs)
        inside = np.all((theta >= self.bounds[:, 0]) & (theta <= self.bounds[:, 1]), axis=1)
        out[~inside] = np.nan
        return out

    predict = __call__


def sed_forward(predict, model_wave_um, wave_um, *, output: str = "flux"):
    """Wrap a model of SEDs so it predicts log10 flux at the observed wavelengths.

    Parameters
    ----------
    predict : callable
        theta (n, n_params) -> SEDs (n, n_model_wave) on ``model_wave_um``
        (e.g. ``NeuralEmulator.predict``, which returns flux, or a
        :class:`GridForward` of log flux).
    model_wave_um : array_like, shape (n_model_wave,)
        Strictly increasing wavelengths of the model SEDs [um].
    wave_um : array_like, shape (n_obs,)
        Observed wavelengths [um]; must lie inside the model range (no
        extrapolation).
    output : {"flux", "log_flux"}
        What ``predict`` returns.

    Returns
    -------
    callable
        theta (n, n_params) -> log10 flux (n, n_obs), linearly interpolated in
        log wavelength; non-positive or non-finite model fluxes give NaN (out
        of domain).
    """
    mw = check_array(model_wave_um, name="model_wave_um", ndim=1, positive=True)
    if np.any(np.diff(mw) <= 0):
        raise ValueError("model_wave_um: must be strictly increasing")
    w = check_array(wave_um, name="wave_um", ndim=1, positive=True)
    outside = (w < mw[0]) | (w > mw[-1])
    if outside.any():
        raise ValueError(f"wave_um: {w[outside].tolist()} um outside the model range "
                         f"[{mw[0]}, {mw[-1]}] um (no extrapolation)")
    if output not in ("flux", "log_flux"):
        raise ValueError(f"output must be 'flux' or 'log_flux', got {output!r}")
    lx, lm = np.log(w), np.log(mw)
    j = np.clip(np.searchsorted(lm, lx, side="right") - 1, 0, mw.size - 2)
    frac = (lx - lm[j]) / (lm[j + 1] - lm[j])

    def forward(theta):
        sed = predict(np.atleast_2d(np.asarray(theta, dtype=float)))
        if hasattr(sed, "detach"):
            sed = sed.detach().cpu().numpy()
        sed = np.asarray(sed, dtype=float)
        if sed.ndim != 2 or sed.shape[1] != mw.size:
            raise ValueError(f"predict returned shape {sed.shape}; expected (n, {mw.size}) on model_wave_um")
        cols = np.unique(np.concatenate([j, j + 1]))
        sub = sed[:, cols]
        if output == "flux":
            with np.errstate(divide="ignore", invalid="ignore"):
                sub = np.where(sub > 0, np.log10(np.where(sub > 0, sub, 1.0)), np.nan)
        lo = sub[:, np.searchsorted(cols, j)]
        hi = sub[:, np.searchsorted(cols, j + 1)]
        return lo * (1 - frac) + hi * frac

    return forward
