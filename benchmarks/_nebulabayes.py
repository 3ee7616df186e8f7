"""Run NebulaBayes 0.9.9 (Thomas et al. 2018, ApJ 856, 89) as the peer of ``benchmarks/nebular_grids.py``.

Not a benchmark itself (``run_all.py`` skips ``_*.py``). NebulaBayes 0.9.9 needs names that current
scipy/numpy removed (``scipy.integrate.cumtrapz``/``simps``, ``np.product``...); :func:`import_nebulabayes`
puts aliases back *in this benchmark process only* before importing it. The agnlab package never imports
NebulaBayes (it only reads the grid files shipped in its wheel).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

_NB = None


def import_nebulabayes():
    """Import NebulaBayes after restoring the scipy/numpy names it uses; returns ``NB_Model``."""
    global _NB
    if _NB is not None:
        return _NB
    import scipy.integrate as si

    if not hasattr(si, "cumtrapz"):
        si.cumtrapz = si.cumulative_trapezoid
    if not hasattr(si, "simps"):
        si.simps = si.simpson
    if not hasattr(si, "trapz"):
        si.trapz = si.trapezoid
    for old, new in (("product", "prod"), ("cumproduct", "cumprod"), ("alltrue", "all"), ("sometrue", "any"),
                     ("trapz", "trapezoid")):
        if not hasattr(np, old) and hasattr(np, new):
            setattr(np, old, getattr(np, new))
    for old, new in (("str", str), ("float", float), ("int", int), ("bool", bool), ("object", object)):
        if old not in np.__dict__:   # removed builtin aliases (numpy >= 1.24)
            setattr(np, old, new)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from NebulaBayes import NB_logger, NB_Model
    NB_logger.setLevel(logging.ERROR)
    _NB = NB_Model
    return NB_Model


class NebulaBayesRunner:
    """NebulaBayes over a (rectangular) grid table with a given line list, one spectrum per call.

    Parameters
    ----------
    grid : agnlab.nebular.PhotoionizationGrid
        Must be regular (a full Cartesian product; NebulaBayes refuses anything else).
    lines : list of str
        Observed lines (``Hbeta`` is added: the normalisation line).
    interpd_grid_shape : list of int, optional
        NebulaBayes' interpolated grid (default: its own, ~60,000 points).
    grid_error : float
        Systematic relative error of the model fluxes (NebulaBayes' default 0.1... set 0.0 to 0.35).
    """

    def __init__(self, grid, lines, *, interpd_grid_shape=None, grid_error=0.1):
        nb_model = import_nebulabayes()
        self.params = list(grid.param_names)
        self.lines = list(dict.fromkeys(["Hbeta", *lines]))
        table = pd.concat([grid.params, grid.fluxes[self.lines]], axis=1)
        kw = {"grid_error": float(grid_error)}
        if interpd_grid_shape is not None:
            kw["interpd_grid_shape"] = list(interpd_grid_shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = nb_model(table, grid_params=self.params, line_list=self.lines, **kw)

    def __call__(self, fluxes: dict, errors: dict) -> pd.DataFrame:
        """Estimates for one spectrum: index = parameter, columns ``est``, ``lo``, ``hi`` (68 % CI)."""
        names = [ln for ln in self.lines if ln in fluxes]
        f = [float(fluxes[ln]) for ln in names]
        e = [float(errors[ln]) for ln in names]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res = self.model(f, e, names, norm_line="Hbeta", deredden=False, prior="Uniform", verbosity="ERROR")
        est = res.Posterior.DF_estimates
        return pd.DataFrame({"est": est["Estimate"].astype(float), "lo": est["CI68_low"].astype(float),
                             "hi": est["CI68_high"].astype(float)}).loc[self.params]
