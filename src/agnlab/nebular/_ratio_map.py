"""The fitted forward map of a Te/Ne estimator: (log Te, log Ne) -> (ln r_T, ln r_N).

:class:`RatioMap` holds the bicubic surrogate of a PyNeb forward grid and what
the inversion needs to know about it: the Newton box, the trained domain, the
turnover ("fold") of the density ratio along log Ne and the density-sensitive
upper bound per Te. It checks at construction that the pair of diagnostics can
be inverted (one temperature and one density diagnostic).
"""

from __future__ import annotations

import math

import numpy as np

from ._bicubic import BicubicSurrogate

__all__ = ["RatioMap"]


class RatioMap:
    """Bicubic forward map over a (log Te, log Ne) grid and its invertible domain.

    Parameters
    ----------
    u, v : ndarray, shape (n_u,), (n_v,)
        Grid nodes in log10 Te (K) and log10 Ne (cm^-3).
    z : ndarray, shape (2, n_u, n_v)
        ln of the temperature and density ratios on the grid.
    te_range_k, log_ne_range : (float, float)
        Trained domain.
    fold_margin_dex : float
        Distance kept below the turnover of the density ratio.
    tem_name, den_name : str
        Diagnostic names (error messages only).

    Raises
    ------
    ValueError
        The pair is not a (temperature, density) pair that can be inverted.
    """

    def __init__(self, u, v, z, te_range_k, log_ne_range, fold_margin_dex, tem_name="", den_name=""):
        te, ne = te_range_k, log_ne_range
        self.u, self.v, self.z = u, v, z
        self.log_ne_range = ne
        self.sur = BicubicSurrogate(u, v, z)
        self.box_u = (float(u[0]), float(u[-1]))
        self.dom_u = (math.log10(te[0]), math.log10(te[1]))
        uu, vv = np.meshgrid(u, v, indexing="ij")
        _, fu, fv = self.sur(uu.ravel(), vv.ravel(), grad=True)
        det = (fu[:, 0] * fv[:, 1] - fv[:, 0] * fu[:, 1]).reshape(uu.shape)
        dom = ((uu >= self.dom_u[0]) & (uu <= self.dom_u[1]) & (vv >= ne[0]) & (vv <= ne[1]))
        a_t = np.median(np.abs(fu[:, 0].reshape(uu.shape)[dom]))
        c_t = np.median(np.abs(fu[:, 1].reshape(uu.shape)[dom]))
        d_n = np.max(np.abs(fv[:, 1].reshape(uu.shape)[dom]))
        if a_t < 1.0:
            raise ValueError(f"{tem_name!r} is not a temperature diagnostic: median |d ln r / d log Te| "
                             f"= {a_t:.3g} < 1 in the trained domain")
        if c_t > 0.2 * a_t or d_n < 0.1:
            raise ValueError(f"the pair ({tem_name!r}, {den_name!r}) cannot be inverted: "
                             f"{den_name!r} is not a density diagnostic here (temperature sensitivity "
                             f"{c_t:.3g}, max density sensitivity {d_n:.3g} per dex)")
        sgn = np.sign(np.median(det[dom]))
        sdet = sgn * det
        scale = np.max(np.abs(det[dom]))
        if sgn == 0 or not np.isfinite(scale) or np.mean(sdet[dom] > 1e-6 * scale) < 0.5:
            raise ValueError(f"the pair ({tem_name!r}, {den_name!r}) cannot be inverted: the two "
                             "ratios do not separate Te and Ne (is one a temperature and the other a "
                             "density diagnostic?)")
        self.det_sign = float(sgn)
        self.dn_sign = float(np.sign(np.median(fv[:, 1].reshape(uu.shape)[dom])))
        # turnover ("fold") of the map along log Ne for every Te node: first density above the
        # maximum of the Jacobian where it drops to ~0; the Newton box ends there
        v_fold = np.full(u.size, v[-1])
        for i in range(u.size):
            row = sdet[i]
            j0 = int(np.argmax(row))
            thr = 1e-3 * row[j0]
            bad = np.nonzero(row[j0:] <= thr)[0]
            if bad.size and j0 + int(bad[0]) > 0:
                j = j0 + int(bad[0])
                # linear interpolation of the crossing
                a, b = row[j - 1] - thr, row[j] - thr
                frac = a / (a - b) if a != b else 0.0
                v_fold[i] = v[j - 1] + frac * (v[j] - v[j - 1])
        self.v_fold = v_fold
        self.v_hi = np.minimum(ne[1], v_fold - float(fold_margin_dex))
        if np.any(self.v_hi <= ne[0]):
            raise ValueError("the density diagnostic is not density sensitive anywhere in log_ne_range")
        self.ne_upper_log = float(np.interp(4.0, u, self.v_hi))

    def vfold(self, u):
        """log Ne of the turnover at log Te ``u``."""
        return np.interp(u, self.u, self.v_fold)

    def vhi(self, u):
        """Upper end of the density-sensitive trained domain at log Te ``u``."""
        return np.interp(u, self.u, self.v_hi)
