"""BPT classification ([N II]/H-alpha vs [O III]/H-beta; Baldwin, Phillips & Terlevich 1981).

Demarcations:

* Kauffmann et al. (2003, MNRAS 346, 1055), the empirical upper envelope of star-forming galaxies:
  log([O III]/Hb) = 0.61 / (log([N II]/Ha) - 0.05) + 1.30;
* Kewley et al. (2001, ApJ 556, 121), the theoretical maximum starburst line:
  log([O III]/Hb) = 0.61 / (log([N II]/Ha) - 0.47) + 1.19.

Below Kauffmann (and left of its asymptote): ``star-forming``; between the two: ``composite``;
above Kewley (or right of its asymptote): ``agn``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BPT_CLASSES", "BPT_LINES", "bpt_class", "bpt_class_from_fluxes", "kauffmann03", "kewley01"]

BPT_CLASSES = ("star-forming", "composite", "agn", "unclassified")
"""Class names returned by :func:`bpt_class` (``unclassified``: a line missing, <= 0 or below the S/N cut)."""

BPT_LINES = ("NII6583", "Halpha", "OIII5007", "Hbeta")
"""Grid line names of the [N II]-BPT diagram."""


def kauffmann03(log_nii_ha):
    """Kauffmann et al. (2003) line: log([O III]/Hb) at log([N II]/Ha) (NaN right of the asymptote at 0.05)."""
    x = np.asarray(log_nii_ha, dtype=float)
    with np.errstate(all="ignore"):
        return np.where(x < 0.05, 0.61 / (x - 0.05) + 1.30, np.nan)


def kewley01(log_nii_ha):
    """Kewley et al. (2001) line: log([O III]/Hb) at log([N II]/Ha) (NaN right of the asymptote at 0.47)."""
    x = np.asarray(log_nii_ha, dtype=float)
    with np.errstate(all="ignore"):
        return np.where(x < 0.47, 0.61 / (x - 0.47) + 1.19, np.nan)


def bpt_class(log_nii_ha, log_oiii_hb) -> np.ndarray:
    """BPT class of every point (log ratios; any common shape; NaN -> ``unclassified``).

    Examples
    --------
    >>> bpt_class([-0.8, -0.2, 0.1, np.nan], [0.0, 0.1, 0.8, 0.0]).tolist()
    ['star-forming', 'composite', 'agn', 'unclassified']
    """
    x, y = np.broadcast_arrays(np.asarray(log_nii_ha, dtype=float), np.asarray(log_oiii_hb, dtype=float))
    out = np.full(x.shape, "unclassified", dtype=object)
    ok = np.isfinite(x) & np.isfinite(y)
    below_ka = (x < 0.05) & (y < kauffmann03(x))
    below_ke = (x < 0.47) & (y < kewley01(x))
    out[ok & below_ka] = "star-forming"
    out[ok & ~below_ka & below_ke] = "composite"
    out[ok & ~below_ke] = "agn"
    return out.astype(str)


def bpt_class_from_fluxes(fluxes, errors=None, *, min_snr=3.0) -> np.ndarray:
    """BPT class from line fluxes (grid names :data:`BPT_LINES`); lines <= 0, NaN or below ``min_snr`` -> unclassified.

    An undetected [N II] 6583 or [O III] 5007 is replaced by its upper limit (flux + ``min_snr``
    sigma); when that point lies below the Kauffmann line the spaxel is star-forming (the line
    falls with [N II]/H-alpha, so the true point is below it too), otherwise unclassified.

    Parameters
    ----------
    fluxes, errors : DataFrame (or dict of arrays of one shape)
        ``errors`` optional (no S/N cut without it).
    min_snr : float

    Returns
    -------
    ndarray of str, shape of the flux arrays
    """
    missing = [ln for ln in BPT_LINES if ln not in fluxes]
    if missing:
        raise ValueError(f"BPT classification needs the lines {list(BPT_LINES)}; missing {missing}")
    f = {ln: np.asarray(fluxes[ln], dtype=float) for ln in BPT_LINES}
    shape = np.broadcast_shapes(*(a.shape for a in f.values()))
    good = {}
    for ln, a in f.items():
        g = np.isfinite(a) & (a > 0)
        if errors is not None:
            if ln not in errors:
                raise ValueError(f"errors: no column for {ln}")
            e = np.asarray(errors[ln], dtype=float)
            with np.errstate(all="ignore"):
                g &= np.isfinite(e) & (e > 0) & (a >= min_snr * e)
        good[ln] = np.broadcast_to(g, shape)
    ok = good["Halpha"] & good["Hbeta"]
    det = ok & good["NII6583"] & good["OIII5007"]
    with np.errstate(all="ignore"):
        x = np.where(det, np.log10(f["NII6583"] / f["Halpha"]), np.nan)
        y = np.where(det, np.log10(f["OIII5007"] / f["Hbeta"]), np.nan)
        out = bpt_class(x, y)
        if errors is not None:  # undetected [N II] or [O III]: upper limits (flux + min_snr sigma) below Kauffmann
            def upper(ln, norm):
                e = np.broadcast_to(np.asarray(errors[ln], dtype=float), shape)
                fl = np.broadcast_to(f[ln], shape)  # a NaN flux (no measurement) gives no upper limit
                v = np.where(good[ln], fl, np.where(np.isfinite(fl), np.maximum(fl, 0.0) + min_snr * e, np.nan))
                return np.log10(v) - np.log10(f[norm])

            x_ul, y_ul = upper("NII6583", "Halpha"), upper("OIII5007", "Hbeta")
            sf = ok & ~det & np.isfinite(x_ul) & np.isfinite(y_ul) & (x_ul < 0.05) & (y_ul < kauffmann03(x_ul))
            out = np.where(sf, "star-forming", out)
    return out
