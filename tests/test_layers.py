"""Layers only point down: no import cycles inside agnlab, and no shared layer imports a workflow.

Static analysis with :mod:`ast` over ``src/agnlab``: every ``import`` and
``from ... import`` counts, at module level or inside functions, classes and
``if`` blocks. Names re-exported lazily by a package (its ``_EXPORTS`` dict,
see ``agnlab._lazy``) resolve to the module that defines them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: Top-level packages and modules that everything may use; they import no workflow.
SHARED = ("io", "grids", "photometry", "catalog", "inference", "nn", "report", "constants", "metrics", "parallel",
          "scale")
#: The workflows (top of the stack besides the CLI/registry).
WORKFLOWS = ("emulate", "population", "nebular", "spectra", "lightcurves", "explore")


# --------------------------------------------------------------------------- the import graph
def _modules(root: Path, top: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root / top``."""
    out = {}
    for path in sorted((root / top).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(mods: dict, name: str) -> bool:
    return mods.get(name) is not None and mods[name].name == "__init__.py"


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    """``_EXPORTS = {"name": ".module", ...}`` of a package ``__init__`` (string literals only)."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in targets) and isinstance(node.value, ast.Dict):
            return {k.value: v.value for k, v in zip(node.value.keys, node.value.values)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
    return {}


def _resolve_relative(package: str, spec: str) -> str:
    """``".._domain"`` relative to ``package`` -> an absolute dotted name."""
    level = len(spec) - len(spec.lstrip("."))
    base = package.split(".")
    base = base[: len(base) - (level - 1)] if level > 1 else base
    rest = spec.lstrip(".")
    return ".".join(base + ([rest] if rest else []))


def import_graph(root: Path, top: str = "agnlab") -> dict[str, set[str]]:
    """Module -> the agnlab modules it imports (anywhere in its code)."""
    mods = _modules(root, top)
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for name, path in mods.items()}
    lazy = {name: _lazy_exports(tree) for name, tree in trees.items() if _is_package(mods, name)}

    def existing(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    def target_of(module: str, attr: str | None) -> str | None:
        """What ``from module import attr`` (or ``import module``) loads."""
        if attr is not None:
            if f"{module}.{attr}" in mods:
                return f"{module}.{attr}"
            spec = lazy.get(module, {}).get(attr)
            if spec is not None:
                return existing(_resolve_relative(module, spec))
        return existing(module)

    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        package = name if _is_package(mods, name) else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == top or alias.name.startswith(top + "."):
                        edges.add(target_of(alias.name, None))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    module = _resolve_relative(package, "." * node.level + (node.module or ""))
                elif node.module and (node.module == top or node.module.startswith(top + ".")):
                    module = node.module
                else:
                    continue
                for alias in node.names:
                    edges.add(target_of(module, None if alias.name == "*" else alias.name))
        edges.discard(None)
        edges.discard(name)
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))
    return comps


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between subpackages (``agnlab.x.y`` -> ``agnlab.x``; top-level modules stay themselves)."""
    def pkg(module):
        return ".".join(module.split(".")[:2])

    out: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        out.setdefault(pkg(mod), set()).update(pkg(d) for d in deps if pkg(d) != pkg(mod))
    return out


def _layer(module: str, top: str = "agnlab") -> str | None:
    parts = module.split(".")
    if len(parts) == 1:
        return "shared"                                      # agnlab/__init__.py
    first = parts[1]
    if first in WORKFLOWS:
        return "workflow"
    if first in SHARED or (len(parts) == 2 and first.startswith("_")):
        return "shared"
    return None                                              # cli, registry, cli_common: the top


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{mod} -> {dep}" for mod, deps in graph.items() if _layer(mod) == "shared"
                  for dep in deps if _layer(dep) == "workflow")


# --------------------------------------------------------------------------- the checks on agnlab
@pytest.fixture(scope="module")
def graph():
    return import_graph(SRC)


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles between agnlab modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycles_between_subpackages(graph):
    """Two subpackages never import each other, even through different modules."""
    cycles = import_cycles(package_graph(graph))
    assert not cycles, "subpackages importing each other:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_shared_layers_import_no_workflow(graph):
    bad = layer_violations(graph)
    assert not bad, "shared layers importing a workflow:\n" + "\n".join(bad)


def test_graph_sees_the_package():
    g = import_graph(SRC)
    assert "agnlab.inference._solution" in g and "agnlab.validation" in g["agnlab.inference._solution"]


# --------------------------------------------------------------------------- the analysis itself
def _write(root: Path, files: dict[str, str]):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_analysis_finds_cycles_and_function_level_imports(tmp_path):
    _write(tmp_path, {
        "agnlab/__init__.py": "",
        "agnlab/io/__init__.py": "",
        "agnlab/io/_a.py": "def f():\n    from ..emulate import thing\n",            # inside a function
        "agnlab/emulate/__init__.py": '_EXPORTS = {"thing": "._b"}\n',
        "agnlab/emulate/_b.py": "from . import _c\n",
        "agnlab/emulate/_c.py": "import agnlab.emulate._b\n",                          # _b <-> _c
        "agnlab/report/__init__.py": "from agnlab.photometry import x\n",
        "agnlab/photometry/__init__.py": "",
    })
    g = import_graph(tmp_path)
    assert g["agnlab.io._a"] == {"agnlab.emulate._b"}           # lazy export resolved to its module
    assert import_cycles(g) == [["agnlab.emulate._b", "agnlab.emulate._c"]]
    assert layer_violations(g) == ["agnlab.io._a -> agnlab.emulate._b"]
    assert package_graph(g)["agnlab.io"] == {"agnlab.emulate"}
