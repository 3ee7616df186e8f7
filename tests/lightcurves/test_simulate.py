import numpy as np
import pytest

from agnlab.lightcurves import CLASSES, HIERARCHY, LIGHTCURVE_COLUMNS, simulate


def test_columns_classes_and_upper_limits(small_sim):
    lc, labels, _ = small_sim
    assert tuple(lc.columns) == LIGHTCURVE_COLUMNS
    assert sorted(labels["class"].unique()) == sorted(CLASSES) and len(CLASSES) == 15
    assert sum(len(v) for v in HIERARCHY.values()) == 15
    assert set(lc["band"]) == {"g", "r"}
    ul = lc.loc[~lc["detected"]]
    assert len(ul) > 0 and ul["mag_err"].isna().all()
    det = lc.loc[lc["detected"]]
    assert det["mag_err"].gt(0).all() and np.isfinite(det["mag"]).all()
    assert det["mag"].between(8, 26).all()


def test_cadence_epochs_seasons(small_sim):
    lc, labels, _ = small_sim
    steady = labels.loc[~labels["class"].str.startswith(("SN", "SL")), "object_id"]
    counts = lc.loc[lc["object_id"].isin(steady)].groupby(["object_id", "band"]).size()
    # 20-300 nights in the first band (intra-night repeats can add up to ~25 %)
    assert counts.max() <= 400 and counts.groupby(level=0).max().min() >= 20
    t = lc.loc[lc["object_id"] == steady.iloc[0], "mjd"].sort_values().to_numpy()
    assert np.diff(t).max() > 60.0          # a seasonal gap


def test_same_seed_same_table_and_other_seed_differs():
    a, la = simulate(2, classes=["QSO", "RRL"], seed=5)
    b, lb = simulate(2, classes=["QSO", "RRL"], seed=5)
    c, _ = simulate(2, classes=["QSO", "RRL"], seed=6)
    assert a.equals(b) and la.equals(lb)
    assert not a["mag"].equals(c["mag"])


def test_lsst_and_changing_state():
    lc, labels = simulate(3, classes=["AGN", "SNIa"], survey="lsst", seed=0)
    assert set(lc["band"]) <= set("ugrizy") and len(set(lc["band"])) >= 5
    _, lab = simulate(20, classes=["AGN", "QSO"], seed=0, changing_state_fraction=0.5)
    frac = lab["changing_state"].mean()
    assert 0.25 < frac < 0.75                        # binomial(40, 0.5): 5 sigma band
    assert set(lab.loc[lab["changing_state"], "event"]) <= {"turn_on", "turn_off", "flare"}


@pytest.mark.parametrize("kwargs", [{"classes": ["Alien"]}, {"survey": "hst"}, {"changing_state_fraction": 2.0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        simulate(1, **kwargs)


def test_no_single_feature_separates_every_class(small_sim):
    """Classes overlap: no single feature has disjoint ranges for any pair of a group's classes... for all pairs."""
    _, labels, feats = small_sim
    y = labels.set_index("object_id").loc[feats.index, "class"]
    X = feats.drop(columns="flag")
    separated_everything = []
    for col in X.columns:
        v = X[col]
        ranges = v.groupby(y).agg(["min", "max"]).dropna().sort_values("min")
        if len(ranges) == 15 and (ranges["min"].to_numpy()[1:] > ranges["max"].to_numpy()[:-1]).all():
            separated_everything.append(col)
    assert separated_everything == []
