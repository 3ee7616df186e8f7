"""PopulationFit: non-negative ElasticNet weights over model colour tracks that reproduce an observed histogram."""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from .._validation import check_array, check_is_fitted, check_random_state
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


class PopulationFit(BaseEstimator):
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
    random_state : int
        Seed of the fold split.
    progress : bool, optional
        Progress bar over the cross-validation grid.

    Attributes
    ----------
    weights_ : ndarray, shape (n_tracks,)
        Non-negative weights (expected sources per track, incl. those outside the histogram).
    alpha_, l1_ratio_ : float
        Selected penalty (absolute alpha) and L1 share; ``alpha_ratio_`` = alpha_ / alpha_max.
    cv_deviance_ : ndarray, shape (n_l1_ratios, n_alphas)
        Mean held-out Poisson deviance per bin.
    edges_ : (ndarray, ndarray)
    observed_hist_, model_hist_, residuals_ : ndarray, shape (bx, by)
        Counts, model counts and Pearson residuals (h - mu) / sqrt(max(mu, 1)).
    chi2_, reduced_chi2_, dof_ : float, float, int
    n_nonzero_ : int
    dropped_ : dict
        Observed rows dropped (non-finite, outside range) and tracks flagged (all-zero columns,
        non-finite points).
    fit_seconds_ : float

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

    def __init__(self, *, bins=40, color_range=None, l1_ratios=(0.2, 0.5, 0.8, 1.0), n_alphas=8, eps=1e-4,
                 alphas=None, cv=3, color_error=None, angle_weighting="isotropic", sigma="poisson", tol=1e-4, max_outer=50,
                 random_state=0, progress=None):
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
        track_colors : array_like, shape (n_tracks, n_angles, 2)
            Colours (W1-W2, W2-W3) of each model track at each viewing angle.
        observed_colors : array_like, shape (n_objects, 2)
            Observed (W1-W2, W2-W3); non-finite rows are dropped and counted in ``dropped_``.
        angles_deg : array_like, shape (n_angles,), optional
            Viewing angles of the track points (for isotropic weighting); default:
            equally likely points.

        Returns
        -------
        self
        """
        from .._progress import progress as _bar

        t0 = time.perf_counter()
        l1s, rel = self._check_params()
        obs = check_array(observed_colors, name="observed_colors", ndim=2, finite=False)
        if obs.shape[1] != 2:
            raise ValueError(f"observed_colors: expected shape (n_objects, 2), got {obs.shape}")
        tc = np.asarray(track_colors)
        if tc.ndim != 3 or tc.shape[2] != 2:
            raise ValueError(f"track_colors: expected shape (n_tracks, n_angles, 2), got {tc.shape}")
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
        dropped.update(empty_tracks=int(dm.empty_tracks.size), nonfinite_track_points=dm.n_nonfinite_points)
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

        rng = check_random_state(self.random_state)
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
        info = {k: v for k, v in info.items() if k != "corr"}
        weights = np.zeros(tc.shape[0])
        weights[keep] = w
        self.weights_ = weights
        self.alpha_ = float(alpha)
        self.solver_info_ = info
        self.cv_deviance_ = mean_dev
        self.cv_l1_ratios_ = l1s
        self.cv_alpha_ratios_ = rel
        self.edges_ = edges
        self.design_ = dm
        self.observed_hist_ = h2
        mu = (A @ w).reshape(h2.shape)
        self.model_hist_ = mu
        self.residuals_ = (h2 - mu) / np.sqrt(np.maximum(mu, 1.0))
        self.n_nonzero_ = int(np.count_nonzero(weights))
        self.reduced_chi2_, self.chi2_, self.dof_ = reduced_chi2(h2, mu, n_params=self.n_nonzero_)
        self.dropped_ = dropped
        self.n_tracks_ = int(tc.shape[0])
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def model_histogram(self):
        """Model counts per bin, shape (bx, by)."""
        check_is_fitted(self, ["weights_"])
        return self.model_hist_

    def weight_fractions(self):
        """Weights normalised to sum 1 (the mixing fractions of tracks)."""
        check_is_fitted(self, ["weights_"])
        s = self.weights_.sum()
        return self.weights_ / s if s > 0 else self.weights_

    def parameter_distributions(self, params, *, param_names=None, bins=12):
        """Weighted vs uniform distributions of track parameters; see :func:`parameter_distributions`."""
        check_is_fitted(self, ["weights_"])
        P = check_array(params, name="params", ndim=2)
        if P.shape[0] != self.weights_.size:
            raise ValueError(f"params: {P.shape[0]} rows but the fit has {self.weights_.size} tracks")
        return parameter_distributions(P, self.weights_, param_names=param_names, bins=bins)

    def save(self, path):
        """Save weights, histograms and settings as an agnlab artifact (npz + JSON)."""
        from ..io import save_artifact

        check_is_fitted(self, ["weights_"])
        arrays = {"weights": self.weights_, "edges_x": self.edges_[0], "edges_y": self.edges_[1],
                  "observed_hist": self.observed_hist_, "model_hist": self.model_hist_,
                  "cv_deviance": self.cv_deviance_, "cv_l1_ratios": self.cv_l1_ratios_,
                  "cv_alpha_ratios": self.cv_alpha_ratios_}
        meta = {"alpha": self.alpha_, "l1_ratio": self.l1_ratio_, "alpha_ratio": self.alpha_ratio_,
                "reduced_chi2": self.reduced_chi2_, "chi2": self.chi2_, "dof": self.dof_,
                "n_nonzero": self.n_nonzero_, "dropped": self.dropped_,
                "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()
                           if k != "progress"}}
        return save_artifact(path, kind="population_fit", arrays=arrays, metadata=meta)

    @classmethod
    def load_result(cls, path):
        """Load what :meth:`save` wrote: returns (arrays, metadata)."""
        from ..io import load_artifact

        return load_artifact(path, kind="population_fit")
