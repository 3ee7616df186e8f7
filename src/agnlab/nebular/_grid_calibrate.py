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

__all__ = ["CAL_BINS", "apply_calibration", "calibrate_intervals", "identity_calibration"]

CAL_BINS = 8
_LEVEL = QUANTILES[2] - QUANTILES[0]
_TINY = 1e-6


def calibrate_intervals(q, y, n_bins: int = CAL_BINS) -> np.ndarray:
    """Stretch factors from quantiles ``q`` (n, P, 3) and truths ``y`` (n, P): array (P, 2, n_bins).

    Row 0: median log10 width of each bin; row 1: the factor (finite-sample conformal quantile).
    """
    lo, med, hi = q[..., 0], q[..., 1], q[..., 2]
    s = np.maximum((med - y) / np.maximum(med - lo, _TINY), (y - med) / np.maximum(hi - med, _TINY))
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


def identity_calibration(n_params: int, n_bins: int = CAL_BINS) -> np.ndarray:
    """Factors of 1 everywhere (no calibration)."""
    return np.stack([np.tile([[-6.0], [1.0]], (1, n_bins))] * n_params)


def apply_calibration(cal, q):
    """Calibrated ``(lo, med, hi)``, each (n, P), from quantiles ``q`` (n, P, 3)."""
    lo, med, hi = q[..., 0], q[..., 1], q[..., 2]
    logw = np.log10(np.maximum(hi - lo, _TINY))
    c = np.stack([np.interp(logw[:, p], cp[0], cp[1]) for p, cp in enumerate(cal)], axis=1)
    return med - c * (med - lo), med, med + c * (hi - med)
