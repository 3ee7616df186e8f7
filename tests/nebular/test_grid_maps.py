"""IFU maps of grid parameters: BPT routing to the HII / NLR inverter, flags, Monte Carlo direct-method O/H."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("pyneb")
pytestmark = pytest.mark.skipif(importlib.util.find_spec("NebulaBayes") is None,
                                reason="built-in grids need NebulaBayes (agnlab[nebular])")

from agnlab.nebular import (  # noqa: E402
    GridInverter,
    bpt_class,
    bpt_class_from_fluxes,
    direct_oh_maps,
    grid_fit_cube,
    kauffmann03,
    kewley01,
    load_photoionization_grid,
    make_grid_cube,
    map_key,
)

LINES = ["OII3726", "OII3729", "NeIII3869", "OIII5007", "HeII4686", "Halpha", "NII6583", "SII6716", "SII6731"]
OH = "12 + log O/H"


@pytest.fixture(scope="module")
def grids():
    return load_photoionization_grid("mappings-hii"), load_photoionization_grid("mappings-nlr")


@pytest.fixture(scope="module")
def inverters(grids):
    """Small, quick inverters (accuracy is the benchmark's business; here the wiring and flags)."""
    kw = {"method": "gbm", "n_samples": 1500, "gbm_params": {"max_iter": 15}, "random_state": 0}
    return tuple(GridInverter(**kw).fit(g, lines=LINES) for g in grids)


@pytest.fixture(scope="module")
def cube(grids):
    return make_grid_cube((14, 14), hii_grid=grids[0], nlr_grid=grids[1], seed=0)


def test_bpt_lines_and_upper_limits():
    x = np.array([-1.0, -0.3, 0.0, 0.3, 0.6])
    assert np.all(np.diff(kauffmann03(x[:3])) < 0) and np.isnan(kauffmann03(0.1))
    assert np.all(kewley01(x[:4]) > np.nan_to_num(kauffmann03(x[:4]), nan=-9))  # Kewley lies above Kauffmann
    assert bpt_class(x, [-0.5, -0.6, -0.3, 0.2, -1.0]).tolist() == ["star-forming", "star-forming", "composite",
                                                                   "agn", "agn"]
    f = {"NII6583": np.array([0.2, 2.0, 0.01, np.nan]), "Halpha": 3.0, "OIII5007": np.array([0.01, 3.0, 0.5, 1.0]),
         "Hbeta": 1.0}
    e = {"NII6583": 0.01, "Halpha": 0.03, "OIII5007": 0.02, "Hbeta": 0.01}
    # [O III] undetected with a low upper limit -> star-forming; high [N II] and [O III] -> agn;
    # [N II] undetected -> SF; [N II] not measured (NaN) -> unclassified
    assert bpt_class_from_fluxes(f, e).tolist() == ["star-forming", "agn", "star-forming", "unclassified"]
    with pytest.raises(ValueError, match="Halpha"):
        bpt_class_from_fluxes({"NII6583": 1.0, "OIII5007": 1.0, "Hbeta": 1.0})


def test_cube_truth_is_grid_models(grids, cube):
    hii, nlr = grids
    comp = cube["component"]
    assert {"hii", "nlr"} == set(np.unique(comp))
    assert np.isnan(cube["truth"]["log E_peak"][comp == "hii"]).all()
    assert np.isin(cube["truth"][OH][comp == "hii"], hii.axes[OH]).all()
    assert np.isin(cube["truth"]["log E_peak"][comp == "nlr"], nlr.axes["log E_peak"]).all()
    # BPT recovers the components where the lines are measured (AGN bi-cone vs star-forming disc)
    b = bpt_class_from_fluxes(cube["fluxes"], cube["errors"])
    assert np.mean(b[comp == "nlr"] == "agn") > 0.8 and np.mean(b[comp == "hii"] == "star-forming") > 0.8


def test_cube_from_a_grid_with_holes(grids):
    keep = np.ones(grids[0].n_models, dtype=bool)
    keep[::3] = False
    holed = grids[0].subset(keep)
    c = make_grid_cube((6, 6), hii_grid=holed, nlr_grid=None, nan_fraction=0.0)
    truth = np.column_stack([c["truth"][p].ravel() for p in holed.param_names])
    models = {tuple(r) for r in holed.params.to_numpy()}
    assert all(tuple(r) in models for r in truth)  # only models the grid has
    with pytest.raises(Exception, match="NeV3426"):
        make_grid_cube((6, 6), hii_grid=grids[0], nlr_grid=None, lines=["NeV3426", "OIII5007"])


def test_grid_fit_cube_routes_and_flags(inverters, cube):
    hii_inv, nlr_inv = inverters
    maps = grid_fit_cube(hii_inv, cube["fluxes"], cube["errors"], nlr_inverter=nlr_inv)
    shape = cube["nan_mask"].shape
    assert maps.params == ["log U", "log P/k", OH, "log E_peak"]
    assert all(maps.value[p].shape == shape for p in maps.params)
    assert (maps.flag[cube["nan_mask"]] == "no_data").all()
    agn = maps.bpt == "agn"
    assert (maps.grid[agn & ~cube["nan_mask"]] == "mappings-nlr").all()
    assert (maps.grid[maps.bpt == "star-forming"] == "mappings-hii").all()
    assert np.isnan(maps.value["log E_peak"][maps.grid == "mappings-hii"]).all()
    est = np.isfinite(maps.value[OH])
    assert est.sum() > 0.7 * (~cube["nan_mask"]).sum()
    assert (maps.lo[OH][est] <= maps.value[OH][est]).all() and (maps.value[OH][est] <= maps.hi[OH][est]).all()
    # even these tiny inverters beat a constant guess of O/H by a wide margin
    truth = cube["truth"][OH][est]
    err = np.median(np.abs(maps.value[OH][est] - truth))
    assert err < 0.5 * np.median(np.abs(truth - np.median(truth)))
    arrays = maps.to_arrays()
    assert {map_key(OH), map_key(OH) + "_lo", "log_e_peak_hi", "flag", "bpt", "grid"} <= set(arrays)
    assert maps.summary()["n_spaxels"] == shape[0] * shape[1]


def test_grid_fit_cube_bad_input(inverters, cube, tmp_path):
    hii_inv, nlr_inv = inverters
    f, e = dict(cube["fluxes"]), dict(cube["errors"])
    with pytest.raises(ValueError, match="not lines of the inverters' grids"):
        grid_fit_cube(hii_inv, {**f, "FeVII6087": f["Hbeta"]}, {**e, "FeVII6087": e["Hbeta"]})
    with pytest.raises(ValueError, match="BPT lines"):
        grid_fit_cube(hii_inv, {k: v for k, v in f.items() if k != "NII6583"},
                      {k: v for k, v in e.items() if k != "NII6583"}, nlr_inverter=nlr_inv)
    with pytest.raises(ValueError, match="composite"):
        grid_fit_cube(hii_inv, f, e, composite="both")
    # a single HII inverter on every spaxel: AGN spaxels lie outside its domain or far off, never silently
    # extrapolated into log E_peak
    single = grid_fit_cube(hii_inv, f, e)
    assert "log E_peak" not in single.params and set(np.unique(single.grid)) <= {"mappings-hii", ""}
    path = tmp_path / "maps.fits"
    single.save(path)
    from astropy.io import fits

    with fits.open(path) as h:
        assert h[map_key(OH).upper()].data.shape == cube["nan_mask"].shape
    with pytest.raises(ValueError, match="npz or .fits"):
        single.save(tmp_path / "maps.csv")


def test_direct_oh_maps_monte_carlo(grids):
    c = make_grid_cube((8, 8), hii_grid=grids[0], nlr_grid=None, seed=1, hbeta_peak_snr=400.0)
    a = direct_oh_maps(c["fluxes"], c["errors"], n_draws=30, seed=0)
    b = direct_oh_maps(c["fluxes"], c["errors"], n_draws=30, seed=0, n_jobs=2)
    np.testing.assert_array_equal(a["oh_direct"], b["oh_direct"])  # same seed and chunks, any n_jobs
    assert (a["flag"][c["nan_mask"]] == "no_data").all()
    ok = a["flag"] == "ok"
    assert ok.sum() > 10
    lo, hi = a["oh_direct_percentiles"][0], a["oh_direct_percentiles"][-1]
    assert (lo[ok] <= a["oh_direct"][ok]).all() and (a["oh_direct"][ok] <= hi[ok]).all()
    # the direct method underestimates O/H on these models (Stasinska 2005): the biased side, within 1 dex
    d = a["oh_direct"][ok] - c["truth"][OH][ok]
    assert -1.0 < np.median(d) < 0.0
    with pytest.raises(ValueError, match="n_draws"):
        direct_oh_maps(c["fluxes"], c["errors"], n_draws=0)
