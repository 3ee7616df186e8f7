"""Stochastic-variability features computed for many light curves at once.

* Damped random walk (Kelly et al. 2009, ApJ 698, 895; MacLeod et al. 2010, ApJ 721, 1014):
  the exact Ornstein-Uhlenbeck likelihood with measurement errors (a Kalman filter), maximised on
  a grid of (tau, sigma); vectorised over objects and grid points, one pass over the epochs.
* IAR phi (Eyheramendy et al. 2018, MNRAS 481, 4311): the irregular autoregressive coefficient of
  the standardised light curve, ``y_i = phi**dt y_{i-1} + noise``; the same likelihood with the
  process variance fixed to the observed variance minus the noise variance, ``phi = exp(-1 / tau)``.
* MHPS (Arévalo et al. 2012, MNRAS 426, 1793): Mexican-hat filtered variance of the gapped light
  curve on a one-day grid at 10-day and 100-day scales, as used by ALeRCE (Sánchez-Sáez et al. 2021).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

__all__ = ["DRW_LOG_SIGMA", "DRW_LOG_TAU", "IAR_LOG_TAU", "drw_iar", "mhps", "mhps_many", "pad"]

DRW_LOG_TAU = np.linspace(0.0, 4.0, 17)      # log10 tau / day
DRW_LOG_SIGMA = np.linspace(-2.4, 0.4, 11)   # log10 stationary sigma / mag
IAR_LOG_TAU = np.linspace(-1.0, 4.0, 21)


def pad(groups):
    """Pad a list of 1-D arrays (per object) into (n, L) float arrays; returns (array, lengths)."""
    n = np.array([g.size for g in groups], dtype=int)
    out = np.zeros((len(groups), int(n.max()) if len(groups) else 0))
    for i, g in enumerate(groups):
        out[i, : g.size] = g
    return out, n


def _ou_loglike(t, y, e2, n, tau, s2):
    """Log-likelihood (n_obj, G) of OU processes (timescales ``tau`` (G,), variances ``s2`` (n_obj, G))."""
    order = np.argsort(-n, kind="stable")            # longest first: rows active at step i are a prefix
    t, y, e2, n, s2 = t[order], y[order], e2[order], n[order], s2[order]
    n_obj, G = s2.shape
    x = np.zeros((n_obj, G))
    P = s2.copy()
    ll = np.zeros((n_obj, G))
    inv_tau = 1.0 / tau
    for i in range(int(n.max()) if n_obj else 0):
        k = int(np.count_nonzero(n > i))                # rows still active at step i
        if i > 0:
            a = np.exp(-(t[:k, i] - t[:k, i - 1])[:, None] * inv_tau)
            x[:k] *= a
            P[:k] = a * a * P[:k] + s2[:k] * (1.0 - a * a)
        S = P[:k] + e2[:k, i, None]
        v = y[:k, i, None] - x[:k]
        ll[:k] -= 0.5 * (np.log(S) + v * v / S)
        K = P[:k] / S
        x[:k] += K * v
        P[:k] *= 1.0 - K
    out = np.empty_like(ll)
    out[order] = ll
    return out


def drw_iar(times, mags, errs):
    """DRW (log10 tau, log10 sigma) and IAR phi for many light curves (lists of 1-D arrays, one band).

    Curves with fewer than 5 epochs get NaN.

    Returns
    -------
    dict of ndarray (n,): ``drw_log_tau``, ``drw_log_sigma``, ``iar_phi``
    """
    n_obj = len(times)
    res = {k: np.full(n_obj, np.nan) for k in ("drw_log_tau", "drw_log_sigma", "iar_phi")}
    ok = np.array([t.size >= 5 for t in times], dtype=bool)
    if not ok.any():
        return res
    idx = np.flatnonzero(ok)
    t, n = pad([times[i] - times[i][0] for i in idx])
    w = [1.0 / np.maximum(errs[i], 1e-3) ** 2 for i in idx]
    y, _ = pad([mags[i] - np.sum(mags[i] * wi) / np.sum(wi) for i, wi in zip(idx, w)])
    e2, _ = pad([np.maximum(errs[i], 1e-3) ** 2 for i in idx])
    lt, ls = np.meshgrid(DRW_LOG_TAU, DRW_LOG_SIGMA, indexing="ij")
    var_obs = np.array([np.var(mags[i]) for i in idx])
    noise = np.array([np.mean(np.maximum(errs[i], 1e-3) ** 2) for i in idx])
    s2_iar = np.maximum(var_obs - noise, 0.05 * var_obs + 1e-8)
    tau = np.concatenate([10 ** lt.ravel(), 10 ** IAR_LOG_TAU])
    s2 = np.concatenate([np.broadcast_to(10 ** (2 * ls.ravel()), (idx.size, lt.size)),
                         np.broadcast_to(s2_iar[:, None], (idx.size, IAR_LOG_TAU.size))], axis=1)
    ll = _ou_loglike(t, y, e2, n, tau, s2)
    g = lt.size
    best = np.argmax(ll[:, :g], axis=1)
    res["drw_log_tau"][idx] = lt.ravel()[best]
    res["drw_log_sigma"][idx] = ls.ravel()[best]
    best_iar = np.argmax(ll[:, g:], axis=1)
    res["iar_phi"][idx] = np.exp(-1.0 / 10 ** IAR_LOG_TAU[best_iar])
    return res


def mhps(t, m, e, *, scales_days=(10.0, 100.0), eps: float = 0.5):
    """Mexican-hat filtered variance (mag^2) at each scale for one light curve (Arévalo et al. 2012).

    The gapped curve is placed on a one-day grid; each scale uses two Gaussians of widths
    ``sigma / sqrt(1 + eps)`` and ``sigma * sqrt(1 + eps)`` with ``sigma = 0.225 * scale``, each
    normalised by the same convolution of the sampling mask. The noise variance filtered the same
    way is subtracted. Fewer than 5 epochs: NaN.
    """
    return mhps_many([np.asarray(t, float)], [np.asarray(m, float)], [np.asarray(e, float)],
                     scales_days=scales_days, eps=eps)[0]


def mhps_many(times, mags, errs, *, scales_days=(10.0, 100.0), eps: float = 0.5, max_cells: int = 4_000_000):
    """:func:`mhps` of many light curves (lists of 1-D arrays), filtering them together.

    The one-day grids of all curves are stacked into one zero-padded 2-D array and filtered along
    its rows (``mode="constant"`` pads with zeros, so each row equals its own filtering); rows are
    processed in blocks of at most ``max_cells`` grid cells. Returns (n, len(scales_days)).
    """
    n_obj = len(times)
    out = np.full((n_obj, len(scales_days)), np.nan)
    ok = [i for i in range(n_obj) if times[i].size >= 5]
    if not ok:
        return out
    lengths = {i: int(np.floor(times[i][-1] - times[i][0])) + 1 for i in ok}
    ok.sort(key=lambda i: lengths[i])                  # similar lengths together: little padding
    blocks, cur, cur_max = [], [], 0
    for i in ok:
        new_max = max(cur_max, lengths[i])
        if cur and new_max * (len(cur) + 1) > max_cells:
            blocks.append(cur)
            cur, new_max = [], lengths[i]
        cur.append(i)
        cur_max = new_max
    if cur:
        blocks.append(cur)
    for blk in blocks:
        L = max(lengths[i] for i in blk)
        x = np.zeros((len(blk), L))
        cnt = np.zeros((len(blk), L))
        nv = np.zeros((len(blk), L))
        for r, i in enumerate(blk):
            t, m, e = times[i], mags[i], errs[i]
            idx = np.floor(t - t[0]).astype(int)
            np.add.at(x[r], idx, m - np.mean(m))
            np.add.at(cnt[r], idx, 1.0)
            np.add.at(nv[r], idx, e * e)
        mask = cnt > 0
        x[mask] /= cnt[mask]
        nv[mask] /= cnt[mask] ** 2
        n_mask = mask.sum(axis=1)
        mean_nv = np.sum(nv, axis=1) / n_mask
        Ls = np.array([lengths[i] for i in blk], dtype=float)
        maskf = mask.astype(float)
        for k, scale in enumerate(scales_days):
            sig = 0.225 * scale
            filt = []
            for s_ in (sig / np.sqrt(1 + eps), sig * np.sqrt(1 + eps)):
                norm = gaussian_filter1d(maskf, s_, axis=1, mode="constant", truncate=3.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    filt.append(gaussian_filter1d(x, s_, axis=1, mode="constant", truncate=3.0)
                                / np.where(norm > 1e-12, norm, np.nan))
            f = np.where(mask, filt[0] - filt[1], np.nan)
            good = np.isfinite(f)
            n_good = good.sum(axis=1)
            fz = np.where(good, f, 0.0)
            mu = fz.sum(axis=1) / np.maximum(n_good, 1)
            var = np.where(good, (fz - mu[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(n_good, 1)
            n_eff = np.maximum(n_mask * sig / np.maximum(Ls, 1), 1.0)
            val = np.maximum(var - mean_nv * eps / n_eff, 0.0) / eps ** 2
            out[blk, k] = np.where(n_good > 2, val, np.nan)
    return out
