"""Physically motivated generators of true magnitudes for the 15 classes.

Every generator has the signature ``gen(rng, mjd, band) -> mag_true`` (arrays of one object,
``mag_true`` may be ``inf`` where the source is too faint to exist, e.g. before a supernova).
Sources of the choices:

* AGN/QSO: damped random walk (Kelly et al. 2009, ApJ 698, 895) with MacLeod et al. (2010, ApJ 721,
  1014) parameters: rest-frame log10 tau ~ 2.4 +- 0.3 dex (days), SF_inf ~ 0.2 mag with 0.2 dex scatter,
  amplitude ~ lambda^-0.48; AGN diluted by a red host (g-r ~ 0.75) for the low-luminosity "AGN" class.
* Blazar: red noise of large amplitude (power-law PSD, approximated by a long-tau DRW) plus flares,
  bluer when brighter (e.g. Raiteri et al. 2017, Nature 552, 374).
* YSO: dippers and bursters (Cody et al. 2014, AJ 147, 82), red colours, extinction-like dips.
* CV/Nova: dwarf-nova outbursts of 2-5 mag recurring every 20-300 d (Warner 1995, Cataclysmic
  Variable Stars); classical novae of 6-12 mag with t2 = 10-80 d (Strope et al. 2010, AJ 140, 34).
* LPV: Miras (P 150-600 d, large amplitude) and semi-regulars (Soszyński et al. 2009, AcA 59, 239).
* E: contact (EW) and detached (EA) eclipsing binaries, period 0.22-15 d.
* RRL: RRab with the Oosterhoff-I Bailey relation A_V = -2.627 - 22.046 log P - 30.876 log^2 P
  (Cacciari et al. 2005, AJ 129, 267) and sawtooth shape; RRc sinusoidal, P 0.25-0.42 d.
* CEP: Leavitt law M_V = -2.43 (log P - 1) - 4.05 (Benedict et al. 2007, AJ 133, 1810), colour
  redder with period.
* DSCT: P 0.03-0.25 d, M_V = -2.89 log P - 1.31 (McNamara 2011, AJ 142, 110), mostly low amplitude.
* Periodic-Other: rotational / spotted and ellipsoidal variables, low amplitude, evolving spots.
* Supernovae: the Villar et al. (2019, ApJ 884, 83) parametric flux model with class-dependent
  rise, plateau and decline times (their table 2 ranges, approximated) and peak absolute magnitudes
  (Richardson et al. 2014, AJ 147, 118; SLSN: Gal-Yam 2019, ARA&A 57, 305); time dilation (1+z).

Magnitudes are AB; a colour ``c = g - r`` is spread to other bands with :func:`colour_offset`.
"""

from __future__ import annotations

import numpy as np

from ._classes import BAND_WAVE_UM

__all__ = ["GENERATORS", "colour_offset", "drw"]

_COLOUR_SLOPE = {"u": 2.0, "g": 1.0, "r": 0.0, "i": -0.45, "z": -0.75, "y": -0.95}


def colour_offset(band, g_r) -> np.ndarray:
    """Magnitude offset of ``band`` relative to r for a source of colour ``g - r``."""
    return np.array([_COLOUR_SLOPE[b] for b in np.asarray(band)]) * g_r


def _wave_ratio(band, ref="g", power=-0.48) -> np.ndarray:
    return np.array([(BAND_WAVE_UM[b] / BAND_WAVE_UM[ref]) ** power for b in np.asarray(band)])


def drw(rng, t, tau, unit_sigma: float = 1.0) -> np.ndarray:
    """Exact Ornstein-Uhlenbeck (damped random walk) sample at sorted times ``t`` (stationary std ``unit_sigma``)."""
    x = np.empty(t.size)
    if t.size == 0:
        return x
    x[0] = rng.normal(0.0, unit_sigma)
    a = np.exp(-np.diff(t) / tau)
    eps = rng.normal(0.0, 1.0, t.size - 1) * unit_sigma * np.sqrt(1.0 - a * a)
    for i in range(1, t.size):
        x[i] = a[i - 1] * x[i - 1] + eps[i - 1]
    return x


def _mag(flux) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, -2.5 * np.log10(np.maximum(flux, 1e-300)), np.inf)


