"""Electron temperature and density from a pair of PyNeb diagnostics.

:class:`TeNeEstimator` inverts the forward map (log Te, log Ne) -> (ln r_T, ln r_N)
computed with PyNeb.  Two methods:

``"table"``
    A fine forward grid is computed once with PyNeb (vectorised
    ``Atom.getEmissivity`` on paired arrays) and replaced by its bicubic
    spline (values and gradients in closed form).  An *inverse* table over
    the ratio plane, built at fit time, gives a starting point for each
    observed pair by bilinear interpolation; a few vectorised Newton steps on
    the 2x2 system (``newton_steps``) then polish it to the root of the spline,
    which agrees with PyNeb to ~1e-8 in ln ratio.  ``newton_steps=0`` uses
    the inverse table alone (faster, ~1e-4 accurate).
``"nn"``
    A small multilayer perceptron trained (``agnlab.nn.fit_module``) on
    (ratio pair -> Te, Ne) samples of the same forward model.

PyNeb is needed only by :meth:`TeNeEstimator.fit`; :meth:`TeNeEstimator.save`
writes an ``agnlab.io`` artifact (npz + JSON, no pickle) that
:meth:`TeNeEstimator.load` restores without PyNeb.

Flags
-----
Every predicted pair gets an integer code in ``last_flags_`` (see
:data:`FLAG_CODES`); flagged rows are NaN in the output:

==  ======================  ===============================================================
0   ok                      inside the trained domain, solved
1   nonfinite_input         a ratio is NaN or infinite (missing line)
2   nonpositive_input       a ratio is <= 0 (zero or negative flux)
3   low_density_limit       density ratio at/beyond the low-density limit: no Ne reproduces it
                            (Ne below ~10^(log_ne_min - 2)); Ne is only bounded from above
4   high_density_limit      density ratio at/beyond the high-density limit (or the turnover of
                            the ratio): no Ne on the density-sensitive branch reproduces it
5   ne_below_range          a solution exists but log Ne < log_ne_range[0]
6   ne_above_range          a solution exists but log Ne > the density-sensitive upper bound
                            (min of log_ne_range[1] and the turnover minus ``fold_margin_dex``)
7   te_below_range          temperature ratio implies Te < te_range_k[0]
8   te_above_range          temperature ratio implies Te > te_range_k[1]
9   not_converged           Newton iteration did not reach the tolerance
==  ======================  ===============================================================
"""

from __future__ import annotations

import math
import time

import numpy as np
from sklearn.base import BaseEstimator

from .._validation import check_is_fitted
from ._bicubic import BicubicSurrogate
from ._forward import DiagnosticSpec, forward_grid, get_diagnostic

__all__ = ["TeNeEstimator", "FLAG_CODES", "FLAG_NAMES", "flag_summary"]

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

FLAG_NAMES = {
    0: "ok",
    1: "nonfinite_input",
    2: "nonpositive_input",
    3: "low_density_limit",
    4: "high_density_limit",
    5: "ne_below_range",
    6: "ne_above_range",
    7: "te_below_range",
    8: "te_above_range",
    9: "not_converged",
}

FLAG_CODES = {
    0: "ok: solved inside the trained Te/Ne domain",
    1: "non-finite input ratio (NaN/inf, e.g. a missing line)",
    2: "non-positive input ratio (zero or negative flux)",
    3: "density ratio at or beyond the low-density limit (unreachable; Ne only bounded from above)",
    4: "density ratio at or beyond the high-density limit / turnover (unreachable on the sensitive branch)",
    5: "solution has log Ne below the trained range",
    6: "solution has log Ne above the trained, density-sensitive range",
    7: "temperature ratio implies Te below the trained range",
    8: "temperature ratio implies Te above the trained range",
    9: "Newton iteration did not converge",
}

_KIND = "agnlab.nebular.TeNeEstimator"
_METHODS = ("table", "nn")


def flag_summary(flags):
    """Count flags by name.

    Parameters
    ----------
    flags : array_like of int
        E.g. ``estimator.last_flags_``.

    Returns
    -------
    dict
        Flag name -> count (only codes that occur).
    """
    flags = np.asarray(flags).ravel()
    codes, counts = np.unique(flags[flags >= 0], return_counts=True)
    return {FLAG_NAMES.get(int(c), str(int(c))): int(n) for c, n in zip(codes, counts)}


def _config_dict(cfg):
    """nn_config as JSON-able dict (or None)."""
    import dataclasses

    if cfg is None:
        return None
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg)


