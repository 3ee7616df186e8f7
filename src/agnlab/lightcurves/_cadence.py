"""Survey cadences and photometric errors: when an object is observed, how deep, how precisely.

ZTF-like: g and r, ~2.5-year baseline, yearly observing seasons of 150-270 days,
20-300 epochs per band (same-night g/r pairs and intra-night repeats as in the
ZTF public survey, Bellm et al. 2019, PASP 131, 018002), 5-sigma single-visit
limits near g = 20.8, r = 20.6 (Masci et al. 2019, PASP 131, 018003).
LSST-like: ugrizy, 3-year baseline, fewer epochs per band, single-visit depths
u 23.9, g 25.0, r 24.7, i 24.0, z 23.3, y 22.1 (Ivezić et al. 2019, ApJ 873, 111, table 2).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Survey", "SURVEYS", "draw_cadence", "observe"]


@dataclasses.dataclass(frozen=True)
class Survey:
    """Cadence and depth of a survey (times in days, magnitudes AB)."""

    name: str
    bands: tuple[str, ...]
    limit_mag: dict
    baseline_days: tuple[float, float]
    season_days: tuple[float, float]
    epochs_per_band: tuple[int, int]
    pair_probability: float       # a second band the same night
    repeat_probability: float     # a second visit in the same band the same night
    sys_err_mag: float            # calibration floor added in quadrature


SURVEYS = {
    "ztf": Survey("ztf", ("g", "r"), {"g": 20.8, "r": 20.6}, (600.0, 1100.0), (150.0, 270.0), (20, 300),
                  0.7, 0.25, 0.012),
    "lsst": Survey("lsst", ("u", "g", "r", "i", "z", "y"),
                   {"u": 23.9, "g": 25.0, "r": 24.7, "i": 24.0, "z": 23.3, "y": 22.1},
                   (900.0, 1100.0), (150.0, 240.0), (8, 80), 0.5, 0.5, 0.005),
}


def _season_nights(rng, t_start: float, t_end: float, season: float) -> np.ndarray:
    """Integer nights inside yearly observing seasons of length ``season`` between the two times."""
    phase = rng.uniform(0.0, 365.25)
    nights = np.arange(np.floor(t_start), np.ceil(t_end))
    in_season = ((nights - t_start + phase) % 365.25) < season
    # weather and scheduling: whole blocks of nights are lost (about 30 % of the nights)
    lost = rng.random(nights.size) < 0.15
    lost |= np.roll(lost, 1) | np.roll(lost, 2)
    keep = nights[in_season & ~lost]
    return keep if keep.size else nights[: max(1, nights.size // 4)]


def draw_cadence(rng: np.random.Generator, survey: Survey, *, window=None, bands=None):
    """Epoch times (MJD) and band names of one object.

    Parameters
    ----------
    window : (float, float), optional
        Restrict to this time range (transients: alerts exist only around the event).
    bands : sequence of str, optional
        Bands to observe (default: all bands of the survey).

    Returns
    -------
    mjd : ndarray (n,) sorted; band : ndarray of str (n,)
    """
    bands = tuple(bands or survey.bands)
    baseline = rng.uniform(*survey.baseline_days)
    t0 = 58200.0 + rng.uniform(0.0, 60.0)            # ZTF survey start (2018 March) and a little scatter
    t_start, t_end = (t0, t0 + baseline) if window is None else window
    nights = _season_nights(rng, t_start, t_end, rng.uniform(*survey.season_days))
    lo, hi = survey.epochs_per_band
    # log-uniform number of epochs per band (sparse curves are common)
    n_main = int(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    times, names = [], []
    main_nights = rng.choice(nights, size=min(n_main, nights.size), replace=False)
    for k, band in enumerate(bands):
        if k == 0 or len(bands) == 1:
            sel = main_nights
        else:
            shared = main_nights[rng.random(main_nights.size) < survey.pair_probability]
            n_extra = int(rng.binomial(max(n_main - shared.size, 0), 0.5))
            extra = rng.choice(nights, size=min(n_extra, nights.size), replace=False)
            sel = np.union1d(shared, extra)
        t = sel + rng.uniform(0.12, 0.40, sel.size)               # time of night
        rep = rng.random(t.size) < survey.repeat_probability       # intra-night repeat, 30-90 min later
        t = np.concatenate([t, t[rep] + rng.uniform(0.02, 0.06, int(rep.sum()))])
        times.append(t)
        names.append(np.full(t.size, band))
    mjd = np.concatenate(times)
    band = np.concatenate(names)
    order = np.argsort(mjd, kind="stable")
    return mjd[order], band[order]


def observe(rng: np.random.Generator, survey: Survey, mjd, band, mag_true, *, err_scale: float = 1.0,
            outlier_rate: float = 0.002):
    """Add noise, detection limits and rare artefacts to true magnitudes.

    Error model (flux space, sky-limited): a 5-sigma limit ``m_lim`` per epoch (survey depth, 0.25 mag
    seeing/sky scatter, occasional bad nights) sets the flux noise ``sigma_f = 10**(-0.4 m_lim) / 5``;
    the observed flux is the true flux plus that noise and a calibration floor ``sys`` (mag); an epoch
    is detected when the observed flux exceeds ``5 sigma_f``, with ``mag_err = 1.0857 sigma_f / f``
    (so ``sigma ~ 0.217 * 10**(0.4 (m - m_lim))``). Otherwise it is an upper limit:
    ``detected=False``, ``mag = m_lim`` and ``mag_err = NaN``. ``err_scale`` mis-estimates the
    reported errors (real pipelines do).

    Returns
    -------
    mag, mag_err, detected : ndarrays (n,)
    """
    lim = np.array([survey.limit_mag[b] for b in band]) + rng.normal(0.0, 0.25, band.size)
    lim -= rng.exponential(0.3, band.size) * (rng.random(band.size) < 0.1)       # bad nights
    with np.errstate(over="ignore"):
        f_true = np.where(np.isfinite(mag_true), 10.0 ** (-0.4 * np.minimum(mag_true, 60.0)), 0.0)
    sigma_f = 10.0 ** (-0.4 * lim) / 5.0
    f_obs = f_true * (1.0 + survey.sys_err_mag / 1.0857 * rng.normal(0.0, 1.0, band.size)) \
        + sigma_f * rng.normal(0.0, 1.0, band.size)
    detected = f_obs > 5.0 * sigma_f
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(detected, -2.5 * np.log10(np.where(detected, f_obs, 1.0)), lim)
        sigma = np.where(detected, np.hypot(1.0857 * sigma_f / np.where(detected, f_obs, 1.0),
                                            survey.sys_err_mag), np.nan)
    art = detected & (rng.random(band.size) < outlier_rate)     # photometric artefacts (bad subtraction)
    mag = np.where(art, mag + rng.choice([-1.0, 1.0], band.size) * rng.uniform(0.3, 1.0, band.size), mag)
    err = np.where(detected, np.minimum(sigma, 1.0) * err_scale, np.nan)
    return mag, err, detected
