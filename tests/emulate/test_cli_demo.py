"""`agnlab emulate train|predict|evaluate` and the demo section (tiny sizes)."""

import json

import numpy as np
import pandas as pd
import pytest

from agnlab.grids import clumpy_like_grid, save_grid


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "grid.npz"
    save_grid(clumpy_like_grid(600, seed=0), path)
    return path


def _run(argv):
    from agnlab.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_train_predict_evaluate(grid_file, tmp_path, capsys):
    model = tmp_path / "pca.npz"
    assert _run(["emulate", "train", str(grid_file), "--out", str(model), "--kind", "pca",
                 "--n-components", "8"]) == 0
    assert model.exists()
    nn_model = tmp_path / "nn.npz"
    assert _run(["emulate", "train", str(grid_file), "--out", str(nn_model), "--hidden", "8",
                 "--max-epochs", "3", "--n-components", "6"]) == 0
    assert nn_model.exists()
    from agnlab.emulate import load_emulator

    emu = load_emulator(model)
    params = pd.DataFrame(clumpy_like_grid(5, seed=1, ranges={"i": (10, 80), "Y": (6, 90)}).params,
                          columns=emu.param_names_)
    params_csv = tmp_path / "params.csv"
    params.to_csv(params_csv, index=False)
    out_csv = tmp_path / "pred.csv"
    assert _run(["emulate", "predict", str(model), str(params_csv), "--out", str(out_csv)]) == 0
    table = pd.read_csv(out_csv)
    assert table.shape == (5, 6 + 119)
    np.testing.assert_allclose(table.iloc[:, 6:].to_numpy(), emu.predict(params), rtol=1e-9)
    out_npz = tmp_path / "pred.npz"
    assert _run(["emulate", "predict", str(model), str(params_csv), "--out", str(out_npz)]) == 0
    assert np.load(out_npz)["fnu"].shape == (5, 119)
    report = tmp_path / "eval"
    assert _run(["emulate", "evaluate", str(model), str(grid_file), "--out", str(report),
                 "--test-fraction", "0.2"]) == 0
    assert (report / "index.html").exists()
    metrics = json.loads((report / "metrics.json").read_text())
    assert "emulate" in metrics["sections"]


def test_predict_on_a_local_cluster_matches_in_memory(grid_file, tmp_path):
    """--dask local:2 on partitioned Parquet: the same fluxes (and flags) as the in-memory verb."""
    pytest.importorskip("distributed")
    from agnlab.emulate import load_emulator

    model = tmp_path / "pca.npz"
    _run(["emulate", "train", str(grid_file), "--out", str(model), "--kind", "pca", "--n-components", "6"])
    emu = load_emulator(model)
    params = pd.DataFrame(clumpy_like_grid(60, seed=2, ranges={"i": (10, 80), "Y": (6, 90)}).params,
                          columns=emu.param_names_)
    params.loc[3, "i"] = 200.0                                   # out of domain: NaN row and its flag
    folder = tmp_path / "params"
    folder.mkdir()
    for k in range(3):
        params.iloc[20 * k:20 * (k + 1)].to_parquet(folder / f"part{k}.parquet")
    out = tmp_path / "seds.parquet"
    assert _run(["emulate", "predict", str(model), str(folder), "--out", str(out), "--dask", "local:2",
                 "--dask-memory-limit", "1GB", "--on-out-of-domain", "nan", "--dtype", "float32",
                 "--output", "log10_flux", "--no-progress"]) == 0
    got = pd.read_parquet(out)
    ref = emu.set_params(on_out_of_domain="nan").predict(params, dtype=np.float32, output="log10_flux")
    flux = got.filter(like="log10_fnu_").to_numpy()
    assert flux.shape == (60, 119) and flux.dtype == np.float32
    np.testing.assert_array_equal(flux, ref)    # same code, same float32 numbers
    assert list(got["flag"]).count("out_of_domain") == 1 and got["flag"].iloc[3] == "out_of_domain"
    # the same run into a Zarr store: row-chunked arrays equal to the in-memory prediction
    pytest.importorskip("zarr")
    import zarr

    store = tmp_path / "seds.zarr"
    assert _run(["emulate", "predict", str(model), str(folder), "--out", str(store), "--dask", "local:2",
                 "--dask-memory-limit", "1GB", "--on-out-of-domain", "nan", "--dtype", "float32",
                 "--output", "log10_flux", "--no-progress"]) == 0
    group = zarr.open_group(str(store), mode="r")
    np.testing.assert_array_equal(group["log10_fnu"][:], ref)
    np.testing.assert_array_equal(group["params"][:], params.to_numpy())
    assert group.attrs["param_names"] == list(emu.param_names_) and group["wave_um"].shape == (119,)


