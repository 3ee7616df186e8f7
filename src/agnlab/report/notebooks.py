"""Execute example notebooks and convert them to HTML: ``python -m agnlab.report.notebooks``.

With no notebook named, only those whose HTML is missing or older than the
notebook are converted (the changed ones). Needs the ``notebooks`` extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["execute_notebook", "convert_notebooks"]


def execute_notebook(path, *, timeout_s: int = 600, cwd=None):
    """Run every cell of the notebook at ``path``; returns the executed ``nbformat`` node.

    Raises ``nbclient.exceptions.CellExecutionError`` naming the failing cell.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd or path.parent)}}).execute()
    return nb


def convert_notebooks(paths, outdir, *, force: bool = False) -> list[Path]:
    """Execute ``paths`` and write ``outdir/<name>.html``; skip up-to-date ones unless ``force``."""
    from nbconvert import HTMLExporter

    from ..io import atomic_path

    outdir = Path(outdir)
    written = []
    for path in map(Path, paths):
        target = outdir / f"{path.stem}.html"
        if not force and target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
            continue
        body, _ = HTMLExporter().from_notebook_node(execute_notebook(path))
        with atomic_path(target) as tmp:
            tmp.write_text(body, encoding="utf-8")
        written.append(target)
        print(f"wrote {target}")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to convert (default: changed ones in notebooks/)")
    parser.add_argument("--html", default="notebooks/html", help="output folder")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    convert_notebooks(paths, args.html, force=bool(args.notebooks))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
