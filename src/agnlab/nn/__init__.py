"""Shared PyTorch pieces: training loop with early stopping, batched inference, safe weights."""

from ._train import TrainConfig, fit_module, predict_batched, seed_everything
from ._weights import arrays_to_module, module_to_arrays

__all__ = ["TrainConfig", "arrays_to_module", "fit_module", "module_to_arrays", "predict_batched", "seed_everything"]
