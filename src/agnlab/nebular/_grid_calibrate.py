"""Calibration of predicted 68 % intervals on held-out simulations (conformal, by bin of interval width).

Quantile regressors (the network and the trees of :class:`agnlab.nebular.GridInverter`) give intervals
that are only approximately calibrated. Following conformalized quantile regression (Romano, Patterson &
Candes 2019, NeurIPS), a stretch factor c is chosen on held-out data so that
[med - c (med - lo), med + c (hi - med)] covers 68.27 % of the truths; here one factor per parameter
and per bin of raw interval width (8 quantile bins), so narrow high-S/N intervals and wide low-S/N ones
are calibrated separately, and c is interpolated in log width in between.
"""

from __future__ import annotations

import numpy as np

from ._grid_backends import QUANTILES

__all__ = ["CAL_BINS", "apply_calibration", "apply_conditional", "calibrate_intervals", "condition_features",
           "conformal_factor", "conformity_scores", "fit_conditional", "identity_calibration",
           "n_conditional_coefs", "pooled_stretch"]

CAL_BINS = 8
_LEVEL = QUANTILES[2] - QUANTILES[0]
_TINY = 1e-6
_MAX_LOG_STRETCH = 1.5      # the conditional factor stays within exp(+-1.5) = 0.22-4.5
N_SNR_KNOTS = 6             # hat functions of the mean log S/N (besides the intercept)


def calibrate_intervals(q, y, n_bins: int = CAL_BINS) -> np.ndarray:
    """Stretch factors from quantiles ``q`` (n, P, 3) and truths ``y`` (n, P): array (P, 2, n_bins).

    Row 0: median log10 width of each bin; row 1: the factor (finite-sample conformal quantile).
    """
    lo, med, hi = q[..., 0], q[..., 1], q[..., 2]
    s = conformity_scores(lo, med, hi, y)
    logw = np.log10(np.maximum(hi - lo, _TINY))
    out = np.empty((y.shape[1], 2, n_bins))
    for p in range(y.shape[1]):
        edges = np.quantile(logw[:, p], np.linspace(0, 1, n_bins + 1))
        b = np.clip(np.searchsorted(edges, logw[:, p], side="right") - 1, 0, n_bins - 1)
        for k in range(n_bins):
            sel = s[b == k, p]
            n = max(sel.size, 1)
            level = min(1.0, _LEVEL * (n + 1) / n)
            out[p, 0, k] = np.median(logw[b == k, p]) if sel.size else edges[k]
            out[p, 1, k] = np.quantile(sel, level) if sel.size else 1.0
    out[:, 1] = np.maximum(out[:, 1], 1e-3)
    return out


def conformal_factor(scores) -> np.ndarray:
    """The finite-sample conformal 68.27 % quantile of ``scores`` (n, P), per column: (P,)."""
    n = len(scores)
    return np.quantile(scores, min(1.0, _LEVEL * (n + 1) / n), axis=0)


def pooled_stretch(node_gap_scores, held_out_scores, *, lo=0.25, hi=4.0) -> np.ndarray:
    """Factor per parameter (P,) that covers 68.27 % of two calibration sets pooled with equal weight.

    ``node_gap_scores`` (n1, P): :func:`conformity_scores` of the model's node-gap-calibrated intervals on its
    node-gap set (68.27 % of them <= 1 by construction); ``held_out_scores`` (n2, P): those of a helper's
    intervals on held-out node slices (see :class:`agnlab.nebular.GridInverter`, ``calibration_set``). Both
    stand in for a model at a node the estimator never saw, with errors of opposite sign: the node-gap set
    is built on nodes the model has seen (it under-stated log P/k), and the helper is weaker than the model
    (half the training spectra, a third of every axis' slices missing), which inflates its factor for every
    parameter, and measures it on few slices of a short axis. On development seeds 10-12 of
    ``benchmarks/nebular_grids.py``'s design (MAPPINGS grids, 2,000-3,000 spectra of the held-out nodes per
    seed) the node-gap set alone covered 68.1 % on average for "nn" (log P/k 61-64 %) but 61.7 % for "gbm";
    the helper's factor alone 70.3 % ("nn") and 73.0 % ("gbm"); the pooled factor lies between the two
    (for equal score densities, near their geometric mean). Each set gets weight 1/2 whatever its size;
    the factor is clipped to [``lo``, ``hi``].
    """
    a, b = np.asarray(node_gap_scores, dtype=float), np.asarray(held_out_scores, dtype=float)
    n = min(len(a), len(b))
    level = min(1.0, _LEVEL * (n + 1) / n)
    scores = np.concatenate([a, b])
    w = np.concatenate([np.full(len(a), 0.5 / len(a)), np.full(len(b), 0.5 / len(b))])
    out = np.empty(scores.shape[1])
    for p in range(scores.shape[1]):
        order = np.argsort(scores[:, p])
        cum = np.cumsum(w[order])
        out[p] = scores[order[min(np.searchsorted(cum, level - 1e-12), len(cum) - 1)], p]
    return np.clip(out, lo, hi)


def identity_calibration(n_params: int, n_bins: int = CAL_BINS) -> np.ndarray:
    """Factors of 1 everywhere (no calibration)."""
    return np.stack([np.tile([[-6.0], [1.0]], (1, n_bins))] * n_params)


def apply_calibration(cal, q):
    """Calibrated ``(lo, med, hi)``, each (n, P), from quantiles ``q`` (n, P, 3)."""
    lo, med, hi = q[..., 0], q[..., 1], q[..., 2]
    logw = np.log10(np.maximum(hi - lo, _TINY))
    c = np.stack([np.interp(logw[:, p], cp[0], cp[1]) for p, cp in enumerate(cal)], axis=1)
    return med - c * (med - lo), med, med + c * (hi - med)


