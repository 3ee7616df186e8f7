"""Accuracy on the real CLUMPY grid with the default settings (about 80 s of training on one core)."""

import numpy as np

from agnlab.emulate import NeuralEmulator, PCAEmulator, evaluate_emulator


def test_neural_beats_pca_on_real_clumpy(shared_data, seed):
    d = np.load(shared_data / "torus" / "clumpy_nenkova08_3p.npz")
    X = np.stack([d["tv"], d["sig"], d["i"]], axis=1)
    perm = np.random.default_rng(seed).permutation(len(X))
    test, train = perm[:216], perm[216:]
    nn = NeuralEmulator(focus_wave_um=(1, 30), param_names=("tv", "sig", "i"), random_state=seed, progress=False)
    nn.fit(X[train], d["fnu"][train], wave_um=d["wave_um"])
    m = evaluate_emulator(nn, X[test], d["fnu"][test])
    pca = PCAEmulator(n_components=24, param_names=("tv", "sig", "i")).fit(X[train], d["fnu"][train],
                                                                          wave_um=d["wave_um"])
    mp = evaluate_emulator(pca, X[test], d["fnu"][test])
    # issue 2 targets on held-out real models (the benchmark measures ~0.06 % / ~0.5 %)
    assert m["flux"]["median"] <= 0.001 and m["flux"]["p99"] <= 0.01
    assert m["flux"]["p99"] < mp["flux"]["p99"]
    assert m["W1-W2"]["frac_within_tol"] >= 0.95 and m["W2-W3"]["frac_within_tol"] >= 0.95
