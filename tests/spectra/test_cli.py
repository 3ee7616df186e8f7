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
