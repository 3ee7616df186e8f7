"""``agnlab demo`` section of the explore workflow (the built-in mock table, no files)."""

from __future__ import annotations

__all__ = ["run_demo"]


def run_demo(report, *, seed: int = 0, quick: bool = False) -> None:
    """Mock multi-wavelength table with planted groups, trend, gaps, limits and outliers; one report section."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from . import Explorer, mock_table
    from ._report import _effect_figure, _embedding_2d, _grid_figure, _sample

    n = 1500 if quick else 6000
    table, truth = mock_table(n, seed=seed)
    sec = report.section("explore", "Explore: clusters, embeddings and outliers of a multi-wavelength table",
                         intro=(f"A mock table of {n} objects, 20 log-flux/line features, 6 planted groups, a "
                                "redshift trend, two surveys with calibration offsets, 10 % missing values, 5 % "
                                "upper limits and 1 % planted outliers (seed "
                                f"{seed}). Per-survey robust scaling, redshift regressed out, Gaussian mixture "
                                "with BIC model selection, PCA embedding, mixture-density outlier scores."))
    ex = Explorer(survey_column="survey", control=("redshift",), clustering="gmm", max_clusters=8,
                  embedding="pca", outliers="gmm", stability_resamples=2 if quick else 5,
                  random_state=seed).fit(table.set_index("object_id"))
    E, axes = _embedding_2d(ex)
    idx = _sample(n, 5000, seed)
    sec.figure(_grid_figure(ex, E, idx, axes), "PCA embedding coloured by cluster, outlier score and every feature")
    sec.figure(_effect_figure(ex), "effect size of every feature per cluster")
    sec.table(ex.model_selection_.round(1), "Gaussian-mixture model selection (lowest BIC chosen)")
    sec.table(ex.outlier_ranking_.loc[ex.outlier_ranking_["flagged"]].merge(
        truth.rename(columns={"object_id": "id"}), on="id")[["rank", "id", "score", "outlier", "top_features"]],
        "flagged outliers (truth: planted outlier)")
    o = truth["outlier"].to_numpy()
    k = max(1, int(o.sum()))
    flagged = np.argsort(-ex.outlier_score_)[:k]
    z = table["redshift"].to_numpy()
    sec.metrics({"ari": float(adjusted_rand_score(truth["group"], ex.labels_)),
                 "n_clusters": int(len(set(ex.labels_.tolist()))),
                 "outlier_recall_at_1pct": float(o[flagged].mean()),
                 "max_abs_r_embedding_redshift": float(max(abs(np.corrcoef(z, ex.embedding_[:, j])[0, 1])
                                                           for j in range(ex.embedding_.shape[1]))),
                 "stability_ari_mean": ex.stability_["ari_mean"]})
