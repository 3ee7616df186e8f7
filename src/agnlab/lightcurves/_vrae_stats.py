"""Per-object light-curve statistics that the VRAE's Isolation Forest can see beside the latent space.

All are dimensionless contrasts against the object's own short-timescale variability
(:func:`agnlab.lightcurves._vrae.variability_scale`, the robust scatter of consecutive same-band
detections less than 50 days apart): an AGN whose flux changes state changes by far more than its
ordinary epoch-to-epoch variability allows, while a normal AGN of large amplitude is also large on
short lags. The network latents and the amplitude-based energy pooling see the absolute amplitude;
these see the amplitude relative to the object's own short-lag variability.

* ``spread_ratio``: ``ln(std / variability_scale)`` of the detections about their band medians, the
  inverse square root of the von Neumann ratio (von Neumann 1941, Ann. Math. Stat. 12, 367; the
  ``eta`` variability index, Shin et al. 2009, MNRAS 400, 1897) in a robust form: large for curves whose
  variance sits at long timescales (a step, a slow flare), ~0 for white noise.
* ``step_contrast``: the largest change of the band medians across one split time, over 17 split
  times at the 0.1-0.9 quantiles of the epochs (the split maximising the summed two-sample
  ``(diff / scale)^2 / (1/n_1 + 1/n_2)`` of the bands, at least 3 detections per side and band), divided
  by ``variability_scale``: the size of an abrupt change of state (turn-on or turn-off, MacLeod et al.
  2016, MNRAS 457, 389) in units of the object's short-lag variability.
* ``flare_contrast``: the same for a flare (Graham et al. 2017, MNRAS 470, 4112): the largest difference
  between the median inside a window of :data:`FLARE_WINDOWS_DAYS` (30, 90 or 270 days, starting at one of at
  most 64 evenly chosen epochs) and the median outside it, per band, at the window maximising the summed
  two-sample ``z^2`` (at least 3 detections inside and outside per band), divided by ``variability_scale``. A
  split time sees a flare only by the part of it on one side; a window holds the whole flare.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IF_STATISTICS", "curve_statistics"]

#: per-object statistics the Isolation Forest of ``VRAEAnomalyDetector(if_statistics=...)`` may see
IF_STATISTICS = ("spread_ratio", "step_contrast", "flare_contrast")

_SPLIT_QUANTILES = np.linspace(0.1, 0.9, 17)
_MIN_PER_SIDE = 3
#: window lengths (days) of the flare contrast: flares of AGN last tens to hundreds of days (MacLeod et al. 2016)
FLARE_WINDOWS_DAYS = (30.0, 90.0, 270.0)
_MAX_WINDOW_STARTS = 64


def _row_medians(x, k):
    """Medians of the ``k[i]`` finite leading values of each row of ``x`` (other entries are +inf)."""
    s = np.sort(x, axis=1)
    r = np.arange(s.shape[0])
    return 0.5 * (s[r, (k - 1) // 2] + s[r, k // 2])


def _best_partition_contrast(t, rel, band, scale, first_group) -> float:
    """Candidate partitions of the epochs into two groups, vectorised (one sort per band and group):
    ``first_group(tb)`` (n_partitions, n_band) bool marks the first group among a band's times ``tb``. At the
    partition of largest summed two-sample ``z^2`` over the bands (at least 3 detections per group and band;
    the first such partition), the largest |median first - median second| over the bands, over ``scale``."""
    z2 = diff_max = None
    for j in np.unique(band):
        sel = band == j
        tb, rb = t[sel], rel[sel]
        first = first_group(tb)
        if z2 is None:
            z2, diff_max = np.zeros(first.shape[0]), np.zeros(first.shape[0])
        n_first = first.sum(axis=1)
        n_second = tb.size - n_first
        ok = (n_first >= _MIN_PER_SIDE) & (n_second >= _MIN_PER_SIDE)
        if not ok.any():
            continue
        g = first[ok]
        diff = (_row_medians(np.where(g, rb, np.inf), n_first[ok])
                - _row_medians(np.where(g, np.inf, rb), n_second[ok]))
        z2[ok] += diff ** 2 / (scale ** 2 * (1.0 / n_first[ok] + 1.0 / n_second[ok]))
        diff_max[ok] = np.maximum(diff_max[ok], np.abs(diff))
    if z2 is None:
        return 0.0
    best = int(np.argmax(z2))
    return float(diff_max[best] / scale) if z2[best] > 0 else 0.0


def _step_contrast(t, rel, band, scale) -> float:
    """Epochs after each of the split times (:data:`_SPLIT_QUANTILES` of ``t``) against those before."""
    splits = np.quantile(t, _SPLIT_QUANTILES)
    return _best_partition_contrast(t, rel, band, scale, lambda tb: tb[None, :] >= splits[:, None])


def _flare_contrast(t, rel, band, scale) -> float:
    """Windows of :data:`FLARE_WINDOWS_DAYS` starting at (at most 64, evenly chosen) epochs: the epochs inside
    against those outside."""
    starts = np.unique(t)
    if starts.size > _MAX_WINDOW_STARTS:
        starts = starts[np.unique(np.linspace(0, starts.size - 1, _MAX_WINDOW_STARTS).round().astype(int))]
    lo = np.tile(starts, len(FLARE_WINDOWS_DAYS))
    hi = lo + np.repeat(FLARE_WINDOWS_DAYS, starts.size)
    return _best_partition_contrast(t, rel, band, scale,
                                    lambda tb: (tb[None, :] >= lo[:, None]) & (tb[None, :] < hi[:, None]))


def curve_statistics(t, rel, band, scale: float) -> np.ndarray:
    """:data:`IF_STATISTICS` (``spread_ratio, step_contrast, flare_contrast``) of one object's detections: times
    ``t`` (sorted), magnitudes ``rel`` relative to their band's median, integer ``band``, and the object's
    ``variability_scale`` (same units as ``rel``; the statistics are scale-free). Fewer than 2 detections give
    zeros."""
    t, rel, band = np.asarray(t, float), np.asarray(rel, float), np.asarray(band)
    if not (t.ndim == rel.ndim == band.ndim == 1 and t.size == rel.size == band.size):
        raise ValueError(f"curve_statistics: t, rel and band must be 1-D of one length, got shapes "
                         f"{t.shape}, {rel.shape}, {band.shape}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"curve_statistics: scale must be positive and finite, got {scale!r}")
    if t.size < 2:
        return np.zeros(len(IF_STATISTICS))
    return np.array([np.log(max(float(np.std(rel)), 1e-6) / scale), _step_contrast(t, rel, band, scale),
                     _flare_contrast(t, rel, band, scale)])
