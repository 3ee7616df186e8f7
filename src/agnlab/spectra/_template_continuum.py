"""Quasar continua drawn from a PCA template family (e.g. redrock templates) instead of the built-in model."""

from __future__ import annotations

import numpy as np

__all__ = ["check_templates", "template_continua"]


def check_templates(templates, coeff_sigma):
    """Validate a PCA continuum family ``(wave_rest_aa, eigen)``: returns ``(wave, eigen / norm(1450 A), sigma)``."""
    try:
        wave_rest, eig = templates
    except Exception as exc:  # noqa: BLE001
        raise ValueError("templates must be a pair (wave_rest_aa (n_wave,), eigenspectra (n_comp, n_wave))") from exc
    wave_rest = np.asarray(wave_rest, dtype=float)
    eig = np.atleast_2d(np.asarray(eig, dtype=float))
    if wave_rest.ndim != 1 or eig.shape[1] != wave_rest.size:
        raise ValueError(f"templates: wavelength has {wave_rest.size} points but eigenspectra have shape {eig.shape}")
    if not np.all(np.isfinite(eig)) or not np.all(np.isfinite(wave_rest)):
        raise ValueError("templates contain NaN or infinite values")
    if np.any(np.diff(wave_rest) <= 0):
        raise ValueError("templates: rest wavelength must be strictly increasing")
    rms = np.sqrt(np.mean(eig ** 2, axis=1))
    if coeff_sigma is None:
        sig = 0.15 * rms[0] / np.maximum(rms[1:], 1e-30)
    else:
        sig = np.asarray(coeff_sigma, dtype=float)
        if sig.shape != (eig.shape[0] - 1,):
            raise ValueError(f"template_coeff_sigma needs {eig.shape[0] - 1} values, got {sig.shape}")
    norm = np.interp(1450.0, wave_rest, eig[0])
    if norm <= 0:
        raise ValueError("templates: first eigenspectrum must be positive at 1450 A")
    return wave_rest, eig / norm, sig


def template_continua(tmpl, rngs, wave, z):
    """Observed-frame continua ``e_0 + sum_k c_k e_k`` (one random stream per object): ``(params, cont (n, n_pix))``."""
    wave_rest, eig, sig = tmpl
    n = len(rngs)
    coef = np.array([r.standard_normal(eig.shape[0] - 1) for r in rngs]).reshape(n, -1) * sig[None, :]
    spec = eig[0][None, :] + coef @ eig[1:]
    rest = wave[None, :] / (1.0 + z[:, None])
    cont = np.empty((n, wave.size))
    for j in range(n):
        cont[j] = np.interp(rest[j], wave_rest, spec[j], left=np.nan, right=np.nan)
    if np.any(np.isnan(cont)):
        lo, hi = wave_rest[0], wave_rest[-1]
        raise ValueError(f"templates cover rest {lo:.0f}-{hi:.0f} A, which does not span the observed grid at "
                         f"z = {z.min():.2f}-{z.max():.2f}; restrict z_range or use the built-in continuum")
    np.maximum(cont, 0.0, out=cont)
    return dict(beta=np.full(n, np.nan), blueshift_kms=np.zeros(n)), cont
