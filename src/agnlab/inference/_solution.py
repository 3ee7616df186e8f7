"""Search for every parameter vector consistent with an observation.

Degeneracies (tau_V against N0 for a clumpy torus, Te against Ne for a pair
of line ratios...) make a single "best model" meaningless; what a user needs
is the *set* of parameter vectors whose chi^2 lies within Delta chi^2 of the
minimum, and, when a posterior is wanted, samples from it.

Methods
-------
``"de"``
    :func:`scipy.optimize.differential_evolution` with ``vectorized=True``
    (the forward model gets the whole population at once). Every evaluated
    vector is archived; the solution set is the archive restricted to
    chi^2 <= chi^2_min + Delta chi^2.
``"emcee"``
    Differential evolution first (shorter), then the affine-invariant
    ensemble sampler of ``emcee`` (``vectorize=True``) started from archive
    points inside the region. Returns posterior samples (flat prior within
    the bounds, Gaussian likelihood) and adds all sampled points to the
    archive.
``"dynesty"``
    Nested sampling with ``dynesty`` (optional dependency; evaluates one
    vector per likelihood call). Returns equally weighted posterior samples
    and the log evidence.
``"pymoo"``
    pymoo's genetic algorithm (optional dependency) with a vectorised
    problem; archive as for ``"de"``.

Out of bounds and out of domain
-------------------------------
Vectors outside ``bounds`` are never passed to the forward model (chi^2 =
+inf; counted in ``n_out_of_bounds``). A forward model that returns NaN or inf
for a vector (e.g. an emulator asked outside its training domain) gets
chi^2 = +inf for it (counted in ``n_invalid``); such vectors are never part of
the solution set.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np
from scipy import stats

from .._progress import progress as _bar
from ..validation import check_array, check_random_state
from ._objective import BudgetExhausted, ChiSquare

__all__ = ["SolutionSet", "solution_set", "delta_chi2_threshold"]

_METHODS = ("de", "emcee", "dynesty", "pymoo")
_UNSET = object()   # marks a deprecated keyword that was not passed


def delta_chi2_threshold(confidence: float, n_params: int) -> float:
    """Delta chi^2 enclosing ``confidence`` for ``n_params`` jointly estimated parameters.

    For Gaussian errors and a locally linear model the joint confidence region
    of k parameters is chi^2 <= chi^2_min + ``chi2.ppf(confidence, k)``
    (e.g. 2.30 for 68.27 % and k = 2; 3.53 for k = 3).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if int(n_params) < 1:
        raise ValueError(f"n_params must be >= 1, got {n_params}")
    return float(stats.chi2.ppf(confidence, int(n_params)))


