"""Verbs that feed each other, driven from the command line, and the README's Python snippet.

Every artifact one verb writes must be accepted by every verb that takes that
kind of input (tiny sizes: the module runs in well under a minute).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnlab.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _run(*argv) -> None:
    rc = main([str(a) for a in argv])
    assert rc == 0, argv


def _observed_sed(wave_um, flux, tmp_path, n=10):
    k = np.linspace(10, len(wave_um) - 10, n).astype(int)
    path = tmp_path / "sed.csv"
    pd.DataFrame({"wave_um": wave_um[k], "flux": flux[k], "flux_err": 0.1 * flux[k]}).to_csv(path, index=False)
    return path


def _emulator_verbs(model, params, tmp_path, tag):
    """emulate predict, population tracks --emulator, infer sed and info on one emulator file."""
    from agnlab.emulate import load_emulator

    emu = load_emulator(model)
    table = tmp_path / f"params_{tag}.csv"
    pd.DataFrame(params[:4], columns=emu.param_names_).to_csv(table, index=False)
    _run("emulate", "predict", model, table, "--out", tmp_path / f"seds_{tag}.csv")
    seds = pd.read_csv(tmp_path / f"seds_{tag}.csv")
    assert seds.shape == (4, len(emu.param_names_) + emu.wave_um_.size)
    tracks = tmp_path / f"tracks_{tag}.npz"
    _run("population", "tracks", "--emulator", model, "--n-tracks", 8, "--n-angles", 3, "--out", tracks)
    with np.load(tracks) as z:
        lo, hi = emu.param_ranges_["i"]
        np.testing.assert_allclose(z["angles_deg"], np.linspace(lo, hi, 3), rtol=0, atol=1e-9)
        assert np.isfinite(z["colors"]).all()
    flux = emu.predict(params[:1])[0]
    obs = _observed_sed(emu.wave_um_, flux, tmp_path)
    out = tmp_path / f"infer_{tag}"
    _run("infer", "sed", "--model", model, "--observed", obs, "--maxiter", 3, "--out", out)
    assert set(json.loads((out / "summary.json").read_text())["best"]) == set(emu.param_names_)
    return tracks


def test_readme_snippet_runs_and_feeds_every_emulator_verb(tmp_path, monkeypatch, seed):
    """The README's Python snippet, as written (training shortened), on a small built-in grid in CLUMPY HDF5."""
    import h5py

    from agnlab.grids import CLUMPY_PARAM_NAMES, clumpy_like_grid

    snippet = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    slow = "NeuralEmulator(random_state=0)"
    assert slow in snippet
    snippet = snippet.replace(slow, "NeuralEmulator(random_state=0, hidden=(16,), max_epochs=3, lbfgs_steps=0)")
    grid = clumpy_like_grid(200, seed=seed)
    monkeypatch.chdir(tmp_path)
    with h5py.File("clumpy_models.hdf5", "w") as h5:
        h5["wave"] = grid.wave_um
        for j, name in enumerate(CLUMPY_PARAM_NAMES):
            h5[name] = grid.params[:, grid.param_names.index(name)]
        h5["flux_toragn"] = grid.flux
    scope: dict = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    assert scope["flux"].shape == (scope["test"].n_models, grid.n_wave)
    assert np.isfinite(scope["flux"]).all()
    assert scope["emu"].param_names_ == CLUMPY_PARAM_NAMES
    _emulator_verbs("torus_emulator.npz", scope["test"].params, tmp_path, "readme")


@pytest.mark.parametrize("kind", ["pca", "neural"])
def test_emulate_train_feeds_predict_tracks_infer_and_tracks_feed_fit(tmp_path, kind):
    from agnlab.catalog import make_mock_catalog
    from agnlab.grids import clumpy_like_grid, save_grid

    grid = save_grid(clumpy_like_grid(200, seed=0), tmp_path / "grid.npz")
    model = tmp_path / f"{kind}.npz"
    extra = ["--hidden", "16", "--max-epochs", "3", "--lbfgs-steps", "0"] if kind == "neural" else []
    _run("emulate", "train", grid, "--kind", kind, "--out", model, *extra)
    _run("emulate", "evaluate", model, grid, "--test-fraction", 0.2, "--out", tmp_path / f"eval_{kind}")
    from agnlab.grids import load_grid

    tracks = _emulator_verbs(model, load_grid(grid).params, tmp_path, kind)
    wise = tmp_path / "wise.csv"
    make_mock_catalog(n_sources=1500, seed=0).wise.to_csv(wise, index=False)
    _run("population", "fit", tracks, wise, "--bins", 6, "--n-alphas", 2, "--cv", 2, "--out", tmp_path / "fit.npz")
    _run("info", tmp_path / "fit.npz")


