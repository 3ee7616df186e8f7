"""Population workflow: WISE colour tracks of model SEDs, colour-colour histograms, and a
non-negative ElasticNet mix of tracks that reproduces an observed AGN histogram.

Selection and crossmatch of the observed sample live in :mod:`agnlab.catalog`.
"""

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    "PopulationFit": "._fit",
    "cash_expectation": "._statistics",
    "jensen_shannon": "._statistics",
    "parameter_distributions": "._statistics",
    "poisson_deviance": "._statistics",
    "reduced_chi2": "._statistics",
    "DesignMatrix": "._histogram",
    "angle_weights": "._histogram",
    "color_histogram": "._histogram",
    "design_matrix": "._histogram",
    "error_classes": "._histogram",
    "magnitude_error_model": "._histogram",
    "histogram_edges": "._histogram",
    "nonneg_enet": "._solver",
    "lam_band": "._maxent",
    "maxent_poisson": "._maxent",
    "maxent_select": "._maxent",
    "prior_counts": "._maxent",
    "nonneg_enet_path": "._solver",
    "plot_fit_histograms": "._plot",
    "plot_parameter_distributions": "._plot",
    "plot_selection": "._plot",
    "selection_threshold": "._selection",
    "add_host": "._host",
    "host_galaxy_fnu": "._host",
    "QUICK_TRACK_NODES": "._tracks",
    "TRACK_NODES": "._tracks",
    "ColorTracks": "._tracks",
    "color_tracks": "._tracks",
    "track_generator": "._tracks",
    "tracks_from_grid": "._tracks",
    "load_tracks": "._tracks_io",
    "save_tracks": "._tracks_io",
}

__all__ = [
    "QUICK_TRACK_NODES",
    "TRACK_NODES",
    "ColorTracks",
    "DesignMatrix",
    "PopulationFit",
    "add_host",
    "angle_weights",
    "cash_expectation",
    "color_histogram",
    "color_tracks",
    "design_matrix",
    "error_classes",
    "histogram_edges",
    "host_galaxy_fnu",
    "jensen_shannon",
    "lam_band",
    "load_tracks",
    "magnitude_error_model",
    "maxent_poisson",
    "maxent_select",
    "nonneg_enet",
    "nonneg_enet_path",
    "parameter_distributions",
    "plot_fit_histograms",
    "plot_parameter_distributions",
    "plot_selection",
    "poisson_deviance",
    "prior_counts",
    "reduced_chi2",
    "save_tracks",
    "selection_threshold",
    "track_generator",
    "tracks_from_grid",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
