"""The balanced hierarchical random forest of the ALeRCE light-curve classifier."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._estimator import AgnlabEstimator, compute_context
from ..validation import table_name
from ._classes import HIERARCHY
from ._forest import export_forest, forest_arrays_names, predict_forest

__all__ = ["HierarchicalClassifier", "MISSING_VALUE"]

#: value given to missing (NaN) features before the trees see them, as ALeRCE does
MISSING_VALUE = -999.0


def _as_labels(labels, index) -> np.ndarray:
    if isinstance(labels, pd.DataFrame):
        if "class" not in labels.columns:
            raise ValueError(f"{table_name(labels, 'labels')}: needs a 'class' column, has {list(labels.columns)}")
        if "object_id" in labels.columns:
            lab = labels.set_index(labels["object_id"].astype(str))["class"]
        else:
            lab = labels["class"]
        if index is not None:
            missing = pd.Index(index).difference(lab.index)
            if len(missing):
                raise ValueError(f"{table_name(labels, 'labels')}: no class for {len(missing)} "
                                 f"object(s), e.g. {list(missing[:3])}")
            lab = lab.reindex(index)
        return lab.astype(str).to_numpy()
    if isinstance(labels, pd.Series):
        if index is not None and labels.index.isin(index).all() and len(labels) == len(index) \
                and not isinstance(labels.index, pd.RangeIndex):
            labels = labels.reindex(index)
        return labels.astype(str).to_numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels: expected a 1-D sequence or a table with 'class', got shape {arr.shape}")
    return arr.astype(str)


class HierarchicalClassifier(AgnlabEstimator):
    """Balanced hierarchical random forest (Sánchez-Sáez et al. 2021, AJ 161, 141).

    A top-level imbalanced-learn ``BalancedRandomForestClassifier`` separates the groups of
    ``hierarchy`` (default Stochastic / Periodic / Transient); one per group separates its classes.
    ``P(class) = P(group) x P(class | group)``. Every forest undersamples each class to the size of
    the smallest for every tree; the imbalanced-learn settings whose defaults changed between
    versions are explicit hyperparameters here (``sampling_strategy``, ``replacement``,
    ``bootstrap``). Missing features (NaN) are set to -999 as in ALeRCE; infinite values are an error.

    The fitted trees are kept as plain arrays (children, feature, threshold, class fractions) and
    predicted from those, so ``save`` writes numbers only (no pickle) and a loaded model predicts
    exactly as the fitted one. Trees do not extrapolate, so there is no out-of-domain flag: a
    feature beyond the training range falls in the outermost leaf.

    Not an ``(X, y)`` array estimator: features and labels are tables matched by name and
    ``object_id`` (a DataFrame from :func:`extract_features`; its ``flag`` column is ignored).

    Parameters
    ----------
    n_estimators : int
        Trees per forest (ALeRCE: 500).
    max_depth, min_samples_leaf, max_features, criterion
        Passed to each forest.
    sampling_strategy, replacement, bootstrap
        imbalanced-learn undersampling settings (explicit; imbalanced-learn >= 0.13 defaults).
    hierarchy : dict of str -> sequence of str, optional
        Groups and their classes (default :data:`agnlab.lightcurves.HIERARCHY`).
    n_jobs, random_state, progress
        The shared vocabulary; ``n_jobs`` threads for fitting and predicting.
    """

    _fitted_attributes = ("classes_", "feature_names_", "groups_")

    def __init__(self, *, n_estimators: int = 500, max_depth=None, min_samples_leaf: int = 1,
                 max_features="sqrt", criterion: str = "entropy", sampling_strategy="all",
                 replacement: bool = True, bootstrap: bool = False, hierarchy=None, n_jobs=None,
                 random_state=None, progress=None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.criterion = criterion
        self.sampling_strategy = sampling_strategy
        self.replacement = replacement
        self.bootstrap = bootstrap
        self.hierarchy = hierarchy
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ inputs
    def _matrix(self, features, *, names=None) -> tuple[np.ndarray, list[str], pd.Index | None]:
        if isinstance(features, pd.DataFrame):
            if names is None:
                numeric = [c for c in features.columns if c != "flag"]
                bad = [c for c in numeric if not pd.api.types.is_numeric_dtype(features[c])
                       or pd.api.types.is_bool_dtype(features[c])]
                if bad:
                    raise TypeError(f"{table_name(features, 'features')}: non-numeric column(s) {bad[:5]}")
                names = numeric
            else:
                missing = [c for c in names if c not in features.columns]
                if missing:
                    raise ValueError(f"{table_name(features, 'features')}: missing {len(missing)} column(s) the model "
                                     f"was trained on, e.g. {[str(m) for m in missing[:5]]}")
            index = features.index
            try:
                X = features.loc[:, names].to_numpy(dtype=float)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{table_name(features, 'features')}: non-numeric values ({exc})") from None
        else:
            arr = np.asarray(features)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"features: expected numbers, got dtype {arr.dtype}")
            X = arr.astype(float)
            if X.ndim != 2:
                raise ValueError(f"features: expected a 2-D table, got shape {X.shape}")
            if names is not None and X.shape[1] != len(names):
                raise ValueError(f"features: expected {len(names)} columns, got {X.shape[1]}")
            names = names or [f"x{i}" for i in range(X.shape[1])]
            index = None
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"features: empty table (shape {X.shape})")
        if np.isinf(X).any():
            raise ValueError(f"features: {int(np.isinf(X).sum())} infinite values; extract_features writes NaN for "
                             "missing values, inf means a broken table")
        return np.where(np.isnan(X), MISSING_VALUE, X), list(names), index

    def _hierarchy(self) -> dict:
        h = HIERARCHY if self.hierarchy is None else self.hierarchy
        return {str(g): tuple(str(c) for c in cs) for g, cs in dict(h).items()}

    def _forest(self, seed: int):
        from imblearn.ensemble import BalancedRandomForestClassifier

        return BalancedRandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, criterion=self.criterion, sampling_strategy=self.sampling_strategy,
            replacement=self.replacement, bootstrap=self.bootstrap, n_jobs=self.n_jobs, random_state=seed)

    # ------------------------------------------------------------------ fit
    def fit(self, features, labels):
        """Fit the top-level and per-group forests.

        Parameters
        ----------
        features : DataFrame (n_objects, n_features) indexed by object_id, or 2-D array
        labels : DataFrame with ``object_id, class`` (matched by id), Series, or sequence aligned with rows
        """
        X, names, index = self._matrix(features)
        y = _as_labels(labels, index)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"labels: {y.shape[0]} labels for {X.shape[0]} objects")
        hier = self._hierarchy()
        group_of = {c: g for g, cs in hier.items() for c in cs}
        unknown = sorted(set(y) - set(group_of))
        if unknown:
            raise ValueError(f"labels: class(es) {unknown} are not in the hierarchy {hier}")
        rng = self._rng()
        t0 = time.perf_counter()
        present = [c for g in hier for c in hier[g] if c in set(y)]
        groups = [g for g in hier if any(group_of[c] == g for c in present)]
        if len(present) < 2:
            raise ValueError(f"labels: need at least two classes, got {present}")
        g_y = np.array([group_of[c] for c in y])
        forests = {}
        with compute_context(self.n_jobs):
            for key, sel, classes in [("top", np.ones(y.size, bool), groups)] + \
                    [(g, g_y == g, [c for c in present if group_of[c] == g]) for g in groups]:
                seed = int(rng.integers(0, 2**31 - 1))
                if len(classes) < 2:
                    forests[key] = None
                    continue
                target = g_y[sel] if key == "top" else y[sel]
                codes = np.array([classes.index(v) for v in target])
                model = self._forest(seed).fit(X[sel], codes)
                forests[key] = export_forest(model.estimators_, len(classes), np.arange(len(classes)))
        self.classes_ = np.array(present)
        self.groups_ = np.array(groups)
        self.feature_names_ = np.array(names)
        self._group_classes = {g: [c for c in present if group_of[c] == g] for g in groups}
        self._forests = forests
        self.feature_importances_ = self._importances(X.shape[1])
        counts = pd.Series(y).value_counts()
        self.training_record_ = {"n_objects": int(X.shape[0]), "n_features": int(X.shape[1]),
                                 "class_counts": {str(k): int(v) for k, v in counts.items()},
                                 "fit_seconds": round(time.perf_counter() - t0, 3)}
        return self

    def _importances(self, n_features: int) -> np.ndarray:
        """Fraction of split nodes that use each feature, over all forests (a cheap, saved-model-safe proxy)."""
        counts = np.zeros(n_features)
        for arr in self._forests.values():
            if arr is not None:
                f = arr["feature"][arr["left"] >= 0]
                counts += np.bincount(f, minlength=n_features)
        return counts / max(counts.sum(), 1.0)

    # ------------------------------------------------------------------ predict
    def predict_proba(self, features, *, level: str = "bottom") -> pd.DataFrame:
        """Class probabilities ``P(group) x P(class | group)`` (``level="top"``: group probabilities).

        Returns a DataFrame indexed like ``features`` (object_id) with one column per class (or group).
        """
        self._check_fitted()
        if level not in ("bottom", "top"):
            raise ValueError(f"level must be 'bottom' or 'top', got {level!r}")
        X, _, index = self._matrix(features, names=list(self.feature_names_))
        with compute_context(self.n_jobs, default_threads=None):
            top = self._predict_top(X)
            if level == "top":
                return pd.DataFrame(top, index=index, columns=list(self.groups_))
            out = np.zeros((X.shape[0], self.classes_.size))
            col = {c: i for i, c in enumerate(self.classes_)}
            for gi, g in enumerate(self.groups_):
                members = self._group_classes[g]
                arr = self._forests.get(g)
                sub = np.ones((X.shape[0], 1)) if arr is None else predict_forest(arr, X)
                for k, c in enumerate(members):
                    out[:, col[c]] = top[:, gi] * sub[:, k]
        return pd.DataFrame(out, index=index, columns=list(self.classes_))

    def _predict_top(self, X):
        arr = self._forests.get("top")
        return np.ones((X.shape[0], 1)) if arr is None else predict_forest(arr, X)

    def predict(self, features, *, level: str = "bottom") -> np.ndarray:
        """Most probable class (or group) of each object."""
        proba = self.predict_proba(features, level=level)
        return proba.columns.to_numpy()[np.argmax(proba.to_numpy(), axis=1)]

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        arrays = {}
        for key, arr in self._forests.items():
            if arr is not None:
                for name in forest_arrays_names():
                    arrays[f"{key}/{name}"] = arr[name]
        meta = {"classes": self.classes_.tolist(), "groups": self.groups_.tolist(),
                "feature_names": self.feature_names_.tolist(), "group_classes": self._group_classes,
                "forests": {k: arr is not None for k, arr in self._forests.items()}}
        return arrays, meta

    def _set_state(self, arrays, meta):
        self.classes_ = np.array(meta["classes"])
        self.groups_ = np.array(meta["groups"])
        self.feature_names_ = np.array(meta["feature_names"])
        self._group_classes = {str(k): list(v) for k, v in meta["group_classes"].items()}
        self._forests = {k: ({n: arrays[f"{k}/{n}"] for n in forest_arrays_names()} if has else None)
                         for k, has in meta["forests"].items()}
        self.feature_importances_ = self._importances(self.feature_names_.size)