@dataclasses.dataclass
class SolutionSet:
    """All parameter vectors consistent with the data, plus the best fit.

    Attributes
    ----------
    param_names : list of str
    bounds : ndarray, shape (n_params, 2)
    method : str
    best_theta : ndarray, shape (n_params,)
    best_chi2 : float
    best_offset : float
        Profiled additive offset at the best fit (0 when not profiled).
    delta_chi2 : float
        Threshold above the minimum defining the solution set.
    confidence : float or None
        Joint confidence level the threshold corresponds to.
    solutions : ndarray, shape (m, n_params)
        Every evaluated vector with chi^2 <= best_chi2 + delta_chi2.
    solutions_chi2 : ndarray, shape (m,)
    samples : ndarray, shape (s, n_params) or None
        Posterior samples (sampling methods only).
    samples_log_prob : ndarray, shape (s,) or None
    n_forward_calls : int
        Parameter vectors evaluated by the forward model (all stages).
    n_batches : int
        Calls of the forward model.
    n_out_of_bounds, n_invalid : int
        Vectors refused for being outside the bounds / given non-finite
        predictions by the model.
    runtime_s : float
        Wall-clock time of the whole search.
    n_obs : int
    dof : int
        n_obs - n_params (- 1 when an offset is profiled).
    info : dict
        Method specific diagnostics (DE convergence, acceptance fraction,
        autocorrelation times, log evidence...).
    """

    param_names: list
    bounds: np.ndarray
    method: str
    best_theta: np.ndarray
    best_chi2: float
    best_offset: float
    delta_chi2: float
    confidence: float | None
    solutions: np.ndarray
    solutions_chi2: np.ndarray
    samples: np.ndarray | None
    samples_log_prob: np.ndarray | None
    n_forward_calls: int
    n_batches: int
    n_out_of_bounds: int
    n_invalid: int
    runtime_s: float
    n_obs: int
    dof: int
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def n_solutions(self) -> int:
        return int(self.solutions.shape[0])

    @property
    def chi2_threshold(self) -> float:
        return float(self.best_chi2 + self.delta_chi2)

    @property
    def reduced_chi2(self) -> float:
        return float(self.best_chi2 / self.dof) if self.dof > 0 else float("nan")

    def ranges(self) -> dict:
        """Projection of the solution set on each parameter: name -> (min, max)."""
        return {n: (float(self.solutions[:, i].min()), float(self.solutions[:, i].max()))
                for i, n in enumerate(self.param_names)}

    def credible_intervals(self, level: float = 0.6827):
        """Equal-tailed credible intervals from the posterior samples.

        Falls back to the solution set (an unweighted set, so the interval
        is then only indicative) when no samples exist. Returns a pandas
        DataFrame indexed by parameter with columns best, median, lo, hi.
        """
        from ._plot import credible_intervals

        data = self.samples if self.samples is not None else self.solutions
        table = credible_intervals(data, level=level, param_names=self.param_names)
        table.insert(0, "best", self.best_theta)
        return table

    def summary(self) -> dict:
        """JSON-serialisable digest (for reports and ``metrics.json``)."""
        out = {
            "method": self.method,
            "best": {n: float(v) for n, v in zip(self.param_names, self.best_theta)},
            "best_chi2": float(self.best_chi2),
            "reduced_chi2": self.reduced_chi2,
            "delta_chi2": float(self.delta_chi2),
            "n_solutions": self.n_solutions,
            "ranges": {k: list(v) for k, v in self.ranges().items()},
            "n_forward_calls": int(self.n_forward_calls),
            "n_batches": int(self.n_batches),
            "n_out_of_bounds": int(self.n_out_of_bounds),
            "n_invalid": int(self.n_invalid),
            "runtime_s": float(self.runtime_s),
        }
        if self.samples is not None:
            out["n_samples"] = int(self.samples.shape[0])
        return out

    def to_dataframe(self, which: str = "solutions"):
        """``which="solutions"`` (with chi2 column) or ``"samples"`` as a DataFrame."""
        import pandas as pd

        if which == "solutions":
            df = pd.DataFrame(self.solutions, columns=self.param_names)
            df["chi2"] = self.solutions_chi2
            return df
        if which == "samples":
            if self.samples is None:
                raise ValueError(f"method {self.method!r} produced no posterior samples; "
                                 "use method='emcee' or 'dynesty'")
            df = pd.DataFrame(self.samples, columns=self.param_names)
            df["log_prob"] = self.samples_log_prob
            return df
        raise ValueError(f"which must be 'solutions' or 'samples', got {which!r}")

    def plot_corner(self, *, which: str | None = None, truths=None, levels=(0.6827, 0.9545),
                    bins: int = 40, max_points: int = 20000, fig=None):
        """Corner plot of the samples (default when present) or of the solution set.

        Returns the matplotlib Figure.
        """
        from ._plot import corner_plot

        if which is None:
            which = "samples" if self.samples is not None else "solutions"
        if which == "samples":
            if self.samples is None:
                raise ValueError("no posterior samples; use which='solutions'")
            return corner_plot(self.samples, param_names=self.param_names, truths=truths, levels=levels,
                               bins=bins, ranges=self.bounds, best=self.best_theta, fig=fig)
        if which != "solutions":
            raise ValueError(f"which must be 'samples' or 'solutions', got {which!r}")
        sel = self.solutions
        colour = self.solutions_chi2 - self.best_chi2
        if sel.shape[0] > max_points:
            idx = np.random.default_rng(0).choice(sel.shape[0], max_points, replace=False)
            sel, colour = sel[idx], colour[idx]
        return corner_plot(sel, param_names=self.param_names, truths=truths, levels=None, bins=bins,
                           ranges=self.bounds, best=self.best_theta, scatter_colour=colour, fig=fig)


