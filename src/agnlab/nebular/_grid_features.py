"""Inputs of :class:`GridInverter`: observed line fluxes -> log ratios, errors, flags; simulated noisy spectra.

Every spectrum becomes, per fitted line, log10(F/F_Hbeta), the line's relative error sigma/F and a
"missing" bit, plus H-beta's own relative error (common to every ratio). A line is *missing* when its
flux is NaN or its column is absent (allowed, no flag); it is *dropped* (used as missing, but the
spectrum is flagged) when its flux is <= 0, its error is not a positive number, or its S/N is below
``min_snr``. Per-spectrum flags (strings) are listed in :data:`GRID_FLAG_DESCRIPTIONS`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._grid_interp import LOG_FLOOR

__all__ = ["GRID_FLAG_DESCRIPTIONS", "GRID_FLAG_NAMES", "ObservedLines", "read_observed", "simulate_observed"]

GRID_FLAG_DESCRIPTIONS = {
    "ok": "estimated from every usable line, inside the grid's domain",
    "line_dropped": "a line had an unusable error (NaN, <= 0) or S/N below min_snr; estimated without it",
    "nonpositive_flux": "a line flux was <= 0; estimated without that line",
    "out_of_domain": "the observed ratios lie far from every grid model (chi^2 to the nearest model): "
                     "no estimate (never extrapolated)",
    "too_few_lines": "fewer than min_lines usable lines: no estimate",
    "no_hbeta": "H-beta flux missing, NaN or <= 0: ratios cannot be formed, no estimate",
}
"""Flag name -> meaning, mildest first; a spectrum gets the most severe flag that applies."""

GRID_FLAG_NAMES = tuple(GRID_FLAG_DESCRIPTIONS)
FLAG_NO_ESTIMATE = ("out_of_domain", "too_few_lines", "no_hbeta")
_MAX_SNR = 1000.0   # errors below 0.1 % are raised to it (no grid is that accurate)


class ObservedLines:
    """Validated observations: log ratios ``r`` (n, L) and relative errors ``rel`` (n, L), NaN = missing.

    ``hb_rel`` (n,) is H-beta's relative error (0 when fluxes were given already normalised);
    ``flags`` (n,) integer codes into :data:`GRID_FLAG_NAMES`.
    """

    def __init__(self, r, rel, hb_rel, flags):
        self.r, self.rel, self.hb_rel, self.flags = r, rel, hb_rel, flags

    @property
    def present(self) -> np.ndarray:
        return np.isfinite(self.r)

    def take(self, idx) -> ObservedLines:
        """The spectra ``idx`` (indices, mask or slice)."""
        return ObservedLines(self.r[idx], self.rel[idx], self.hb_rel[idx], self.flags[idx])

    def log_sigma(self) -> np.ndarray:
        """1-sigma error of every log ratio in dex (line and H-beta errors combined), NaN = missing."""
        return np.sqrt(self.rel**2 + self.hb_rel[:, None] ** 2) / np.log(10.0)


def _table(x, name):
    if isinstance(x, pd.DataFrame):
        return x
    try:
        return pd.DataFrame(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: give a DataFrame (or dict of columns) with one column per line ({exc})") from None


def _numeric(df, cols, name):
    """Columns ``cols`` (names as str) of ``df`` as a float array (n, len(cols)); the input is never modified."""
    names = [str(c) for c in df.columns]
    pos = {}
    for k, c in enumerate(names):
        if c in pos and c in cols:
            raise ValueError(f"{name}: column {c!r} appears more than once")
        pos.setdefault(c, k)
    idx = [pos[c] for c in cols]
    try:                        # one conversion of the whole table (fast when every column is numeric)
        return df.to_numpy(dtype=float)[:, idx]
    except (TypeError, ValueError):
        pass
    out = np.empty((len(df), len(cols)))
    for k, j in enumerate(idx):
        col = df.iloc[:, j]
        try:
            col = pd.to_numeric(col, errors="raise")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: non-numeric values in line columns ({exc})") from None
        out[:, k] = col.to_numpy(dtype=float)
    return out


def read_observed(fluxes, errors, lines, *, grid_lines, norm_line="Hbeta", normalized=False, min_snr=2.0,
                  min_lines=2) -> ObservedLines:
    """Validate observed fluxes/errors tables and turn them into :class:`ObservedLines`.

    Raises ``ValueError`` for problems of the whole table (unknown line names, no H-beta column, shape
    mismatch); problems of single spectra become flags.
    """
    f = _table(fluxes, "fluxes")
    e = _table(errors, "errors")
    if len(f) != len(e):
        raise ValueError(f"fluxes has {len(f)} rows but errors has {len(e)}")
    if len(f) == 0:
        raise ValueError("fluxes: no rows")
    cols = [str(c) for c in f.columns]
    e_cols = {str(c) for c in e.columns}
    known = set(grid_lines) | {norm_line}
    unknown = [c for c in cols if c not in known]
    if unknown:
        raise ValueError(f"fluxes: columns {unknown} are not lines of the grid (pass only line columns; "
                         f"the model uses {list(lines)} relative to {norm_line})")
    use = [ln for ln in lines if ln in cols]
    if not use:
        raise ValueError(f"fluxes: none of the model's lines {list(lines)} is a column (got {cols})")
    no_err = [ln for ln in use + ([norm_line] if not normalized else []) if ln not in e_cols]
    if no_err:
        raise ValueError(f"errors: no column for {no_err}")
    n, L = len(f), len(lines)
    fl = np.full((n, L), np.nan)
    er = np.full((n, L), np.nan)
    j = [list(lines).index(ln) for ln in use]
    fl[:, j] = _numeric(f, use, "fluxes")
    er[:, j] = _numeric(e, use, "errors")
    flags = np.zeros(n, dtype=np.int8)
    code = {name: i for i, name in enumerate(GRID_FLAG_NAMES)}
    if normalized:
        hb, hb_rel = np.ones(n), np.zeros(n)
    else:
        if norm_line not in cols:
            raise ValueError(f"fluxes: no {norm_line!r} column to normalise by; give {norm_line} fluxes and "
                             f"errors, or pass normalized=True when fluxes are already relative to {norm_line}")
        hb = _numeric(f, [norm_line], "fluxes")[:, 0]
        hb_err = _numeric(e, [norm_line], "errors")[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            hb_rel = np.abs(hb_err / hb)
        bad_hb = ~(np.isfinite(hb) & (hb > 0))
        hb_rel = np.where(np.isfinite(hb_rel) & (hb_err > 0), np.maximum(hb_rel, 1.0 / _MAX_SNR), np.nan)
        flags[bad_hb] = code["no_hbeta"]
        bad_hb_err = ~bad_hb & np.isnan(hb_rel)
        flags[bad_hb_err] = code["no_hbeta"]
    with np.errstate(divide="ignore", invalid="ignore"):
        nonpos = np.isfinite(fl) & (fl <= 0)
        rel = er / fl
        bad_err = (np.isfinite(fl) & (fl > 0) & ~(np.isfinite(er) & (er > 0))) | np.isinf(fl)
        low_snr = np.isfinite(fl) & (fl > 0) & ~bad_err & (rel > 1.0 / min_snr)
        usable = np.isfinite(fl) & (fl > 0) & ~bad_err & ~low_snr
        r = np.where(usable, np.log10(np.where(usable, fl, 1.0) / hb[:, None]), np.nan)
    r = np.where(usable, np.maximum(r, LOG_FLOOR), np.nan)
    rel = np.where(usable, np.maximum(rel, 1.0 / _MAX_SNR), np.nan)
    hb_rel = np.where(np.isnan(hb_rel), 0.0, hb_rel)
    ok = flags == 0
    flags[ok & (bad_err | low_snr).any(axis=1)] = code["line_dropped"]
    flags[ok & nonpos.any(axis=1)] = code["nonpositive_flux"]
    few = (flags != code["no_hbeta"]) & (usable.sum(axis=1) < min_lines)
    flags[few] = code["too_few_lines"]
    return ObservedLines(r, rel, hb_rel, flags)


def simulate_observed(log_ratio, rng, *, snr_range, dropout, min_snr, min_lines, model_error_dex=0.0,
                      snr_spread_dex=0.4):
    """Noisy observations of true log10(F/F_Hbeta) ``log_ratio`` (n, L) -> :class:`ObservedLines`.

    Per spectrum an S/N level drawn log-uniformly in ``snr_range``, and per line (and H-beta) an S/N
    scattered around it (log-normal, clipped to the range) by a spread drawn uniformly in
    [0, ``snr_spread_dex``] per spectrum, so that equal S/N in every line is as common as a wide spread;
    Gaussian noise on the fluxes; ``model_error_dex`` extra scatter of the true ratios (the grid's own
    error, as NebulaBayes' ``grid_error``), not included in the reported errors; every line dropped with
    probability ``dropout`` (at least ``min_lines`` kept); lines whose noisy S/N falls below ``min_snr`` or
    flux below 0 are missing, as :func:`read_observed` treats them.
    """
    n, L = log_ratio.shape
    lo, hi = np.log10(snr_range[0]), np.log10(snr_range[1])
    level = rng.uniform(lo, hi, size=(n, 1))          # the spectrum's S/N level, then a scatter per line
    spread = rng.uniform(0.0, snr_spread_dex, size=(n, 1))   # from equal S/N in every line to a wide spread
    snr = 10.0 ** np.clip(level + spread * rng.standard_normal((n, L)), lo, hi)
    snr_hb = 10.0 ** np.clip(level[:, 0] + spread[:, 0] * rng.standard_normal(n), lo, hi)
    true = log_ratio + (rng.normal(scale=model_error_dex, size=(n, L)) if model_error_dex > 0 else 0.0)
    flux = 10.0**true
    sigma = flux / snr
    obs = flux + sigma * rng.standard_normal((n, L))
    hb = 1.0 + rng.standard_normal(n) / snr_hb
    hb = np.maximum(hb, 0.05)   # an H-beta measured below 5 % of itself has S/N < 1 at the lowest S/N drawn
    keep = rng.random((n, L)) >= dropout
    # keep at least min_lines: re-enable random dropped lines where too few are left
    short = keep.sum(axis=1) < min_lines
    if short.any():
        order = np.argsort(rng.random((int(short.sum()), L)), axis=1)[:, :min_lines]
        k = keep[short]
        np.put_along_axis(k, order, True, axis=1)
        keep[short] = k
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = sigma / obs
        usable = keep & (obs > 0) & (rel <= 1.0 / min_snr)
        r = np.where(usable, np.log10(np.where(usable, obs, 1.0) / hb[:, None]), np.nan)
    r = np.where(usable, np.maximum(r, LOG_FLOOR), np.nan)
    rel = np.where(usable, np.maximum(rel, 1.0 / _MAX_SNR), np.nan)
    flags = np.where(usable.sum(axis=1) < min_lines, GRID_FLAG_NAMES.index("too_few_lines"), 0).astype(np.int8)
    return ObservedLines(r, rel, 1.0 / snr_hb, flags)


def n_features(n_lines: int, pairs: bool) -> int:
    """Columns of :func:`encode` for ``n_lines`` lines."""
    return 2 * n_lines + 1 + (n_lines * (n_lines - 1) // 2 if pairs else 0)


def _encode_filled(obs: ObservedLines, pairs: bool):
    """Features with missing entries filled (0 for ratios, relative error 1) and the mask of missing ones.

    Arithmetic on NaN is slow on some CPUs, so missing values are filled first and masked afterwards.
    """
    present = obs.present
    n, L = obs.r.shape
    rT = np.where(present, obs.r, 0.0).T.copy()          # lines on the first axis: fast row gathers
    relT = np.where(present, obs.rel, 1.0).T.copy()
    nf = n_features(L, pairs)
    x = np.empty((nf, n))
    miss = np.empty((nf, n), dtype=bool)
    x[:L], miss[:L] = rT, ~present.T
    col = L
    if pairs:
        i, j = np.triu_indices(L, k=1)
        np.subtract(rT[i], rT[j], out=x[col:col + i.size])
        miss[col:col + i.size] = miss[i] | miss[j]
        col += i.size
    np.log10(relT, out=x[col:col + L])
    miss[col:col + L] = miss[:L]
    x[-1] = np.log10(np.maximum(obs.hb_rel, 1.0 / _MAX_SNR))
    miss[-1] = False
    return x.T, miss.T


def encode(obs: ObservedLines, *, nan_missing: bool = True, pairs: bool = True) -> np.ndarray:
    """Feature matrix (n, :func:`n_features`): log ratios to H-beta, every pairwise log ratio of two lines
    (``pairs``: the diagnostic ratios such as [S II] 6716/6731 or [N II]/[O II], which trees cannot form
    and networks learn faster when given), log10 relative errors, log10 H-beta relative error.

    ``nan_missing=True``: missing entries are NaN (gradient-boosted trees route them); else 0.
    """
    x, miss = _encode_filled(obs, pairs)
    x[miss] = np.nan if nan_missing else 0.0
    return x


def nn_inputs(obs: ObservedLines, mean, scale, *, pairs: bool = True) -> np.ndarray:
    """Standardised features with missing entries 0, plus one missing bit per line (float32)."""
    x, miss = _encode_filled(obs, pairs)
    x = x.astype(np.float32)
    x -= np.asarray(mean, dtype=np.float32)
    x /= np.asarray(scale, dtype=np.float32)
    x[miss] = 0.0
    return np.concatenate([x, (~obs.present).astype(np.float32)], axis=1)
