"""Tests of agnlab.explore: preprocessing, methods, interpretation, save/load, report, CLI, demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

import agnlab.report
from agnlab.explore import Explorer, Preprocessor, censored_distances, mock_table
from agnlab.registry import demo_function


@pytest.fixture(scope="module")
def data():
    return mock_table(600, seed=0)


@pytest.fixture(scope="module")
def fitted(data):
    table, _ = data
    return Explorer(survey_column="survey", control=("redshift",), clustering="gmm", max_clusters=8,
                    outliers="gmm", stability_resamples=2, random_state=0).fit(table.set_index("object_id"))


# ----------------------------------------------------------------- preprocessing
def test_mock_table_is_seeded_and_planted(seed):
    a, ta = mock_table(200, seed=seed)
    b, _ = mock_table(200, seed=seed)
    pd.testing.assert_frame_equal(a, b)
    feats = [c for c in a.columns if c.startswith("logf_") and not c.endswith("_ul")]
    assert len(feats) == 20 and ta["group"].nunique() == 6 and int(ta["outlier"].sum()) == 2
    np.testing.assert_allclose(a[feats].isna().to_numpy().mean(), 0.10, atol=0.02)
    np.testing.assert_allclose(a[[f + "_ul" for f in feats]].to_numpy().mean(), 0.05 * 0.9, atol=0.01)


def test_trend_and_survey_offsets_removed(data):
    table, _ = data
    X = Preprocessor(survey_column="survey", control=["redshift"]).fit_transform(table).to_numpy()
    r = [abs(np.corrcoef(table["redshift"], X[:, j])[0, 1]) for j in range(X.shape[1])]
    assert max(r) < 0.15      # 600 rows: sampling noise ~0.04, limits clipped; the benchmark checks < 0.1 at scale
    raw = Preprocessor().fit_transform(table)
    assert max(abs(np.corrcoef(table["redshift"], raw.iloc[:, j])[0, 1]) for j in range(20)) > 0.5
    a, b = (np.median(X[(table["survey"] == s).to_numpy()], axis=0) for s in ("survey_A", "survey_B"))
    np.testing.assert_allclose(a, b, atol=0.35)     # calibration offsets (0.5 sigma per feature) removed


def test_masks_and_censored_imputation(data):
    table, _ = data
    pre = Preprocessor(survey_column="survey").fit(table)
    X, masks = pre.transform(table, return_masks=True)
    assert masks["missing"].sum() == table[pre.features_].isna().to_numpy().sum()
    assert np.isfinite(X.to_numpy()).all()
    lim = masks["upper_limit"]
    limit_scaled = pre.set_params(upper_limits="value").transform(table).to_numpy()
    assert (X.to_numpy()[lim] <= limit_scaled[lim] + 1e-12).all()


def test_log_and_knn():
    df = pd.DataFrame({"a": [1.0, 10.0, 100.0, np.nan], "b": [1.0, 2.0, 3.0, 4.0]})
    X = Preprocessor(log=["a"], scaling="none", impute="knn", n_neighbors=1).fit_transform(df)
    np.testing.assert_allclose(X["a"].to_numpy()[:3], [0.0, 1.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(X["a"].iloc[3], 2.0, atol=1e-12)     # neighbour b=3 has log a = 2


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.assign(logf_g=np.inf), "logf_g.*infinite"),
    (lambda d: d.assign(logf_g=3.0), "logf_g.*constant"),
    (lambda d: d.assign(logf_g=np.nan), "logf_g.*all NaN"),
    (lambda d: d.assign(**{c: np.where(d.index < 2, np.nan, d[c]) for c in d.columns
                           if c.startswith("logf_") and not c.endswith("_ul")}), "2 row.*every feature missing"),
])
def test_bad_input_names_the_column(data, mutate, match):
    with pytest.raises(ValueError, match=match):
        Preprocessor(control=["redshift"]).fit(mutate(data[0].copy()))


def test_bad_input_types_and_sizes(data):
    table, _ = data
    with pytest.raises(TypeError, match="logf_g.*not numeric"):
        Preprocessor(features=["logf_g", "logf_r"]).fit(table.assign(logf_g="x"))
    with pytest.raises(ValueError, match="log.*logf_g"):
        Preprocessor(log=["logf_g"]).fit(table)
    with pytest.raises(ValueError, match="tsne.*too few"):
        Explorer(embedding="tsne", clustering=None, outliers=None).fit(table.iloc[:3])
    with pytest.raises(ValueError, match="n_clusters=50 exceeds"):
        Explorer(clustering="kmeans", n_clusters=50).fit(table.iloc[:20])
    with pytest.raises(ValueError, match="clustering must be"):
        Explorer(clustering="dbscan").fit(table)


def test_censored_distances():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, np.nan]])
    lim = np.array([[True, False], [False, False], [False, False]])
    D = censored_distances(X, lim)
    np.testing.assert_allclose(D[0, 1], 1.0, atol=1e-12)   # 1 brighter than the limit 0: penalised
    np.testing.assert_allclose(D[0, 2], 0.0, atol=1e-12)   # -1 fainter than the limit: consistent
    np.testing.assert_allclose(D[1, 2], 2.0 * np.sqrt(2.0), atol=1e-12)   # one feature used, rescaled
    np.testing.assert_allclose(D, D.T, atol=1e-12)


# ----------------------------------------------------------------- methods
def test_gmm_path_recovers_groups_outliers_and_trend(data, fitted):
    table, truth = data
    assert adjusted_rand_score(truth["group"], fitted.labels_) > 0.9
    o = truth["outlier"].to_numpy()
    flagged = fitted.outlier_ranking_.loc[fitted.outlier_ranking_["flagged"], "row"].to_numpy()
    assert o[flagged].mean() >= 0.5
    r = [abs(np.corrcoef(table["redshift"], fitted.embedding_[:, k])[0, 1]) for k in range(2)]
    assert max(r) < 0.15
    assert {"n_clusters", "bic", "aic"} <= set(fitted.model_selection_.columns)
    assert 0.0 <= fitted.stability_["ari_mean"] <= 1.0 and len(fitted.stability_["ari"]) == 2


def test_interpretation(fitted):
    top = fitted.top_features(0, 3)
    assert len(top) == 3 and top["effect_size"].abs().is_monotonic_decreasing
    avg = fitted.average_objects("cluster")
    assert avg["n"].sum() == len(fitted.labels_) and "logf_g" in avg.columns
    spectra = np.arange(len(fitted.labels_))[:, None] * np.ones((1, 5))
    binned = fitted.average_objects("embedding", values=spectra, bins=4)
    assert binned.shape[1] == 2 + 5 and binned["n"].sum() == len(fitted.labels_)


@pytest.mark.parametrize("clustering, embedding, outliers, extra", [
    pytest.param("kmeans", "umap", "iforest", {"n_clusters": "auto", "max_clusters": 4},
                 marks=pytest.mark.slow),      # numba compiles UMAP for ~20 s on first use
    ("agglomerative", "tsne", "lof", {"n_clusters": 3, "censored_distance": True}),
    ("hdbscan", "lle", "pca", {"min_cluster_size": 10}),
    ("som", "som", "autoencoder", {"som_shape": (3, 3), "max_epochs": 3}),
    (None, "autoencoder", None, {"max_epochs": 3}),
])
def test_every_method_runs_on_tiny_data(data, clustering, embedding, outliers, extra):
    if embedding == "umap":
        pytest.importorskip("umap")
    table = data[0].iloc[:120]
    ex = Explorer(survey_column="survey", clustering=clustering, embedding=embedding, outliers=outliers,
                  n_neighbors=10, random_state=0, **extra).fit(table)
    assert ex.labels_.shape == (120,) and ex.embedding_.shape == (120, 2)
    assert np.isfinite(ex.embedding_).all()
    if outliers:
        assert np.isfinite(ex.outlier_score_).all() and ex.outlier_ranking_["flagged"].sum() == 1


def test_transductive_steps_refuse_new_rows(data):
    table = data[0].iloc[:80]
    ex = Explorer(clustering="hdbscan", embedding="tsne", outliers="lof", random_state=0).fit(table)
    for call in (ex.transform, ex.predict, ex.score_samples):
        with pytest.raises(ValueError, match="transductive"):
            call(table)


def test_save_load_keeps_results_and_refuses_unsaved(data, tmp_path):
    table = data[0].iloc[:150]
    ex = Explorer(clustering="kmeans", n_clusters=4, embedding="pca", outliers="iforest", random_state=0).fit(table)
    loaded = Explorer.load(ex.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.labels_, ex.labels_)
    np.testing.assert_allclose(loaded.transform(table), ex.transform(table), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(loaded.predict(table), ex.predict(table))
    np.testing.assert_allclose(ex.score_samples(table), ex.outlier_score_, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="not kept in saved files"):
        loaded.score_samples(table)
    pd.testing.assert_frame_equal(loaded.cluster_summary_, ex.cluster_summary_, check_dtype=False, rtol=1e-12)


def test_same_seed_same_result(data):
    table = data[0].iloc[:150]
    a = Explorer(clustering="gmm", n_clusters=3, outliers="iforest", random_state=3).fit(table)
    b = Explorer(clustering="gmm", n_clusters=3, outliers="iforest", random_state=3).fit(table)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.outlier_score_, b.outlier_score_, rtol=0, atol=0)


# ----------------------------------------------------------------- report, CLI, demo
@pytest.mark.parametrize("interactive", [False, True])
def test_report(fitted, tmp_path, interactive):
    if interactive:
        pytest.importorskip("plotly")
    path = fitted.report(tmp_path / "rep", interactive=interactive)
    text = path.read_text()
    assert "<img" in text and "flagged outliers" in text and "effect size" in text
    assert ("explore-embedding" in text) == interactive
    assert (tmp_path / "rep" / "figures" / "embedding_by_feature.png").stat().st_size > 1000


def _cli(argv):
    from agnlab.cli import build_parser
    from agnlab.cli_common import check_outputs

    args = build_parser().parse_args(argv)
    check_outputs(args)
    return args.func(args)


def test_cli_on_a_csv(data, tmp_path):
    table, _ = data
    csv = tmp_path / "t.csv"
    table.iloc[:200].to_csv(csv, index=False)
    assert _cli(["explore", str(csv), "--out", str(tmp_path / "rep"), "--control", "redshift", "--survey-column",
                 "survey", "--clustering", "kmeans", "--n-clusters", "6", "--no-interactive",
                 "--labels-out", str(tmp_path / "l.csv"), "--save-model", str(tmp_path / "m.npz")]) == 0
    out = pd.read_csv(tmp_path / "l.csv")
    assert len(out) == 200 and {"cluster", "outlier_score", "embedding_1"} <= set(out.columns)
    assert Explorer.load(tmp_path / "m.npz").labels_.shape == (200,)
    from agnlab.cli_common import CLIError

    with pytest.raises(CLIError, match="already exists"):
        _cli(["explore", str(csv), "--out", str(tmp_path / "rep")])


def test_demo_section():
    run_demo = demo_function("explore")

    rep = agnlab.report.Report("t")
    run_demo(rep, seed=0, quick=True)
    m = rep.metrics["explore"]
    assert m["ari"] > 0.85 and m["max_abs_r_embedding_redshift"] < 0.1


# ----------------------------------------------------------------- composition and scale
def test_explorer_in_a_pipeline(data):
    """Explorer as a transformer step: clone, nested set_params, fit, transform and a downstream model."""
    from sklearn.base import clone
    from sklearn.cluster import KMeans
    from sklearn.pipeline import Pipeline

    table = data[0].set_index("object_id").iloc[:300]
    pipe = Pipeline([("explore", Explorer(clustering=None, outliers=None, embedding="pca", random_state=0)),
                     ("kmeans", KMeans(n_clusters=6, n_init=4, random_state=0))])
    pipe.set_params(explore__n_components=3, explore__control=("redshift",), explore__survey_column="survey")
    pipe = clone(pipe).fit(table)
    emb = pipe[:-1].transform(table)
    assert emb.shape == (300, 3)
    np.testing.assert_allclose(emb, pipe.named_steps["explore"].embedding_, rtol=1e-12, atol=1e-12)
    assert adjusted_rand_score(pipe.predict(table), data[1]["group"].iloc[:300]) > 0.8


def test_apply_matches_the_single_steps(data):
    table = data[0].set_index("object_id").iloc[:200]
    ex = Explorer(clustering="kmeans", n_clusters=6, control=("redshift",), random_state=0).fit(table)
    res = ex.apply(table)
    assert list(res.columns) == ["cluster", "embedding_1", "embedding_2", "outlier_score", "flag"]
    np.testing.assert_array_equal(res["cluster"], ex.labels_)
    np.testing.assert_allclose(res[["embedding_1", "embedding_2"]], ex.embedding_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res["outlier_score"], ex.outlier_score_, rtol=1e-12, atol=1e-12)
    assert (res["flag"] == "ok").all() and (res.index == table.index).all()


def test_explore_dataset_on_a_local_cluster_matches_in_memory(data, tmp_path):
    """Partitioned Parquet on a 2-worker LocalCluster: the same labels, embedding and scores as in memory."""
    pytest.importorskip("distributed")
    from agnlab.explore import explore_dataset
    from agnlab.scale import dask_client

    table = data[0]
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        table.iloc[i * 200:(i + 1) * 200].to_parquet(src / f"part{i}.parquet")
    ex = Explorer(survey_column="survey", control=("redshift",), clustering="kmeans", n_clusters=6, random_state=1)
    with dask_client("local:2", memory_limit="1GB") as client:
        summary = explore_dataset(src, tmp_path / "out", ex, sample_rows=300, id_column="object_id", client=client,
                                  progress=False, report=False)
    fitted = summary["explorer"]
    assert summary["n_rows"] == 600 and 250 <= summary["n_sample"] <= 350 and ex.clustering == "kmeans"
    rows = pd.read_parquet(tmp_path / "out" / "rows")
    ref = fitted.apply(table.set_index("object_id"))
    assert len(rows) == 600 and (rows.index == ref.index).all()
    np.testing.assert_array_equal(rows["cluster"], ref["cluster"])
    np.testing.assert_allclose(rows[["embedding_1", "embedding_2", "outlier_score"]],
                               ref[["embedding_1", "embedding_2", "outlier_score"]], rtol=1e-12, atol=1e-12,
                               equal_nan=True)
    assert sum(summary["cluster_counts"].values()) == 600 and sum(summary["flags"].values()) == 600
    top = pd.read_parquet(tmp_path / "out" / "outliers.parquet")
    assert top["outlier_score"].is_monotonic_decreasing and top["flagged"].sum() == summary["n_flagged"]
    with pytest.raises(ValueError, match="cannot label rows outside"):
        explore_dataset(src, tmp_path / "out2", Explorer(clustering="hdbscan"))
    with pytest.raises(FileExistsError):
        explore_dataset(src, tmp_path / "out", ex)


def test_mock_table_structure_seed_shares_the_population():
    a, ta = mock_table(3000, seed=1, structure_seed=9, outlier_fraction=0.0, missing_fraction=0.0)
    b, tb = mock_table(3000, seed=2, structure_seed=9, outlier_fraction=0.0, missing_fraction=0.0)
    c, tc = mock_table(3000, seed=2, outlier_fraction=0.0, missing_fraction=0.0)
    col = "logf_g"

    def group_medians(t, truth):
        survey_a = (t["survey"] == "survey_A").to_numpy()
        return np.array([np.median(t.loc[(truth["group"] == g).to_numpy() & survey_a, col]) for g in range(6)])
    # same structure: group medians agree to the sampling noise (~0.1 dex); another structure does not
    assert np.max(np.abs(group_medians(a, ta) - group_medians(b, tb))) < 0.5
    assert np.max(np.abs(group_medians(b, tb) - group_medians(c, tc))) > 1.0
    assert not np.allclose(a["redshift"], b["redshift"])
