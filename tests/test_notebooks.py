"""Every example notebook runs top to bottom (CI runs them; `agnlab notebooks html` converts them to HTML)."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    pytest.importorskip("nbclient")
    from agnlab.report.notebooks import NotebookError, execute_notebook

    try:
        nb = execute_notebook(path, timeout_s=300, cwd=tmp_path)
    except NotebookError as exc:  # names the notebook and the failing cell, with its source and error
        pytest.fail(str(exc), pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
