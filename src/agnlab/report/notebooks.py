"""Execute the example notebooks and convert them to HTML: ``agnlab notebooks html``.

Each HTML copy records the SHA-256 of the notebook it was made from (cell types
and sources, not outputs or metadata) in ``<meta name="agnlab-notebook-sha256">``,
and of the ``agnlab`` code the notebook runs (the modules it imports, directly or
through others, with their package data) in ``<meta name="agnlab-code-sha256">``,
so :func:`stale_html` can tell a stale copy from a current one without looking
at file times (which git does not keep): a library change that alters a
notebook's outputs makes its copy stale too. :func:`changed_notebooks` picks the
notebooks changed since a git ref, counting a notebook as changed also when an
``agnlab`` subpackage it imports (directly or through other subpackages)
changed. Executing and converting needs the ``notebooks`` extra (nbclient,
nbconvert, ipykernel); selecting and checking need only the standard library.
"""

from __future__ import annotations

import ast
import hashlib
import html as _html
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "CODE_META_NAME",
    "META_NAME",
    "NotebookError",
    "changed_notebooks",
    "convert_notebook",
    "convert_notebooks",
    "execute_notebook",
    "html_notebook_sha256",
    "html_path",
    "notebook_imports",
    "notebook_sha256",
    "package_code_sha256",
    "package_dependencies",
    "stale_html",
    "stamp_html",
]

META_NAME = "agnlab-notebook-sha256"
CODE_META_NAME = "agnlab-code-sha256"
_META_RE = re.compile(r'<meta\s+name="agnlab-notebook-sha256"\s+content="([0-9a-f]{64})"\s*/?>')
_CODE_META_RE = re.compile(r'<meta\s+name="agnlab-code-sha256"\s+content="([0-9a-f]{64})"\s*/?>')
_CODE_SUFFIXES = (".py", ".json", ".npz")  # code and the package data (shipped models) it reads
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookError(ValueError):
    """A notebook that failed to run (or cannot be read); the message names the notebook and the cell.

    Attributes ``notebook``, ``cell_index`` (0-based index in the notebook's cells, or None) and
    ``cell_source`` say where.
    """

    def __init__(self, message, *, notebook=None, cell_index=None, cell_source=None):
        super().__init__(message)
        self.notebook = notebook
        self.cell_index = cell_index
        self.cell_source = cell_source


# --------------------------------------------------------------------------- reading and hashing