def _mlp(n_in, n_out, hidden):
    import torch

    layers = []
    prev = n_in
    for h in hidden:
        layers += [torch.nn.Linear(prev, int(h)), torch.nn.SiLU()]
        prev = int(h)
    layers.append(torch.nn.Linear(prev, n_out))
    return torch.nn.Sequential(*layers)


class TeNeEstimator(BaseEstimator):
    """Electron temperature and density from a temperature and a density diagnostic.

    Parameters
    ----------
    tem_diag : str
        PyNeb name of the temperature diagnostic (a key of ``pyneb.diags_dict``),
        e.g. ``"[OIII] 4363/5007"`` (4363/5007 alone) or ``"[OIII] 4363/5007+"``
        (4363/(4959+5007)), ``"[NII] 5755/6584"``.  The ratio is PyNeb's.
    den_diag : str
        PyNeb name of the density diagnostic, e.g. ``"[SII] 6731/6716"``,
        ``"[OII] 3726/3729"``, ``"[ArIV] 4740/4711"``, ``"[ClIII] 5538/5518"``.
    method : {"table", "nn"}
        Inverted interpolation table + Newton polishing, or neural network.
    te_range_k : (float, float)
        Trained temperature domain (K); outside it results are flagged.
    log_ne_range : (float, float)
        Trained log10 Ne domain (cm^-3).  The upper end is lowered, per Te,
        to stay ``fold_margin_dex`` below the turnover of the density ratio
        (where it stops being density sensitive; see ``ne_upper_log_``).
    grid_shape : (int, int)
        PyNeb forward-grid nodes in (log Te, log Ne).  The grid spans
        ``te_range_k`` widened by 0.1 dex and ``log_ne_range`` widened by 2 dex.
    newton_steps : int
        Newton steps applied to every pair ("table" method); 0 = inverse table
        only.  Pairs not converged after them get up to ``max_newton`` steps.
    max_newton : int
        Cap on Newton steps for slow pairs.
    tol : float
        Convergence tolerance on the ln-ratio residual (Newton).
    n_inverse : (int, int)
        Nodes of the inverse (ratio-plane) starting table.
    fold_margin_dex : float
        Distance kept below the turnover of the density ratio.
    nn_hidden : tuple of int
        Hidden layer widths ("nn").
    nn_train_size : int
        Training pairs sampled uniformly in the domain ("nn"); 10 % more for validation.
    nn_config : TrainConfig or dict, optional
        Training settings for :func:`agnlab.nn.fit_module`.
    random_state : int
        Seed (NN sampling and initialisation).
    chunk_size : int
        Pairs per chunk in :meth:`predict` (bounds memory).
    n_jobs : int
        Threads used by :meth:`predict` (NumPy releases the GIL in the
        vectorised Newton steps).
    progress : bool, optional
        Progress bar for long predictions (``None``: on a terminal only).

    Attributes
    ----------
    tem_spec_, den_spec_ : DiagnosticSpec
        The diagnostics (PyNeb ratio expressions and line labels).
    lines_ : list of str
        Line labels needed by :meth:`predict_from_lines` (PyNeb style, ``"O3_5007A"``).
    te_range_k_ : (float, float)
    log_ne_range_ : (float, float)
    ne_upper_log_ : float
        Upper bound of the density-sensitive domain at Te = 10^4 K.
    last_flags_ : ndarray of int8, shape (n,)
        Flag codes of the last :meth:`predict` call (see :data:`FLAG_CODES`).
    fit_info_ : dict
        Timing and training diagnostics.

    Notes
    -----
    Density ratios such as [S II] 6731/6716 turn over at high density (near
    log Ne ~ 5.5 for [S II]); a pair measured beyond the turnover is
    reproduced by a second, lower density on the sensitive branch, and that
    is the solution returned (the map is only invertible on the sensitive
    branch, which is what the trained domain covers).  Use
    ``agnlab.inference.solution_set`` with :meth:`forward` to see every
    consistent (Te, Ne).

    The forward grid is cached per process (PyNeb atoms and grids), so
    fitting several estimators on the same diagnostics is cheap.

    Examples
    --------
    >>> from agnlab.nebular import TeNeEstimator, diagnostic_ratio
    >>> est = TeNeEstimator(grid_shape=(120, 120)).fit()
    >>> X = [[diagnostic_ratio("[OIII] 4363/5007", 1.2e4, 1e3),
    ...       diagnostic_ratio("[SII] 6731/6716", 1.2e4, 1e3)]]
    >>> te_k, log_ne = est.predict(X)[0]
    >>> round(float(te_k)), round(float(log_ne), 2)
    (12000, 3.0)
    """

    def __init__(self, tem_diag="[OIII] 4363/5007", den_diag="[SII] 6731/6716", method="table", *,
                 te_range_k=(5000.0, 25000.0), log_ne_range=(0.0, 6.0), grid_shape=(200, 200),
                 newton_steps=2, max_newton=30, tol=1e-9, n_inverse=(512, 512), fold_margin_dex=0.3,
                 nn_hidden=(64, 64, 64), nn_train_size=100_000, nn_config=None, random_state=0,
                 chunk_size=65536, n_jobs=1, progress=None):
        self.tem_diag = tem_diag
        self.den_diag = den_diag
        self.method = method
        self.te_range_k = te_range_k
        self.log_ne_range = log_ne_range
        self.grid_shape = grid_shape
        self.newton_steps = newton_steps
        self.max_newton = max_newton
        self.tol = tol
        self.n_inverse = n_inverse
        self.fold_margin_dex = fold_margin_dex
        self.nn_hidden = nn_hidden
        self.nn_train_size = nn_train_size
        self.nn_config = nn_config
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.progress = progress

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        te = tuple(float(x) for x in self.te_range_k)
        if len(te) != 2 or not (0 < te[0] < te[1]) or not all(map(math.isfinite, te)):
            raise ValueError(f"te_range_k must be (low, high) with 0 < low < high, got {self.te_range_k}")
        ne = tuple(float(x) for x in self.log_ne_range)
        if len(ne) != 2 or not (ne[0] < ne[1]) or not all(map(math.isfinite, ne)):
            raise ValueError(f"log_ne_range must be (low, high) with low < high, got {self.log_ne_range}")
        gs = tuple(int(x) for x in self.grid_shape)
        if len(gs) != 2 or min(gs) < 16:
            raise ValueError(f"grid_shape must be two ints >= 16, got {self.grid_shape}")
        ni = tuple(int(x) for x in self.n_inverse)
        if len(ni) != 2 or min(ni) < 8:
            raise ValueError(f"n_inverse must be two ints >= 8, got {self.n_inverse}")
        if int(self.newton_steps) < 0 or int(self.max_newton) < int(self.newton_steps):
            raise ValueError("need 0 <= newton_steps <= max_newton")
        if not self.tol > 0:
            raise ValueError(f"tol must be > 0, got {self.tol}")
        if int(self.chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        return te, ne, gs, ni

    # ------------------------------------------------------------------ fit
    def fit(self, X=None, y=None):
        """Build the inverse model from PyNeb forward grids.

        Parameters
        ----------
        X, y : ignored
            Present for scikit-learn compatibility; no data are needed.

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        te, ne, gs, ni = self._check_params()
        tem_spec = get_diagnostic(self.tem_diag)
        den_spec = get_diagnostic(self.den_diag)
        if tem_spec.name == den_spec.name:
            raise ValueError("tem_diag and den_diag must be different diagnostics")
        u = np.linspace(math.log10(te[0]) - 0.1, math.log10(te[1]) + 0.1, gs[0])
        v = np.linspace(ne[0] - 2.0, ne[1] + 2.0, gs[1])
        r_t = forward_grid(tem_spec.name, u, v)
        r_n = forward_grid(den_spec.name, u, v)
        if not (np.all(np.isfinite(r_t)) and np.all(r_t > 0) and np.all(np.isfinite(r_n)) and np.all(r_n > 0)):
            raise ValueError("PyNeb returned non-finite or non-positive ratios on the forward grid; "
                             "narrow te_range_k / log_ne_range")
        t_grid = time.perf_counter() - t0
        self._setup(tem_spec, den_spec, te, ne, u, v, np.stack([np.log(r_t), np.log(r_n)]))
        self._build_inverse_table(ni)
        self.fit_info_ = {"grid_seconds": t_grid, "grid_shape": list(gs)}
        if self.method == "nn":
            self._fit_nn()
        self.fit_info_["fit_seconds"] = time.perf_counter() - t0
        return self

    def _setup(self, tem_spec, den_spec, te, ne, u, v, z):
        """Derived quantities shared by fit and load."""
        self.tem_spec_ = tem_spec
        self.den_spec_ = den_spec
        self.lines_ = list(dict.fromkeys(tem_spec.lines + den_spec.lines))
        self.te_range_k_ = te
        self.log_ne_range_ = ne
        self._u, self._v, self._z = u, v, z
        self._sur = BicubicSurrogate(u, v, z)
        self._box_u = (float(u[0]), float(u[-1]))
        self._dom_u = (math.log10(te[0]), math.log10(te[1]))
        uu, vv = np.meshgrid(u, v, indexing="ij")
        _, fu, fv = self._sur(uu.ravel(), vv.ravel(), grad=True)
        det = (fu[:, 0] * fv[:, 1] - fv[:, 0] * fu[:, 1]).reshape(uu.shape)
        dom = ((uu >= self._dom_u[0]) & (uu <= self._dom_u[1]) & (vv >= ne[0]) & (vv <= ne[1]))
        a_t = np.median(np.abs(fu[:, 0].reshape(uu.shape)[dom]))
        c_t = np.median(np.abs(fu[:, 1].reshape(uu.shape)[dom]))
        d_n = np.max(np.abs(fv[:, 1].reshape(uu.shape)[dom]))
        if a_t < 1.0:
            raise ValueError(f"{tem_spec.name!r} is not a temperature diagnostic: median |d ln r / d log Te| "
                             f"= {a_t:.3g} < 1 in the trained domain")
        if c_t > 0.2 * a_t or d_n < 0.1:
            raise ValueError(f"the pair ({tem_spec.name!r}, {den_spec.name!r}) cannot be inverted: "
                             f"{den_spec.name!r} is not a density diagnostic here (temperature sensitivity "
                             f"{c_t:.3g}, max density sensitivity {d_n:.3g} per dex)")
        sgn = np.sign(np.median(det[dom]))
        sdet = sgn * det
        scale = np.max(np.abs(det[dom]))
        if sgn == 0 or not np.isfinite(scale) or np.mean(sdet[dom] > 1e-6 * scale) < 0.5:
            raise ValueError(f"the pair ({tem_spec.name!r}, {den_spec.name!r}) cannot be inverted: the two "
                             "ratios do not separate Te and Ne (is one a temperature and the other a "
                             "density diagnostic?)")
        self._det_sign = float(sgn)
        self._dn_sign = float(np.sign(np.median(fv[:, 1].reshape(uu.shape)[dom])))
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
        self._v_fold = v_fold
        self._v_hi = np.minimum(ne[1], v_fold - float(self.fold_margin_dex))
        if np.any(self._v_hi <= ne[0]):
            raise ValueError("the density diagnostic is not density sensitive anywhere in log_ne_range")
        self.ne_upper_log_ = float(np.interp(4.0, u, self._v_hi))

    def _vfold(self, u):
        return np.interp(u, self._u, self._v_fold)

    def _vhi(self, u):
        return np.interp(u, self._u, self._v_hi)

    # ------------------------------------------------------------------ Newton core
    def _newton(self, y, u, v, n_steps):
        """Newton iterations on the spline, projected onto the box.

        The Jacobian is evaluated at the starting point and re-used for the
        next two steps (chord steps cost one value evaluation; the starting
        points from the inverse table are close enough for them to converge
        to ~machine precision); from the fourth step on it is refreshed
        every step.  Pairs pinned against the box stop iterating.

        Returns
        -------
        u, v : ndarray
        converged : ndarray of bool
            Max |ln-ratio residual| < ``tol``.
        resid : ndarray
        """
        u0b, u1b = self._box_u
        v0b = float(self._v[0])
        vfold_min = float(self._v_fold.min())
        tol = float(self.tol)
        conv = np.zeros(u.size, dtype=bool)
        resid = np.full(u.size, np.inf)
        idx = np.arange(u.size)
        a = b = c = d = None
        for it in range(n_steps + 1):
            last = it == n_steps
            need_jac = not last and (it == 0 or it >= 3)
            if need_jac:
                f, fu, fv = self._sur(u[idx], v[idx], grad=True)
            else:
                f = self._sur(u[idx], v[idx])
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
                vn[high] = np.minimum(vn[high], self._vfold(un[high]))
            moved = (np.abs(un - uo) > 1e-13) | (np.abs(vn - vo) > 1e-13)
            u[idx], v[idx] = un, vn
            # pairs pinned against the box (unreachable ratios) stop iterating
            if not moved.all():
                idx = idx[moved]
                a, b, c, d = a[moved], b[moved], c[moved], d[moved]
            if idx.size == 0:
                break
        return u, v, conv, resid

    def _build_inverse_table(self, ni):
        from scipy import ndimage
        from scipy.spatial import cKDTree

        u, v = self._u, self._v
        uu, vv = np.meshgrid(u, v, indexing="ij")
        inside = vv <= self._vfold(uu)
        zu = self._z[0][inside]
        zv = self._z[1][inside]
        y1 = np.linspace(zu.min(), zu.max(), ni[0])
        y2 = np.linspace(zv.min(), zv.max(), ni[1])
        Y1, Y2 = np.meshgrid(y1, y2, indexing="ij")
        y = np.stack([Y1.ravel(), Y2.ravel()], axis=1)
        scale = np.array([zu.std(), zv.std()])
        tree = cKDTree(np.stack([zu, zv], axis=1) / scale)
        _, nn_idx = tree.query(y / scale)
        ug = uu[inside][nn_idx].copy()
        vg = vv[inside][nn_idx].copy()
        ug, vg, conv, _ = self._newton(y, ug, vg, int(self.max_newton))
        valid = conv & (vg > v[0] + 1e-9) & (ug > u[0] + 1e-9) & (ug < u[-1] - 1e-9)
        valid = valid.reshape(ni)
        ug = ug.reshape(ni)
        vg = vg.reshape(ni)
        if not valid.any():  # pragma: no cover - guarded by the invertibility check
            raise RuntimeError("could not build the inverse table")
        # fill invalid nodes with the nearest valid solution (a starting point only)
        _, (ii, jj) = ndimage.distance_transform_edt(~valid, return_indices=True)
        self._inv_y1 = (float(y1[0]), float(y1[1] - y1[0]), ni[0])
        self._inv_y2 = (float(y2[0]), float(y2[1] - y2[0]), ni[1])
        self._inv_u = ug[ii, jj]
        self._inv_v = vg[ii, jj]
        self._inv_valid = valid

    def _inverse_guess(self, y):
        a0, ha, na = self._inv_y1
        b0, hb, nb = self._inv_y2
        fa = np.clip((y[:, 0] - a0) / ha, 0.0, na - 1.000001)
        fb = np.clip((y[:, 1] - b0) / hb, 0.0, nb - 1.000001)
        ia = fa.astype(np.intp)
        ib = fb.astype(np.intp)
        wa = fa - ia
        wb = fb - ib
        out = []
        for tab in (self._inv_u, self._inv_v):
            q = ((1 - wa) * (1 - wb) * tab[ia, ib] + wa * (1 - wb) * tab[ia + 1, ib]
                 + (1 - wa) * wb * tab[ia, ib + 1] + wa * wb * tab[ia + 1, ib + 1])
            out.append(q)
        return out[0], out[1]

    # ------------------------------------------------------------------ classification
    def _classify(self, y, u, v, converged):
        flags = np.zeros(u.size, dtype=np.int8)
        nc = ~converged
        if nc.any():
            i = np.nonzero(nc)[0]
            lo = self._sur(u[i], np.full(i.size, self._v[0]))[:, 1]
            hi = self._sur(u[i], self._vfold(u[i]))[:, 1]
            s = self._dn_sign
            f = np.full(i.size, FLAG_NOT_CONVERGED, dtype=np.int8)
            eps = 1e-9
            f[(u[i] >= self._box_u[1] - eps)] = FLAG_TE_ABOVE
            f[(u[i] <= self._box_u[0] + eps)] = FLAG_TE_BELOW
            f[s * (y[i, 1] - hi) > 0] = FLAG_HIGH_DENSITY_LIMIT
            f[s * (y[i, 1] - lo) < 0] = FLAG_LOW_DENSITY_LIMIT
            flags[i] = f
        c = converged
        vhi = self._vhi(u)
        flags[c & (v > vhi)] = FLAG_NE_ABOVE
        flags[c & (v < self.log_ne_range_[0])] = FLAG_NE_BELOW
        flags[c & (u > self._dom_u[1])] = FLAG_TE_ABOVE
        flags[c & (u < self._dom_u[0])] = FLAG_TE_BELOW
        return flags

    # ------------------------------------------------------------------ NN
    def _nn_scalers(self):
        return (self._nn_x_mean, self._nn_x_std, np.array([self._dom_u[0], self.log_ne_range_[0]]),
                np.array([self._dom_u[1] - self._dom_u[0], float(self._v_hi.max()) - self.log_ne_range_[0]]))

    def _fit_nn(self):
        import torch

        from .._validation import check_random_state, from_dict
        from ..nn import TrainConfig, fit_module

        rng = check_random_state(self.random_state)
        n = int(self.nn_train_size)
        if n < 100:
            raise ValueError(f"nn_train_size must be >= 100, got {n}")
        n_all = int(n * 1.1)
        # rejection-sample uniformly in the (log Te, log Ne) domain below the per-Te upper bound
        us, vs = [], []
        have = 0
        while have < n_all:
            uu = rng.uniform(self._dom_u[0], self._dom_u[1], 2 * n_all)
            vv = rng.uniform(self.log_ne_range_[0], float(self._v_hi.max()), 2 * n_all)
            keep = vv <= self._vhi(uu)
            us.append(uu[keep])
            vs.append(vv[keep])
            have += int(keep.sum())
        uu = np.concatenate(us)[:n_all]
        vv = np.concatenate(vs)[:n_all]
        X = self._sur(uu, vv)
        self._nn_x_mean = X.mean(axis=0)
        self._nn_x_std = X.std(axis=0)
        xm, xs, ym, ys = self._nn_scalers()
        Xs = ((X - xm) / xs).astype(np.float32)
        Ys = ((np.stack([uu, vv], axis=1) - ym) / ys).astype(np.float32)
        cfg = self.nn_config
        if cfg is None:
            cfg = TrainConfig(lr=2e-3, batch_size=512, max_epochs=150, patience=15, seed=int(self.random_state))
        elif isinstance(cfg, dict):
            cfg = from_dict(TrainConfig, cfg)
        torch.manual_seed(int(self.random_state))
        module = _mlp(2, 2, self.nn_hidden)
        info = fit_module(module, Xs[:n], Ys[:n], Xs[n:], Ys[n:], config=cfg, progress=self.progress,
                          desc="TeNe NN")
        self._nn = module.eval()
        self.fit_info_["nn_best_val_loss"] = float(info["best_val_loss"])
        self.fit_info_["nn_best_epoch"] = int(info["best_epoch"])
        self.fit_info_["nn_train_seconds"] = float(info["train_seconds"])

    def _predict_nn(self, y):
        from ..nn import predict_batched

        xm, xs, ym, ys = self._nn_scalers()
        out = predict_batched(self._nn, ((y - xm) / xs).astype(np.float32), batch_size=len(y))
        out = out.astype(float) * ys + ym
        u, v = out[:, 0], out[:, 1]
        u = np.clip(u, *self._box_u)
        v = np.clip(v, self._v[0], self._vfold(u))
        # limit checks use the forward surrogate at the predicted Te
        flags = self._classify(y, u, v, np.zeros(u.size, dtype=bool))
        # NN has no residual: un-flag "not converged" rows, then apply domain checks
        free = flags == FLAG_NOT_CONVERGED
        flags[free] = self._classify(y[free], u[free], v[free], np.ones(int(free.sum()), dtype=bool))
        return u, v, flags

    # ------------------------------------------------------------------ predict
    def _predict_chunk(self, y):
        if self.method == "nn":
            return self._predict_nn(y)
        u, v = self._inverse_guess(y)
        steps = int(self.newton_steps)
        if steps == 0:
            f = self._sur(u, v)
            ok = np.max(np.abs(f - y), axis=1) < 1e-3
            ok &= self._inv_valid_at(y)
            return u, v, self._classify(y, u, v, ok)
        u, v, conv, _ = self._newton(y, u, v, steps)
        slow = ~conv
        if slow.any() and int(self.max_newton) > steps:
            i = np.nonzero(slow)[0]
            u2, v2, c2, _ = self._newton(y[i], u[i], v[i], int(self.max_newton) - steps)
            u[i], v[i], conv[i] = u2, v2, c2
        return u, v, self._classify(y, u, v, conv)

    def _inv_valid_at(self, y):
        a0, ha, na = self._inv_y1
        b0, hb, nb = self._inv_y2
        fa = (y[:, 0] - a0) / ha
        fb = (y[:, 1] - b0) / hb
        inside = (fa >= 0) & (fa <= na - 1) & (fb >= 0) & (fb <= nb - 1)
        ia = np.clip(fa, 0, na - 1.000001).astype(np.intp)
        ib = np.clip(fb, 0, nb - 1.000001).astype(np.intp)
        V = self._inv_valid
        return inside & V[ia, ib] & V[ia + 1, ib] & V[ia, ib + 1] & V[ia + 1, ib + 1]

    def predict(self, X):
        """Te and log Ne for ratio pairs.

        Parameters
        ----------
        X : array_like, shape (n, 2)
            Columns: temperature-diagnostic ratio, density-diagnostic ratio
            (line-intensity ratios exactly as PyNeb defines the diagnostics).
            NaN/inf and non-positive entries are allowed and flagged.

        Returns
        -------
        ndarray, shape (n, 2)
            Columns: Te (K), log10 Ne (cm^-3); NaN where flagged.  The flag
            codes are in ``last_flags_`` (see :data:`FLAG_CODES`).
        """
        out, flags = self.predict_with_flags(X)
        self.last_flags_ = flags
        return out

    def predict_with_flags(self, X, *, n_jobs=None, progress=None):
        """Like :meth:`predict` but returns the flags instead of storing them.

        Thread safe (does not modify the estimator).

        Parameters
        ----------
        X : array_like, shape (n, 2)
        n_jobs : int, optional
            Threads working on chunks (default ``self.n_jobs``).
        progress : bool, optional
            Progress bar (default ``self.progress``).

        Returns
        -------
        out : ndarray, shape (n, 2)
            [Te (K), log10 Ne (cm^-3)], NaN where flagged.
        flags : ndarray of int8, shape (n,)
        """
        check_is_fitted(self, ["_sur"])
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"X must have shape (n, 2) = [tem ratio, den ratio], got {X.shape}")
        n = X.shape[0]
        out = np.full((n, 2), np.nan)
        flags = np.zeros(n, dtype=np.int8)
        finite = np.isfinite(X).all(axis=1)
        flags[~finite] = FLAG_NONFINITE
        pos = finite & (X > 0).all(axis=1)
        flags[finite & ~pos] = FLAG_NONPOSITIVE
        good = np.nonzero(pos)[0]
        cs = int(self.chunk_size)
        chunks = [good[s:s + cs] for s in range(0, good.size, cs)]

        def work(i):
            y = np.log(X[i])
            u, v, f = self._predict_chunk(y)
            flags[i] = f
            ok = f == FLAG_OK
            out[i[ok], 0] = 10.0 ** u[ok]
            out[i[ok], 1] = v[ok]

        from .._progress import progress as _progress

        show = self.progress if progress is None else progress
        disable = True if len(chunks) <= 4 else (None if show is None else not show)
        jobs = int(self.n_jobs if n_jobs is None else n_jobs)
        with _progress(total=len(chunks), desc="Te/Ne inversion", disable=disable, unit="chunk") as bar:
            if jobs <= 1 or len(chunks) <= 1:
                for i in chunks:
                    work(i)
                    bar.update(1)
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    for _ in pool.map(work, chunks):
                        bar.update(1)
        return out, flags

    def predict_from_lines(self, fluxes):
        """Te and log Ne from line intensities.

        Parameters
        ----------
        fluxes : mapping
            Line label -> array (any common shape); labels in ``lines_``
            (e.g. ``"O3_4363A"``, ``"O3_5007A"``, ``"S2_6716A"``, ``"S2_6731A"``).
            Non-positive or NaN fluxes are flagged per element.

        Returns
        -------
        te_k, log_ne : ndarray
            Same shape as the flux arrays; flags in ``last_flags_`` (same shape).
        """
        check_is_fitted(self, ["_sur"])
        missing = [k for k in self.lines_ if k not in fluxes]
        if missing:
            raise KeyError(f"missing line(s) {missing}; {self.tem_spec_.name!r} and {self.den_spec_.name!r} "
                           f"need {self.lines_}")
        arrs = {k: np.asarray(fluxes[k], dtype=float) for k in self.lines_}
        shape = np.broadcast_shapes(*(a.shape for a in arrs.values()))
        arrs = {k: np.broadcast_to(a, shape).ravel() for k, a in arrs.items()}
        nonpos = np.zeros(int(np.prod(shape)), dtype=bool)
        for a in arrs.values():
            nonpos |= np.isfinite(a) & (a <= 0)
        X = np.stack([self.tem_spec_.ratio_from_lines(arrs), self.den_spec_.ratio_from_lines(arrs)], axis=1)
        X[nonpos] = -1.0  # flagged as non-positive, whatever the ratio of two negatives
        out = self.predict(X)
        self.last_flags_ = self.last_flags_.reshape(shape)
        return out[:, 0].reshape(shape), out[:, 1].reshape(shape)

    def forward(self, te_k, log_ne):
        """Diagnostic ratios predicted by the fitted surrogate (no PyNeb needed).

        Parameters
        ----------
        te_k, log_ne : array_like
            Broadcast together; must lie inside the forward grid
            (``te_range_k`` +- 0.1 dex, ``log_ne_range`` +- 2 dex).

        Returns
        -------
        ndarray, shape (..., 2)
            [tem ratio, den ratio].
        """
        check_is_fitted(self, ["_sur"])
        te, ln = np.broadcast_arrays(np.asarray(te_k, dtype=float), np.asarray(log_ne, dtype=float))
        u = np.log10(te.ravel())
        v = ln.ravel()
        bad = ~((u >= self._u[0]) & (u <= self._u[-1]) & (v >= self._v[0]) & (v <= self._v[-1]))
        if bad.any():
            raise ValueError(f"{int(bad.sum())} (te_k, log_ne) points lie outside the forward grid "
                             f"(Te {10 ** self._u[0]:.0f}-{10 ** self._u[-1]:.0f} K, "
                             f"log Ne {self._v[0]:g}-{self._v[-1]:g})")
        return np.exp(self._sur(u, v)).reshape(te.shape + (2,))

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted estimator to an ``agnlab.io`` artifact (npz + JSON).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
        """
        from ..io import save_artifact

        check_is_fitted(self, ["_sur"])
        arrays = {"grid_log_te": self._u, "grid_log_ne": self._v, "grid_ln_ratio": self._z,
                  "inv_u": self._inv_u, "inv_v": self._inv_v, "inv_valid": self._inv_valid.astype(np.uint8)}
        meta = {
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()
                       if k != "nn_config"},
            "nn_config": _config_dict(self.nn_config),
            "tem_spec": self.tem_spec_.__dict__, "den_spec": self.den_spec_.__dict__,
            "te_range_k": list(self.te_range_k_), "log_ne_range": list(self.log_ne_range_),
            "inv_y1": list(self._inv_y1), "inv_y2": list(self._inv_y2),
            "fit_info": self.fit_info_,
        }
        try:
            import pyneb

            meta["pyneb_version"] = pyneb.__version__
        except ImportError:  # pragma: no cover
            meta["pyneb_version"] = None
        if self.method == "nn":
            from ..nn import module_to_arrays

            arrays.update(module_to_arrays(self._nn))
            arrays["nn_x_mean"] = self._nn_x_mean
            arrays["nn_x_std"] = self._nn_x_std
        return save_artifact(path, kind=_KIND, arrays=arrays, metadata=meta)

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save` (PyNeb not needed).

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        TeNeEstimator
        """
        from ..io import ArtifactError, load_artifact

        arrays, meta = load_artifact(path, kind=_KIND)
        try:
            params = dict(meta["params"])
            for k in ("te_range_k", "log_ne_range", "grid_shape", "n_inverse", "nn_hidden"):
                params[k] = tuple(params[k])
            tem_diag = params.pop("tem_diag")
            den_diag = params.pop("den_diag")
            method = params.pop("method")
            est = cls(tem_diag, den_diag, method, nn_config=meta.get("nn_config"), **params)
            ts, ds = meta["tem_spec"], meta["den_spec"]
            tem_spec = DiagnosticSpec(**{**ts, "lines": tuple(ts["lines"])})
            den_spec = DiagnosticSpec(**{**ds, "lines": tuple(ds["lines"])})
            est._setup(tem_spec, den_spec, tuple(meta["te_range_k"]), tuple(meta["log_ne_range"]),
                       arrays["grid_log_te"], arrays["grid_log_ne"], arrays["grid_ln_ratio"])
            est._inv_u = arrays["inv_u"]
            est._inv_v = arrays["inv_v"]
            est._inv_valid = arrays["inv_valid"].astype(bool)
            y1, y2 = meta["inv_y1"], meta["inv_y2"]
            est._inv_y1 = (float(y1[0]), float(y1[1]), int(y1[2]))
            est._inv_y2 = (float(y2[0]), float(y2[1]), int(y2[2]))
            est.fit_info_ = dict(meta.get("fit_info", {}))
            if method == "nn":
                from ..nn import arrays_to_module

                module = _mlp(2, 2, est.nn_hidden)
                arrays_to_module(module, arrays)
                est._nn = module.eval()
                est._nn_x_mean = arrays["nn_x_mean"]
                est._nn_x_std = arrays["nn_x_std"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: malformed TeNeEstimator artifact ({exc})") from None
        return est
