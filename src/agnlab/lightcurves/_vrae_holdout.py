"""Held-out-season prediction for the reconstruction score ``R`` (``VRAEAnomalyDetector(r_mode="held_out_season")``).

A VRAE that reconstructs a curve from the whole curve also reconstructs an event that its encoder reads as
a slow trend or as a larger scatter, and its predicted error takes the rest, so ``R`` stays ordinary. Here
the network learns to predict one observing season from the others: every time a training curve is drawn,
one of its seasons (chosen at random) is removed from the encoder's input, the decoder predicts every epoch
and is told which were held out, and the held-out epochs weigh ``held_out_weight`` times the others in the
loss. ``R`` then uses, for every epoch, the prediction made with its own season held out (a curve with a
single season: its plain reconstruction), so an event confined to some seasons is compared with what the
others allow. Seasons are runs of epochs separated by gaps longer than ``gap_days``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["HeldOutSeasonVRAE", "season_arrays", "season_index"]


def season_index(t_days, gap_days: float) -> np.ndarray:
    """Season number (0, 1, ...) of each epoch of one time-ordered curve: a gap over ``gap_days`` starts a new one."""
    t = np.asarray(t_days, dtype=float)
    return np.r_[0, np.cumsum(np.diff(t) > gap_days)].astype(np.int64) if t.size else np.zeros(0, np.int64)


def season_arrays(times, length: int, gap_days: float):
    """Padded ``(t, season, n_seasons)`` tensors of a batch: ``times`` is a list of per-curve epoch times (days,
    time-ordered), padded to ``length`` epochs (time 0, season -1)."""
    n = len(times)
    t = np.zeros((n, length), np.float32)
    season = np.full((n, length), -1, np.int64)
    n_seasons = np.zeros(n, np.int64)
    for i, ti in enumerate(times):
        s = season_index(ti, gap_days)
        t[i, :s.size], season[i, :s.size] = ti - (ti[0] if ti.size else 0.0), s
        n_seasons[i] = s[-1] + 1 if s.size else 0
    return torch.from_numpy(t), torch.from_numpy(season), torch.from_numpy(n_seasons)


class HeldOutSeasonVRAE(nn.Module):
    """Wraps a :class:`agnlab.lightcurves._vrae_net.VRAE` built with ``n_cond_extra=1`` (the held-out flag).

    ``forward(x, cond, lengths, t, season, n_seasons)`` (training): one random season held out per curve with two
    or more; returns ``(m_pred, log_err, mu, logvar, weight)``, ``weight`` the per-epoch loss weight.
    :meth:`predict` gives every epoch's prediction with its own season held out.
    """

    def __init__(self, net, dt_scale: float, held_out_weight: float = 3.0):
        super().__init__()
        self.net = net
        self.dt_scale = float(dt_scale)
        self.held_out_weight = float(held_out_weight)

    def _run(self, x, cond, lengths, t, season, hold, sample: bool):
        """Encoder on the epochs outside season ``hold`` (per curve; -1: none held out), decoder on all epochs."""
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        held = valid & (season == hold[:, None])
        keep = valid & ~held
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)      # kept epochs first, in time order
        x_enc = torch.gather(x, 1, order[..., None].expand(-1, -1, x.shape[2])).clone()
        t_enc = torch.gather(t, 1, order)
        kept = torch.gather(keep, 1, order).to(x.dtype)
        step = (t_enc - torch.cat([t_enc[:, :1], t_enc[:, :-1]], dim=1)).clamp_min(0.0)
        x_enc[..., 0] = torch.log1p(step) / self.dt_scale * kept                 # time steps between kept epochs
        mu, logvar = self.net.encode(x_enc, keep.sum(1).clamp_min(1))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        m_pred, log_err = self.net.decode(z, torch.cat([cond, held[..., None].to(cond.dtype)], dim=2))
        return m_pred, log_err, mu, logvar, held

    def forward(self, x, cond, lengths, t, season, n_seasons):
        pick = torch.minimum((torch.rand(n_seasons.shape, device=x.device) * n_seasons).long(), n_seasons - 1)
        hold = torch.where(n_seasons >= 2, pick, torch.full_like(n_seasons, -1))
        m_pred, log_err, mu, logvar, held = self._run(x, cond, lengths, t, season, hold, sample=self.training)
        return m_pred, log_err, mu, logvar, 1.0 + (self.held_out_weight - 1.0) * held.to(x.dtype)

    @torch.no_grad()
    def predict(self, x, cond, lengths, t, season, n_seasons):
        """``(m_pred, log_err, mu, logvar)``: every epoch predicted with its own season held out (curves with one
        season: reconstructed); the latent posterior of the whole curve."""
        none = torch.full_like(n_seasons, -1)
        m_pred, log_err, mu, logvar, _ = self._run(x, cond, lengths, t, season, none, sample=False)
        for s in range(int(n_seasons.max()) if n_seasons.numel() else 0):
            idx = torch.nonzero((n_seasons >= 2) & (n_seasons > s)).ravel()
            if idx.numel() == 0:
                continue
            hold = torch.full_like(idx, s)
            m_s, log_s, _, _, held = self._run(x[idx], cond[idx], lengths[idx], t[idx], season[idx], hold,
                                               sample=False)
            m_pred[idx] = torch.where(held, m_s, m_pred[idx])
            log_err[idx] = torch.where(held, log_s, log_err[idx])
        return m_pred, log_err, mu, logvar
