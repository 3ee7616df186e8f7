"""Spectrograph model: wavelength grid, resolution, throughput, sky and noise.

The default is 4MOST-like (low-resolution spectrograph): 3600-9600 A in
0.25 A pixels, resolving power rising linearly from R = 4000 at the blue end
to R = 7500 at the red end (Gaussian line-spread function), the 4.1 m VISTA
aperture, 1.45 arcsec fibres, a dark-sky continuum plus the strongest
night-sky emission lines, and a read-noise term per pixel.  The expected
photo-electron counts follow from ``f_lambda * lambda / (h c) * area *
exptime * throughput * dlambda``; the noise is Gaussian with variance
``object + sky + read^2`` (object counts from the noisy data, as a pipeline
would estimate it), and ``ivar`` is the inverse of that variance in flux
units.  Fluxes are in ``1e-17 erg s^-1 cm^-2 A^-1``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["Instrument", "FLUX_UNIT"]

FLUX_UNIT = "1e-17 erg s^-1 cm^-2 A^-1"
_H_C_ERG_AA = 6.62607015e-27 * 2.99792458e18  # h c in erg * Angstrom

#: strong night-sky emission lines (Angstrom, relative strength in units of the sky
#: continuum integrated over 1 A at 5577 A); Osterbrock et al. (1996)
SKY_LINES = (
    (5577.34, 60.0), (5889.95, 15.0), (5895.92, 12.0), (6300.30, 25.0), (6363.78, 8.0),
    (6863.96, 8.0), (6923.19, 8.0), (7276.41, 8.0), (7316.28, 15.0), (7340.89, 15.0),
    (7369.25, 10.0), (7571.75, 12.0), (7750.64, 15.0), (7794.11, 15.0), (7821.50, 15.0),
    (7913.71, 15.0), (7993.33, 25.0), (8344.60, 35.0), (8399.17, 30.0), (8430.17, 30.0),
    (8465.36, 30.0), (8504.63, 20.0), (8827.10, 40.0), (8885.85, 40.0), (8919.64, 25.0),
    (8943.40, 40.0), (8958.08, 40.0), (8988.38, 30.0), (9375.96, 40.0), (9439.67, 35.0),
    (9476.85, 30.0), (9519.18, 30.0),
)


@dataclass(frozen=True)
class Instrument:
    """Spectrograph configuration (keyword-only).

    Parameters
    ----------
    wave_min_aa, wave_max_aa, dwave_aa : float
        Linear wavelength grid (pixel centres, inclusive range).
    resolution : tuple of float
        Resolving power at the blue and red ends (linear in wavelength).
    exptime_s : float
        Exposure time in seconds.
    area_cm2 : float
        Effective collecting area of the telescope.
    throughput_peak : float
        Peak end-to-end throughput (including fibre aperture losses); the
        throughput falls smoothly towards both ends of the range.
    sky_mag_r : float
        Dark-sky continuum surface brightness in the r band (AB mag arcsec^-2).
    fibre_area_arcsec2 : float
        Solid angle of a fibre.
    read_noise_e : float
        Read noise per extracted pixel (electrons, including the spatial extent).
    sky_lines : bool
        Include night-sky emission lines.
    """

    wave_min_aa: float = 3600.0
    wave_max_aa: float = 9600.0
    dwave_aa: float = 0.25
    resolution: tuple = (4000.0, 7500.0)
    exptime_s: float = 1200.0
    area_cm2: float = 9.5e4
    throughput_peak: float = 0.15
    sky_mag_r: float = 21.2
    fibre_area_arcsec2: float = 1.65
    read_noise_e: float = 6.0
    sky_lines: bool = True
    name: str = field(default="4MOST-LRS-like")

    def __post_init__(self):
        if not (0 < self.wave_min_aa < self.wave_max_aa):
            raise ValueError(f"Instrument: need 0 < wave_min_aa < wave_max_aa, got {self.wave_min_aa}, "
                             f"{self.wave_max_aa}")
        if not (0 < self.dwave_aa < (self.wave_max_aa - self.wave_min_aa)):
            raise ValueError(f"Instrument: dwave_aa must be positive and smaller than the range, got {self.dwave_aa}")
        if len(self.resolution) != 2 or min(self.resolution) <= 0:
            raise ValueError(f"Instrument: resolution must be two positive numbers, got {self.resolution}")
        for name in ("exptime_s", "area_cm2", "throughput_peak", "fibre_area_arcsec2"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Instrument: {name} must be > 0, got {getattr(self, name)}")
        if self.read_noise_e < 0:
            raise ValueError(f"Instrument: read_noise_e must be >= 0, got {self.read_noise_e}")

    def to_dict(self):
        d = asdict(self)
        d["resolution"] = list(self.resolution)
        return d

    @property
    def wave_aa(self) -> np.ndarray:
        n = int(np.floor((self.wave_max_aa - self.wave_min_aa) / self.dwave_aa + 1e-6)) + 1
        return self.wave_min_aa + self.dwave_aa * np.arange(n)

    def resolving_power(self, wave_aa):
        r0, r1 = self.resolution
        t = (np.asarray(wave_aa) - self.wave_min_aa) / (self.wave_max_aa - self.wave_min_aa)
        return r0 + (r1 - r0) * t

    def lsf_sigma_pix(self, wave_aa):
        """Gaussian LSF sigma in pixels at each wavelength."""
        return np.asarray(wave_aa) / self.resolving_power(wave_aa) / 2.3548 / self.dwave_aa

    def throughput(self, wave_aa):
        """Smooth end-to-end throughput: peak in 5000-8000 A, ~40 % of peak at the ends."""
        w = np.asarray(wave_aa, dtype=float)
        x = (w - 6500.0) / 3000.0
        return self.throughput_peak * np.clip(1.0 - 0.6 * x ** 4 - 0.1 * x, 0.05, 1.0)

    def sky_flux(self, wave_aa):
        """Sky spectrum through one fibre in flux units (1e-17 erg/s/cm^2/A)."""
        w = np.asarray(wave_aa, dtype=float)
        cont = self._sky_continuum(w)
        if self.sky_lines:
            cont_5577 = np.interp(5577.0, w, cont)
            sig = 5577.0 / 6000.0 / 2.3548  # unresolved: sigma ~ LSF
            for lam, s in SKY_LINES:
                cont = cont + s * cont_5577 * np.exp(-0.5 * ((w - lam) / sig) ** 2) / (np.sqrt(2 * np.pi) * sig)
        return cont

    def sky_line_profiles(self, wave_aa, half_width_sigma=6.0):
        """The night-sky lines alone, one window each: list of ``(lo, hi, line_flux (hi - lo,))``.

        ``sky_flux`` is the dark continuum plus the sum of these (flux units, 1e-17 erg/s/cm^2/A).
        Empty when ``sky_lines`` is False.
        """
        w = np.asarray(wave_aa, dtype=float)
        if not self.sky_lines:
            return []
        cont_5577 = np.interp(5577.0, w, self._sky_continuum(w))
        sig = 5577.0 / 6000.0 / 2.3548
        out = []
        for lam, s in SKY_LINES:
            lo = int(np.searchsorted(w, lam - half_width_sigma * sig))
            hi = int(np.searchsorted(w, lam + half_width_sigma * sig))
            if hi > lo:
                prof = s * cont_5577 * np.exp(-0.5 * ((w[lo:hi] - lam) / sig) ** 2) / (np.sqrt(2 * np.pi) * sig)
                out.append((lo, hi, prof))
        return out

    def _sky_continuum(self, w):
        """Dark-sky continuum through one fibre: AB ``sky_mag_r`` at r, f_nu ~ nu^-1.5 relative to 6200 A."""
        fnu = 10.0 ** (-0.4 * (self.sky_mag_r + 48.6)) * (w / 6200.0) ** 1.5
        return fnu * 2.99792458e18 / w ** 2 * self.fibre_area_arcsec2 * 1e17

    def counts_per_flux(self, wave_aa):
        """Photo-electrons per pixel per unit flux (1e-17 erg/s/cm^2/A)."""
        w = np.asarray(wave_aa, dtype=float)
        return 1e-17 * w / _H_C_ERG_AA * self.area_cm2 * self.exptime_s * self.throughput(w) * self.dwave_aa


class _LSF:
    """Banded Gaussian convolution with a wavelength-dependent width (rows normalised)."""

    def __init__(self, sigma_pix, half_width=None):
        sigma_pix = np.asarray(sigma_pix, dtype=float)
        hw = int(np.ceil(4.0 * sigma_pix.max())) if half_width is None else int(half_width)
        self.offsets = np.arange(-hw, hw + 1)
        w = np.exp(-0.5 * (self.offsets[:, None] / sigma_pix[None, :]) ** 2)
        n = sigma_pix.size
        # zero weights that fall off the grid, then renormalise
        idx = np.arange(n)[None, :] + self.offsets[:, None]
        w[(idx < 0) | (idx >= n)] = 0.0
        self.weights = w / w.sum(axis=0, keepdims=True)
        self._w32 = self.weights.astype(np.float32)
        self.hw = hw

    def __call__(self, y):
        """Convolve rows of ``y`` (n, n_pix)."""
        n_pix = y.shape[1]
        hw = self.hw
        pad = np.pad(y, ((0, 0), (hw, hw)), mode="edge")
        out = np.zeros_like(y)
        weights = self._w32 if y.dtype == np.float32 else self.weights
        for k, off in enumerate(self.offsets):
            out += weights[k][None, :] * pad[:, hw + off: hw + off + n_pix]
        return out
