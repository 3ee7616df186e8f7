"""Neural emulator: a small MLP predicting PCA coefficients of log10 flux, fast chunked inference."""

from __future__ import annotations

import math
import time

import numpy as np
from sklearn.base import RegressorMixin

from .._estimator import compute_context
from ..nn import ACTIVATIONS, MLP, run_in_threads, train_validation_split
from ._base import _LN10, EmulatorBase

__all__ = ["NeuralEmulator"]


class NeuralEmulator(RegressorMixin, EmulatorBase):
    """Neural emulator of a grid of SEDs: parameters -> MLP -> PCA coefficients -> log10 flux.

    The log10 fluxes are compressed with PCA (``n_components`` components); a
    multi-layer perceptron (:class:`MLP`, PyTorch) maps the
    parameters (log-scaled where useful, then to [-1, 1]) to the coefficients and
    is trained with :func:`agnlab.nn.fit_module` (Adam with a one-cycle cosine
    learning-rate schedule, best weights on a validation split kept), then
    optionally polished with full-batch L-BFGS (what makes small grids of a few
    hundred models accurate). The loss is the mean squared error of log10 flux
    (dex^2) through the fixed PCA basis. Prediction runs the float32 network in
    chunks of ``chunk_size`` rows (bounded memory), one chunk per thread at a time on ``n_jobs`` threads, and
    writes float64 fluxes, exponentiating in float64 where needed so tiny fluxes
    (1e-80) are kept.

    The defaults (SiLU 80x4, 32 components, ~60,000 Adam steps; a 117 KiB file) reach
    0.19 % median / 1.6 % 99th-percentile flux error over 1-30 um on models of the
    built-in 6-parameter grid held out from 80,000, and 0.05 % / 0.64 % on the real
    CLUMPY grid (864 training models), predicting 1e6 SEDs in ~0.45 s as float32 log10 fluxes
    (~1.1 s as float64 fluxes) on 2 cores (benchmarks/scale.py, BENCHMARKS.md).

    Parameters
    ----------
    n_components : int
        PCA components of the log10 fluxes.
    hidden : tuple of int
        Hidden layer widths.
    activation : {"silu", "tanh", "gelu", "relu", "leaky_relu"}
    lr, weight_decay, lr_patience : training settings (see :class:`agnlab.nn.TrainConfig`).
    max_epochs : int or None
        Adam epochs; None: enough for about 60,000 optimiser steps (100 to 5,000 epochs).
    patience : int or None
        Early stopping after this many epochs without improvement of the validation
        loss (None: a quarter of ``max_epochs``, at least 20); the weights of the best
        validation epoch are kept.
    schedule : {"cosine", "plateau"}
        One-cycle cosine learning rate over ``max_epochs`` (peak ``lr``), or halving on
        validation plateaus.
    batch_size : int or None
        Mini-batch size; None: n_train / 64 clipped to [32, 1024].
    lbfgs_steps : int or "auto"
        L-BFGS iterations after Adam (full batch, float64; 0 to skip); "auto": 4,000
        for up to 5,000 training models, else 0.
    validation_fraction : float
        Fraction of the models held out for early stopping.
    focus_wave_um : (float, float) or None
        Optional wavelength range [um] whose log-flux errors weigh ``focus_weight``
        times more in the loss (e.g. ``(1, 30)`` for mid-IR work); needs ``wave_um``
        in :meth:`fit`. None: all wavelengths weigh the same.
    focus_weight : float
        Relative weight of the focus range.
    log_params : "auto" or sequence of str
        Parameters given to the network in log space; "auto": positive parameters
        spanning a factor >= 10 whose values crowd at the low end (median in the
        lowest 30 % of the range, as for log-spaced grids).
    param_names : sequence of str, optional
    on_out_of_domain : {"raise", "nan"}
    chunk_size : int
        Rows per inference chunk (working memory per thread ~ chunk_size * (n_wave + 2 * widest layer)
        * 4 bytes); each thread runs whole chunks, so a chunk stays in its core's cache through every layer.
    n_jobs : int or None
        Threads: training uses ``n_jobs`` (None: one thread, which measured fastest for
        small-batch training and 5x faster than torch's default when cores are shared);
        :meth:`predict` uses ``n_jobs`` (None: the process's current setting). Set for
        the duration of the call only.
    random_state : int, numpy Generator or None
        Seed of the validation split, the initial weights and the batches.
    progress : bool or None
        Training progress bar (None: on a terminal only).
    device : str
        Torch device for training ("cpu", "cuda").

    Attributes
    ----------
    module_ : MLP
        The trained network (float32).
    training_record_ : dict
        best epoch, validation loss (dex^2), training seconds...

    Examples
    --------
    >>> from agnlab.grids import clumpy_like_grid
    >>> from agnlab.emulate import NeuralEmulator
    >>> g = clumpy_like_grid(400, seed=0)
    >>> emu = NeuralEmulator(hidden=(16,), max_epochs=5, lbfgs_steps=0, progress=False)
    >>> emu = emu.fit(g.params, g.flux, wave_um=g.wave_um)
    >>> emu.predict(g.params[:3]).shape
    (3, 119)
    """

    _fitted_attributes = ("module_",)

    def __init__(self, *, n_components=32, hidden=(80, 80, 80, 80), activation="silu", lr=3e-3, weight_decay=0.0,
                 max_epochs=None, patience=None, schedule="cosine", lr_patience=50, batch_size=None,
                 lbfgs_steps="auto", validation_fraction=0.1, focus_wave_um=None, focus_weight=10.0,
                 log_params="auto", param_names=None, on_out_of_domain="raise",
                 chunk_size=4096, n_jobs=None, random_state=0, progress=None, device="cpu"):
        self.n_components = n_components
        self.hidden = hidden
        self.activation = activation
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.schedule = schedule
        self.lr_patience = lr_patience
        self.batch_size = batch_size
        self.lbfgs_steps = lbfgs_steps
        self.validation_fraction = validation_fraction
        self.focus_wave_um = focus_wave_um
        self.focus_weight = focus_weight
        self.log_params = log_params
        self.param_names = param_names
        self.on_out_of_domain = on_out_of_domain
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.progress = progress
        self.device = device

    # ------------------------------------------------------------------ training
    def fit(self, X, Y=None, *, wave_um=None):
        """Train on parameters ``X`` (n_models, n_params) and fluxes ``Y`` (n_models, n_wave) > 0.

        Returns ``self``. ``wave_um`` (n_wave,) is optional and stored for evaluation.

        ``X`` may also be a :class:`agnlab.grids.ModelGrid` (then ``Y`` is omitted):
        its parameter names and ``wave_um`` are carried into the emulator, so
        ``emu.fit(grid)`` gives a model every CLI verb accepts.
        """
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if not 0.0 < float(self.validation_fraction) < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5), got {self.validation_fraction!r}")
        X, Y, names, wave_um = self._validate_fit(X, Y, wave_um)
        t0 = time.perf_counter()
        self._set_param_scaling(X, names)
        self.wave_um_ = wave_um
        rng = self._rng()
        train, val = train_validation_split(X.shape[0], self.validation_fraction, rng)
        logY = np.log10(Y)
        # PCA basis from the training part only (the validation models stay unseen)
        self._fit_pca(logY[train], self.n_components)
        coef = (logY - self.log_mean_) @ self.components_.T
        self.coef_scale_ = float(np.sqrt(np.mean(coef[train, 0] ** 2)))
        target = (coef / self.coef_scale_).astype(np.float32)
        Xs = self._scale_params(X).astype(np.float32)

        with compute_context(self.n_jobs, default_threads=1, torch_rng=rng):
            module, result, best_val, sizes = self._train(Xs, target, train, val, wave_um, logY.shape[1],
                                                          int(rng.integers(2**31 - 1)))
        batch, epochs, patience, lbfgs_steps = sizes
        self.module_ = module
        self._prepare_inference()
        self.training_record_ = {
            "n_train": int(train.size), "n_val": int(val.size), "batch_size": batch, "max_epochs": epochs,
            "patience": patience, "lbfgs_steps": lbfgs_steps, "best_epoch": int(result["best_epoch"]),
            "adam_val_loss_dex2": float(result["best_val_loss"]), "val_loss_dex2": best_val,
            "val_rms_dex": float(np.sqrt(best_val)), "epochs_run": len(result["history"]),
            "train_seconds": time.perf_counter() - t0,
            "pca_explained_variance": float(self.explained_variance_ratio_.sum()),
        }
        return self

    def _train(self, Xs, target, train, val, wave_um, n_wave, seed):
        """Build and train the network (inside the caller's thread/seed context)."""
        import torch

        from ..nn import TrainConfig, fit_module

        module = MLP(self.n_params_, self.n_components_, tuple(self.hidden), self.activation)
        batch, epochs, patience, lbfgs_steps = self._auto_training_sizes(train.size)
        cfg = TrainConfig(lr=float(self.lr), weight_decay=float(self.weight_decay), batch_size=batch,
                          max_epochs=epochs, patience=patience,
                          schedule=self.schedule, seed=seed, device=self.device,
                          lr_patience=int(self.lr_patience), lr_factor=0.5, min_lr=1e-6)
        # the loss: weighted dex^2 of log10 flux, through the (fixed) PCA basis
        weights = np.ones(n_wave)
        if self.focus_wave_um is not None:
            if wave_um is None:
                raise ValueError("focus_wave_um needs wave_um in fit()")
            lo, hi = self.focus_wave_um
            weights[(wave_um >= lo) & (wave_um <= hi)] = float(self.focus_weight)
        weights /= weights.mean()
        basis_w = torch.from_numpy((self.components_ * self.coef_scale_ * np.sqrt(weights)).astype(np.float32))

        def loss_fn(out, y):
            return torch.mean(((out - y) @ basis_w.to(out.device, out.dtype)) ** 2)

        result = fit_module(module, Xs[train], target[train], Xs[val], target[val], config=cfg,
                            loss_fn=loss_fn, progress=self.progress, desc="NeuralEmulator")
        best_val = float(result["best_val_loss"])
        if lbfgs_steps > 0:
            best_val = self._polish_lbfgs(module, Xs[train], target[train], Xs[val], target[val], loss_fn,
                                          best_val, lbfgs_steps)
        module.to("cpu").eval()
        return module, result, best_val, (batch, epochs, patience, lbfgs_steps)

    def _auto_training_sizes(self, n_train: int) -> tuple:
        """(batch size, Adam epochs, patience, L-BFGS steps), resolving the ``None``/"auto" settings."""
        batch = int(self.batch_size) if self.batch_size else int(np.clip(n_train // 64, 32, 1024))
        if self.max_epochs is None:
            epochs = int(np.clip(math.ceil(60_000 / math.ceil(n_train / batch)), 100, 5000))
        else:
            epochs = int(self.max_epochs)
        patience = max(20, epochs // 4) if self.patience is None else int(self.patience)
        if isinstance(self.lbfgs_steps, str):
            if self.lbfgs_steps != "auto":
                raise ValueError(f"lbfgs_steps must be an integer >= 0 or 'auto', got {self.lbfgs_steps!r}")
            lbfgs = 4000 if n_train <= 5000 else 0
        else:
            lbfgs = int(self.lbfgs_steps)
        if batch < 1 or epochs < 1 or patience < 1 or lbfgs < 0:
            raise ValueError(f"invalid training sizes: batch_size={batch}, max_epochs={epochs}, "
                             f"patience={patience}, lbfgs_steps={lbfgs}")
        return batch, epochs, patience, lbfgs

    def _polish_lbfgs(self, module, xt, yt, xv, yv, loss_fn, best_val, steps):
        """Full-batch L-BFGS in float64 after Adam; keeps the weights of the best validation loss."""
        import copy

        import torch

        module.to("cpu").double()
        xt, yt = torch.from_numpy(xt).double(), torch.from_numpy(yt).double()
        xv, yv = torch.from_numpy(xv).double(), torch.from_numpy(yv).double()
        with torch.no_grad():
            ref = float(loss_fn(module(xt), yt)) or 1.0
        opt = torch.optim.LBFGS(module.parameters(), lr=1.0, max_iter=50, history_size=100,
                                tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
        best_state = copy.deepcopy(module.state_dict())

        def closure():
            opt.zero_grad()
            loss = loss_fn(module(xt), yt) / ref   # O(1) so the line search stays well scaled
            loss.backward()
            return loss

        module.train()
        n_rounds = max(1, steps // 50)
        from .._progress import progress as _bar

        bar = _bar(range(n_rounds), desc="NeuralEmulator L-BFGS",
                   disable=None if self.progress is None else not self.progress)
        for _ in bar:
            opt.step(closure)
            with torch.no_grad():
                v = float(loss_fn(module(xv), yv))
            if not np.isfinite(v):
                break
            if v < best_val:
                best_val = v
                best_state = copy.deepcopy(module.state_dict())
        module.load_state_dict(best_state)
        module.float().eval()
        return best_val

    def _prepare_inference(self):
        """Inference constants, float32: the PCA basis and mean log flux in log10 units (``True``) and ln units."""
        import torch

        unit = {True: 1.0, False: _LN10}              # log10 or ln
        self._basis = {k: torch.from_numpy((self.components_ * (self.coef_scale_ * f)).astype(np.float32))
                       for k, f in unit.items()}
        self._mean_log = {k: torch.from_numpy((self.log_mean_ * f).astype(np.float32)) for k, f in unit.items()}

    # ------------------------------------------------------------------ inference
    def _forward_chunk(self, xs, out, log10: bool):
        """Fluxes (or log10 fluxes) of one chunk of scaled float32 parameters (tensor) into ``out`` (tensor view)."""
        import torch

        h, basis, mean = self.module_(xs), self._basis[log10], self._mean_log[log10]
        if out.dtype == torch.float32:               # written in place: no temporary of the output's size
            torch.addmm(mean, h, basis, out=out)
            if not log10:
                lo, hi = torch.aminmax(out)
                if not (-85.0 < float(lo) and float(hi) < 85.0):
                    raise ValueError(f"fluxes down to exp({float(lo):.0f}) and up to exp({float(hi):.0f}) leave "
                                     "float32's range; use dtype=float64 or output='log10_flux'")
                out.exp_()
            return
        z = torch.addmm(mean, h, basis)              # float32; float64 output
        if log10:
            out.copy_(z)
            return
        lo, hi = torch.aminmax(z)
        if -85.0 < float(lo) and float(hi) < 85.0:
            out.copy_(z.exp_())                      # fluxes inside float32 range: exp in float32
        else:                                        # tiny fluxes (e.g. 1e-80): exp in float64
            out.copy_(z)
            out.exp_()

    def predict(self, X, *, out=None, dtype=np.float64, output: str = "flux", return_flags: bool = False):
        """Predicted fluxes (or log10 fluxes).

        Parameters
        ----------
        X : array_like or DataFrame, shape (n, n_params)
            Parameters (a table is matched by column names).
        out : ndarray, shape (n, n_wave), optional
            Array to write into (for example a ``numpy.memmap``, a Zarr-backed
            buffer or a reused array), returned; C-contiguous, writeable, of ``dtype``.
        dtype : {numpy.float64, numpy.float32}
            Output precision. The network computes in float32 either way; float32
            output halves the memory written (fluxes outside float32's range raise:
            use ``output="log10_flux"`` for those).
        output : {"flux", "log10_flux"}
            Fluxes in the grid's units, or their base-10 logarithm (what most
            users store; never under- or overflows).

        Returns
        -------
        ndarray, shape (n, n_wave), ``dtype``
            Rows outside the training domain raise :class:`agnlab.OutOfDomainError`
            (``on_out_of_domain="raise"``) or are NaN (``"nan"``).
        flags : ndarray of str, shape (n,)
            Only with ``return_flags=True``: ``"ok"`` or ``"out_of_domain"``.
        """
        self._check_fitted()
        X = self._validate_predict(X)
        ok = self._domain_mask(X)
        n = X.shape[0]
        out = self._output_buffer(out, n, dtype, output)
        import torch

        xs = torch.from_numpy(self._scale_params(X).astype(np.float32))
        out_t = torch.from_numpy(out)                # shares memory with out
        step = max(1, int(self.chunk_size))
        chunks = [slice(s, s + step) for s in range(0, n, step)]
        log10 = output == "log10_flux"
        with compute_context(self.n_jobs, default_threads=None):
            run_in_threads(lambda c: self._forward_chunk(xs[c], out_t[c], log10), chunks)
        if not ok.all():
            out[~ok] = np.nan
        return self._with_flags(out, ok, return_flags)

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        from ..nn import module_to_arrays

        arrays = {**self._common_arrays(), **module_to_arrays(self.module_, prefix="nn.")}
        return arrays, {**self._common_meta(), "coef_scale": self.coef_scale_}

    def _set_state(self, arrays, meta):
        from ..nn import arrays_to_module

        self._restore_common(arrays, meta)
        self.coef_scale_ = float(meta["coef_scale"])
        module = MLP(self.n_params_, self.n_components_, tuple(self.hidden), self.activation)
        arrays_to_module(module, {k: v.astype(np.float32) for k, v in arrays.items() if k.startswith("nn.")})
        self.module_ = module.eval()
        self._prepare_inference()
