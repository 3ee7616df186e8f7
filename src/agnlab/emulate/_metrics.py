"""Accuracy metrics of emulated SEDs: fractional flux errors and WISE colour errors."""

from __future__ import annotations

import numpy as np

from ..validation import check_array

__all__ = ["color_errors", "evaluate_emulator", "fractional_flux_error", "flux_error_summary"]


def _pair(y_true, y_pred):
    y_true = check_array(y_true, name="y_true", ndim=2, positive=True)
    y_pred = check_array(y_pred, name="y_pred", ndim=2, finite=False)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    return y_true, y_pred


def fractional_flux_error(y_true, y_pred) -> np.ndarray:
    """``|pred/true - 1|`` per model and wavelength, computed through logs (safe for fluxes ~1e-80).

    Parameters
    ----------
    y_true, y_pred : array_like, shape (n, n_wave)

    Returns
    -------
    ndarray, shape (n, n_wave)
        NaN where the prediction is NaN (out of domain) or not positive.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.expm1(np.log(y_pred) - np.log(y_true)))


def flux_error_summary(wave_um, y_true, y_pred, *, wave_range_um=(1.0, 30.0)) -> dict:
    """Median, 90th, 99th percentile and maximum of the fractional error inside ``wave_range_um``.

    Parameters
    ----------
    wave_um : array_like, shape (n_wave,)
    y_true, y_pred : array_like, shape (n, n_wave)
    wave_range_um : (float, float)
        Inclusive wavelength range [um].

    Returns
    -------
    dict
        ``median``, ``p90``, ``p99``, ``max`` (fractions, over all models x
        wavelengths in range), ``n_models``, ``n_wave``, ``n_nan``.
    """
    wave = check_array(wave_um, name="wave_um", ndim=1, positive=True)
    err = fractional_flux_error(y_true, y_pred)
    if wave.size != err.shape[1]:
        raise ValueError(f"wave_um has {wave.size} values but the fluxes have {err.shape[1]} columns")
    lo, hi = wave_range_um
    sel = (wave >= lo) & (wave <= hi)
    if not sel.any():
        raise ValueError(f"no wavelength of the grid lies in wave_range_um={wave_range_um}")
    e = err[:, sel]
    finite = e[np.isfinite(e)]
    if finite.size == 0:
        raise ValueError("no finite prediction to evaluate")
    q = np.percentile(finite, [50, 90, 99])
    return {"median": float(q[0]), "p90": float(q[1]), "p99": float(q[2]), "max": float(finite.max()),
            "n_models": int(e.shape[0]), "n_wave": int(sel.sum()), "n_nan": int(e.size - finite.size)}


def color_errors(wave_um, y_true, y_pred, *, colors=(("W1", "W2"), ("W2", "W3")), z: float = 0.0) -> np.ndarray:
    """Absolute colour differences (mag) between true and emulated SEDs.

    Returns
    -------
    ndarray, shape (n, n_colors)
        ``|colour(pred) - colour(true)|`` (synthetic magnitudes through speclite filters).
    """
    from ..photometry import synthetic_colors

    y_true, y_pred = _pair(y_true, y_pred)
    good = np.all(np.isfinite(y_pred) & (y_pred > 0), axis=1)
    out = np.full((y_true.shape[0], len(colors)), np.nan)
    if good.any():
        c_true = synthetic_colors(wave_um, y_true[good], colors=colors, z=z)
        c_pred = synthetic_colors(wave_um, y_pred[good], colors=colors, z=z)
        out[good] = np.abs(c_pred - c_true)
    return out


def evaluate_emulator(emulator, X, Y, *, wave_um=None, wave_range_um=(1.0, 30.0),
                      colors=(("W1", "W2"), ("W2", "W3")), color_tol_mag: float = 0.02) -> dict:
    """Accuracy of a fitted emulator on held-out models.

    Parameters
    ----------
    emulator : PCAEmulator or NeuralEmulator
    X : array_like, shape (n, n_params)
    Y : array_like, shape (n, n_wave)
        True fluxes.
    wave_um : array_like, shape (n_wave,), optional
        Defaults to the wavelengths stored at fit time.
    color_tol_mag : float
        Tolerance for the "fraction of models within tolerance" colour metric.

    Returns
    -------
    dict
        ``flux`` (see :func:`flux_error_summary`), and per colour ``"W1-W2"``:
        ``{"p95": ..., "median": ..., "frac_within_tol": ...}``, plus ``predict_seconds``,
        ``n_models`` (evaluated) and ``n_out_of_domain`` (models outside the training
        ranges, skipped: emulators do not extrapolate).
    """
    import time

    wave = wave_um if wave_um is not None else getattr(emulator, "wave_um_", None)
    if wave is None:
        raise ValueError("wave_um is required (the emulator was fitted without it)")
    Y = check_array(Y, name="Y", ndim=2, positive=True)
    X = emulator._validate_predict(X)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    inside = emulator.domain_mask(X)          # held-out models outside the training box are not extrapolated
    if not inside.any():
        raise ValueError("no model of X lies inside the emulator's training domain")
    X, Y = X[inside], Y[inside]
    t0 = time.perf_counter()
    pred = emulator.predict(X)
    dt = time.perf_counter() - t0
    out = {"flux": flux_error_summary(wave, Y, pred, wave_range_um=wave_range_um), "predict_seconds": dt,
           "n_models": int(Y.shape[0]), "n_out_of_domain": int((~inside).sum())}
    if colors:
        cerr = color_errors(wave, Y, pred, colors=colors)
        for k, (a, b) in enumerate(colors):
            c = cerr[:, k][np.isfinite(cerr[:, k])]
            out[f"{a}-{b}"] = {"median": float(np.median(c)), "p95": float(np.percentile(c, 95)),
                               "frac_within_tol": float(np.mean(c <= color_tol_mag)), "tol_mag": color_tol_mag}
    return out
