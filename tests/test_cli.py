import subprocess
import sys

import pytest

from agnlab import __version__
from agnlab.cli import main


def test_help_and_version(capsys):
    assert main([]) == 0
    assert "agnlab" in capsys.readouterr().out
    out = subprocess.run([sys.executable, "-m", "agnlab", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"agnlab {__version__}"


def test_demo_rejects_unknown_workflow(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--out", str(tmp_path / "r"), "--only", "nope"])
    assert info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_help_does_not_import_heavy_dependencies():
    """Workflow packages export their names lazily: `agnlab --help` imports no torch/sklearn/PyNeb."""
    code = ("import sys\nfrom agnlab.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'sklearn', 'pyneb', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_lazy_public_names_resolve():
    import importlib

    for name in ("emulate", "population", "nebular", "inference", "spectra"):
        pkg = importlib.import_module(f"agnlab.{name}")
        for attr in pkg.__all__:
            assert getattr(pkg, attr) is not None
        assert set(pkg.__all__) <= set(dir(pkg))
        with pytest.raises(AttributeError, match="no_such_name"):
            pkg.no_such_name


def test_info_shows_kind_parameters_and_creating_command(tmp_path, capsys):
    import json

    model = tmp_path / "m.npz"
    assert main(["emulate", "train", "builtin", "--kind", "pca", "--n-models", "300", "--test-fraction", "0",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "agnlab.emulate.PCAEmulator"
    assert info["command"].startswith("agnlab emulate train builtin")
    assert len(info["param_ranges"]) == 6 and info["training_record"]["n_train"] == 300
    (tmp_path / "bad.npz").write_text("garbage")
    assert main(["info", str(tmp_path / "bad.npz")]) == 2
    assert "not an agnlab model file" in capsys.readouterr().err