# --------------------------------------------------------------------------- changing-state events
def changing_state_factor(rng, t, kind: str) -> np.ndarray:
    """Multiplicative change of the AGN flux for a changing-state event at a random time.

    ``turn_on``: the AGN brightens by 1-2 mag over 20-100 d and stays; ``turn_off``: it fades by
    1-2.5 mag; ``flare``: a 1-2.5 mag flare lasting 30-150 d (MacLeod et al. 2016, MNRAS 457, 389;
    Graham et al. 2017, MNRAS 470, 4112; Sánchez-Sáez et al. 2021, AJ 162, 206).
    """
    span = t.max() - t.min() if t.size else 1.0
    tc = t.min() + span * rng.uniform(0.3, 0.7)
    if kind == "flare":
        amp = 10 ** (0.4 * rng.uniform(1.0, 2.5)) - 1.0
        width = rng.uniform(30.0, 150.0) / 2.355
        rise = np.exp(-0.5 * ((t - tc) / (0.5 * width)) ** 2)
        fall = np.exp(-(t - tc) / (1.5 * width))
        return 1.0 + amp * np.where(t < tc, rise, fall)
    dur = rng.uniform(20.0, 100.0)
    step = 1.0 / (1.0 + np.exp(-(t - tc) / (dur / 6.0)))
    if kind == "turn_on":
        return 1.0 + (10 ** (0.4 * rng.uniform(1.0, 2.0)) - 1.0) * step
    if kind == "turn_off":
        return 1.0 - (1.0 - 10 ** (-0.4 * rng.uniform(1.0, 2.5))) * step
    raise ValueError(f"unknown changing-state kind {kind!r}; use 'turn_on', 'turn_off' or 'flare'")


# --------------------------------------------------------------------------- stochastic
def _agn_like(rng, t, band, *, z, log_tau_rest, sf_inf, m_r, agn_g_r, host_frac_r, host_g_r, event=None):
    tau = 10 ** log_tau_rest * (1.0 + z)
    x = drw(rng, t, tau)
    dm = sf_inf / np.sqrt(2.0) * x * _wave_ratio(band)            # magnitude wiggle of the AGN alone
    f_agn = (1.0 - host_frac_r) * 10 ** (-0.4 * (colour_offset(band, agn_g_r) + dm))
    if event is not None:
        f_agn = f_agn * changing_state_factor(rng, t, event)
    f_host = host_frac_r * 10 ** (-0.4 * colour_offset(band, host_g_r))
    return m_r + _mag(f_agn + f_host)


def gen_agn(rng, t, band, event=None):
    """Low-luminosity AGN: DRW (MacLeod et al. 2010) diluted by a red host galaxy, z 0.03-0.4."""
    return _agn_like(rng, t, band, z=rng.uniform(0.03, 0.4), log_tau_rest=rng.normal(2.2, 0.3),
                     sf_inf=10 ** rng.normal(np.log10(0.22), 0.2), m_r=rng.uniform(17.0, 20.3),
                     agn_g_r=rng.normal(0.2, 0.12), host_frac_r=rng.uniform(0.2, 0.85),
                     host_g_r=rng.normal(0.75, 0.1), event=event)


def gen_qso(rng, t, band, event=None):
    """Quasar: DRW with MacLeod et al. (2010) parameters, z 0.3-3 (time dilation), little host light."""
    return _agn_like(rng, t, band, z=rng.uniform(0.3, 3.0), log_tau_rest=rng.normal(2.4, 0.25),
                     sf_inf=10 ** rng.normal(np.log10(0.2), 0.2), m_r=rng.uniform(17.5, 20.5),
                     agn_g_r=rng.normal(0.15, 0.15), host_frac_r=rng.uniform(0.0, 0.15),
                     host_g_r=rng.normal(0.75, 0.1), event=event)


def gen_blazar(rng, t, band):
    """Blazar: large-amplitude red noise plus flares, bluer when brighter."""
    x = drw(rng, t, rng.uniform(50.0, 400.0)) * rng.uniform(0.25, 0.7)
    n_fl = rng.poisson((t.max() - t.min()) / 250.0) if t.size else 0
    for tc, amp, rise, fall in zip(rng.uniform(t.min(), t.max(), n_fl), rng.uniform(0.4, 1.8, n_fl),
                                   rng.uniform(3.0, 20.0, n_fl), rng.uniform(10.0, 60.0, n_fl)):
        x -= amp * np.where(t < tc, np.exp((t - tc) / rise), np.exp(-(t - tc) / fall))
    g_r = rng.normal(0.5, 0.2) + 0.12 * x                      # bluer when brighter (x < 0)
    return rng.uniform(16.5, 20.3) + x * _wave_ratio(band, power=-0.3) + colour_offset(band, g_r)


