"""`agnlab spectra simulate|train|predict|evaluate` end to end on tiny files."""

import json

import pandas as pd
import pytest

from agnlab.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("spectra_cli")
    data = d / "sim.h5"
    assert main(["spectra", "simulate", "--n", "40", "--out", str(data), "--seed", "3", "--dla-rate", "2.0"]) == 0
    return d, data


def test_simulate_train_predict_evaluate(files, capsys):
    d, data = files
    zm, dm = d / "z.npz", d / "dla.npz"
    assert main(["spectra", "train", str(data), "--kind", "redshift", "--out", str(zm),
                 "--epochs", "1"]) == 0
    assert main(["spectra", "train", str(data), "--kind", "dla", "--out", str(dm), "--epochs", "1"]) == 0
    assert zm.exists() and dm.exists()
    out = d / "pred.csv"
    assert main(["spectra", "predict", str(data), "--redshift-model", str(zm), "--dla-model", str(dm),
                 "--out", str(out), "--threshold", "0.0"]) == 0
    table = pd.read_csv(out)
    assert len(table) == 40
    assert {"z_pred", "confidence", "flag", "dla_score", "n_dla"} <= set(table.columns)
    dlas = pd.read_csv(d / "pred_dlas.csv")
    assert list(dlas.columns) == ["spec_index", "z_dla", "log_nhi", "confidence"]
    mpath = d / "metrics.json"
    assert main(["spectra", "evaluate", str(data), "--redshift-model", str(zm), "--dla-model", str(dm),
                 "--true-z", "--out", str(mpath)]) == 0
    metrics = json.loads(mpath.read_text())
    assert metrics["redshift"]["n"] == 40
    assert "roc_auc" in metrics["dla"]
    capsys.readouterr()


def test_simulate_and_predict_on_a_local_cluster_match_in_memory(files, tmp_path, capsys):
    """--dask local:2: shards hold the in-memory simulation's spectra; predictions per shard equal in-memory ones."""
    pytest.importorskip("distributed")
    import numpy as np

    from agnlab.spectra import read_spectra

    d, data = files
    zm = d / "z.npz"
    if not zm.exists():
        assert main(["spectra", "train", str(data), "--kind", "redshift", "--out", str(zm), "--epochs", "1"]) == 0
    shards = tmp_path / "shards"
    assert main(["spectra", "simulate", "--n", "40", "--out", str(shards), "--seed", "3", "--dla-rate", "2.0",
                 "--dask", "local:2", "--dask-memory-limit", "1GB", "--shard-size", "15", "--no-progress"]) == 0
    files_ = sorted(shards.glob("shard-*.h5"))
    assert [f.name for f in files_] == ["shard-0000000000.h5", "shard-0000000015.h5", "shard-0000000030.h5"]
    whole = read_spectra(data)
    flux = np.concatenate([read_spectra(f).flux for f in files_])
    np.testing.assert_array_equal(flux, whole.flux)        # each spectrum seeded by (seed, index)
    out = tmp_path / "pred.parquet"
    assert main(["spectra", "predict", str(shards), "--redshift-model", str(zm), "--out", str(out),
                 "--dask", "local:2", "--dask-memory-limit", "1GB", "--no-progress"]) == 0
    got = pd.concat([pd.read_parquet(f) for f in sorted(out.glob("spectra-*.parquet"))], ignore_index=True)
    ref_path = tmp_path / "ref.csv"
    assert main(["spectra", "predict", str(data), "--redshift-model", str(zm), "--out", str(ref_path)]) == 0
    ref = pd.read_csv(ref_path)
    np.testing.assert_allclose(got["z_pred"], ref["z_pred"], rtol=0, atol=1e-6)   # float32 net, csv round trip
    capsys.readouterr()


def test_errors_name_the_problem(files, tmp_path, capsys):
    d, data = files
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert main(["spectra", "predict", str(data), "--redshift-model", str(bad),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "not an agnlab model file" in capsys.readouterr().err
    assert main(["spectra", "predict", str(tmp_path / "missing.h5"), "--redshift-model", str(bad),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["spectra", "predict", str(data), "--dla-model", str(bad),
                 "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "redshift" in err or "model" in err
