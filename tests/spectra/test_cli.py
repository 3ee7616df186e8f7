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
                 "--dask", "local:2", "--dask-memory-limit", "1GB", "--shard-size", "15", "--arrays", "observed",
                 "--no-progress"]) == 0
    files_ = sorted(shards.glob("shard-*.h5"))
    assert [f.name for f in files_] == ["shard-0000000000.h5", "shard-0000000015.h5", "shard-0000000030.h5"]
    whole = read_spectra(data)
    parts = [read_spectra(f) for f in files_]
    np.testing.assert_array_equal(np.concatenate([p.flux for p in parts]), whole.flux)  # seeded by (seed, index)
    assert all(p.continuum is None and p.transmission is None for p in parts)          # --arrays observed
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


# ---------------------------------------------------------------- observed files (read_spectrum + match_resolution)
def _models(d, data):
    zm, dm = d / "z.npz", d / "dla.npz"
    if not zm.exists():
        assert main(["spectra", "train", str(data), "--kind", "redshift", "--out", str(zm), "--epochs", "1"]) == 0
    if not dm.exists():
        assert main(["spectra", "train", str(data), "--kind", "dla", "--out", str(dm), "--epochs", "1"]) == 0
    return zm, dm


def _as_sdss(sims, i, path):
    """Spectrum i of a simulated batch written as an SDSS spec file (1e-4 dex pixels, wdisp = 1 pixel)."""
    import numpy as np
    from astropy.io import fits

    from agnlab.spectra import rebin_log

    loglam = 3.5563 + 1e-4 * np.arange(4500)
    f, iv = rebin_log(sims.wave_aa, sims.flux[i:i + 1], sims.ivar[i:i + 1], 10 ** loglam, min_coverage=0.0)
    cols = [fits.Column(name="flux", format="E", array=f[0]), fits.Column(name="loglam", format="E", array=loglam),
            fits.Column(name="ivar", format="E", array=iv[0]),
            fits.Column(name="and_mask", format="J", array=np.zeros(loglam.size, np.int32)),
            fits.Column(name="wdisp", format="E", array=np.ones(loglam.size))]
    so = fits.BinTableHDU.from_columns([fits.Column(name="Z", format="E", array=[sims.truth["z_qso"][i]])],
                                       name="SPECOBJ")
    hdr = fits.Header()
    hdr["COEFF0"], hdr["COEFF1"] = 3.5563, 1e-4
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols, name="COADD"), so]).writeto(path)
    return path


def test_predict_takes_observed_files_and_flags_each_spectrum(files, tmp_path, capsys):
    import numpy as np
    from astropy.io import fits

    from agnlab.spectra import read_spectra

    d, data = files
    zm, dm = _models(d, data)
    sims = read_spectra(data)
    obs = tmp_path / "obs"
    obs.mkdir()
    for i in range(3):
        _as_sdss(sims, i, obs / f"spec-0001-55555-{i:04d}.fits")
    # an echelle piece that covers 4000-5000 A only, and a file that is not a spectrum
    w = np.linspace(4000.0, 5000.0, 4000)
    fits.BinTableHDU.from_columns([fits.Column(name="WAVE", format="D", unit="Angstrom", array=w),
                                   fits.Column(name="FLUX", format="E", array=np.ones(w.size)),
                                   fits.Column(name="ERR", format="E", array=np.full(w.size, 0.05))]
                                  ).writeto(obs / "piece.fits")
    (obs / "junk.fits").write_bytes(b"junk" * 100)
    out = tmp_path / "pred.parquet"
    assert main(["spectra", "predict", str(obs), "--redshift-model", str(zm), "--dla-model", str(dm),
                 "--out", str(out), "--threshold", "0.0", "--no-progress"]) == 0
    t = pd.read_parquet(out).set_index("file")
    assert len(t) == 5
    sdss = t[t["format"] == "sdss"]
    assert len(sdss) == 3 and np.isfinite(sdss["z_pred"]).all()
    assert set(sdss["input_flags"]) == {"broader_than_model"}        # SDSS R ~ 2000 < 4MOST
    assert t.loc["piece.fits", "flag"] == "input_outside_model_range"
    assert np.isnan(t.loc["piece.fits", "z_pred"])                   # never a silent redshift
    assert t.loc["junk.fits", "flag"] == "unreadable_file" and "junk.fits" in t.loc["junk.fits", "message"]
    dlas = pd.read_parquet(tmp_path / "pred_dlas.parquet")
    assert {"spec_index", "source", "z_dla", "log_nhi", "confidence"} <= set(dlas.columns)
    assert set(dlas["source"]) <= set(sdss["source"])
    # --true-z takes the SDSS SPECOBJ redshift; a glob works as input too
    out2 = tmp_path / "pred2.csv"
    assert main(["spectra", "predict", str(obs / "spec-*.fits"), "--dla-model", str(dm), "--true-z",
                 "--out", str(out2), "--no-progress"]) == 0
    assert len(pd.read_csv(out2)) == 3
    capsys.readouterr()