def gen_yso(rng, t, band):
    """Young stellar object: fast stochastic variability plus extinction dips or accretion bursts."""
    x = drw(rng, t, rng.uniform(1.0, 20.0)) * rng.uniform(0.08, 0.4)
    kind = rng.choice(["dipper", "burster", "irregular"], p=[0.45, 0.25, 0.30])
    if kind == "dipper":       # quasi-periodic occultations by the inner disc (AA Tau-like)
        p = rng.uniform(2.0, 12.0)
        cyc = np.floor((t - t.min()) / p)
        depth = rng.uniform(0.2, 1.2) * rng.uniform(0.3, 1.0, int(cyc.max()) + 1 if t.size else 1)
        ph = ((t - t.min()) / p) % 1.0 - 0.5
        x += depth[cyc.astype(int)] * np.exp(-0.5 * (ph / rng.uniform(0.05, 0.12)) ** 2)
        ext = 1.3                                              # dips are deeper in g (dust)
    elif kind == "burster":
        n_b = rng.poisson((t.max() - t.min()) / 40.0 + 1) if t.size else 0
        for tc, amp, w in zip(rng.uniform(t.min(), t.max(), n_b), rng.uniform(0.2, 1.0, n_b),
                              rng.uniform(0.5, 5.0, n_b)):
            x -= amp * np.exp(-np.abs(t - tc) / w)
        ext = 1.1
    else:
        x += drw(rng, t, rng.uniform(30.0, 200.0)) * rng.uniform(0.1, 0.5)
        ext = 1.2
    scale = np.where(np.isin(band, ["u", "g"]), ext, np.where(band == "r", 1.0, 0.85))
    return rng.uniform(15.0, 20.0) + x * scale + colour_offset(band, rng.uniform(0.9, 1.9))


def gen_cv_nova(rng, t, band):
    """Dwarf novae (80 %) with recurrent 2-5 mag outbursts, or a classical nova eruption (20 %)."""
    g_r_q = rng.normal(0.3, 0.15)
    if rng.random() < 0.8:
        m_q = rng.uniform(18.5, 22.5)
        dm = np.zeros(t.size)
        rec = rng.uniform(20.0, 300.0)
        start = t.min() - rng.uniform(0.0, rec) if t.size else 0.0
        while t.size and start < t.max() + 5.0:
            amp, plat, fall = rng.uniform(2.0, 5.0), rng.uniform(1.0, 12.0), rng.uniform(1.5, 5.0)
            rise = rng.uniform(0.5, 1.5)
            s = t - start
            with np.errstate(over="ignore"):
                shape = np.where(s < 0, np.exp(s / rise), np.where(s < plat, 1.0, np.exp(-(s - plat) / fall)))
            dm = np.maximum(dm, amp * shape)
            start += rec * rng.uniform(0.7, 1.3)
        g_r = g_r_q - 0.3 * dm / 4.0                          # outbursts are blue
        return m_q - dm + colour_offset(band, g_r)
    m_q = rng.uniform(20.0, 25.0)
    amp = rng.uniform(6.0, 12.0)
    t_peak = rng.uniform(t.min() - 30.0, t.max() - 20.0) if t.size else 0.0
    t2 = rng.uniform(10.0, 80.0)
    s = t - t_peak
    fade = np.where(s < 0, np.clip(-s / rng.uniform(1.0, 5.0), 0, None) * 2.0, 2.0 * s / t2)
    dm = np.clip(amp - fade, 0.0, None)
    dm += np.where(s > 0, 0.15 * np.sin(2 * np.pi * s / rng.uniform(5.0, 20.0)) * (dm > 1), 0.0)
    g_r = rng.normal(0.2, 0.15) + 0.5 * np.clip(s / t2, 0, 3) / 3.0
    return m_q - dm + colour_offset(band, g_r)


