"""``agnlab nebular grid-fit``: saved inverters on an IFU cube file, output checks, errors, --train."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

pytest.importorskip("pyneb")
pytestmark = pytest.mark.skipif(importlib.util.find_spec("NebulaBayes") is None,
                                reason="built-in grids need NebulaBayes (agnlab[nebular])")

from agnlab.cli import main  # noqa: E402
from agnlab.nebular import GridInverter, load_photoionization_grid, make_grid_cube  # noqa: E402

LINES = ["OII3726", "OII3729", "OIII4363", "OIII5007", "Halpha", "NII6583", "SII6716", "SII6731"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gridfit")
    hii, nlr = load_photoionization_grid("mappings-hii"), load_photoionization_grid("mappings-nlr")
    kw = {"method": "gbm", "n_samples": 1500, "gbm_params": {"max_iter": 15}, "random_state": 0}
    models = [GridInverter(**kw).fit(g, lines=LINES).save(d / f"{n}.npz") for g, n in ((hii, "hii"), (nlr, "nlr"))]
    cube = make_grid_cube((10, 12), hii_grid=hii, nlr_grid=nlr, lines=LINES, seed=0)
    arrays = {**cube["fluxes"], **{f"{k}_err": v for k, v in cube["errors"].items()}}
    arrays["velocity"], arrays["velocity_err"] = np.zeros((10, 12)), np.ones((10, 12))  # not a line: ignored
    np.savez(d / "cube.npz", **arrays)
    return d, models, cube


def test_grid_fit_auto_npz(files, tmp_path, capsys):
    d, (hii, nlr), cube = files
    out = tmp_path / "maps.npz"
    assert main(["nebular", "grid-fit", str(d / "cube.npz"), "--model", str(nlr), str(hii), "--out", str(out),
                 "--direct-draws", "8"]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert "velocity" in captured.err  # reported as ignored
    assert info["n_spaxels"] == 120 and set(info["grid"]) <= {"mappings-hii", "mappings-nlr", ""}
    z = np.load(out)
    assert z["12_log_o_h"].shape == (10, 12) and z["log_e_peak_lo"].shape == (10, 12)
    assert list(z["param_names"]) == ["log U", "log P/k", "12 + log O/H", "log E_peak"]
    assert (z["flag"][cube["nan_mask"]] == "no_data").all()
    assert z["oh_direct_percentiles"].shape == (3, 10, 12) and "direct_flag" in z


def test_grid_fit_single_grid_fits_output(files, tmp_path, capsys):
    d, (hii, _), cube = files
    out = tmp_path / "maps.fits"
    assert main(["nebular", "grid-fit", str(d / "cube.npz"), "--grid", "mappings-hii", "--model", str(hii),
                 "--out", str(out)]) == 0
    from astropy.io import fits

    with fits.open(out) as h:
        assert h["12_LOG_O_H"].data.shape == (10, 12) and "LOG_E_PEAK" not in h
        assert "12 + log O/H" in h[0].header["PARAMS"]


@pytest.mark.parametrize("extra, message", [
    (["--grid", "mappings-hii"], "needs 1 --model"),
    (["--train"], "not both"),
    (["--model-out", "x.npz"], "--model-out needs --train"),
])
def test_grid_fit_usage_errors(files, tmp_path, capsys, extra, message):
    d, (hii, nlr), _ = files
    argv = ["nebular", "grid-fit", str(d / "cube.npz"), "--model", str(hii), str(nlr),
            "--out", str(tmp_path / "m.npz"), *[str(tmp_path / a) if a.endswith(".npz") else a for a in extra]]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_grid_fit_refuses_bad_outputs_and_inputs(files, tmp_path, capsys):
    d, (hii, nlr), _ = files
    cube = d / "cube.npz"
    assert main(["nebular", "grid-fit", str(cube), "--model", str(hii), str(nlr), "--out", str(cube),
                 "--overwrite"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert main(["nebular", "grid-fit", str(cube), "--out", str(tmp_path / "m.npz")]) == 2
    assert "--train" in capsys.readouterr().err
    assert main(["nebular", "grid-fit", str(cube), "--model", str(hii), str(hii),
                 "--out", str(tmp_path / "m.npz")]) == 2
    assert "one HII-region inverter and one AGN-NLR" in capsys.readouterr().err
    z = dict(np.load(cube))
    z.pop("Hbeta"), z.pop("Hbeta_err")
    np.savez(tmp_path / "nohb.npz", **z)
    assert main(["nebular", "grid-fit", str(tmp_path / "nohb.npz"), "--model", str(hii), str(nlr),
                 "--out", str(tmp_path / "m.npz")]) == 2
    assert "no Hbeta map" in capsys.readouterr().err


@pytest.mark.slow
def test_grid_fit_train(files, tmp_path, capsys):
    d, _, _ = files
    model = tmp_path / "trained.npz"
    assert main(["nebular", "grid-fit", str(d / "cube.npz"), "--grid", "mappings-hii", "--train", "--n-samples",
                 "1000", "--calibration-set", "node-gap", "--model-out", str(model),
                 "--out", str(tmp_path / "m.npz")]) == 0
    assert model.exists() and sorted(GridInverter.load(model).lines_) == sorted(LINES)
    assert GridInverter.load(model).calibration_set == "node-gap"     # the option reaches the estimator
    assert "training GridInverter" in capsys.readouterr().err
