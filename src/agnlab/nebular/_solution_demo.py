"""Te / Ne posterior from two line ratios with :func:`agnlab.inference.solution_set` (a demo piece).

The nebular demo adds it to its section: ``metrics.update(tene_posterior_demo(section, seed=..., quick=...))``.
"""

from __future__ import annotations

import numpy as np

from ._forward_problem import TEMDEN_BOUNDS, temden_forward

__all__ = ["tene_posterior_demo"]


def tene_posterior_demo(section, *, seed: int = 0, quick: bool = False) -> dict:
    """Add the Te / log Ne posterior (emcee over the PyNeb table) to a report section.

    Parameters
    ----------
    section : agnlab.report section (``report.section(...)``)
    seed : int
    quick : bool
        Shorter chains.

    Returns
    -------
    dict
        Metrics (``tene_*``: forward calls, run time, Te median and 68 % interval, log Ne median,
        emcee acceptance); the caller adds them to its section's metrics.
    """
    from ..inference import solution_set

    rng = np.random.default_rng(seed)
    fwd = temden_forward(table_shape=(61, 61))
    truth = np.array([11000.0, 3.3])
    sig = np.full(2, 0.013)                                    # 3 % per ratio
    obs = fwd(truth[None])[0] + rng.normal(0.0, sig)
    res = solution_set(fwd, obs, sig, TEMDEN_BOUNDS, method="emcee", random_state=seed, maxiter=60,
                       n_steps=600 if quick else 2000, param_names=["te_k", "log_ne_cm3"])
    ci = res.credible_intervals(0.6827)
    section.figure(res.plot_corner(truths=truth),
                   "Te / log Ne posterior (agnlab.inference.solution_set, emcee) for [O III] 4363/5007 and "
                   "[S II] 6731/6716 with 3 % errors; contours 68 / 95 %, red = truth, cross = best fit")
    return {
        "tene_n_forward_calls": res.n_forward_calls,
        "tene_runtime_s": res.runtime_s,
        "tene_te_k_median": float(ci.loc["te_k", "median"]),
        "tene_te_k_minus": float(ci.loc["te_k", "minus"]),
        "tene_te_k_plus": float(ci.loc["te_k", "plus"]),
        "tene_log_ne_median": float(ci.loc["log_ne_cm3", "median"]),
        "tene_emcee_acceptance": res.info["emcee_acceptance"],
    }
