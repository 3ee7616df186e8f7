"""Out-of-core feature extraction and classification with Dask, partition by partition (``agnlab.scale``)."""

from __future__ import annotations

import pandas as pd

from ..scale import map_table
from ._features import extract_features, feature_names

__all__ = ["classify_dask", "extract_features_dask", "group_by_object", "probability_table"]


def group_by_object(ddf):
    """``ddf`` with every object's rows in one partition: unchanged when they already are, else shuffled.

    The per-partition counts of distinct objects add up to the global count exactly when no object
    is split across partitions. (Counted on the whole frame: a column alone may be read with small
    files merged into fewer partitions than the features later see.)
    """
    import dask

    per_partition = ddf.map_partitions(lambda df: pd.Series([df["object_id"].nunique()]),
                                       meta=pd.Series(dtype="int64")).sum()
    split, total = dask.compute(per_partition, ddf["object_id"].nunique())
    if int(split) == int(total):
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
