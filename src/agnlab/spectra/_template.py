"""Template chi-square redshift fitting (redrock-like baseline).

Spectra are binned onto a grid uniform in ``log10(lambda)`` (step ``dlog10``,
``1e-4`` = 69 km/s) where a redshift is a shift by whole pixels.  For every
shift the best linear combination of the PCA templates (linear least squares,
``chi2 = f^T W f - b^T A^-1 b``) is found; all shifts at once by FFT
cross-correlation of the template products with the weighted data (the
coarse grid, one pixel per 69 km/s over the whole redshift range).  Around
the ``n_candidates`` deepest distinct minima a fine grid (``fine_step_kms``)
is evaluated directly with sub-pixel template interpolation, and the
minimum is refined with a parabola; ``z_err`` follows from the curvature
(``delta chi2 = 1``).

Blueward of Lyman-alpha the model is multiplied by the mean forest
transmission ``exp(-tau_eff)`` of Faucher-Giguere et al. (2008) at the
absorber redshift (optional).  Because that factor depends on the *observed*
wavelength only, it enters as extra data-side weights and the FFT scheme
stays exact.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import fftconvolve

from .._domain import OutOfDomainError
from .._estimator import AgnlabEstimator
from ..constants import C_KMS
from ..constants import LYA_AA as _LYA
from ._igm import tau_eff_fg08
from ._inputs import is_spectra_container, spectra_arrays

__all__ = ["TemplateRedshift", "read_redrock_templates", "builtin_templates"]


def read_redrock_templates(path):
    """Read a redrock PCA template file (e.g. ``rrtemplate-QSO-HIZ-v1.1.fits``).

    Returns
    -------
    wave_rest_aa : ndarray, shape (n_wave,)
        Rest-frame wavelength from ``CRVAL1``/``CDELT1`` (log10 Angstrom when
        ``LOGLAM``/``CTYPE1`` say so, linear otherwise).
    eigen : ndarray, shape (n_comp, n_wave)
    """
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"template file not found: {path}")
    try:
        with fits.open(path, memmap=False) as hl:
            data = np.asarray(hl[0].data, dtype=np.float64)
            hdr = hl[0].header
            crval, cdelt = float(hdr["CRVAL1"]), float(hdr.get("CDELT1", hdr.get("CD1_1")))
            crpix = float(hdr.get("CRPIX1", 1.0))
            loglam = bool(hdr.get("LOGLAM", 0)) or "log" in str(hdr.get("CTYPE1", "")).lower()
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable template file ({type(exc).__name__}: {exc})") from None
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError(f"{path}: expected a 2-D array of eigenspectra in the primary HDU, got {data.shape}")
    pix = np.arange(data.shape[1]) + 1.0 - crpix
    wave = 10.0 ** (crval + cdelt * pix) if loglam else crval + cdelt * pix
    return wave, data


def builtin_templates(n_components=4, *, n_objects=400, seed=0, wave_rest_aa=None):
    """PCA templates built from the package's own continuum model.

    ``n_objects`` continua with the per-object scatter of
    :class:`ContinuumModel` are normalised to unit mean, and the mean plus
    the first ``n_components - 1`` principal components are returned.

    Returns
    -------
    wave_rest_aa : ndarray, shape (n_wave,)
    eigen : ndarray, shape (n_components, n_wave)
    """
    from ._continuum import ContinuumModel

    if wave_rest_aa is None:
        wave_rest_aa = 10.0 ** np.arange(np.log10(500.0), np.log10(7000.0), 1e-4)
    m = ContinuumModel()
    rngs = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(i,))))
            for i in range(n_objects)]
    lum = np.array([r.normal(0.0, 0.3) for r in rngs])
    p = m.sample_params(rngs, lum)
    spec = m.evaluate_rest(p, wave_rest_aa)
    spec /= spec.mean(axis=1, keepdims=True)
    mean = spec.mean(axis=0)
    _, _, vt = np.linalg.svd(spec - mean, full_matrices=False)
    return wave_rest_aa, np.vstack([mean, vt[: n_components - 1]])


class TemplateRedshift(AgnlabEstimator):
    """Redshifts by chi-square fitting of PCA templates on a coarse-to-fine grid.

    Nothing is learned from spectra: :meth:`fit` prepares the templates. It
    accepts (and ignores) the inputs of the other spectra estimators, so the
    class sits in a scikit-learn ``Pipeline`` the same way: ``fit(X, y)`` /
    ``predict(X)`` with ``X`` a spectra container (``wave_aa``, ``flux``,
    ``ivar`` attributes, or a tuple of the three), or the array form
    ``predict(wave_aa, flux, ivar)``.

    Parameters
    ----------
    templates : str, Path, tuple or None
        A redrock template FITS path, a pair ``(wave_rest_aa, eigen)``, or
        None for templates built from the built-in continuum model.
    z_range : tuple of float
        Redshift search range.
    dlog10 : float
        Log-wavelength bin of the coarse grid (``1e-4`` = 69 km/s).
    fine_step_kms, fine_half_width_kms : float
        Fine grid around each coarse candidate.
    n_candidates : int
        Number of distinct coarse minima refined.
    igm : bool
        Multiply the templates by the mean Lyman-alpha forest transmission.
    min_separation_kms : float
        Minimum separation of distinct candidates (also used for ``delta_chi2``).

    Attributes
    ----------
    wave_rest_aa_ : ndarray
        Rest grid of the log-binned templates.
    templates_ : ndarray, shape (n_comp, n_rest)
    training_record_ : dict
        ``n_components``, ``n_rest`` (nothing is trained; kept for the shared contract).

    Notes
    -----
    Out of domain: spectra whose wavelength range the templates cannot cover
    at any redshift of ``z_range`` raise :class:`agnlab.OutOfDomainError`; a
    best fit at the edge of ``z_range`` (the true z may lie outside it) is
    flagged ``edge_of_range`` in the ``flag`` column (and ``zwarn``).

    Examples
    --------
    >>> from agnlab.spectra import QuasarSimulator, TemplateRedshift
    >>> sim = QuasarSimulator(seed=1).simulate(4)
    >>> tz = TemplateRedshift().fit()
    >>> res = tz.predict(sim.wave_aa, sim.flux, sim.ivar)
    >>> list(res.columns)[:3]
    ['z', 'z_err', 'chi2']
    """

    _fitted_attributes = ("templates_",)

    def __init__(self, *, templates=None, z_range=(1.5, 5.0), dlog10=1e-4, fine_step_kms=10.0,
                 fine_half_width_kms=100.0, n_candidates=3, igm=True, min_separation_kms=1500.0):
        self.templates = templates
        self.z_range = z_range
        self.dlog10 = dlog10
        self.fine_step_kms = fine_step_kms
        self.fine_half_width_kms = fine_half_width_kms
        self.n_candidates = n_candidates
        self.igm = igm
        self.min_separation_kms = min_separation_kms

    # ------------------------------------------------------------------
    def fit(self, X=None, y=None, *arrays):
        """Prepare the templates; returns ``self``.

        Nothing is learned from the spectra: ``X``, ``y`` (and the array form
        ``fit(wave_aa, flux, ivar, truth)``) are accepted for API symmetry and ignored.
        """
        z0, z1 = (float(v) for v in self.z_range)
        if not (0.0 <= z0 < z1 <= 8.0):
            raise ValueError(f"z_range must satisfy 0 <= z_min < z_max <= 8, got {self.z_range}")
        if not (0 < self.dlog10 <= 1e-3):
            raise ValueError(f"dlog10 must be in (0, 1e-3], got {self.dlog10}")
        if int(self.n_candidates) < 1:
            raise ValueError(f"n_candidates must be >= 1, got {self.n_candidates}")
        t = self.templates
        if t is None:
            wave, eig = builtin_templates()
        elif isinstance(t, (str, Path)):
            wave, eig = read_redrock_templates(t)
        else:
            try:
                wave, eig = t
            except (TypeError, ValueError):
                raise ValueError("templates must be a path, a pair (wave_rest_aa, eigen) or None") from None
        wave = np.asarray(wave, dtype=float)
        eig = np.atleast_2d(np.asarray(eig, dtype=float))
        if wave.ndim != 1 or eig.shape[1] != wave.size:
            raise ValueError(f"templates: wavelength has {wave.size} points but eigenspectra have shape {eig.shape}")
        if not (np.all(np.isfinite(eig)) and np.all(np.isfinite(wave)) and np.all(np.diff(wave) > 0)):
            raise ValueError("templates: need finite eigenspectra on a strictly increasing wavelength grid")
        lg = np.arange(np.log10(wave[0]), np.log10(wave[-1]), self.dlog10)
        self.log_rest0_ = float(lg[0])
        self.wave_rest_aa_ = 10.0 ** lg
        self.templates_ = np.array([np.interp(lg, np.log10(wave), e) for e in eig])
        # scale components to comparable amplitude (conditioning of the normal equations)
        self.templates_ /= np.sqrt(np.mean(self.templates_ ** 2, axis=1, keepdims=True))
        self.training_record_ = {"n_components": int(self.templates_.shape[0]), "n_rest": int(lg.size)}
        return self

    # ------------------------------------------------------------------ persistence
    def _template_arrays(self):
        t = self.templates
        if t is None or isinstance(t, (str, Path)):
            return None
        wave, eig = t
        return np.asarray(wave, dtype=float), np.atleast_2d(np.asarray(eig, dtype=float))

    def _saved_params(self):
        params = super()._saved_params()
        t = params.get("templates")
        params["templates"] = str(t) if isinstance(t, Path) else (t if t is None or isinstance(t, str) else None)
        return params

    def _get_state(self):
        arrays = {"wave_rest_aa": self.wave_rest_aa_, "templates": self.templates_}
        given = self._template_arrays()
        if given is not None:   # templates given as arrays: kept in the file, restored as the hyperparameter
            arrays.update(param_wave_rest_aa=given[0], param_eigen=given[1])
        return arrays, {"log_rest0": self.log_rest0_}

    def _set_state(self, arrays, meta):
        self.log_rest0_ = float(meta["log_rest0"])
        self.wave_rest_aa_ = np.asarray(arrays["wave_rest_aa"], float)
        self.templates_ = np.asarray(arrays["templates"], float)
        if self.templates_.ndim != 2 or self.templates_.shape[1] != self.wave_rest_aa_.size:
            raise ValueError(f"templates have shape {self.templates_.shape} for {self.wave_rest_aa_.size} "
                             "rest wavelengths")
        if "param_eigen" in arrays:
            self.templates = (np.asarray(arrays["param_wave_rest_aa"], float), np.asarray(arrays["param_eigen"], float))

    # ------------------------------------------------------------------
    def _log_grid(self, wave_aa):
        # data log grid aligned with the template grid (integer pixel shifts)
        lo, hi = np.log10(wave_aa[0]), np.log10(wave_aa[-1])
        k0 = np.ceil((lo - self.log_rest0_) / self.dlog10)
        k1 = np.floor((hi - self.log_rest0_) / self.dlog10)
        return self.log_rest0_ + self.dlog10 * np.arange(k0, k1 + 1)

    def _bin(self, wave_aa, flux, ivar, log_centres):
        edges = np.concatenate([log_centres - 0.5 * self.dlog10, [log_centres[-1] + 0.5 * self.dlog10]])
        b = np.searchsorted(edges, np.log10(wave_aa)) - 1
        ok = (b >= 0) & (b < log_centres.size)
        nb = log_centres.size
        w = ivar[:, ok]
        wf = w * flux[:, ok]
        idx = b[ok]
        W = np.zeros((flux.shape[0], nb))
        WF = np.zeros((flux.shape[0], nb))
        for j in range(flux.shape[0]):
            W[j] = np.bincount(idx, weights=w[j], minlength=nb)
            WF[j] = np.bincount(idx, weights=wf[j], minlength=nb)
        with np.errstate(invalid="ignore", divide="ignore"):
            F = np.where(W > 0, WF / W, 0.0)
        return F, W

    def predict(self, X, *arrays, chunk_size=256):
        """Best-fit redshifts.

        Parameters
        ----------
        X : spectra container (``wave_aa``, ``flux``, ``ivar``), or ``wave_aa`` (n_pix,) in the
            array form ``predict(wave_aa, flux, ivar)``; ``flux, ivar`` have shape (n, n_pix).
            Pixels with ``ivar = 0`` or NaN are ignored; negative ivar raises.

        Returns
        -------
        pandas.DataFrame
            ``z``, ``z_err``, ``chi2``, ``delta_chi2`` (to the next distinct
            minimum), ``n_pix`` (pixels used), ``zwarn`` (True if
            ``delta_chi2 < 9`` or at the edge of ``z_range``), ``flag``
            (``ok``, ``edge_of_range`` or ``low_delta_chi2``).
        """
        self._check_fitted()
        if X is None or (not is_spectra_container(X) and not arrays):
            raise TypeError("predict: expected a spectra container or the arrays (wave_aa, flux, ivar)")
        wave_aa, flux, ivar = spectra_arrays(X, arrays)
        wave, flux, ivar = _check_input(wave_aa, flux, ivar)
        out = [self._predict_chunk(wave, flux[s:s + chunk_size], ivar[s:s + chunk_size])
               for s in range(0, flux.shape[0], chunk_size)]
        return pd.concat(out, ignore_index=True)

    def _predict_chunk(self, wave, flux, ivar):
        T = self.templates_
        k = T.shape[0]
        lg = self._log_grid(wave)
        F, W = self._bin(wave, flux, ivar, lg)
        n, nb = F.shape
        # shift m: data pixel i <-> template pixel i + m; log10(1+z) = lg[0] - log_rest0 - m dlog10
        m0 = int(round((lg[0] - self.log_rest0_) / self.dlog10))
        z_of_m = lambda m: 10.0 ** ((m0 - m) * self.dlog10) - 1.0  # noqa: E731
        n_m = T.shape[1] - nb + 1
        if n_m < 1:
            raise OutOfDomainError("templates do not cover the observed wavelength range at any redshift")
        m_all = np.arange(n_m)
        z_all = z_of_m(m_all)
        zr = (z_all >= self.z_range[0]) & (z_all <= self.z_range[1])
        if not np.any(zr):
            zmin, zmax = z_all.min(), z_all.max()
            raise OutOfDomainError(f"templates cover z = {zmin:.2f}-{zmax:.2f} for this wavelength range, "
                             f"which does not overlap z_range {self.z_range}")
        if self.z_range[0] < z_all.min() - 1e-9 or self.z_range[1] > z_all.max() + 1e-9:
            warnings.warn(f"templates only cover z = {z_all.min():.3f}-{z_all.max():.3f} over this wavelength range; "
                          f"the search is limited to it", stacklevel=3)
        ms = m_all[zr]
        # data-side vectors
        lam_obs = 10.0 ** lg
        h = (1.0 - np.exp(-tau_eff_fg08(np.maximum(lam_obs / _LYA - 1.0, 0.0)))) if self.igm else np.zeros(nb)
        blue = (self.wave_rest_aa_ < _LYA).astype(float)
        Tb = T * blue[None, :]
        rev = lambda a: a[:, ::-1]  # noqa: E731

        def corr(tmpl, data):
            # c[j, m] = sum_i tmpl[i + m] data[j, i]
            return fftconvolve(tmpl[None, :], rev(data), mode="valid", axes=1)

        wf = W * F
        b = np.empty((n, n_m, k))
        A = np.empty((n, n_m, k, k))
        for p in range(k):
            b[:, :, p] = corr(T[p], wf) - (corr(Tb[p], wf * h) if self.igm else 0.0)
            for q in range(p, k):
                a = corr(T[p] * T[q], W)
                if self.igm:
                    a = a - corr(T[p] * Tb[q] + Tb[p] * T[q], W * h) + corr(Tb[p] * Tb[q], W * h * h)
                A[:, :, p, q] = a
                A[:, :, q, p] = a
        fwf = np.sum(wf * F, axis=1)
        A = A[:, ms]
        b = b[:, ms]
        A = A + 1e-9 * np.trace(A, axis1=2, axis2=3)[..., None, None] * np.eye(k)
        sol = np.linalg.solve(A, b[..., None])[..., 0]
        chi2 = fwf[:, None] - np.einsum("nmk,nmk->nm", b, sol)
        z_coarse = z_all[ms]
        # fine stage
        res = []
        sep_pix = max(1, int(round(self.min_separation_kms / (C_KMS * np.log(10) * self.dlog10))))
        for j in range(n):
            cands = _local_minima(chi2[j], int(self.n_candidates), sep_pix)
            # a candidate far worse than the best coarse minimum cannot win after refinement
            cands = [c for c in cands if chi2[j][c] - chi2[j][cands[0]] < 100.0]
            best = None
            fine_results = []
            for c in cands:
                zc = z_coarse[c]
                dv = np.arange(-self.fine_half_width_kms, self.fine_half_width_kms + 1e-9, self.fine_step_kms)
                zf = (1.0 + zc) * np.exp(dv / C_KMS) - 1.0
                zf = zf[(zf >= self.z_range[0]) & (zf <= self.z_range[1])]
                if zf.size == 0:
                    zf = np.array([zc])
                c2 = self._chi2_direct(lg, F[j], W[j], h, zf)
                i = int(np.argmin(c2))
                zb, err, cb = _parabola(zf, c2, i)
                fine_results.append((cb, zb, err))
            fine_results.sort()
            cb, zb, err = fine_results[0]
            # delta chi2 against the best coarse chi2 outside the separation window
            far = np.abs(np.log1p(z_coarse) - np.log1p(zb)) > self.min_separation_kms / C_KMS
            d2 = float(np.min(chi2[j][far]) - cb) if np.any(far) else np.inf
            edge = (zb <= z_coarse.min() + 1e-3) or (zb >= z_coarse.max() - 1e-3)
            best = dict(z=zb, z_err=err, chi2=cb, delta_chi2=d2, n_pix=int(np.sum(W[j] > 0)),
                        zwarn=bool(d2 < 9.0 or edge),
                        flag="edge_of_range" if edge else ("low_delta_chi2" if d2 < 9.0 else "ok"))
            res.append(best)
        return pd.DataFrame(res)

    def _chi2_direct(self, lg, F, W, h, zf):
        T = self.templates_
        use = W > 0
        lg, F, W, h = lg[use], F[use], W[use], h[use]
        rest_log = lg[None, :] - np.log10(1.0 + zf)[:, None]
        pos = (rest_log - self.log_rest0_) / self.dlog10
        i0 = np.clip(np.floor(pos).astype(int), 0, T.shape[1] - 2)
        t = pos - i0
        M = T[:, i0] * (1 - t) + T[:, i0 + 1] * t  # (k, nz, nb)
        if self.igm:
            blue = (10.0 ** rest_log) < _LYA
            M = M * np.where(blue, 1.0 - h[None, :], 1.0)[None]
        M = M.transpose(1, 0, 2)  # (nz, k, nb)
        A = np.matmul(M * W[None, None, :], M.transpose(0, 2, 1))
        b = np.matmul(M, W * F)
        k = T.shape[0]
        A = A + 1e-9 * np.trace(A, axis1=1, axis2=2)[:, None, None] * np.eye(k)
        sol = np.linalg.solve(A, b[..., None])[..., 0]
        return np.sum(W * F * F) - np.einsum("nk,nk->n", b, sol)


def _local_minima(c, k, sep):
    order = np.argsort(c)
    chosen = []
    for i in order:
        if all(abs(i - j) > sep for j in chosen):
            chosen.append(int(i))
            if len(chosen) == k:
                break
    return chosen


def _parabola(z, c2, i):
    if 0 < i < z.size - 1:
        x0, x1, x2 = z[i - 1], z[i], z[i + 1]
        y0, y1, y2 = c2[i - 1], c2[i], c2[i + 1]
        denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
        bb = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
        if a > 0:
            zb = -bb / (2 * a)
            if x0 <= zb <= x2:
                cb = a * zb * zb + bb * zb + (y1 - a * x1 * x1 - bb * x1)
                return float(zb), float(1.0 / np.sqrt(a)), float(cb)
            return float(x1), float(1.0 / np.sqrt(a)), float(c2[i])
    return float(z[i]), float("nan"), float(c2[i])


def _check_input(wave_aa, flux, ivar):
    wave = np.asarray(wave_aa, dtype=float)
    if wave.ndim != 1 or wave.size < 2:
        raise ValueError(f"wave_aa must be a 1-D grid with >= 2 pixels, got shape {wave.shape}")
    if not np.all(np.isfinite(wave)) or np.any(np.diff(wave) <= 0):
        raise ValueError("wave_aa must be finite and strictly increasing")
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    ivar = np.atleast_2d(np.asarray(ivar, dtype=float))
    if flux.shape != ivar.shape:
        raise ValueError(f"flux has shape {flux.shape} but ivar has {ivar.shape}")
    if flux.shape[1] != wave.size:
        raise ValueError(f"flux has {flux.shape[1]} pixels but wave_aa has {wave.size}")
    if flux.shape[0] == 0:
        raise ValueError("no spectra given (flux has 0 rows)")
    with np.errstate(invalid="ignore"):
        neg = np.isfinite(ivar) & (ivar < 0)
    if np.any(neg):
        raise ValueError(f"ivar has {int(neg.sum())} negative values; inverse variances must be >= 0")
    bad = ~np.isfinite(flux) | ~np.isfinite(ivar)
    if np.any(bad):
        warnings.warn(f"{int(bad.sum())} NaN/infinite flux or ivar pixels masked (ivar set to 0)", stacklevel=3)
        flux = np.where(bad, 0.0, flux)
        ivar = np.where(bad, 0.0, ivar)
    empty = np.flatnonzero(np.sum(ivar > 0, axis=1) == 0)
    if empty.size:
        raise ValueError(f"{empty.size} spectra have no valid pixels (all ivar = 0 or NaN): rows {empty[:10].tolist()}")
    return wave, flux, ivar
