"""``VRAEAnomalyDetector``: reconstruction-error and latent-space anomaly scores for AGN light curves."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._domain import check_on_out_of_domain, domain_flags
from .._estimator import AgnlabEstimator, compute_context
from ._validate import clean_lightcurves
from ._vrae_stats import IF_STATISTICS, curve_statistics

__all__ = ["IF_INPUTS", "IF_NETWORKS", "IF_STATISTICS", "NORMALIZATIONS", "R_MODES", "SCHEDULES", "VRAEAnomalyDetector",
           "fit_r_calibration", "r_calibrated", "variability_scale"]

_DT_SCALE = np.log1p(365.0)


#: assumed 1-sigma uncertainty (mag) of a 5-sigma upper limit, for the censored terms
LIMIT_SIGMA_MAG = 0.2
#: per-object magnitude scales of ``VRAEAnomalyDetector(normalize=...)``
NORMALIZATIONS = ("none", "variability", "amplitude")
#: what the Isolation Forest of ``VRAEAnomalyDetector(if_input=...)`` sees
IF_INPUTS = ("posterior", "mean")
#: which network's latent the Isolation Forest of ``VRAEAnomalyDetector(if_network=...)`` sees
IF_NETWORKS = ("separate", "shared")
#: learning-rate schedules of the reconstruction network, ``VRAEAnomalyDetector(schedule=...)``
SCHEDULES = ("plateau", "cosine")
#: what ``R`` compares each epoch with, ``VRAEAnomalyDetector(r_mode=...)``
R_MODES = ("reconstruction", "held_out_season")


def variability_scale(t, rel, band, detected, max_lag: float = 50.0) -> float:
    """Robust epoch-to-epoch scatter (mag) of one light curve: ``1.4826 median |dm| / sqrt(2)`` over
    consecutive detections in the same band less than ``max_lag`` days apart (photometric noise plus
    the short-lag structure function of the variability). An abrupt change or a flare touches only a
    few such pairs, so the scale reflects the object's ordinary variability, not the event. Falls back
    to the normalised median absolute deviation with fewer than 5 pairs; floored at 0.01 mag."""
    diffs = []
    for j in np.unique(band):
        sel = (band == j) & detected
        tt, mm = t[sel], rel[sel]
        close = np.diff(tt) < max_lag
        diffs.append(np.diff(mm)[close])
    d = np.concatenate(diffs) if diffs else np.zeros(0)
    if d.size >= 5:
        s = 1.4826 * np.median(np.abs(d)) / np.sqrt(2.0)
    else:
        r = rel[detected]
        s = 1.4826 * np.median(np.abs(r - np.median(r))) if r.size else 0.0
    return float(max(s, 0.01))


def fit_r_calibration(R, n_epochs, min_per_bin: int = 40, *, error=None, max_objects: int = 20000) -> dict:
    """Location and width of ``ln R`` as straight lines in ``ln N`` (``N`` epochs in ``R``), from training objects.

    ``R`` is a mean of ``N`` terms, but its spread at fixed ``N`` is far wider than that of ``chi2_N / N``
    (the residuals of one curve are correlated, so far fewer than ``N`` are independent) and its median
    falls with ``N`` (sparse curves constrain the latent less). Rather than assume a distribution, the
    objects are split into quantile bins of ``ln N`` (at least ``min_per_bin`` each, at most 8); per bin
    the median of ``ln R`` and the upper-tail width ``(q90 - q50) / 1.2816`` of ``ln R`` (robust to a few
    anomalies among the training curves; the tail is what ranking uses) are taken, and straight lines in
    ``ln N`` are fitted to both. Fewer than two bins: constant location and width.
    Returns ``{"loc": [slope, intercept], "width": [slope, intercept], "ln_n_range": [lo, hi]}``.

    With ``error`` (per object, the median photometric error of its detections) the location and width
    are planes in ``(ln N, ln error)`` instead: linear quantile regressions (Koenker & Bassett 1978) of
    ``ln R`` at the 0.5 and 0.9 quantiles, width ``(q90 - q50) / 1.2816``, on at most ``max_objects``
    objects (evenly spaced in the input order). ``R`` depends on the signal-to-noise as well as on ``N``:
    for a well-measured curve the squared residuals are dominated by the variability that the decoder
    leaves to ``err_pred``, for a faint one by the photometric errors. Returns ``{"loc": [a_N, a_err, b],
    "width": [...], "ln_n_range": [lo, hi], "ln_err_range": [lo, hi]}``.
    """
    if error is not None:
        return _fit_r_calibration_with_error(R, n_epochs, error, max_objects)
    x, y = np.log(np.asarray(n_epochs, float)), np.log(np.asarray(R, float))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 2:
        raise ValueError(f"fit_r_calibration: {x.size} finite (R, N) pairs; need at least 2")
    n_bins = int(np.clip(x.size // max(min_per_bin, 1), 1, 8))
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(edges.size - 2, 0))

    def width(v):
        return max((np.quantile(v, 0.9) - np.median(v)) / 1.2816, 1e-3)

    centres, loc, wid = [], [], []
    for k in np.unique(which):
        v = y[which == k]
        if v.size >= min(min_per_bin, x.size) // 2 and v.size >= 2:
            centres.append(np.median(x[which == k]))
            loc.append(np.median(v))
            wid.append(width(v))
    if len(centres) >= 2:
        loc_fit, wid_fit = np.polyfit(centres, loc, 1), np.polyfit(centres, wid, 1)
    else:
        loc_fit, wid_fit = [0.0, float(np.median(y))], [0.0, width(y)]
    return {"loc": [float(v) for v in loc_fit], "width": [float(v) for v in wid_fit],
            "ln_n_range": [float(x.min()), float(x.max())]}


def _fit_r_calibration_with_error(R, n_epochs, error, max_objects):
    from sklearn.linear_model import QuantileRegressor

    with np.errstate(divide="ignore", invalid="ignore"):
        X = np.column_stack([np.log(np.asarray(n_epochs, float)), np.log(np.asarray(error, float))])
        y = np.log(np.asarray(R, float))
    ok = np.isfinite(X).all(axis=1) & np.isfinite(y)
    X, y = X[ok], y[ok]
    if y.size < 4:
        raise ValueError(f"fit_r_calibration: {y.size} finite (R, N, error) triples; need at least 4")
    if y.size > max_objects:
        keep = np.unique(np.linspace(0, y.size - 1, max_objects).round().astype(int))
        X, y = X[keep], y[keep]
    coef = {}
    for q in (0.5, 0.9):
        fit = QuantileRegressor(quantile=q, alpha=0.0, solver="highs").fit(X, y)
        coef[q] = np.r_[fit.coef_, fit.intercept_]
    return {"loc": [float(v) for v in coef[0.5]], "width": [float(v) for v in (coef[0.9] - coef[0.5]) / 1.2816],
            "ln_n_range": [float(X[:, 0].min()), float(X[:, 0].max())],
            "ln_err_range": [float(X[:, 1].min()), float(X[:, 1].max())]}


def r_calibrated(R, n_epochs, calibration: dict, error=None) -> np.ndarray:
    """Standardised reconstruction error ``R_z = (ln R - loc(N)) / width(N)`` (:func:`fit_r_calibration`),
    with ``ln N`` clipped to the training range and the width floored at 0.02: about how many training-set
    tail widths an object's ``R`` lies above the median ``R`` of training curves with as many epochs.
    Ranking by ``R_z`` is ranking by the upper-tail probability of ``R`` at the object's ``N`` under a
    log-normal model of ``R`` at fixed ``N``. The identity calibration ``loc = 0, width = 1`` gives ``ln R``.
    A calibration fitted with ``error`` (it holds ``ln_err_range``) needs the objects' ``error`` too
    (clipped to the training range like ``ln N``)."""
    x = np.clip(np.log(np.asarray(n_epochs, float)), *calibration["ln_n_range"])
    if "ln_err_range" in calibration:
        if error is None:
            raise ValueError("r_calibrated: this calibration was fitted with the photometric error; pass error=")
        with np.errstate(divide="ignore", invalid="ignore"):
            x2 = np.clip(np.log(np.asarray(error, float)), *calibration["ln_err_range"])
        (a1, a2, a0), (w1, w2, w0) = calibration["loc"], calibration["width"]
        loc, wid = a1 * x + a2 * x2 + a0, np.maximum(w1 * x + w2 * x2 + w0, 0.02)
    else:
        loc, wid = np.polyval(calibration["loc"], x), np.maximum(np.polyval(calibration["width"], x), 0.02)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.log(np.asarray(R, float)) - loc) / wid


#: identity calibration (``R_z = ln R``): files saved before the calibration existed rank as they did
_NO_CALIBRATION = {"loc": [0.0, 0.0], "width": [0.0, 1.0], "ln_n_range": [-1e3, 1e3]}


def _sequences(lightcurves, bands, max_len: int, upper_limits: bool = True, normalize: str = "none"):
    """Per object: encoder inputs (L, 4 + n_bands), decoder conditions, targets, errors, limit flags.

    Epochs are the detections and, with ``upper_limits``, the non-detections (``mag`` = the limit,
    error :data:`LIMIT_SIGMA_MAG`, flag 1), in time order, magnitudes relative to the median detected
    magnitude of their band, divided (with the errors) by the ``normalize`` scale.
    The decoder sees only times and bands, never which epochs are limits.
    Each sequence is ``(x, cond, rel, err, limit flags, normalize scale, curve statistics, variability scale,
    epoch times in days)``, the statistics and scale from all detections (:func:`_detection_statistics`).
    Returns ``ids, seqs, flags, n_det`` (``n_det``: detections per object).
    """
    clean, flags = clean_lightcurves(lightcurves, bands=bands)
    if not upper_limits:
        clean = clean.loc[clean["detected"]]
    clean = clean.sort_values(["object_id", "mjd"], kind="stable")
    ids = list(pd.unique(flags.index))
    oid = clean["object_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, oid[1:] != oid[:-1]]) if oid.size else np.zeros(0, int)
    stops = np.r_[starts[1:], oid.size]
    t_all, m_all, e_all = (clean[c].to_numpy(float) for c in ("mjd", "mag", "mag_err"))
    d_all = clean["detected"].to_numpy(bool)
    b_all = clean["band"].map({b: i for i, b in enumerate(bands)}).to_numpy(int)
    seqs, n_det = {}, {}
    for s0, s1 in zip(starts, stops):
        t, m, e, b, d = t_all[s0:s1], m_all[s0:s1], e_all[s0:s1], b_all[s0:s1], d_all[s0:s1]
        n_det[oid[s0]] = int(d.sum())
        if not d.any():
            continue
        stats, vscale = _detection_statistics(t[d], m[d], b[d], len(bands))
        if t.size > max_len:              # keep the whole baseline: evenly spaced epochs
            keep = np.unique(np.linspace(0, t.size - 1, max_len).round().astype(int))
            t, m, e, b, d = t[keep], m[keep], e[keep], b[keep], d[keep]
        rel = m.copy()
        ref = np.median(m[d]) if d.any() else 0.0
        for j in range(len(bands)):
            sel = b == j
            if sel.any():
                rel[sel] = m[sel] - (np.median(m[sel & d]) if (sel & d).any() else ref)
        e = np.where(d, e, LIMIT_SIGMA_MAG)
        if normalize == "variability":
            scale = variability_scale(t, rel, b, d)
        elif normalize == "amplitude":
            scale = float(max(np.std(rel[d]), 0.01)) if d.sum() > 1 else 1.0
        else:
            scale = 1.0
        rel, e = rel / scale, e / scale
        lim = (~d).astype(np.float32)
        dt = np.log1p(np.diff(t, prepend=t[0])) / _DT_SCALE
        onehot = np.eye(len(bands))[b]
        x = np.column_stack([dt, np.where(d, rel, 0.0), e, lim, np.where(d, 0.0, rel), onehot]).astype(np.float32)
        cond = np.column_stack([dt, onehot]).astype(np.float32)
        seqs[oid[s0]] = (x, cond, rel.astype(np.float32), e.astype(np.float32), lim, scale, stats, vscale, t)
    return ids, seqs, flags, n_det


def _detection_statistics(t, m, b, n_bands):
    """:func:`agnlab.lightcurves._vrae_stats.curve_statistics` of all detections (before ``max_len`` thinning),
    magnitudes relative to their band's median; and the :func:`variability_scale` (mag) they used."""
    rel = m.copy()
    for j in range(n_bands):
        sel = b == j
        if sel.any():
            rel[sel] = m[sel] - np.median(m[sel])
    scale = variability_scale(t, rel, b, np.ones(t.size, bool))
    return curve_statistics(t, rel, b, scale), scale


