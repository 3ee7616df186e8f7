"""Population workflow: WISE colour tracks of model SEDs, colour-colour histograms, and a
non-negative ElasticNet mix of tracks that reproduces an observed AGN histogram.

Selection and crossmatch of the observed sample live in :mod:`agnlab.catalog`.
"""

from ._fit import PopulationFit, jensen_shannon, parameter_distributions, poisson_deviance, reduced_chi2
from ._histogram import DesignMatrix, angle_weights, color_histogram, design_matrix, histogram_edges
from ._solver import nonneg_enet, nonneg_enet_path
from ._tracks import ColorTracks, color_tracks, tracks_from_grid

__all__ = [
    "ColorTracks",
    "DesignMatrix",
    "PopulationFit",
    "angle_weights",
    "color_histogram",
    "color_tracks",
    "design_matrix",
    "histogram_edges",
    "jensen_shannon",
    "nonneg_enet",
    "nonneg_enet_path",
    "parameter_distributions",
    "poisson_deviance",
    "reduced_chi2",
    "tracks_from_grid",
]
