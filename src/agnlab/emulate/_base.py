"""Shared machinery of the emulators: validation, parameter scaling, domain checks, PCA on log flux."""

from __future__ import annotations

import numpy as np

from .._domain import FLAG_OK, FLAG_OUT_OF_DOMAIN, check_on_out_of_domain, domain_flags
from .._estimator import AgnlabEstimator
from ..validation import check_array, check_is_fitted

__all__ = ["EmulatorBase"]

_LN10 = float(np.log(10.0))


def _as_param_array(X, param_names):
    """Array (n, n_params) from an array or a table; tables are matched to ``param_names`` by column name."""
    if hasattr(X, "columns") or hasattr(X, "colnames"):
        cols = [str(c) for c in (X.columns if hasattr(X, "columns") else X.colnames)]
        if param_names is not None:
            unknown = [c for c in cols if c not in param_names]
            missing = [p for p in param_names if p not in cols]
            if unknown or missing:
                raise ValueError(f"X: parameter columns do not match the emulator's {list(param_names)}: "
                                 f"unknown {unknown}, missing {missing}")
            cols = list(param_names)
        arr = np.column_stack([np.asarray(X[c], dtype=float) for c in cols])
        return arr, tuple(cols)
    return X, None


def _unpack_grid(X, Y, wave_um):
    """``fit(grid)``: parameters, fluxes, wavelengths and names of a ModelGrid (duck-typed)."""
    is_grid = all(hasattr(X, a) for a in ("params", "flux", "param_names", "wave_um"))
    if not is_grid:
        if Y is None:
            raise TypeError("fit(X, Y): give parameters X and fluxes Y, or a ModelGrid as X alone")
        return X, Y, wave_um, None
    if Y is not None:
        raise TypeError("fit(grid): a ModelGrid carries its fluxes; do not also pass Y")
    if wave_um is not None and not np.array_equal(np.asarray(wave_um, float), np.asarray(X.wave_um, float)):
        raise ValueError("fit(grid, wave_um=...): wave_um differs from the grid's own wave_um")
    return X.params, X.flux, X.wave_um, tuple(X.param_names)