def test_predict_to_zarr_in_memory_chunk_by_chunk(grid_file, tmp_path):
    """.zarr output: predicted chunk by chunk (predict_to) into row chunks; an out-of-domain row stops it before
    anything is written."""
    zarr = pytest.importorskip("zarr")
    from agnlab import OutOfDomainError
    from agnlab.emulate import load_emulator

    model = tmp_path / "pca.npz"
    _run(["emulate", "train", str(grid_file), "--out", str(model), "--kind", "pca", "--n-components", "6"])
    emu = load_emulator(model)
    params = pd.DataFrame(clumpy_like_grid(25, seed=3, ranges={"i": (10, 80), "Y": (6, 90)}).params,
                          columns=emu.param_names_)
    csv = tmp_path / "params.csv"
    params.to_csv(csv, index=False)
    store = tmp_path / "seds.zarr"                                # three row chunks: 10 + 10 + 5
    assert _run(["emulate", "predict", str(model), str(csv), "--out", str(store), "--dtype", "float32",
                 "--zarr-chunk-rows", "10"]) == 0
    group = zarr.open_group(str(store), mode="r")
    assert group["fnu"].chunks == (10, 119)
    np.testing.assert_allclose(group["fnu"][:], emu.predict(params, dtype=np.float32), rtol=1e-6)
    # memmap and Zarr targets through the library
    target = np.lib.format.open_memmap(tmp_path / "seds.npy", mode="w+", dtype=np.float64, shape=(25, 119))
    out, flags = emu.predict_to(params, target, chunk_rows=7, return_flags=True)
    np.testing.assert_array_equal(np.asarray(out), emu.predict(params)) and (flags == "ok").all()
    with pytest.raises(ValueError, match="target: expected"):
        emu.predict_to(params, np.zeros((24, 119)))
    params.loc[20, "i"] = 200.0
    params.to_csv(csv, index=False)
    bad = tmp_path / "bad.zarr"
    with pytest.raises(OutOfDomainError, match="--on-out-of-domain nan"):
        _run(["emulate", "predict", str(model), str(csv), "--out", str(bad)])
    assert not bad.exists() and not list(tmp_path.glob(".bad.zarr*"))


def test_predict_missing_column(grid_file, tmp_path):
    model = tmp_path / "pca.npz"
    _run(["emulate", "train", str(grid_file), "--out", str(model), "--kind", "pca", "--n-components", "4"])
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"tv": [20.0], "N0": [5.0]}).to_csv(bad, index=False)
    with pytest.raises(KeyError, match="missing column"):
        _run(["emulate", "predict", str(model), str(bad), "--out", str(tmp_path / "o.csv")])
    assert not (tmp_path / "o.csv").exists()


def test_demo_section_quick():
    from agnlab.registry import demo_function
    from agnlab.report import Report

    run_demo = demo_function("emulate")

    report = Report("t")
    run_demo(report, seed=0, quick=True)
    m = report.metrics["emulate"]
    assert m["neural_file_kib"] < 340
    assert 0 < m["pca_median_frac_err"] < 1
