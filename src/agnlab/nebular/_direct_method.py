"""Direct-method (Te-based) ionic and total oxygen abundances from dereddened line fluxes.

The classical recipe (e.g. Osterbrock & Ferland 2006, ch. 5; Perez-Montero 2017, PASP 129, 043001):

1. Te([O III]) and Ne from [O III] 4363/5007 and [S II] 6731/6716, inverted jointly by
   :class:`agnlab.nebular.TeNeEstimator` (PyNeb atomic data). Where the [S II] ratio sits at a
   density limit (or is missing) the density is fixed there (or at ``ne_default_cm3``) and Te is
   solved alone (low limit: Ne = 100 cm^-3, far below the critical densities of the O lines);
   ``ne_flag`` records it.
2. Te of the low-ionisation zone: ``te_low="garnett92"``, t(O II) = 0.7 t(O III) + 0.3 (t in 10^4 K;
   Garnett 1992, AJ 103, 1330, from the models of Stasinska 1990), or ``"nii"``, measured from
   [N II] 5755/6583.
3. Ionic abundances X^i+/H+ = (I_line / I_Hbeta) * eps_Hbeta(Te) / eps_line(Te, Ne) with PyNeb
   emissivities: O++ from [O III] 5007 at Te(O III), O+ from [O II] 3726+3729 at Te(O II),
   He+ from He I 5876 and He++ from He II 4686 at Te(O III) (Hbeta: Storey & Hummer 1995 case B).
4. 12 + log(O/H)_direct = 12 + log10(O+/H+ + O++/H+). Higher stages (O3+ in AGN narrow-line
   regions) are left to an ICF: PyNeb's classical ones (``classical_icf`` on the ``O2, O3, He2,
   He3`` columns returned here) or a regressor trained on a photoionisation grid
   (:func:`agnlab.nebular.grid_abundance_table`).

Fluxes use the photoionisation-grid line names (``OIII5007``, ``OII3726``, ``Hbeta``, ...) and
are normalised by the ``Hbeta`` column. The method is biased against the models' true O/H where
the nebula has temperature gradients or fluctuations (Peimbert 1967; Stasinska 2005, A&A 434,
507: strong underestimates at high metallicity); :mod:`._grid_icf` measures that bias on grids.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

__all__ = ["DIRECT_METHOD_LINES", "DIRECT_FLAGS", "direct_method_abundances"]

DIRECT_METHOD_LINES = ("Hbeta", "OIII4363", "OIII5007", "OII3726", "OII3729", "SII6716", "SII6731")
"""Grid line names the direct method needs (``OII3726_29`` may replace the two [O II] lines;
``HeI5876``, ``HeII4686`` for He+/He++ and ``NII5755``, ``NII6583`` for ``te_low="nii"`` are optional)."""

DIRECT_FLAGS = {
    "ok": "Te and both O ionic abundances measured",
    "missing_line": "[O III] 5007, [O II] 3727 or Hbeta is missing, NaN or <= 0",
    "no_auroral": "[O III] 4363 is missing, NaN or <= 0 (no Te: the direct method does not apply)",
    "te_out_of_range": "the [O III] (or [N II]) ratio implies Te outside the estimator's trained range",
    "not_converged": "the Te/Ne inversion did not converge",
}
"""Per-row flag of :func:`direct_method_abundances` -> meaning (NaN abundances unless ``ok``)."""

_PYNEB = {"OIII4363": "O3_4363A", "OIII5007": "O3_5007A", "SII6716": "S2_6716A", "SII6731": "S2_6731A",
          "NII5755": "N2_5755A", "NII6583": "N2_6584A"}
_HE_TE_RANGE_K = (5000.0, 25000.0)  # PyNeb's He I recombination tables (Porter et al. 2012, 2013)


@functools.lru_cache(maxsize=4)
def _default_estimator(tem_diag: str, te_range_k: tuple, log_ne_range: tuple):
    from ._temden import TeNeEstimator

    return TeNeEstimator(tem_diag, "[SII] 6731/6716", te_range_k=te_range_k, log_ne_range=log_ne_range,
                         grid_shape=(160, 160), n_inverse=(384, 384)).fit()


@functools.lru_cache(maxsize=None)
def _atom(elem: str, spec: int, rec: bool):
    import pyneb as pn

    return pn.RecAtom(elem, spec) if rec else pn.Atom(elem, spec)


_TABLE_LOG_TE = (np.log10(3000.0), np.log10(40000.0), 111)
_TABLE_LOG_NE = (0.0, 6.0, 49)


@functools.lru_cache(maxsize=None)
def _emis_tables(elem: str, spec: int) -> tuple:
    """Every transition's emissivity on a (log Te, log Ne) grid from one PyNeb call (cached per process)."""
    lt, ln = np.linspace(*_TABLE_LOG_TE), np.linspace(*_TABLE_LOG_NE)
    em = _atom(elem, spec, False).getEmissivity(10.0**lt, 10.0**ln, product=True)  # (levels, levels, nT, nN)
    return lt, ln, np.asarray(em, dtype=float)


