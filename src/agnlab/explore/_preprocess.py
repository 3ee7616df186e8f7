"""Preprocessing of multi-wavelength tables: logs, per-survey robust scaling, trends, missing values, limits.

Order of operations in :class:`Preprocessor` (each one optional):

1. select the feature columns (numeric; errors name the column otherwise);
2. ``log10`` of the columns named in ``log`` (values must be > 0);
3. per-survey centring and scaling (``scaling="robust"``: median and IQR/1.349,
   ``"standard"``: mean and standard deviation, ``"none"``), so that a constant
   calibration offset between surveys disappears; an unknown survey at
   transform time is out of domain;
4. regressing out known trends (``control=("redshift",)``): a least-squares
   fit of every feature on the control columns (observed, non-limit values
   only), subtracted everywhere;
5. missing values imputed (``impute="median"`` or ``"knn"``), with the mask
   returned;
6. upper limits: a boolean flag column ``<feature><limit_suffix>`` marks a
   value that is an upper limit (the number in the feature column is the
   limit). ``upper_limits="censored"`` imputes the value as missing and then
   clips it at the limit; ``"value"`` uses the limit as the value;
   ``"missing"`` ignores the limit. The limit mask is returned either way and
   :func:`censored_distances` uses it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._domain import check_on_out_of_domain, domain_flags
from .._estimator import AgnlabEstimator
from ..validation import MissingColumnError, table_name
from ..validation import check_columns as _check_columns

__all__ = ["Preprocessor", "censored_distances", "select_features"]

_SCALINGS = ("robust", "standard", "none")
_IMPUTES = ("median", "knn")
_LIMITS = ("censored", "value", "missing")


def _as_frame(table, name="table") -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    if hasattr(table, "to_pandas"):  # astropy Table, pyarrow Table
        return table.to_pandas()
    if isinstance(table, Mapping):
        return pd.DataFrame(dict(table))
    raise TypeError(f"{name}: expected a table (pandas DataFrame, astropy/pyarrow Table or mapping of columns), "
                    f"got {type(table).__name__}")


def check_columns(table, required, *, name="table"):
    """``agnlab.validation.check_columns`` raising ``ValueError`` (a bad table is a value error here)."""
    try:
        _check_columns(table, required, name=name)
    except MissingColumnError as exc:
        raise ValueError(str(exc)) from None


def _tuple(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def select_features(table, *, features=None, exclude=(), limit_suffix: str = "_ul") -> list[str]:
    """The feature columns of ``table``: ``features`` if given, else every numeric column.

    Boolean columns, columns ending in ``limit_suffix`` (upper-limit flags) and
    ``exclude`` (controls, survey, identifiers) are left out of the default.
    """
    df = _as_frame(table)
    if features is not None:
        features = list(_tuple(features))
        check_columns(df, features, name="table")
        return features
    out = []
    for c in df.columns:
        name = str(c)
        if name in exclude or (limit_suffix and name.endswith(limit_suffix)):
            continue
        dtype = df[c].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            continue
        out.append(name)
    if not out:
        raise ValueError(f"{table_name(df)}: no numeric feature columns found; name them with features=[...]")
    return out


def _numeric_column(df, col, what) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        try:
            return pd.to_numeric(s, errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{table_name(df)}: {what} column {col!r} is not numeric (dtype {s.dtype}); "
                            "drop it or convert it") from None
    return s.to_numpy(dtype=float, na_value=np.nan)


def _limit_flags(df, features, suffix) -> np.ndarray:
    flags = np.zeros((len(df), len(features)), dtype=bool)
    if not suffix:
        return flags
    for j, f in enumerate(features):
        col = f + suffix
        if col in df.columns:
            s = df[col]
            try:
                v = s.fillna(False).to_numpy(dtype=bool) if s.dtype == object else s.to_numpy(dtype=bool)
            except (TypeError, ValueError):
                raise TypeError(f"{table_name(df)}: upper-limit flag column {col!r} must be boolean") from None
            flags[:, j] = v
    return flags


def censored_distances(X, limits=None, Y=None, limits_y=None) -> np.ndarray:
    """Euclidean distances where upper limits are censored and missing values are skipped.

    For one feature of a pair ``(a, b)``: both measured, ``|a - b|``; ``a`` an
    upper limit and ``b`` measured, ``max(0, b - a)`` (only a value brighter than
    the limit counts against it); both limits, 0; either missing (NaN), the
    feature is skipped and the sum rescaled by ``n_features / n_used``.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Values (limits hold the limit); NaN = missing.
    limits : ndarray of bool, shape (n, d), optional
    Y, limits_y : optional
        Second set (default: ``X`` itself).

    Returns
    -------
    ndarray, shape (n, m)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [1.0, 1.0]])
    >>> lim = np.array([[True, False], [False, False]])
    >>> censored_distances(X, lim).round(3).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    >>> censored_distances(np.array([[2.0, 1.0]]), np.array([[True, False]]), X, np.zeros((2, 2), bool)).tolist()
    [[0.0, 0.0]]
    """
    X = np.asarray(X, dtype=float)
    lx = np.zeros(X.shape, bool) if limits is None else np.asarray(limits, dtype=bool)
    if Y is None:
        Y, ly = X, lx
    else:
        Y = np.asarray(Y, dtype=float)
        ly = np.zeros(Y.shape, bool) if limits_y is None else np.asarray(limits_y, dtype=bool)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1] or lx.shape != X.shape or ly.shape != Y.shape:
        raise ValueError(f"censored_distances: shapes X {X.shape}, limits {lx.shape}, Y {Y.shape}, "
                         f"limits_y {ly.shape} do not match")
    if X.shape[0] * Y.shape[0] > 4e8:
        raise ValueError(f"censored_distances: {X.shape[0]} x {Y.shape[0]} pairs are too many for a dense matrix; "
                         "subsample the table first")
    d = X.shape[1]
    total = np.zeros((X.shape[0], Y.shape[0]))
    used = np.zeros_like(total)
    for j in range(d):
        a, b = X[:, j][:, None], Y[:, j][None, :]
        la, lb = lx[:, j][:, None], ly[:, j][None, :]
        diff = a - b
        gap = np.where(la & lb, 0.0,
                       np.where(la, np.maximum(0.0, b - a), np.where(lb, np.maximum(0.0, a - b), np.abs(diff))))
        ok = np.isfinite(diff)
        total += np.where(ok, gap ** 2, 0.0)
        used += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(total * d / used)
    out[used == 0] = np.nan
    return out


class Preprocessor(AgnlabEstimator):
    """Logs, per-survey robust scaling, trend removal, imputation and upper limits for a table.

    Parameters
    ----------
    features : sequence of str, optional
        Feature columns (default: every numeric column except controls, survey
        and limit flags).
    log : sequence of str
        Columns to take ``log10`` of (values must be > 0).
    scaling : {"robust", "standard", "none"}
    survey_column : str, optional
        Column naming the survey of each row: centring and scaling per survey.
    control : sequence of str
        Known trends (e.g. ``"redshift"``) regressed out of every feature.
    control_degree : int
        Polynomial degree of the trend in each control (1: linear).
    impute : {"median", "knn"}
        Missing values: the median (0 after centring) or k nearest neighbours.
    upper_limits : {"censored", "value", "missing"}
        See the module docstring.
    limit_suffix : str
        Suffix of the boolean upper-limit flag columns.
    n_neighbors : int
        Neighbours for ``impute="knn"``.
    min_rows : int
        Fewest rows accepted by ``fit``.
    on_out_of_domain : {"raise", "nan"}
        A row of an unknown survey, or with control values outside the trained
        range, at transform time.
    random_state, n_jobs, progress
        Shared vocabulary (unused here; kept for pipelines).

    Attributes
    ----------
    features_ : list of str
    center_, scale_ : ndarray, shape (n_surveys, n_features)
    surveys_ : list of str
    trend_coef_ : ndarray, shape (n_terms + 1, n_features)
    control_range_ : ndarray, shape (n_controls, 2)
    impute_values_ : ndarray, shape (n_features,)
    missing_fraction_ : ndarray, shape (n_features,)
    limit_fraction_ : ndarray, shape (n_features,)

    Examples
    --------
    >>> from agnlab.explore import Preprocessor, mock_table
    >>> table, truth = mock_table(200, seed=0)
    >>> pre = Preprocessor(control=["redshift"], survey_column="survey").fit(table)
    >>> X, masks = pre.transform(table, return_masks=True)
    >>> X.shape, sorted(masks)
    ((200, 20), ['missing', 'upper_limit'])
    """

    _fitted_attributes = ("features_", "center_", "scale_")

    def __init__(self, *, features=None, log=(), scaling="robust", survey_column=None, control=(),
                 control_degree=1, impute="median", upper_limits="censored", limit_suffix="_ul", n_neighbors=10,
                 min_rows=3, on_out_of_domain="raise", random_state=None, n_jobs=None, progress=None):
        self.features = features
        self.log = log
        self.scaling = scaling
        self.survey_column = survey_column
        self.control = control
        self.control_degree = control_degree
        self.impute = impute
        self.upper_limits = upper_limits
        self.limit_suffix = limit_suffix
        self.n_neighbors = n_neighbors
        self.min_rows = min_rows
        self.on_out_of_domain = on_out_of_domain
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        if self.scaling not in _SCALINGS:
            raise ValueError(f"scaling must be one of {_SCALINGS}, got {self.scaling!r}")
        if self.impute not in _IMPUTES:
            raise ValueError(f"impute must be one of {_IMPUTES}, got {self.impute!r}")
        if self.upper_limits not in _LIMITS:
            raise ValueError(f"upper_limits must be one of {_LIMITS}, got {self.upper_limits!r}")
        if int(self.control_degree) < 1:
            raise ValueError(f"control_degree must be >= 1, got {self.control_degree!r}")
        check_on_out_of_domain(self.on_out_of_domain)

    def _raw(self, df, features, *, fitting: bool):
        """Feature matrix (logs taken), limit flags; errors name the column."""
        name = table_name(df)
        check_columns(df, features, name="table")
        if len(df) == 0:
            raise ValueError(f"{name}: the table has no rows")
        X = np.empty((len(df), len(features)))
        logs = set(_tuple(self.log))
        unknown = sorted(logs - set(features))
        if unknown:
            raise ValueError(f"log: column(s) {unknown} are not features {features}")
        for j, f in enumerate(features):
            x = _numeric_column(df, f, "feature")
            if np.isinf(x).any():
                raise ValueError(f"{name}: feature column {f!r} has {int(np.isinf(x).sum())} infinite value(s) "
                                 f"(first at row {int(np.flatnonzero(np.isinf(x))[0])}); use NaN for missing values")
            if f in logs:
                bad = np.isfinite(x) & (x <= 0)
                if bad.any():
                    raise ValueError(f"{name}: column {f!r} has {int(bad.sum())} value(s) <= 0 and is to be logged "
                                     f"(log={list(logs)}); remove it from log or fix the values")
                with np.errstate(invalid="ignore", divide="ignore"):
                    x = np.log10(x)
            X[:, j] = x
        if fitting:
            finite = np.isfinite(X)
            for j, f in enumerate(features):
                if not finite[:, j].any():
                    raise ValueError(f"{name}: feature column {f!r} is entirely missing (all NaN)")
                vals = X[finite[:, j], j]
                if vals.min() == vals.max():
                    raise ValueError(f"{name}: feature column {f!r} is constant ({vals[0]:g}); it carries no "
                                     "information: drop it")
        empty = ~np.isfinite(X).any(axis=1)
        if empty.any():
            rows = [str(i) for i in df.index[np.flatnonzero(empty)[:5]]]
            raise ValueError(f"{name}: {int(empty.sum())} row(s) have every feature missing (all NaN), "
                             f"e.g. row(s) {', '.join(rows)}; drop them first")
        return X, _limit_flags(df, features, self.limit_suffix)

    def _controls(self, df, *, fitting: bool):
        ctrl = list(_tuple(self.control))
        if not ctrl:
            return np.zeros((len(df), 0))
        check_columns(df, ctrl, name="table")
        C = np.column_stack([_numeric_column(df, c, "control") for c in ctrl])
        for k, c in enumerate(ctrl):
            bad = ~np.isfinite(C[:, k])
            if bad.any():
                raise ValueError(f"{table_name(df)}: control column {c!r} has {int(bad.sum())} missing or infinite "
                                 "value(s); a trend cannot be removed there")
            if fitting and C[:, k].min() == C[:, k].max():
                raise ValueError(f"{table_name(df)}: control column {c!r} is constant; there is no trend to remove")
        return C

    def _surveys(self, df):
        if self.survey_column is None:
            return np.zeros(len(df), dtype=object)
        check_columns(df, [self.survey_column], name="table")
        s = df[self.survey_column]
        if s.isna().any():
            raise ValueError(f"{table_name(df)}: survey column {self.survey_column!r} has missing values")
        return s.astype(str).to_numpy(dtype=object)

    def _design(self, C):
        lo, hi = self.control_range_[:, 0], self.control_range_[:, 1]
        Z = (C - lo) / np.where(hi > lo, hi - lo, 1.0)
        cols = [np.ones(len(C))]
        for k in range(C.shape[1]):
            for p in range(1, int(self.control_degree) + 1):
                cols.append(Z[:, k] ** p)
        return np.column_stack(cols)

    # ------------------------------------------------------------------ fit / transform
    def fit(self, table, y=None):
        """Learn scales, trends and imputation values from ``table`` (DataFrame or mapping)."""
        self._check_params()
        df = _as_frame(table)
        exclude = set(_tuple(self.control)) | ({self.survey_column} if self.survey_column else set())
        features = select_features(df, features=self.features, exclude=exclude, limit_suffix=self.limit_suffix)
        clash = sorted(set(features) & exclude)
        if clash:
            raise ValueError(f"column(s) {clash} are both features and control/survey columns")
        if len(df) < int(self.min_rows):
            raise ValueError(f"{table_name(df)}: {len(df)} row(s); at least {self.min_rows} are needed")
        X, L = self._raw(df, features, fitting=True)
        C = self._controls(df, fitting=True)
        surveys = self._surveys(df)
        names = sorted(set(surveys.tolist()))
        center = np.zeros((len(names), len(features)))
        scale = np.ones_like(center)
        for i, s in enumerate(names):
            rows = surveys == s
            sub = np.where(L[rows], np.nan, X[rows]) if self.upper_limits != "value" else X[rows]
            for j, f in enumerate(features):
                v = sub[:, j][np.isfinite(sub[:, j])]
                if v.size < 2:
                    v = X[rows, j][np.isfinite(X[rows, j])]
                if v.size == 0:
                    raise ValueError(f"{table_name(df)}: feature {f!r} has no value in survey {s!r}; per-survey "
                                     "scaling needs at least one")
                if self.scaling == "robust":
                    q1, med, q3 = np.percentile(v, [25, 50, 75])
                    c, sc = med, (q3 - q1) / 1.349
                    if not sc > 0:
                        sc = np.std(v)
                elif self.scaling == "standard":
                    c, sc = np.mean(v), np.std(v)
                else:
                    c, sc = 0.0, 1.0
                center[i, j] = c
                scale[i, j] = sc if sc > 0 else 1.0
        self.features_ = features
        self.surveys_ = names
        self.center_, self.scale_ = center, scale
        self.control_range_ = (np.column_stack([C.min(axis=0), C.max(axis=0)]) if C.shape[1]
                               else np.zeros((0, 2)))
        S = self._scaled(X, surveys)
        if C.shape[1]:
            D = self._design(C)
            coef = np.zeros((D.shape[1], len(features)))
            for j in range(len(features)):
                ok = np.isfinite(S[:, j]) & (~L[:, j] if self.upper_limits != "value" else True)
                if ok.sum() < D.shape[1] + 1:
                    ok = np.isfinite(S[:, j])
                coef[:, j] = np.linalg.lstsq(D[ok], S[ok, j], rcond=None)[0]
            coef[0] = 0.0      # keep the centring from the scaling step; only the trend is removed
            coef[0] = -np.mean(D @ coef, axis=0)     # the removed trend averages to zero over the training rows
            self.trend_coef_ = coef
            S = S - D @ coef
        else:
            self.trend_coef_ = np.zeros((1, len(features)))
        work = np.where(L, np.nan, S) if self.upper_limits in ("censored", "missing") else S
        med = np.nanmedian(work, axis=0)
        self.impute_values_ = np.where(np.isfinite(med), med, 0.0)
        self.reference_ = None
        if self.impute == "knn":
            self.reference_ = np.where(np.isfinite(work), work, np.nan)
        self.missing_fraction_ = (~np.isfinite(X)).mean(axis=0)
        self.limit_fraction_ = L.mean(axis=0)
        self.n_rows_ = len(df)
        self.training_record_ = {"n_rows": len(df), "n_features": len(features), "surveys": names,
                                 "missing_fraction": float((~np.isfinite(X)).mean()),
                                 "upper_limit_fraction": float(L.mean())}
        return self

    def _scaled(self, X, surveys):
        idx = {s: i for i, s in enumerate(self.surveys_)}
        if self.survey_column is None:
            rows = np.zeros(len(X), dtype=int)
        else:
            rows = np.array([idx.get(s, -1) for s in surveys])
        c = np.where(rows[:, None] >= 0, self.center_[np.maximum(rows, 0)], np.nan)
        s = np.where(rows[:, None] >= 0, self.scale_[np.maximum(rows, 0)], np.nan)
        return (X - c) / s

    def _in_domain(self, df, surveys, C):
        ok = np.ones(len(df), dtype=bool)
        reasons = [""] * len(df)
        if self.survey_column is not None:
            known = np.isin(surveys, np.array(self.surveys_, dtype=object))
            for i in np.flatnonzero(~known)[:5]:
                reasons[i] = f"survey {surveys[i]!r} not in the training surveys {self.surveys_}"
            ok &= known
        if C.shape[1]:
            lo, hi = self.control_range_[:, 0], self.control_range_[:, 1]
            pad = 1e-9 * np.maximum(1.0, np.abs(hi - lo))
            inside = ((C >= lo - pad) & (C <= hi + pad)).all(axis=1)
            for i in np.flatnonzero(~inside)[:5]:
                reasons[i] = reasons[i] or (f"control values {C[i].tolist()} outside the trained range "
                                            f"{self.control_range_.tolist()} (the trend would be extrapolated)")
            ok &= inside
        return ok, reasons

    def transform(self, table, *, return_masks: bool = False, return_flags: bool = False):
        """Preprocessed features of ``table``.

        Returns
        -------
        X : DataFrame, shape (n_rows, n_features)
            Preprocessed values (rows out of domain are NaN with ``on_out_of_domain="nan"``).
        masks : dict, only with ``return_masks=True``
            ``"missing"`` and ``"upper_limit"``: bool arrays (n_rows, n_features).
        flags : ndarray of str, only with ``return_flags=True``
        """
        self._check_fitted()
        check_on_out_of_domain(self.on_out_of_domain)
        df = _as_frame(table)
        X, L = self._raw(df, self.features_, fitting=False)
        C = self._controls(df, fitting=False)
        surveys = self._surveys(df)
        ok, reasons = self._in_domain(df, surveys, C)
        flags = domain_flags(ok, self.on_out_of_domain, describe=lambda i: reasons[i])
        missing = ~np.isfinite(X)
        S = self._scaled(X, surveys)
        if C.shape[1]:
            S = S - self._design(C) @ self.trend_coef_
        S[~ok] = np.nan
        out = self._impute(S, L, missing)
        out[~ok] = np.nan
        frame = pd.DataFrame(out, columns=self.features_, index=df.index)
        res = [frame]
        if return_masks:
            res.append({"missing": missing, "upper_limit": L & ~missing})
        if return_flags:
            res.append(flags)
        return res[0] if len(res) == 1 else tuple(res)

    def _impute(self, S, L, missing):
        S = S.copy()
        limit_value = np.where(L, S, np.nan)
        if self.upper_limits in ("censored", "missing"):
            S[L] = np.nan
        holes = ~np.isfinite(S)
        if holes.any():
            if self.impute == "knn" and self.reference_ is not None:
                from sklearn.impute import KNNImputer

                imp = KNNImputer(n_neighbors=int(self.n_neighbors), keep_empty_features=True)
                imp.fit(self.reference_)
                rows = holes.any(axis=1) & np.isfinite(S).any(axis=1)
                if rows.any():
                    S[rows] = imp.transform(S[rows])
            S = np.where(np.isfinite(S), S, self.impute_values_[None, :])
        if self.upper_limits == "censored":
            lim = np.isfinite(limit_value)
            S[lim] = np.minimum(S[lim], limit_value[lim])
        return S

    def fit_transform(self, table, y=None, **kwargs):
        return self.fit(table).transform(table, **kwargs)

    def limits(self, table) -> np.ndarray:
        """Upper-limit flags of ``table`` for the fitted features, bool (n_rows, n_features)."""
        self._check_fitted()
        df = _as_frame(table)
        return _limit_flags(df, self.features_, self.limit_suffix)

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        arrays = {"center": self.center_, "scale": self.scale_, "trend_coef": self.trend_coef_,
                  "control_range": self.control_range_, "impute_values": self.impute_values_,
                  "missing_fraction": self.missing_fraction_, "limit_fraction": self.limit_fraction_}
        if self.reference_ is not None:
            arrays["reference"] = self.reference_
        return arrays, {"features": list(self.features_), "surveys": list(self.surveys_),
                        "n_rows": int(self.n_rows_)}

    def _set_state(self, arrays, meta):
        self.features_ = [str(f) for f in meta["features"]]
        self.surveys_ = [str(s) for s in meta["surveys"]]
        self.n_rows_ = int(meta["n_rows"])
        self.center_, self.scale_ = np.asarray(arrays["center"]), np.asarray(arrays["scale"])
        self.trend_coef_ = np.asarray(arrays["trend_coef"])
        self.control_range_ = np.asarray(arrays["control_range"]).reshape(-1, 2)
        self.impute_values_ = np.asarray(arrays["impute_values"])
        self.missing_fraction_ = np.asarray(arrays["missing_fraction"])
        self.limit_fraction_ = np.asarray(arrays["limit_fraction"])
        self.reference_ = np.asarray(arrays["reference"]) if "reference" in arrays else None
        if self.center_.shape != (len(self.surveys_), len(self.features_)):
            raise ValueError("center array does not match the features and surveys")

