"""The DLA window network (a ``torch.nn.Module``, kept apart from the estimator) and its training loss."""

from __future__ import annotations

from torch import nn

from ._mlcommon import conv_block

__all__ = ["DLANet", "dla_loss"]


class DLANet(nn.Module):
    """Fully convolutional window CNN with presence / position / log NHI heads.

    Parameters
    ----------
    channels : tuple of int
        Channels of the pooled stem (each block halves the length; 3 blocks
        give 8-pixel cells), the last one continuing into the dilated blocks.
    dilations : tuple of int
        Dilations of the conv blocks at cell resolution (widen the window).
    kernel : int

    Forward: ``x`` (batch, 2, n_pix) -> (batch, 3, n_pix // 8): presence logit,
    offset (cells), normalised log NHI.
    """

    def __init__(self, *, channels=(16, 32, 48, 64), dilations=(1, 2, 4, 8), kernel: int = 5):
        super().__init__()
        layers, c_in = [], 2
        for i, c in enumerate(channels[:3]):
            layers.append(conv_block(c_in, c, kernel + 2 if i == 0 else kernel))
            c_in = c
        c_out = channels[3] if len(channels) > 3 else c_in
        for d in dilations:
            layers.append(conv_block(c_in, c_out, kernel, dilation=d, pool=False))
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv1d(c_in, 3, 1)

    def forward(self, x):
        return self.head(self.body(x))


def dla_loss(out, heat, reg_mask, off, nhi, *, pos_weight: float):
    """Presence BCE (weighted near DLAs) + smooth-L1 offset and log NHI on cells near a DLA."""
    logit, poff, pnhi = out[:, 0], out[:, 1], out[:, 2]
    w = 1.0 + pos_weight * heat
    bce = nn.functional.binary_cross_entropy_with_logits(logit, heat, weight=w)
    m = reg_mask
    denom = m.sum().clamp_min(1.0)
    l_off = (nn.functional.smooth_l1_loss(poff, off, reduction="none", beta=0.5) * m).sum() / denom
    l_nhi = (nn.functional.smooth_l1_loss(pnhi, nhi, reduction="none", beta=0.5) * m).sum() / denom
    return bce + 0.5 * l_off + 0.5 * l_nhi
