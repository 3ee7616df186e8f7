"""Unsupervised exploration of multi-wavelength tables: preprocessing, clustering, embeddings, outliers.

A table is a pandas DataFrame with one row per object: numeric feature columns
(log fluxes, colours, line properties), optional boolean upper-limit flags
``<feature>_ul`` (the feature then holds the limit), an optional survey column
and control columns (known trends such as ``redshift``) to regress out.

>>> from agnlab.explore import Explorer, mock_table
>>> table, truth = mock_table(300, seed=0)
>>> ex = Explorer(survey_column="survey", control=["redshift"], clustering="gmm", n_clusters=6,
...               random_state=0).fit(table)
>>> sorted(set(ex.labels_.tolist()))
[0, 1, 2, 3, 4, 5]
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "CLUSTERINGS": "._methods",
    "EMBEDDINGS": "._methods",
    "OUTLIERS": "._methods",
    "TRANSDUCTIVE": "._methods",
    "Explorer": "._explorer",
    "Preprocessor": "._preprocess",
    "explore_dataset": "._dataset",
    "censored_distances": "._preprocess",
    "select_features": "._preprocess",
    "mock_table": "._mock",
    "train_som": "._som",
    "som_bmu": "._som",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
