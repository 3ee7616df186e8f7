"""Classical ionisation correction factors (PyNeb's ``pn.ICF``) and their comparison with learned ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import check_array, check_columns
from ._icf_features import OBSERVED_IONS

__all__ = ["CLASSICAL_ICFS", "classical_icf", "compare_icfs"]

CLASSICAL_ICFS = {
    "O": ("TPP77_13", "KB94_A10", "DIMS14_12", "Ial06_17"),
    "N": ("TPP77_14", "KB94_A1.10", "DIMS14_14", "Ial06_18a"),
    "Ne": ("TPP77_15", "KB94_A28.10", "PHCD07_12", "DIMS14_17a"),
    "S": ("KB94_A36.10", "DIMS14_23", "Ial06_20a"),
    "Ar": ("KB94_A32", "DIMS14_35", "Ial06_22a"),
}
"""PyNeb ICF labels compared by default for each element."""


def classical_icf(table, label: str) -> pd.DataFrame:
    """Apply a PyNeb classical ICF to every row of an ionic-abundance table.

    Parameters
    ----------
    table : DataFrame
        Ionic abundances relative to H+ with PyNeb names (``O2``, ``O3``,
        ``He2``, ``He3``, ``N2``, ...). Ions the formula needs but the table
        lacks make the result NaN (PyNeb's convention for absent ions).
    label : str
        A label from ``pn.ICF().getAvailableICFs()`` (e.g. ``"KB94_A10"``).

    Returns
    -------
    DataFrame with ``elem_abund`` (X/H from the formula), ``icf`` and
    ``ion_sum`` (the ionic sum the formula multiplies).
    """
    import pyneb as pn

    icf = pn.ICF()
    if label not in icf.all_icfs:
        raise ValueError(f"unknown PyNeb ICF label {label!r}; see pn.ICF().getAvailableICFs()")
    import re

    ions = [c for c in table.columns if c[:1].isupper() and c[-1].isdigit()]
    abun = {c: np.asarray(table[c], dtype=float) for c in ions}
    n = len(table)
    # the formula may use other ICFs (elem_abun["KB94_A10"]): evaluate those too
    needed, todo = [], [label]
    while todo:
        lab = todo.pop()
        if lab in needed:
            continue
        needed.append(lab)
        todo += re.findall(r'elem_abun\["([^"]+)"\]', str(icf.all_icfs[lab]["icf"]))
    level = getattr(pn.log_, "level", None)
    try:
        pn.log_.level = 0          # PyNeb prints a warning per ICF it cannot evaluate
        with np.errstate(all="ignore"):
            elem = icf.getElemAbundance(abun, icf_list=needed[::-1])
    finally:
        if level is not None:
            pn.log_.level = level
    with np.errstate(all="ignore"):
        value = np.broadcast_to(np.asarray(icf.icf_value.get(label, np.nan), dtype=float), (n,))
        tot = np.broadcast_to(np.asarray(elem.get(label, np.nan), dtype=float), (n,))
        ion_sum = tot / value
    return pd.DataFrame({"elem_abund": tot, "icf": value, "ion_sum": ion_sum}, index=table.index)


def compare_icfs(table, element: str, *, predictions=None, labels=None, name: str = "ICFRegressor"
                 ) -> pd.DataFrame:
    """Score ICFs by the total abundance they recover: log10(X/H) against the truth.

    Parameters
    ----------
    table : DataFrame
        Ionic abundances (PyNeb names) and the true total abundance column
        ``element`` (e.g. a held-out part of :func:`ionization_table`).
    element : str
        ``"O"``, ``"N"``, ``"Ne"``, ``"S"`` or ``"Ar"``.
    predictions : array_like, shape (n,), optional
        log10 ICF predicted by a regressor for the target ``log_icf_<element>``
        (i.e. relative to the ionic sum of :data:`OBSERVED_IONS`).
    labels : list of str, optional
        PyNeb ICF labels (default :data:`CLASSICAL_ICFS[element]`).

    Returns
    -------
    DataFrame, one row per method: ``method, n_valid, median_abs_dex,
    p95_abs_dex, rmse_dex, bias_dex``.
    """
    if element not in OBSERVED_IONS:
        raise ValueError(f"element must be one of {sorted(OBSERVED_IONS)}, got {element!r}")
    check_columns(table, [element, *OBSERVED_IONS[element]], name="ICF comparison table")
    truth = np.log10(np.asarray(table[element], dtype=float))
    rows = []

    def score(method, est):
        d = est - truth
        ok = np.isfinite(d)
        rows.append({"method": method, "n_valid": int(ok.sum()),
                     "median_abs_dex": float(np.median(np.abs(d[ok]))) if ok.any() else np.nan,
                     "p95_abs_dex": float(np.percentile(np.abs(d[ok]), 95)) if ok.any() else np.nan,
                     "rmse_dex": float(np.sqrt(np.mean(d[ok] ** 2))) if ok.any() else np.nan,
                     "bias_dex": float(np.mean(d[ok])) if ok.any() else np.nan})

    if predictions is not None:
        p = check_array(predictions, name="predictions", ndim=1, finite=False)
        if p.shape[0] != len(table):
            raise ValueError(f"predictions: {p.shape[0]} values for {len(table)} table rows")
        ion_sum = np.asarray(table[list(OBSERVED_IONS[element])], dtype=float).sum(axis=1)
        score(name, np.log10(ion_sum) + p)
    for lab in (CLASSICAL_ICFS[element] if labels is None else labels):
        with np.errstate(all="ignore"):
            score(f"PyNeb {lab}", np.log10(classical_icf(table, lab)["elem_abund"].to_numpy()))
    return pd.DataFrame(rows)