@functools.lru_cache(maxsize=None)
def _emis_spline(elem: str, spec: int, wave: int):
    """Bicubic spline of log10 emissivity of one line over (log Te, log Ne)."""
    from scipy.interpolate import RectBivariateSpline

    lt, ln, em = _emis_tables(elem, spec)
    i, j = _atom(elem, spec, False).getTransition(wave)
    return RectBivariateSpline(lt, ln, np.log10(em[i - 1, j - 1]), kx=3, ky=3)


def _emis(elem, spec, te, ne, *, wave=None, label=None, rec=False):
    """PyNeb emissivities at paired (Te, Ne); collisional lines through a cached spline (PyNeb ~1e-5 rel.)."""
    te, ne = np.asarray(te, dtype=float), np.asarray(ne, dtype=float)
    if not rec:
        with np.errstate(all="ignore"):
            lt, ln = np.log10(te), np.clip(np.log10(ne), *_TABLE_LOG_NE[:2])
        inside = (lt >= _TABLE_LOG_TE[0]) & (lt <= _TABLE_LOG_TE[1]) & np.isfinite(ln)
        out = np.full(te.shape, np.nan)
        out[inside] = 10.0 ** _emis_spline(elem, spec, wave)(lt[inside], ln[inside], grid=False)
        return out
    atom = _atom(elem, spec, rec)
    with np.errstate(all="ignore"):
        return np.asarray(atom.getEmissivity(te, ne, label=label, product=False), dtype=float)


def _col(f: pd.DataFrame, name: str) -> np.ndarray:
    return f[name].to_numpy(dtype=float) if name in f.columns else np.full(len(f), np.nan)


def normalised_fluxes(fluxes, *, need=()) -> pd.DataFrame:
    """Fluxes as a float DataFrame divided by its ``Hbeta`` column (a clear error if that is absent).

    Rows with Hbeta <= 0 or NaN become NaN (flagged downstream as ``missing_line``).
    """
    if not isinstance(fluxes, pd.DataFrame):
        raise TypeError(f"fluxes must be a pandas DataFrame with line-name columns, not {type(fluxes).__name__}")
    if "Hbeta" not in fluxes.columns:
        raise ValueError("fluxes need an 'Hbeta' column: abundances are relative to H-beta (give the H-beta flux, "
                         "or 1.0 if the fluxes are already normalised to it)")
    absent = [c for c in need if c not in fluxes.columns]
    if absent:
        raise ValueError(f"fluxes lack the line column(s) {absent} (grid line names, e.g. {list(DIRECT_METHOD_LINES)})")
    try:
        f = fluxes.apply(pd.to_numeric, errors="raise").astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fluxes must be numeric ({exc})") from None
    hb = f["Hbeta"].to_numpy()
    with np.errstate(all="ignore"):
        f = f.div(np.where(hb > 0, hb, np.nan), axis=0)
    return f


