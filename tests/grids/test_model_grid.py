import h5py
import numpy as np
import pytest

from agnlab.grids import CLUMPY_PARAM_NAMES, ModelGrid, iter_clumpy_hdf5, load_grid, save_grid


def _grid(rng, n=12, n_wave=7):
    return ModelGrid(rng.uniform(1, 2, (n, 2)), ["a", "b"], np.linspace(1, 10, n_wave), rng.uniform(1, 2, (n, n_wave)))


def test_validation_names_problems(rng):
    wave = np.linspace(1, 2, 3)
    with pytest.raises(ValueError, match="param_names has 1 names"):
        ModelGrid(np.ones((2, 2)), ["a"], wave, np.ones((2, 3)))
    with pytest.raises(ValueError, match="strictly increasing"):
        ModelGrid(np.ones((2, 1)), ["a"], wave[::-1], np.ones((2, 3)))
    with pytest.raises(ValueError, match="flux: 1 non-finite"):
        ModelGrid(np.ones((2, 1)), ["a"], wave, np.array([[1, 1, np.nan], [1, 1, 1]]))
    with pytest.raises(ValueError, match="expected \\(n_models, n_wave\\)"):
        ModelGrid(np.ones((2, 1)), ["a"], wave, np.ones((3, 3)))
    with pytest.raises(ValueError, match="unique"):
        ModelGrid(np.ones((2, 2)), ["a", "a"], wave, np.ones((2, 3)))
    g = ModelGrid(np.ones((2, 1)), ["a"], wave, np.array([[1.0, 0.0, 1.0], [1, 1, 1]]))
    with pytest.raises(ValueError, match="1 values <= 0 in 1 models"):
        _ = g.log_flux
    with pytest.raises(KeyError, match="unknown parameter 'z'"):
        g.param_index("z")


def test_split_is_seeded_and_disjoint(rng):
    g = _grid(rng, n=50)
    tr, te = g.split(0.2, seed=1)
    tr2, te2 = g.split(0.2, seed=1)
    assert 6 <= te.n_models <= 10 and tr.n_models + te.n_models == 50
    # held-out models lie inside the training box (an emulator of `tr` can predict all of `te`)
    assert (te.params >= tr.params.min(axis=0)).all() and (te.params <= tr.params.max(axis=0)).all()
    np.testing.assert_allclose(te.params, te2.params, rtol=0, atol=0)
    rows = {tuple(r) for r in tr.params} & {tuple(r) for r in te.params}
    assert not rows


def test_npz_roundtrip_and_errors(tmp_path, rng):
    g = _grid(rng)
    path = save_grid(g, tmp_path / "g.npz")
    back = load_grid(path)
    assert back.param_names == ("a", "b")
    np.testing.assert_allclose(back.flux, g.flux, rtol=0, atol=0)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz: not a model grid .not an npz archive"):
        load_grid(bad)
    np.savez(tmp_path / "width.npz", params=g.params, param_names=np.array(g.param_names), wave_um=g.wave_um[:-1],
             flux=g.flux)
    with pytest.raises(ValueError, match="width.npz: 'flux' has .* wavelength columns"):
        load_grid(tmp_path / "width.npz")
    np.savez(tmp_path / "nowave.npz", fnu=np.ones((3, 4)), a=np.arange(3.0))
    with pytest.raises(KeyError, match="wave_um"):
        load_grid(tmp_path / "nowave.npz")
    (tmp_path / "g.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown grid format"):
        load_grid(tmp_path / "g.txt")


def test_real_clumpy_npz(shared_data):
    g = load_grid(shared_data / "torus" / "clumpy_nenkova08_3p.npz")
    assert g.n_models == 1080 and g.n_wave == 119
    assert set(g.param_names) == {"i", "sig", "tv"}
    assert g.param_ranges["tv"] == (10.0, 300.0)
    lf = g.log_flux
    assert np.isfinite(lf).all() and lf.max() < -60  # tiny F_nu values: log space is mandatory


def _write_clumpy_h5(path, rng, n=30, drop=None):
    wave = np.logspace(-2, 3, 9)[::-1]  # CLUMPY files store frequency order
    with h5py.File(path, "w") as h5:
        h5["wave"] = wave
        for k in CLUMPY_PARAM_NAMES:
            if k != drop:
                h5[k] = rng.uniform(1, 5, n)
        h5["flux_tor"] = rng.uniform(1, 2, (n, 9))
        h5["flux_toragn"] = rng.uniform(2, 3, (n, 9))
        h5["ptype1"] = np.zeros(n)
    return wave


def test_clumpy_hdf5_chunked_and_subset(tmp_path, rng):
    path = tmp_path / "clumpy.hdf5"
    _write_clumpy_h5(path, rng)
    full = load_grid(path, chunk_rows=7)
    assert full.param_names == CLUMPY_PARAM_NAMES and full.n_models == 30
    assert np.all(np.diff(full.wave_um) > 0)
    with h5py.File(path) as h5:
        raw = np.asarray(h5["flux_toragn"])[:, ::-1]
    np.testing.assert_allclose(full.flux, raw, rtol=0, atol=0)
    part = load_grid(path, rows=np.array([3, 1, 20]), chunk_rows=2, flux_key="flux_tor")
    assert part.n_models == 3
    chunks = list(iter_clumpy_hdf5(path, chunk_rows=8))
    assert sum(len(p) for p, _ in chunks) == 30


def test_clumpy_hdf5_missing_and_corrupt(tmp_path, rng):
    path = tmp_path / "c.h5"
    _write_clumpy_h5(path, rng, drop="q")
    with pytest.raises(KeyError, match=r"missing dataset\(s\) \['q'\]"):
        load_grid(path)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n" + b"0" * 100)
    with pytest.raises(ValueError, match="cannot open as HDF5"):
        load_grid(bad)
