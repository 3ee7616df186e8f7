"""Emulators of model-spectrum grids: PCA baseline and neural emulator, with accuracy metrics.

Both follow the scikit-learn API: ``fit(X, Y)`` with parameters ``X`` (n_models,
n_params) and fluxes ``Y`` (n_models, n_wave); ``predict(X)`` -> fluxes;
``save(path)`` / ``Class.load(path)`` through safe agnlab artifacts.
"""

from .._lazy import lazy_exports

# public name -> defining module, imported on first use (keeps the import and the CLI fast)
_EXPORTS = {
    "OutOfDomainError": ".._domain",
    "color_errors": "._metrics",
    "evaluate_emulator": "._metrics",
    "flux_error_summary": "._metrics",
    "fractional_flux_error": "._metrics",
    "NeuralEmulator": "._neural",
    "PCAEmulator": "._pca",
    "fit_sed": "._sed_fit",
    "load_sed_model": "._sed_fit",
    "sed_model_forward": "._sed_fit",
    "TORUS_SED_TRUTH": "._sed_demo",
    "TORUS_SED_WAVE_UM": "._sed_demo",
    "torus_sed_problem": "._sed_demo",
}

__all__ = [
    "NeuralEmulator",
    "OutOfDomainError",
    "PCAEmulator",
    "TORUS_SED_TRUTH",
    "TORUS_SED_WAVE_UM",
    "color_errors",
    "evaluate_emulator",
    "fit_sed",
    "flux_error_summary",
    "fractional_flux_error",
    "load_emulator",
    "load_sed_model",
    "sed_model_forward",
    "torus_sed_problem",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def load_emulator(path):
    """Load a saved :class:`PCAEmulator` or :class:`NeuralEmulator` (whichever the file holds)."""
    from ..io import ArtifactError, load_artifact
    from ._neural import NeuralEmulator
    from ._pca import PCAEmulator

    _, meta = load_artifact(path)
    kinds = {c.artifact_kind(): c for c in (PCAEmulator, NeuralEmulator)}
    cls = kinds.get(meta["_kind"])
    if cls is None:
        raise ArtifactError(f"{path}: holds a {meta['_kind']!r}, not an agnlab emulator")
    return cls.load(path)
