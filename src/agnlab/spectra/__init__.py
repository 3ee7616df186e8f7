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
"""

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    "ContinuumModel": "._continuum",
    "DLAModel": "._igm",
    "ForestModel": "._igm",
    "tau_eff_fg08": "._igm",
    "Instrument": "._instrument",
    "ObservedSpectra": "._io",
    "SpectraFileError": "._io",
    "mask_bad_pixels": "._io",
    "read_spectra": "._io",
    "read_spectra_fits": "._io",
    "resample_spectra": "._io",
    "write_spectra": "._io",
    "QuasarSimulator": "._simulate",
    "SimulatedSpectra": "._simulate",
    "TemplateRedshift": "._template",
    "builtin_templates": "._template",
    "read_redrock_templates": "._template",
    "RedshiftEstimator": "._redshift_cnn",
    "DLAFinder": "._dla",
}

__all__ = [
    "ContinuumModel", "DLAFinder", "DLAModel", "ForestModel", "Instrument", "ObservedSpectra", "QuasarSimulator",
    "RedshiftEstimator", "SimulatedSpectra", "SpectraFileError", "TemplateRedshift", "builtin_templates",
    "mask_bad_pixels", "read_redrock_templates", "read_spectra", "read_spectra_fits", "resample_spectra",
    "tau_eff_fg08", "write_spectra",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
