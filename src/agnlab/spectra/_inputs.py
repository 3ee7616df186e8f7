"""The two input forms of the learned spectra models (the ``(X, y)`` adapter).

The spectra models need three arrays per batch (``wave_aa``, ``flux``,
``ivar``) plus, for training, a truth table. They accept either

* the **container form** ``fit(X, y)`` / ``predict(X)``, where ``X`` is a
  spectra container (:class:`SimulatedSpectra`, :class:`ObservedSpectra`, any
  object with ``wave_aa``, ``flux`` and ``ivar`` attributes, or a tuple
  ``(wave_aa, flux, ivar)``) and ``y`` the truth table (``None``: ``X.truth``).
  This is the form a :class:`sklearn.pipeline.Pipeline` uses;
* the **array form** ``fit(wave_aa, flux, ivar, truth)`` /
  ``predict(wave_aa, flux, ivar)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["is_spectra_container", "spectra_arrays", "spectra_fit_arrays"]


def is_spectra_container(X) -> bool:
    """True for an object with ``wave_aa``, ``flux`` and ``ivar`` attributes or a 3-tuple of arrays."""
    if all(hasattr(X, a) for a in ("wave_aa", "flux", "ivar")):
        return True
    return isinstance(X, tuple) and len(X) == 3


def _unpack(X):
    if isinstance(X, tuple):
        return X
    return X.wave_aa, X.flux, X.ivar


def _check_numeric(name, a):
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def spectra_arrays(X, rest: tuple, *, what: str = "predict"):
    """``(wave_aa, flux, ivar)`` from either input form.

    ``X`` is a container (then ``rest`` must be empty) or ``wave_aa`` (then
    ``rest`` is ``(flux, ivar)``).
    """
    if is_spectra_container(X):
        if rest:
            raise TypeError(f"{what}: give a spectra container alone or the arrays (wave_aa, flux, ivar), not both")
        wave, flux, ivar = _unpack(X)
    else:
        if len(rest) != 2:
            raise TypeError(f"{what}: expected a spectra container (wave_aa, flux, ivar attributes) or the three "
                            f"arrays wave_aa, flux, ivar; got {1 + len(rest)} positional argument(s)")
        wave, (flux, ivar) = X, rest
    return _check_numeric("wave_aa", wave), _check_numeric("flux", flux), _check_numeric("ivar", ivar)


def spectra_fit_arrays(X, y, rest: tuple):
    """``(wave_aa, flux, ivar, truth)`` for ``fit``: ``(container, truth)`` or ``(wave_aa, flux, ivar, truth)``."""
    if is_spectra_container(X):
        if rest:
            raise TypeError("fit: give fit(spectra, truth) or fit(wave_aa, flux, ivar, truth), not a mix")
        truth = y if y is not None else getattr(X, "truth", None)
        if truth is None:
            raise ValueError("fit: no truth table (pass y, or a container with a truth attribute)")
        wave, flux, ivar = spectra_arrays(X, (), what="fit")
        return wave, flux, ivar, truth
    if len(rest) != 2:
        raise TypeError("fit: expected fit(spectra, truth) with a spectra container, or fit(wave_aa, flux, ivar, "
                        f"truth); got {2 + len(rest) if y is not None else 1} positional argument(s)")
    wave, flux, ivar = spectra_arrays(X, (y, rest[0]), what="fit")
    return wave, flux, ivar, rest[1]
