"""Out-of-core feature extraction and classification with Dask, partition by partition (``agnlab.scale``)."""

from __future__ import annotations

import pandas as pd

from ..scale import map_table
from ._features import extract_features, feature_names

__all__ = ["classify_dask", "extract_features_dask", "group_by_object", "probability_table"]


def group_by_object(ddf):
    """``ddf`` with every object's rows in one partition: unchanged when they already are, else shuffled.

    Each partition reports the 64-bit hashes of its distinct objects (8 bytes per object); their count
    equals the number of distinct hashes overall exactly when no object is split across partitions (a
    hash collision could only trigger an unneeded shuffle). The whole frame is read, partition by
    partition as the features later see it: counting a column alone lets Dask merge many files into one
    partition, which exhausted 2 GB workers on 50 files of 4 million rows.
    """
    import dask
    import numpy as np

    def hashes(df):
        ids = pd.Series(df["object_id"].unique())
        return pd.Series(pd.util.hash_pandas_object(ids, index=False).to_numpy(np.uint64))

    parts = dask.compute(*ddf.map_partitions(hashes, meta=pd.Series(dtype="uint64")).to_delayed())
    if not parts:
        return ddf
    split = sum(len(h) for h in parts)
    total = np.unique(np.concatenate([h.to_numpy() for h in parts])).size
    if split == total:
        return ddf
    return ddf.shuffle("object_id")


def extract_features_dask(ddf, *, bands=("g", "r"), villar: bool = True, **kwargs):
    """:func:`extract_features` on every partition of a Dask DataFrame (lazy; call ``.compute()``).

    Every object's rows must lie in one partition (:func:`group_by_object` makes sure of it, e.g.
    ``ddf = ddf.set_index("object_id")`` then ``reset_index()``, or files written per object range).
    ``bands`` must be given so that every partition has the same columns. Threads are pinned per task.
    """
    names = feature_names(tuple(bands), villar=villar)
    meta = pd.DataFrame({**{n: pd.Series(dtype=float) for n in names}, "flag": pd.Series(dtype=object)})
    meta.index = pd.Index([], name="object_id", dtype=object)

    def part(df, _model):
        if len(df) == 0:
            return meta.copy()
        return extract_features(df.reset_index() if "object_id" not in df.columns else df, bands=bands,
                                villar=villar, **kwargs)

    return map_table(part, ddf, meta)


def classify_dask(classifier, features_ddf):
    """Class probabilities (the 15 classes, then ``group_*``, and ``class``) of a Dask feature table.

    ``features_ddf`` is indexed by ``object_id`` (or has that column); the fitted classifier is shipped
    to each worker once.
    """
    classes = list(classifier.classes_)
    groups = list(classifier.groups_)
    meta = pd.DataFrame({"class": pd.Series(dtype=object), **{c: pd.Series(dtype=float) for c in classes},
                         **{f"group_{g}": pd.Series(dtype=float) for g in groups}})
    meta.index = pd.Index([], name="object_id", dtype=object)

    def part(df, clf):
        if "object_id" in df.columns:
            df = df.set_index(df["object_id"].astype(str)).drop(columns=["object_id"])
        if len(df) == 0:
            return meta.copy()
        return probability_table(clf, df)

    return map_table(part, features_ddf, meta, model=classifier)


def probability_table(clf, feats: pd.DataFrame) -> pd.DataFrame:
    """``class`` (the most probable), the class probabilities and the top-level ``group_*`` ones."""
    proba = clf.predict_proba(feats)
    top = clf.predict_proba(feats, level="top")
    out = pd.concat([proba, top.add_prefix("group_")], axis=1)
    out.insert(0, "class", proba.columns.to_numpy()[proba.to_numpy().argmax(axis=1)])
    return out.rename_axis("object_id")
