"""The explicit workflow registry: what each workflow plugs into the CLI, the demo and the benchmarks.

Adding a workflow means one :class:`Workflow` entry here plus the modules it
names (see ``docs/adding-a-workflow.md``). A named module or function that does
not exist is an error (:class:`RegistryError`), never skipped silently.
"""

from __future__ import annotations

import dataclasses
import importlib

__all__ = ["RegistryError", "WORKFLOWS", "Workflow", "demo_function", "get_workflow", "hook"]


class RegistryError(RuntimeError):
    """A registry entry names a module or function that does not exist."""


@dataclasses.dataclass(frozen=True)
class Workflow:
    """One workflow.

    Attributes
    ----------
    name : str
        Command-line name (``agnlab <name> <verb>``) and demo/report section key.
    package : str
        Subpackage of agnlab holding the workflow.
    cli : tuple of str
        Modules of the package with ``register(subparsers)`` adding the verbs.
    demo : str or None
        Module with ``run_demo(report, *, seed, quick)`` adding a report section.
    benchmarks : tuple of str
        Scripts ``benchmarks/<name>.py`` measuring the workflow.
    title : str
        One line for ``agnlab --help`` and the report.
    """

    name: str
    package: str
    title: str
    cli: tuple[str, ...] = ("_cli",)
    demo: str | None = "_demo"
    benchmarks: tuple[str, ...] = ()


WORKFLOWS: tuple[Workflow, ...] = (
    Workflow("emulate", "emulate", "emulators of model-spectrum grids (PCA and neural)",
             benchmarks=("emulate",)),
    Workflow("population", "population", "WISE colours, AGN selection, crossmatch, population mixing",
             benchmarks=("population",)),
    Workflow("nebular", "nebular", "Te/Ne from line ratios, ICFs, IFU Monte Carlo",
             benchmarks=("nebular", "nebular_inference")),
    Workflow("infer", "emulate", "solution sets and posteriors over emulators and grids",
             cli=("_sed_cli",), demo="_sed_demo"),
    Workflow("spectra", "spectra", "4MOST-like quasar spectra, redshifts, DLAs",
             benchmarks=("spectra", "spectra_sim")),
    Workflow("explore", "explore", "unsupervised exploration of multi-wavelength tables: clusters, embeddings, "
             "outliers", benchmarks=("explore",)),
    Workflow("lightcurves", "lightcurves", "ZTF/LSST light curves: simulation, features, hierarchical "
             "classifier, VRAE anomalies", benchmarks=("lightcurves",)),
)


def get_workflow(name: str) -> Workflow:
    for wf in WORKFLOWS:
        if wf.name == name:
            return wf
    raise KeyError(f"unknown workflow {name!r}; choose from {[w.name for w in WORKFLOWS]}")


def hook(workflow: Workflow, module: str, function: str):
    """``agnlab.<package>.<module>.<function>``; :class:`RegistryError` when either is missing."""
    full = f"agnlab.{workflow.package}.{module}"
    try:
        mod = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name in (full, f"agnlab.{workflow.package}"):
            raise RegistryError(f"workflow {workflow.name!r}: module {full} does not exist") from None
        raise
    func = getattr(mod, function, None)
    if not callable(func):
        raise RegistryError(f"workflow {workflow.name!r}: {full} has no function {function}()")
    return func


def demo_function(name: str):
    """The ``run_demo(report, *, seed, quick)`` of workflow ``name``."""
    wf = get_workflow(name)
    if wf.demo is None:
        raise RegistryError(f"workflow {name!r} has no demo section")
    return hook(wf, wf.demo, "run_demo")
