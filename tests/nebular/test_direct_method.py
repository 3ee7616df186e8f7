"""Direct-method abundances: recovery of a PyNeb-made one-zone nebula, flags and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pn = pytest.importorskip("pyneb")

from agnlab.nebular import direct_method_abundances  # noqa: E402

TE3, NE, O3, O2, HE2, HE3 = 12000.0, 300.0, 1.2e-4, 6e-5, 0.085, 0.01


def _fluxes(te3=TE3, ne=NE, n=3, nii=False):
    """Line fluxes / Hbeta of a nebula with the given ionic abundances (PyNeb emissivities)."""
    te2 = (0.7 * te3 / 1e4 + 0.3) * 1e4
    H, o3, o2 = pn.RecAtom("H", 1), pn.Atom("O", 3), pn.Atom("O", 2)

    def hb(t):
        return H.getEmissivity(t, ne, label="4_2")

    row = {"Hbeta": 1.0,
           "OIII5007": O3 * o3.getEmissivity(te3, ne, wave=5007) / hb(te3),
           "OIII4363": O3 * o3.getEmissivity(te3, ne, wave=4363) / hb(te3),
           "OII3726": O2 * o2.getEmissivity(te2, ne, wave=3726) / hb(te2),
           "OII3729": O2 * o2.getEmissivity(te2, ne, wave=3729) / hb(te2),
           "HeI5876": HE2 * pn.RecAtom("He", 1).getEmissivity(te3, ne, label="5876.0") / hb(te3),
           "HeII4686": HE3 * pn.RecAtom("He", 2).getEmissivity(te3, ne, label="4_3") / hb(te3)}
    s2 = pn.Atom("S", 2)
    row["SII6716"] = 0.3
    row["SII6731"] = 0.3 * s2.getEmissivity(te2, ne, wave=6731) / s2.getEmissivity(te2, ne, wave=6716)
    if nii:
        n2 = pn.Atom("N", 2)
        row["NII6583"] = 0.8
        row["NII5755"] = 0.8 * n2.getEmissivity(te2, ne, wave=5755) / n2.getEmissivity(te2, ne, wave=6584)
    return pd.DataFrame([{k: float(v) for k, v in row.items()}] * n)


def test_recovers_one_zone_nebula():
    """Te, Ne and ionic abundances of a nebula built with the same atomic data, to the inversion's accuracy."""
    f = _fluxes() * 2.5  # absolute fluxes: divided by Hbeta inside
    out = direct_method_abundances(f)
    assert out["flag"].tolist() == ["ok"] * 3
    np.testing.assert_allclose(out["te_o3_k"], TE3, rtol=2e-3)
    # Ne from [S II] at Te(O III) while the lines were made at Te(O II): a small, known mismatch
    np.testing.assert_allclose(out["log_ne_cm3"], np.log10(NE), atol=0.08)
    np.testing.assert_allclose(out["O3"], O3, rtol=0.01)
    np.testing.assert_allclose(out["O2"], O2, rtol=0.02)
    np.testing.assert_allclose(out["He2"], HE2, rtol=0.01)
    np.testing.assert_allclose(out["He3"], HE3, rtol=0.01)
    np.testing.assert_allclose(out["oh_direct"], 12 + np.log10(O2 + O3), atol=0.006)
    np.testing.assert_allclose(out["log_o3_o2"], np.log10(O3 / O2), atol=0.01)


def test_blended_oii_and_nii_temperature():
    f = _fluxes(nii=True)
    blend = f.drop(columns=["OII3726", "OII3729"]).assign(OII3726_29=f["OII3726"] + f["OII3729"])
    a = direct_method_abundances(f)
    b = direct_method_abundances(blend)
    np.testing.assert_allclose(a["oh_direct"], b["oh_direct"], rtol=0, atol=1e-12)
    c = direct_method_abundances(f, te_low="nii")
    np.testing.assert_allclose(c["te_o2_k"], (0.7 * TE3 / 1e4 + 0.3) * 1e4, rtol=0.01)
    np.testing.assert_allclose(c["oh_direct"], a["oh_direct"], atol=0.01)


def test_flags_and_density_fallbacks():
    f = _fluxes(n=6)
    f.loc[0, "OIII4363"] = np.nan          # no auroral line
    f.loc[1, "OIII5007"] = -0.1            # negative strong line
    f.loc[2, "Hbeta"] = 0.0                # no normalisation in this row
    f.loc[3, ["SII6716", "SII6731"]] = np.nan  # no density: assumed
    f.loc[4, "SII6731"] = 0.3 * 0.68       # [S II] ratio at the low-density limit
    out = direct_method_abundances(f, ne_default_cm3=100.0)
    assert out["flag"].tolist() == ["no_auroral", "missing_line", "missing_line", "ok", "ok", "ok"]
    assert out["ne_flag"].tolist()[3:] == ["assumed", "low_density_limit", "measured"]
    assert out.loc[3, "log_ne_cm3"] == pytest.approx(2.0, abs=1e-9)
    # the density barely matters for the abundances at these densities
    assert out.loc[3, "oh_direct"] == pytest.approx(out.loc[5, "oh_direct"], abs=0.02)
    assert out.loc[:2, ["O2", "O3", "oh_direct", "te_o3_k"]].isna().all().all()


def test_hot_gas_flagged_out_of_range():
    f = _fluxes(te3=24000.0, n=1)
    out = direct_method_abundances(f, te_range_k=(5000.0, 20000.0))
    assert out["flag"].tolist() == ["te_out_of_range"]
    assert np.isnan(out["oh_direct"].iloc[0])


def test_bad_input():
    f = _fluxes(n=1)
    with pytest.raises(ValueError, match="Hbeta"):
        direct_method_abundances(f.drop(columns="Hbeta"))
    with pytest.raises(ValueError, match="OIII4363"):
        direct_method_abundances(f.drop(columns="OIII4363"))
    with pytest.raises(ValueError, match="numeric"):
        direct_method_abundances(f.assign(OIII5007="strong"))
    with pytest.raises(TypeError, match="DataFrame"):
        direct_method_abundances(f.to_numpy())
    with pytest.raises(ValueError, match="te_low"):
        direct_method_abundances(f, te_low="oii")
    with pytest.raises(ValueError, match="NII5755"):
        direct_method_abundances(f, te_low="nii")
