"""Grid-parameter maps of an IFU cube: a fitted :class:`GridInverter` (or two: HII and AGN NLR) per spaxel.

Spaxels are BPT-classified (:mod:`._bpt`); with an NLR inverter, AGN spaxels go to it (giving
log E_peak) and star-forming ones to the HII inverter. Every spaxel keeps a flag; nothing is dropped.
"""

from __future__ import annotations

import dataclasses
import re
import time

import numpy as np
import pandas as pd

from ._bpt import BPT_LINES, bpt_class_from_fluxes
from ._mc import stack_cube

__all__ = ["GRID_MAP_FLAGS", "GridMaps", "grid_fit_cube", "map_key"]

GRID_MAP_FLAGS = {
    "no_data": "every line (or H-beta) of the spaxel is NaN: not fitted",
    "unclassified": "BPT lines missing or below the S/N cut: no grid chosen, not fitted",
    "composite": "BPT composite spaxel, left unfitted (composite='skip')",
}
"""Spaxel flags added by :func:`grid_fit_cube` to the inverter's own (:data:`GRID_FLAG_DESCRIPTIONS`)."""

_COMPOSITE = ("skip", "hii", "nlr")


def map_key(param: str) -> str:
    """File-safe key of a parameter (``"12 + log O/H"`` -> ``"12_log_o_h"``; ``"log U"`` -> ``"log_u"``)."""
    return re.sub(r"[^0-9a-z]+", "_", param.lower()).strip("_")


@dataclasses.dataclass
class GridMaps:
    """Maps of :func:`grid_fit_cube` (all of the cube's spatial shape).

    Attributes
    ----------
    params : list of str
        Parameters mapped (union over the inverters used).
    value, lo, hi : dict of str -> ndarray
        Median and 68 % interval of each parameter; NaN where not estimated (``log E_peak`` outside
        AGN spaxels).
    flag : ndarray of str
        ``ok``, an inverter flag (``line_dropped``, ``out_of_domain``, ...) or :data:`GRID_MAP_FLAGS`.
    bpt : ndarray of str
        BPT class (:data:`agnlab.nebular.BPT_CLASSES`).
    grid : ndarray of str
        Name of the grid whose inverter fitted the spaxel (``""``: none).
    seconds : float
    extra : dict of str -> ndarray
        More maps written with these (e.g. :func:`agnlab.nebular.direct_oh_maps`' ``oh_direct``).
    """

    params: list
    value: dict
    lo: dict
    hi: dict
    flag: np.ndarray
    bpt: np.ndarray
    grid: np.ndarray
    seconds: float
    extra: dict = dataclasses.field(default_factory=dict)

    def summary(self) -> dict:
        """Counts of spaxel flags, BPT classes and grids used."""
        def count(a):
            k, n = np.unique(a, return_counts=True)
            return {str(a): int(b) for a, b in zip(k, n)}

        return {"n_spaxels": int(self.flag.size), "flags": count(self.flag), "bpt": count(self.bpt),
                "grid": count(self.grid), "params": list(self.params), "seconds": float(self.seconds)}

    def to_arrays(self) -> dict:
        """Flat dict of arrays: ``<key>``, ``<key>_lo``, ``<key>_hi`` per parameter (:func:`map_key`), ``flag``,
        ``bpt``, ``grid`` and ``param_names`` (the parameter names in order)."""
        out = {}
        for p in self.params:
            k = map_key(p)
            out[k], out[k + "_lo"], out[k + "_hi"] = self.value[p], self.lo[p], self.hi[p]
        out.update(flag=self.flag.astype(str), bpt=self.bpt.astype(str), grid=self.grid.astype(str),
                   param_names=np.array(self.params, dtype=str))
        clash = [k for k in self.extra if k in out]
        if clash:
            raise ValueError(f"extra maps {clash} clash with the parameter maps")
        out.update({k: np.asarray(v) for k, v in self.extra.items()})
        return out

    def save(self, path) -> None:
        """Write ``.npz`` (:meth:`to_arrays`) or ``.fits`` (one image per map; flags as string tables)."""
        from pathlib import Path

        from ..io import atomic_path

        path = Path(path)
        arrays = self.to_arrays()
        with atomic_path(path) as tmp:
            if path.suffix.lower() == ".npz":
                with open(tmp, "wb") as fh:
                    np.savez_compressed(fh, **arrays)
            elif path.suffix.lower() in (".fits", ".fit"):
                from astropy.io import fits

                hdus = [fits.PrimaryHDU()]
                hdus[0].header["PARAMS"] = "; ".join(self.params)
                for k, v in arrays.items():
                    if k == "param_names" or v.ndim == 0:
                        continue  # in the primary header
                    if v.dtype.kind in "US":
                        codes, inv = np.unique(v, return_inverse=True)
                        h = fits.ImageHDU(inv.reshape(v.shape).astype(np.int16), name=k.upper())
                        for i, c in enumerate(codes):
                            h.header[f"CODE{i}"] = str(c) or "(none)"
                        hdus.append(h)
                    else:
                        hdus.append(fits.ImageHDU(np.asarray(v, dtype=np.float32), name=k.upper()))
                fits.HDUList(hdus).writeto(tmp, overwrite=True)
            else:
                raise ValueError(f"{path}: maps are written as .npz or .fits")


