"""Continuous refinement of a track library: new tracks between library points, through the forward model.

A library samples the model parameters on a grid (or scattered points); a population whose tracks lie between
them is then reproduced only up to the library's spacing, which 10^5 sources resolve (the fit is misspecified).
Refinement is a conditional-gradient ("sliding") step done by column generation: around every active track
(non-zero weight), tracks moved by +- one step along each parameter are computed with the forward model and
blurred into new design columns; their central differences give the Jacobian of the track's column, from which a
Levenberg-damped Gauss-Newton move on the Poisson-weighted residuals (full and half step, at most 4 steps long)
adds two more columns. The weights are re-solved over the library plus the new columns at the fit's penalty; new
columns left at zero weight are dropped, the step is halved, and this repeats. The re-solve can always keep the
previous weights, so the deviance does not rise. The moves are clipped to the library's parameter box (the prior
range), so refined tracks never leave the domain the library covers.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ._statistics import poisson_deviance

__all__ = ["refine_columns"]


def _deviance(A, w, h):
    mu = np.asarray(A @ w, float)
    used = (h > 0) | (mu > 0)
    return float(poisson_deviance(h[used], mu[used]))


def _gauss_newton(A, w, h, B, prop, act, allP, allpar, fi, lo, hi, step, max_steps=4.0):
    """Full and half Gauss-Newton (Levenberg-damped) moves of every active track, from the axis-move columns."""
    mu = np.asarray(A @ w, float)
    wt = 1.0 / np.maximum(mu, 1.0)
    r = h - mu
    n_mv = 2 * fi.size
    out_P, out_par = [], []
    for k, j in enumerate(act):
        cols = B[:, k * n_mv:(k + 1) * n_mv].toarray()
        dp = prop[k * n_mv:k * n_mv + fi.size, fi].diagonal() - prop[k * n_mv + fi.size:(k + 1) * n_mv, fi].diagonal()
        ok = dp > 0
        if not ok.any():
            continue
        J = np.zeros((h.size, fi.size))
        J[:, ok] = w[j] * (cols[:, :fi.size][:, ok] - cols[:, fi.size:][:, ok]) / dp[ok]
        rows = np.flatnonzero(np.abs(J).sum(axis=1) > 0)
        Jr, Wr = J[rows], wt[rows]
        H = Jr.T @ (Wr[:, None] * Jr)
        g = Jr.T @ (Wr * r[rows])
        lam = 1e-3 * max(np.trace(H) / fi.size, 1e-300)
        try:
            delta = np.linalg.solve(H + lam * np.eye(fi.size), g)
        except np.linalg.LinAlgError:
            continue
        lim = max_steps * step[fi]
        scale = min(1.0, float(np.min(lim / np.maximum(np.abs(delta), 1e-300))))
        for f in (1.0, 0.5):
            q = allP[j].copy()
            q[fi] += f * scale * delta
            out_P.append(np.clip(q, lo, hi))
            out_par.append(allpar[j])
    if not out_P:
        return np.zeros((0, allP.shape[1])), np.zeros(0, int)
    return np.asarray(out_P), np.asarray(out_par, int)


def refine_columns(A, w, h, params, parents0, *, generator, build, solve, rounds=4, step=None, max_active=128,
                   min_share=1e-3):
    """Add forward-modelled tracks next to the active ones, re-solving the weights after each round.

    Parameters
    ----------
    A : sparse (n_bins, n_cols)
        Design columns of the library (the fit's used tracks).
    w : ndarray (n_cols,)
        Fitted weights.
    h : ndarray (n_bins,)
        Observed counts.
    params : ndarray (n_cols, n_params)
        Parameters of the columns' tracks (the generator's input layout).
    parents0 : ndarray (n_cols,) of int
        Index of each column's track in the caller's track array (passed on to ``build``).
    generator : callable
        ``generator(params) -> colors`` (m, n_angles, 2).
    build : callable
        ``build(colors, parents) -> sparse (n_bins, m)``: design columns of new tracks, blurred as the library
        (``parents``: the library track each one derives from, for per-track inputs such as W2).
    solve : callable
        ``solve(A, w0) -> w``: the fit's final solve at its chosen penalty.
    rounds : int
        Refinement rounds (the step halves after each).
    step : array_like (n_params,), optional
        First step per parameter (default: half the library's typical spacing, range * n^(-1/d) / 2 over the
        parameters that vary).
    max_active : int
        At most this many active tracks (largest weights first) are moved per round.
    min_share : float
        Tracks with less than this share of the total weight are not moved.

    Returns
    -------
    A, w, new_params, new_parents, record
        The extended matrix and weights (library columns first), the parameters and library parents of the kept
        new columns, and ``record`` (per round: step, proposals, kept, deviance).
    """
    P = np.asarray(params, float)
    lo, hi = P.min(axis=0), P.max(axis=0)
    span = hi - lo
    free = span > 0
    d = max(int(free.sum()), 1)
    if step is None:
        step = np.where(free, 0.5 * span * P.shape[0] ** (-1.0 / d), 0.0)
    step = np.asarray(step, float)
    n_lib = A.shape[1]
    new_P = np.zeros((0, P.shape[1]))
    new_par = np.zeros(0, int)
    A = sp.csc_matrix(A)
    record = [{"round": 0, "deviance": _deviance(A, w, h), "n_new": 0}]
    for r in range(int(rounds)):
        t0 = time.process_time()
        allP = np.vstack([P, new_P])
        allpar = np.concatenate([parents0, new_par])
        share = w / max(w.sum(), 1e-300)
        act = np.flatnonzero(share >= min_share)
        act = act[np.argsort(share[act])[::-1][:int(max_active)]]
        if act.size == 0:
            break
        fi = np.flatnonzero(free)
        n_mv = 2 * fi.size
        moves = np.concatenate([np.diag(step[free]), -np.diag(step[free])])       # (2 d_free, d_free)
        prop = np.repeat(allP[act], n_mv, axis=0)
        prop[:, free] += np.tile(moves, (act.size, 1))
        prop = np.clip(prop, lo, hi)
        par = np.repeat(allpar[act], n_mv)
        colors = generator(prop)
        t_gen = time.process_time() - t0
        B = sp.csc_matrix(build(colors, par), dtype=np.float64)
        t_build = time.process_time() - t0 - t_gen
        # Gauss-Newton steps from the central differences of the axis moves: each active track's parameters
        # moved to explain the Poisson-weighted residuals where its column lives
        gn_P, gn_par = _gauss_newton(A, w, h, B, prop, act, allP, allpar, fi, lo, hi, step)
        if gn_P.shape[0]:
            t1 = time.process_time()
            gn_cols = generator(gn_P)
            t_gen += time.process_time() - t1
            t1 = time.process_time()
            B = sp.hstack([B, sp.csc_matrix(build(gn_cols, gn_par), dtype=np.float64)], format="csc")
            t_build += time.process_time() - t1
            prop, par = np.vstack([prop, gn_P]), np.concatenate([par, gn_par])
        nz = np.flatnonzero(np.asarray(B.sum(axis=0)).ravel() > 0)
        A_try = sp.hstack([A, B[:, nz]], format="csc")
        A_try.sort_indices()
        w_try = solve(A_try, np.concatenate([w, np.zeros(nz.size)]))
        # keep the library and every added column in use; drop added columns at zero weight
        cols = np.concatenate([np.arange(n_lib), n_lib + np.flatnonzero(w_try[n_lib:] > 0)])
        n_old = A.shape[1] - n_lib
        A = A_try[:, cols]
        w = w_try[cols]
        all_new_P = np.vstack([new_P, prop[nz]])
        all_new_par = np.concatenate([new_par, par[nz]])
        new_P, new_par = all_new_P[cols[n_lib:] - n_lib], all_new_par[cols[n_lib:] - n_lib]
        record.append({"round": r + 1, "step": step.tolist(), "moved": int(act.size), "proposals": int(nz.size),
                       "n_new": int(new_P.shape[0]), "n_new_before": int(n_old), "deviance": _deviance(A, w, h),
                       "cpu_seconds": {"forward_model": t_gen, "design": t_build,
                                       "solve": time.process_time() - t0 - t_gen - t_build}})
        step = step / 2.0
    return A, w, new_P, new_par, record
