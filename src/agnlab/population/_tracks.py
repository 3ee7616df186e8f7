"""Colour tracks: WISE colours of every model over a grid of viewing angles, at given redshifts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..validation import check_array

__all__ = ["QUICK_TRACK_NODES", "TRACK_NODES", "ColorTracks", "color_tracks", "track_generator", "tracks_from_grid"]

_COLORS = (("W1", "W2"), ("W2", "W3"))

#: Parameter nodes (CLUMPY names, without the viewing angle) of the built-in regular track grid:
#: 5 x 5 x 5 x 4 x 4 = 2,000 tracks per redshift (``agnlab population tracks``, the demo, the benchmark).
TRACK_NODES = {"tv": (10, 30, 80, 160, 300), "N0": (1, 4, 8, 12, 15), "sig": (15, 30, 45, 60, 70),
               "Y": (5, 20, 50, 100), "q": (0, 1, 2, 3)}

#: A smaller grid of the same kind (3 x 3 x 3 x 2 x 2 = 108 tracks per redshift) for quick runs.
QUICK_TRACK_NODES = {"tv": (10, 40, 160), "N0": (2, 6, 12), "sig": (20, 45, 70), "Y": (10, 50), "q": (0.5, 2.0)}


@dataclass
class ColorTracks:
    """Colours of model tracks.

    Attributes
    ----------
    colors : ndarray, shape (n_tracks, n_angles, n_colors)
        e.g. (W1-W2, W2-W3) at each viewing angle (float32).
    params : ndarray, shape (n_tracks, n_track_params)
        Parameters of each track (the model parameters without the angle, plus ``z``).
    param_names : list of str
    angles_deg : ndarray, shape (n_angles,)
    color_names : list of str
    w2_mag : ndarray, shape (n_tracks, n_angles), optional
        W2 magnitude (Vega) of every track point, for fits that forward-model a magnitude-dependent
        selection (``PopulationFit(selection=...)``).
    generator : callable, optional
        The forward model of the tracks, ``generator(params) -> colors`` (m, n_angles, n_colors) for rows
        of ``params`` (any values inside the model's domain; see :func:`track_generator`). Set by
        :func:`color_tracks`; lets ``PopulationFit(refine=...)`` move tracks off the library grid. Not
        written by :func:`save_tracks`.
    """

    colors: np.ndarray
    params: np.ndarray
    param_names: list
    angles_deg: np.ndarray
    color_names: list = field(default_factory=lambda: ["W1-W2", "W2-W3"])
    w2_mag: np.ndarray | None = None
    generator: object = field(default=None, repr=False, compare=False)

    @property
    def n_tracks(self) -> int:
        return int(self.colors.shape[0])


def _check_z(z):
    zs = np.atleast_1d(np.asarray(z, dtype=float))
    if zs.ndim != 1 or zs.size == 0 or not np.isfinite(zs).all() or (zs < 0).any():
        raise ValueError(f"z: need finite redshifts >= 0 (a number or 1-D sequence), got {z!r}")
    return zs


def color_tracks(model, params, *, angles_deg=None, angle_name="i", param_names=None, wave_um=None, z=0.0,
                 colors=_COLORS, chunk_size=50_000, progress=None) -> ColorTracks:
    """Colour tracks of models over viewing angles, from an emulator or any SED function.

    Parameters
    ----------
    model : object with ``predict(X) -> fnu`` (e.g. :class:`agnlab.emulate.NeuralEmulator`) or callable
        ``model(X) -> fnu`` (n, n_wave), e.g. ``agnlab.grids.clumpy_like_sed``. ``X`` holds the
        parameters in ``param_names`` order, including the viewing angle.
    params : array_like, shape (n_tracks, n_params - 1)
        Parameters of each track, without the angle (in ``param_names`` order with the angle removed).
    angles_deg : array_like, shape (n_angles,)
        Viewing angles (default 0, 10, ..., 90).
    angle_name : str
        Name of the viewing-angle parameter in ``param_names``.
    param_names : sequence of str, optional
        Full parameter order of ``model``; default ``model.param_names_``.
    wave_um : array_like, shape (n_wave,), optional
        Rest-frame wavelengths of the SEDs; default ``model.wave_um_``.
    z : float or sequence of float
        Redshift(s): tracks are made for every (model, z) pair; ``z`` is appended to the parameters.
    colors : sequence of (band_a, band_b)
        Colours to compute (default W1-W2, W2-W3; Vega).
    chunk_size : int
        SEDs evaluated per call (bounds memory).

    Returns
    -------
    ColorTracks
        ``colors`` (n_tracks * n_z, n_angles, n_colors); tracks ordered z-major.
    """
    from .._progress import progress as _bar
    from ..photometry import synthetic_colors

    names = list(param_names if param_names is not None else getattr(model, "param_names_", []) or [])
    if angle_name not in names:
        raise ValueError(f"angle_name {angle_name!r} is not among the model's parameters {names}; "
                         "pass param_names=[...] in the model's order")
    wave = wave_um if wave_um is not None else getattr(model, "wave_um_", None)
    if wave is None:
        raise ValueError("wave_um: not given and the model has no wave_um_ attribute")
    wave = check_array(wave, name="wave_um", ndim=1, positive=True)
    angles = np.linspace(0.0, 90.0, 10) if angles_deg is None else check_array(angles_deg, name="angles_deg", ndim=1)
    p = check_array(params, name="params", ndim=2)
    if p.shape[1] != len(names) - 1:
        raise ValueError(f"params: expected {len(names) - 1} columns {[n for n in names if n != angle_name]}, "
                         f"got {p.shape[1]}")
    zs = _check_z(z)
    predict = model.predict if hasattr(model, "predict") else model
    if not callable(predict):
        raise TypeError("model: needs a predict(X) method or must be callable")
    ja = names.index(angle_name)
    n_t, n_a = p.shape[0], angles.size
    full = np.insert(np.repeat(p, n_a, axis=0), ja, np.tile(angles, n_t), axis=1)   # (n_t * n_a, n_params)
    out = np.empty((zs.size, n_t * n_a, len(colors)), dtype=np.float32)
    starts = range(0, full.shape[0], int(chunk_size))
    disable = None if progress is None else not progress
    for s in _bar(starts, total=len(starts), desc="colour tracks", disable=disable):
        fnu = np.asarray(predict(full[s:s + chunk_size]), dtype=float)
        for k, zk in enumerate(zs):
            out[k, s:s + chunk_size] = synthetic_colors(wave, fnu, colors=colors, z=float(zk))
    track_params = np.concatenate([np.column_stack([p, np.full(n_t, zk)]) for zk in zs], axis=0)
    pnames = [n for n in names if n != angle_name] + ["z"]
    gen = track_generator(model, angles_deg=angles, angle_name=angle_name, param_names=names, wave_um=wave,
                          colors=colors)
    return ColorTracks(out.reshape(zs.size * n_t, n_a, len(colors)), track_params, pnames, angles,
                       [f"{a}-{b}" for a, b in colors], generator=gen)


def track_generator(model, *, angles_deg, angle_name="i", param_names=None, wave_um=None, colors=_COLORS):
    """The forward model of colour tracks as one callable: ``gen(params) -> colors``.

    ``params`` (m, n_params - 1 + 1): the model's parameters without the angle, in ``param_names`` order, then
    the redshift ``z`` (the layout of ``ColorTracks.params`` made by :func:`color_tracks`); each row may have
    its own redshift. Returns float32 colours (m, n_angles, n_colors) at ``angles_deg``. Used by
    ``PopulationFit(refine=...)`` to evaluate tracks between library points.
    """
    from ..photometry import synthetic_colors

    names = list(param_names if param_names is not None else getattr(model, "param_names_", []) or [])
    if angle_name not in names:
        raise ValueError(f"angle_name {angle_name!r} is not among the model's parameters {names}")
    wave = check_array(wave_um if wave_um is not None else getattr(model, "wave_um_", None), name="wave_um",
                       ndim=1, positive=True)
    angles = check_array(angles_deg, name="angles_deg", ndim=1)
    predict = model.predict if hasattr(model, "predict") else model
    ja = names.index(angle_name)
    n_p = len(names) - 1

    def generator(params):
        p = check_array(params, name="params", ndim=2)
        if p.shape[1] != n_p + 1:
            raise ValueError(f"params: expected {n_p + 1} columns (model parameters without the angle, then z), "
                             f"got {p.shape[1]}")
        _check_z(p[:, -1])
        n_t, n_a = p.shape[0], angles.size
        full = np.insert(np.repeat(p[:, :n_p], n_a, axis=0), ja, np.tile(angles, n_t), axis=1)
        fnu = np.asarray(predict(full), dtype=float).reshape(n_t, n_a, -1)
        out = np.empty((n_t, n_a, len(colors)), dtype=np.float32)
        for k in range(n_t):
            out[k] = synthetic_colors(wave, fnu[k], colors=colors, z=float(p[k, -1]))
        return out

    return generator


def tracks_from_grid(grid, *, angle_name="i", z=0.0, colors=_COLORS) -> ColorTracks:
    """Colour tracks directly from a :class:`agnlab.grids.ModelGrid` whose models share angle sets.

    Models are grouped by their non-angle parameters; every group must contain the
    same set of viewing angles (a regular grid in the angle), else ``ValueError``.

    Returns
    -------
    ColorTracks
    """
    from ..photometry import synthetic_colors

    names = list(grid.param_names)
    if angle_name not in names:
        raise ValueError(f"angle_name {angle_name!r} not in grid parameters {names}")
    ja = names.index(angle_name)
    params = np.asarray(grid.params, float)
    angles = np.unique(params[:, ja])
    other = np.delete(params, ja, axis=1)
    keys, inv = np.unique(other, axis=0, return_inverse=True)
    inv = inv.ravel()
    n_t, n_a = keys.shape[0], angles.size
    if params.shape[0] != n_t * n_a or np.bincount(inv, minlength=n_t).min() != n_a:
        raise ValueError(f"grid: {params.shape[0]} models do not form {n_t} tracks x {n_a} angles; "
                         "every parameter combination needs every viewing angle")
    ia = np.searchsorted(angles, params[:, ja])
    zs = _check_z(z)
    out = np.full((zs.size, n_t, n_a, len(colors)), np.nan, dtype=np.float32)
    for k, zk in enumerate(zs):
        c = synthetic_colors(grid.wave_um, grid.flux, colors=colors, z=float(zk))
        out[k, inv, ia] = c
    track_params = np.concatenate([np.column_stack([keys, np.full(n_t, zk)]) for zk in zs], axis=0)
    pnames = [n for n in names if n != angle_name] + ["z"]
    return ColorTracks(out.reshape(zs.size * n_t, n_a, len(colors)), track_params, pnames, angles,
                       [f"{a}-{b}" for a, b in colors])
