"""Voigt-profile refit of DLA candidates: column density from the damping wings of Lyman-alpha.

The window CNN of :class:`DLAFinder` measures log NHI to ~0.1-0.25 dex, too coarse to tell a DLA
(log NHI >= 20.3) from the sub-DLAs just below the limit, which are the main false detections of
automated searches. Surveys therefore fit a Voigt profile to each candidate's damping wings (Prochaska
et al. 2005, ApJ 635, 123; Noterdaeme et al. 2012, A&A 547, L1; Garnett et al. 2017, MNRAS 472, 1850;
Parks et al. 2018, MNRAS 476, 1151). This module does that on the CNN's own input window (flux divided
by the quasar's flux at rest 1270-1350 A, on a grid uniform in log wavelength, where a Lyman-alpha
profile has the same shape at every redshift):

* model ``C(u) * exp(-N * T(u))`` within +-``half_width`` pixels of the candidate, with ``T`` the
  Lyman-alpha Voigt cross-section (b = 30 km/s; the damped profile does not depend on b at these column
  densities) and ``C`` a local quadratic continuum, solved by weighted linear least squares for every
  column density of a grid (``log N`` 18.8-22.6, step 0.04) at the CNN's redshift and at +-1 pixel;
* forest lines absorb the quasar below the profile, so pixels more than ``clip_low`` sigma below the
  best model are masked, and pixels more than ``clip_high`` sigma above it (sky residuals), for
  ``n_iter`` rounds (iterative clipping, as in the fitters above);
* log NHI is the chi^2 minimum (parabolic interpolation on the grid) and its statistical error is
  ``sqrt(2 / chi2'')``, scaled by ``sqrt(chi^2 per degree of freedom)`` when that exceeds 1.

Only Lyman-alpha is fitted: the candidate's Lyman-beta lies 0.074 dex blueward, outside the CNN window
for all but proximate systems. The fit error ignores continuum-shape and forest-blending systematics;
:func:`combine_nhi` adds them as a floor before averaging with the CNN's own estimate.

Measured on the training simulator (2000 held-out spectra of seed 1082, fitted at the true absorber
positions): the refit's log NHI scatter (NMAD) is 0.09-0.12 dex at S/N > 6 per pixel, 0.17 at S/N 2-6 and
~0.3 below, with broader tails (forest blends, neighbouring absorbers; the same with the true continuum),
i.e. no better than the network's own (0.08-0.09 dex at S/N > 6). Averaging the two therefore sharpens the
DLA / sub-DLA separation only slightly (see :class:`DLAFinder` ``voigt_refit``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from ..constants import C_KMS
from ._physics import LYMAN_SERIES, damping_a, tau0_factor
from ._voigt import voigt_hjerting

__all__ = ["RefitResult", "combine_nhi", "refit_nhi", "window_flux_sigma"]

_LYA = LYMAN_SERIES[0]
_B_KMS = 30.0
LOG_N_GRID = np.round(np.arange(18.8, 22.6001, 0.04), 4)


class RefitResult(dict):
    """``log_nhi``, ``sigma`` (statistical, dex), ``chi2_dof``, ``n_pix`` (used), ``ok`` (bool); arrays (n_cand,)."""


def window_flux_sigma(X):
    """Normalised flux and its 1-sigma error from :meth:`DLAFinder.preprocess` windows (inf where masked)."""
    X = np.asarray(X)
    ch = X[:, 1].astype(np.float64)
    valid = ch > 0
    snr = np.expm1(3.0 * np.where(valid, ch, 1.0))
    sig = np.where(valid & (snr > 0), 1.0 / np.where(snr > 0, snr, 1.0), np.inf)
    return X[:, 0].astype(np.float64), sig


def _lya_cross_section(dpix, dlog10):
    """Lyman-alpha optical depth per unit column (cm^2) at ``dpix`` pixels of ``dlog10`` from line centre."""
    dv = C_KMS * (10.0 ** (dpix * dlog10) - 1.0)
    x = dv / _B_KMS
    a = damping_a(_LYA["gamma_s"], _LYA["wave_aa"], _B_KMS)
    return tau0_factor(_LYA["f"], _LYA["wave_aa"], _B_KMS) * voigt_hjerting(a, x)


def refit_nhi(flux, sigma, pix, *, dlog10: float = 1e-4, half_width: int = 100, shifts=(0.0,),
              clip_low: float = 2.0, clip_high: float = 4.0, n_iter: int = 5, min_pix: int = 40,
              log_n_grid=None, degree: int = 2, start_log_nhi=None, chunk: int = 64) -> RefitResult:
    """Fit log NHI of DLA candidates to the damping wings of Lyman-alpha (see the module docstring).

    Parameters
    ----------
    flux, sigma : ndarray (n_cand, n_window)
        Normalised flux and its error per candidate's window (``sigma`` inf where masked), e.g. rows of
        :func:`window_flux_sigma`.
    pix : array_like (n_cand,)
        Candidate centre in window pixels (fractional).
    dlog10 : float
        Pixel step in log10(wavelength).
    half_width : int
        Pixels fitted on each side of the candidate (150 x 1e-4 dex = +-10,300 km/s, beyond the wings of a
        log NHI = 21 system at tau ~ 0.1).
    shifts : sequence of float
        Trial shifts of the centre (pixels) around ``pix``.
    clip_low, clip_high : float
        Pixels more than this many sigma below / above the model are masked in the next round.
    n_iter : int
        Fit-and-clip rounds (>= 1).
    min_pix : int
        Fewer valid pixels than this: ``ok`` False.
    log_n_grid : array_like, optional
        Column densities tried (default ``LOG_N_GRID``); the fit is ``ok`` only when the minimum is inside it.
    degree : int
        Degree of the local continuum polynomial (0-2).
    start_log_nhi : array_like (n_cand,), optional
        Column densities whose model sets the first clipping mask (default: the best fit of the first round).
    chunk : int
        Candidates fitted at a time (memory ~ chunk x len(log_n_grid) x (2 half_width + 1) x 8 bytes x 4).

    Returns
    -------
    RefitResult with arrays ``log_nhi``, ``sigma``, ``chi2_dof``, ``n_pix``, ``ok``.
    """
    flux = np.atleast_2d(np.asarray(flux, float))
    sigma = np.atleast_2d(np.asarray(sigma, float))
    pix = np.atleast_1d(np.asarray(pix, float))
    if flux.shape != sigma.shape or flux.shape[0] != pix.size:
        raise ValueError(f"flux {flux.shape}, sigma {sigma.shape} and pix ({pix.size},) do not match")
    if n_iter < 1 or half_width < 5:
        raise ValueError("n_iter must be >= 1 and half_width >= 5")
    grid = LOG_N_GRID if log_n_grid is None else np.asarray(log_n_grid, float)
    n_c, n_w = flux.shape
    out = RefitResult(log_nhi=np.full(n_c, np.nan), sigma=np.full(n_c, np.inf), chi2_dof=np.full(n_c, np.nan),
                      n_pix=np.zeros(n_c, int), ok=np.zeros(n_c, bool))
    if n_c == 0:
        return out
    offs = np.arange(-half_width, half_width + 1)
    centre = np.rint(pix).astype(int)
    idx = centre[:, None] + offs[None]
    inside = (idx >= 0) & (idx < n_w)
    idc = np.clip(idx, 0, n_w - 1)
    rows = np.arange(n_c)[:, None]
    f = np.where(inside, flux[rows, idc], 0.0)
    s = np.where(inside, sigma[rows, idc], np.inf)
    w0 = np.where(np.isfinite(s) & (s > 0), 1.0 / np.where(np.isfinite(s) & (s > 0), s, 1.0) ** 2, 0.0)
    u = offs / half_width
    if degree not in (0, 1, 2):
        raise ValueError(f"degree must be 0, 1 or 2, got {degree!r}")
    nb = degree + 1
    basis = np.stack([u ** k for k in range(nb)])  # (nb, n_pix)
    start = None if start_log_nhi is None else np.abs(
        np.asarray(start_log_nhi, float).reshape(-1)[:, None] - grid[None]).argmin(axis=1)
    n_sh = len(shifts)
    dpix = (idx - pix[:, None])[:, None, :] - np.asarray(shifts, float)[None, :, None]  # (n_c, n_sh, n_pix)
    cross = _lya_cross_section(dpix, dlog10)
    ncol = 10.0 ** grid
    pairs = np.stack([basis[k] * basis[j] for k in range(nb) for j in range(nb)], axis=1)  # (n_pix, nb^2)
    chi_all = np.empty((n_c, n_sh, grid.size))
    n_used = np.zeros(n_c, int)
    i_sh = np.zeros(n_c, int)
    i_g = np.zeros(n_c, int)
    for c0_ in range(0, n_c, chunk):
        sl = slice(c0_, c0_ + chunk)
        fc, w0c = f[sl], w0[sl]
        prof = np.exp(-cross[sl][:, :, None, :] * ncol[None, None, :, None])  # (m, n_sh, n_g, n_pix)
        wc = w0c
        for it in range(n_iter):
            wp = wc[:, None, None, :] * prof
            a_mat = (wp * prof) @ pairs  # (m, n_sh, n_g, 9)
            rhs = (wp * fc[:, None, None, :]) @ basis.T  # (m, n_sh, n_g, 3)
            a_mat = a_mat.reshape(*a_mat.shape[:-1], nb, nb) + 1e-9 * np.eye(nb)
            coef = np.linalg.solve(a_mat, rhs[..., None])[..., 0]
            chi = np.sum(wc * fc * fc, axis=-1)[:, None, None] - np.sum(coef * rhs, axis=-1)
            m = chi.shape[0]
            flat = chi.reshape(m, -1).argmin(axis=1)
            ish, ig = np.unravel_index(flat, (n_sh, grid.size))
            if it == 0 and start is not None and n_iter > 1:  # first mask from the starting column density
                ish, ig = np.full(m, n_sh // 2), start[sl]
            r = np.arange(m)
            best_model = _refined_model(chi[r, ish], ig, grid, cross[sl][r, ish], wc, fc, basis)
            resid = (fc - best_model) * np.sqrt(w0c)
            used = (wc > 0).sum(axis=1)
            wc = np.where((resid < -clip_low) | (resid > clip_high), 0.0, w0c)
        chi_all[sl], i_sh[sl], i_g[sl] = chi, ish, ig
        n_used[sl] = used
    chi_g = chi_all[np.arange(n_c), i_sh]  # (n_c, n_g) at the best shift
    k = np.clip(i_g, 1, grid.size - 2)
    c0, c1, c2 = (chi_g[np.arange(n_c), k + d] for d in (-1, 0, 1))
    step = grid[1] - grid[0]
    curv = (c0 - 2 * c1 + c2) / step ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(curv > 0, 0.5 * step * (c0 - c2) / (c0 - 2 * c1 + c2), 0.0)
        delta = np.clip(delta, -step, step)
        dof = np.maximum(n_used - 4, 1)
        chi2_dof = chi_g[np.arange(n_c), i_g] / dof
        sig = np.where(curv > 0, np.sqrt(2.0 / curv), np.inf) * np.sqrt(np.maximum(chi2_dof, 1.0))
    at_edge = (i_g == 0) | (i_g == grid.size - 1)
    ok = (n_used >= min_pix) & np.isfinite(sig) & ~at_edge
    out["log_nhi"] = np.where(ok, grid[k] + delta, np.nan)
    out["sigma"] = np.where(ok, sig, np.inf)
    out["chi2_dof"] = chi2_dof
    out["n_pix"] = n_used
    out["ok"] = ok
    return out


def _refined_model(chi_g, ig, grid, cross, w, f, basis):
    """Best model at the parabolic minimum of chi^2 between grid points (the clipping would otherwise flag
    wing pixels that differ from the nearest grid model by more than their noise at high S/N)."""
    m = chi_g.shape[0]
    r = np.arange(m)
    k = np.clip(ig, 1, grid.size - 2)
    c0, c1, c2 = (chi_g[r, k + d] for d in (-1, 0, 1))
    den = c0 - 2 * c1 + c2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(den > 0, 0.5 * (c0 - c2) / den, 0.0)
    log_n = grid[k] + np.clip(delta, -1.0, 1.0) * (grid[1] - grid[0])
    log_n = np.where((ig == 0) | (ig == grid.size - 1), grid[ig], log_n)
    prof = np.exp(-cross * 10.0 ** log_n[:, None])  # (m, n_pix)
    bp = basis[None] * prof[:, None, :]
    a_mat = np.einsum("mkp,mjp,mp->mkj", bp, bp, w) + 1e-9 * np.eye(basis.shape[0])
    coef = np.linalg.solve(a_mat, np.einsum("mkp,mp->mk", bp, w * f)[..., None])[..., 0]
    return np.einsum("mk,mkp->mp", coef, bp)


def combine_nhi(cnn_nhi, cnn_sigma, fit_nhi, fit_sigma, *, floor: float, scale: float = 1.0,
                min_log_nhi: float = 20.3):
    """Inverse-variance mean of the CNN and the Voigt-fit log NHI, and P(log NHI >= ``min_log_nhi``).

    The fit's error is ``sqrt((scale * fit_sigma)**2 + floor**2)`` (``floor``: continuum and forest-blending
    systematics, calibrated on held-out simulated spectra); a failed fit (NaN / inf) leaves the CNN value.

    Returns
    -------
    log_nhi, sigma, p_dla : ndarray
    """
    cnn_nhi, cnn_sigma = np.asarray(cnn_nhi, float), np.asarray(cnn_sigma, float)
    fit_nhi, fit_sigma = np.asarray(fit_nhi, float), np.asarray(fit_sigma, float)
    good = np.isfinite(fit_nhi) & np.isfinite(fit_sigma)
    s_fit2 = (scale * np.where(good, fit_sigma, 1.0)) ** 2 + floor ** 2
    w_cnn = 1.0 / cnn_sigma ** 2
    w_fit = np.where(good, 1.0 / s_fit2, 0.0)
    nhi = (w_cnn * cnn_nhi + w_fit * np.where(good, fit_nhi, 0.0)) / (w_cnn + w_fit)
    sig = 1.0 / np.sqrt(w_cnn + w_fit)
    return nhi, sig, ndtr((nhi - min_log_nhi) / sig)
