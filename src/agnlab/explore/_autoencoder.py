"""A small PyTorch autoencoder (encoder and decoder are ``agnlab.nn.MLP``), trained by ``agnlab.nn.fit_module``."""

from __future__ import annotations

import numpy as np

__all__ = ["build_net", "train_autoencoder"]


def _net_class():
    import torch
    from torch import nn

    from ..nn import MLP

    class AutoEncoderNet(nn.Module):
        """``encoder: (batch, d) -> (batch, latent)``, ``decoder: latent -> d``; forward returns the reconstruction."""

        def __init__(self, n_in: int, latent: int, hidden: int):
            super().__init__()
            self.encoder = MLP(n_in, latent, hidden=(hidden,), activation="silu")
            self.decoder = MLP(latent, n_in, hidden=(hidden,), activation="silu")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decoder(self.encoder(x))

    return AutoEncoderNet


def __getattr__(name):
    if name == "AutoEncoderNet":
        return _net_class()
    raise AttributeError(name)


def build_net(n_in: int, latent: int, hidden: int):
    return _net_class()(int(n_in), int(latent), int(hidden))


def train_autoencoder(X, *, latent: int, hidden: int, max_epochs: int, batch_size: int, validation_fraction: float,
                      rng, progress=None):
    """Train on ``X`` (n, d) float; returns ``(net, record)``."""
    from ..nn import TrainConfig, fit_module, train_validation_split

    X = np.asarray(X, dtype=np.float32)
    if len(X) < 4:
        raise ValueError(f"the autoencoder needs at least 4 rows, got {len(X)}")
    tr, va = train_validation_split(len(X), validation_fraction, rng)
    seed = int(rng.integers(0, 2**31 - 1))
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_net(X.shape[1], latent, hidden)
    cfg = TrainConfig(lr=3e-3, batch_size=int(batch_size), max_epochs=int(max_epochs), patience=10, seed=seed)
    rec = fit_module(net, X[tr], X[tr], X[va], X[va], config=cfg, progress=progress, desc="autoencoder")
    return net, {"best_epoch": rec["best_epoch"], "best_val_loss": rec["best_val_loss"],
                 "train_seconds": rec["train_seconds"], "epochs": len(rec["history"])}
