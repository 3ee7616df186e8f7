"""An independent generator of 4MOST-like quasar spectra, used ONLY to evaluate the spectra models.

It shares no physics code with :class:`agnlab.spectra.QuasarSimulator` (the training simulator) and
draws every ingredient differently, so the degradation from the training simulator to it measures
how much the models rely on the simulator's particular choices:

* continuum: random combinations of the redrock PCA quasar templates (``../shared/data/qso``,
  DESI/SDSS DR16Q eigenspectra; benchmark-only data, which is why this module lives in
  ``benchmarks/``) with coefficient scatter giving a C IV equivalent-width scatter of ~0.22 dex
  (Shen et al. 2011 measure ~0.2-0.25 dex), a random slope tilt (sigma 0.3 in the power-law index;
  Richards et al. 2006), and blueward of 1170 A an IGM-free power law f_nu ~ nu^alpha with
  alpha ~ N(-1.6, 0.4) (Telfer et al. 2002; Lusso et al. 2015) plus Ly-beta/O VI and C III 977
  emission. The templates were built from DR16Q spectra corrected for the mean Lyman-alpha forest
  transmission at rest 1025.72-1215.67 A (Kamble et al. 2020 model; FITS header of the template file), so
  they are used as IGM-free redward of the 1160-1180 A blend and the lognormal forest below is their only
  forest absorption; the power law replaces them blueward for its far-UV slope. There is no quasar
  proximity effect (Bajtlik, Duncan & Ostriker 1988), as in the training simulator;
* Lyman-alpha forest: a lognormal Gaussian-field flux transmission (Bi & Davidsen 1997;
  fluctuating Gunn-Peterson approximation tau = A(z) (1+delta)^1.7, 1+delta lognormal), not Voigt
  lines; A(z) is set by Gauss-Hermite quadrature so that the mean transmission equals
  Faucher-Giguere et al. (2008)'s tau_eff = 0.0018 (1+z)^3.92 (checked: within 0.5 % at z = 2, 3, 4);
  field power ~ exp(-(25 km/s k)^2) / (1 + (k / 0.01 s/km)^2), sigma_G = 1.5 ((1+z)/4)^-0.5, giving
  a bimodal flux PDF with variance ~0.13 at z = 3 in 10 km/s pixels; Ly-beta and Ly-gamma from the
  same field; Lyman-continuum opacity of the unresolved absorbers from the mean free path of Worseck et
  al. (2014), halved because the strong systems are drawn explicitly;
* strong H I systems (Voigt profiles from the Faddeeva function, Lyman series to Ly-epsilon and the
  Lyman continuum): LLS/sub-DLAs with the incidence of Prochaska, O'Meara & Worseck (2010),
  l(z) = 1.9 ((1+z)/4.7)^1.94 for log N >= 17.5, single power law dN/dN ~ N^-1.5 up to 20.3; DLAs
  with l(z) = 0.2 ((1+z)/4)^1.5 (Noterdaeme et al. 2012 normalisation) and a single power law
  N^-2.0 over 20.3-22.0 (the training simulator uses another law); b ~ U(15, 35) km/s; proximate
  systems allowed;
* metals: low-ionisation lines at every sub-DLA/DLA ([M/H] ~ N(-1.3, 0.5), Rafelski et al. 2012)
  and intervening C IV (dN/dz = 2) and Mg II (dN/dz = 0.8) doublets, Gaussian optical depths;
* BAL quasars (default 10 %): one smooth trough system per quasar in C IV, Si IV, N V and Ly-alpha
  (onset 1000-8000 km/s, width 2000-15000 km/s, depth 0.3-0.95), balnicity index of Weymann et
  al. (1991) in the truth table;
* instrument and noise: constant resolving power R = 5000 (Gaussian in ln lambda), a throughput
  curve and sky spectrum of its own, Gaussian noise from the expected (not observed) counts, sky-line
  subtraction residuals of 2 % (not in the error array), per-spectrum error misestimation of
  +-15 %, and 0.05 % cosmic-ray pixels (masked: ivar = 0).

Output batches have the fields the models and the evaluation need: ``wave_aa`` (the 4MOST-like
3600-9600 A grid in 0.25 A pixels), ``flux``, ``ivar``, ``truth`` (``z_qso``, ``mag``, ``snr_median``,
``bal``, ``balnicity_kms``, ``n_dla``, ``z_dla``, ``log_nhi``) and ``absorbers`` (``spec_index``,
``z_abs``, ``log_nhi``, ``kind``, ``proximate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from _common import SHARED_DATA  # also puts the checkout's src/ on sys.path
from scipy.ndimage import gaussian_filter1d
from scipy.special import wofz

from agnlab.spectra import read_redrock_templates  # a FITS reader, no physics

C_KMS = 299792.458
LYA, LYB, LYG = 1215.67, 1025.72, 972.54
#: Lyman series (wavelength A, oscillator strength, damping constant s^-1), Ly-alpha .. Ly-epsilon
LYMAN = ((1215.67, 0.4164, 6.265e8), (1025.72, 0.07912, 1.897e8), (972.54, 0.02901, 8.127e7),
         (949.74, 0.01394, 4.204e7), (937.80, 0.007799, 2.450e7))
SIGMA_LL = 6.304e-18  # H I photoionisation cross-section at 912 A (cm^2)
#: low-ionisation metal lines at DLA redshifts: (wavelength, f, element log abundance relative to H (solar))
LOW_IONS = ((1260.42, 1.18, -4.49), (1302.17, 0.048, -3.31), (1334.53, 0.128, -3.57), (1526.71, 0.133, -4.49),
            (1608.45, 0.058, -4.50), (1670.79, 1.77, -5.55), (2344.21, 0.114, -4.50), (2382.77, 0.32, -4.50),
            (2600.17, 0.239, -4.50), (2796.35, 0.608, -4.40), (2803.53, 0.303, -4.40))
CIV = ((1548.20, 0.190), (1550.78, 0.0952))
MGII = ((2796.35, 0.608), (2803.53, 0.303))
BAL_LINES = ((1549.06, 1.0), (1396.76, 0.6), (1240.14, 0.8), (1215.67, 0.5))  # (line, relative depth)
SKY_LINES = (5577.3, 5889.9, 5895.9, 6300.3, 6363.8, 6498.7, 6533.0, 6553.6, 6863.9, 6912.6, 6923.2, 7276.4,
             7316.3, 7340.9, 7571.7, 7750.6, 7794.1, 7821.5, 7913.7, 7964.6, 7993.3, 8344.6, 8399.2, 8430.2,
             8465.4, 8827.1, 8885.9, 8943.4, 8988.4, 9375.9, 9439.7)
_DLN = 10.0 / C_KMS  # fine grid step in ln(lambda): 10 km/s


def default_template_path() -> Path:
    return SHARED_DATA / "qso" / "rrtemplate-QSO-HIZ-v1.1.fits"


def tau_eff_fg08(z):
    """Effective Ly-alpha optical depth, Faucher-Giguere et al. (2008) power-law fit."""
    return 0.0018 * (1.0 + np.asarray(z, float)) ** 3.92


@dataclass
class IndependentSpectra:
    """A batch of the independent generator (see the module docstring)."""

    wave_aa: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    truth: pd.DataFrame
    absorbers: pd.DataFrame

    def __len__(self):
        return self.flux.shape[0]


class IndependentQuasarGenerator:
    """Evaluation-only quasar spectra generator (see the module docstring).

    Parameters
    ----------
    seed : int
    z_range, mag_range : (float, float)
        Uniform quasar redshift and r magnitude (AB, noise-free spectrum) ranges.
    bal_fraction : float
    dla_scale : float
        Multiplies the DLA incidence (1: the measured one).
    template_path : path, optional
        redrock QSO template file (default ``../shared/data/qso/rrtemplate-QSO-HIZ-v1.1.fits``).
    """

    def __init__(self, *, seed: int, z_range=(2.0, 4.0), mag_range=(18.0, 22.5), bal_fraction: float = 0.10,
                 dla_scale: float = 1.0, template_path=None):
        self.seed, self.z_range, self.mag_range = int(seed), tuple(z_range), tuple(mag_range)
        self.bal_fraction, self.dla_scale = float(bal_fraction), float(dla_scale)
        path = Path(template_path) if template_path is not None else default_template_path()
        self.template_path = path
        w, e = read_redrock_templates(path)
        self._tw, self._te = w, e
        rms = np.sqrt(np.mean(e ** 2, axis=1))
        self._coef_sigma = np.array([0.18, 0.12, 0.08])[: e.shape[0] - 1] * rms[0] / rms[1:]
        self.wave_aa = 3600.0 + 0.25 * np.arange(24001)
        lo, hi = np.log(3560.0), np.log(9640.0)
        self._lnw = np.arange(lo, hi, _DLN)
        self._fw = np.exp(self._lnw)
        self._n_fft = 1 << int(np.ceil(np.log2(self._lnw.size)))
        self._field_filter = self._power_filter()
        self._az_grid, self._az = self._calibrate_a()
        self._band = self._r_band()
        self._tput = 0.17 * np.exp(-0.5 * (np.log(self.wave_aa / 5900.0) / 0.33) ** 2)
        self._sky = self._sky_flux()

    # ------------------------------------------------------------------ set-up
    def _power_filter(self):
        """sqrt of a 1-D field power spectrum ~ 1/(1 + (k/k1)^2) exp(-(k/kJ)^2), unit variance."""
        k = 2 * np.pi * np.fft.rfftfreq(self._n_fft, d=10.0)  # s/km
        p = np.exp(-(k * 25.0) ** 2) / (1.0 + (k / 0.01) ** 2)
        p[0] = 0.0
        var = (p[0] + 2 * p[1:].sum()) / self._n_fft
        return np.sqrt(p / var)

    @staticmethod
    def _sigma_g(z):
        return 1.5 * ((1.0 + np.asarray(z, float)) / 4.0) ** -0.5

    @staticmethod
    def _beta():
        return 1.7

    def _calibrate_a(self):
        """A(z) with <exp(-A (1+delta)^beta)> = exp(-tau_eff_FG08(z)) (Gauss-Hermite over the Gaussian field)."""
        x, wts = np.polynomial.hermite_e.hermegauss(80)
        wts = wts / wts.sum()
        zg = np.linspace(1.5, 4.6, 63)
        out = np.empty_like(zg)
        for i, z in enumerate(zg):
            s = self._sigma_g(z)
            rho = np.exp(s * x - 0.5 * s * s) ** self._beta()
            target = np.exp(-tau_eff_fg08(z))
            lo, hi = -12.0, 6.0
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                if np.sum(wts * np.exp(-np.exp(mid) * rho)) > target:
                    lo = mid
                else:
                    hi = mid
            out[i] = 0.5 * (lo + hi)
        return zg, out

    def _r_band(self):
        import speclite.filters

        f = speclite.filters.load_filter("sdss2010-r")
        resp = np.interp(self.wave_aa, np.asarray(f.wavelength), np.asarray(f.response), left=0.0, right=0.0)
        num = resp * self.wave_aa * 0.25
        den = float(np.sum(resp * 2.99792458e18 / self.wave_aa * 0.25))
        return num, den

    def _sky_flux(self):
        """Sky through a 1.45" fibre (1e-17 erg/s/cm^2/A): 21.0 mag/arcsec^2 continuum (f_nu ~ nu^-1) + lines."""
        w = self.wave_aa
        fnu = 10 ** (-0.4 * (21.0 + 48.6)) * (w / 6200.0)
        cont = fnu * 2.99792458e18 / w ** 2 * 1.65e17
        lines = np.zeros_like(w)
        strength = np.where(np.asarray(SKY_LINES) > 6800, 30.0, 20.0)
        for lam, s in zip(SKY_LINES, strength):
            sig = lam / 5000.0 / 2.3548
            lines += s * np.interp(lam, w, cont) * np.exp(-0.5 * ((w - lam) / sig) ** 2) / (np.sqrt(2 * np.pi) * sig)
        self._sky_lines = lines
        return cont + lines

    # ------------------------------------------------------------------ public
    def iter_chunks(self, n: int, *, chunk_size: int = 128, start: int = 0, n_jobs=None):
        """Yield batches covering objects ``start .. start + n - 1`` (``n_jobs`` accepted for API parity)."""
        for s in range(start, start + n, chunk_size):
            yield self.simulate(min(chunk_size, start + n - s), start=s)

    def simulate(self, n: int, *, start: int = 0) -> IndependentSpectra:
        """``n`` spectra, object ``i`` drawn from its own random stream ``(seed, i)``."""
        rngs = [np.random.default_rng([self.seed, 0x1d3e, i]) for i in range(start, start + n)]
        z = np.array([r.uniform(*self.z_range) for r in rngs])
        mag = np.array([r.uniform(*self.mag_range) for r in rngs])
        cont = np.array([self._continuum(r, zi) for r, zi in zip(rngs, z)])
        tau = np.zeros((n, self._lnw.size), np.float64)
        rows, bal, bi = [], np.zeros(n, bool), np.zeros(n)
        for j, (r, zi) in enumerate(zip(rngs, z)):
            tau[j] = self._forest_tau(r, zi)
            for ab in self._strong_systems(r, zi):
                self._add_hi(tau[j], *ab[:3])
                self._add_low_ions(r, tau[j], ab[0], ab[1])
                rows.append((j + 0, ab[0], ab[1], ab[3], abs(C_KMS * (ab[0] - zi) / (1 + zi)) < 3000.0))
            self._add_intervening_metals(r, tau[j], zi)
            if r.random() < self.bal_fraction:
                bal[j] = True
                bi[j] = self._add_bal(r, tau[j], zi)
        model = cont * np.exp(-tau)
        sig_pix = 1.0 / (5000.0 * 2.3548) / _DLN
        model = gaussian_filter1d(model, sig_pix, axis=1, mode="nearest")
        obs = np.array([np.interp(self.wave_aa, self._fw, m) for m in model])
        num, den = self._band
        m0 = -2.5 * np.log10(np.maximum(obs @ num / den, 1e-30) * 1e-17) - 48.6
        obs *= (10 ** (-0.4 * (mag - m0)))[:, None]
        flux, ivar = self._noise(rngs, obs)
        red = [np.searchsorted(self.wave_aa, LYA * (1 + zi) * 1.02) for zi in z]
        snr = np.array([np.median(flux[j, k:] * np.sqrt(ivar[j, k:])) for j, k in enumerate(red)])
        ab = pd.DataFrame(rows, columns=["spec_index", "z_abs", "log_nhi", "kind", "proximate"])
        ab["spec_index"] = ab["spec_index"].astype(np.int64)
        dl = ab[ab["kind"] == "dla"]
        z_dla = [dl["z_abs"].to_numpy()[dl["spec_index"].to_numpy() == j] for j in range(n)]
        nhi = [dl["log_nhi"].to_numpy()[dl["spec_index"].to_numpy() == j] for j in range(n)]
        truth = pd.DataFrame({"z_qso": z, "mag": mag, "snr_median": snr, "bal": bal, "balnicity_kms": bi,
                              "n_dla": [a.size for a in z_dla], "z_dla": z_dla, "log_nhi": nhi,
                              "obj_index": np.arange(start, start + n)})
        return IndependentSpectra(self.wave_aa.copy(), flux.astype(np.float32), ivar.astype(np.float32), truth, ab)

    # ------------------------------------------------------------------ ingredients
    def _continuum(self, r, z):
        """Rest-frame PCA continuum on the fine observed grid (arbitrary normalisation)."""
        tw, te = self._tw, self._te
        c = r.standard_normal(te.shape[0] - 1) * self._coef_sigma
        spec = te[0] + c @ te[1:]
        spec = spec * (tw / 1450.0) ** (0.3 * r.standard_normal())
        rest = self._fw / (1 + z)
        f = np.interp(rest, tw, spec)
        # IGM-free far UV: power law from 1170 A plus Ly-beta/O VI and C III 977 emission
        anchor = np.median(spec[(tw > 1165) & (tw < 1175)])
        alpha = r.normal(-1.6, 0.4)
        pl = anchor * (rest / 1170.0) ** (-2.0 - alpha)
        for lam, ew_med, fwhm in ((1033.0, 12.0, 5000.0), (977.0, 2.5, 3000.0)):
            ew = ew_med * 10 ** r.normal(0, 0.2)
            sig = lam * fwhm / C_KMS / 2.3548
            pl = pl + ew * anchor * (lam / 1170.0) ** (-2.0 - alpha) * np.exp(-0.5 * ((rest - lam) / sig) ** 2) / (
                np.sqrt(2 * np.pi) * sig)
        blend = np.clip((rest - 1160.0) / 20.0, 0.0, 1.0)
        f = blend * f + (1 - blend) * pl
        return np.maximum(f, 0.0)

    def _forest_tau(self, r, z):
        """Lognormal-field Ly-alpha/beta/gamma forest + mean Lyman-continuum opacity on the fine grid."""
        n = self._lnw.size
        g = np.fft.irfft(np.fft.rfft(r.standard_normal(self._n_fft)) * self._field_filter, self._n_fft)[:n]
        za = self._fw / LYA - 1.0  # Ly-alpha absorber redshift of each fine pixel
        s = self._sigma_g(za)
        a = np.exp(np.interp(za, self._az_grid, self._az))
        tau_a = a * np.exp(self._beta() * (s * g - 0.5 * s * s))
        tau_a[za > z] = 0.0
        tau = tau_a.copy()
        for lam, ratio in ((LYB, 0.07912 * LYB / (0.4164 * LYA)), (LYG, 0.02901 * LYG / (0.4164 * LYA))):
            shift = np.log(LYA / lam) / _DLN
            idx = np.arange(n) + shift
            tau += ratio * np.interp(idx, np.arange(n), tau_a, right=0.0)
        # Lyman continuum of unresolved absorbers: half of Worseck et al. (2014)'s mean free path opacity
        zc = self._fw / 912.0 - 1.0
        h = np.sqrt(0.3 * (1 + z) ** 3 + 0.7) * 70.0
        dz_mfp = 121.0 * ((1 + z) / 4.5) ** -5.4 * h * (1 + z) / C_KMS
        tau += np.where(zc < z, 0.5 * (z - zc) / dz_mfp, 0.0)
        return tau

    def _strong_systems(self, r, z):
        """(z_abs, log N, b, kind) of LLS/sub-DLAs and DLAs between z = 1.9 and z_qso."""
        out = []
        zg = np.linspace(1.9, z, 200)
        for kind_rate, (lo, hi, slope) in (
                (lambda x: 1.9 * ((1 + x) / 4.7) ** 1.94, (17.5, 20.3, 1.5)),
                (lambda x: self.dla_scale * 0.2 * ((1 + x) / 4.0) ** 1.5, (20.3, 22.0, 2.0))):
            lam = kind_rate(zg)
            cum = np.concatenate([[0], np.cumsum(0.5 * (lam[1:] + lam[:-1]) * np.diff(zg))])
            for u in np.sort(r.uniform(0, 1, r.poisson(cum[-1]))):
                za = float(np.interp(u * cum[-1], cum, zg))
                v = r.random()  # dN/dlogN ~ N^(1 - slope): inverse CDF
                e = 1.0 - slope
                logn = np.log10((10 ** (e * lo) + v * (10 ** (e * hi) - 10 ** (e * lo))) ** (1 / e))
                kind = "dla" if logn >= 20.3 else ("subdla" if logn >= 19.0 else "lls")
                out.append((za, float(logn), float(r.uniform(15, 35)), kind))
        return out

    def _add_line(self, tau, lam0, f, gamma, z, logn, b, *, half_width_aa):
        lam_c = lam0 * (1 + z)
        sel = slice(*np.searchsorted(self._fw, [lam_c - half_width_aa, lam_c + half_width_aa]))
        if sel.start >= sel.stop:
            return
        nu_d = b / C_KMS * 2.99792458e18 / lam0  # Doppler width (Hz)
        a = gamma / (4 * np.pi * nu_d)
        lam = self._fw[sel] / (1 + z)
        x = (2.99792458e18 / lam - 2.99792458e18 / lam0) / nu_d
        h = wofz(x + 1j * a).real
        tau[sel] += 10 ** logn * 0.02654 * f / (np.sqrt(np.pi) * nu_d) * h

    def _add_hi(self, tau, z, logn, b):
        hw = 60.0 * 10 ** ((logn - 20.3) / 2) + 5.0  # rest A where the damping wing has tau < ~0.01
        for lam0, f, gam in LYMAN:
            self._add_line(tau, lam0, f, gam, z, logn, b, half_width_aa=hw * lam0 / LYA * (1 + z))
        edge = self._fw < 911.75 * (1 + z)
        tau[edge] += 10 ** logn * SIGMA_LL * (self._fw[edge] / (911.75 * (1 + z))) ** 3

    def _add_gauss(self, tau, lam0, f, z, logn, b):
        lam_c = lam0 * (1 + z)
        sig = lam_c * b / C_KMS / np.sqrt(2)
        sel = slice(*np.searchsorted(self._fw, [lam_c - 6 * sig, lam_c + 6 * sig]))
        if sel.start >= sel.stop:
            return
        tau0 = 1.497e-15 * 10 ** logn * f * lam0 / b
        tau[sel] += tau0 * np.exp(-((self._fw[sel] - lam_c) / (lam_c * b / C_KMS)) ** 2)

    def _add_low_ions(self, r, tau, z, logn):
        if logn < 19.0:
            return
        metal = r.normal(-1.3, 0.5)
        b = r.uniform(20, 60)  # effective width of the blended components
        for lam0, f, abund in LOW_IONS:
            self._add_gauss(tau, lam0, f, z, logn + metal + abund, b)

    def _add_intervening_metals(self, r, tau, z):
        for lines, rate, (lo, hi) in ((CIV, 2.0, (13.0, 14.5)), (MGII, 0.8, (12.5, 14.0))):
            z_lo = max(3600.0 / lines[0][0] - 1, 0.0)
            if z_lo >= z:
                continue
            for za in r.uniform(z_lo, z, r.poisson(rate * (z - z_lo))):
                e = 1.0 - 1.8
                logn = np.log10((10 ** (e * lo) + r.random() * (10 ** (e * hi) - 10 ** (e * lo))) ** (1 / e))
                b = r.uniform(8, 30)
                for lam0, f in lines:
                    self._add_gauss(tau, lam0, f, za, logn, b)

    def _add_bal(self, r, tau, z):
        """One smooth BAL trough system; returns the C IV balnicity index (km/s, Weymann et al. 1991)."""
        v0, width, depth = r.uniform(1000, 8000), r.uniform(2000, 15000), r.uniform(0.3, 0.95)
        vgrid = np.linspace(0, 30000, 3001)
        prof = depth * np.exp(-0.5 * (np.maximum(np.abs(vgrid - (v0 + width / 2)) - width / 3, 0) / (width / 8)) ** 2)
        for lam0, rel in BAL_LINES:
            v = C_KMS * (1 - self._fw / (lam0 * (1 + z)))  # outflow velocity of each pixel
            sel = (v > 0) & (v < 30000)
            d = np.clip(rel * np.interp(v[sel], vgrid, prof), 0, 0.99)
            tau[sel] += -np.log1p(-d)
        # balnicity: int_3000^25000 (1 - f/0.9) C dv over contiguous >= 2000 km/s stretches below 0.9
        f = 1 - prof
        below = (f < 0.9) & (vgrid >= 3000) & (vgrid <= 25000)
        bi, run = 0.0, 0.0
        dv = vgrid[1] - vgrid[0]
        for fv, b in zip(f, below):
            if b:
                run += dv
                if run >= 2000:
                    bi += (1 - fv / 0.9) * dv
            else:
                run = 0.0
        return bi

    def _noise(self, rngs, model):
        """Gaussian noise from the expected counts; ivar misestimated; sky residuals; cosmic rays."""
        w = self.wave_aa
        cpf = 1e-17 * w / (6.626e-27 * 2.998e18) * 9.5e4 * 1200.0 * self._tput * 0.25
        var_counts = np.maximum(model, 0) * cpf + self._sky * cpf + 5.0 ** 2
        sigma = np.sqrt(var_counts) / cpf
        flux = np.empty_like(model)
        ivar = np.empty_like(model)
        for j, r in enumerate(rngs):
            flux[j] = model[j] + sigma[j] * r.standard_normal(w.size)
            flux[j] += r.normal(0, 0.02) * self._sky_lines  # sky-subtraction residual (not in ivar)
            ivar[j] = r.uniform(0.85, 1.15) ** -2 / sigma[j] ** 2
            cr = r.random(w.size) < 5e-4
            flux[j, cr] += r.uniform(5, 50, cr.sum()) * np.median(sigma[j])
            ivar[j, cr] = 0.0
        return flux, ivar
