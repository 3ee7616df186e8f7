"""Colour tracks as continuous curves over the viewing angle: subdivision of the sampled angles.

A library samples every track at a few viewing angles (e.g. 10 between 0 and 90 deg), but a population's
inclinations are continuous. Between two samples a track can move by far more than the photometric blur
(0.2 mag at the median, 0.5 mag at the 90th percentile on the benchmark's library), so a histogram of the
sampled points alone is a set of blurred clumps, and a fit with 250,000 sources must mix other tracks to fill
the gaps between them. Subdividing every angle interval and interpolating the colours linearly between the
samples makes each track a curve, weighted by solid angle along it (isotropic orientations).
"""

import numpy as np

# default subdivision of every sampled angle interval (PopulationFit(angle_substeps=...)); chosen on dev seeds
ANGLE_SUBSTEPS = 3


def subdivide_angles(angles_deg, substeps):
    """Angles with every interval of ``angles_deg`` split into ``substeps`` equal parts.

    Returns ``(fine_angles_deg, i0, frac)``: the fine grid (``(n_angles - 1) * substeps + 1`` angles, the
    original ones included) and, for every fine angle, the index of the sample below it and its fractional
    position towards the next (0 at the sample itself).
    """
    a = np.asarray(angles_deg, float)
    k = int(substeps)
    if k < 1:
        raise ValueError(f"angle_substeps: need an integer >= 1, got {substeps}")
    if a.ndim != 1 or a.size < 2 or k == 1:
        return a.copy(), np.arange(a.size), np.zeros(a.size)
    frac = np.tile(np.arange(k) / k, a.size - 1)
    i0 = np.repeat(np.arange(a.size - 1), k)
    fine = a[i0] + frac * (a[i0 + 1] - a[i0])
    return (np.concatenate([fine, a[-1:]]), np.concatenate([i0, [a.size - 2]]), np.concatenate([frac, [1.0]]))


def interpolate_points(values, i0, frac):
    """Values of the track points (n_tracks, n_angles[, ...]) linearly interpolated onto a fine angle grid
    (``i0``, ``frac`` from :func:`subdivide_angles`); the result keeps the input's float dtype."""
    v = np.asarray(values)
    if v.shape[1] == i0.size and not np.any(frac):
        return v
    dt = v.dtype if np.issubdtype(v.dtype, np.floating) else np.float64
    f = frac.astype(dt).reshape((1, -1) + (1,) * (v.ndim - 2))
    lo = v[:, i0].astype(dt, copy=False)
    hi = v[:, np.minimum(i0 + 1, v.shape[1] - 1)].astype(dt, copy=False)
    return lo + f * (hi - lo)
