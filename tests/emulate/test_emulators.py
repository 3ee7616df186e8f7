"""PCAEmulator and NeuralEmulator: fit/predict, domain checks, bad input, persistence, Dask."""

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from agnlab.emulate import (
    NeuralEmulator,
    OutOfDomainError,
    PCAEmulator,
    evaluate_emulator,
    flux_error_summary,
    fractional_flux_error,
    load_emulator,
)
from agnlab.grids import clumpy_like_grid, clumpy_like_regular_grid
from agnlab.io import ArtifactError

TINY_NN = dict(n_components=8, hidden=(16, 16), max_epochs=40, patience=10, batch_size=128, lbfgs_steps=0,
               progress=False)


@pytest.fixture(scope="module")
def grid():
    return clumpy_like_grid(1500, seed=0)


@pytest.fixture(scope="module")
def split(grid):
    return grid.split(0.2, seed=0)


@pytest.fixture(scope="module")
def neural(split):
    train, _ = split
    return NeuralEmulator(random_state=0, **TINY_NN).fit(train.params, train.flux, wave_um=train.wave_um)


@pytest.fixture(scope="module")
def pca(split):
    train, _ = split
    return PCAEmulator(n_components=8).fit(train.params, train.flux, wave_um=train.wave_um)


def test_pca_regular_grid_exact_at_nodes():
    g = clumpy_like_regular_grid({"tv": [10, 40, 300], "N0": [2, 10], "sig": [20, 60], "Y": [10, 50],
                                  "q": [0.5, 2.5], "i": [0, 45, 90]})
    emu = PCAEmulator(n_components=None).fit(g.params, g.flux, wave_um=g.wave_um)
    assert emu.interpolation_ == "regular"
    np.testing.assert_allclose(emu.predict(g.params), g.flux, rtol=1e-8)
    mid = np.array([[20.0, 5.0, 40.0, 20.0, 1.5, 30.0]])
    out = emu.predict(mid)
    assert out.shape == (1, 119) and np.all(out > 0)


def test_pca_scattered_rbf_reasonable(split):
    train, test = split
    emu = PCAEmulator(n_components=12, param_names=train.param_names).fit(train.params, train.flux,
                                                                          wave_um=train.wave_um)
    assert emu.interpolation_ == "rbf"
    assert emu.log_params_.tolist() == [True, False, False, True, False, False]  # log-sampled tv, Y
    inside = emu.domain_mask(test.params)
    s = flux_error_summary(test.wave_um, test.flux[inside], emu.predict(test.params[inside]))
    assert s["median"] < 0.05 and s["n_nan"] == 0


def test_neural_fit_predict_and_metrics(neural, split):
    _, test = split
    ok = neural.domain_mask(test.params)
    pred = neural.predict(test.params[ok])
    assert pred.shape == (ok.sum(), 119) and pred.dtype == np.float64
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)
    m = evaluate_emulator(neural, test.params[ok], test.flux[ok])
    assert m["flux"]["median"] < 0.3            # a 40-epoch net: loose, statistical bound
    tm = neural.training_record_
    assert tm["n_train"] + tm["n_val"] == split[0].n_models and tm["train_seconds"] > 0


def test_neural_deterministic(split):
    train, test = split
    a = NeuralEmulator(random_state=3, **TINY_NN).fit(train.params[:400], train.flux[:400])
    b = NeuralEmulator(random_state=3, **TINY_NN).fit(train.params[:400], train.flux[:400])
    x = train.params[:20]
    np.testing.assert_allclose(a.predict(x), b.predict(x), rtol=1e-6)


def test_threads_and_chunks_give_same_result(neural, split):
    x = split[0].params[:1000]
    ref = neural.predict(x)
    other = clone(neural)
    for attr in ("module_", "param_names_", "n_params_", "param_min_", "param_max_", "log_params_", "x_center_",
                 "x_halfwidth_", "log_mean_", "components_", "coef_scale_", "n_components_",
                 "explained_variance_ratio_", "wave_um_"):
        setattr(other, attr, getattr(neural, attr))
    other.set_params(chunk_size=77, n_jobs=2)
    other._prepare_inference()
    # float32 network: matrix products blocked differently per chunk size round differently (~1e-6)
    np.testing.assert_allclose(other.predict(x), ref, rtol=1e-5)


def test_tiny_fluxes_float64(shared_data):
    d = np.load(shared_data / "torus" / "clumpy_nenkova08_3p.npz")
    X = np.stack([d["tv"], d["sig"], d["i"]], axis=1)
    emu = NeuralEmulator(param_names=("tv", "sig", "i"), **TINY_NN).fit(X, d["fnu"], wave_um=d["wave_um"])
    pred = emu.predict(X[:5])
    assert pred.dtype == np.float64 and np.all(pred > 0) and pred.min() < 1e-70
    assert np.nanmedian(fractional_flux_error(d["fnu"][:5], pred)) < 1.0
    pca = PCAEmulator(n_components=None, param_names=("tv", "sig", "i")).fit(X, d["fnu"])
    assert pca.interpolation_ == "regular"
    np.testing.assert_allclose(pca.predict(X[:5]), d["fnu"][:5], rtol=1e-3)