def _as_bounds(bounds, n_params=None) -> np.ndarray:
    b = check_array(bounds, name="bounds", ndim=2)
    if b.shape[1] != 2:
        raise ValueError(f"bounds: expected shape (n_params, 2) = [[lo, hi], ...], got {b.shape}")
    bad = np.flatnonzero(b[:, 0] >= b[:, 1])
    if bad.size:
        raise ValueError(f"bounds: lower >= upper for parameter index(es) {bad.tolist()}")
    return b


def solution_set(forward, observed, sigma, bounds, *, method: str = "de", param_names=None,
                 confidence: float = 0.6827, delta_chi2: float | None = None, offset=None,
                 random_state=0, popsize: int = 32, maxiter: int = 200, tol: float = 1e-6,
                 polish: bool = True, n_walkers: int | None = None, n_steps: int = 1500,
                 burn: int | None = None, thin: int = 1, de_maxiter: int | None = None,
                 nlive: int = 400, dlogz: float = 0.1, n_fill: int = 0,
                 chunk_size: int = 65536, max_archive: int = 5_000_000, max_calls: int | None = None,
                 max_time: float | None = None, progress: bool | None = None, seed=_UNSET,
                 progress_bar=_UNSET) -> SolutionSet:
    """Find every parameter vector consistent with the data.

    Parameters
    ----------
    forward : callable
        Vectorised forward model: ``theta`` (n, n_params) -> predictions
        (n, n_obs), e.g. ``NeuralEmulator.predict`` or a line-ratio model.
        NaN/inf predictions mark vectors outside the model's domain.
    observed : array_like, shape (n_obs,)
        Observed values (finite).
    sigma : array_like, shape (n_obs,) or scalar
        1-sigma errors (> 0).
    bounds : array_like, shape (n_params, 2)
        Search box; also the support of the flat prior when sampling.
    method : {"de", "emcee", "dynesty", "pymoo"}
        See the module documentation.
    param_names : list of str, optional
    confidence : float
        Joint confidence of the solution set: Delta chi^2 =
        ``chi2.ppf(confidence, n_params)``.
    delta_chi2 : float, optional
        Explicit threshold (overrides ``confidence``).
    offset : {None, "profile"}
        Profile an additive offset common to all observables (the log
        normalisation of an SED fitted in log flux).
    random_state : int, numpy Generator or None
        All randomness (DE, walkers, nested sampling) derives from it.
    popsize, maxiter, tol, polish : DE settings (population = popsize *
        n_params vectors per generation).
    n_walkers, n_steps, burn, thin : emcee settings (defaults: max(32,
        4 n_params) walkers, burn = n_steps // 3).
    de_maxiter : int, optional
        DE generations before sampling (default ``maxiter // 2``).
    nlive, dlogz : dynesty settings.
    n_fill : int
        After the search, draw this many extra vectors uniformly in the
        bounding box of the solutions (widened by 10 %, clipped to the
        bounds) and add those within the threshold: a cheap way to fill the
        region densely with a fast emulator.
    chunk_size : int
        Largest batch handed to ``forward``.
    max_archive : int
        Stop archiving beyond this many points (memory bound).
    max_calls, max_time : int or float, optional
        Limits on the whole search: forward evaluations (parameter vectors)
        and seconds. When one is reached the search stops early and returns
        what it found (``info["stopped"]`` names the limit; a
        ``RuntimeWarning`` says so); samplers keep the samples drawn so far.
    progress : bool, optional
        Force the progress bar on/off (default: on for a terminal).
    seed, progress_bar
        Deprecated spellings of ``random_state`` and ``progress`` (a ``DeprecationWarning``).

    Returns
    -------
    SolutionSet

    Examples
    --------
    >>> import numpy as np
    >>> from agnlab.inference import solution_set
    >>> f = lambda th: np.stack([th[:, 0] + th[:, 1], th[:, 0] - th[:, 1]], axis=1)
    >>> res = solution_set(f, [1.0, 0.0], [0.1, 0.1], [[-2, 2], [-2, 2]], random_state=0, maxiter=50)
    >>> np.allclose(res.best_theta, [0.5, 0.5], atol=1e-3)
    True
    """
    t0 = time.perf_counter()
    if seed is not _UNSET:
        warnings.warn("solution_set(seed=...) is deprecated; use random_state=...", DeprecationWarning, stacklevel=2)
        random_state = seed
    if progress_bar is not _UNSET:
        warnings.warn("solution_set(progress_bar=...) is deprecated; use progress=...", DeprecationWarning,
                      stacklevel=2)
        progress = progress_bar
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    b = _as_bounds(bounds)
    n_params = b.shape[0]
    obs = check_array(observed, name="observed", ndim=1)
    sig = check_array(np.broadcast_to(np.asarray(sigma, dtype=float), obs.shape), name="sigma",
                      positive=True)
    if param_names is None:
        param_names = [f"p{i}" for i in range(n_params)]
    param_names = [str(p) for p in param_names]
    if len(param_names) != n_params:
        raise ValueError(f"param_names: {len(param_names)} names for {n_params} parameters (bounds rows)")
    if delta_chi2 is None:
        delta = delta_chi2_threshold(confidence, n_params)
        conf = float(confidence)
    else:
        delta = float(delta_chi2)
        if not delta > 0:
            raise ValueError(f"delta_chi2 must be > 0, got {delta_chi2}")
        conf = None
    rng = check_random_state(random_state)
    obj = ChiSquare(forward, obs, sig, b, offset=offset, chunk_size=chunk_size)
    for name, value in (("max_calls", max_calls), ("max_time", max_time)):
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    obj.max_calls = None if max_calls is None else int(max_calls)
    obj.deadline = None if max_time is None else t0 + float(max_time)
    info: dict[str, Any] = {}
    samples = log_prob = None
    show = None if progress is None else (not progress)

    try:
        if method in ("de", "emcee"):
            n_gen = maxiter if method == "de" else (de_maxiter if de_maxiter is not None else max(maxiter // 2, 10))
            _run_de(obj, b, rng, popsize=popsize, maxiter=n_gen, tol=tol, polish=polish,
                    max_archive=max_archive, info=info, disable=show)
        if method == "emcee":
            samples, log_prob = _run_emcee(obj, b, rng, delta, n_walkers=n_walkers, n_steps=n_steps,
                                           burn=burn, thin=thin, info=info, disable=show)
        elif method == "dynesty":
            samples, log_prob = _run_dynesty(obj, b, rng, nlive=nlive, dlogz=dlogz, info=info, disable=show)
        elif method == "pymoo":
            _run_pymoo(obj, b, rng, popsize=popsize, maxiter=maxiter, info=info, disable=show)
    except BudgetExhausted as exc:
        info["stopped"] = exc.reason
    obj.max_calls = obj.deadline = None          # the final bookkeeping below is not limited
    if "stopped" in info:
        warnings.warn(f"solution_set: stopped early at the limit {info['stopped']} after {obj.n_forward_calls} "
                      "evaluations; the result is that of an unfinished search", RuntimeWarning, stacklevel=2)

    theta, chi2, off = obj.archive()
    finite = np.isfinite(chi2)
    if not finite.any():
        raise RuntimeError(
            f"no parameter vector inside the bounds gave finite predictions "
            f"({obj.n_forward_calls} evaluated, {obj.n_invalid} non-finite): the forward model is "
            "undefined over the whole box; check bounds against the model's domain")
    ib = int(np.argmin(np.where(finite, chi2, np.inf)))
    best_chi2 = float(chi2[ib])
    if n_fill > 0:
        _fill(obj, b, rng, theta[chi2 <= best_chi2 + delta], n_fill)
        theta, chi2, off = obj.archive()
        ib = int(np.argmin(chi2))
        best_chi2 = float(chi2[ib])
    keep = chi2 <= best_chi2 + delta
    dof = obs.size - n_params - (1 if offset == "profile" else 0)
    return SolutionSet(
        param_names=param_names, bounds=b, method=method, best_theta=theta[ib].copy(),
        best_chi2=best_chi2, best_offset=float(off[ib]), delta_chi2=delta, confidence=conf,
        solutions=theta[keep], solutions_chi2=chi2[keep], samples=samples, samples_log_prob=log_prob,
        n_forward_calls=obj.n_forward_calls, n_batches=obj.n_batches,
        n_out_of_bounds=obj.n_out_of_bounds, n_invalid=obj.n_invalid,
        runtime_s=time.perf_counter() - t0, n_obs=int(obs.size), dof=int(dof), info=info)


# ----------------------------------------------------------------------
# back-ends
class _ForwardError(Exception):
    """Carries an error of the forward model through scipy unchanged."""

    def __init__(self, original):
        super().__init__(str(original))
        self.original = original


def _run_de(obj, b, rng, *, popsize, maxiter, tol, polish, max_archive, info, disable):
    from scipy.optimize import differential_evolution

    def func(x):
        x = np.asarray(x, dtype=float)
        if obj.keep_archive and sum(t.shape[0] for t in obj._theta) > max_archive:
            obj.keep_archive = False
        try:
            if x.ndim == 1:                 # polishing calls one vector at a time
                return float(obj(x[None, :])[0])
            return obj(x.T)                 # vectorised: x has shape (n_params, S)
        except (TypeError, ValueError) as exc:  # scipy would hide these behind a RuntimeError
            raise _ForwardError(exc) from exc

    bar = _bar(total=maxiter, desc="differential evolution", disable=disable)

    def callback(intermediate_result):
        bar.update(1)

    try:
        res = differential_evolution(
            func, [tuple(r) for r in b], maxiter=maxiter, popsize=popsize, tol=tol, polish=False,
            rng=np.random.default_rng(rng.integers(2**63)), vectorized=True, updating="deferred",
            init="latinhypercube", callback=callback)
    except _ForwardError as exc:
        raise exc.original from None
    finally:
        bar.close()
    info["de_generations"] = int(res.nit)
    info["de_success"] = bool(res.success)
    info["de_message"] = str(res.message)
    if polish and np.isfinite(res.fun):
        from scipy.optimize import minimize

        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)   # inf chi^2 next to a domain edge
            try:
                pol = minimize(func, res.x, method="L-BFGS-B", bounds=[tuple(r) for r in b])
            except _ForwardError as exc:
                raise exc.original from None
        info["polish_success"] = bool(pol.success)


def _run_emcee(obj, b, rng, delta, *, n_walkers, n_steps, burn, thin, info, disable):
    import emcee

    n_params = b.shape[0]
    if n_walkers is None:
        n_walkers = max(32, 4 * n_params)
    n_walkers = int(n_walkers) + int(n_walkers) % 2
    if n_steps < 10:
        raise ValueError(f"n_steps must be >= 10, got {n_steps}")
    burn = n_steps // 3 if burn is None else int(burn)
    if not 0 <= burn < n_steps:
        raise ValueError(f"burn must lie in [0, n_steps), got {burn}")
    theta, chi2, _ = obj.archive()
    good = np.flatnonzero(chi2 <= chi2.min() + delta)
    pick = rng.choice(good, size=n_walkers, replace=good.size < n_walkers)
    p0 = theta[pick].copy()
    # jitter duplicates by a tiny fraction of the spread of the region
    spread = np.maximum(theta[good].std(axis=0), 1e-6 * (b[:, 1] - b[:, 0]))
    p0 += rng.normal(scale=1e-3, size=p0.shape) * spread
    p0 = np.clip(p0, b[:, 0] + 1e-12 * (b[:, 1] - b[:, 0]), b[:, 1] - 1e-12 * (b[:, 1] - b[:, 0]))
    sampler = emcee.EnsembleSampler(n_walkers, n_params, obj.log_prob, vectorize=True)
    # emcee draws from its own RandomState; seed it from ``rng`` for reproducibility
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    done = 0
    try:
        for _ in _bar(sampler.sample(p0, iterations=n_steps), total=n_steps, desc="emcee", disable=disable):
            done += 1
    except BudgetExhausted as exc:
        info["stopped"] = exc.reason
        if done < 10:
            return None, None
        burn = min(burn, done // 3)
        n_steps = done
    chain = sampler.get_chain(discard=burn, thin=thin, flat=True)
    lp = sampler.get_log_prob(discard=burn, thin=thin, flat=True)
    info["emcee_n_walkers"] = n_walkers
    info["emcee_n_steps"] = int(n_steps)
    info["emcee_burn"] = burn
    info["emcee_acceptance"] = float(np.mean(sampler.acceptance_fraction))
    try:
        tau = sampler.get_autocorr_time(discard=burn, quiet=True, tol=0)
        info["emcee_autocorr_steps"] = [float(t) for t in tau]
    except Exception as exc:  # emcee raises for chains too short to estimate tau
        info["emcee_autocorr_steps"] = None
        info["emcee_autocorr_note"] = str(exc)
    return chain, lp


class _BatchedLogL:
    """dynesty log-likelihood: one vector per call (dynesty's contract)."""

    def __init__(self, obj):
        self.obj = obj

    def __call__(self, x):
        c = float(self.obj(np.asarray(x, dtype=float)[None, :])[0])
        return -0.5 * c if np.isfinite(c) else -1e300


def _run_dynesty(obj, b, rng, *, nlive, dlogz, info, disable=None):
    try:
        import dynesty
    except ImportError as exc:  # optional dependency
        raise ImportError("method='dynesty' needs the optional package dynesty "
                          "(pip install dynesty)") from exc
    lo, width = b[:, 0], b[:, 1] - b[:, 0]

    def prior_transform(u):
        return lo + width * u

    sampler = dynesty.NestedSampler(_BatchedLogL(obj), prior_transform, b.shape[0], nlive=int(nlive),
                                    rstate=np.random.default_rng(rng.integers(2**63)))
    limit, obj.max_calls = obj.max_calls, None      # checked here, between iterations (dynesty must not be
    deadline, obj.deadline = obj.deadline, None     # interrupted inside an iteration)
    bar = _bar(desc="dynesty", unit="iter", disable=disable)
    try:
        for it, result in enumerate(sampler.sample(dlogz=dlogz)):
            bar.update(1)
            if it % 50 == 0:
                bar.set_postfix(logz=f"{result.logz:.3g}", calls=obj.n_forward_calls, refresh=False)
            if limit is not None and obj.n_forward_calls >= limit:
                info["stopped"] = f"max_calls={limit}"
                break
            if deadline is not None and time.perf_counter() > deadline:
                info["stopped"] = "max_time"
                break
    finally:
        bar.close()
    sampler.add_live_points()
    res = sampler.results
    weights = np.exp(res.logwt - res.logz[-1])
    weights /= weights.sum()
    from dynesty.utils import resample_equal

    samples = resample_equal(res.samples, weights, rstate=np.random.default_rng(rng.integers(2**63)))
    lp = -0.5 * obj(samples)
    info["dynesty_logz"] = float(res.logz[-1])
    info["dynesty_logz_err"] = float(res.logzerr[-1])
    info["dynesty_n_iter"] = int(res.niter)
    return samples, lp


def _run_pymoo(obj, b, rng, *, popsize, maxiter, info, disable):
    try:
        from pymoo.algorithms.soo.nonconvex.ga import GA
        from pymoo.core.problem import Problem
        from pymoo.optimize import minimize
    except ImportError as exc:  # optional dependency
        raise ImportError("method='pymoo' needs the optional package pymoo (pip install pymoo)") from exc

    class _P(Problem):
        def __init__(self):
            super().__init__(n_var=b.shape[0], n_obj=1, xl=b[:, 0], xu=b[:, 1])

        def _evaluate(self, x, out, *args, **kwargs):
            c = obj(np.asarray(x, dtype=float))
            out["F"] = np.where(np.isfinite(c), c, 1e300)

    algo = GA(pop_size=int(popsize) * b.shape[0], eliminate_duplicates=True)
    res = minimize(_P(), algo, ("n_gen", int(maxiter)), seed=int(rng.integers(2**31)), verbose=False)
    info["pymoo_n_gen"] = int(res.algorithm.n_gen) if res.algorithm is not None else None


def _fill(obj, b, rng, sol, n_fill):
    lo, hi = sol.min(axis=0), sol.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-3 * (b[:, 1] - b[:, 0]))
    lo = np.maximum(lo - pad, b[:, 0])
    hi = np.minimum(hi + pad, b[:, 1])
    theta = lo + (hi - lo) * rng.random((int(n_fill), b.shape[0]))
    obj(theta)
