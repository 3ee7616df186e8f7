"""Residual summaries shared by every workflow's evaluation (one set of keys)."""

from __future__ import annotations

import numpy as np

__all__ = ["nmad", "residual_summary"]


def nmad(x) -> float:
    """Normalised median absolute deviation ``1.4826 * median(|x - median(x)|)`` of the finite values."""
    x = np.asarray(x, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def residual_summary(residuals, *, absolute: bool = True) -> dict:
    """Summary of residuals (prediction - truth) over their finite values.

    Parameters
    ----------
    residuals : array_like
        Any shape; NaN/inf entries (e.g. flagged rows) are counted, not used.
    absolute : bool
        Percentiles of ``|residual|`` (default) or of the signed residual.

    Returns
    -------
    dict
        ``n``, ``n_nonfinite``, ``bias`` (median signed), ``nmad``, ``std``,
        ``median``, ``p68``, ``p95``, ``p99``, ``max`` (of ``|r|`` or ``r``).

    Examples
    --------
    >>> residual_summary([0.1, -0.1, 0.2, float("nan")])["n_nonfinite"]
    1
    """
    r = np.asarray(residuals, dtype=float).ravel()
    finite = np.isfinite(r)
    r = r[finite]
    out = {"n": int(r.size), "n_nonfinite": int((~finite).sum())}
    if r.size == 0:
        return {**out, **{k: float("nan") for k in ("bias", "nmad", "std", "median", "p68", "p95", "p99", "max")}}
    v = np.abs(r) if absolute else r
    p68, p95, p99 = np.percentile(v, [68.27, 95, 99])
    return {**out, "bias": float(np.median(r)), "nmad": nmad(r), "std": float(np.std(r)),
            "median": float(np.median(v)), "p68": float(p68), "p95": float(p95), "p99": float(p99),
            "max": float(v.max())}
