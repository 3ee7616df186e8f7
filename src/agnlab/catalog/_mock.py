"""Built-in mock WISE + spectroscopic catalogues (default data for demos, tests and benchmarks).

Sources and their infrared colours come from SEDs put through the WISE filters
with :func:`agnlab.photometry.synthetic_mags`:

* AGN: torus + attenuated accretion disk SEDs from the built-in clumpy-torus
  generator (``agnlab.grids`` ``clumpy_like_sed``, an approximation, not CLUMPY),
  plus hot graphite dust (Mor & Netzer 2012) and a host galaxy, at redshifts
  drawn from a broad distribution peaking near z ~ 1.5 (0.05 <= z <= 4); the
  sample is flux limited in W2, so obscured lines of sight are under-represented
  as in real WISE samples. Mock AGN passing the Assef et al. (2018) R90 cut peak
  near W1-W2 ~ 1.0, W2-W3 ~ 3 (Vega), where real WISE AGN do.
* stars: black bodies of 2,800-10,000 K, concentrated to the Galactic plane.
* galaxies: starlight (4,000 K black body) plus, for star-forming ones, warm
  dust and PAH features, at 0.01 <= z <= 0.6.

Photometric noise follows a WISE-like depth per band; undetected bands get
null or 99 sentinels (as in real tables), a few percent of sources get
contamination flags (``cc_flags``) and extended-source flags. A spectroscopic
table confirms a fraction of the sources (astrometric offsets ~0.2 arcsec) with
SDSS-like ``class`` / ``z`` / ``zwarning`` columns, plus unrelated spectra.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..validation import check_random_state
from ._sky import _icrs_to_galactic_matrix, unit_vectors

__all__ = ["MockCatalog", "agn_sed", "make_mock_catalog"]

_HC_K_UM = 14387.7688
# 5-sigma-ish depths (Vega) used for the noise model, and magnitude error floors
_DEPTH = {"w1": 17.1, "w2": 15.7, "w3": 12.2, "w4": 8.8}
_FLOOR = {"w1": 0.015, "w2": 0.018, "w3": 0.03, "w4": 0.06}
_WAVE_UM = np.logspace(np.log10(0.05), np.log10(1000.0), 700)


class MockCatalog(NamedTuple):
    """``wise`` (AllWISE-like table with ``true_*`` columns), ``spectra`` (SDSS-like), ``regions`` (exclusions)."""

    wise: pd.DataFrame
    spectra: pd.DataFrame
    regions: pd.DataFrame


def _planck(wave_um, temp_k):
    x = np.minimum(_HC_K_UM / (wave_um[None, :] * np.asarray(temp_k, float)[:, None]), 700.0)
    return (1.0 / wave_um[None, :] ** 3) / np.expm1(x)


def _galaxy_seds(n, rng, star_forming):
    """Rest-frame F_nu of galaxies: starlight + (for star-forming) warm dust and PAH bands."""
    lam = _WAVE_UM
    stars = _planck(lam, rng.uniform(3500.0, 5000.0, n))
    stars /= stars[:, [np.searchsorted(lam, 1.6)]]
    sed = stars.copy()
    sf = np.asarray(star_forming, bool)
    if sf.any():
        k = int(sf.sum())
        t_dust = rng.uniform(25.0, 45.0, k)
        cold = _planck(lam, t_dust) * (lam[None, :] / 100.0) ** -1.5
        cold /= cold.max(axis=1, keepdims=True)
        warm = _planck(lam, rng.uniform(120.0, 250.0, k))
        warm /= warm.max(axis=1, keepdims=True)
        pah = np.zeros_like(lam)
        for centre, width, amp in ((3.3, 0.05, 0.15), (6.2, 0.15, 0.6), (7.7, 0.35, 1.0), (8.6, 0.2, 0.5),
                                   (11.3, 0.2, 0.6), (12.7, 0.25, 0.4), (17.0, 0.6, 0.3)):
            pah += amp * np.exp(-0.5 * ((lam - centre) / width) ** 2)
        # F_nu scales: dust ~ 30x the 1.6 um starlight; PAH / warm dust set the mid-IR
        dust = (rng.uniform(15.0, 60.0, k)[:, None] * cold + rng.uniform(0.3, 1.5, k)[:, None] * warm
                + rng.uniform(0.5, 3.0, k)[:, None] * pah[None, :] * (lam[None, :] / 8.0))
        sed[sf] = stars[sf] + dust
    return np.maximum(sed, 1e-300)


def agn_sed(params, *, hot_dust_fraction=0.15, hot_dust_temp_k=1300.0):
    """Rest-frame AGN ``F_nu``: clumpy torus + accretion disk + hot graphite dust, all seen on one line of sight.

    Torus and disk (attenuated by the clouds on the line of sight) come from the built-in generator
    ``agnlab.grids.clumpy_like_sed(include_agn=True)`` (an approximation of CLUMPY, Nenkova et al. 2008).
    Torus-only models under-predict the 1-5 um emission of type-1 AGN; fits of Spitzer quasar SEDs need
    hot pure-graphite dust near sublimation (Mor, Netzer & Elitzur 2009; Mor & Netzer 2012: T ~ 1,100-1,500 K,
    5-30 % of the AGN luminosity), added here with :func:`agnlab.photometry.hot_dust_fnu`. It sits inside
    the torus, so it is attenuated like the disk (the transmission is recovered from the generator's SEDs
    with and without the direct AGN light).

    Parameters
    ----------
    params : array_like, shape (n, 6)
        Generator parameters in ``agnlab.grids.CLUMPY_PARAM_NAMES`` order (tv, N0, sig, Y, q, i).
    hot_dust_fraction : float or array_like, shape (n,)
        Hot-dust luminosity over the AGN (disk) luminosity, >= 0.
    hot_dust_temp_k : float or array_like, shape (n,)
        Hot-dust temperature [K].

    Returns
    -------
    wave_um : ndarray, shape (n_wave,)
        ``agnlab.grids.CLUMPY_WAVE_UM``.
    fnu : ndarray, shape (n, n_wave)
        Observed-direction SEDs (unit AGN luminosity).
    intrinsic : ndarray, shape (n, n_wave)
        Unobscured disk + hot dust (what a pole-on observer without clouds would see).
    """
    from ..grids import CLUMPY_WAVE_UM, clumpy_like_sed
    from ..photometry import accretion_disk_fnu, hot_dust_fnu

    p = np.atleast_2d(np.asarray(params, float))
    if p.ndim != 2 or p.shape[1] != 6 or not np.isfinite(p).all():
        raise ValueError(f"params: expected a finite (n, 6) array (tv, N0, sig, Y, q, i), got shape {np.shape(params)}")
    n = p.shape[0]
    c_hot = np.broadcast_to(np.asarray(hot_dust_fraction, float), (n,))
    t_hot = np.broadcast_to(np.asarray(hot_dust_temp_k, float), (n,))
    if not (np.isfinite(c_hot).all() and (c_hot >= 0).all() and np.isfinite(t_hot).all() and (t_hot > 0).all()):
        raise ValueError("hot_dust_fraction must be >= 0 and hot_dust_temp_k > 0 (finite)")
    wave = np.asarray(CLUMPY_WAVE_UM, float)
    with_agn = clumpy_like_sed(p, include_agn=True, progress=False)
    torus = clumpy_like_sed(p, include_agn=False, progress=False)
    disk = accretion_disk_fnu(wave)
    trans = np.clip((with_agn - torus) / np.maximum(disk, 1e-300)[None, :], 0.0, 1.0)
    hot = np.zeros((n, wave.size))
    for t in np.unique(t_hot):
        rows = t_hot == t
        hot[rows] = c_hot[rows, None] * hot_dust_fnu(wave, temp_k=float(t))[None, :]
    return wave, with_agn + hot * trans, disk[None, :] + hot


def _agn_pool(n_pool, rng):
    """AGN SEDs on the generator's grid: torus + disk + hot dust + host, and their intrinsic (unobscured) AGN.

    * torus + accretion disk attenuated on the line of sight: the built-in clumpy-torus generator
      (``clumpy_like_sed(include_agn=True)``), parameters uniform (``tv``, ``Y`` log-uniform) over its
      ranges, isotropic orientations;
    * hot graphite dust near sublimation (:func:`agnlab.photometry.hot_dust_fnu`; Mor & Netzer 2012:
      T 1,100-1,500 K, 5-30 % of the AGN luminosity), attenuated on the line of sight like the disk
      (it sits inside the torus), since torus-only models are too faint at 1-5 um rest;
    * a host galaxy (old stars, half with star-formation dust) whose 1.6 um F_nu is 3 % - 2x that of
      the *intrinsic* AGN (disk + hot dust), so that obscured AGN are diluted by their hosts.

    Returns the wavelengths, total SEDs, torus parameters, extra truth columns and the intrinsic SEDs.
    """
    from ..grids import CLUMPY_PARAM_NAMES, CLUMPY_PARAM_RANGES

    cols = []
    for name in CLUMPY_PARAM_NAMES:
        lo, hi = CLUMPY_PARAM_RANGES[name]
        if name == "i":  # isotropic orientations: uniform in cos(i)
            cols.append(np.rad2deg(np.arccos(rng.uniform(0.0, 1.0, n_pool))))
        elif name in ("tv", "Y"):
            cols.append(np.exp(rng.uniform(np.log(lo), np.log(hi), n_pool)))
        else:
            cols.append(rng.uniform(lo, hi, n_pool))
    params = np.stack(cols, axis=1)
    t_hot = rng.uniform(1100.0, 1500.0, n_pool)
    c_hot = np.exp(rng.uniform(np.log(0.05), np.log(0.3), n_pool))
    wave, fnu, intrinsic = agn_sed(params, hot_dust_fraction=c_hot, hot_dust_temp_k=t_hot)
    host = _galaxy_seds(n_pool, rng, rng.random(n_pool) < 0.5)
    host_on_grid = np.exp(np.stack([np.interp(np.log(wave), np.log(_WAVE_UM), np.log(h)) for h in host]))
    j = np.searchsorted(wave, 1.6)
    frac = 10 ** rng.uniform(-1.5, 0.3, n_pool)
    fnu = fnu + frac[:, None] * host_on_grid * (intrinsic[:, [j]] / host_on_grid[:, [j]])
    extra = {"true_hot_dust_fraction": c_hot, "true_hot_dust_temp": t_hot, "true_host_to_agn_1p6um": frac}
    return wave, fnu, params, extra, intrinsic


def _mags_at_redshifts(wave, seds, z_nodes):
    """W1-W4 Vega magnitudes (up to a constant) of each SED at each redshift node: (n_nodes, n_seds, 4)."""
    from ..photometry import synthetic_mags

    table = np.stack([synthetic_mags(wave, seds, bands=("W1", "W2", "W3", "W4"), z=float(zn))
                      for zn in z_nodes], axis=0)  # (n_nodes, n_seds, 4)
    return table


def _sample_redshift(n, rng, kind):
    if kind == "agn":
        z = rng.gamma(4.0, 0.4, n)
        return np.clip(z, 0.05, 4.0)
    return np.clip(rng.gamma(2.0, 0.09, n), 0.01, 0.6)


def _sky_uniform(n, rng):
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.rad2deg(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    return ra, dec


def _sky_disk(n, rng, scale_deg=12.0):
    l_deg = rng.uniform(0.0, 360.0, n)
    b_deg = np.clip(rng.laplace(0.0, scale_deg, n), -89.9, 89.9)
    v = unit_vectors(l_deg, b_deg) @ _icrs_to_galactic_matrix()  # galactic -> icrs (orthogonal inverse)
    ra = np.rad2deg(np.arctan2(v[:, 1], v[:, 0])) % 360.0
    dec = np.rad2deg(np.arcsin(np.clip(v[:, 2], -1.0, 1.0)))
    return ra, dec


def make_mock_catalog(n_sources: int = 100_000, *, agn_fraction=0.35, star_fraction=0.35,
                      spec_fraction=0.6, n_regions=20, sentinel_fraction=0.5, seed=0) -> MockCatalog:
    """Generate a mock AllWISE-like catalogue, a spectroscopic catalogue and exclusion regions.

    Parameters
    ----------
    n_sources : int
        Number of WISE sources (AGN + stars + galaxies).
    agn_fraction, star_fraction : float
        Fractions of AGN and stars (the rest are galaxies).
    spec_fraction : float
        Fraction of AGN and galaxies with a spectrum (stars: a quarter of it).
    n_regions : int
        Number of circular exclusion regions (nearby galaxies / nebulae /
        bright stars), each populated with spurious red detections.
    sentinel_fraction : float
        Fraction of undetected magnitudes written as 99 (the rest as null/NaN).
    seed : int
        Random seed.

    Returns
    -------
    MockCatalog
        ``wise``: ``ra``, ``dec``, ``w1mpro``..``w4mpro``, ``w1sigmpro``..,
        ``w1snr``.., ``cc_flags``, ``ext_flg`` and truth columns ``true_class``
        (``"AGN"``, ``"STAR"``, ``"GALAXY"``, ``"SPURIOUS"``), ``true_z``,
        ``true_tv``... (torus parameters, NaN for non-AGN);
        ``spectra``: ``ra``, ``dec``, ``class`` (``QSO``/``GALAXY``/``STAR``),
        ``z``, ``zwarning``, ``true_wise_row``; ``regions``: ``ra``, ``dec``,
        ``radius_arcsec``, ``kind``.

    Examples
    --------
    >>> from agnlab.catalog import make_mock_catalog
    >>> mock = make_mock_catalog(n_sources=1000, seed=1)
    >>> sorted(mock.wise["true_class"].unique())[:2]
    ['AGN', 'GALAXY']
    """
    n_sources = int(n_sources)
    if n_sources < 10:
        raise ValueError(f"n_sources: need at least 10, got {n_sources}")
    for name, v in (("agn_fraction", agn_fraction), ("star_fraction", star_fraction),
                    ("spec_fraction", spec_fraction), ("sentinel_fraction", sentinel_fraction)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}: must be in [0, 1], got {v}")
    if agn_fraction + star_fraction > 1.0:
        raise ValueError("agn_fraction + star_fraction must be <= 1")
    rng = check_random_state(seed)
    n_agn = int(round(n_sources * agn_fraction))
    n_star = int(round(n_sources * star_fraction))
    n_gal = n_sources - n_agn - n_star
    n_nodes = 33
    out = []

    # --- AGN ---------------------------------------------------------------------------
    # flux-limited like a WISE sample: each AGN's intrinsic (unobscured) brightness follows rising number
    # counts, its observed W2 is fainter by its line-of-sight obscuration (+ brighter by torus and host);
    # sources beyond the W2 range are redrawn, so obscured AGN are under-represented as in real surveys
    n_pool = int(min(max(n_agn // 20, 200), 3000))
    wave, pool, params, extra, intrinsic = _agn_pool(n_pool, rng)
    z_nodes = np.linspace(0.0, 4.0, n_nodes)
    table = _mags_at_redshifts(wave, pool, z_nodes)
    dimming = table[:, :, 1] - _mags_at_redshifts(wave, intrinsic, z_nodes)[:, :, 1]   # W2 obscured - intrinsic
    k, z_agn, w2_agn = _flux_limited(n_agn, rng, dimming, z_nodes, w2_range=(10.0, 16.5))
    agn = _place(table, k, z_agn, z_nodes, rng, "AGN", params[k], w2_range=(10.0, 16.5), w2=w2_agn)
    for name, v in extra.items():
        agn[name] = v[k]
    out.append(agn)

    # --- stars -------------------------------------------------------------------------
    t_star = np.exp(rng.uniform(np.log(2800.0), np.log(10000.0), 400))
    from ..photometry import synthetic_mags

    smag = synthetic_mags(_WAVE_UM, _planck(_WAVE_UM, t_star), bands=("W1", "W2", "W3", "W4"))
    k = rng.integers(0, smag.shape[0], n_star)
    out.append(_place(smag[None], k, np.zeros(n_star), np.zeros(1), rng, "STAR", None, w2_range=(7.0, 16.5)))

    # --- galaxies ----------------------------------------------------------------------
    n_gpool = 400
    gseds = _galaxy_seds(n_gpool, rng, rng.random(n_gpool) < 0.7)
    gz_nodes = np.linspace(0.0, 0.6, 13)
    gtable = _mags_at_redshifts(_WAVE_UM, gseds, gz_nodes)
    k = rng.integers(0, n_gpool, n_gal)
    out.append(_place(gtable, k, _sample_redshift(n_gal, rng, "gal"), gz_nodes, rng, "GALAXY", None,
                      w2_range=(10.0, 16.0)))

    wise = pd.concat(out, ignore_index=True)
    ra, dec = _sky_uniform(len(wise), rng)
    is_star = (wise["true_class"] == "STAR").to_numpy()
    ra_s, dec_s = _sky_disk(int(is_star.sum()), rng)
    ra[is_star], dec[is_star] = ra_s, dec_s

    # --- exclusion regions with spurious red detections ---------------------------------
    reg_ra, reg_dec = _sky_uniform(n_regions, rng)
    radius = rng.uniform(60.0, 600.0, n_regions)
    kinds = rng.choice(np.array(["nearby_galaxy", "nebula", "bright_star"]), n_regions)
    regions = pd.DataFrame({"ra": reg_ra, "dec": reg_dec, "radius_arcsec": radius, "kind": kinds})
    n_spur = 15 * n_regions
    if n_spur:
        which = rng.integers(0, n_regions, n_spur)
        rad = radius[which] * np.sqrt(rng.random(n_spur)) / 3600.0
        ang = rng.uniform(0, 2 * np.pi, n_spur)
        sdec = np.clip(reg_dec[which] + rad * np.sin(ang), -89.99, 89.99)
        sra = (reg_ra[which] + rad * np.cos(ang) / np.cos(np.deg2rad(sdec))) % 360.0
        w2 = rng.uniform(9.0, 14.0, n_spur)
        spur = pd.DataFrame({"w1mpro": w2 + rng.uniform(0.7, 1.5, n_spur), "w2mpro": w2,
                             "w3mpro": w2 - rng.uniform(2.0, 4.0, n_spur),
                             "w4mpro": w2 - rng.uniform(4.0, 7.0, n_spur), "true_class": "SPURIOUS",
                             "true_z": np.nan})
        for b in ("w1", "w2", "w3", "w4"):
            spur[f"{b}sigmpro"] = _FLOOR[b]
        wise = pd.concat([wise, spur], ignore_index=True)
        ra = np.concatenate([ra, sra])
        dec = np.concatenate([dec, sdec])
    wise.insert(0, "ra", ra)
    wise.insert(1, "dec", dec)

    # --- flags, snr, sentinels ---------------------------------------------------------
    n = len(wise)
    cc = np.full(n, "0000", dtype=object)
    bad = rng.random(n) < 0.04
    cc[bad] = rng.choice(np.array(["D000", "0H00", "d000", "P000", "00h0"]), int(bad.sum()))
    wise["cc_flags"] = cc
    ext = np.zeros(n, dtype=np.int16)
    gal = (wise["true_class"] == "GALAXY").to_numpy() & (wise["true_z"].to_numpy() < 0.05)
    ext[gal] = rng.choice(np.array([1, 2, 3, 5], dtype=np.int16), int(gal.sum()))
    wise["ext_flg"] = ext
    for b in ("w1", "w2", "w3", "w4"):
        sig = wise[f"{b}sigmpro"].to_numpy(float).copy()
        snr = 1.0857 / sig
        undetected = snr < 2.0
        use_sentinel = rng.random(n) < sentinel_fraction
        mag = wise[f"{b}mpro"].to_numpy(float).copy()
        mag[undetected & use_sentinel] = 99.0
        mag[undetected & ~use_sentinel] = np.nan
        sig[undetected] = np.nan
        wise[f"{b}mpro"] = mag
        wise[f"{b}sigmpro"] = sig
        wise[f"{b}snr"] = np.where(undetected, np.nan, snr)
    order = ["ra", "dec"] + [f"{b}mpro" for b in ("w1", "w2", "w3", "w4")] \
        + [f"{b}sigmpro" for b in ("w1", "w2", "w3", "w4")] + [f"{b}snr" for b in ("w1", "w2", "w3", "w4")] \
        + ["cc_flags", "ext_flg"]
    wise = wise[order + [c for c in wise.columns if c not in order]]

    # --- spectra -----------------------------------------------------------------------
    cls = wise["true_class"].to_numpy()
    p = np.where(cls == "STAR", spec_fraction / 4, np.where(cls == "SPURIOUS", 0.0, spec_fraction))
    rows = np.flatnonzero(rng.random(n) < p)
    m = rows.size
    off = rng.normal(0.0, 0.25 / 3600.0, (m, 2))
    sdec = np.clip(dec[rows] + off[:, 1], -90.0, 90.0)
    sra = (ra[rows] + off[:, 0] / np.maximum(np.cos(np.deg2rad(sdec)), 1e-6)) % 360.0
    spec_class = np.select([cls[rows] == "AGN", cls[rows] == "STAR"], ["QSO", "STAR"], "GALAXY").astype(object)
    wrong = rng.random(m) < 0.02
    spec_class[wrong] = rng.choice(np.array(["QSO", "GALAXY", "STAR"], dtype=object), int(wrong.sum()))
    ztrue = np.nan_to_num(wise["true_z"].to_numpy(float)[rows], nan=0.0)
    zspec = ztrue + rng.normal(0.0, 0.001, m) * (1 + ztrue)
    zwarn = np.where(rng.random(m) < 0.05, rng.choice(np.array([4, 16, 1024]), m), 0)
    spectra = pd.DataFrame({"ra": sra, "dec": sdec, "class": spec_class, "z": zspec, "zwarning": zwarn,
                            "true_wise_row": rows.astype(np.int64)})
    n_extra = m // 5
    era, edec = _sky_uniform(n_extra, rng)
    extra = pd.DataFrame({"ra": era, "dec": edec,
                          "class": rng.choice(np.array(["QSO", "GALAXY", "STAR"], dtype=object), n_extra),
                          "z": rng.uniform(0.0, 3.0, n_extra), "zwarning": 0,
                          "true_wise_row": np.full(n_extra, -1, np.int64)})
    spectra = pd.concat([spectra, extra], ignore_index=True)
    spectra = spectra.iloc[rng.permutation(len(spectra))].reset_index(drop=True)
    return MockCatalog(wise, spectra, regions)


def _interp_nodes(table, k, z, z_nodes):
    """``table[node, k]`` linearly interpolated to redshifts ``z`` (one node: no interpolation)."""
    if len(z_nodes) == 1:
        return table[0, k]
    pos = np.clip(np.interp(z, z_nodes, np.arange(len(z_nodes))), 0, len(z_nodes) - 1 - 1e-9)
    j = pos.astype(int)
    f = (pos - j).reshape((-1,) + (1,) * (table.ndim - 2))
    return (1 - f) * table[j, k] + f * table[j + 1, k]


def _counts_mags(n, rng, lo, hi):
    """Magnitudes from rising number counts N(<m) ~ 10^(0.35 m) on [lo, hi] (inverse-CDF sampling)."""
    a = 0.35 * np.log(10.0)
    return lo + np.log1p(rng.random(n) * np.expm1(a * (hi - lo))) / a


def _flux_limited(n, rng, dimming, z_nodes, w2_range, max_rounds=200):
    """Pool index, redshift and observed W2 of ``n`` AGN whose intrinsic W2 follows the number counts.

    ``dimming[node, k]``: observed minus intrinsic W2 of pool SED ``k``; candidates with an intrinsic W2
    up to the dimming range brighter than the bright end are drawn, and those outside ``w2_range`` after
    dimming are redrawn (a flux limit).
    """
    lo, hi = w2_range
    pad = float(max(np.nanmax(dimming), 0.0))
    ks, zs, ms = [], [], []
    have = 0
    for _ in range(max_rounds):
        m = max(2 * (n - have), 64)
        k = rng.integers(0, dimming.shape[1], m)
        z = _sample_redshift(m, rng, "agn")
        w2 = _counts_mags(m, rng, lo - pad, hi) + _interp_nodes(dimming, k, z, z_nodes)
        ok = (w2 >= lo) & (w2 <= hi)
        ks.append(k[ok])
        zs.append(z[ok])
        ms.append(w2[ok])
        have += int(ok.sum())
        if have >= n:
            break
    else:
        raise RuntimeError("mock AGN: the flux limit rejects nearly every candidate")
    return np.concatenate(ks)[:n], np.concatenate(zs)[:n], np.concatenate(ms)[:n]


def _place(table, k, z, z_nodes, rng, cls, params, w2_range, w2=None):
    """Magnitudes of sources using SED ``k`` at redshift ``z``; apparent W2 given or from rising number counts."""
    n = k.size
    mags = _interp_nodes(table, k, z, z_nodes)
    colours = mags - mags[:, [1]]  # relative to W2
    if w2 is None:
        w2 = _counts_mags(n, rng, *w2_range)
    cols = {}
    for jb, b in enumerate(("w1", "w2", "w3", "w4")):
        true = w2 + colours[:, jb]
        sig = np.sqrt(_FLOOR[b] ** 2 + (0.2171 * 10 ** (0.4 * (true - _DEPTH[b]))) ** 2)
        cols[f"{b}mpro"] = true + rng.normal(0.0, 1.0, n) * sig
        cols[f"{b}sigmpro"] = sig
    df = pd.DataFrame(cols)
    df["true_class"] = cls
    df["true_z"] = z if cls != "STAR" else np.nan
    if params is not None:
        from ..grids import CLUMPY_PARAM_NAMES

        for jn, name in enumerate(CLUMPY_PARAM_NAMES):
            df[f"true_{name}"] = params[:, jn]
    return df
