"""Vectorised Newton solver for the 2x2 system RatioMap(u, v) = y (projected onto the invertible box)."""

from __future__ import annotations

import numpy as np

__all__ = ["newton_solve"]


def newton_solve(rmap, y, u, v, n_steps, tol):
    """Newton iterations on the spline of ``rmap``, projected onto the box.

    The Jacobian is evaluated at the starting point and re-used for the
    next two steps (chord steps cost one value evaluation; the starting
    points from the inverse table are close enough for them to converge
    to ~machine precision); from the fourth step on it is refreshed
    every step.  Pairs pinned against the box stop iterating.

    Parameters
    ----------
    rmap : RatioMap
    y : ndarray, shape (n, 2)
        Observed ln ratios.
    u, v : ndarray, shape (n,)
        Starting log Te and log Ne (updated in place).
    n_steps : int
    tol : float
        Convergence tolerance on the ln-ratio residual.

    Returns
    -------
    u, v : ndarray
    converged : ndarray of bool
        Max |ln-ratio residual| < ``tol``.
    resid : ndarray
    """
    sur = rmap.sur
    u0b, u1b = rmap.box_u
    v0b = float(rmap.v[0])
    vfold_min = float(rmap.v_fold.min())
    tol = float(tol)
    conv = np.zeros(u.size, dtype=bool)
    resid = np.full(u.size, np.inf)
    idx = np.arange(u.size)
    a = b = c = d = None
    for it in range(n_steps + 1):
        last = it == n_steps
        need_jac = not last and (it == 0 or it >= 3)
        if need_jac:
            f, fu, fv = sur(u[idx], v[idx], grad=True)
        else:
            f = sur(u[idx], v[idx])
        r0 = f[:, 0] - y[idx, 0]
        r1 = f[:, 1] - y[idx, 1]
        rmax = np.maximum(np.abs(r0), np.abs(r1))
        resid[idx] = rmax
        ok = rmax < tol
        conv[idx[ok]] = True
        if last or ok.all():
            break
        keep = ~ok
        if need_jac:
            a, b, c, d = fu[:, 0], fv[:, 0], fu[:, 1], fv[:, 1]
        if not keep.all():
            idx, r0, r1 = idx[keep], r0[keep], r1[keep]
            a, b, c, d = a[keep], b[keep], c[keep], d[keep]
        det = a * d - b * c
        small = np.abs(det) <= 1e-14 * (np.abs(a * d) + np.abs(b * c) + 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            du = (b * r1 - d * r0) / det
            dv = (c * r0 - a * r1) / det
        if small.any():
            # (near-)singular Jacobian: damped Gauss-Newton step
            s_ = small
            g0 = a[s_] * r0[s_] + c[s_] * r1[s_]
            g1 = b[s_] * r0[s_] + d[s_] * r1[s_]
            h00 = a[s_] ** 2 + c[s_] ** 2
            h11 = b[s_] ** 2 + d[s_] ** 2
            h01 = a[s_] * b[s_] + c[s_] * d[s_]
            lam = 1e-6 * (h00 + h11) + 1e-300
            h00, h11 = h00 + lam, h11 + lam
            den = h00 * h11 - h01 * h01
            du[s_] = -(h11 * g0 - h01 * g1) / den
            dv[s_] = -(h00 * g1 - h01 * g0) / den
        np.clip(du, -0.2, 0.2, out=du)
        np.clip(dv, -1.0, 1.0, out=dv)
        uo, vo = u[idx], v[idx]
        un = np.clip(uo + du, u0b, u1b)
        vn = np.maximum(vo + dv, v0b)
        high = vn > vfold_min
        if high.any():
            vn[high] = np.minimum(vn[high], rmap.vfold(un[high]))
        moved = (np.abs(un - uo) > 1e-13) | (np.abs(vn - vo) > 1e-13)
        u[idx], v[idx] = un, vn
        # pairs pinned against the box (unreachable ratios) stop iterating
        if not moved.all():
            idx = idx[moved]
            a, b, c, d = a[moved], b[moved], c[moved], d[moved]
        if idx.size == 0:
            break
    return u, v, conv, resid
