"""`agnlab infer sed` on the real CLUMPY grid (regular) and on bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from agnlab.cli import main


def test_infer_sed_with_regular_grid(shared_data, tmp_path, capsys):
    from agnlab.grids import load_grid
    from agnlab.inference import GridForward, sed_forward

    path = shared_data / "torus" / "clumpy_nenkova08_3p.npz"
    grid = load_grid(path)
    wave = np.array([2.2, 3.4, 4.6, 8.0, 12.0, 22.0, 30.0])
    f = sed_forward(GridForward.from_model_grid(grid), grid.wave_um, wave, output="log_flux")
    flux = 10 ** (f(np.array([[60.0, 35.0, 40.0]]))[0] + 3.0)
    pd.DataFrame({"wave_um": wave, "flux": flux, "flux_err": 0.1 * flux}).to_csv(tmp_path / "obs.csv", index=False)
    out = tmp_path / "out"
    rc = main(["infer", "sed", "--model", str(path), "--observed", str(tmp_path / "obs.csv"), "--out", str(out),
               "--maxiter", "40", "--bound", "tv=10:200"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "consistent parameter vectors" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_log_normalisation"] == pytest_approx(3.0)
    sol = pd.read_csv(out / "solutions.csv")
    assert list(sol.columns) == ["i", "sig", "tv", "chi2"] and (sol["tv"] <= 200).all()
    assert (out / "corner.png").stat().st_size > 1000


def pytest_approx(v):
    import pytest

    return pytest.approx(v, abs=0.05)


def test_infer_sed_reports_missing_columns(shared_data, tmp_path, capsys):
    pd.DataFrame({"wave_um": [1.0, 2.0], "flux": [1.0, 2.0]}).to_csv(tmp_path / "obs.csv", index=False)
    rc = main(["infer", "sed", "--model", str(shared_data / "torus" / "clumpy_nenkova08_3p.npz"),
               "--observed", str(tmp_path / "obs.csv"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "flux_err" in capsys.readouterr().err


def test_infer_sed_bad_bound_and_missing_model(tmp_path, capsys):
    rc = main(["infer", "sed", "--model", str(tmp_path / "nope.npz"), "--observed", "x.csv"])
    assert rc == 2 and "not found" in capsys.readouterr().err
