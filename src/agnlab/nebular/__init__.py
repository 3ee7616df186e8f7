"""Nebular diagnostics: PyNeb-trained Te/Ne inversion, Monte Carlo over IFU cubes, ICF regressors.

Public API
----------
TeNeEstimator
    Electron temperature and density from a temperature and a density
    diagnostic ratio ("table": inverted interpolation table + Newton
    polishing; "nn": neural network).  Trained on PyNeb forward grids; saved
    as safe ``agnlab.io`` artifacts.
monte_carlo_temden, MonteCarloResult
    Monte Carlo propagation of line-flux errors over IFU maps.
diagnostic_ratio, forward_grid, get_diagnostic, supported_diagnostics, DiagnosticSpec
    The vectorised PyNeb forward model.
FLAG_CODES, FLAG_NAMES, flag_summary
    Per-element flag codes of the inversion.
make_synthetic_cube
    A synthetic IFU cube with structure (for demos and tests).
ICFRegressor
    Ionisation correction factors learned from model tables.
"""

from ._cube import make_synthetic_cube
from ._icf import (CLASSICAL_ICFS, ICF_FEATURES, ICFRegressor, classical_icf, compare_icfs, icf_features,
                   ionization_table)
from ._forward import DiagnosticSpec, diagnostic_ratio, forward_grid, get_diagnostic, supported_diagnostics
from ._mc import SPAXEL_FLAG_CODES, MonteCarloResult, monte_carlo_temden
from ._temden import FLAG_CODES, FLAG_NAMES, TeNeEstimator, flag_summary

__all__ = [
    "CLASSICAL_ICFS",
    "DiagnosticSpec",
    "FLAG_CODES",
    "FLAG_NAMES",
    "ICFRegressor",
    "ICF_FEATURES",
    "MonteCarloResult",
    "SPAXEL_FLAG_CODES",
    "TeNeEstimator",
    "classical_icf",
    "compare_icfs",
    "diagnostic_ratio",
    "flag_summary",
    "forward_grid",
    "get_diagnostic",
    "icf_features",
    "ionization_table",
    "make_synthetic_cube",
    "monte_carlo_temden",
    "supported_diagnostics",
]
