"""Out-of-core feature extraction with Dask (``map_partitions``)."""

from __future__ import annotations

import pandas as pd

from ._features import extract_features, feature_names

__all__ = ["extract_features_dask"]


def extract_features_dask(ddf, *, bands=("g", "r"), villar: bool = True, **kwargs):
    """:func:`extract_features` on every partition of a Dask DataFrame (lazy; call ``.compute()``).

    Every object's rows must lie in one partition (e.g. ``ddf = ddf.set_index("object_id")`` then
    ``reset_index()``, or files written per object range). ``bands`` must be given so that every
    partition has the same columns.
    """
    names = feature_names(tuple(bands), villar=villar)
    meta = pd.DataFrame({**{n: pd.Series(dtype=float) for n in names}, "flag": pd.Series(dtype=object)})
    meta.index = pd.Index([], name="object_id", dtype=object)

    def part(df):
        if len(df) == 0:
            return meta.copy()
        return extract_features(df.reset_index() if "object_id" not in df.columns else df, bands=bands,
                                villar=villar, **kwargs)

    return ddf.map_partitions(part, meta=meta)


