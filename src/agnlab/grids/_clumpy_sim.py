"""Built-in, deterministic clumpy-torus SED generator (an approximation, *not* CLUMPY).

This module produces the default data of the ``emulate`` workflow (demo, tests,
benchmarks): infrared SEDs of a clumpy dusty torus on the six CLUMPY parameters
and on the 119-point CLUMPY wavelength grid (0.01 - 1000 um). It is a fast,
vectorised *semi-analytic caricature* of the physics in Nenkova et al. (2008a,b);
it is **not** the CLUMPY radiative-transfer code and its SEDs must not be used
for science. It exists so that the package has realistic, smooth, 6-parameter
data without network access or shared files.

Physics, per model (all vectorised over models and wavelengths)
---------------------------------------------------------------
* Parameters: ``tv`` (optical depth of one cloud in the V band), ``N0`` (mean
  number of clouds along an equatorial ray), ``sig`` (angular width sigma of the
  cloud distribution, deg), ``Y`` (outer / inner (sublimation) radius),
  ``q`` (power of the radial cloud distribution r**-q) and ``i`` (viewing angle
  from the pole, deg; 90 = edge-on).
* Angular distribution: the mean number of clouds along a ray at elevation
  beta above the equator is ``N(beta) = N0 exp(-(beta/sig)**2)``. The covering
  factor ``1 - <exp(-N(beta))>`` (sky average) sets the fraction of the AGN
  luminosity that is absorbed and re-emitted (energy conservation).
* Radial distribution: clouds per unit radius ``~ r**-q`` from ``r = 1`` to
  ``r = Y`` (units of the sublimation radius), integrated on ``n_shells``
  logarithmic shells; cloud sizes grow as ``r``, so every cloud intercepts and
  re-emits the same luminosity wherever it sits.
* Dust: an extinction curve ``tau(lambda) = tv * k(lambda)/k(V)`` with a
  power-law continuum and silicate features at 9.7 and 18 um.
* Clouds: the AGN-facing (heated) face at ``T_h(r) = 1500 K r**-0.7`` and the
  dark face at a cooler temperature that depends on ``tv``; faces emit
  ``B_nu(T) (1 - exp(-tau))``, and the dark face also transmits the heated-face
  emission through the cloud (so the 10 / 18 um silicate features appear in
  emission for optically thin clouds and in absorption for thick ones).
  Clouds shadowed from the AGN by inner clouds are heated indirectly (cooler).
* Scattering: a small fraction of the AGN light falling on the illuminated
  cloud faces is scattered towards the observer (dust albedo ~0.5 in the
  UV/optical, ~0 beyond a few micron); it dominates the torus SED shortward of
  ~1 um, as in CLUMPY.
* Viewing: the fraction of heated faces in view grows towards the pole, and
  emission of a shell escapes through the clouds outside it along the line of
  sight with probability ``exp(-N_los f_out(r) (1 - exp(-tau(lambda))))``, where
  ``N_los = N(90 deg - i)``.

Fluxes are ``F_nu`` per unit frequency (Hz) for an AGN of unit bolometric
luminosity, in arbitrary consistent units: ``integral F_nu dnu`` over the
angle-averaged torus emission equals the covering factor.
"""

from __future__ import annotations

import numpy as np

from ..validation import check_array, check_random_state
from ._load import CLUMPY_PARAM_NAMES

__all__ = [
    "CLUMPY_PARAM_RANGES",
    "CLUMPY_REGULAR_VALUES",
    "CLUMPY_WAVE_UM",
    "clumpy_like_grid",
    "clumpy_like_regular_grid",
    "clumpy_like_sed",
]

#: The 119-point CLUMPY wavelength grid [um] (nominal values as in the CLUMPY HDF5 files;
#: grids converted through frequency, as AGNfitter's, differ by a factor ~1.0003).
CLUMPY_WAVE_UM = np.array([
    0.01, 0.015, 0.022, 0.033, 0.049, 0.073, 0.1, 0.123, 0.151, 0.185, 0.227, 0.279, 0.343, 0.421, 0.517,
    0.55, 0.635, 0.78, 0.958, 1.177, 1.445, 1.774, 2.179, 2.676, 3.286, 4.036, 4.956, 6.0, 6.25, 6.5, 6.75,
    7.0, 7.25, 7.5, 7.75, 8.0, 8.25, 8.5, 8.6, 8.7, 8.8, 8.9, 9.0, 9.1, 9.2, 9.3, 9.4, 9.5, 9.6, 9.7, 9.8,
    9.9, 10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7, 10.8, 10.9, 11.0, 11.1, 11.2, 11.3, 11.4, 11.5,
    11.75, 12.0, 12.25, 12.5, 12.75, 13.0, 13.25, 13.5, 13.75, 14.0, 14.25, 14.5, 14.75, 15.0, 15.25,
    15.5, 15.75, 16.0, 16.25, 16.5, 16.75, 17.0, 17.25, 17.5, 17.75, 18.0, 18.25, 18.5, 18.75, 19.0,
    19.25, 19.5, 19.75, 20.0, 20.88, 25.64, 31.48, 38.66, 47.48, 58.31, 71.61, 87.94, 108.0, 132.6,
    162.9, 200.0, 204.3, 303.9, 452.0, 672.3, 1000.0,
])
CLUMPY_WAVE_UM.setflags(write=False)

