"""Monte Carlo direct-method O/H maps of an IFU cube (Te-based, optionally corrected by a grid-trained ICF).

The same propagation as :func:`agnlab.nebular.monte_carlo_temden`: every spaxel's line fluxes are
drawn ``n_draws`` times from normal distributions (flux, error), each draw goes through
:func:`agnlab.nebular.direct_method_abundances` (and :func:`agnlab.nebular.correct_direct_oh`), and
the maps are percentiles over the valid draws; seeds per chunk come from one ``SeedSequence``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..parallel import chunked_map
from ._direct_method import direct_method_abundances
from ._mc import _percentiles_sorted, stack_cube

__all__ = ["direct_oh_maps"]


def direct_oh_maps(fluxes, errors, *, regressor=None, n_draws=100, percentiles=(16.0, 50.0, 84.0), seed=0,
                   min_valid_fraction=0.5, te_low="garnett92", chunk_rows=200_000, n_jobs=1, progress=None) -> dict:
    """Direct-method (and corrected) 12 + log O/H maps with Monte Carlo uncertainties.

    Parameters
    ----------
    fluxes, errors : mapping of line -> ndarray
        Line maps with grid line names (those of :data:`agnlab.nebular.DIRECT_METHOD_LINES`, H-beta
        included); NaN = no data.
    regressor : ICFRegressor, optional
        Trained on :func:`agnlab.nebular.grid_abundance_table` (target ``log_icf_O``): adds the
        corrected maps.
    n_draws : int
        Draws per spaxel.
    percentiles : sequence of float
        Reported besides the median.
    seed : int or None
        The same seed, ``chunk_rows`` and inputs give the same maps whatever ``n_jobs``.
    min_valid_fraction : float
        Spaxels with fewer valid draws get NaN statistics and flag ``low_valid_fraction``.
    te_low : {"garnett92", "nii"}
    chunk_rows, n_jobs, progress
        Draws per chunk (bounds memory), threads over chunks, progress bar.

    Returns
    -------
    dict of ndarray (spatial shape unless stated)
        ``oh_direct`` (median), ``oh_direct_percentiles`` (n_percentiles, ...), the same for
        ``oh_corrected`` with a regressor, ``valid_fraction``, ``nominal_flag`` (the direct-method flag
        of the measured fluxes, ``no_data`` where a line is NaN) and ``flag`` (``ok``,
        ``low_valid_fraction``, ``no_valid_draws`` or the nominal flag).
    """
    from ._grid_icf import correct_direct_oh

    t0 = time.perf_counter()
    n_draws = int(n_draws)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    qs = tuple(float(q) for q in percentiles)
    if any(not 0.0 <= q <= 100.0 for q in qs):
        raise ValueError(f"percentiles must lie in [0, 100], got {percentiles}")
    lines = list(fluxes)
    F = stack_cube(lines, fluxes, name="fluxes")
    E = stack_cube(lines, errors, name="errors")
    if F.shape != E.shape:
        raise ValueError(f"fluxes and errors differ in shape: {F.shape} vs {E.shape}")
    spatial = F.shape[1:]
    F = F.reshape(len(lines), -1).T
    E = E.reshape(len(lines), -1).T
    n = F.shape[0]

    def solve(fl):
        d = direct_method_abundances(pd.DataFrame(fl, columns=lines), te_low=te_low)
        if regressor is None:
            return d["oh_direct"].to_numpy(), None, d["flag"].to_numpy()
        c = correct_direct_oh(regressor, pd.DataFrame(fl, columns=lines), direct=d)
        return c["oh_direct"].to_numpy(), c["oh_corrected"].to_numpy(), c["flag"].to_numpy()

    nominal = solve(F)
    no_data = ~np.isfinite(F).any(axis=1) | ~np.isfinite(E).all(axis=1) | (np.nan_to_num(E) < 0).any(axis=1)
    nominal_flag = np.where(no_data, "no_data", nominal[2]).astype(object)
    work = np.flatnonzero(~no_data)
    keys = ["oh_direct"] + (["oh_corrected"] if regressor is not None else [])
    med = {k: np.full(n, np.nan) for k in keys}
    pct = {k: np.full((len(qs), n), np.nan) for k in keys}
    vfrac = np.zeros(n)
    per = max(1, int(chunk_rows) // n_draws)
    chunks = [work[s:s + per] for s in range(0, work.size, per)]
    seeds = np.random.SeedSequence(seed).spawn(len(chunks))

    def run(args):
        ci, idx = args
        rng = np.random.default_rng(seeds[ci])
        m = idx.size
        draws = F[idx][:, None, :] + E[idx][:, None, :] * rng.standard_normal((m, n_draws, len(lines)))
        oh, corr, fl = solve(draws.reshape(m * n_draws, len(lines)))
        target = corr if corr is not None else oh
        valid = np.isfinite(target).reshape(m, n_draws)
        k = valid.sum(axis=1)
        vfrac[idx] = k / n_draws
        for key, v in zip(keys, (oh, corr)):
            a = np.where(valid, v.reshape(m, n_draws), np.nan)
            a.sort(axis=1)
            q = _percentiles_sorted(a, k, qs + (50.0,))
            pct[key][:, idx], med[key][idx] = q[:-1], q[-1]

    chunked_map(run, list(enumerate(chunks)), n_jobs=n_jobs, progress=progress, desc="Monte Carlo direct O/H")
    flag = nominal_flag.copy()
    flag[~no_data] = "ok"
    flag[~no_data & (vfrac == 0)] = "no_valid_draws"
    low = ~no_data & (vfrac > 0) & (vfrac < float(min_valid_fraction))
    flag[low] = "low_valid_fraction"
    hide = flag != "ok"
    out = {}
    for key in keys:
        med[key][hide] = np.nan
        pct[key][:, hide] = np.nan
        out[key] = med[key].reshape(spatial)
        out[f"{key}_percentiles"] = pct[key].reshape((len(qs),) + spatial)
    out.update(valid_fraction=vfrac.reshape(spatial), nominal_flag=nominal_flag.astype(str).reshape(spatial),
               flag=flag.astype(str).reshape(spatial), percentiles=np.asarray(qs), n_draws=n_draws,
               seconds=time.perf_counter() - t0)
    return out
