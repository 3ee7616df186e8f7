"""A synthetic emission-line IFU cube with spatial structure (demos, tests, benchmarks)."""

from __future__ import annotations

import numpy as np

from ..validation import check_random_state
from ._forward import get_diagnostic, line_emissivities

__all__ = ["make_synthetic_cube"]


def make_synthetic_cube(shape=(60, 60), *, tem_diag="[OIII] 4363/5007", den_diag="[SII] 6731/6716",
                        seed=0, noise=0.01, relative_error=0.01, nan_fraction=0.02, missing_line_spaxels=3):
    """Line-flux and error maps of a synthetic H II region / NLR with structure.

    The electron temperature falls from ~15,000 K in the centre to ~8,500 K
    at the edge, with a hot knot; log Ne has a diffuse level of ~2.5 and a dense
    clump reaching ~4.3 plus a low-density corner (log Ne < 1).  The
    emission measure is a smooth blob with two knots, so faint lines (e.g.
    [O III] 4363) have low signal-to-noise in the outskirts.  Emissivities
    come from PyNeb, so the ratios are exactly PyNeb's.

    Parameters
    ----------
    shape : (int, int)
        (ny, nx) spaxels.
    tem_diag, den_diag : str
        PyNeb diagnostics whose lines are simulated.
    seed : int
        Random seed (noise, NaN spaxels).
    noise : float
        Constant noise sigma of each line map, as a fraction of that line's
        peak flux (so the peak signal-to-noise is about 1 / noise).
    relative_error : float
        Additional error proportional to the flux (calibration).
    nan_fraction : float
        Fraction of spaxels set to NaN in every line (e.g. a masked star and
        the field edge).
    missing_line_spaxels : int
        Spaxels where only the faintest temperature line is NaN.

    Returns
    -------
    dict
        ``fluxes`` and ``errors`` (label -> (ny, nx) arrays), ``te_k`` and
        ``log_ne`` (true maps), ``lines`` (labels), ``nan_mask`` (bool map of
        spaxels with any NaN line).
    """
    ny, nx = (int(s) for s in shape)
    if ny < 2 or nx < 2:
        raise ValueError(f"shape must be at least (2, 2), got {shape}")
    rng = check_random_state(seed)
    y, x = np.mgrid[0:ny, 0:nx]
    xc, yc = (x - (nx - 1) / 2) / (nx / 2), (y - (ny - 1) / 2) / (ny / 2)  # in [-1, 1]
    r = np.hypot(xc, yc)
    te = 8500.0 + 6500.0 * np.exp(-(r / 0.7) ** 2)
    te += 3000.0 * np.exp(-(((xc - 0.45) ** 2 + (yc + 0.35) ** 2) / 0.02))  # hot knot
    log_ne = 2.5 + 0.3 * xc
    log_ne += 1.6 * np.exp(-(((xc + 0.35) ** 2 + (yc - 0.3) ** 2) / 0.05))  # dense clump
    log_ne -= 1.9 * np.clip((xc + yc - 1.1) / 0.8, 0.0, 1.0)  # low-density corner
    em = 0.15 + np.exp(-(r / 0.6) ** 2)
    em += 0.8 * np.exp(-(((xc + 0.35) ** 2 + (yc - 0.3) ** 2) / 0.03))
    em += 0.5 * np.exp(-(((xc - 0.45) ** 2 + (yc + 0.35) ** 2) / 0.03))

    specs = [get_diagnostic(tem_diag), get_diagnostic(den_diag)]
    fluxes = {}
    errors = {}
    for spec in specs:
        emis = line_emissivities(spec, te.ravel(), 10.0 ** log_ne.ravel())
        emis = {k: v.reshape(te.shape) * em for k, v in emis.items()}
        peak = max(float(np.max(v)) for v in emis.values())
        for k, v in emis.items():
            if k in fluxes:
                continue
            f = v / peak * 100.0
            sig = np.sqrt((noise * float(np.max(f))) ** 2 + (relative_error * f) ** 2)
            fluxes[k] = f + sig * rng.standard_normal(f.shape)
            errors[k] = sig
    lines = list(fluxes)
    nan_mask = np.zeros((ny, nx), dtype=bool)
    # a masked foreground star and random dead spaxels
    star = np.hypot(x - 0.8 * nx, y - 0.2 * ny) < max(1.0, 0.06 * min(nx, ny))
    nan_mask |= star
    n_dead = int(round(nan_fraction * nx * ny)) - int(star.sum())
    if n_dead > 0:
        flat = rng.choice(nx * ny, size=n_dead, replace=False)
        nan_mask.ravel()[flat] = True
    for k in lines:
        fluxes[k][nan_mask] = np.nan
        errors[k][nan_mask] = np.nan
    # a few spaxels with only the faint temperature line missing
    faint = min(specs[0].lines, key=lambda k: np.nanmedian(fluxes[k]))
    ok = np.flatnonzero(~nan_mask)
    if missing_line_spaxels > 0 and ok.size:
        pick = rng.choice(ok, size=min(int(missing_line_spaxels), ok.size), replace=False)
        fluxes[faint].ravel()[pick] = np.nan
        nan_mask.ravel()[pick] = True
    return {"fluxes": fluxes, "errors": errors, "te_k": te, "log_ne": log_ne, "lines": lines,
            "nan_mask": nan_mask}