def _inverter_name(inv) -> str:
    return str(getattr(inv, "grid_name_", "grid"))


def grid_fit_cube(inverter, fluxes, errors, *, nlr_inverter=None, composite="skip", bpt_min_snr=3.0) -> GridMaps:
    """Apply fitted :class:`GridInverter` s to every spaxel of an IFU cube.

    Parameters
    ----------
    inverter : GridInverter
        Fitted (e.g. on ``"mappings-hii"``). Without ``nlr_inverter`` it fits every spaxel.
    fluxes, errors : mapping of line -> ndarray
        Dereddened line maps and 1-sigma errors (grid line names, all of one spatial shape, H-beta
        included), e.g. from :func:`agnlab.nebular.read_line_maps`. NaN = no data.
    nlr_inverter : GridInverter, optional
        Fitted on an AGN grid (``"mappings-nlr"``): BPT AGN spaxels (Kewley et al. 2001) go to it,
        star-forming ones (Kauffmann et al. 2003) to ``inverter``.
    composite : {"skip", "hii", "nlr"}
        What BPT composite spaxels get (with ``nlr_inverter``): no fit (flag ``composite``) or one of the two.
    bpt_min_snr : float
        S/N cut of the BPT lines.

    Returns
    -------
    GridMaps

    Raises
    ------
    ValueError
        Lines that no inverter's grid has, maps of different shapes, a composite choice not offered,
        or (with ``nlr_inverter``) BPT lines missing from the cube.
    """
    t0 = time.perf_counter()
    if composite not in _COMPOSITE:
        raise ValueError(f"composite must be one of {_COMPOSITE}, got {composite!r}")
    invs = [inverter] + ([nlr_inverter] if nlr_inverter is not None else [])
    for inv in invs:
        inv._check_fitted()
    lines = list(fluxes)
    known = set().union(*(set(inv.grid_lines_) | {inv.norm_line_} for inv in invs))
    unknown = [ln for ln in lines if ln not in known]
    if unknown:
        raise ValueError(f"line maps {unknown} are not lines of the inverters' grids "
                         f"({', '.join(_inverter_name(i) for i in invs)}); rename or drop them")
    F = stack_cube(lines, fluxes, name="fluxes")
    E = stack_cube(lines, errors, name="errors")
    if F.shape != E.shape:
        raise ValueError(f"fluxes and errors differ in shape: {F.shape} vs {E.shape}")
    spatial = F.shape[1:]
    f = pd.DataFrame(F.reshape(len(lines), -1).T, columns=lines)
    e = pd.DataFrame(E.reshape(len(lines), -1).T, columns=lines)
    n = len(f)
    flag = np.full(n, "", dtype=object)
    no_data = ~np.isfinite(f.to_numpy()).any(axis=1)
    if "Hbeta" in f:
        no_data |= ~np.isfinite(f["Hbeta"].to_numpy())
    flag[no_data] = "no_data"
    has_bpt = all(ln in f for ln in BPT_LINES)
    if nlr_inverter is not None and not has_bpt:
        raise ValueError(f"choosing the HII or the NLR grid per spaxel needs the BPT lines {list(BPT_LINES)}; "
                         f"the cube lacks {[ln for ln in BPT_LINES if ln not in f]}")
    bpt = bpt_class_from_fluxes(f, e, min_snr=bpt_min_snr) if has_bpt else np.full(n, "unclassified")
    bpt = np.asarray(bpt, dtype=object)
    use = np.full(n, -1)
    todo = ~no_data
    if nlr_inverter is None:
        use[todo] = 0
    else:
        use[todo & (bpt == "star-forming")] = 0
        use[todo & (bpt == "agn")] = 1
        if composite != "skip":
            use[todo & (bpt == "composite")] = 0 if composite == "hii" else 1
        flag[todo & (bpt == "composite") & (use < 0)] = "composite"
        flag[todo & (bpt == "unclassified")] = "unclassified"
    params = list(dict.fromkeys(p for inv in invs for p in inv.param_names_))
    value = {p: np.full(n, np.nan) for p in params}
    lo = {p: np.full(n, np.nan) for p in params}
    hi = {p: np.full(n, np.nan) for p in params}
    grid = np.full(n, "", dtype=object)
    for k, inv in enumerate(invs):
        rows = np.flatnonzero(use == k)
        if rows.size == 0:
            continue
        cols = [c for c in lines if c in set(inv.grid_lines_) | {inv.norm_line_}]
        res = inv.predict(f.iloc[rows][cols].reset_index(drop=True), e.iloc[rows][cols].reset_index(drop=True))
        for p in inv.param_names_:
            value[p][rows], lo[p][rows], hi[p][rows] = (res[c].to_numpy() for c in (p, f"{p}_lo", f"{p}_hi"))
        flag[rows] = res["flag"].to_numpy()
        grid[rows] = _inverter_name(inv)

    def shape(a):
        return np.asarray(a).reshape(spatial)

    return GridMaps(params=params, value={p: shape(v) for p, v in value.items()},
                    lo={p: shape(v) for p, v in lo.items()}, hi={p: shape(v) for p, v in hi.items()},
                    flag=shape(flag.astype(str)), bpt=shape(bpt.astype(str)), grid=shape(grid.astype(str)),
                    seconds=time.perf_counter() - t0)
