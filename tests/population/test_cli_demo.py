"""The population CLI verbs and demo section (small built-in data)."""

from __future__ import annotations

import pandas as pd
import pytest


def _run(argv):
    from agnlab.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)


def test_cli_select_crossmatch_fit(tmp_path):
    sel = tmp_path / "sel.parquet"
    assert _run(["population", "select", "builtin", "--out", str(sel), "--n-sources", "3000",
                 "--exclusions", "builtin"]) == 0
    table = pd.read_parquet(sel)
    assert len(table) > 50
    xm = tmp_path / "xm.csv"
    assert _run(["population", "crossmatch", str(sel), "builtin", "--out", str(xm), "--classes", "QSO",
                 "--n-sources", "3000"]) == 0
    pairs = pd.read_csv(xm)
    assert {"left_index", "right_index", "sep_arcsec", "spec_class"} <= set(pairs.columns)
    assert (pairs["sep_arcsec"] <= 1.5).all() and (pairs["spec_class"] == "QSO").all()
    tracks = tmp_path / "tracks.npz"
    assert _run(["population", "tracks", "--out", str(tracks), "--n-tracks", "60", "--n-angles", "4",
                 "--z", "0.5", "1.5"]) == 0
    out = tmp_path / "fit.npz"
    assert _run(["population", "fit", str(tracks), str(xm), "--out", str(out), "--bins", "10",
                 "--n-alphas", "3", "--cv", "2", "--color-error", "0.05", "--report", str(tmp_path / "rep")]) == 0
    from agnlab.population import PopulationFit

    fit = PopulationFit.load(out)
    assert fit.weights_.shape == (120,) and (fit.weights_ >= 0).all()
    assert (tmp_path / "rep" / "index.html").exists()
    assert 0 <= fit.goodness_of_fit_["p_value"] <= 1
    # the catalogue's own errors (w*sigmpro) by default
    dflt = tmp_path / "fit2.npz"
    assert _run(["population", "fit", str(tracks), str(xm), "--out", str(dflt), "--bins", "10",
                 "--n-alphas", "3", "--cv", "2", "--gof-boot", "3", "--n-jobs", "2"]) == 0
    assert PopulationFit.load(dflt).n_jobs == 2
    errs = PopulationFit.load(dflt).training_record_["errors"]
    assert errs["source"].startswith("observed_errors")
    # a forward-modelled colour cut (a pure colour cut: no magnitudes needed)
    cut = tmp_path / "fit3.npz"
    assert _run(["population", "fit", str(tracks), str(xm), "--out", str(cut), "--bins", "10", "--n-alphas", "3",
                 "--cv", "2", "--gof-boot", "3", "--selection", "assef18_c75"]) == 0
    assert PopulationFit.load(cut).selection == "assef18_c75"
    # tracks as curves over the viewing angle by default; --angle-substeps 1: the sampled points alone
    assert PopulationFit.load(dflt).training_record_["angles"] == {"n_sampled": 4, "substeps": 3, "n_points": 10}
    pts = tmp_path / "fit4.npz"
    assert _run(["population", "fit", str(tracks), str(xm), "--out", str(pts), "--bins", "10", "--n-alphas", "3",
                 "--cv", "2", "--gof-boot", "0", "--angle-substeps", "1"]) == 0
    assert PopulationFit.load(pts).training_record_["angles"]["n_points"] == 4
    from agnlab.cli import main

    assert main(["population", "fit", str(tracks), str(xm), "--out", str(tmp_path / "bad.npz"),
                 "--angle-substeps", "0"]) == 2
    assert not (tmp_path / "bad.npz").exists()
    assert main(["population", "fit", str(tracks), str(xm), "--out", str(tmp_path / "bad.npz"),
                 "--n-jobs", "0"]) == 2
    assert not (tmp_path / "bad.npz").exists()


