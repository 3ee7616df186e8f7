"""Every verb against corrupt, truncated, empty, mislabelled and wrong-kind inputs, and output == input.

Each case must end with exit status 2 and one line ``agnlab: error: ...`` that
names the offending file; no traceback, and no input file changed. Tiny data so
that the whole sweep stays well under a minute and a half on one core.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agnlab.cli import main

# hostile variants of each kind of input (built lazily from the good files below)
HOSTILE = {
    "table": ("empty.csv", "text.parquet", "text.fits", "text.h5", "trunc.parquet", "nocols.csv", "text.xlsx"),
    "model": ("empty.npz", "text.npz", "trunc.npz", "plain.npz", "wrongkind.npz", "missing.npz"),
    "grid": ("empty.npz", "text.npz", "trunc.npz", "text.h5", "widthgrid.npz", "wrongkind.npz"),
    "spectra": ("empty.h5", "text.h5", "trunc.h5", "text.fits", "plain.h5"),
    "cube": ("empty.npz", "text.npz", "trunc.npz", "text.fits", "nocube.npz"),
    "tracks": ("empty.npz", "text.npz", "trunc.npz", "plain.npz", "wrongkind.npz"),
    "lc": ("empty.parquet", "text.parquet", "trunc.parquet", "nocols.csv"),
}

# (id, argv with {X} for the hostile input, kind of that input); other inputs are good files
VERBS = [
    ("emulate-train", "emulate train {X} --kind pca --test-fraction 0 --out o.npz", "grid"),
    ("emulate-predict-model", "emulate predict {X} params.csv --out o.csv", "model"),
    ("emulate-predict-params", "emulate predict pca.npz {X} --out o.csv", "table"),
    ("emulate-evaluate-model", "emulate evaluate {X} grid.npz --out odir", "model"),
    ("emulate-evaluate-grid", "emulate evaluate pca.npz {X} --out odir", "grid"),
    ("infer-sed-model", "infer sed --model {X} --observed obs.csv --maxiter 2 --out odir", "model"),
    ("infer-sed-grid", "infer sed --model {X} --observed obs.csv --maxiter 2 --out odir", "grid"),
    ("infer-sed-observed", "infer sed --model pca.npz --observed {X} --maxiter 2 --out odir", "table"),
    ("population-select", "population select {X} --out o.csv", "table"),
    ("population-select-exclusions", "population select wise.csv --exclusions {X} --out o.csv", "table"),
    ("population-crossmatch-left", "population crossmatch {X} wise.csv --out o.csv", "table"),
    ("population-crossmatch-right", "population crossmatch wise.csv {X} --out o.csv", "table"),
    ("population-tracks", "population tracks --emulator {X} --n-tracks 4 --n-angles 3 --out o.npz", "model"),
    ("population-fit-tracks", "population fit {X} wise.csv --out o.npz", "tracks"),
    ("population-fit-observed", "population fit tracks.npz {X} --out o.npz", "table"),
    ("nebular-temden-input", "nebular temden {X} --model neb.npz --out o.csv", "table"),
    ("nebular-temden-model", "nebular temden lines.csv --model {X} --out o.csv", "model"),
    ("nebular-mc-model", "nebular mc --model {X} --synthetic 4 --n-draws 5 --out o.npz", "model"),
    ("nebular-mc-cube", "nebular mc --model neb.npz --cube {X} --n-draws 5 --out o.npz", "cube"),
    ("nebular-icf-model", "nebular icf --model {X} --predict lines.csv --predictions-out o.csv", "model"),
    ("nebular-icf-table", "nebular icf --table {X} --target log_icf_N", "table"),
    ("spectra-train", "spectra train {X} --kind redshift --epochs 1 --out o.npz", "spectra"),
    ("spectra-predict-data", "spectra predict {X} --redshift-model z.npz --out o.csv", "spectra"),
    ("spectra-predict-zmodel", "spectra predict s.h5 --redshift-model {X} --out o.csv", "model"),
    ("spectra-predict-dlamodel", "spectra predict s.h5 --dla-model {X} --true-z --out o.csv", "model"),
    ("spectra-evaluate", "spectra evaluate {X} --redshift-model z.npz", "spectra"),
    ("lightcurves-features", "lightcurves features {X} --no-villar --out o.parquet", "lc"),
    ("lightcurves-train-features", "lightcurves train {X} labels.parquet --n-estimators 3 --out o.npz", "table"),
    ("lightcurves-train-labels", "lightcurves train feat.parquet {X} --n-estimators 3 --out o.npz", "table"),
    ("lightcurves-classify-model", "lightcurves classify {X} feat.parquet --out o.csv", "model"),
    ("lightcurves-classify-features", "lightcurves classify clf.npz {X} --out o.csv", "table"),
    ("lightcurves-anomalies-lc", "lightcurves anomalies {X} --max-epochs 1 --out o.csv", "lc"),
    ("lightcurves-anomalies-model", "lightcurves anomalies builtin --n-per-class 2 --model {X} --out o.csv", "model"),
]

# output == input: refused before any work, input unchanged
SAME = [
    "emulate train grid.npz --kind pca --out grid.npz",
    "emulate predict pca.npz params.csv --out params.csv",
    "emulate evaluate pca.npz grid.npz --out .",
    "infer sed --model pca.npz --observed obs.csv --out .",
    "population select wise.csv --out wise.csv",
    "population crossmatch wise.csv builtin --out wise.csv",
    "population tracks --emulator pca.npz --out pca.npz",
    "population fit tracks.npz wise.csv --out tracks.npz",
    "population fit tracks.npz wise.csv --out o.npz --report .",
    "nebular temden lines.csv --model neb.npz --out lines.csv",
    "nebular mc --model neb.npz --cube cube.npz --out cube.npz",
    "nebular icf --model neb.npz --predict lines.csv --predictions-out lines.csv",
    "spectra predict s.h5 --redshift-model z.npz --out s.h5",
    "spectra predict s.h5 --dla-model d.npz --true-z --out o.csv --dla-out s.h5",
    "lightcurves features lc.parquet --out lc.parquet",
    "lightcurves classify clf.npz feat.parquet --out feat.parquet",
    "lightcurves anomalies lc.parquet --out lc.parquet",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Good tiny inputs of every kind, made once (about 10 s)."""
    os.environ["AGNLAB_PROGRESS"] = "0"
    d = tmp_path_factory.mktemp("hostile")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        from agnlab.catalog import make_mock_catalog
        from agnlab.emulate import PCAEmulator
        from agnlab.grids import clumpy_like_grid, save_grid
        from agnlab.nebular import make_synthetic_cube

        grid = clumpy_like_grid(80, seed=0)
        save_grid(grid, "grid.npz")
        PCAEmulator(n_components=4).fit(grid).save("pca.npz")
        pd.DataFrame(grid.params[:3], columns=grid.param_names).to_csv("params.csv", index=False)
        k = np.arange(20, 100, 8)
        pd.DataFrame({"wave_um": grid.wave_um[k], "flux": grid.flux[0, k],
                      "flux_err": 0.1 * grid.flux[0, k]}).to_csv("obs.csv", index=False)
        make_mock_catalog(n_sources=300, seed=0).wise.to_csv("wise.csv", index=False)
        for argv in ("population tracks --n-tracks 6 --n-angles 3 --out tracks.npz",
                     "nebular train --out neb.npz",
                     "spectra simulate --n 12 --dla-rate 3 --out s.h5",
                     "spectra train s.h5 --kind redshift --epochs 1 --out z.npz",
                     "spectra train s.h5 --kind dla --epochs 1 --out d.npz",
                     "lightcurves simulate --n-per-class 2 --out lc.parquet --labels-out labels.parquet",
                     "lightcurves features lc.parquet --no-villar --out feat.parquet",
                     "lightcurves train feat.parquet labels.parquet --n-estimators 3 --out clf.npz"):
            assert main(argv.split()) == 0, argv
        cube = make_synthetic_cube((3, 3), seed=0)
        np.savez("cube.npz", **cube["fluxes"], **{f"{k}_err": v for k, v in cube["errors"].items()})
        pd.DataFrame({k: v.ravel() for k, v in cube["fluxes"].items()}).to_csv("lines.csv", index=False)
        _make_hostile_files(Path(d))
    finally:
        os.chdir(cwd)
    return Path(d)


