"""One rebinning for both learned models: :class:`RebinnedSpectra` and :func:`predict_quasars`.

:class:`RedshiftEstimator` and :class:`DLAFinder` each rebin raw spectra onto their own
log-wavelength grid; for raw 4MOST-like spectra (~24,000 pixels) that rebinning costs about as much
as a network. When both models run on the same spectra, :func:`rebin_spectra` rebins them once onto
a fine log grid that nests both model grids (the redshift grid's step is an integer multiple of the
DLA grid's, and their bin edges coincide), and both estimators accept the result like any spectra
container. Rebinning is linear in ``ivar * flux`` and ``ivar``, so rebinning the fine grid onto a
coarser nested grid gives the same numbers as rebinning the raw spectra directly (to float rounding;
only bins at the very ends of the input's coverage can differ).
"""

from __future__ import annotations

import warnings

import numpy as np

from ._inputs import spectra_arrays
from ._mlcommon import SpectraWarning
from ._rebin import LogRebinner, check_wave, log_wave_grid

__all__ = ["RebinnedSpectra", "predict_quasars", "rebin_spectra", "shared_grid"]

#: attributes of the source container carried over (truth tables, redshifts, metadata)
_CARRY = ("truth", "meta", "z_qso", "absorbers", "dlas")


class RebinnedSpectra:
    """Spectra rebinned onto a log-wavelength grid (a spectra container for both learned models).

    Attributes
    ----------
    wave_aa : ndarray (n_grid,)
        Bin centres, uniform in ``log10(wavelength)``.
    flux, ivar : ndarray float32 (n_spec, n_grid)
        Inverse-variance weighted flux and summed ivar (masked bins: ``ivar = 0``).
    n_masked : int
        Input pixels masked because of NaN/inf flux or ivar.
    truth, meta, z_qso, absorbers, dlas :
        Carried over from the source container when it has them (else ``None``).
    """

    def __init__(self, wave_aa, flux, ivar, *, n_masked: int = 0, source=None):
        self.wave_aa = np.asarray(wave_aa, float)
        self.flux = flux
        self.ivar = ivar
        self.n_masked = int(n_masked)
        for name in _CARRY:
            setattr(self, name, getattr(source, name, None))

    def __len__(self) -> int:
        return self.flux.shape[0]

    def __repr__(self) -> str:
        return (f"RebinnedSpectra({len(self)} spectra, {self.wave_aa.size} log-wavelength bins "
                f"{self.wave_aa[0]:.1f}-{self.wave_aa[-1]:.1f} A)")


def shared_grid(*models) -> np.ndarray:
    """The fine log grid nesting the grids of fitted ``models`` (step: the finest model step).

    It starts one fine step below and ends one above the models' grids, so that every bin of a
    coarser model grid is a union of whole fine bins.

    Raises
    ------
    ValueError
        A model grid is not nested in the finest one (step not an integer multiple, or bin edges
        that do not coincide); rebin the raw spectra for each model instead.
    """
    grids = [np.asarray(m.wave_grid_aa_, float) for m in models]
    steps = [float(np.log10(g[1] / g[0])) for g in grids]
    fine = min(steps)
    lo = min(np.log10(g[0]) for g in grids)
    for g, st in zip(grids, steps):
        ratio = st / fine
        # edges of a coarse bin: centre +- step/2; nested when they fall on fine bin edges
        off = (np.log10(g[0]) - st / 2 - (lo - fine / 2)) / fine
        if abs(ratio - round(ratio)) > 1e-6 or abs(off - round(off)) > 1e-4:
            raise ValueError(f"model grids are not nested (step {st:.3g} vs {fine:.3g}, offset {off:.4f} fine bins); "
                             "rebin the raw spectra for each model")
    hi = max(np.log10(g[-1]) for g in grids)
    return log_wave_grid(10 ** (lo - fine), 10 ** (hi + fine * 1.5), fine)


