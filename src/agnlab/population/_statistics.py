"""Fit statistics of PopulationFit: Poisson deviance, the Cash statistic and its moments, reduced chi^2,
Jensen-Shannon divergence, parameter distributions and the goodness-of-fit summary."""

from __future__ import annotations

import numpy as np

from ..validation import check_array

__all__ = ["cash_expectation", "jensen_shannon", "parameter_distributions", "poisson_deviance", "reduced_chi2"]

def poisson_deviance(counts, model, *, floor=1e-3) -> float:
    """Poisson deviance 2 sum(h log(h / mu) - (h - mu)), with ``mu`` floored at ``floor``."""
    h = np.asarray(counts, float).ravel()
    mu = np.maximum(np.asarray(model, float).ravel(), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(h > 0, h * np.log(h / mu), 0.0)
    return float(2.0 * np.sum(t - (h - mu)))


def cash_expectation(model):
    """Expectation and variance of the Cash statistic (Poisson deviance) of Poisson counts with means ``model``.

    Exact sums over the Poisson distribution of each bin (Kaastra 2017, A&A 605, A51 gives the
    same numbers as approximations): for large means each bin contributes ~1 (+1/(6 mu)), for
    small means less (0 for mu -> 0). This is the reference for a *known* model; a fitted model
    scores lower by about the number of effective free parameters (see the parametric bootstrap of
    :attr:`PopulationFit.goodness_of_fit_`).

    Returns
    -------
    mean, var : float
        Sums over the bins.
    """
    from scipy.stats import poisson

    mu = np.asarray(model, float).ravel()
    mu = mu[mu > 0]
    if mu.size == 0:
        return 0.0, 0.0
    mean = var = 0.0
    for lo in range(0, mu.size, 256):
        m = mu[lo:lo + 256]
        half = int(np.ceil(12.0 * np.sqrt(m.max()) + 25))
        k = np.floor(m)[:, None] + np.arange(-half, half + 1)[None, :]
        k = np.where(k >= 0, k, np.nan)
        pmf = np.nan_to_num(poisson.pmf(k, m[:, None]))
        with np.errstate(divide="ignore", invalid="ignore"):
            c = 2.0 * (m[:, None] - k + np.where(k > 0, k * np.log(k / m[:, None]), 0.0))
        c = np.nan_to_num(c)
        e1 = np.sum(pmf * c, axis=1)
        e2 = np.sum(pmf * c * c, axis=1)
        mean += float(e1.sum())
        var += float(np.sum(e2 - e1 * e1))
    return mean, var


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


def _gof_summary(cash, n_bins, reps, e_pois, v_pois):
    """The ``goodness_of_fit_`` dict from the statistic, its bootstrap replicates and Poisson moments.

    ``p_value`` is the upper tail of the prediction distribution of a new draw from a normal whose
    mean and spread are estimated from the replicates: Student t with ``n - 1`` degrees of freedom
    and scale ``std * sqrt(1 + 1/n)``. With ~20 replicates the spread is uncertain by ~16 %, and the
    plain normal tail would reject a correct model too often.
    """
    from scipy.stats import t as student_t

    out = {"cash": float(cash), "n_bins": int(n_bins), "n_boot": int(reps.size),
           "expected_cash_poisson": float(e_pois), "std_cash_poisson": float(np.sqrt(max(v_pois, 0.0)))}
    if reps.size >= 2:
        mean, std = float(reps.mean()), float(reps.std(ddof=1))
        out.update(expected_cash=mean, std_cash=std,
                   p_value=(float(student_t.sf((cash - mean) / (std * np.sqrt(1.0 + 1.0 / reps.size)),
                                                     df=reps.size - 1)) if std > 0 else float(cash <= mean)),
                   p_value_empirical=float((1 + np.sum(reps >= cash)) / (1 + reps.size)))
    else:
        out.update(expected_cash=float("nan"), std_cash=float("nan"), p_value=float("nan"),
                   p_value_empirical=float("nan"))
    return out
