import numpy as np
import pytest
import torch

from agnlab.nn import TrainConfig, arrays_to_module, fit_module, module_to_arrays, predict_batched


def _data(rng, n=400):
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + x[:, 1:] ** 2).astype(np.float32)
    return x, y


def _net():
    return torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))


def test_fit_learns_and_is_reproducible(rng, seed):
    x, y = _data(rng)
    cfg = TrainConfig(lr=1e-2, batch_size=64, max_epochs=60, patience=10, seed=seed)
    net1, net2 = _net(), _net()
    torch.manual_seed(seed)
    net1 = _net()
    torch.manual_seed(seed)
    net2 = _net()
    r1 = fit_module(net1, x[:300], y[:300], x[300:], y[300:], config=cfg, progress=False)
    r2 = fit_module(net2, x[:300], y[:300], x[300:], y[300:], config=cfg, progress=False)
    assert r1["best_val_loss"] < 0.05 * float(np.var(y))  # learns > 95 % of the variance
    np.testing.assert_allclose(r1["best_val_loss"], r2["best_val_loss"], rtol=1e-6, atol=0)
    pred = predict_batched(net1, x, batch_size=37)
    assert pred.shape == (400, 1)


def test_weights_roundtrip_and_mismatch(rng):
    net = _net()
    arrays = module_to_arrays(net)
    other = arrays_to_module(_net(), arrays)
    x = rng.normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(predict_batched(other, x), predict_batched(net, x), rtol=0, atol=0)
    wrong = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    with pytest.raises(ValueError, match="shape"):
        arrays_to_module(wrong, arrays)


def test_bad_config():
    with pytest.raises(ValueError, match="invalid TrainConfig"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")


@pytest.mark.parametrize("n_train, epochs", [(25, 20), (25, 1), (3, 3), (40, 2)])
def test_cosine_schedule_with_very_few_steps(rng, n_train, epochs):
    """Tiny trainings (a warm-up of at most one step, or under four steps in all) run instead of dividing by zero."""
    x, y = _data(rng, n=n_train + 5)
    cfg = TrainConfig(batch_size=256, max_epochs=epochs, patience=None, schedule="cosine")
    result = fit_module(_net(), x[:n_train], y[:n_train], x[n_train:], y[n_train:], config=cfg, progress=False)
    assert len(result["history"]) == epochs and np.isfinite(result["best_val_loss"])


def test_cosine_schedule_runs_every_epoch_and_learns(rng, seed):
    x, y = _data(rng)
    cfg = TrainConfig(lr=2e-2, batch_size=32, max_epochs=80, patience=None, schedule="cosine", seed=seed)
    torch.manual_seed(seed)
    net = _net()
    result = fit_module(net, x[:300], y[:300], x[300:], y[300:], config=cfg, progress=False)
    assert len(result["history"]) == 80                      # no early stop with patience=None
    assert result["best_val_loss"] < 0.05 * float(np.var(y))  # learns > 95 % of the variance