def rebin_spectra(X, *arrays, wave_out_aa=None, models=(), chunk_size: int = 256) -> RebinnedSpectra:
    """Rebin raw spectra once onto a log grid (see the module docstring).

    Parameters
    ----------
    X : spectra container (``wave_aa``, ``flux``, ``ivar``), or ``wave_aa`` in the array form
        ``rebin_spectra(wave_aa, flux, ivar, ...)``.
    wave_out_aa : array_like, optional
        Output grid (uniform in log10); default: :func:`shared_grid` of ``models``.
    models : fitted RedshiftEstimator / DLAFinder
        Models whose grids the output grid must nest (used when ``wave_out_aa`` is not given).
    chunk_size : int
        Spectra rebinned at a time (memory).

    Returns
    -------
    RebinnedSpectra
        NaN/inf pixels are masked (with a :class:`SpectraWarning`); negative ivar raises.
    """
    wave, flux, ivar = spectra_arrays(X, arrays, what="rebin_spectra")
    wave = check_wave(wave)
    if wave_out_aa is None:
        if not models:
            raise ValueError("rebin_spectra: give wave_out_aa or the fitted models whose grids it must nest")
        wave_out_aa = shared_grid(*models)
    reb = LogRebinner(wave, wave_out_aa)
    flux, ivar = np.asarray(flux), np.asarray(ivar)
    if flux.ndim == 1:
        flux, ivar = flux[None], ivar[None]
    n = flux.shape[0]
    if n == 0:
        raise ValueError("spectra: no spectra (flux has 0 rows)")
    f_out = np.empty((n, reb.wave_out_aa.size), np.float32)
    i_out = np.empty_like(f_out)
    n_masked = 0
    for s in range(0, n, chunk_size):
        f_out[s:s + chunk_size], i_out[s:s + chunk_size], nm = reb.rebin_raw(flux[s:s + chunk_size],
                                                                             ivar[s:s + chunk_size])
        n_masked += nm
    if n_masked:
        warnings.warn(f"{n_masked} pixels with NaN/inf flux or ivar were masked", SpectraWarning, stacklevel=2)
    source = X if not arrays and not isinstance(X, tuple) else None
    return RebinnedSpectra(reb.wave_out_aa, f_out, i_out, n_masked=n_masked, source=source)


def predict_quasars(X, *arrays, redshift_model=None, dla_model=None, threshold=None):
    """Redshifts, then DLAs at those redshifts, with one rebinning of the raw spectra.

    Parameters
    ----------
    X : spectra container, or ``wave_aa`` in the array form ``predict_quasars(wave_aa, flux, ivar)``
    redshift_model : fitted RedshiftEstimator, optional
        Default: :meth:`RedshiftEstimator.pretrained` (loaded on every call: pass the models
        when calling repeatedly).
    dla_model : fitted DLAFinder, optional
        Default: :meth:`DLAFinder.pretrained`.
    threshold : float, optional
        DLA detection threshold (default: the model's).

    Returns
    -------
    redshifts : DataFrame
        :meth:`RedshiftEstimator.predict` table (``z_pred``, ``confidence``, ``out_of_range``, ``flag``).
    dlas : DataFrame
        One row per DLA (``spec_index``, ``z_dla``, ``log_nhi``, ``confidence``).
    spectra : DataFrame
        Per-spectrum DLA table of :meth:`DLAFinder.detect` (``score``, ``n_dla``, ``flag``; a
        redshift flag other than ``ok`` is carried as ``redshift_<flag>``).

    Examples
    --------
    >>> from agnlab.spectra import QuasarSimulator, predict_quasars
    >>> z, dlas, spectra = predict_quasars(QuasarSimulator(seed=0).simulate(10))  # doctest: +SKIP
    """
    from ._dla import DLAFinder
    from ._redshift_cnn import RedshiftEstimator

    zest = RedshiftEstimator.pretrained() if redshift_model is None else redshift_model
    dla = DLAFinder.pretrained() if dla_model is None else dla_model
    zest._check_fitted()
    dla._check_fitted()
    try:
        data = rebin_spectra(X, *arrays, models=(zest, dla))
    except ValueError as exc:
        if "not nested" not in str(exc):
            raise
        data = X if not arrays else (X, *arrays)  # custom model grids: each model rebins the raw spectra
    z = zest.predict(data)
    dlas, spectra = dla.detect(data, z_qso=z, threshold=threshold)
    return z, dlas, spectra
