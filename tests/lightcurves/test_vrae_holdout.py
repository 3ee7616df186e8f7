"""VRAEAnomalyDetector(r_mode="held_out_season"): R from predictions of each observing season made without it."""

import numpy as np
import pandas as pd
import pytest

from agnlab.io import load_artifact, save_artifact
from agnlab.lightcurves import R_MODES, VRAEAnomalyDetector, simulate

# max_len above every curve's length: no thinning, so permuting a season keeps the band medians
KW = dict(hidden=8, latent=3, max_len=2000, max_epochs=3, patience=None, batch_size=8, if_n_estimators=20,
          if_hidden=8, if_latent=2, if_energy=2, random_state=0)


@pytest.fixture(scope="module")
def curves():
    lc, _ = simulate(6, classes=["AGN", "QSO"], seed=21)
    return lc


@pytest.fixture(scope="module")
def pair(curves):
    return (VRAEAnomalyDetector(**KW).fit(curves),
            VRAEAnomalyDetector(r_mode="held_out_season", **KW).fit(curves))


def _first_season_reversed(lc, gap_days=60.0):
    """One object with two or more seasons, the last time of its first season, and the same table with the
    detected magnitudes (and errors) of that season reversed in time order within each band: every band keeps
    its set of values and its median."""
    for oid, g in lc.groupby("object_id"):
        t = np.sort(g["mjd"].to_numpy())
        gaps = np.flatnonzero(np.diff(t) > gap_days)
        if gaps.size:
            first = g["mjd"] <= t[gaps[0]]
            out = lc.copy()
            for _, gb in g.loc[first & g["detected"]].groupby("band"):
                idx = gb.sort_values("mjd").index
                out.loc[idx, ["mag", "mag_err"]] = out.loc[idx[::-1], ["mag", "mag_err"]].to_numpy()
            return oid, t[gaps[0]], out
    raise AssertionError("no multi-season curve")


def test_a_seasons_prediction_does_not_see_that_season(pair, curves):
    """Held-out mode: permuting the magnitudes inside the first season leaves its predictions unchanged (to 1e-5
    mag) and moves those of the other seasons; the plain reconstruction of that season moves too."""
    oid, first_end, changed = _first_season_reversed(curves)
    for det, same_first in ((pair[1], True), (pair[0], False)):
        a = det.reconstruct(curves.loc[curves["object_id"] == oid]).sort_values(["mjd", "band"])
        b = det.reconstruct(changed.loc[changed["object_id"] == oid]).sort_values(["mjd", "band"])
        in_first = a["mjd"].to_numpy() <= first_end
        moved = np.abs(a["mag_pred"].to_numpy() - b["mag_pred"].to_numpy())
        if same_first:
            assert moved[in_first].max() < 1e-5
            assert moved[~in_first].max() > 1e-4
        else:
            assert moved[in_first].max() > 1e-4


def test_held_out_mode_changes_r_alone(pair, curves):
    """The forest's network is trained from the same seeds in both modes (forest scores equal to 1e-12); R differs,
    and R is still the mean of the per-epoch terms (finite, positive)."""
    a = pair[0].score(curves).set_index("object_id")
    b = pair[1].score(curves).set_index("object_id").loc[a.index]
    np.testing.assert_allclose(b["if_score"], a["if_score"], rtol=1e-12)
    assert not np.allclose(b["R"], a["R"], rtol=1e-3)
    assert np.isfinite(b["R_z"]).all() and (b["R"] > 0).all()


def test_save_load_keeps_the_mode(pair, curves, tmp_path):
    loaded = VRAEAnomalyDetector.load(pair[1].save(tmp_path / "held.npz"))
    assert loaded.r_mode == "held_out_season"
    pd.testing.assert_frame_equal(pair[1].score(curves), loaded.score(curves), rtol=1e-12)


def test_files_from_before_r_mode_load_as_reconstructions(pair, curves, tmp_path):
    arrays, meta = load_artifact(pair[0].save(tmp_path / "vrae.npz"))
    del meta["estimator_state"]["r_mode"]
    for name in ("r_mode", "season_gap_days", "held_out_weight"):
        del meta["params"][name]
    old = tmp_path / "old.npz"
    save_artifact(old, kind=meta["_kind"], arrays=arrays,
                  metadata={k: v for k, v in meta.items() if not k.startswith("_")})
    loaded = VRAEAnomalyDetector.load(old)
    assert loaded.r_mode == "reconstruction"
    pd.testing.assert_frame_equal(pair[0].score(curves), loaded.score(curves), rtol=1e-12)


@pytest.mark.parametrize("kw, match", [
    ({"r_mode": "leave_one_out"}, "r_mode must be one of"),
    ({"season_gap_days": 0.0}, "season_gap_days must be a positive number"),
    ({"held_out_weight": float("nan")}, "held_out_weight must be a positive number")])
def test_bad_options_are_rejected(curves, kw, match):
    assert R_MODES == ("reconstruction", "held_out_season")
    with pytest.raises(ValueError, match=match):
        VRAEAnomalyDetector(max_epochs=1, **kw).fit(curves)
