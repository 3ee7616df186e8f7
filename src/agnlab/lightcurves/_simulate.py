"""``simulate``: labelled multi-band light curves of the 15 classes on a survey cadence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import check_random_state
from ._cadence import SURVEYS, draw_cadence, observe
from ._classes import CLASSES
from ._generators import GENERATORS

__all__ = ["CHANGING_STATE_KINDS", "LIGHTCURVE_COLUMNS", "simulate"]

LIGHTCURVE_COLUMNS = ("object_id", "mjd", "band", "mag", "mag_err", "detected")
CHANGING_STATE_KINDS = ("turn_on", "turn_off", "flare")
_TRANSIENTS = ("SNIa", "SNII", "SNIbc", "SLSN")


def _one(rng, cls, survey, event):
    if cls in _TRANSIENTS:
        # alerts exist only around the event: 20-60 d of history (non-detections) and 80-250 d after
        start = 58200.0 + rng.uniform(0.0, 700.0)
        pre, post = rng.uniform(20.0, 60.0), rng.uniform(80.0, 250.0)
        mjd, band = draw_cadence(rng, survey, window=(start, start + pre + post))
        mag_true = GENERATORS[cls](rng, mjd, band, t0=start + pre)
    else:
        mjd, band = draw_cadence(rng, survey)
        mag_true = GENERATORS[cls](rng, mjd, band, event=event) if event else GENERATORS[cls](rng, mjd, band)
    mag, err, det = observe(rng, survey, mjd, band, mag_true, err_scale=rng.uniform(0.85, 1.15))
    return mjd, band, mag, err, det


def simulate(n_per_class, *, classes=None, survey: str = "ztf", seed=0, changing_state_fraction: float = 0.0,
             changing_state_kinds=CHANGING_STATE_KINDS):
    """Simulate labelled light curves (long table) of the ALeRCE classes.

    Every object gets its own survey cadence (seasons, weather gaps, same-night
    band pairs, 20-300 epochs per band for ZTF), magnitude-dependent errors,
    upper limits (``detected=False``, ``mag`` = the 5-sigma limit, ``mag_err``
    NaN) and rare photometric artefacts; the class generators and their sources
    are described in :mod:`agnlab.lightcurves._generators`. Brightness is drawn
    over the survey's whole useful range, so faint, short and sparse curves are
    common and classes overlap as real ones do.

    Parameters
    ----------
    n_per_class : int or dict
        Objects per class (a dict ``class -> n`` gives unbalanced sets).
    classes : sequence of str, optional
        Subset of :data:`agnlab.lightcurves.CLASSES` (default: all 15).
    survey : {"ztf", "lsst"}
        ZTF-like g, r or LSST-like ugrizy cadence and depth.
    seed : int or numpy Generator
    changing_state_fraction : float
        Fraction of AGN and QSO objects given a changing-state event (an
        abrupt turn-on, turn-off or flare of the AGN flux, see
        :func:`agnlab.lightcurves._generators.changing_state_factor`).
    changing_state_kinds : sequence of str
        Kinds of event to draw from.

    Returns
    -------
    lightcurves : DataFrame
        Columns ``object_id, mjd, band, mag, mag_err, detected``, sorted by object and time.
    labels : DataFrame
        Columns ``object_id, class, changing_state`` (bool) and ``event`` (kind or ``"none"``).

    Examples
    --------
    >>> lc, labels = simulate(2, classes=["QSO", "RRL"], seed=1)
    >>> sorted(labels["class"].unique())
    ['QSO', 'RRL']
    """
    if survey not in SURVEYS:
        raise ValueError(f"survey must be one of {sorted(SURVEYS)}, got {survey!r}")
    classes = tuple(CLASSES if classes is None else classes)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ValueError(f"unknown class(es) {unknown}; known: {list(CLASSES)}")
    counts = dict(n_per_class) if isinstance(n_per_class, dict) else {c: n_per_class for c in classes}
    for c, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n_per_class must be a non-negative int (class {c!r}: {n!r})")
    if not 0.0 <= changing_state_fraction <= 1.0:
        raise ValueError(f"changing_state_fraction must lie in [0, 1], got {changing_state_fraction}")
    bad_kinds = [k for k in changing_state_kinds if k not in CHANGING_STATE_KINDS]
    if bad_kinds:
        raise ValueError(f"unknown changing-state kind(s) {bad_kinds}; use {CHANGING_STATE_KINDS}")
    rng = check_random_state(seed)
    sv = SURVEYS[survey]
    tag = f"{survey}{seed}" if isinstance(seed, (int, np.integer)) else survey
    parts, labels = [], []
    i = 0
    for cls in classes:
        for _ in range(int(counts.get(cls, 0))):
            event = None
            if cls in ("AGN", "QSO") and changing_state_fraction > 0 and rng.random() < changing_state_fraction:
                event = str(rng.choice(list(changing_state_kinds)))
            for _ in range(20):       # a survey knows an object only once it is detected: >= 3 detections
                mjd, band, mag, err, det = _one(rng, cls, sv, event)
                if det.sum() >= 3:
                    break
            oid = f"{tag}-{i:07d}"
            parts.append((oid, mjd, band, mag, err, det))
            labels.append((oid, cls, event is not None, event or "none"))
            i += 1
    if not parts:
        raise ValueError("nothing to simulate: n_per_class is 0 for every class")
    n = np.array([p[1].size for p in parts])
    lc = pd.DataFrame({
        "object_id": np.repeat([p[0] for p in parts], n),
        "mjd": np.concatenate([p[1] for p in parts]),
        "band": np.concatenate([p[2] for p in parts]),
        "mag": np.concatenate([p[3] for p in parts]),
        "mag_err": np.concatenate([p[4] for p in parts]),
        "detected": np.concatenate([p[5] for p in parts]),
    })
    lab = pd.DataFrame(labels, columns=["object_id", "class", "changing_state", "event"])
    return lc, lab
