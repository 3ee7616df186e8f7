"""Module weights as plain numpy arrays (for npz artifacts; never pickle)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["module_to_arrays", "arrays_to_module"]


def module_to_arrays(module: torch.nn.Module, prefix: str = "nn.") -> dict:
    """Return ``{prefix + name: ndarray}`` for every tensor of ``module.state_dict()``."""
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def arrays_to_module(module: torch.nn.Module, arrays: dict, prefix: str = "nn.") -> torch.nn.Module:
    """Load weights saved by :func:`module_to_arrays` into ``module`` (strict: names and shapes must match)."""
    state = {k[len(prefix):]: torch.from_numpy(np.asarray(v)) for k, v in arrays.items() if k.startswith(prefix)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"weights do not match the network: missing {missing}, unexpected {unexpected}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ValueError(f"weight {k!r}: shape {tuple(v.shape)} in file, {tuple(expected[k].shape)} in network")
    module.load_state_dict(state, strict=True)
    return module
