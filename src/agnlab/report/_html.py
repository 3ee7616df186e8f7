"""A self-contained HTML report: sections with figures (embedded PNG), tables and metrics."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from ..io import atomic_path
from ..io._json import to_jsonable

__all__ = ["Report", "Section"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
figure{display:inline-block;margin:.6em;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555;max-width:520px}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f1f1f1}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
nav a{margin-right:1em}.meta{color:#666;font-size:.85em}
"""


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return html.escape(str(v))


class Section:
    """One workflow's part of a :class:`Report`; build it with :meth:`Report.section`."""

    def __init__(self, key: str, title: str, intro: str = ""):
        self.key, self.title = key, title
        self._parts: list[str] = []
        self._metrics: dict = {}
        if intro:
            self.text(intro)

    def text(self, content: str) -> "Section":
        """Add a paragraph (plain text is escaped; a string starting with '<' is taken as HTML)."""
        body = content if content.lstrip().startswith("<") else f"<p>{html.escape(content)}</p>"
        self._parts.append(body)
        return self

    def figure(self, fig, caption: str = "", *, dpi: int = 110) -> "Section":
        """Embed a matplotlib figure as PNG and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self._parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                           f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        return self

    def table(self, rows, caption: str = "", *, max_rows: int = 50) -> "Section":
        """Add a table from a pandas DataFrame, a dict of columns or a list of dicts."""
        import pandas as pd

        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        shown = df.head(max_rows)
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
        body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>"
                       for row in shown.itertuples(index=False))
        more = f"<p class='meta'>({len(df) - max_rows} more rows not shown)</p>" if len(df) > max_rows else ""
        self._parts.append(f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>{more}")
        return self

    def metrics(self, values: dict) -> "Section":
        """Record numbers for ``metrics.json`` (under this section's key) and show them as a table."""
        values = to_jsonable(values, nan_to_none=True)
        self._metrics.update(values)
        flat = [{"metric": k, "value": v} for k, v in values.items() if not isinstance(v, (dict, list))]
        if flat:
            self.table(flat, "Metrics")
        return self

    def to_html(self) -> str:
        head = f'<section id="{html.escape(self.key)}"><h2>{html.escape(self.title)}</h2>'
        return f'{head}{"".join(self._parts)}</section>'


class Report:
    """An HTML report made of sections, written as ``index.html`` + ``metrics.json``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> rep = Report("example")
    >>> sec = rep.section("demo", "A demo", intro="Hello.")
    >>> fig, ax = plt.subplots(); _ = ax.plot([0, 1], [0, 1])
    >>> _ = sec.figure(fig, "a line").metrics({"answer": 42})
    >>> import tempfile; out = rep.write(tempfile.mkdtemp())
    >>> out.name
    'index.html'
    """

    def __init__(self, title: str = "agnlab report"):
        self.title = title
        self.sections: dict[str, Section] = {}

    def section(self, key: str, title: str, intro: str = "") -> Section:
        if key in self.sections:
            raise ValueError(f"report already has a section {key!r}")
        sec = Section(key, title, intro)
        self.sections[key] = sec
        return sec

    @property
    def metrics(self) -> dict:
        return {k: s._metrics for k, s in self.sections.items()}

    def write(self, outdir) -> Path:
        """Write ``outdir/index.html`` and ``outdir/metrics.json`` atomically; return the HTML path."""
        from .. import __version__

        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        nav = "".join(f'<a href="#{html.escape(k)}">{html.escape(s.title)}</a>' for k, s in self.sections.items())
        page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
                f"<p class='meta'>agnlab {__version__} &middot; {stamp}</p><nav>{nav}</nav>"
                + "".join(s.to_html() for s in self.sections.values()) + "</body></html>")
        index = outdir / "index.html"
        with atomic_path(index) as tmp:
            tmp.write_text(page, encoding="utf-8")
        with atomic_path(outdir / "metrics.json") as tmp:
            tmp.write_text(json.dumps({"agnlab_version": __version__, "sections": self.metrics}, indent=2),
                           encoding="utf-8")
        return index
