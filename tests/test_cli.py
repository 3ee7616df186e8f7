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
    assert main(["demo", "--out", str(tmp_path), "--only", "nope"]) == 2
    assert "unknown workflow" in capsys.readouterr().err


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
