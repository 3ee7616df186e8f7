"""The inverse (ratio-plane) table: a starting (log Te, log Ne) for every observed ratio pair."""

from __future__ import annotations

import numpy as np

from ._newton import newton_solve

__all__ = ["InverseTable"]


class InverseTable:
    """Solutions of a :class:`RatioMap` on a regular grid over the plane of the two ln ratios.

    Looked up by bilinear interpolation (:meth:`guess`); nodes without a
    converged solution hold the nearest valid one (a starting point only) and
    are marked in ``valid``.

    Parameters
    ----------
    y1, y2 : (float, float, int)
        First node, step and node count along ln r_T and ln r_N.
    inv_u, inv_v : ndarray, shape (n1, n2)
        log Te and log Ne at the nodes.
    valid : ndarray of bool, shape (n1, n2)
    """

    def __init__(self, y1, y2, inv_u, inv_v, valid):
        self.y1 = (float(y1[0]), float(y1[1]), int(y1[2]))
        self.y2 = (float(y2[0]), float(y2[1]), int(y2[2]))
        self.inv_u = np.asarray(inv_u, dtype=float)
        self.inv_v = np.asarray(inv_v, dtype=float)
        self.valid = np.asarray(valid).astype(bool)
        if not (self.inv_u.shape == self.inv_v.shape == self.valid.shape == (self.y1[2], self.y2[2])):
            raise ValueError("inverse table arrays have inconsistent shapes")

    @classmethod
    def build(cls, rmap, ni, *, max_newton, tol):
        """Solve ``rmap`` on an ``ni`` = (n1, n2) grid over the ratio plane of its sensitive domain."""
        from scipy import ndimage
        from scipy.spatial import cKDTree

        u, v = rmap.u, rmap.v
        uu, vv = np.meshgrid(u, v, indexing="ij")
        inside = vv <= rmap.vfold(uu)
        zu = rmap.z[0][inside]
        zv = rmap.z[1][inside]
        y1 = np.linspace(zu.min(), zu.max(), ni[0])
        y2 = np.linspace(zv.min(), zv.max(), ni[1])
        Y1, Y2 = np.meshgrid(y1, y2, indexing="ij")
        y = np.stack([Y1.ravel(), Y2.ravel()], axis=1)
        scale = np.array([zu.std(), zv.std()])
        tree = cKDTree(np.stack([zu, zv], axis=1) / scale)
        _, nn_idx = tree.query(y / scale)
        ug = uu[inside][nn_idx].copy()
        vg = vv[inside][nn_idx].copy()
        ug, vg, conv, _ = newton_solve(rmap, y, ug, vg, int(max_newton), tol)
        valid = conv & (vg > v[0] + 1e-9) & (ug > u[0] + 1e-9) & (ug < u[-1] - 1e-9)
        valid = valid.reshape(ni)
        ug = ug.reshape(ni)
        vg = vg.reshape(ni)
        if not valid.any():  # pragma: no cover - guarded by the invertibility check
            raise RuntimeError("could not build the inverse table")
        # fill invalid nodes with the nearest valid solution (a starting point only)
        _, (ii, jj) = ndimage.distance_transform_edt(~valid, return_indices=True)
        return cls((float(y1[0]), float(y1[1] - y1[0]), ni[0]), (float(y2[0]), float(y2[1] - y2[0]), ni[1]),
                   ug[ii, jj], vg[ii, jj], valid)

    def guess(self, y):
        """Bilinear starting point (u, v) for ln ratios ``y`` (n, 2)."""
        a0, ha, na = self.y1
        b0, hb, nb = self.y2
        fa = np.clip((y[:, 0] - a0) / ha, 0.0, na - 1.000001)
        fb = np.clip((y[:, 1] - b0) / hb, 0.0, nb - 1.000001)
        ia = fa.astype(np.intp)
        ib = fb.astype(np.intp)
        wa = fa - ia
        wb = fb - ib
        out = []
        for tab in (self.inv_u, self.inv_v):
            q = ((1 - wa) * (1 - wb) * tab[ia, ib] + wa * (1 - wb) * tab[ia + 1, ib]
                 + (1 - wa) * wb * tab[ia, ib + 1] + wa * wb * tab[ia + 1, ib + 1])
            out.append(q)
        return out[0], out[1]

    def valid_at(self, y):
        """True where ``y`` lies inside the table and all four surrounding nodes are valid."""
        a0, ha, na = self.y1
        b0, hb, nb = self.y2
        fa = (y[:, 0] - a0) / ha
        fb = (y[:, 1] - b0) / hb
        inside = (fa >= 0) & (fa <= na - 1) & (fb >= 0) & (fb <= nb - 1)
        ia = np.clip(fa, 0, na - 1.000001).astype(np.intp)
        ib = np.clip(fb, 0, nb - 1.000001).astype(np.intp)
        V = self.valid
        return inside & V[ia, ib] & V[ia + 1, ib] & V[ia, ib + 1] & V[ia + 1, ib + 1]
