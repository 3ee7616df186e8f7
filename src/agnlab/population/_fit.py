"""PopulationFit: non-negative weights over model colour tracks that reproduce an observed histogram (maximum-entropy
or ElasticNet regularisation)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.sparse as sp

from .._estimator import AgnlabEstimator, resolve_n_jobs
from ..parallel import chunked_map
from ..validation import check_array
from ._angles import ANGLE_SUBSTEPS, interpolate_points, subdivide_angles
from ._fit_inputs import _color_errors, _observed_array, _observed_w2, _track_array
from ._histogram import (
    angle_weights,
    color_histogram,
    design_matrix,
    error_classes,
    histogram_edges,
    magnitude_error_model,
)
from ._maxent import lam_band, maxent_poisson, maxent_select, prior_counts
from ._selection import resolve_selection, selection_threshold
from ._solver import alpha_max, nonneg_enet, support_product
from ._statistics import (
    _gof_summary,
    _thin,
    cash_expectation,
    parameter_distributions,
    poisson_deviance,
    reduced_chi2,
)

__all__ = ["PopulationFit"]


_LEGACY_KIND = "population_fit"   # files written before the shared estimator contract


class PopulationFit(AgnlabEstimator):
    """Non-negative mix of model colour tracks matching an observed colour-colour histogram.

    The observed colours are binned into a 2-D histogram ``h``; each track (a model
    seen over a set of viewing angles) is binned into the same grid, blurred by the
    sources' measurement errors (a column of the sparse design matrix ``A``, summing to
    the track's fraction inside the range). Weights ``w >= 0`` (expected numbers of sources per track).

    ``regularization="maxent"`` (an option): ``w`` minimises ``Cash(A w; h)/2 + lam * KL(w || m)``, the Poisson
    deviance plus the (generalised) Kullback-Leibler divergence from the prior ``m`` (``fit(..., track_prior=...)``,
    default uniform over the tracks, scaled to the number of sources): tracks the colours cannot tell apart keep
    the prior's proportions, the data decide the rest. ``lam`` is the largest one whose Cash statistic exceeds the
    best fit's (smallest ``lam``) by at most ``maxent_tolerance`` standard deviations of the statistic, scaled by
    the best fit's misfit ``max(1, Cash_min / E[Cash])`` (a discrepancy principle; see
    :func:`agnlab.population._maxent.maxent_select`). No weight is exactly zero. Not the default: on the off-grid
    benchmark (``benchmarks/results/population_maxent.md``) it lowered the worst parameter's JS divergence on two
    of three seeds but not the median for z, and it costs 4-5x the CPU of the ElasticNet path (10^6 tracks would
    exceed the 10-minute budget).

    ``regularization="elasticnet"`` (default): with ``w = N v`` (``N`` sources in the histogram, ``v`` the mixing
    fractions), ``v`` minimises

        1/(2 n_bins) ||(h - N A v) / sigma||^2 + alpha * l1_ratio * sum(v) + alpha (1 - l1_ratio)/2 ||v||^2

    with Poisson errors ``sigma``. ``alpha`` (relative to the smallest alpha giving
    w = 0) and ``l1_ratio`` are chosen by K-fold cross-validation: the observed
    histogram is split into K independent Poisson histograms (binomial thinning,
    equivalent to splitting the sources), fitted on K-1 and scored by the Poisson
    deviance on the held-out one. When the best value lies at an edge of the grid, the
    grid is widened (smaller alphas, smaller l1_ratios) up to ``widen`` times and the
    widening is reported. The solver works on the (n_bins x n_tracks) sparse matrix with
    a working set (never the n_tracks^2 Gram matrix).

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
        A constant Gaussian error (mag) of the two observed colours, for data without per-source
        errors; ``0`` declares noise-free colours (no blurring). Default ``None``: the errors come
        from ``fit(..., observed_errors=...)`` or from the table's ``w1sigmpro, w2sigmpro,
        w3sigmpro`` columns, and ``fit`` refuses data without errors (it never assumes zero).
    error_model : {"auto", "magnitudes", "classes"}
        How the sources' errors blur the tracks. ``"magnitudes"``: a magnitude-dependent error model
        measured from the catalogue (:func:`magnitude_error_model`: each band's error vs its magnitude,
        and the W2 distribution); each track point is blurred with the errors it would have at each
        W2 (its own W2 when ``track_w2`` is given), the W2 error shared by both colours. Needs magnitude
        errors (``*sigmpro`` or ``observed_errors`` of shape (n, 3)) and W2 (``w2mpro`` or
        ``observed_w2``). ``"classes"``: error classes (below), from colour errors alone. ``"auto"``
        (default): ``"magnitudes"`` when its inputs are there, else ``"classes"``.
    n_error_classes : int
        Per-source errors are grouped into up to ``n_error_classes`` quantile classes per colour
        (see :func:`error_classes`); the model histogram mixes the tracks blurred with each class.
    error_cells : int
        The shares of the error classes are measured in ``error_cells`` x ``error_cells`` colour cells
        over the histogram range (shrunk towards the global shares where a cell holds few sources), and
        each track point is blurred with the error mix of its cell: errors depend on magnitudes and
        hence on colour. ``1``: one global error mix.
    angle_weighting : {"isotropic", "uniform"}
        Probability of each viewing angle within a track (isotropic: solid angle).
    angle_substeps : int
        A track is a curve over the viewing angle, not a set of points: with ``angles_deg`` (given, or those of a
        :class:`ColorTracks`), every interval between sampled angles is split into ``angle_substeps`` equal parts,
        colours (and ``track_w2``) interpolated linearly, points weighted by ``angle_weighting`` on the fine grid
        (default 3, ``ANGLE_SUBSTEPS``; 1: the sampled points only). Without angles nothing is subdivided. Sources
        have continuous inclinations; between two samples a track can move far more than the photometric blur, and
        the sampled points alone are clumps that a fit to 10^5 sources fills with other tracks (see
        ``agnlab.population._angles``). The design matrix costs ~``angle_substeps`` times as much to build.
    sigma : {"poisson", "none"}
        ``"poisson"``: sigma^2 = max(h, 1) first, then one re-weighted pass with
        sigma^2 = max(model, 1) (less biased at low counts); ``"none"``: unweighted.
    selection : str or dict, optional
        The selection of the observed sample, forward-modelled: a preset name of
        :data:`agnlab.catalog.ASSEF_PRESETS` (e.g. ``"default"``, ``"assef18_r90"``) or a mapping
        ``{"alpha", "beta", "gamma"[, "bright_flat"]}`` of the cut W1-W2 > alpha exp(beta (W2 - gamma)^2).
        The same cut is applied to the observations (sources failing it are dropped and counted as
        ``deselected``) and to the model: each track point keeps only the part of its error-blurred
        W1-W2 distribution above the threshold at its W2 magnitude (``track_w2``), so the fitted
        weights are numbers of sources *before* the cut. Pass the parent sample (the cut is then applied
        here) rather than a pre-cut one when you have it: the magnitude error model is fitted on all
        sources, and a cut, which selects on the noise too, biases it. Default: no selection.
    widen : int
        How many times the cross-validation grid may be widened when its optimum lies at an
        edge (0: never; the edge is still reported in ``training_record_["cv"]``).
    n_gof_boot : int
        Replicates of the parametric bootstrap behind ``goodness_of_fit_["p_value"]`` (0: skip;
        the p-value is then NaN).
    tol : float
        Relative KKT tolerance of the solver.
    max_outer : int
        Outer (working-set) iterations of the solver per alpha.
    max_inner_iter : int
        Coordinate-descent sweeps per working-set solve. The outer loop's KKT check over all tracks (``tol``)
        decides convergence whatever this is; fewer sweeps stop early working sets sooner. Measured on the
        scale set-up of ``benchmarks/population.py`` (``population_scale_inner.md``, 2 threads): 300 sweeps took
        0.79x the wall time of 2,000 at 10^5 tracks but 1.17x at 10^6 (838 s against 713 s), because the
        cross-validated deviance is flat near its optimum and another solver path picked other alphas (at 10^6 the
        grid was widened twice: 180 fits against 144). Hence the default of 2,000.
    refine : int
        Rounds of continuous refinement of the tracks (0: off). Needs the forward model of the tracks
        (``fit(..., track_model=...)``, or a :class:`ColorTracks` made by :func:`color_tracks`, which carries it)
        and their parameters. After the fit at the cross-validated penalty, every active track (largest
        weights first, at most ``refine_max_active``) is moved by +- one step along each parameter, the moved
        tracks are computed by the forward model, blurred like the library and added as new columns, and the
        weights are re-solved; added columns left at zero weight are dropped and the step halves each round
        (first step: half the library's typical spacing; moves stay inside the library's parameter box).
        Refined tracks are appended after the library in ``weights_`` and ``track_params_``; the goodness of fit
        and :meth:`bootstrap` use the extended set (the bootstrap refits the weights of the refined set, it
        does not re-run the refinement). See ``agnlab.population._refine``.
    refine_max_active : int
        At most this many active tracks are moved per refinement round.
    regularization : {"elasticnet", "maxent"}
        ``"elasticnet"`` (default): sparse weights, penalty by cross-validation (``l1_ratios``, ``n_alphas``,
        ``eps``, ``alphas``, ``cv``, ``sigma`` apply to it only; ``refine`` needs it). ``"maxent"``: KL penalty to
        the prior, strength by the discrepancy rule (above); the parameters the colours do not constrain come out
        close to the prior.
    lams : sequence of float, optional
        Path of KL strengths for ``"maxent"`` (default: 13 values, 10^2 to 10^-4, half a decade apart; extended
        downwards, up to ``widen`` times, while the fit still improves at the smallest).
    maxent_tolerance : float
        How far the ``"maxent"`` fit may sit above the best fit, in (misfit-scaled) standard deviations of the Cash
        statistic; larger: closer to the prior.
    color_columns : (str, str)
        Names of the two colour columns when ``observed_colors`` is a table
        (read by name, never by position).
    random_state : int, numpy Generator or None
        Seed of the fold split and of the goodness-of-fit bootstrap.
    n_jobs : int, optional
        Threads for the design matrix (chunks of tracks) and the independent solves: the cross-validation paths
        (one per fold and ``l1_ratio``), the goodness-of-fit refits and the :meth:`bootstrap` refits (default:
        one; -1: every core). Each thread's BLAS runs single-threaded; the result does not depend on ``n_jobs``.
    progress : bool, optional
        Progress bars over the cross-validation paths and the bootstrap refits.

    Attributes
    ----------
    weights_ : ndarray, shape (n_tracks,)
        Non-negative weights (expected sources per track, incl. those outside the histogram).
    alpha_, l1_ratio_ : float
        Selected penalty (absolute alpha) and L1 share; ``alpha_ratio_`` = alpha_ / alpha_max (``"elasticnet"``;
        with ``"maxent"``: ``alpha_ = lam_``, the others NaN).
    lam_ : float
        The KL strength chosen by the discrepancy rule (``"maxent"``).
    edges_ : (ndarray, ndarray)
    observed_hist_, model_hist_, residuals_ : ndarray, shape (bx, by)
        Counts, model counts and Pearson residuals (h - mu) / sqrt(max(mu, 1)).
    goodness_of_fit_ : dict
        ``cash`` (Poisson deviance / Cash statistic over the ``n_bins`` bins with data or model),
        ``expected_cash`` and ``std_cash`` (mean and spread of the statistic over a parametric
        bootstrap of the fitted model: histograms drawn from the model and refitted with the same
        penalty), ``p_value`` (upper tail of the predictive distribution of one more replicate: the
        statistic is a sum over many bins, so near normal, and with its mean and spread estimated
        from ``n_boot`` replicates that predictive is Student t with n_boot - 1 degrees of freedom
        and scale std * sqrt(1 + 1/n_boot); ``p_value_empirical``: the fraction of replicates at least as large, with
        its floor 1/(n_boot + 1)), ``n_boot``, ``expected_cash_poisson`` / ``std_cash_poisson``
        (exact expectation for the fitted model taken as known, :func:`cash_expectation`; it ignores
        the fitted parameters, so it is larger than the bootstrap mean).
    chi2_, reduced_chi2_, dof_ : float, float, int
        Pearson chi^2 (variance max(mu, 1)), kept for comparison; it cannot reject a model at low
        counts -- use ``goodness_of_fit_``.
    n_nonzero_ : int
    n_tracks_ : int
        Tracks the weights refer to: the library plus the tracks added by ``refine``.
    track_params_ : ndarray, shape (n_tracks_, n_params) or None
        Parameters of those tracks (the library's ``params``/``track_params`` followed by the refined tracks');
        None when no parameters were given.
    bootstrap_ : dict
        Result of the last :meth:`bootstrap` (absent before).
    training_record_ : dict
        ``n_objects``, ``n_objects_used``, ``n_tracks``, ``n_bins``, ``dropped`` (observed rows
        dropped: ``non_finite``, ``missing_error`` (finite colours without a finite error, e.g. W3
        upper limits), ``outside_range``; tracks flagged: ``empty_tracks``,
        ``nonfinite_track_points``; with a ``selection``: ``deselected``, sources failing the cut),
        ``angles`` (``n_sampled`` angles per track, ``substeps`` used, ``n_points`` per track after subdivision),
        ``errors`` (``source`` and the error classes used to blur the
        tracks: ``sigmas`` (K, 2), ``fractions``), ``cv`` (``n_folds``, ``l1_ratios``,
        ``alpha_ratios``, ``mean_deviance`` and ``deviance_se``, shape (n_l1_ratios, n_alphas):
        mean held-out Poisson deviance per bin and its standard error over the folds; ``widened``:
        one entry per widening of the grid; ``at_edge``: whether the final optimum is still at an
        edge; ``"maxent"``: only ``method``, ``widened`` and ``at_edge``), ``maxent`` (``"maxent"``: the path ``lams``
        and ``cash``, ``cash_min``, ``expected_cash``, ``std_cash``, ``misfit_scale``, ``delta``, ``lam``,
        ``at_edge``, ``effective_tracks``), ``solver`` (convergence of the final fit), ``design_nnz``,
        ``fit_seconds``.

    Notes
    -----
    **Measurement errors.** Observed colours are the true colours plus noise, so each track
    is blurred with the sources' errors before it is compared with the data. Per-source errors
    (``observed_errors``, or the catalogue's ``*sigmpro`` columns) are grouped into classes
    and the model histogram is the mixture of the tracks blurred with each class, weighted by
    the share of sources in it; this assumes the error distribution does not depend on the
    colours (within the histogram). The covariance between W1-W2 and W2-W3 through the shared
    W2 error is neglected (W2 errors are usually the smallest).

    **Domain.** The fit lives on the colour-colour histogram. Observed rows outside
    the histogram range (``color_range``, or the quantile range of the observed colours)
    or with non-finite colours or errors are not used: they are counted in
    ``training_record_["dropped"]`` (``outside_range``, ``non_finite``, ``missing_error``;
    dropped non-finite rows also give a warning). Tracks with no point inside the range get
    an all-zero column and a weight fixed at 0 (counted as ``empty_tracks``, with a warning);
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
    ``observed_colors`` may be a table: its columns ``color_columns`` (or the WISE
    magnitudes) are read by name; ``track_colors`` may be a :class:`ColorTracks` (its
    ``angles_deg`` are then used unless ``angles_deg`` is given).

    Examples
    --------
    >>> import numpy as np
    >>> from agnlab.population import PopulationFit
    >>> rng = np.random.default_rng(0)
    >>> centers = rng.uniform(0, 3, (50, 2))
    >>> tracks = centers[:, None, :] + np.linspace(0, 0.5, 8)[None, :, None] * np.array([1.0, 0.5])
    >>> obs = tracks[[3, 17]].reshape(-1, 2)[rng.integers(0, 16, 5000)] + rng.normal(0, 0.05, (5000, 2))
    >>> err = np.full_like(obs, 0.05)
    >>> fit = PopulationFit(bins=20, n_alphas=5, cv=2, l1_ratios=(0.9,), n_gof_boot=5).fit(tracks, obs, err)
    >>> bool(fit.weights_[[3, 17]].sum() > 0.5 * fit.weights_.sum())
    True
    """

    _fitted_attributes = ("weights_",)
    _state_version = 2

    def __init__(self, *, bins=40, color_range=None, l1_ratios=(0.2, 0.5, 0.8, 1.0), n_alphas=8, eps=1e-4,
                 alphas=None, cv=3, color_error=None, error_model="auto", n_error_classes=3, error_cells=6,
                 angle_weighting="isotropic", angle_substeps=ANGLE_SUBSTEPS,
                 sigma="poisson", selection=None, widen=3, n_gof_boot=20, tol=1e-4, max_outer=50, max_inner_iter=2000,
                 refine=0, refine_max_active=128, regularization="elasticnet", lams=None, maxent_tolerance=1.0,
                 color_columns=("w1_w2", "w2_w3"), random_state=0, n_jobs=None, progress=None):
        self.bins = bins
        self.color_range = color_range
        self.l1_ratios = l1_ratios
        self.n_alphas = n_alphas
        self.eps = eps
        self.alphas = alphas
        self.cv = cv
        self.color_error = color_error
        self.error_model = error_model
        self.n_error_classes = n_error_classes
        self.error_cells = error_cells
        self.angle_weighting = angle_weighting
        self.angle_substeps = angle_substeps
        self.sigma = sigma
        self.selection = selection
        self.widen = widen
        self.n_gof_boot = n_gof_boot
        self.tol = tol
        self.max_outer = max_outer
        self.max_inner_iter = max_inner_iter
        self.refine = refine
        self.refine_max_active = refine_max_active
        self.regularization = regularization
        self.lams = lams
        self.maxent_tolerance = maxent_tolerance
        self.color_columns = color_columns
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # ------------------------------------------------------------------ helpers
    def _check_params(self):
        resolve_n_jobs(self.n_jobs)
        if int(self.max_inner_iter) < 1 or int(self.max_outer) < 1:
            raise ValueError(f"max_inner_iter >= 1 and max_outer >= 1 required, got {self.max_inner_iter}, "
                             f"{self.max_outer}")
        l1 = np.atleast_1d(np.asarray(self.l1_ratios, float))
        if l1.size == 0 or np.any((l1 <= 0) | (l1 > 1)):
            raise ValueError(f"l1_ratios: each must be in (0, 1], got {self.l1_ratios}")
        if int(self.cv) < 2:
            raise ValueError(f"cv: need at least 2 folds, got {self.cv}")
        if self.error_model not in ("auto", "magnitudes", "classes"):
            raise ValueError(f"error_model: 'auto', 'magnitudes' or 'classes', got {self.error_model!r}")
        if self.sigma not in ("poisson", "none"):
            raise ValueError(f"sigma: 'poisson' or 'none', got {self.sigma!r}")
        if len(tuple(self.color_columns)) != 2:
            raise ValueError(f"color_columns: need two column names, got {self.color_columns!r}")
        if int(self.widen) < 0 or int(self.n_gof_boot) < 0 or int(self.n_error_classes) < 1 or \
                int(self.error_cells) < 1:
            raise ValueError(f"widen >= 0, n_gof_boot >= 0, n_error_classes >= 1 and error_cells >= 1 required, got "
                             f"{self.widen}, {self.n_gof_boot}, {self.n_error_classes}, {self.error_cells}")
        if isinstance(self.angle_substeps, bool) or not isinstance(self.angle_substeps, (int, np.integer)) or \
                self.angle_substeps < 1:
            raise ValueError(f"angle_substeps: need an integer >= 1, got {self.angle_substeps!r}")
        if int(self.refine) < 0 or int(self.refine_max_active) < 1:
            raise ValueError(f"refine >= 0 and refine_max_active >= 1 required, got {self.refine}, "
                             f"{self.refine_max_active}")
        if self.regularization not in ("maxent", "elasticnet"):
            raise ValueError(f"regularization: 'maxent' or 'elasticnet', got {self.regularization!r}")
        if self.regularization == "maxent":
            if int(self.refine) > 0:
                raise ValueError("refine: needs regularization='elasticnet' (refined tracks have no prior share)")
            if not (np.isfinite(self.maxent_tolerance) and self.maxent_tolerance > 0):
                raise ValueError(f"maxent_tolerance: must be > 0, got {self.maxent_tolerance}")
            if self.lams is not None:
                lm = np.atleast_1d(np.asarray(self.lams, float))
                if lm.size < 2 or np.any(~np.isfinite(lm) | (lm <= 0)):
                    raise ValueError(f"lams: need at least two positive values, got {self.lams}")
        if self.alphas is not None:
            rel = np.sort(np.atleast_1d(np.asarray(self.alphas, float)))[::-1]
            if rel.size == 0 or np.any(rel <= 0):
                raise ValueError("alphas: need positive relative alphas")
        else:
            if int(self.n_alphas) < 1 or not 0 < self.eps < 1:
                raise ValueError(f"n_alphas >= 1 and 0 < eps < 1 required, got {self.n_alphas}, {self.eps}")
            rel = np.logspace(0, np.log10(self.eps), int(self.n_alphas))
        return np.unique(l1), rel

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
                              max_outer=self.max_outer, max_inner_iter=int(self.max_inner_iter),
                              row_scale=prob["rs"], xty=prob["xty"], corr0=corr0, alpha_prev=alpha_prev)
        info.update(alpha=rel_alpha * amax, l1_ratio=l1_ratio)
        return v * prob["n_src"], info, rel_alpha * amax

    def _lam_grid(self):
        return np.logspace(2, -4, 13) if self.lams is None else np.sort(np.asarray(self.lams, float))[::-1]

    def _reg_args(self):
        """The fitted regularisation as (rel_alpha, l1_ratio) for :meth:`_refit` (maxent: (lam, None))."""
        if self.regularization == "maxent":
            return self.lam_, None
        return self.alpha_ratio_, self.l1_ratio_

    def _refit(self, A, h, rel_alpha, l1_ratio, w0):
        """The final fit at one (alpha, l1_ratio): data variances, then one pass with model variances.

        With ``regularization="maxent"``: the KL-regularised Poisson fit at lam = ``rel_alpha`` (no ``l1_ratio``)."""
        if self.regularization == "maxent":
            w, info = maxent_poisson(A, h, prior_counts(A, h, self._prior_shares), float(rel_alpha))
            info.pop("s", None)
            return w, info, float(rel_alpha)
        w, info, alpha = self._solve(A, self._problem(A, h), rel_alpha, l1_ratio, w0=w0)
        if self.sigma == "poisson":
            prob = self._problem(A, h, var=np.maximum(support_product(A, w), 1.0))
            w, info, alpha = self._solve(A, prob, rel_alpha, l1_ratio, w0=w)
        return w, info, alpha

    def _errors(self, obs, err, err_source, observed_errors):
        """Per-source colour errors (n, 2) or a constant, and where they came from; refuses none."""
        if observed_errors is not None:
            if self.color_error is not None:
                raise ValueError("give either observed_errors (per source) or color_error (constant), not both")
            e = check_array(observed_errors, name="observed_errors", ndim=(1, 2), finite=False)
            if e.ndim == 1 or e.shape[0] != obs.shape[0] or e.shape[1] not in (2, 3):
                raise ValueError(f"observed_errors: expected the shape of observed_colors {obs.shape} (colour errors) "
                                 f"or ({obs.shape[0]}, 3) (W1, W2, W3 magnitude errors), got {e.shape}")
            if np.any(e[np.isfinite(e)] < 0):
                raise ValueError("observed_errors: must be >= 0")
            if e.shape[1] == 3:
                return _color_errors(e), "observed_errors (W1, W2, W3 magnitude errors; W2 shared)"
            return e, "observed_errors"
        if self.color_error is not None:
            se = np.broadcast_to(np.asarray(self.color_error, float), (2,))
            if not np.all(np.isfinite(se)) or np.any(se < 0):
                raise ValueError(f"color_error: need one or two finite values >= 0, got {self.color_error!r}")
            return np.broadcast_to(se, obs.shape), "color_error"
        if err is not None:
            return err, err_source
        raise ValueError("no measurement errors: pass observed_errors (per-source colour errors, the shape of "
                         "observed_colors), a table with w1sigmpro, w2sigmpro, w3sigmpro, or a constant "
                         "color_error=<mag> (color_error=0 declares noise-free colours); the fit never assumes "
                         "zero errors silently")

    # ------------------------------------------------------------------ cross-validation
    def _map(self, func, items, desc):
        """``[func(i) for i in items]`` on ``n_jobs`` threads (BLAS single-threaded inside each)."""
        return chunked_map(func, items, n_jobs=self.n_jobs, progress=self.progress, desc=desc, unit="fit",
                           blas_threads=1)

    def _cv(self, A, h, folds, l1s, rel, dev, paths):
        """Fill ``dev[l1]`` (n_alphas, n_folds) for every l1 in ``l1s`` and alpha in ``rel`` (paths continued)."""
        n_folds = len(folds)
        tasks = []
        for k in range(n_folds):
            for l1 in l1s:
                d = dev.setdefault(l1, np.full((rel.size, n_folds), np.nan))
                if d.shape[0] < rel.size:
                    d = dev[l1] = np.vstack([d, np.full((rel.size - d.shape[0], n_folds), np.nan)])
                if np.isnan(d[:, k]).any():
                    tasks.append((k, l1))
        probs = {k: self._problem(A, h - folds[k]) for k in sorted({k for k, _ in tasks})}

        def path(task):   # one (fold, l1_ratio) path, continued from where the last round stopped
            k, l1 = task
            h_val = folds[k]
            scale = h_val.sum() / max(h.sum() - h_val.sum(), 1.0)
            j0, w, prev = paths.get((l1, k), (-1, None, None))
            out = []
            for j in range(j0 + 1, rel.size):
                w, prev, _ = self._solve(A, probs[k], rel[j], l1, w0=w, prev=prev)
                out.append(poisson_deviance(h_val, scale * support_product(A, w)) / h.size)
            return j0, out, (rel.size - 1, w, prev)

        for (k, l1), (j0, out, state) in zip(tasks, self._map(path, tasks, "PopulationFit CV")):
            dev[l1][j0 + 1:, k] = out
            paths[(l1, k)] = state

    def _fit_elasticnet(self, A, h, rng, l1s, rel):
        """ElasticNet weights: K-fold CV over (alpha, l1_ratio) with grid widening, refit, re-weighted pass."""
        folds = _thin(h, int(self.cv), rng)
        dev, paths, widened = {}, {}, []
        l1_grid = list(l1s)
        for round_ in range(int(self.widen) + 1):
            self._cv(A, h, folds, l1_grid, rel, dev, paths)
            order = sorted(dev)
            mean_dev = np.array([dev[k].mean(axis=1) for k in order])
            bi, bj = np.unravel_index(np.argmin(mean_dev), mean_dev.shape)
            edge_alpha = bool(bj == rel.size - 1)
            edge_l1 = bool(bi == 0 and order[0] > 0.01 and len(order) > 1)
            if round_ == int(self.widen) or not (edge_alpha or edge_l1):
                break
            entry = {"round": round_ + 1}
            if edge_alpha:
                step = rel[-1] / rel[-2] if rel.size > 1 else 0.1
                n_new = max(2, rel.size // 2)
                rel = np.concatenate([rel, rel[-1] * step ** np.arange(1, n_new + 1)])
                entry["alpha_ratios_added"] = rel[-n_new:].tolist()
            if edge_l1:
                new = float(order[0]) / 2.5
                l1_grid.append(new)
                entry["l1_ratio_added"] = new
            widened.append(entry)
        paths.clear()
        folds_dev = np.array([dev[k] for k in order])                        # (n_l1, n_alphas, n_folds)
        dev_se = folds_dev.std(axis=2, ddof=1) / np.sqrt(folds_dev.shape[2])
        at_edge = {"alpha": bool(bj == rel.size - 1), "alpha_max": bool(bj == 0),
                   "l1_ratio": bool(bi == 0 and order[0] < 1.0 and len(order) > 1),
                   "l1_ratio_is_lasso": bool(order[bi] == 1.0)}
        if at_edge["alpha"] or at_edge["l1_ratio"]:
            warnings.warn(f"cross-validation: the optimum is still at an edge of the grid after {len(widened)} "
                          f"widening(s) (alpha/alpha_max {rel[bj]:.3g}, l1_ratio {order[bi]:.3g}): "
                          "regularisation is barely constrained by the data", stacklevel=2)
        self.l1_ratio_ = float(order[bi])
        self.alpha_ratio_ = float(rel[bj])
        # refit on all data along the path down to the chosen alpha (warm starts)
        w, info = None, None
        prob = self._problem(A, h)
        for r in rel[:bj + 1]:
            w, info, alpha = self._solve(A, prob, r, self.l1_ratio_, w0=w, prev=info)
        if self.sigma == "poisson":  # one re-weighted pass with model variances
            prob = self._problem(A, h, var=np.maximum(support_product(A, w), 1.0))
            w, info, alpha = self._solve(A, prob, self.alpha_ratio_, self.l1_ratio_, w0=w)
        cv_record = {"n_folds": int(self.cv), "l1_ratios": [float(v) for v in order], "alpha_ratios": rel.tolist(),
                     "mean_deviance": mean_dev.tolist(), "deviance_se": dev_se.tolist(), "widened": widened,
                     "at_edge": at_edge}
        return w, info, alpha, cv_record

    @staticmethod
    def _selection_inputs(sel, tc, obs, table, track_w2, observed_w2):
        """Per-point W1-W2 thresholds of the tracks and the observed sources passing the cut."""
        if sel["beta"] == 0:       # a pure colour cut: no magnitudes needed
            thr = selection_threshold(sel)
            return np.full(tc.shape[:2], thr), obs[:, 0] > thr
        if track_w2 is None:
            raise ValueError("selection: the cut depends on W2; give the W2 magnitude of every track point "
                             "(track_w2=..., shape (n_tracks, n_angles), or a ColorTracks with w2_mag)")
        tw2 = check_array(track_w2, name="track_w2", ndim=(1, 2), finite=False)
        if tw2.ndim == 1:
            tw2 = tw2[:, None]
        if tw2.shape[0] != tc.shape[0] or tw2.shape[1] not in (1, tc.shape[1]):
            raise ValueError(f"track_w2: expected shape ({tc.shape[0]}, {tc.shape[1]}) or ({tc.shape[0]},), "
                             f"got {np.shape(track_w2)}")
        ow2 = _observed_w2(table, observed_w2, obs.shape[0])
        if ow2 is None:
            raise ValueError("selection: the cut depends on W2; give observed_w2=... or a table with w2mpro")
        x_min = np.broadcast_to(selection_threshold(sel, tw2), tc.shape[:2])
        with np.errstate(invalid="ignore"):
            return x_min, obs[:, 0] > selection_threshold(sel, ow2)

    # ------------------------------------------------------------------ API
    def fit(self, track_colors, observed_colors, observed_errors=None, *, angles_deg=None, track_w2=None,
            observed_w2=None, track_params=None, track_model=None, track_prior=None):
        """Fit weights over tracks.

        Parameters
        ----------
        track_colors : array_like, shape (n_tracks, n_angles, 2), or ColorTracks
            Colours (W1-W2, W2-W3) of each model track at each viewing angle.
        observed_colors : array_like, shape (n_objects, 2), or a table
            Observed (W1-W2, W2-W3); a table (pandas DataFrame, astropy Table, mapping)
            is read by the column names ``color_columns`` (or, without them, the magnitudes
            ``w1mpro, w2mpro, w3mpro``), and its ``w1sigmpro, w2sigmpro, w3sigmpro`` give the errors.
            Non-finite rows are dropped and counted in ``training_record_["dropped"]``.
        observed_errors : array_like, shape of ``observed_colors`` (n_objects, 2), optional
            Gaussian 1-sigma errors (mag) of each source's two colours, taken as independent. Or shape
            (n_objects, 3): the errors of the W1, W2 and W3 magnitudes; the W2 error, shared by both
            colours, then enters with its covariance (-sigma_W2^2), as for tables with ``*sigmpro``.
            Rows with finite colours but a non-finite error (e.g. a W3 upper limit) are dropped and
            counted (``missing_error``).
            Required unless the table carries magnitude errors or ``color_error`` is set.
        angles_deg : array_like, shape (n_angles,), optional
            Viewing angles of the track points (for isotropic weighting); default: those of
            a ``ColorTracks``, else equally likely points.
        track_w2 : array_like, shape (n_tracks, n_angles) or (n_tracks,), optional
            W2 magnitude (Vega) of every track point, for a ``selection`` that depends on W2
            (default: ``ColorTracks.w2_mag``).
        observed_w2 : array_like, shape (n_objects,), optional
            W2 magnitudes of the observed sources for the ``selection`` (default: the table's ``w2mpro``).
        track_params : array_like, shape (n_tracks, n_params), optional
            Parameters of the tracks (default: ``ColorTracks.params``); needed by ``refine``, kept in
            ``track_params_``.
        track_model : callable, optional
            The tracks' forward model ``track_model(params) -> colors`` (m, n_angles, 2) at the tracks' angles
            (default: ``ColorTracks.generator``; see :func:`track_generator`); used only by ``refine``.
        track_prior : array_like, shape (n_tracks,), optional
            Prior share of every track for ``regularization="maxent"`` (non-negative; normalised here). Default:
            uniform over the tracks, i.e. the library samples the prior (a grid or a scattered draw from it).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            No measurement errors, wrong shapes, missing columns, a degenerate observed
            histogram, or every track outside the histogram range.
        TypeError
            Non-numeric track colours.
        """
        t0 = time.perf_counter()
        l1s, rel = self._check_params()
        if hasattr(track_colors, "colors") and hasattr(track_colors, "angles_deg"):   # a ColorTracks
            if angles_deg is None:
                angles_deg = track_colors.angles_deg
            if track_w2 is None:
                track_w2 = getattr(track_colors, "w2_mag", None)
            if track_params is None:
                track_params = getattr(track_colors, "params", None)
            if track_model is None:
                track_model = getattr(track_colors, "generator", None)
            track_colors = track_colors.colors
        sel = resolve_selection(self.selection)
        obs, tab_err, tab_src = _observed_array(observed_colors, self.color_columns)
        if obs.shape[1] != 2:
            raise ValueError(f"observed_colors: expected shape (n_objects, 2), got {obs.shape}")
        tc = _track_array(track_colors)
        n_lib_angles, substeps = tc.shape[1], None
        if angles_deg is not None:   # tracks are curves over the viewing angle: subdivide the sampled angles
            ang = check_array(angles_deg, name="angles_deg", ndim=1)
            if ang.size != n_lib_angles:
                raise ValueError(f"angles_deg: {ang.size} angles but track_colors has {n_lib_angles} per track")
            angle_weights(ang, kind=self.angle_weighting)      # validates the angles
            if int(self.angle_substeps) > 1 and ang.size > 1:
                angles_deg, *substeps = subdivide_angles(ang, int(self.angle_substeps))
                tc = interpolate_points(tc, *substeps)
                tw2 = None if track_w2 is None else np.asarray(track_w2, float)
                if tw2 is not None and tw2.ndim == 2 and tw2.shape == (tc.shape[0], n_lib_angles):
                    track_w2 = interpolate_points(tw2, *substeps)

        def _sub(colors):   # tracks computed later (refine) at the library's angles, subdivided alike
            return colors if substeps is None else interpolate_points(colors, *substeps)
        tparams = None
        if track_params is not None:
            tparams = check_array(track_params, name="track_params", ndim=2)
            if tparams.shape[0] != tc.shape[0]:
                raise ValueError(f"track_params: {tparams.shape[0]} rows but track_colors has {tc.shape[0]} tracks")
        prior = None
        if track_prior is not None:
            if self.regularization != "maxent":
                raise ValueError("track_prior: only used by regularization='maxent' (the ElasticNet fit has no "
                                 "prior over the tracks)")
            prior = check_array(track_prior, name="track_prior", ndim=1)
            if prior.size != tc.shape[0] or np.any(prior < 0) or prior.sum() <= 0:
                raise ValueError(f"track_prior: need {tc.shape[0]} non-negative shares with a positive sum, got "
                                 f"shape {prior.shape}")
        if int(self.refine) > 0 and (tparams is None or not callable(track_model)):
            raise ValueError("refine: needs the tracks' parameters and forward model (a ColorTracks made by "
                             "color_tracks, or fit(..., track_params=..., track_model=...)); set refine=0 otherwise")
        err, err_source = self._errors(obs, tab_err, tab_src, observed_errors)
        finite_obs = np.isfinite(obs).all(axis=1)
        missing_err = finite_obs & ~np.isfinite(err).all(axis=1)
        obs_ok = np.where(missing_err[:, None], np.nan, obs)
        x_min, deselected = None, 0
        if sel is not None:
            x_min, keep_obs = self._selection_inputs(sel, tc, obs, observed_colors, track_w2, observed_w2)
            cut = finite_obs & ~missing_err & ~keep_obs
            deselected = int(cut.sum())
            obs_ok = np.where(cut[:, None], np.nan, obs_ok)
            if deselected == int((finite_obs & ~missing_err).sum()):
                raise ValueError(f"selection {sel}: empty selection, none of the {deselected} observed sources with "
                                 "finite colours passes the cut")
        edges = histogram_edges(obs_ok, bins=self.bins, color_range=self.color_range)
        h2, dropped = color_histogram(obs_ok, edges)
        dropped = {"non_finite": int((~finite_obs).sum()), "missing_error": int(missing_err.sum()),
                   "deselected": deselected, "outside_range": dropped["outside_range"]}
        h = h2.ravel()
        if dropped["non_finite"]:
            warnings.warn(f"observed_colors: dropped {dropped['non_finite']} rows with non-finite colours",
                          stacklevel=2)
        if dropped["missing_error"]:
            warnings.warn(f"observed_errors: dropped {dropped['missing_error']} rows with finite colours but no "
                          "finite error (e.g. upper limits: never used as values)", stacklevel=2)
        if h.sum() < 10 or np.count_nonzero(h) < 3:
            raise ValueError(f"degenerate observed histogram: {int(h.sum())} sources in {np.count_nonzero(h)} "
                             f"non-empty bins of {h.size} (dropped {dropped}); need >= 10 sources in >= 3 bins "
                             "(does the histogram range exclude the sources?)")
        from ._histogram import _bin_index

        inside = _bin_index(obs_ok, edges) >= 0
        aw = None
        if angles_deg is not None:
            aw = angle_weights(angles_deg, kind=self.angle_weighting)
            if aw.size != tc.shape[1]:
                raise ValueError(f"angles_deg: {aw.size} angles but track_colors has {tc.shape[1]} per track")
        ow2 = _observed_w2(observed_colors, observed_w2, obs.shape[0])
        have_mag = err.shape[1] == 3 and bool(np.any(err[:, 2] > 0)) and ow2 is not None
        if self.error_model == "magnitudes" and not have_mag:
            raise ValueError("error_model='magnitudes' needs W1, W2, W3 magnitude errors (a table with *sigmpro or "
                             "observed_errors of shape (n, 3)) and W2 magnitudes (w2mpro or observed_w2)")
        if have_mag and self.error_model in ("auto", "magnitudes"):
            # the noise law from every source with finite values, selected or not (a cut selects on the noise
            # and biases magnitude given error); the W2 nodes from the sources in the histogram
            rows = finite_obs & ~missing_err & np.isfinite(ow2)
            e2 = err[rows, 2]
            w2r = ow2[rows]
            emodel = magnitude_error_model(w2r + obs[rows, 0], w2r, w2r - obs[rows, 1],
                                           np.sqrt(np.maximum(err[rows, 0] ** 2 - e2 ** 2, 0.0)), e2,
                                           np.sqrt(np.maximum(err[rows, 1] ** 2 - e2 ** 2, 0.0)),
                                           w2_sample=ow2[inside & np.isfinite(ow2)])
            w2p = None
            if track_w2 is not None:
                w2p = np.asarray(track_w2, float)
                w2p = np.broadcast_to(w2p[:, None] if w2p.ndim == 1 else w2p, tc.shape[:2])
            x_min_fn = None
            if sel is not None and sel["beta"] != 0:
                def x_min_fn(w2_obs, _sel=sel):
                    return selection_threshold(_sel, w2_obs)
            dm = design_matrix(tc, edges, weights=aw, error_model=emodel, w2_points=w2p,
                               x_min=None if x_min_fn is not None else x_min, x_min_fn=x_min_fn,
                               n_jobs=self.n_jobs, progress=self.progress)

            def build(colors, parents, _w2p=w2p, _fn=x_min_fn, _em=emodel):
                xm = None if (_fn is not None or x_min is None) else x_min[parents]
                return design_matrix(_sub(colors), edges, weights=aw, error_model=_em, x_min=xm, x_min_fn=_fn,
                                     w2_points=None if _w2p is None else _w2p[parents], progress=False).matrix
            err_info = {"source": err_source, "model": "magnitudes", "w2_nodes": emodel["w2_nodes"].tolist(),
                        "grids": {b: [g[0].tolist(), g[1].tolist()] for b, g in zip(("w1", "w2", "w3"),
                                                                                    emodel["grids"])}}
        else:
            sig_k, frac_k, labels = error_classes(err[inside], n_classes=int(self.n_error_classes),
                                                  return_labels=True)
            error_map = None
            if int(self.error_cells) > 1 and frac_k.size > 1:
                nc = int(self.error_cells)
                cex = np.linspace(edges[0][0], edges[0][-1], nc + 1)
                cey = np.linspace(edges[1][0], edges[1][-1], nc + 1)
                pts = obs_ok[inside]
                cx = np.clip(np.searchsorted(cex, pts[:, 0], side="right") - 1, 0, nc - 1)
                cy = np.clip(np.searchsorted(cey, pts[:, 1], side="right") - 1, 0, nc - 1)
                counts = np.zeros((nc, nc, frac_k.size))
                np.add.at(counts, (cx, cy, labels), 1.0)
                # shrink towards the global mix where a cell holds few sources (prior worth 20 sources)
                error_map = (cex, cey, (counts + 20.0 * frac_k) / (counts.sum(axis=2, keepdims=True) + 20.0))
            dm = design_matrix(tc, edges, weights=aw, color_error=sig_k, error_weights=frac_k, error_map=error_map,
                               x_min=x_min, n_jobs=self.n_jobs, progress=self.progress)

            def build(colors, parents, _s=sig_k, _f=frac_k, _m=error_map):
                return design_matrix(_sub(colors), edges, weights=aw, color_error=_s, error_weights=_f, error_map=_m,
                                     x_min=None if x_min is None else x_min[parents], progress=False).matrix
            err_info = {"source": err_source, "model": "classes", "sigmas": sig_k.tolist(),
                        "fractions": frac_k.tolist()}
        dropped.update(empty_tracks=int(dm.empty_tracks.size), nonfinite_track_points=int(dm.n_nonfinite_points))
        if dm.empty_tracks.size == tc.shape[0]:
            raise ValueError("design matrix: every track lies entirely outside the observed colour range "
                             f"{[(e[0], e[-1]) for e in edges]}" + (" or the selection" if sel else "") +
                             " (all-zero columns); check the colours/bands")
        if dm.empty_tracks.size:
            warnings.warn(f"design matrix: {dm.empty_tracks.size} of {tc.shape[0]} tracks have no point inside "
                          "the histogram (all-zero columns); their weights are fixed at 0", stacklevel=2)
        keep = np.flatnonzero(dm.inside_fraction > 0)
        A = dm.matrix if keep.size == dm.matrix.shape[1] else dm.matrix[:, keep]
        A = sp.csc_matrix(A, dtype=np.float64)
        A.sort_indices()
        del dm

        rng = self._rng()
        self._prior_shares = None if prior is None else prior[keep]
        if self.regularization == "maxent":
            lam, w, me_rec = maxent_select(A, h, prior_counts(A, h, self._prior_shares), lams=self._lam_grid(),
                                           tolerance=float(self.maxent_tolerance), widen=int(self.widen))
            w = np.where(w > 1e-12 * w.sum(), w, 0.0)
            self.lam_ = alpha = float(lam)
            self.alpha_ratio_ = self.l1_ratio_ = float("nan")
            info = me_rec.pop("solver")
            cv_record = {"method": "maxent discrepancy", "widened": me_rec["widened"], "at_edge": me_rec["at_edge"]}
            if me_rec["at_edge"]["ml"]:
                warnings.warn(f"maxent: the fit still improved at the smallest lam {me_rec['lams'][-1]:.3g} after "
                              f"{len(me_rec['widened'])} widening(s); give smaller lams", stacklevel=2)
        else:
            w, info, alpha, cv_record = self._fit_elasticnet(A, h, rng, l1s, rel)
            me_rec = None
        n_all, refine_record, new_params = tc.shape[0], None, None
        if int(self.refine) > 0:
            from ._refine import refine_columns

            last = {}

            def solve(A_, w0):
                w_, last["info"], last["alpha"] = self._refit(A_, h, self.alpha_ratio_, self.l1_ratio_, w0)
                return w_

            A, w, new_params, _, refine_record = refine_columns(
                A, w, h, tparams[keep], keep, generator=track_model, build=build, solve=solve,
                rounds=int(self.refine), max_active=int(self.refine_max_active))
            if "info" in last:
                info, alpha = last["info"], last["alpha"]
            keep = np.concatenate([keep, n_all + np.arange(new_params.shape[0])])
            n_all += new_params.shape[0]
        self.track_params_ = None if tparams is None else \
            (tparams if new_params is None else np.vstack([tparams, new_params]))
        weights = np.zeros(n_all)
        weights[keep] = w
        self.weights_ = weights
        self.alpha_ = float(alpha)
        self.edges_ = edges
        self.observed_hist_ = h2
        self.model_hist_ = support_product(A, w).reshape(h2.shape)
        self.n_tracks_ = int(n_all)
        self._design = (A, keep)
        self._set_summaries()
        self.goodness_of_fit_ = self._goodness_of_fit(A, w, rng)
        self.training_record_ = {
            "n_objects": int(obs.shape[0]), "n_objects_used": int(h.sum()), "n_tracks": int(tc.shape[0]),
            "n_tracks_used": int(keep.size), "n_bins": int(h.size), "dropped": dropped,
            "errors": err_info,
            "angles": {"n_sampled": int(n_lib_angles), "substeps": 1 if substeps is None else int(self.angle_substeps),
                       "n_points": int(tc.shape[1])},
            "cv": cv_record,
            "solver": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in info.items() if k != "corr"},
            "design_nnz": int(A.nnz), "fit_seconds": time.perf_counter() - t0,
        }
        if me_rec is not None:
            v = w[w > 0] / w.sum()
            me_rec["effective_tracks"] = float(np.exp(-np.sum(v * np.log(v))))
            self.training_record_["maxent"] = me_rec
        if refine_record is not None:
            self.training_record_["refine"] = {"rounds": refine_record, "n_added": int(n_all - tc.shape[0])}
        return self

    # ------------------------------------------------------------------ goodness of fit
    @staticmethod
    def _cash(h, mu):
        used = (h > 0) | (mu > 0)
        return poisson_deviance(h[used], mu[used]), int(used.sum())

    def _goodness_of_fit(self, A, w, rng):
        """Cash statistic of the fit and its parametric-bootstrap reference distribution."""
        h = self.observed_hist_.ravel()
        mu = support_product(A, w)
        cash, n_bins = self._cash(h, mu)
        e_pois, v_pois = cash_expectation(np.where(mu > 1e-9, mu, 0.0))   # (maxent: no weight is exactly 0)
        draws = [rng.poisson(mu).astype(float) for _ in range(int(self.n_gof_boot))]

        def replicate(h_b):
            w_b, _, _ = self._refit(A, h_b, *self._reg_args(), w)
            return self._cash(h_b, support_product(A, w_b))[0]

        reps = self._map(replicate, [h_b for h_b in draws if h_b.sum() >= 1], "PopulationFit goodness of fit")
        return _gof_summary(cash, n_bins, np.asarray(reps), e_pois, v_pois)

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

    def _params_for_weights(self, params):
        """Track parameters matching ``weights_``: ``track_params_`` by default; the library's own parameters are
        extended by the refined tracks' (``refine``)."""
        tp = getattr(self, "track_params_", None)
        if params is None:
            if tp is None:
                raise ValueError("params: the fit has no track parameters (give params=..., or fit a ColorTracks "
                                 "or track_params=...)")
            return tp
        P = check_array(params, name="params", ndim=2)
        if tp is not None and P.shape[0] < self.weights_.size and P.shape[1] == tp.shape[1] and \
                P.shape[0] == getattr(self, "training_record_", {}).get("n_tracks", -1):
            P = np.vstack([P, tp[P.shape[0]:]])     # the library + the tracks added by refine
        if P.shape[0] != self.weights_.size:
            raise ValueError(f"params: {P.shape[0]} rows but the fit has {self.weights_.size} tracks")
        return P

    def parameter_distributions(self, params=None, *, param_names=None, bins=12):
        """Weighted vs uniform distributions of track parameters; see :func:`parameter_distributions`.

        ``params`` defaults to ``track_params_`` (the library's and the refined tracks' parameters); the
        library's parameters alone are extended by the refined tracks'."""
        self._check_fitted()
        P = self._params_for_weights(params)
        return parameter_distributions(P, self.weights_, param_names=param_names, bins=bins)

    # ------------------------------------------------------------------ uncertainties
    def bootstrap(self, n, *, random_state=None, params=None, param_names=None, bins=12,
                  quantiles=(0.025, 0.16, 0.5, 0.84, 0.975)):
        """Bands on the weights and the weighted parameter distributions: a bootstrap over sources and
        over the regularisation choice.

        Each replicate resamples the sources with replacement (a multinomial draw of the observed
        histogram), draws (alpha, l1_ratio) at random among the grid points whose cross-validated
        deviance is within one standard error of the best (the choices the data cannot tell
        apart), and refits with those; with ``regularization="maxent"``, lam log-uniformly between the strengths a
        tolerance of 0.5x and 2x ``maxent_tolerance`` would pick (``lam_band``). Needs the design matrix of a fit
        made in this session (not kept in saved files).

        Parameters
        ----------
        n : int
            Replicates (>= 2).
        random_state : int, Generator or None
            Seed of the resampling (default: a generator derived from the estimator's ``random_state``).
        params : array_like, shape (n_tracks, n_params), optional
            Track parameters: gives bands on the weighted marginal distributions.
        param_names : sequence of str, optional
        bins : int
            Bins of continuous parameters (see :func:`parameter_distributions`).
        quantiles : sequence of float
            Quantiles of the bands (default: 95 % and 68 % intervals and the median).

        Returns
        -------
        dict
            ``n``, ``quantiles``, ``weight_fractions`` (n_quantiles, n_tracks): quantiles of each
            track's mixing fraction; ``replicates``: sparse (n, n_tracks) mixing fractions of every
            replicate; ``alpha_ratios``, ``l1_ratios`` (n,): the regularisation of each replicate (maxent: the lams,
            and NaN);
            ``distributions`` (with ``params``): name -> ``centers``, ``edges``, ``uniform``,
            ``weighted`` (the fit) and ``bands`` (n_quantiles, n_levels). Also stored as ``bootstrap_``.
        """
        from ..validation import check_random_state

        self._check_fitted()
        if getattr(self, "_design", None) is None:
            raise ValueError("bootstrap needs the design matrix of a fit made in this session (it is not saved); "
                             "call fit(...) first")
        if int(n) < 2:
            raise ValueError(f"n: need at least 2 replicates, got {n}")
        q = check_array(quantiles, name="quantiles", ndim=1)
        if np.any((q < 0) | (q > 1)):
            raise ValueError("quantiles: each must be in [0, 1]")
        P = None if params is None else self._params_for_weights(params)
        rng = check_random_state(random_state) if random_state is not None else \
            np.random.default_rng(self._rng().integers(2**63))
        A, keep = self._design
        maxent = self.regularization == "maxent"
        if maxent:   # lams a tolerance of 0.5-2x the chosen one would pick, log-uniformly
            lam_lo, lam_hi = lam_band(self.training_record_["maxent"])
        else:
            cvr = self.training_record_["cv"]
            mean_dev = np.asarray(cvr["mean_deviance"], float)
            se = np.asarray(cvr.get("deviance_se", np.zeros_like(mean_dev)), float)
            bi, bj = np.unravel_index(np.argmin(mean_dev), mean_dev.shape)
            ok_i, ok_j = np.nonzero(mean_dev <= mean_dev[bi, bj] + np.nan_to_num(se[bi, bj]))
            l1_grid = np.asarray(cvr["l1_ratios"], float)
            rel_grid = np.asarray(cvr["alpha_ratios"], float)
        h = self.observed_hist_.ravel()
        n_src = int(h.sum())
        w_fit = self.weights_[keep]
        rows, cols, vals = [], [], []
        alphas, l1r = np.empty(int(n)), np.empty(int(n))
        draws = []
        for b in range(int(n)):   # every random draw first (in order), then the refits (on n_jobs threads)
            draws.append(rng.multinomial(n_src, h / n_src).astype(float))
            if maxent:
                l1r[b], alphas[b] = np.nan, float(np.exp(rng.uniform(np.log(lam_lo), np.log(lam_hi))))
            else:
                pick = rng.integers(ok_i.size)
                l1r[b], alphas[b] = l1_grid[ok_i[pick]], rel_grid[ok_j[pick]]
        fits = self._map(lambda b: self._refit(A, draws[b], alphas[b], l1r[b], w_fit)[0], range(int(n)),
                         "PopulationFit bootstrap")
        for b, w_b in enumerate(fits):
            nz = np.flatnonzero(w_b)
            rows.append(np.full(nz.size, b))
            cols.append(keep[nz])
            vals.append(w_b[nz] / max(w_b.sum(), 1e-300))
        reps = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(int(n), self.weights_.size))
        wq = np.zeros((q.size, self.weights_.size))
        touched = np.unique(reps.indices)
        if touched.size:
            wq[:, touched] = np.quantile(reps[:, touched].toarray(), q, axis=0)
        out = {"n": int(n), "quantiles": q.tolist(), "weight_fractions": wq, "replicates": reps,
               "alpha_ratios": alphas, "l1_ratios": l1r}
        if P is not None:
            dists = parameter_distributions(P, self.weights_, param_names=param_names, bins=bins)
            for j, (name, d) in enumerate(dists.items()):
                per = np.array([np.histogram(P[:, j], bins=d["edges"], weights=reps[b].toarray().ravel())[0]
                                for b in range(int(n))])
                per = per / np.maximum(per.sum(axis=1, keepdims=True), 1e-300)
                d["bands"] = np.quantile(per, q, axis=0)
            out["distributions"] = dists
        self.bootstrap_ = out
        return out

    # ------------------------------------------------------------------ persistence (agnlab._estimator)
    def _get_state(self):
        arrays = {"weights": self.weights_, "edges_x": self.edges_[0], "edges_y": self.edges_[1],
                  "observed_hist": self.observed_hist_, "model_hist": self.model_hist_}
        if getattr(self, "track_params_", None) is not None:
            arrays["track_params"] = self.track_params_
        gof = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
               for k, v in self.goodness_of_fit_.items()}
        meta = {"alpha": self.alpha_, "l1_ratio": self.l1_ratio_, "alpha_ratio": self.alpha_ratio_,
                "lam": getattr(self, "lam_", None), "goodness_of_fit": gof}
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
        if meta.get("lam") is not None:
            self.lam_ = float(meta["lam"])
        self.n_tracks_ = int(self.weights_.size)
        self.track_params_ = np.asarray(arrays["track_params"], float) if "track_params" in arrays else None
        self._design = None
        self._set_summaries()
        gof = meta.get("goodness_of_fit")
        if gof:
            self.goodness_of_fit_ = {k: (float("nan") if v is None else v) for k, v in dict(gof).items()}
        else:   # files of agnlab 0.1.x: the statistic and its Poisson expectation, no bootstrap p-value
            h, mu = self.observed_hist_.ravel(), self.model_hist_.ravel()
            cash, n_bins = self._cash(h, mu)
            self.goodness_of_fit_ = _gof_summary(cash, n_bins, np.zeros(0), *cash_expectation(mu))

    @classmethod
    def load(cls, path):
        """Load a fit written by :meth:`save` (also reads files of the older ``population_fit`` layout).

        Files of agnlab 0.1.x have no bootstrap p-value: ``goodness_of_fit_["p_value"]`` is NaN there
        (refit to get it); the Cash statistic and its Poisson expectation are recomputed."""
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
