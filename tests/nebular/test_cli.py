"""``agnlab nebular train|temden|mc|icf``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyneb")

from agnlab.cli import build_parser  # noqa: E402
from agnlab.nebular import diagnostic_ratio, make_synthetic_cube  # noqa: E402


def run(argv):
    args = build_parser().parse_args(argv)
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
    assert run(["nebular", "temden", str(tmp_path / "in.csv"), "--model", str(model),
                "--tem-col", "rt", "--den-col", "rn", "--out", str(tmp_path / "out.csv")]) == 0
    res = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(res["te_k"][:2], te, rtol=1e-4, atol=0)
    assert list(res["temden_flag"]) == ["ok", "ok", "nonfinite_input"]
    with pytest.raises(KeyError, match="nope"):
        run(["nebular", "temden", str(tmp_path / "in.csv"), "--model", str(model),
             "--tem-col", "rt", "--den-col", "nope", "--out", str(tmp_path / "o.csv")])


def test_temden_on_a_local_cluster_matches_in_memory(model, tmp_path, capsys):
    """--dask local:2 on partitioned Parquet gives the in-memory verb's Te, Ne and flags."""
    pytest.importorskip("distributed")
    rng = np.random.default_rng(0)
    te, ne = rng.uniform(8000, 15000, 40), 10 ** rng.uniform(1.5, 3.5, 40)
    df = pd.DataFrame({"rt": diagnostic_ratio("[OIII] 4363/5007", te, ne),
                       "rn": diagnostic_ratio("[SII] 6731/6716", te, ne)})
    df.loc[5, "rt"] = np.nan
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(2):
        df.iloc[20 * k:20 * (k + 1)].to_parquet(folder / f"p{k}.parquet")
    df.to_parquet(tmp_path / "all.parquet")
    common = ["--model", str(model), "--tem-col", "rt", "--den-col", "rn"]
    assert run(["nebular", "temden", str(tmp_path / "all.parquet"), *common, "--out",
                str(tmp_path / "mem.parquet")]) == 0
    assert run(["nebular", "temden", str(folder), *common, "--out", str(tmp_path / "dask.parquet"), "--dask", "local:2",
                "--dask-memory-limit", "1GB", "--no-progress"]) == 0
    mem, got = pd.read_parquet(tmp_path / "mem.parquet"), pd.read_parquet(tmp_path / "dask.parquet")
    np.testing.assert_allclose(got[["te_k", "log_ne_cm3"]], mem[["te_k", "log_ne_cm3"]], rtol=0, atol=0)
    assert list(got["temden_flag"]) == list(mem["temden_flag"]) and got["temden_flag"].iloc[5] == "nonfinite_input"
    with pytest.raises(KeyError, match="nope"):
        run(["nebular", "temden", str(folder), "--model", str(model), "--tem-col", "rt", "--den-col", "nope",
             "--out", str(tmp_path / "x.parquet"), "--dask", "local:1"])


def test_temden_line_columns_and_mc(model, tmp_path, capsys):
    cube = make_synthetic_cube((8, 6), seed=0)
    pd.DataFrame({k: v.ravel() for k, v in cube["fluxes"].items()}).to_parquet(tmp_path / "lines.parquet")
    assert run(["nebular", "temden", str(tmp_path / "lines.parquet"), "--model", str(model),
                "--out", str(tmp_path / "o.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "o.parquet")) == 48
    capsys.readouterr()
    np.savez(tmp_path / "cube.npz", **cube["fluxes"], **{k + "_err": v for k, v in cube["errors"].items()})
    assert run(["nebular", "mc", "--model", str(model), "--cube", str(tmp_path / "cube.npz"),
                "--n-draws", "20", "--out", str(tmp_path / "maps.npz")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_spaxels"] == 48
    with np.load(tmp_path / "maps.npz") as z:
        assert z["te_k"].shape == (8, 6)
        assert np.all(z["spaxel_flags"][cube["nan_mask"]] == 1)
    np.savez(tmp_path / "bad.npz", **cube["fluxes"])
    with pytest.raises(KeyError, match="_err"):
        run(["nebular", "mc", "--model", str(model), "--cube", str(tmp_path / "bad.npz"),
             "--out", str(tmp_path / "m2.npz")])


def test_mc_on_a_local_cluster_matches_in_memory(model, tmp_path, capsys):
    """--dask local:2 over a folder of cubes: each cube's maps equal the in-memory verb's (same seed)."""
    pytest.importorskip("distributed")
    cubes = tmp_path / "cubes"
    cubes.mkdir()
    for k in range(2):
        cube = make_synthetic_cube((5, 4), seed=k)
        np.savez(cubes / f"galaxy{k}.npz", **cube["fluxes"], **{n + "_err": v for n, v in cube["errors"].items()})
    common = ["--model", str(model), "--n-draws", "20", "--seed", "4"]
    assert run(["nebular", "mc", *common, "--cube", str(cubes), "--out", str(tmp_path / "maps"), "--dask", "local:2",
                "--dask-memory-limit", "1GB", "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["galaxy0_mc.npz", "galaxy1_mc.npz"]
    assert run(["nebular", "mc", *common, "--cube", str(cubes / "galaxy1.npz"), "--out", str(tmp_path / "g1.npz")]) == 0
    with np.load(tmp_path / "maps" / "galaxy1_mc.npz") as a, np.load(tmp_path / "g1.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    capsys.readouterr()


def test_icf_verb(tmp_path, capsys):
    assert run(["nebular", "icf", "--generate", "150", "--target", "log_icf_N", "--compare", "N",
                "--out", str(tmp_path / "icf.npz")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["target"] == "log_icf_N"
    assert any(row["method"] == "ICFRegressor" for row in info["comparison"])
    with pytest.raises(ValueError, match="--target"):
        run(["nebular", "icf", "--generate", "50"])


def test_options_that_conflict_with_a_saved_model_are_errors(model, tmp_path, capsys):
    from agnlab.cli import main

    pd.DataFrame({"rt": [0.01], "rn": [1.0]}).to_csv(tmp_path / "in.csv", index=False)
    assert main(["nebular", "temden", str(tmp_path / "in.csv"), "--model", str(model), "--tem-diag",
                 "[NII] 5755/6584", "--tem-col", "rt", "--den-col", "rn", "--out", str(tmp_path / "o.csv")]) == 2
    assert "do not also give --tem-diag" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    icf = tmp_path / "icf.npz"
    assert main(["nebular", "icf", "--generate", "120", "--target", "log_icf_N", "--out", str(icf)]) == 0
    capsys.readouterr()
    assert main(["nebular", "icf", "--model", str(icf), "--target", "log_icf_O", "--predict", str(tmp_path / "in.csv"),
                 "--predictions-out", str(tmp_path / "p.csv")]) == 2
    assert "--target would be ignored" in capsys.readouterr().err