# --------------------------------------------------------------------------- periodic
def fourier_shape(phase, r21: float, n_harm: int, rng, phase_jitter: float = 0.15) -> np.ndarray:
    """Periodic shape of unit peak-to-peak amplitude, mag rising slowly and falling fast for r21 ~ 0.5.

    Harmonic k has amplitude ``(2 r21)**(k-1) / k`` (a sawtooth for r21 = 0.5, a sinusoid for r21 = 0),
    matching the Fourier amplitude ratios of RR Lyrae and Cepheids (R21 ~ 0.5, R31 ~ 0.33).
    """
    grid = np.linspace(0.0, 1.0, 256, endpoint=False)
    phis = rng.normal(0.0, phase_jitter, n_harm)

    def f(p):
        return -sum((2 * r21) ** (k - 1) / k * np.sin(2 * np.pi * k * p + phis[k - 1]) for k in range(1, n_harm + 1))

    ref = f(grid)
    lo, hi = ref.min(), ref.max()
    return (f(phase) - lo) / (hi - lo) - 0.5


def _pulsator(rng, t, band, *, period, amp_v, r21, n_harm, m_v, g_r, amp_colour=0.25):
    phase = (t / period + rng.random()) % 1.0
    shape = fourier_shape(phase, r21, n_harm, rng)
    # amplitude larger in blue bands; the star is bluer at maximum light
    amp = amp_v * np.array([{"u": 1.35, "g": 1.15, "r": 0.85, "i": 0.7, "z": 0.62, "y": 0.58}[b] for b in band])
    return m_v - 0.3 * g_r + amp * shape + colour_offset(band, g_r + amp_colour * amp_v * shape)


def _apparent(rng, m_abs, lo=12.5, hi=20.5):
    """An apparent magnitude from ``m_abs`` and a random distance (within the survey's useful range)."""
    return m_abs + rng.uniform(lo - m_abs, hi - m_abs) if np.ndim(m_abs) == 0 else m_abs


def gen_lpv(rng, t, band):
    """Long-period variables: Miras (40 %) and semi-regulars (60 %), red and of large amplitude."""
    g_r = rng.uniform(1.2, 2.4)
    if rng.random() < 0.4:
        period, amp = rng.uniform(150.0, 600.0), rng.uniform(1.5, 5.0)
        shape = fourier_shape((t / period + rng.random()) % 1.0, 0.3, 3, rng)
        cyc = drw(rng, t, period * 3) * 0.15 * amp
        x = amp * shape + cyc
    else:
        p1 = rng.uniform(20.0, 200.0)
        x = rng.uniform(0.1, 0.8) * np.sin(2 * np.pi * t / p1 + rng.uniform(0, 6.3))
        x += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * t / (p1 * rng.uniform(1.6, 12.0)) + rng.uniform(0, 6.3))
        x += drw(rng, t, p1) * rng.uniform(0.05, 0.2)
    scale = np.array([{"u": 1.6, "g": 1.3, "r": 1.0, "i": 0.8, "z": 0.65, "y": 0.55}[b] for b in band])
    return rng.uniform(12.5, 19.5) + x * scale + colour_offset(band, g_r)


def gen_eclipsing(rng, t, band):
    """Eclipsing binaries: contact (EW, ellipsoidal + equal minima) or detached (EA, narrow eclipses)."""
    g_r = rng.uniform(-0.1, 1.2)
    ew = rng.random() < 0.55
    period = np.exp(rng.uniform(np.log(0.22), np.log(0.9))) if ew else np.exp(rng.uniform(np.log(0.8), np.log(15.0)))
    ph = (t / period + rng.random()) % 1.0
    if ew:
        d1 = rng.uniform(0.05, 0.8)
        x = d1 * (0.5 - 0.5 * np.cos(4 * np.pi * ph)) * np.where(ph < 0.5, 1.0, rng.uniform(0.7, 1.0))
    else:
        d1, w = rng.uniform(0.15, 1.5), rng.uniform(0.015, 0.08)
        d2 = d1 * rng.uniform(0.03, 0.9)
        x = d1 * np.exp(-0.5 * (np.minimum(ph, 1 - ph) / w) ** 2) + d2 * np.exp(-0.5 * ((ph - 0.5) / w) ** 2)
    col = np.where(np.isin(band, ["u", "g"]), 1.05, 1.0)
    return rng.uniform(13.0, 20.3) + x * col + colour_offset(band, g_r)


