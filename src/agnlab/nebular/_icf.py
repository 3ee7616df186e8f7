"""ICFRegressor: ionisation correction factors (ICFs) learned from a photoionisation model table.

An ICF converts the sum of the *observed* ionic abundances of an element into
its total abundance: X/H = ICF(X) * sum(observed X^i+/H+). Classical ICFs
(Kingsburgh & Barlow 1994, Delgado-Inglada et al. 2014, ... available in
PyNeb's ``pn.ICF``, see :mod:`._classical_icf`) are fitted formulae of ionic
fractions such as O+/(O+ + O++) and He++/(He+ + He++). :class:`ICFRegressor`
learns log ICF from observable ionic fractions or line ratios of a model
table instead (:mod:`._icf_features`; a real grid, or the approximate
:func:`agnlab.nebular.ionization_table`), with a neural network
(``backend="ann"``, :class:`agnlab.nn.MLP`) or gradient-boosted trees
(``backend="gbm"``, exported to flat arrays by :mod:`._trees`), and reports
gain and permutation feature importances.

For science, train it on a real photoionisation grid: :func:`agnlab.nebular.grid_abundance_table`
turns a MAPPINGS/Cloudy/3MdB grid into a table of direct-method abundances, observable
features (:data:`agnlab.nebular.GRID_ICF_FEATURES`) and the effective O ICF ``log_icf_O``
(benchmark: ``benchmarks/nebular_abundances.py``). The approximate slab table
(:func:`agnlab.nebular.ionization_table`) is kept as a documented toy for offline examples and
tests: stellar blackbodies only, no AGN continuum, noise-free ionic abundances as features.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from .._domain import check_on_out_of_domain, domain_flags
from .._estimator import AgnlabEstimator, compute_context
from ..validation import check_array, check_columns
from ._icf_features import ICF_FEATURES
from ._trees import FlatTrees

__all__ = ["ICFRegressor"]

# backend_params of the "ann" back-end accepted under scikit-learn MLPRegressor names
_ANN_ALIASES = {"max_iter": "max_epochs", "learning_rate_init": "lr", "n_iter_no_change": "patience",
                "alpha": "weight_decay"}
_ANN_DEFAULTS = {"lr": 3e-3, "batch_size": 200, "max_epochs": 800, "patience": 30}
_ANN_EARLY_STOPPING_FRACTION = 0.1  # of the training rows, for early stopping (as MLPRegressor's early_stopping)


class ICFRegressor(RegressorMixin, AgnlabEstimator):
    """Learn log10 ICF of an element from observable ionisation-state features.

    Parameters
    ----------
    features : list of str, optional
        Feature columns when fitting on a table (default
        :data:`ICF_FEATURES`). Ignored for array input.
    target : str
        Target column when ``fit`` gets a table and no ``y`` (e.g.
        ``"log_icf_N"``).
    backend : {"gbm", "ann"}
        ``"gbm"``: scikit-learn HistGradientBoostingRegressor (gain
        importances from its split gains). ``"ann"``: :class:`agnlab.nn.MLP`
        on standardised inputs and target, trained with
        :func:`agnlab.nn.fit_module` (early stopping on 10 % of the training rows).
    backend_params : dict, optional
        Extra keyword arguments for the back-end: HistGradientBoostingRegressor
        arguments for ``"gbm"``; for ``"ann"`` ``hidden_layer_sizes`` (default
        (64, 64)), ``activation`` (``"tanh"``), and :class:`agnlab.nn.TrainConfig`
        fields (``lr``, ``batch_size``, ``max_epochs``, ``patience``, ...; the
        MLPRegressor names ``max_iter``, ``learning_rate_init``,
        ``n_iter_no_change``, ``alpha`` are accepted for them).
    validation_fraction : float
        Rows held out for validation scores and permutation importances.
    n_repeats : int
        Permutations per feature for the permutation importances.
    domain_margin : float
        Fraction of each feature's training range tolerated outside it.
    on_out_of_domain : {"nan", "raise"}
        Rows outside the training domain: NaN and an ``"out_of_domain"`` flag
        (``predict(X, return_flags=True)``), or :class:`agnlab.OutOfDomainError`.
    random_state : int, numpy Generator or None
        Seed of the split, the back-end and the permutations.
    n_jobs : int, optional
        Threads for training and prediction (``None``: one thread for the
        "ann" training, the process' settings otherwise).
    progress : bool, optional
        Progress bar of the "ann" training (``None``: on a terminal only).

    Attributes
    ----------
    feature_names_in_ : ndarray of str
    n_features_in_ : int
    target_name_ : str
    feature_min_, feature_max_ : ndarray, shape (n_features,)
    training_record_ : dict
        ``n_train``, ``n_validation``; ``rmse_dex``, ``median_abs_dex``,
        ``r2`` on the held-out rows; ``n_iter``, ``fit_seconds`` (and
        ``history`` for "ann").
    gain_importances_ : ndarray or None
        Normalised total split gain per feature (``"gbm"`` only).
    permutation_importances_ : DataFrame
        Mean and std of the R^2 drop when a feature is permuted.
    feature_importances_ : ndarray
        Gain importances when available, else normalised permutation ones.

    Examples
    --------
    >>> from agnlab.nebular import ICFRegressor, ionization_table
    >>> table = ionization_table(300, seed=0)
    >>> reg = ICFRegressor(target="log_icf_N", backend="gbm",
    ...                    backend_params={"max_iter": 50}).fit(table)
    >>> pred, flags = reg.predict(table.iloc[:3], return_flags=True)
    >>> pred.shape, flags.tolist()
    ((3,), ['ok', 'ok', 'ok'])
    """

    _fitted_attributes = ("feature_names_in_", "feature_min_")

    def __init__(self, *, features=None, target=None, backend="gbm", backend_params=None,
                 validation_fraction=0.2, n_repeats=5, domain_margin=0.02, on_out_of_domain="nan",
                 random_state=0, n_jobs=None, progress=None):
        self.features = features
        self.target = target
        self.backend = backend
        self.backend_params = backend_params
        self.validation_fraction = validation_fraction
        self.n_repeats = n_repeats
        self.domain_margin = domain_margin
        self.on_out_of_domain = on_out_of_domain
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # -------------------------------------------------------------- input
    def _table_xy(self, X, y, *, fitting):
        if isinstance(X, (str, Path)):
            from ..io import read_table

            X = read_table(X)
        if hasattr(X, "columns") or hasattr(X, "colnames"):
            if fitting:
                feats = list(self.features) if self.features is not None else (
                    [str(c) for c in X.columns] if y is not None else list(ICF_FEATURES))
            else:
                feats = list(self.feature_names_in_)
            need = feats + ([self.target] if (fitting and y is None) else [])
            if fitting and y is None and self.target is None:
                raise ValueError("ICFRegressor: give y, or target= naming the log-ICF column of the table")
            check_columns(X, need, name="ICF table")
            xa = check_array(np.column_stack([np.asarray(X[c], dtype=float) for c in feats]),
                             name=f"features {feats}", ndim=2)
            ya = None
            if fitting:
                ya = y if y is not None else X[self.target]
            return xa, ya, feats
        xa = check_array(X, name="X", ndim=2)
        if fitting:
            feats = [f"x{i}" for i in range(xa.shape[1])] if self.features is None else list(self.features)
            if len(feats) != xa.shape[1]:
                raise ValueError(f"X: {xa.shape[1]} columns for {len(feats)} features {feats}")
            if y is None:
                raise ValueError("ICFRegressor.fit: y is required with array input")
        else:
            feats = list(self.feature_names_in_)
            if xa.shape[1] != len(feats):
                raise ValueError(f"X: expected {len(feats)} columns {feats}, got {xa.shape[1]}")
        return xa, y, feats

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Fit on a table (DataFrame or path to Parquet/CSV/HDF5/FITS) or arrays.

        Parameters
        ----------
        X : DataFrame, str/Path, or array_like (n, n_features)
        y : array_like (n,), optional
            log10 ICF; taken from column ``target`` when omitted.

        Returns
        -------
        self
        """
        from sklearn.inspection import permutation_importance

        from ..nn import train_validation_split

        t0 = time.perf_counter()
        if self.backend not in ("gbm", "ann"):
            raise ValueError(f"backend must be 'gbm' or 'ann', got {self.backend!r}")
        check_on_out_of_domain(self.on_out_of_domain)
        xa, ya, feats = self._table_xy(X, y, fitting=True)
        ya = check_array(ya, name="y (log ICF)", ndim=1)
        if ya.shape[0] != xa.shape[0]:
            raise ValueError(f"y: {ya.shape[0]} values for {xa.shape[0]} rows of X")
        if xa.shape[0] < 20:
            raise ValueError(f"ICFRegressor.fit: need >= 20 rows, got {xa.shape[0]}")
        rng = self._rng()
        tr, val = train_validation_split(xa.shape[0], self.validation_fraction, rng, max_fraction=0.9)
        seed = int(rng.integers(2**31 - 1))
        params = dict(self.backend_params or {})
        self.feature_names_in_ = np.array(feats, dtype=str)
        self.n_features_in_ = len(feats)
        self.target_name_ = str(self.target) if self.target is not None else "log_icf"
        self.feature_min_ = xa[tr].min(axis=0)
        self.feature_max_ = xa[tr].max(axis=0)
        self.x_mean_ = xa[tr].mean(axis=0)
        self.x_scale_ = np.where(xa[tr].std(axis=0) > 0, xa[tr].std(axis=0), 1.0)
        self.y_mean_ = float(ya[tr].mean())
        self.y_scale_ = float(ya[tr].std()) if ya[tr].std() > 0 else 1.0
        extra = {}
        if self.backend == "ann":
            n_iter, extra["history"] = self._fit_ann(xa[tr], ya[tr], params, seed, rng)
            self._trees = None
            self.gain_importances_ = None
        else:
            from sklearn.ensemble import HistGradientBoostingRegressor

            kw = {"max_iter": 300, "learning_rate": 0.1, "max_leaf_nodes": 31, "early_stopping": False,
                  "random_state": seed}
            kw.update(params)
            with compute_context(self.n_jobs, default_threads=None):
                gbm = HistGradientBoostingRegressor(**kw).fit(xa[tr], ya[tr])
            self._trees, gains = FlatTrees.from_hist_gbm(gbm, xa[tr][:512])
            check = np.max(np.abs(self._trees(xa[val]) - gbm.predict(xa[val])))
            if not check < 1e-8:
                raise RuntimeError(f"flattened trees disagree with scikit-learn by {check:.3g}")
            self._net = None
            self.gain_importances_ = gains / gains.sum() if gains.sum() > 0 else gains
            n_iter = int(gbm.n_iter_)
        pred = self._raw_predict(xa[val])
        resid = pred - ya[val]
        ss = np.sum((ya[val] - ya[val].mean()) ** 2)
        record = {
            "n_train": int(tr.size), "n_validation": int(val.size),
            "rmse_dex": float(np.sqrt(np.mean(resid**2))), "median_abs_dex": float(np.median(np.abs(resid))),
            "r2": float(1 - np.sum(resid**2) / ss) if ss > 0 else float("nan"), "n_iter": n_iter}
        pi = permutation_importance(_Scorer(self), xa[val], ya[val], n_repeats=int(self.n_repeats),
                                    random_state=seed, scoring="r2")
        self.permutation_importances_ = pd.DataFrame(
            {"mean": pi.importances_mean, "std": pi.importances_std}, index=list(feats))
        self._set_feature_importances()
        record.update(extra)
        record["fit_seconds"] = time.perf_counter() - t0
        self.training_record_ = record
        return self

    def _fit_ann(self, x, y, params, seed, rng):
        """Train the MLP on standardised rows; returns (epochs run, history)."""
        from ..nn import MLP, TrainConfig, fit_module, train_validation_split
        from ..validation import from_dict

        hidden = tuple(int(h) for h in params.pop("hidden_layer_sizes", (64, 64)))
        activation = params.pop("activation", "tanh")
        cfg = from_dict(TrainConfig, {**_ANN_DEFAULTS, "seed": seed,
                                      **{_ANN_ALIASES.get(k, k): v for k, v in params.items()}})
        xs = ((x - self.x_mean_) / self.x_scale_).astype(np.float32)
        ys = ((y - self.y_mean_) / self.y_scale_).astype(np.float32)[:, None]
        fit_idx, stop_idx = train_validation_split(len(xs), _ANN_EARLY_STOPPING_FRACTION, rng)
        with compute_context(self.n_jobs, default_threads=1, torch_rng=rng):
            net = MLP(xs.shape[1], 1, hidden, activation)
            info = fit_module(net, xs[fit_idx], ys[fit_idx], xs[stop_idx], ys[stop_idx], config=cfg,
                              progress=self.progress, desc="ICF ANN")
        self._net = net.eval()
        self._net_spec = {"hidden": list(hidden), "activation": activation}
        return len(info["history"]), [[float(a), float(b)] for a, b in info["history"]]

    def _set_feature_importances(self):
        if self.gain_importances_ is not None:
            self.feature_importances_ = np.asarray(self.gain_importances_)
        else:
            p = np.maximum(self.permutation_importances_["mean"].to_numpy(), 0)
            self.feature_importances_ = p / p.sum() if p.sum() > 0 else p

    # ------------------------------------------------------------ predict
    def _raw_predict(self, xa):
        if self._net is not None:
            from ..nn import predict_batched

            z = ((xa - self.x_mean_) / self.x_scale_).astype(np.float32)
            with compute_context(self.n_jobs, default_threads=None):
                out = predict_batched(self._net, z)[:, 0].astype(float)
            return out * self.y_scale_ + self.y_mean_
        return self._trees(xa)

    def predict(self, X, *, return_flags: bool = False):
        """log10 ICF for every row; rows outside the training domain follow ``on_out_of_domain``.

        Parameters
        ----------
        X : DataFrame (feature columns by name), str/Path, or array (n, n_features)
            Finite values (NaN/inf raise ``ValueError``).
        return_flags : bool
            Also return per-row flags.

        Returns
        -------
        pred : ndarray, shape (n,)
            NaN for out-of-domain rows (``on_out_of_domain="nan"``).
        flags : ndarray of str, shape (n,)
            Only with ``return_flags=True``: ``"ok"`` or ``"out_of_domain"``.

        Raises
        ------
        agnlab.OutOfDomainError
            With ``on_out_of_domain="raise"``, for rows outside the training domain.
        """
        self._check_fitted()
        xa, _, feats = self._table_xy(X, None, fitting=False)
        span = self.feature_max_ - self.feature_min_
        tol = self.domain_margin * np.where(span > 0, span, 1.0)
        out = (xa < self.feature_min_ - tol) | (xa > self.feature_max_ + tol)

        def describe(i):
            return ", ".join(f"{feats[j]}={xa[i, j]:g} not in [{self.feature_min_[j]:g}, {self.feature_max_[j]:g}]"
                             for j in np.flatnonzero(out[i]))

        flags = domain_flags(~out.any(axis=1), self.on_out_of_domain, describe=describe)
        pred = np.where(flags == "ok", self._raw_predict(xa), np.nan)
        return (pred, flags) if return_flags else pred

    def predict_icf(self, X):
        """ICF itself (10 ** predict)."""
        return 10.0 ** self.predict(X)

    # --------------------------------------------------------- save/load (base hooks)
    def _get_state(self):
        arrays = {"feature_min": self.feature_min_, "feature_max": self.feature_max_,
                  "x_mean": self.x_mean_, "x_scale": self.x_scale_}
        meta = {"features": list(self.feature_names_in_), "target": self.target_name_,
                "y_mean": self.y_mean_, "y_scale": self.y_scale_,
                "permutation_importances": {
                    "mean": self.permutation_importances_["mean"].tolist(),
                    "std": self.permutation_importances_["std"].tolist()},
                "gain_importances": None if self.gain_importances_ is None else list(self.gain_importances_)}
        if self._net is not None:
            from ..nn import module_to_arrays

            arrays.update(module_to_arrays(self._net, prefix="mlp."))
            meta["mlp"] = self._net_spec
        else:
            arrays.update(self._trees.to_arrays())
        return arrays, meta

    def _set_state(self, arrays, meta):
        feats = [str(f) for f in meta["features"]]
        self.feature_names_in_ = np.array(feats, dtype=str)
        self.n_features_in_ = len(feats)
        self.target_name_ = str(meta["target"])
        self.feature_min_ = np.asarray(arrays["feature_min"], dtype=float)
        self.feature_max_ = np.asarray(arrays["feature_max"], dtype=float)
        self.x_mean_ = np.asarray(arrays["x_mean"], dtype=float)
        self.x_scale_ = np.asarray(arrays["x_scale"], dtype=float)
        if not (self.feature_min_.shape == self.feature_max_.shape == self.x_mean_.shape == (len(feats),)):
            raise ValueError("feature arrays do not match the feature names")
        self.y_mean_, self.y_scale_ = float(meta["y_mean"]), float(meta["y_scale"])
        self.permutation_importances_ = pd.DataFrame(meta["permutation_importances"], index=feats)
        gi = meta["gain_importances"]
        self.gain_importances_ = None if gi is None else np.asarray(gi, dtype=float)
        if self.backend == "ann":
            from ..nn import MLP, arrays_to_module

            spec = meta["mlp"]
            net = MLP(len(feats), 1, tuple(int(h) for h in spec["hidden"]), spec["activation"])
            self._net = arrays_to_module(net, arrays, prefix="mlp.").eval()
            self._net_spec = {"hidden": [int(h) for h in spec["hidden"]], "activation": spec["activation"]}
            self._trees = None
        else:
            self._trees = FlatTrees.from_arrays(arrays)
            self._net = None
        self._set_feature_importances()


    @classmethod
    def _load_legacy(cls, path, arrays, meta):
        """Files of agnlab <= 0.1: "gbm" models are read (same trees); "ann" models held scikit-learn weights."""
        from ..io import ArtifactError

        try:
            params = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(meta["params"]).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: malformed ICFRegressor file of an older layout ({exc})") from None
        if params.get("backend") != "gbm":
            return super()._load_legacy(path, arrays, meta)
        try:
            if params.get("on_out_of_domain") == "keep":   # no longer offered: predictions outside are NaN
                params["on_out_of_domain"] = "nan"
            est = cls(**params)
            est._set_state(arrays, meta)
            est.training_record_ = {**dict(meta.get("validation_scores") or {}), "n_iter": meta.get("n_iter")}
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: malformed ICFRegressor file of an older layout ({exc})") from None
        return est


class _Scorer(RegressorMixin, BaseEstimator):
    """Minimal estimator view for sklearn.inspection.permutation_importance."""

    def __init__(self, reg=None):
        self.reg = reg

    def fit(self, X, y):  # pragma: no cover - never refitted
        return self

    def predict(self, X):
        return self.reg._raw_predict(np.asarray(X, dtype=float))

    def score(self, X, y):
        from sklearn.metrics import r2_score

        return r2_score(y, self.predict(X))