def test_predict_observed_refuses_output_equal_to_input_and_missing_model(files, tmp_path, capsys):
    d, data = files
    zm, _ = _models(d, data)
    from agnlab.spectra import read_spectra

    spec = _as_sdss(read_spectra(data), 0, tmp_path / "spec-0001-55555-0001.fits")
    before = spec.read_bytes()
    assert main(["spectra", "predict", str(spec), "--redshift-model", str(zm), "--out", str(spec),
                 "--overwrite"]) == 2
    assert "is the input" in capsys.readouterr().err and spec.read_bytes() == before
    from agnlab.spectra import RedshiftEstimator

    try:
        RedshiftEstimator.pretrained()
        shipped = True
    except (AttributeError, OSError, ValueError):
        shipped = False
    if not shipped:     # no model given and none shipped: a clear error, not a traceback
        assert main(["spectra", "predict", str(spec), "--out", str(tmp_path / "p.csv")]) == 2
        assert "train" in capsys.readouterr().err
    else:               # no model given: the shipped ones, no training needed
        assert main(["spectra", "predict", str(spec), "--out", str(tmp_path / "p.csv"), "--no-progress"]) == 0
        t = pd.read_csv(tmp_path / "p.csv")
        assert len(t) == 1 and {"z_pred", "flag", "input_flags"} <= set(t.columns)
    capsys.readouterr()


def test_observed_predictions_do_not_depend_on_chunking_or_dask(files, tmp_path, capsys):
    """Batches of 2 spectra give the one-batch table; --dask runs file by file, a bad file gives its row."""
    import numpy as np

    from agnlab.spectra import read_spectra

    d, data = files
    zm, dm = _models(d, data)
    sims = read_spectra(data)
    obs = tmp_path / "obs"
    obs.mkdir()
    paths = [_as_sdss(sims, i, obs / f"spec-0002-55555-{i:04d}.fits") for i in range(5)]
    tables = {}
    for batch in ("512", "2"):
        out_b = tmp_path / f"b{batch}.parquet"
        assert main(["spectra", "predict", *map(str, paths), "--redshift-model", str(zm), "--dla-model", str(dm),
                     "--threshold", "0", "--batch-size", batch, "--out", str(out_b), "--no-progress"]) == 0
        tables[batch] = (pd.read_parquet(out_b), pd.read_parquet(tmp_path / f"b{batch}_dlas.parquet"))
    whole, dl_whole = tables["512"]
    pd.testing.assert_frame_equal(tables["2"][0], whole, check_exact=False, rtol=1e-6)
    pd.testing.assert_frame_equal(tables["2"][1], dl_whole, check_exact=False, rtol=1e-6)
    pytest.importorskip("distributed")
    (obs / "junk.fits").write_bytes(b"junk" * 100)
    out = tmp_path / "preds"
    assert main(["spectra", "predict", str(obs), "--redshift-model", str(zm), "--out", str(out),
                 "--dask", "local:1", "--dask-memory-limit", "1GB", "--no-progress"]) == 0
    got = pd.concat([pd.read_parquet(f) for f in sorted(out.glob("spectra-*.parquet"))], ignore_index=True)
    assert len(got) == 6 and (got["flag"] == "unreadable_file").sum() == 1
    good = got[got["format"] == "sdss"].sort_values("source").reset_index(drop=True)
    np.testing.assert_allclose(good["z_pred"], whole["z_pred"], rtol=0, atol=1e-6)
    capsys.readouterr()
