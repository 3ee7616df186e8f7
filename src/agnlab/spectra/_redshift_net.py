"""The redshift network (a ``torch.nn.Module``, kept apart from the estimator) and its training loss."""

from __future__ import annotations

import torch
from torch import nn

from ._mlcommon import conv_block

__all__ = ["RedshiftNet", "redshift_loss"]


class RedshiftNet(nn.Module):
    """Conv stack -> dense -> (bin logits, bin offsets).

    Parameters
    ----------
    n_pix : int
        Length of the rebinned input (2 channels: flux, log S/N).
    n_bins : int
        Number of ``log10(1+z)`` bins.
    channels : tuple of int
        Output channels of the conv blocks (each halves the length).
    kernel : int
    hidden : int
        Width of the dense layer.
    dropout : float

    Forward: ``x`` (batch, 2, n_pix) -> (batch, 2 * n_bins): logits then offsets.
    """

    def __init__(self, n_pix: int, n_bins: int, *, channels=(16, 32, 48, 64, 64), kernel: int = 5,
                 hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        blocks, c_in, length = [], 2, n_pix
        for i, c in enumerate(channels):
            blocks.append(conv_block(c_in, c, kernel + 2 if i == 0 else kernel))
            c_in, length = c, length // 2
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * length, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, 2 * n_bins))
        self.n_bins = n_bins

    def forward(self, x):
        return self.head(self.features(x))


def redshift_loss(out, y_cls, y_off, *, n_bins: int, offset_weight: float = 1.0, smoothing: float = 0.02):
    """Cross-entropy over the bins (label smoothing) + squared error of the true bin's offset."""
    logits, offs = out[:, :n_bins], out[:, n_bins:]
    ce = nn.functional.cross_entropy(logits, y_cls, label_smoothing=smoothing)
    pred_off = offs.gather(1, y_cls[:, None])[:, 0]
    return ce + offset_weight * torch.mean((pred_off - y_off) ** 2)
