"""Multilinear interpolation of a photoionisation grid in log10 line ratio (holes allowed).

The interpolant is the one NebulaBayes uses (linear in each parameter between nodes; Thomas et al.
2018, ApJ 856, 89, sect. 2.2), here evaluated on demand in log flux rather than on a fixed fine grid.
A query point is NaN when it lies outside the box of the nodes or when one corner of its cell is
missing (a grid with holes, or models left out with ``exclude``): nothing is ever extrapolated.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOG_FLOOR", "LogRatioInterpolator", "log_ratios"]

#: log10(F/F_Hbeta) floor: MAPPINGS writes no flux below its output threshold (read as 0), and a
#: line 1e5 times fainter than H-beta is never observed; the floor keeps logarithms finite.
LOG_FLOOR = -5.0


def log_ratios(fluxes) -> np.ndarray:
    """log10 of fluxes already relative to H-beta, floored at :data:`LOG_FLOOR`."""
    f = np.asarray(fluxes, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.maximum(f, 10.0**LOG_FLOOR))
    return np.where(np.isnan(f), np.nan, out)


class LogRatioInterpolator:
    """Multilinear interpolant over the nodes of a (possibly incomplete) Cartesian grid.

    Parameters
    ----------
    params : ndarray, shape (n_models, k)
        Node coordinates; every value must be one of the axis values (the unique values per column).
    values : ndarray, shape (n_models, n_out)
        Values at the nodes (log10 line ratios), finite.
    """

    def __init__(self, params, values):
        params = np.asarray(params, dtype=float)
        values = np.asarray(values, dtype=float)
        if params.ndim != 2 or values.ndim != 2 or params.shape[0] != values.shape[0]:
            raise ValueError(f"params (n, k) and values (n, m) expected, got {params.shape}, {values.shape}")
        self.axes = [np.unique(params[:, j]) for j in range(params.shape[1])]
        if any(a.size < 2 for a in self.axes):
            raise ValueError("every parameter needs at least 2 node values to interpolate")
        self.shape = tuple(a.size for a in self.axes)
        idx = np.stack([np.searchsorted(a, params[:, j]) for j, a in enumerate(self.axes)], axis=1)
        self.table = np.full((int(np.prod(self.shape)), values.shape[1]), np.nan)
        self.table[np.ravel_multi_index(idx.T, self.shape)] = values
        self.strides = np.array([int(np.prod(self.shape[j + 1:])) for j in range(len(self.shape))], dtype=np.int64)
        self.bounds = np.array([[a[0], a[-1]] for a in self.axes])
        self.n_missing = int(np.isnan(self.table[:, 0]).sum())

    @property
    def k(self) -> int:
        return len(self.axes)

    def __call__(self, theta, *, chunk: int = 16384) -> np.ndarray:
        """Interpolated values at ``theta`` (n, k) -> (n, n_out); NaN outside the box or in a hole."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        out = np.empty((theta.shape[0], self.table.shape[1]))
        for s in range(0, theta.shape[0], chunk):
            out[s:s + chunk] = self._eval(theta[s:s + chunk])
        return out

    def _eval(self, theta):
        n = theta.shape[0]
        base = np.zeros(n, dtype=np.int64)
        w = np.ones((n, 1))
        offsets = np.zeros(1, dtype=np.int64)
        inside = np.all((theta >= self.bounds[:, 0]) & (theta <= self.bounds[:, 1]), axis=1)
        for j, a in enumerate(self.axes):
            i = np.clip(np.searchsorted(a, theta[:, j], side="right") - 1, 0, a.size - 2)
            frac = ((theta[:, j] - a[i]) / (a[i + 1] - a[i]))[:, None]
            base += i * self.strides[j]
            w = np.concatenate([w * (1.0 - frac), w * frac], axis=1)        # weights of the 2**k corners
            offsets = np.concatenate([offsets, offsets + self.strides[j]])
        v = self.table[np.minimum(base[:, None] + offsets, self.table.shape[0] - 1)]     # (n, 2**k, n_out)
        # a missing corner (NaN) of zero weight is harmless
        out = np.einsum("nc,nco->no", w, np.where(w[:, :, None] > 0, v, 0.0))
        out[~inside] = np.nan
        return out

    def sample(self, n: int, rng: np.random.Generator, *, max_tries: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """``n`` points drawn uniformly in the box, restricted to complete cells: (theta, values)."""
        thetas, vals, have = [], [], 0
        for _ in range(max_tries):
            need = int((n - have) * (1.0 + self.n_missing / self.table.shape[0]) * 1.1) + 16
            th = self.bounds[:, 0] + (self.bounds[:, 1] - self.bounds[:, 0]) * rng.random((need, self.k))
            v = self(th)
            ok = np.isfinite(v).all(axis=1)
            thetas.append(th[ok])
            vals.append(v[ok])
            have += int(ok.sum())
            if have >= n:
                break
        if have == 0:
            raise ValueError("the grid has no complete cell to interpolate in (too many holes)")
        return np.concatenate(thetas)[:n], np.concatenate(vals)[:n]

    def refined_nodes(self, factor: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Nodes plus ``factor - 1`` evenly spaced points inside every cell, along every axis: (theta, values)."""
        fine = [np.unique(np.concatenate([np.linspace(a[i], a[i + 1], factor + 1) for i in range(a.size - 1)]))
                for a in self.axes]
        mesh = np.stack(np.meshgrid(*fine, indexing="ij"), axis=-1).reshape(-1, self.k)
        v = self(mesh)
        ok = np.isfinite(v).all(axis=1)
        return mesh[ok], v[ok]

    def node_gap_residuals(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-node-out errors of the interpolant: ``(theta, delta)``, one row per node and axis.

        For every node with both neighbours along an axis (all three complete), ``delta`` (n, n_out) is
        the node's value minus the linear interpolation between those neighbours: what the interpolant
        would get wrong at that node had it been missing (the gap a held-out node slice leaves).
        ``theta`` (n, k) are the node coordinates.
        """
        idx = np.stack(np.unravel_index(np.arange(self.table.shape[0]), self.shape), axis=1)
        ok = np.isfinite(self.table).all(axis=1)
        thetas, deltas, where = [], [], []
        for j, a in enumerate(self.axes):
            inner = ok & (idx[:, j] > 0) & (idx[:, j] < a.size - 1)
            rows = np.flatnonzero(inner)
            left, right = rows - self.strides[j], rows + self.strides[j]
            both = ok[left] & ok[right]
            rows, left, right = rows[both], left[both], right[both]
            i = idx[rows, j]
            w = (a[i + 1] - a[i]) / (a[i + 1] - a[i - 1])       # weight of the left neighbour
            deltas.append(self.table[rows] - (w[:, None] * self.table[left] + (1 - w[:, None]) * self.table[right]))
            thetas.append(np.stack([ax[idx[rows, m]] for m, ax in enumerate(self.axes)], axis=1))
            where.append(np.column_stack([rows, np.full(rows.size, j)]))
        if not deltas:
            self._gap_where = np.empty((0, 2), dtype=np.int64)
            return np.empty((0, self.k)), np.empty((0, self.table.shape[1]))
        self._gap_where = np.concatenate(where).astype(np.int64)     # (flat node index, axis) of every row
        return np.concatenate(thetas), np.concatenate(deltas)

    def gap_axes(self) -> np.ndarray:
        """Axes with leave-one-node-out residuals (>= 3 nodes)."""
        if not hasattr(self, "_gap_where"):
            self.node_gap_residuals()
        return np.unique(self._gap_where[:, 1])

    def nearby_gap_rows(self, theta, rng: np.random.Generator, axis=None) -> np.ndarray:
        """Rows of :meth:`node_gap_residuals` measured near each point ``theta`` (n, k): (n,) indices.

        Interpolation errors vary across a grid by more than an order of magnitude (they scale with the
        local curvature of the line ratios and with the node spacing; RMS over the lines, 10th-90th
        percentile of the nodes: 0.005-0.10 dex on the MAPPINGS HII grid, 0.003-0.06 dex on the NLR grid),
        so a point's model error is drawn from a node of its own cell (a corner picked with
        the multilinear weights) along ``axis`` (an int or (n,) ints; default: a random axis with
        residuals); when that node has no residual along the axis (a grid edge or a missing neighbour),
        from the nearest node along the axis that has one, else from any node.
        """
        if not hasattr(self, "_gap_where"):
            self.node_gap_residuals()
        where = self._gap_where
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        n = theta.shape[0]
        if where.shape[0] == 0:
            raise ValueError("the grid has no leave-one-node-out residual (an axis needs >= 3 nodes)")
        lookup = np.full((self.table.shape[0], self.k), -1, dtype=np.int64)
        lookup[where[:, 0], where[:, 1]] = np.arange(where.shape[0])
        corner = np.empty((n, self.k), dtype=np.int64)
        for j, a in enumerate(self.axes):
            i = np.clip(np.searchsorted(a, theta[:, j], side="right") - 1, 0, a.size - 2)
            frac = np.clip((theta[:, j] - a[i]) / (a[i + 1] - a[i]), 0.0, 1.0)
            corner[:, j] = i + (rng.random(n) < frac)
        if axis is None:
            axes = np.unique(where[:, 1])
            axis = axes[rng.integers(0, axes.size, n)]
        else:
            axis = np.broadcast_to(np.asarray(axis, dtype=np.int64), (n,))
        rows = np.full(n, -1, dtype=np.int64)
        todo = np.ones(n, dtype=bool)
        # the node itself, then one and two steps inwards along the axis (an edge node has no residual)
        for step in (0, 1, -1, 2, -2):
            if not todo.any():
                break
            c = corner[todo].copy()
            ax = axis[todo]
            pos = c[np.arange(c.shape[0]), ax] + step
            size = np.asarray(self.shape)[ax]
            valid = (pos >= 0) & (pos < size)
            c[np.arange(c.shape[0]), ax] = np.clip(pos, 0, size - 1)
            got = np.where(valid, lookup[c @ self.strides, ax], -1)
            sel = np.flatnonzero(todo)
            rows[sel] = np.where(got >= 0, got, rows[sel])
            todo[sel[got >= 0]] = False
        if todo.any():
            rows[todo] = rng.integers(0, where.shape[0], int(todo.sum()))
        return rows

