"""Fast, seeded, vectorised simulator of 4MOST-like quasar spectra."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ._continuum import ContinuumModel
from ._igm import DLAModel, ForestModel, add_line_tau, add_lyman_continuum_tau
from ._instrument import FLUX_UNIT, Instrument, _LSF
from ._physics import LYMAN_SERIES

__all__ = ["QuasarSimulator", "SimulatedSpectra"]

LYA_AA = float(LYMAN_SERIES[0]["wave_aa"])
_C_AA_S = 2.99792458e18

# per-object random streams (spawn keys), so each component is independent of the others
_STREAM_GLOBAL, _STREAM_CONT, _STREAM_FOREST, _STREAM_DLA, _STREAM_NOISE = range(5)


@dataclass
class SimulatedSpectra:
    """A batch of simulated quasar spectra.

    Attributes
    ----------
    wave_aa : ndarray, shape (n_pix,)
        Observed-frame wavelength of the pixel centres (Angstrom, vacuum).
    flux : ndarray, shape (n, n_pix), float32
        Observed flux density (``flux_unit``), with noise.
    ivar : ndarray, shape (n, n_pix), float32
        Inverse variance of ``flux`` (pipeline-style estimate).
    continuum : ndarray, shape (n, n_pix), float32
        Unabsorbed, noise-free quasar continuum (same units as ``flux``).
    transmission : ndarray, shape (n, n_pix), float32
        Noise-free IGM transmission (forest, LLS, DLAs) convolved with the
        line-spread function, so that ``continuum * transmission`` is the
        noise-free observed flux.
    truth : pandas.DataFrame
        One row per spectrum: ``z_qso``, ``mag`` (synthetic AB magnitude in
        ``meta['mag_band']`` of the noise-free spectrum), ``n_abs`` (forest
        absorbers with Ly-alpha on the grid), ``n_lls`` (of which log N >=
        17.2), ``n_dla``, ``z_dla`` and ``log_nhi`` (one float array per row),
        continuum parameters (``beta``, ``blueshift_kms``, ``log_lum_rel``) and
        ``snr_median`` (median per-pixel S/N redward of Ly-alpha).
        (pandas ``attrs`` are left empty so that tables concatenate cleanly.)
    dlas : pandas.DataFrame
        One row per DLA: ``spec_index`` (row in this batch), ``z_dla``, ``log_nhi``.
    meta : dict
        Seed, instrument, simulator settings, ``flux_unit``.
    """

    wave_aa: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    continuum: np.ndarray
    transmission: np.ndarray
    truth: pd.DataFrame
    dlas: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.flux.shape[0])

    def __repr__(self) -> str:
        w = self.wave_aa
        return (f"SimulatedSpectra(n={len(self)}, n_pix={w.size}, wave_aa={w[0]:.1f}-{w[-1]:.1f}, "
                f"n_dla={len(self.dlas)}, seed={self.meta.get('seed')})")

    @property
    def n_pix(self) -> int:
        return int(self.wave_aa.size)

    def __getitem__(self, item) -> "SimulatedSpectra":
        """Subset of spectra (int, slice, boolean or integer index array)."""
        idx = np.arange(len(self))[item]
        idx = np.atleast_1d(idx)
        truth = self.truth.iloc[idx].reset_index(drop=True)
        remap = {int(old): new for new, old in enumerate(idx)}
        d = self.dlas[self.dlas["spec_index"].isin(list(remap))].copy()
        d["spec_index"] = d["spec_index"].map(remap).astype(np.int64)
        d = d.sort_values(["spec_index", "z_dla"]).reset_index(drop=True)
        return SimulatedSpectra(self.wave_aa, self.flux[idx], self.ivar[idx], self.continuum[idx],
                                self.transmission[idx], truth, d, dict(self.meta))

    @classmethod
    def concatenate(cls, parts) -> "SimulatedSpectra":
        """Join batches that share a wavelength grid."""
        parts = list(parts)
        if not parts:
            raise ValueError("concatenate: no batches given")
        w = parts[0].wave_aa
        for p in parts[1:]:
            if p.wave_aa.shape != w.shape or not np.allclose(p.wave_aa, w, rtol=0, atol=1e-6):
                raise ValueError("concatenate: batches have different wavelength grids")
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        dl = []
        for off, p in zip(offsets, parts):
            d = p.dlas.copy()
            d["spec_index"] = d["spec_index"] + int(off)
            dl.append(d)
        dlas = pd.concat(dl, ignore_index=True) if dl else _empty_dlas()
        truth = pd.concat([p.truth for p in parts], ignore_index=True)
        return cls(w, np.concatenate([p.flux for p in parts]), np.concatenate([p.ivar for p in parts]),
                   np.concatenate([p.continuum for p in parts]), np.concatenate([p.transmission for p in parts]),
                   truth, dlas, dict(parts[0].meta))

    def write(self, path, *, format=None):
        """Write spectra + truth to HDF5 (``.h5``/``.hdf5``) or FITS (``.fits``); see :func:`write_spectra`."""
        from ._io import write_spectra

        return write_spectra(self, path, format=format)


_ARRAY_KEYS = ("flux", "ivar", "continuum", "transmission")


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


def _empty_dlas():
    return pd.DataFrame({"spec_index": np.zeros(0, np.int64), "z_dla": np.zeros(0), "log_nhi": np.zeros(0)})


@lru_cache(maxsize=8)
def _band_response(band, wave_key, w0, dw, n):
    import speclite.filters

    wave = w0 + dw * np.arange(n)
    name = {"g": "sdss2010-g", "r": "sdss2010-r", "i": "sdss2010-i", "z": "sdss2010-z"}.get(band, band)
    filt = speclite.filters.load_filter(name)
    fw = np.asarray(filt.wavelength, dtype=float)
    fr = np.asarray(filt.response, dtype=float)
    if fw.min() < wave[0] or fw.max() > wave[-1]:
        raise ValueError(f"magnitude band {band!r} ({fw.min():.0f}-{fw.max():.0f} A) is not covered by the "
                         f"instrument grid ({wave[0]:.0f}-{wave[-1]:.0f} A); choose mag_band inside it")
    resp = np.interp(wave, fw, fr, left=0.0, right=0.0)
    # AB: m = -2.5 log10( sum f_lambda lambda R dlambda / sum (c / lambda) R dlambda ) - 48.6
    num = resp * wave * dw
    den = float(np.sum(resp * _C_AA_S / wave * dw))
    return num, den


class QuasarSimulator:
    """Simulator of quasar spectra with Lyman-alpha forest, LLS and DLAs.

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
        observed spectrum, forest absorption included).
    seed : int
        Random seed.
    instrument : Instrument, optional
        Spectrograph; default 4MOST-like (3600-9600 A, 0.25 A pixels).
    dla_rate_per_dz : float
        Mean number of DLAs per unit redshift.
    dla_log_nhi_range : tuple of float
        DLA column-density range (log10 cm^-2).
    forest : ForestModel, optional
        Forest absorber statistics (default: ``ForestModel()``).
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
        Add noise (``False``: ``flux`` is noise-free and ``ivar`` the expected inverse variance).

    Notes
    -----
    Physics and instrument: see :mod:`agnlab.spectra._continuum` (broken power
    law + emission lines fitted to the SDSS DR16Q mean quasar, per-object
    scatter), :mod:`agnlab.spectra._igm` (Voigt forest normalised to
    Faucher-Giguere et al. 2008, LLS, DLAs with damping wings, Lyman series to
    n = 13, Lyman continuum) and :class:`Instrument` (resolution, sky, noise).

    Examples
    --------
    >>> from agnlab.spectra import QuasarSimulator
    >>> spec = QuasarSimulator(seed=1).simulate(4)
    >>> spec.flux.shape, spec.flux.dtype.name
    ((4, 24001), 'float32')
    >>> sorted(spec.truth.columns)[:4]
    ['beta', 'blueshift_kms', 'log_lum_rel', 'log_nhi']
    """

    def __init__(self, *, z_range=(2.0, 4.0), mag_range=(18.0, 20.5), seed=0, instrument=None,
                 dla_rate_per_dz=0.2, dla_log_nhi_range=(20.3, 22.0), forest=None, continuum_model=None,
                 templates=None, template_coeff_sigma=None, mag_band="r", noise=True):
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
        self._dla = DLAModel(rate_per_dz=float(self.dla_rate_per_dz), log_nhi_range=tuple(self.dla_log_nhi_range))
        self._forest = ForestModel() if self.forest is None else self.forest
        if not isinstance(self._forest, ForestModel):
            raise TypeError(f"forest must be a ForestModel, got {type(self._forest).__name__}")
        self._cont = ContinuumModel() if self.continuum_model is None else self.continuum_model
        self._templates = None
        if self.templates is not None:
            self._templates = _check_templates(self.templates, self.template_coeff_sigma)
        self._wave = inst.wave_aa
        self._lsf = _LSF(inst.lsf_sigma_pix(self._wave))
        self._band = _band_response(self.mag_band, None, float(self._wave[0]), float(inst.dwave_aa), self._wave.size)
        self._cpf = inst.counts_per_flux(self._wave)
        self._sky = inst.sky_flux(self._wave)

    @property
    def wave_aa(self) -> np.ndarray:
        """Observed wavelength grid (Angstrom)."""
        return self._wave.copy()

    def get_params(self, deep=False):
        return dict(z_range=self.z_range, mag_range=self.mag_range, seed=self.seed, instrument=self.instrument,
                    dla_rate_per_dz=self.dla_rate_per_dz, dla_log_nhi_range=self.dla_log_nhi_range,
                    forest=self.forest, continuum_model=self.continuum_model, templates=self.templates,
                    template_coeff_sigma=self.template_coeff_sigma, mag_band=self.mag_band, noise=self.noise)

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
        truths, dlas = [], []
        from .. import progress as _progress

        bar = _progress(total=n, desc="simulate spectra", disable=None if progress is None else not progress,
                        unit="spec")
        try:
            with self._pool(n_jobs, backend) as pool:
                for s, e, res in self._run_chunks(start, n, chunk_size, pool):
                    for key in out:
                        out[key][s:e] = res[key]
                    truths.append(res["truth"])
                    d = res["dlas"]
                    d["spec_index"] += s
                    dlas.append(d)
                    bar.update(e - s)
        finally:
            bar.close()
        truth = pd.concat(truths, ignore_index=True)
        dla_tab = pd.concat(dlas, ignore_index=True)
        return SimulatedSpectra(self._wave.copy(), out["flux"], out["ivar"], out["continuum"], out["transmission"],
                                truth, dla_tab, self._meta(start))

    def iter_chunks(self, n, *, chunk_size=256, start=0, n_jobs=1, backend="threads"):
        """Yield :class:`SimulatedSpectra` batches of ``chunk_size`` covering ``n`` spectra (bounded memory).

        ``spec_index`` in each batch's DLA table counts from 0 within the batch;
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
                dl = []
                for s, _, r in parts:
                    d = r["dlas"]
                    d["spec_index"] += s
                    dl.append(d)
                yield SimulatedSpectra(self._wave.copy(), out["flux"], out["ivar"], out["continuum"],
                                       out["transmission"], pd.concat([r["truth"] for _, _, r in parts],
                                                                      ignore_index=True),
                                       pd.concat(dl, ignore_index=True), self._meta(start + s0))

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

    def simulate_to_file(self, path, n, *, chunk_size=256, n_jobs=1, backend="threads", progress=None):
        """Simulate ``n`` spectra straight into an HDF5 file, chunk by chunk (bounded memory).

        The file has the layout of :func:`write_spectra` and reads back with
        :func:`read_spectra`; its content equals ``simulate(n).write(path)``.

        Returns
        -------
        pathlib.Path
        """
        import json
        from pathlib import Path

        import h5py

        from ..io import atomic_path
        from ._io import _json_default, _scalar_truth

        path = Path(path)
        if not path.name.lower().endswith((".h5", ".hdf5", ".hdf")):
            raise ValueError(f"{path}: simulate_to_file writes HDF5; use a .h5 or .hdf5 suffix")
        n = _check_count(n, "n")
        chunk_size = _check_count(chunk_size, "chunk_size")
        n_pix = self._wave.size
        from .. import progress as _progress

        bar = _progress(total=n, desc="simulate spectra", disable=None if progress is None else not progress,
                        unit="spec")
        truths, dlas = [], []
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as h5:
                h5.attrs["agnlab_kind"] = "spectra"
                h5.attrs["meta"] = json.dumps(self._meta(0), default=_json_default)
                h5.create_dataset("wave_aa", data=self._wave)
                ds = {k: h5.create_dataset(k, shape=(n, n_pix), dtype=np.float32, chunks=(min(64, n), n_pix))
                      for k in ("flux", "ivar", "continuum", "transmission")}
                try:
                    s = 0
                    for part in self.iter_chunks(n, chunk_size=chunk_size, n_jobs=n_jobs, backend=backend):
                        m = len(part)
                        for k, d in ds.items():
                            d[s:s + m] = getattr(part, k)
                        truths.append(_scalar_truth(part.truth))
                        d = part.dlas.copy()
                        d["spec_index"] += s
                        dlas.append(d)
                        bar.update(m)
                        s += m
                finally:
                    bar.close()
                truth = pd.concat(truths, ignore_index=True)
                dl = pd.concat(dlas, ignore_index=True)
                for name, tab in (("truth", truth), ("dlas", dl)):
                    g = h5.create_group(name)
                    g.attrs["columns"] = json.dumps([str(c) for c in tab.columns])
                    for c in tab.columns:
                        g.create_dataset(c, data=tab[c].to_numpy())
        return path

    def _meta(self, start):
        return dict(seed=int(self.seed), start=int(start), z_range=list(map(float, self.z_range)),
                    mag_range=list(map(float, self.mag_range)), mag_band=str(self.mag_band),
                    dla_rate_per_dz=float(self.dla_rate_per_dz), dla_log_nhi_range=list(self.dla_log_nhi_range),
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
        log_lum_rel = _log_lum_rel(z, mag)
        # continuum ------------------------------------------------------------
        rng_c = self._rngs(start, n, _STREAM_CONT)
        if self._templates is None:
            cpar = self._cont.sample_params(rng_c, log_lum_rel)
            cont = self._cont.evaluate_observed(wave, z, cpar)
        else:
            cpar, cont = _template_continua(self._templates, rng_c, wave, z)
        # forest ---------------------------------------------------------------
        z_lo = max(wave[0] / LYA_AA - 1.0, 0.0)
        fm = self._forest
        rows, zs, lns, bs, n_abs, n_lls = [], [], [], [], np.zeros(n, np.int64), np.zeros(n, np.int64)
        for j, r in enumerate(self._rngs(start, n, _STREAM_FOREST)):
            if z[j] <= z_lo:
                continue
            c0, c1 = fm.cumulative_number(z_lo), fm.cumulative_number(z[j])
            k = r.poisson(c1 - c0)
            uu = r.random((3, k))
            zs.append(fm.inverse_cumulative(c0 + uu[0] * (c1 - c0)))
            lns.append(fm.sample_log_n(uu[1]))
            bs.append(fm.sample_b(-np.log1p(-uu[2])))
            rows.append(np.full(k, j))
            n_abs[j] = k
            n_lls[j] = int(np.sum(lns[-1] >= 17.2))
        # DLAs -----------------------------------------------------------------
        d_rows, d_z, d_n = [], [], []
        for j, r in enumerate(self._rngs(start, n, _STREAM_DLA)):
            lo = max(z_lo, (wave[0] + 10.0) / LYA_AA - 1.0)
            hi = z[j] - (1.0 + z[j]) * 3000.0 / 299792.458
            if hi <= lo or self._dla.rate_per_dz <= 0:
                continue
            k = r.poisson(self._dla.rate_per_dz * (hi - lo))
            uu = r.random((2, k))
            d_rows.append(np.full(k, j))
            d_z.append(lo + (hi - lo) * uu[0])
            d_n.append(self._dla.sample_log_nhi(uu[1]))
        tau = np.zeros((n, n_pix))
        if rows:
            ri, zi, li, bi = (np.concatenate(x) for x in (rows, zs, lns, bs))
            add_line_tau(tau, wave, ri, zi, li, bi)
            add_lyman_continuum_tau(tau, wave, ri, zi, li)
        if d_rows:
            ri, zi, li = (np.concatenate(x) for x in (d_rows, d_z, d_n))
            if ri.size:
                add_line_tau(tau, wave, ri, zi, li, np.full(ri.size, self._dla.b_kms), eps=1e-4)
                add_lyman_continuum_tau(tau, wave, ri, zi, li)
        # no flux blueward of the quasar's own Lyman limit beyond what absorbers give: the
        # continuum model carries the intrinsic far-UV shape.
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
        # noise (float32: memory-bound arithmetic on (n, n_pix) arrays) ----------
        cpf = self._cpf.astype(f32)[None, :]
        sky_counts = (self._sky[None, :] * self._cpf[None, :]).astype(f32)
        rn2 = inst.read_noise_e ** 2
        obj_counts = model * cpf
        if self.noise:
            eps = np.array([r.standard_normal(n_pix, dtype=f32) for r in self._rngs(start, n, _STREAM_NOISE)])
            counts = obj_counts + np.sqrt(obj_counts + sky_counts + rn2) * eps
            # pipeline variance: smoothed observed object counts + sky + read noise
            var = np.maximum(_boxcar(counts, 15), 0.0) + sky_counts + rn2
            flux = counts / cpf
        else:
            var = obj_counts + sky_counts + rn2
            flux = model
        ivar = cpf * cpf / var
        # truth ------------------------------------------------------------------
        dl = _empty_dlas() if not d_rows else pd.DataFrame(
            {"spec_index": np.concatenate(d_rows).astype(np.int64), "z_dla": np.concatenate(d_z),
             "log_nhi": np.concatenate(d_n)})
        dl = dl.sort_values(["spec_index", "z_dla"], kind="stable").reset_index(drop=True)
        groups = {int(k): g for k, g in dl.groupby("spec_index")}
        z_dla = [groups[j]["z_dla"].to_numpy() if j in groups else np.zeros(0) for j in range(n)]
        log_nhi = [groups[j]["log_nhi"].to_numpy() if j in groups else np.zeros(0) for j in range(n)]
        first_red = np.searchsorted(wave, LYA_AA * (1.0 + z) * 1.02, side="right")
        snr_med = np.array([float(np.median(flux[j, k:] * np.sqrt(ivar[j, k:]))) if k < n_pix else np.nan
                            for j, k in enumerate(first_red)])
        truth = pd.DataFrame({
            "z_qso": z, "mag": mag, "n_abs": n_abs, "n_lls": n_lls,
            "n_dla": np.array([a.size for a in z_dla], dtype=np.int64),
            "z_dla": z_dla, "log_nhi": log_nhi,
            "beta": cpar.get("beta", np.full(n, np.nan)), "blueshift_kms": cpar.get("blueshift_kms", np.zeros(n)),
            "log_lum_rel": log_lum_rel, "snr_median": snr_med,
            "obj_index": np.arange(start, start + n, dtype=np.int64),
        })
        return dict(flux=flux.astype(f32, copy=False), ivar=ivar.astype(f32, copy=False), continuum=cont,
                    transmission=trans, truth=truth, dlas=dl)


def _boxcar(y, width):
    c = np.cumsum(np.pad(y, ((0, 0), (width // 2 + 1, width // 2)), mode="edge"), axis=1, dtype=np.float64)
    return ((c[:, width:] - c[:, :-width]) / width).astype(y.dtype, copy=False)


def _log_lum_rel(z, mag, z_pivot=3.0, mag_pivot=19.25, omega_m=0.3097):
    """log10 luminosity relative to a z = 3, mag = 19.25 quasar (Baldwin-effect driver).

    Flat Lambda-CDM luminosity distances (Planck 2018 matter density; the
    Hubble constant cancels in the ratio), without a K-correction.
    """
    z = np.asarray(z, dtype=float)
    grid = np.linspace(0.0, 8.0, 8001)  # fixed grid: results do not depend on the other objects
    inv_e = 1.0 / np.sqrt(omega_m * (1.0 + grid) ** 3 + 1.0 - omega_m)
    dc = np.concatenate([[0.0], np.cumsum(0.5 * (inv_e[1:] + inv_e[:-1]) * np.diff(grid))])
    dl = (1.0 + z) * np.interp(z, grid, dc)
    dl_p = (1.0 + z_pivot) * np.interp(z_pivot, grid, dc)
    return -0.4 * (np.asarray(mag) - mag_pivot) + 2.0 * np.log10(dl / dl_p) - np.log10((1.0 + z) / (1.0 + z_pivot))


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


def _check_templates(templates, coeff_sigma):
    try:
        wave_rest, eig = templates
    except Exception as exc:  # noqa: BLE001
        raise ValueError("templates must be a pair (wave_rest_aa (n_wave,), eigenspectra (n_comp, n_wave))") from exc
    wave_rest = np.asarray(wave_rest, dtype=float)
    eig = np.atleast_2d(np.asarray(eig, dtype=float))
    if wave_rest.ndim != 1 or eig.shape[1] != wave_rest.size:
        raise ValueError(f"templates: wavelength has {wave_rest.size} points but eigenspectra have shape {eig.shape}")
    if not np.all(np.isfinite(eig)) or not np.all(np.isfinite(wave_rest)):
        raise ValueError("templates contain NaN or infinite values")
    if np.any(np.diff(wave_rest) <= 0):
        raise ValueError("templates: rest wavelength must be strictly increasing")
    rms = np.sqrt(np.mean(eig ** 2, axis=1))
    if coeff_sigma is None:
        sig = 0.15 * rms[0] / np.maximum(rms[1:], 1e-30)
    else:
        sig = np.asarray(coeff_sigma, dtype=float)
        if sig.shape != (eig.shape[0] - 1,):
            raise ValueError(f"template_coeff_sigma needs {eig.shape[0] - 1} values, got {sig.shape}")
    norm = np.interp(1450.0, wave_rest, eig[0])
    if norm <= 0:
        raise ValueError("templates: first eigenspectrum must be positive at 1450 A")
    return wave_rest, eig / norm, sig


def _template_continua(tmpl, rngs, wave, z):
    wave_rest, eig, sig = tmpl
    n = len(rngs)
    coef = np.array([r.standard_normal(eig.shape[0] - 1) for r in rngs]).reshape(n, -1) * sig[None, :]
    spec = eig[0][None, :] + coef @ eig[1:]
    rest = wave[None, :] / (1.0 + z[:, None])
    cont = np.empty((n, wave.size))
    for j in range(n):
        cont[j] = np.interp(rest[j], wave_rest, spec[j], left=np.nan, right=np.nan)
    if np.any(np.isnan(cont)):
        lo, hi = wave_rest[0], wave_rest[-1]
        raise ValueError(f"templates cover rest {lo:.0f}-{hi:.0f} A, which does not span the observed grid at "
                         f"z = {z.min():.2f}-{z.max():.2f}; restrict z_range or use the built-in continuum")
    np.maximum(cont, 0.0, out=cont)
    return dict(beta=np.full(n, np.nan), blueshift_kms=np.zeros(n)), cont