def test_cli_select_hats_matches_in_memory(tmp_path, capsys):
    """``select --hats --spectra-hats``: LSDB partition by partition, the same sources as the in-memory verb."""
    pytest.importorskip("lsdb")
    from agnlab.catalog import make_mock_catalog, write_hats
    from agnlab.cli import main

    mock = make_mock_catalog(n_sources=3000, seed=2)
    wise = mock.wise.assign(wise_row=range(len(mock.wise)))
    write_hats(wise, tmp_path / "wise", columns=list(wise.columns), partition_rows=700)
    write_hats(mock.spectra, tmp_path / "spec", columns=list(mock.spectra.columns), partition_rows=700)
    wise.to_parquet(tmp_path / "wise.parquet")
    assert main(["population", "select", str(tmp_path / "wise.parquet"), "--out", str(tmp_path / "sel.parquet"),
                 "--b-min-deg", "0", "--gc-radius-deg", "0"]) == 0
    assert main(["population", "select", str(tmp_path / "wise"), "--hats", "--out", str(tmp_path / "agn"),
                 "--b-min-deg", "0", "--gc-radius-deg", "0"]) == 0
    import lsdb

    ref = pd.read_parquet(tmp_path / "sel.parquet")
    got = lsdb.open_catalog(tmp_path / "agn").compute()
    assert sorted(got["wise_row"]) == sorted(ref["wise_row"]) and {"w1_w2", "w2_w3"} <= set(got.columns)
    assert main(["population", "select", str(tmp_path / "wise"), "--hats", "--spectra-hats", str(tmp_path / "spec"),
                 "--out", str(tmp_path / "agn_spec"), "--b-min-deg", "0", "--gc-radius-deg", "0"]) == 0
    assert "with a spectrum within 1.5 arcsec" in capsys.readouterr().out
    assert main(["population", "select", str(tmp_path / "wise"), "--spectra-hats", str(tmp_path / "spec"),
                 "--out", str(tmp_path / "x.parquet")]) == 2      # --spectra-hats needs --hats


def test_cli_select_missing_column(tmp_path):
    from agnlab.validation import MissingColumnError

    bad = tmp_path / "bad.csv"
    pd.DataFrame({"ra": [1.0], "dec": [2.0], "w1mag": [14.0]}).to_csv(bad, index=False)
    with pytest.raises(MissingColumnError, match="w1mpro"):
        _run(["population", "select", str(bad), "--out", str(tmp_path / "o.csv")])


def test_demo_section(seed):
    from agnlab.registry import demo_function
    from agnlab.report import Report

    run_demo = demo_function("population")

    report = Report("test")
    run_demo(report, seed=seed, quick=True)
    m = report.metrics["population"]
    assert m["n_selected"] > 0 and m["selection_purity"] >= 0.95
    assert m["recovery_max_jsd"] <= 0.05
    assert m["recovery_p_value"] > 0.01          # the right model (its own tracks) is not rejected
    assert m["fit_n_bins"] > 0 and 0 <= m["fit_p_value"] <= 1
    # the Assef cut ignored is rejected and more biased than the forward-modelled fit
    assert m["selection_p_ignored"] < 0.01
    assert m["selection_max_jsd_forward"] < m["selection_max_jsd_ignored"]


def test_tracks_dask_shards_equal_in_memory_and_fit_reads_the_folder(tmp_path):
    """--dask local:2: the shard files hold the in-memory tracks, in order; `population fit` reads the folder."""
    import numpy as np

    from agnlab.population import load_tracks

    pytest.importorskip("distributed")
    common = ["--n-tracks", "25", "--n-angles", "3", "--z", "0.5", "1.5", "--seed", "3", "--no-progress"]
    mem, folder = tmp_path / "tracks.npz", tmp_path / "tracks_dask"
    assert _run(["population", "tracks", "--out", str(mem), *common]) == 0
    assert _run(["population", "tracks", "--out", str(folder), *common, "--dask", "local:2",
                 "--dask-memory-limit", "1GB", "--shard-size", "10"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [f"tracks-{s:010d}.npz" for s in (0, 10, 20)]
    a, b = load_tracks(mem), load_tracks(folder)
    # in memory the tracks run z-major over all parameter sets; shards run z-major within each shard
    order = lambda t: np.lexsort(t["params"].T[::-1])  # noqa: E731
    np.testing.assert_allclose(b["colors"][order(b)], a["colors"][order(a)], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(b["angles_deg"], a["angles_deg"])
    assert b["colors"].shape == (50, 3, 2)
    xm = tmp_path / "xm.parquet"
    assert _run(["population", "crossmatch", "builtin", "builtin", "--out", str(xm), "--n-sources", "3000",
                 "--no-progress"]) == 0
    assert _run(["population", "fit", str(folder), str(xm), "--out", str(tmp_path / "fit.npz"), "--bins", "10",
                 "--n-alphas", "3", "--gof-boot", "2", "--no-progress"]) == 0
    (folder / "tracks-0000000010.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="tracks-0000000010.npz"):
        load_tracks(folder)
