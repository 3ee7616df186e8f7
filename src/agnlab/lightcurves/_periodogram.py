"""Multiband period search reaching short periods, and features of the folded light curve.

The default Lomb-Scargle grids stop near the mean Nyquist frequency, a period of ~11 days at ZTF
cadence, which misses RR Lyrae, delta Scuti and contact binaries. Here the grid runs from periods
of ``min_period_days`` (default 0.04 d) to the baseline, with spacing set by the baseline (about one
point per peak width), using the fast (NFFT) periodogram of the ``light-curve`` package on the
standardised detections of all bands together (each band minus its weighted mean, divided by its
standard deviation, so bands share phase but not zero point or amplitude). The best peaks are
refined by a direct multiband least-squares fit (per-band offset, sine and cosine) on a fine grid
around each peak (cf. VanderPlas & Ivezić 2015, ApJ 812, 18 for multiband periodograms).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["FOLDED_NAMES", "PERIOD_NAMES", "folded_features", "multiband_period"]

PERIOD_NAMES = ("period_days", "log10_period", "period_power", "period_snr", "period_power_half",
                "period_power_double")
FOLDED_NAMES = ("harm_amp1", "harm_r21", "harm_r31", "harm_phi21", "harm_phi31", "folded_psi_cs", "folded_eta",
                "folded_chi2_ratio")


@functools.lru_cache(maxsize=16)
def _periodogram(k: int, fmax: float):
    import light_curve as lc

    return lc.Periodogram(freqs=np.linspace(0.0, fmax, 2 ** k + 1), fast=True, peaks=1)


def _multiband_power(omegas, t, y, w, band_codes, n_bands):
    """Fraction of chi^2 explained by a per-band offset + sinusoid at each angular frequency.

    Per band, the 3 x 3 weighted normal equations (offset, cos, sin) at every frequency come from
    matrix-vector products of the (F, N) cosine and sine tables with the weights; one batched solve.
    """
    power = np.zeros(omegas.size)
    chi0_tot = 0.0
    for b in range(n_bands):
        sel = band_codes == b
        if np.count_nonzero(sel) < 3:
            continue
        tb, yb, wb = t[sel], y[sel], w[sel]
        sw = np.sum(wb)
        yb = yb - np.sum(wb * yb) / sw
        wy = wb * yb
        chi0_tot += float(np.dot(wy, yb))
        ph = np.multiply.outer(omegas, tb)
        c, s = np.cos(ph), np.sin(ph)
        sc, ss = c @ wb, s @ wb
        cw = c * wb
        scc = np.einsum("ij,ij->i", cw, c)
        scs = np.einsum("ij,ij->i", cw, s)
        sss = sw - scc
        A = np.empty((omegas.size, 3, 3))
        A[:, 0, 0] = sw + 1e-12
        A[:, 0, 1] = A[:, 1, 0] = sc
        A[:, 0, 2] = A[:, 2, 0] = ss
        A[:, 1, 1] = scc + 1e-12
        A[:, 1, 2] = A[:, 2, 1] = scs
        A[:, 2, 2] = sss + 1e-12
        rhs = np.zeros((omegas.size, 3))
        rhs[:, 1], rhs[:, 2] = c @ wy, s @ wy       # the offset row is zero: yb has zero weighted mean
        coef = np.linalg.solve(A, rhs[..., None])[..., 0]
        power += np.sum(coef * rhs, axis=1)          # chi^2 reduction
    return power / chi0_tot if chi0_tot > 0 else np.full(omegas.size, np.nan)


def multiband_period(t, m, e, band_codes, n_bands, *, min_period_days=0.04, n_refine=3):
    """Best period of one object from all bands (detections), with its power and significance.

    Returns
    -------
    ndarray (len(PERIOD_NAMES),)
        period (days), log10 period, multiband power (fraction of chi^2 explained), peak SNR of the
        coarse periodogram, power at half and at double the period. NaN with fewer than 8 detections.
    """
    out = np.full(len(PERIOD_NAMES), np.nan)
    if t.size < 8:
        return out
    w = 1.0 / np.maximum(e, 1e-3) ** 2
    y = np.empty_like(m)
    for b in range(n_bands):
        sel = band_codes == b
        if sel.any():
            yb = m[sel] - np.sum(w[sel] * m[sel]) / np.sum(w[sel])
            sd = np.std(yb)
            y[sel] = yb / sd if sd > 0 else 0.0
    baseline = max(float(t.max() - t.min()), 1.0)
    fmax = 2 * np.pi / min_period_days
    k = int(np.clip(np.ceil(np.log2(fmax * baseline / (2 * np.pi))), 10, 17))
    freq, power = _periodogram(k, fmax).freq_power(t - t.min(), y)
    f_lo = 2 * np.pi / baseline * 2.0               # at least two cycles within the baseline
    valid = freq > f_lo
    if valid.sum() < 4:
        return out
    fv, pv = freq[valid], power[valid]
    snr_scale = (np.mean(pv), np.std(pv) + 1e-300)
    # local maxima, strongest first
    peaks = np.flatnonzero((pv[1:-1] >= pv[:-2]) & (pv[1:-1] >= pv[2:])) + 1
    peaks = peaks[np.argsort(-pv[peaks])][:n_refine]
    if peaks.size == 0:
        return out
    df = fv[1] - fv[0]
    offsets = np.linspace(-1.5 * df, 1.5 * df, 25)
    omegas = (fv[peaks][:, None] + offsets[None, :]).ravel()      # all peaks refined in one pass
    pw = _multiband_power(np.maximum(omegas, 1e-12), t, m, w, band_codes, n_bands)
    pw = np.where((omegas > 0) & np.isfinite(pw), pw, -np.inf)
    j = int(np.argmax(pw))
    if not np.isfinite(pw[j]):
        return out
    power_best, omega, coarse = pw[j], omegas[j], pv[peaks[j // offsets.size]]
    if not np.isfinite(omega):
        return out
    period = 2 * np.pi / omega
    ph, pd_ = _multiband_power(np.array([omega * 2.0, omega / 2.0]), t, m, w, band_codes, n_bands)
    out[:] = (period, np.log10(period), power_best, (coarse - snr_scale[0]) / snr_scale[1], ph, pd_)
    return out


def folded_features(t, m, e, period):
    """Harmonic (3 terms) fit and folded-curve features of one band at ``period``.

    ``harm_amp1`` first-harmonic amplitude (mag), ``harm_r21/r31`` amplitude ratios, ``harm_phi21/31``
    phase differences (``phi_k - k phi_1`` modulo 2 pi), ``folded_psi_cs`` range of the cumulative sum
    of the phase-sorted residuals (Kim et al. 2011), ``folded_eta`` von Neumann ratio of the folded curve,
    ``folded_chi2_ratio`` chi^2 of the harmonic fit over chi^2 of a constant. Fewer than 8 points: NaN.
    """
    out = np.full(len(FOLDED_NAMES), np.nan)
    if t.size < 8 or not np.isfinite(period) or period <= 0:
        return out
    w = 1.0 / np.maximum(e, 1e-3) ** 2
    ph = 2 * np.pi * t / period
    X = np.column_stack([np.ones_like(t)] + [f(k * ph) for k in (1, 2, 3) for f in (np.cos, np.sin)])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X * sw[:, None], m * sw, rcond=None)
    amps = np.hypot(coef[1::2], coef[2::2])
    phis = np.arctan2(-coef[2::2], coef[1::2])
    resid = m - X @ coef
    mu = np.sum(w * m) / np.sum(w)
    chi0 = np.sum(w * (m - mu) ** 2)
    order = np.argsort((t / period) % 1.0)
    mf = m[order]
    sd = np.std(mf)
    psi_cs = np.ptp(np.cumsum(mf - np.mean(mf))) / (mf.size * sd) if sd > 0 else np.nan
    eta = np.mean(np.diff(mf) ** 2) / sd ** 2 if sd > 0 else np.nan
    a1 = amps[0]
    out[:] = (a1, amps[1] / a1 if a1 > 0 else np.nan, amps[2] / a1 if a1 > 0 else np.nan,
              (phis[1] - 2 * phis[0]) % (2 * np.pi), (phis[2] - 3 * phis[0]) % (2 * np.pi), psi_cs, eta,
              np.sum(w * resid ** 2) / chi0 if chi0 > 0 else np.nan)
    return out