def _make_hostile_files(d: Path) -> None:
    h = d / "hostile"
    h.mkdir()
    for name in ("empty.csv", "empty.npz", "empty.h5", "empty.parquet"):
        (h / name).write_bytes(b"")
    for suffix in (".npz", ".fits", ".parquet", ".h5", ".xlsx"):
        (h / f"text{suffix}").write_text("this is not the file you are looking for\n1,2,3\n")
    for name, good in (("trunc.npz", "pca.npz"), ("trunc.parquet", "feat.parquet"), ("trunc.h5", "s.h5")):
        data = (d / good).read_bytes()
        (h / name).write_bytes(data[: len(data) // 2])
    np.savez(h / "plain.npz", a=np.arange(3.0))
    import h5py

    with h5py.File(h / "plain.h5", "w") as f:
        f["x"] = np.arange(3.0)
    pd.DataFrame({"foo": [1.0, 2.0]}).to_csv(h / "nocols.csv", index=False)
    shutil.copy(d / "tracks.npz", h / "wrongkind.npz")       # an artifact of another kind for model slots
    shutil.copy(d / "pca.npz", h / "wrongkind_tracks.npz")   # ... and an emulator where tracks are expected
    # a model whose zip member is damaged (zlib error on read)
    data = bytearray((d / "pca.npz").read_bytes())
    mid = len(data) // 2
    data[mid: mid + 64] = bytes(64)
    (h / "missing.npz").write_bytes(bytes(data))
    grid = np.load(d / "grid.npz")
    np.savez(h / "widthgrid.npz", params=grid["params"], param_names=grid["param_names"],
             wave_um=grid["wave_um"][:-3], flux=grid["flux"])
    np.savez(h / "nocube.npz", O3_5007A=np.ones((2, 2)))


def _fingerprint(d: Path) -> dict:
    return {p.relative_to(d): hashlib.sha256(p.read_bytes()).hexdigest() for p in d.rglob("*") if p.is_file()}


def _run_hostile(workdir, argv, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    before = _fingerprint(workdir)
    try:
        rc = main(argv)
    except SystemExit as exc:     # argparse usage errors
        rc = exc.code
    finally:
        for leftover in ("o.npz", "o.csv", "o.parquet", "odir"):
            p = workdir / leftover
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    err = capsys.readouterr().err
    assert _fingerprint(workdir) == before, f"an input changed (or an output was written): {argv}"
    return rc, err


def _cases():
    for vid, template, kind in VERBS:
        for name in HOSTILE[kind]:
            if kind == "tracks" and name == "wrongkind.npz":
                name = "wrongkind_tracks.npz"
            yield pytest.param(template, f"hostile/{name}", id=f"{vid}-{name}")


@pytest.mark.parametrize(("template", "bad"), list(_cases()))
def test_hostile_input_named_error(workdir, template, bad, capsys, monkeypatch):
    argv = template.replace("{X}", bad).split()
    rc, err = _run_hostile(workdir, argv, capsys, monkeypatch)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 2, f"exit {rc}; stderr: {err[-600:]}"
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("agnlab: error:"), err[-600:]
    assert bad in lines[-1], f"the error does not name {bad}: {lines[-1]}"


@pytest.mark.parametrize("command", SAME, ids=[c.split(" --")[0].replace(" ", "-") for c in SAME])
def test_output_equal_to_input_refused(workdir, command, capsys, monkeypatch):
    rc, err = _run_hostile(workdir, command.split(), capsys, monkeypatch)
    assert rc == 2, err[-600:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("agnlab: error:") and ("is the input" in last or "contains the input" in last), last


def _walk(parser, path=("agnlab",)):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_every_option_has_help_and_states_its_default():
    import argparse

    from agnlab.cli import build_parser

    problems = []
    for path, parser in _walk(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            name = "/".join(action.option_strings) or action.dest
            where = " ".join(path)
            if not action.help or action.help == argparse.SUPPRESS:
                problems.append(f"{where} {name}: no help text")
                continue
            takes_value = action.nargs != 0
            if (takes_value and action.option_strings and not action.required
                    and "default" not in action.help and "(or " not in action.help):
                problems.append(f"{where} {name}: help does not state the default")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- silent wrong answers become errors
def _sed_table(workdir, name, rows):
    path = workdir / name
    pd.DataFrame(rows, columns=["wave_um", "flux", "flux_err"]).to_csv(path, index=False)
    return path.name


def test_infer_sed_refuses_too_few_points_and_duplicated_wavelengths(workdir, capsys, monkeypatch):
    obs = pd.read_csv(workdir / "obs.csv")
    one = _sed_table(workdir, "one.csv", obs.iloc[:1].to_numpy())
    rc, err = _run_hostile(workdir, f"infer sed --model pca.npz --observed {one} --out odir".split(), capsys,
                           monkeypatch)
    assert rc == 2 and "degrees of freedom" in err and "cannot constrain 6 parameters" in err
    dup = _sed_table(workdir, "dup.csv", np.vstack([obs.to_numpy(), obs.iloc[:1].to_numpy()]))
    rc, err = _run_hostile(workdir, f"infer sed --model pca.npz --observed {dup} --out odir".split(), capsys,
                           monkeypatch)
    assert rc == 2 and "duplicated wavelength" in err


def test_infer_sed_max_calls_stops_the_search(workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    try:
        assert main("infer sed --model pca.npz --observed obs.csv --max-calls 500 --out odir".split()) == 0
        summary = __import__("json").loads((workdir / "odir" / "summary.json").read_text())
        assert summary["n_forward_calls"] <= 500 + 32 * 6
        assert "stopped early at --max-calls" in capsys.readouterr().err
    finally:
        shutil.rmtree(workdir / "odir", ignore_errors=True)


def test_crossmatch_applies_the_redshift_range_and_refuses_an_inverted_one(workdir, capsys, monkeypatch):
    from agnlab.catalog import make_mock_catalog

    monkeypatch.chdir(workdir)
    spec = make_mock_catalog(n_sources=300, seed=0).spectra
    spec.to_csv("spec.csv", index=False)
    try:
        assert main("population crossmatch wise.csv spec.csv --z-min 1 --z-max 2 --out o.csv".split()) == 0
        z = pd.read_csv("o.csv")["spec_z"]
        assert len(z) > 0 and z.between(1, 2).all()
    finally:
        Path("o.csv").unlink(missing_ok=True)
    rc, err = _run_hostile(workdir, "population crossmatch wise.csv spec.csv --z-min 2 --z-max 1 --out o.csv".split(),
                           capsys, monkeypatch)
    assert rc == 2 and "--z-min 2 > --z-max 1" in err


def test_temden_reads_table_columns_by_name(workdir):
    from agnlab.nebular import TeNeEstimator

    est = TeNeEstimator.load(workdir / "neb.npz").set_params(on_out_of_domain="nan")
    X = np.array([[0.01, 1.2], [0.02, 0.9], [0.005, 1.4]])
    expected = est.predict(X)
    swapped = pd.DataFrame({"den_ratio": X[:, 1], "tem_ratio": X[:, 0]})
    np.testing.assert_allclose(est.predict(swapped), expected, rtol=0, atol=0, equal_nan=True)
    with pytest.raises(ValueError, match="matched by name, never by position"):
        est.predict(pd.DataFrame(X, columns=["a", "b"]))


def test_emulate_predict_out_of_domain_names_the_option(workdir, capsys, monkeypatch):
    pd.DataFrame({n: [1e6] for n in ("tv", "N0", "sig", "Y", "q", "i")}).to_csv(workdir / "far.csv", index=False)
    rc, err = _run_hostile(workdir, "emulate predict pca.npz far.csv --out o.csv".split(), capsys, monkeypatch)
    assert rc == 2 and "far.csv" in err and "--on-out-of-domain nan" in err and "on_out_of_domain=" not in err
