"""Tables larger than memory: fit an :class:`Explorer` on a random sample, apply it partition by partition.

Only steps that map new rows can run this way (KMeans, Gaussian mixture and
SOM clusters; PCA, autoencoder, SOM and UMAP embeddings; Isolation Forest,
Gaussian-mixture, PCA and autoencoder outliers). Scaling, trend removal and the
models are estimated on a uniform random sample of ``sample_rows`` rows, which
for these global models is statistically equivalent to the full table (the
sample size is reported); every row is then labelled, embedded and scored.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..scale import map_table, read_dataset, write_dataset

__all__ = ["explore_dataset"]

_INDUCTIVE = {"clustering": ("kmeans", "gmm", "som"), "embedding": ("pca", "autoencoder", "som", "umap"),
              "outliers": ("iforest", "gmm", "pca", "autoencoder")}


def _check_inductive(explorer):
    for step, allowed in _INDUCTIVE.items():
        method = getattr(explorer, step)
        if method is not None and method not in allowed:
            raise ValueError(f"{step}={method!r} cannot label rows outside the fitted sample; a partitioned table "
                             f"needs one of {allowed} (or None)")


def explore_dataset(source, out, explorer, *, sample_rows: int = 200_000, id_column: str | None = None,
                    top_outliers: int = 1000, client=None, overwrite: bool = False, progress: bool | None = None,
                    report: bool = True) -> dict:
    """Explore a partitioned table (Parquet folder/glob, CSV glob, or a Dask/pandas DataFrame).

    Steps: draw a uniform random sample of ``sample_rows`` rows and fit
    ``explorer`` on it; write ``out/rows/`` (partitioned Parquet, one row per
    input row: ``cluster``, ``embedding_*``, ``outlier_score``, ``flag``, indexed
    by ``id_column`` when given), ``out/outliers.parquet`` (the ``top_outliers``
    highest scores of the whole table, with ``flagged`` for those above the
    sample's ``outlier_fraction`` threshold), ``out/dataset.json`` (counts,
    timings) and, with ``report=True``, the Explorer's report of the sample in
    ``out/report/``. Rows out of the fitted domain are kept with their ``flag``.

    ``explorer`` is not modified: a clone (with ``on_out_of_domain="nan"``) is
    fitted and returned in ``summary["explorer"]`` (not written to JSON). Pass a
    ``client`` (:func:`agnlab.scale.dask_client`) to run on a cluster; without
    one Dask's local scheduler runs the partitions.
    """
    _check_inductive(explorer)
    out = Path(out).expanduser()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True to replace it")
    t0 = time.perf_counter()
    ddf = read_dataset(source)
    if id_column is not None and id_column not in ddf.columns:
        raise ValueError(f"id_column {id_column!r} is not a column of the dataset; columns: {list(ddf.columns)}")
    n_rows = int(ddf.map_partitions(len).sum().compute())
    if n_rows == 0:
        raise ValueError("the dataset has no rows")
    rng = np.random.default_rng(explorer.random_state if isinstance(explorer.random_state, (int, np.integer))
                                else None)
    frac = min(1.0, float(sample_rows) / n_rows)
    sample_ddf = ddf.sample(frac=frac, random_state=int(rng.integers(0, 2**31 - 1)))
    sample = _indexed(sample_ddf.compute(), id_column)
    t_sample = time.perf_counter() - t0
    fitted = clone(explorer).set_params(on_out_of_domain="nan").fit(sample)
    t_fit = time.perf_counter() - t0 - t_sample
    meta = _meta(fitted, id_column or "id")

    def part(df, model):
        if len(df) == 0:
            return meta.copy()
        res = model.apply(_indexed(df, id_column))
        return res.rename_axis(meta.index.name)        # text dtypes are set by map_table

    rows = map_table(part, ddf, meta, model=_without_fitted_rows(fitted))
    out.mkdir(parents=True, exist_ok=True)
    write_dataset(rows, out / "rows", overwrite=overwrite, client=client, progress=progress)
    t_apply = time.perf_counter() - t0 - t_sample - t_fit
    summary = _summarise(out, fitted, n_rows, len(sample), top_outliers)
    summary.update(seconds={"sample": t_sample, "fit": t_fit, "apply": t_apply, "total": time.perf_counter() - t0})
    (out / "dataset.json").write_text(json.dumps(summary, indent=2, default=float))
    if report:
        fitted.report(out / "report", title="agnlab explore report (fitted sample)")
    summary["explorer"] = fitted
    return summary


def _meta(fitted, index_name):
    """The empty table :meth:`Explorer.apply` returns, for Dask's ``meta``."""
    cols = {}
    if fitted.clustering is not None:
        cols["cluster"] = pd.Series(dtype=np.int64)
    for j in range(fitted.embedding_.shape[1] if fitted.embedding is not None else 0):
        cols[f"embedding_{j + 1}"] = pd.Series(dtype=float)
    if fitted.outliers is not None:
        cols["outlier_score"] = pd.Series(dtype=float)
    cols["flag"] = pd.Series(dtype="string")
    return pd.DataFrame(cols, index=pd.Index([], dtype="string", name=index_name))


