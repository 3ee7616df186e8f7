"""Merging the stamp classifier's probabilities with the light-curve classifier's as a light curve grows.

The rule (documented; no fitted parameters):

1. The light-curve probabilities over the 15 classes of :data:`CLASSES` are summed into the three stamp
   classes that have light curves (:data:`LC_TO_STAMP`: AGN, QSO, Blazar -> ``AGN``; the four SNe ->
   ``SN``; the periodic classes, YSO and CV/Nova -> ``VS``).
2. Asteroids and bogus alerts have no light-curve class. The light curve therefore says nothing about
   ``bogus`` (it keeps the stamp's probability ``q_bogus``), while a source detected ``n >= 2`` times at
   one position is not an asteroid (``q_asteroid = asteroid_floor``; the stamp's value when ``n < 2``).
   The light-curve side is then ``[(1 - q_bogus - q_asteroid) * p_lc(AGN, SN, VS), q_asteroid, q_bogus]``.
3. Logarithmic opinion pool: ``log p = w(n) log p_stamp + (1 - w(n)) log p_lc + const`` with the stamp
   weight ``w(n) = n_half / (n_half + n - 1)``: 1 at the first detection (the stamp alone), 1/2 after
   ``n_half + 1`` detections, falling as ``1/n`` (the light curve dominates once it is informative).
   Where the light-curve probabilities are missing (NaN, or the object not classified yet), ``w = 1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._stamps import STAMP_CLASSES

__all__ = ["LC_TO_STAMP", "combine_stamp_lightcurve", "stamp_weight"]

#: light-curve class -> stamp class
LC_TO_STAMP: dict[str, str] = {
    "AGN": "AGN", "QSO": "AGN", "Blazar": "AGN",
    "SNIa": "SN", "SNII": "SN", "SNIbc": "SN", "SLSN": "SN",
    "YSO": "VS", "CV/Nova": "VS", "LPV": "VS", "E": "VS", "RRL": "VS", "CEP": "VS", "DSCT": "VS",
    "Periodic-Other": "VS",
}


def stamp_weight(n_detections, n_half: float = 5.0) -> np.ndarray:
    """Weight of the stamp probabilities after ``n_detections`` detections: ``n_half / (n_half + n - 1)``."""
    n = np.maximum(np.asarray(n_detections, dtype=float), 1.0)
    if n_half <= 0:
        raise ValueError(f"n_half must be positive, got {n_half}")
    return n_half / (n_half + n - 1.0)


def _as_frame(p, name, columns=None):
    if isinstance(p, pd.DataFrame):
        return p
    a = np.asarray(p, dtype=float)
    if a.ndim != 2 or columns is None or a.shape[1] != len(columns):
        raise ValueError(f"{name}: give a DataFrame with class columns, or an array (n, {len(columns or [])})")
    return pd.DataFrame(a, columns=list(columns))


def combine_stamp_lightcurve(stamp_proba, lc_proba, n_detections, *, n_half: float = 5.0,
                             asteroid_floor: float = 1e-3, eps: float = 1e-6) -> pd.DataFrame:
    """Merged probabilities over :data:`STAMP_CLASSES` (rule in the module docstring).

    Parameters
    ----------
    stamp_proba : DataFrame (n, 5) or array
        From :meth:`StampClassifier.predict_proba` (columns the stamp classes).
    lc_proba : DataFrame (n, k) or None
        Light-curve class probabilities, columns among the 15 light-curve classes and/or ``AGN, SN, VS``
        directly (e.g. ``HierarchicalClassifier.predict_proba``); rows aligned with ``stamp_proba``;
        NaN rows (or ``None``) mean no light-curve classification yet.
    n_detections : int or array (n,)
        Detections in the light curve so far (1 = the first alert).
    n_half : float
        Detections (after the first) at which both sources weigh equally.

    Returns
    -------
    DataFrame (n, 6)
        The five class probabilities (rows sum to 1) and ``stamp_weight``.
    """
    sp = _as_frame(stamp_proba, "stamp_proba", STAMP_CLASSES)
    missing = [c for c in STAMP_CLASSES if c not in sp.columns]
    if missing:
        raise ValueError(f"stamp_proba: missing class column(s) {missing}")
    ps = sp[list(STAMP_CLASSES)].to_numpy(float)
    n = ps.shape[0]
    ndet = np.broadcast_to(np.asarray(n_detections, dtype=float), (n,))
    if np.any(~np.isfinite(ndet)) or np.any(ndet < 1):
        raise ValueError("n_detections must be finite and >= 1")
    lc3 = np.full((n, 3), np.nan)
    if lc_proba is not None:
        lp = _as_frame(lc_proba, "lc_proba")
        if len(lp) != n:
            raise ValueError(f"lc_proba has {len(lp)} rows, stamp_proba {n}")
        unknown = [c for c in lp.columns if c not in LC_TO_STAMP and c not in ("AGN", "SN", "VS")]
        if unknown:
            raise ValueError(f"lc_proba: unknown class column(s) {unknown}")
        lc3 = np.zeros((n, 3))
        for c in lp.columns:
            lc3[:, ("AGN", "SN", "VS").index(LC_TO_STAMP.get(c, c))] += lp[c].to_numpy(float)
        tot = lc3.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            lc3 = lc3 / tot
        lc3[~(np.isfinite(lc3).all(axis=1) & (tot[:, 0] > 0))] = np.nan
    has_lc = np.isfinite(lc3).all(axis=1)
    w = np.where(has_lc, stamp_weight(ndet, n_half), 1.0)
    q_bog = ps[:, 4]
    q_ast = np.where(ndet >= 2, asteroid_floor, ps[:, 3])
    rest = np.clip(1.0 - q_bog - q_ast, 0.0, 1.0)[:, None]
    pl = np.column_stack([rest * np.nan_to_num(lc3), q_ast, q_bog])
    logp = w[:, None] * np.log(np.clip(ps, eps, 1)) + (1 - w[:, None]) * np.log(np.clip(pl, eps, 1))
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    p /= p.sum(axis=1, keepdims=True)
    bad = ~np.isfinite(ps).all(axis=1)
    p[bad] = np.nan
    out = pd.DataFrame(p, columns=list(STAMP_CLASSES), index=sp.index)
    out["stamp_weight"] = w
    return out