def _te_ne(est, f: pd.DataFrame, aur: str, neb: str, ne_default_cm3: float):
    """Te and log Ne (TeNeEstimator); density-limit rows re-solved for Te at the limiting density."""
    cols = {_PYNEB[aur]: _col(f, aur), _PYNEB[neb]: _col(f, neb),
            "S2_6716A": _col(f, "SII6716"), "S2_6731A": _col(f, "SII6731")}
    te, ln, flags = est.predict_from_lines(cols, return_flags=True)
    flags = np.asarray(flags, dtype=object)
    ne_flag = np.where(flags == "ok", "measured", "").astype(object)
    # at the low-density limit Ne is fixed at 100 cm^-3 (or the trained minimum): far below the critical
    # densities of [O III] 5007 (~7e5) and [O II] 3726/29 (~1e3-1e4), so the O abundances barely depend on it
    lo, hi = max(est.log_ne_range_[0] + 0.05, 2.0), est.ne_upper_log_ - 0.05
    s2 = cols["S2_6716A"] > 0
    s2 &= cols["S2_6731A"] > 0
    fix = np.full(len(f), np.nan)
    low = np.isin(flags, ("low_density_limit", "ne_below_range"))
    high = np.isin(flags, ("high_density_limit", "ne_above_range"))
    assumed = ~s2 & (cols[_PYNEB[aur]] > 0) & (cols[_PYNEB[neb]] > 0)
    fix[low], fix[high], fix[assumed] = lo, hi, np.log10(ne_default_cm3)
    ne_flag[low], ne_flag[high], ne_flag[assumed] = "low_density_limit", "high_density_limit", "assumed"
    redo = np.isfinite(fix)
    if redo.any():
        r_t = cols[_PYNEB[aur]][redo] / cols[_PYNEB[neb]][redo]
        te_guess = np.full(redo.sum(), 1e4)
        for _ in range(2):  # the density ratio at the fixed Ne depends weakly on Te: iterate once
            r_d = est.forward(np.clip(te_guess, *est.te_range_k_), fix[redo])[:, 1]
            out, fl = est.predict(np.column_stack([r_t, r_d]), return_flags=True)
            te_guess = np.where(np.isfinite(out[:, 0]), out[:, 0], 1e4)
        te[redo], ln[redo] = out[:, 0], fix[redo]
        flags[redo] = np.where(fl == "ok", "ok", fl)
    return te, ln, flags, ne_flag


def _flag_from_te(flags) -> np.ndarray:
    out = np.full(len(flags), "ok", dtype=object)
    out[np.isin(flags, ("te_below_range", "te_above_range", "low_density_limit", "high_density_limit",
                        "ne_below_range", "ne_above_range"))] = "te_out_of_range"
    out[flags == "not_converged"] = "not_converged"
    out[np.isin(flags, ("nonfinite_input", "nonpositive_input"))] = "no_auroral"
    return out


