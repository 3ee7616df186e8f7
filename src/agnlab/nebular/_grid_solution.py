"""Solution sets over a grid emulator: every parameter vector consistent with one observed spectrum, by mode.

``grid_solution_set(emulator, fluxes, errors)``:

1. the observed lines become log10 ratios to H-beta with errors (line and H-beta errors combined, plus
   ``model_error_dex`` for the grid itself, as NebulaBayes' ``grid_error``);
2. a uniform scan of the box (``n_scan`` vectors) finds every region of low chi^2, including separate
   branches a local optimiser would miss (the two R23 branches of O/H); the best fit is polished with
   :func:`agnlab.inference.solution_set` (differential evolution over the emulator);
3. the box around the scan's solutions is refilled (``n_fill`` vectors) to resolve the region, and the
   solution set is every vector with chi^2 <= chi^2_min + Delta chi^2 (``confidence``, jointly over the
   parameters);
4. posterior samples: the refill vectors resampled with weights exp(-chi^2 / 2) (uniform prior in the box,
   Gaussian likelihood; the refill box holds all but a negligible part of the mass);
5. modes: the samples are split, recursively, where the marginal of some parameter has a deep valley
   between two peaks (each side holding at least ``min_mass``); every mode gets its posterior mass, best
   fit, median and 68 % interval. Degenerate branches (the two R23 branches of O/H, joined only by a
   thin bridge of solutions at high pressure in the MAPPINGS HII grid) are separate modes, not
   averaged into one, even when the solution set itself is connected.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ._grid_features import read_observed

__all__ = ["GridSolution", "grid_solution_set"]

_BINS = 24      # refill padding: half a 1/24 of the box
_HIST_BINS = 40


@dataclasses.dataclass
class GridSolution:
    """Result of :func:`grid_solution_set`.

    Attributes
    ----------
    param_names : list of str
    bounds : ndarray, shape (n_params, 2)
    lines : list of str
        Lines used.
    best_theta : ndarray, shape (n_params,)
    best_chi2 : float
    delta_chi2 : float
    solutions : ndarray, shape (m, n_params)
        Every evaluated vector within Delta chi^2 of the minimum.
    solutions_chi2 : ndarray, shape (m,)
    samples : ndarray, shape (s, n_params)
        Posterior samples.
    modes : DataFrame
        One row per mode (largest posterior mass first): ``mass``, ``n_solutions``, and per parameter P
        ``P`` (median), ``P_lo``, ``P_hi`` (68 % interval) and ``P_best`` (lowest chi^2 in the mode).
    sample_mode : ndarray of int, shape (s,)
        Mode (row of ``modes``) of every sample.
    solution_set : agnlab.inference.SolutionSet
        The differential-evolution search that polished the best fit.
    """

    param_names: list
    bounds: np.ndarray
    lines: list
    best_theta: np.ndarray
    best_chi2: float
    delta_chi2: float
    solutions: np.ndarray
    solutions_chi2: np.ndarray
    samples: np.ndarray
    modes: pd.DataFrame
    sample_mode: np.ndarray
    solution_set: object

    @property
    def n_modes(self) -> int:
        return len(self.modes)

    def credible_intervals(self, level: float = 0.6827) -> pd.DataFrame:
        """Equal-tailed intervals of the whole posterior (all modes together)."""
        from ..inference import credible_intervals

        return credible_intervals(self.samples, level=level, param_names=self.param_names)

    def plot_corner(self, *, truths=None, bins: int = 40, fig=None):
        """Corner plot of the posterior samples (:func:`agnlab.inference.corner_plot`); returns the Figure."""
        from ..inference import corner_plot

        return corner_plot(self.samples, param_names=self.param_names, truths=truths, bins=bins,
                           ranges=self.bounds, best=self.best_theta, fig=fig)


def _one_spectrum(table, name):
    if isinstance(table, pd.Series):
        return table.to_frame().T
    if isinstance(table, dict):
        return pd.DataFrame({k: [v] for k, v in table.items()})
    if isinstance(table, pd.DataFrame):
        if len(table) != 1:
            raise ValueError(f"{name}: one spectrum (one row) expected, got {len(table)} rows")
        return table
    raise TypeError(f"{name}: give a dict, Series or one-row DataFrame of line fluxes")


def grid_solution_set(emulator, fluxes, errors, *, normalized=False, confidence=0.6827, model_error_dex=0.04,
                      n_scan=100_000, n_fill=100_000, n_samples=20_000, min_mass=0.05, valley_ratio=0.25,
                      random_state=0, de_maxiter=60) -> GridSolution:
    """Every grid-parameter vector consistent with one observed spectrum, its posterior and its modes.

    Parameters
    ----------
    emulator : GridEmulator
        Fitted forward model (its lines must include the observed ones).
    fluxes, errors : dict, Series or one-row DataFrame
        Dereddened fluxes and 1-sigma errors by line name, with ``Hbeta`` unless ``normalized``.
        NaN fluxes are missing lines.
    confidence : float
        Joint confidence of the solution set: Delta chi^2 = chi2.ppf(confidence, n_params).
    model_error_dex : float
        Error granted to the grid, added in quadrature to the observed errors.
    n_scan, n_fill : int
        Uniform vectors over the box, then over the box around the solutions.
    n_samples : int
        Posterior samples drawn.
    min_mass : float
        Smallest posterior mass of a mode.
    valley_ratio : float
        The samples are split into two modes where a 1-D marginal (smoothed histogram) falls below
        ``valley_ratio`` times the lower of the peaks on either side.
    random_state : int or Generator
    de_maxiter : int
        Generations of the differential-evolution polish.

    Returns
    -------
    GridSolution

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from agnlab.nebular import GridEmulator, grid_solution_set, load_photoionization_grid
    >>> u, oh = np.meshgrid(np.linspace(-4, -2, 5), np.linspace(7.6, 9.2, 5), indexing="ij")
    >>> t = pd.DataFrame({"log U": u.ravel(), "12 + log O/H": oh.ravel(), "Hbeta": 1.0})
    >>> t["OIII5007"] = 10 ** (0.6 * t["log U"] + 2.1 - 0.5 * (t["12 + log O/H"] - 8.4))
    >>> t["NII6583"] = 10 ** (0.8 * (t["12 + log O/H"] - 8.4) - 0.3 * t["log U"] - 1.4)
    >>> emu = GridEmulator("linear").fit(load_photoionization_grid(t, params=["log U", "12 + log O/H"]))
    >>> f = {"Hbeta": 1.0, "OIII5007": 1.4, "NII6583": 0.35}
    >>> sol = grid_solution_set(emu, f, {k: 0.03 * v for k, v in f.items()}, n_scan=5000, n_fill=5000,
    ...                         n_samples=2000, de_maxiter=10)
    >>> sol.n_modes, sol.modes.columns[:4].tolist()
    (1, ['mass', 'n_solutions', 'log U', 'log U_lo'])
    """
    from ..inference import delta_chi2_threshold, solution_set
    from ..validation import check_random_state

    emulator._check_fitted()
    f = _one_spectrum(fluxes, "fluxes")
    e = _one_spectrum(errors, "errors")
    obs = read_observed(f, e, emulator.lines_, grid_lines=emulator.lines_, norm_line=emulator.norm_line_,
                        normalized=normalized, min_snr=1.0, min_lines=1)
    if obs.flags[0] in (4, 5):                 # too_few_lines, no_hbeta
        raise ValueError("the spectrum has no usable line (or no usable H-beta): nothing to fit")
    use = np.flatnonzero(np.isfinite(obs.r[0]))
    r = obs.r[0, use]
    sigma = np.sqrt(obs.log_sigma()[0, use] ** 2 + float(model_error_dex) ** 2)
    lines = [emulator.lines_[j] for j in use]
    bounds = emulator.bounds_
    k = bounds.shape[0]
    rng = check_random_state(random_state)
    delta = delta_chi2_threshold(confidence, k)

    def forward(theta):
        return emulator.predict(theta)[:, use]

    def chi2_of(theta):
        c = np.sum(((forward(theta) - r) / sigma) ** 2, axis=1)
        return np.where(np.isfinite(c), c, np.inf)

    width = bounds[:, 1] - bounds[:, 0]
    scan = bounds[:, 0] + width * rng.random((int(n_scan), k))
    c_scan = chi2_of(scan)
    ss = solution_set(forward, r, sigma, bounds, method="de", param_names=emulator.param_names_,
                      confidence=confidence, random_state=rng, maxiter=int(de_maxiter), progress=False)
    best_chi2 = min(float(c_scan.min()), float(ss.best_chi2))
    # refill the box around everything near the solution set (a wider threshold: the scan is coarse)
    near = scan[c_scan <= best_chi2 + delta + 10.0]
    near = np.concatenate([near, ss.solutions]) if near.size else ss.solutions
    lo, hi = near.min(axis=0), near.max(axis=0)
    pad = 0.5 * width / _BINS
    lo, hi = np.maximum(lo - pad, bounds[:, 0]), np.minimum(hi + pad, bounds[:, 1])
    fill = lo + (hi - lo) * rng.random((int(n_fill), k))
    c_fill = chi2_of(fill)
    all_theta = np.concatenate([scan, fill, ss.solutions])
    all_chi2 = np.concatenate([c_scan, c_fill, ss.solutions_chi2])
    ib = int(np.argmin(all_chi2))
    best_chi2, best = float(all_chi2[ib]), all_theta[ib].copy()
    keep = all_chi2 <= best_chi2 + delta
    sol, sol_chi2 = all_theta[keep], all_chi2[keep]
    # posterior: the (uniform) refill resampled by likelihood
    w = np.exp(-0.5 * (c_fill - best_chi2))
    if not np.isfinite(w).any() or w.sum() <= 0:
        raise RuntimeError("no finite likelihood in the refilled box")
    pick = rng.choice(len(fill), size=int(n_samples), p=w / w.sum())
    samples = fill[pick]
    # modes: split the samples at deep valleys of their 1-D marginals, recursively
    min_n = max(int(min_mass * len(samples)), 1)
    s_lab = _split_modes(samples, np.arange(len(samples)), min_n, valley_ratio, depth=3)
    sol_lab = _assign(sol, samples, s_lab)
    rows = []
    for m in np.unique(s_lab):
        in_m = s_lab == m
        row = {"mass": float(in_m.mean()), "n_solutions": int((sol_lab == m).sum())}
        if row["n_solutions"]:
            b = sol[sol_lab == m][int(np.argmin(sol_chi2[sol_lab == m]))]
        else:
            b = np.full(k, np.nan)
        q = np.percentile(samples[in_m], [15.865, 50.0, 84.135], axis=0)
        for j, p in enumerate(emulator.param_names_):
            row[p], row[f"{p}_lo"], row[f"{p}_hi"], row[f"{p}_best"] = q[1, j], q[0, j], q[2, j], b[j]
        rows.append((m, row))
    rows.sort(key=lambda t: -t[1]["mass"])
    remap = {old: new for new, (old, _) in enumerate(rows)}
    sample_mode = np.array([remap[x] for x in s_lab], dtype=int) if len(s_lab) else s_lab
    modes = pd.DataFrame([r for _, r in rows])
    return GridSolution(list(emulator.param_names_), bounds.copy(), lines, best, best_chi2, float(delta), sol,
                        sol_chi2, samples, modes, sample_mode, ss)


def _split_modes(samples, idx, min_n, ratio, depth) -> np.ndarray:
    """Labels (len(samples),) of modes: split ``samples[idx]`` at the deepest marginal valley, recursively."""
    labels = np.zeros(len(samples), dtype=int)
    _split(samples, idx, min_n, ratio, depth, labels, [0])
    return labels


def _split(samples, idx, min_n, ratio, depth, labels, counter):
    cut = _deepest_valley(samples[idx], min_n, ratio) if depth > 0 and idx.size >= 2 * min_n else None
    if cut is None:
        labels[idx] = counter[0]
        counter[0] += 1
        return
    j, x = cut
    left = samples[idx, j] < x
    _split(samples, idx[left], min_n, ratio, depth - 1, labels, counter)
    _split(samples, idx[~left], min_n, ratio, depth - 1, labels, counter)


def _deepest_valley(x, min_n, ratio):
    """``(param, value)`` of the deepest valley between two peaks of a smoothed marginal, or None."""
    best = None
    for j in range(x.shape[1]):
        lo, hi = x[:, j].min(), x[:, j].max()
        if hi <= lo:
            continue
        h, edges = np.histogram(x[:, j], bins=_HIST_BINS, range=(lo, hi))
        hs = np.convolve(np.pad(h.astype(float), 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
        cum = np.cumsum(h)
        for i in range(1, _HIST_BINS - 1):
            if cum[i - 1] < min_n or cum[-1] - cum[i] < min_n:
                continue
            peak = min(hs[:i].max(), hs[i + 1:].max())
            score = hs[i] / peak if peak > 0 else 1.0
            if score < ratio and (best is None or score < best[0]):
                best = (score, j, 0.5 * (edges[i] + edges[i + 1]))
    return None if best is None else (best[1], best[2])


def _assign(points, samples, labels) -> np.ndarray:
    """Mode of each point: the label of its nearest sample (in units of the samples' spread)."""
    from scipy.spatial import cKDTree

    if len(points) == 0:
        return np.zeros(0, dtype=int)
    scale = np.where(samples.std(axis=0) > 0, samples.std(axis=0), 1.0)
    _, i = cKDTree(samples / scale).query(points / scale)
    return labels[i]
