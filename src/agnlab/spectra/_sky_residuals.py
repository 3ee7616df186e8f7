"""Sky-subtraction residuals at bright night-sky lines (4MOST-like fibre spectra).

Fibre spectrographs subtract a sky model built from sky fibres; at the bright sky lines the
subtraction leaves residuals of about 1-2 % of the line flux whose sign and shape change from
spectrum to spectrum: a scale error (the line over- or under-subtracted) and a wavelength/LSF
mismatch (a P-Cygni-like derivative pattern).  Residuals of about 1 % of the sky-line flux are
reported for SDSS/BOSS fibre spectra (e.g. Yan 2011, AJ 142, 153; Bolton et al. 2012, AJ 144, 144);
the default 1.5 % assumes the same level for a 4MOST-like fibre spectrograph (de Jong et al. 2019,
The Messenger 175, 3, for the facility).

Each spectrum gets, for every line ``k`` with profile ``L_k``, the residual
``a_k L_k + s_k sigma_k dL_k/dlambda`` with ``a_k, s_k ~ N(0, frac)`` (``frac`` = ``sky_residual_frac``).
The residual changes the flux only: the pipeline's ``ivar`` does not know about it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SkyResiduals"]


class SkyResiduals:
    """Per-spectrum sky-subtraction residuals of an instrument's sky lines (see the module docstring)."""

    def __init__(self, instrument, wave_aa, frac):
        if not (np.isfinite(frac) and 0.0 <= frac <= 0.2):
            raise ValueError(f"sky_residual_frac must lie in [0, 0.2], got {frac}")
        self.frac = float(frac)
        self._lines = []
        w = np.asarray(wave_aa, dtype=float)
        for lo, hi, prof in instrument.sky_line_profiles(w):
            sig = np.sqrt(np.sum(prof * (w[lo:hi] - np.sum(prof * w[lo:hi]) / prof.sum()) ** 2) / prof.sum())
            deriv = np.gradient(prof, w[lo:hi]) * sig
            self._lines.append((lo, hi, prof.astype(np.float32), deriv.astype(np.float32)))

    @property
    def n_lines(self) -> int:
        return len(self._lines)

    def add(self, flux, rngs):
        """Add residuals to ``flux`` (n, n_pix) in place, one random stream per spectrum."""
        if self.frac == 0.0 or not self._lines or rngs is None:
            return flux
        n = flux.shape[0]
        a = np.array([r.standard_normal(2 * self.n_lines) for r in rngs]).reshape(n, 2, self.n_lines) * self.frac
        a = a.astype(np.float32)
        for k, (lo, hi, prof, deriv) in enumerate(self._lines):
            flux[:, lo:hi] += a[:, 0, k, None] * prof[None, :] + a[:, 1, k, None] * deriv[None, :]
        return flux