def gen_rrl(rng, t, band):
    """RR Lyrae: RRab (70 %, Bailey relation, sawtooth) and RRc (sinusoidal); halo distances."""
    if rng.random() < 0.7:
        period = rng.uniform(0.45, 0.8)
        lp = np.log10(period)
        amp = max(0.25, -2.627 - 22.046 * lp - 30.876 * lp * lp + rng.normal(0, 0.12))
        r21 = rng.uniform(0.4, 0.55)
    else:
        period, amp, r21 = rng.uniform(0.25, 0.42), rng.uniform(0.25, 0.55), rng.uniform(0.05, 0.2)
    return _pulsator(rng, t, band, period=period, amp_v=amp, r21=r21, n_harm=5,
                     m_v=_apparent(rng, 0.6, 13.0, 20.3), g_r=rng.uniform(0.05, 0.4))


def gen_cep(rng, t, band):
    """Classical Cepheids: Leavitt law (Benedict et al. 2007), P 1-60 d, colour redder with period."""
    period = np.exp(rng.uniform(np.log(1.0), np.log(60.0)))
    lp = np.log10(period)
    m_abs = -2.43 * (lp - 1.0) - 4.05
    amp = rng.uniform(0.2, 0.6) + 0.3 * lp * rng.random()
    return _pulsator(rng, t, band, period=period, amp_v=amp, r21=rng.uniform(0.25, 0.5), n_harm=4,
                     m_v=_apparent(rng, m_abs, 12.5, 19.5), g_r=0.35 + 0.3 * lp + rng.normal(0, 0.1))


def gen_dsct(rng, t, band):
    """Delta Scuti stars: P 0.03-0.25 d (McNamara 2011 PL relation), mostly low amplitude, two modes."""
    period = np.exp(rng.uniform(np.log(0.03), np.log(0.25)))
    hads = rng.random() < 0.35
    amp = rng.uniform(0.25, 0.8) if hads else rng.uniform(0.04, 0.25)
    m_abs = -2.89 * np.log10(period) - 1.31
    mag = _pulsator(rng, t, band, period=period, amp_v=amp, r21=rng.uniform(0.1, 0.35) if hads else 0.05,
                    n_harm=3, m_v=_apparent(rng, m_abs, 12.5, 19.0), g_r=rng.uniform(0.0, 0.35), amp_colour=0.1)
    p2 = period / 0.773                                        # fundamental / first-overtone ratio
    return mag + 0.3 * amp * np.sin(2 * np.pi * t / p2 + rng.uniform(0, 6.3)) * rng.random()


def gen_periodic_other(rng, t, band):
    """Rotational (spotted), ellipsoidal and other periodic stars: low amplitude, evolving spots."""
    period = np.exp(rng.uniform(np.log(0.3), np.log(60.0)))
    amp = rng.uniform(0.03, 0.35)
    env = 1.0 + 0.4 * drw(rng, t, rng.uniform(50.0, 300.0))    # spot evolution
    jitter = drw(rng, t, rng.uniform(100.0, 400.0)) * 0.3      # phase wander
    ph = (t / period + jitter / (2 * np.pi) + rng.random()) % 1.0
    x = amp * env * fourier_shape(ph, rng.uniform(0.0, 0.4), 3, rng, phase_jitter=0.6)
    return rng.uniform(13.0, 19.8) + x + colour_offset(band, rng.uniform(0.3, 1.5))


# --------------------------------------------------------------------------- transients
def villar_flux(t, *, t0, amp, tau_rise, tau_fall, gamma, nu) -> np.ndarray:
    """Villar et al. (2019) supernova flux model (with nu = -beta gamma / A, as in the light-curve package)."""
    s = t - t0
    with np.errstate(over="ignore"):
        sig = 1.0 / (1.0 + np.exp(-s / tau_rise))
        plateau = 1.0 - nu * s / gamma
        tail = (1.0 - nu) * np.exp(-(s - gamma) / tau_fall)
    return amp * sig * np.where(s < gamma, np.clip(plateau, 0, None), tail)


