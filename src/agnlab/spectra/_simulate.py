"""Fast, seeded, vectorised simulator of 4MOST-like quasar spectra (the :class:`QuasarSimulator` class).

The physics lives in the modules it calls: :mod:`._continuum` / :mod:`._template_continuum`
(continua), :mod:`._cddf` and :mod:`._absorbers` (one H I column-density distribution: forest, LLS,
sub-DLAs, DLAs, proximate systems), :mod:`._metals` (DLA/sub-DLA low ions, intervening C IV and
Mg II), :mod:`._bal` (BAL troughs and balnicity), :mod:`._instrument` (resolution, sky),
:mod:`._noise` (noise and ivar), :mod:`._sky_residuals` (sky-subtraction residuals),
:mod:`._photometry` (magnitude normalisation); files are written by :mod:`._write` only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..constants import LYA_AA
from ._absorbers import absorber_tau, sample_absorbers, sample_forest
from ._bal import bal_tau, sample_bals
from ._batch import ARRAY_KEYS as _ARRAY_KEYS
from ._batch import SimulatedSpectra, empty_dlas
from ._continuum import ContinuumModel
from ._igm import DLAModel, ForestModel
from ._instrument import _LSF, FLUX_UNIT, Instrument
from ._metals import MetalModel, add_metal_tau
from ._noise import add_noise
from ._photometry import band_response, relative_log_luminosity
from ._sky_residuals import SkyResiduals
from ._template_continuum import check_templates, template_continua

__all__ = ["QuasarSimulator"]

# per-object random streams (spawn keys), so each component is independent of the others;
# a new ingredient gets a new stream (the optically thick H I systems use the former DLA stream)
_STREAM_GLOBAL, _STREAM_CONT, _STREAM_FOREST, _STREAM_SYSTEMS, _STREAM_NOISE = range(5)
_STREAM_METAL_LOW, _STREAM_METAL_DOUBLET, _STREAM_BAL, _STREAM_SKY = range(5, 9)


class _Pool:
    def __init__(self, executor, fn, n_jobs):
        self.executor, self.fn, self.n_jobs = executor, fn, n_jobs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.executor.shutdown(wait=True, cancel_futures=True)
        return False


_WORKER_SIM = None


def _worker_init(params):
    global _WORKER_SIM
    _WORKER_SIM = QuasarSimulator(**params)


def _worker_chunk(start, n):
    return _WORKER_SIM._simulate_chunk(start, n)


class QuasarSimulator:
    """Simulator of quasar spectra: continuum, H I absorbers from the forest to DLAs, metals, BALs, sky.

    Each spectrum ``i`` draws from its own random streams derived from
    ``(seed, i)``, so results are identical whatever the chunk size, the
    number of threads, or whether spectra are simulated all at once or in
    several calls with ``start``.

    Parameters
    ----------
    z_range : tuple of float
        Uniform quasar redshift range (0 <= z <= 7).
    mag_range : tuple of float
        Uniform range of the AB magnitude in ``mag_band`` (of the noise-free
        observed spectrum, all absorption included).  The default reaches r = 22.5, the faint end of
        4MOST quasar targets.
    seed : int
        Random seed.
    instrument : Instrument, optional
        Spectrograph; default 4MOST-like (3600-9600 A, 0.25 A pixels).
    dla_rate_per_dz : float or None
        DLAs per unit redshift. ``None`` (default): the measured, redshift-dependent incidence of the
        column-density distribution (0.17 at z = 2.5, 0.27 at z = 3.5); a number fixes a constant
        incidence (e.g. DLA-rich training sets).
    dla_log_nhi_range : tuple of float
        DLA column-density range (log10 cm^-2).
    forest : ForestModel, optional
        Forest statistics and the column-density distribution (default: ``ForestModel()``).
    continuum_model : ContinuumModel, optional
        Quasar continuum model (default: ``ContinuumModel()``).
    templates : tuple (wave_rest_aa, eigenspectra), optional
        PCA continuum family (e.g. redrock templates read with
        :func:`read_redrock_templates`) used instead of the built-in model:
        continua are ``e_0 + sum_k c_k e_k`` with ``c_k ~ N(0, template_coeff_sigma_k)``
        (coefficients relative to ``e_0``).
    template_coeff_sigma : sequence of float, optional
        Standard deviations of the PCA coefficients (default 0.15 * rms(e_0)/rms(e_k)).
    mag_band : str
        ``'g'``, ``'r'``, ``'i'``, ``'z'`` (SDSS) or any speclite filter name.
    noise : bool
        Add noise and sky residuals (``False``: ``flux`` is noise-free and ``ivar`` the expected
        inverse variance).
    proximate : bool
        Allow optically thick H I systems up to the quasar redshift (flagged ``proximate`` within
        3000 km/s of it); ``False`` keeps them 3000 km/s away.
    metals : bool
        Metal lines: low ions in DLAs/sub-DLAs, intervening C IV and Mg II doublets.
    bal_fraction : float
        Fraction of BAL quasars (C IV, Si IV, N V, Ly-alpha troughs), 0-1.
    sky_residual_frac : float
        RMS of the sky-subtraction residual amplitude as a fraction of each sky line (0-0.2).

    Notes
    -----
    Physics and instrument: see :mod:`agnlab.spectra._continuum` (broken power
    law + emission lines fitted to the SDSS DR16Q mean quasar redward of Ly-beta, IGM-corrected
    far-UV slope below), :mod:`agnlab.spectra._cddf` and :mod:`agnlab.spectra._igm` (one
    column-density distribution, forest normalised to Faucher-Giguere et al. 2008, Lyman series to
    n = 13, Lyman continuum), :mod:`agnlab.spectra._metals`, :mod:`agnlab.spectra._bal`,
    :mod:`agnlab.spectra._sky_residuals` and :class:`Instrument` (resolution, sky, noise).

    Examples
    --------
    >>> from agnlab.spectra import QuasarSimulator
    >>> spec = QuasarSimulator(seed=1).simulate(4)
    >>> spec.flux.shape, spec.flux.dtype.name
    ((4, 24001), 'float32')
    >>> sorted(spec.absorbers.columns)
    ['kind', 'log_nhi', 'proximate', 'spec_index', 'z_abs']
    """

    def __init__(self, *, z_range=(2.0, 4.0), mag_range=(18.0, 22.5), seed=0, instrument=None,
                 dla_rate_per_dz=None, dla_log_nhi_range=(20.3, 22.0), forest=None, continuum_model=None,
                 templates=None, template_coeff_sigma=None, mag_band="r", noise=True, proximate=True, metals=True,
                 bal_fraction=0.12, sky_residual_frac=0.015):
        self.z_range = z_range
        self.mag_range = mag_range
        self.seed = seed
        self.instrument = instrument
        self.dla_rate_per_dz = dla_rate_per_dz
        self.dla_log_nhi_range = dla_log_nhi_range
        self.forest = forest
        self.continuum_model = continuum_model
        self.templates = templates
        self.template_coeff_sigma = template_coeff_sigma
        self.mag_band = mag_band
        self.noise = noise
        self.proximate = proximate
        self.metals = metals
        self.bal_fraction = bal_fraction
        self.sky_residual_frac = sky_residual_frac
        self._validate()

    # ------------------------------------------------------------------
    def _validate(self):
        z0, z1 = _pair(self.z_range, "z_range")
        if not (0.0 <= z0 <= z1 <= 7.0):
            raise ValueError(f"z_range must satisfy 0 <= z_min <= z_max <= 7, got {self.z_range}")
        m0, m1 = _pair(self.mag_range, "mag_range")
        if not (10.0 <= m0 <= m1 <= 30.0):
            raise ValueError(f"mag_range must satisfy 10 <= mag_min <= mag_max <= 30, got {self.mag_range}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        inst = Instrument() if self.instrument is None else self.instrument
        if not isinstance(inst, Instrument):
            raise TypeError(f"instrument must be an agnlab.spectra.Instrument, got {type(inst).__name__}")
        self._inst = inst
        rate = self.dla_rate_per_dz
        if rate is not None:
            try:
                rate = float(rate)
            except (TypeError, ValueError):
                raise ValueError(f"dla_rate_per_dz must be None or a number >= 0, got {rate!r}") from None
        self._dla = DLAModel(rate_per_dz=rate, log_nhi_range=tuple(self.dla_log_nhi_range))
        self._forest = ForestModel() if self.forest is None else self.forest
        if not isinstance(self._forest, ForestModel):
            raise TypeError(f"forest must be a ForestModel, got {type(self._forest).__name__}")
        for name in ("noise", "proximate", "metals"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        bf = self.bal_fraction
        if isinstance(bf, bool) or not isinstance(bf, (int, float, np.floating, np.integer)) or not 0.0 <= bf <= 1.0:
            raise ValueError(f"bal_fraction must be a number in [0, 1], got {bf!r}")
        self._metal_model = MetalModel(enabled=self.metals)
        self._cont = ContinuumModel() if self.continuum_model is None else self.continuum_model
        self._templates = None
        if self.templates is not None:
            self._templates = check_templates(self.templates, self.template_coeff_sigma)
        self._wave = inst.wave_aa
        self._lsf = _LSF(inst.lsf_sigma_pix(self._wave))
        self._band = band_response(self.mag_band, None, float(self._wave[0]), float(inst.dwave_aa), self._wave.size)
        self._cpf = inst.counts_per_flux(self._wave)
        self._sky = inst.sky_flux(self._wave)
        self._sky_res = SkyResiduals(inst, self._wave, self.sky_residual_frac)

    @property
    def wave_aa(self) -> np.ndarray:
        """Observed wavelength grid (Angstrom)."""
        return self._wave.copy()

    def get_params(self, deep=False):
        return dict(z_range=self.z_range, mag_range=self.mag_range, seed=self.seed, instrument=self.instrument,
                    dla_rate_per_dz=self.dla_rate_per_dz, dla_log_nhi_range=self.dla_log_nhi_range,
                    forest=self.forest, continuum_model=self.continuum_model, templates=self.templates,
                    template_coeff_sigma=self.template_coeff_sigma, mag_band=self.mag_band, noise=self.noise,
                    proximate=self.proximate, metals=self.metals, bal_fraction=self.bal_fraction,
                    sky_residual_frac=self.sky_residual_frac)

    # ------------------------------------------------------------------
    def simulate(self, n, *, start=0, chunk_size=64, n_jobs=1, backend="threads", progress=None) -> SimulatedSpectra:
        """Simulate ``n`` spectra (objects ``start`` .. ``start + n - 1``).

        Parameters
        ----------
        n : int
            Number of spectra (>= 1).
        start : int
            Index of the first object (for streaming in several calls).
        chunk_size : int
            Spectra per vectorised chunk (bounds temporary memory: ~1 MB per spectrum in a chunk).
        n_jobs : int
            Workers simulating chunks in parallel (results do not depend on it).
        backend : {'threads', 'processes'}
            Thread pool (numpy releases the GIL in the heavy loops) or a pool
            of spawned processes (true parallelism, ~1 s start-up).
        progress : bool, optional
            Show a progress bar (default: on an interactive terminal).

        Returns
        -------
        SimulatedSpectra
            Arrays are float32, shape (n, n_pix); the output is held in memory
            (4 x 96 kB per spectrum); use :meth:`iter_chunks` or
            :meth:`simulate_to_file` for large n.
        """
        n = _check_count(n, "n")
        start = _check_count(start, "start", allow_zero=True)
        chunk_size = _check_count(chunk_size, "chunk_size")
        n_pix = self._wave.size
        out = {k: np.empty((n, n_pix), dtype=np.float32) for k in _ARRAY_KEYS}
        truths, dlas, absorbers = [], [], []
        from .. import progress as _progress

        bar = _progress(total=n, desc="simulate spectra", disable=None if progress is None else not progress,
                        unit="spec")
        try:
            with self._pool(n_jobs, backend) as pool:
                for s, e, res in self._run_chunks(start, n, chunk_size, pool):
                    for key in out:
                        out[key][s:e] = res[key]
                    truths.append(res["truth"])
                    for tab, acc in ((res["dlas"], dlas), (res["absorbers"], absorbers)):
                        tab["spec_index"] += s
                        acc.append(tab)
                    bar.update(e - s)
        finally:
            bar.close()
        truth = pd.concat(truths, ignore_index=True)
        dla_tab = pd.concat(dlas, ignore_index=True)
        return SimulatedSpectra(self._wave.copy(), out["flux"], out["ivar"], out["continuum"], out["transmission"],
                                truth, dla_tab, self._meta(start), pd.concat(absorbers, ignore_index=True))

    def iter_chunks(self, n, *, chunk_size=256, start=0, n_jobs=1, backend="threads"):
        """Yield :class:`SimulatedSpectra` batches of ``chunk_size`` covering ``n`` spectra (bounded memory).

        ``spec_index`` in each batch's DLA and absorber tables counts from 0 within the batch;
        ``truth['obj_index']`` gives the global object index.
        """
        n = _check_count(n, "n")
        chunk_size = _check_count(chunk_size, "chunk_size")
        start = _check_count(start, "start", allow_zero=True)
        inner = min(64, chunk_size)
        with self._pool(n_jobs, backend) as pool:
            for s0 in range(0, n, chunk_size):
                m = min(chunk_size, n - s0)
                parts = list(self._run_chunks(start + s0, m, inner, pool))
                out = {k: np.concatenate([r[k] for _, _, r in parts]) for k in _ARRAY_KEYS}
                dl, ab = [], []
                for s, _, r in parts:
                    for tab, acc in ((r["dlas"], dl), (r["absorbers"], ab)):
                        tab["spec_index"] += s
                        acc.append(tab)
                yield SimulatedSpectra(self._wave.copy(), out["flux"], out["ivar"], out["continuum"],
                                       out["transmission"], pd.concat([r["truth"] for _, _, r in parts],
                                                                      ignore_index=True),
                                       pd.concat(dl, ignore_index=True), self._meta(start + s0),
                                       pd.concat(ab, ignore_index=True))

    # parallel machinery ---------------------------------------------------------
    def _pool(self, n_jobs, backend):
        import contextlib

        n_jobs = 1 if n_jobs is None else int(n_jobs)
        if n_jobs < 1:
            raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
        if backend not in ("threads", "processes"):
            raise ValueError(f"backend must be 'threads' or 'processes', got {backend!r}")
        if n_jobs == 1:
            return contextlib.nullcontext(None)
        if backend == "threads":
            return _Pool(ThreadPoolExecutor(max_workers=n_jobs), self._simulate_chunk, n_jobs)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ex = ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init, initargs=(self.get_params(),))
        return _Pool(ex, _worker_chunk, n_jobs)

    def _run_chunks(self, start, n, chunk_size, pool):
        """Yield ``(s, e, result)`` for chunks of ``[0, n)`` in order (at most 2 x n_jobs in flight)."""
        bounds = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
        if pool is None:
            for s, e in bounds:
                yield s, e, self._simulate_chunk(start + s, e - s)
            return
        from collections import deque

        queue = deque()
        for s, e in bounds:
            queue.append((s, e, pool.executor.submit(pool.fn, start + s, e - s)))
            if len(queue) >= 2 * pool.n_jobs:
                s0, e0, f = queue.popleft()
                yield s0, e0, f.result()
        while queue:
            s0, e0, f = queue.popleft()
            yield s0, e0, f.result()

    def simulate_to_file(self, path, n, *, chunk_size=256, n_jobs=1, backend="threads", progress=None,
                         arrays="all"):
        """Simulate ``n`` spectra straight into an HDF5 file, chunk by chunk (bounded memory).

        The file is written by the one spectra writer (:mod:`._write`), reads back
        with :func:`read_spectra`, and its content equals ``simulate(n).write(path, arrays=arrays)``
        (``arrays="observed"``: ``flux`` and ``ivar`` only, half the size).

        Returns
        -------
        pathlib.Path
        """
        from pathlib import Path

        from ._write import hdf5_spectra_writer

        path = Path(path)
        if not path.name.lower().endswith((".h5", ".hdf5", ".hdf")):
            raise ValueError(f"{path}: simulate_to_file writes HDF5; use a .h5 or .hdf5 suffix")
        n = _check_count(n, "n")
        chunk_size = _check_count(chunk_size, "chunk_size")
        from .. import progress as _progress

        bar = _progress(total=n, desc="simulate spectra", disable=None if progress is None else not progress,
                        unit="spec")
        try:
            with hdf5_spectra_writer(path, self._wave, n, self._meta(0), arrays=arrays) as writer:
                for part in self.iter_chunks(n, chunk_size=chunk_size, n_jobs=n_jobs, backend=backend):
                    writer.append(part)
                    bar.update(len(part))
        finally:
            bar.close()
        return path

    def _meta(self, start):
        return dict(seed=int(self.seed), start=int(start), z_range=list(map(float, self.z_range)),
                    mag_range=list(map(float, self.mag_range)), mag_band=str(self.mag_band),
                    dla_rate_per_dz=None if self._dla.rate_per_dz is None else float(self._dla.rate_per_dz),
                    dla_log_nhi_range=list(self.dla_log_nhi_range), proximate=bool(self.proximate),
                    metals=bool(self.metals), bal_fraction=float(self.bal_fraction),
                    sky_residual_frac=float(self.sky_residual_frac), cddf="Prochaska+2014 spline, POW10 LLS incidence",
                    instrument=self._inst.to_dict(), flux_unit=FLUX_UNIT, noise=bool(self.noise),
                    continuum="templates" if self._templates is not None else "builtin")

    # ------------------------------------------------------------------
    def _rngs(self, start, n, stream):
        return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(self.seed), spawn_key=(i, stream))))
                for i in range(start, start + n)]

    def _simulate_chunk(self, start, n):
        wave = self._wave
        n_pix = wave.size
        inst = self._inst
        # global parameters ----------------------------------------------------
        u = np.array([r.random(2) for r in self._rngs(start, n, _STREAM_GLOBAL)]).reshape(n, 2)
        z = self.z_range[0] + (self.z_range[1] - self.z_range[0]) * u[:, 0]
        mag = self.mag_range[0] + (self.mag_range[1] - self.mag_range[0]) * u[:, 1]
        log_lum_rel = relative_log_luminosity(z, mag)
        # continuum ------------------------------------------------------------
        rng_c = self._rngs(start, n, _STREAM_CONT)
        if self._templates is None:
            cpar = self._cont.sample_params(rng_c, log_lum_rel)
            cont = self._cont.evaluate_observed(wave, z, cpar)
        else:
            cpar, cont = template_continua(self._templates, rng_c, wave, z)
        # H I absorbers, metals, BAL troughs --------------------------------------
        z_lo = max(wave[0] / LYA_AA - 1.0, 0.0)
        forest, n_abs = sample_forest(self._forest, self._rngs(start, n, _STREAM_FOREST), z, z_lo)
        z_lo_sys = max((wave[0] + 10.0) / LYA_AA - 1.0, 0.0)
        systems = sample_absorbers(self._forest, self._dla, self._rngs(start, n, _STREAM_SYSTEMS), z, z_lo_sys,
                                 proximate=bool(self.proximate))
        tau = absorber_tau(wave, n, forest, systems)
        low, _ = self._metal_model.sample_low_ions(self._rngs(start, n, _STREAM_METAL_LOW), systems)
        add_metal_tau(tau, wave, low)
        dbl, n_dbl = self._metal_model.sample_doublets(self._rngs(start, n, _STREAM_METAL_DOUBLET), z, wave[0],
                                                       wave[-1])
        add_metal_tau(tau, wave, dbl)
        bals = sample_bals(self._rngs(start, n, _STREAM_BAL), float(self.bal_fraction))
        bal_tau(tau, wave, z, bals)
        # the continuum model carries the intrinsic (IGM-free) far-UV shape; absorbers give the rest
        trans = self._lsf(np.exp(-tau).astype(np.float32))
        model = cont * trans
        # normalise to the magnitude -----------------------------------------
        num, den = self._band
        # row-wise sum (not a BLAS product) so each spectrum is independent of the chunk size
        band_flux = np.sum(model * num[None, :], axis=1) / den
        cont_band = np.sum(cont * num[None, :], axis=1) / den
        dark = ~(band_flux > 1e-3 * cont_band)
        if np.any(dark):
            bad = int(np.sum(dark))
            raise ValueError(f"{bad} spectra have (almost) no transmitted flux in band {self.mag_band!r} (it lies in "
                             f"the absorbed Lyman-alpha forest / Lyman limit at z = {z[dark].min():.2f}); use a "
                             f"redder mag_band")
        m0 = -2.5 * np.log10(band_flux * 1e-17) - 48.6
        scale = 10.0 ** (-0.4 * (mag - m0))
        f32 = np.float32
        cont = (cont * scale[:, None]).astype(f32)
        model = (model * scale[:, None]).astype(f32)
        del tau
        # noise (float32: memory-bound arithmetic on (n, n_pix) arrays) and sky residuals ------
        flux, ivar = add_noise(model, self._cpf, self._sky, inst.read_noise_e,
                               self._rngs(start, n, _STREAM_NOISE) if self.noise else None)
        if self.noise:
            self._sky_res.add(flux, self._rngs(start, n, _STREAM_SKY))
        # truth ------------------------------------------------------------------
        absorbers = systems.table()
        kind = absorbers["kind"].to_numpy()
        d = absorbers[kind == "dla"]
        dl = empty_dlas() if d.empty else pd.DataFrame(
            {"spec_index": d["spec_index"].to_numpy(np.int64), "z_dla": d["z_abs"].to_numpy(float),
             "log_nhi": d["log_nhi"].to_numpy(float)})
        groups = {int(k): g for k, g in dl.groupby("spec_index")}
        z_dla = [groups[j]["z_dla"].to_numpy() if j in groups else np.zeros(0) for j in range(n)]
        log_nhi = [groups[j]["log_nhi"].to_numpy() if j in groups else np.zeros(0) for j in range(n)]
        spec = absorbers["spec_index"].to_numpy()
        first_red = np.searchsorted(wave, LYA_AA * (1.0 + z) * 1.02, side="right")
        snr_med = np.array([float(np.median(flux[j, k:] * np.sqrt(ivar[j, k:]))) if k < n_pix else np.nan
                            for j, k in enumerate(first_red)])
        truth = pd.DataFrame({
            "z_qso": z, "mag": mag, "n_abs": n_abs,
            "n_lls": np.bincount(spec[kind == "lls"], minlength=n).astype(np.int64),
            "n_subdla": np.bincount(spec[kind == "subdla"], minlength=n).astype(np.int64),
            "n_dla": np.array([a.size for a in z_dla], dtype=np.int64),
            "z_dla": z_dla, "log_nhi": log_nhi,
            "n_proximate": np.bincount(spec[absorbers["proximate"].to_numpy(bool)], minlength=n).astype(np.int64),
            "bal": bals["bal"], "balnicity_kms": bals["balnicity_kms"], "bal_vmin_kms": bals["bal_vmin_kms"],
            "bal_vmax_kms": bals["bal_vmax_kms"], "n_civ": n_dbl["CIV"], "n_mgii": n_dbl["MgII"],
            "beta": cpar.get("beta", np.full(n, np.nan)), "blueshift_kms": cpar.get("blueshift_kms", np.zeros(n)),
            "log_lum_rel": log_lum_rel, "snr_median": snr_med,
            "obj_index": np.arange(start, start + n, dtype=np.int64),
        })
        return dict(flux=flux, ivar=ivar, continuum=cont,
                    transmission=trans, truth=truth, dlas=dl, absorbers=absorbers)


def _pair(v, name):
    try:
        a, b = (float(x) for x in v)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{name} must be a pair of numbers, got {v!r}") from exc
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return a, b


def _check_count(n, name, allow_zero=False):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    if n < 0 or (n == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '>= 1'}, got {n}")
    return int(n)