def conformity_scores(lo, med, hi, y) -> np.ndarray:
    """Smallest stretch c of ``[med - c (med - lo), med + c (hi - med)]`` that contains ``y`` (all (n, P))."""
    return np.maximum((med - y) / np.maximum(med - lo, _TINY), (y - med) / np.maximum(hi - med, _TINY))


def _hats(x, knots):
    """Piecewise-linear ("hat") basis of ``x`` on ``knots``, without the first (the intercept spans it): (n, k - 1).

    Values beyond the end knots count as the end knots.
    """
    x = np.clip(x, knots[0], knots[-1])
    step = knots[1] - knots[0]
    return np.maximum(0.0, 1.0 - np.abs(x[:, None] - knots[None, 1:]) / step)


def condition_features(r, rel, hb_rel, med, snr_range) -> np.ndarray:
    """Observing conditions of each spectrum, (n, 2 :data:`N_SNR_KNOTS` + 3 + L + 2 P), shared by every parameter.

    ``r``, ``rel`` (n, L): log ratios and relative errors, NaN = missing; ``hb_rel`` (n,): H-beta's relative
    error; ``med`` (n, P): the estimates in units of the parameter box (0-1); ``snr_range``: the training
    S/N range. Columns: the mean log10 S/N of the present lines on a hat basis over ``snr_range`` (coverage is
    not monotonic in S/N: with the width-binned stretch alone, spectra at S/N 2-6 were under-covered and at
    S/N 15-80 over-covered), the same times the fraction of lines present (at low S/N, a spectrum with every
    line above the detection cut is a selection of upward fluctuations), the standard deviation of log10 S/N
    over the lines and its square, log10 S/N of H-beta, one presence bit per line, the estimates and their
    squares.
    """
    present = np.isfinite(r)
    n_p = np.maximum(present.sum(axis=1), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lsnr = np.where(present, -np.log10(np.where(present, rel, 1.0)), 0.0)
    mean = lsnr.sum(axis=1) / n_p
    sd = np.sqrt(np.where(present, (lsnr - mean[:, None]) ** 2, 0.0).sum(axis=1) / n_p)
    hb = -np.log10(np.clip(hb_rel, 1e-3, None))
    med = np.clip(med, 0.0, 1.0)
    knots = np.linspace(np.log10(snr_range[0]), np.log10(snr_range[1]), N_SNR_KNOTS + 1)
    hats = _hats(mean, knots)
    frac = (present.sum(axis=1) / present.shape[1])[:, None]
    return np.column_stack([hats, frac * hats, sd, sd**2, hb, present.astype(float), med, med**2])


def _design(shared, logw):
    return np.column_stack([np.ones_like(logw), logw, logw**2, shared])


def n_conditional_coefs(n_lines: int, n_params: int) -> int:
    """Coefficients per parameter of the conditional factor (intercept, log width and its square, conditions)."""
    return 3 + 2 * N_SNR_KNOTS + 3 + n_lines + 2 * n_params


def _quantile_regression(z, t, tau, *, smooth=0.02, ridge=1e-4):
    """Linear ``tau``-quantile regression of ``t`` on ``z`` (first column the intercept): smoothed pinball loss
    (softplus of width ``smooth``) with a small ridge on the slopes, L-BFGS."""
    from scipy.optimize import minimize
    from scipy.special import expit

    n = len(t)
    penal = np.r_[0.0, np.full(z.shape[1] - 1, ridge)]

    def loss(b):
        u = t - z @ b
        val = np.mean((tau - 1.0) * u + smooth * np.logaddexp(0.0, u / smooth)) + np.sum(penal * b * b)
        grad = -(z.T @ ((tau - 1.0) + expit(u / smooth))) / n + 2.0 * penal * b
        return val, grad

    b0 = np.zeros(z.shape[1])
    b0[0] = np.quantile(t, tau)
    return minimize(loss, b0, jac=True, method="L-BFGS-B", options={"maxiter": 1000}).x


def fit_conditional(lo, med, hi, y, shared) -> np.ndarray:
    """Coefficients (P, :func:`n_conditional_coefs`) of the conditional stretch of calibrated intervals.

    ``lo, med, hi, y`` (n, P) in scaled units (after :func:`apply_calibration`), ``shared`` from
    :func:`condition_features`. The intercept is then shifted so that exactly the finite-sample conformal
    fraction (68.27 %) of the calibration set is covered.
    """
    s = np.log(np.maximum(conformity_scores(lo, med, hi, y), 1e-3))
    n, P = y.shape
    level = min(1.0, _LEVEL * (n + 1) / n)
    out = np.empty((P, 3 + shared.shape[1]))
    for p in range(P):
        z = _design(shared, np.log10(np.maximum(hi[:, p] - lo[:, p], _TINY)))
        b = _quantile_regression(z, s[:, p], _LEVEL)
        b[0] += np.quantile(s[:, p] - z @ b, level)
        out[p] = b
    return out


def apply_conditional(coefs, lo, med, hi, shared):
    """``(lo, med, hi)`` stretched by the conditional factors ``coefs`` (from :func:`fit_conditional`)."""
    c = np.empty_like(med)
    for p, b in enumerate(coefs):
        z = _design(shared, np.log10(np.maximum(hi[:, p] - lo[:, p], _TINY)))
        c[:, p] = np.exp(np.clip(z @ b, -_MAX_LOG_STRETCH, _MAX_LOG_STRETCH))
    return med - c * (med - lo), med, med + c * (hi - med)