def _without_fitted_rows(fitted):
    """A shallow copy that maps new rows but carries none of the sample's per-row arrays (tens of MB)."""
    light = copy.copy(fitted)
    for name in ("labels_", "embedding_", "outlier_score_", "feature_values_"):
        setattr(light, name, getattr(fitted, name)[:0])
    light.ids_ = []
    return light


def _indexed(df, id_column):
    if id_column is not None and id_column in df.columns:
        df = df.set_index(df[id_column].astype(str)).drop(columns=[id_column])
    return df


def _counts(part, threshold):
    """Per-partition counts (kind, key, n) of flags, clusters and rows above the outlier threshold."""
    rows = [("flag", str(k), int(v)) for k, v in part["flag"].value_counts().items()]
    if "cluster" in part.columns:
        rows += [("cluster", str(k), int(v)) for k, v in part["cluster"].value_counts().items()]
    if threshold is not None:
        rows.append(("flagged", "", int((part["outlier_score"] > threshold).sum())))
    return pd.DataFrame(rows, columns=["kind", "key", "n"]).astype({"kind": "string", "key": "string"})


def _summarise(out, fitted, n_rows, n_sample, top_outliers):
    import dask.dataframe as dd

    rows = dd.read_parquet(str(out / "rows"))
    summary = {"n_rows": n_rows, "n_sample": n_sample, "steps": {s: getattr(fitted, s) for s in _INDUCTIVE}}
    threshold = None
    if fitted.outliers is not None:
        sample_scores = fitted.outlier_score_[np.isfinite(fitted.outlier_score_)]
        threshold = float(np.quantile(sample_scores, 1.0 - float(fitted.outlier_fraction)))
    meta = pd.DataFrame({"kind": pd.Series(dtype="string"), "key": pd.Series(dtype="string"),
                         "n": pd.Series(dtype=np.int64)})
    counts = rows.map_partitions(_counts, threshold, meta=meta).compute().groupby(["kind", "key"])["n"].sum()
    summary["flags"] = {k: int(v) for k, v in counts.get("flag", pd.Series(dtype=int)).items()}
    if fitted.clustering is not None:
        clusters = counts.get("cluster", pd.Series(dtype=int))
        summary["cluster_counts"] = {k: int(clusters[k]) for k in sorted(clusters.index, key=int)}
    if threshold is not None:
        top = rows.nlargest(int(top_outliers), "outlier_score").compute()
        top = top.assign(rank=np.arange(1, len(top) + 1), flagged=top["outlier_score"].to_numpy() > threshold)
        top.to_parquet(out / "outliers.parquet")
        summary["outlier_threshold"] = threshold
        summary["n_flagged"] = int(counts.get("flagged", pd.Series([0])).sum())
    return summary
