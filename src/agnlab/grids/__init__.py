"""Model grids: the ModelGrid container, loaders, and built-in generators."""

from ._load import CLUMPY_PARAMS, iter_clumpy_hdf5, load_grid, save_grid
from ._model_grid import ModelGrid

__all__ = ["CLUMPY_PARAMS", "ModelGrid", "iter_clumpy_hdf5", "load_grid", "save_grid"]
