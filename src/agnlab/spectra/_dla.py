"""Damped Lyman-alpha absorbers (DLAs): detection, redshift and column density with a window CNN.

Each spectrum is rebinned onto an observed-frame grid uniform in
``log10(wavelength)`` (default step 1e-4, ~69 km/s, close to the native
resolution), then the QSO rest-frame stretch between Ly-beta and Ly-alpha
(plus context on both sides) is cut out using ``z_qso`` (true or estimated).
In log-wavelength a DLA profile has the same shape at every redshift, so one
network serves the whole stretch.

The network (:class:`DLANet`) is a per-window CNN evaluated at every window
position at once: a fully convolutional stack whose receptive field (~500
pixels, +-6 % in wavelength) is the window, producing one output per *cell*
of 8 pixels with three multi-task heads:

* presence: probability that a DLA's centre lies in this cell (trained
  against a Gaussian heat map of width ``heat_sigma_cells``);
* position: offset of the DLA centre from the cell centre (in cells);
* log NHI of that DLA.

Cells are merged into per-spectrum DLA lists by non-maximum suppression
(local maxima over +-``nms_cells`` cells above ``threshold``), giving
``z_dla``, ``log_nhi`` and a ``confidence`` (the peak probability).
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
from ._mlcommon import (LYA_AA, LYB_AA, SpectraWarning, conv_block, default_z_range, inference_net,
                        load_estimator, robust_scale, save_estimator, spectral_features, truth_dlas, truth_z)
from ._rebin import LogRebinner, check_wave, clean_spectra, log_wave_grid

__all__ = ["DLANet", "DLAFinder", "dla_metrics", "dla_search_range"]

_KIND = "agnlab.spectra.DLAFinder"
_NHI_MID, _NHI_SCALE = 20.8, 0.5
_SCALE_REST_AA = (1270.0, 1350.0)


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


def dla_search_range(z_qso, *, wave_min_aa: float = 3600.0, margin_aa: float = 10.0):
    """Absorber redshifts searched for each quasar: Lyman-alpha between rest Ly-beta and Ly-alpha.

    Parameters
    ----------
    z_qso : array_like (n,)
    wave_min_aa : float
        Blue end of the observed spectra; absorbers whose Ly-alpha falls
        within ``margin_aa`` of it are not searched.

    Returns
    -------
    z_lo, z_hi : ndarray (n,)
    """
    zq = np.asarray(z_qso, float)
    z_lo = np.maximum((1 + zq) * LYB_AA / LYA_AA - 1, (wave_min_aa + margin_aa) / LYA_AA - 1)
    return z_lo, zq.copy()


def _loss(out, heat, reg_mask, off, nhi, *, pos_weight: float):
    logit, poff, pnhi = out[:, 0], out[:, 1], out[:, 2]
    w = 1.0 + pos_weight * heat
    bce = nn.functional.binary_cross_entropy_with_logits(logit, heat, weight=w)
    m = reg_mask
    denom = m.sum().clamp_min(1.0)
    l_off = (nn.functional.smooth_l1_loss(poff, off, reduction="none", beta=0.5) * m).sum() / denom
    l_nhi = (nn.functional.smooth_l1_loss(pnhi, nhi, reduction="none", beta=0.5) * m).sum() / denom
    return bce + 0.5 * l_off + 0.5 * l_nhi


def dla_metrics(true_dlas, pred: pd.DataFrame, z_qso, *, spectrum_scores=None, min_log_nhi: float = 20.3,
                match_dz: float = 0.02, threshold: float = 0.5, purity_target: float = 0.95,
                wave_min_aa: float = 3600.0) -> dict:
    """Detection and localisation metrics of DLA predictions against the truth.

    Only true DLAs with ``log_nhi >= min_log_nhi`` inside the search range of
    :func:`dla_search_range` count. Predictions are matched greedily (highest
    confidence first) to the nearest unmatched true DLA within ``match_dz``.

    Parameters
    ----------
    true_dlas : list of (z_dla (k,), log_nhi (k,))
    pred : DataFrame with ``spec_index``, ``z_dla``, ``log_nhi``, ``confidence``
        (ideally with a low threshold so that curves can be drawn).
    z_qso : array_like (n,)
        Quasar redshifts defining the search range (true ones).
    spectrum_scores : array_like (n,), optional
        Per-spectrum DLA score for the ROC curve (default: max confidence).
    threshold : float
        Confidence cut for the headline completeness/purity.

    Returns
    -------
    dict
        ``roc_auc``, ``roc`` (fpr, tpr arrays), ``completeness``, ``purity``
        (at ``threshold``), ``best_threshold`` / ``completeness_at_purity``
        (highest completeness with purity >= ``purity_target``), ``pr``
        (thresholds, completeness, purity), ``median_abs_dz``,
        ``sigma_log_nhi`` (std), ``nmad_log_nhi``, ``bias_log_nhi``,
        ``matched`` (DataFrame of matched pairs), ``n_true``, ``n_spec_pos``.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    zq = np.asarray(z_qso, float)
    n = zq.size
    z_lo, z_hi = dla_search_range(zq, wave_min_aa=wave_min_aa)
    trues = []
    for i, (zd, nh) in enumerate(true_dlas):
        zd, nh = np.asarray(zd, float), np.asarray(nh, float)
        keep = (nh >= min_log_nhi) & (zd >= z_lo[i]) & (zd <= z_hi[i])
        trues.append((zd[keep], nh[keep]))
    n_true = int(sum(t[0].size for t in trues))
    has = np.array([t[0].size > 0 for t in trues])
    pred = pred.sort_values("confidence", ascending=False, kind="stable")
    if spectrum_scores is None:
        spectrum_scores = np.zeros(n)
        if len(pred):
            g = pred.groupby("spec_index")["confidence"].max()
            spectrum_scores[g.index.to_numpy(int)] = g.to_numpy()
    spectrum_scores = np.asarray(spectrum_scores, float)
    if has.any() and (~has).any():
        auc = float(roc_auc_score(has, spectrum_scores))
        fpr, tpr, _ = roc_curve(has, spectrum_scores)
    else:
        auc, fpr, tpr = float("nan"), np.zeros(0), np.zeros(0)
    used = [np.zeros(t[0].size, bool) for t in trues]
    is_match = np.zeros(len(pred), bool)
    rows = []
    for j, (si, zp, nhp, conf) in enumerate(zip(pred["spec_index"].to_numpy(int), pred["z_dla"].to_numpy(float),
                                                 pred["log_nhi"].to_numpy(float), pred["confidence"].to_numpy(float))):
        zt, nt = trues[si]
        if zt.size == 0:
            continue
        d = np.abs(zt - zp)
        d[used[si]] = np.inf
        k = int(np.argmin(d))
        if d[k] <= match_dz:
            used[si][k] = True
            is_match[j] = True
            rows.append({"spec_index": si, "z_true": zt[k], "z_pred": zp, "log_nhi_true": nt[k],
                         "log_nhi_pred": nhp, "confidence": conf})
    conf_sorted = pred["confidence"].to_numpy(float)
    cum_match = np.cumsum(is_match)
    n_pred_at = np.arange(1, len(pred) + 1)
    comp_curve = cum_match / max(n_true, 1)
    pur_curve = cum_match / n_pred_at
    at = int(np.searchsorted(-conf_sorted, -threshold, side="right"))
    comp = float(cum_match[at - 1] / max(n_true, 1)) if at > 0 else 0.0
    pur = float(cum_match[at - 1] / at) if at > 0 else float("nan")
    ok = pur_curve >= purity_target
    if ok.any():
        best = int(np.argmax(np.where(ok, comp_curve, -1)))
        best_thr, comp_at = float(conf_sorted[best]), float(comp_curve[best])
    else:
        best_thr, comp_at = float("nan"), 0.0
    matched = pd.DataFrame(rows, columns=["spec_index", "z_true", "z_pred", "log_nhi_true", "log_nhi_pred",
                                          "confidence"])
    m_thr = matched[matched["confidence"] >= threshold]
    dz = np.abs(m_thr["z_pred"] - m_thr["z_true"]).to_numpy()
    dn = (m_thr["log_nhi_pred"] - m_thr["log_nhi_true"]).to_numpy()
    return {
        "n_spectra": int(n), "n_true": n_true, "n_spec_pos": int(has.sum()), "roc_auc": auc,
        "roc": (fpr, tpr), "threshold": float(threshold), "completeness": comp, "purity": pur,
        "best_threshold": best_thr, "completeness_at_purity": comp_at, "purity_target": purity_target,
        "pr": (conf_sorted, comp_curve, pur_curve),
        "median_abs_dz": float(np.median(dz)) if dz.size else float("nan"),
        "sigma_log_nhi": float(np.std(dn)) if dn.size else float("nan"),
        "nmad_log_nhi": float(1.4826 * np.median(np.abs(dn - np.median(dn)))) if dn.size else float("nan"),
        "bias_log_nhi": float(np.mean(dn)) if dn.size else float("nan"),
        "matched": matched,
    }


