import numpy as np
import pandas as pd
import pytest

from agnlab.lightcurves import (
    CLASSES,
    HierarchicalClassifier,
    classification_report,
    confusion_matrix,
    extract_features,
    simulate,
)


@pytest.fixture(scope="module")
def fitted(small_sim):
    _, labels, feats = small_sim
    return HierarchicalClassifier(n_estimators=30, random_state=0).fit(feats, labels)


def test_probabilities_are_top_times_branch(fitted, small_sim):
    _, _, feats = small_sim
    p = fitted.predict_proba(feats)
    top = fitted.predict_proba(feats, level="top")
    assert list(p.columns) == list(CLASSES) and list(top.columns) == ["Stochastic", "Periodic", "Transient"]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p[["SNIa", "SNII", "SNIbc", "SLSN"]].sum(axis=1), top["Transient"], atol=1e-12)
    assert p.index.equals(feats.index)


def test_exported_trees_match_imbalanced_learn_exactly(small_sim):
    from imblearn.ensemble import BalancedRandomForestClassifier

    from agnlab.lightcurves import export_forest, predict_forest

    _, labels, feats = small_sim
    X = np.nan_to_num(feats.drop(columns="flag").to_numpy(float), nan=-999.0)
    y = pd.factorize(labels.set_index("object_id").loc[feats.index, "class"])[0]
    brf = BalancedRandomForestClassifier(n_estimators=10, sampling_strategy="all", replacement=True,
                                         bootstrap=False, random_state=0).fit(X, y)
    arrays = export_forest(brf.estimators_, int(y.max()) + 1, np.arange(int(y.max()) + 1))
    np.testing.assert_allclose(predict_forest(arrays, X), brf.predict_proba(X), rtol=0, atol=1e-12)


def test_save_load_without_pickle(fitted, small_sim, tmp_path):
    _, _, feats = small_sim
    path = fitted.save(tmp_path / "clf.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    loaded = HierarchicalClassifier.load(path)
    pd.testing.assert_frame_equal(loaded.predict_proba(feats), fitted.predict_proba(feats), check_exact=True)
    np.testing.assert_allclose(loaded.feature_importances_, fitted.feature_importances_, rtol=0, atol=0)


def test_held_out_accuracy_floor(fitted):
    """8 objects per class: a weak floor (the benchmark measures the real numbers)."""
    lc, labels = simulate(4, seed=11)
    feats = extract_features(lc, villar=False)
    rep = classification_report(labels.set_index("object_id").loc[feats.index, "class"], fitted.predict(feats))
    assert rep["top"]["macro_f1"] > 0.7
    assert rep["bottom"]["macro_f1"] > 0.3


def test_subset_of_classes_and_single_class_group():
    lc, labels = simulate(6, classes=["QSO", "AGN", "RRL"], seed=0)
    feats = extract_features(lc, villar=False)
    clf = HierarchicalClassifier(n_estimators=5, random_state=0).fit(feats, labels)
    p = clf.predict_proba(feats)
    assert list(p.columns) == ["AGN", "QSO", "RRL"]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)


def test_metrics_helpers():
    true = ["AGN", "AGN", "RRL", "SNIa"]
    pred = ["AGN", "QSO", "RRL", "RRL"]
    cm = confusion_matrix(true, pred)
    assert cm.loc["AGN", "QSO"] == 1 and cm.to_numpy().sum() == 4
    rep = classification_report(true, pred)
    per = rep["bottom"]["per_class"]
    assert per.loc["AGN", "precision"] == pytest.approx(1.0, abs=1e-12)
    assert per.loc["AGN", "recall"] == pytest.approx(0.5, abs=1e-12)
    assert per.loc["RRL", "f1"] == pytest.approx(2 / 3, abs=1e-12)
    assert rep["top"]["per_class"].loc["Stochastic", "recall"] == pytest.approx(1.0, abs=1e-12)
    assert rep["top"]["accuracy"] == pytest.approx(0.75, abs=1e-12)     # S S P T vs S S P P