def _median_errors(items) -> np.ndarray:
    """Per sequence, the median error of its detections (as the network sees them), for the ``R_z`` calibration."""
    return np.array([np.median(it[3][it[4] == 0]) if (it[4] == 0).any() else np.median(it[3]) for it in items],
                    dtype=np.float64)


def _batch(items, max_len):
    n = len(items)
    nb = items[0][0].shape[1] if n else 0
    L = max(it[0].shape[0] for it in items)
    x = np.zeros((n, L, nb), np.float32)
    cond = np.zeros((n, L, items[0][1].shape[1]), np.float32)
    tgt = np.zeros((n, L), np.float32)
    err = np.ones((n, L), np.float32)
    mask = np.zeros((n, L), np.float32)
    lim = np.zeros((n, L), np.float32)
    lengths = np.zeros(n, np.int64)
    for i, (xi, ci, ti, ei, li) in enumerate(it[:5] for it in items):
        k = xi.shape[0]
        x[i, :k], cond[i, :k], tgt[i, :k], err[i, :k], mask[i, :k], lim[i, :k] = xi, ci, ti, ei, 1.0, li
        lengths[i] = k
    return x, cond, lengths, tgt, err, mask, lim


def reconstruction_terms(tgt, m_pred, err, err_pred, lim):
    """Per-epoch terms of R: ``(m - m_pred)^2 / (err^2 + err_pred^2)`` for detections; for an upper limit
    the same with ``m`` the limit, counted only when the prediction is brighter than the limit (a censored
    point consistent with the reconstruction adds nothing). Works on numpy arrays and torch tensors."""
    d2 = (tgt - m_pred) ** 2 / (err ** 2 + err_pred ** 2)
    return d2 * (1.0 - lim) + d2 * lim * (m_pred < tgt)