def direct_method_abundances(fluxes, *, te_low="garnett92", te_estimator=None, te_range_k=(4000.0, 30000.0),
                             ne_default_cm3=100.0) -> pd.DataFrame:
    """Te, Ne and O+, O++, He+, He++ abundances by the direct method, and 12 + log(O+/H + O++/H).

    Parameters
    ----------
    fluxes : DataFrame, shape (n, n_lines)
        Dereddened line fluxes with grid line names (:data:`DIRECT_METHOD_LINES`; ``HeI5876``,
        ``HeII4686``, ``NII5755``, ``NII6583`` optional) and an ``Hbeta`` column they are divided by.
        NaN or <= 0 fluxes are flagged per row, never raised.
    te_low : {"garnett92", "nii"}
        Te of the O+ zone: Garnett (1992) relation from Te([O III]), or measured from [N II] 5755/6583.
    te_estimator : TeNeEstimator, optional
        A fitted estimator for ``[OIII] 4363/5007`` with ``[SII] 6731/6716`` (default: one built
        once per process over ``te_range_k`` and log Ne in [0, 5]).
    te_range_k : (float, float)
        Te domain of the default estimators; outside it rows are flagged ``te_out_of_range``.
    ne_default_cm3 : float
        Density assumed where the [S II] lines are missing (``ne_flag="assumed"``).

    Returns
    -------
    DataFrame, shape (n, 11), same index
        ``te_o3_k``, ``te_o2_k``, ``log_ne_cm3``, ``O2``, ``O3``, ``He2``, ``He3`` (ionic abundances
        relative to H+, PyNeb names, so :func:`agnlab.nebular.classical_icf` applies; He NaN where
        its line is missing, He++ 0 where He II 4686 is 0), ``oh_direct`` (12 + log O/H),
        ``log_o3_o2`` (log O++/O+), ``flag`` (:data:`DIRECT_FLAGS`), ``ne_flag`` (``measured``,
        ``low_density_limit``, ``high_density_limit``, ``assumed``, or empty).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"Hbeta": [1.0, 1.0], "OIII4363": [0.03, 0.0], "OIII5007": [4.0, 3.0],
    ...                   "OII3726": [0.8, 0.8], "OII3729": [1.0, 1.0], "SII6716": [0.2, 0.2],
    ...                   "SII6731": [0.15, 0.15]})
    >>> out = direct_method_abundances(f)
    >>> out["flag"].tolist(), round(float(out["te_o3_k"].iloc[0]), -2), round(float(out["oh_direct"].iloc[0]), 2)
    (['ok', 'no_auroral'], 10400.0, 8.25)
    """
    if te_low not in ("garnett92", "nii"):
        raise ValueError(f"te_low must be 'garnett92' or 'nii', got {te_low!r}")
    if not ne_default_cm3 > 0:
        raise ValueError(f"ne_default_cm3 must be > 0, got {ne_default_cm3}")
    blend = "OII3726_29" in getattr(fluxes, "columns", ()) and not {"OII3726", "OII3729"} <= set(fluxes.columns)
    need = [c for c in DIRECT_METHOD_LINES if not (blend and c in ("OII3726", "OII3729"))]
    need += ["NII5755", "NII6583"] if te_low == "nii" else []
    f = normalised_fluxes(fluxes, need=need)
    n = len(f)
    te_range = (float(te_range_k[0]), float(te_range_k[1]))
    est = te_estimator if te_estimator is not None else _default_estimator("[OIII] 4363/5007", te_range, (0.0, 5.0))
    if list(getattr(est, "lines_", [])) != ["O3_4363A", "O3_5007A", "S2_6731A", "S2_6716A"]:
        raise ValueError("te_estimator must be a fitted TeNeEstimator('[OIII] 4363/5007', '[SII] 6731/6716')")
    te3, ln, fl3, ne_flag = _te_ne(est, f, "OIII4363", "OIII5007", ne_default_cm3)
    flag = _flag_from_te(fl3)
    o3_line = _col(f, "OIII5007")
    o2_line = _col(f, "OII3726_29") if blend else _col(f, "OII3726") + _col(f, "OII3729")
    strong_bad = ~(o3_line > 0) | ~(o2_line > 0)
    flag[strong_bad] = "missing_line"
    ok = flag == "ok"
    ne = 10.0 ** ln
    if te_low == "garnett92":
        te2 = (0.7 * te3 / 1e4 + 0.3) * 1e4
    else:
        est2 = _default_estimator("[NII] 5755/6584", te_range, (0.0, 5.0))
        te2, _, fl2, _ = _te_ne(est2, f, "NII5755", "NII6583", ne_default_cm3)
        te2 = np.where(np.isfinite(ln), te2, np.nan)
        bad2 = ok & (fl2 != "ok")
        flag[bad2] = np.where(np.isin(fl2[bad2], ("nonfinite_input", "nonpositive_input")), "missing_line",
                              "te_out_of_range")
        ok = flag == "ok"
    out = {k: np.full(n, np.nan) for k in ("O2", "O3", "He2", "He3")}
    if ok.any():
        t3, t2, d = te3[ok], te2[ok], ne[ok]
        hb3 = _emis("H", 1, t3, d, label="4_2", rec=True)
        hb2 = _emis("H", 1, t2, d, label="4_2", rec=True)
        out["O3"][ok] = o3_line[ok] * hb3 / _emis("O", 3, t3, d, wave=5007)
        out["O2"][ok] = o2_line[ok] * hb2 / (_emis("O", 2, t2, d, wave=3726) + _emis("O", 2, t2, d, wave=3729))
        the = np.clip(t3, *_HE_TE_RANGE_K)  # He I tables end at 25 kK; its emissivity varies slowly with Te
        hbh = _emis("H", 1, the, d, label="4_2", rec=True)
        he1, he2 = _col(f, "HeI5876")[ok], _col(f, "HeII4686")[ok]
        out["He2"][ok] = np.where(he1 >= 0, he1, np.nan) * hbh / _emis("He", 1, the, d, label="5876.0", rec=True)
        out["He3"][ok] = np.maximum(he2, 0.0) * hb3 / _emis("He", 2, t3, d, label="4_3", rec=True)
    with np.errstate(all="ignore"):
        oh = 12.0 + np.log10(out["O2"] + out["O3"])
        log_o3_o2 = np.log10(out["O3"] / out["O2"])
    nan_ok = ok & ~np.isfinite(oh)
    flag[nan_ok] = "te_out_of_range"  # PyNeb emissivity undefined (Te beyond its tables)
    keep = flag == "ok"
    res = pd.DataFrame({"te_o3_k": np.where(keep, te3, np.nan), "te_o2_k": np.where(keep, te2, np.nan),
                        "log_ne_cm3": np.where(keep, ln, np.nan),
                        **{k: np.where(keep, v, np.nan) for k, v in out.items()},
                        "oh_direct": np.where(keep, oh, np.nan), "log_o3_o2": np.where(keep, log_o3_o2, np.nan),
                        "flag": flag.astype(str), "ne_flag": np.where(keep, ne_flag, "").astype(str)},
                       index=fluxes.index)
    return res
