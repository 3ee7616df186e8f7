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

import importlib

from ._continuum import ContinuumModel
from ._igm import DLAModel, ForestModel, tau_eff_fg08
from ._instrument import Instrument
from ._io import ObservedSpectra, SpectraFileError, mask_bad_pixels, read_spectra, read_spectra_fits, \
    resample_spectra, write_spectra
from ._simulate import QuasarSimulator, SimulatedSpectra
from ._template import TemplateRedshift, builtin_templates, read_redrock_templates

__all__ = [
    "ContinuumModel", "DLAFinder", "DLAModel", "ForestModel", "Instrument", "ObservedSpectra", "QuasarSimulator",
    "RedshiftEstimator", "SimulatedSpectra", "SpectraFileError", "TemplateRedshift", "builtin_templates",
    "mask_bad_pixels", "read_redrock_templates", "read_spectra", "read_spectra_fits", "resample_spectra",
    "tau_eff_fg08", "write_spectra",
]

# the learned models need PyTorch: imported on first use, so that simulation,
# readers and template fitting (and spawned simulation workers) stay light
_LAZY = {"RedshiftEstimator": "._redshift_cnn", "DLAFinder": "._dla"}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
