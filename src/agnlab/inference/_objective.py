"""Chi-square objective around a vectorised forward model, with an archive.

The objective counts every parameter vector handed to the forward model,
refuses (chi^2 = +inf, no forward call) vectors outside the bounds, turns
non-finite predictions (a model answering "outside my domain" with NaN) into
chi^2 = +inf and counts them, and keeps an archive of every evaluated point so
that the whole region of acceptable solutions can be read back afterwards.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["ChiSquare"]


class BudgetExhausted(Exception):
    """The evaluation budget (``max_calls`` / ``max_time``) of a search is spent; ``reason`` names the limit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ChiSquare:
    """Vectorised chi^2 of a forward model against observed values.

    Parameters
    ----------
    forward : callable
        ``forward(theta)`` with ``theta`` of shape (n, n_params) returning
        predictions of shape (n, n_obs) (or (n,) when n_obs == 1).
    observed, sigma : ndarray, shape (n_obs,)
        Observed values and their 1-sigma errors (same units as the
        predictions; for an SED in log flux, errors in dex).
    bounds : ndarray, shape (n_params, 2)
        Lower and upper bound of every parameter.
    offset : {None, "profile"}
        ``"profile"``: an additive constant common to all observables (e.g.
        the log normalisation of an SED) is fitted analytically for every
        theta (weighted mean residual) and the chi^2 is the profiled one.
    chunk_size : int
        Largest number of parameter vectors passed to ``forward`` at once.
    archive : bool
        Keep every evaluated point (theta, chi^2, offset).
    """

    def __init__(self, forward, observed, sigma, bounds, *, offset=None, chunk_size=65536,
                 archive=True):
        if not callable(forward):
            raise TypeError(f"forward must be callable, got {type(forward).__name__}")
        if offset not in (None, "profile"):
            raise ValueError(f"offset must be None or 'profile', got {offset!r}")
        self.forward = forward
        self.observed = observed
        self.weights = 1.0 / sigma**2
        self.bounds = bounds
        self.offset = offset
        self.chunk_size = int(chunk_size)
        self.n_params = bounds.shape[0]
        self.n_obs = observed.shape[0]
        self.keep_archive = bool(archive)
        self.n_forward_calls = 0     # parameter vectors evaluated by the forward model
        self.n_batches = 0           # calls of the forward model
        self.n_out_of_bounds = 0     # vectors refused before calling the model
        self.n_invalid = 0           # vectors for which the model returned non-finite values
        self.max_calls = None        # stop (BudgetExhausted) once this many vectors were evaluated
        self.deadline = None         # ... or once time.perf_counter() passes this
        self._theta: list[np.ndarray] = []
        self._chi2: list[np.ndarray] = []
        self._off: list[np.ndarray] = []

    # ------------------------------------------------------------------
    def in_bounds(self, theta: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        return np.all((theta >= lo) & (theta <= hi), axis=1) & np.all(np.isfinite(theta), axis=1)

    def _predict(self, theta: np.ndarray) -> np.ndarray:
        pred = self.forward(theta)
        self.n_batches += 1
        self.n_forward_calls += theta.shape[0]
        if hasattr(pred, "detach"):  # a torch tensor
            pred = pred.detach().cpu().numpy()
        pred = np.asarray(pred, dtype=float)
        if pred.ndim == 1 and self.n_obs == 1 and pred.shape[0] == theta.shape[0]:
            pred = pred[:, None]
        if pred.shape != (theta.shape[0], self.n_obs):
            raise ValueError(
                f"forward returned shape {pred.shape} for theta of shape {theta.shape}; expected "
                f"({theta.shape[0]}, {self.n_obs}) = (n parameter vectors, n observed values)")
        return pred

    def __call__(self, theta) -> np.ndarray:
        """chi^2 for every row of ``theta`` (n, n_params) -> (n,); +inf when refused."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        if theta.shape[1] != self.n_params:
            raise ValueError(f"theta: expected {self.n_params} parameters per row, got shape {theta.shape}")
        self.check_budget()
        n = theta.shape[0]
        chi2 = np.full(n, np.inf)
        off = np.zeros(n)
        ok = self.in_bounds(theta)
        self.n_out_of_bounds += int((~ok).sum())
        idx = np.flatnonzero(ok)
        for start in range(0, idx.size, self.chunk_size):
            sel = idx[start:start + self.chunk_size]
            pred = self._predict(theta[sel])
            resid = self.observed[None, :] - pred
            finite = np.all(np.isfinite(resid), axis=1)
            self.n_invalid += int((~finite).sum())
            resid = np.where(finite[:, None], resid, 0.0)
            if self.offset == "profile":
                o = (resid * self.weights).sum(axis=1) / self.weights.sum()
                resid = resid - o[:, None]
                off[sel] = o
            c = (resid**2 * self.weights).sum(axis=1)
            chi2[sel] = np.where(finite, c, np.inf)
        if self.keep_archive:
            self._theta.append(theta.copy())
            self._chi2.append(chi2.copy())
            self._off.append(off.copy())
        return chi2

    def check_budget(self) -> None:
        """Raise :class:`BudgetExhausted` when ``max_calls`` or the ``deadline`` is reached."""
        if self.max_calls is not None and self.n_forward_calls >= self.max_calls:
            raise BudgetExhausted(f"max_calls={self.max_calls}")
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise BudgetExhausted("max_time")

    def log_prob(self, theta) -> np.ndarray:
        """-chi^2 / 2 (flat prior inside the bounds, -inf outside or out of domain)."""
        return -0.5 * self(theta)

    # ------------------------------------------------------------------
    def archive(self):
        """All evaluated points: (theta (m, n_params), chi2 (m,), offset (m,))."""
        if not self._theta:
            return np.empty((0, self.n_params)), np.empty(0), np.empty(0)
        theta = np.concatenate(self._theta)
        chi2 = np.concatenate(self._chi2)
        off = np.concatenate(self._off)
        self._theta, self._chi2, self._off = [theta], [chi2], [off]
        return theta, chi2, off

    def predict(self, theta) -> np.ndarray:
        """Forward-model predictions (with the profiled offset added back when used)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        pred = self._predict(theta)
        if self.offset == "profile":
            resid = self.observed[None, :] - pred
            pred = pred + ((resid * self.weights).sum(axis=1) / self.weights.sum())[:, None]
        return pred
