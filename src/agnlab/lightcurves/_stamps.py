"""Simulated first-detection alert stamps: science / reference / difference triplets of five classes.

Physical model (ZTF-like, 1.0 arcsec pixels, 63 x 63 pixel cutouts centred on the candidate):

* PSF: a double Gaussian (core + 2x wider halo holding 5-15 % of the flux, an approximation of a
  Moffat profile) with a small ellipticity; the science seeing varies per epoch (log-normal,
  median 2.1 arcsec FWHM, 1.2-4 arcsec), the reference is a deep coadd at its own seeing
  (1.6-2.2 arcsec) with noise reduced by ``sqrt(n_coadd)``, ``n_coadd`` 15-40.
* Scene: galaxies (bulge + exponential disk, each a Gaussian mixture, sheared by an axis ratio),
  field stars whose density rises towards the Galactic plane, all convolved analytically with the
  PSF (Gaussian covariances add; the pixel response adds 1/12 pixel^2).
* Noise: sky 400-3000 e-/pixel (moon), Poisson noise of sky + sources, read noise 8 e-;
  saturation at 60,000 e- (bright stars leave bad subtractions).
* Difference: science minus the reference convolved with a Gaussian kernel matching the PSF cores
  (``sigma_k^2 = sigma_sci^2 - sigma_ref^2``; the science is convolved instead when it has the better
  seeing), with a kernel width error of a few per cent, a sub-pixel registration error and a
  photometric scale error: real residuals around every bright static source.

Classes (the ALeRCE stamp classifier's, Carrasco-Davis et al. 2021): ``AGN`` (a nuclear point source
on a host, brighter or fainter in the science image; 25 % quasar-like with a faint or compact host),
``SN`` (a new point source offset from its host following the host's exponential profile, so some
land on the nucleus; 8 % hostless), ``VS`` (a variable star, brighter or fainter; field crowding follows
Galactic latitude), ``asteroid`` (a science-only point source, 35 % trailed, near the ecliptic) and
``bogus`` (cosmic rays, hot pixels and bad columns, dipoles from misregistration, saturated bright stars,
detector edges with NaN pixels, and noise peaks at the detection limit). Overlaps are deliberate:
faint SNe near nuclei vs AGN, quasars vs stars, dipoles vs variable stars, noise peaks vs faint
transients. Positions: AGN and SN uniform on the sky above |b| = 8 deg, variable stars concentrated
to the Galactic plane (Laplace, 14 deg), asteroids to the ecliptic (Gaussian, 8 deg), bogus uniform;
all at dec > -30 deg (the ZTF sky).

Metadata (one row per alert), measured on the simulated images where an alert broker measures them:
``gal_lat_deg``, ``ecl_lat_deg``, ``mag`` (PSF-fit magnitude on the difference image), ``elongation``
(axis ratio of the Gaussian-weighted second moments of the difference image), ``dist_nearest_arcsec``
(distance to the nearest catalogued source brighter than 22 mag in the reference, as ZTF's
``distpsnr1``), ``fwhm_arcsec`` (science seeing), ``sgscore_nearest`` and ``mag_nearest`` (the star/galaxy
score and r magnitude of that source, as ZTF's ``sgscore1`` and ``srmag1`` from Pan-STARRS1; see
:func:`_ps1_star_galaxy_score`). The catalogue lists an AGN's nucleus and host as one source, so a Seyfert
with a resolved host scores galaxy-like and a quasar with a faint compact host star-like (as Tachibana &
Miller 2018 treat quasars); a SN's nearest source is usually its host (galaxy-like, at the offset), a variable
star's is itself, an asteroid's an unrelated field star or galaxy. ``gmag_nearest``, ``imag_nearest`` and
``zmag_nearest`` are that source's PS1 g, i and z PSF magnitudes (ZTF's ``sgmag1``, ``simag1``, ``szmag1``;
NaN below the PS1 depth), from published colour distributions: stars on the main-sequence locus
(Covey et al. 2007), galaxies in the blue cloud or red sequence, quasar nuclei blended with their host
(Richards et al. 2001); see :func:`_star_colours` and its neighbours. ``ndethist`` and ``ncovhist`` are the
ZTF alert fields of the same names (earlier detections at the position, and epochs that covered it), drawn
for a first alert from the survey cadence and each class's light before this epoch (noise only for
asteroids and bogus alerts; see :func:`_detection_history`). The ALeRCE stamp classifier feeds the
``sgscore``, ``distpsnr``, ``ndethist`` and ``ncovhist`` fields (Carrasco-Davis et al. 2021); the PS1
magnitudes are fields of every ZTF alert (ztf-avro-alert schema, e.g. v4.01).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import check_random_state

__all__ = ["STAMP_METADATA_COLUMNS", "STAMP_CLASSES", "STAMP_SIZE", "galactic_ecliptic_latitudes", "simulate_stamps"]

#: the five classes of the stamp classifier, in the order of its outputs
STAMP_CLASSES: tuple[str, ...] = ("AGN", "SN", "VS", "asteroid", "bogus")
#: metadata columns of a stamp table
STAMP_METADATA_COLUMNS: tuple[str, ...] = ("gal_lat_deg", "ecl_lat_deg", "mag", "elongation", "dist_nearest_arcsec",
                                           "fwhm_arcsec", "sgscore_nearest", "mag_nearest", "gmag_nearest",
                                           "imag_nearest", "zmag_nearest", "ndethist", "ncovhist")
#: cutout side in pixels
STAMP_SIZE = 63

ZEROPOINT = 27.2          # mag giving 1 e-: 5-sigma limit ~20.5 mag in 2" seeing on a 1000 e- sky
READ_NOISE = 8.0
SATURATION = 60000.0
_C = (STAMP_SIZE - 1) / 2.0
_YY, _XX = np.mgrid[0:STAMP_SIZE, 0:STAMP_SIZE].astype(np.float64)
_BOGUS_KINDS = ("cosmic_ray", "hot_pixel", "dipole", "saturated_star", "edge", "noise_peak")


def _exp_mixture():
    """Gaussian-mixture approximation (weights, sigma / scale length) of a 2D exponential profile."""
    from scipy.optimize import nnls

    scales = np.array([0.25, 0.5, 0.9, 1.5, 2.4, 3.8])
    r = np.linspace(0.01, 10, 400)
    basis = np.exp(-0.5 * (r[:, None] / scales) ** 2) / (2 * np.pi * scales ** 2)
    target = np.exp(-r) / (2 * np.pi)
    w, _ = nnls(basis * r[:, None], target * r)
    keep = w > 0.02
    return w[keep] / w[keep].sum(), scales[keep]


_EXP_W, _EXP_S = _exp_mixture()


def _cov(sigma, q=1.0, theta=0.0):
    """2x2 covariance of an elliptical Gaussian (major sigma, axis ratio q, angle theta)."""
    c, s = np.cos(theta), np.sin(theta)
    R = np.array([[c, -s], [s, c]])
    return R @ np.diag([sigma ** 2, (sigma * q) ** 2]) @ R.T


def _galaxy_mixture(r_scale, q, bulge_frac):
    """(weights, major sigmas, axis ratio) of a bulge (scale / 4) + exponential disk as Gaussians."""
    w, s = [], []
    for frac, scale in ((1 - bulge_frac, r_scale), (bulge_frac, 0.25 * r_scale)):
        if frac > 0:
            w.extend(frac * _EXP_W)
            s.extend(_EXP_S * scale)
    return np.array(w), np.array(s), q


_POINT = (np.ones(1), np.zeros(1), 1.0)


class _Scene:
    """Sources as lists of Gaussian components (x, y, flux, covariance) before the PSF, and the catalogue
    (x, y, r mag, profile, colours g-r / r-i / i-z) of the static ones that a survey like Pan-STARRS1 lists."""

    def __init__(self):
        self.comps: list[tuple[float, float, float, np.ndarray]] = []
        self.catalog: list[tuple[float, float, float, tuple]] = []

    def point(self, x, y, flux, catalog=True, colours=None):
        self.comps.append((x, y, flux, np.zeros((2, 2))))
        if catalog and flux > 0:
            self.catalog.append((x, y, ZEROPOINT - 2.5 * np.log10(flux), _POINT, colours))

    def galaxy(self, x, y, flux, r_scale, q, theta, bulge_frac, catalog=True, colours=None):
        w, s, _ = _galaxy_mixture(r_scale, q, bulge_frac)
        for wk, sk in zip(w, s):
            self.comps.append((x, y, flux * wk, _cov(sk, q, theta)))
        if catalog and flux > 0:
            self.catalog.append((x, y, ZEROPOINT - 2.5 * np.log10(flux), (w, s, q), colours))


#: Pan-STARRS1 3pi stack: r-band 5-sigma depth 23.2 mag, median r seeing 1.19 arcsec (Chambers et al. 2016)
PS1_DEPTH, PS1_FWHM = 23.2, 1.19
#: the SDSS photometric star/galaxy cut on m_psf - m_model (Stoughton et al. 2002, AJ 123, 485)
_PSF_MINUS_KRON_CUT = 0.145


def _ps1_star_galaxy_score(rng, mag, profile):
    """A Pan-STARRS1-like star/galaxy score (1 star-like, 0 galaxy-like) of a catalogued source.

    Tachibana & Miller (2018, PASP 130, 128001; the ``sgscore1`` of ZTF alerts) classify PS1 sources from
    the difference between PSF and Kron(-like) fluxes: a point source has ``m_psf - m_kron ~ 0``, a resolved
    one a positive difference. Here the difference is computed for the source's Gaussian mixture
    ``profile`` (weights, major sigmas in arcsec, axis ratio) in a PS1 seeing drawn around 1.19 arcsec:
    the PSF-fit flux of a component of covariance ``S`` in a Gaussian PSF of variance ``p`` is
    ``2 p / sqrt(|2 p I + S|)`` of its total. The measured difference carries the noise of the Kron flux
    (1.5 x the PSF-magnitude error of a 23.2 mag 5-sigma depth, plus 0.01 mag), and the score is the
    probability that the measurement lies under the SDSS cut of 0.145 mag: near 0 or 1 for bright sources,
    drifting to intermediate values at the faint end as Tachibana & Miller's Fig. 9 shows; compact galaxies
    and quasars with faint hosts score star-like.
    """
    w, s, q = profile
    p = (rng.uniform(0.85, 1.15) * PS1_FWHM / 2.3548) ** 2
    ratio = float(np.sum(w * 2 * p / np.sqrt((2 * p + s ** 2) * (2 * p + (q * s) ** 2))))
    dm = -2.5 * np.log10(min(max(ratio, 1e-3), 1.0))
    snr = 5.0 * 10 ** (0.4 * (PS1_DEPTH - mag))
    err = float(np.hypot(0.01, 1.5 * 1.0857 / snr))
    from scipy.special import ndtr

    return float(ndtr((_PSF_MINUS_KRON_CUT - (dm + rng.normal(0, err))) / err))


#: main-sequence stellar locus (g-r, r-i, i-z), A0 to M6: approximate median SDSS colours of Covey et al.
#: (2007, AJ 134, 2398) at A0, F5, G0, G5, K0, K5, M0, M2, M4, M6 (rounded to 0.01-0.05 mag); the PS1 bands
#: differ from SDSS's by < 0.1 mag along the locus (Tonry et al. 2012, ApJ 750, 99)
_LOCUS = np.array([[-0.25, -0.12, -0.08], [0.30, 0.08, 0.00], [0.40, 0.12, 0.02], [0.47, 0.15, 0.04],
                   [0.65, 0.22, 0.09], [1.15, 0.43, 0.23], [1.35, 0.70, 0.35], [1.45, 1.00, 0.50],
                   [1.50, 1.50, 0.80], [1.60, 2.10, 1.10]])
#: PS1 3pi stack 5-sigma depths in g, r, i, z (Chambers et al. 2016, Table 11)
PS1_DEPTHS = (23.3, 23.2, 23.1, 22.3)


def _locus_colours(rng, t):
    """Colours at position ``t`` (0 = A0 ... 9 = M6) along the stellar locus, with its 0.03 mag width
    (the intrinsic locus width of Covey et al. 2007 / Ivezic et al. 2008)."""
    k = np.arange(len(_LOCUS))
    return np.array([np.interp(t, k, _LOCUS[:, j]) for j in range(3)]) + rng.normal(0, 0.03, 3)


def _star_colours(rng):
    """Colours of a faint field star: the bimodal g-r distribution of faint stars (Juric et al. 2008,
    ApJ 673, 864, their Fig. 2: halo / thick-disk turn-off stars near g-r 0.3, disk M dwarfs near 1.4)."""
    if rng.random() < 0.55:
        return _locus_colours(rng, float(np.clip(rng.normal(1.8, 0.8), 0.0, 5.0)))   # F-G-K: g-r ~ 0.3-0.6
    return _locus_colours(rng, float(rng.uniform(5.5, 9.0)))                           # late K - M dwarfs


def _variable_star_colours(rng):
    """Colours of a variable star: 30 % RR Lyrae (mean g-r 0.1-0.35; Sesar et al. 2010, ApJ 708, 717), the
    rest (eclipsing binaries, long-period and other variables) drawn like the field stars."""
    if rng.random() < 0.30:
        return _locus_colours(rng, float(rng.uniform(0.6, 1.4)))
    return _star_colours(rng)


def _galaxy_colours(rng):
    """Colours of a low-redshift galaxy: the blue cloud (60 %) and red sequence of SDSS galaxies at z ~ 0.1
    (Strateva et al. 2001, AJ 122, 1861; Blanton et al. 2003, ApJ 594, 186)."""
    if rng.random() < 0.6:
        return rng.normal([0.45, 0.25, 0.15], [0.10, 0.07, 0.08])
    return rng.normal([0.78, 0.41, 0.30], [0.06, 0.04, 0.05])


def _quasar_colours(rng):
    """Colours of a quasar nucleus at 0.3 < z < 2.2: g-r 0.2, r-i 0.15, i-z 0.08 with 0.1-0.15 mag spread
    from emission lines crossing the bands and continuum slopes (Richards et al. 2001, AJ 121, 2308)."""
    return rng.normal([0.20, 0.15, 0.08], [0.15, 0.12, 0.12])


def _blend_colours(fluxes_r, colours):
    """Colours of the sum of sources with r fluxes ``fluxes_r`` and colours ``colours`` (k, 3)."""
    fr = np.asarray(fluxes_r, dtype=np.float64)
    c = np.asarray(colours, dtype=np.float64)
    g = np.sum(fr * 10 ** (-0.4 * c[:, 0]))
    i = np.sum(fr * 10 ** (0.4 * c[:, 1]))
    z = np.sum(fr * 10 ** (0.4 * (c[:, 1] + c[:, 2])))
    tot = fr.sum()
    return np.array([-2.5 * np.log10(g / tot), 2.5 * np.log10(i / tot), 2.5 * np.log10(z / i)])


def _ps1_gizmags(rng, rmag, colours):
    """PS1 g, i, z magnitudes (``sgmag1, simag1, szmag1``) of a catalogued source of r magnitude ``rmag``,
    each with the noise of the PS1 stack depth; NaN (ZTF's -999) when fainter than that band's depth."""
    g = rmag + colours[0]
    i = rmag - colours[1]
    z = i - colours[2]
    out = []
    for m, depth in zip((g, i, z), (PS1_DEPTHS[0], PS1_DEPTHS[2], PS1_DEPTHS[3])):
        err = float(np.hypot(0.01, 1.0857 / (5.0 * 10 ** (0.4 * (depth - m)))))
        out.append(m + rng.normal(0, err) if m < depth else np.nan)
    return out


#: ZTF survey history (Bellm et al. 2019, PASP 131, 018002): the public survey visits each field every 3
#: nights in g and r (0.67 visits a night), the partnership survey nightly in both (2 a night), over a
#: 60 % observing season; the training alerts come from the first 700 days of difference imaging
_VISIT_RATE = (0.4, 2.0)
_SEASON, _HISTORY_DAYS = 0.6, 700.0
#: damped-random-walk timescale of quasar variability in the observer frame: rest-frame tau ~ 200 d
#: (MacLeod et al. 2010, ApJ 721, 1014) times (1 + z) ~ 2, log-normal with 0.3 dex scatter
_DRW_TAU_DAYS, _DRW_TAU_DEX = 400.0, 0.3
#: rise of a supernova before its first alert: 0.1-0.5 mag/day over 7-20 days (SNe Ia rise in ~ 18 d,
#: Miller et al. 2020, ApJ 902, 47; SNe II in ~ 7-10 d, Gonzalez-Gaitan et al. 2015, MNRAS 451, 2212)
_SN_RISE_MAG_PER_DAY, _SN_RISE_DAYS = (0.1, 0.5), (7.0, 20.0)


def _detection_history(rng, cls, snr, n_ref):
    """``ndethist`` and ``ncovhist`` of a first alert, as the ZTF alert schema defines them.

    ``ncovhist`` counts every epoch that covered the position since the survey began: the ``n_ref`` epochs
    stacked into the reference, plus ``k`` epochs of difference imaging before this one, Poisson at the
    survey's visit rate over a time drawn uniformly in the history (the same for every class).
    ``ndethist`` counts this detection plus the earlier raw detections at |S/N| >= 3 on the positive or
    negative difference (the schema's "all raw detections down to a photometric S/N of ~3"), in units of
    the current epoch's noise: noise alone for asteroids (never twice at one position) and bogus alerts;
    the rising light of a supernova; the variability of AGN (a damped random walk, whose current
    deviation from the reference mean is a standard-normal draw) and variable stars (periodic, observed at
    random phases: ``sqrt(2) sin(phase)`` in units of the rms). Being the object's *first* alert means no
    earlier epoch reached S/N 5: histories that did are rejected and redrawn (prior, amplitude and
    history together), which selects small amplitudes or short histories for strong variables.
    """
    ncov, ndet = n_ref + 1, 1
    for _ in range(200):
        rate = np.exp(rng.uniform(*np.log(_VISIT_RATE)))
        span = rng.uniform(0.0, _HISTORY_DAYS)
        k = int(rng.poisson(rate * _SEASON * span))
        lag = np.sort(rng.uniform(0.0, span, k))                     # days before this epoch
        x = rng.normal(0.0, 1.0, k)                                  # noise of the earlier epochs
        if cls == "SN":
            rise = rng.uniform(*_SN_RISE_MAG_PER_DAY)
            x += np.where(lag < rng.uniform(*_SN_RISE_DAYS), snr * 10 ** (-0.4 * rise * lag), 0.0)
        elif cls == "AGN":
            z0 = abs(rng.normal())
            tau = _DRW_TAU_DAYS * 10 ** rng.normal(0.0, _DRW_TAU_DEX)
            tau = max(tau, span / 30.0)                              # keeps exp(lag / tau) finite
            # time-reversible AR(1) run backwards from z0: z_j = P_j (z0 + sum_i<=j sqrt(1 - rho_i^2) e_i / P_i)
            rho = np.exp(-np.diff(np.r_[0.0, lag]) / tau)
            p_j = np.exp(-lag / tau)
            z = p_j * (z0 + np.cumsum(np.sqrt(1 - rho ** 2) * rng.normal(0.0, 1.0, k) / p_j))
            x += snr / max(z0, 1e-3) * z
        elif cls == "VS":
            s0 = abs(np.sin(rng.uniform(0, np.pi)))
            x += snr / max(s0, 1e-3) * np.sin(rng.uniform(0, 2 * np.pi, k))
        ncov, ndet = n_ref + k + 1, 1 + int(np.sum(np.abs(x) >= 3.0))
        if cls in ("asteroid", "bogus") or not np.any(np.abs(x) >= 5.0):
            break
    return ndet, ncov


def _render(comps, psf, extra_cov=None, shift=(0.0, 0.0)):
    """Noise-free image of Gaussian components convolved with ``psf`` (list of (weight, cov)).

    Each component is evaluated only within 4.5 sigma of its centre, and skipped when its peak is below
    0.01 e-/pixel (faster than the full grid; both far below the noise).
    """
    img = np.zeros((STAMP_SIZE, STAMP_SIZE))
    pix = np.eye(2) / 12.0 + (extra_cov if extra_cov is not None else 0.0)
    for x, y, fl, cov0 in comps:
        if fl == 0:
            continue
        x, y = x + shift[0], y + shift[1]
        for w, pcov in psf:
            cov = cov0 + pcov + pix
            det = cov[0, 0] * cov[1, 1] - cov[0, 1] ** 2
            amp = w * fl / (2 * np.pi * np.sqrt(det))
            if abs(amp) < 0.01:             # peak below 0.01 e-/pixel: far under any noise, skipped
                continue
            half = 4.5 * np.sqrt(max(cov[0, 0], cov[1, 1]))
            x0, x1 = max(int(x - half), 0), min(int(x + half) + 2, STAMP_SIZE)
            y0, y1 = max(int(y - half), 0), min(int(y + half) + 2, STAMP_SIZE)
            if x0 >= x1 or y0 >= y1:
                continue
            dx = np.arange(x0, x1) - x
            dy = (np.arange(y0, y1) - y)[:, None]
            q = (cov[1, 1] * dx ** 2 - 2 * cov[0, 1] * dx * dy + cov[0, 0] * dy ** 2) / det
            img[y0:y1, x0:x1] += amp * np.exp(-0.5 * q)
    return img


def _psf(rng, fwhm_arcsec):
    sigma = fwhm_arcsec / 2.3548
    halo = rng.uniform(0.05, 0.15)
    e = rng.uniform(0.0, 0.08)
    th = rng.uniform(0, np.pi)
    core = _cov(sigma, 1 - e, th)
    return [(1 - halo, core), (halo, 4.0 * core)], sigma


def _field(rng, scene, gal_lat_deg, avoid_centre=3.0):
    """Field stars (density rising to the Galactic plane) and background galaxies."""
    n_star = rng.poisson(1.5 + 20.0 * np.exp(-abs(gal_lat_deg) / 12.0))
    n_gal = rng.poisson(2.5)
    for _ in range(n_star):
        x, y = rng.uniform(-2, STAMP_SIZE + 1, 2)
        if np.hypot(x - _C, y - _C) < avoid_centre:
            continue
        mag = 22.5 - 2.5 * np.log10(1 + rng.pareto(1.2))       # rising counts to the faint end
        scene.point(x, y, 10 ** (0.4 * (ZEROPOINT - max(mag, 12.0))), colours=_star_colours(rng))
    for _ in range(n_gal):
        x, y = rng.uniform(-2, STAMP_SIZE + 1, 2)
        if np.hypot(x - _C, y - _C) < avoid_centre + 2:
            continue
        mag = rng.uniform(18.5, 23.5)
        scene.galaxy(x, y, 10 ** (0.4 * (ZEROPOINT - mag)), rng.uniform(0.5, 2.5), rng.uniform(0.3, 1.0),
                     rng.uniform(0, np.pi), rng.uniform(0, 0.5), colours=_galaxy_colours(rng))


#: ICRS -> Galactic rotation (Hipparcos, ESA 1997) and ICRS -> ecliptic (mean obliquity J2000)
_ICRS_TO_GAL = np.array([[-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
                         [0.4941094278755837, -0.4448296299600112, 0.7469822444972189],
                         [-0.8676661490190047, -0.1980763734312015, 0.4559837761750669]])
_EPS = np.radians(23.4392911)
_ICRS_TO_ECL = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(_EPS), np.sin(_EPS)], [0.0, -np.sin(_EPS), np.cos(_EPS)]])


def _unit(lon_deg, lat_deg):
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def _lonlat(v):
    v = np.asarray(v, dtype=np.float64)
    return (np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0,
            np.degrees(np.arcsin(np.clip(v[..., 2], -1.0, 1.0))))


def galactic_ecliptic_latitudes(ra_deg, dec_deg):
    """Galactic and ecliptic latitudes (deg) of ICRS positions (arrays broadcast)."""
    v = _unit(np.asarray(ra_deg, dtype=np.float64), np.asarray(dec_deg, dtype=np.float64))
    return _lonlat(v @ _ICRS_TO_GAL.T)[1], _lonlat(v @ _ICRS_TO_ECL.T)[1]


def _sky_position(rng, cls):
    """(ra, dec) of an alert: extragalactic classes away from the plane, stars towards it, asteroids
    near the ecliptic, bogus anywhere (uniform on the sphere); the survey sees dec > -30 deg."""
    for _ in range(1000):
        if cls in ("AGN", "SN"):
            lat = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(8)), 1.0))) * rng.choice([-1, 1])
            v = _unit(rng.uniform(0, 360), lat) @ _ICRS_TO_GAL
        elif cls == "VS":
            v = _unit(rng.uniform(0, 360), float(np.clip(rng.laplace(0, 14.0), -89, 89))) @ _ICRS_TO_GAL
        elif cls == "asteroid":
            v = _unit(rng.uniform(0, 360), float(np.clip(rng.normal(0, 8.0), -89, 89))) @ _ICRS_TO_ECL
        else:
            v = _unit(rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-1, 1))))
        ra, dec = _lonlat(v)
        if dec > -30.0:
            return float(ra), float(dec)
    return float(ra), float(dec)


def _host(rng, scene, x, y, mag, r_scale):
    q, th, bulge = rng.uniform(0.3, 1.0), rng.uniform(0, np.pi), rng.uniform(0.05, 0.6)
    scene.galaxy(x, y, 10 ** (0.4 * (ZEROPOINT - mag)), r_scale, q, th, bulge, colours=_galaxy_colours(rng))
    return q, th


def _flux(mag):
    return 10 ** (0.4 * (ZEROPOINT - mag))


def _one(rng, cls):
    """One alert: (sci, ref, diff) images, metadata pieces, bogus kind or ''."""
    fwhm_sci = float(np.clip(np.exp(rng.normal(np.log(2.1), 0.22)), 1.2, 4.0))
    fwhm_ref = rng.uniform(1.6, 2.2)
    psf_s, sig_s = _psf(rng, fwhm_sci)
    psf_r, sig_r = _psf(rng, fwhm_ref)
    sky = rng.uniform(400, 3000)
    sky_ref = rng.uniform(300, 1500)
    n_coadd = rng.integers(15, 41)
    noise_psf = np.sqrt(sky + READ_NOISE ** 2) * np.sqrt(4 * np.pi) * sig_s   # PSF-photometry noise, e-
    # detection significance of the new flux: steeply rising to the 5-sigma limit
    snr = 5.0 + rng.exponential(12.0)
    x0, y0 = _C + rng.uniform(-0.5, 0.5, 2)
    static, new = _Scene(), _Scene()   # in both images / science only (the transient change)
    kind = sub = ""
    reg_sigma, kern_err, scale_err = 0.07, 0.04, 0.01
    nan_region = None
    ra, dec = _sky_position(rng, cls)
    b, ecl = (float(v) for v in galactic_ecliptic_latitudes(ra, dec))
    _field(rng, static, b)

    if cls == "AGN":
        dflux = snr * noise_psf * rng.choice([1, -1], p=[0.6, 0.4])
        frac = rng.uniform(0.08, 0.7)                    # |change| / nuclear flux
        f_nuc = abs(dflux) / frac
        if dflux < 0:
            f_nuc += abs(dflux)
        qso = rng.random() < 0.25
        m_host = ZEROPOINT - 2.5 * np.log10(f_nuc) + (rng.uniform(1.0, 3.5) if qso else rng.normal(0.0, 1.0))
        r_host = rng.uniform(0.4, 1.2) if qso else rng.uniform(1.0, 5.0)
        xn, yn = x0 + rng.normal(0, 0.15), y0 + rng.normal(0, 0.15)
        q, th, bulge = rng.uniform(0.3, 1.0), rng.uniform(0, np.pi), rng.uniform(0.05, 0.6)
        static.galaxy(xn, yn, _flux(m_host), r_host, q, th, bulge, catalog=False)
        static.point(xn, yn, f_nuc, catalog=False)     # the nucleus in both images; the change below
        new.point(xn, yn, dflux)
        # the catalogue lists nucleus + host as one source (in the reference state)
        w, s, _ = _galaxy_mixture(r_host, q, bulge)
        f_tot = f_nuc + _flux(m_host)
        nuc_col = _quasar_colours(rng)
        static.catalog.append((xn, yn, ZEROPOINT - 2.5 * np.log10(f_tot),
                               (np.r_[f_nuc / f_tot, w * _flux(m_host) / f_tot], np.r_[0.0, s], q),
                               _blend_colours([f_nuc, _flux(m_host)], [nuc_col, _galaxy_colours(rng)])))
        sub = "quasar" if qso else "host"
    elif cls == "SN":
        dflux = snr * noise_psf
        hostless = rng.random() < 0.08
        sub = "hostless" if hostless else "hosted"
        r_host = rng.uniform(0.8, 5.0)
        m_host = rng.uniform(23.5, 25.5) if hostless else rng.uniform(16.5, 22.0)
        r = rng.gamma(2.0, r_host) if not hostless else rng.uniform(0, 4)
        phi = rng.uniform(0, 2 * np.pi)
        q, th = rng.uniform(0.3, 1.0), rng.uniform(0, np.pi)
        # offset along the host's own (sheared) disk
        u, v = r * np.cos(phi), r * q * np.sin(phi)
        hx, hy = x0 - (u * np.cos(th) - v * np.sin(th)), y0 - (u * np.sin(th) + v * np.cos(th))
        static.galaxy(hx, hy, _flux(m_host), r_host, q, th, rng.uniform(0.05, 0.6), colours=_galaxy_colours(rng))
        new.point(x0, y0, dflux)
    elif cls == "VS":
        dflux = snr * noise_psf * rng.choice([1, -1])
        frac = np.exp(rng.uniform(np.log(0.03), np.log(1.5)))
        f_star = abs(dflux) / frac + (abs(dflux) if dflux < 0 else 0.0)
        static.point(x0 + rng.normal(0, 0.1), y0 + rng.normal(0, 0.1), f_star, colours=_variable_star_colours(rng))
        new.point(x0, y0, dflux, catalog=False)
    elif cls == "asteroid":
        dflux = snr * noise_psf
        sub = "point"
        if rng.random() < 0.35:                       # trailed: motion during the 30 s exposure
            sub = "trailed"
            length, ang = rng.uniform(2.0, 9.0), rng.uniform(0, np.pi)
            n = 9
            for t in np.linspace(-0.5, 0.5, n):
                new.point(x0 + t * length * np.cos(ang), y0 + t * length * np.sin(ang), dflux / n, catalog=False)
        else:
            new.point(x0, y0, dflux, catalog=False)
    else:
        kind = sub = _BOGUS_KINDS[rng.integers(len(_BOGUS_KINDS))]
        dflux = snr * noise_psf
        if kind == "dipole":                          # bad registration of a bright static source
            reg_sigma = rng.uniform(0.35, 1.2)
            if rng.random() < 0.5:
                static.point(x0, y0, _flux(rng.uniform(14.0, 18.0)), colours=_star_colours(rng))
            else:
                _host(rng, static, x0, y0, rng.uniform(15.0, 18.5), rng.uniform(0.6, 2.5))
            dflux = 0.0
        elif kind == "saturated_star":
            static.point(x0, y0, _flux(rng.uniform(9.5, 12.5)), colours=_star_colours(rng))
            kern_err, scale_err = rng.uniform(0.05, 0.2), rng.uniform(0.01, 0.05)
            dflux = 0.0
    # ---- images
    sci_model = _render(static.comps + new.comps, psf_s)
    ref_model = _render(static.comps, psf_r)
    sci = rng.poisson(np.clip(sci_model, 0, None) + sky).astype(float) + rng.normal(0, READ_NOISE, sci_model.shape)
    ref_noise = rng.normal(0, 1, ref_model.shape) * np.sqrt((np.clip(ref_model, 0, None) + sky_ref) / n_coadd
                                                            + READ_NOISE ** 2 / n_coadd)
    ref = ref_model + sky_ref + ref_noise
    if kind == "cosmic_ray":                          # sharp, not PSF-shaped, science only
        n_px = rng.integers(1, 5)
        px, py = int(round(x0)), int(round(y0))
        for _ in range(n_px):
            sci[py, px] += rng.uniform(0.3, 1.0) * dflux
            px += rng.integers(-1, 2)
            py += rng.integers(-1, 2)
    elif kind == "hot_pixel":
        px, py = int(round(x0)), int(round(y0))
        if rng.random() < 0.5:
            sci[py, px] += dflux * rng.uniform(0.3, 0.8)
        else:                                          # a bad column segment
            sci[py - rng.integers(3, 20):py + rng.integers(3, 20), px] += dflux * rng.uniform(0.05, 0.2)
    elif kind == "noise_peak":                        # an upward fluctuation at the detection limit
        peak = _Scene()
        peak.point(x0, y0, noise_psf * rng.uniform(2.0, 4.0), catalog=False)
        sci += rng.normal(0, 1, sci.shape) * 0.5 * np.sqrt(sky) * np.exp(-((_XX - x0) ** 2 + (_YY - y0) ** 2) / 8)
        sci += _render(peak.comps, psf_s)
    elif kind == "edge":                              # candidate at a CCD edge: padded cutout (NaN) + glow
        side, width = rng.integers(4), rng.integers(int(_C) - 20, int(_C) + 1)
        nan_region = (side, width)
        gx = {0: _XX, 1: STAMP_SIZE - 1 - _XX, 2: _YY, 3: STAMP_SIZE - 1 - _YY}[side]
        glow = dflux * 0.08 * np.exp(-(gx - width) / rng.uniform(1.5, 5.0))
        sci += np.where(gx >= width, glow, 0.0)
    sci = np.minimum(sci, SATURATION)
    ref = np.minimum(ref, SATURATION)
    # ---- PSF-matched subtraction (imperfect)
    from scipy.ndimage import gaussian_filter

    d2 = (sig_s ** 2 - sig_r ** 2) * (1 + rng.normal(0, kern_err))
    shift = rng.normal(0, reg_sigma, 2)
    scale = 1 + rng.normal(0, scale_err)
    if d2 >= 0:
        kcov = np.eye(2) * max(d2, 0.0)
        matched = _render(static.comps, psf_r, kcov, shift) * scale
        if kind == "saturated_star":                  # saturation is not in the model: clipped core left
            matched = np.minimum(matched + sky_ref, SATURATION * rng.uniform(0.7, 1.0)) - sky_ref
        noise_m = gaussian_filter(ref_noise, np.sqrt(max(d2, 1e-6))) if d2 > 0.01 else ref_noise
        diff = sci - sky - matched - noise_m * scale
    else:
        sci_c = gaussian_filter(sci - sky, np.sqrt(-d2)) if -d2 > 0.01 else sci - sky
        matched = _render(static.comps, psf_r, None, shift) * scale
        diff = sci_c - matched - ref_noise * scale
    stamps = np.stack([sci, ref, diff]).astype(np.float32)
    if nan_region is not None:
        side, width = nan_region
        gx = {0: _XX, 1: STAMP_SIZE - 1 - _XX, 2: _YY, 3: STAMP_SIZE - 1 - _YY}[side]
        stamps[:, gx > width + 2] = np.nan
    dist, mag_near, profile, colours = _nearest(rng, static.catalog, x0, y0, b)
    sg = _ps1_star_galaxy_score(rng, mag_near, profile)
    gmag, imag, zmag = _ps1_gizmags(rng, mag_near, colours)
    ndet, ncov = _detection_history(rng, cls, snr, int(n_coadd))
    return stamps, dict(gal_lat_deg=b, ecl_lat_deg=ecl, fwhm_arcsec=fwhm_sci, dist_nearest_arcsec=dist,
                        sgscore_nearest=sg, mag_nearest=mag_near + rng.normal(0, 0.02), gmag_nearest=gmag,
                        imag_nearest=imag, zmag_nearest=zmag, ndethist=ndet, ncovhist=ncov,
                        ra_deg=ra, dec_deg=dec), sub, sig_s


def _nearest(rng, catalog, x0, y0, gal_lat_deg, depth=22.0):
    """Distance (arcsec), r magnitude, profile and colours of the nearest catalogued source brighter than
    ``depth``.

    Nothing in the cutout: one beyond it, at a distance drawn from the source density (stars rising to
    the Galactic plane as in :func:`_field`), a star or a galaxy in proportion to their densities there.
    """
    bright = [c for c in catalog if c[2] < depth]
    if bright:
        d = [np.hypot(c[0] - x0, c[1] - y0) for c in bright]
        k = int(np.argmin(d))
        if d[k] <= _C:
            return abs(d[k] + rng.normal(0, 0.1)), bright[k][2], bright[k][3], bright[k][4]
    star_rate = 1.5 + 20.0 * np.exp(-abs(gal_lat_deg) / 12.0)
    dens = 1.0 / 900.0 * (1 + 10 * np.exp(-abs(gal_lat_deg) / 12.0))
    dist = float(min(_C + np.sqrt(rng.exponential() / (np.pi * dens)), 60.0))
    if rng.random() < star_rate / (star_rate + 2.5):
        mag = max(22.5 - 2.5 * np.log10(1 + rng.pareto(1.2)), 12.0)
        while mag >= depth:
            mag = max(22.5 - 2.5 * np.log10(1 + rng.pareto(1.2)), 12.0)
        return dist, mag, _POINT, _star_colours(rng)
    return dist, rng.uniform(18.5, depth), _galaxy_mixture(rng.uniform(0.5, 2.5), rng.uniform(0.3, 1.0),
                                                           rng.uniform(0, 0.5)), _galaxy_colours(rng)


def _measure(diff, sigma):
    """PSF-fit magnitude and second-moment elongation of difference images (n, 63, 63) at the centre."""
    d = np.nan_to_num(diff.astype(np.float64))
    n = d.shape[0]
    dx, dy = _XX - _C, _YY - _C
    mags, elong = np.empty(n), np.empty(n)
    for i in range(n):
        p = np.exp(-0.5 * (dx ** 2 + dy ** 2) / sigma[i] ** 2)
        f = float((d[i] * p).sum() / (p * p).sum())
        mags[i] = ZEROPOINT - 2.5 * np.log10(max(abs(f), 1.0))
        img = d[i] * np.sign(f if f != 0 else 1.0)
        w = np.exp(-0.5 * (dx ** 2 + dy ** 2) / (1.5 * max(sigma[i], 0.8)) ** 2) * np.clip(img, 0, None)
        s = w.sum()
        if s <= 0:
            elong[i] = 1.0
            continue
        mx, my = (w * dx).sum() / s, (w * dy).sum() / s
        cxx = (w * (dx - mx) ** 2).sum() / s
        cyy = (w * (dy - my) ** 2).sum() / s
        cxy = (w * (dx - mx) * (dy - my)).sum() / s
        tr, det = cxx + cyy, cxx * cyy - cxy ** 2
        disc = np.sqrt(max(tr ** 2 / 4 - det, 0.0))
        lam1, lam2 = tr / 2 + disc, max(tr / 2 - disc, 1e-6)
        elong[i] = float(np.sqrt(lam1 / lam2))
    return mags, elong


def simulate_stamps(n_per_class: int, *, classes=None, seed=0):
    """Simulate labelled first-detection alert stamps (science, reference, difference).

    Parameters
    ----------
    n_per_class : int
        Alerts per class (>= 1).
    classes : sequence of str, optional
        Subset of :data:`STAMP_CLASSES` (default: all five).
    seed : int, numpy Generator or None

    Returns
    -------
    stamps : ndarray, shape (n, 3, 63, 63), float32
        Science, reference and difference images in e- (science and reference include the sky;
        the difference is background-subtracted). Edge-of-detector bogus alerts contain NaN.
    metadata : DataFrame, shape (n, 15)
        Columns :data:`STAMP_METADATA_COLUMNS` plus the position ``ra_deg, dec_deg`` (ICRS; the latitudes
        follow from it); ``metadata.attrs["bogus_kind"]`` gives the kind of each bogus
        alert ('' for real ones), ``metadata.attrs["subclass"]`` the kind of every alert (AGN ``quasar`` or
        ``host``, SN ``hosted`` or ``hostless``, asteroid ``point`` or ``trailed``, the bogus kind; '' for VS).
    labels : ndarray of str, shape (n,)

    Examples
    --------
    >>> stamps, meta, labels = simulate_stamps(2, seed=0)
    >>> stamps.shape, list(meta.columns)[:3], sorted(map(str, set(labels)))[:2]
    ((10, 3, 63, 63), ['gal_lat_deg', 'ecl_lat_deg', 'mag'], ['AGN', 'SN'])
    """
    n_per_class = int(n_per_class)
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    classes = list(STAMP_CLASSES if classes is None else classes)
    unknown = sorted(set(classes) - set(STAMP_CLASSES))
    if unknown or not classes:
        raise ValueError(f"unknown stamp class(es) {unknown}; known: {list(STAMP_CLASSES)}")
    rng = check_random_state(seed)
    labels = np.repeat(np.array(classes, dtype=object), n_per_class)
    order = rng.permutation(labels.size)
    labels = labels[order].astype(str)
    stamps = np.empty((labels.size, 3, STAMP_SIZE, STAMP_SIZE), np.float32)
    rows, subs, sig = [], [], np.empty(labels.size)
    for i, cls in enumerate(labels):
        stamps[i], meta, sub, sig[i] = _one(rng, cls)
        rows.append(meta)
        subs.append(sub)
    mags, elong = _measure(stamps[:, 2], sig)
    meta = pd.DataFrame(rows)
    meta["mag"] = mags
    meta["elongation"] = elong
    meta = meta[list(STAMP_METADATA_COLUMNS) + ["ra_deg", "dec_deg"]]
    subs = np.array(subs, dtype=str)
    meta.attrs["subclass"] = subs
    meta.attrs["bogus_kind"] = np.where(labels == "bogus", subs, "")
    return stamps, meta, labels
