"""Observable ionisation-state features of an ionic-abundance table (the inputs of ICF regressors)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import check_columns

__all__ = ["ICF_FEATURES", "OBSERVED_IONS", "icf_features"]

ICF_FEATURES = ("x_o2", "x_he3", "log_o3_o2", "log_s3_s2", "log_ar4_ar3")
"""Observable ionisation-state features produced by :func:`icf_features`."""

# ion sums that the target ICFs of :func:`ionization_table` refer to
OBSERVED_IONS = {"O": ("O2", "O3"), "N": ("N2",), "Ne": ("Ne3",), "S": ("S2", "S3"), "Ar": ("Ar3",)}
"""Element -> the observed ions whose sum the target ICFs ``log_icf_<element>`` multiply."""


def icf_features(table, *, floor: float = 1e-12) -> pd.DataFrame:
    """Observable ionisation-state features from ionic abundances (PyNeb names).

    Parameters
    ----------
    table : DataFrame
        Columns ``O2, O3, He2, He3, S2, S3, Ar3, Ar4`` (ionic abundances
        relative to H+).
    floor : float
        Abundances below it are raised to it before logarithms (an
        undetected ion).

    Returns
    -------
    DataFrame with columns :data:`ICF_FEATURES`: ``x_o2`` = O+/(O+ + O++),
    ``x_he3`` = He++/(He+ + He++), and log10 of O++/O+, S++/S+, Ar3+/Ar++.
    """
    need = ["O2", "O3", "He2", "He3", "S2", "S3", "Ar3", "Ar4"]
    check_columns(table, need, name="ionic-abundance table")
    g = {c: np.maximum(np.asarray(table[c], dtype=float), floor) for c in need}
    return pd.DataFrame({
        "x_o2": g["O2"] / (g["O2"] + g["O3"]),
        "x_he3": g["He3"] / (g["He2"] + g["He3"]),
        "log_o3_o2": np.log10(g["O3"] / g["O2"]),
        "log_s3_s2": np.log10(g["S3"] / g["S2"]),
        "log_ar4_ar3": np.log10(g["Ar4"] / g["Ar3"]),
    }, index=getattr(table, "index", None))

