"""The Te/Ne estimator: electron temperature and density from a pair of PyNeb diagnostics.

:class:`TeNeEstimator` inverts the forward map (log Te, log Ne) -> (ln r_T, ln r_N)
computed with PyNeb. Two methods:

``"table"``
    A fine forward grid is computed once with PyNeb (vectorised
    ``Atom.getEmissivity`` on paired arrays) and replaced by its bicubic
    spline (:class:`~agnlab.nebular._ratio_map.RatioMap`). An inverse table
    over the ratio plane (:mod:`._inverse_table`), built at fit time, gives a
    starting point for each observed pair by bilinear interpolation; a few
    vectorised Newton steps (:mod:`._newton`, ``newton_steps``) then polish it
    to the root of the spline, which agrees with PyNeb to ~1e-8 in ln ratio.
    ``newton_steps=0`` uses the inverse table alone (faster, ~1e-4 accurate).
``"nn"``
    A small :class:`agnlab.nn.MLP` trained (``agnlab.nn.fit_module``) on
    (ratio pair -> Te, Ne) samples of the same forward model.

Per-element flags (strings, ``"ok"`` when fine) are described in
:mod:`._temden_flags` and returned by ``predict(X, return_flags=True)``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._domain import OutOfDomainError, check_on_out_of_domain
from .._estimator import AgnlabEstimator, compute_context
from ._forward import DiagnosticSpec, forward_grid, get_diagnostic
from ._inverse_table import InverseTable
from ._newton import newton_solve
from ._ratio_map import RatioMap
from ._temden_flags import (
    FLAG_DESCRIPTIONS,
    FLAG_LOW_DENSITY_LIMIT,
    FLAG_NONFINITE,
    FLAG_NONPOSITIVE,
    FLAG_NOT_CONVERGED,
    FLAG_OK,
    FLAG_TE_ABOVE,
    classify,
    flag_names,
)

__all__ = ["TeNeEstimator"]

_METHODS = ("table", "nn")


def _config_dict(cfg):
    """nn_config as a JSON-able dict (or None)."""
    import dataclasses

    if cfg is None:
        return None
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg)


def _spec_from_meta(d) -> DiagnosticSpec:
    return DiagnosticSpec(**{**d, "lines": tuple(d["lines"])})


class TeNeEstimator(AgnlabEstimator):
    """Electron temperature and density from a temperature and a density diagnostic.

    Not a data-fitted estimator: :meth:`fit` builds the inverse model from
    PyNeb's atomic data (a forward grid over the trained Te/Ne domain), so it
    needs no training data and ignores ``X`` and ``y``. It still follows the
    scikit-learn API and can sit at the end of a
    :class:`sklearn.pipeline.Pipeline` whose earlier steps turn a table into
    the ``(n, 2)`` ratio pairs: ``Pipeline.fit(table)`` fits the earlier steps
    and calls ``fit(X_ratios)`` here, which builds the same model as
    ``fit()`` (a no-op on the data); ``Pipeline.predict(table)`` inverts the
    ratios.

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
        Hidden layer widths ("nn"; SiLU activations).
    nn_train_size : int
        Training pairs sampled uniformly in the domain ("nn"); ``validation_fraction``
        of the sampled pairs more are held out for early stopping.
    nn_config : TrainConfig or dict, optional
        Training settings for :func:`agnlab.nn.fit_module` (its ``seed`` is
        drawn from ``random_state`` when not given).
    random_state : int, numpy Generator or None
        Seed of the NN sampling, split and initialisation ("table" is deterministic).
    validation_fraction : float
        Fraction of the sampled pairs held out for early stopping ("nn").
    chunk_size : int
        Pairs per chunk in :meth:`predict` (bounds memory).
    n_jobs : int, optional
        Threads working on chunks in :meth:`predict` (NumPy releases the GIL in
        the vectorised Newton steps) and torch threads of the "nn" method;
        ``None``: one chunk thread, the process' thread settings.
    progress : bool, optional
        Progress bar for long predictions and NN training (``None``: on a terminal only).
    on_out_of_domain : {"nan", "raise"}
        Pairs outside the trained domain (the limit and range flags of
        :data:`agnlab.nebular.OUT_OF_DOMAIN_FLAGS`): NaN and a flag, or
        :class:`agnlab.OutOfDomainError`. Missing or non-positive ratios are
        always flagged, never raised (a cube has spaxels without data).

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
    training_record_ : dict
        ``grid_seconds``, ``grid_shape``, ``fit_seconds``; for "nn" also
        ``nn_n_train``, ``nn_n_validation``, ``nn_best_val_loss``,
        ``nn_best_epoch``, ``nn_train_seconds`` and ``history``.

    Notes
    -----
    Density ratios such as [S II] 6731/6716 turn over at high density (near
    log Ne ~ 5.5 for [S II]); a pair measured beyond the turnover is
    reproduced by a second, lower density on the sensitive branch, and that
    is the solution returned (the map is only invertible on the sensitive
    branch, which is what the trained domain covers).  Use
    ``agnlab.inference.solution_set`` with :meth:`forward` (or
    :func:`agnlab.nebular.temden_forward`) to see every consistent (Te, Ne).

    The forward grid is cached per process (PyNeb atoms and grids), so
    fitting several estimators on the same diagnostics is cheap.

    Examples
    --------
    >>> from agnlab.nebular import TeNeEstimator, diagnostic_ratio
    >>> est = TeNeEstimator(grid_shape=(120, 120)).fit()
    >>> X = [[diagnostic_ratio("[OIII] 4363/5007", 1.2e4, 1e3),
    ...       diagnostic_ratio("[SII] 6731/6716", 1.2e4, 1e3)],
    ...      [float("nan"), 1.0]]
    >>> out, flags = est.predict(X, return_flags=True)
    >>> round(float(out[0, 0])), round(float(out[0, 1]), 2), flags.tolist()
    (12000, 3.0, ['ok', 'nonfinite_input'])
    """

    _fitted_attributes = ("tem_spec_", "den_spec_", "lines_")

    def __init__(self, tem_diag="[OIII] 4363/5007", den_diag="[SII] 6731/6716", method="table", *,
                 te_range_k=(5000.0, 25000.0), log_ne_range=(0.0, 6.0), grid_shape=(200, 200),
                 newton_steps=2, max_newton=30, tol=1e-9, n_inverse=(512, 512), fold_margin_dex=0.3,
                 nn_hidden=(64, 64, 64), nn_train_size=100_000, nn_config=None, random_state=0,
                 validation_fraction=0.1, chunk_size=65536, n_jobs=None, progress=None,
                 on_out_of_domain="nan"):
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
        self.validation_fraction = validation_fraction
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.progress = progress
        self.on_out_of_domain = on_out_of_domain

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        try:
            te = tuple(float(x) for x in self.te_range_k)
            ne = tuple(float(x) for x in self.log_ne_range)
            gs = tuple(int(x) for x in self.grid_shape)
            ni = tuple(int(x) for x in self.n_inverse)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"te_range_k, log_ne_range, grid_shape and n_inverse must be pairs of numbers ({exc})"
                             ) from None
        if len(te) != 2 or not all(map(math.isfinite, te)) or not (0 < te[0] < te[1]):
            raise ValueError(f"te_range_k must be (low, high) with 0 < low < high, got {self.te_range_k}")
        if len(ne) != 2 or not all(map(math.isfinite, ne)) or not (ne[0] < ne[1]):
            raise ValueError(f"log_ne_range must be (low, high) with low < high, got {self.log_ne_range}")
        if len(gs) != 2 or min(gs) < 16:
            raise ValueError(f"grid_shape must be two ints >= 16, got {self.grid_shape}")
        if len(ni) != 2 or min(ni) < 8:
            raise ValueError(f"n_inverse must be two ints >= 8, got {self.n_inverse}")
        if int(self.newton_steps) < 0 or int(self.max_newton) < int(self.newton_steps):
            raise ValueError("need 0 <= newton_steps <= max_newton")
        if not self.tol > 0:
            raise ValueError(f"tol must be > 0, got {self.tol}")
        if int(self.chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        check_on_out_of_domain(self.on_out_of_domain)
        return te, ne, gs, ni

    # ------------------------------------------------------------------ fit
    def fit(self, X=None, y=None):
        """Build the inverse model from PyNeb forward grids.

        Parameters
        ----------
        X, y : ignored
            No training data are needed (see the class docstring); accepted so
            that the estimator can end a scikit-learn Pipeline.

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
        self._inv = InverseTable.build(self._map, ni, max_newton=int(self.max_newton), tol=float(self.tol))
        record = {"grid_seconds": t_grid, "grid_shape": list(gs)}
        self._nn = None
        if self.method == "nn":
            record.update(self._fit_nn())
        record["fit_seconds"] = time.perf_counter() - t0
        self.training_record_ = record
        return self

    def _setup(self, tem_spec, den_spec, te, ne, u, v, z):
        """Derived quantities shared by fit and load."""
        rmap = RatioMap(u, v, z, te, ne, self.fold_margin_dex, tem_spec.name, den_spec.name)
        self.tem_spec_ = tem_spec
        self.den_spec_ = den_spec
        self.lines_ = list(dict.fromkeys(tem_spec.lines + den_spec.lines))
        self.te_range_k_ = te
        self.log_ne_range_ = ne
        self._map = rmap
        self.ne_upper_log_ = rmap.ne_upper_log

    # ------------------------------------------------------------------ NN
    def _nn_scalers(self):
        m = self._map
        return (self._nn_x_mean, self._nn_x_std, np.array([m.dom_u[0], self.log_ne_range_[0]]),
                np.array([m.dom_u[1] - m.dom_u[0], float(m.v_hi.max()) - self.log_ne_range_[0]]))

    def _fit_nn(self) -> dict:
        from ..nn import MLP, TrainConfig, fit_module, train_validation_split
        from ..validation import from_dict

        m = self._map
        rng = self._rng()
        n = int(self.nn_train_size)
        if n < 100:
            raise ValueError(f"nn_train_size must be >= 100, got {n}")
        frac = float(self.validation_fraction)
        if not 0.0 < frac < 0.5:
            raise ValueError(f"validation_fraction must lie in (0, 0.5), got {self.validation_fraction!r}")
        n_val = max(1, int(round(n * frac / (1.0 - frac))))   # so that exactly n pairs train
        n_all = n + n_val
        # rejection-sample uniformly in the (log Te, log Ne) domain below the per-Te upper bound
        us, vs = [], []
        have = 0
        while have < n_all:
            uu = rng.uniform(m.dom_u[0], m.dom_u[1], 2 * n_all)
            vv = rng.uniform(self.log_ne_range_[0], float(m.v_hi.max()), 2 * n_all)
            keep = vv <= m.vhi(uu)
            us.append(uu[keep])
            vs.append(vv[keep])
            have += int(keep.sum())
        uu = np.concatenate(us)[:n_all]
        vv = np.concatenate(vs)[:n_all]
        X = m.sur(uu, vv)
        self._nn_x_mean = X.mean(axis=0)
        self._nn_x_std = X.std(axis=0)
        xm, xs, ym, ys = self._nn_scalers()
        Xs = ((X - xm) / xs).astype(np.float32)
        Ys = ((np.stack([uu, vv], axis=1) - ym) / ys).astype(np.float32)
        tr, val = train_validation_split(n_all, n_val / n_all, rng)
        cfg = self.nn_config
        seed = int(rng.integers(2**31 - 1))
        if cfg is None:
            cfg = TrainConfig(lr=2e-3, batch_size=512, max_epochs=150, patience=15, seed=seed)
        elif isinstance(cfg, dict):
            cfg = from_dict(TrainConfig, {"seed": seed, **cfg})
        with compute_context(self.n_jobs, default_threads=1, torch_rng=rng):
            module = MLP(2, 2, tuple(int(h) for h in self.nn_hidden), activation="silu")
            info = fit_module(module, Xs[tr], Ys[tr], Xs[val], Ys[val], config=cfg, progress=self.progress,
                              desc="TeNe NN")
        self._nn = module.eval()
        return {"nn_n_train": int(tr.size), "nn_n_validation": int(val.size),
                "nn_best_val_loss": float(info["best_val_loss"]), "nn_best_epoch": int(info["best_epoch"]),
                "nn_train_seconds": float(info["train_seconds"]),
                "history": [[float(a), float(b)] for a, b in info["history"]]}

    def _predict_nn(self, y):
        from ..nn import predict_batched

        m = self._map
        xm, xs, ym, ys = self._nn_scalers()
        out = predict_batched(self._nn, ((y - xm) / xs).astype(np.float32), batch_size=len(y))
        out = out.astype(float) * ys + ym
        u, v = out[:, 0], out[:, 1]
        u = np.clip(u, *m.box_u)
        v = np.clip(v, m.v[0], m.vfold(u))
        # limit checks use the forward surrogate at the predicted Te
        flags = classify(m, y, u, v, np.zeros(u.size, dtype=bool))
        # NN has no residual: un-flag "not converged" rows, then apply domain checks
        free = flags == FLAG_NOT_CONVERGED
        flags[free] = classify(m, y[free], u[free], v[free], np.ones(int(free.sum()), dtype=bool))
        return u, v, flags

    # ------------------------------------------------------------------ inversion
    def _predict_chunk(self, y):
        if self.method == "nn":
            return self._predict_nn(y)
        m = self._map
        u, v = self._inv.guess(y)
        steps = int(self.newton_steps)
        if steps == 0:
            f = m.sur(u, v)
            ok = np.max(np.abs(f - y), axis=1) < 1e-3
            ok &= self._inv.valid_at(y)
            return u, v, classify(m, y, u, v, ok)
        u, v, conv, _ = newton_solve(m, y, u, v, steps, self.tol)
        slow = ~conv
        if slow.any() and int(self.max_newton) > steps:
            i = np.nonzero(slow)[0]
            u2, v2, c2, _ = newton_solve(m, y[i], u[i], v[i], int(self.max_newton) - steps, self.tol)
            u[i], v[i], conv[i] = u2, v2, c2
        return u, v, classify(m, y, u, v, conv)

    def _invert(self, X, *, n_jobs=None, progress=None):
        """Invert validated ratio pairs ``X`` (n, 2); returns ``(out, codes)`` (internal integer codes).

        Never raises for flagged rows (the Monte Carlo uses it on every draw).
        """
        from ..parallel import chunk_slices, chunked_map

        n = X.shape[0]
        out = np.full((n, 2), np.nan)
        codes = np.zeros(n, dtype=np.int8)
        finite = np.isfinite(X).all(axis=1)
        codes[~finite] = FLAG_NONFINITE
        pos = finite & (X > 0).all(axis=1)
        codes[finite & ~pos] = FLAG_NONPOSITIVE
        good = np.nonzero(pos)[0]
        chunks = [good[s] for s in chunk_slices(good.size, int(self.chunk_size))]

        def work(i):
            y = np.log(X[i])
            u, v, f = self._predict_chunk(y)
            codes[i] = f
            ok = f == FLAG_OK
            out[i[ok], 0] = 10.0 ** u[ok]
            out[i[ok], 1] = v[ok]

        jobs = self.n_jobs if n_jobs is None else n_jobs
        with compute_context(jobs, default_threads=None):
            chunked_map(work, chunks, n_jobs=jobs, progress=self.progress if progress is None else progress,
                        desc="Te/Ne inversion")
        return out, codes

    def _check_X(self, X) -> np.ndarray:
        self._check_fitted()
        if hasattr(X, "columns"):   # a table: columns by name, never by position
            X = np.column_stack([self._ratio_column(X, "tem_ratio", self.tem_diag),
                                 self._ratio_column(X, "den_ratio", self.den_diag)])
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X: cannot convert to a numeric array of ratio pairs ({exc})") from None
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"X must have shape (n, 2) = [tem ratio, den ratio], got {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X is empty: no ratio pairs to invert")
        return X

    @staticmethod
    def _ratio_column(table, generic: str, diagnostic: str):
        from ..validation import table_name

        cols = [str(c) for c in table.columns]
        for name in (generic, diagnostic):
            if name in cols:
                return np.asarray(table[table.columns[cols.index(name)]], dtype=float)
        raise ValueError(f"{table_name(table, 'X')}: no column {generic!r} (or {diagnostic!r}); a table's ratio "
                         f"columns are matched by name, never by position; have {cols}")

    def _domain_check(self, X, codes) -> None:
        if self.on_out_of_domain != "raise":
            return
        bad = (codes >= FLAG_LOW_DENSITY_LIMIT) & (codes <= FLAG_TE_ABOVE)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            name = str(flag_names(codes[i]))
            raise OutOfDomainError(
                f"{int(bad.sum())} of {codes.size} ratio pairs lie outside the training domain (first: row {i}, "
                f"ratios {X[i].tolist()}: {name}, {FLAG_DESCRIPTIONS[name]}); pass on_out_of_domain='nan' to "
                "get NaN and a flag for them instead")

    def predict(self, X, *, return_flags: bool = False):
        """Te and log Ne for ratio pairs.

        Parameters
        ----------
        X : array_like, shape (n, 2), or DataFrame
            Columns: temperature-diagnostic ratio, density-diagnostic ratio
            (line-intensity ratios exactly as PyNeb defines the diagnostics).
            A DataFrame is matched by column name: ``tem_ratio`` and
            ``den_ratio`` (or the diagnostic names, e.g. ``"[OIII] 4363/5007"``).
            NaN/inf and non-positive entries are allowed and flagged per row.
        return_flags : bool
            Also return the per-row flags.

        Returns
        -------
        out : ndarray, shape (n, 2)
            Columns: Te (K), log10 Ne (cm^-3); NaN where flagged.
        flags : ndarray of str, shape (n,)
            Only with ``return_flags=True``: ``"ok"`` or a name of
            :data:`agnlab.nebular.FLAG_NAMES`.

        Raises
        ------
        agnlab.OutOfDomainError
            With ``on_out_of_domain="raise"``, for pairs outside the trained domain.
        """
        X = self._check_X(X)
        out, codes = self._invert(X)
        self._domain_check(X, codes)
        return (out, flag_names(codes)) if return_flags else out

    def predict_from_lines(self, fluxes, *, return_flags: bool = False):
        """Te and log Ne from line intensities.

        Parameters
        ----------
        fluxes : mapping
            Line label -> array (any common shape); labels in ``lines_``
            (e.g. ``"O3_4363A"``, ``"O3_5007A"``, ``"S2_6716A"``, ``"S2_6731A"``).
            Non-positive or NaN fluxes are flagged per element.
        return_flags : bool
            Also return the flags (same shape as the fluxes).

        Returns
        -------
        te_k, log_ne : ndarray
            Same shape as the flux arrays.
        flags : ndarray of str
            Only with ``return_flags=True``.
        """
        self._check_fitted()
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
        out, flags = self.predict(X, return_flags=True)
        te, ln = out[:, 0].reshape(shape), out[:, 1].reshape(shape)
        return (te, ln, flags.reshape(shape)) if return_flags else (te, ln)

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

        Raises
        ------
        agnlab.OutOfDomainError
            Points outside the forward grid.
        """
        self._check_fitted()
        m = self._map
        te, ln = np.broadcast_arrays(np.asarray(te_k, dtype=float), np.asarray(log_ne, dtype=float))
        u = np.log10(te.ravel())
        v = ln.ravel()
        bad = ~((u >= m.u[0]) & (u <= m.u[-1]) & (v >= m.v[0]) & (v <= m.v[-1]))
        if bad.any():
            raise OutOfDomainError(f"{int(bad.sum())} (te_k, log_ne) points lie outside the forward grid "
                                   f"(Te {10 ** m.u[0]:.0f}-{10 ** m.u[-1]:.0f} K, "
                                   f"log Ne {m.v[0]:g}-{m.v[-1]:g})")
        return np.exp(m.sur(u, v)).reshape(te.shape + (2,))

    # ------------------------------------------------------------------ persistence (base save/load)
    def _saved_params(self) -> dict:
        params = super()._saved_params()
        params["nn_config"] = _config_dict(params.get("nn_config"))
        return params

    def _get_state(self):
        m, inv = self._map, self._inv
        arrays = {"grid_log_te": m.u, "grid_log_ne": m.v, "grid_ln_ratio": m.z,
                  "inv_u": inv.inv_u, "inv_v": inv.inv_v, "inv_valid": inv.valid.astype(np.uint8)}
        meta = {"tem_spec": dict(vars(self.tem_spec_)), "den_spec": dict(vars(self.den_spec_)),
                "te_range_k": list(self.te_range_k_), "log_ne_range": list(self.log_ne_range_),
                "inv_y1": list(inv.y1), "inv_y2": list(inv.y2)}
        try:
            import pyneb

            meta["pyneb_version"] = pyneb.__version__
        except ImportError:  # pragma: no cover
            meta["pyneb_version"] = None
        if self._nn is not None:
            from ..nn import module_to_arrays

            arrays.update(module_to_arrays(self._nn))
            arrays["nn_x_mean"] = self._nn_x_mean
            arrays["nn_x_std"] = self._nn_x_std
        return arrays, meta

    def _set_state(self, arrays, meta):
        self._check_params()
        self._setup(_spec_from_meta(meta["tem_spec"]), _spec_from_meta(meta["den_spec"]),
                    tuple(float(x) for x in meta["te_range_k"]), tuple(float(x) for x in meta["log_ne_range"]),
                    np.asarray(arrays["grid_log_te"], dtype=float), np.asarray(arrays["grid_log_ne"], dtype=float),
                    np.asarray(arrays["grid_ln_ratio"], dtype=float))
        self._inv = InverseTable(meta["inv_y1"], meta["inv_y2"], arrays["inv_u"], arrays["inv_v"],
                                 arrays["inv_valid"])
        self._nn = None
        if self.method == "nn":
            from ..nn import MLP, arrays_to_module

            module = MLP(2, 2, tuple(int(h) for h in self.nn_hidden), activation="silu")
            arrays_to_module(module, arrays)
            self._nn = module.eval()
            self._nn_x_mean = np.asarray(arrays["nn_x_mean"], dtype=float)
            self._nn_x_std = np.asarray(arrays["nn_x_std"], dtype=float)

    @classmethod
    def _load_legacy(cls, path, arrays, meta):
        """Files of agnlab <= 0.1 (hand-written save: ``params``, ``nn_config``, ``fit_info`` at the top)."""
        from ..io import ArtifactError

        try:
            params = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(meta["params"]).items()}
            params["nn_config"] = meta.get("nn_config")
            est = cls(**params)
            arrays = dict(arrays)
            # the old network was a bare nn.Sequential ("nn.0.weight"); MLP wraps it ("nn.net.0.weight")
            for k in [k for k in arrays if k.startswith("nn.") and not k.startswith("nn.net.")]:
                arrays["nn.net." + k[3:]] = arrays.pop(k)
            est._set_state(arrays, meta)
            est.training_record_ = dict(meta.get("fit_info") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: malformed TeNeEstimator file of an older layout ({exc})") from None
        return est
