"""Quasar spectra: fast 4MOST-like simulation, readers, redshift estimation and DLA finding.

Main entry points
-----------------
QuasarSimulator
    Seeded, vectorised simulator (continuum + emission lines; Lyman-alpha forest,
    Lyman-limit systems, sub-DLAs and DLAs from one measured column-density
    distribution; metal lines, BAL troughs, proximate absorbers; instrument,
    noise and sky residuals); ``simulate(n)`` returns a :class:`SimulatedSpectra`
    batch with ``wave_aa``, ``flux``, ``ivar``, ``continuum``, ``transmission``,
    ``truth`` (incl. ``bal``, ``balnicity_kms``), ``absorbers`` and ``dlas``.
write_spectra, read_spectra
    Simulated batches and their truth tables to/from HDF5 or FITS.
read_spectrum, match_resolution
    Observed spectra from the files astronomers have (SDSS/BOSS, DESI coadds,
    1-D FITS images, tables in nm or air, echelle), one entry point, format
    detected; the documented degrade-and-rebin step onto the models' grid.
TemplateRedshift
    Chi-square redshift fitting with PCA templates (coarse-to-fine grid).
RedshiftEstimator, DLAFinder
    Learned (1-D CNN) redshift estimator and DLA finder; ``.pretrained()`` loads
    the shipped default models (card: ``models/MODEL_CARD.md``).
predict_quasars, rebin_spectra
    Both learned models on the same spectra with one rebinning (redshifts, then
    DLAs at them); ``rebin_spectra`` gives the shared container.

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
    "AbsorberSystems": "._absorbers",
    "sample_absorbers": "._absorbers",
    "LOG_N_TAU2": "._cddf",
    "absorber_kind": "._cddf",
    "add_metal_tau": "._metals",
    "doublet_columns": "._metals",
    "DLAModel": "._igm",
    "ColumnDensityDistribution": "._cddf",
    "MetalModel": "._metals",
    "METAL_LINES": "._metals",
    "balnicity_index": "._bal",
    "SkyResiduals": "._sky_residuals",
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
    "SpectrumFlag": "._observed",
    "flag_names": "._observed",
    "read_spectrum": "._readers",
    "air_to_vacuum": "._airvac",
    "vacuum_to_air": "._airvac",
    "degrade_resolution": "._resolution",
    "match_resolution": "._resolution",
    "model_lsf_sigma_kms": "._resolution",
    "restore_continuum": "._resolution",
    # rebinning and truth tables
    "LogRebinner": "._rebin",
    "clean_spectra": "._rebin",
    "log_wave_grid": "._rebin",
    "rebin_log": "._rebin",
    "RebinnedSpectra": "._shared",
    "rebin_spectra": "._shared",
    "shared_grid": "._shared",
    "predict_quasars": "._shared",
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
    "dla_false_positives": "._metrics",
    "evaluate_predictions": "._ml_eval",
    "predict_batches": "._ml_eval",
    # shipped default models
    "PretrainedModelError": "._pretrained",
    "pretrained_card": "._pretrained",
    "pretrained_paths": "._pretrained",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
