"""GridInverter: photoionisation-grid parameters (O/H, log U, log P/k, E_peak...) from observed line fluxes.

The seed work (3MdB-trained networks; NebulaBayes, Thomas et al. 2018, ApJ 856, 89, as the Bayesian
reference) estimates grid parameters from line ratios. Here an estimator is trained on *simulated
observations* of the grid:

1. parameter vectors drawn uniformly in the box of the grid (the uniform prior of NebulaBayes) plus
   the nodes themselves; their log10(F/F_Hbeta) by multilinear interpolation between the nodes
   (:mod:`._grid_interp`; models left out with ``exclude`` are never used, so held-out tests are honest);
2. noise at an S/N drawn per line in ``snr_range``, random line dropout (any subset of lines works),
   and the grid's own error: by default its leave-one-node-out interpolation error, measured on the grid
   (``model_error``), plus optional Gaussian scatter ``model_error_dex`` (:mod:`._grid_features`);
3. quantile regression of every parameter at the 16th/50th/84th percentiles (:mod:`._grid_backends`):
   a neural network (``method="nn"``) or gradient-boosted trees (``method="gbm"``);
4. calibration of the 68 % intervals on held-out observations (a normalised conformal step, Romano et al.
   2019, NeurIPS, "Conformalized quantile regression": stretch factors per parameter and interval width,
   then a factor that depends on the observing conditions -- S/N level and spread, which lines are
   present, region of the parameter box -- fitted by quantile regression; :mod:`._grid_calibrate`),
   by default on grid nodes moved by the interpolant's leave-one-node-out error, so that the intervals
   include the error of interpolating between nodes, then stretched per parameter by what a helper model
   trained without some node slices of the training grid needs to cover its held-out models
   (``calibration_set``);
5. at prediction, spectra that no grid model reproduces are flagged ``out_of_domain`` (:mod:`._grid_domain`;
   the grid interpolated at the estimate is tried first, so small calls need no nearest-model search)
   and get no estimate.

Multi-modal posteriors (the two R23 branches of O/H) widen the interval; the modes themselves come from
:func:`agnlab.nebular.grid_solution_set`.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd

from .._domain import OutOfDomainError, check_on_out_of_domain
from .._estimator import AgnlabEstimator, compute_context
from ._grid_backends import GBMQuantiles, pinball_loss, quantile_net
from ._grid_calibrate import (
    CAL_BINS,
    apply_calibration,
    apply_conditional,
    calibrate_intervals,
    condition_features,
    conditional_log_factor,
    conformal_factor,
    conformity_scores,
    fit_conditional,
    identity_calibration,
    n_conditional_coefs,
    pooled_conditional_stretch,
    pooled_stretch,
)
from ._grid_domain import in_domain
from ._grid_features import (
    FLAG_NO_ESTIMATE,
    GRID_FLAG_NAMES,
    encode,
    n_features,
    nn_inputs,
    read_observed,
    simulate_observed,
)
from ._grid_interp import LogRatioInterpolator, log_ratios
from ._photoion_grid import GridError, PhotoionizationGrid, load_photoionization_grid

__all__ = ["GridInverter"]

_METHODS = ("nn", "gbm")
_MODEL_ERRORS = ("node-gap", "node-gap-local", "gaussian")
_CALIBRATION_SETS = ("node-gap", "held-out-slices", "simulated")
_HELD_OUT_CORRECTIONS = ("conditional", "constant")
_SMALL_CALL = 4096


def _run_net(net, x):
    """The network on a small float32 batch ``x`` (no device moves, no chunking)."""
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x))).numpy()


class GridInverter(AgnlabEstimator):
    """Estimate photoionisation-grid parameters, with 68 % intervals, from dereddened line fluxes.

    Parameters
    ----------
    method : {"nn", "gbm"}
        Quantile neural network (:class:`agnlab.nn.MLP`, PyTorch) or quantile gradient-boosted trees
        (scikit-learn ``HistGradientBoostingRegressor``, which routes missing lines natively).
    n_samples : int
        Simulated noisy spectra to train on.
    snr_range : (float, float)
        S/N level of a training spectrum, drawn log-uniformly.
    snr_spread_dex : float
        Largest scatter (dex) of each line's (and H-beta's) S/N around the spectrum's level; the scatter
        of a training spectrum is drawn uniformly in [0, snr_spread_dex] (a fixed 0.4 dex made the
        intervals ~1.3x too wide for spectra with equal S/N in every line).
    dropout : float
        Probability that a line is left out of a training spectrum.
    model_error : {"node-gap", "node-gap-local", "gaussian"}
        The grid's own error in training. ``"node-gap"``: every training spectrum is moved by the
        leave-one-node-out error of the interpolant at a random node and axis of the grid (either sign;
        see ``calibration_set``): an error measured on the grid itself by cross-validation, correlated
        between lines and heavy-tailed as interpolation errors are (RMS 0.02-0.1 dex per line on the
        MAPPINGS grids, median 0.01-0.02). ``"node-gap-local"``: the leave-one-node-out errors measured
        next to the spectrum's parameters (a node of its cell), along every axis, with their sign (the
        sign of the local curvature, which a linear interpolant misses on one side only) and weights
        4 t (1 - t), t uniform (the error of linear interpolation at a random place in a cell); the
        calibration set is then moved with the sign too. On held-out node slices of the MAPPINGS grids
        (``benchmarks/nebular_grids.py``'s design on seeds it does not use: 3-7 HII, 3-6 NLR; "nn", 100,000
        training spectra) it removed the one-sided E_peak bias of the NLR grid where
        E_peak = -1.75 is held out (coverage 55-62 -> 76 %, error 0.04 -> 0.023 dex) but left the mean
        coverage unchanged (mean |coverage - 68| 5.5-5.7 points either way; log U on the NLR grid fell
        from 67 to 62 %) and log U on the HII grid 5-7 % less accurate, so it is not the default.
        ``"gaussian"``: only the ``model_error_dex`` scatter.
    model_error_dex : float
        Extra Gaussian scatter (dex) of the true log ratios in training, not in the reported errors: an
        assumed error of the models themselves against real nebulae (0.04 dex = NebulaBayes' default
        ``grid_error`` of 10 %; the default 0 trusts the grid up to its interpolation error).
    interpolation : {"linear", "neural"}
        How training spectra between the nodes are made: multilinear interpolation in log ratio (as
        NebulaBayes), or a :class:`agnlab.nebular.GridEmulator` ("neural", ``emulator_params``), which
        reproduced held-out node slices of the MAPPINGS HII grid 2-5x better (RMS 0.005 vs 0.024 dex
        across a log U slice, 0.07 vs 0.17 dex across an O/H slice) at the cost of minutes of training.
    emulator_params : dict, optional
        :class:`agnlab.nebular.GridEmulator` ``emulator_params`` for ``interpolation="neural"``.
    pair_features : bool
        Also give the model every pairwise log ratio of two observed lines (the classical diagnostics).
    min_snr : float
        Lines observed below this S/N are not used (the spectrum is flagged ``line_dropped``).
    min_lines : int
        Fewest usable lines for an estimate.
    hidden, activation, max_epochs, batch_size, lr : network settings (``method="nn"``).
    gbm_params : dict, optional
        Extra ``HistGradientBoostingRegressor`` arguments (``method="gbm"``; default 200 iterations,
        31 leaves).
    calibrate : bool
        Stretch the 68 % intervals to 68 % coverage on fresh simulated observations.
    conditional_calibration : bool
        After the stretch per interval width, a second factor exp(z . beta) fitted on the same calibration
        set, z the spectrum's observing conditions (mean and spread of the lines' log S/N, H-beta's S/N,
        the presence of each line, the estimates' place in the parameter box; see :mod:`._grid_calibrate`).
        With the width-binned stretch alone one factor serves every condition: on a held-out half of the
        node-gap calibration set of the MAPPINGS HII grid, spectra at S/N 2-6 were covered at 45-64 % and
        spectra at S/N 15-80 at 67-80 %; with the factor, 60-71 % except spectra with every line detected
        at S/N < 6 (a selection of upward fluctuations, 54-66 %).
    calibration_set : {"held-out-slices", "node-gap", "simulated"}
        The observations calibrated on. ``"node-gap"``: grid nodes whose true log ratios are moved by the
        leave-one-node-out error of the interpolant at that node and axis
        (:meth:`LogRatioInterpolator.node_gap_residuals`, either sign), with measurement noise as in
        training but no ``model_error_dex`` -- the grid's own error between nodes is then measured by
        cross-validation rather than assumed, so the intervals hold for a model no node reproduces.
        ``"held-out-slices"`` (default): the same, then one more factor per parameter measured by real
        leave-node-slices-out on the training grid alone: every third interior node slice of every axis
        (random phase) is held out, a helper of the same kind (half the training spectra, calibrated on
        its own node gaps) is trained on the rest, and the factor is the conformal 68 % quantile of the
        helper's scores on noisy spectra of the held-out models (those on one held-out slice) pooled with
        equal weight with the node-gap set's own scores (:func:`agnlab.nebular._grid_calibrate.pooled_stretch`);
        ``training_record_["held_out_slice_stretch"]`` (and ``..._helper``: the helper's factor alone).
        The node-gap set approximates a held-out model with a node the model has seen, which understated
        the error in log P/k (flat [S II] ratio at low pressure). On held-out node slices of the MAPPINGS
        grids (``benchmarks/nebular_grids.py``'s design on seeds it does not use: HII 3-7, NLR 3-6; "nn",
        100,000 training spectra, S/N 20) log P/k coverage went from 60-61 % to 67-68 % (HII) and from
        59-61 % to 66-68 % (NLR); log U from 68-72 % to 72-76 % (HII) and 67 % to 70 % (NLR), O/H within
        1 point, log E_peak (NLR) from 67-71 % to 61-65 % (its 6-node axis leaves the helper few slices, and
        the factor varied from 0.72 to 1.04 between seeds); cells within 68 +- 5: 35 -> 37 of 62. On the
        benchmark's own seeds 0-2, 10 of 14 "nn" rows within 68 +- 5 (8 before). Fitting takes ~1.5-2x as long.
        Previously the helper's factor alone was used, never below 1 (on the benchmark's seeds 0-2,
        11 of 14 "nn" rows within 68 +- 5, most misses over-covered). On development seeds 10-12 (and NLR 6;
        2,000-3,000 spectra of the held-out nodes per seed), "nn", 50 cells: the node-gap set alone covered
        68.1 % on average (log P/k 61-64 %, the others 68-73 %), the helper's factor 70.3 % (71.6 % with the
        floor; 25 of 50 cells within 68 +- 5), pooled 69.2 % (35 of 50); "gbm", 20 cells: node-gap alone
        61.7 %, the helper's factor 73.0 % (9 of 20), pooled 67.7 % (12 of 20). The helper is weaker than
        the model (see :meth:`_held_out_slice_scores`) and its factor biased upward for every parameter;
        pooling is the conformal answer to two calibration sets biased in opposite
        directions. Pooling three helpers that together hold out every interior slice once gave a steadier
        factor but no better coverage (it sits ~1.1-1.2 for log U, which then covers ~73 %) for twice the
        extra fitting time; not used. Dividing the helper's factors by their geometric mean over parameters
        (its pattern without its level) was right on average for "nn" (68.2 %, but 26 of 50) and left "gbm"
        at 61.5 %.
        ``"simulated"``: fresh draws of the training distribution (interpolated, ``model_error_dex``).
    held_out_correction : {"constant", "conditional"}
        How the held-out-slices correction is applied (``calibration_set="held-out-slices"``, with the
        conditional factor). ``"constant"`` (default): one factor per parameter, :func:`pooled_stretch`.
        ``"conditional"``: a factor exp(z . gamma) on the conditional factor's own design (S/N level and
        spread, presence of each line, position in the box, interval width), fitted by quantile regression
        on the node-gap set's and the helper's scores pooled with equal weight
        (:func:`agnlab.nebular.pooled_conditional_stretch`); gamma adds to
        ``calibration_conditional_``, so predictions cost the same and files keep their layout
        (``training_record_["held_out_slice_stretch_conditional"]``: its 5th/50th/95th percentiles on the
        node-gap set). Motivation: on the benchmark's seeds the coverage of HII log U differs by ~10-15
        points between the strong and strong+auroral line sets of one model, and by 5-15 points between
        held-out nodes, which one factor per parameter cannot follow. Measured on development seeds
        (2,000-3,000 spectra of every held-out node per seed, both line sets, ``benchmarks/nebular_grids.py``'s
        design), "nn" (HII 10-12, NLR 6 and 10; 34 cells of grid x line set x parameter x seed): constant 25
        of 34 cells within 68 +- 5, mean |coverage - 68| 3.75 points, worst 11.7; conditional 23 of 34, 4.62,
        worst 12.1 (the correction learns where the helper's own held-out slices lie, which are not the nodes
        a user's spectra miss; the HII log U gap between the line sets is already in the node-gap-calibrated
        intervals and did not shrink); "gbm" (HII 10-11, NLR 10; 20 cells): constant 10 of 20, 4.73, worst
        12.2; conditional 12 of 20, 4.41, worst 14.1 (better on HII, 8 vs 6 of 12, worse on NLR, mean 5.5 vs
        4.6 points). A correction on the presence bits alone was no better for either method ("nn" 25 of 34,
        4.19; "gbm" 13 of 20, 4.94). Hence the default.
    domain_tolerance_dex, domain_pvalue : float
        Out-of-domain test: accuracy granted to the grid, and the chi^2 tail probability below which a
        spectrum is flagged (see :mod:`agnlab.nebular._grid_domain`).
    on_out_of_domain : {"nan", "raise"}
        Out-of-domain spectra: NaN estimates and flag ``out_of_domain``, or :class:`agnlab.OutOfDomainError`.
    validation_fraction : float
        Simulated spectra held out for early stopping (``"nn"``).
    random_state : int, numpy Generator or None
    n_jobs : int, optional
        Threads for training and prediction (``None``: one thread to train, the process' setting to predict).
    progress : bool, optional

    Attributes
    ----------
    lines_ : list of str
        The observed lines the model takes (relative to ``norm_line_``).
    param_names_ : list of str
    bounds_ : ndarray, shape (n_params, 2)
        Box of the training models; estimates are clipped to it.
    calibration_ : ndarray, shape (n_params, 2, 8)
        Interval stretch factors by bin of raw interval width (row 0: log10 width of the bin in units
        of the parameter range, row 1: factor; 1 = the raw quantiles were calibrated).
    calibration_conditional_ : ndarray, shape (n_params, n_coefs) or None
        Coefficients of the conditional factor (``conditional_calibration``; None: not used).
    training_record_ : dict
        Training and calibration figures, among them ``calibration_coverage_68`` (per parameter, on the
        calibration set) and ``interpolation_gap_rms_dex`` (per line: RMS leave-one-node-out error of the
        grid's interpolant, the ``"node-gap"`` calibration's model error).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from agnlab.nebular import GridInverter, load_photoionization_grid
    >>> u, oh = np.meshgrid(np.linspace(-4, -2, 5), np.linspace(7.5, 9.0, 4), indexing="ij")
    >>> t = pd.DataFrame({"log U": u.ravel(), "12 + log O/H": oh.ravel(), "Hbeta": 1.0})
    >>> t["OIII5007"] = 10 ** (0.5 * t["log U"] + 2.0 - 0.2 * (t["12 + log O/H"] - 8))
    >>> t["NII6583"] = 10 ** (t["12 + log O/H"] - 8.6 - 0.1 * t["log U"])
    >>> grid = load_photoionization_grid(t, params=["log U", "12 + log O/H"])
    >>> inv = GridInverter(method="gbm", n_samples=3000, gbm_params={"max_iter": 30}).fit(grid)
    >>> obs = grid.fluxes.iloc[[7]]
    >>> inv.predict(obs, 0.05 * obs).columns.tolist()[:3]
    ['log U', 'log U_lo', 'log U_hi']
    """

    _fitted_attributes = ("lines_", "bounds_")

    def __init__(self, method="nn", *, n_samples=200_000, snr_range=(2.0, 200.0), snr_spread_dex=0.4, dropout=0.2,
                 model_error_dex=0.0, model_error="node-gap", pair_features=True, interpolation="linear",
                 emulator_params=None, min_snr=2.0, min_lines=2, hidden=(128, 128, 128), activation="silu",
                 max_epochs=30, batch_size=1024, lr=3e-3, gbm_params=None, calibrate=True, conditional_calibration=True,
                 calibration_set="held-out-slices", held_out_correction="constant",
                 domain_tolerance_dex=0.1, domain_pvalue=1e-3,
                 on_out_of_domain="nan", validation_fraction=0.1, random_state=0, n_jobs=None, progress=None):
        self.method = method
        self.n_samples = n_samples
        self.snr_range = snr_range
        self.snr_spread_dex = snr_spread_dex
        self.dropout = dropout
        self.model_error_dex = model_error_dex
        self.model_error = model_error
        self.pair_features = pair_features
        self.interpolation = interpolation
        self.emulator_params = emulator_params
        self.min_snr = min_snr
        self.min_lines = min_lines
        self.hidden = hidden
        self.activation = activation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.gbm_params = gbm_params
        self.calibrate = calibrate
        self.conditional_calibration = conditional_calibration
        self.calibration_set = calibration_set
        self.held_out_correction = held_out_correction
        self.domain_tolerance_dex = domain_tolerance_dex
        self.domain_pvalue = domain_pvalue
        self.on_out_of_domain = on_out_of_domain
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        lo, hi = (float(v) for v in self.snr_range)
        if not 0 < lo < hi:
            raise ValueError(f"snr_range must be (lo, hi) with 0 < lo < hi, got {self.snr_range!r}")
        if not 0 <= float(self.dropout) < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if int(self.min_lines) < 1:
            raise ValueError(f"min_lines must be >= 1, got {self.min_lines!r}")
        fixed = {"loss", "quantile"} & set(self.gbm_params or {})
        if fixed:
            raise ValueError(f"gbm_params must not set {sorted(fixed)}: the quantile losses are the method")
        if int(self.n_samples) < 500:
            raise ValueError(f"n_samples must be >= 500, got {self.n_samples!r}")
        check_on_out_of_domain(self.on_out_of_domain)
        if self.model_error not in _MODEL_ERRORS:
            raise ValueError(f"model_error must be one of {_MODEL_ERRORS}, got {self.model_error!r}")
        if self.calibration_set not in _CALIBRATION_SETS:
            raise ValueError(f"calibration_set must be one of {_CALIBRATION_SETS}, got {self.calibration_set!r}")
        if self.held_out_correction not in _HELD_OUT_CORRECTIONS:
            raise ValueError(f"held_out_correction must be one of {_HELD_OUT_CORRECTIONS}, "
                             f"got {self.held_out_correction!r}")
        if self.interpolation not in ("linear", "neural"):
            raise ValueError(f"interpolation must be 'linear' or 'neural', got {self.interpolation!r}")

    @staticmethod
    def _as_grid(grid) -> PhotoionizationGrid:
        if isinstance(grid, PhotoionizationGrid):
            return grid
        if isinstance(grid, str):
            return load_photoionization_grid(grid)
        raise TypeError(f"grid must be a PhotoionizationGrid or a built-in grid name, not {type(grid).__name__}")

    # ------------------------------------------------------------------ fit
    def fit(self, grid, lines=None, exclude=None):
        """Train on simulated observations of ``grid``.

        Parameters
        ----------
        grid : PhotoionizationGrid or str
            From :func:`load_photoionization_grid` (or a built-in grid name).
        lines : list of str, optional
            Lines the model will take (default: every line of the grid); the grid's ``norm_line``
            (H-beta) is implied and dropped from the list.
        exclude : array_like of bool, shape (n_models,), optional
            Models never used in training (e.g. a node slice held out for an honest test).

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        self._check_params()
        grid = self._as_grid(grid)
        lines = grid.check_lines(grid.line_names if lines is None else lines)
        lines = [ln for ln in dict.fromkeys(lines) if ln != grid.norm_line]
        if len(lines) < int(self.min_lines):
            raise GridError(f"{len(lines)} lines besides {grid.norm_line}; need >= min_lines={self.min_lines}")
        if exclude is not None:
            ex = np.asarray(exclude)
            if ex.dtype != bool or ex.shape != (grid.n_models,):
                raise ValueError(f"exclude must be a boolean mask of shape ({grid.n_models},), got "
                                 f"{ex.dtype} {ex.shape}")
            grid = grid.subset(~ex)
        dead = [ln for ln in lines if not (grid.fluxes[ln].to_numpy() > 0).any()]
        if dead:
            raise GridError(f"lines {dead} have zero flux in every grid model")
        interp = LogRatioInterpolator(grid.params.to_numpy(), log_ratios(grid.fluxes[lines].to_numpy()))
        self._gap = interp.node_gap_residuals()
        self._forward = None
        if self.interpolation == "neural":
            from ._grid_emulator import GridEmulator

            emu = GridEmulator("neural", emulator_params=self.emulator_params, n_jobs=self.n_jobs,
                               random_state=int(self._rng().integers(2**31 - 1))).fit(grid, lines=lines)
            self._forward = emu.predict
        rng = self._rng()
        self.lines_ = list(lines)
        self.param_names_ = list(grid.param_names)
        self.norm_line_ = grid.norm_line or "Hbeta"
        self.grid_lines_ = list(grid.line_names)
        self.grid_name_ = str(grid.meta.get("name", "table"))
        self.bounds_ = interp.bounds.copy()
        obs, y = self._simulate(interp, int(self.n_samples), rng, nodes=(grid.params.to_numpy(), interp))
        x = encode(obs, nan_missing=True, pairs=self.pair_features)
        self.x_mean_ = np.nanmean(x, axis=0)
        sd = np.nanstd(x, axis=0)
        self.x_scale_ = np.where(sd > 0, sd, 1.0)
        ys = self._scale_y(y)
        with compute_context(self.n_jobs, default_threads=1, torch_rng=rng):
            record = self._fit_nn(obs, ys, rng) if self.method == "nn" else self._fit_gbm(x, ys, rng)
        # calibration on fresh simulations
        gap = self._gap[1]
        n_cal = max(4000, int(self.n_samples) // 5)
        cal_obs, cal_y = self._calibration_set(interp, self._gap, n_cal, rng)
        q = self._raw_quantiles(cal_obs)
        cal_ys = self._scale_y(cal_y)
        self.calibration_conditional_ = None
        if self.calibrate:
            self.calibration_ = calibrate_intervals(q, cal_ys)
            if self.conditional_calibration:
                lo, med, hi = apply_calibration(self.calibration_, q)
                self.calibration_conditional_ = fit_conditional(lo, med, hi, cal_ys, self._conditions(cal_obs, med))
            held = self.calibration_set == "held-out-slices"
            helper_set = self._held_out_slice_scores(grid, lines, n_cal, rng) if held else None
            if helper_set is not None:
                self._held_out_correction(cal_obs, q, cal_ys, helper_set, record)
        else:
            self.calibration_ = identity_calibration(ys.shape[1])
        lo, med, hi = self._calibrated(cal_obs, q)
        cover = np.mean((self._scale_y(cal_y) >= lo) & (self._scale_y(cal_y) <= hi), axis=0)
        # out-of-domain test cloud: nodes and interpolants between them
        theta, vals = interp.refined_nodes(3 if interp.k <= 3 else 2)
        self.domain_cloud_ = vals.astype(np.float32)
        # the training nodes themselves: the grid interpolated at an estimate is the domain test's first guess
        self.domain_nodes_ = grid.params.to_numpy(dtype=float)
        self.domain_values_ = interp(self.domain_nodes_).astype(np.float32)
        width = self.bounds_[:, 1] - self.bounds_[:, 0]
        record.update({
            "n_training_models": int(grid.n_models), "n_samples": int(len(ys)), "n_calibration": int(len(cal_y)),
            "calibration_coverage_68": dict(zip(self.param_names_, map(float, cover))),
            "calibration_median_abs_error": dict(zip(self.param_names_, map(
                float, np.median(np.abs(med - self._scale_y(cal_y)), axis=0) * width))),
            "interpolation_gap_rms_dex": dict(zip(self.lines_, map(
                float, np.sqrt(np.mean(gap**2, axis=0)) if len(gap) else np.full(len(self.lines_), np.nan)))),
            "domain_cloud_size": int(len(vals)), "fit_seconds": time.perf_counter() - t0})
        self.training_record_ = record
        self._forward = self._gap = None     # the emulator is only needed to simulate training spectra
        self._node_interpolator()            # built now, not on the first predict
        self._warm_up(cal_obs)
        return self

    def _warm_up(self, obs, n=64):
        """One small prediction on ``n`` calibration spectra at the end of ``fit`` (not a learned state).

        Runs every step of a small :meth:`predict` once -- table validation, the network's one-thread
        path, calibration, the out-of-domain test and its per-pattern caches -- so that the caller's first
        call costs what later calls do (measured on 200 HII spectra right after a 200,000-spectrum fit: in
        one of three traced runs the first call took 20 ms of CPU against 3.5 ms for the next ones, with no
        page faults or garbage collection in it; in the benchmark's full runs 2-3x on the HII grid).
        """
        sub = obs.take(slice(0, min(n, len(obs.r))))
        if len(sub.r) == 0:
            return
        flux = pd.DataFrame(np.where(np.isfinite(sub.r), 10.0 ** sub.r, np.nan), columns=self.lines_)
        err = flux * sub.rel
        seen = read_observed(flux, err, self.lines_, grid_lines=self.grid_lines_, norm_line=self.norm_line_,
                             normalized=True, min_snr=float(self.min_snr), min_lines=int(self.min_lines))
        self._estimate(seen.take(seen.flags == 0))

    def _calibration_parts(self, obs, q, ys):
        """``(scores, conditions, log10 width)`` of the intervals on spectra ``obs`` with raw quantiles ``q`` and
        scaled truths ``ys``: what :func:`pooled_conditional_stretch` takes (the width is the width-binned one)."""
        lo, med, hi = apply_calibration(self.calibration_, q)
        logw = np.log10(np.maximum(hi - lo, 1e-6))
        shared = self._conditions(obs, med)
        if getattr(self, "calibration_conditional_", None) is not None:
            lo, med, hi = apply_conditional(self.calibration_conditional_, lo, med, hi, shared)
        return conformity_scores(lo, med, hi, ys), shared, logw

    def _held_out_correction(self, cal_obs, q, cal_ys, helper_set, record):
        """Apply the held-out-slices correction (``held_out_correction``) to the calibration, in place."""
        own = self._calibration_parts(cal_obs, q, cal_ys)
        stretch = pooled_stretch(own[0], helper_set[0])
        raw = np.clip(conformal_factor(helper_set[0]), 0.25, 4.0)
        record["held_out_slice_stretch_helper"] = dict(zip(self.param_names_, map(float, raw)))
        record["held_out_slice_stretch"] = dict(zip(self.param_names_, map(float, stretch)))
        record["held_out_correction"] = self.held_out_correction
        if self.calibration_conditional_ is None:
            self.calibration_[:, 1] *= stretch[:, None]
        elif self.held_out_correction == "constant" or helper_set[1] is None:
            self.calibration_conditional_[:, 0] += np.log(stretch)
        else:
            gamma = pooled_conditional_stretch(own, helper_set)
            self.calibration_conditional_ += gamma
            # the correction's spread over the node-gap set (5th, 50th, 95th percentiles) per parameter
            z = conditional_log_factor(gamma, own[1], own[2])
            record["held_out_slice_stretch_conditional"] = {
                p: [float(v) for v in np.exp(np.quantile(z[:, j], [0.05, 0.5, 0.95]))]
                for j, p in enumerate(self.param_names_)}

    def _conditions(self, obs, med):
        return condition_features(obs.r, obs.rel, obs.hb_rel, med, tuple(float(v) for v in self.snr_range))

    def _calibrated(self, obs, q):
        """Calibrated ``(lo, med, hi)`` (n, P; scaled units) from raw quantiles ``q`` of the spectra ``obs``."""
        lo, med, hi = apply_calibration(self.calibration_, q)
        if getattr(self, "calibration_conditional_", None) is not None:
            lo, med, hi = apply_conditional(self.calibration_conditional_, lo, med, hi, self._conditions(obs, med))
        return lo, med, hi

    def _held_out_slice_scores(self, grid, lines, n, rng):
        """``(scores, conditions, log10 width)`` of a helper's intervals on held-out node slices (see
        :meth:`_calibration_parts`; conditions and width None when the helper has no conditional factor), for
        ``calibration_set="held-out-slices"`` (None when the grid has no interior node).

        The node-gap calibration set only approximates a held-out model: the model being calibrated has
        seen that node. Here every third interior node slice of every axis (random phase) is held out, a
        helper of the same kind (half the training spectra, calibrated the same way) is trained on the rest,
        and the stretch that would make its calibrated intervals cover 68.27 % of noisy spectra of the held-out
        models (those on exactly one held-out slice: both neighbours along the gap present) is the factor by
        which the node-gap calibration under- or over-states the error at a node no training model
        reproduces, in the helper (``training_record_["held_out_slice_stretch_helper"]``). :meth:`fit` pools
        these scores with the node-gap set's own (:func:`agnlab.nebular._grid_calibrate.pooled_stretch`): the
        helper's factor is biased upward -- the weaker the helper, the larger it is (MAPPINGS NLR grid,
        log U, development seeds 3-5 of ``benchmarks/nebular_grids.py``'s design, three helpers that together
        hold out every interior slice once: 1.07-1.14 when each has half the training spectra, 1.12-1.19 a
        third, 1.27-1.33 a sixth) -- and noisy where an axis is short (log E_peak, 6 nodes: 0.63-1.05
        between seeds 0-6).
        """
        hits = np.zeros(grid.n_models, dtype=int)
        for p, values in grid.axes.items():
            inner = values[1:-1]
            for v in inner[int(rng.integers(0, 3))::3]:
                hits += grid.node_mask(p, float(v))
        one = hits == 1
        if not one.any() or (hits > 0).all():
            return None
        helper = self.__class__(**{**self.get_params(), "n_samples": max(500, int(self.n_samples) // 2),
                                   "calibration_set": "node-gap", "progress": False,
                                   "random_state": int(rng.integers(2**31 - 1))})
        helper.fit(grid, lines=lines, exclude=hits > 0)
        if not np.allclose(helper.bounds_, self.bounds_):
            return None
        theta = grid.params.to_numpy(dtype=float)[one]
        truth = log_ratios(grid.fluxes[lines].to_numpy()[one])
        pick = rng.integers(0, len(theta), n)
        obs, y = self._observe(truth[pick], theta[pick], rng, model_error_dex=0.0)
        scores, shared, logw = helper._calibration_parts(obs, helper._raw_quantiles(obs), self._scale_y(y))
        return (scores, shared, logw) if helper.calibration_conditional_ is not None else (scores, None, None)

    def _calibration_set(self, interp, gap, n, rng):
        """Observations (and truths) the intervals are calibrated on (see ``calibration_set``)."""
        theta, delta = gap
        inner = np.all((theta > self.bounds_[:, 0]) & (theta < self.bounds_[:, 1]), axis=1)
        theta, delta = theta[inner], delta[inner]    # a held-out node is never on the grid's edge
        if self.calibration_set == "simulated" or len(theta) == 0:   # (a grid with two nodes per axis has no gap)
            return self._simulate(interp, n, rng)
        pick = rng.integers(0, len(theta), n)
        signed = self.model_error == "node-gap-local"
        sign = 1.0 if signed else np.where(rng.random(n) < 0.5, -1.0, 1.0)[:, None]
        theta = theta[pick]
        truth = interp(theta) + sign * delta[pick]
        return self._observe(truth, theta, rng, model_error_dex=0.0)

    def _observe(self, truth, theta, rng, *, model_error_dex):
        obs = simulate_observed(truth, rng, snr_range=self.snr_range, dropout=float(self.dropout),
                                min_snr=float(self.min_snr), min_lines=int(self.min_lines),
                                model_error_dex=model_error_dex, snr_spread_dex=float(self.snr_spread_dex))
        ok = obs.flags == 0
        obs.r, obs.rel, obs.hb_rel, obs.flags = obs.r[ok], obs.rel[ok], obs.hb_rel[ok], obs.flags[ok]
        return obs, theta[ok]

    def _simulate(self, interp, n, rng, nodes=None):
        if nodes is not None:
            node_theta = nodes[0]
            theta, truth = interp.sample(max(n - len(node_theta), 1), rng)
            if self._forward is not None:
                truth = self._forward(theta)
            theta = np.concatenate([theta, node_theta])
            truth = np.concatenate([truth, interp(node_theta)])       # the nodes themselves: exact
        else:
            theta, truth = interp.sample(n, rng)
            if self._forward is not None:
                truth = self._forward(theta)
        if self.model_error in ("node-gap", "node-gap-local") and len(self._gap[1]):
            delta = self._gap[1]
            if self.model_error == "node-gap-local":
                # every axis' residual near theta, signed, weighted as at a random place 4 t (1 - t) of a cell
                for j in interp.gap_axes():
                    t = rng.random(len(truth))
                    truth = truth + (4 * t * (1 - t))[:, None] * delta[interp.nearby_gap_rows(theta, rng, axis=j)]
            else:
                truth = truth + np.where(rng.random(len(truth)) < 0.5, -1.0, 1.0)[:, None] * delta[
                    rng.integers(0, len(delta), len(truth))]
        return self._observe(truth, theta, rng, model_error_dex=float(self.model_error_dex))

    def _scale_y(self, y):
        return (y - self.bounds_[:, 0]) / (self.bounds_[:, 1] - self.bounds_[:, 0])

    def _fit_nn(self, obs, ys, rng):
        from ..nn import TrainConfig, fit_module, train_validation_split

        x = nn_inputs(obs, self.x_mean_, self.x_scale_, pairs=self.pair_features)
        tr, val = train_validation_split(len(x), self.validation_fraction, rng)
        net = quantile_net(x.shape[1], ys.shape[1], tuple(int(h) for h in self.hidden), self.activation)
        batch = int(min(int(self.batch_size), max(16, tr.size // 16)))   # >= 16 steps per epoch on small sets
        total = int(self.max_epochs) * -(-tr.size // batch)
        cfg = TrainConfig(lr=float(self.lr), batch_size=batch, max_epochs=int(self.max_epochs), patience=None,
                          schedule="cosine", warmup_fraction=min(0.5, max(0.05, 2.0 / total)),
                          seed=int(rng.integers(2**31 - 1)))
        info = fit_module(net, x[tr], ys[tr].astype(np.float32), x[val], ys[val].astype(np.float32), config=cfg,
                          loss_fn=pinball_loss, progress=self.progress, desc="GridInverter NN")
        self._net = net.eval()
        self._gbm = None
        return {"n_epochs": len(info["history"]), "best_epoch": int(info["best_epoch"]),
                "best_val_pinball": float(info["best_val_loss"]), "train_seconds": float(info["train_seconds"])}

    def _fit_gbm(self, x, ys, rng):
        t = time.perf_counter()
        self._gbm = GBMQuantiles.fit(x, ys, params=dict(self.gbm_params or {}), seed=int(rng.integers(2**31 - 1)),
                                     n_threads=self.n_jobs, progress=self.progress)
        self._net = None
        return {"train_seconds": time.perf_counter() - t}

    # ------------------------------------------------------------------ predict
    def _raw_quantiles(self, obs, chunk=65536):
        """(n, n_params, 3) quantiles in scaled units."""
        n = len(obs.r)
        out = np.empty((n, len(self.param_names_), 3))
        # a small call runs on one thread (thread start-up would cost more than it saves)
        small = n < _SMALL_CALL
        with compute_context(1 if small else self.n_jobs, default_threads=None):
            for s in range(0, n, chunk):
                part = obs.take(slice(s, s + chunk))
                if self._net is not None:
                    from ..nn import predict_batched

                    x = nn_inputs(part, self.x_mean_, self.x_scale_, pairs=self.pair_features)
                    out[s:s + chunk] = _run_net(self._net, x) if small else predict_batched(self._net, x)
                else:
                    out[s:s + chunk] = self._gbm.predict(encode(part, nan_missing=True, pairs=self.pair_features),
                                                         n_threads=1 if small else int(self.n_jobs or 1))
        return np.sort(out, axis=-1)   # separate quantile models (trees) can cross

    def _domain_trees(self) -> dict:
        """k-d trees of the domain cloud per pattern of observed lines (a cache, not a learned attribute)."""
        cache = self.__dict__.get("_tree_cache")
        if cache is None or cache[0] is not self.domain_cloud_:
            cache = (self.domain_cloud_, {})
            self.__dict__["_tree_cache"] = cache
        return cache[1]

    def _node_interpolator(self):
        """The training grid's interpolant (a cache, rebuilt from ``domain_nodes_``/``domain_values_``)."""
        cache = self.__dict__.get("_interp_cache")
        nodes = getattr(self, "domain_nodes_", None)
        if nodes is None:
            return None
        if cache is None or cache[0] is not nodes:
            cache = (nodes, LogRatioInterpolator(nodes, self.domain_values_))
            self.__dict__["_interp_cache"] = cache
        return cache[1]

    @staticmethod
    def _box_models(interp, q):
        """The grid at every combination of (lo, median, hi) of the parameters, (n, 3**P, L), from ``q`` (n, P, 3)."""
        P = q.shape[1]
        combo = np.array(list(itertools.product(range(3), repeat=P)))          # (3**P, P)
        theta = q[:, np.arange(P), combo]                                       # (n, 3**P, P)
        return interp(theta.reshape(-1, P)).reshape(q.shape[0], combo.shape[0], -1)

    def _estimate(self, sub):
        """``(q, inside, chi2)`` of usable spectra ``sub``: calibrated (lo, med, hi) in parameter units
        (n, P, 3), the out-of-domain test and its chi^2."""
        width = self.bounds_[:, 1] - self.bounds_[:, 0]
        lo, med, hi = self._calibrated(sub, self._raw_quantiles(sub))
        q = np.sort(np.stack([lo, med, hi], axis=-1) * width[:, None] + self.bounds_[:, :1], axis=-1)
        q = np.clip(q, self.bounds_[:, :1], self.bounds_[:, 1:])
        interp = self._node_interpolator()
        guess = None if interp is None else interp(q[:, :, 1])
        corners = None if interp is None else lambda rows: self._box_models(interp, q[rows])
        n = len(sub.r)
        inside, chi2 = in_domain(sub.r, sub.log_sigma(), self.domain_cloud_,
                                 tol_dex=float(self.domain_tolerance_dex), pvalue=float(self.domain_pvalue),
                                 workers=1 if n < _SMALL_CALL else int(self.n_jobs or 1),
                                 cache=self._domain_trees(), guess=guess, candidates=corners)
        return q, inside, chi2

    def predict(self, fluxes, errors, *, normalized=False) -> pd.DataFrame:
        """Estimates with 68 % intervals and a flag per spectrum.

        Parameters
        ----------
        fluxes, errors : DataFrame (or dict of columns), shape (n, n_lines)
            Dereddened fluxes and 1-sigma errors, one column per line (grid line names), including the
            normalisation line (``Hbeta``) unless ``normalized``. A NaN flux (or an absent column) is a
            missing line. Columns that are not lines of the grid raise ``ValueError``.
        normalized : bool
            Fluxes (and errors) are already relative to H-beta.

        Returns
        -------
        DataFrame, index of ``fluxes``
            For every parameter P: ``P``, ``P_lo``, ``P_hi`` (the median and 68 % interval); ``flag``
            (:data:`agnlab.nebular.GRID_FLAG_DESCRIPTIONS`). Spectra flagged ``out_of_domain``,
            ``too_few_lines`` or ``no_hbeta`` are NaN.

        Raises
        ------
        agnlab.OutOfDomainError
            With ``on_out_of_domain="raise"``, when a spectrum lies outside the grid's domain.
        """
        self._check_fitted()
        obs = read_observed(fluxes, errors, self.lines_, grid_lines=self.grid_lines_, norm_line=self.norm_line_,
                            normalized=normalized, min_snr=float(self.min_snr), min_lines=int(self.min_lines))
        flags = np.asarray(GRID_FLAG_NAMES, dtype=object)[obs.flags]
        todo = np.flatnonzero(~np.isin(flags, FLAG_NO_ESTIMATE))
        est = np.full((len(flags), len(self.param_names_), 3), np.nan)
        if todo.size:
            q, inside, chi2 = self._estimate(obs.take(todo))
            if not inside.all():
                if self.on_out_of_domain == "raise":
                    i = int(todo[np.flatnonzero(~inside)[0]])
                    raise OutOfDomainError(
                        f"{int((~inside).sum())} of {len(flags)} spectra lie outside the domain of grid "
                        f"{self.grid_name_!r} (first: row {i}, chi^2 to the nearest model "
                        f"{chi2[~inside][0]:.3g}); pass on_out_of_domain='nan' to flag them instead")
                flags[todo[~inside]] = "out_of_domain"
            est[todo[inside]] = q[inside]
        index = fluxes.index if isinstance(fluxes, pd.DataFrame) else None
        cols = {}
        for j, p in enumerate(self.param_names_):
            cols[p], cols[f"{p}_lo"], cols[f"{p}_hi"] = est[:, j, 1], est[:, j, 0], est[:, j, 2]
        cols["flag"] = flags.astype(str)
        return pd.DataFrame(cols, index=index)

    # ------------------------------------------------------------------ save / load
    def _get_state(self):
        arrays = {"bounds": self.bounds_, "x_mean": self.x_mean_, "x_scale": self.x_scale_,
                  "calibration": self.calibration_, "domain_cloud": self.domain_cloud_}
        if getattr(self, "domain_nodes_", None) is not None:
            arrays.update(domain_nodes=self.domain_nodes_, domain_values=self.domain_values_)
        if getattr(self, "calibration_conditional_", None) is not None:
            arrays["calibration_conditional"] = self.calibration_conditional_
        meta = {"lines": self.lines_, "param_names": self.param_names_, "norm_line": self.norm_line_,
                "grid_lines": self.grid_lines_, "grid_name": self.grid_name_}
        if self._net is not None:
            from ..nn import module_to_arrays

            arrays.update(module_to_arrays(self._net, prefix="nn."))
        else:
            arrays.update(self._gbm.to_arrays(prefix="gbm."))
        return arrays, meta

    def _set_state(self, arrays, meta):
        self.lines_ = [str(s) for s in meta["lines"]]
        self.param_names_ = [str(s) for s in meta["param_names"]]
        self.norm_line_ = str(meta["norm_line"])
        self.grid_lines_ = [str(s) for s in meta["grid_lines"]]
        self.grid_name_ = str(meta["grid_name"])
        P, L = len(self.param_names_), len(self.lines_)
        self.bounds_ = np.asarray(arrays["bounds"], dtype=float)
        self.x_mean_ = np.asarray(arrays["x_mean"], dtype=float)
        self.x_scale_ = np.asarray(arrays["x_scale"], dtype=float)
        self.calibration_ = np.asarray(arrays["calibration"], dtype=float)
        self.domain_cloud_ = np.asarray(arrays["domain_cloud"], dtype=np.float32)
        if "domain_nodes" in arrays:          # (older files lack them: no first guess then)
            self.domain_nodes_ = np.asarray(arrays["domain_nodes"], dtype=float)
            self.domain_values_ = np.asarray(arrays["domain_values"], dtype=np.float32)
        else:
            self.domain_nodes_ = self.domain_values_ = None
        # (older files lack it: the width-binned calibration alone, as they were fitted)
        cond = arrays.get("calibration_conditional")
        self.calibration_conditional_ = None if cond is None else np.asarray(cond, dtype=float)
        cond_ok = cond is None or self.calibration_conditional_.shape == (P, n_conditional_coefs(L, P))
        nodes_ok = self.domain_nodes_ is None or (self.domain_nodes_.shape == (len(self.domain_values_), P)
                                                  and self.domain_values_.shape[1:] == (L,))
        nf = n_features(L, self.pair_features)
        if (self.bounds_.shape != (P, 2) or self.x_mean_.shape != (nf,)
                or self.calibration_.shape != (P, 2, CAL_BINS) or self.domain_cloud_.ndim != 2
                or self.domain_cloud_.shape[1] != L or not nodes_ok or not cond_ok):
            raise ValueError("array shapes do not match the lines and parameters")
        self._node_interpolator()
        if self.method == "nn":
            from ..nn import arrays_to_module

            net = quantile_net(nf + L, P, tuple(int(h) for h in self.hidden), self.activation)
            self._net = arrays_to_module(net, arrays, prefix="nn.").eval()
            self._gbm = None
        else:
            self._gbm = GBMQuantiles.from_arrays(arrays, P, nf, prefix="gbm.")
            self._net = None

