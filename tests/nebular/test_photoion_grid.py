"""Photoionisation grids: the built-in MAPPINGS grids and validated user tables."""

import numpy as np
import pandas as pd
import pytest

from agnlab.nebular import GridError, load_photoionization_grid


def _has_nebulabayes():
    import importlib.util

    return importlib.util.find_spec("NebulaBayes") is not None


needs_nb = pytest.mark.skipif(not _has_nebulabayes(), reason="built-in grids need NebulaBayes (agnlab[nebular])")


def _table(holes=False):
    u, oh = np.meshgrid([-3.5, -3.0, -2.5], [8.0, 8.5, 9.0], indexing="ij")
    t = pd.DataFrame({"log U": u.ravel(), "12 + log O/H": oh.ravel()})
    t["Hbeta"] = 2.0
    t["OIII5007"] = 2.0 * (1 + t["log U"] + 4)
    t["NII6583"] = 0.5 * t["12 + log O/H"]
    return t.iloc[1:] if holes else t


@needs_nb
@pytest.mark.parametrize("name, n_models, axes", [
    ("mappings-hii", 1296, {"log U": 9, "log P/k": 12, "12 + log O/H": 12}),
    ("mappings-nlr", 9504, {"log U": 11, "log P/k": 12, "12 + log O/H": 12, "log E_peak": 6}),
])
def test_builtin_grids(name, n_models, axes):
    g = load_photoionization_grid(name)
    assert g.n_models == n_models
    assert {p: len(v) for p, v in g.axes.items()} == axes
    assert g.meta["regular"]
    np.testing.assert_allclose(g.fluxes["Hbeta"], 1.0, rtol=1e-6)
    assert np.isfinite(g.fluxes.to_numpy()).all() and (g.fluxes.to_numpy() >= 0).all()
    assert g.lines.loc["OIII5007", "wavelength_aa"] == pytest.approx(5006.8, abs=0.1)
    assert g.node_index().max().to_dict() == {p: n - 1 for p, n in axes.items()}
    if name == "mappings-nlr":
        assert g.meta["fixed_params"] == {"Gamma": 2.0, "p_NT": 0.15}
    # [O III]/H-beta spans the published range of HII regions / NLRs (BPT y-axis)
    assert np.log10(g.fluxes["OIII5007"].max()) > 0.5


def test_table_normalised_and_sorted():
    t = _table().sample(frac=1.0, random_state=0)
    g = load_photoionization_grid(t, params=["log U", "12 + log O/H"])
    np.testing.assert_allclose(g.fluxes["Hbeta"], 1.0)
    assert g.params.iloc[0].tolist() == [-3.5, 8.0]
    np.testing.assert_allclose(g.fluxes["OIII5007"], 1 + g.params["log U"] + 4)


def test_table_from_csv(tmp_path):
    path = tmp_path / "grid.csv"
    _table().to_csv(path, index=False)
    g = load_photoionization_grid(path, params=["log U", "12 + log O/H"], lines=["OIII5007", "NII6583"])
    assert g.line_names == ["OIII5007", "NII6583"]
    assert g.meta["name"] == "grid"


@pytest.mark.parametrize("mutate, match", [
    (lambda t: t.iloc[1:], "holes"),
    (lambda t: t.assign(OIII5007=-t["OIII5007"]), "negative"),
    (lambda t: t.assign(NII6583=t["NII6583"].where(t.index > 0)), "missing"),
    (lambda t: t.assign(Hbeta=0.0), "Hbeta <= 0"),
    (lambda t: t.drop(columns="Hbeta"), "normalisation line"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "duplicated"),
    (lambda t: t.assign(**{"log U": "x"}), "non-numeric"),
])
def test_bad_tables(mutate, match):
    with pytest.raises(GridError, match=match):
        load_photoionization_grid(mutate(_table()), params=["log U", "12 + log O/H"])


def test_params_required_and_checked(tmp_path):
    with pytest.raises(GridError, match="params="):
        load_photoionization_grid(_table())
    with pytest.raises(GridError, match="not in the grid table"):
        load_photoionization_grid(_table(), params=["log N/O"])
    with pytest.raises(GridError, match="no such file"):
        load_photoionization_grid(tmp_path / "absent.csv", params=["log U"])


def test_holes_allowed_and_missing_zero():
    t = _table(holes=True).assign(NII6583=np.nan)
    g = load_photoionization_grid(t, params=["log U", "12 + log O/H"], allow_holes=True, missing="zero")
    assert not g.meta["regular"] and g.n_models == 8
    assert g.meta["filled_zero"] == {"NII6583": 8}
    assert (g.fluxes["NII6583"] == 0).all()


def test_subset_and_check_lines():
    g = load_photoionization_grid(_table(), params=["log U", "12 + log O/H"])
    s = g.subset(g.params["log U"].to_numpy() != -3.0)
    assert s.n_models == 6 and not s.meta["regular"]
    assert g.check_lines("OIII5007") == ["OIII5007"]
    with pytest.raises(GridError, match="not in grid"):
        g.check_lines(["OIII5007", "HeII4686"])
    with pytest.raises(GridError, match="shape"):
        g.subset([True])


def test_node_mask():
    g = load_photoionization_grid(_table(), params=["log U", "12 + log O/H"])
    m = g.node_mask("log U", -3.0)
    assert m.sum() == 3 and np.all(g.params["log U"][m] == -3.0)
    kept = g.subset(~m)
    assert kept.axes["log U"].tolist() == [-3.5, -2.5] and not kept.meta["regular"]
    with pytest.raises(GridError, match="not a node"):
        g.node_mask("log U", -3.2)
    with pytest.raises(GridError, match="no parameter"):
        g.node_mask("log Z", 0.0)
