"""Shared PyTorch pieces: the MLP, the train/validation split, the training loop, batched and threaded inference,
safe weights."""

from ._calibrate import fit_temperature, softmax
from ._mlp import ACTIVATIONS, MLP
from ._split import train_validation_split
from ._threads import run_in_threads
from ._train import TrainConfig, fit_module, predict_batched
from ._weights import arrays_to_module, module_to_arrays

__all__ = ["ACTIVATIONS", "MLP", "TrainConfig", "arrays_to_module", "fit_module", "fit_temperature",
           "module_to_arrays", "predict_batched", "run_in_threads", "softmax", "train_validation_split"]
