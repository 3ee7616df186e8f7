"""Tests, benchmarks, scripts and notebooks use public names only: no ``agnlab.<pkg>._private`` imports.

The one exception is the maintainer script that writes the shipped spectra models: it stamps the model
files and their card with the package's own artefact fields, so its private imports are listed by name
(a new one still fails the test).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: private imports a maintainer script may make, by file
MAINTAINER_PRIVATE_IMPORTS = {
    "scripts/train_spectra_models.py": {
        "agnlab.io._artifact", "agnlab.io._artifact.CREATION_COMMAND",
        "agnlab.spectra._ml_eval", "agnlab.spectra._ml_eval.evaluate_predictions",
        "agnlab.spectra._ml_eval.predict_batches",
        "agnlab.spectra._pretrained", "agnlab.spectra._pretrained.CARD_FIELDS",
        "agnlab.spectra._pretrained.PRETRAINED_NAMES", "agnlab.spectra._pretrained._sha256",
    },
    # an oracle analysis: it re-derives the simulator's absorbers and the finder's log N scale from their internals
    "benchmarks/spectra_dla_ceiling.py": {
        "agnlab.spectra._cddf", "agnlab.spectra._cddf.ColumnDensityDistribution",
        "agnlab.spectra._dla", "agnlab.spectra._dla._NHI_MID", "agnlab.spectra._dla._NHI_SCALE",
        "agnlab.spectra._dla._window_snr", "agnlab.spectra._igm", "agnlab.spectra._igm.add_line_tau",
        "agnlab.spectra._metrics", "agnlab.spectra._metrics.dla_search_range",
        "agnlab.spectra._ml_eval", "agnlab.spectra._ml_eval.MAG_BINS",
        "agnlab.spectra._physics", "agnlab.spectra._physics.LYMAN_SERIES", "agnlab.spectra._physics.damping_a",
        "agnlab.spectra._physics.tau0_factor", "agnlab.spectra._voigt", "agnlab.spectra._voigt.voigt_hjerting",
    },
    # unit tests of the trees' binned walk against scikit-learn and FlatTrees (GridInverter reaches it only after a fit)
    "tests/nebular/test_grid_backends.py": {
        "agnlab.nebular._grid_backends", "agnlab.nebular._grid_backends.QUANTILES",
        "agnlab.nebular._grid_backends.GBMQuantiles", "agnlab.nebular._grid_backends.bin_features",
        "agnlab.nebular._grid_backends.split_bins",
    },
}


def _sources():
    for folder in ("tests", "benchmarks", "scripts"):
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
        allowed = MAINTAINER_PRIVATE_IMPORTS.get(path.relative_to(ROOT).as_posix(), set())
        for line, name in _private_agnlab_imports(ast.parse(text, filename=str(path))):
            if name in allowed:
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not offenders, "import public names instead of private modules:\n" + "\n".join(offenders)


def test_the_check_catches_private_imports():
    tree = ast.parse("import agnlab.spectra._dla\nfrom agnlab.nebular._icf import x\nfrom agnlab.emulate import y\n")
    assert [n for _, n in _private_agnlab_imports(tree)] == ["agnlab.spectra._dla", "agnlab.nebular._icf",
                                                               "agnlab.nebular._icf.x"]


def test_the_maintainer_allow_list_has_no_stale_entries():
    for rel, allowed in MAINTAINER_PRIVATE_IMPORTS.items():
        path = ROOT / rel
        used = {name for _, name in _private_agnlab_imports(ast.parse(path.read_text(), filename=str(path)))}
        assert allowed <= used, f"{rel}: allow-listed but no longer imported: {sorted(allowed - used)}"
