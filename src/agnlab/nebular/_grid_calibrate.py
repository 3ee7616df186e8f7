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
           "conditional_log_factor", "conformal_factor", "conformity_scores", "fit_conditional", "identity_calibration",
           "n_conditional_coefs", "pooled_conditional_stretch", "pooled_stretch"]

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
    w = _pooled_weights(len(a), len(b))
    out = np.array([_weighted_quantile(scores[:, p], w, level) for p in range(scores.shape[1])])
    return np.clip(out, lo, hi)


def _pooled_weights(n1, n2):
    """Weight 1/2 for each of two sets of ``n1`` and ``n2`` rows, whatever their sizes."""
    return np.concatenate([np.full(n1, 0.5 / n1), np.full(n2, 0.5 / n2)])


def pooled_conditional_stretch(node_gap, held_out, *, lo=0.25, hi=4.0) -> np.ndarray:
    """Coefficients (P, :func:`n_conditional_coefs`) of a held-out correction exp(z . gamma) that depends on the
    observing conditions z, fitted on two calibration sets pooled with equal weight (the conditional version
    of :func:`pooled_stretch`).

    ``node_gap`` and ``held_out``: each a tuple ``(scores, shared, log_width)`` -- :func:`conformity_scores`
    of the fully calibrated intervals (n, P), the :func:`condition_features` (n, F) and the log10 width of the
    width-binned intervals (n, P) that the conditional factor's design uses -- of the model on its node-gap
    set and of the helper on its held-out node slices. Per parameter, the 68.27 % quantile of log(score) is
    regressed on the same design as :func:`fit_conditional` (intercept, log width and its square, S/N level
    and spread, the presence of each line, the position in the box and its square), each set weighing 1/2;
    then the intercept is shifted so that exactly the conformal fraction of the pooled weight is covered.
    The node-gap set is already calibrated in every condition (its ideal correction is 1), so the fit follows
    the helper's held-out excess where the helper shows one -- e.g. a different correction for spectra with
    and without the auroral lines -- at half its size, as :func:`pooled_stretch` does for one constant.
    Because the design is the conditional factor's own, the correction adds to its coefficients
    (``calibration_conditional_ + gamma``) and costs nothing at prediction. The constant equivalent
    (``gamma[:, 0]`` alone) is not clipped; ``lo`` and ``hi`` bound the correction's median on the pooled sets.
    """
    (sa, fa, la), (sb, fb, lb) = node_gap, held_out
    sa, sb = np.asarray(sa, dtype=float), np.asarray(sb, dtype=float)
    n = min(len(sa), len(sb))
    level = min(1.0, _LEVEL * (n + 1) / n)
    w = _pooled_weights(len(sa), len(sb))
    t_all = np.log(np.maximum(np.concatenate([sa, sb]), 1e-3))
    out = np.empty((sa.shape[1], 3 + np.shape(fa)[1]))
    for p in range(sa.shape[1]):
        z = np.vstack([_design(fa, np.asarray(la)[:, p]), _design(fb, np.asarray(lb)[:, p])])
        t = t_all[:, p]
        g = _quantile_regression(z, t, _LEVEL, weights=w)
        g[0] += _weighted_quantile(t - z @ g, w, level)
        mid = _weighted_quantile(z @ g, w, 0.5)
        g[0] += np.clip(mid, np.log(lo), np.log(hi)) - mid
        out[p] = g
    return out


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


def _quantile_regression(z, t, tau, *, smooth=0.02, ridge=1e-4, weights=None):
    """Linear ``tau``-quantile regression of ``t`` on ``z`` (first column the intercept): smoothed pinball loss
    (softplus of width ``smooth``) with a small ridge on the slopes, L-BFGS. ``weights`` (n,): weight of each
    row (default: equal)."""
    from scipy.optimize import minimize
    from scipy.special import expit

    n = len(t)
    w = None if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    penal = np.r_[0.0, np.full(z.shape[1] - 1, ridge)]

    def loss(b):
        u = t - z @ b
        pin = (tau - 1.0) * u + smooth * np.logaddexp(0.0, u / smooth)
        dpin = (tau - 1.0) + expit(u / smooth)
        if w is None:
            return np.mean(pin) + np.sum(penal * b * b), -(z.T @ dpin) / n + 2.0 * penal * b
        return w @ pin + np.sum(penal * b * b), -(z.T @ (w * dpin)) + 2.0 * penal * b

    b0 = np.zeros(z.shape[1])
    b0[0] = np.quantile(t, tau) if w is None else _weighted_quantile(t, w, tau)
    return minimize(loss, b0, jac=True, method="L-BFGS-B", options={"maxiter": 1000}).x


def _weighted_quantile(x, w, level):
    """Smallest ``x`` with at least ``level`` of the weight ``w`` at or below it."""
    order = np.argsort(x)
    cum = np.cumsum(w[order]) / np.sum(w)
    return x[order[min(np.searchsorted(cum, level - 1e-12), len(cum) - 1)]]


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
    logw = np.log10(np.maximum(hi - lo, _TINY))
    c = np.exp(np.clip(conditional_log_factor(coefs, shared, logw), -_MAX_LOG_STRETCH, _MAX_LOG_STRETCH))
    return med - c * (med - lo), med, med + c * (hi - med)


def conditional_log_factor(coefs, shared, logw) -> np.ndarray:
    """z . beta (n, P) of conditional coefficients ``coefs`` (P, K), conditions ``shared`` (n, F) and the log10
    width of the width-binned intervals ``logw`` (n, P); unclipped."""
    return np.stack([_design(shared, logw[:, p]) @ b for p, b in enumerate(coefs)], axis=1)