def test_population_builtin_tracks_feed_fit(tmp_path):
    from agnlab.catalog import make_mock_catalog

    tracks = tmp_path / "tracks.npz"
    _run("population", "tracks", "--n-tracks", 20, "--n-angles", 4, "--angle-range-deg", 10, 80, "--out", tracks)
    with np.load(tracks) as z:
        np.testing.assert_allclose(z["angles_deg"], [10, 80 / 3 + 20 / 3, 80 - 70 / 3, 80], rtol=0, atol=1e-9)
    wise = tmp_path / "wise.csv"
    make_mock_catalog(n_sources=1500, seed=0).wise.to_csv(wise, index=False)
    _run("population", "fit", tracks, wise, "--bins", 6, "--n-alphas", 2, "--cv", 2, "--out", tmp_path / "fit.npz")


def test_spectra_simulate_train_predict_evaluate(tmp_path):
    data = tmp_path / "s.h5"
    _run("spectra", "simulate", "--n", 16, "--dla-rate", 3, "--out", data)
    _run("spectra", "train", data, "--kind", "redshift", "--epochs", 1, "--out", tmp_path / "z.npz")
    _run("spectra", "train", data, "--kind", "dla", "--epochs", 1, "--out", tmp_path / "d.npz")
    out = tmp_path / "pred.parquet"
    _run("spectra", "predict", data, "--redshift-model", tmp_path / "z.npz", "--dla-model", tmp_path / "d.npz",
         "--out", out)
    table = pd.read_parquet(out)
    assert len(table) == 16 and {"z_pred", "dla_score"} <= set(table.columns)
    assert (tmp_path / "pred_dlas.parquet").exists()
    _run("spectra", "evaluate", data, "--redshift-model", tmp_path / "z.npz", "--out", tmp_path / "m.json")
    assert "redshift" in json.loads((tmp_path / "m.json").read_text())


def test_lightcurves_simulate_features_train_classify(tmp_path):
    lc, labels = tmp_path / "lc.parquet", tmp_path / "labels.parquet"
    _run("lightcurves", "simulate", "--n-per-class", 3, "--out", lc, "--labels-out", labels)
    feats = tmp_path / "feat.parquet"
    _run("lightcurves", "features", lc, "--no-villar", "--out", feats)
    _run("lightcurves", "train", feats, labels, "--n-estimators", 5, "--out", tmp_path / "clf.npz")
    _run("lightcurves", "classify", tmp_path / "clf.npz", feats, "--out", tmp_path / "cls.csv")
    cls = pd.read_csv(tmp_path / "cls.csv")
    assert len(cls) == len(pd.read_parquet(labels)) and "class" in cls.columns


@pytest.mark.parametrize("silence", [["--no-progress"], ["--quiet"], []])
def test_progress_bars_follow_the_flags_and_environment(tmp_path, monkeypatch, capsys, silence):
    """--progress shows the bars of the long steps; --no-progress, --quiet and AGNLAB_PROGRESS=0 silence all."""
    from agnlab.catalog import make_mock_catalog

    monkeypatch.chdir(tmp_path)
    make_mock_catalog(n_sources=800, seed=0).wise.to_csv("wise.csv", index=False)
    commands = ["population tracks --n-tracks 8 --n-angles 3 --out t{k}.npz",
                "population fit t{k}.npz wise.csv --bins 6 --n-alphas 2 --cv 2 --out f{k}.npz",
                "emulate train builtin --n-models 60 --hidden 8 --max-epochs 2 --lbfgs-steps 0 --out e{k}.npz",
                "infer sed --model e{k}.npz --observed sed.csv --maxiter 2 --out i{k}"]
    for k, flags in (("on", ["--progress"]), ("off", silence)):
        monkeypatch.setenv("AGNLAB_PROGRESS", "1" if silence and k == "off" else "0")
        for cmd in commands:
            if cmd.startswith("infer"):
                from agnlab.emulate import load_emulator

                emu = load_emulator(f"e{k}.npz")
                _observed_sed(emu.wave_um_, emu.predict(0.5 * (emu.param_min_ + emu.param_max_))[0], tmp_path)
            _run(*cmd.format(k=k).split(), *flags)
        err = capsys.readouterr().err
        if k == "on":
            assert "colour tracks" in err and "PopulationFit CV" in err and "differential evolution" in err
        else:
            assert "%|" not in err and "it/s" not in err, err[-500:]
