import pandas as pd
import pytest

from agnlab.cli import build_parser
from agnlab.cli_common import CLIError, check_outputs


def _run(argv):
    args = build_parser().parse_args(argv)
    check_outputs(args)
    return args.func(args)


def test_simulate_features_train_classify_anomalies(tmp_path):
    lc, lab = tmp_path / "lc.parquet", tmp_path / "lab.parquet"
    assert _run(["lightcurves", "simulate", "--n-per-class", "4", "--classes", "QSO,AGN,RRL,SNIa",
                 "--changing-state-fraction", "0.2", "--out", str(lc), "--labels-out", str(lab)]) == 0
    feats = tmp_path / "f.parquet"
    assert _run(["lightcurves", "features", str(lc), "--out", str(feats), "--no-villar"]) == 0
    model = tmp_path / "m.npz"
    assert _run(["lightcurves", "train", str(feats), str(lab), "--out", str(model), "--n-estimators", "5"]) == 0
    probs = tmp_path / "p.csv"
    assert _run(["lightcurves", "classify", str(model), str(feats), "--out", str(probs)]) == 0
    table = pd.read_csv(probs)
    assert len(table) == 16 and {"object_id", "class", "QSO", "group_Transient"} <= set(table.columns)
    scores = tmp_path / "s.csv"
    assert _run(["lightcurves", "anomalies", str(lc), "--out", str(scores), "--max-epochs", "1",
                 "--save-model", str(tmp_path / "v.npz")]) == 0
    assert len(pd.read_csv(scores)) == 16 and (tmp_path / "v.npz").exists()
    held = tmp_path / "held.csv"
    assert _run(["lightcurves", "anomalies", str(lc), "--out", str(held), "--max-epochs", "1", "--r-mode",
                 "held_out_season", "--save-model", str(tmp_path / "h.npz")]) == 0
    assert len(pd.read_csv(held)) == 16
    from agnlab.lightcurves import VRAEAnomalyDetector
    assert VRAEAnomalyDetector.load(tmp_path / "h.npz").r_mode == "held_out_season"
    with pytest.raises(ValueError, match="r_mode must be one of"):   # main() prints it as an error
        _run(["lightcurves", "anomalies", str(lc), "--out", str(tmp_path / "x.csv"), "--r-mode", "both"])
    with pytest.raises(CLIError, match="already exists"):
        _run(["lightcurves", "features", str(lc), "--out", str(feats)])
    with pytest.raises(CLIError, match="input"):
        _run(["lightcurves", "features", str(lc), "--out", str(lc), "--overwrite"])


def test_features_and_classify_on_a_local_cluster_match_in_memory(tmp_path):
    """--dask local:2: objects split across Parquet files are regrouped; features and probabilities equal the
    in-memory verbs'."""
    pytest.importorskip("distributed")
    import numpy as np

    lc_path, lab = tmp_path / "lc.parquet", tmp_path / "lab.parquet"
    assert _run(["lightcurves", "simulate", "--n-per-class", "3", "--classes", "QSO,RRL,SNIa", "--out", str(lc_path),
                 "--labels-out", str(lab)]) == 0
    lc = pd.read_parquet(lc_path)
    folder = tmp_path / "lc_parts"
    folder.mkdir()
    half = len(lc) // 2                       # splits one object's epochs across the two files
    lc.iloc[:half].to_parquet(folder / "a.parquet")
    lc.iloc[half:].to_parquet(folder / "b.parquet")
    feats, feats_dask = tmp_path / "f.parquet", tmp_path / "f_dask.parquet"
    dask_opts = ["--dask", "local:2", "--dask-memory-limit", "1GB", "--no-progress"]
    assert _run(["lightcurves", "features", str(lc_path), "--out", str(feats), "--no-villar"]) == 0
    assert _run(["lightcurves", "features", str(folder), "--out", str(feats_dask), "--no-villar", *dask_opts]) == 0
    ref = pd.read_parquet(feats).set_index("object_id")
    got = pd.read_parquet(feats_dask).loc[ref.index]
    assert list(got.columns) == list(ref.columns) and (got["flag"].to_numpy() == ref["flag"].to_numpy()).all()
    np.testing.assert_allclose(got.drop(columns="flag").to_numpy(float), ref.drop(columns="flag").to_numpy(float),
                               rtol=1e-12, atol=0, equal_nan=True)
    model = tmp_path / "m.npz"
    assert _run(["lightcurves", "train", str(feats), str(lab), "--out", str(model), "--n-estimators", "5"]) == 0
    probs, probs_dask = tmp_path / "p.parquet", tmp_path / "p_dask.parquet"
    assert _run(["lightcurves", "classify", str(model), str(feats), "--out", str(probs)]) == 0
    assert _run(["lightcurves", "classify", str(model), str(feats_dask), "--out", str(probs_dask), *dask_opts]) == 0
    p_ref = pd.read_parquet(probs).set_index("object_id")
    p_got = pd.read_parquet(probs_dask).loc[p_ref.index]
    assert (p_got["class"].to_numpy() == p_ref["class"].to_numpy()).all()
    np.testing.assert_allclose(p_got.drop(columns="class").to_numpy(float),
                               p_ref.drop(columns="class").to_numpy(float), rtol=1e-12, atol=0)
