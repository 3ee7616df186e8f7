"""Piecewise-bicubic surrogate of a smooth 2-D -> 2-D map on a regular grid.

The surrogate of each output is the interpolating bicubic spline through the
grid values (``scipy.interpolate.RectBivariateSpline``, s=0), stored per grid
cell as 16 polynomial coefficients so that values *and* gradients of many
points are evaluated with a handful of vectorised NumPy operations (a cell
lookup is O(1) on a regular grid).  Inside a cell a bicubic spline *is* a
bicubic polynomial, fixed by f, f_u, f_v, f_uv at the four corners, so the
Hermite patches reproduce the spline exactly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BicubicSurrogate"]

# p(s, t) = S^T A T with S = [1, s, s^2, s^3]; A = M F M^T (bicubic Hermite)
_M = np.array([[1.0, 0.0, 0.0, 0.0],
               [0.0, 0.0, 1.0, 0.0],
               [-3.0, 3.0, -2.0, -1.0],
               [2.0, -2.0, 1.0, 1.0]])


class BicubicSurrogate:
    """Bicubic-spline surrogate z_k(u, v), k = 0..n_out-1, on a regular grid.

    Parameters
    ----------
    u : ndarray, shape (n_u,)
        Regularly spaced nodes of the first coordinate.
    v : ndarray, shape (n_v,)
        Regularly spaced nodes of the second coordinate.
    z : ndarray, shape (n_out, n_u, n_v)
        Values at the nodes.
    """

    def __init__(self, u, v, z):
        from scipy.interpolate import RectBivariateSpline

        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        z = np.asarray(z, dtype=float)
        if z.ndim != 3 or z.shape[1:] != (u.size, v.size):
            raise ValueError(f"z must have shape (n_out, {u.size}, {v.size}), got {z.shape}")
        if u.size < 4 or v.size < 4:
            raise ValueError("need at least 4 nodes per axis for a bicubic spline")
        du, dv = np.diff(u), np.diff(v)
        if not (np.allclose(du, du[0], rtol=1e-6, atol=0) and np.allclose(dv, dv[0], rtol=1e-6, atol=0)):
            raise ValueError("grid nodes must be regularly spaced")
        if not np.all(np.isfinite(z)):
            raise ValueError("grid values contain non-finite numbers")
        self.u, self.v, self.z = u, v, z
        self.u0, self.v0 = float(u[0]), float(v[0])
        self.hu, self.hv = float(du[0]), float(dv[0])
        self.nu, self.nv = u.size - 1, v.size - 1  # cells per axis
        self.n_out = z.shape[0]
        coef = np.empty((self.nu, self.nv, self.n_out, 4, 4))
        for k in range(self.n_out):
            spl = RectBivariateSpline(u, v, z[k], kx=3, ky=3, s=0)
            f = spl(u, v, grid=True)
            fs = spl(u, v, dx=1, grid=True) * self.hu
            ft = spl(u, v, dy=1, grid=True) * self.hv
            fst = spl(u, v, dx=1, dy=1, grid=True) * self.hu * self.hv
            F = np.empty((self.nu, self.nv, 4, 4))
            F[..., 0, 0], F[..., 0, 1] = f[:-1, :-1], f[:-1, 1:]
            F[..., 1, 0], F[..., 1, 1] = f[1:, :-1], f[1:, 1:]
            F[..., 0, 2], F[..., 0, 3] = ft[:-1, :-1], ft[:-1, 1:]
            F[..., 1, 2], F[..., 1, 3] = ft[1:, :-1], ft[1:, 1:]
            F[..., 2, 0], F[..., 2, 1] = fs[:-1, :-1], fs[:-1, 1:]
            F[..., 3, 0], F[..., 3, 1] = fs[1:, :-1], fs[1:, 1:]
            F[..., 2, 2], F[..., 2, 3] = fst[:-1, :-1], fst[:-1, 1:]
            F[..., 3, 2], F[..., 3, 3] = fst[1:, :-1], fst[1:, 1:]
            coef[:, :, k] = _M @ F @ _M.T
        # one contiguous row of n_out*16 coefficients per cell: fast row gather
        # stored as (cell, j, k, i) so that the t-power slices are contiguous blocks of n_out*4
        self._coef = np.ascontiguousarray(
            coef.reshape(self.nu * self.nv, self.n_out, 4, 4).transpose(0, 3, 1, 2)
        ).reshape(self.nu * self.nv, 4, self.n_out * 4)

    def _locate(self, u, v):
        fu = (u - self.u0) / self.hu
        fv = (v - self.v0) / self.hv
        iu = np.clip(np.floor(fu), 0, self.nu - 1).astype(np.intp)
        iv = np.clip(np.floor(fv), 0, self.nv - 1).astype(np.intp)
        return iu * self.nv + iv, fu - iu, fv - iv

    def __call__(self, u, v, *, grad=False):
        """Evaluate the surrogate (and optionally its gradient).

        Outside the grid the edge polynomials extrapolate; callers keep points
        inside the grid.

        Parameters
        ----------
        u, v : ndarray, shape (n,)
        grad : bool
            Also return derivatives with respect to u and v.

        Returns
        -------
        f : ndarray, shape (n, n_out)
        f_u, f_v : ndarray, shape (n, n_out)
            Only if ``grad``.
        """
        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        cell, s, t = self._locate(u, v)
        n = cell.size
        A = np.take(self._coef, cell, axis=0)  # (n, 4 [t power j], n_out*4 [k, s power i])
        one = np.ones_like(t)
        t2 = t * t
        T = np.stack([one, t, t2, t2 * t], axis=1)
        B = np.einsum("nj,njm->nm", T, A).reshape(n, self.n_out, 4)
        s2 = s * s
        S = np.stack([one, s, s2, s2 * s], axis=1)
        f = np.einsum("nki,ni->nk", B, S)
        if not grad:
            return f
        dS = np.stack([np.zeros_like(s), one, 2.0 * s, 3.0 * s2], axis=1)
        f_u = np.einsum("nki,ni->nk", B, dS) / self.hu
        dT = np.stack([np.zeros_like(t), one, 2.0 * t, 3.0 * t2], axis=1)
        dB = np.einsum("nj,njm->nm", dT, A).reshape(n, self.n_out, 4)
        f_v = np.einsum("nki,ni->nk", dB, S) / self.hv
        return f, f_u, f_v
