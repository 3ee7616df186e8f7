"""The method names of :class:`~agnlab.explore.Explorer` (light: the CLI reads them without sklearn)."""

__all__ = ["CLUSTERINGS", "EMBEDDINGS", "OUTLIERS", "TRANSDUCTIVE"]

CLUSTERINGS = ("kmeans", "gmm", "agglomerative", "hdbscan", "som")
EMBEDDINGS = ("pca", "umap", "tsne", "lle", "autoencoder", "som")
OUTLIERS = ("iforest", "lof", "gmm", "autoencoder", "pca")
#: methods with no mapping for new rows (fitted rows only)
TRANSDUCTIVE = ("tsne", "agglomerative", "hdbscan", "lof")