def _read_json(path: Path) -> dict:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError(f"{path}: cannot read the notebook ({exc})", notebook=str(path)) from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{path}: not a Jupyter notebook (no 'cells' list)", notebook=str(path))
    return nb


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def notebook_sha256(path) -> str:
    """SHA-256 of what a notebook runs and shows: the type and source of every cell, in order.

    Outputs, execution counts and metadata do not enter, so re-saving or clearing a notebook keeps
    its hash.
    """
    cells = [[c.get("cell_type", ""), _source(c)] for c in _read_json(Path(path))["cells"]]
    blob = json.dumps(cells, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _package_root() -> Path:
    return Path(__file__).resolve().parents[1]


def package_code_sha256(notebook, src_root=None, *, graph=None) -> str:
    """SHA-256 of the package files a notebook's ``agnlab`` imports reach (see :func:`package_dependencies`).

    ``src_root`` is the package folder (default: the installed ``agnlab``); its ``.py``, ``.json`` and
    ``.npz`` files in the imported top-level modules enter with their relative paths. ``graph``: the
    :func:`package_dependencies` of ``src_root``, when the caller already has it.
    """
    src_root = Path(src_root) if src_root is not None else _package_root()
    graph = package_dependencies(src_root) if graph is None else graph
    units = _closure(notebook_imports(notebook), graph)
    digest = hashlib.sha256()
    for file in sorted(src_root.rglob("*")):
        rel = file.relative_to(src_root)
        if file.suffix in _CODE_SUFFIXES and "__pycache__" not in rel.parts and _unit_of(rel) in units:
            digest.update(rel.as_posix().encode("utf-8") + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _html_meta(path, pattern) -> str | None:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    m = pattern.search(text, 0, 16384) or pattern.search(text)
    return m.group(1) if m else None


def html_notebook_sha256(path) -> str | None:
    """The notebook hash recorded in an HTML copy, or None when it has none."""
    return _html_meta(path, _META_RE)


def html_code_sha256(path) -> str | None:
    """The package-code hash recorded in an HTML copy, or None when it has none."""
    return _html_meta(path, _CODE_META_RE)


def html_path(notebook, outdir=None) -> Path:
    """Where the HTML copy of ``notebook`` lives: ``outdir/<stem>.html`` (default: ``html/`` beside it)."""
    notebook = Path(notebook)
    return Path(outdir if outdir is not None else notebook.parent / "html") / f"{notebook.stem}.html"


def stale_html(notebooks, outdir=None, *, src_root=None) -> list[tuple[Path, Path, str]]:
    """The HTML copies of ``notebooks`` that are missing or were made from another version of the
    notebook or of the ``agnlab`` code it imports (package folder ``src_root``, default the installed one).

    Returns ``(notebook, html, reason)`` for each stale copy; an empty list means all are current.
    """
    stale, graph = [], None
    for nb in map(Path, notebooks):
        target = html_path(nb, outdir)
        if not target.is_file():
            stale.append((nb, target, "no HTML copy"))
            continue
        recorded = html_notebook_sha256(target)
        if recorded is None:
            stale.append((nb, target, f"HTML copy has no <meta name={META_NAME!r}> (made by another tool)"))
        elif recorded != notebook_sha256(nb):
            stale.append((nb, target, "notebook changed since its HTML copy was made"))
        elif (code := html_code_sha256(target)) is None:
            stale.append((nb, target, f"HTML copy has no <meta name={CODE_META_NAME!r}> (made by an older agnlab)"))
        else:
            root = Path(src_root) if src_root is not None else _package_root()
            graph = package_dependencies(root) if graph is None else graph  # parsed once for all notebooks
            if code != package_code_sha256(nb, root, graph=graph):
                stale.append((nb, target, "agnlab code the notebook imports changed since its HTML copy was made"))
    return stale


# --------------------------------------------------------------------------- import analysis


def _parse_cell(source: str):
    # IPython magics and shell escapes are not Python: blank them out (keeping line numbers).
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _absolute_targets(tree, package: str = "agnlab") -> set[tuple[str, ...]]:
    """Dotted targets (inside ``package``, as tuples of parts) of the absolute imports in ``tree``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package:
                    out.add(tuple(parts[1:]))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == package:
                out.add(tuple(parts[1:]))
                if len(parts) == 1:  # from agnlab import emulate
                    out.update((alias.name,) for alias in node.names)
    return out


def notebook_imports(path) -> set[str]:
    """The ``agnlab`` top-level modules a notebook's code cells import.

    ``""`` stands for the package itself (``agnlab/__init__.py``), which every ``agnlab`` import runs.
    Cells that are not valid Python (after blanking magics) are skipped.
    """
    units = set()
    for cell in _read_json(Path(path))["cells"]:
        if cell.get("cell_type") != "code":
            continue
        tree = _parse_cell(_source(cell))
        if tree is not None:
            for target in _absolute_targets(tree):
                units.update({"", target[0]} if target else {""})
    return units


def _unit_of(rel: Path) -> str:
    """Top-level module of a path relative to the package root: ``emulate/_pca.py`` -> ``emulate``."""
    if len(rel.parts) == 1:
        return "" if rel.name == "__init__.py" else rel.stem
    return rel.parts[0]


def package_dependencies(src_root) -> dict[str, set[str]]:
    """For every top-level module of the package at ``src_root``, the top-level modules it imports.

    Absolute (``agnlab.x``) and relative imports count, lazy ones inside functions included, and so
    do the relative module names given as strings in an ``__init__.py`` (lazy exports). Every module
    also depends on ``""`` (the package ``__init__``).
    """
    src_root = Path(src_root)
    graph: dict[str, set[str]] = {}
    for file in sorted(src_root.rglob("*.py")):
        rel = file.relative_to(src_root)
        unit = _unit_of(rel)
        deps = graph.setdefault(unit, set())
        if unit:
            deps.add("")
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError):
            continue
        package = list(rel.parts[:-1])
        targets = set(_absolute_targets(tree))
        relative = [(n.level, n.module, [a.name for a in n.names]) for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom) and n.level > 0]
        if rel.name == "__init__.py":
            relative += [(len(s) - len(s.lstrip(".")), s.lstrip(".") or None, [])
                         for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(s := n.value, str)
                         and re.fullmatch(r"\.+[A-Za-z_][\w.]*", s)]
        for level, module, names in relative:
            base = package[:len(package) - (level - 1)] if level - 1 <= len(package) else []
            if module:
                targets.add(tuple(base + module.split(".")))
            else:
                targets.update(tuple(base + [name]) for name in names)
                targets.add(tuple(base))
        for target in targets:
            dep = target[0] if target else ""
            if dep != unit:
                deps.add(dep)
    units = set(graph)  # names imported from the package's __init__ (agnlab.__version__) are not modules
    return {unit: deps & units for unit, deps in graph.items()}


def _closure(start: set[str], graph: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        unit = todo.pop()
        if unit not in seen:
            seen.add(unit)
            todo.extend(graph.get(unit, ()))
    return seen


# --------------------------------------------------------------------------- selection by git


def _git(args, cwd) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise ValueError("--changed needs git, which is not installed") from exc
    if proc.returncode != 0:
        raise ValueError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def _changed_files(base_ref: str, cwd) -> tuple[Path, set[str]]:
    """Repository root and the paths (relative to it) changed since ``base_ref`` or untracked."""
    root = Path(_git(["rev-parse", "--show-toplevel"], cwd).strip())
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{base_ref}^{{commit}}"], root)
    except ValueError:
        raise ValueError(f"--changed {base_ref}: not a commit in the git repository {root} "
                         "(in CI, fetch it first, e.g. actions/checkout with fetch-depth: 0)") from None
    try:  # compare with the fork point, so that later commits on the base branch do not count
        base = _git(["merge-base", base_ref, "HEAD"], root).strip()
    except ValueError:
        base = base_ref
    changed = set(filter(None, _git(["diff", "--name-only", "-z", base, "--"], root).split("\0")))
    changed |= set(filter(None, _git(["ls-files", "--others", "--exclude-standard", "-z"], root).split("\0")))
    return root, changed


def changed_notebooks(notebooks, base_ref: str, *, cwd=None, package: str = "agnlab") -> list[tuple[Path, str]]:
    """The ``notebooks`` changed since ``base_ref`` in git, each with the reason it was selected.

    A notebook counts as changed when its file differs from the fork point of ``base_ref`` and
    ``HEAD`` (the working tree is compared, and untracked notebooks count), or when a top-level module
    of ``src/<package>/`` that it imports, directly or through other modules of the package, changed.
    """
    notebooks = [Path(p) for p in notebooks]
    cwd = Path(cwd) if cwd is not None else (notebooks[0].resolve().parent if notebooks else Path.cwd())
    root, changed = _changed_files(base_ref, cwd)
    changed_abs = {(root / p).resolve() for p in changed}
    prefix = ("src", package)
    changed_units = {_unit_of(Path(*Path(p).parts[2:])) for p in changed
                     if Path(p).parts[:2] == prefix and len(Path(p).parts) > 2}
    graph = package_dependencies(root.joinpath(*prefix)) if changed_units else {}
    selected = []
    for nb in notebooks:
        if nb.resolve() in changed_abs:
            selected.append((nb, "notebook changed"))
            continue
        if not changed_units:
            continue
        imports = notebook_imports(nb)
        hit = sorted(_closure(imports, graph) & changed_units)
        if hit:
            names = ", ".join(f"{package}.{u}" if u else f"{package}/__init__.py" for u in hit)
            selected.append((nb, f"uses changed {names}"))
    return selected


# --------------------------------------------------------------------------- execution and conversion


def _failure(path: Path, nb, index, exc, timeout_s) -> NotebookError:
    from nbclient.exceptions import CellTimeoutError

    cell = nb.cells[index] if index is not None and 0 <= index < len(nb.cells) else None
    source = _source(cell) if cell is not None else None
    detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
    tb = ""
    for out in (cell or {}).get("outputs", []):
        if out.get("output_type") == "error":
            detail = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
            tb = _ANSI_RE.sub("", "\n".join(out.get("traceback", [])))
    if isinstance(exc, CellTimeoutError):  # the kernel was interrupted: its KeyboardInterrupt is not the cause
        detail = f"CellTimeoutError: still running after {timeout_s} s (raise --timeout if it needs longer)"
    where = f"cell {index} (counting from 0) failed" if cell is not None else "failed"
    lines = [f"{path}: {where}: {detail}"]
    if source is not None:
        head = source.strip().splitlines()
        lines.append("  cell source:")
        lines += [f"  | {line}" for line in head[:8]]
        if len(head) > 8:
            lines.append(f"  | ... ({len(head) - 8} more lines)")
    if tb:
        tb_lines = tb.strip().splitlines()
        lines.append("  traceback (last lines):")
        lines += [f"  ! {line}" for line in tb_lines[-12:]]
    return NotebookError("\n".join(lines), notebook=str(path), cell_index=index, cell_source=source)


def execute_notebook(path, *, timeout_s: int = 600, cwd=None):
    """Run every cell of the notebook at ``path``; returns the executed ``nbformat`` node.

    Runs in ``cwd`` (default: a fresh temporary folder, so a notebook leaves nothing behind).
    Raises :class:`NotebookError` naming the notebook and the failing cell (0-based index in the
    notebook's cells, its first source lines, the error and the end of its traceback).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for a bad file
        raise NotebookError(f"{path}: cannot read the notebook ({exc})", notebook=str(path)) from exc
    current = {"index": None}

    def on_cell_execute(cell, cell_index):
        current["index"] = cell_index

    with tempfile.TemporaryDirectory(prefix="agnlab-nb-") as tmp:
        client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd or tmp)}})
        client.on_cell_execute = on_cell_execute
        # figures inline as in Jupyter, even where MPLBACKEND=Agg is exported (the Makefile, CI)
        env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
        try:
            client.execute(env=env)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # CellExecutionError, CellTimeoutError, DeadKernelError, kernel start-up
            raise _failure(path, nb, current["index"], exc, timeout_s) from exc
    return nb


