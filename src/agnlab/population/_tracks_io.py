"""Colour-track files: what ``agnlab population tracks`` writes and ``population fit`` reads (safe npz)."""

from __future__ import annotations

import numpy as np

from ._tracks import ColorTracks

__all__ = ["TRACKS_KIND", "load_tracks", "save_tracks"]

TRACKS_KIND = "color_tracks"


def save_tracks(tracks: ColorTracks, path, *, metadata: dict | None = None):
    """Write ``tracks`` as an agnlab artifact (arrays + JSON, no pickle); returns the path."""
    from ..io import save_artifact

    arrays = {"colors": tracks.colors, "params": tracks.params, "angles_deg": tracks.angles_deg,
              "param_names": np.array(tracks.param_names)}
    if getattr(tracks, "w2_mag", None) is not None:
        arrays["w2_mag"] = np.asarray(tracks.w2_mag, np.float32)
    return save_artifact(path, kind=TRACKS_KIND, arrays=arrays,
                         metadata={"color_names": list(tracks.color_names), **(metadata or {})})


def load_tracks(path) -> dict:
    """Arrays of a tracks file: an artifact of :func:`save_tracks`, or a plain npz with ``colors``; or a
    folder of ``tracks-*.npz`` shards (``agnlab population tracks --dask``), concatenated in order.

    Returns ``{"colors": (n_tracks, n_angles, 2), ...}`` plus ``angles_deg``, ``params`` and
    ``param_names`` (and ``w2_mag``) when the file has them; errors name the file.
    """
    from pathlib import Path

    if Path(path).is_dir():
        return _load_shards(Path(path))
    return _load_file(path)


_PER_TRACK = ("colors", "params", "w2_mag")  # concatenated over shards; the rest must agree


def _load_shards(folder) -> dict:
    files = sorted(folder.glob("tracks-*.npz"))
    if not files:
        raise ValueError(f"{folder}: a folder without tracks-*.npz shards (write it with "
                         "'agnlab population tracks --dask ... --out FOLDER')")
    parts = [_load_file(f) for f in files]
    first = parts[0]
    for f, part in zip(files[1:], parts[1:]):
        if set(part) != set(first):
            raise ValueError(f"{f}: holds arrays {sorted(part)}, but {files[0].name} holds {sorted(first)}")
        for key in set(first) - set(_PER_TRACK):
            if not np.array_equal(part[key], first[key]):
                raise ValueError(f"{f}: its {key!r} differs from {files[0].name}'s; shards of one run share it")
    return {k: (np.concatenate([p[k] for p in parts]) if k in _PER_TRACK else v) for k, v in first.items()}


def _load_file(path) -> dict:
    from ..io import load_artifact, read_npz

    arrays = read_npz(path, what="tracks file")
    if arrays.pop("__agnlab_metadata__", None) is not None:
        arrays, meta = load_artifact(path)
        if meta["_kind"] != TRACKS_KIND:
            raise ValueError(f"{path}: holds a {meta['_kind']!r}, not colour tracks (write them with "
                             "'agnlab population tracks')")
    colors = arrays.get("colors")
    if colors is None or colors.ndim != 3 or colors.shape[2] != 2 or not np.issubdtype(colors.dtype, np.number):
        found = {k: list(v.shape) for k, v in arrays.items()}
        raise ValueError(f"{path}: needs a numeric array 'colors' of shape (n_tracks, n_angles, 2); found {found}")
    return arrays
