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

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    "make_synthetic_cube": "._cube",
    "CLASSICAL_ICFS": "._icf",
    "ICF_FEATURES": "._icf",
    "ICFRegressor": "._icf",
    "classical_icf": "._icf",
    "compare_icfs": "._icf",
    "icf_features": "._icf",
    "ionization_table": "._icf",
    "DiagnosticSpec": "._forward",
    "diagnostic_ratio": "._forward",
    "forward_grid": "._forward",
    "get_diagnostic": "._forward",
    "supported_diagnostics": "._forward",
    "SPAXEL_FLAG_CODES": "._mc",
    "MonteCarloResult": "._mc",
    "monte_carlo_temden": "._mc",
    "FLAG_CODES": "._temden",
    "FLAG_NAMES": "._temden",
    "TeNeEstimator": "._temden",
    "flag_summary": "._temden",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
