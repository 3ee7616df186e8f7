"""Larger-than-memory crossmatch through LSDB / HATS (HEALPix-partitioned Parquet on disk)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ._columns import _as_frame, _lower_columns, require_columns, validate_positions
from ._sky import _angular_sep_arcsec

__all__ = ["crossmatch_hats", "have_lsdb", "write_hats"]

_ROW = "_agnlab_row"


def have_lsdb() -> bool:
    """True if the optional ``lsdb`` package (extra ``agnlab[scale]``) can be imported."""
    try:
        import lsdb  # noqa: F401
    except ImportError:
        return False
    return True


def _lsdb():
    try:
        import lsdb
    except ImportError:
        raise ImportError("the HATS/LSDB crossmatch needs the optional package 'lsdb' "
                          "(pip install lsdb, or agnlab[scale])") from None
    return lsdb


def write_hats(table, path, *, name=None, margin_arcsec=5.0, partition_rows=250_000, columns=None) -> Path:
    """Write a catalogue as a HATS collection (HEALPix partitions + margin cache) with LSDB.

    A row-position column ``_agnlab_row`` is added so that crossmatch results
    refer to the rows of ``table``. For catalogues that do not fit in memory,
    write HATS with ``hats-import`` (adding the same column) and use
    :func:`crossmatch_hats` on the directory: nothing is loaded in full.

    Parameters
    ----------
    table : pandas.DataFrame or astropy Table
        ``ra``, ``dec`` in degrees (validated: NaN / out-of-range rows raise).
    path : str or Path
        Output directory (must not exist).
    margin_arcsec : float
        Width of the margin cache; must be >= the crossmatch radius.
    partition_rows : int
        Target rows per HEALPix partition.
    columns : sequence of str, optional
        Columns to keep besides ``ra``, ``dec`` (default: none); names are matched and written in lower case.
    """
    lsdb = _lsdb()
    df = _lower_columns(_as_frame(table))
    require_columns(df, ("ra", "dec"), name="catalogue")
    valid, counts = validate_positions(df, on_invalid="flag")
    if not valid.all():
        raise ValueError(f"catalogue: {int((~valid).sum())} rows with unusable positions {counts}")
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; choose a new directory for the HATS catalogue")
    keep = ["ra", "dec"] + [c for c in dict.fromkeys(str(c).lower() for c in (columns or ())) if c not in ("ra", "dec")]
    require_columns(df, keep, name="catalogue")
    out = pd.DataFrame({c: df[c].to_numpy() for c in keep})
    out[_ROW] = np.arange(len(df), dtype=np.int64)
    cat = lsdb.from_dataframe(out, ra_column="ra", dec_column="dec", catalog_name=name or path.name,
                              partition_rows=int(partition_rows), margin_threshold=float(margin_arcsec))
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    cat.write_catalog(tmp)
    os.replace(tmp, path)
    return path


def check_margin(catalog, path, radius_arcsec: float) -> None:
    """Refuse a right-hand HATS catalogue whose margin cache is missing or narrower than the match radius."""
    margin = getattr(catalog, "margin", None)
    if margin is None:
        raise ValueError(f"{path}: HATS catalogue has no margin cache; the crossmatch would miss pairs across "
                         "partition edges (write it with write_hats / a margin >= radius)")
    margin_arcsec = float(getattr(margin.hc_structure.catalog_info, "margin_threshold", np.inf) or np.inf)
    if margin_arcsec < radius_arcsec:
        raise ValueError(f"margin cache of {path} is {margin_arcsec} arcsec < radius {radius_arcsec}")


def crossmatch_hats(left, right, *, radius_arcsec=1.5, workdir=None, partition_rows=250_000,
                    n_workers=None) -> pd.DataFrame:
    """Nearest-neighbour crossmatch through LSDB, partition by partition (same output as :func:`crossmatch`).

    Parameters
    ----------
    left, right : str, Path, or table
        HATS collections written by :func:`write_hats` (directories), or tables
        (written to ``workdir`` first, margin = max(5, 2 x radius) arcsec).
    radius_arcsec : float
        Match radius; must not exceed the right catalogue's margin.
    workdir : str or Path, optional
        Where tables are written (a temporary directory, removed afterwards, by default).
    n_workers : int, optional
        Dask threads (default: all cores).

    Returns
    -------
    pandas.DataFrame
        ``left_index``, ``right_index``, ``sep_arcsec``, sorted by ``left_index``.
    """
    import dask

    lsdb = _lsdb()
    radius_arcsec = float(radius_arcsec)
    if not np.isfinite(radius_arcsec) or radius_arcsec <= 0:
        raise ValueError(f"radius_arcsec must be a positive number, got {radius_arcsec}")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        paths = []
        for side, obj in (("left", left), ("right", right)):
            if isinstance(obj, (str, os.PathLike)):
                paths.append(Path(obj))
            else:
                paths.append(write_hats(obj, Path(tmp) / side, name=side, partition_rows=partition_rows,
                                        margin_arcsec=max(5.0, 2.0 * radius_arcsec)))
        lcat = lsdb.open_catalog(paths[0], columns=["ra", "dec", _ROW])
        rcat = lsdb.open_catalog(paths[1], columns=["ra", "dec", _ROW])
        check_margin(rcat, paths[1], radius_arcsec)
        xm = lcat.crossmatch(rcat, n_neighbors=1, radius_arcsec=radius_arcsec, suffixes=("_l", "_r"),
                             suffix_method="all_columns", log_changes=False)
        with dask.config.set(scheduler="threads", num_workers=n_workers or os.cpu_count()):
            res = xm.compute()
    li = res[f"{_ROW}_l"].to_numpy(np.int64)
    ri = res[f"{_ROW}_r"].to_numpy(np.int64)
    order = np.argsort(li, kind="stable")
    li, ri = li[order], ri[order]
    ra_l = res["ra_l"].to_numpy(float)[order]
    dec_l = res["dec_l"].to_numpy(float)[order]
    ra_r = res["ra_r"].to_numpy(float)[order]
    dec_r = res["dec_r"].to_numpy(float)[order]
    sep = _angular_sep_arcsec(ra_l, dec_l, ra_r, dec_r)
    keep = sep <= radius_arcsec
    return pd.DataFrame({"left_index": li[keep], "right_index": ri[keep], "sep_arcsec": sep[keep]})
