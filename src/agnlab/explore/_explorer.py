"""``Explorer``: preprocessing, clustering, embedding, outliers and interpretation of one table.

Which steps apply to new rows (``transform``/``predict``/``score_samples``)
and which survive ``save``/``load``:

============== ======================== ==========================================
step           new rows (same session)  after save/load
============== ======================== ==========================================
preprocessing  yes                      yes (arrays)
pca            yes                      yes (components)
autoencoder    yes                      yes (weights, .npz)
som            yes                      yes (codebook)
umap, lle      yes                      no (no safe file format; refit)
tsne           no (transductive)        labels/embedding of the fitted rows only
kmeans, gmm    yes                      yes (centres / mixture parameters)
agglomerative, no (transductive)        labels of the fitted rows only
hdbscan
iforest        yes                      no (trees are not saved; refit)
gmm (outliers) yes                      yes
lof            no (transductive)        scores of the fitted rows only
autoencoder,   yes                      yes
pca (outliers)
============== ======================== ==========================================

The fitted rows' ``labels_``, ``embedding_``, ``outlier_score_``, summaries and
feature values are always saved, so ``report`` works after ``load``.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd

from .._estimator import AgnlabEstimator, compute_context
from ._interpret import average_by, cluster_summary, embedding_bins
from ._methods import CLUSTERINGS, EMBEDDINGS, OUTLIERS, TRANSDUCTIVE
from ._preprocess import Preprocessor, _as_frame

__all__ = ["CLUSTERINGS", "EMBEDDINGS", "Explorer", "OUTLIERS", "TRANSDUCTIVE"]

_MIN_ROWS = {"kmeans": 2, "gmm": 2, "agglomerative": 3, "hdbscan": 5, "som": 4, "pca": 2, "umap": 10, "tsne": 5,
             "lle": 6, "autoencoder": 8, "iforest": 4, "lof": 6}
_GMM_ATTRS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _gmm_from_arrays(arrays, prefix):
    from sklearn.mixture import GaussianMixture

    means = np.asarray(arrays[prefix + "means_"], dtype=float)
    cov = np.asarray(arrays[prefix + "covariances_"])
    g = GaussianMixture(n_components=len(means), covariance_type="full" if cov.ndim == 3 else "diag")
    for a in _GMM_ATTRS:
        setattr(g, a, np.asarray(arrays[prefix + a], dtype=float))
    chol = g.precisions_cholesky_
    g.precisions_ = np.einsum("kij,klj->kil", chol, chol) if cov.ndim == 3 else chol ** 2
    g.converged_, g.n_iter_, g.lower_bound_ = True, 0, 0.0
    g.n_features_in_ = means.shape[1]
    return g


def _frame_dict(df):
    return {"columns": list(df.columns), "data": df.astype(object).where(df.notna(), None).values.tolist()}


def _dict_frame(d):
    return pd.DataFrame(d["data"], columns=d["columns"]).infer_objects()


class Explorer(AgnlabEstimator):
    """Unsupervised exploration of a multi-wavelength table.

    ``fit(table)`` preprocesses (:class:`Preprocessor`), then runs the chosen
    clustering, embedding and outlier steps (each can be ``None``), and
    summarises the clusters. See the module docstring for which steps apply to
    new rows and survive ``save``.

    Parameters
    ----------
    features, log, scaling, survey_column, control, impute, upper_limits, limit_suffix
        Preprocessing (see :class:`Preprocessor`).
    clustering : {"gmm", "kmeans", "agglomerative", "hdbscan", "som"} or None
    n_clusters : int or "auto"
        ``"auto"``: Gaussian mixture picks by ``criterion`` (BIC/AIC) over
        ``2..max_clusters``; KMeans and agglomerative by silhouette.
    max_clusters : int
    criterion : {"bic", "aic"}
    covariance_type : {"auto", "full", "diag"}
        Gaussian-mixture covariances; ``"auto"`` selects between full and
        diagonal with ``criterion`` (diagonal wins on small tables with many features).
    censored_distance : bool
        Agglomerative (average linkage) and HDBSCAN use
        :func:`censored_distances` (upper limits as limits, missing skipped)
        instead of Euclidean distances on imputed values (dense n x n: n <= 20000).
    min_cluster_size : int, optional
        HDBSCAN (default: max(5, n // 100)).
    embedding : {"pca", "umap", "tsne", "lle", "autoencoder", "som"} or None
    n_components : int
        Embedding dimension (also the autoencoder's latent size).
    n_neighbors : int
        UMAP and LLE neighbours, LOF neighbours.
    outliers : {"iforest", "lof", "gmm", "autoencoder", "pca"} or None
        ``outlier_score_`` is higher for more anomalous rows; ``"gmm"`` is the
        negative log-likelihood under the Gaussian mixture (the clustering's
        when ``clustering="gmm"``, else one chosen by BIC); ``"pca"`` is the
        reconstruction error from the principal components holding 90 % of the variance.
    outlier_fraction : float
        Fraction flagged in ``outlier_ranking_``.
    som_shape : (int, int)
    som_backend : {"auto", "minisom", "numpy"}
    hidden, max_epochs, batch_size, validation_fraction
        Autoencoder size and training.
    stability_resamples : int
        Bootstrap refits of the clustering; ``stability_`` holds the adjusted
        Rand index against ``labels_`` (0: skipped).
    stability_max_rows : int
        Rows per bootstrap sample at most.
    on_out_of_domain : {"raise", "nan"}
    random_state, n_jobs, progress
        Shared vocabulary; ``n_jobs=None`` fits with one thread (measured: t-SNE
        on a loaded 2-core machine ran 100x slower with the default OpenMP
        threads), ``-1`` uses every core.

    Attributes
    ----------
    preprocessor_ : Preprocessor
    features_ : list of str
    labels_ : ndarray of int, shape (n_rows,)  (-1: HDBSCAN noise; all 0 without clustering)
    embedding_ : ndarray, shape (n_rows, n_components)  (empty without embedding)
    outlier_score_ : ndarray, shape (n_rows,)  (NaN without outliers)
    outlier_ranking_ : DataFrame  (row, id, score, rank, flagged, top_features)
    cluster_summary_ : DataFrame  (cluster, n, feature, median, median_rest, effect_size)
    model_selection_ : DataFrame or None  (n_clusters, bic, aic, or silhouette)
    stability_ : dict  (ari_mean, ari_std, ari, n_resamples)
    feature_values_ : ndarray, shape (n_rows, n_features)  (input units after logs, NaN = missing)
    ids_ : list of str  (table index of the fitted rows)
    training_record_ : dict

    Examples
    --------
    >>> from agnlab.explore import Explorer, mock_table
    >>> table, truth = mock_table(300, seed=0)
    >>> ex = Explorer(survey_column="survey", control=["redshift"], clustering="kmeans", n_clusters=6,
    ...               random_state=0).fit(table)
    >>> ex.labels_.shape, ex.embedding_.shape, ex.outlier_score_.shape
    ((300,), (300, 2), (300,))
    """

    _fitted_attributes = ("preprocessor_", "labels_", "embedding_", "outlier_score_")

    def __init__(self, *, features=None, log=(), scaling="robust", survey_column=None, control=(),
                 impute="median", upper_limits="censored", limit_suffix="_ul", clustering="gmm",
                 n_clusters="auto", max_clusters=10, criterion="bic", covariance_type="auto", censored_distance=False,
                 min_cluster_size=None, embedding="pca", n_components=2, n_neighbors=15, outliers="iforest",
                 outlier_fraction=0.01, som_shape=(8, 8), som_backend="auto", hidden=32, max_epochs=100,
                 batch_size=256, validation_fraction=0.2, stability_resamples=0, stability_max_rows=5000,
                 on_out_of_domain="raise", random_state=None, n_jobs=None, progress=None):
        self.features = features
        self.log = log
        self.scaling = scaling
        self.survey_column = survey_column
        self.control = control
        self.impute = impute
        self.upper_limits = upper_limits
        self.limit_suffix = limit_suffix
        self.clustering = clustering
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.criterion = criterion
        self.covariance_type = covariance_type
        self.censored_distance = censored_distance
        self.min_cluster_size = min_cluster_size
        self.embedding = embedding
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.outliers = outliers
        self.outlier_fraction = outlier_fraction
        self.som_shape = som_shape
        self.som_backend = som_backend
        self.hidden = hidden
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.stability_resamples = stability_resamples
        self.stability_max_rows = stability_max_rows
        self.on_out_of_domain = on_out_of_domain
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        for name, value, allowed in (("clustering", self.clustering, CLUSTERINGS),
                                     ("embedding", self.embedding, EMBEDDINGS),
                                     ("outliers", self.outliers, OUTLIERS)):
            if value is not None and value not in allowed:
                raise ValueError(f"{name} must be one of {allowed} or None, got {value!r}")
        if self.covariance_type not in ("auto", "full", "diag"):
            raise ValueError(f"covariance_type must be 'auto', 'full' or 'diag', got {self.covariance_type!r}")
        if self.criterion not in ("bic", "aic"):
            raise ValueError(f"criterion must be 'bic' or 'aic', got {self.criterion!r}")
        if not (self.n_clusters == "auto" or (isinstance(self.n_clusters, (int, np.integer))
                                              and not isinstance(self.n_clusters, bool) and self.n_clusters >= 1)):
            raise ValueError(f"n_clusters must be a positive int or 'auto', got {self.n_clusters!r}")
        if int(self.max_clusters) < 2:
            raise ValueError(f"max_clusters must be >= 2, got {self.max_clusters!r}")
        if int(self.n_components) < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components!r}")
        if not 0.0 < float(self.outlier_fraction) < 0.5:
            raise ValueError(f"outlier_fraction must lie in (0, 0.5), got {self.outlier_fraction!r}")
        if self.censored_distance and self.clustering not in ("agglomerative", "hdbscan"):
            raise ValueError("censored_distance=True applies to clustering='agglomerative' or 'hdbscan', "
                             f"not {self.clustering!r}")

    def _check_rows(self, n):
        for step in (self.clustering, self.embedding, self.outliers):
            if step is not None and n < _MIN_ROWS[step]:
                raise ValueError(f"{step}: {n} row(s) are too few; at least {_MIN_ROWS[step]} are needed")
        if self.clustering in ("kmeans", "gmm", "agglomerative") and isinstance(self.n_clusters, (int, np.integer)) \
                and self.n_clusters > n:
            raise ValueError(f"{self.clustering}: n_clusters={self.n_clusters} exceeds the {n} rows")
        if self.embedding == "lle" and int(self.n_neighbors) >= n:
            raise ValueError(f"lle: n_neighbors={self.n_neighbors} must be below the {n} rows")
        if self.embedding in ("pca",) and int(self.n_components) > min(n, len(self.features_)):
            raise ValueError(f"pca: n_components={self.n_components} exceeds min(rows, features) = "
                             f"{min(n, len(self.features_))}")
        if (self.censored_distance or self.clustering == "agglomerative") and n > 20000:
            raise ValueError(f"{self.clustering}: {n} rows need a dense {n} x {n} distance matrix; use at most "
                             "20000 rows (subsample) or kmeans/gmm")

    def _preprocessor(self):
        return Preprocessor(features=self.features, log=self.log, scaling=self.scaling,
                            survey_column=self.survey_column, control=self.control, impute=self.impute,
                            upper_limits=self.upper_limits, limit_suffix=self.limit_suffix, min_rows=2,
                            on_out_of_domain=self.on_out_of_domain)

    # ------------------------------------------------------------------ fit
    def fit(self, table, y=None):
        """Preprocess ``table`` and run the chosen steps; returns ``self``."""
        self._check_params()
        t0 = time.perf_counter()
        rng = self._rng()
        df = _as_frame(table)
        pre = self._preprocessor().fit(df)
        self.features_ = list(pre.features_)
        self._check_rows(len(df))
        Xf, masks = pre.transform(df, return_masks=True)
        X = Xf.to_numpy()
        raw, _ = pre._raw(df, self.features_, fitting=False)
        self.preprocessor_ = pre
        self._models = {}
        self._model_state = {}
        record = {"n_rows": len(df), "n_features": len(self.features_), "steps": {}}
        with compute_context(self.n_jobs, default_threads=1, torch_rng=rng if self._needs_torch() else None):
            labels, sel = self._fit_clustering(X, masks, rng, record)
            emb = self._fit_embedding(X, rng, record)
            score = self._fit_outliers(X, rng, record)
            stability = self._stability(X, masks, labels, rng) if self.clustering else None
        self.labels_ = labels
        self.embedding_ = emb
        self.outlier_score_ = score
        self.model_selection_ = sel
        self.stability_ = stability
        self.feature_values_ = raw
        self.ids_ = [str(i) for i in df.index]
        self.cluster_summary_ = cluster_summary(labels, X, raw, self.features_)
        self.outlier_ranking_ = self._ranking(X, score)
        record["fit_seconds"] = time.perf_counter() - t0
        record["n_clusters"] = int(len(set(labels.tolist()) - {-1}))
        if stability:
            record["stability_ari_mean"] = stability["ari_mean"]
        self.training_record_ = record
        return self

    def _needs_torch(self):
        return self.embedding == "autoencoder" or self.outliers == "autoencoder"

    def _seed(self, rng):
        return int(rng.integers(0, 2**31 - 1))

    # ---- clustering
    def _cluster_model(self, k, seed, cov="full"):
        from sklearn.cluster import KMeans
        from sklearn.mixture import GaussianMixture

        if self.clustering == "kmeans":
            return KMeans(n_clusters=k, n_init=4, random_state=seed)
        return GaussianMixture(n_components=k, covariance_type=cov, n_init=1, random_state=seed,
                               reg_covar=1e-5, max_iter=200)

    def _covariance_types(self):
        if self.clustering != "gmm":
            return ("full",)
        return ("full", "diag") if self.covariance_type == "auto" else (self.covariance_type,)

    def _distances(self, X, masks):
        from ._preprocess import censored_distances

        Xm = np.where(masks["missing"], np.nan, X)
        return censored_distances(Xm, masks["upper_limit"])

    def _fit_clustering(self, X, masks, rng, record, *, refit_k=None):
        """Labels of ``X``; with ``refit_k`` (stability) the same method with a fixed k, nothing stored."""
        method = self.clustering
        n = len(X)
        store = refit_k is None
        if method is None:
            return np.zeros(n, dtype=np.int64), None
        t0 = time.perf_counter()
        sel = None
        seed = self._seed(rng)
        kmax = max(2, min(int(self.max_clusters), n - 1))
        if method in ("kmeans", "gmm"):
            if refit_k is not None or (self.n_clusters != "auto" and len(self._covariance_types()) == 1):
                k = refit_k or int(self.n_clusters)
                cov = getattr(self._models.get("cluster"), "covariance_type", self._covariance_types()[0])
                model = self._cluster_model(k, seed, cov).fit(X)
            else:
                rows = []
                best, model = None, None
                sub = X if n <= 3000 else X[rng.choice(n, 3000, replace=False)]
                ks = range(2, kmax + 1) if self.n_clusters == "auto" else [int(self.n_clusters)]
                for k, cov in ((k, c) for c in self._covariance_types() for k in ks):
                    m = self._cluster_model(k, seed, cov).fit(X)
                    if method == "gmm":
                        bic, aic = float(m.bic(X)), float(m.aic(X))
                        rows.append({"n_clusters": k, "covariance_type": cov, "bic": bic, "aic": aic})
                        val = bic if self.criterion == "bic" else aic
                    else:
                        from sklearn.metrics import silhouette_score

                        lab = m.predict(sub)
                        sil = float(silhouette_score(sub, lab)) if len(set(lab.tolist())) > 1 else -1.0
                        rows.append({"n_clusters": k, "silhouette": sil, "inertia": float(m.inertia_)})
                        val = -sil
                    if best is None or val < best:
                        best, model = val, m
                sel = pd.DataFrame(rows)
            labels = model.predict(X).astype(np.int64)
            if store:
                self._models["cluster"] = model
        elif method == "agglomerative":
            from sklearn.cluster import AgglomerativeClustering

            if self.censored_distance:
                D = self._distances(X, masks)
                D = np.where(np.isfinite(D), D, np.nanmax(D))

                def make(k):
                    return AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average")
                data = D
            else:
                def make(k):
                    return AgglomerativeClustering(n_clusters=k, linkage="ward")
                data = X
            if refit_k is not None or self.n_clusters != "auto":
                labels = make(refit_k or int(self.n_clusters)).fit_predict(data)
            else:
                from sklearn.metrics import silhouette_score

                rows, best, labels = [], None, None
                for k in range(2, kmax + 1):
                    lab = make(k).fit_predict(data)
                    sil = float(silhouette_score(X, lab))
                    rows.append({"n_clusters": k, "silhouette": sil})
                    if best is None or sil > best:
                        best, labels = sil, lab
                sel = pd.DataFrame(rows)
            labels = np.asarray(labels, dtype=np.int64)
        elif method == "hdbscan":
            from sklearn.cluster import HDBSCAN

            mcs = int(self.min_cluster_size or max(5, n // 100))
            if self.censored_distance:
                D = self._distances(X, masks)
                D = np.where(np.isfinite(D), D, np.nanmax(D))
                labels = HDBSCAN(min_cluster_size=mcs, metric="precomputed").fit_predict(D)
            else:
                labels = HDBSCAN(min_cluster_size=mcs).fit_predict(X)
            labels = np.asarray(labels, dtype=np.int64)
        else:  # som
            from ._som import som_bmu, train_som

            W = train_som(X, self.som_shape, rng=np.random.default_rng(seed), backend=self.som_backend)
            labels = som_bmu(X, W)
            if store:
                self._model_state["som_weights"] = W
        if store:
            record["steps"]["clustering"] = {"method": method, "seconds": time.perf_counter() - t0}
        return labels, sel

    def _stability(self, X, masks, labels, rng):
        """ARI between ``labels_`` and refits on bootstrap samples (same k), on the sampled rows."""
        from sklearn.metrics import adjusted_rand_score

        n_res = int(self.stability_resamples)
        if n_res <= 0:
            return None
        k = max(2, len(set(labels.tolist()) - {-1}))
        aris = []
        for _ in range(n_res):
            m = min(len(X), int(self.stability_max_rows))
            idx = rng.choice(len(X), m, replace=True)
            idx = np.unique(idx)
            sub_masks = {key: v[idx] for key, v in masks.items()}
            lab, _ = self._fit_clustering(X[idx], sub_masks, rng, {}, refit_k=k)
            aris.append(float(adjusted_rand_score(labels[idx], lab)))
        return {"ari_mean": float(np.mean(aris)), "ari_std": float(np.std(aris)), "ari": aris,
                "n_resamples": n_res}

    # ---- embedding
    def _autoencoder(self, X, rng, record):
        if "autoencoder" not in self._models:
            from ._autoencoder import train_autoencoder

            net, rec = train_autoencoder(X, latent=int(self.n_components), hidden=int(self.hidden),
                                         max_epochs=int(self.max_epochs), batch_size=int(self.batch_size),
                                         validation_fraction=float(self.validation_fraction), rng=rng,
                                         progress=self.progress)
            self._models["autoencoder"] = net
            record["steps"]["autoencoder"] = rec
        return self._models["autoencoder"]

    def _fit_embedding(self, X, rng, record):
        method = self.embedding
        n = len(X)
        k = int(self.n_components)
        if method is None:
            return np.zeros((n, 0))
        t0 = time.perf_counter()
        seed = self._seed(rng)
        if method == "pca":
            from sklearn.decomposition import PCA

            pca = PCA(n_components=k, random_state=seed).fit(X)
            self._model_state["pca_components"] = pca.components_
            self._model_state["pca_mean"] = pca.mean_
            self._model_state["pca_explained"] = pca.explained_variance_ratio_
            emb = (X - pca.mean_) @ pca.components_.T
        elif method == "umap":
            try:
                import umap
            except ImportError:
                raise ImportError("embedding='umap' needs umap-learn: pip install 'agnlab[explore]'") from None
            model = umap.UMAP(n_components=k, n_neighbors=min(int(self.n_neighbors), n - 1), random_state=seed,
                              n_jobs=1)
            emb = model.fit_transform(X)
            self._models["embedding"] = model
        elif method == "tsne":
            from sklearn.manifold import TSNE

            perplexity = min(30.0, max(1.0, (n - 1) / 3.0))
            emb = TSNE(n_components=k, perplexity=perplexity, random_state=seed, init="pca").fit_transform(X)
        elif method == "lle":
            from sklearn.manifold import LocallyLinearEmbedding

            model = LocallyLinearEmbedding(n_components=k, n_neighbors=min(int(self.n_neighbors), n - 1),
                                           random_state=seed, eigen_solver="dense" if n < 2000 else "auto")
            emb = model.fit_transform(X)
            self._models["embedding"] = model
        elif method == "autoencoder":
            net = self._autoencoder(X, rng, record)
            emb = self._encode(net, X)
        else:  # som
            emb = self._som_embedding(X, rng)
        record["steps"]["embedding"] = {"method": method, "seconds": time.perf_counter() - t0}
        return np.asarray(emb, dtype=float)

    def _som_embedding(self, X, rng=None):
        from ._som import som_bmu, train_som

        W = self._model_state.get("som_weights")
        if W is None:
            W = train_som(X, self.som_shape, rng=np.random.default_rng(self._seed(rng)), backend=self.som_backend)
            self._model_state["som_weights"] = W
        cell = som_bmu(X, W)
        cols = W.shape[1]
        return np.column_stack([cell // cols, cell % cols]).astype(float)

    @staticmethod
    def _encode(net, X):
        from ..nn import predict_batched

        return predict_batched(net.encoder, X).astype(float)

    @staticmethod
    def _recon_error(net, X):
        from ..nn import predict_batched

        R = predict_batched(net, X).astype(float)
        return np.mean((R - X) ** 2, axis=1)

    # ---- outliers
    def _fit_outliers(self, X, rng, record):
        method = self.outliers
        n = len(X)
        if method is None:
            return np.full(n, np.nan)
        t0 = time.perf_counter()
        seed = self._seed(rng)
        if method == "iforest":
            from sklearn.ensemble import IsolationForest

            model = IsolationForest(n_estimators=200, max_samples=min(256, n), random_state=seed,
                                    n_jobs=self.n_jobs).fit(X)
            self._models["outliers"] = model
            score = -model.score_samples(X)
        elif method == "lof":
            from sklearn.neighbors import LocalOutlierFactor

            lof = LocalOutlierFactor(n_neighbors=min(int(self.n_neighbors) + 5, n - 1)).fit(X)
            score = -lof.negative_outlier_factor_
        elif method == "autoencoder":
            score = self._recon_error(self._autoencoder(X, rng, record), X)
        elif method == "gmm":
            model = self._models.get("cluster") if self.clustering == "gmm" else None
            if model is None:
                from sklearn.mixture import GaussianMixture

                kmax = max(2, min(int(self.max_clusters), n - 1))
                ks = [int(self.n_clusters)] if self.n_clusters != "auto" else range(2, kmax + 1)
                fits = [GaussianMixture(k, covariance_type="full", random_state=seed, reg_covar=1e-5).fit(X)
                        for k in ks]
                model = min(fits, key=lambda m: m.bic(X))
                self._models["outlier_gmm"] = model
            score = -model.score_samples(X)
        else:  # pca reconstruction error
            from sklearn.decomposition import PCA

            pca = PCA(n_components=0.9, svd_solver="full").fit(X)
            self._model_state["opca_components"] = pca.components_
            self._model_state["opca_mean"] = pca.mean_
            self._model_state["opca_scale"] = np.sqrt(np.maximum(np.var(X - pca.inverse_transform(
                pca.transform(X)), axis=0), 1e-12))
            score = self._pca_error(X)
        record["steps"]["outliers"] = {"method": method, "seconds": time.perf_counter() - t0}
        return np.asarray(score, dtype=float)

    def _pca_error(self, X):
        C, mu, s = (self._model_state[k] for k in ("opca_components", "opca_mean", "opca_scale"))
        R = (X - mu) @ C.T @ C + mu
        return np.mean(((X - R) / s) ** 2, axis=1)

    def _ranking(self, X, score):
        if self.outliers is None:
            return pd.DataFrame(columns=["row", "id", "score", "rank", "flagged", "top_features"])
        order = np.argsort(-score, kind="stable")
        n_flag = max(1, int(round(float(self.outlier_fraction) * len(score))))
        top = order[: max(n_flag, min(len(order), 100))]
        names = np.array(self.features_)
        tops = [", ".join(names[np.argsort(-np.abs(X[i]))[:3]]) for i in top]
        return pd.DataFrame({"row": top, "id": [self.ids_[i] for i in top], "score": score[top],
                             "rank": np.arange(1, len(top) + 1), "flagged": np.arange(len(top)) < n_flag,
                             "top_features": tops})

    # ------------------------------------------------------------------ new rows
    def _prepared(self, table, return_flags=False):
        self._check_fitted()
        # a shallow copy carries this call's policy: predict leaves the fitted preprocessor unchanged
        prep = copy.copy(self.preprocessor_).set_params(on_out_of_domain=self.on_out_of_domain)
        X, flags = prep.transform(table, return_flags=True)
        return X.to_numpy(), flags

    def _unavailable(self, what, method):
        if method in TRANSDUCTIVE:
            return ValueError(f"{what} {method!r} is transductive: it has no mapping for new rows; fit the "
                              "Explorer on the combined table instead")
        return ValueError(f"{what} {method!r} is not kept in saved files (no safe format); refit the Explorer "
                          "to apply it to new rows")

    def _embed_rows(self, X):
        m = self.embedding
        if m is None:
            raise ValueError("no embedding was fitted (embedding=None)")
        if m == "pca":
            return (X - self._model_state["pca_mean"]) @ self._model_state["pca_components"].T
        if m == "autoencoder" and "autoencoder" in self._models:
            return self._encode(self._models["autoencoder"], X)
        if m == "som":
            return self._som_embedding(X)
        if m in ("umap", "lle") and "embedding" in self._models:
            return self._models["embedding"].transform(X)
        raise self._unavailable("embedding", m)

    def _cluster_rows(self, X):
        m = self.clustering
        if m is None:
            raise ValueError("no clustering was fitted (clustering=None)")
        if m in ("kmeans", "gmm") and "cluster" in self._models:
            return self._models["cluster"].predict(X)
        if m == "som":
            from ._som import som_bmu

            return som_bmu(X, self._model_state["som_weights"])
        raise self._unavailable("clustering", m)

    def _score_rows(self, X):
        m = self.outliers
        if m is None:
            raise ValueError("no outlier step was fitted (outliers=None)")
        if m == "iforest" and "outliers" in self._models:
            return -self._models["outliers"].score_samples(X)
        if m == "autoencoder" and "autoencoder" in self._models:
            return self._recon_error(self._models["autoencoder"], X)
        if m == "pca":
            return self._pca_error(X)
        if m == "gmm":
            model = self._models.get("outlier_gmm") or (self._models.get("cluster") if self.clustering == "gmm"
                                                         else None)
            if model is not None:
                return -model.score_samples(X)
        raise self._unavailable("outlier method", m)

    def _rows(self, table, compute, out):
        X, flags = self._prepared(table)
        ok = flags == "ok"
        out = out(len(X))
        if ok.any():
            out[ok] = compute(X[ok])
        return out, flags

    def transform(self, table, *, return_flags: bool = False):
        """Embedding of new rows, shape (n, n_components); NaN rows out of domain (``on_out_of_domain='nan'``)."""
        out, flags = self._rows(table, self._embed_rows, lambda n: np.full((n, self.embedding_.shape[1]), np.nan))
        return (out, flags) if return_flags else out

    def predict(self, table, *, return_flags: bool = False):
        """Cluster labels of new rows (-1 for out-of-domain rows with ``on_out_of_domain='nan'``)."""
        out, flags = self._rows(table, self._cluster_rows, lambda n: np.full(n, -1, dtype=np.int64))
        return (out, flags) if return_flags else out

    def score_samples(self, table, *, return_flags: bool = False):
        """Outlier score of new rows (higher = more anomalous; NaN for out-of-domain rows)."""
        out, flags = self._rows(table, self._score_rows, lambda n: np.full(n, np.nan))
        return (out, flags) if return_flags else out

    def apply(self, table) -> pd.DataFrame:
        """Every fitted step that maps new rows, in one pass: a table indexed like ``table``.

        Columns: ``cluster`` (-1 out of domain), ``embedding_1..k``, ``outlier_score`` (NaN out of
        domain) for the steps that were fitted, and ``flag`` ("ok" or why the row was left out).
        Raises for a transductive or unsaved step (see the module docstring).
        """
        X, flags = self._prepared(table)
        ok, n = flags == "ok", len(X)
        steps = []
        if self.clustering is not None:
            steps.append((["cluster"], self._cluster_rows, np.full(n, -1, dtype=np.int64)))
        if self.embedding is not None:
            k = self.embedding_.shape[1]
            steps.append(([f"embedding_{j + 1}" for j in range(k)], self._embed_rows, np.full((n, k), np.nan)))
        if self.outliers is not None:
            steps.append((["outlier_score"], self._score_rows, np.full(n, np.nan)))
        res = pd.DataFrame(index=table.index if isinstance(table, pd.DataFrame) else pd.RangeIndex(n))
        for names, compute, values in steps:
            if ok.any():
                values[ok] = compute(X[ok])
            for j, name in enumerate(names):
                res[name] = values if values.ndim == 1 else values[:, j]
        res["flag"] = np.asarray(flags, dtype=object)
        return res

    # ------------------------------------------------------------------ interpretation
    def top_features(self, cluster, n: int = 5) -> pd.DataFrame:
        """The ``n`` features with the largest |effect size| for ``cluster``."""
        self._check_fitted()
        s = self.cluster_summary_
        sub = s.loc[s["cluster"] == int(cluster)]
        if sub.empty:
            raise ValueError(f"no cluster {cluster!r}; clusters are {sorted(set(s['cluster']))}")
        return sub.head(int(n)).reset_index(drop=True)

    def average_objects(self, by: str = "cluster", values=None, *, bins: int = 8, names=None) -> pd.DataFrame:
        """Average object per group of the fitted rows.

        Parameters
        ----------
        by : {"cluster", "embedding", "som"}
            Clusters, a ``bins x bins`` grid over the first two embedding axes,
            or SOM cells (clustering or embedding ``"som"``).
        values : array_like, shape (n_rows, m), optional
            What to average, e.g. a spectrum or SED per row linked to the
            table (default: the features in input units).
        """
        self._check_fitted()
        if by == "cluster":
            keys = self.labels_
        elif by == "embedding":
            if self.embedding_.shape[1] == 0:
                raise ValueError("no embedding was fitted")
            keys, _, _ = embedding_bins(self.embedding_, bins)
        elif by == "som":
            if "som_weights" not in self._model_state:
                raise ValueError("no SOM was fitted (clustering or embedding 'som')")
            if self.clustering == "som":
                keys = self.labels_
            else:
                cols = self._model_state["som_weights"].shape[1]
                keys = (self.embedding_[:, 0] * cols + self.embedding_[:, 1]).astype(np.int64)
        else:
            raise ValueError(f"by must be 'cluster', 'embedding' or 'som', got {by!r}")
        if values is None:
            values, names = self.feature_values_, self.features_
        return average_by(keys, values, names)

    def report(self, path, *, title: str = "agnlab explore report", interactive: bool | None = None,
               max_points: int = 20000):
        """Write the HTML report (``path/index.html``, ``metrics.json``, PNG figures); returns the HTML path.

        ``interactive=None`` adds plotly figures when plotly is installed (PNG figures always).
        """
        from ._report import write_report

        self._check_fitted()
        return write_report(self, path, title=title, interactive=interactive, max_points=max_points,
                            seed=self.random_state if isinstance(self.random_state, int) else 0)

    # ------------------------------------------------------------------ persistence
    def _get_state(self):
        arrays, pre_meta = self.preprocessor_._get_state()
        arrays = {f"pre.{k}": v for k, v in arrays.items()}
        for k, v in self._model_state.items():
            arrays[f"state.{k}"] = np.asarray(v)
        cl = self._models.get("cluster")
        if cl is not None and self.clustering == "kmeans":
            arrays["kmeans.centers"] = cl.cluster_centers_
        elif cl is not None and self.clustering == "gmm":
            arrays.update({f"gmm.{a}": getattr(cl, a) for a in _GMM_ATTRS})
        if "outlier_gmm" in self._models:
            arrays.update({f"ogmm.{a}": getattr(self._models["outlier_gmm"], a) for a in _GMM_ATTRS})
        if "autoencoder" in self._models:
            from ..nn import module_to_arrays

            arrays.update(module_to_arrays(self._models["autoencoder"], prefix="ae."))
        arrays.update({"labels": self.labels_, "embedding": self.embedding_, "outlier_score": self.outlier_score_,
                       "feature_values": self.feature_values_})
        meta = {"preprocessor": pre_meta, "features": list(self.features_), "ids": list(self.ids_),
                "cluster_summary": _frame_dict(self.cluster_summary_),
                "outlier_ranking": _frame_dict(self.outlier_ranking_),
                "model_selection": None if self.model_selection_ is None else _frame_dict(self.model_selection_),
                "stability": self.stability_,
                "unsaved": sorted(k for k in self._models if k not in ("cluster", "autoencoder", "outlier_gmm")),
                "n_ae_in": len(self.features_)}
        return arrays, meta

    def _set_state(self, arrays, meta):
        pre = self._preprocessor()
        pre._set_state({k[4:]: v for k, v in arrays.items() if k.startswith("pre.")}, meta["preprocessor"])
        self.preprocessor_ = pre
        self.features_ = [str(f) for f in meta["features"]]
        self.ids_ = [str(i) for i in meta["ids"]]
        self._model_state = {k[6:]: np.asarray(v) for k, v in arrays.items() if k.startswith("state.")}
        self._models = {}
        if "kmeans.centers" in arrays:
            from sklearn.cluster import KMeans

            c = np.asarray(arrays["kmeans.centers"], dtype=float)
            km = KMeans(n_clusters=len(c), n_init=1, init=c, max_iter=1).fit(c)
            km.cluster_centers_ = c
            self._models["cluster"] = km
        if "gmm.means_" in arrays:
            self._models["cluster"] = _gmm_from_arrays(arrays, "gmm.")
        if "ogmm.means_" in arrays:
            self._models["outlier_gmm"] = _gmm_from_arrays(arrays, "ogmm.")
        if any(k.startswith("ae.") for k in arrays):
            from ..nn import arrays_to_module
            from ._autoencoder import build_net

            net = build_net(int(meta["n_ae_in"]), int(self.n_components), int(self.hidden))
            self._models["autoencoder"] = arrays_to_module(net, arrays, prefix="ae.").eval()
        self.labels_ = np.asarray(arrays["labels"], dtype=np.int64)
        self.embedding_ = np.asarray(arrays["embedding"], dtype=float)
        self.outlier_score_ = np.asarray(arrays["outlier_score"], dtype=float)
        self.feature_values_ = np.asarray(arrays["feature_values"], dtype=float)
        self.cluster_summary_ = _dict_frame(meta["cluster_summary"])
        self.outlier_ranking_ = _dict_frame(meta["outlier_ranking"])
        self.model_selection_ = None if meta.get("model_selection") is None else _dict_frame(meta["model_selection"])
        self.stability_ = meta.get("stability")
