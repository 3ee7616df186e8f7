"""PopulationFit: non-negative ElasticNet weights over model colour tracks that reproduce an observed histogram."""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp

from .._estimator import AgnlabEstimator
from ..validation import check_array, table_name
from ._histogram import angle_weights, color_histogram, design_matrix, histogram_edges
from ._solver import alpha_max, nonneg_enet

__all__ = ["PopulationFit", "jensen_shannon", "parameter_distributions", "poisson_deviance", "reduced_chi2"]


def poisson_deviance(counts, model, *, floor=1e-3) -> float:
    """Poisson deviance 2 sum(h log(h / mu) - (h - mu)), with ``mu`` floored at ``floor``."""
    h = np.asarray(counts, float).ravel()
    mu = np.maximum(np.asarray(model, float).ravel(), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(h > 0, h * np.log(h / mu), 0.0)
    return float(2.0 * np.sum(t - (h - mu)))


def reduced_chi2(counts, model, *, n_params=0, min_var=1.0):
    """Pearson chi^2 / dof of a histogram against a model, variance max(model, ``min_var``).

    Bins where both counts and model are zero are ignored; dof = used bins - ``n_params`` (>= 1).

    Returns
    -------
    chi2_red : float
    chi2 : float
    dof : int
    """
    h = np.asarray(counts, float).ravel()
    mu = np.asarray(model, float).ravel()
    used = (h > 0) | (mu > 0)
    chi2 = float(np.sum((h[used] - mu[used]) ** 2 / np.maximum(mu[used], min_var)))
    dof = max(int(used.sum()) - int(n_params), 1)
    return chi2 / dof, chi2, dof


def jensen_shannon(p, q) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between two (unnormalised) distributions."""
    p = np.asarray(p, float).ravel()
    q = np.asarray(q, float).ravel()
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("jensen_shannon: need two non-empty distributions of equal length")
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):  # KL(a || m) over the support of a (m > 0 there)
        nz = a > 0
        return np.sum(a[nz] * np.log2(a[nz] / m[nz]))

    return float(0.5 * kl(p) + 0.5 * kl(q))


def parameter_distributions(params, weights, *, param_names=None, bins=12, max_levels=30):
    """Weighted vs uniform marginal distributions of track parameters.

    Parameters
    ----------
    params : array_like, shape (n_tracks, n_params)
    weights : array_like, shape (n_tracks,), non-negative
    bins : int
        Bins for continuous parameters (those with more than ``max_levels`` distinct values);
        discrete parameters use their distinct values.

    Returns
    -------
    dict name -> dict(``centers``, ``edges``, ``uniform``, ``weighted``) (normalised to sum 1).
    """
    P = check_array(params, name="params", ndim=2)
    w = check_array(weights, name="weights", shape=(P.shape[0],))
    if np.any(w < 0):
        raise ValueError("weights: must be non-negative")
    names = list(param_names) if param_names is not None else [f"p{j}" for j in range(P.shape[1])]
    out = {}
    for j, name in enumerate(names):
        col = P[:, j]
        levels = np.unique(col)
        if levels.size <= max_levels:
            mids = 0.5 * (levels[1:] + levels[:-1])
            edges = np.concatenate([[levels[0] - 0.5], mids, [levels[-1] + 0.5]]) if levels.size > 1 \
                else np.array([levels[0] - 0.5, levels[0] + 0.5])
            centers = levels
        else:
            edges = np.linspace(col.min(), col.max(), bins + 1)
            centers = 0.5 * (edges[1:] + edges[:-1])
        uni = np.histogram(col, bins=edges)[0].astype(float)
        wtd = np.histogram(col, bins=edges, weights=w)[0]
        out[name] = {"centers": centers, "edges": edges, "uniform": uni / max(uni.sum(), 1e-300),
                     "weighted": wtd / wtd.sum() if wtd.sum() > 0 else wtd}
    return out


def _thin(counts, n_folds, rng):
    """Split a Poisson histogram into ``n_folds`` independent ones (as random source assignment)."""
    rest = counts.astype(np.int64)
    folds = []
    for k in range(n_folds - 1):
        part = rng.binomial(rest, 1.0 / (n_folds - k))
        folds.append(part)
        rest = rest - part
    folds.append(rest)
    return [f.astype(float) for f in folds]


_LEGACY_KIND = "population_fit"   # files written before the shared estimator contract


def _observed_array(observed_colors, columns) -> np.ndarray:
    """(n_objects, 2) float array from an array or a table (columns read by name, never by position)."""
    if hasattr(observed_colors, "columns") or hasattr(observed_colors, "colnames") or isinstance(observed_colors,
                                                                                                 dict):
        if hasattr(observed_colors, "columns"):
            have = [str(c) for c in observed_colors.columns]
        elif hasattr(observed_colors, "colnames"):
            have = list(observed_colors.colnames)
        else:
            have = [str(c) for c in observed_colors]
        cols = [str(c) for c in columns]
        missing = [c for c in cols if c not in have]
        if missing:
            raise ValueError(f"{table_name(observed_colors, 'observed_colors')}: missing column(s) {missing} "
                             f"(set color_columns=... to the names of "
                             f"the two colours); available: {have}")
        try:
            return np.column_stack([np.asarray(observed_colors[c], dtype=float) for c in cols])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"observed_colors: columns {cols} are not numeric ({exc})") from None
    return check_array(observed_colors, name="observed_colors", ndim=2, finite=False)


def _track_array(track_colors) -> np.ndarray:
    """(n_tracks, n_angles, 2) numeric array (its dtype kept: track libraries are large float32 arrays)."""
    tc = np.asarray(track_colors)
    if not (np.issubdtype(tc.dtype, np.floating) or np.issubdtype(tc.dtype, np.integer)):
        raise TypeError(f"track_colors: expected numbers, got an array of dtype {tc.dtype}")
    if tc.ndim != 3 or tc.shape[2] != 2:
        raise ValueError(f"track_colors: expected shape (n_tracks, n_angles, 2), got {tc.shape}")
    if tc.size == 0:
        raise ValueError(f"track_colors: array is empty (shape {tc.shape})")
    return tc


class PopulationFit(AgnlabEstimator):
    """Non-negative ElasticNet mix of model colour tracks matching an observed colour-colour histogram.

    The observed colours are binned into a 2-D histogram ``h``; each track (a model
    seen over a set of viewing angles) is binned into the same grid (a column of the
    sparse design matrix ``A``, summing to the track's fraction inside the range).
    Weights ``w = N v >= 0`` (expected numbers of sources per track; ``N`` sources in the
    histogram, ``v`` the mixing fractions) minimise

        1/(2 n_bins) ||(h - N A v) / sigma||^2 + alpha * l1_ratio * sum(v) + alpha (1 - l1_ratio)/2 ||v||^2

    with Poisson errors ``sigma``. ``alpha`` (relative to the smallest alpha giving
    w = 0) and ``l1_ratio`` are chosen by K-fold cross-validation: the observed
    histogram is split into K independent Poisson histograms (binomial thinning,
    equivalent to splitting the sources), fitted on K-1 and scored by the Poisson
    deviance on the held-out one. The solver works on the (n_bins x n_tracks)
    sparse matrix with a working set (never the n_tracks^2 Gram matrix).

    Parameters
    ----------
    bins : int or (int, int)
        Histogram bins per axis.
    color_range : ((lo, hi), (lo, hi)), optional
        Histogram ranges (default: from the observed colours' 0.2-99.8 % quantiles).
    l1_ratios : sequence of float
        L1 shares tried by cross-validation (each in (0, 1]).
    n_alphas : int
        Alphas per path, log-spaced from alpha_max down to ``eps * alpha_max``.
    eps : float
        Ratio of the smallest to the largest alpha.
    alphas : sequence of float, optional
        Relative alphas (fractions of alpha_max) instead of ``n_alphas``/``eps``.
    cv : int
        Number of folds (>= 2).
    color_error : float or (float, float), optional
        Typical Gaussian errors (mag) of the observed colours; model histograms are
        blurred accordingly (see :func:`design_matrix`).
    angle_weighting : {"isotropic", "uniform"}
        Probability of each viewing angle within a track (isotropic: solid angle).
    sigma : {"poisson", "none"}
        ``"poisson"``: sigma^2 = max(h, 1) first, then one re-weighted pass with
        sigma^2 = max(model, 1) (less biased at low counts); ``"none"``: unweighted.
    tol : float
        Relative KKT tolerance of the solver.
    max_outer : int
        Outer (working-set) iterations of the solver per alpha.
    color_columns : (str, str)
        Names of the two colour columns when ``observed_colors`` is a table
        (read by name, never by position).
    random_state : int, numpy Generator or None
        Seed of the fold split.
    progress : bool, optional
        Progress bar over the cross-validation grid.

    Attributes
    ----------
    weights_ : ndarray, shape (n_tracks,)
        Non-negative weights (expected sources per track, incl. those outside the histogram).
    alpha_, l1_ratio_ : float
        Selected penalty (absolute alpha) and L1 share; ``alpha_ratio_`` = alpha_ / alpha_max.
    edges_ : (ndarray, ndarray)
    observed_hist_, model_hist_, residuals_ : ndarray, shape (bx, by)
        Counts, model counts and Pearson residuals (h - mu) / sqrt(max(mu, 1)).
    chi2_, reduced_chi2_, dof_ : float, float, int
    n_nonzero_ : int
    n_tracks_ : int
    training_record_ : dict
        ``n_objects``, ``n_objects_used``, ``n_tracks``, ``n_bins``, ``dropped`` (observed rows
        dropped: ``non_finite``, ``outside_range``; tracks flagged: ``empty_tracks``,
        ``nonfinite_track_points``), ``cv`` (``n_folds``, ``l1_ratios``, ``alpha_ratios`` and
        ``mean_deviance``, shape (n_l1_ratios, n_alphas): mean held-out Poisson deviance per bin),
        ``solver`` (convergence of the final fit), ``design_nnz``, ``fit_seconds``.

    Notes
    -----
    **Domain.** The fit lives on the colour-colour histogram. Observed rows outside
    the histogram range (``color_range``, or the quantile range of the observed colours)
    or with non-finite colours are not used: they are counted in
    ``training_record_["dropped"]`` (``outside_range``, ``non_finite``; non-finite rows
    also give a warning). Tracks with no point inside the range get an all-zero
    column and a weight fixed at 0 (counted as ``empty_tracks``, with a warning);
    when every track lies outside, ``fit`` raises ``ValueError``.

    **Not a Pipeline step.** ``fit(track_colors, observed_colors)`` is not
    scikit-learn's ``fit(X, y)``: the estimator explains *one* histogram of
    observations as a non-negative mix of a *library* of model tracks, so the
    "X" is the track library (n_tracks, n_angles, 2), not one row per observed
    object, and there is no per-object ``predict``/``transform`` for a next step
    to consume. It therefore does not sit inside a ``sklearn.pipeline.Pipeline``;
    put the pipeline upstream (whatever produces the observed colours) and pass its
    output as ``observed_colors``. Everything else of the estimator contract holds
    (``get_params``/``set_params``/``clone``, ``random_state``, ``save``/``load``).
    ``observed_colors`` may be a table: its columns ``color_columns`` are read by
    name; ``track_colors`` may be a :class:`ColorTracks` (its ``angles_deg`` are
    then used unless ``angles_deg`` is given).

    Examples
    --------
    >>> import numpy as np
    >>> from agnlab.population import PopulationFit
    >>> rng = np.random.default_rng(0)
    >>> centers = rng.uniform(0, 3, (50, 2))
    >>> tracks = centers[:, None, :] + np.linspace(0, 0.5, 8)[None, :, None] * np.array([1.0, 0.5])
    >>> obs = tracks[[3, 17]].reshape(-1, 2)[rng.integers(0, 16, 5000)] + rng.normal(0, 0.05, (5000, 2))
    >>> fit = PopulationFit(bins=20, n_alphas=5, cv=2, l1_ratios=(0.9,)).fit(tracks, obs)
    >>> bool(fit.weights_[[3, 17]].sum() > 0.5 * fit.weights_.sum())
    True
    """

    _fitted_attributes = ("weights_",)

    def __init__(self, *, bins=40, color_range=None, l1_ratios=(0.2, 0.5, 0.8, 1.0), n_alphas=8, eps=1e-4,
                 alphas=None, cv=3, color_error=None, angle_weighting="isotropic", sigma="poisson", tol=1e-4,
                 max_outer=50, color_columns=("w1_w2", "w2_w3"), random_state=0, progress=None):
        self.bins = bins
        self.color_range = color_range
        self.l1_ratios = l1_ratios
        self.n_alphas = n_alphas
        self.eps = eps
        self.alphas = alphas
        self.cv = cv
        self.color_error = color_error
        self.angle_weighting = angle_weighting
        self.sigma = sigma
        self.tol = tol
        self.max_outer = max_outer
        self.color_columns = color_columns
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ helpers
    def _check_params(self):
        l1 = np.atleast_1d(np.asarray(self.l1_ratios, float))
        if l1.size == 0 or np.any((l1 <= 0) | (l1 > 1)):
            raise ValueError(f"l1_ratios: each must be in (0, 1], got {self.l1_ratios}")
        if int(self.cv) < 2:
            raise ValueError(f"cv: need at least 2 folds, got {self.cv}")
        if self.sigma not in ("poisson", "none"):
            raise ValueError(f"sigma: 'poisson' or 'none', got {self.sigma!r}")
        if len(tuple(self.color_columns)) != 2:
            raise ValueError(f"color_columns: need two column names, got {self.color_columns!r}")
        if self.alphas is not None:
            rel = np.sort(np.atleast_1d(np.asarray(self.alphas, float)))[::-1]
            if rel.size == 0 or np.any(rel <= 0):
                raise ValueError("alphas: need positive relative alphas")
        else:
            if int(self.n_alphas) < 1 or not 0 < self.eps < 1:
                raise ValueError(f"n_alphas >= 1 and 0 < eps < 1 required, got {self.n_alphas}, {self.eps}")
            rel = np.logspace(0, np.log10(self.eps), int(self.n_alphas))
        return l1, rel

    def _problem(self, A, h, var=None):
        """Row scale, target and X^T y of the weighted problem (shared by all alphas and l1_ratios)."""
        if var is None:
            var = np.maximum(h, 1.0) if self.sigma == "poisson" else np.ones_like(h)
        sig_inv = 1.0 / np.sqrt(var)
        # solve for fractions v = w / N (N = sources in the histogram): the L2 term then has the same
        # scale as the L1 term whatever N is, and alpha_max does not depend on N
        n_src = max(float(h.sum()), 1.0)
        rs = sig_inv * n_src
        y = h * sig_inv
        xty = A.T @ (rs * y)
        return {"rs": rs, "y": y, "xty": xty, "n_src": n_src}

    def _solve(self, A, prob, rel_alpha, l1_ratio, w0=None, prev=None):
        """One alpha; ``prev`` = info of the previous alpha on the same path (strong rule)."""
        amax = alpha_max(A, prob["y"], l1_ratio, xty=prob["xty"])
        corr0 = alpha_prev = None
        if prev is not None and prev.get("l1_ratio") == l1_ratio and "corr" in prev:
            corr0, alpha_prev = prev["corr"], prev["alpha"]
        v, info = nonneg_enet(A, prob["y"], alpha=rel_alpha * amax, l1_ratio=l1_ratio,
                              w0=None if w0 is None else w0 / prob["n_src"], tol=self.tol,
                              max_outer=self.max_outer, row_scale=prob["rs"], xty=prob["xty"],
                              corr0=corr0, alpha_prev=alpha_prev)
        info.update(alpha=rel_alpha * amax, l1_ratio=l1_ratio)
        return v * prob["n_src"], info, rel_alpha * amax

    # ------------------------------------------------------------------ API
    def fit(self, track_colors, observed_colors, *, angles_deg=None):
        """Fit weights over tracks.

        Parameters
        ----------
        track_colors : array_like, shape (n_tracks, n_angles, 2), or ColorTracks
            Colours (W1-W2, W2-W3) of each model track at each viewing angle.
        observed_colors : array_like, shape (n_objects, 2), or a table
            Observed (W1-W2, W2-W3); a table (pandas DataFrame, astropy Table, mapping)
            is read by the column names ``color_columns``. Non-finite rows are dropped
            and counted in ``training_record_["dropped"]``.
        angles_deg : array_like, shape (n_angles,), optional
            Viewing angles of the track points (for isotropic weighting); default: those of
            a ``ColorTracks``, else equally likely points.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Wrong shapes, missing columns, a degenerate observed histogram, or every track
            outside the histogram range.
        TypeError
            Non-numeric track colours.
        """
        from .._progress import progress as _bar

        t0 = time.perf_counter()
        l1s, rel = self._check_params()
        if hasattr(track_colors, "colors") and hasattr(track_colors, "angles_deg"):   # a ColorTracks
            if angles_deg is None:
                angles_deg = track_colors.angles_deg
            track_colors = track_colors.colors
        obs = _observed_array(observed_colors, self.color_columns)
        if obs.shape[1] != 2:
            raise ValueError(f"observed_colors: expected shape (n_objects, 2), got {obs.shape}")
        tc = _track_array(track_colors)
        edges = histogram_edges(obs, bins=self.bins, color_range=self.color_range)
        h2, dropped = color_histogram(obs, edges)
        h = h2.ravel()
        if dropped["non_finite"]:
            warnings.warn(f"observed_colors: dropped {dropped['non_finite']} rows with non-finite colours",
                          stacklevel=2)
        if h.sum() < 10 or np.count_nonzero(h) < 3:
            raise ValueError(f"degenerate observed histogram: {int(h.sum())} sources in {np.count_nonzero(h)} "
                             f"non-empty bins of {h.size} (dropped {dropped}); need >= 10 sources in >= 3 bins")
        aw = None
        if angles_deg is not None:
            aw = angle_weights(angles_deg, kind=self.angle_weighting)
            if aw.size != tc.shape[1]:
                raise ValueError(f"angles_deg: {aw.size} angles but track_colors has {tc.shape[1]} per track")
        dm = design_matrix(tc, edges, weights=aw, color_error=self.color_error, progress=self.progress)
        dropped.update(empty_tracks=int(dm.empty_tracks.size), nonfinite_track_points=int(dm.n_nonfinite_points))
        if dm.empty_tracks.size == tc.shape[0]:
            raise ValueError("design matrix: every track lies entirely outside the observed colour range "
                             f"{[(e[0], e[-1]) for e in edges]} (all-zero columns); check the colours/bands")
        if dm.empty_tracks.size:
            warnings.warn(f"design matrix: {dm.empty_tracks.size} of {tc.shape[0]} tracks have no point inside "
                          "the histogram (all-zero columns); their weights are fixed at 0", stacklevel=2)
        keep = np.flatnonzero(dm.inside_fraction > 0)
        A = dm.matrix if keep.size == dm.matrix.shape[1] else dm.matrix[:, keep]
        A = sp.csc_matrix(A, dtype=np.float64)
        A.sort_indices()
        del dm

        rng = self._rng()
        folds = _thin(h, int(self.cv), rng)
        dev = np.zeros((l1s.size, rel.size, int(self.cv)))
        tasks = [(i, k) for k in range(int(self.cv)) for i in range(l1s.size)]
        disable = None if self.progress is None else not self.progress
        probs = {}
        for i, k in _bar(tasks, total=len(tasks), desc="PopulationFit CV", disable=disable):
            h_val = folds[k]
            h_tr = h - h_val
            scale = h_val.sum() / max(h_tr.sum(), 1.0)
            if k not in probs:
                probs = {k: self._problem(A, h_tr)}  # one fold's problem in memory at a time
            w, prev = None, None
            for j, r in enumerate(rel):
                w, prev, _ = self._solve(A, probs[k], r, l1s[i], w0=w, prev=prev)
                dev[i, j, k] = poisson_deviance(h_val, scale * (A @ w)) / h.size
        mean_dev = dev.mean(axis=2)
        bi, bj = np.unravel_index(np.argmin(mean_dev), mean_dev.shape)
        self.l1_ratio_ = float(l1s[bi])
        self.alpha_ratio_ = float(rel[bj])
        # refit on all data along the path down to the chosen alpha (warm starts)
        w, info = None, None
        prob = self._problem(A, h)
        for r in rel[:bj + 1]:
            w, info, alpha = self._solve(A, prob, r, self.l1_ratio_, w0=w, prev=info)
        if self.sigma == "poisson":  # one re-weighted pass with model variances
            prob = self._problem(A, h, var=np.maximum(A @ w, 1.0))
            w, info, alpha = self._solve(A, prob, self.alpha_ratio_, self.l1_ratio_, w0=w)
        weights = np.zeros(tc.shape[0])
        weights[keep] = w
        self.weights_ = weights
        self.alpha_ = float(alpha)
        self.edges_ = edges
        self.observed_hist_ = h2
        self.model_hist_ = (A @ w).reshape(h2.shape)
        self.n_tracks_ = int(tc.shape[0])
        self._set_summaries()
        self.training_record_ = {
            "n_objects": int(obs.shape[0]), "n_objects_used": int(h.sum()), "n_tracks": int(tc.shape[0]),
            "n_tracks_used": int(keep.size), "n_bins": int(h.size), "dropped": dropped,
            "cv": {"n_folds": int(self.cv), "l1_ratios": l1s.tolist(), "alpha_ratios": rel.tolist(),
                   "mean_deviance": mean_dev.tolist()},
            "solver": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in info.items() if k != "corr"},
            "design_nnz": int(A.nnz), "fit_seconds": time.perf_counter() - t0,
        }
        return self

    def _set_summaries(self):
        """Residuals and goodness of fit from the histograms and weights (at fit and at load)."""
        mu = self.model_hist_
        self.residuals_ = (self.observed_hist_ - mu) / np.sqrt(np.maximum(mu, 1.0))
        self.n_nonzero_ = int(np.count_nonzero(self.weights_))
        self.reduced_chi2_, self.chi2_, self.dof_ = reduced_chi2(self.observed_hist_, mu, n_params=self.n_nonzero_)

    def model_histogram(self):
        """Model counts per bin, shape (bx, by)."""
        self._check_fitted()
        return self.model_hist_

    def weight_fractions(self):
        """Weights normalised to sum 1 (the mixing fractions of tracks)."""
        self._check_fitted()
        s = self.weights_.sum()
        return self.weights_ / s if s > 0 else self.weights_

    def parameter_distributions(self, params, *, param_names=None, bins=12):
        """Weighted vs uniform distributions of track parameters; see :func:`parameter_distributions`."""
        self._check_fitted()
        P = check_array(params, name="params", ndim=2)
        if P.shape[0] != self.weights_.size:
            raise ValueError(f"params: {P.shape[0]} rows but the fit has {self.weights_.size} tracks")
        return parameter_distributions(P, self.weights_, param_names=param_names, bins=bins)

    # ------------------------------------------------------------------ persistence (agnlab._estimator)
    def _get_state(self):
        arrays = {"weights": self.weights_, "edges_x": self.edges_[0], "edges_y": self.edges_[1],
                  "observed_hist": self.observed_hist_, "model_hist": self.model_hist_}
        meta = {"alpha": self.alpha_, "l1_ratio": self.l1_ratio_, "alpha_ratio": self.alpha_ratio_}
        return arrays, meta

    def _set_state(self, arrays, meta):
        self.weights_ = np.asarray(arrays["weights"], dtype=float)
        self.edges_ = (np.asarray(arrays["edges_x"], dtype=float), np.asarray(arrays["edges_y"], dtype=float))
        self.observed_hist_ = np.asarray(arrays["observed_hist"], dtype=float)
        self.model_hist_ = np.asarray(arrays["model_hist"], dtype=float)
        want = (self.edges_[0].size - 1, self.edges_[1].size - 1)
        if self.observed_hist_.shape != want or self.model_hist_.shape != want or self.weights_.ndim != 1:
            raise ValueError(f"histograms of shape {self.observed_hist_.shape}/{self.model_hist_.shape} do not "
                             f"match the edges {want}")
        self.alpha_ = float(meta["alpha"])
        self.l1_ratio_ = float(meta["l1_ratio"])
        self.alpha_ratio_ = float(meta["alpha_ratio"])
        self.n_tracks_ = int(self.weights_.size)
        self._set_summaries()

    @classmethod
    def load(cls, path):
        """Load a fit written by :meth:`save` (also reads files of the older ``population_fit`` layout)."""
        from ..io import ArtifactError, load_artifact

        try:
            return super().load(path)
        except ArtifactError as exc:
            if repr(_LEGACY_KIND) not in str(exc):
                raise
        arrays, meta = load_artifact(path, kind=_LEGACY_KIND)
        return cls._load_legacy(path, arrays, meta)

    @classmethod
    def _load_legacy(cls, path, arrays, meta):
        """Files of kind ``population_fit`` (written by ``PopulationFit.save`` before the shared contract)."""
        import inspect

        from .._estimator import _as_param
        from ..io import ArtifactError

        try:
            accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
            params = {k: _as_param(v) for k, v in dict(meta.get("params", {})).items() if k in accepted}
            est = cls(**params)
            est._set_state(arrays, meta)
            est.training_record_ = {
                "dropped": dict(meta.get("dropped", {})),
                "cv": {"l1_ratios": np.asarray(arrays["cv_l1_ratios"], float).tolist(),
                       "alpha_ratios": np.asarray(arrays["cv_alpha_ratios"], float).tolist(),
                       "mean_deviance": np.asarray(arrays["cv_deviance"], float).tolist()},
            }
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ArtifactError(f"{path}: incomplete or inconsistent population_fit file ({exc})") from None
        return est