class DLAFinder(BaseEstimator):
    """Find DLAs in quasar spectra: window CNN with presence, position and log NHI heads.

    Parameters
    ----------
    wave_min_aa, wave_max_aa : float
        Observed-frame range of the model grid (Angstrom).
    dlog10 : float
        Grid step in ``log10(wavelength)`` (1e-4 ~ 69 km/s).
    context_dlog10 : float
        Context added on both sides of the rest Ly-beta..Ly-alpha stretch.
    min_log_nhi : float
        Absorbers at or above this column density are DLAs (training labels).
    channels, dilations, kernel :
        Network shape (see :class:`DLANet`).
    heat_sigma_cells : float
        Width of the presence heat map (cells of 8 pixels).
    pos_weight : float
        Extra weight of cells near a DLA in the presence loss.
    threshold : float
        Confidence above which a DLA is reported by :meth:`predict`.
    nms_cells : int
        Half width of the non-maximum suppression (cells).
    lr, weight_decay, batch_size, max_epochs, patience, val_fraction :
        Training (see :class:`agnlab.nn.TrainConfig`).
    z_range : (float, float) or None
        Trained quasar redshift range (``None``: from the training truth, rounded outwards to 0.1);
        spectra outside it are flagged.
    seed, chunk_size, num_threads, progress :
        Randomness, memory (spectra rebinned at a time), torch threads, progress bars.

    Attributes
    ----------
    net_ : DLANet
    wave_grid_aa_ : ndarray (n_grid,)
    n_window_ : int
        Pixels per rest-frame window.
    z_range_ : (float, float)
    history_ : dict
    """

    def __init__(self, *, wave_min_aa: float = 3600.0, wave_max_aa: float = 9600.0, dlog10: float = 1e-4,
                 context_dlog10: float = 0.024, min_log_nhi: float = 20.3, channels=(16, 32, 48, 64),
                 dilations=(1, 2, 4, 8), kernel: int = 5, heat_sigma_cells: float = 1.0, pos_weight: float = 10.0,
                 threshold: float = 0.5, nms_cells: int = 3, lr: float = 2e-3, weight_decay: float = 1e-4,
                 batch_size: int = 64, max_epochs: int = 40, patience: int = 6, val_fraction: float = 0.1,
                 z_range=None, seed: int = 0, chunk_size: int = 256, num_threads=None, progress=None):
        self.wave_min_aa = wave_min_aa
        self.wave_max_aa = wave_max_aa
        self.dlog10 = dlog10
        self.context_dlog10 = context_dlog10
        self.min_log_nhi = min_log_nhi
        self.channels = channels
        self.dilations = dilations
        self.kernel = kernel
        self.heat_sigma_cells = heat_sigma_cells
        self.pos_weight = pos_weight
        self.threshold = threshold
        self.nms_cells = nms_cells
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.z_range = z_range
        self.seed = seed
        self.chunk_size = chunk_size
        self.num_threads = num_threads
        self.progress = progress

    _CELL = 8

    # -- geometry -----------------------------------------------------------------------------
    def _geometry(self):
        grid = log_wave_grid(self.wave_min_aa, self.wave_max_aa, self.dlog10)
        lo = np.log10(LYB_AA) - self.context_dlog10
        hi = np.log10(LYA_AA) + self.context_dlog10
        n_win = int(np.ceil((hi - lo) / self.dlog10 / self._CELL)) * self._CELL
        return grid, lo, n_win

    def _starts(self, z_qso, grid, lo):
        return np.rint((lo + np.log10(1 + np.asarray(z_qso, float)) - np.log10(grid[0])) / self.dlog10).astype(int)

    def _cell_loglam(self, i0, n_cells, grid):
        """Observed log10(lambda) of cell centres, shape (n, n_cells)."""
        c = np.arange(n_cells)
        return np.log10(grid[0]) + (i0[:, None] + self._CELL * c[None] + (self._CELL - 1) / 2) * self.dlog10

    def _rebinner(self, wave, grid):
        cached = getattr(self, "_rebinner_cache", None)
        if cached is not None and cached.matches(wave) and cached.wave_out_aa.size == grid.size:
            return cached
        self._rebinner_cache = LogRebinner(wave, grid)
        return self._rebinner_cache

    # -- features -----------------------------------------------------------------------------
    def preprocess(self, wave_aa, flux, ivar, z_qso):
        """Rest-frame windows (Ly-beta..Ly-alpha plus context) as network inputs.

        Parameters
        ----------
        wave_aa : array_like (n_pix,)
        flux, ivar : array_like (n_spec, n_pix)
        z_qso : array_like (n_spec,)
            Quasar redshifts (true or estimated; NaN marks a spectrum to skip).

        Returns
        -------
        X : ndarray float32 (n_spec, 2, n_window)
        i0 : ndarray int (n_spec,)
            Index of the first window pixel on the observed model grid.
        empty : ndarray bool (n_spec,)
            No usable pixel in the window (or no flux scale / NaN z_qso).
        """
        wave = check_wave(wave_aa)
        grid, lo, n_win = self._geometry()
        reb = self._rebinner(wave, grid)
        flux = np.asarray(flux)
        ivar = np.asarray(ivar)
        if flux.ndim == 1:
            flux, ivar = flux[None], ivar[None]
        n = flux.shape[0]
        zq = np.asarray(z_qso, float).reshape(-1)
        if zq.size != n:
            raise ValueError(f"z_qso has {zq.size} values but there are {n} spectra")
        nan_z = ~np.isfinite(zq)
        if np.any(zq[~nan_z] <= -1):
            raise ValueError("z_qso: values <= -1 are not redshifts")
        zq_safe = np.where(nan_z, 0.0, zq)
        i0 = self._starts(zq_safe, grid, lo)
        X = np.zeros((n, 2, n_win), np.float32)
        empty = nan_z.copy()
        loglam = np.log10(grid)
        n_masked = 0
        for s in range(0, n, self.chunk_size):
            sl = slice(s, s + self.chunk_size)
            _, f, iv, nm = clean_spectra(wave, flux[sl], ivar[sl])
            n_masked += nm
            fr, ir = reb(f, iv)
            z1 = np.log10(1 + zq_safe[sl])[:, None]
            red = (loglam[None] >= np.log10(_SCALE_REST_AA[0]) + z1) & (loglam[None] <= np.log10(_SCALE_REST_AA[1]) + z1)
            scale = robust_scale(fr, ir, mask=red)
            miss = ~np.isfinite(scale)
            if miss.any():  # red window masked or negative: any pixel redward of Ly-alpha
                scale[miss] = robust_scale(fr[miss], ir[miss], mask=loglam[None] >= np.log10(LYA_AA * 1.02) + z1[miss])
            idx = i0[sl, None] + np.arange(n_win)[None]
            inside = (idx >= 0) & (idx < grid.size)
            idc = np.clip(idx, 0, grid.size - 1)
            rows = np.arange(fr.shape[0])[:, None]
            fw = np.where(inside, fr[rows, idc], 0.0)
            iw = np.where(inside, ir[rows, idc], 0.0)
            bad = ~np.isfinite(scale) | ~(iw > 0).any(axis=1)
            empty[sl] |= bad
            X[sl] = spectral_features(fw, iw, np.where(np.isfinite(scale), scale, 1.0))
        X[empty] = 0.0
        if n_masked:
            warnings.warn(f"{n_masked} pixels with NaN/inf flux or ivar were masked", SpectraWarning, stacklevel=2)
        return X, i0, empty

    def _targets(self, i0, z_qso, dlas, n_cells, grid):
        n = len(dlas)
        heat = np.zeros((n, n_cells), np.float32)
        mask = np.zeros((n, n_cells), np.float32)
        off = np.zeros((n, n_cells), np.float32)
        nhi = np.zeros((n, n_cells), np.float32)
        c = np.arange(n_cells)
        dist_best = np.full((n, n_cells), np.inf)
        for i, (zd, nh) in enumerate(dlas):
            for z_a, n_a in zip(zd, nh):
                if n_a < self.min_log_nhi:
                    continue
                p = (np.log10(LYA_AA * (1 + z_a)) - np.log10(grid[0])) / self.dlog10 - i0[i]
                u = (p - (self._CELL - 1) / 2) / self._CELL
                if u < -2 or u > n_cells + 1:
                    continue
                d = c - u
                heat[i] = np.maximum(heat[i], np.exp(-0.5 * (d / self.heat_sigma_cells) ** 2))
                near = (np.abs(d) <= 1.5) & (np.abs(d) < dist_best[i])
                dist_best[i] = np.where(near, np.abs(d), dist_best[i])
                mask[i, near] = 1.0
                off[i, near] = -d[near]
                nhi[i, near] = (n_a - _NHI_MID) / _NHI_SCALE
        return heat, mask, off, nhi

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, wave_aa, flux, ivar, truth, *, dlas=None):
        """Train on spectra with known quasar redshifts and DLA lists.

        Parameters
        ----------
        wave_aa : array_like (n_pix,)
        flux, ivar : array_like (n_spec, n_pix)
        truth : table with ``z_qso`` and per-spectrum ``z_dla``, ``log_nhi``
            (see :func:`agnlab.spectra._mlcommon.truth_dlas` for accepted layouts).
        dlas : DataFrame, optional
            Per-DLA table (``spec_index``, ``z_dla``, ``log_nhi``).

        Returns
        -------
        self
        """
        flux = np.asarray(flux)
        n = flux.shape[0] if flux.ndim == 2 else 1
        z = truth_z(truth, n)
        lists = truth_dlas(truth, n, dlas=dlas)
        X, i0, empty = self.preprocess(wave_aa, flux, ivar, z)
        keep = ~empty
        return self.fit_preprocessed(X[keep], i0[keep], z[keep], [lists[i] for i in np.nonzero(keep)[0]])

    def fit_preprocessed(self, X, i0, z_qso, dla_lists):
        """Train on :meth:`preprocess` output plus true ``z_qso`` and DLA lists."""
        X = np.asarray(X, np.float32)
        grid, lo, n_win = self._geometry()
        if X.ndim != 3 or X.shape[1:] != (2, n_win):
            raise ValueError(f"X: expected shape (n, 2, {n_win}) from preprocess(), got {X.shape}")
        n = X.shape[0]
        if n < 10:
            raise ValueError(f"need at least 10 training spectra, got {n}")
        if len(dla_lists) != n or len(i0) != n:
            raise ValueError("X, i0 and dla_lists must have the same length")
        zq = np.asarray(z_qso, float)
        seed_everything(self.seed)
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        n_cells = n_win // self._CELL
        heat, mask, off, nhi = self._targets(np.asarray(i0), zq, dla_lists, n_cells, grid)
        n_pos = int(sum(int(np.sum(np.asarray(nh) >= self.min_log_nhi)) for _, nh in dla_lists))
        if n_pos == 0:
            raise ValueError("training set holds no DLA with log_nhi >= min_log_nhi; simulate with DLAs")
        rng = check_random_state(self.seed)
        perm = rng.permutation(n)
        n_val = max(int(round(self.val_fraction * n)), 1)
        iv, it = perm[:n_val], perm[n_val:]
        net = DLANet(channels=tuple(self.channels), dilations=tuple(self.dilations), kernel=self.kernel)
        cfg = TrainConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                          max_epochs=self.max_epochs, patience=self.patience, seed=self.seed,
                          lr_patience=max(self.patience // 3, 1))
        pw = float(self.pos_weight)
        hist = fit_module(net, X[it], (heat[it], mask[it], off[it], nhi[it]), X[iv],
                          (heat[iv], mask[iv], off[iv], nhi[iv]), config=cfg,
                          loss_fn=lambda out, h, m, o, q: _loss(out, h, m, o, q, pos_weight=pw),
                          progress=self.progress, desc="DLAFinder")
        self.net_ = net.eval()
        self.wave_grid_aa_ = grid
        self.n_window_ = n_win
        self.z_range_ = default_z_range(zq) if self.z_range is None else tuple(map(float, self.z_range))
        self.history_ = {"best_epoch": hist["best_epoch"], "best_val_loss": hist["best_val_loss"],
                         "train_seconds": hist["train_seconds"], "n_train": int(it.size), "n_val": int(iv.size),
                         "n_dla_train": n_pos, "epochs": len(hist["history"])}
        return self

    # -- predict ------------------------------------------------------------------------------
    def _raw(self, X, batch_size=256):
        outs = []
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        net = inference_net(self)
        with torch.inference_mode():
            for s in _progress(range(0, X.shape[0], batch_size), desc="DLA", disable=None
                               if self.progress is None else not self.progress):
                outs.append(net(torch.from_numpy(np.ascontiguousarray(X[s:s + batch_size]))).numpy())
        return np.concatenate(outs) if outs else np.zeros((0, 3, self.n_window_ // self._CELL), np.float32)

    def detect_preprocessed(self, X, i0, z_qso, empty=None, *, threshold=None):
        """Decode network outputs into DLA lists; see :meth:`detect`."""
        check_is_fitted(self, ["net_"])
        X = np.asarray(X, np.float32)
        if X.ndim != 3 or X.shape[1:] != (2, self.n_window_):
            raise ValueError(f"X: expected shape (n, 2, {self.n_window_}), got {X.shape}")
        thr = self.threshold if threshold is None else float(threshold)
        zq = np.asarray(z_qso, float).reshape(-1)
        n = X.shape[0]
        empty = np.zeros(n, bool) if empty is None else np.asarray(empty, bool)
        out = self._raw(X)
        n_cells = out.shape[2]
        prob = 1.0 / (1.0 + np.exp(-out[:, 0].astype(np.float64)))
        loglam_c = self._cell_loglam(np.asarray(i0), n_cells, self.wave_grid_aa_)
        zq_safe = np.where(np.isfinite(zq), zq, 0.0)
        z_lo, z_hi = dla_search_range(zq_safe, wave_min_aa=self.wave_grid_aa_[0])
        z_cell = 10 ** loglam_c / LYA_AA - 1
        in_search = (z_cell >= z_lo[:, None] - 0.002) & (z_cell <= z_hi[:, None] + 0.002) & ~empty[:, None]
        p = np.where(in_search, prob, 0.0)
        k = self.nms_cells
        pad = np.pad(p, ((0, 0), (k, k)), constant_values=-1)
        win = np.lib.stride_tricks.sliding_window_view(pad, 2 * k + 1, axis=1)
        is_peak = (p >= win.max(axis=2)) & (p > 0)
        # break ties (equal neighbours) by keeping the first
        is_peak &= ~np.concatenate([np.zeros((n, 1), bool), is_peak[:, :-1] & (p[:, 1:] == p[:, :-1])], axis=1)
        rows, cells = np.nonzero(is_peak & (p >= thr))
        u = cells + np.clip(out[rows, 1, cells], -1.5, 1.5)
        loglam = np.log10(self.wave_grid_aa_[0]) + (np.asarray(i0)[rows] + self._CELL * u + (self._CELL - 1) / 2) \
            * self.dlog10
        z_dla = 10 ** loglam / LYA_AA - 1
        log_nhi = _NHI_MID + _NHI_SCALE * out[rows, 2, cells]
        dl = pd.DataFrame({"spec_index": rows.astype(int), "z_dla": z_dla, "log_nhi": log_nhi.astype(float),
                           "confidence": p[rows, cells]})
        keep = (dl["z_dla"].to_numpy() >= z_lo[rows]) & (dl["z_dla"].to_numpy() <= z_hi[rows] + 0.002)
        dl = dl[keep].reset_index(drop=True)
        score = p.max(axis=1) if n_cells else np.zeros(n)
        lo_, hi_ = self.z_range_
        outside = np.isfinite(zq) & ((zq < lo_) | (zq > hi_))
        flag = np.where(empty, "empty", np.where(outside, "z_outside_trained_range", "ok"))
        n_found = np.bincount(dl["spec_index"].to_numpy(int), minlength=n)
        spectra = pd.DataFrame({"score": score, "n_dla": n_found, "z_outside_trained_range": outside, "flag": flag})
        if outside.any():
            warnings.warn(f"{int(outside.sum())} spectra have z_qso outside the trained range "
                          f"({lo_:.2f}, {hi_:.2f}); flagged 'z_outside_trained_range'", SpectraWarning, stacklevel=3)
        return dl, spectra

    def detect(self, wave_aa, flux, ivar, *, z_qso, threshold=None):
        """DLA lists plus per-spectrum scores and flags.

        Parameters
        ----------
        wave_aa : array_like (n_pix,)
        flux, ivar : array_like (n_spec, n_pix)
        z_qso : array_like (n_spec,) or DataFrame with ``z_pred`` / ``z_qso``
            Quasar redshifts (true or from :class:`RedshiftEstimator`).
        threshold : float, optional
            Overrides the ``threshold`` hyperparameter.

        Returns
        -------
        dlas : DataFrame
            One row per DLA: ``spec_index``, ``z_dla``, ``log_nhi``, ``confidence``.
        spectra : DataFrame
            One row per spectrum: ``score`` (max presence probability in the
            search range; for ROC curves), ``n_dla``, ``z_outside_trained_range``,
            ``flag`` (``ok``, ``empty``, ``z_outside_trained_range``, or
            ``redshift_<flag>`` when ``z_qso`` is a :class:`RedshiftEstimator`
            prediction table whose flag is not ``ok``).
        """
        check_is_fitted(self, ["net_"])
        zq = _z_from(z_qso)
        X, i0, empty = self.preprocess(wave_aa, flux, ivar, zq)
        dl, spectra = self.detect_preprocessed(X, i0, zq, empty, threshold=threshold)
        if hasattr(z_qso, "columns") and "flag" in z_qso.columns:  # carry the redshift flags along
            zflag = np.asarray(z_qso["flag"]).astype(str)
            bad = (zflag != "ok") & (spectra["flag"].to_numpy() == "ok")
            spectra.loc[bad, "flag"] = np.char.add("redshift_", zflag[bad])
        return dl, spectra

    def predict(self, wave_aa, flux, ivar, *, z_qso) -> pd.DataFrame:
        """DLAs found in each spectrum (confidence >= ``threshold``).

        Returns
        -------
        DataFrame: ``spec_index``, ``z_dla``, ``log_nhi``, ``confidence``.
        """
        return self.detect(wave_aa, flux, ivar, z_qso=z_qso)[0]

    # -- persistence --------------------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to an ``.npz`` artifact (weights + JSON metadata; no pickle)."""
        check_is_fitted(self, ["net_"])
        return save_estimator(self, path, kind=_KIND, arrays={"wave_grid_aa": self.wave_grid_aa_},
                              metadata={"n_window": int(self.n_window_)})

    @classmethod
    def load(cls, path) -> "DLAFinder":
        """Load a model written by :meth:`save` (raises ``ArtifactError`` on corrupt/wrong files)."""
        est, arrays, meta = load_estimator(cls, path, kind=_KIND)
        try:
            net = DLANet(channels=est.channels, dilations=est.dilations, kernel=est.kernel)
            arrays_to_module(net, arrays)
            est.wave_grid_aa_ = np.asarray(arrays["wave_grid_aa"], float)
            est.n_window_ = int(meta["n_window"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{path}: inconsistent DLAFinder file ({exc})") from None
        est.net_ = net.eval()
        return est


def _z_from(z_qso) -> np.ndarray:
    if hasattr(z_qso, "columns"):
        for col in ("z_pred", "z_qso", "z"):
            if col in z_qso.columns:
                return np.asarray(z_qso[col], float)
        raise ValueError(f"z_qso table needs a z_pred or z_qso column; has {list(z_qso.columns)}")
    return np.asarray(z_qso, float).reshape(-1)
