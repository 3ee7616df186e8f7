"""Out-of-domain test of observed line ratios against a photoionisation grid.

A spectrum is inside the grid's domain when some model reproduces its observed log ratios within the
errors: chi^2 = sum_j (r_j - m_j)^2 / (sigma_j^2 + tol^2) over the observed lines, minimised over a
dense cloud of models (the nodes and multilinear interpolants between them), is below the
``1 - pvalue`` quantile of chi^2 with n_lines degrees of freedom. ``tol`` (dex) is the accuracy
granted to the grid itself. A ratio below twice its own 1-sigma error is consistent with zero, so the
candidates' chi^2 compares ``max(value, floor)`` with ``floor = log10(2 sigma_linear)`` on both sides: a
noise spike at S/N ~ 2-3 in a line the models put at ~0 (He II 4686 in HII regions) does not make a
spectrum out of domain, while a detection at S/N >~ 5 still does.

Any model's chi^2 bounds the minimum from above, so a spectrum is settled as soon as one model passes:
first the ``guess`` given by the caller (the grid interpolated at the estimated parameters: no search
at all, which keeps small calls fast), then, for the few spectra of a small call it does not settle, the
caller's ``candidates`` (the grid at the corners and edges of the estimate's 68 % box), then the Euclidean
nearest model of the cloud (a k-d tree per
pattern of observed lines, built on first use; a full scan when only a few spectra need it), and last,
with the detection floor, its 32 nearest models; so millions of spectra take seconds.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["chi2_to_guess", "detection_floor", "in_domain", "min_chi2_to_models"]

_BRUTE_MAX = 16   # spectra of one pattern of lines scanned against the whole cloud without a k-d tree
_CANDIDATES_MAX = 4096   # unsettled spectra for which the caller's candidates are tried (beyond: k-d trees)


def detection_floor(r, sigma) -> np.ndarray:
    """log10 of twice the linear 1-sigma error of each log ratio ``r`` (``sigma`` in dex)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return r + np.log10(2.0 * np.log(10.0) * sigma)


def _remember(cache, key, value, size=32):
    """Keep ``value`` in the dict ``cache`` (if any), dropping the oldest entry beyond ``size``."""
    if cache is not None:
        if len(cache) >= size:
            cache.pop(next(iter(cache)))
        cache[key] = value


def min_chi2_to_models(r, sigma, cloud, *, tol_dex, k=32, workers=1, cache=None, floor=None) -> np.ndarray:
    """Minimum chi^2 of every row of ``r`` (n, L; NaN = missing) to the models ``cloud`` (m, L).

    ``cache``: optional dict keeping the k-d tree (or, for a scan, the columns) of each pattern of observed lines
    between calls.
    ``floor`` (n, L): values below it on either side count as the floor (see the module docstring).
    Patterns seen in at most a few spectra (and with no cached tree) are scanned exhaustively (exact minimum).
    """
    from scipy.spatial import cKDTree

    n = r.shape[0]
    out = np.full(n, np.nan)
    present = np.isfinite(r)
    code = present.astype(np.int64) @ (np.int64(1) << np.arange(r.shape[1], dtype=np.int64))
    codes, inverse = np.unique(code, return_inverse=True)
    kk = int(min(k, cloud.shape[0]))
    for p_i, c in enumerate(codes):
        pat = (int(c) >> np.arange(r.shape[1])) & 1 == 1
        if not pat.any():
            continue
        rows = np.flatnonzero(inverse == p_i)
        cols = np.flatnonzero(pat)
        key = pat.tobytes()
        if rows.size <= _BRUTE_MAX and not (cache is not None and key in cache):
            # a few spectra: a scan of the whole cloud is cheaper than building a k-d tree (its columns kept)
            pts = None if cache is None else cache.get(b"cols" + key)
            if pts is None:
                pts = np.ascontiguousarray(cloud[:, cols])
                _remember(cache, b"cols" + key, pts)
            for i in rows:
                x = r[i, cols].astype(pts.dtype)
                w = (1.0 / (sigma[i, cols] ** 2 + tol_dex**2)).astype(pts.dtype)
                models = pts if floor is None else np.maximum(pts, floor[i, cols].astype(pts.dtype))
                if floor is not None:
                    x = np.maximum(x, floor[i, cols].astype(pts.dtype))
                d = models - x
                d *= d
                out[i] = float(np.min(d @ w))
            continue
        if cache is not None and key in cache:
            pts, tree = cache[key]
        else:
            pts = np.ascontiguousarray(cloud[:, cols])
            tree = cKDTree(pts, balanced_tree=False, compact_nodes=False)   # builds 2-3x faster
            _remember(cache, key, (pts, tree))
        for s in range(0, rows.size, 65536):
            rr = rows[s:s + 65536]
            x = r[np.ix_(rr, cols)]
            _, idx = tree.query(x, k=kk, workers=workers, eps=0.5 if kk == 1 else 0.0)
            idx = idx.reshape(rr.size, kk)
            var = sigma[np.ix_(rr, cols)] ** 2 + tol_dex**2
            models = pts[idx]
            if floor is not None:
                f = floor[np.ix_(rr, cols)]
                x, models = np.maximum(x, f), np.maximum(models, f[:, None, :])
            chi2 = np.sum((models - x[:, None, :]) ** 2 / var[:, None, :], axis=2)
            out[rr] = chi2.min(axis=1)
    return out


