"""Per-element flags of the Te/Ne inversion: names, descriptions and the classification of solutions.

Every predicted pair gets a string flag (returned by
``TeNeEstimator.predict(X, return_flags=True)``); flagged rows are NaN in the
output. Internally the solver works with small integer codes (the position of
the name in :data:`FLAG_NAMES`); they never leave the package.

======================  ===============================================================
ok                      inside the trained domain, solved
nonfinite_input         a ratio is NaN or infinite (missing line)
nonpositive_input       a ratio is <= 0 (zero or negative flux)
low_density_limit       density ratio at/beyond the low-density limit: no Ne reproduces it
                        (Ne below ~10^(log_ne_min - 2)); Ne is only bounded from above
high_density_limit      density ratio at/beyond the high-density limit (or the turnover of
                        the ratio): no Ne on the density-sensitive branch reproduces it
ne_below_range          a solution exists but log Ne < log_ne_range[0]
ne_above_range          a solution exists but log Ne > the density-sensitive upper bound
                        (min of log_ne_range[1] and the turnover minus ``fold_margin_dex``)
te_below_range          temperature ratio implies Te < te_range_k[0]
te_above_range          temperature ratio implies Te > te_range_k[1]
not_converged           Newton iteration did not reach the tolerance
======================  ===============================================================

The limit and range flags (:data:`OUT_OF_DOMAIN_FLAGS`) mark input outside the
trained domain; with ``on_out_of_domain="raise"`` they raise
:class:`agnlab.OutOfDomainError` instead.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLAG_DESCRIPTIONS", "FLAG_NAMES", "OUT_OF_DOMAIN_FLAGS", "classify", "flag_names", "flag_summary"]

# internal codes (index into FLAG_NAMES)
FLAG_OK = 0
FLAG_NONFINITE = 1
FLAG_NONPOSITIVE = 2
FLAG_LOW_DENSITY_LIMIT = 3
FLAG_HIGH_DENSITY_LIMIT = 4
FLAG_NE_BELOW = 5
FLAG_NE_ABOVE = 6
FLAG_TE_BELOW = 7
FLAG_TE_ABOVE = 8
FLAG_NOT_CONVERGED = 9

FLAG_DESCRIPTIONS = {
    "ok": "solved inside the trained Te/Ne domain",
    "nonfinite_input": "non-finite input ratio (NaN/inf, e.g. a missing line)",
    "nonpositive_input": "non-positive input ratio (zero or negative flux)",
    "low_density_limit": "density ratio at or beyond the low-density limit (unreachable; Ne only bounded from above)",
    "high_density_limit": "density ratio at or beyond the high-density limit / turnover (unreachable on the "
                          "sensitive branch)",
    "ne_below_range": "solution has log Ne below the trained range",
    "ne_above_range": "solution has log Ne above the trained, density-sensitive range",
    "te_below_range": "temperature ratio implies Te below the trained range",
    "te_above_range": "temperature ratio implies Te above the trained range",
    "not_converged": "Newton iteration did not converge",
}
"""Flag name -> what it means (see the module docstring)."""

FLAG_NAMES = tuple(FLAG_DESCRIPTIONS)
"""Every flag a Te/Ne inversion returns, ``"ok"`` first."""

OUT_OF_DOMAIN_FLAGS = FLAG_NAMES[FLAG_LOW_DENSITY_LIMIT:FLAG_TE_ABOVE + 1]
"""Flags that mean "outside the trained domain" (raised under ``on_out_of_domain="raise"``)."""

_NAMES = np.array(FLAG_NAMES)


def flag_names(codes) -> np.ndarray:
    """String flags for internal integer codes (same shape)."""
    return _NAMES[np.asarray(codes, dtype=np.intp)]


def flag_summary(flags) -> dict:
    """Count flags by name.

    Parameters
    ----------
    flags : array_like of str
        E.g. the flags returned by ``TeNeEstimator.predict(X, return_flags=True)``.

    Returns
    -------
    dict
        Flag name -> count (only flags that occur), in the order of :data:`FLAG_NAMES`
        (other strings last).

    Examples
    --------
    >>> flag_summary(["ok", "ok", "nonfinite_input"])
    {'ok': 2, 'nonfinite_input': 1}
    """
    values, counts = np.unique(np.asarray(flags, dtype=str).ravel(), return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist()))
    order = [n for n in FLAG_NAMES if n in found] + sorted(n for n in found if n not in FLAG_NAMES)
    return {n: int(found[n]) for n in order}


def classify(rmap, y, u, v, converged) -> np.ndarray:
    """Integer flag codes of solutions ``(u, v)`` of observed ln ratios ``y`` on ``rmap``.

    Converged solutions are checked against the trained domain; the others are
    told apart into unreachable ratios (beyond a density limit, Te pinned at the
    box) and plain non-convergence.
    """
    flags = np.zeros(u.size, dtype=np.int8)
    nc = ~converged
    if nc.any():
        i = np.nonzero(nc)[0]
        lo = rmap.sur(u[i], np.full(i.size, rmap.v[0]))[:, 1]
        hi = rmap.sur(u[i], rmap.vfold(u[i]))[:, 1]
        s = rmap.dn_sign
        f = np.full(i.size, FLAG_NOT_CONVERGED, dtype=np.int8)
        eps = 1e-9
        f[(u[i] >= rmap.box_u[1] - eps)] = FLAG_TE_ABOVE
        f[(u[i] <= rmap.box_u[0] + eps)] = FLAG_TE_BELOW
        f[s * (y[i, 1] - hi) > 0] = FLAG_HIGH_DENSITY_LIMIT
        f[s * (y[i, 1] - lo) < 0] = FLAG_LOW_DENSITY_LIMIT
        flags[i] = f
    c = converged
    vhi = rmap.vhi(u)
    flags[c & (v > vhi)] = FLAG_NE_ABOVE
    flags[c & (v < rmap.log_ne_range[0])] = FLAG_NE_BELOW
    flags[c & (u > rmap.dom_u[1])] = FLAG_TE_ABOVE
    flags[c & (u < rmap.dom_u[0])] = FLAG_TE_BELOW
    return flags
