import numpy as np
import pandas as pd
import pytest

from agnlab.lightcurves import VRAEAnomalyDetector, simulate


@pytest.fixture(scope="module")
def detector():
    lc, _ = simulate(25, classes=["AGN", "QSO"], seed=0)
    return VRAEAnomalyDetector(hidden=12, latent=4, max_len=80, max_epochs=4, batch_size=16, if_n_estimators=50,
                               random_state=0).fit(lc)


def test_score_table_and_ranking(detector):
    lc, labels = simulate(10, classes=["AGN", "QSO"], seed=1, changing_state_fraction=0.3)
    s = detector.score(lc)
    assert list(s.columns) == ["object_id", "R", "if_score", "R_anomalous", "if_anomalous", "anomalous", "flag"]
    assert set(s["object_id"]) == set(labels["object_id"]) and (s["flag"] == "ok").all()
    assert s["R"].is_monotonic_decreasing and (s["R"] > 0).all()
    np.testing.assert_array_equal(s["anomalous"], s["R_anomalous"] | s["if_anomalous"])
    assert s["R_anomalous"].equals(s["R"] > 3.0)


def test_a_huge_jump_scores_high(detector):
    lc, _ = simulate(6, classes=["QSO"], seed=2)
    ids = list(pd.unique(lc["object_id"]))
    jump = lc.copy()
    sel = (jump["object_id"] == ids[0]) & (jump["mjd"] > jump.loc[jump["object_id"] == ids[0], "mjd"].median())
    jump.loc[sel & jump["detected"], "mag"] -= 2.0
    s = detector.score(jump).set_index("object_id")
    assert s.loc[ids[0], "R"] > 3.0 * s["R"].drop(index=ids[0]).median()


def test_reconstruct_and_transform(detector):
    lc, _ = simulate(2, classes=["AGN"], seed=3)
    rec = detector.reconstruct(lc)
    assert {"mag_pred", "err_pred"} <= set(rec.columns) and np.isfinite(rec["mag_pred"]).all()
    z = detector.transform(lc)
    assert z.shape == (2, 4)


def test_training_record(detector):
    rec = detector.training_record_
    assert rec["n_objects"] == 50 and len(rec["history"]) >= 1 and np.isfinite(rec["best_val_loss"])
