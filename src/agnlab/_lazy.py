"""Lazy public names for subpackages (PEP 562).

``import agnlab.emulate`` (and so ``agnlab --help``, which registers every
workflow's verbs) stays cheap: a public name is imported from its defining
module, with its heavy dependencies (PyTorch, scikit-learn, PyNeb), on first use.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict):
    """``(__getattr__, __dir__)`` for ``package`` resolving ``name -> relative module`` on first access."""

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)      # later lookups skip this function
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
