"""WISE AGN end to end through LSDB/HATS: selection, colours and crossmatch, partition by partition, to HATS."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from ._hats import _lsdb, check_margin
from ._selection import select_wise_agn

__all__ = ["select_wise_agn_hats"]


def _with_colours(df: pd.DataFrame) -> pd.DataFrame:
    """Vega colours W1-W2, W2-W3 and their errors (from ``*sigmpro`` when present) added to ``df``."""
    cols = {}
    for a, b in (("w1", "w2"), ("w2", "w3")):
        if f"{a}mpro" in df.columns and f"{b}mpro" in df.columns:
            cols[f"{a}_{b}"] = df[f"{a}mpro"].to_numpy(float) - df[f"{b}mpro"].to_numpy(float)
            if f"{a}sigmpro" in df.columns and f"{b}sigmpro" in df.columns:
                cols[f"{a}_{b}_err"] = np.hypot(df[f"{a}sigmpro"].to_numpy(float), df[f"{b}sigmpro"].to_numpy(float))
    return df.assign(**cols)


def select_wise_agn_hats(wise, out, *, spectra=None, radius_arcsec: float = 1.5, overwrite: bool = False,
                         n_workers: int | None = None, **selection) -> dict:
    """Select WISE AGN from a HATS catalogue, add colours, crossmatch with spectra, and write a HATS catalogue.

    Every step runs per HEALPix partition through LSDB, so nothing is loaded in
    full: the selection (:func:`select_wise_agn` with ``**selection``; every
    step is per source, so per partition is exact), the Vega colours
    ``w1_w2``, ``w2_w3`` with errors, and, with ``spectra`` (a HATS catalogue
    with a margin cache >= ``radius_arcsec``), the nearest spectrum within
    ``radius_arcsec`` (columns suffixed ``_spec``; unmatched sources are
    dropped, as in a crossmatch). The result is written under a temporary name
    and renamed into ``out`` when complete.

    Parameters
    ----------
    wise, spectra : str or Path
        HATS catalogues (e.g. written by :func:`write_hats` or hats-import) with
        the columns :func:`select_wise_agn` needs (names in lower case).

    Returns
    -------
    dict
        ``out``, ``n_input``, ``n_selected``, ``n_matched`` (None without
        spectra) and ``report`` (DataFrame: removals per selection step, summed
        over partitions).
    """
    import dask

    lsdb = _lsdb()
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True to replace it")
    radius_arcsec = float(radius_arcsec)
    if not np.isfinite(radius_arcsec) or radius_arcsec <= 0:
        raise ValueError(f"radius_arcsec must be a positive number, got {radius_arcsec}")
    cat = lsdb.open_catalog(Path(wise))
    select_wise_agn(cat.to_dask_dataframe()._meta, **selection)  # columns and options checked before any read

    def keep(df):
        mask, _ = select_wise_agn(df, **selection)
        return _with_colours(df.loc[mask])

    def report(df):
        rep = select_wise_agn(df, **selection).report[["step", "removed"]]
        return rep.assign(n_input=len(df))

    selected = cat.map_partitions(keep)
    reports = cat.to_dask_dataframe().map_partitions(
        report, meta=pd.DataFrame({"step": pd.Series(dtype=object), "removed": pd.Series(dtype=np.int64),
                                   "n_input": pd.Series(dtype=np.int64)}))
    result = selected
    if spectra is not None:
        spec = lsdb.open_catalog(Path(spectra))
        check_margin(spec, spectra, radius_arcsec)
        result = selected.crossmatch(spec, n_neighbors=1, radius_arcsec=radius_arcsec, suffixes=("", "_spec"),
                                     suffix_method="overlapping_columns", log_changes=False)
    tmp = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        with dask.config.set(scheduler="threads", num_workers=n_workers or os.cpu_count()):
            result.write_catalog(tmp, catalog_name=out.name)
            rep = reports.compute()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    summary_report = rep.groupby("step", sort=False)["removed"].sum().reset_index()
    n_input = int(rep.loc[rep["step"] == rep["step"].iloc[0], "n_input"].sum()) if len(rep) else 0
    n_selected = n_input - int(summary_report["removed"].sum())
    n_out = int(len(lsdb.open_catalog(out).to_dask_dataframe()))
    return {"out": out, "n_input": n_input, "n_selected": n_selected,
            "n_matched": n_out if spectra is not None else None, "report": summary_report}