#: Domain of the generator (the CLUMPY parameter ranges).
CLUMPY_PARAM_RANGES = {
    "tv": (10.0, 300.0),
    "N0": (1.0, 15.0),
    "sig": (15.0, 70.0),
    "Y": (5.0, 100.0),
    "q": (0.0, 3.0),
    "i": (0.0, 90.0),
}

#: Default node values of :func:`clumpy_like_regular_grid` (CLUMPY-like spacing).
CLUMPY_REGULAR_VALUES = {
    "tv": (10.0, 20.0, 40.0, 60.0, 80.0, 120.0, 160.0, 200.0, 300.0),
    "N0": (1.0, 3.0, 5.0, 7.0, 10.0, 15.0),
    "sig": (15.0, 25.0, 35.0, 45.0, 55.0, 70.0),
    "Y": (5.0, 10.0, 20.0, 30.0, 50.0, 100.0),
    "q": (0.0, 1.0, 1.5, 2.0, 3.0),
    "i": (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0),
}

_LOG_SAMPLED = ("tv", "Y")   # sampled uniformly in log by clumpy_like_grid
_T_SUB_K = 1500.0            # dust sublimation temperature
_HC_K_UM = 14387.7688        # h c / k_B  [um K]
_C_UM_HZ = 2.99792458e14     # speed of light [um Hz]
_SCATTER_FRACTION = 2e-4     # fraction of the covered AGN light scattered towards the observer


def _albedo(wave_um: np.ndarray) -> np.ndarray:
    """Dust albedo: ~0.5 in the UV/optical, falling to ~0 beyond a few micron."""
    return 0.5 / (1.0 + (np.asarray(wave_um, dtype=float) / 1.5) ** 3)


def _extinction_ratio(wave_um: np.ndarray) -> np.ndarray:
    """k(lambda)/k(V): smooth power-law continuum plus silicate features at 9.7 and 18 um."""
    lam = np.asarray(wave_um, dtype=float)
    x = lam / 0.55
    # ~lambda^-1 in the UV/optical, ~lambda^-1.7 in the near/mid-IR, ~lambda^-2 in the far-IR
    cont = np.where(x < 1.0, x ** -1.0, x ** -1.7) * np.where(lam > 40.0, (lam / 40.0) ** -0.3, 1.0)
    sil10 = 0.054 * np.exp(-0.5 * ((lam - 9.7) / 1.1) ** 2)
    sil18 = 0.022 * np.exp(-0.5 * ((lam - 18.5) / 2.8) ** 2)
    return cont + sil10 + sil18


def _planck_shape(wave_um: np.ndarray, temp_k: np.ndarray) -> np.ndarray:
    """B_nu(T) up to a constant: nu^3 / (exp(h nu / k T) - 1); broadcasting ``temp_k[..., None]``."""
    x = _HC_K_UM / (wave_um * temp_k[..., None])
    x = np.minimum(x, 700.0)
    return (1.0 / wave_um ** 3) / np.expm1(x)


def _check_params(params) -> np.ndarray:
    params = check_array(params, name="params", ndim=2)
    if params.shape[1] != len(CLUMPY_PARAM_NAMES):
        raise ValueError(f"params: expected {len(CLUMPY_PARAM_NAMES)} columns {CLUMPY_PARAM_NAMES}, "
                         f"got shape {params.shape}")
    for j, name in enumerate(CLUMPY_PARAM_NAMES):
        lo, hi = CLUMPY_PARAM_RANGES[name]
        col = params[:, j]
        bad = (col < lo - 1e-9 * max(1.0, abs(lo))) | (col > hi + 1e-9 * max(1.0, abs(hi)))
        if bad.any():
            raise ValueError(f"params: {int(bad.sum())} value(s) of {name!r} outside the generator's domain "
                             f"[{lo}, {hi}] (e.g. {col[bad][0]!r})")
    return params


