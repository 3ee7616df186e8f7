"""Non-negative ElasticNet on a wide sparse design (few histogram bins, many tracks): working-set solver.

Problem (scikit-learn's ElasticNet convention, ``n`` = number of rows):

    min_w  1/(2n) ||y - X w||^2 + alpha * l1_ratio * sum(w) + alpha * (1 - l1_ratio) / 2 * ||w||^2,   w >= 0

``X`` is (n_bins, n_tracks) sparse with n_bins << n_tracks. The solution is sparse,
so we never touch the (n_tracks x n_tracks) Gram matrix: an outer loop computes
the full gradient ``X^T r`` (one sparse product, O(nnz)), checks the KKT
conditions of the non-negative problem and grows a small working set with the
worst violators; the inner problem on the working set (dense, a few hundred to a
few thousand columns) is solved by scikit-learn's coordinate descent
(``ElasticNet(positive=True)``, Gram-precomputed when narrow). Converged when
no coordinate outside the working set violates KKT by more than ``tol``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

__all__ = ["alpha_max", "nonneg_enet", "nonneg_enet_path", "support_product"]


def support_product(X, w):
    """``X @ w`` over the non-zero weights only: O(nnz of their columns), not O(nnz of ``X``).

    The same numbers as ``X @ w`` (a CSC product adds the columns in order; the skipped ones add exact zeros).
    """
    supp = np.flatnonzero(w)
    if supp.size == X.shape[1]:
        return np.asarray(X @ w, dtype=float)
    if supp.size == 0:
        return np.zeros(X.shape[0])
    return np.asarray(X[:, supp] @ w[supp], dtype=float)


def alpha_max(X, y, l1_ratio, *, xty=None) -> float:
    """Smallest alpha for which w = 0 solves the non-negative problem (``xty``: precomputed X^T y)."""
    g = (np.asarray(X.T @ y).ravel() if xty is None else np.asarray(xty)) / X.shape[0]
    return float(max(g.max(), 0.0) / max(l1_ratio, 1e-3))


def _inner(Xs, y, alpha, l1_ratio, w0, tol, max_iter):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet

    n, k = Xs.shape
    Xs = np.asfortranarray(Xs)
    model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, positive=True,
                       precompute=bool(k <= 2 * n), warm_start=True, max_iter=max_iter, tol=tol,
                       selection="cyclic", copy_X=False)
    model.coef_ = np.asarray(w0, dtype=float).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(Xs, y)
    return np.maximum(model.coef_, 0.0)


def nonneg_enet(X, y, *, alpha, l1_ratio, w0=None, tol=1e-4, max_outer=50, max_inner_iter=2000,
                grow=None, max_working=5000, row_scale=None, xty=None, corr0=None, alpha_prev=None):
    """Solve the non-negative ElasticNet problem (see module docstring) on a sparse wide ``X``.

    Parameters
    ----------
    X : scipy.sparse matrix, shape (n_rows, n_cols)
        Converted to CSC (float64) if it is not already.
    y : ndarray, shape (n_rows,)
    alpha, l1_ratio : float
        Penalty strength and L1 share (``l1_ratio`` in (0, 1]).
    w0 : ndarray, shape (n_cols,), optional
        Warm start.
    tol : float
        KKT tolerance, relative to ``max|X^T y| / n``.
    max_outer : int
        Working-set iterations.
    grow : int, optional
        Violators added per iteration (default: max(250, support size)).
    max_working : int
        Cap on the working-set size.
    row_scale : ndarray, shape (n_rows,), optional
        Solve with ``diag(row_scale) @ X`` instead of ``X`` without forming it (e.g. 1/sigma weights).
    xty : ndarray, shape (n_cols,), optional
        Precomputed ``(diag(row_scale) X)^T y`` (saves one sparse product when solving a path).
    corr0, alpha_prev : ndarray (n_cols,), float, optional
        Correlations ``X^T r / n`` at ``w0`` and the alpha they were computed for (returned as
        ``info["corr"]`` by the previous call of a path). Enable the sequential strong rule: columns
        with ``corr0_j < l1_ratio (2 alpha - alpha_prev)`` are left out until a full KKT check
        (one sparse product over all columns per call) says otherwise.

    Returns
    -------
    w : ndarray, shape (n_cols,), float64, non-negative
    info : dict
        ``n_outer``, ``kkt_violation`` (relative), ``working_set``, ``strong_set`` sizes,
        ``n_full_gradients``, ``converged``, ``corr`` (X^T r / n at the solution).
    """
    if not (sp.issparse(X) and X.format == "csc" and X.dtype == np.float64):
        X = sp.csc_matrix(X, dtype=np.float64)
    n, p = X.shape
    y = np.asarray(y, dtype=float)
    rs = np.ones(n) if row_scale is None else np.asarray(row_scale, dtype=float)
    w = np.zeros(p) if w0 is None else np.maximum(np.asarray(w0, float), 0.0).copy()
    l1 = alpha * l1_ratio
    l2 = alpha * (1.0 - l1_ratio)
    if xty is None:
        xty = X.T @ (rs * y)
    scale = max(float(np.abs(xty).max()) / n, 1e-300)

    def residual(w):
        return y - rs * support_product(X, w)

    def violations(corr, wv):
        grad = -corr + l1 + l2 * wv
        return grad, np.where(wv > 0, np.abs(grad), np.maximum(-grad, 0.0))

    # strong set: the support plus columns that may enter at this alpha
    if corr0 is not None and alpha_prev is not None:
        corr_prev = np.asarray(corr0, float)
    elif w0 is None or not np.any(w0):
        corr_prev, alpha_prev = xty / n, None
    else:
        corr_prev, alpha_prev = None, None
    if corr_prev is not None:
        thresh = l1_ratio * (2.0 * alpha - (alpha_prev if alpha_prev is not None else alpha))
        strong = np.flatnonzero((w > 0) | (corr_prev >= thresh))
    else:
        strong = np.arange(p)
    info = {"n_outer": 0, "kkt_violation": np.inf, "working_set": 0, "converged": False,
            "n_full_gradients": 0, "strong_set": int(strong.size)}
    it = 0
    while True:
        # ---- working-set iterations restricted to the strong set
        Xs_all = X[:, strong] if strong.size < p else X
        XsT = Xs_all.T
        corr_s_final = None     # the strong set's gradient at the final w of the loop
        while it < max_outer:
            r = residual(w)
            corr_s = (XsT @ (rs * r)) / n
            grad_s, viol_s = violations(corr_s, w[strong])
            if float(viol_s.max(initial=0.0)) / scale <= tol:
                corr_s_final = corr_s
                break
            it += 1
            active = w[strong] > 0
            support = strong[active]
            k = grow or max(250, support.size)
            cand_local = np.flatnonzero(~active & (grad_s < 0))
            if cand_local.size > k:
                cand_local = cand_local[np.argpartition(grad_s[cand_local], k)[:k]]
            cand = strong[cand_local]
            ws = np.union1d(support, cand)
            if ws.size > max_working:  # keep the support and the worst violators
                extra = max_working - support.size
                ws = np.union1d(support, cand[:extra]) if extra > 0 else support[np.argsort(-w[support])[:max_working]]
            info["working_set"] = int(ws.size)
            Xw = X[:, ws].toarray() * rs[:, None]
            w_ws = _inner(Xw, y, alpha, l1_ratio, w[ws], tol=tol * 0.1, max_iter=max_inner_iter)
            w[:] = 0.0
            w[ws] = w_ws
        # ---- full KKT check over all columns (one sparse product)
        if corr_s_final is not None and strong.size == p:    # the strong set is every column: nothing to redo
            corr = corr_s_final
        else:
            corr = (X.T @ (rs * residual(w))) / n
        info["n_full_gradients"] += 1
        _, viol = violations(corr, w)
        kkt = float(viol.max()) / scale
        info.update(n_outer=it, kkt_violation=kkt, converged=kkt <= tol, corr=corr)
        if kkt <= tol or it >= max_outer:
            break
        missed = np.setdiff1d(np.flatnonzero(viol / scale > tol), strong, assume_unique=False)
        if missed.size == 0:  # violations inside the strong set: iterations ran out
            break
        strong = np.union1d(strong, missed)
        info["strong_set"] = int(strong.size)
    return w, info


def nonneg_enet_path(X, y, *, alphas, l1_ratio, tol=1e-4, **kwargs):
    """Solutions for decreasing ``alphas`` with warm starts; returns (n_alphas, n_cols) and infos."""
    X = sp.csc_matrix(X, dtype=np.float64)
    w, corr, a_prev = None, None, None
    out = np.zeros((len(alphas), X.shape[1]))
    infos = []
    for i, a in enumerate(alphas):
        w, info = nonneg_enet(X, y, alpha=float(a), l1_ratio=l1_ratio, w0=w, tol=tol, corr0=corr,
                              alpha_prev=a_prev, **kwargs)
        corr, a_prev = info.pop("corr"), float(a)
        out[i] = w
        infos.append(info)
    return out, infos
