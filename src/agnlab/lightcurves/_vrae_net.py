"""The variational recurrent autoencoder network (PyTorch module only; the estimator trains it).

Encoder: a GRU over epochs whose inputs are the time since the previous epoch (log-scaled), the
magnitude relative to the band's median, its error and the band (one-hot) — irregular sampling
enters through the time differences (Sánchez-Sáez et al. 2021, AJ 162, 206). The last hidden state
gives the latent mean and log-variance. Decoder: a GRU fed the latent vector, the time differences
and the band at every epoch; it outputs the magnitude and log of a predicted error.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VRAE", "vrae_loss"]


class VRAE(nn.Module):
    def __init__(self, n_bands: int, hidden: int = 32, latent: int = 8):
        super().__init__()
        self.enc = nn.GRU(3 + n_bands, hidden, batch_first=True)
        self.to_mu = nn.Linear(hidden, latent)
        self.to_logvar = nn.Linear(hidden, latent)
        self.from_z = nn.Linear(latent, hidden)
        self.dec = nn.GRU(1 + n_bands + latent, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def encode(self, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.enc(packed)
        return self.to_mu(h[-1]), self.to_logvar(h[-1]).clamp(-10.0, 5.0)

    def decode(self, z, cond):
        zz = z[:, None, :].expand(-1, cond.shape[1], -1)
        h0 = torch.tanh(self.from_z(z))[None]
        y, _ = self.dec(torch.cat([cond, zz], dim=2), h0.contiguous())
        o = self.out(y)
        return o[..., 0], o[..., 1].clamp(-7.0, 1.0)

    def forward(self, x, cond, lengths, sample: bool = True):
        mu, logvar = self.encode(x, lengths)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample and self.training else mu
        m_pred, log_err = self.decode(z, cond)
        return m_pred, log_err, mu, logvar


def vrae_loss(output, target, err, mask, *, beta: float = 0.1):
    """Gaussian negative log-likelihood with variance err^2 + err_pred^2 per epoch, plus beta x KL."""
    m_pred, log_err, mu, logvar = output
    var = err ** 2 + torch.exp(2 * log_err)
    nll = 0.5 * (torch.log(var) + (target - m_pred) ** 2 / var)
    nll = (nll * mask).sum() / mask.sum().clamp_min(1.0)
    kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu ** 2 - torch.exp(logvar), dim=1))
    return nll + beta * kl / mask.sum(dim=1).mean().clamp_min(1.0)