def _sed_chunk(p: np.ndarray, wave_um: np.ndarray, n_shells: int, include_agn: bool) -> np.ndarray:
    tv, n0, sig, yy, q, inc = (p[:, j] for j in range(6))
    kr = _extinction_ratio(wave_um)                       # (W,)
    tau = tv[:, None] * kr[None, :]                       # (n, W)
    absorb = -np.expm1(-tau)                              # 1 - exp(-tau): cloud opacity per wavelength

    # angular distribution: covering factor (sky average of 1 - exp(-N(beta)))
    beta = np.linspace(0.0, 90.0, 46)
    wb = np.cos(np.deg2rad(beta))
    wb /= wb.sum()
    nbeta = n0[:, None] * np.exp(-(beta[None, :] / sig[:, None]) ** 2)       # (n, B)
    cover = (wb[None, :] * -np.expm1(-nbeta)).sum(axis=1)                     # (n,)
    # mean number of clouds met by AGN light on the rays that are covered (for shadowing)
    n_mean = (wb[None, :] * nbeta * -np.expm1(-nbeta)).sum(axis=1) / np.maximum(cover, 1e-12)

    # radial shells: r from 1 to Y, logarithmic; clouds per unit radius ~ r^-q, area ~ r^2
    t = (np.arange(n_shells) + 0.5) / n_shells
    lnY = np.log(yy)
    r = np.exp(lnY[:, None] * t[None, :])                                     # (n, S)
    dr = r * (lnY[:, None] / n_shells)                                        # dr = r dlnr
    dens = r ** (-q[:, None]) * dr                                            # clouds in each shell
    cum = np.cumsum(dens, axis=1)
    tot = cum[:, -1:]
    f_in = (cum - 0.5 * dens) / tot                                           # fraction inside shell centre
    f_out = 1.0 - f_in

    # temperatures of heated / dark / shadowed faces
    t_h = _T_SUB_K * r ** -0.7                                                # (n, S)
    dark = 0.35 + 0.45 * np.exp(-tv / 60.0)
    t_d = t_h * dark[:, None]
    t_ind = 0.6 * t_h
    p_dir = np.exp(-n_mean[:, None] * f_in)                                   # directly heated fraction

    b_h = _planck_shape(wave_um, t_h)                                         # (n, S, W)
    b_d = _planck_shape(wave_um, t_d)
    b_i = _planck_shape(wave_um, t_ind)
    trans = np.exp(-tau)[:, None, :]
    a3 = absorb[:, None, :]
    s_heated = b_h * a3
    s_dark = b_d * a3 + s_heated * trans
    s_ind = b_i * a3 * (1.0 + trans) * 0.5

    # energy conservation: a cloud intercepts the same AGN luminosity at any radius (its size grows
    # as r), so every cloud re-emits the same luminosity; the torus re-emits cover x L_AGN in total
    pdir3 = p_dir[:, :, None]
    s_mean = pdir3 * 0.5 * (s_heated + s_dark) + (1.0 - pdir3) * s_ind
    nu = _C_UM_HZ / wave_um
    dlnu = np.abs(np.diff(np.log(nu)))
    g = s_mean * nu                                                           # nu F_nu per shell
    shell_bol = 0.5 * ((g[..., 1:] + g[..., :-1]) * dlnu).sum(axis=-1)        # (n, S)
    w_shell = dens / shell_bol
    norm = cover / dens.sum(axis=1)                                           # (n,)

    # viewing geometry
    inc_rad = np.deg2rad(inc)
    p_h = 0.5 + 0.42 * np.cos(inc_rad) * (1.0 - 0.45 * np.sin(np.deg2rad(sig)))  # heated faces in view
    beta_los = 90.0 - inc
    n_los = n0 * np.exp(-(beta_los / sig) ** 2)                               # (n,)
    ph3 = p_h[:, None, None]
    s_view = pdir3 * (ph3 * s_heated + (1.0 - ph3) * s_dark) + (1.0 - pdir3) * s_ind
    esc = np.exp(-(n_los[:, None, None] * f_out[:, :, None]) * a3)           # (n, S, W)
    sed = np.einsum("ns,nsw->nw", w_shell, s_view * esc) * norm[:, None]

    # AGN light scattered by the directly illuminated cloud faces (dominates the UV/optical)
    from ..photometry import accretion_disk_fnu

    disk = accretion_disk_fnu(wave_um)[None, :]                               # unit-luminosity disk
    w_sc = w_shell * p_dir
    w_sc = w_sc / w_sc.sum(axis=1, keepdims=True)
    esc_mean = np.einsum("ns,nsw->nw", w_sc, esc)
    sed = sed + (_SCATTER_FRACTION * cover * p_h)[:, None] * _albedo(wave_um)[None, :] * disk * esc_mean
    if include_agn:
        sed = sed + disk * np.exp(-n_los[:, None] * absorb)
    return sed


