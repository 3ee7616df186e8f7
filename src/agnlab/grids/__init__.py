"""Model grids: the ModelGrid container, loaders, and the built-in clumpy-torus-like generator."""

from ._clumpy_sim import (
    CLUMPY_PARAM_RANGES,
    CLUMPY_WAVE_UM,
    clumpy_like_grid,
    clumpy_like_regular_grid,
    clumpy_like_sed,
)
from ._load import CLUMPY_PARAM_NAMES, iter_clumpy_hdf5, load_grid, save_grid
from ._model_grid import ModelGrid

__all__ = [
    "CLUMPY_PARAM_NAMES",
    "CLUMPY_PARAM_RANGES",
    "CLUMPY_WAVE_UM",
    "ModelGrid",
    "clumpy_like_grid",
    "clumpy_like_regular_grid",
    "clumpy_like_sed",
    "iter_clumpy_hdf5",
    "load_grid",
    "save_grid",
]
