"""Maximum-entropy (KL-to-prior) regularised Poisson fit of track weights.

Problem (``A``: (n_bins, n_tracks) design, column sums ``c`` = each track's fraction inside the histogram;
``h``: observed counts; ``m``: prior counts, the prior's shares times the number of sources it needs to
explain ``h``):

    min_{w >= 0}  Cash(A w; h) / 2 + lam * sum_i [w_i ln(w_i / m_i) - w_i + m_i]

The penalty is the (generalised) Kullback-Leibler divergence of the weights from the prior: where the colours
cannot tell tracks apart the weights stay in the prior's proportions, where they can the data win. ``lam -> inf``
returns the prior; ``lam -> 0`` the maximum-likelihood mix closest to the prior. (``lam = 1`` is the penalty of
track counts drawn as Poisson from the prior: the entropic prior of Skilling & Gull.)

Solved through its dual, which has one variable per *non-empty bin* (n_bins << n_tracks): with
``t_b = h_b / mu_b`` at the optimum, ``w_i = m_i exp((A^T t - c)_i / lam)``; empty bins have ``t_b = 0``.
In ``s = ln t`` the dual ``D(s) = h . s - lam sum_i w_i(s)`` is smooth and concave; it is maximised by Newton's
method with a backtracking line search; the Hessian ``diag(t mu) + T A W A^T T / lam`` is a dense
(n_nonempty x n_nonempty) matrix formed with one sparse product over the columns carrying weight.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

__all__ = ["lam_band", "maxent_poisson", "maxent_select", "prior_counts"]

_EXP_MAX = 600.0


def prior_counts(A, h, prior=None):
    """Prior counts ``m`` (n_tracks,): the prior's shares scaled so that its model histogram holds ``h.sum()``.

    ``prior``: non-negative shares per track (default: uniform over the tracks). Tracks with zero share or an
    all-zero column keep weight 0 (returned with m = 0)."""
    c = np.asarray(A.sum(axis=0)).ravel()
    p = np.ones(c.size) if prior is None else np.asarray(prior, float).ravel()
    if p.size != c.size or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"prior: need {c.size} finite non-negative shares, got shape {p.shape}")
    p = np.where(c > 0, p, 0.0)
    inside = float(p @ c)
    if inside <= 0:
        raise ValueError("prior: no track with a positive prior share reaches the histogram")
    return p * (float(np.sum(h)) / inside)


def _weights(AtP, c, m, t, lam):
    e = (AtP @ t - c) / lam
    return m * np.exp(np.minimum(e, _EXP_MAX)), bool(np.any(~(e <= _EXP_MAX)))


def _gram(AP, v, act, chunk=2048):
    """``AP[:, act] diag(v[act]) AP[:, act]^T`` as a dense matrix (single-precision BLAS rank-k updates over column
    blocks: the Hessian only steers the Newton step, whose line search and convergence test use exact values)."""
    from scipy.linalg.blas import ssyrk

    n = AP.shape[0]
    H = np.zeros((n, n), dtype=np.float32, order="F")
    for lo in range(0, act.size, chunk):
        idx = act[lo:lo + chunk]
        X = np.asfortranarray((AP[:, idx].toarray() * np.sqrt(v[idx])).astype(np.float32))
        H = ssyrk(1.0, X, beta=1.0, c=H, overwrite_c=True)
    H = H.astype(np.float64)
    iu = np.triu_indices(n, 1)
    H.T[iu] = H[iu]
    return H


def maxent_poisson(A, h, m, lam, *, s0=None, tol=1e-7, max_iter=200, prune=1e-6, max_dense=4096):
    """Solve the KL-regularised Poisson problem (module docstring) for one ``lam`` > 0.

    Parameters
    ----------
    A : scipy.sparse matrix, shape (n_bins, n_tracks)
    h : ndarray, shape (n_bins,)
        Observed counts (non-negative).
    m : ndarray, shape (n_tracks,)
        Prior counts (:func:`prior_counts`); tracks with m = 0 get weight 0.
    lam : float
        Strength of the KL penalty relative to the Poisson log-likelihood.
    s0 : ndarray, optional
        Warm start: ``info["s"]`` of a previous solve on the same ``A`` and non-empty bins.
    tol : float
        Stop when half the Newton decrement (the dual gap estimate, in units of the log-likelihood) is below
        ``tol * max(1, h.sum()) ** 0.5``.
    max_iter : int
        Newton iterations.
    prune : float
        Columns with weight below ``prune * max(w)`` are left out of the Hessian (not of the gradient).
    max_dense : int
        At most this many columns (the heaviest) enter the Hessian exactly; the others only through its diagonal
        (a quasi-Newton step, still an ascent direction of the concave dual; exact Newton for small libraries).

    Returns
    -------
    w : ndarray, shape (n_tracks,)
    info : dict
        ``s`` (dual variables for warm starts), ``n_iter``, ``converged``, ``decrement``, ``lam``.
    """
    if not lam > 0:
        raise ValueError(f"lam: must be > 0, got {lam}")
    A = sp.csc_matrix(A, dtype=np.float64)
    h = np.asarray(h, float).ravel()
    m = np.asarray(m, float).ravel()
    c = np.asarray(A.sum(axis=0)).ravel()
    rows = np.flatnonzero(h > 0)
    cols = np.flatnonzero(m > 0)
    AP = sp.csc_matrix(A[rows][:, cols])
    AtP = AP.T.tocsr()
    AP2 = AP.multiply(AP).tocsr()
    hP, mc, cc = h[rows], m[cols], c[cols]
    s = np.zeros(rows.size) if s0 is None else np.asarray(s0, float).copy()
    if s.size != rows.size:
        raise ValueError(f"s0: {s.size} values for {rows.size} non-empty bins")
    tol_abs = tol * max(1.0, float(hP.sum())) ** 0.5

    def dual(s_):
        with np.errstate(over="ignore", invalid="ignore"):
            w_, over = _weights(AtP, cc, mc, np.exp(s_), lam)
        return (-np.inf if over else float(hP @ s_ - lam * w_.sum())), w_

    D, w = dual(s)
    if not np.isfinite(D):
        s = np.zeros(rows.size)
        D, w = dual(s)
    info = {"n_iter": 0, "converged": False, "decrement": np.inf, "lam": float(lam)}
    for it in range(int(max_iter)):
        t = np.exp(s)
        mu = AP @ w
        g = hP - t * mu
        act = np.flatnonzero(w > prune * w.max())
        if act.size > max_dense:   # the heaviest columns exactly, the others through the diagonal only
            act = act[np.argpartition(-w[act], max_dense)[:max_dense]]
        H = _gram(AP, w / lam, act)
        rest = np.ones(w.size, bool)
        rest[act] = False
        H[np.diag_indices_from(H)] += AP2 @ np.where(rest, w / lam, 0.0)
        H *= t[:, None]
        H *= t[None, :]
        H[np.diag_indices_from(H)] += t * mu + 1e-12 * max(float(hP.max()), 1.0)
        try:
            d = sla.cho_solve(sla.cho_factor(H, check_finite=False), g, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            d = np.linalg.lstsq(H, g, rcond=None)[0]
        dec = float(g @ d)
        info.update(n_iter=it + 1, decrement=dec)
        if dec / 2 <= tol_abs:
            info["converged"] = True
            break
        a = 1.0
        while a > 1e-10:
            D_new, w_new = dual(s + a * d)
            if D_new >= D + 0.25 * a * dec:
                break
            a *= 0.5
        else:
            break
        s, D, w = s + a * d, D_new, w_new
    out = np.zeros(A.shape[1])
    out[cols] = w
    info["s"] = s
    return out, info


def _cash(A, w, h):
    from ._statistics import poisson_deviance

    mu = np.asarray(A @ w, float)
    used = (h > 0) | (mu > 0)
    return float(poisson_deviance(h[used], mu[used])), mu


def maxent_select(A, h, m, *, lams, tolerance=1.0, widen=3, n_bisect=5, solve_kw=None):
    """Strength of the KL penalty by a discrepancy principle, and the weights there.

    Solves along ``lams`` (descending, warm starts), takes the smallest as the best fit (``cash_min``; the grid is
    extended downwards, up to ``widen`` times, while the Cash statistic still falls there by more than a tenth of
    the tolerance) and returns the *largest* ``lam`` whose Cash statistic exceeds ``cash_min`` by at most

        delta = tolerance * sd * max(1, cash_min / E)

    (``E``, ``sd``: the Poisson expectation and spread of the statistic for the best-fit model,
    :func:`cash_expectation`), located by bisection in log(lam) between grid points. That is the mix closest to the
    prior whose fit the goodness-of-fit statistic cannot tell from the best one. The factor ``cash_min / E``
    (the Birge ratio) widens the tolerance when even the best fit misses (a library that cannot reproduce the
    data leaves systematic residuals; as for a reduced chi^2 > 1, the errors are scaled up until the best fit is
    acceptable), so that the misfit is not read as information about the parameters.

    Returns
    -------
    lam : float
    w : ndarray, shape (n_tracks,)
    record : dict
        ``lams``, ``cash`` (the path, descending lam, bisection points included), ``cash_min``,
        ``expected_cash``, ``std_cash`` (Poisson, best fit), ``misfit_scale`` (the Birge ratio, >= 1), ``delta``,
        ``lam``, ``widened`` (lams added below the grid), ``at_edge`` (``prior``: even the largest lam fits;
        ``ml``: the best fit was still improving at the smallest lam), ``solver`` (of the returned solve).
    """
    from ._statistics import cash_expectation

    kw = dict(solve_kw or {})
    lams = sorted((float(v) for v in np.atleast_1d(lams)), reverse=True)
    if not lams or lams[-1] <= 0:
        raise ValueError("lams: need positive values")
    path = []     # (lam, cash, w, info)
    s = None

    def solve(lam, s0):
        w, info = maxent_poisson(A, h, m, lam, s0=s0, **kw)
        return (lam, _cash(A, w, h)[0], w, info)

    for lam in lams:
        path.append(solve(lam, s))
        s = path[-1][3]["s"]
    widened = []
    step = lams[-1] / lams[-2] if len(lams) > 1 else 0.1
    for _ in range(int(widen) + 1):
        cash_min = path[-1][1]
        mu = np.asarray(A @ path[-1][2], float)
        E, V = cash_expectation(np.where(mu > 1e-9, mu, 0.0))    # bins below 1e-9 sources add nothing
        scale = max(1.0, cash_min / max(E, 1e-300))
        sd = np.sqrt(V) if np.isfinite(V) and V > 0 else np.sqrt(2.0 * np.count_nonzero((h > 0) | (mu > 1e-9)))
        delta = float(tolerance) * float(sd) * scale
        still = len(path) > 1 and path[-2][1] - cash_min > 0.1 * delta
        if not still or len(widened) >= int(widen):
            break
        new = [path[-1][0] * step ** k for k in (1, 2, 3)]
        for lam in new:
            path.append(solve(lam, path[-1][3]["s"]))
        widened.append([float(v) for v in new])
    ok = [k for k, p in enumerate(path) if p[1] <= cash_min + delta]
    j = ok[0]
    best = path[j]
    if j > 0:       # bisect between the last failing and the first passing lam
        lo, hi = path[j][0], path[j - 1][0]
        s = path[j][3]["s"]
        extra = []
        for _ in range(int(n_bisect)):
            mid = float(np.sqrt(lo * hi))
            p = solve(mid, s)
            extra.append(p)
            if p[1] <= cash_min + delta:
                lo, best, s = mid, p, p[3]["s"]
            else:
                hi = mid
        path = sorted(path + extra, key=lambda p: -p[0])
    info = {k: v for k, v in best[3].items() if k != "s"}
    record = {"lams": [p[0] for p in path], "cash": [p[1] for p in path], "cash_min": float(cash_min),
              "expected_cash": float(E), "std_cash": float(np.sqrt(max(V, 0.0))), "misfit_scale": float(scale),
              "tolerance": float(tolerance), "delta": float(delta), "lam": float(best[0]), "widened": widened,
              "at_edge": {"prior": bool(j == 0), "ml": bool(still)}, "solver": info}
    return best[0], best[2], record


def lam_band(record, lo=0.5, hi=2.0):
    """The lams whose Cash statistic exceeds the best fit's by ``lo * delta`` and ``hi * delta`` (interpolated in
    log lam along the recorded path): the strengths a tolerance of ``lo``-``hi`` times the chosen one would pick."""
    lams = np.asarray(record["lams"], float)[::-1]          # ascending
    rise = np.maximum.accumulate(np.asarray(record["cash"], float)[::-1] - record["cash_min"])
    out = []
    for f in (lo, hi):
        target = f * record["delta"]
        if target >= rise[-1]:
            out.append(float(lams[-1]))
        elif target <= rise[0]:
            out.append(float(lams[0]))
        else:
            out.append(float(np.exp(np.interp(target, rise, np.log(lams)))))
    return out[0], out[1]