def stamp_html(body: str, digest: str, name: str, code_digest: str | None = None) -> str:
    """``body`` with the notebook's source hash, its code hash and its name as ``<meta>`` tags (what
    ``--check`` compares)."""
    meta = (f'<meta name="{META_NAME}" content="{digest}">\n'
            + (f'<meta name="{CODE_META_NAME}" content="{code_digest}">\n' if code_digest else "")
            + f'<meta name="agnlab-notebook" content="{_html.escape(name, quote=True)}">\n')
    m = re.search(r"<head[^>]*>\s*", body)
    return body[:m.end()] + meta + body[m.end():] if m else meta + body


def convert_notebook(path, target=None, *, timeout_s: int = 600) -> Path:
    """Execute the notebook at ``path`` and write its HTML copy (default: ``html/<stem>.html`` beside it).

    The HTML records the notebook's :func:`notebook_sha256` and :func:`package_code_sha256` (taken
    before it runs); nothing is written when a cell fails
    (:class:`NotebookError`).
    """
    from nbconvert import HTMLExporter

    from ..io import atomic_path

    path = Path(path)
    target = Path(target) if target is not None else html_path(path)
    digest, code_digest = notebook_sha256(path), package_code_sha256(path)
    body, _ = HTMLExporter().from_notebook_node(execute_notebook(path, timeout_s=timeout_s))
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        Path(tmp).write_text(stamp_html(body, digest, path.name, code_digest), encoding="utf-8")
    return target


