"""A small, careful training loop: mini-batches, LR schedule, early stopping, seeds."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from .._estimator import compute_context
from .._progress import progress as _progress_bar

__all__ = ["TrainConfig", "fit_module", "predict_batched"]


@dataclasses.dataclass
class TrainConfig:
    """Optimisation settings for :func:`fit_module` (build from a dict with ``agnlab.validation.from_dict``)."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    max_epochs: int = 200
    patience: int | None = 20
    seed: int = 0
    device: str = "cpu"
    num_threads: int | None = None  # None: leave the caller's setting (estimators set it per call)
    lr_patience: int = 8
    lr_factor: float = 0.5
    min_lr: float = 1e-6
    schedule: str = "plateau"
    warmup_fraction: float = 0.05

    def __post_init__(self):
        if (self.lr <= 0 or self.batch_size < 1 or self.max_epochs < 1
                or (self.patience is not None and self.patience < 1) or not 0 <= self.warmup_fraction < 1):
            raise ValueError(f"invalid TrainConfig: {self}")
        if self.schedule not in ("plateau", "cosine"):
            raise ValueError(f"TrainConfig.schedule must be 'plateau' or 'cosine', got {self.schedule!r}")


def _as_tensors(data, device) -> tuple:
    if not isinstance(data, (tuple, list)):
        data = (data,)
    out = []
    for d in data:
        t = d if isinstance(d, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(d))
        if t.is_floating_point():
            t = t.float()
        out.append(t.to(device))
    return tuple(out)


def fit_module(module: torch.nn.Module, X_train, Y_train, X_val, Y_val, *, config: TrainConfig | None = None,
               loss_fn: Callable | None = None, progress: bool | None = None, desc: str = "training") -> dict:
    """Train ``module`` with Adam(W) and early stopping on validation loss.

    Learning-rate schedule (``config.schedule``): ``"plateau"`` halves the rate
    when the validation loss stalls (``lr_patience`` epochs); ``"cosine"`` is a
    one-cycle schedule over ``max_epochs``, stepped every batch (warm-up from
    ``lr / 10`` to ``lr`` over ``warmup_fraction`` of the steps, then cosine
    decay to ``lr / 1e4``). Early stopping after ``patience`` epochs without
    improvement (``None``: run every epoch). Either way the weights of the best
    validation epoch are restored.

    Parameters
    ----------
    module : torch.nn.Module
        Called as ``module(*X_batch)``.
    X_train, X_val : ndarray or tensor, or tuple of them
        Inputs, first axis = samples.
    Y_train, Y_val : ndarray or tensor, or tuple of them
        Targets; ``loss_fn(output, *Y_batch)`` (default: mean squared error).
    config : TrainConfig
    progress : bool, optional
        ``None`` shows it on a terminal only.

    Returns
    -------
    dict
        ``history`` (list of (train_loss, val_loss)), ``best_epoch``,
        ``best_val_loss``, ``train_seconds``. The module ends with the best
        validation weights, in eval mode.
    """
    cfg = config or TrainConfig()
    # threads and torch's global random state (dropout) are set for this call only
    with compute_context(cfg.num_threads, default_threads=None, torch_rng=np.random.default_rng(cfg.seed)):
        return _fit(module, X_train, Y_train, X_val, Y_val, cfg, loss_fn, progress, desc)


def _fit(module, X_train, Y_train, X_val, Y_val, cfg: TrainConfig, loss_fn, progress, desc) -> dict:
    device = torch.device(cfg.device)
    module.to(device)
    xt, yt = _as_tensors(X_train, device), _as_tensors(Y_train, device)
    xv, yv = _as_tensors(X_val, device), _as_tensors(Y_val, device)
    n = xt[0].shape[0]
    if n == 0 or xv[0].shape[0] == 0:
        raise ValueError("training and validation sets must not be empty")
    loss_fn = loss_fn or (lambda out, y: torch.mean((out - y) ** 2))
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_batch = per_epoch = None
    total_steps = cfg.max_epochs * math.ceil(n / cfg.batch_size)
    if cfg.schedule == "plateau":
        per_epoch = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.lr_factor, patience=cfg.lr_patience,
                                                               min_lr=cfg.min_lr)
    elif total_steps >= 4:  # cosine (with fewer steps there is no room for a cycle: a constant rate)
        # OneCycleLR divides by (warm-up steps - 1): a warm-up of under one step becomes two steps
        warmup = cfg.warmup_fraction if cfg.warmup_fraction * total_steps > 1.0 else 2.0 / total_steps
        per_batch = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total_steps, pct_start=warmup, anneal_strategy="cos", div_factor=10.0,
            final_div_factor=1e3)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    best, best_epoch, best_state, history, bad = math.inf, -1, None, [], 0
    t0 = time.perf_counter()
    bar = _progress_bar(range(cfg.max_epochs), desc=desc, disable=None if progress is None else not progress,
                   unit="epoch")
    try:
        for epoch in bar:
            module.train()
            perm = torch.randperm(n, generator=gen).to(device)
            total = 0.0
            for start in range(0, n, cfg.batch_size):
                idx = perm[start:start + cfg.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(module(*(x[idx] for x in xt)), *(y[idx] for y in yt))
                loss.backward()
                opt.step()
                if per_batch is not None:
                    per_batch.step()
                total += float(loss.detach()) * len(idx)
            val = evaluate_loss(module, xv, yv, loss_fn, cfg.batch_size * 8)
            history.append((total / n, val))
            if per_epoch is not None:
                per_epoch.step(val)
            if not math.isfinite(val):
                raise FloatingPointError(f"validation loss became {val} at epoch {epoch}; lower the learning rate")
            if val < best:
                best, best_epoch, bad = val, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                bad += 1
            bar.set_postfix(train=f"{total / n:.3g}", val=f"{val:.3g}")
            if cfg.patience is not None and bad >= cfg.patience:
                break
    except KeyboardInterrupt:  # interrupted: keep the best weights so far
        pass
    finally:
        bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return {"history": history, "best_epoch": best_epoch, "best_val_loss": best,
            "train_seconds": time.perf_counter() - t0}


@torch.no_grad()
def evaluate_loss(module, xs: tuple, ys: tuple, loss_fn, batch_size: int) -> float:
    """Mean of ``loss_fn`` over ``(xs, ys)`` in batches (weighted by batch size)."""
    module.eval()
    n = xs[0].shape[0]
    total = 0.0
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        total += float(loss_fn(module(*(x[sl] for x in xs)), *(y[sl] for y in ys))) * len(xs[0][sl])
    return total / n


@torch.no_grad()
def predict_batched(module: torch.nn.Module, X, *, batch_size: int = 65536, device: str = "cpu") -> np.ndarray:
    """Run ``module`` on ``X`` (n, ...) in chunks of ``batch_size``; returns a numpy array (float32)."""
    module.eval()
    module.to(device)
    X = np.asarray(X, dtype=np.float32)
    outs = []
    for start in range(0, len(X), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(X[start:start + batch_size])).to(device)
        outs.append(module(xb).cpu().numpy())
    if not outs:
        raise ValueError("X is empty")
    return np.concatenate(outs, axis=0)
