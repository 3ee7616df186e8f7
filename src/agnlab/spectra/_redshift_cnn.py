"""Quasar redshifts from a 1-D CNN on log-wavelength rebinned spectra.

QuasarNET-like design: the network classifies ``log10(1 + z)`` into bins
spanning the trained redshift range and, for every bin, regresses the offset
of the true value inside the bin. The prediction is the arg-max bin plus its
offset. Classification + offset is much more robust than plain regression
(no pull towards the mean of the training set; confusions between emission
lines show up as a low bin probability, not as a silently wrong middle value).

The :class:`RedshiftNet` (``torch.nn.Module``) is kept apart from the
estimator :class:`RedshiftEstimator`, which handles rebinning, normalisation,
training (through :func:`agnlab.nn.fit_module`), flags and artifacts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from torch import nn

from .._progress import progress as _progress
from .._validation import check_is_fitted, check_random_state
from ..io import ArtifactError
from ..nn import TrainConfig, arrays_to_module, fit_module, seed_everything
from ._mlcommon import (C_KMS, SpectraWarning, conv_block, default_z_range, inference_net, load_estimator,
                        robust_scale, save_estimator, spectral_features, truth_z)
from ._rebin import LogRebinner, check_wave, clean_spectra, log_wave_grid

__all__ = ["RedshiftNet", "RedshiftEstimator", "redshift_metrics"]

_KIND = "agnlab.spectra.RedshiftEstimator"


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


def _loss(out, y_cls, y_off, *, n_bins: int, offset_weight: float = 1.0, smoothing: float = 0.02):
    logits, offs = out[:, :n_bins], out[:, n_bins:]
    ce = nn.functional.cross_entropy(logits, y_cls, label_smoothing=smoothing)
    pred_off = offs.gather(1, y_cls[:, None])[:, 0]
    return ce + offset_weight * torch.mean((pred_off - y_off) ** 2)


def redshift_metrics(z_true, z_pred, *, catastrophic_kms: float = 3000.0) -> dict:
    """Velocity errors ``dv = c (z_pred - z_true) / (1 + z_true)``.

    Returns
    -------
    dict
        ``n``, ``median_abs_dv_kms``, ``nmad_dv_kms``, ``mean_abs_frac_err`` (|dz|/z),
        ``catastrophic_frac`` (|dv| > ``catastrophic_kms``; NaN predictions count as failures).
    """
    zt = np.asarray(z_true, float)
    zp = np.asarray(z_pred, float)
    dv = C_KMS * (zp - zt) / (1 + zt)
    ok = np.isfinite(dv)
    adv = np.abs(dv[ok])
    med = float(np.median(adv)) if ok.any() else float("nan")
    nmad = float(1.4826 * np.median(np.abs(dv[ok] - np.median(dv[ok])))) if ok.any() else float("nan")
    return {"n": int(zt.size), "median_abs_dv_kms": med, "nmad_dv_kms": nmad,
            "mean_abs_frac_err": float(np.mean(np.abs(zp[ok] - zt[ok]) / zt[ok])) if ok.any() else float("nan"),
            "catastrophic_frac": float((np.sum(adv > catastrophic_kms) + np.sum(~ok)) / max(zt.size, 1))}


class RedshiftEstimator(BaseEstimator):
    """1-D CNN quasar redshift estimator (classification over log(1+z) bins + offset).

    Parameters
    ----------
    wave_min_aa, wave_max_aa : float
        Observed-frame range of the model grid (Angstrom).
    dlog10 : float
        Model grid step in ``log10(wavelength)`` (3e-4 ~ 207 km/s per pixel).
    z_range : (float, float) or None
        Trained redshift range; ``None`` takes it from the training truth
        (min/max rounded outwards to 0.1).
    bin_width_kms : float
        Width of the classification bins in velocity (``c * ln(10) * dlog10(1+z)``).
    channels, kernel, hidden, dropout :
        Network shape (see :class:`RedshiftNet`).
    lr, weight_decay, batch_size, max_epochs, patience :
        Optimisation (see :class:`agnlab.nn.TrainConfig`).
    val_fraction : float
        Fraction of the training spectra held out for early stopping.
    min_confidence : float
        Predictions whose probability (summed over the arg-max bin and its two
        neighbours) is below this are flagged ``low_confidence``.
    seed : int
    chunk_size : int
        Spectra rebinned at a time.
    num_threads : int or None
        Torch threads during fit/predict (``None`` leaves the setting alone).
    progress : bool or None

    Attributes
    ----------
    net_ : RedshiftNet
    wave_grid_aa_ : ndarray (n_grid,)
    z_range_ : (float, float)
    bin_edges_ : ndarray (n_bins + 1,), in ``log10(1 + z)``
    history_ : dict  (training history from :func:`agnlab.nn.fit_module`)

    Examples
    --------
    >>> from agnlab.spectra import QuasarSimulator, RedshiftEstimator
    >>> sim = QuasarSimulator(seed=0).simulate(200)          # doctest: +SKIP
    >>> est = RedshiftEstimator(max_epochs=2).fit(sim.wave_aa, sim.flux, sim.ivar, sim.truth)  # doctest: +SKIP
    >>> est.predict(sim.wave_aa, sim.flux, sim.ivar)["z_pred"].shape  # doctest: +SKIP
    (200,)
    """

    def __init__(self, *, wave_min_aa: float = 3600.0, wave_max_aa: float = 9600.0, dlog10: float = 3e-4,
                 z_range=None, bin_width_kms: float = 900.0, channels=(16, 32, 48, 64, 64), kernel: int = 5,
                 hidden: int = 256, dropout: float = 0.1, lr: float = 2e-3, weight_decay: float = 1e-4,
                 batch_size: int = 128, max_epochs: int = 40, patience: int = 6, val_fraction: float = 0.1,
                 min_confidence: float = 0.5, seed: int = 0, chunk_size: int = 512, num_threads=None,
                 progress=None):
        self.wave_min_aa = wave_min_aa
        self.wave_max_aa = wave_max_aa
        self.dlog10 = dlog10
        self.z_range = z_range
        self.bin_width_kms = bin_width_kms
        self.channels = channels
        self.kernel = kernel
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.min_confidence = min_confidence
        self.seed = seed
        self.chunk_size = chunk_size
        self.num_threads = num_threads
        self.progress = progress

    # -- features -----------------------------------------------------------------------------
    def _grid(self) -> np.ndarray:
        g = log_wave_grid(self.wave_min_aa, self.wave_max_aa, self.dlog10)
        return g[: (g.size // 32) * 32]  # divisible by 2**5 for the pooling stack

    def _rebinner(self, wave_aa):
        grid = getattr(self, "wave_grid_aa_", None)
        grid = self._grid() if grid is None else grid
        cached = getattr(self, "_rebinner_cache", None)
        if cached is not None and cached.matches(wave_aa) and cached.wave_out_aa.size == grid.size:
            return cached
        reb = LogRebinner(wave_aa, grid)
        self._rebinner_cache = reb
        return reb

    def preprocess(self, wave_aa, flux, ivar):
        """Rebin and normalise spectra into network inputs (chunked; memory bounded).

        Parameters
        ----------
        wave_aa : array_like (n_pix,)
        flux, ivar : array_like (n_spec, n_pix)

        Returns
        -------
        X : ndarray float32, shape (n_spec, 2, n_grid)
        empty : ndarray bool, shape (n_spec,)
            Spectra without any valid pixel on the model grid.
        """
        wave = check_wave(wave_aa)
        reb = self._rebinner(wave)
        flux = np.asarray(flux)
        ivar = np.asarray(ivar)
        if flux.ndim == 1:
            flux, ivar = flux[None], ivar[None]
        n = flux.shape[0]
        if n == 0:
            raise ValueError("spectra: no spectra (flux has 0 rows)")
        X = np.empty((n, 2, reb.wave_out_aa.size), np.float32)
        empty = np.zeros(n, bool)
        n_masked = 0
        for s in range(0, n, self.chunk_size):
            _, f, iv, nm = clean_spectra(wave, flux[s:s + self.chunk_size], ivar[s:s + self.chunk_size])
            n_masked += nm
            fr, ir = reb(f, iv)
            scale = robust_scale(fr, ir)
            bad = ~np.isfinite(scale)
            empty[s:s + len(fr)] = bad
            X[s:s + len(fr)] = spectral_features(fr, ir, np.where(bad, 1.0, scale))
        if n_masked:
            warnings.warn(f"{n_masked} pixels with NaN/inf flux or ivar were masked", SpectraWarning, stacklevel=2)
        if empty.any():
            warnings.warn(f"{int(empty.sum())} empty spectra (no valid pixel on the model grid); "
                          "their redshift is NaN and flagged 'empty'", SpectraWarning, stacklevel=2)
        return X, empty

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, wave_aa, flux, ivar, truth):
        """Train on spectra with known redshifts.

        Parameters
        ----------
        wave_aa : array_like (n_pix,)
        flux, ivar : array_like (n_spec, n_pix)
        truth : table with ``z_qso`` (or an array of z)

        Returns
        -------
        self
        """
        X, empty = self.preprocess(wave_aa, flux, ivar)
        z = truth_z(truth, X.shape[0])
        return self.fit_preprocessed(X[~empty], z[~empty])

    def fit_preprocessed(self, X, z):
        """Train on the output of :meth:`preprocess` and true redshifts ``z`` (n,)."""
        X = np.asarray(X, np.float32)
        z = np.asarray(z, float)
        if X.ndim != 3 or X.shape[1] != 2:
            raise ValueError(f"X: expected shape (n, 2, n_grid) from preprocess(), got {X.shape}")
        if X.shape[0] != z.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but z has {z.shape[0]}")
        if X.shape[0] < 10:
            raise ValueError(f"need at least 10 training spectra, got {X.shape[0]}")
        grid = self._grid()
        if X.shape[2] != grid.size:
            raise ValueError(f"X: {X.shape[2]} grid pixels, the model grid has {grid.size}")
        seed_everything(self.seed)
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        zlo, zhi = default_z_range(z) if self.z_range is None else map(float, self.z_range)
        if not zhi > zlo:
            raise ValueError(f"z_range must have z_max > z_min, got ({zlo}, {zhi})")
        ylo, yhi = np.log10(1 + zlo), np.log10(1 + zhi)
        width = self.bin_width_kms / C_KMS / np.log(10)
        n_bins = max(int(np.ceil((yhi - ylo) / width)), 2)
        edges = np.linspace(ylo, yhi, n_bins + 1)
        inside = (z >= zlo) & (z <= zhi)
        if not inside.all():
            warnings.warn(f"{int((~inside).sum())} training spectra outside z_range=({zlo}, {zhi}) dropped",
                          SpectraWarning, stacklevel=2)
        X, z = X[inside], z[inside]
        y = np.log10(1 + z)
        w = edges[1] - edges[0]
        cls = np.clip(((y - ylo) / w).astype(np.int64), 0, n_bins - 1)
        off = ((y - (edges[cls] + 0.5 * w)) / w).astype(np.float32)
        rng = check_random_state(self.seed)
        perm = rng.permutation(X.shape[0])
        n_val = max(int(round(self.val_fraction * X.shape[0])), 1)
        iv, it = perm[:n_val], perm[n_val:]
        net = RedshiftNet(grid.size, n_bins, channels=tuple(self.channels), kernel=self.kernel,
                          hidden=self.hidden, dropout=self.dropout)
        cfg = TrainConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                          max_epochs=self.max_epochs, patience=self.patience, seed=self.seed,
                          lr_patience=max(self.patience // 3, 1))
        hist = fit_module(net, X[it], (cls[it], off[it]), X[iv], (cls[iv], off[iv]), config=cfg,
                          loss_fn=lambda out, c, o: _loss(out, c, o, n_bins=n_bins), progress=self.progress,
                          desc="RedshiftEstimator")
        self.net_ = net.eval()
        self.wave_grid_aa_ = grid
        self.z_range_ = (zlo, zhi)
        self.bin_edges_ = edges
        self.history_ = {"best_epoch": hist["best_epoch"], "best_val_loss": hist["best_val_loss"],
                         "train_seconds": hist["train_seconds"], "n_train": int(it.size), "n_val": int(iv.size),
                         "epochs": len(hist["history"])}
        return self

    # -- predict ------------------------------------------------------------------------------
    def _decode(self, out):
        nb = self.bin_edges_.size - 1
        logits = out[:, :nb]
        offs = np.clip(out[:, nb:], -1.0, 1.0)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        k = p.argmax(axis=1)
        rows = np.arange(len(k))
        w = self.bin_edges_[1] - self.bin_edges_[0]
        y = self.bin_edges_[k] + (0.5 + offs[rows, k]) * w
        conf = p[rows, k] + np.where(k > 0, p[rows, np.maximum(k - 1, 0)], 0) + \
            np.where(k < nb - 1, p[rows, np.minimum(k + 1, nb - 1)], 0)
        return 10 ** y - 1, conf, k

    def predict_preprocessed(self, X, empty=None, *, batch_size: int = 256) -> pd.DataFrame:
        """Predict from :meth:`preprocess` output; see :meth:`predict`."""
        check_is_fitted(self, ["net_"])
        X = np.asarray(X, np.float32)
        if X.ndim != 3 or X.shape[1:] != (2, self.wave_grid_aa_.size):
            raise ValueError(f"X: expected shape (n, 2, {self.wave_grid_aa_.size}), got {X.shape}")
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        outs = []
        net = inference_net(self)
        with torch.inference_mode():
            for s in _progress(range(0, X.shape[0], batch_size), desc="redshift", disable=None
                               if self.progress is None else not self.progress):
                outs.append(net(torch.from_numpy(X[s:s + batch_size])).numpy())
        out = np.concatenate(outs) if outs else np.zeros((0, 2 * (self.bin_edges_.size - 1)), np.float32)
        z, conf, k = self._decode(out)
        nb = self.bin_edges_.size - 1
        empty = np.zeros(len(z), bool) if empty is None else np.asarray(empty, bool)
        edge = (k == 0) | (k == nb - 1)
        low = conf < self.min_confidence
        z = np.where(empty, np.nan, z)
        conf = np.where(empty, 0.0, conf)
        flag = np.where(empty, "empty", np.where(edge, "edge_of_range",
                                                  np.where(low, "low_confidence", "ok")))
        return pd.DataFrame({"z_pred": z, "confidence": conf, "out_of_range": edge & ~empty,
                             "flag": flag})

    def predict(self, wave_aa, flux, ivar) -> pd.DataFrame:
        """Redshifts of spectra.

        Parameters
        ----------
        wave_aa : array_like (n_pix,)
            Any strictly increasing grid covering most of the model grid
            (it is resampled; a grid covering < 50 % raises ``ValueError``).
        flux, ivar : array_like (n_spec, n_pix)
            ``ivar = 0`` or NaN pixels are masked; negative ivar raises.

        Returns
        -------
        pandas.DataFrame, one row per spectrum
            ``z_pred``; ``confidence`` (probability within +-1 bin);
            ``out_of_range`` (the arg-max bin is the first or last of the
            trained range: the true z may lie outside it, not measurable);
            ``flag``: ``ok``, ``low_confidence``, ``edge_of_range`` or
            ``empty`` (no valid pixel; ``z_pred`` NaN).
        """
        check_is_fitted(self, ["net_"])
        X, empty = self.preprocess(wave_aa, flux, ivar)
        return self.predict_preprocessed(X, empty)

    # -- persistence --------------------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to an ``.npz`` artifact (weights + JSON metadata; no pickle)."""
        check_is_fitted(self, ["net_"])
        return save_estimator(self, path, kind=_KIND,
                              arrays={"wave_grid_aa": self.wave_grid_aa_, "bin_edges": self.bin_edges_},
                              metadata={"n_bins": int(self.bin_edges_.size - 1)})

    @classmethod
    def load(cls, path) -> "RedshiftEstimator":
        """Load a model written by :meth:`save` (raises ``ArtifactError`` on corrupt/wrong files)."""
        est, arrays, meta = load_estimator(cls, path, kind=_KIND)
        try:
            grid = np.asarray(arrays["wave_grid_aa"], float)
            net = RedshiftNet(grid.size, int(meta["n_bins"]), channels=est.channels, kernel=est.kernel,
                              hidden=est.hidden, dropout=est.dropout)
            arrays_to_module(net, arrays)
            est.bin_edges_ = np.asarray(arrays["bin_edges"], float)
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: inconsistent RedshiftEstimator file ({exc})") from None
        est.net_ = net.eval()
        est.wave_grid_aa_ = grid
        return est
