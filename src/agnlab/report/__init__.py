"""Figures and the HTML report (``index.html`` + ``metrics.json``)."""

from ._html import Report, Section

__all__ = ["Report", "Section"]
