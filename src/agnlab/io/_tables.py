"""Tables from and to CSV, Parquet, FITS and HDF5, by file suffix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._atomic import atomic_path

__all__ = ["read_table", "write_table"]

_CSV = (".csv", ".txt", ".tsv")
_PARQUET = (".parquet", ".pq")
_FITS = (".fits", ".fit", ".fits.gz", ".fit.gz")
_HDF5 = (".h5", ".hdf5", ".hdf")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in _FITS:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def read_table(path, *, hdu=1, key=None) -> pd.DataFrame:
    """Read a table into a :class:`pandas.DataFrame`.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``, ``.parquet``, ``.fits`` (binary table in HDU
        ``hdu``) or ``.h5``/``.hdf5`` (a pandas ``key``, or a group of 1-D
        datasets of equal length).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, unknown suffix, or a file that cannot be parsed.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: table not found")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a table file")
    suffix = _suffix(path)
    if suffix not in _CSV + _PARQUET + _FITS + _HDF5:
        raise ValueError(f"{path}: unknown table format {suffix!r}; use CSV, Parquet, FITS or HDF5")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file, expected a table")
    try:
        df = _read(path, suffix, hdu, key)
    except _read_errors() as exc:
        text = " ".join(str(exc).split())
        raise ValueError(f"{path}: cannot read table as {_KIND[suffix]} ({type(exc).__name__}: {text})") from None
    df.attrs["source"] = str(path)      # lets validation errors name the file
    return df


def _read_errors() -> tuple:
    """What the parsing libraries raise on a corrupt, truncated or mislabelled file."""
    from astropy.io.registry import IORegistryError

    errors = [ValueError, OSError, KeyError, IndexError, TypeError, EOFError, UnicodeDecodeError, IORegistryError]
    try:
        import pyarrow

        errors.append(pyarrow.ArrowException)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def _read(path: Path, suffix: str, hdu, key) -> pd.DataFrame:
    if suffix in _CSV:
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    if suffix in _PARQUET:
        return pd.read_parquet(path)
    if suffix in _FITS:
        from astropy.table import Table

        tab = Table.read(path, hdu=hdu, format="fits")
        multi = [c for c in tab.colnames if len(tab[c].shape) > 1]
        if multi:
            raise ValueError(f"multidimensional columns {multi} cannot become a flat table")
        return tab.to_pandas()
    return _read_hdf5(path, key)


_KIND = {**dict.fromkeys(_CSV, "CSV"), **dict.fromkeys(_PARQUET, "Parquet"), **dict.fromkeys(_FITS, "FITS"),
         **dict.fromkeys(_HDF5, "HDF5")}


def _read_hdf5(path: Path, key) -> pd.DataFrame:
    import h5py

    with h5py.File(path, "r") as h5:
        group = h5[key] if key else h5
        cols = {name: np.asarray(ds) for name, ds in group.items() if isinstance(ds, h5py.Dataset) and ds.ndim == 1}
    if not cols:
        raise ValueError("no 1-D datasets found")
    lengths = {len(v) for v in cols.values()}
    if len(lengths) != 1:
        raise ValueError(f"1-D datasets have different lengths {sorted(lengths)}")
    return pd.DataFrame(cols)


def write_table(table, path) -> Path:
    """Write a DataFrame (or anything ``pandas.DataFrame`` accepts) by suffix, atomically."""
    path = Path(path)
    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    suffix = _suffix(path)
    with atomic_path(path) as tmp:
        if suffix in _CSV:
            df.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
        elif suffix in _PARQUET:
            df.to_parquet(tmp, index=False)
        elif suffix in _FITS:
            from astropy.table import Table

            Table.from_pandas(df).write(tmp, format="fits")
        elif suffix in _HDF5:
            import h5py

            with h5py.File(tmp, "w") as h5:
                for col in df.columns:
                    h5.create_dataset(str(col), data=df[col].to_numpy())
        else:
            raise ValueError(f"{path}: unknown table format {suffix!r}; use CSV, Parquet, FITS or HDF5")
    return path
