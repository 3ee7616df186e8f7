"""Nebular diagnostics: PyNeb-trained Te/Ne inversion, Monte Carlo over IFU cubes, ICF regressors.

Public API
----------
TeNeEstimator
    Electron temperature and density from a temperature and a density
    diagnostic ratio ("table": inverted interpolation table + Newton
    polishing; "nn": neural network).  Built from PyNeb forward grids (no
    training data); saved as safe ``agnlab.io`` artifacts.
FLAG_NAMES, FLAG_DESCRIPTIONS, OUT_OF_DOMAIN_FLAGS, flag_summary
    The string flags returned by ``TeNeEstimator.predict(X, return_flags=True)``.
monte_carlo_temden, MonteCarloResult, SPAXEL_FLAG_CODES, stack_cube
    Monte Carlo propagation of line-flux errors over IFU maps.
diagnostic_ratio, forward_grid, get_diagnostic, line_emissivities, supported_diagnostics, DiagnosticSpec,
PRIMARY_DIAGNOSTICS
    The vectorised PyNeb forward model.
temden_forward, TeNeForward, TEMDEN_BOUNDS
    The Te/Ne forward problem as a callable theta = [Te, log Ne] -> log10 ratios
    (for ``agnlab.inference.solution_set``, tests and benchmarks).
make_synthetic_cube
    A synthetic IFU cube with structure (for demos and tests).
ICFRegressor, ICF_FEATURES, OBSERVED_IONS, icf_features, ionization_table
    Ionisation correction factors learned from model tables (and an approximate table).
CLASSICAL_ICFS, classical_icf, compare_icfs
    PyNeb's classical ICFs and the comparison with learned ones.
load_photoionization_grid, PhotoionizationGrid, GridError, BUILTIN_GRIDS
    Photoionisation model grids (MAPPINGS HII / NLR from NebulaBayes, or any table), validated.
run_demo
    The ``nebular`` section of ``agnlab demo``.
"""

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    "make_synthetic_cube": "._cube",
    "BUILTIN_GRIDS": "._photoion_grid",
    "GridError": "._photoion_grid",
    "PhotoionizationGrid": "._photoion_grid",
    "load_photoionization_grid": "._photoion_grid",
    "read_line_maps": "._cube_io",
    "CLASSICAL_ICFS": "._classical_icf",
    "classical_icf": "._classical_icf",
    "compare_icfs": "._classical_icf",
    "run_demo": "._demo",
    "DiagnosticSpec": "._forward",
    "PRIMARY_DIAGNOSTICS": "._forward",
    "diagnostic_ratio": "._forward",
    "forward_grid": "._forward",
    "get_diagnostic": "._forward",
    "line_emissivities": "._forward",
    "supported_diagnostics": "._forward",
    "TEMDEN_BOUNDS": "._forward_problem",
    "TeNeForward": "._forward_problem",
    "temden_forward": "._forward_problem",
    "ICFRegressor": "._icf",
    "ICF_FEATURES": "._icf_features",
    "OBSERVED_IONS": "._icf_features",
    "icf_features": "._icf_features",
    "SPAXEL_FLAG_CODES": "._mc",
    "MonteCarloResult": "._mc",
    "monte_carlo_temden": "._mc",
    "stack_cube": "._mc",
    "ionization_table": "._slab",
    "TeNeEstimator": "._temden",
    "FLAG_DESCRIPTIONS": "._temden_flags",
    "FLAG_NAMES": "._temden_flags",
    "OUT_OF_DOMAIN_FLAGS": "._temden_flags",
    "flag_summary": "._temden_flags",
}

__all__ = [
    "BUILTIN_GRIDS",
    "GridError",
    "PhotoionizationGrid",
    "load_photoionization_grid",
    "CLASSICAL_ICFS",
    "DiagnosticSpec",
    "FLAG_DESCRIPTIONS",
    "FLAG_NAMES",
    "ICFRegressor",
    "ICF_FEATURES",
    "MonteCarloResult",
    "OBSERVED_IONS",
    "OUT_OF_DOMAIN_FLAGS",
    "PRIMARY_DIAGNOSTICS",
    "SPAXEL_FLAG_CODES",
    "TEMDEN_BOUNDS",
    "TeNeEstimator",
    "TeNeForward",
    "classical_icf",
    "compare_icfs",
    "diagnostic_ratio",
    "flag_summary",
    "forward_grid",
    "get_diagnostic",
    "icf_features",
    "ionization_table",
    "line_emissivities",
    "make_synthetic_cube",
    "read_line_maps",
    "monte_carlo_temden",
    "run_demo",
    "stack_cube",
    "supported_diagnostics",
    "temden_forward",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