def clumpy_like_sed(params, *, wave_um=None, n_shells: int = 16, include_agn: bool = False,
                    chunk_size: int = 2048, progress=None) -> np.ndarray:
    """Compute clumpy-torus-like SEDs for an array of parameters.

    Parameters
    ----------
    params : array_like, shape (n_models, 6)
        Columns in the order :data:`CLUMPY_PARAM_NAMES` = (tv, N0, sig, Y, q, i),
        within :data:`CLUMPY_PARAM_RANGES` (else ``ValueError``).
    wave_um : array_like, shape (n_wave,), optional
        Wavelengths [um]; default :data:`CLUMPY_WAVE_UM` (119 points).
    n_shells : int
        Radial quadrature points.
    include_agn : bool
        Add the direct accretion-disk light, attenuated by the clouds on the line
        of sight (like CLUMPY's ``flux_toragn``); default torus only (``flux_tor``).
    chunk_size : int
        Models computed at once (memory ~ chunk_size * n_shells * n_wave * 8 B * ~10).
    progress : bool, optional
        Show a progress bar (``None``: only on a terminal).

    Returns
    -------
    fnu : ndarray, shape (n_models, n_wave), float64
        F_nu, strictly positive (see module docstring for units).

    Examples
    --------
    >>> import numpy as np
    >>> from agnlab.grids import clumpy_like_sed
    >>> fnu = clumpy_like_sed(np.array([[40.0, 5.0, 30.0, 20.0, 1.5, 60.0]]))
    >>> fnu.shape
    (1, 119)
    """
    params = _check_params(params)
    wave = CLUMPY_WAVE_UM if wave_um is None else check_array(wave_um, name="wave_um", ndim=1, positive=True)
    if np.any(np.diff(wave) <= 0):
        raise ValueError("wave_um: must be strictly increasing")
    if int(n_shells) < 2:
        raise ValueError(f"n_shells: need at least 2, got {n_shells}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
    from .._progress import progress as _bar

    out = np.empty((params.shape[0], wave.size), dtype=np.float64)
    starts = range(0, params.shape[0], int(chunk_size))
    disable = None if progress is None else not progress
    with np.errstate(over="ignore", under="ignore"):
        for s in _bar(starts, total=len(starts), desc="clumpy-like SEDs", disable=disable):
            e = s + int(chunk_size)
            out[s:e] = _sed_chunk(params[s:e], wave, int(n_shells), bool(include_agn))
    return out


def _sample_params(n_models: int, rng: np.random.Generator, ranges: dict) -> np.ndarray:
    cols = []
    for name in CLUMPY_PARAM_NAMES:
        lo, hi = ranges[name]
        u = rng.random(n_models)
        if name in _LOG_SAMPLED:
            cols.append(np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))))
        else:
            cols.append(lo + u * (hi - lo))
    return np.stack(cols, axis=1)


def _check_ranges(ranges) -> dict:
    out = dict(CLUMPY_PARAM_RANGES)
    if ranges is None:
        return out
    unknown = sorted(set(ranges) - set(CLUMPY_PARAM_NAMES))
    if unknown:
        raise ValueError(f"ranges: unknown parameter name(s) {unknown}; known: {list(CLUMPY_PARAM_NAMES)}")
    for name, (lo, hi) in ranges.items():
        dlo, dhi = CLUMPY_PARAM_RANGES[name]
        if not (dlo <= lo <= hi <= dhi):
            raise ValueError(f"ranges[{name!r}] = ({lo}, {hi}) must satisfy {dlo} <= lo <= hi <= {dhi}")
        out[name] = (float(lo), float(hi))
    return out


