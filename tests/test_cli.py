import subprocess
import sys

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
