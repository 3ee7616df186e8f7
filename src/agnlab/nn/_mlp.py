"""The package's one multi-layer perceptron (an ``nn.Module``, kept apart from the estimators that train it)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "MLP"]

ACTIVATIONS = {"tanh": nn.Tanh, "silu": nn.SiLU, "gelu": nn.GELU, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}


class MLP(nn.Module):
    """Fully connected network: ``Linear -> activation`` per hidden layer, then a linear output.

    Parameters
    ----------
    n_in : int
        Number of input features.
    n_out : int
        Number of outputs.
    hidden : sequence of int
        Widths of the hidden layers.
    activation : str
        One of :data:`ACTIVATIONS`.

    Shapes: input (batch, n_in) float32 -> output (batch, n_out).
    """

    def __init__(self, n_in: int, n_out: int, hidden=(64, 64), activation: str = "tanh"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden!r}")
        layers = []
        width = int(n_in)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), ACTIVATIONS[activation]()]
            width = int(h)
        layers.append(nn.Linear(width, int(n_out)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def linear_layers(self) -> list:
        """The ``nn.Linear`` layers in order (used to export numpy weights)."""
        return [m for m in self.net if isinstance(m, nn.Linear)]