@pytest.mark.parametrize("cls", [PCAEmulator, NeuralEmulator])
def test_out_of_domain(cls, split):
    train, _ = split
    kw = TINY_NN if cls is NeuralEmulator else {"n_components": 6}
    emu = cls(**kw).fit(train.params[:300], train.flux[:300])
    x = train.params[:3].copy()
    x[1, 0] = 1e4                       # tv far outside
    with pytest.raises(OutOfDomainError, match="outside the training domain"):
        emu.predict(x)
    emu.set_params(on_out_of_domain="nan")
    out = emu.predict(x)
    assert np.all(np.isnan(out[1])) and np.all(np.isfinite(out[[0, 2]]))
    np.testing.assert_array_equal(emu.domain_mask(x), [True, False, True])


def test_bad_inputs(split):
    train, _ = split
    X, Y = train.params[:200], train.flux[:200]
    emu = PCAEmulator(n_components=4)
    with pytest.raises(ValueError, match="non-finite"):
        bad = X.copy()
        bad[0, 0] = np.nan
        emu.fit(bad, Y)
    with pytest.raises(ValueError, match="non-finite"):
        bad = Y.copy()
        bad[1, 1] = np.inf
        emu.fit(X, bad)
    with pytest.raises(ValueError, match="<= 0"):
        bad = Y.copy()
        bad[2, 2] = 0.0
        emu.fit(X, bad)
    with pytest.raises(ValueError, match="rows"):
        emu.fit(X, Y[:-1])
    with pytest.raises(ValueError, match="param_names"):
        PCAEmulator(param_names=("a", "b")).fit(X, Y)
    with pytest.raises(ValueError, match="on_out_of_domain"):
        PCAEmulator(on_out_of_domain="clip").fit(X, Y)
    emu = PCAEmulator(n_components=4, param_names=train.param_names).fit(X, Y)
    with pytest.raises(ValueError, match="columns"):
        emu.predict(X[:, :5])
    with pytest.raises(ValueError, match="non-finite"):
        emu.predict(np.full((1, 6), np.nan))
    df = pd.DataFrame(X[:3], columns=train.param_names)
    np.testing.assert_allclose(emu.predict(df), emu.predict(X[:3]), rtol=1e-12)
    with pytest.raises(ValueError, match="unknown \\['tau'\\]"):
        emu.predict(df.rename(columns={"tv": "tau"}))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NeuralEmulator().predict(X[:2])


@pytest.mark.parametrize("cls", [PCAEmulator, NeuralEmulator])
def test_save_load_roundtrip(cls, split, neural, tmp_path):
    train, _ = split
    emu = neural if cls is NeuralEmulator else PCAEmulator(n_components=6).fit(train.params[:300],
                                                                               train.flux[:300],
                                                                               wave_um=train.wave_um)
    path = emu.save(tmp_path / "model.npz")
    back = cls.load(path)
    x = train.params[:50]
    np.testing.assert_allclose(back.predict(x), emu.predict(x), rtol=1e-6)
    assert back.param_names_ == emu.param_names_
    assert back.param_ranges_ == emu.param_ranges_
    np.testing.assert_allclose(back.wave_um_, train.wave_um, rtol=0)
    assert type(load_emulator(path)) is cls
    with pytest.raises(ArtifactError, match="expected"):
        (PCAEmulator if cls is NeuralEmulator else NeuralEmulator).load(path)


def test_load_refuses_pickle_and_garbage(tmp_path):
    bad = tmp_path / "evil.npz"
    np.savez(bad, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ArtifactError):
        NeuralEmulator.load(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ArtifactError):
        PCAEmulator.load(junk)
    with pytest.raises(FileNotFoundError):
        load_emulator(tmp_path / "missing.npz")


def test_neural_file_is_small(neural, tmp_path):
    path = neural.save(tmp_path / "m.npz")
    assert path.stat().st_size < 340 * 1024


def test_dask_block_by_block(neural, split):
    da = pytest.importorskip("dask.array")
    x = split[0].params[:700]
    dx = da.from_array(x, chunks=(128, 6))
    lazy = dx.map_blocks(neural.predict, chunks=(dx.chunks[0], (119,)), dtype=np.float64)
    np.testing.assert_allclose(lazy.compute(scheduler="sync"), neural.predict(x), rtol=1e-6)
    np.testing.assert_allclose(neural.predict_dask(dx).compute(scheduler="sync"), neural.predict(x), rtol=1e-6)


def test_sklearn_compatibility(neural):
    c = clone(neural)
    assert c.get_params()["hidden"] == (16, 16)
    assert not hasattr(c, "module_")