def chi2_to_guess(r, sigma, guess, *, tol_dex) -> np.ndarray:
    """chi^2 of every row of ``r`` (n, L; NaN = missing) to its own candidate model ``guess`` (n, L; NaN: none).

    ``guess`` may also hold several candidates per spectrum, (n, m, L): the smallest chi^2 is returned.
    """
    present = np.isfinite(r)
    var = np.where(present, sigma, 0.0) ** 2 + tol_dex**2
    if guess.ndim == 3:
        present, var, r = present[:, None, :], var[:, None, :], r[:, None, :]
    d2 = np.where(present, (guess - np.where(present, r, 0.0)) ** 2 / var, 0.0)
    chi2 = d2.sum(axis=-1)     # NaN where the guess lacks an observed line (a hole): not settled
    if chi2.ndim == 2:
        chi2 = np.where(np.isnan(chi2), np.inf, chi2).min(axis=1)
        chi2[np.isinf(chi2)] = np.nan
    return chi2


def in_domain(r, sigma, cloud, *, tol_dex, pvalue, workers=1, cache=None, guess=None,
              candidates=None) -> tuple[np.ndarray, np.ndarray]:
    """``(inside, chi2)``: inside when the smallest chi^2 found is <= chi2.ppf(1 - pvalue, n_observed_lines).

    ``guess`` (n, L), optional: one candidate model per spectrum tried first. ``candidates``, optional: a
    function of the indices of the spectra ``guess`` leaves unsettled returning (k, m, L) more candidate
    models for them, tried next when at most a few thousand are unsettled. ``chi2`` is the minimum over the
    cloud for the spectra that needed the search, else the (upper-bound) chi^2 that settled them.
    """
    dof = np.isfinite(r).sum(axis=1)
    limit = special.chdtri(np.maximum(dof, 1), pvalue)     # chi2.ppf(1 - pvalue, dof), without its overhead
    chi2 = np.full(r.shape[0], np.nan)
    if guess is not None:
        chi2 = chi2_to_guess(r, sigma, guess, tol_dex=tol_dex)
    todo = np.flatnonzero(~(chi2 <= limit) & (dof > 0))
    if candidates is not None and 0 < todo.size <= _CANDIDATES_MAX:
        chi2[todo] = np.fmin(chi2[todo], chi2_to_guess(r[todo], sigma[todo], candidates(todo), tol_dex=tol_dex))
    # the (approximate) Euclidean nearest model decides for almost every other spectrum; only spectra it
    # fails are searched among their 32 nearest models, with the detection floor
    todo = np.flatnonzero(~(chi2 <= limit) & (dof > 0))
    if todo.size:
        chi2[todo] = np.fmin(chi2[todo], min_chi2_to_models(r[todo], sigma[todo], cloud, tol_dex=tol_dex, k=1,
                                                            workers=workers, cache=cache))
    again = np.flatnonzero(~(chi2 <= limit) & (dof > 0))
    if again.size:
        chi2[again] = np.fmin(chi2[again], min_chi2_to_models(r[again], sigma[again], cloud, tol_dex=tol_dex, k=32,
                                                              workers=workers, cache=cache,
                                                              floor=detection_floor(r[again], sigma[again])))
    return (chi2 <= limit) & (dof > 0), chi2
