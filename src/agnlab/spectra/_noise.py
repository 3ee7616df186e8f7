"""Detector noise of simulated spectra: Poisson-like object + sky counts, read noise, pipeline ivar."""

from __future__ import annotations

import numpy as np

__all__ = ["add_noise"]


def _boxcar(y, width):
    c = np.cumsum(np.pad(y, ((0, 0), (width // 2 + 1, width // 2)), mode="edge"), axis=1, dtype=np.float64)
    return ((c[:, width:] - c[:, :-width]) / width).astype(y.dtype, copy=False)


def add_noise(model, counts_per_flux, sky_flux, read_noise_e: float, rngs=None):
    """Noisy flux and its pipeline inverse variance.

    Parameters
    ----------
    model : ndarray float32, shape (n, n_pix)
        Noise-free observed flux.
    counts_per_flux, sky_flux : ndarray, shape (n_pix,)
        Instrument throughput (counts per flux unit) and sky flux.
    read_noise_e : float
    rngs : list of numpy Generators (one per spectrum), or None
        ``None``: no noise (``flux`` is ``model`` and ``ivar`` the expected inverse variance).

    Returns
    -------
    flux, ivar : ndarray float32, shape (n, n_pix)
    """
    f32 = np.float32
    n_pix = model.shape[1]
    cpf = counts_per_flux.astype(f32)[None, :]
    sky_counts = (sky_flux[None, :] * counts_per_flux[None, :]).astype(f32)
    rn2 = read_noise_e ** 2
    obj_counts = model * cpf
    if rngs is not None:
        eps = np.array([r.standard_normal(n_pix, dtype=f32) for r in rngs])
        counts = obj_counts + np.sqrt(obj_counts + sky_counts + rn2) * eps
        # pipeline variance: smoothed observed object counts + sky + read noise
        var = np.maximum(_boxcar(counts, 15), 0.0) + sky_counts + rn2
        flux = counts / cpf
    else:
        var = obj_counts + sky_counts + rn2
        flux = model
    ivar = cpf * cpf / var
    return flux.astype(f32, copy=False), ivar.astype(f32, copy=False)
