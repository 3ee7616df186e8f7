"""Composite SEDs for colour tracks: torus (+ accretion disk) plus a host galaxy, mixed at a reference wavelength."""

from __future__ import annotations

import numpy as np

from ..validation import check_array

__all__ = ["add_host", "host_galaxy_fnu"]

_HC_K_UM = 14387.7688   # h c / k [um K]


def host_galaxy_fnu(wave_um, *, temp_k=4000.0, dust_fraction=0.0, dust_temp_k=60.0):
    """A simple host-galaxy template ``F_nu`` (arbitrary units, 1 at 2.2 um rest).

    Old stellar population approximated by a ``temp_k`` blackbody (W1-W2 ~ 0, Vega), plus optionally a warm
    dust component (a ``dust_temp_k`` modified blackbody, emissivity index 1.5) carrying ``dust_fraction`` of
    the flux at 12 um: star-forming hosts are redder in W2-W3. An approximation for colour tracks, not a
    stellar-population synthesis model.
    """
    lam = check_array(wave_um, name="wave_um", ndim=1, positive=True)
    if not (temp_k > 0 and dust_temp_k > 0 and 0 <= dust_fraction < 1):
        raise ValueError(f"need temp_k > 0, dust_temp_k > 0, 0 <= dust_fraction < 1; got {temp_k}, {dust_temp_k}, "
                         f"{dust_fraction}")

    def bb(t, beta=0.0):
        x = np.minimum(_HC_K_UM / (lam * t), 700.0)
        return lam ** (-3.0 - beta) / np.expm1(x)

    stars = bb(temp_k)
    stars = stars / np.interp(2.2, lam, stars)
    if dust_fraction > 0:
        dust = bb(dust_temp_k, 1.5)
        s12, d12 = np.interp(12.0, lam, stars), np.interp(12.0, lam, dust)
        stars = stars + dust * (dust_fraction / (1.0 - dust_fraction)) * s12 / d12
        stars = stars / np.interp(2.2, lam, stars)
    return stars


def add_host(wave_um, fnu, host_fraction, *, host_fnu=None, ref_um=2.2):
    """Mix a host galaxy into AGN SEDs: the host provides ``host_fraction`` of the total F_nu at ``ref_um`` (rest).

    Parameters
    ----------
    wave_um : array_like, shape (n_wave,)
    fnu : array_like, shape (n, n_wave)
        AGN (torus + disk) SEDs.
    host_fraction : float or array_like, shape (n,)
        In [0, 1).
    host_fnu : array_like, shape (n_wave,), optional
        Host template (default :func:`host_galaxy_fnu`).

    Returns
    -------
    ndarray, shape (n, n_wave)
    """
    lam = check_array(wave_um, name="wave_um", ndim=1, positive=True)
    f = np.atleast_2d(np.asarray(fnu, float))
    fh = np.broadcast_to(np.asarray(host_fraction, float), (f.shape[0],))
    if np.any(~np.isfinite(fh)) or np.any((fh < 0) | (fh >= 1)):
        raise ValueError("host_fraction: each must be in [0, 1)")
    host = host_galaxy_fnu(lam) if host_fnu is None else check_array(host_fnu, name="host_fnu", shape=(lam.size,))
    agn_ref = np.array([np.interp(ref_um, lam, row) for row in f])
    scale = fh / (1.0 - fh) * agn_ref / np.interp(ref_um, lam, host)
    return f + scale[:, None] * host[None, :]