# rest-frame parameters (days) per class: rise, plateau, fall (g; r is slower), nu, peak M, g-r at peak
_SN = {
    "SNIa": dict(rise=(1.5, 4.0), gamma=(4.0, 15.0), fall=(15.0, 35.0), fall_r=(1.3, 1.8), nu=(0.1, 0.4),
                 m_peak=(-19.3, 0.3), g_r=(-0.05, 0.1), z_max=0.3),
    "SNII": dict(rise=(1.5, 7.0), gamma=(40.0, 110.0), fall=(10.0, 50.0), fall_r=(1.0, 1.4), nu=(0.05, 0.5),
                 m_peak=(-17.0, 0.9), g_r=(0.0, 0.15), z_max=0.12),
    "SNIbc": dict(rise=(2.5, 8.0), gamma=(3.0, 12.0), fall=(12.0, 35.0), fall_r=(1.3, 2.0), nu=(0.1, 0.5),
                  m_peak=(-17.7, 0.7), g_r=(0.35, 0.2), z_max=0.12),
    "SLSN": dict(rise=(8.0, 30.0), gamma=(10.0, 40.0), fall=(25.0, 90.0), fall_r=(1.0, 1.4), nu=(0.05, 0.4),
                 m_peak=(-21.2, 0.6), g_r=(-0.15, 0.15), z_max=1.6),
}


def _distance_modulus(z):
    """Luminosity-distance modulus for flat LCDM (H0 = 70, Om = 0.3), by a short numerical integral."""
    zz = np.linspace(0.0, z, 64)
    dc = 299792.458 / 70.0 * np.trapezoid(1.0 / np.sqrt(0.3 * (1 + zz) ** 3 + 0.7), zz)
    return 5.0 * np.log10(dc * (1 + z) * 1e6 / 10.0)


def make_sn_generator(cls: str):
    p = _SN[cls]

    def gen(rng, t, band, *, t0=None):
        m_abs = rng.normal(*p["m_peak"])
        z = None
        for _ in range(20):                       # a redshift where the peak is above the survey limit
            z = rng.uniform(0.01, p["z_max"])
            m_peak = m_abs + _distance_modulus(z) + rng.exponential(0.15)   # + host extinction
            if 16.0 < m_peak < 20.8:
                break
        dil = 1.0 + z
        t0 = t0 if t0 is not None else rng.uniform(t.min(), t.max())
        tr, gm, tf = (rng.uniform(*p[k]) * dil for k in ("rise", "gamma", "fall"))
        nu = rng.uniform(*p["nu"])
        slow = rng.uniform(*p["fall_r"])
        out = np.empty(t.size)
        grid = np.linspace(t0 - 10 * tr, t0 + gm + 5 * tf, 512)
        peak = villar_flux(grid, t0=t0, amp=1.0, tau_rise=tr, tau_fall=tf, gamma=gm, nu=nu).max()
        g_r0 = rng.normal(*p["g_r"])
        for b in np.unique(band):
            sel = band == b
            w = BAND_WAVE_UM[b] / BAND_WAVE_UM["g"]           # redder bands decline and cool more slowly
            stretch = 1.0 + (slow - 1.0) * np.clip((w - 1.0) / 0.3, -1.0, 2.0)
            f = villar_flux(t[sel], t0=t0, amp=1.0 / peak, tau_rise=tr * (1 + 0.1 * (w - 1)),
                            tau_fall=tf * stretch, gamma=gm * (1 + 0.3 * nu * (w - 1)), nu=nu / stretch)
            out[sel] = m_peak + _mag(f) + colour_offset(np.array([b]), g_r0)[0]
        return out

    gen.__doc__ = f"{cls}: Villar et al. (2019) flux model, rest-frame timescales {p}, (1+z) time dilation."
    return gen


GENERATORS = {
    "AGN": gen_agn, "QSO": gen_qso, "Blazar": gen_blazar, "YSO": gen_yso, "CV/Nova": gen_cv_nova,
    "LPV": gen_lpv, "E": gen_eclipsing, "RRL": gen_rrl, "CEP": gen_cep, "DSCT": gen_dsct,
    "Periodic-Other": gen_periodic_other,
    "SNIa": make_sn_generator("SNIa"), "SNII": make_sn_generator("SNII"),
    "SNIbc": make_sn_generator("SNIbc"), "SLSN": make_sn_generator("SLSN"),
}
