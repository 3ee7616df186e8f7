"""Quasar redshifts from a 1-D CNN on log-wavelength rebinned spectra (the estimator).

QuasarNET-like design: the network classifies ``log10(1 + z)`` into bins
spanning the trained redshift range and, for every bin, regresses the offset
of the true value inside the bin. The prediction is the arg-max bin plus its
offset. Classification + offset is much more robust than plain regression
(no pull towards the mean of the training set; confusions between emission
lines show up as a low bin probability, not as a silently wrong middle value).

The network (:class:`RedshiftNet`, in :mod:`._redshift_net`) is kept apart
from the estimator :class:`RedshiftEstimator`, which handles rebinning,
normalisation, training (through :func:`agnlab.nn.fit_module`), flags and
artifacts.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from ..constants import C_KMS
from ..nn import train_validation_split
from ._cnn_base import SpectraCNNEstimator
from ._inputs import spectra_arrays, spectra_fit_arrays
from ._mlcommon import SpectraWarning, default_z_range, robust_scale, spectral_features, training_seeds
from ._rebin import check_wave, log_wave_grid
from ._redshift_net import RedshiftNet, redshift_loss
from ._truth import truth_z

__all__ = ["RedshiftEstimator"]


class RedshiftEstimator(SpectraCNNEstimator):
    """1-D CNN quasar redshift estimator (classification over log(1+z) bins + offset).

    Two input forms (see :mod:`agnlab.spectra._inputs`):

    * ``fit(X, y)`` / ``predict(X)`` with ``X`` a spectra container
      (:class:`SimulatedSpectra`, :class:`ObservedSpectra`, any object with
      ``wave_aa``, ``flux``, ``ivar``, or a tuple of the three) and ``y`` the
      truth table (``None``: ``X.truth``); this is the form a scikit-learn
      ``Pipeline`` uses;
    * ``fit(wave_aa, flux, ivar, truth)`` / ``predict(wave_aa, flux, ivar)``.

    Parameters
    ----------
    wave_min_aa, wave_max_aa : float
        Observed-frame range of the model grid (Angstrom).
    dlog10 : float
        Model grid step in ``log10(wavelength)`` (3e-4 ~ 207 km/s per pixel).
    z_range : (float, float) or None
        Trained redshift range (the span of the classification bins); ``None`` takes it from the
        training truth (min/max rounded outwards to 0.1).
    valid_z_range : (float, float) or None
        Declared valid range of the predictions (``None``: ``z_range``). Training on a margin
        beyond it (e.g. ``z_range=(1.8, 4.4)`` for ``valid_z_range=(2, 4)``) lets the network
        recognise quasars just outside the valid range instead of folding them onto a redshift
        inside it; a prediction outside ``valid_z_range`` is flagged ``out_of_range``.
    bin_width_kms : float
        Width of the classification bins in velocity (``c * ln(10) * dlog10(1+z)``).
    channels, kernel, hidden, dropout :
        Network shape (see :class:`RedshiftNet`).
    lr, weight_decay, batch_size, max_epochs, patience :
        Optimisation (see :class:`agnlab.nn.TrainConfig`).
    validation_fraction : float
        Fraction of the training spectra held out for early stopping.
    min_confidence : float
        Predictions whose probability (summed over the arg-max bin and its two
        neighbours) is below this are flagged ``low_confidence``.
    random_state : int, numpy Generator or None
        Seeds the train/validation split, the initial weights and the batches.
    warm_start : bool
        Continue training from the fitted network (same shapes) instead of new random weights
        (fine-tuning, e.g. of :meth:`pretrained` models on new data).
    chunk_size : int
        Spectra rebinned at a time.
    n_jobs : int or None
        Torch/BLAS threads during fit and predict, restored afterwards
        (``None`` leaves the process setting alone).
    progress : bool or None
        Progress bars (``None``: on a terminal only).

    Attributes
    ----------
    net_ : RedshiftNet
    wave_grid_aa_ : ndarray (n_grid,)
    z_range_ : (float, float)
    bin_edges_ : ndarray (n_bins + 1,), in ``log10(1 + z)``
    training_record_ : dict
        ``n_train``, ``n_val``, ``best_epoch``, ``best_val_loss``, ``epochs``,
        ``train_seconds``, ``history`` (per-epoch (train, validation) loss).

    Notes
    -----
    Out of domain: spectra whose wavelength grid covers less than half of the
    model grid raise :class:`agnlab.OutOfDomainError`; a redshift at the edge of
    the trained range (where the true z may lie outside it) is flagged
    ``edge_of_range`` in the prediction table's ``flag`` column, one outside
    ``valid_z_range`` ``out_of_range``.

    Examples
    --------
    >>> from agnlab.spectra import QuasarSimulator, RedshiftEstimator
    >>> sim = QuasarSimulator(seed=0).simulate(200)          # doctest: +SKIP
    >>> est = RedshiftEstimator(max_epochs=2).fit(sim, sim.truth)  # doctest: +SKIP
    >>> est.predict(sim)["z_pred"].shape  # doctest: +SKIP
    (200,)
    >>> RedshiftEstimator.pretrained().predict(sim)  # the shipped default model  # doctest: +SKIP
    """

    def __init__(self, *, wave_min_aa: float = 3600.0, wave_max_aa: float = 9600.0, dlog10: float = 3e-4,
                 z_range=None, valid_z_range=None, bin_width_kms: float = 900.0, channels=(16, 32, 48, 64, 64),
                 kernel: int = 5, hidden: int = 256, dropout: float = 0.1, lr: float = 2e-3, weight_decay: float = 1e-4,
                 batch_size: int = 128, max_epochs: int = 40, patience: int = 6, validation_fraction: float = 0.1,
                 min_confidence: float = 0.5, random_state=0, warm_start: bool = False, chunk_size: int = 512,
                 n_jobs=None, progress=None):
        self.wave_min_aa = wave_min_aa
        self.wave_max_aa = wave_max_aa
        self.dlog10 = dlog10
        self.z_range = z_range
        self.valid_z_range = valid_z_range
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
        self.validation_fraction = validation_fraction
        self.min_confidence = min_confidence
        self.random_state = random_state
        self.warm_start = warm_start
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.progress = progress

    # -- features -----------------------------------------------------------------------------
    def _grid(self) -> np.ndarray:
        g = log_wave_grid(self.wave_min_aa, self.wave_max_aa, self.dlog10)
        return g[: (g.size // 32) * 32]  # divisible by 2**5 for the pooling stack

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
        grid = getattr(self, "wave_grid_aa_", None)
        reb = self._rebinner(wave, self._grid() if grid is None else grid)
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
            fr, ir, nm = reb.rebin_raw(flux[s:s + self.chunk_size], ivar[s:s + self.chunk_size])
            n_masked += nm
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
    def fit(self, X, y=None, *arrays):
        """Train on spectra with known redshifts.

        Parameters
        ----------
        X : spectra container, or ``wave_aa`` (n_pix,) in the array form
        y : truth table with ``z_qso`` (or an array of z); ``None`` takes ``X.truth``.
            In the array form ``fit(wave_aa, flux, ivar, truth)`` this is ``flux``.
        *arrays :
            ``ivar, truth`` in the array form.

        Returns
        -------
        self
        """
        wave_aa, flux, ivar, truth = spectra_fit_arrays(X, y, arrays)
        Xp, empty = self.preprocess(wave_aa, flux, ivar)
        z = truth_z(truth, Xp.shape[0])
        return self.fit_preprocessed(Xp[~empty], z[~empty])

    def fit_preprocessed(self, X, z):
        """Train on the output of :meth:`preprocess` and true redshifts ``z`` (n,)."""
        t0 = time.perf_counter()
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
        split_state, torch_rng, train_seed = training_seeds(self.random_state)
        it, iv = train_validation_split(X.shape[0], self.validation_fraction, split_state)
        warm = None
        if self.warm_start and getattr(self, "net_", None) is not None and not (
                self.bin_edges_.size == edges.size and np.allclose(self.bin_edges_, edges, rtol=0, atol=1e-12)):
            warm = _remap_bins(self.net_.state_dict(), self.bin_edges_, edges)
        net, hist = self._train(
            lambda: RedshiftNet(grid.size, n_bins, channels=tuple(self.channels), kernel=self.kernel,
                                hidden=self.hidden, dropout=self.dropout),
            X, (cls, off), it, iv, loss_fn=lambda out, c, o: redshift_loss(out, c, o, n_bins=n_bins),
            torch_rng=torch_rng, train_seed=train_seed, desc="RedshiftEstimator", warm_state=warm)
        self._set_net(net)
        self.wave_grid_aa_ = grid
        self.z_range_ = (zlo, zhi)
        self.bin_edges_ = edges
        self.training_record_ = {
            "n_train": int(it.size), "n_val": int(iv.size), "best_epoch": hist["best_epoch"],
            "best_val_loss": hist["best_val_loss"], "epochs": len(hist["history"]),
            "train_seconds": hist["train_seconds"], "fit_seconds": time.perf_counter() - t0,
            "history": [list(map(float, h)) for h in hist["history"]]}
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

    def valid_range(self) -> tuple[float, float]:
        """The declared valid redshift range (``valid_z_range``, else the trained range)."""
        self._check_fitted()
        vr = self.z_range_ if self.valid_z_range is None else self.valid_z_range
        lo, hi = (float(v) for v in vr)
        if not hi > lo:
            raise ValueError(f"valid_z_range must have z_max > z_min, got {vr}")
        return lo, hi

    def predict_preprocessed(self, X, empty=None, *, batch_size: int = 256) -> pd.DataFrame:
        """Predict from :meth:`preprocess` output; see :meth:`predict`."""
        self._check_fitted()
        X = np.asarray(X, np.float32)
        if X.ndim != 3 or X.shape[1:] != (2, self.wave_grid_aa_.size):
            raise ValueError(f"X: expected shape (n, 2, {self.wave_grid_aa_.size}), got {X.shape}")
        nb = self.bin_edges_.size - 1
        out = self._forward(X, batch_size=batch_size, desc="redshift", empty_shape=(2 * nb,))
        z, conf, k = self._decode(out)
        empty = np.zeros(len(z), bool) if empty is None else np.asarray(empty, bool)
        vlo, vhi = self.valid_range()
        edge = (k == 0) | (k == nb - 1)
        outside = (z < vlo) | (z > vhi)
        low = conf < self.min_confidence
        z = np.where(empty, np.nan, z)
        conf = np.where(empty, 0.0, conf)
        flag = np.where(empty, "empty", np.where(edge, "edge_of_range", np.where(
            outside, "out_of_range", np.where(low, "low_confidence", "ok"))))
        return pd.DataFrame({"z_pred": z, "confidence": conf, "out_of_range": (edge | outside) & ~empty,
                             "flag": flag})

    def predict(self, X, *arrays) -> pd.DataFrame:
        """Redshifts of spectra.

        Parameters
        ----------
        X : spectra container (``wave_aa``, ``flux``, ``ivar``), or ``wave_aa`` (n_pix,) in the
            array form ``predict(wave_aa, flux, ivar)``.
            Any strictly increasing grid covering most of the model grid is
            resampled; a grid covering < 50 % raises :class:`agnlab.OutOfDomainError`.
            ``flux, ivar`` (n_spec, n_pix): ``ivar = 0`` or NaN pixels are
            masked; negative ivar raises.

        Returns
        -------
        pandas.DataFrame, one row per spectrum
            ``z_pred``; ``confidence`` (probability within +-1 bin);
            ``out_of_range`` (the arg-max bin is the first or last of the
            trained range, or the prediction lies outside ``valid_z_range``:
            the true z may lie outside the range the model is valid for);
            ``flag``: ``ok``, ``low_confidence``, ``edge_of_range`` (edge bin),
            ``out_of_range`` (outside ``valid_z_range``) or ``empty`` (no
            valid pixel; ``z_pred`` NaN).
        """
        self._check_fitted()
        wave_aa, flux, ivar = spectra_arrays(X, arrays)
        Xp, empty = self.preprocess(wave_aa, flux, ivar)
        return self.predict_preprocessed(Xp, empty)

    # -- persistence --------------------------------------------------------------------------
    def _build_net(self, meta):
        return RedshiftNet(int(meta["n_grid"]), int(meta["n_bins"]), channels=tuple(self.channels),
                           kernel=self.kernel, hidden=self.hidden, dropout=self.dropout)

    def _get_state(self):
        arrays = {**self._net_arrays(), "wave_grid_aa": self.wave_grid_aa_, "bin_edges": self.bin_edges_}
        return arrays, {"z_range": list(self.z_range_), "n_bins": int(self.bin_edges_.size - 1),
                        "n_grid": int(self.wave_grid_aa_.size)}

    def _set_state(self, arrays, meta):
        grid = np.asarray(arrays["wave_grid_aa"], float)
        self._restore_net(arrays, {"n_grid": grid.size, **meta})
        self.wave_grid_aa_ = grid
        self.bin_edges_ = np.asarray(arrays["bin_edges"], float)
        self.z_range_ = tuple(float(v) for v in meta["z_range"])


def _remap_bins(state: dict, old_edges, new_edges, *, outside_logit: float = -4.0) -> dict:
    """Warm-start state for a new redshift bin layout (e.g. a wider trained range).

    The output layer's logit and offset rows of each new bin are copied from the old bin nearest
    to its centre, the offset rescaled to the new bin width and shifted by the distance between the
    two centres (the offset is linear in the layer), so the wider network starts with the old
    predictions; bins whose centre lies outside the old range start ``outside_logit`` lower (so they
    begin improbable and are learned in the fine-tuning). Every other layer is kept.
    """
    import torch

    old_edges, new_edges = np.asarray(old_edges, float), np.asarray(new_edges, float)
    nb_old, nb_new = old_edges.size - 1, new_edges.size - 1
    c_old = 0.5 * (old_edges[1:] + old_edges[:-1])
    c_new = 0.5 * (new_edges[1:] + new_edges[:-1])
    k = np.clip(np.searchsorted(old_edges, c_new) - 1, 0, nb_old - 1)
    k = np.where(np.abs(c_old[np.minimum(k + 1, nb_old - 1)] - c_new) < np.abs(c_old[k] - c_new),
                 np.minimum(k + 1, nb_old - 1), k)
    outside = (c_new < old_edges[0]) | (c_new > old_edges[-1])
    (wkey, bkey) = [key for key in state if key.startswith("head.")][-2:]  # the last Linear layer
    w, b = state[wkey], state[bkey]
    rows = torch.from_numpy(np.concatenate([k, nb_old + k]))
    new = dict(state)
    new[wkey] = w[rows].clone()
    new[bkey] = b[rows].clone()
    new[bkey][:nb_new][torch.from_numpy(outside)] += outside_logit
    # offset (in bin widths from the centre): o_new = o_old * w_old / w_new + (c_old - c_new) / w_new
    w_old, w_new = old_edges[1] - old_edges[0], new_edges[1] - new_edges[0]
    scale = torch.tensor(w_old / w_new, dtype=w.dtype)
    shift = torch.from_numpy((c_old[k] - c_new) / w_new).to(b.dtype)
    new[wkey][nb_new:] *= scale
    new[bkey][nb_new:] = new[bkey][nb_new:] * scale + shift
    return new
