"""Model grids: the ModelGrid container, loaders, and built-in generators."""

from ._load import CLUMPY_PARAMS, iter_clumpy_hdf5, load_grid, save_grid
from ._model_grid import ModelGrid
from ._clumpy_sim import (CLUMPY_PARAM_RANGES, CLUMPY_WAVE_UM, clumpy_like_grid, clumpy_like_regular_grid,
                          clumpy_like_sed)

__all__ = [
    "CLUMPY_PARAM_RANGES",
    "CLUMPY_WAVE_UM",
    "clumpy_like_grid",
    "clumpy_like_regular_grid",
    "clumpy_like_sed",
    "CLUMPY_PARAMS", "ModelGrid", "iter_clumpy_hdf5", "load_grid", "save_grid"]
