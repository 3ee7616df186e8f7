"""Solution-set search and posterior sampling over any forward model or emulator.

``solution_set(forward, observed, sigma, bounds, method=...)`` returns every
parameter vector whose chi^2 lies within Delta chi^2 of the minimum (the
region consistent with the data at a chosen joint confidence), the best fit,
the number of forward-model evaluations and the run time, and posterior
samples when a sampler is used. ``forward`` is any vectorised callable
theta (n, n_params) -> predictions (n, n_obs): a ``NeuralEmulator.predict``,
a line-ratio model, or a :class:`GridForward` over a tabulated grid.

A shared layer: it imports no workflow. Fitting an SED with a saved emulator
(``fit_sed``, ``load_sed_model``, ``sed_model_forward``) lives in
:mod:`agnlab.emulate`; the Te/Ne line-ratio forward model in :mod:`agnlab.nebular`.
"""

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    "GridForward": "._grid",
    "sed_forward": "._grid",
    "ChiSquare": "._objective",
    "corner_plot": "._plot",
    "credible_intervals": "._plot",
    "hpd_levels": "._plot",
    "SolutionSet": "._solution",
    "delta_chi2_threshold": "._solution",
    "solution_set": "._solution",
}

__all__ = [
    "ChiSquare",
    "GridForward",
    "SolutionSet",
    "corner_plot",
    "credible_intervals",
    "delta_chi2_threshold",
    "hpd_levels",
    "sed_forward",
    "solution_set",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