def convert_notebooks(paths, outdir=None, *, timeout_s: int = 600, log=None) -> list[Path]:
    """Execute and convert every notebook in ``paths`` (to ``outdir`` or ``html/`` beside each).

    Goes on past a failing notebook and raises :class:`NotebookError` listing every failure at the end.
    ``log`` (e.g. ``print``) receives one line per notebook.
    """
    written, failures = [], []
    for path in map(Path, paths):
        try:
            written.append(convert_notebook(path, html_path(path, outdir), timeout_s=timeout_s))
            if log:
                log(f"wrote {written[-1]}")
        except NotebookError as exc:
            failures.append(exc)
            if log:
                log(str(exc))
    if failures:
        raise NotebookError("\n".join(str(e) for e in failures), notebook=failures[0].notebook,
                            cell_index=failures[0].cell_index, cell_source=failures[0].cell_source)
    return written


# --------------------------------------------------------------------------- command line


def run_html_command(args) -> int:
    """``agnlab notebooks html`` (its options are defined in ``agnlab.cli``); returns the exit status."""
    quiet = getattr(args, "quiet", False)

    def say(msg):
        if not quiet:
            print(msg, flush=True)

    if args.notebooks:
        paths = [Path(p) for p in args.notebooks]
        for p in paths:
            if p.suffix != ".ipynb":
                raise ValueError(f"{p}: not a notebook (.ipynb)")
            if not p.is_file():
                raise ValueError(f"{p}: no such notebook")
    else:
        folder = Path(args.dir)
        if not folder.is_dir():
            raise ValueError(f"no folder {folder}/ here; run from the repository root, pass --dir or name notebooks")
        paths = sorted(folder.glob("*.ipynb"))
        if not paths:
            raise ValueError(f"no notebooks (*.ipynb) in {folder}/")
    out = Path(args.out) if args.out is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is a file; name a folder")

    if args.changed:
        selected = changed_notebooks(paths, args.changed, cwd=Path.cwd())
        for nb, why in selected:
            say(f"selected {nb} ({why})")
        if not selected:
            say(f"no notebook changed since {args.changed}")
            return 0
        paths = [nb for nb, _ in selected]

    if args.check:
        stale = stale_html(paths, out)
        if not args.notebooks and not args.changed:
            folder = out if out is not None else Path(args.dir) / "html"
            known = {html_path(p, out).resolve() for p in paths}
            stale += [(None, h, "HTML copy without a notebook") for h in sorted(folder.glob("*.html"))
                      if h.resolve() not in known]
        for nb, target, why in stale:
            print(f"stale: {target}: {why}", file=sys.stderr)
        if stale:
            print(f"agnlab: error: {len(stale)} of the HTML copies are stale; run 'agnlab notebooks html"
                  f"{' ' + ' '.join(args.notebooks) if args.notebooks else ''}' and commit the result",
                  file=sys.stderr)
            return 1
        say(f"{len(paths)} HTML cop{'y is' if len(paths) == 1 else 'ies are'} current")
        return 0

    failures = []
    for nb in paths:
        say(f"[agnlab notebooks] running {nb} ...")
        try:
            say(f"wrote {convert_notebook(nb, html_path(nb, out), timeout_s=args.timeout)}")
        except NotebookError as exc:
            failures.append(exc)
            print(f"agnlab: error: {exc}", file=sys.stderr, flush=True)
    if failures:
        names = ", ".join(str(e.notebook) for e in failures)
        print(f"agnlab: error: {len(failures)} notebook(s) failed: {names}", file=sys.stderr)
        return 2
    return 0
