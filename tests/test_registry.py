"""The workflow registry: every entry resolves, a misnamed plug-in is an error, shared CLI options behave."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agnlab.cli import build_parser, main
from agnlab.cli_common import CLIError
from agnlab.registry import WORKFLOWS, RegistryError, Workflow, hook

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("wf", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_every_registry_entry_resolves(wf):
    for module in wf.cli:
        assert callable(hook(wf, module, "register"))
    if wf.demo is not None:
        assert callable(hook(wf, wf.demo, "run_demo"))
    for name in wf.benchmarks:
        assert (ROOT / "benchmarks" / f"{name}.py").is_file(), f"{wf.name}: benchmarks/{name}.py missing"


def test_misnamed_plugin_is_an_error():
    bad = dataclasses.replace(WORKFLOWS[0], cli=("_clii",))
    with pytest.raises(RegistryError, match="_clii does not exist"):
        hook(bad, "_clii", "register")
    with pytest.raises(RegistryError, match="no function"):
        hook(WORKFLOWS[0], WORKFLOWS[0].cli[0], "regster")
    with pytest.raises(RegistryError, match="does not exist"):
        hook(Workflow("x", "no_such_package", "t"), "_cli", "register")


def test_names_are_unique_and_help_lists_every_workflow(capsys):
    names = [w.name for w in WORKFLOWS]
    assert len(set(names)) == len(names)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert all(n in out for n in names)


def test_output_equal_to_input_is_refused_before_work(tmp_path, capsys):
    grid = tmp_path / "g.npz"
    grid.write_bytes(b"precious")
    assert main(["emulate", "train", str(grid), "--out", str(grid)]) == 2
    err = capsys.readouterr().err
    assert "is the input grid" in err and "Traceback" not in err
    assert grid.read_bytes() == b"precious"


def test_existing_output_needs_overwrite_and_suffix_is_checked(tmp_path, capsys):
    out = tmp_path / "m.npz"
    out.write_bytes(b"old")
    assert main(["emulate", "train", "builtin", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"old"
    assert main(["emulate", "train", "builtin", "--out", str(tmp_path / "m.txt")]) == 2
    assert "unsupported suffix '.txt'" in capsys.readouterr().err


def test_unwritable_output_place_is_refused_before_work(tmp_path, capsys):
    parent_file = tmp_path / "afile"
    parent_file.write_text("x")
    assert main(["emulate", "train", "builtin", "--out", str(parent_file / "m.npz")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_cli_error_is_a_value_error():
    assert issubclass(CLIError, ValueError)
