"""GridEmulator: a photoionisation grid as a smooth forward model, parameters -> log10(F_line / F_Hbeta).

Two methods:

``"linear"``
    Multilinear interpolation between the nodes in log ratio (:mod:`._grid_interp`; the interpolant of
    NebulaBayes, Thomas et al. 2018): exact at the nodes, NaN outside the box and in cells with a
    missing corner, no training.
``"neural"``
    :class:`agnlab.emulate.NeuralEmulator` (an MLP on PCA coefficients of the log ratios, trained on the
    nodes): smooth (continuous derivatives, which samplers like) and defined across holes of the grid;
    NaN outside the box of the training models.

Either is the forward model of :func:`agnlab.nebular.grid_solution_set` and a vectorised callable for
:func:`agnlab.inference.solution_set`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._estimator import AgnlabEstimator
from ..validation import check_array
from ._grid_interp import LOG_FLOOR, LogRatioInterpolator, log_ratios
from ._photoion_grid import GridError, PhotoionizationGrid, load_photoionization_grid

__all__ = ["GridEmulator"]

_METHODS = ("linear", "neural")
_NEURAL_DEFAULTS = {"hidden": (96, 96, 96), "max_epochs": 1500, "lbfgs_steps": 1000, "validation_fraction": 0.1,
                    "progress": False}


class GridEmulator(AgnlabEstimator):
    """Forward emulator of a photoionisation grid: parameters -> log10 line ratios to H-beta.

    Parameters
    ----------
    method : {"linear", "neural"}
        See the module documentation.
    emulator_params : dict, optional
        Extra :class:`agnlab.emulate.NeuralEmulator` arguments (``"neural"``; default 3 x 96 SiLU,
        1,500 epochs, 1,000 L-BFGS steps, every PCA component kept).
    random_state : int, numpy Generator or None
    n_jobs : int, optional
        Threads for training and prediction.

    Attributes
    ----------
    lines_ : list of str
    param_names_ : list of str
    bounds_ : ndarray, shape (n_params, 2)
    training_record_ : dict
        ``rms_dex_nodes``: RMS error at the training nodes (0 for "linear").

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from agnlab.nebular import GridEmulator, load_photoionization_grid
    >>> u, oh = np.meshgrid([-4.0, -3.0, -2.0], [8.0, 8.5, 9.0], indexing="ij")
    >>> t = pd.DataFrame({"log U": u.ravel(), "12 + log O/H": oh.ravel(), "Hbeta": 1.0})
    >>> t["OIII5007"] = 10 ** (0.5 * t["log U"] + 2.0)
    >>> emu = GridEmulator("linear").fit(load_photoionization_grid(t, params=["log U", "12 + log O/H"]))
    >>> emu.predict(np.array([[-3.5, 8.2], [-1.0, 8.2]])).round(3).tolist()
    [[0.25], [nan]]
    """

    _fitted_attributes = ("lines_", "bounds_")

    def __init__(self, method="linear", *, emulator_params=None, random_state=0, n_jobs=None):
        self.method = method
        self.emulator_params = emulator_params
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, grid, lines=None, exclude=None):
        """Build the emulator of ``lines`` (default: every line but the normalisation line) of ``grid``.

        ``exclude``: boolean mask of models left out (for held-out tests).
        """
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        if isinstance(grid, str):
            grid = load_photoionization_grid(grid)
        if not isinstance(grid, PhotoionizationGrid):
            raise TypeError(f"grid must be a PhotoionizationGrid or a built-in grid name, not {type(grid).__name__}")
        lines = grid.check_lines(grid.line_names if lines is None else lines)
        lines = [ln for ln in dict.fromkeys(lines) if ln != grid.norm_line]
        if not lines:
            raise GridError("no lines besides the normalisation line")
        if exclude is not None:
            ex = np.asarray(exclude)
            if ex.dtype != bool or ex.shape != (grid.n_models,):
                raise ValueError(f"exclude must be a boolean mask of shape ({grid.n_models},)")
            grid = grid.subset(~ex)
        theta = grid.params.to_numpy()
        y = log_ratios(grid.fluxes[lines].to_numpy())
        self.lines_ = list(lines)
        self.param_names_ = list(grid.param_names)
        self.norm_line_ = grid.norm_line or "Hbeta"
        self._interp = LogRatioInterpolator(theta, y)
        self.bounds_ = self._interp.bounds.copy()
        self._nn = None
        record = {"n_models": int(grid.n_models), "n_lines": len(lines), "rms_dex_nodes": 0.0}
        if self.method == "neural":
            from ..emulate import NeuralEmulator

            kw = {**_NEURAL_DEFAULTS, "n_components": min(len(lines), 32), **dict(self.emulator_params or {})}
            self._nn = NeuralEmulator(param_names=tuple(self.param_names_), on_out_of_domain="nan",
                                      random_state=self.random_state, n_jobs=self.n_jobs, **kw)
            self._nn.fit(theta, 10.0**y)
            record["rms_dex_nodes"] = float(np.sqrt(np.mean((self.predict(theta) - y) ** 2)))
            record["emulator"] = dict(self._nn.training_record_)
        self.training_record_ = record
        return self

    @property
    def k(self) -> int:
        return len(self.param_names_)

    def predict(self, X) -> np.ndarray:
        """log10(F/F_Hbeta) of every line, shape (n, n_lines); NaN outside the grid (never extrapolated).

        ``X``: array (n, n_params) in the order of ``param_names_``, or a DataFrame with those columns.
        """
        self._check_fitted()
        if isinstance(X, pd.DataFrame):
            missing = [p for p in self.param_names_ if p not in X.columns]
            if missing:
                raise ValueError(f"X: no columns {missing} (the grid's parameters are {self.param_names_})")
            X = X[self.param_names_].to_numpy(dtype=float)
        x = check_array(X, name="X (parameters)", ndim=(1, 2), finite=False)
        x = np.atleast_2d(x)
        if x.shape[1] != self.k:
            raise ValueError(f"X: expected {self.k} columns {self.param_names_}, got {x.shape[1]}")
        if self._nn is None:
            return self._interp(x)
        inside = np.all((x >= self.bounds_[:, 0]) & (x <= self.bounds_[:, 1]), axis=1) & np.isfinite(x).all(axis=1)
        out = np.full((x.shape[0], len(self.lines_)), np.nan)
        if inside.any():
            out[inside] = np.maximum(self._nn.predict(x[inside], output="log10_flux"), LOG_FLOOR)
        return out

    __call__ = predict

    def predict_table(self, X) -> pd.DataFrame:
        """:meth:`predict` as a DataFrame of fluxes relative to H-beta (line-name columns)."""
        return pd.DataFrame(10.0 ** self.predict(X), columns=self.lines_)

    # ------------------------------------------------------------------ save / load
    def _get_state(self):
        t = self._interp
        arrays = {"nodes": np.concatenate([a for a in t.axes]), "node_counts": np.array(t.shape),
                  "table": t.table}
        meta = {"lines": self.lines_, "param_names": self.param_names_, "norm_line": self.norm_line_}
        if self._nn is not None:
            nn_arrays, nn_meta = self._nn._get_state()
            arrays.update({f"nn.{k}": v for k, v in nn_arrays.items()})
            meta["nn"] = {"state": nn_meta, "params": self._nn._saved_params()}
        return arrays, meta

    def _set_state(self, arrays, meta):
        self.lines_ = [str(s) for s in meta["lines"]]
        self.param_names_ = [str(s) for s in meta["param_names"]]
        self.norm_line_ = str(meta["norm_line"])
        counts = np.asarray(arrays["node_counts"], dtype=np.int64)
        axes = np.split(np.asarray(arrays["nodes"], dtype=float), np.cumsum(counts)[:-1])
        table = np.asarray(arrays["table"], dtype=float)
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
        have = np.isfinite(table).all(axis=1)
        if table.shape != (int(np.prod(counts)), len(self.lines_)) or len(axes) != len(self.param_names_):
            raise ValueError("node table does not match the lines and parameters")
        self._interp = LogRatioInterpolator(mesh[have], table[have])
        self.bounds_ = self._interp.bounds.copy()
        self._nn = None
        if "nn" in meta:
            from .._estimator import _as_param
            from ..emulate import NeuralEmulator

            params = {k: _as_param(v) for k, v in meta["nn"]["params"].items()}
            self._nn = NeuralEmulator(**params)
            self._nn._set_state({k[3:]: v for k, v in arrays.items() if k.startswith("nn.")}, meta["nn"]["state"])