class EmulatorBase(AgnlabEstimator):
    """Common parts of :class:`PCAEmulator` and :class:`NeuralEmulator` (not used directly)."""

    # ------------------------------------------------------------------ validation
    def _validate_fit(self, X, Y, wave_um):
        X, Y, wave_um, cols = _unpack_grid(X, Y, wave_um)
        if cols is None:
            X, cols = _as_param_array(X, None)
        X = check_array(X, name="X (parameters)", ndim=2)
        Y = check_array(Y, name="Y (fluxes)", ndim=2, positive=True)
        if X.shape[0] != Y.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows (models) but Y has {Y.shape[0]}")
        if X.shape[0] < 4:
            raise ValueError(f"need at least 4 models to fit, got {X.shape[0]}")
        names = self.param_names if self.param_names is not None else cols
        if names is None:
            names = tuple(f"p{j}" for j in range(X.shape[1]))
        names = tuple(str(n) for n in names)
        if len(names) != X.shape[1]:
            raise ValueError(f"param_names has {len(names)} names but X has {X.shape[1]} columns")
        if len(set(names)) != len(names):
            raise ValueError(f"param_names must be unique, got {names}")
        if wave_um is not None:
            wave_um = check_array(wave_um, name="wave_um", ndim=1, positive=True)
            if wave_um.size != Y.shape[1]:
                raise ValueError(f"wave_um has {wave_um.size} values but Y has {Y.shape[1]} columns")
            if np.any(np.diff(wave_um) <= 0):
                raise ValueError("wave_um must be strictly increasing")
        check_on_out_of_domain(self.on_out_of_domain)
        return X, Y, names, wave_um

    def _set_param_scaling(self, X, names):
        lo, hi = X.min(axis=0), X.max(axis=0)
        const = hi <= lo
        if const.any():
            raise ValueError(f"X: parameter(s) {[names[j] for j in np.flatnonzero(const)]} are constant; "
                             "drop them before fitting")
        if isinstance(self.log_params, str):
            if self.log_params != "auto":
                raise ValueError(f"log_params must be 'auto', a sequence of names or (), got {self.log_params!r}")
            # log where positive, spanning >= x10, and crowded at the low end (e.g. log-spaced nodes)
            med = np.median(X, axis=0)
            crowded = (med - lo) / (hi - lo) < 0.3
            use_log = (lo > 0) & (hi / np.where(lo > 0, lo, 1.0) >= 10.0) & crowded
        else:
            wanted = [str(n) for n in self.log_params]
            unknown = [n for n in wanted if n not in names]
            if unknown:
                raise ValueError(f"log_params: unknown parameter name(s) {unknown}; known: {list(names)}")
            use_log = np.array([n in wanted for n in names])
            bad = use_log & (lo <= 0)
            if bad.any():
                raise ValueError(f"log_params: {[names[j] for j in np.flatnonzero(bad)]} have values <= 0")
        self.param_names_ = tuple(names)
        self.n_params_ = len(names)
        self.param_min_ = lo.astype(float)
        self.param_max_ = hi.astype(float)
        self.log_params_ = np.asarray(use_log, dtype=bool)
        t_lo = np.where(self.log_params_, np.log(np.where(use_log, lo, 1.0)), lo)
        t_hi = np.where(self.log_params_, np.log(np.where(use_log, hi, 1.0)), hi)
        self.x_center_ = 0.5 * (t_lo + t_hi)
        self.x_halfwidth_ = 0.5 * (t_hi - t_lo)

    def _scale_params(self, X) -> np.ndarray:
        """Map parameters to [-1, 1] (log first where ``log_params_``); float64 (n, n_params)."""
        Xt = np.array(X, dtype=float, copy=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            for j in np.flatnonzero(self.log_params_):
                np.log(Xt[:, j], out=Xt[:, j])
        Xt -= self.x_center_
        Xt /= self.x_halfwidth_
        return Xt

    def _validate_predict(self, X):
        check_is_fitted(self, ["param_names_"])
        X, _ = _as_param_array(X, self.param_names_)
        X = check_array(X, name="X (parameters)", ndim=(1, 2), finite=True)
        if X.ndim == 1:
            if X.size != self.n_params_:
                raise ValueError(f"X: expected {self.n_params_} parameters {list(self.param_names_)}, got {X.size}")
            X = X[None, :]
        if X.shape[1] != self.n_params_:
            raise ValueError(f"X: expected {self.n_params_} columns {list(self.param_names_)}, got shape {X.shape}")
        return X

    def domain_mask(self, X) -> np.ndarray:
        """Boolean (n,) mask: True where every parameter lies inside the training ranges."""
        X = self._validate_predict(X)
        return self._in_domain(X)

    def _in_domain(self, X) -> np.ndarray:
        # edges widened by 1e-9 of the range, or one float32 step of the bound: parameters stored as
        # float32 (Parquet, FITS) at the edge of the grid stay inside
        span = self.param_max_ - self.param_min_
        f32_step = np.finfo(np.float32).eps * np.maximum(np.abs(self.param_min_), np.abs(self.param_max_))
        tol = np.maximum(1e-9 * np.maximum(span, 1e-300), f32_step)
        return np.all((X >= self.param_min_ - tol) & (X <= self.param_max_ + tol), axis=1)

    def _domain_mask(self, X) -> np.ndarray:
        """In-domain mask (n,); raises :class:`agnlab.OutOfDomainError` under ``on_out_of_domain='raise'``."""
        ok = self._in_domain(X)
        if not ok.all():

            def describe(i):
                return ", ".join(f"{n}={v:g} not in [{a:g}, {b:g}]" for n, v, a, b in
                                 zip(self.param_names_, X[i], self.param_min_, self.param_max_) if not (a <= v <= b))

            domain_flags(ok, self.on_out_of_domain, describe=describe)
        return ok

    @property
    def param_ranges_(self) -> dict:
        """Training domain: ``{name: (min, max)}``."""
        check_is_fitted(self, ["param_names_"])
        return {n: (float(a), float(b)) for n, a, b in zip(self.param_names_, self.param_min_, self.param_max_)}

    # ------------------------------------------------------------------ PCA on log10 flux
    def _fit_pca(self, logY: np.ndarray, n_components):
        mean = logY.mean(axis=0)
        centered = logY - mean
        _, s, vt = np.linalg.svd(centered, full_matrices=False)
        var = s ** 2
        if n_components is None:
            k = vt.shape[0]
        elif isinstance(n_components, float) and 0 < n_components < 1:
            frac = np.cumsum(var) / var.sum()
            k = int(np.searchsorted(frac, n_components) + 1)
        else:
            k = int(n_components)
            if k < 1:
                raise ValueError(f"n_components must be >= 1 or a fraction in (0, 1), got {n_components!r}")
        k = min(k, vt.shape[0])
        self.log_mean_ = mean
        self.components_ = vt[:k].copy()
        self.explained_variance_ratio_ = var[:k] / var.sum()
        self.n_components_ = k
        return centered @ self.components_.T

    # ------------------------------------------------------------------ common metadata
    def _common_arrays(self) -> dict:
        out = {"param_min": self.param_min_, "param_max": self.param_max_,
               "log_params": self.log_params_.astype(np.uint8), "x_center": self.x_center_,
               "x_halfwidth": self.x_halfwidth_, "log_mean": self.log_mean_, "components": self.components_,
               "explained_variance_ratio": self.explained_variance_ratio_}
        if getattr(self, "wave_um_", None) is not None:
            out["wave_um"] = self.wave_um_
        return out

    def _restore_common(self, arrays: dict, meta: dict):
        self.param_names_ = tuple(meta["param_names"])
        self.n_params_ = len(self.param_names_)
        self.param_min_ = np.asarray(arrays["param_min"], dtype=float)
        self.param_max_ = np.asarray(arrays["param_max"], dtype=float)
        self.log_params_ = np.asarray(arrays["log_params"]).astype(bool)
        self.x_center_ = np.asarray(arrays["x_center"], dtype=float)
        self.x_halfwidth_ = np.asarray(arrays["x_halfwidth"], dtype=float)
        self.log_mean_ = np.asarray(arrays["log_mean"], dtype=float)
        self.components_ = np.asarray(arrays["components"], dtype=float)
        self.explained_variance_ratio_ = np.asarray(arrays["explained_variance_ratio"], dtype=float)
        self.n_components_ = self.components_.shape[0]
        self.wave_um_ = np.asarray(arrays["wave_um"], dtype=float) if "wave_um" in arrays else None
        for p in meta["param_names"]:
            if not isinstance(p, str):
                raise ValueError("corrupt model file: parameter names must be strings")
        if self.param_min_.shape != (self.n_params_,) or self.components_.shape[1] != self.log_mean_.size:
            raise ValueError("corrupt model file: array shapes are inconsistent")

    def _common_meta(self) -> dict:
        return {"param_names": list(self.param_names_), "param_ranges": self.param_ranges_,
                "n_components": int(self.n_components_), "n_wave": int(self.log_mean_.size)}

    @classmethod
    def _load_legacy(cls, path, arrays, meta):
        """Files of agnlab 0.1.0 (hyperparameters under ``hyperparameters``, metrics under ``training_metrics``)."""
        from ..io import ArtifactError

        try:
            hp = {k: (tuple(v) if isinstance(v, list) else v) for k, v in dict(meta["hyperparameters"]).items()}
            est = cls(**hp)
            est._set_state(arrays, dict(meta))
            est.training_record_ = dict(meta.get("training_metrics", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: incomplete or inconsistent {cls.__name__} file ({exc})") from None
        return est

    # ------------------------------------------------------------------ output
    def predict_log10(self, X) -> np.ndarray:
        """log10 of the predicted fluxes, shape (n, n_wave), float64 (NaN rows out of domain with 'nan')."""
        return self.predict(X, output="log10_flux")

    def predict_dask(self, X, *, dtype=np.float64, output: str = "flux"):
        """Lazy prediction of a dask array ``X`` (n, n_params) block by block -> dask array (n, n_wave)."""
        import dask.array as da

        self._check_fitted()
        X = da.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_params_:
            raise ValueError(f"X: expected a 2-D dask array with {self.n_params_} columns, got shape {X.shape}")
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        import functools

        block = functools.partial(self.predict, dtype=dtype, output=output)
        return X.map_blocks(block, chunks=(X.chunks[0], (self.n_wave_,)), dtype=np.dtype(dtype))

    def predict_to(self, X, target, *, output: str = "flux", chunk_rows: int = 65_536, return_flags: bool = False):
        """Predict into an array-like ``target`` of shape (n, n_wave), chunk by chunk, and return it.

        ``target`` is anything with ``shape``, ``dtype`` (float32 or float64) and slice assignment: a Zarr
        array, an h5py dataset, a ``numpy.memmap``; only ``chunk_rows`` rows are in memory at a time
        (pick a multiple of the target's row chunks). Every row's domain is checked before anything is
        written, so ``on_out_of_domain="raise"`` leaves ``target`` untouched.
        """
        X = self._validate_predict(X)
        shape, dtype = tuple(getattr(target, "shape", ())), np.dtype(getattr(target, "dtype", object))
        if shape != (X.shape[0], self.n_wave_) or dtype not in (np.float32, np.float64) \
                or not hasattr(target, "__setitem__"):
            raise ValueError(f"target: expected a writeable float32/float64 array-like of shape "
                             f"({X.shape[0]}, {self.n_wave_}), got {type(target).__name__} {dtype} {shape}")
        step = int(chunk_rows)
        if step < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        ok = self._domain_mask(X)
        buf = np.empty((min(step, X.shape[0]), self.n_wave_), dtype=dtype)
        for s in range(0, X.shape[0], step):
            rows = X[s:s + step]
            target[s:s + rows.shape[0]] = self.predict(rows, out=buf[:rows.shape[0]], dtype=dtype, output=output)
        return self._with_flags(target, ok, return_flags)

    def _output_buffer(self, out, n: int, dtype, output: str) -> np.ndarray:
        """Check ``dtype``/``output`` and return the array predictions are written into (``out`` or a new one)."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32, got {dtype}")
        if output not in ("flux", "log10_flux"):
            raise ValueError(f"output must be 'flux' or 'log10_flux', got {output!r}")
        shape = (n, self.n_wave_)
        if out is None:
            return np.empty(shape, dtype=dtype)
        if (not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != dtype
                or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError(f"out: expected a writeable C-contiguous {dtype} array of shape {shape}, "
                             f"got {getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")
        return out

    @staticmethod
    def _with_flags(out, ok, return_flags: bool):
        """``out``, or ``(out, flags)`` with string flags built only when asked for (they cost ~50 MB per 1e6 rows)."""
        return (out, np.where(ok, FLAG_OK, FLAG_OUT_OF_DOMAIN)) if return_flags else out

    @property
    def n_wave_(self) -> int:
        return int(self.log_mean_.size)
