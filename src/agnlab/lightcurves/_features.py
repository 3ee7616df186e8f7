"""``extract_features``: ALeRCE-like features of many light curves, batched and robust to bad curves."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..parallel import chunked_map
from ._classes import BAND_WAVE_UM
from ._periodogram import FOLDED_NAMES, PERIOD_NAMES, folded_features, multiband_period
from ._stochastic import drw_iar, mhps_many
from ._validate import clean_lightcurves

__all__ = ["extract_features", "feature_names"]

_ZP_UJY = 23.9        # AB magnitude of 1 microjansky (fluxes for the Villar fit)
_NONDET = ("n_non_det_before", "n_non_det_after", "last_ulim_before", "max_ulim_before", "median_ulim_before",
           "dmag_first_det", "dmag_non_det")
_OWN = ("n_det", "drw_log_tau", "drw_log_sigma", "iar_phi", "mhps_high", "mhps_low", "mhps_ratio")
_CONTEXT = ("gal_l", "gal_b", "W1-W2", "W2-W3", "g-W2", "g-W3", "r-W2", "r-W3", "sgscore1", "rb")


@functools.lru_cache(maxsize=2)
def _extractors(villar: bool):
    """The statistics taken from the ``light-curve`` package (Rust), and the Villar et al. 2019 fit."""
    import light_curve as lc

    stats = lc.Extractor(
        lc.Amplitude(), lc.AndersonDarlingNormal(), lc.BeyondNStd(1.0), lc.Cusum(), lc.EtaE(),
        lc.ExcessVariance(), lc.InterPercentileRange(0.1), lc.Kurtosis(), lc.LinearFit(), lc.LinearTrend(),
        lc.MagnitudePercentageRatio(0.4, 0.05), lc.MaximumSlope(), lc.Mean(), lc.Median(),
        lc.MedianAbsoluteDeviation(), lc.MedianBufferRangePercentage(0.1), lc.PercentAmplitude(),
        lc.PercentDifferenceMagnitudePercentile(0.05), lc.ReducedChi2(), lc.Skew(), lc.StandardDeviation(),
        lc.StetsonK(), lc.WeightedMean(), lc.Duration(), lc.OtsuSplit())
    fit = lc.VillarFit("lmsder", lmsder_niter=10) if villar else None
    return stats, fit


def _band_names(villar: bool) -> list[str]:
    stats, fit = _extractors(villar)
    names = [n.replace(".", "_") for n in stats.names] + list(_OWN) + list(_NONDET) + list(FOLDED_NAMES)
    if fit is not None:
        names += [n.replace("villar_fit_", "villar_") for n in fit.names]
    return names


def _pairs(bands):
    return [(a, b) for a, b in zip(bands[:-1], bands[1:])]


def feature_names(bands=("g", "r"), *, villar: bool = True, context: bool = False) -> list[str]:
    """Columns of :func:`extract_features` for ``bands`` (without the ``flag`` column)."""
    names = [f"{n}_{b}" for b in bands for n in _band_names(villar)]
    names += list(PERIOD_NAMES)
    for a, b in _pairs(tuple(bands)):
        names += [f"{a}-{b}_mean", f"{a}-{b}_max", f"{a}-{b}_median", f"{a}-{b}_peak"]
    names += ["n_det", "duration_days", "frac_non_det"]
    if context:
        names += list(_CONTEXT)
    return names


def _nondet(t_det, m_det, t_nd, lim_nd):
    out = np.full(len(_NONDET), np.nan)
    if t_det.size == 0:
        return out
    first = t_det[0]
    before = t_nd < first
    out[0] = before.sum()
    out[1] = (~before).sum()
    if before.any():
        lb = lim_nd[before]
        out[2], out[3], out[4] = lb[-1], lb.max(), np.median(lb)
        out[5] = lb[-1] - m_det[0]
        out[6] = np.median(lb) - m_det.min()
    return out


def _peak_colours(t, m, bc, n_bands, max_gap_days: float = 1.0) -> np.ndarray:
    """Colour between neighbouring bands at the brightest detection of the redder band.

    The bluer band's detection nearest in time (within ``max_gap_days``) is paired with the
    brightest detection of the redder band (for a supernova: the colour near peak, which separates
    the blue SNII/SLSN from the redder SNIa/Ibc). NaN when no such pair exists.
    """
    out = np.full(max(n_bands - 1, 0), np.nan)
    for k in range(n_bands - 1):
        a, b = bc == k, bc == k + 1
        if not a.any() or not b.any():
            continue
        ib = np.argmin(m[b])
        tb = t[b][ib]
        ta = t[a]
        ia = int(np.argmin(np.abs(ta - tb)))
        if abs(ta[ia] - tb) <= max_gap_days:
            out[k] = m[a][ia] - m[b][ib]
    return out


def _chunk_features(chunk: pd.DataFrame, ids, bands, villar: bool) -> np.ndarray:
    """Features (len(ids), n_features) of one chunk of a clean table (sorted by object, band, time)."""
    stats, fit = _extractors(villar)
    per_band = _band_names(villar)
    nb = len(per_band)
    n_stats = len(stats.names)
    names = feature_names(bands, villar=villar)
    out = np.full((len(ids), len(names)), np.nan)
    row_of = {o: i for i, o in enumerate(ids)}
    oid = chunk["object_id"].to_numpy()
    band = chunk["band"].to_numpy()
    mjd = chunk["mjd"].to_numpy(float)
    mag = chunk["mag"].to_numpy(float)
    err = chunk["mag_err"].to_numpy(float)
    det = chunk["detected"].to_numpy(bool)
    # boundaries of each object (the chunk is sorted by object)
    starts = np.flatnonzero(np.r_[True, oid[1:] != oid[:-1]])
    stops = np.r_[starts[1:], oid.size]
    band_code = np.full(oid.size, -1)
    for j, b in enumerate(bands):
        band_code[band == b] = j
    rows = np.array([row_of[oid[s]] for s in starts], dtype=int)
    det_lists = {b: ([], [], [], []) for b in bands}    # per band: rows, t, m, e of objects with detections
    for r, s0, s1 in zip(rows, starts, stops):
        for j, b in enumerate(bands):
            sel = slice(s0, s1)
            mb = band_code[sel] == j
            if not mb.any():
                continue
            t_all, m_all, e_all, d_all = mjd[sel][mb], mag[sel][mb], err[sel][mb], det[sel][mb]
            t, m, e = t_all[d_all], m_all[d_all], e_all[d_all]
            base = j * nb
            out[r, base + per_band.index("n_det")] = t.size
            i_nd = base + per_band.index("n_non_det_before")
            out[r, i_nd: i_nd + len(_NONDET)] = _nondet(t, m, t_all[~d_all], m_all[~d_all])
            if t.size:
                lst = det_lists[b]
                lst[0].append(r)
                lst[1].append(np.ascontiguousarray(t))
                lst[2].append(np.ascontiguousarray(m))
                lst[3].append(np.ascontiguousarray(e))
    for j, b in enumerate(bands):
        rr, ts, ms, es = det_lists[b]
        if not rr:
            continue
        rr = np.asarray(rr)
        base = j * nb
        out[rr, base: base + n_stats] = stats.many(list(zip(ts, ms, es)), fill_value=np.nan, sorted=True,
                                                   check=False)
        d = drw_iar(ts, ms, es)
        for key in ("drw_log_tau", "drw_log_sigma", "iar_phi"):
            out[rr, base + per_band.index(key)] = d[key]
        i_hi = base + per_band.index("mhps_high")
        hl = mhps_many(ts, ms, es)
        out[rr, i_hi] = hl[:, 0]
        out[rr, i_hi + 1] = hl[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rr, i_hi + 2] = np.where(hl[:, 0] > 0, hl[:, 1] / hl[:, 0], np.nan)
        if fit is not None:
            flux = [10 ** (-0.4 * (m - _ZP_UJY)) for m in ms]
            ferr = [f * e * 0.4 * np.log(10.0) for f, e in zip(flux, es)]
            i_v = base + nb - len(fit.names)
            out[rr, i_v: base + nb] = fit.many(list(zip(ts, flux, ferr)), fill_value=np.nan, sorted=True, check=False)
    # multiband period and folded features per band
    i_p = len(bands) * nb
    i_pk = i_p + len(PERIOD_NAMES) + 3 + 4 * np.arange(len(bands) - 1)     # the "_peak" colour columns
    for r, s0, s1 in zip(rows, starts, stops):
        sel = slice(s0, s1)
        dsel = det[sel] & (band_code[sel] >= 0)
        t, m, e, bc = mjd[sel][dsel], mag[sel][dsel], err[sel][dsel], band_code[sel][dsel]
        if t.size == 0:
            continue
        order = np.argsort(t, kind="stable")
        per = multiband_period(t[order], m[order], e[order], bc[order], len(bands))
        out[r, i_p: i_p + len(PERIOD_NAMES)] = per
        for j in range(len(bands)):
            mb = bc == j
            i_f = j * nb + per_band.index(FOLDED_NAMES[0])
            out[r, i_f: i_f + len(FOLDED_NAMES)] = folded_features(t[mb], m[mb], e[mb], per[0])
        out[r, -3:] = (t.size, float(t.max() - t.min()),
                       1.0 - det[sel].sum() / max(s1 - s0, 1))
        out[r, i_pk] = _peak_colours(t, m, bc, len(bands))
    # colours between neighbouring bands
    i_c = i_p + len(PERIOD_NAMES)
    for k, (a, b) in enumerate(_pairs(tuple(bands))):
        ja, jb = bands.index(a) * nb, bands.index(b) * nb
        for off, key in enumerate(("mean", "minimum", "median")):     # offset 3 is the colour at peak
            if key == "minimum":
                # brightest detection: mean minus half the amplitude would mix in noise; use the percentile-free min
                va = out[:, ja + per_band.index("mean")] - out[:, ja + per_band.index("amplitude")]
                vb = out[:, jb + per_band.index("mean")] - out[:, jb + per_band.index("amplitude")]
            else:
                va, vb = out[:, ja + per_band.index(key)], out[:, jb + per_band.index(key)]
            out[:, i_c + 4 * k + off] = va - vb
    out[~np.isfinite(out)] = np.nan
    return out


def _context_features(context: pd.DataFrame, ids, features: pd.DataFrame) -> pd.DataFrame:
    ctx = context.reindex(ids)
    out = pd.DataFrame(index=pd.Index(ids, name="object_id"), columns=list(_CONTEXT), dtype=float)
    if {"ra", "dec"} <= set(ctx.columns):
        from ..catalog import galactic_coordinates

        ok = ctx["ra"].notna() & ctx["dec"].notna()
        if ok.any():
            l_deg, b_deg = galactic_coordinates(ctx.loc[ok, "ra"].to_numpy(float), ctx.loc[ok, "dec"].to_numpy(float))
            out.loc[ok, "gal_l"], out.loc[ok, "gal_b"] = l_deg, b_deg
    w = {k: ctx[c].astype(float) for k, c in (("W1", "w1mpro"), ("W2", "w2mpro"), ("W3", "w3mpro")) if c in ctx}
    if "W1" in w and "W2" in w:
        out["W1-W2"] = w["W1"] - w["W2"]
    if "W2" in w and "W3" in w:
        out["W2-W3"] = w["W2"] - w["W3"]
    for b in ("g", "r"):
        for wb in ("W2", "W3"):
            if wb in w and f"mean_{b}" in features:
                out[f"{b}-{wb}"] = features[f"mean_{b}"] - w[wb]
    for c in ("sgscore1", "rb"):
        if c in ctx:
            out[c] = ctx[c].astype(float)
    return out


def extract_features(lightcurves, *, bands=None, n_jobs=1, chunk_size: int = 256, villar: bool = True,
                     context=None, progress=None) -> pd.DataFrame:
    """Features of every object of a long light-curve table (ALeRCE-like, ~80 per band).

    Per band (suffix ``_<band>``, detections only): the statistics of the ``light-curve`` package
    (amplitude, Anderson-Darling, beyond-1-std, cusum, eta_e, excess variance, percentile ranges,
    kurtosis, linear fit and trend, maximum slope, mean, median, MAD, percent amplitude, reduced
    chi^2, skew, std, Stetson K, weighted mean, duration, Otsu split); DRW log10 tau/sigma and IAR phi
    (:mod:`~agnlab.lightcurves._stochastic`); MHPS at 10 and 100 days; non-detection features
    (upper limits before/after the first detection); the Villar et al. (2019) fit in flux; harmonic
    and folded-curve features at the multiband period. Per object: the multiband period, whose grid
    reaches 0.04 d (:mod:`~agnlab.lightcurves._periodogram`), colours between neighbouring bands
    (mean, brightest, median, and at the peak of the redder band from same-night pairs), counts.
    With ``context`` (a table indexed by ``object_id`` with
    ``ra, dec`` and/or AllWISE ``w1mpro, w2mpro, w3mpro``, ``sgscore1``, ``rb``) the ALeRCE context
    features are added: Galactic coordinates (``agnlab.catalog.galactic_coordinates``), W1-W2,
    W2-W3, ZTF-WISE colours, star/galaxy score, real-bogus.

    Bad light curves never stop the batch: see :func:`agnlab.lightcurves.clean_lightcurves`;
    the ``flag`` column says ``"ok"``, ``"fixed: ..."`` or ``"rejected: ..."`` (features NaN).
    Missing values are NaN (never inf); a band with too few detections for a feature gives NaN.

    Parameters
    ----------
    lightcurves : DataFrame or pyarrow Table
        Long table ``object_id, mjd, band, mag, mag_err[, detected]``.
    bands : sequence of str, optional
        Bands to use, in wavelength order (default: those present among u, g, r, i, z, y).
        Rows in other bands are dropped (reported in ``flag``).
    n_jobs : int
        Threads over chunks of ``chunk_size`` objects (``agnlab.parallel.chunked_map``).
    villar : bool
        Include the Villar fit (about a third of the cost).

    Returns
    -------
    DataFrame indexed by ``object_id`` (input order), float feature columns
    (:func:`feature_names`) and a ``flag`` column.
    """
    from ._validate import as_long_table

    table = as_long_table(lightcurves)
    if bands is None:
        present = set(pd.unique(table["band"]))
        bands = tuple(b for b in BAND_WAVE_UM if b in present) or ("g", "r")
    bands = tuple(bands)
    unknown = [b for b in bands if b not in BAND_WAVE_UM]
    if unknown:
        raise ValueError(f"bands: unknown band(s) {unknown}; known: {list(BAND_WAVE_UM)}")
    ids = list(pd.unique(table["object_id"]))
    clean, flags = clean_lightcurves(table, bands=bands)
    names = feature_names(bands, villar=villar)
    if not ids:
        return pd.DataFrame(columns=[*names, "flag"]).rename_axis("object_id")
    good_ids = list(pd.unique(clean["object_id"]))
    starts = np.flatnonzero(np.r_[True, clean["object_id"].to_numpy()[1:] != clean["object_id"].to_numpy()[:-1]]) \
        if len(clean) else np.zeros(0, int)
    bounds = np.r_[starts, len(clean)]
    chunks = []
    for k in range(0, len(good_ids), chunk_size):
        lo, hi = bounds[k], bounds[min(k + chunk_size, len(good_ids))]
        chunks.append((clean.iloc[lo:hi], good_ids[k: k + chunk_size]))
    parts = chunked_map(lambda c: _chunk_features(c[0], c[1], bands, villar), chunks, n_jobs=n_jobs,
                        progress=progress, desc="features", unit="chunk")
    feats = pd.DataFrame(np.vstack(parts) if parts else np.zeros((0, len(names))), columns=names,
                         index=pd.Index(good_ids, name="object_id"))
    feats = feats.reindex(pd.Index(ids, name="object_id"))
    if context is not None:
        feats = pd.concat([feats, _context_features(context, ids, feats)], axis=1)
    feats["flag"] = flags.reindex(feats.index).fillna("ok").to_numpy(dtype=object)
    return feats
