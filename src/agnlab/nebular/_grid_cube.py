"""A synthetic IFU cube drawn from photoionisation-grid models (known truth, for demos, tests, benchmarks)."""

from __future__ import annotations

import numpy as np

from ..validation import check_random_state

__all__ = ["GRID_CUBE_LINES", "make_grid_cube"]

GRID_CUBE_LINES = ("OII3726", "OII3729", "NeIII3869", "OIII4363", "HeII4686", "Hbeta", "OIII5007", "HeI5876",
                   "OI6300", "NII6583", "Halpha", "SII6716", "SII6731")
"""Default optical lines of :func:`make_grid_cube` (grid line names, present in both MAPPINGS grids)."""

_OH, _U, _PK, _EP = "12 + log O/H", "log U", "log P/k", "log E_peak"


def _snap(grid, targets: dict) -> np.ndarray:
    """Row of the grid model nearest to the target parameter fields (distance in node steps; holes allowed)."""
    idx = grid.node_index().to_numpy(dtype=float)  # (n_models, n_params)
    n = next(iter(targets.values())).size
    want = np.empty((n, len(grid.param_names)))
    for j, p in enumerate(grid.param_names):
        nodes = grid.axes[p]
        t = np.asarray(targets.get(p, np.full(n, nodes[len(nodes) // 2])), dtype=float).ravel()
        want[:, j] = np.interp(t, nodes, np.arange(len(nodes)))  # fractional node position
    rows = np.empty(n, dtype=np.int64)
    for s in range(0, n, 256):  # bounded memory: 256 x n_models distances at a time
        d = ((want[s:s + 256, None, :] - idx[None, :, :]) ** 2).sum(axis=-1)
        rows[s:s + 256] = d.argmin(axis=1)
    return rows


def make_grid_cube(shape=(40, 40), *, hii_grid="mappings-hii", nlr_grid="mappings-nlr", lines=GRID_CUBE_LINES,
                   seed=0, hbeta_peak_snr=150.0, relative_error=0.03, nan_fraction=0.02):
    """Line-flux and error maps of a galaxy with an AGN ionisation cone, every spaxel a grid model.

    A star-forming disc (HII-grid models) has a metallicity gradient (12 + log O/H from ~9.1 in the
    centre to ~8.1 at the edge), log U rising outwards and log P/k falling; a bi-cone along the x-axis
    (NLR-grid models, when ``nlr_grid`` is given) has log U falling and log E_peak varying with the
    distance from the nucleus. Each spaxel takes the fluxes of the grid model nearest to these
    fields, so the truth maps are exact grid parameters; fluxes are scaled by a surface-brightness
    profile and noised (constant noise per line, 1/``hbeta_peak_snr`` of the peak H-beta flux, plus
    ``relative_error``), so faint lines and the outskirts have low signal-to-noise.

    Parameters
    ----------
    shape : (int, int)
    hii_grid, nlr_grid : PhotoionizationGrid or str or None
        Grids (or built-in names); ``nlr_grid=None``: no AGN.
    lines : sequence of str
        Line maps to make (grid line names; must be in both grids).
    seed : int, Generator or None
    hbeta_peak_snr : float
    relative_error : float
    nan_fraction : float
        Fraction of spaxels set to NaN in every line (plus a masked star).

    Returns
    -------
    dict
        ``fluxes``, ``errors`` (line -> (ny, nx) map, H-beta included), ``truth`` (parameter -> map;
        ``log E_peak`` NaN outside the cone), ``component`` (``"hii"``/``"nlr"`` map), ``lines``,
        ``nan_mask``.
    """
    from ._photoion_grid import load_photoionization_grid

    ny, nx = (int(s) for s in shape)
    if ny < 4 or nx < 4:
        raise ValueError(f"shape must be at least (4, 4), got {shape}")
    rng = check_random_state(seed)
    hii = load_photoionization_grid(hii_grid) if isinstance(hii_grid, str) else hii_grid
    nlr = load_photoionization_grid(nlr_grid) if isinstance(nlr_grid, str) else nlr_grid
    lines = list(dict.fromkeys([*lines, "Hbeta"]))
    for g in (hii, nlr):
        if g is not None:
            g.check_lines(lines)
    y, x = np.mgrid[0:ny, 0:nx]
    xc, yc = (x - (nx - 1) / 2) / (nx / 2), (y - (ny - 1) / 2) / (ny / 2)
    r = np.hypot(xc, yc)
    oh = np.clip(9.1 - 1.0 * r, 7.7, 9.3)
    fields = {_OH: oh, _U: -3.6 + 1.2 * np.clip(r, 0, 1) + 0.3 * np.sin(3 * np.arctan2(yc, xc)),
              _PK: 7.0 - 1.6 * np.clip(r, 0, 1)}
    rows = _snap(hii, fields)
    flux = hii.fluxes[lines].to_numpy()[rows]
    truth = {p: hii.params[p].to_numpy()[rows].reshape(ny, nx) for p in hii.param_names}
    comp = np.full((ny, nx), "hii", dtype=object)
    if nlr is not None:
        cone = (np.abs(yc) < 0.15 + 0.45 * np.abs(xc)) & (r < 0.75)
        nl = {_OH: np.clip(oh, 8.6, 9.3), _U: -1.2 - 2.4 * r, _PK: 7.4 - 1.5 * r,
              _EP: -1.0 - 0.9 * r + 0.25 * np.sign(xc)}
        sel = cone.ravel()
        nrows = _snap(nlr, {k: v.ravel()[sel] for k, v in nl.items()})
        flux[sel] = nlr.fluxes[lines].to_numpy()[nrows]
        for p in nlr.param_names:
            t = truth.setdefault(p, np.full((ny, nx), np.nan)).ravel()
            t[sel] = nlr.params[p].to_numpy()[nrows]
            truth[p] = t.reshape(ny, nx)
        comp[cone] = "nlr"
    em = 0.1 + np.exp(-(r / 0.55) ** 2) + 0.6 * np.exp(-((xc + 0.4) ** 2 + (yc - 0.45) ** 2) / 0.02)
    em /= em.max()
    f = flux * em.ravel()[:, None]
    sig = np.sqrt((1.0 / hbeta_peak_snr) ** 2 + (relative_error * f) ** 2)
    noisy = f + sig * rng.standard_normal(f.shape)
    fluxes = {ln: noisy[:, j].reshape(ny, nx) for j, ln in enumerate(lines)}
    errors = {ln: sig[:, j].reshape(ny, nx) for j, ln in enumerate(lines)}
    nan_mask = np.hypot(x - 0.8 * nx, y - 0.2 * ny) < max(1.0, 0.06 * min(nx, ny))
    n_dead = int(round(nan_fraction * nx * ny))
    if n_dead:
        nan_mask.ravel()[rng.choice(nx * ny, size=n_dead, replace=False)] = True
    for ln in lines:
        fluxes[ln][nan_mask] = np.nan
        errors[ln][nan_mask] = np.nan
    return {"fluxes": fluxes, "errors": errors, "truth": truth, "component": comp.astype(str), "lines": lines,
            "nan_mask": nan_mask}