def whitening(X, ridge: float = 1e-6):
    """``(centre, W)`` with ``(X - centre) @ W.T`` of zero mean and unit covariance on ``X``: ``W = L^-1`` for the
    Cholesky factor ``L`` of the covariance, with ``ridge`` x its mean diagonal added (constant columns)."""
    X = np.asarray(X, float)
    centre = X.mean(axis=0)
    cov = np.atleast_2d(np.cov(X, rowvar=False))
    cov = cov + ridge * max(float(np.mean(np.diag(cov))), 1e-12) * np.eye(cov.shape[0])
    return centre, np.linalg.inv(np.linalg.cholesky(cov))


class VRAEAnomalyDetector(AgnlabEstimator):
    """Variational recurrent autoencoder + Isolation Forest for anomalous AGN/QSO light curves.

    Trained on (mostly normal) AGN/QSO light curves (Sánchez-Sáez et al. 2021, AJ 162, 206). Two
    scores per object: the reconstruction error
    ``R = (1/N) sum_i (m_i - m_pred,i)^2 / (err_i^2 + err_pred,i^2)`` (anomalous when ``R > r_threshold``,
    default 3) and an Isolation Forest on the encoder's latent posterior ``q(z|x) = N(mu, sigma^2)``: its
    means and log-variances by default (``if_input="posterior"``), the means alone as in the paper
    (``"mean"``) (``if_score`` = minus sklearn's ``score_samples``, higher is more anomalous; anomalous
    above the ``1 - if_contamination`` quantile of the training scores). ``anomalous`` is their union.

    The candidate list is ranked by ``R_z``, ``R`` calibrated for the number of epochs ``N``
    (:func:`r_calibrated`): on the training curves the median and the upper-tail width of ``ln R`` are
    fitted as straight lines in ``ln N`` (:func:`fit_r_calibration`, saved with the model) and
    ``R_z = (ln R - median(N)) / width(N)``. Sparse curves have a higher and much wider ``R`` than
    ``chi2_N / N`` (correlated residuals), so ranking by ``R`` itself fills the top of the list with
    ordinary sparse curves; ``R`` and the ``R > r_threshold`` rule are kept as defined. With
    ``r_calibrate_error`` (default) the median and width are planes in ``ln N`` and the log of the
    object's median photometric error (linear quantile regressions): at fixed ``N`` the ``R`` of
    well-measured curves is dominated by the variability the decoder leaves out, that of faint curves
    by the photometric noise, and the two are distributed differently. On simulated seeds that no
    default was chosen on (10-12) this raised the recall of ``R_z`` at 2 % flagged by 0-0.06.

    What ``R`` can and cannot see: the decoder reproduces a curve's level and slow trends and its
    ``err_pred`` takes the rest of the scatter, both inferred from the whole curve. An event that the
    encoder reads as a slow trend or as a larger scatter is therefore reconstructed, and ``R`` stays near
    its normal value. On development seed 10 (66 injected events) the 17 events that ``R_z`` missed at 2 %
    flagged were, but for one 0.03 mag turn-off, clear in the photometry (event S/N 8-165; amplitude median
    0.48 mag against 1.26 mag for those found; 12 of them host-diluted AGN); for three of them the residual
    rms about the reconstruction (0.09-0.17 mag) matched the median ``err_pred`` (0.09-0.14 mag), and a
    better-trained network (2,000 curves, 40 epochs; same recall) followed a 0.4 mag turn-off step in its
    reconstruction. A stronger bottleneck did not change this (``beta=3``: recall 0.727 against 0.742 on
    seed 10, 0.860 against 0.860 on seed 11; ``latent=2``: 0.742 and 0.837), and neither did ``R`` from
    reconstructions of each season predicted from the others (the trained network, no retraining: 0.667).
    The step and flare contrasts in the forest's inputs (below) target these events.

    ``r_mode="held_out_season"`` (an option) trains the reconstruction network to predict an observing season
    from the others instead (:mod:`agnlab.lightcurves._vrae_holdout`): each time a training curve is drawn, one
    of its seasons (runs of epochs between gaps longer than ``season_gap_days``) is left out of the encoder's
    input, the decoder predicts every epoch and is told which were left out, and those epochs weigh
    ``held_out_weight`` times the others in the loss. ``R`` (same definition, same calibration and cap) then
    compares every epoch with the prediction made without its season, and its ``err_pred``, so that an event
    confined to some seasons is measured against what the other seasons allow; a curve with one season is
    reconstructed as before. ``reconstruct`` returns these predictions. One forward pass per season (2-4 for
    ZTF) instead of one. It trades step-like events for flares and is not the default: recall of ``R_z`` at 2 %
    flagged on development seeds 10/11/12 0.742 -> 0.773, 0.860 -> 0.907, 0.824 -> 0.824 (a development script;
    the package's own path on seed 10: 0.758), but on the fresh benchmark seeds 6-8 0.755 pooled against 0.774
    (flares 33 against 31 of 48 found, turn-ons 44 against 47 of 49, turn-offs 40 against 42 of 58;
    ``benchmarks/results/lightcurves_anomalies_seeds678.md``).

    The Isolation Forest's latent (``if_network="separate"``, default) comes from a second, small VRAE
    (``if_hidden``, ``if_latent``) trained on the same curves, whose encoder adds an unbounded energy
    pooling (``if_energy`` learned projections of each epoch, pooled as log RMS and log max |.|;
    :class:`agnlab.lightcurves._vrae_net.VRAE`). The GRU states are bounded (tanh), so in the
    reconstruction network a curve whose amplitude is beyond the training range (changing-state AGN
    change by 1-2.5 mag, MacLeod et al. 2016; normal AGN vary by 0.1-0.4 mag) gets latent means at the
    edge of the training means, among ordinary extreme curves. Letting the amplitude into the latent of
    the reconstruction network itself moves such curves out, but then its decoder reconstructs the
    events and ``R`` loses them; with two networks each score keeps its own. By default the forest sees
    the posterior means and log-variances (``if_input="posterior"``; how tightly a curve constrains
    each latent direction also differs for abnormal curves), whitened by the training objects' mean and
    covariance (``if_whiten``): the forest splits one coordinate at a time, and raw latent coordinates
    are correlated and of very different spreads (the log-variances move with the means), so an object
    off the training cloud in a direction mixing coordinates is isolated only after whitening.
    ``"shared"`` is the paper's set-up, the forest on the reconstruction network's latent.

    Beside the latent posterior the forest sees per-object statistics (``if_statistics``,
    :func:`curve_statistics`), by default the step and flare contrasts: the largest change of the band
    medians across one split time, and the largest difference between the band medians inside a 30-270 d
    window and outside it, each relative to the object's own short-lag variability (:func:`variability_scale`).
    The latents, energy pooling included, see amplitudes on an absolute scale, so a host-diluted AGN
    that turns off, or a flare on a quiet, well-measured AGN, looks like an ordinary AGN of moderate
    amplitude; relative to the object's epoch-to-epoch scatter it stands out. On simulated seeds that
    no default was chosen on (10-12; 43-66 events each) the step contrast raised the forest's recall at
    2 % flagged by 0.05-0.06 in each seed; the spread ratio (also available) by 0.02-0.07, and both
    together by 0-0.12, so the step contrast was put on alone. A split time sees a flare only by its part on
    one side; the flare contrast (a window that holds it) raised the forest's recall further, by 0.03 on seed
    10 (66 events) and 0.02 on seed 11 (43 events), both times through flares; a variance change across the
    split times (an AGN that turns off also loses its variability) added nothing on either seed and was
    dropped.

    The predicted error in ``R`` is capped (``err_pred_cap_``, the ``error_cap_quantile`` = 0.99 quantile
    of ``err_pred`` over the training detections; the same 1 % convention as ``if_contamination``).
    ``err_pred`` models the variability that the reconstruction leaves out, and it grows with the
    curve's amplitude; for a curve far more variable than any training AGN it is an extrapolation
    of the network beyond its training range, and, uncapped, it can grow with the event and hide it
    (on the simulated benchmark, one seed's network predicted ~1 mag errors for 1-2 mag changing-state
    events, R ~ 1). Capped, the network cannot excuse more unexplained variability than it needed for
    normal AGN. The cap applies to ``R`` only (``reconstruct`` returns the network's ``err_pred``).
    With ``error_cap_variability`` = c, ``err_pred`` is also capped per object at c times its own
    :func:`variability_scale` (the short-lag scatter, which one event barely moves), so that a curve whose
    event made the network predict large errors cannot excuse it. Off by default: on seeds 10 and 11, c = 1
    changed the recall of ``R_z`` by +0.05 and -0.05 and put 25 % of the training curves above ``R > 3``
    (normal AGN vary more on long lags than on short ones); c = 3 by +0.03 and 0, with 3 % above.

    Saved models hold the network weights and the training latent means and log-variances; the
    Isolation Forest is refitted from those at load with its recorded seed, giving the same trees (no
    pickle). Files written before ``if_input`` existed load with ``if_input="mean"``, those before
    the ``N`` calibration rank by ``R`` itself (``R_z = ln R``), those before the forest's own
    network, whitening and the error cap load with ``if_network="shared"``, unwhitened latents and
    uncapped errors, those before ``if_statistics`` with ``if_statistics=()``, and those before
    ``error_cap_variability`` without the per-object cap; a file keeps the ``if_statistics`` it was fitted
    with (the step contrast alone before the flare contrast): every old file scores as it did.

    With ``upper_limits`` (default) the non-detections take part too (changing-state AGN that fade
    below the survey limit are otherwise invisible): the encoder sees them flagged as limits, the
    decoder predicts a magnitude at every epoch, training adds the censored likelihood
    ``-ln Phi((m_pred - m_lim) / s)`` of each limit, and a limit adds to ``R`` only when the
    reconstruction is brighter than it (:func:`reconstruction_terms`); ``N`` counts all epochs.

    Light curves with fewer than ``min_detections`` detections (in ``bands``) are outside the domain:
    ``on_out_of_domain="raise"`` raises :class:`agnlab.OutOfDomainError`, ``"nan"`` gives NaN scores
    and ``flag == "out_of_domain"``. Input is a long light-curve table, not an array, so this class
    does not sit in a scikit-learn Pipeline.

    Parameters
    ----------
    bands : tuple of str
    hidden, latent : int
        GRU width and latent dimension.
    pool : bool
        Encoder summary = last hidden state plus the mean and maximum of the hidden states over the
        epochs (False: last state only). Mid-curve events (flares) then reach the latent space.
    normalize : {"none", "variability", "amplitude"}
        Per-object scale that the relative magnitudes and their errors are divided by before the
        network sees them (``R`` is unchanged by a common scale): ``"none"`` (magnitudes, default);
        ``"variability"``, the robust epoch-to-epoch scatter (:func:`variability_scale`, little
        affected by one abrupt event); ``"amplitude"``, the standard deviation of the detections, so that
        the network models the shape alone. On the simulated changing-state benchmark (one seed, 45
        events) these raised the latent Isolation Forest's recall at 2 % flagged from 0.62 to 0.69 / 0.71
        but lowered that of ``R`` from 0.78 to 0.76 / 0.62: the injected events differ from normal
        variability mostly in amplitude, which normalising removes from what ``R`` sees.
    max_len : int
        Epochs per object kept (evenly spaced over the baseline when longer).
    beta : float
        Weight of the KL term per object (1: the evidence lower bound; larger values regularise the
        latent space more, so that the decoder reproduces normal variability and not every shape).
    free_bits : float
        KL per latent dimension (nats) left unpenalised (0: plain beta-VAE). On seed 10 (20 epochs), 0.5 in the
        reconstruction network alone fitted the validation curves better (loss -1.811 against -1.790) but did not
        raise the recall of ``R_z`` at 2 % flagged (0.727 against 0.742, one event of 66).
    upper_limits : bool
        Use the non-detections (censored epochs), see above.
    max_epochs, batch_size, lr, patience, validation_fraction
        Training (``agnlab.nn.fit_module``).
    schedule : {"plateau", "cosine"}
        Learning-rate schedule of the reconstruction network (``agnlab.nn.TrainConfig.schedule``: halve the rate
        when the validation loss stalls, or one cosine cycle over ``max_epochs``). The forest's network always
        trains with ``"plateau"``, so its latent and ``if_score`` do not depend on this option. Default
        ``"plateau"``. On seeds 10 and 11 at the benchmark's sizes (20 epochs) ``"cosine"`` fitted the validation
        curves worse (loss -1.755 against -1.790, -1.702 against -1.740) and moved the recall of ``R_z`` at 2 %
        flagged from 0.742 to 0.788 (+3 of 66 events) and from 0.860 to 0.837 (-1 of 43): no consistent gain.
    if_input : {"posterior", "mean"}
        What the Isolation Forest sees: latent means and log-variances, or the means alone.
    r_threshold, if_contamination, if_n_estimators
        Anomaly thresholds and Isolation Forest size (1000 trees: with 200, which objects fill the top
        2 % changed by a few per cent of the events from one forest seed to another).
    error_cap_quantile : float or None
        ``err_pred`` in ``R`` is capped at this quantile of the predicted errors of the training
        detections (``err_pred_cap_``; None: no cap). See above.
    error_cap_variability : float or None
        Also cap ``err_pred`` in ``R`` at this multiple of each object's :func:`variability_scale` (None,
        default: no per-object cap, as files written before this option load). See above.
    if_network : {"separate", "shared"}
        Whose latent the Isolation Forest sees: a second, small VRAE trained on the same curves
        (``"separate"``, default; see above), or the reconstruction network's (``"shared"``, files
        written before this option).
    if_hidden, if_latent, if_energy : int
        GRU width, latent dimension and number of energy-pooled projections of the forest's network.
    if_whiten : bool
        Whiten what the forest sees by the training objects' mean and covariance (see above).
    if_statistics : tuple of str
        Per-object statistics the forest sees beside the latent posterior, names from
        :data:`IF_STATISTICS` (``"spread_ratio"``, ``"step_contrast"``, ``"flare_contrast"``; default: the
        step and flare contrasts; ``()``: the latent alone, as files written before this option load).
    r_calibrate_error : bool
        Calibrate ``R_z`` on the photometric error as well as on ``N`` (see above; False: ``N`` alone, as
        files written before this option load).
    r_mode : {"reconstruction", "held_out_season"}
        What ``R`` compares each epoch with: the network's reconstruction of the whole curve (default, the
        paper's score; files written before this option), or its prediction of the epoch's season from the
        other seasons (see above).
    season_gap_days, held_out_weight : float
        With ``r_mode="held_out_season"``: the gap (days) that separates observing seasons, and the weight of
        the held-out epochs in the training loss (the others weigh 1).
    """

    _fitted_attributes = ("module_", "if_threshold_")

    def __init__(self, *, bands=("g", "r"), hidden: int = 32, latent: int = 8, max_len: int = 200,
                 pool: bool = True, normalize: str = "none",
                 beta: float = 1.0, free_bits: float = 0.0, upper_limits: bool = True,
                 max_epochs: int = 40, batch_size: int = 64, lr: float = 3e-3, patience: int | None = 8,
                 schedule: str = "plateau", validation_fraction: float = 0.15, min_detections: int = 10,
                 r_threshold: float = 3.0, if_input: str = "posterior", if_contamination: float = 0.01,
                 if_n_estimators: int = 1000, if_network: str = "separate", if_hidden: int = 16,
                 if_latent: int = 8, if_energy: int = 8, if_whiten: bool = True,
                 error_cap_quantile: float | None = 0.99, error_cap_variability: float | None = None,
                 if_statistics=("step_contrast", "flare_contrast"),
                 r_calibrate_error: bool = True, r_mode: str = "reconstruction", season_gap_days: float = 60.0,
                 held_out_weight: float = 3.0,
                 on_out_of_domain: str = "raise", n_jobs=None, random_state=None, progress=None):
        self.bands = bands
        self.hidden = hidden
        self.latent = latent
        self.max_len = max_len
        self.pool = pool
        self.normalize = normalize
        self.beta = beta
        self.free_bits = free_bits
        self.upper_limits = upper_limits
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.schedule = schedule
        self.validation_fraction = validation_fraction
        self.min_detections = min_detections
        self.r_threshold = r_threshold
        self.if_input = if_input
        self.if_contamination = if_contamination
        self.if_n_estimators = if_n_estimators
        self.if_network = if_network
        self.if_hidden = if_hidden
        self.if_latent = if_latent
        self.if_energy = if_energy
        self.if_whiten = if_whiten
        self.error_cap_quantile = error_cap_quantile
        self.error_cap_variability = error_cap_variability
        self.if_statistics = if_statistics
        self.r_calibrate_error = r_calibrate_error
        self.r_mode = r_mode
        self.season_gap_days = season_gap_days
        self.held_out_weight = held_out_weight
        self.on_out_of_domain = on_out_of_domain
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress

    def _seqs(self, lightcurves):
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.if_input not in IF_INPUTS:
            raise ValueError(f"if_input must be one of {IF_INPUTS}, got {self.if_input!r}")
        if self.if_network not in IF_NETWORKS:
            raise ValueError(f"if_network must be one of {IF_NETWORKS}, got {self.if_network!r}")
        q = self.error_cap_quantile
        if q is not None and not (isinstance(q, (int, float)) and 0.0 < q <= 1.0):
            raise ValueError(f"error_cap_quantile must be None or in (0, 1], got {q!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.r_mode not in R_MODES:
            raise ValueError(f"r_mode must be one of {R_MODES}, got {self.r_mode!r}")
        for name in ("season_gap_days", "held_out_weight"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 < v < np.inf:
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        c = self.error_cap_variability
        if c is not None and not (isinstance(c, (int, float)) and not isinstance(c, bool) and 0.0 < c < np.inf):
            raise ValueError(f"error_cap_variability must be None or a positive number, got {c!r}")
        self._statistic_columns()
        return _sequences(lightcurves, tuple(self.bands), self.max_len, self.upper_limits, self.normalize)

    def _statistic_columns(self) -> list:
        """Columns of :func:`curve_statistics` that the forest sees (``if_statistics``, validated)."""
        names = (self.if_statistics,) if isinstance(self.if_statistics, str) else tuple(self.if_statistics or ())
        bad = [n for n in names if n not in IF_STATISTICS]
        if bad or len(set(names)) != len(names):
            raise ValueError(f"if_statistics must be distinct names from {IF_STATISTICS}, got {self.if_statistics!r}")
        return [IF_STATISTICS.index(n) for n in names]

    def _stats_of(self, items) -> np.ndarray:
        """The forest's per-object statistics (n, len(if_statistics)) of sequences from :func:`_sequences`."""
        cols = self._statistic_columns()
        return np.array([it[6][cols] for it in items], dtype=np.float64).reshape(len(items), len(cols))

    def _net(self):
        from ._vrae_net import VRAE

        if self.r_mode == "held_out_season":
            from ._vrae_holdout import HeldOutSeasonVRAE

            return HeldOutSeasonVRAE(VRAE(len(tuple(self.bands)), self.hidden, self.latent, n_extra=2, pool=self.pool,
                                          n_cond_extra=1), _DT_SCALE, self.held_out_weight)
        return VRAE(len(tuple(self.bands)), self.hidden, self.latent, n_extra=2, pool=self.pool)

    def _tensors(self, items, forest: bool = False):
        """``(X, Y)`` tensors of a batch of sequences: network inputs ``(x, cond, lengths)``, for the reconstruction
        network with ``r_mode="held_out_season"`` followed by the epoch times, season numbers and season counts
        (:func:`agnlab.lightcurves._vrae_holdout.season_arrays`); and the targets ``(tgt, err, mask, lim)``.
        ``forest``: for the Isolation Forest's network."""
        import torch

        arrays = [torch.from_numpy(a) for a in _batch(items, self.max_len)]
        X = tuple(arrays[:3])
        if self.r_mode == "held_out_season" and not forest:
            from ._vrae_holdout import season_arrays

            X += season_arrays([it[8] for it in items], arrays[0].shape[1], self.season_gap_days)
        return X, tuple(arrays[3:])

    def _predict(self, X):
        """``(m_pred, log_err, mu, logvar)`` of the reconstruction network: reconstructions, or with
        ``r_mode="held_out_season"`` every epoch predicted with its season held out."""
        if self.r_mode == "held_out_season":
            return self.module_.predict(*X)
        return self.module_(*X, sample=False)

    def _forest_net(self):
        from ._vrae_net import VRAE

        return VRAE(len(tuple(self.bands)), self.if_hidden, self.if_latent, n_extra=2, pool=True,
                    n_energy=self.if_energy)

    def _train(self, net, X, Y, tr, va, seed, schedule: str = "plateau"):
        """Train one VRAE on inputs ``X`` and targets ``Y`` (:meth:`_tensors`; ``agnlab.nn.fit_module``, batches
        shuffled by ``seed``, learning-rate ``schedule``); returns the history."""
        from ..nn import TrainConfig, fit_module
        from ._vrae_net import vrae_loss

        cfg = TrainConfig(lr=self.lr, batch_size=self.batch_size, max_epochs=self.max_epochs,
                          patience=self.patience, seed=seed, schedule=schedule)
        beta, free_bits = self.beta, self.free_bits

        def loss(out, tgt, err, mask, lim):
            if len(out) == 5:           # held-out-season training: per-epoch weights
                out, mask = out[:4], mask * out[4]
            return vrae_loss(out, tgt, err, mask, lim, beta=beta, free_bits=free_bits)

        return fit_module(net, tuple(a[tr] for a in X), tuple(a[tr] for a in Y), tuple(a[va] for a in X),
                          tuple(a[va] for a in Y), config=cfg, loss_fn=loss, progress=self.progress, desc="VRAE")

    def _fit_forest_net(self, items, rng):
        """The Isolation Forest's own VRAE (``if_network="separate"``), trained on the same curves."""
        from ..nn import train_validation_split

        X, Y = self._tensors(items, forest=True)
        tr, va = train_validation_split(len(items), self.validation_fraction, rng)
        seed = int(rng.integers(0, 2**31 - 1))
        with compute_context(self.n_jobs, torch_rng=rng):   # seeds torch's initialisation, restored after
            net = self._forest_net()
            hist = self._train(net, X, Y, tr, va, seed)
        self.forest_module_ = net
        return hist

    def fit(self, lightcurves, y=None):
        """Train on a long table of (mostly normal) AGN/QSO light curves; ``y`` is ignored."""
        from ..nn import train_validation_split

        bands = tuple(self.bands)
        ids, seqs, _, n_det = self._seqs(lightcurves)
        usable = [o for o in ids if o in seqs and n_det.get(o, 0) >= self.min_detections]
        if len(usable) < 4:
            raise ValueError(f"lightcurves: {len(usable)} objects with >= {self.min_detections} detections in "
                             f"bands {bands}; need at least 4 to train")
        rng = self._rng()
        t0 = time.perf_counter()
        X, Y = self._tensors([seqs[o] for o in usable])
        tr, va = train_validation_split(len(usable), self.validation_fraction, rng)
        seed = int(rng.integers(0, 2**31 - 1))
        with compute_context(self.n_jobs, torch_rng=rng):   # seeds torch's initialisation, restored after
            net = self._net()
            hist = self._train(net, X, Y, tr, va, seed, schedule=self.schedule)
        self.module_ = net
        self.err_pred_cap_ = np.inf
        if self.error_cap_quantile is not None:
            self.err_pred_cap_ = self._score_arrays([seqs[o] for o in usable], error_quantile=self.error_cap_quantile)
        r, mu, n_ep, logvar = self._score_arrays([seqs[o] for o in usable])
        err_med = _median_errors([seqs[o] for o in usable]) if self.r_calibrate_error else None
        self.r_calibration_ = fit_r_calibration(r, n_ep, error=err_med)
        self.if_seed_ = int(rng.integers(0, 2**31 - 1))
        self.forest_module_, forest_record = None, {}
        if self.if_network == "separate":
            forest_hist = self._fit_forest_net([seqs[o] for o in usable], rng)
            mu, logvar = self._forest_latents([seqs[o] for o in usable])
            forest_record = {"forest_best_epoch": forest_hist["best_epoch"],
                             "forest_history": [list(map(float, h)) for h in forest_hist["history"]]}
        self.train_latent_, self.train_logvar_ = mu, logvar
        self.train_stats_ = self._stats_of([seqs[o] for o in usable])
        self._iforest = self._make_iforest()
        s = -self._iforest.score_samples(self._if_matrix(mu, logvar, self.train_stats_))
        self.if_threshold_ = float(np.quantile(s, 1.0 - self.if_contamination))
        self.train_R_, self.train_if_ = np.sort(r), np.sort(s)
        self.train_Rz_ = np.sort(r_calibrated(r, n_ep, self.r_calibration_, error=err_med))
        self.training_record_ = {"n_objects": len(usable), "n_train": int(tr.size), "n_validation": int(va.size),
                                 "best_epoch": hist["best_epoch"], "best_val_loss": float(hist["best_val_loss"]),
                                 "history": [list(map(float, h)) for h in hist["history"]],
                                 "train_R_median": float(np.median(r)), "r_calibration": self.r_calibration_,
                                 "err_pred_cap": float(self.err_pred_cap_) if np.isfinite(self.err_pred_cap_) else None,
                                 **forest_record, "fit_seconds": round(time.perf_counter() - t0, 3)}
        return self

    def _forest_latents(self, items, batch: int = 512):
        """Latent means and log-variances of the Isolation Forest's own network (``if_network="separate"``)."""
        import torch

        mus, lvs = [], []
        with compute_context(self.n_jobs, default_threads=None), torch.no_grad():
            self.forest_module_.eval()
            for k in range(0, len(items), batch):
                x, _, lengths = (torch.from_numpy(a) for a in _batch(items[k:k + batch], self.max_len)[:3])
                mu, logvar = self.forest_module_.encode(x, lengths)
                mus.append(mu.numpy().astype(np.float64))
                lvs.append(logvar.numpy().astype(np.float64))
        return np.concatenate(mus), np.concatenate(lvs)

    def _if_raw(self, mu, logvar, stats):
        return np.hstack([mu, logvar, stats] if self.if_input == "posterior" else [mu, stats])

    def _if_matrix(self, mu, logvar, stats):
        """What the Isolation Forest sees: the latent means, with ``if_input="posterior"`` the log-variances, and
        the ``if_statistics`` columns; with ``if_whiten``, whitened by the training objects' mean and
        covariance (:func:`whitening`)."""
        X = self._if_raw(mu, logvar, stats)
        if self.if_whiten:
            centre, transform = self._whitening
            X = (X - centre) @ transform.T
        return X

    def _make_iforest(self):
        from sklearn.ensemble import IsolationForest

        self._whitening = whitening(self._if_raw(self.train_latent_, self.train_logvar_, self.train_stats_))
        return IsolationForest(n_estimators=self.if_n_estimators, random_state=self.if_seed_).fit(
            self._if_matrix(self.train_latent_, self.train_logvar_, self.train_stats_))

    def _score_arrays(self, items, batch: int = 512, error_quantile: float | None = None):
        """Per object ``R, latent mean, N, latent log-variance``; with ``error_quantile``, instead the quantile
        of the predicted errors ``err_pred`` over all detections (for :attr:`err_pred_cap_`)."""
        import torch

        rs, mus, ns, lvs, eps = [], [], [], [], []
        cap = getattr(self, "err_pred_cap_", np.inf)
        with compute_context(self.n_jobs, default_threads=None), torch.no_grad():
            self.module_.eval()
            for k in range(0, len(items), batch):
                X, (tgt, err, mask, lim) = self._tensors(items[k:k + batch])
                m_pred, log_err, mu, logvar = self._predict(X)
                if error_quantile is not None:
                    eps.append(torch.exp(log_err)[(mask > 0) & (lim == 0)].numpy().astype(np.float64))
                    continue
                err_pred = torch.exp(log_err).clamp(max=cap)
                if self.error_cap_variability is not None:      # and at a multiple of the object's own scale
                    err_pred = torch.minimum(err_pred, torch.from_numpy(self._object_caps(items[k:k + batch]))[:, None])
                terms = reconstruction_terms(tgt, m_pred, err, err_pred, lim)
                r = (terms * mask).sum(1) / mask.sum(1)
                rs.append(r.numpy().astype(np.float64))
                mus.append(mu.numpy().astype(np.float64))
                ns.append(mask.sum(1).numpy().astype(np.float64))
                lvs.append(logvar.numpy().astype(np.float64))
        if error_quantile is not None:
            return float(np.quantile(np.concatenate(eps), error_quantile))
        return np.concatenate(rs), np.concatenate(mus), np.concatenate(ns), np.concatenate(lvs)

    def _object_caps(self, items) -> np.ndarray:
        """Per sequence, ``error_cap_variability`` x its :func:`variability_scale` in the network's units."""
        return np.array([self.error_cap_variability * it[7] / it[5] for it in items], dtype=np.float32)

    @staticmethod
    def _p_value(train_sorted, x):
        """Empirical upper-tail p-value of ``x`` among the (sorted) training scores, (1 + n_above) / (n + 1)."""
        if train_sorted.size == 0:
            return np.full(np.shape(x), np.nan)
        above = train_sorted.size - np.searchsorted(train_sorted, np.nan_to_num(x, nan=np.inf), side="left")
        p = (1.0 + above) / (train_sorted.size + 1.0)
        return np.where(np.isfinite(x), p, np.nan)

    def transform(self, lightcurves) -> pd.DataFrame:
        """Latent means of the reconstruction network (one row per object with enough detections); with
        ``if_network="separate"`` the Isolation Forest sees another network's latent."""
        self._check_fitted()
        ids, seqs, _, n_det = self._seqs(lightcurves)
        ok = [o for o in ids if o in seqs and n_det.get(o, 0) >= self.min_detections]
        if not ok:
            raise ValueError("lightcurves: no object with enough detections")
        mu = self._score_arrays([seqs[o] for o in ok])[1]
        return pd.DataFrame(mu, index=pd.Index(ok, name="object_id"), columns=[f"z{i}" for i in range(mu.shape[1])])

    def score(self, lightcurves) -> pd.DataFrame:
        """Anomaly scores: table ``object_id, R, n_epochs, err_median, R_z, if_score, combined, R_anomalous,
        if_anomalous, anomalous, flag``.

        ``n_epochs`` is the ``N`` of ``R`` (epochs used, limits included, at most ``max_len``), ``err_median``
        the median error of the detections used (mag, divided by the ``normalize`` scale); ``R_z`` is
        ``R`` calibrated for ``N`` and, with ``r_calibrate_error``, ``err_median`` (class docstring).
        ``combined`` joins ``R_z`` and ``if_score`` by Fisher's method: ``-2 (ln p_R + ln p_IF)`` with ``p`` the
        empirical upper-tail p-value of each score among the training objects (``(1 + n_above) / (n + 1)``);
        an object extreme in either score ranks high, one mildly high in both ranks above one high in
        neither. (The training scores are in-sample, so p-values are somewhat small for every new object;
        rankings are unaffected.) Rows are sorted by decreasing ``R_z`` (the ranked candidate list); NaN
        rows (out of domain) last.
        """
        self._check_fitted()
        check_on_out_of_domain(self.on_out_of_domain)
        ids, seqs, clean_flags, n_det_of = self._seqs(lightcurves)
        if not ids:
            raise ValueError("lightcurves: the table has no rows")
        n_det = np.array([n_det_of.get(o, 0) if o in seqs else 0 for o in ids])
        ok = n_det >= self.min_detections
        flags = domain_flags(ok, self.on_out_of_domain,
                             describe=lambda i: f"object {ids[i]!r} has {n_det[i]} detections in bands "
                                                f"{tuple(self.bands)} (< min_detections={self.min_detections}); "
                                                f"{clean_flags.get(ids[i], 'ok')}")
        R, n_ep, s, err_med = (np.full(len(ids), np.nan) for _ in range(4))
        if ok.any():
            idx = np.flatnonzero(ok)
            items = [seqs[ids[i]] for i in idx]
            R[idx], mu, n_ep[idx], logvar = self._score_arrays(items)
            err_med[idx] = _median_errors(items)
            if self.forest_module_ is not None:
                mu, logvar = self._forest_latents(items)
            s[idx] = -self._iforest.score_samples(self._if_matrix(mu, logvar, self._stats_of(items)))
        Rz = r_calibrated(R, n_ep, self.r_calibration_, error=err_med)
        with np.errstate(invalid="ignore"):
            r_an = R > self.r_threshold
            if_an = s > self.if_threshold_
        combined = -2.0 * (np.log(self._p_value(self.train_Rz_, Rz)) + np.log(self._p_value(self.train_if_, s)))
        out = pd.DataFrame({"object_id": ids, "R": R, "n_epochs": n_ep, "err_median": err_med, "R_z": Rz, "if_score": s,
                            "combined": combined, "R_anomalous": r_an, "if_anomalous": if_an, "anomalous": r_an | if_an,
                            "flag": flags})
        return out.sort_values("R_z", ascending=False, na_position="last", kind="stable").reset_index(drop=True)

    def reconstruct(self, lightcurves) -> pd.DataFrame:
        """Epochs used (detections, and upper limits with ``upper_limits``) with the reconstructed
        magnitude and error (for plots): the clean table's columns plus ``mag_pred, err_pred``; with
        ``r_mode="held_out_season"`` each season's prediction made without it."""
        import torch

        self._check_fitted()
        bands = tuple(self.bands)
        ids, seqs, _, _ = self._seqs(lightcurves)
        clean, _ = clean_lightcurves(lightcurves, bands=bands)
        if not self.upper_limits:
            clean = clean.loc[clean["detected"]]
        clean = clean.sort_values(["object_id", "mjd"], kind="stable")
        rows = []
        for o in ids:
            if o not in seqs:
                continue
            X, _ = self._tensors([seqs[o]])
            with compute_context(self.n_jobs, default_threads=None), torch.no_grad():
                m_pred, log_err, _, _ = self._predict(X)
            sub = clean.loc[clean["object_id"] == o]
            if len(sub) > self.max_len:
                sub = sub.iloc[np.unique(np.linspace(0, len(sub) - 1, self.max_len).round().astype(int))]
            sub = sub.copy()
            scale = seqs[o][5]                      # magnitudes were relative and divided by the scale
            offset = sub["mag"].to_numpy() - scale * seqs[o][2]
            sub["mag_pred"] = scale * m_pred[0].numpy().astype(float) + offset
            sub["err_pred"] = scale * np.exp(log_err[0].numpy().astype(float))
            rows.append(sub)
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        from ..nn import module_to_arrays

        arrays = module_to_arrays(self.module_)
        if self.forest_module_ is not None:
            arrays.update(module_to_arrays(self.forest_module_, prefix="forest_nn."))
        arrays["train_latent"], arrays["train_logvar"] = self.train_latent_, self.train_logvar_
        arrays["train_R"], arrays["train_if"], arrays["train_Rz"] = self.train_R_, self.train_if_, self.train_Rz_
        arrays["train_stats"] = self.train_stats_
        return arrays, {"if_seed": self.if_seed_, "if_threshold": self.if_threshold_,
                        "r_calibration": self.r_calibration_, "if_whitened": bool(self.if_whiten),
                        "err_pred_cap": None if not np.isfinite(self.err_pred_cap_) else self.err_pred_cap_,
                        "err_pred_cap_variability": self.error_cap_variability, "r_mode": self.r_mode}

    def _set_state(self, arrays, meta):
        from ..nn import arrays_to_module

        self.r_mode = meta.get("r_mode", "reconstruction")      # files written before r_mode: reconstructions
        self.module_ = arrays_to_module(self._net(), arrays).eval()
        has_forest_net = any(k.startswith("forest_nn.") for k in arrays)
        if self.if_network == "separate" and not has_forest_net:    # written before the forest had its own network
            self.if_network = "shared"
        self.forest_module_ = (arrays_to_module(self._forest_net(), arrays, prefix="forest_nn.").eval()
                               if self.if_network == "separate" else None)
        self.train_latent_ = np.asarray(arrays["train_latent"], dtype=np.float64)
        if "train_logvar" in arrays:
            self.train_logvar_ = np.asarray(arrays["train_logvar"], dtype=np.float64)
        else:                                      # written before if_input: its forest saw the means only
            self.train_logvar_, self.if_input = np.zeros_like(self.train_latent_), "mean"
        # files written before the combined score existed lack the training scores: combined is then NaN
        self.train_R_ = np.asarray(arrays["train_R"] if "train_R" in arrays else [], dtype=np.float64)
        self.train_if_ = np.asarray(arrays["train_if"] if "train_if" in arrays else [], dtype=np.float64)
        # files written before the N calibration rank by R itself (R_z = ln R), as they did
        self.r_calibration_ = dict(meta.get("r_calibration", _NO_CALIBRATION))
        self.r_calibrate_error = "ln_err_range" in self.r_calibration_    # files before it: N alone
        self.train_Rz_ = np.asarray(arrays["train_Rz"] if "train_Rz" in arrays else np.log(self.train_R_),
                                    dtype=np.float64)
        self.if_seed_ = int(meta["if_seed"])
        if "train_stats" in arrays:
            self.train_stats_ = np.asarray(arrays["train_stats"], dtype=np.float64).reshape(
                self.train_latent_.shape[0], -1)
        else:                                      # written before the forest's statistics: latents alone
            self.if_statistics, self.train_stats_ = (), np.zeros((self.train_latent_.shape[0], 0))
        self.if_whiten = bool(meta.get("if_whitened", False))     # files written before whitening: raw latents
        # files written before the cap: R with the network's predicted errors as they are
        cap = meta.get("err_pred_cap")
        self.err_pred_cap_ = np.inf if cap is None else float(cap)
        # files written before the per-object cap: R with the global cap alone (also the default)
        self.error_cap_variability = meta.get("err_pred_cap_variability")
        self.if_threshold_ = float(meta["if_threshold"])
        self._iforest = self._make_iforest()