def test_fractional_error_metric():
    t = np.ones((2, 3))
    p = np.array([[1.01, 1.0, 0.99], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(fractional_flux_error(t, p), np.abs(p - 1), rtol=1e-9, atol=1e-15)
    tiny = t * 1e-80
    np.testing.assert_allclose(fractional_flux_error(tiny, p * 1e-80), np.abs(p - 1), rtol=1e-9, atol=1e-15)
    s = flux_error_summary([0.5, 2.0, 10.0], t, p, wave_range_um=(1, 30))
    assert s["n_wave"] == 2 and s["max"] == pytest.approx(0.01, rel=1e-6)


@pytest.mark.parametrize("activation", ["silu", "tanh", "gelu", "relu", "leaky_relu"])
def test_predict_matches_torch_network(activation, split):
    """predict() reproduces the trained torch network for every activation."""
    import torch

    train, _ = split
    emu = NeuralEmulator(activation=activation, n_components=8, hidden=(16, 16), max_epochs=3, lbfgs_steps=0,
                         progress=False).fit(train.params[:400], train.flux[:400])
    x = train.params[:300]
    with torch.no_grad():
        coef = emu.module_(torch.from_numpy(emu._scale_params(x).astype(np.float32))).double().numpy()
    log10_flux = coef * emu.coef_scale_ @ emu.components_ + emu.log_mean_
    # float32 arithmetic on ln(flux) ~ -50: a few 1e-6 relative
    np.testing.assert_allclose(emu.predict(x), 10.0 ** log10_flux, rtol=2e-5)


def test_predict_into_out(neural, split):
    x = split[1].params[:37]
    buf = np.empty((37, 119))
    assert neural.predict(x, out=buf) is buf
    np.testing.assert_allclose(buf, neural.predict(x), rtol=0)
    with pytest.raises(ValueError, match="out: expected"):
        neural.predict(x, out=np.empty((37, 119), dtype=np.float32))
    with pytest.raises(ValueError, match="out: expected"):
        neural.predict(x, out=np.empty((36, 119)))


@pytest.mark.parametrize("which", ["neural", "pca"])
def test_output_dtype_and_log10(which, neural, pca, split):
    """float32 and log10-flux outputs agree with the float64 fluxes; a float32 buffer can be filled in place."""
    emu = neural if which == "neural" else pca
    x = split[1].params[:50]
    ref = emu.predict(x)
    f32 = emu.predict(x, dtype=np.float32)
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, ref, rtol=1e-6)            # float32 rounding of the same numbers
    lg = emu.predict(x, output="log10_flux", dtype=np.float32)
    np.testing.assert_allclose(lg, np.log10(ref), rtol=0, atol=2e-6 * np.abs(np.log10(ref)).max())
    np.testing.assert_allclose(emu.predict_log10(x), np.log10(ref), rtol=2e-6, atol=0)  # float32 ln(flux)
    buf = np.empty((50, ref.shape[1]), dtype=np.float32)
    assert emu.predict(x, out=buf, dtype=np.float32) is buf
    with pytest.raises(ValueError, match="dtype must be"):
        emu.predict(x, dtype=np.int32)
    with pytest.raises(ValueError, match="output must be"):
        emu.predict(x, output="mag")


def test_float32_stored_edges_are_inside_the_domain(pca):
    """Parameters stored as float32 at the grid's edges (rounded outwards) are in the domain; beyond is not."""
    hi32 = pca.param_max_.astype(np.float32)
    hi32 = np.where(hi32 >= pca.param_max_, hi32, np.nextafter(hi32, np.float32(np.inf)))  # the float32 above
    edge = np.vstack([pca.param_min_.astype(np.float32), hi32]).astype(np.float64)
    assert np.isfinite(pca.predict(edge)).all()
    beyond = pca.param_max_ * (1 + 1e-5) + 1e-5
    with pytest.raises(OutOfDomainError):
        pca.predict(beyond[None, :])


def test_float32_refuses_fluxes_outside_its_range(neural, split):
    """Fluxes that would underflow float32 raise instead of silently becoming 0 (log10 output works)."""
    x = split[1].params[:5]
    tiny = copy.deepcopy(neural)
    tiny.log_mean_ = tiny.log_mean_ - 60.0          # fluxes ~1e-60: float32 would store zeros
    tiny._prepare_inference()
    with pytest.raises(ValueError, match="float32's range"):
        tiny.predict(x, dtype=np.float32)
    np.testing.assert_allclose(tiny.predict(x, output="log10_flux"), neural.predict_log10(x) - 60.0, rtol=0,
                               atol=1e-4)


def test_auto_training_sizes():
    emu = NeuralEmulator()
    assert emu._auto_training_sizes(864) == (32, 2223, 555, 4000)   # small grid: small batches + L-BFGS
    batch, epochs, patience, lbfgs = emu._auto_training_sizes(72_000)
    assert batch == 1024 and lbfgs == 0 and 60_000 <= epochs * -(-72_000 // batch) < 60_100
    assert patience == epochs // 4
    with pytest.raises(ValueError, match="lbfgs_steps"):
        NeuralEmulator(lbfgs_steps="many")._auto_training_sizes(100)
