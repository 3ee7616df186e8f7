"""``agnlab nebular train|temden|mc|icf``."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyneb")

from agnlab.nebular import diagnostic_ratio, make_synthetic_cube  # noqa: E402
from agnlab.nebular._cli import register  # noqa: E402


def run(argv):
    parser = argparse.ArgumentParser(prog="agnlab")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def model(tmp_path_factory, est_small):
    return est_small.save(tmp_path_factory.mktemp("cli") / "tene.npz")


def test_train(tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert run(["nebular", "train", "--out", str(out), "--tem-diag", "[NII] 5755/6584",
                "--den-diag", "[OII] 3726/3729", "--te-range", "6000", "20000"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert out.exists() and info["lines"] == ["N2_5755A", "N2_6584A", "O2_3726A", "O2_3729A"]


def test_temden_ratio_columns(model, tmp_path, capsys):
    te = np.array([9000.0, 12000.0])
    ne = np.array([1e2, 1e3])
    df = pd.DataFrame({"rt": diagnostic_ratio("[OIII] 4363/5007", te, ne),
                       "rn": diagnostic_ratio("[SII] 6731/6716", te, ne)})
    df.loc[2] = [np.nan, 1.0]
    df.to_csv(tmp_path / "in.csv", index=False)
    assert run(["nebular", "temden", "--model", str(model), "--input", str(tmp_path / "in.csv"),
                "--tem-col", "rt", "--den-col", "rn", "--output", str(tmp_path / "out.csv")]) == 0
    res = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(res["te_k"][:2], te, rtol=1e-4, atol=0)
    assert list(res["temden_flag_name"]) == ["ok", "ok", "nonfinite_input"]
    with pytest.raises(KeyError, match="nope"):
        run(["nebular", "temden", "--model", str(model), "--input", str(tmp_path / "in.csv"),
             "--tem-col", "rt", "--den-col", "nope", "--output", str(tmp_path / "o.csv")])


def test_temden_line_columns_and_mc(model, tmp_path, capsys):
    cube = make_synthetic_cube((8, 6), seed=0)
    pd.DataFrame({k: v.ravel() for k, v in cube["fluxes"].items()}).to_parquet(tmp_path / "lines.parquet")
    assert run(["nebular", "temden", "--model", str(model), "--input", str(tmp_path / "lines.parquet"),
                "--output", str(tmp_path / "o.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "o.parquet")) == 48
    capsys.readouterr()
    np.savez(tmp_path / "cube.npz", **cube["fluxes"], **{k + "_err": v for k, v in cube["errors"].items()})
    assert run(["nebular", "mc", "--model", str(model), "--cube", str(tmp_path / "cube.npz"),
                "--n-draws", "20", "--output", str(tmp_path / "maps")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_spaxels"] == 48
    with np.load(tmp_path / "maps.npz") as z:
        assert z["te_k"].shape == (8, 6)
        assert np.all(z["spaxel_flags"][cube["nan_mask"]] == 1)
    np.savez(tmp_path / "bad.npz", **cube["fluxes"])
    with pytest.raises(KeyError, match="_err"):
        run(["nebular", "mc", "--model", str(model), "--cube", str(tmp_path / "bad.npz"),
             "--output", str(tmp_path / "m2")])


def test_icf_verb(tmp_path, capsys):
    assert run(["nebular", "icf", "--generate", "150", "--target", "log_icf_N", "--compare", "N",
                "--out", str(tmp_path / "icf.npz")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["target"] == "log_icf_N"
    assert any(row["method"] == "ICFRegressor" for row in info["comparison"])
    with pytest.raises(ValueError, match="--target"):
        run(["nebular", "icf", "--generate", "50"])
