"""Damped Lyman-alpha absorbers (DLAs): detection, redshift and column density with a window CNN.

Each spectrum is rebinned onto an observed-frame grid uniform in
``log10(wavelength)`` (default step 1e-4, ~69 km/s, close to the native
resolution), then the QSO rest-frame stretch between Ly-beta and Ly-alpha
(plus context on both sides) is cut out using ``z_qso`` (true or estimated).
In log-wavelength a DLA profile has the same shape at every redshift, so one
network serves the whole stretch.

The network (:class:`DLANet`, in :mod:`._dla_net`) is a per-window CNN evaluated at every window
position at once: a fully convolutional stack whose receptive field (~500
pixels, +-6 % in wavelength) is the window, producing one output per *cell*
of 8 pixels with three multi-task heads:

* presence: probability that a DLA's centre lies in this cell (trained
  against a Gaussian heat map of width ``heat_sigma_cells``);
* position: offset of the DLA centre from the cell centre (in cells);
* log NHI of that DLA.

Cells are merged into per-spectrum DLA lists by non-maximum suppression
(local maxima over +-``nms_cells`` cells above ``threshold``), giving
``z_dla``, ``log_nhi`` and a ``confidence`` (the peak probability, times P(log NHI >= 20.3) for the
estimated log NHI and its error). With ``voigt_refit=True`` the log NHI of candidates near the DLA limit is
refitted with a Voigt profile (:mod:`._dla_refit`) and averaged with the network's.
Metrics live in :mod:`._metrics` (:func:`dla_metrics`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ..constants import LYA_AA, LYB_AA
from ..nn import train_validation_split
from ._cnn_base import SpectraCNNEstimator
from ._dla_net import DLANet, dla_loss
from ._dla_refit import combine_nhi, refit_nhi, window_flux_sigma
from ._inputs import is_spectra_container, spectra_arrays, spectra_fit_arrays
from ._metrics import dla_search_range
from ._mlcommon import SpectraWarning, default_z_range, robust_scale, spectral_features, training_seeds
from ._rebin import check_wave, log_wave_grid
from ._truth import truth_dlas, truth_z

__all__ = ["DLAFinder"]

_NHI_MID, _NHI_SCALE = 20.8, 0.5
_SCALE_REST_AA = (1270.0, 1350.0)
#: quasar rest wavelength above which the Voigt refit ignores pixels: the blue wing of the broad Ly-alpha
#: emission line (FWHM ~ 3000-5000 km/s, e.g. Vanden Berk et al. 2001) rises from ~1200 A, where a local
#: quadratic continuum would read the rise as a damping wing
_REFIT_MAX_REST_AA = 1200.0
#: BAL veto: a broad trough of N V or Lyman-alpha blueward of the quasar's Lyman-alpha emission looks like a DLA
#: to the window network, but a BAL quasar's troughs share one outflow velocity across its high-ionisation lines
#: (Weymann et al. 1991), so the same velocity shows a trough blueward of C IV too, where a DLA leaves none
_CIV_AA = 1549.06
_BAL_TROUGH_LINES_AA = (1215.67, 1240.81)  # Lyman-alpha, N V
#: outflow velocities checked: the balnicity window reaches 25,000 km/s (Weymann et al. 1991), troughs ~30,000
_BAL_MAX_DLOG10 = 0.045
#: half width of the C IV box averaged at each velocity (km/s): narrower than the 2000 km/s a BAL trough spans
#: by definition, wider than intervening C IV doublets
_BAL_BOX_KMS = 1500.0


class DLAFinder(SpectraCNNEstimator):
    """Find DLAs in quasar spectra: window CNN with presence, position and log NHI heads.

    Two input forms (see :mod:`agnlab.spectra._inputs`):

    * ``fit(X, y)`` / ``predict(X, z_qso=...)`` with ``X`` a spectra container
      (:class:`SimulatedSpectra`, :class:`ObservedSpectra`, any object with
      ``wave_aa``, ``flux``, ``ivar``, or a tuple of the three) and ``y`` the
      truth table (``None``: ``X.truth``). Without ``z_qso``, prediction uses
      the container's own quasar redshifts (``X.z_qso``, ``X.truth['z_qso']``
      or an ``X.meta`` ``z_qso``/``z`` column), so the estimator can close a
      scikit-learn ``Pipeline``;
    * ``fit(wave_aa, flux, ivar, truth)`` / ``predict(wave_aa, flux, ivar, z_qso=...)``.

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
    nhi_train_min : float
        Absorbers at or above this column density (sub-DLAs included when the training lists hold
        them, e.g. from the simulator's ``absorbers`` table) train the position and log NHI heads,
        while only DLAs (``min_log_nhi``) are positives of the presence head. The column density of a
        sub-DLA is then measured rather than extrapolated from DLAs, so the ``nhi_sigma`` factor can
        reject it (sub-DLAs are the main false detections of automated DLA searches, e.g. Parks et al.
        2018, MNRAS 476, 1151).
    channels, dilations, kernel :
        Network shape (see :class:`DLANet`).
    heat_sigma_cells : float
        Width of the presence heat map (cells of 8 pixels).
    pos_weight : float
        Extra weight of cells near a DLA in the presence loss.
    threshold : float
        Confidence above which a DLA is reported by :meth:`predict`.
    nhi_sigma : float
        The confidence of a cell is its presence probability times the probability that the column
        density exceeds ``min_log_nhi`` given the cell's log NHI estimate, for a Gaussian error of
        ``nhi_sigma`` dex (sub-DLAs just below the DLA limit are the main false detections);
        0 uses the presence probability alone.
    nhi_sigma_snr : float
        Noise term of that error: ``sigma = sqrt(nhi_sigma**2 + (nhi_sigma_snr / snr)**2)`` with
        ``snr`` the spectrum's median S/N per pixel at its continuum level (flux at the median of
        rest 1270-1350 A) over the searched window, so that bright spectra, whose log NHI is measured
        to ~0.1 dex, are cut more sharply at ``min_log_nhi`` than faint ones (~0.25 dex at r ~ 22).
        0 (default) keeps one error for every spectrum. ``scripts/train_spectra_models.py
        --nhi-sigma-law calibrate`` sets both terms on held-out simulated spectra.
    nms_cells : int
        Half width of the non-maximum suppression (cells).
    voigt_refit : bool
        Refit the column density of each candidate with a Voigt profile (damping wings of Lyman-alpha,
        local quadratic continuum, forest pixels clipped; :mod:`agnlab.spectra._dla_refit`) and average it
        with the network's estimate before the ``P(log NHI >= min_log_nhi)`` factor, as DLA surveys do
        (Prochaska et al. 2005; Noterdaeme et al. 2012; Parks et al. 2018). Candidates are then the peaks of
        the presence probability; only those with presence >= ``refit_min_presence`` and a network log NHI
        within 3 sigma of ``min_log_nhi`` are refitted (~1 ms each), the others keep the network's
        confidence. ``False`` (default; also for files saved before this option) keeps the network alone.
        Measured on the shipped network: completeness at purity >= 95 % +2 points on held-out simulated
        seeds 1081/1082, +0.3 on average over the benchmark's three seeds (within their spread), DLA search
        12-15 % slower; the shipped file keeps it off.
    refit_sigma_floor, refit_sigma_scale : float
        Error of the refitted log NHI: ``sqrt((refit_sigma_scale * statistical)**2 + refit_sigma_floor**2)``
        (the fit's statistical error ignores continuum placement and forest blending).
        ``scripts/train_spectra_models.py --voigt-refit calibrate`` sets both on held-out simulated spectra.
    refit_min_presence : float
        Presence probability below which a candidate is not refitted (cost).
    bal_veto_ratio, bal_veto_width : float
        BAL veto (:meth:`detect` only, which sees the whole spectrum): the confidence of a cell is multiplied by
        ``Phi((R - bal_veto_ratio) / bal_veto_width)``, with ``R`` the mean flux (in units of the flux at rest
        1270-1350 A) within +-1500 km/s of C IV at the outflow velocity the cell would have as a Lyman-alpha or
        an N V trough (the smaller of the two; velocities 0-~30,000 km/s). BAL quasars' troughs share one
        velocity across C IV, Si IV, N V and Lyman-alpha (Weymann et al. 1991), so a trough that the network
        takes for a DLA has a C IV trough at the same velocity, which a DLA does not. Without a C IV trough
        ``R ~ 0.8-1``; BAL troughs give ``R ~ 0.1-0.5``. ``bal_veto_ratio=0`` switches the veto off (and
        :meth:`detect_preprocessed` applies it only when given ``civ``). Chosen on held-out simulated spectra
        (seed 1081; see ``docs/spectra-dla-ceiling.md``); files saved before this option load with it on.
        Measured on the shipped network (search at the true z_qso), completeness at purity >= 95 %: 69.5 -> 74.8 %
        on seed 1081, 77.0 -> 82.2 % on seed 1082, 70.2 / 79.8 / 66.8 -> 70.2 / 78.2 / 72.6 % on the benchmark's
        seeds; purity at the detection threshold +5 points; cost within timing noise.
    lr, weight_decay, batch_size, max_epochs, patience, validation_fraction :
        Training (see :class:`agnlab.nn.TrainConfig`).
    z_range : (float, float) or None
        Trained quasar redshift range (``None``: from the training truth, rounded outwards to 0.1);
        spectra outside it are flagged ``z_outside_trained_range`` (the out-of-domain flag of this
        table output).
    random_state : int, numpy Generator or None
        Seeds the train/validation split, the initial weights and the batches.
    warm_start : bool
        Continue training from the fitted network (same shapes) instead of new random weights
        (fine-tuning, e.g. of :meth:`pretrained` models on new data).
    chunk_size : int
        Spectra rebinned at a time (memory).
    n_jobs : int or None
        Torch/BLAS threads during fit and predict, restored afterwards (``None`` leaves the process
        setting alone).
    progress : bool or None
        Progress bars (``None``: on a terminal only).

    Attributes
    ----------
    net_ : DLANet
    wave_grid_aa_ : ndarray (n_grid,)
    n_window_ : int
        Pixels per rest-frame window.
    z_range_ : (float, float)
    training_record_ : dict
        ``n_train``, ``n_val``, ``n_dla_train``, ``best_epoch``, ``best_val_loss``, ``epochs``,
        ``train_seconds``, ``history`` (per-epoch (train, validation) loss).
    """

    def __init__(self, *, wave_min_aa: float = 3600.0, wave_max_aa: float = 9600.0, dlog10: float = 1e-4,
                 context_dlog10: float = 0.024, min_log_nhi: float = 20.3, nhi_train_min: float = 19.3,
                 channels=(16, 32, 48, 64), dilations=(1, 2, 4, 8), kernel: int = 5, heat_sigma_cells: float = 1.0,
                 pos_weight: float = 10.0,
                 threshold: float = 0.5, nhi_sigma: float = 0.15, nhi_sigma_snr: float = 0.0, nms_cells: int = 3,
                 voigt_refit: bool = False, refit_sigma_floor: float = 0.1, refit_sigma_scale: float = 2.0,
                 refit_min_presence: float = 0.05, bal_veto_ratio: float = 0.55, bal_veto_width: float = 0.1,
                 lr: float = 2e-3,
                 weight_decay: float = 1e-4, batch_size: int = 64, max_epochs: int = 40, patience: int = 6,
                 validation_fraction: float = 0.1, z_range=None, random_state=0, warm_start: bool = False,
                 chunk_size: int = 256, n_jobs=None, progress=None):
        self.wave_min_aa = wave_min_aa
        self.wave_max_aa = wave_max_aa
        self.dlog10 = dlog10
        self.context_dlog10 = context_dlog10
        self.min_log_nhi = min_log_nhi
        self.nhi_train_min = nhi_train_min
        self.channels = channels
        self.dilations = dilations
        self.kernel = kernel
        self.heat_sigma_cells = heat_sigma_cells
        self.pos_weight = pos_weight
        self.threshold = threshold
        self.nhi_sigma = nhi_sigma
        self.nhi_sigma_snr = nhi_sigma_snr
        self.nms_cells = nms_cells
        self.voigt_refit = voigt_refit
        self.refit_sigma_floor = refit_sigma_floor
        self.refit_sigma_scale = refit_sigma_scale
        self.refit_min_presence = refit_min_presence
        self.bal_veto_ratio = bal_veto_ratio
        self.bal_veto_width = bal_veto_width
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.z_range = z_range
        self.random_state = random_state
        self.warm_start = warm_start
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
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

    def _civ_geometry(self, z_qso, grid):
        """First model-grid pixel and length of the C IV velocity region (rest C IV - 0.05 dex .. + 0.005 dex)."""
        n_civ = int(np.ceil(0.055 / self.dlog10))
        start = np.rint((np.log10(_CIV_AA) - 0.05 + np.log10(1 + np.asarray(z_qso, float)) - np.log10(grid[0]))
                        / self.dlog10).astype(int)
        return start, n_civ

    def _cell_loglam(self, i0, n_cells, grid):
        """Observed log10(lambda) of cell centres, shape (n, n_cells)."""
        c = np.arange(n_cells)
        return np.log10(grid[0]) + (i0[:, None] + self._CELL * c[None] + (self._CELL - 1) / 2) * self.dlog10

    # -- features -----------------------------------------------------------------------------
    def preprocess(self, wave_aa, flux, ivar, z_qso, *, civ: bool = False):
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
        civ : ndarray float32 (n_spec, n_civ)
            Only with ``civ=True``: flux blueward of C IV (rest C IV - 0.05 dex to + 0.005 dex on the model
            grid) in units of the same flux scale, NaN where masked or outside the spectrum (for the BAL veto
            of :meth:`detect_preprocessed`).
        """
        wave = check_wave(wave_aa)
        grid, lo, n_win = self._geometry()
        reb = self._rebinner(wave, grid)
        flux = np.asarray(flux)
        ivar = np.asarray(ivar)
        if flux.ndim == 1:
            flux, ivar = flux[None], ivar[None]
        n = flux.shape[0]
        if n == 0:
            raise ValueError("spectra: no spectra (flux has 0 rows)")
        zq = np.asarray(z_qso, float).reshape(-1)
        if zq.size != n:
            raise ValueError(f"z_qso has {zq.size} values but there are {n} spectra")
        nan_z = ~np.isfinite(zq)
        if np.any(zq[~nan_z] <= -1):
            raise ValueError("z_qso: values <= -1 are not redshifts")
        zq_safe = np.where(nan_z, 0.0, zq)
        i0 = self._starts(zq_safe, grid, lo)
        X = np.zeros((n, 2, n_win), np.float32)
        c0, n_civ = self._civ_geometry(zq_safe, grid)
        C = np.full((n, n_civ), np.nan, np.float32) if civ else None
        empty = nan_z.copy()
        loglam = np.log10(grid)
        n_masked = 0
        for s in range(0, n, self.chunk_size):
            sl = slice(s, s + self.chunk_size)
            fr, ir, nm = reb.rebin_raw(flux[sl], ivar[sl])
            n_masked += nm
            z1 = np.log10(1 + zq_safe[sl])[:, None]
            rows = np.arange(fr.shape[0])[:, None]
            # the rest-frame scale window, gathered (a few hundred pixels instead of the whole grid)
            a_red = np.searchsorted(loglam, np.log10(_SCALE_REST_AA[0]) + z1[:, 0], side="left")
            b_red = np.searchsorted(loglam, np.log10(_SCALE_REST_AA[1]) + z1[:, 0], side="right")
            ired = a_red[:, None] + np.arange(max(int((b_red - a_red).max()), 1))[None]
            red = ired < b_red[:, None]
            ired = np.minimum(ired, grid.size - 1)
            scale = robust_scale(fr[rows, ired], ir[rows, ired], mask=red)
            miss = ~np.isfinite(scale)
            if miss.any():  # red window masked or negative: any pixel redward of Ly-alpha
                scale[miss] = robust_scale(fr[miss], ir[miss], mask=loglam[None] >= np.log10(LYA_AA * 1.02) + z1[miss])
            idx = i0[sl, None] + np.arange(n_win)[None]
            inside = (idx >= 0) & (idx < grid.size)
            idc = np.clip(idx, 0, grid.size - 1)
            fw = np.where(inside, fr[rows, idc], 0.0)
            iw = np.where(inside, ir[rows, idc], 0.0)
            bad = ~np.isfinite(scale) | ~(iw > 0).any(axis=1)
            empty[sl] |= bad
            X[sl] = spectral_features(fw, iw, np.where(np.isfinite(scale), scale, 1.0))
            if civ:
                idx = c0[sl, None] + np.arange(n_civ)[None]
                idc = np.clip(idx, 0, grid.size - 1)
                ok = (idx >= 0) & (idx < grid.size) & (ir[rows, idc] > 0) & np.isfinite(scale)[:, None]
                C[sl] = np.where(ok, fr[rows, idc] / np.where(np.isfinite(scale), scale, 1.0)[:, None], np.nan)
        X[empty] = 0.0
        if n_masked:
            warnings.warn(f"{n_masked} pixels with NaN/inf flux or ivar were masked", SpectraWarning, stacklevel=2)
        return (X, i0, empty, C) if civ else (X, i0, empty)

    def _targets(self, i0, z_qso, dlas, n_cells, grid):
        n = len(dlas)
        heat = np.zeros((n, n_cells), np.float32)
        mask = np.zeros((n, n_cells), np.float32)
        off = np.zeros((n, n_cells), np.float32)
        nhi = np.zeros((n, n_cells), np.float32)
        c = np.arange(n_cells)
        dist_best = np.full((n, n_cells), np.inf)
        reg_min = min(self.nhi_train_min, self.min_log_nhi)
        for i, (zd, nh) in enumerate(dlas):
            for z_a, n_a in zip(zd, nh):
                if n_a < reg_min:
                    continue
                p = (np.log10(LYA_AA * (1 + z_a)) - np.log10(grid[0])) / self.dlog10 - i0[i]
                u = (p - (self._CELL - 1) / 2) / self._CELL
                if u < -2 or u > n_cells + 1:
                    continue
                d = c - u
                if n_a >= self.min_log_nhi:  # presence: DLAs only; position and log NHI: sub-DLAs too
                    heat[i] = np.maximum(heat[i], np.exp(-0.5 * (d / self.heat_sigma_cells) ** 2))
                near = (np.abs(d) <= 1.5) & (np.abs(d) < dist_best[i])
                dist_best[i] = np.where(near, np.abs(d), dist_best[i])
                mask[i, near] = 1.0
                off[i, near] = -d[near]
                nhi[i, near] = (n_a - _NHI_MID) / _NHI_SCALE
        return heat, mask, off, nhi

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X, y=None, *arrays, dlas=None):
        """Train on spectra with known quasar redshifts and DLA lists.

        Parameters
        ----------
        X : spectra container, or ``wave_aa`` (n_pix,) in the array form
        y : truth table with ``z_qso`` and per-spectrum ``z_dla``, ``log_nhi``
            (see :func:`agnlab.spectra.truth_dlas` for accepted layouts); ``None`` takes
            ``X.truth``. In the array form ``fit(wave_aa, flux, ivar, truth)`` this is ``flux``.
        *arrays :
            ``ivar, truth`` in the array form.
        dlas : DataFrame, optional
            Per-absorber table (``spec_index``, ``z_dla`` or ``z_abs``, ``log_nhi``); may hold
            sub-DLAs (they train the log NHI head, see ``nhi_train_min``). Default: the container's
            ``absorbers`` table when the truth is the container's own (``y`` None or ``X.truth``).

        Returns
        -------
        self
        """
        wave_aa, flux, ivar, truth = spectra_fit_arrays(X, y, arrays)
        n = flux.shape[0] if flux.ndim == 2 else 1
        z = truth_z(truth, n)
        if dlas is None and getattr(X, "absorbers", None) is not None and (y is None or y is getattr(X, "truth", None)):
            dlas = X.absorbers  # every H I system: sub-DLAs train the log NHI head (see nhi_train_min)
        lists = truth_dlas(truth, n, dlas=dlas)
        Xp, i0, empty = self.preprocess(wave_aa, flux, ivar, z)
        keep = ~empty
        return self.fit_preprocessed(Xp[keep], i0[keep], z[keep], [lists[i] for i in np.nonzero(keep)[0]])

    def fit_preprocessed(self, X, i0, z_qso, dla_lists):
        """Train on :meth:`preprocess` output plus true ``z_qso`` and DLA lists."""
        t0 = time.perf_counter()
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
        n_cells = n_win // self._CELL
        heat, mask, off, nhi = self._targets(np.asarray(i0), zq, dla_lists, n_cells, grid)
        n_pos = int(sum(int(np.sum(np.asarray(nh) >= self.min_log_nhi)) for _, nh in dla_lists))
        if n_pos == 0:
            raise ValueError("training set holds no DLA with log_nhi >= min_log_nhi; simulate with DLAs")
        split_state, torch_rng, train_seed = training_seeds(self.random_state)
        it, iv = train_validation_split(n, self.validation_fraction, split_state)
        pw = float(self.pos_weight)
        net, hist = self._train(
            lambda: DLANet(channels=tuple(self.channels), dilations=tuple(self.dilations), kernel=self.kernel),
            X, (heat, mask, off, nhi), it, iv,
            loss_fn=lambda out, h, m, o, q: dla_loss(out, h, m, o, q, pos_weight=pw),
            torch_rng=torch_rng, train_seed=train_seed, desc="DLAFinder")
        self._set_net(net)
        self.wave_grid_aa_ = grid
        self.n_window_ = n_win
        self.z_range_ = default_z_range(zq) if self.z_range is None else tuple(map(float, self.z_range))
        self.training_record_ = {
            "n_train": int(it.size), "n_val": int(iv.size), "n_dla_train": n_pos, "best_epoch": hist["best_epoch"],
            "best_val_loss": hist["best_val_loss"], "epochs": len(hist["history"]),
            "train_seconds": hist["train_seconds"], "fit_seconds": time.perf_counter() - t0,
            "history": [list(map(float, h)) for h in hist["history"]]}
        return self

    # -- predict ------------------------------------------------------------------------------
    def _raw(self, X, batch_size=64):
        return self._forward(X, batch_size=batch_size, desc="DLA", empty_shape=(3, self.n_window_ // self._CELL))

    def _nhi_error(self, X):
        """Per-spectrum log NHI error (n, 1) of the ``nhi_sigma`` weighting, or None (no weighting)."""
        a, b = float(self.nhi_sigma), float(self.nhi_sigma_snr)
        if a < 0 or b < 0 or not np.isfinite(a + b):
            raise ValueError(f"nhi_sigma and nhi_sigma_snr must be finite and >= 0, got {a!r}, {b!r}")
        if a == 0 and b == 0:
            return None
        if b == 0:
            return np.full((X.shape[0], 1), a)
        snr = _window_snr(X)
        return np.sqrt(a ** 2 + (b / np.maximum(np.nan_to_num(snr, nan=0.1), 0.1)) ** 2)[:, None]

    def detect_preprocessed(self, X, i0, z_qso, empty=None, *, threshold=None, civ=None):
        """Decode network outputs into DLA lists; see :meth:`detect`.

        ``civ``: the fourth output of ``preprocess(..., civ=True)``; with it (and ``bal_veto_ratio > 0``) the
        BAL veto is applied, without it not."""
        self._check_fitted()
        X = np.asarray(X, np.float32)
        if X.ndim != 3 or X.shape[1:] != (2, self.n_window_):
            raise ValueError(f"X: expected shape (n, 2, {self.n_window_}), got {X.shape}")
        thr = self.threshold if threshold is None else float(threshold)
        zq = np.asarray(z_qso, float).reshape(-1)
        n = X.shape[0]
        empty = np.zeros(n, bool) if empty is None else np.asarray(empty, bool)
        out = self._raw(X)
        n_cells = out.shape[2]
        presence = 1.0 / (1.0 + np.exp(-out[:, 0].astype(np.float64)))
        prob = presence
        sigma = self._nhi_error(X)
        if sigma is not None:  # times P(log N >= min_log_nhi | estimate)
            prob = prob * ndtr((_NHI_MID + _NHI_SCALE * out[:, 2].astype(np.float64) - self.min_log_nhi) / sigma)
        loglam_c = self._cell_loglam(np.asarray(i0), n_cells, self.wave_grid_aa_)
        zq_safe = np.where(np.isfinite(zq), zq, 0.0)
        z_lo, z_hi = dla_search_range(zq_safe, wave_min_aa=self.wave_grid_aa_[0])
        z_cell = 10 ** loglam_c / LYA_AA - 1
        in_search = (z_cell >= z_lo[:, None] - 0.002) & (z_cell <= z_hi[:, None] + 0.002) & ~empty[:, None]
        veto = 1.0 if civ is None else self._bal_veto(civ, loglam_c, zq_safe)
        p = np.where(in_search, prob, 0.0) * veto
        score = p.max(axis=1) if n_cells else np.zeros(n)
        refit = bool(self.voigt_refit)
        if refit:  # candidates are peaks of the presence probability; the Voigt refit sets their log NHI
            p_cnn, p = p, np.where(in_search, presence, 0.0) * veto
        rows, cells = _peaks(p, self.nms_cells, thr)
        u = cells + np.clip(out[rows, 1, cells], -1.5, 1.5)
        loglam = np.log10(self.wave_grid_aa_[0]) + (np.asarray(i0)[rows] + self._CELL * u + (self._CELL - 1) / 2) \
            * self.dlog10
        z_dla = 10 ** loglam / LYA_AA - 1
        log_nhi = (_NHI_MID + _NHI_SCALE * out[rows, 2, cells]).astype(float)
        conf = p[rows, cells]
        if refit:
            log_nhi, conf = self._refit(X, rows, self._CELL * u + (self._CELL - 1) / 2, log_nhi, conf, sigma,
                                        p_cnn[rows, cells])
            best = np.zeros(n)
            np.maximum.at(best, rows, conf)
            has = np.bincount(rows, minlength=n) > 0
            score = np.where(has, best, score)
            sel = conf >= thr
            rows, z_dla, log_nhi, conf = rows[sel], z_dla[sel], log_nhi[sel], conf[sel]
        dl = pd.DataFrame({"spec_index": rows.astype(int), "z_dla": z_dla, "log_nhi": log_nhi,
                           "confidence": conf})
        keep = (dl["z_dla"].to_numpy() >= z_lo[rows]) & (dl["z_dla"].to_numpy() <= z_hi[rows] + 0.002)
        dl = dl[keep].reset_index(drop=True)
        lo_, hi_ = self.z_range_
        outside = np.isfinite(zq) & ((zq < lo_) | (zq > hi_))
        flag = np.where(empty, "empty", np.where(outside, "z_outside_trained_range", "ok"))
        n_found = np.bincount(dl["spec_index"].to_numpy(int), minlength=n)
        spectra = pd.DataFrame({"score": score, "n_dla": n_found, "z_outside_trained_range": outside, "flag": flag})
        if outside.any():
            warnings.warn(f"{int(outside.sum())} spectra have z_qso outside the trained range "
                          f"({lo_:.2f}, {hi_:.2f}); flagged 'z_outside_trained_range'", SpectraWarning, stacklevel=3)
        return dl, spectra

    def _veto_params(self):
        r0, w = float(self.bal_veto_ratio), float(self.bal_veto_width)
        if not (np.isfinite(r0) and np.isfinite(w) and r0 >= 0 and w > 0):
            raise ValueError(f"bal_veto_ratio must be finite and >= 0 and bal_veto_width finite and > 0, got "
                             f"{self.bal_veto_ratio!r}, {self.bal_veto_width!r}")
        return r0, w

    def _bal_veto(self, civ, loglam_c, z_qso):
        """Factor (n, n_cells) of the BAL veto (see ``bal_veto_ratio``); 1 where it does not apply."""
        r0, w = self._veto_params()
        if r0 == 0:
            return 1.0
        civ = np.asarray(civ, np.float64)
        n, n_civ = civ.shape
        if n != loglam_c.shape[0]:
            raise ValueError(f"civ has {n} rows but there are {loglam_c.shape[0]} spectra")
        good = np.isfinite(civ)
        zero = np.zeros((n, 1))
        csum = np.concatenate([zero, np.cumsum(np.where(good, civ, 0.0), axis=1)], axis=1)
        ccnt = np.concatenate([zero, np.cumsum(good, axis=1)], axis=1)
        c0, _ = self._civ_geometry(z_qso, self.wave_grid_aa_)
        half = max(int(round(np.log10(1 + _BAL_BOX_KMS / 299792.458) / self.dlog10)), 1)
        rows = np.arange(n)[:, None]
        ratio = np.full(loglam_c.shape, np.inf)
        log1z = np.log10(1 + z_qso)[:, None]
        for lam0 in _BAL_TROUGH_LINES_AA:
            dlog = np.log10(lam0) + log1z - loglam_c  # blueshift of the cell from the trough line (dex)
            centre = np.rint((np.log10(_CIV_AA) + log1z - dlog - np.log10(self.wave_grid_aa_[0])) / self.dlog10
                             ).astype(int) - c0[:, None]
            lo, hi = np.clip(centre - half, 0, n_civ), np.clip(centre + half + 1, 0, n_civ)
            cnt = ccnt[rows, hi] - ccnt[rows, lo]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = (csum[rows, hi] - csum[rows, lo]) / cnt
            use = (dlog >= 0) & (dlog <= _BAL_MAX_DLOG10) & (cnt >= half)
            ratio = np.where(use, np.fmin(ratio, mean), ratio)
        return np.where(np.isfinite(ratio), ndtr((ratio - r0) / w), 1.0)

    def _refit(self, X, rows, pix, cnn_nhi, presence, sigma, conf_cnn):
        """Voigt refit of candidates (``rows``, window pixel ``pix``): combined log NHI and confidence.

        Refitted: candidates with presence >= ``refit_min_presence`` whose CNN log NHI lies within 3 sigma of
        ``min_log_nhi``; the others keep the CNN's log NHI and confidence ``conf_cnn``."""
        floor, scale = float(self.refit_sigma_floor), float(self.refit_sigma_scale)
        if not (floor > 0 and np.isfinite(floor) and scale > 0 and np.isfinite(scale)):
            raise ValueError("refit_sigma_floor and refit_sigma_scale must be finite and > 0, got "
                             f"{self.refit_sigma_floor!r}, {self.refit_sigma_scale!r}")
        if rows.size == 0:
            return cnn_nhi, conf_cnn
        cnn_sig = (np.full(rows.size, 0.15) if sigma is None else np.asarray(sigma)[rows, 0])
        # only candidates whose class is uncertain (CNN log NHI within 3 sigma of the limit) are refitted
        todo = (np.abs(cnn_nhi - self.min_log_nhi) <= 3.0 * cnn_sig) & (presence >= float(self.refit_min_presence))
        fit_nhi, fit_sig = np.full(rows.size, np.nan), np.full(rows.size, np.inf)
        if todo.any():
            flux, err = window_flux_sigma(np.asarray(X)[rows[todo]])
            # the local continuum cannot follow the quasar's Ly-alpha / N V emission peak
            _, lo, _ = self._geometry()
            err[:, int(np.floor((np.log10(_REFIT_MAX_REST_AA) - lo) / self.dlog10)) + 1:] = np.inf
            fit = refit_nhi(flux, err, pix[todo], dlog10=self.dlog10)
            fit_nhi[todo], fit_sig[todo] = fit["log_nhi"], fit["sigma"]
        nhi, _, p_dla = combine_nhi(cnn_nhi, cnn_sig, fit_nhi, fit_sig, floor=floor, scale=scale,
                                    min_log_nhi=self.min_log_nhi)
        return nhi, np.where(todo, presence * p_dla, conf_cnn)

    def detect(self, X, *arrays, z_qso=None, threshold=None):
        """DLA lists plus per-spectrum scores and flags.

        Parameters
        ----------
        X : spectra container (``wave_aa``, ``flux``, ``ivar``), or ``wave_aa`` (n_pix,) in the
            array form ``detect(wave_aa, flux, ivar, z_qso=...)`` (``flux, ivar``: (n_spec, n_pix)).
        z_qso : array_like (n_spec,) or DataFrame with ``z_pred`` / ``z_qso``
            Quasar redshifts (true or from :class:`RedshiftEstimator`). Optional with a
            container that carries them (``X.z_qso``, ``X.truth['z_qso']``, ``X.meta['z_qso' or 'z']``).
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
        self._check_fitted()
        wave_aa, flux, ivar = spectra_arrays(X, arrays, what="detect")
        if z_qso is None:
            z_qso = _container_z(X)
        zq = _z_from(z_qso)
        veto = self._veto_params()[0] > 0
        Xp, i0, empty, *civ = self.preprocess(wave_aa, flux, ivar, zq, civ=veto)
        dl, spectra = self.detect_preprocessed(Xp, i0, zq, empty, threshold=threshold, civ=civ[0] if veto else None)
        if hasattr(z_qso, "columns") and "flag" in z_qso.columns:  # carry the redshift flags along
            zflag = np.asarray(z_qso["flag"]).astype(str)
            bad = (zflag != "ok") & (spectra["flag"].to_numpy() == "ok")
            spectra.loc[bad, "flag"] = np.char.add("redshift_", zflag[bad])
        return dl, spectra

    def predict(self, X, *arrays, z_qso=None) -> pd.DataFrame:
        """DLAs found in each spectrum (confidence >= ``threshold``); inputs as in :meth:`detect`.

        Returns
        -------
        DataFrame: ``spec_index``, ``z_dla``, ``log_nhi``, ``confidence``
            (per-spectrum flags are in the second table of :meth:`detect`).
        """
        return self.detect(X, *arrays, z_qso=z_qso)[0]

    # -- persistence --------------------------------------------------------------------------
    def _build_net(self, meta):
        return DLANet(channels=tuple(self.channels), dilations=tuple(self.dilations), kernel=self.kernel)

    def _get_state(self):
        arrays = {**self._net_arrays(), "wave_grid_aa": self.wave_grid_aa_}
        return arrays, {"z_range": list(self.z_range_), "n_window": int(self.n_window_)}

    def _set_state(self, arrays, meta):
        self._restore_net(arrays, meta)
        self.wave_grid_aa_ = np.asarray(arrays["wave_grid_aa"], float)
        self.n_window_ = int(meta["n_window"])
        self.z_range_ = tuple(float(v) for v in meta["z_range"])


def _peaks(p, k, thr):
    """Rows and cells of local maxima of ``p`` over +-``k`` cells with ``p >= thr`` (ties: the first)."""
    n = p.shape[0]
    pad = np.pad(p, ((0, 0), (k, k)), constant_values=-1)
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * k + 1, axis=1)
    is_peak = (p >= win.max(axis=2)) & (p > 0)
    is_peak &= ~np.concatenate([np.zeros((n, 1), bool), is_peak[:, :-1] & (p[:, 1:] == p[:, :-1])], axis=1)
    return np.nonzero(is_peak & (p >= thr))


def _window_snr(X) -> np.ndarray:
    """Median S/N per pixel at the continuum level of each :meth:`DLAFinder.preprocess` window (NaN: none valid).

    The second input channel holds ``log1p(sqrt(ivar) * scale) / 3`` (0 where masked), with ``scale``
    the flux at rest 1270-1350 A. Rows are sorted with masked pixels last (a fraction of the cost of
    ``nanmedian``); the median of an even count averages the two middle S/N values.
    """
    ch = np.asarray(X)[:, 1]
    valid = ch > 0
    n_valid = valid.sum(axis=1)
    srt = np.sort(np.where(valid, ch, np.inf), axis=1)
    mid = [np.take_along_axis(srt, np.maximum(k, 0)[:, None], axis=1)[:, 0].astype(np.float64)
           for k in ((n_valid - 1) // 2, n_valid // 2)]
    snr = 0.5 * (np.expm1(3.0 * mid[0]) + np.expm1(3.0 * mid[1]))
    return np.where(n_valid > 0, snr, np.nan)


def _container_z(X) -> np.ndarray:
    """Quasar redshifts carried by a spectra container (for ``predict(X)`` in a Pipeline)."""
    if not is_spectra_container(X) or isinstance(X, tuple):
        raise TypeError("z_qso is required (give z_qso=..., or a spectra container that carries z_qso)")
    if getattr(X, "z_qso", None) is not None:
        return np.asarray(X.z_qso, float)
    truth = getattr(X, "truth", None)
    if truth is not None and "z_qso" in getattr(truth, "columns", ()):
        return np.asarray(truth["z_qso"], float)
    meta = getattr(X, "meta", None)
    for col in ("z_qso", "z"):
        if isinstance(meta, pd.DataFrame) and col in meta.columns:
            return np.asarray(meta[col], float)
    raise ValueError("z_qso is required: the spectra carry no quasar redshifts (give z_qso=..., e.g. from "
                     "RedshiftEstimator.predict)")


def _z_from(z_qso) -> np.ndarray:
    if hasattr(z_qso, "columns"):
        for col in ("z_pred", "z_qso", "z"):
            if col in z_qso.columns:
                return np.asarray(z_qso[col], float)
        raise ValueError(f"z_qso table needs a z_pred or z_qso column; has {list(z_qso.columns)}")
    return np.asarray(z_qso, float).reshape(-1)
