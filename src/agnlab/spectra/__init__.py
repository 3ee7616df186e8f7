"""Quasar spectra: fast 4MOST-like simulation, readers, redshift estimation and DLA finding.

Main entry points
-----------------
QuasarSimulator
    Seeded, vectorised simulator (continuum + emission lines, Lyman-alpha
    forest, LLS, DLAs, instrument and noise); ``simulate(n)`` returns a
    :class:`SimulatedSpectra` batch with ``wave_aa``, ``flux``, ``ivar``,
    ``continuum``, ``transmission``, ``truth`` and ``dlas``.
write_spectra, read_spectra
    Simulated batches and their truth tables to/from HDF5 or FITS.
read_spectra_fits
    Real spectra from FITS tables (bad pixels masked, never propagated).
TemplateRedshift
    Chi-square redshift fitting with PCA templates (coarse-to-fine grid).
RedshiftEstimator, DLAFinder
    Learned (1-D CNN) redshift estimator and DLA finder.

The three estimators take a spectra container (``fit(X, y)``, ``predict(X)``;
``X`` a :class:`SimulatedSpectra` / :class:`ObservedSpectra`, ``y`` the truth
table), so they sit in a scikit-learn ``Pipeline``, or the explicit arrays
(``fit(wave_aa, flux, ivar, truth)``, ``predict(wave_aa, flux, ivar)``).
"""

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    # simulation
    "ContinuumModel": "._continuum",
    "DLAModel": "._igm",
    "ForestModel": "._igm",
    "tau_eff_fg08": "._igm",
    "add_line_tau": "._igm",
    "add_lyman_continuum_tau": "._igm",
    "rest_equivalent_width_aa": "._igm",
    "SIGMA_LL_CM2": "._physics",
    "LYMAN_SERIES": "._physics",
    "voigt_hjerting": "._voigt",
    "voigt_hjerting_exact": "._voigt",
    "Instrument": "._instrument",
    "relative_log_luminosity": "._photometry",
    "QuasarSimulator": "._simulate",
    "SimulatedSpectra": "._batch",
    # files
    "write_spectra": "._write",
    "SpectraFileError": "._io",
    "read_spectra": "._io",
    "ObservedSpectra": "._observed",
    "mask_bad_pixels": "._observed",
    "read_spectra_fits": "._observed",
    "resample_spectra": "._observed",
    # rebinning and truth tables
    "LogRebinner": "._rebin",
    "clean_spectra": "._rebin",
    "log_wave_grid": "._rebin",
    "rebin_log": "._rebin",
    "truth_dlas": "._truth",
    "truth_z": "._truth",
    # estimators, networks, metrics
    "TemplateRedshift": "._template",
    "builtin_templates": "._template",
    "read_redrock_templates": "._template",
    "RedshiftEstimator": "._redshift_cnn",
    "RedshiftNet": "._redshift_net",
    "DLAFinder": "._dla",
    "DLANet": "._dla_net",
    "SpectraWarning": "._mlcommon",
    "dla_metrics": "._metrics",
    "dla_search_range": "._metrics",
    "redshift_metrics": "._metrics",
    "dla_table": "._ml_eval",
    "redshift_table": "._ml_eval",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
