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
GridInverter, GRID_FLAG_DESCRIPTIONS
    Grid parameters (12 + log O/H, log U, log P/k, log E_peak...) with calibrated 68 % intervals from
    observed line fluxes (quantile neural network or gradient-boosted trees trained on noisy
    simulations of the grid); per-spectrum flags.
GridEmulator, grid_solution_set, GridSolution
    The grid as a forward model (multilinear or neural), and every parameter vector consistent with
    one spectrum: posterior, corner plot, separate modes for degenerate branches.
DIRECT_FLAGS, DIRECT_METHOD_LINES, direct_method_abundances
    Direct-method (Te-based) O+, O++, He+, He++ abundances and 12 + log O/H from line fluxes.
GRID_ICF_FEATURES, WEAK_LINES, abundance_features, grid_abundance_table, holdout_nodes, correct_direct_oh, score_oh
    Direct-method O/H against a grid's true O/H, an effective-ICF regressor trained on it, and the
    comparison with PyNeb's classical ICFs on held-out grid nodes.
BPT_CLASSES, BPT_LINES, bpt_class, bpt_class_from_fluxes, kauffmann03, kewley01
    BPT classification (Kewley et al. 2001, Kauffmann et al. 2003), upper limits handled.
grid_fit_cube, GridMaps, GRID_MAP_FLAGS, map_key, direct_oh_maps, make_grid_cube, GRID_CUBE_LINES
    IFU cubes: GridInverter maps (HII / AGN-NLR grid chosen per spaxel by BPT) with 68 % intervals,
    Monte Carlo direct-method O/H maps, and a synthetic cube drawn from grid models.
run_demo
    The ``nebular`` section of ``agnlab demo``.
"""

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    "make_synthetic_cube": "._cube",
    "DIRECT_FLAGS": "._direct_method",
    "DIRECT_METHOD_LINES": "._direct_method",
    "direct_method_abundances": "._direct_method",
    "GRID_ICF_FEATURES": "._grid_icf",
    "WEAK_LINES": "._grid_icf",
    "abundance_features": "._grid_icf",
    "correct_direct_oh": "._grid_icf",
    "grid_abundance_table": "._grid_icf",
    "holdout_nodes": "._grid_icf",
    "score_oh": "._grid_icf",
    "BPT_CLASSES": "._bpt",
    "BPT_LINES": "._bpt",
    "bpt_class": "._bpt",
    "bpt_class_from_fluxes": "._bpt",
    "kauffmann03": "._bpt",
    "kewley01": "._bpt",
    "GRID_CUBE_LINES": "._grid_cube",
    "make_grid_cube": "._grid_cube",
    "GRID_MAP_FLAGS": "._grid_maps",
    "GridMaps": "._grid_maps",
    "grid_fit_cube": "._grid_maps",
    "map_key": "._grid_maps",
    "direct_oh_maps": "._direct_maps",
    "BUILTIN_GRIDS": "._photoion_grid",
    "GridError": "._photoion_grid",
    "PhotoionizationGrid": "._photoion_grid",
    "load_photoionization_grid": "._photoion_grid",
    "GridInverter": "._grid_inverter",
    "conformal_factor": "._grid_calibrate",
    "pooled_stretch": "._grid_calibrate",
    "pooled_conditional_stretch": "._grid_calibrate",
    "GRID_FLAG_DESCRIPTIONS": "._grid_features",
    "GridEmulator": "._grid_emulator",
    "GridSolution": "._grid_solution",
    "grid_solution_set": "._grid_solution",
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
    "DIRECT_FLAGS",
    "DIRECT_METHOD_LINES",
    "direct_method_abundances",
    "GRID_ICF_FEATURES",
    "WEAK_LINES",
    "abundance_features",
    "correct_direct_oh",
    "grid_abundance_table",
    "holdout_nodes",
    "score_oh",
    "BPT_CLASSES",
    "BPT_LINES",
    "bpt_class",
    "bpt_class_from_fluxes",
    "kauffmann03",
    "kewley01",
    "GRID_CUBE_LINES",
    "make_grid_cube",
    "GRID_MAP_FLAGS",
    "GridMaps",
    "grid_fit_cube",
    "map_key",
    "direct_oh_maps",
    "BUILTIN_GRIDS",
    "GridError",
    "PhotoionizationGrid",
    "load_photoionization_grid",
    "GridInverter",
    "conformal_factor",
    "pooled_conditional_stretch",
    "pooled_stretch",
    "GRID_FLAG_DESCRIPTIONS",
    "GridEmulator",
    "GridSolution",
    "grid_solution_set",
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
