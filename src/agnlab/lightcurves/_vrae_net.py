"""The variational recurrent autoencoder network (PyTorch module only; the estimator trains it).

Encoder: a GRU over epochs whose inputs are the time since the previous epoch (log-scaled), the
magnitude relative to the band's median, its error, the band (one-hot) and optionally (``n_extra``)
an upper-limit flag and the limit — irregular sampling
enters through the time differences (Sánchez-Sáez et al. 2021, AJ 162, 206). The last hidden state
(with ``pool``, also the mean and maximum of the hidden states over the epochs, so that an event
in the middle of the curve reaches the latent space) gives the latent mean and log-variance.
With ``n_energy`` > 0 the summary also holds an unbounded "energy" pooling: ``n_energy`` learned linear
projections of each epoch's inputs and hidden state, pooled over the epochs as the log root mean square
and the log maximum absolute value. The GRU states are bounded (tanh), so without it a curve of
amplitude far beyond the training range lands at the edge of the training latents; with it, its
latent moves on beyond them, in proportion to the log of the excess (used by the Isolation Forest's
network, whose decoder need not be the one that computes ``R``).
Decoder: a GRU fed the latent vector, the time differences and the band at every epoch (and ``n_cond_extra``
more per-epoch columns, e.g. a held-out flag, :mod:`agnlab.lightcurves._vrae_holdout`); it outputs the
magnitude and log of a predicted error.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VRAE", "vrae_loss"]


class VRAE(nn.Module):
    def __init__(self, n_bands: int, hidden: int = 32, latent: int = 8, n_extra: int = 0, pool: bool = False,
                 n_energy: int = 0, n_cond_extra: int = 0):
        super().__init__()
        self.pool = pool
        self.n_energy = n_energy
        n_in = 3 + n_extra + n_bands
        self.enc = nn.GRU(n_in, hidden, batch_first=True)
        n_summary = (3 * hidden if pool else hidden) + 2 * n_energy
        if n_energy:
            self.to_energy = nn.Linear(n_in + hidden, n_energy)
        self.to_mu = nn.Linear(n_summary, latent)
        self.to_logvar = nn.Linear(n_summary, latent)
        self.from_z = nn.Linear(latent, hidden)
        self.dec = nn.GRU(1 + n_bands + n_cond_extra + latent, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def encode(self, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.enc(packed)
        summary = h[-1]
        if self.pool or self.n_energy:
            y, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
            n = lengths.to(y.device)
            valid = (torch.arange(y.shape[1], device=y.device)[None, :] < n[:, None]).unsqueeze(2)
        if self.pool:        # the last state forgets mid-curve events: add the mean and max over epochs
            mean = (y * valid).sum(1) / n[:, None].clamp_min(1)
            peak = torch.where(valid, y, torch.full_like(y, -1e4)).max(1).values
            summary = torch.cat([summary, mean, peak], dim=1)
        if self.n_energy:    # unbounded: log RMS and log max |.| of learned projections over the epochs
            p = self.to_energy(torch.cat([x[:, :y.shape[1]], y], dim=2)) * valid
            rms = torch.sqrt((p ** 2).sum(1) / n[:, None].clamp_min(1) + 1e-6)
            summary = torch.cat([summary, torch.log(rms), torch.log(p.abs().max(1).values + 1e-3)], dim=1)
        return self.to_mu(summary), self.to_logvar(summary).clamp(-10.0, 5.0)

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


def vrae_loss(output, target, err, mask, limit=None, *, beta: float = 1.0, free_bits: float = 0.0):
    """Gaussian negative log-likelihood with variance err^2 + err_pred^2 per epoch, plus beta x KL.

    Epochs with ``limit == 1`` are upper limits (``target`` the limit): their term is the censored
    ``-ln P(m > m_lim) = -ln Phi((m_pred - m_lim) / sqrt(var))``. The KL term is per object, the
    likelihood per epoch, both averaged: ``beta = 1`` is the evidence lower bound per epoch.
    ``free_bits`` (nats per latent dimension, Kingma et al. 2016): KL below it is not penalised, which
    keeps the latent dimensions in use (against posterior collapse).
    """
    m_pred, log_err, mu, logvar = output
    var = err ** 2 + torch.exp(2 * log_err)
    nll = 0.5 * (torch.log(var) + (target - m_pred) ** 2 / var)
    if limit is not None:
        z = (m_pred - target) / torch.sqrt(var)
        censored = -torch.special.log_ndtr(z)
        nll = nll * (1.0 - limit) + censored * limit
    nll = (nll * mask).sum() / mask.sum().clamp_min(1.0)
    kl_dim = -0.5 * torch.mean(1 + logvar - mu ** 2 - torch.exp(logvar), dim=0)      # per latent dimension
    kl = torch.sum(torch.clamp(kl_dim, min=free_bits)) if free_bits > 0 else torch.sum(kl_dim)
    return nll + beta * kl / mask.sum(dim=1).mean().clamp_min(1.0)