def clumpy_like_grid(n_models: int = 100_000, *, seed=0, ranges: dict | None = None, include_agn: bool = False,
                     n_shells: int = 16, progress=None):
    """A scattered grid of clumpy-torus-like SEDs with random parameters.

    Parameters are drawn uniformly (``tv`` and ``Y`` log-uniformly) inside
    ``ranges`` (default :data:`CLUMPY_PARAM_RANGES`). Deterministic for a given
    ``seed``. About 100,000 models take ~10-20 s on one core.

    Parameters
    ----------
    n_models : int
        Number of SEDs.
    seed : int or numpy.random.Generator
        Random seed.
    ranges : dict of name -> (lo, hi), optional
        Narrower ranges for some parameters (must lie inside the defaults).
    include_agn : bool
        Add attenuated accretion-disk light (torus + AGN SEDs).
    n_shells : int
        Radial quadrature points.
    progress : bool, optional
        Progress bar.

    Returns
    -------
    agnlab.grids.ModelGrid
        ``params`` (n_models, 6) in the order (tv, N0, sig, Y, q, i);
        ``wave_um`` (119,); ``flux`` (n_models, 119) F_nu.

    Examples
    --------
    >>> from agnlab.grids import clumpy_like_grid
    >>> grid = clumpy_like_grid(1000, seed=1)
    >>> grid.flux.shape
    (1000, 119)
    """
    from ._model_grid import ModelGrid

    n_models = int(n_models)
    if n_models < 1:
        raise ValueError(f"n_models: must be >= 1, got {n_models}")
    rng = check_random_state(seed)
    rng_ranges = _check_ranges(ranges)
    params = _sample_params(n_models, rng, rng_ranges)
    flux = clumpy_like_sed(params, n_shells=n_shells, include_agn=include_agn, progress=progress)
    meta = {"source": "agnlab.grids.clumpy_like_grid (approximation, not CLUMPY)",
            "seed": seed if isinstance(seed, int) else None, "include_agn": bool(include_agn),
            "flux_unit": "F_nu for unit AGN luminosity (arbitrary units)", "layout": "scattered"}
    return ModelGrid(params, list(CLUMPY_PARAM_NAMES), CLUMPY_WAVE_UM.copy(), flux, meta=meta)


def clumpy_like_regular_grid(values: dict | None = None, *, include_agn: bool = False, n_shells: int = 16,
                             progress=None):
    """A regular (Cartesian-product) grid of clumpy-torus-like SEDs.

    Parameters
    ----------
    values : dict of name -> sequence of float, optional
        Node values per parameter; missing names use :data:`CLUMPY_REGULAR_VALUES`
        (9 x 6 x 6 x 6 x 5 x 7 = 68,040 models by default).
    include_agn, n_shells, progress
        As in :func:`clumpy_like_grid`.

    Returns
    -------
    agnlab.grids.ModelGrid
        Models ordered as ``itertools.product`` of the node values (last
        parameter fastest).

    Examples
    --------
    >>> from agnlab.grids import clumpy_like_regular_grid
    >>> g = clumpy_like_regular_grid({"tv": [10, 100], "N0": [5], "sig": [30], "Y": [20], "q": [1], "i": [0, 90]})
    >>> g.flux.shape
    (4, 119)
    """
    from ._model_grid import ModelGrid

    nodes = {k: tuple(v) for k, v in CLUMPY_REGULAR_VALUES.items()}
    if values is not None:
        unknown = sorted(set(values) - set(CLUMPY_PARAM_NAMES))
        if unknown:
            raise ValueError(f"values: unknown parameter name(s) {unknown}; known: {list(CLUMPY_PARAM_NAMES)}")
        for name, v in values.items():
            arr = check_array(v, name=f"values[{name!r}]", ndim=1)
            if np.any(np.diff(np.sort(arr)) == 0):
                raise ValueError(f"values[{name!r}]: duplicate node values")
            nodes[name] = tuple(np.sort(arr).tolist())
    axes = [np.asarray(nodes[name], dtype=float) for name in CLUMPY_PARAM_NAMES]
    mesh = np.meshgrid(*axes, indexing="ij")
    params = np.stack([m.ravel() for m in mesh], axis=1)
    flux = clumpy_like_sed(params, n_shells=n_shells, include_agn=include_agn, progress=progress)
    meta = {"source": "agnlab.grids.clumpy_like_regular_grid (approximation, not CLUMPY)",
            "include_agn": bool(include_agn), "layout": "regular",
            "flux_unit": "F_nu for unit AGN luminosity (arbitrary units)",
            "axes": {name: list(nodes[name]) for name in CLUMPY_PARAM_NAMES}}
    return ModelGrid(params, list(CLUMPY_PARAM_NAMES), CLUMPY_WAVE_UM.copy(), flux, meta=meta)
