"""Photoionisation model grids (MAPPINGS via NebulaBayes, or any table in the same long layout).

A grid table has one row per model: parameter columns (``log U``, ``log P/k``, ``12 + log O/H``, ...)
followed by one column per emission line (fluxes relative to H-beta in the built-in grids). The
built-in grids are the MAPPINGS 5 grids shipped in the ``NebulaBayes`` wheel (Thomas et al. 2018,
ApJ 856, 89; MIT licence): they are read from the installed package's data, never downloaded, and
``NebulaBayes`` is never imported (its modules need old scipy).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["BUILTIN_GRIDS", "GridError", "PhotoionizationGrid", "load_photoionization_grid"]

#: built-in grid name -> (file in NebulaBayes/grids, parameter columns in file order, description)
BUILTIN_GRIDS = {
    "mappings-hii": ("NB_HII_grid.fits.gz", ("log U", "log P/k", "12 + log O/H"),
                     "MAPPINGS 5 HII-region grid (NebulaBayes; Thomas et al. 2018)"),
    "mappings-nlr": ("NB_NLR_grid.fits.gz", ("log U", "log P/k", "12 + log O/H", "log E_peak", "Gamma", "p_NT"),
                     "MAPPINGS 5 AGN narrow-line-region grid (NebulaBayes; Thomas et al. 2018)"),
}
_LINE_LIST = "Linelist.csv"
_MISSING_CHOICES = ("zero", "raise")


class GridError(ValueError):
    """A photoionisation grid that cannot be used as given (holes, negative fluxes, unknown columns)."""


@dataclass(frozen=True, eq=False)
class PhotoionizationGrid:
    """A photoionisation model grid: parameters and emission-line fluxes, one row per model.

    Attributes
    ----------
    params : pandas.DataFrame
        One column per free parameter (named as in the grid, e.g. ``12 + log O/H``, ``log U``).
        Parameters with a single value across the grid are in ``meta['fixed_params']``.
    fluxes : pandas.DataFrame
        One column per emission line (grid line names), relative to ``norm_line``; finite, >= 0.
    lines : pandas.DataFrame
        Per-line metadata indexed by line name (``wavelength_aa``, ``species``, ``ip_ev``) where known.
    norm_line : str or None
        The line all fluxes are relative to (``"Hbeta"`` in the built-in grids).
    meta : dict
        ``name``, ``source``, ``fixed_params``, ``regular`` (a full Cartesian product of the axes),
        ``filled_zero`` (line -> number of model fluxes that were missing in the table and set to 0).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"log U": [-3.0, -3.0, -2.0, -2.0], "12 + log O/H": [8.0, 9.0, 8.0, 9.0],
    ...                   "Hbeta": 1.0, "OIII5007": [1.0, 2.0, 3.0, 4.0]})
    >>> g = load_photoionization_grid(t, params=["log U", "12 + log O/H"])
    >>> g.axes["log U"].tolist(), g.line_names
    ([-3.0, -2.0], ['Hbeta', 'OIII5007'])
    """

    params: pd.DataFrame
    fluxes: pd.DataFrame
    lines: pd.DataFrame
    norm_line: str | None = "Hbeta"
    meta: dict = field(default_factory=dict)

    @property
    def param_names(self) -> list:
        return list(self.params.columns)

    @property
    def line_names(self) -> list:
        return list(self.fluxes.columns)

    @property
    def n_models(self) -> int:
        return len(self.params)

    @property
    def axes(self) -> dict:
        """Parameter name -> sorted unique values (the grid's nodes)."""
        return {p: np.unique(self.params[p].to_numpy()) for p in self.param_names}

    @property
    def param_ranges(self) -> dict:
        return {p: (float(v[0]), float(v[-1])) for p, v in self.axes.items()}

    def node_index(self) -> pd.DataFrame:
        """Integer position of every model on each axis (same shape as ``params``)."""
        return pd.DataFrame({p: np.searchsorted(v, self.params[p].to_numpy()) for p, v in self.axes.items()},
                            index=self.params.index)

    def node_mask(self, param: str, value: float) -> np.ndarray:
        """Boolean mask of the models on node ``value`` of axis ``param`` (a slice to hold out of training).

        Raises :class:`GridError` when ``value`` is not a node of that axis.
        """
        if param not in self.params.columns:
            raise GridError(f"no parameter {param!r}; the grid has {self.param_names}")
        nodes = self.axes[param]
        hit = np.isclose(nodes, float(value), rtol=0.0, atol=1e-9 * max(1.0, float(np.ptp(nodes))))
        if not hit.any():
            raise GridError(f"{value!r} is not a node of {param!r} (nodes: {nodes.tolist()})")
        return self.params[param].to_numpy() == nodes[np.argmax(hit)]

    def check_lines(self, lines) -> list:
        """``lines`` as a list, or a :class:`GridError` naming those the grid does not have."""
        lines = [lines] if isinstance(lines, str) else list(lines)
        unknown = [ln for ln in lines if ln not in self.fluxes.columns]
        if unknown:
            raise GridError(f"lines not in grid {self.meta.get('name', '')!r}: {unknown}; "
                            f"it has {len(self.line_names)} lines, e.g. {self.line_names[:8]}")
        if not lines:
            raise GridError("no lines given")
        return lines

    def subset(self, mask) -> PhotoionizationGrid:
        """The models where boolean ``mask`` is true (the result may have holes)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_models,):
            raise GridError(f"mask must have shape ({self.n_models},), got {mask.shape}")
        meta = dict(self.meta, regular=False)
        return PhotoionizationGrid(self.params[mask].reset_index(drop=True), self.fluxes[mask].reset_index(drop=True),
                                   self.lines, self.norm_line, meta)

    def __repr__(self) -> str:
        axes = ", ".join(f"{p}: {len(v)}" for p, v in self.axes.items())
        return (f"PhotoionizationGrid({self.meta.get('name', 'table')!r}, {self.n_models} models, "
                f"axes {{{axes}}}, {len(self.line_names)} lines)")


def _builtin_dir() -> Path:
    spec = importlib.util.find_spec("NebulaBayes")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the built-in MAPPINGS grids come from the NebulaBayes package: "
                          "pip install 'agnlab[nebular]' (or pip install NebulaBayes)")
    return Path(list(spec.submodule_search_locations)[0]) / "grids"


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".fits", ".fits.gz", ".fit")):
            from astropy.table import Table

            return Table.read(path).to_pandas()
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            return pd.read_csv(path, sep=None, engine="python", comment="#")
    except (OSError, ValueError) as exc:
        raise GridError(f"{path}: cannot read the grid table ({exc})") from exc
    raise GridError(f"{path}: unknown grid table format (use .fits, .fits.gz, .parquet or .csv)")


def _line_metadata(names, table: pd.DataFrame | None) -> pd.DataFrame:
    cols = {"wavelength_aa": np.nan, "species": "", "ip_ev": np.nan}
    out = pd.DataFrame({k: [v] * len(names) for k, v in cols.items()}, index=pd.Index(names, name="line"))
    if table is not None:
        known = table.reindex(out.index)
        for c in cols:
            out[c] = known[c].where(known[c].notna(), out[c])
    return out


def _builtin_line_list(directory: Path) -> pd.DataFrame:
    t = pd.read_csv(directory / _LINE_LIST)
    t.columns = [c.strip() for c in t.columns]
    return pd.DataFrame({"wavelength_aa": t["Lambda_AA"].astype(float).to_numpy(),
                         "species": t["Species"].astype(str).str.strip().to_numpy(),
                         "ip_ev": pd.to_numeric(t["IP_eV"], errors="coerce").to_numpy()},
                        index=pd.Index(t["Grid_name"].astype(str).str.strip(), name="line"))


def load_photoionization_grid(name_or_path, *, params=None, lines=None, norm_line="Hbeta", missing=None,
                              allow_holes=False) -> PhotoionizationGrid:
    """Load and validate a photoionisation model grid.

    Parameters
    ----------
    name_or_path : str, path or DataFrame
        ``"mappings-hii"`` (1,296 models: log U, log P/k, 12 + log O/H), ``"mappings-nlr"`` (9,504
        models: also log E_peak; Gamma and p_NT fixed), or a table (FITS, Parquet, CSV, DataFrame)
        in the same long layout: one row per model, parameter columns then line-flux columns.
    params : list of str, optional
        The parameter columns of a table (required for tables; the built-in grids know theirs).
    lines : list of str, optional
        Keep only these lines (default: every non-parameter column).
    norm_line : str or None
        Fluxes are divided by this line (``None``: keep them as given). Models where it is not
        positive are an error.
    missing : {"zero", "raise"}, optional
        What a missing (NaN) line flux means. MAPPINGS omits lines below its output threshold, so the
        built-in grids use ``"zero"`` (as NebulaBayes does; the counts are kept in
        ``meta['filled_zero']``); tables default to ``"raise"``.
    allow_holes : bool
        Accept a table that is not a full Cartesian product of its parameter values (otherwise a
        :class:`GridError`): estimators fitted on it treat it as scattered models.

    Returns
    -------
    PhotoionizationGrid
    """
    line_table = None
    if isinstance(name_or_path, str) and name_or_path.lower() in BUILTIN_GRIDS:
        name = name_or_path.lower()
        fname, builtin_params, description = BUILTIN_GRIDS[name]
        directory = _builtin_dir()
        table = _read_table(directory / fname)
        params = list(builtin_params) if params is None else params
        line_table = _builtin_line_list(directory)
        missing = "zero" if missing is None else missing
        source = f"{description}: {directory / fname}"
    elif isinstance(name_or_path, pd.DataFrame):
        table, name, source = name_or_path.copy(), "table", "DataFrame"
    elif isinstance(name_or_path, (str, Path)):
        path = Path(name_or_path)
        if not path.exists():
            raise GridError(f"{path}: no such file, and not a built-in grid name (one of {sorted(BUILTIN_GRIDS)})")
        table, name, source = _read_table(path), path.stem, str(path)
    else:
        raise TypeError(f"name_or_path must be a grid name, a path or a DataFrame, not {type(name_or_path).__name__}")
    missing = "raise" if missing is None else missing
    if missing not in _MISSING_CHOICES:
        raise ValueError(f"missing must be one of {_MISSING_CHOICES}, got {missing!r}")
    table.columns = [str(c).strip() for c in table.columns]
    return _validate(table, name=name, source=source, params=params, lines=lines, norm_line=norm_line,
                     missing=missing, allow_holes=allow_holes, line_table=line_table)


def _numeric(table: pd.DataFrame, cols, what: str) -> pd.DataFrame:
    out = table[cols].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    if what == "parameter":  # float32 tables: 0.15 must read back as 0.15, not 0.15000000596
        f32 = [c for c in cols if table[c].dtype == np.float32]
        out[f32] = out[f32].round(6)
    bad = [c for c in cols if out[c].isna().any() and not table[c].isna().any()]
    if bad:
        raise GridError(f"non-numeric values in {what} columns {bad}")
    return out


def _validate(table, *, name, source, params, lines, norm_line, missing, allow_holes, line_table):
    if params is None:
        raise GridError(f"give params=[...] (the parameter columns) for a grid table; its columns are "
                        f"{list(table.columns)[:12]}{' ...' if table.shape[1] > 12 else ''}")
    params = [params] if isinstance(params, str) else list(params)
    absent = [p for p in params if p not in table.columns]
    if absent:
        raise GridError(f"parameter columns {absent} not in the grid table (columns: {list(table.columns)[:12]})")
    if len(table) == 0:
        raise GridError("the grid table has no rows")
    line_cols = [c for c in table.columns if c not in params] if lines is None else list(lines)
    absent = [ln for ln in line_cols if ln not in table.columns]
    if absent:
        raise GridError(f"lines {absent} not in the grid table")
    if norm_line is not None and norm_line not in table.columns:
        raise GridError(f"normalisation line {norm_line!r} not in the grid table (pass norm_line=None for "
                        f"fluxes already normalised, or the name of the grid's H-beta column)")
    p = _numeric(table, params, "parameter")
    if p.isna().any().any():
        raise GridError(f"missing parameter values in columns {list(p.columns[p.isna().any()])}")
    f = _numeric(table, list(dict.fromkeys(line_cols + ([norm_line] if norm_line else []))), "line")
    if np.isinf(f.to_numpy()).any():
        raise GridError(f"infinite fluxes in lines {list(f.columns[np.isinf(f).any()])}")
    n_missing = f.isna().sum()
    filled = {k: int(v) for k, v in n_missing.items() if v}
    if filled and missing == "raise":
        raise GridError(f"missing (NaN) fluxes in lines {sorted(filled)} (pass missing='zero' if they mean "
                        f"'below the model's output threshold', or lines=[...] to drop them)")
    f = f.fillna(0.0)
    negative = list(f.columns[(f < 0).any()])
    if negative:
        raise GridError(f"negative model fluxes in lines {negative}")
    if norm_line is not None:
        norm = f[norm_line].to_numpy()
        if np.any(norm <= 0):
            raise GridError(f"{int(np.sum(norm <= 0))} models have {norm_line} <= 0; cannot normalise")
        f = f.div(norm, axis=0)
    f = f[line_cols]
    fixed = {c: float(p[c].iloc[0]) for c in params if p[c].nunique() == 1}
    p = p[[c for c in params if c not in fixed]]
    if p.shape[1] == 0:
        raise GridError("every parameter has a single value: nothing to fit")
    if p.duplicated().any():
        raise GridError(f"{int(p.duplicated().sum())} duplicated parameter combinations in the grid table")
    n_nodes = int(np.prod([p[c].nunique() for c in p.columns], dtype=np.int64))
    regular = n_nodes == len(p)
    if not regular and not allow_holes:
        raise GridError(f"the grid has holes: {len(p)} models but {n_nodes} combinations of its parameter values "
                        f"(pass allow_holes=True to use it as scattered models)")
    order = np.lexsort([p[c].to_numpy() for c in reversed(p.columns)])
    p = p.iloc[order].reset_index(drop=True)
    f = f.iloc[order].reset_index(drop=True)
    meta = {"name": name, "source": source, "fixed_params": fixed, "regular": regular, "filled_zero": filled}
    return PhotoionizationGrid(p, f, _line_metadata(line_cols, line_table), norm_line, meta)
