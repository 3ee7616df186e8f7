"""WISE AGN selection (Assef et al. colour cut), quality limits and sky masks, with a per-step report."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ._columns import _as_frame, _lower_columns, clean_photometry, require_columns, validate_positions
from ._sky import exclusion_mask, galactic_coordinates, unit_vectors

__all__ = ["ASSEF_PRESETS", "Selection", "assef_cut", "select_wise_agn"]

#: Named (alpha, beta, gamma) presets of W1-W2 > alpha * exp(beta * (W2 - gamma)^2) (for W2 > gamma;
#: W1-W2 > alpha for brighter sources). ``"default"`` is the cut used in the reference study.
ASSEF_PRESETS = {
    "default": (0.662, 0.232, 13.97),
    "assef13_r90": (0.662, 0.232, 13.97),   # Assef et al. 2013, 90 % reliability
    "assef13_r75": (0.530, 0.183, 13.76),   # Assef et al. 2013, 75 % reliability
    "assef18_r90": (0.650, 0.153, 13.86),   # Assef et al. 2018, R90
    "assef18_r75": (0.486, 0.092, 13.07),   # Assef et al. 2018, R75
    "assef18_c75": (0.710, 0.0, 0.0),       # Assef et al. 2018, C75: W1-W2 > 0.71
    "assef18_c90": (0.500, 0.0, 0.0),       # Assef et al. 2018, C90: W1-W2 > 0.50
    "stern12": (0.800, 0.0, 0.0),           # Stern et al. 2012: W1-W2 >= 0.8 (with W2 < 15.05)
}


class Selection(NamedTuple):
    """Result of :func:`select_wise_agn`: unpacks as ``mask, report``.

    Attributes
    ----------
    mask : ndarray of bool, shape (n,)
        Sources passing every step.
    report : pandas.DataFrame
        One row per step: ``step``, ``removed`` (sources first removed at this
        step), ``remaining``, ``detail``.
    """

    mask: np.ndarray
    report: pd.DataFrame


def assef_cut(w1_minus_w2, w2, *, alpha=0.662, beta=0.232, gamma=13.97, bright_flat=True) -> np.ndarray:
    """True where ``W1-W2 > alpha * exp(beta * (W2 - gamma)^2)`` (Vega magnitudes).

    With ``bright_flat`` (as in Assef et al.), sources brighter than ``gamma``
    only need ``W1-W2 > alpha``. NaN inputs give False.
    """
    w12 = np.asarray(w1_minus_w2, float)
    w2 = np.asarray(w2, float)
    dw = w2 - gamma
    if bright_flat:
        dw = np.where(dw > 0, dw, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        return w12 > alpha * np.exp(beta * dw * dw)


def select_wise_agn(table, *, alpha=None, beta=None, gamma=None, preset="default", bright_flat=True,
                    snr_min=5.0, snr_bands=("w1", "w2"), w2_max=None, w1_max=None,
                    require_w3=True, clean_cc_flags=True, point_sources_only=False,
                    b_min_deg=10.0, gc_radius_deg=30.0, exclusion_regions=None) -> Selection:
    """Select WISE AGN: photometry quality, sky masks, then the Assef et al. colour cut.

    Steps (in order, each reported with the number of sources it removed):
    ``positions`` (NaN / out-of-range RA, Dec), ``photometry`` (null or
    sentinel W1/W2[/W3] magnitudes), ``snr`` (S/N >= ``snr_min`` in
    ``snr_bands``, from ``{band}snr`` or 1.0857 / ``{band}sigmpro``),
    ``mag_limits``, ``cc_flags`` (first characters ``0`` for W1 and W2),
    ``ext_flg``, ``galactic_latitude`` (|b| >= ``b_min_deg``), ``galactic_centre``
    (more than ``gc_radius_deg`` from l = b = 0), ``exclusion_regions`` (circles
    from a user table), ``colour_cut``.

    Parameters
    ----------
    table : pandas.DataFrame or astropy Table
        AllWISE-like columns: ``ra``, ``dec`` (deg), ``w1mpro``, ``w2mpro``
        (and ``w3mpro`` if ``require_w3``), optional ``*sigmpro``, ``*snr``,
        ``cc_flags``, ``ext_flg``.
    alpha, beta, gamma : float, optional
        Override the preset's colour-cut parameters.
    preset : str
        Key of :data:`ASSEF_PRESETS`.
    snr_min : float or None
        Minimum S/N (None skips the step).
    w1_max, w2_max : float, optional
        Faint magnitude limits (Vega).
    b_min_deg, gc_radius_deg : float or None
        Galactic-plane and Galactic-centre masks (None or 0 skips).
    exclusion_regions : table, optional
        ``ra``, ``dec``, ``radius_arcsec`` / ``radius_arcmin`` / ``radius_deg``
        (nearby galaxies, nebulae, bright stars).

    Returns
    -------
    Selection
        ``(mask, report)``.

    Examples
    --------
    >>> from agnlab.catalog import make_mock_catalog, select_wise_agn
    >>> mock = make_mock_catalog(n_sources=2000, seed=0)
    >>> mask, report = select_wise_agn(mock.wise, exclusion_regions=mock.regions)
    >>> int(report["removed"].sum()) == len(mock.wise) - int(mask.sum())
    True
    """
    if preset not in ASSEF_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(ASSEF_PRESETS)}")
    pa, pb, pg = ASSEF_PRESETS[preset]
    alpha = pa if alpha is None else float(alpha)
    beta = pb if beta is None else float(beta)
    gamma = pg if gamma is None else float(gamma)
    df = _lower_columns(_as_frame(table))
    bands = ("w1", "w2", "w3") if require_w3 else ("w1", "w2")
    require_columns(df, ("ra", "dec") + tuple(f"{b}mpro" for b in bands), name="WISE table")
    n = len(df)
    alive = np.ones(n, dtype=bool)
    rows = []

    def step(name, keep, detail=""):
        nonlocal alive
        keep = np.asarray(keep, dtype=bool)
        removed = int((alive & ~keep).sum())
        alive &= keep
        rows.append({"step": name, "removed": removed, "remaining": int(alive.sum()), "detail": detail})

    valid, counts = validate_positions(df, on_invalid="flag", name="WISE table")
    step("positions", valid, ", ".join(f"{k}={v}" for k, v in counts.items()))
    clean, pcounts = clean_photometry(df, bands=bands, name="WISE table")
    mags = {b: clean[f"{b}mpro"].to_numpy(float) for b in bands}
    ok = np.ones(n, bool)
    for b in bands:
        ok &= np.isfinite(mags[b])
    step("photometry", ok,
         "; ".join(f"{c}: " + ", ".join(f"{k}={v}" for k, v in d.items()) for c, d in pcounts.items()))
    if snr_min is not None:
        keep = np.ones(n, bool)
        used = []
        for b in snr_bands:
            if f"{b}snr" in df.columns:
                snr = pd.to_numeric(df[f"{b}snr"], errors="coerce").to_numpy(float)
                used.append(f"{b}snr")
            elif f"{b}sigmpro" in clean.columns:
                with np.errstate(divide="ignore", invalid="ignore"):
                    snr = 1.0857 / clean[f"{b}sigmpro"].to_numpy(float)
                used.append(f"1.0857/{b}sigmpro")
            else:
                raise ValueError(f"snr_min={snr_min} needs column {b}snr or {b}sigmpro in the WISE table "
                                 "(or pass snr_min=None)")
            keep &= np.nan_to_num(snr, nan=-np.inf) >= snr_min
        step("snr", keep, f"S/N >= {snr_min} from {', '.join(used)}")
    if w1_max is not None or w2_max is not None:
        keep = np.ones(n, bool)
        with np.errstate(invalid="ignore"):
            if w1_max is not None:
                keep &= mags["w1"] <= w1_max
            if w2_max is not None:
                keep &= mags["w2"] <= w2_max
        step("mag_limits", keep, f"w1 <= {w1_max}, w2 <= {w2_max}")
    if clean_cc_flags:
        if "cc_flags" in df.columns:
            cc = df["cc_flags"].astype(str).str.ljust(2, "0")
            keep = (cc.str[0] == "0").to_numpy() & (cc.str[1] == "0").to_numpy()
            step("cc_flags", keep, "W1 and W2 contamination flags == '0'")
        else:
            rows.append({"step": "cc_flags", "removed": 0, "remaining": int(alive.sum()),
                         "detail": "skipped: no cc_flags column"})
    if point_sources_only:
        require_columns(df, ("ext_flg",), name="WISE table (point_sources_only=True)")
        step("ext_flg", pd.to_numeric(df["ext_flg"], errors="coerce").to_numpy() == 0, "ext_flg == 0")
    ra = np.where(valid, df["ra"].to_numpy(float, na_value=np.nan), 0.0)
    dec = np.where(valid, df["dec"].to_numpy(float, na_value=np.nan), 0.0)
    if b_min_deg or gc_radius_deg:
        l_deg, b_deg = galactic_coordinates(ra, dec)
        if b_min_deg:
            step("galactic_latitude", np.abs(b_deg) >= b_min_deg, f"|b| >= {b_min_deg} deg")
        if gc_radius_deg:
            cos_d = unit_vectors(l_deg, b_deg)[:, 0]  # cos of the angle from (l, b) = (0, 0)
            step("galactic_centre", cos_d < np.cos(np.deg2rad(gc_radius_deg)),
                 f"> {gc_radius_deg} deg from the Galactic centre")
    if exclusion_regions is not None:
        inside = exclusion_mask(ra, dec, exclusion_regions)
        step("exclusion_regions", ~inside, f"{len(exclusion_regions)} circular regions")
    colour = assef_cut(mags["w1"] - mags["w2"], mags["w2"], alpha=alpha, beta=beta, gamma=gamma,
                       bright_flat=bright_flat)
    step("colour_cut", colour, f"W1-W2 > {alpha} exp({beta} (W2 - {gamma})^2)")
    return Selection(alive, pd.DataFrame(rows, columns=["step", "removed", "remaining", "detail"]))
