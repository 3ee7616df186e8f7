"""Solution-set search and posterior sampling over any forward model or emulator.

``solution_set(forward, observed, sigma, bounds, method=...)`` returns every
parameter vector whose chi^2 lies within Delta chi^2 of the minimum (the
region consistent with the data at a chosen joint confidence), the best fit,
the number of forward-model evaluations and the run time, and posterior
samples when a sampler is used. ``forward`` is any vectorised callable
theta (n, n_params) -> predictions (n, n_obs): a ``NeuralEmulator.predict``,
a line-ratio model, or a :class:`GridForward` over a tabulated grid.
"""

from ._grid import GridForward, sed_forward
from ._sed import fit_sed, load_sed_model, sed_model_forward
from ._plot import corner_plot, credible_intervals, hpd_levels
from ._solution import SolutionSet, delta_chi2_threshold, solution_set

__all__ = [
    "GridForward",
    "SolutionSet",
    "corner_plot",
    "credible_intervals",
    "delta_chi2_threshold",
    "fit_sed",
    "hpd_levels",
    "load_sed_model",
    "sed_forward",
    "sed_model_forward",
    "solution_set",
]
