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
    with pytest.raises(CLIError, match="already exists"):
        _run(["lightcurves", "features", str(lc), "--out", str(feats)])
    with pytest.raises(CLIError, match="input"):
        _run(["lightcurves", "features", str(lc), "--out", str(lc), "--overwrite"])
