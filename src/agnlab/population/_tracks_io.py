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
    """Arrays of a tracks file: an artifact of :func:`save_tracks`, or a plain npz with ``colors``.

    Returns ``{"colors": (n_tracks, n_angles, 2), ...}`` plus ``angles_deg``, ``params`` and
    ``param_names`` (and ``w2_mag``) when the file has them; errors name the file.
    """
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
