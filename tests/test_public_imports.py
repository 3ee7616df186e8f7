"""Tests, benchmarks and notebooks use public names only: no ``agnlab.<pkg>._private`` imports."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sources():
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path, path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        yield path, "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))


def _private_agnlab_imports(tree) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "agnlab" and any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
                found.append((node.lineno, name))
    return found


def test_no_private_agnlab_imports_outside_src():
    offenders = []
    for path, text in _sources():
        for line, name in _private_agnlab_imports(ast.parse(text, filename=str(path))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not offenders, "import public names instead of private modules:\n" + "\n".join(offenders)


def test_the_check_catches_private_imports():
    tree = ast.parse("import agnlab.spectra._dla\nfrom agnlab.nebular._icf import x\nfrom agnlab.emulate import y\n")
    assert [n for _, n in _private_agnlab_imports(tree)] == ["agnlab.spectra._dla", "agnlab.nebular._icf",
                                                               "agnlab.nebular._icf.x"]
