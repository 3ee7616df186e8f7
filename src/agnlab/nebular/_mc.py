"""Monte Carlo propagation of line-flux errors to Te/Ne maps (IFU cubes)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..parallel import chunked_map
from ._temden import TeNeEstimator
from ._temden_flags import FLAG_NAMES, FLAG_OK, flag_names

__all__ = ["MonteCarloResult", "monte_carlo_temden", "SPAXEL_FLAG_CODES", "stack_cube"]

SPAXEL_OK = 0
SPAXEL_NO_DATA = 1
SPAXEL_BAD_ERROR = 2
SPAXEL_NO_VALID_DRAWS = 3
SPAXEL_LOW_VALID_FRACTION = 4

SPAXEL_FLAG_CODES = {
    0: "ok: statistics from the valid draws",
    1: "no data: a required line flux or its error is NaN/inf in this spaxel",
    2: "bad error: a required line has a negative error",
    3: "no valid draw: every draw was flagged by the inversion (see dominant_flag)",
    4: "valid fraction below min_valid_fraction: statistics withheld (see dominant_flag)",
}


@dataclasses.dataclass
class MonteCarloResult:
    """Maps returned by :func:`monte_carlo_temden` (all of the cube's spatial shape).

    Attributes
    ----------
    te_k, log_ne : ndarray
        Median over valid draws of Te (K) and log10 Ne (cm^-3); NaN where
        ``spaxel_flags != 0``.
    te_k_percentiles, log_ne_percentiles : ndarray, shape (n_percentiles, *spatial)
        Percentiles (``percentiles``) over valid draws.
    percentiles : tuple of float
    valid_fraction : ndarray
        Fraction of draws with a valid inversion (0 for no-data spaxels).
    spaxel_flags : ndarray of int8
        See :data:`SPAXEL_FLAG_CODES`.
    dominant_flag : ndarray of str
        Most frequent inversion flag among the failed draws (``"none"`` if no
        draw failed); names as in :data:`agnlab.nebular.FLAG_NAMES`.
    te_k_nominal, log_ne_nominal : ndarray
        Inversion of the measured (unperturbed) fluxes.
    nominal_flags : ndarray of str
        Inversion flags of the nominal fluxes (``"none"`` where the spaxel has no data).
    n_draws : int
    seed : int or None
    seconds : float
        Wall time.
    """

    te_k: np.ndarray
    log_ne: np.ndarray
    te_k_percentiles: np.ndarray
    log_ne_percentiles: np.ndarray
    percentiles: tuple
    valid_fraction: np.ndarray
    spaxel_flags: np.ndarray
    dominant_flag: np.ndarray
    te_k_nominal: np.ndarray
    log_ne_nominal: np.ndarray
    nominal_flags: np.ndarray
    n_draws: int
    seed: object
    seconds: float

    def summary(self):
        """Counts of spaxel flags and the median valid fraction.

        Returns
        -------
        dict
        """
        codes, counts = np.unique(self.spaxel_flags, return_counts=True)
        names = {0: "ok", 1: "no_data", 2: "bad_error", 3: "no_valid_draws", 4: "low_valid_fraction"}
        data = self.spaxel_flags != SPAXEL_NO_DATA
        return {
            "n_spaxels": int(self.spaxel_flags.size),
            "spaxel_flags": {names[int(c)]: int(n) for c, n in zip(codes, counts)},
            "median_valid_fraction": float(np.median(self.valid_fraction[data])) if data.any() else 0.0,
            "n_draws": int(self.n_draws),
            "seconds": float(self.seconds),
        }

    def to_arrays(self):
        """All maps as a dict of arrays (e.g. for ``numpy.savez``).

        Returns
        -------
        dict of str -> ndarray
        """
        out = {}
        for f in dataclasses.fields(self):
            val = getattr(self, f.name)
            if isinstance(val, np.ndarray):
                out[f.name] = val
        out["percentiles"] = np.asarray(self.percentiles, dtype=float)
        return out


def stack_cube(lines, maps, *, name="fluxes"):
    """Collect line maps in a fixed order.

    Parameters
    ----------
    lines : sequence of str
        Line labels in the order wanted.
    maps : mapping or ndarray
        Label -> array (all the same shape), or an array of shape
        (n_lines, *spatial) already in ``lines`` order.
    name : str
        Used in error messages.

    Returns
    -------
    ndarray, shape (n_lines, *spatial)
    """
    if isinstance(maps, np.ndarray):
        if maps.ndim < 2 or maps.shape[0] != len(lines):
            raise ValueError(f"{name}: an array input must have shape (n_lines={len(lines)}, ...) in the "
                             f"order {list(lines)}, got {maps.shape}")
        return np.asarray(maps, dtype=float)
    missing = [k for k in lines if k not in maps]
    if missing:
        raise KeyError(f"{name}: missing line(s) {missing}; required: {list(lines)}")
    arrs = [np.asarray(maps[k], dtype=float) for k in lines]
    shapes = {a.shape for a in arrs}
    if len(shapes) != 1:
        raise ValueError(f"{name}: line maps have different shapes {sorted(shapes)}")
    return np.stack(arrs)


def _percentiles_sorted(a, k, qs):
    """Percentiles (numpy 'linear') of rows of ``a`` sorted with NaN last; k valid per row.

    Examples
    --------
    >>> import warnings
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(50, 31))
    >>> a[rng.random(a.shape) < 0.3] = np.nan
    >>> a[0] = np.nan
    >>> got = _percentiles_sorted(np.sort(a, axis=1), np.isfinite(a).sum(axis=1), (5.0, 50.0, 84.0))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     want = np.nanpercentile(a, [5.0, 50.0, 84.0], axis=1)
    >>> bool(np.allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True))
    True
    """
    m = a.shape[0]
    rows = np.arange(m)
    out = np.full((len(qs), m), np.nan)
    has = k > 0
    km1 = np.maximum(k - 1, 0)
    for j, q in enumerate(qs):
        pos = km1 * (q / 100.0)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, km1)
        w = pos - lo
        val = a[rows, lo] * (1.0 - w) + a[rows, hi] * w
        out[j] = np.where(has, val, np.nan)
    return out


def monte_carlo_temden(estimator, fluxes, errors, *, n_draws=150, percentiles=(16.0, 50.0, 84.0), seed=0,
                       min_valid_fraction=0.5, chunk_pairs=1_000_000, n_jobs=1, progress=None):
    """Propagate line-flux errors to Te and Ne maps by Monte Carlo.

    For every spaxel, ``n_draws`` realisations of each line flux are drawn
    from independent normal distributions (mean = flux, sigma = error), the
    diagnostic ratios are formed, and each pair is inverted with
    ``estimator``.  Draws with a flagged inversion (e.g. a negative drawn
    flux, or a density ratio beyond the low-density limit) are excluded from
    the statistics and counted in ``valid_fraction``.

    Parameters
    ----------
    estimator : TeNeEstimator
        Fitted.
    fluxes, errors : mapping or ndarray
        Line label -> map (any common spatial shape, e.g. (ny, nx)), or arrays
        of shape (n_lines, *spatial) in ``estimator.lines_`` order.  NaN marks
        spaxels without data; they are kept and flagged.
    n_draws : int
        Realisations per spaxel.
    percentiles : sequence of float
        Percentiles (0-100) reported besides the median.
    seed : int or None
        Random seed; the same seed, ``chunk_pairs`` and inputs give the same
        result whatever ``n_jobs`` is.
    min_valid_fraction : float
        Spaxels with a smaller fraction of valid draws get NaN statistics and
        flag 4 (their draws are biased towards the solvable side).
    chunk_pairs : int
        Inversions per chunk (spaxels per chunk = chunk_pairs // n_draws);
        bounds memory to roughly ``chunk_pairs * (8 * n_lines + 60)`` bytes per thread.
    n_jobs : int
        Threads working on chunks.
    progress : bool, optional
        Progress bar (``None``: on a terminal only).

    Returns
    -------
    MonteCarloResult

    Examples
    --------
    >>> from agnlab.nebular import TeNeEstimator, make_synthetic_cube, monte_carlo_temden
    >>> est = TeNeEstimator(grid_shape=(100, 100)).fit()
    >>> cube = make_synthetic_cube((12, 10), seed=0)
    >>> res = monte_carlo_temden(est, cube["fluxes"], cube["errors"], n_draws=20, seed=0)
    >>> res.te_k.shape
    (12, 10)
    """
    t0 = time.perf_counter()
    if not isinstance(estimator, TeNeEstimator):
        raise TypeError(f"estimator must be a TeNeEstimator, got {type(estimator).__name__}")
    estimator._check_fitted()
    n_draws = int(n_draws)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    qs = tuple(float(q) for q in percentiles)
    if any(not (0.0 <= q <= 100.0) for q in qs):
        raise ValueError(f"percentiles must lie in [0, 100], got {percentiles}")
    if not (0.0 <= float(min_valid_fraction) <= 1.0):
        raise ValueError(f"min_valid_fraction must lie in [0, 1], got {min_valid_fraction}")
    lines = list(estimator.lines_)
    F = stack_cube(lines, fluxes, name="fluxes")
    E = stack_cube(lines, errors, name="errors")
    if F.shape != E.shape:
        raise ValueError(f"fluxes and errors differ in shape: {F.shape} vs {E.shape}")
    spatial = F.shape[1:]
    n_sp = int(np.prod(spatial))
    F = F.reshape(len(lines), n_sp).T.copy()  # (n_sp, n_lines)
    E = E.reshape(len(lines), n_sp).T.copy()

    spaxel_flags = np.zeros(n_sp, dtype=np.int8)
    nodata = ~(np.isfinite(F).all(axis=1) & np.isfinite(E).all(axis=1))
    spaxel_flags[nodata] = SPAXEL_NO_DATA
    negerr = ~nodata & (E < 0).any(axis=1)
    spaxel_flags[negerr] = SPAXEL_BAD_ERROR
    work_idx = np.nonzero(spaxel_flags == SPAXEL_OK)[0]

    tem_spec, den_spec = estimator.tem_spec_, estimator.den_spec_

    def ratios(flux_cols):
        """flux_cols: dict label -> array; returns (.., 2) ratios, -1 where a flux <= 0."""
        X = np.stack([tem_spec.ratio_from_lines(flux_cols), den_spec.ratio_from_lines(flux_cols)], axis=-1)
        nonpos = np.zeros(X.shape[:-1], dtype=bool)
        for a in flux_cols.values():
            nonpos |= a <= 0
        X[nonpos] = -1.0
        return X

    # nominal inversion (no noise)
    te_nom = np.full(n_sp, np.nan)
    ne_nom = np.full(n_sp, np.nan)
    flag_nom = np.full(n_sp, -1, dtype=np.int8)
    if work_idx.size:
        Xn = ratios({k: F[work_idx, j] for j, k in enumerate(lines)})
        out, fl = estimator._invert(Xn, n_jobs=n_jobs, progress=False)
        te_nom[work_idx], ne_nom[work_idx], flag_nom[work_idx] = out[:, 0], out[:, 1], fl

    nq = len(qs)
    te_med = np.full(n_sp, np.nan)
    ne_med = np.full(n_sp, np.nan)
    te_pct = np.full((nq, n_sp), np.nan)
    ne_pct = np.full((nq, n_sp), np.nan)
    vfrac = np.zeros(n_sp)
    dominant = np.full(n_sp, -1, dtype=np.int8)

    per_chunk = max(1, int(chunk_pairs) // n_draws)
    chunks = [work_idx[s:s + per_chunk] for s in range(0, work_idx.size, per_chunk)]
    root = np.random.SeedSequence(seed)
    child_seeds = root.spawn(len(chunks))

    def work(args):
        ci, idx = args
        rng = np.random.default_rng(child_seeds[ci])
        m = idx.size
        noise = rng.standard_normal((len(lines), m, n_draws))
        cols = {}
        for j, k in enumerate(lines):
            d = noise[j]
            d *= E[idx, j][:, None]
            d += F[idx, j][:, None]
            cols[k] = d
        X = ratios(cols).reshape(m * n_draws, 2)
        del noise, cols
        out, fl = estimator._invert(X, n_jobs=1, progress=False)
        del X
        te = out[:, 0].reshape(m, n_draws)
        ne = out[:, 1].reshape(m, n_draws)
        fl = fl.reshape(m, n_draws)
        valid = fl == FLAG_OK
        k = valid.sum(axis=1)
        vfrac[idx] = k / n_draws
        # dominant failure flag
        bad = ~valid
        if bad.any():
            counts = np.stack([(fl == c).sum(axis=1) for c in range(1, len(FLAG_NAMES))], axis=1)
            dom = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1) + 1, -1)
            dominant[idx] = dom
        te.sort(axis=1)
        ne.sort(axis=1)
        te_q = _percentiles_sorted(te, k, qs + (50.0,))
        ne_q = _percentiles_sorted(ne, k, qs + (50.0,))
        te_pct[:, idx], te_med[idx] = te_q[:nq], te_q[nq]
        ne_pct[:, idx], ne_med[idx] = ne_q[:nq], ne_q[nq]

    chunked_map(work, list(enumerate(chunks)), n_jobs=n_jobs, progress=progress, desc="Monte Carlo Te/Ne")

    worked = spaxel_flags == SPAXEL_OK
    none_valid = worked & (vfrac == 0)
    low = worked & ~none_valid & (vfrac < float(min_valid_fraction))
    spaxel_flags[none_valid] = SPAXEL_NO_VALID_DRAWS
    spaxel_flags[low] = SPAXEL_LOW_VALID_FRACTION
    hide = spaxel_flags != SPAXEL_OK
    for arr in (te_med, ne_med):
        arr[hide] = np.nan
    te_pct[:, hide] = np.nan
    ne_pct[:, hide] = np.nan

    def shape(a):
        return a.reshape(a.shape[:-1] + spatial)

    def names(codes):
        return np.where(codes < 0, "none", flag_names(np.maximum(codes, 0)))

    return MonteCarloResult(
        te_k=shape(te_med), log_ne=shape(ne_med), te_k_percentiles=shape(te_pct),
        log_ne_percentiles=shape(ne_pct), percentiles=qs, valid_fraction=shape(vfrac),
        spaxel_flags=shape(spaxel_flags), dominant_flag=shape(names(dominant)), te_k_nominal=shape(te_nom),
        log_ne_nominal=shape(ne_nom), nominal_flags=shape(names(flag_nom)), n_draws=n_draws, seed=seed,
        seconds=time.perf_counter() - t0,
    )

