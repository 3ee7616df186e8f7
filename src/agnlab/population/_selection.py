"""Selection functions the fit forward-models: the WISE AGN colour cut of Assef et al. (2013, 2018)."""

from __future__ import annotations

import numpy as np

__all__ = ["resolve_selection", "selection_threshold"]


def resolve_selection(selection):
    """``None``, a preset name of :data:`agnlab.catalog.ASSEF_PRESETS`, or a mapping with ``alpha``, ``beta``,
    ``gamma`` (and optionally ``bright_flat``) -> ``None`` or a dict with those four keys."""
    if selection is None:
        return None
    if isinstance(selection, str):
        from ..catalog import ASSEF_PRESETS

        if selection not in ASSEF_PRESETS:
            raise ValueError(f"selection: unknown preset {selection!r}; choose from {sorted(ASSEF_PRESETS)} or give "
                             "{'alpha': ..., 'beta': ..., 'gamma': ...}")
        a, b, g = ASSEF_PRESETS[selection]
        return {"alpha": float(a), "beta": float(b), "gamma": float(g), "bright_flat": True}
    if isinstance(selection, dict):
        missing = [k for k in ("alpha", "beta", "gamma") if k not in selection]
        unknown = sorted(set(selection) - {"alpha", "beta", "gamma", "bright_flat"})
        if missing or unknown:
            raise ValueError(f"selection: a mapping needs alpha, beta, gamma (and optionally bright_flat); "
                             f"missing {missing}, unknown {unknown}")
        out = {k: float(selection[k]) for k in ("alpha", "beta", "gamma")}
        if not np.isfinite(list(out.values())).all() or out["beta"] < 0:
            raise ValueError(f"selection: need finite alpha, gamma and beta >= 0, got {selection}")
        out["bright_flat"] = bool(selection.get("bright_flat", True))
        return out
    raise TypeError(f"selection: None, a preset name or a mapping (alpha, beta, gamma), got {type(selection).__name__}")


def selection_threshold(selection, w2_mag=None):
    """W1-W2 threshold of the colour cut ``W1-W2 > alpha * exp(beta * (W2 - gamma)^2)`` at each W2 (Vega).

    Sources brighter than ``gamma`` need only ``W1-W2 > alpha`` when ``bright_flat`` (as in Assef et al.).
    ``w2_mag`` may be omitted for cuts without a magnitude term (``beta == 0``). NaN W2 gives +inf
    (never selected). Same rule as :func:`agnlab.catalog.assef_cut`.
    """
    sel = resolve_selection(selection)
    if sel is None:
        raise ValueError("selection_threshold: no selection given")
    if w2_mag is None:
        if sel["beta"] != 0:
            raise ValueError("selection: this cut depends on W2 (beta != 0); W2 magnitudes are needed")
        return np.float64(sel["alpha"])
    w2 = np.asarray(w2_mag, float)
    dw = w2 - sel["gamma"]
    if sel["bright_flat"]:
        dw = np.where(dw > 0, dw, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        thr = sel["alpha"] * np.exp(sel["beta"] * dw * dw)
    return np.where(np.isfinite(w2), thr, np.inf)
