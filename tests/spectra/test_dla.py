"""DLAFinder: geometry of targets/decoding, learning on simulated spectra, metrics, bad input, artifacts."""

import functools

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from agnlab.constants import LYA_AA
from agnlab.io import ArtifactError
from agnlab.spectra import (
    DLAFinder,
    DLANet,
    QuasarSimulator,
    dla_false_positives,
    dla_metrics,
    dla_search_range,
    truth_dlas,
)


@functools.lru_cache(maxsize=None)
def _data(seed: int, n: int, rate: float):
    # bright quasars (r 18-20.5): the tiny test network learns them in a few epochs
    return QuasarSimulator(seed=seed, dla_rate_per_dz=rate, mag_range=(18.0, 20.5)).simulate(n, progress=False)


@functools.lru_cache(maxsize=None)
def _fitted():
    train = _data(20, 300, 2.0)
    est = DLAFinder(max_epochs=6, patience=6, channels=(8, 16, 24, 32), random_state=0, progress=False)
    return est.fit(train.wave_aa, train.flux, train.ivar, train.truth)


def test_network_output_is_one_row_per_cell():
    import torch

    net = DLANet(channels=(8, 8, 8, 8), dilations=(1, 2))
    assert tuple(net(torch.zeros(2, 2, 1224)).shape) == (2, 3, 153)


def test_targets_decode_back_to_the_true_dlas():
    """Perfect network outputs (the training targets) decode to the true z_dla and log NHI."""
    est = DLAFinder()
    grid, lo, n_win = est._geometry()
    zq = np.array([3.0, 2.5, 3.7])
    i0 = est._starts(zq, grid, lo)
    dlas = [(np.array([2.61, 2.85]), np.array([20.5, 21.3])), (np.zeros(0), np.zeros(0)),
            (np.array([3.3]), np.array([20.31]))]
    n_cells = n_win // 8
    heat, mask, off, nhi = est._targets(i0, zq, dlas, n_cells, grid)
    assert heat.max(axis=1)[1] == 0.0
    assert heat[0].max() > 0.85 and heat[2].max() > 0.85
    padded = np.pad(heat, ((0, 0), (1, 1)))
    peak = (heat > 0.5) & (heat >= padded[:, :-2]) & (heat >= padded[:, 2:])
    out = np.stack([np.where(peak, 20.0, -20.0), off, nhi], axis=1).astype(np.float32)
    est.net_ = object()
    est.wave_grid_aa_, est.n_window_, est.z_range_ = grid, n_win, (2.0, 4.0)
    est._raw = lambda X: out
    dl, sp = est.detect_preprocessed(np.zeros((3, 2, n_win), np.float32), i0, zq)
    got = dl.groupby("spec_index")
    assert sp["n_dla"].tolist() == [2, 0, 1]
    np.testing.assert_allclose(np.sort(got.get_group(0)["z_dla"]), [2.61, 2.85], rtol=0, atol=2e-4)
    np.testing.assert_allclose(got.get_group(2)["log_nhi"], [20.31], rtol=0, atol=1e-4)


def test_search_range_is_between_lyb_and_lya():
    lo, hi = dla_search_range([3.0, 2.0])
    assert lo[0] == pytest.approx(4 * 1025.72 / LYA_AA - 1, abs=1e-9)
    assert hi[0] == pytest.approx(3.0, abs=1e-12)
    assert lo[1] == pytest.approx(3610.0 / LYA_AA - 1, abs=1e-9)  # limited by the blue end of the spectra


def test_metrics_on_hand_made_predictions():
    truth = [(np.array([2.6]), np.array([20.6])), (np.zeros(0), np.zeros(0)), (np.array([2.9]), np.array([21.0])),
             (np.array([2.7]), np.array([20.0]))]  # the last one is a sub-DLA: not counted
    pred = pd.DataFrame({"spec_index": [0, 1, 2, 2], "z_dla": [2.601, 2.7, 2.898, 2.7],
                         "log_nhi": [20.7, 20.5, 20.9, 20.4], "confidence": [0.9, 0.3, 0.8, 0.6]})
    m = dla_metrics(truth, pred, [3.0, 3.0, 3.0, 3.0], threshold=0.5)
    assert m["n_true"] == 2
    assert m["completeness"] == pytest.approx(1.0, abs=1e-12)
    assert m["purity"] == pytest.approx(2 / 3, abs=1e-12)
    assert m["roc_auc"] == pytest.approx(1.0, abs=1e-12)
    assert m["median_abs_dz"] == pytest.approx(0.0015, abs=1e-9)
    assert m["sigma_log_nhi"] == pytest.approx(0.1, abs=1e-9)
    assert m["completeness_at_purity"] == pytest.approx(1.0, abs=1e-12)


def test_learns_to_find_dlas():
    est = _fitted()
    test = _data(21, 100, 1.0)
    z = test.truth["z_qso"].to_numpy()
    dl, sp = est.detect(test.wave_aa, test.flux, test.ivar, z_qso=z, threshold=0.05)
    m = dla_metrics(truth_dlas(test.truth, len(z)), dl, z, spectrum_scores=sp["score"].to_numpy())
    assert m["n_true"] > 10
    assert m["roc_auc"] > 0.8
    assert set(dl.columns) == {"spec_index", "z_dla", "log_nhi", "confidence"}
    assert est.training_record_["n_dla_train"] > 100


def test_save_load_roundtrip_and_bad_inputs(tmp_path):
    est = _fitted()
    test = _data(21, 100, 1.0)
    z = test.truth["z_qso"].to_numpy()[:20]
    w, f, iv = test.wave_aa, test.flux[:20].copy(), test.ivar[:20].copy()
    est2 = DLAFinder.load(est.save(tmp_path / "dla.npz"))
    a = est.detect(w, f, iv, z_qso=z, threshold=0.05)[1]["score"].to_numpy()
    b = est2.detect(w, f, iv, z_qso=z, threshold=0.05)[1]["score"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="z_qso has"):
        est.predict(w, f, iv, z_qso=z[:3])
    with pytest.raises(ValueError, match="wave grid mismatch"):
        est.predict(w[1:], f, iv, z_qso=z)
    zz = z.copy()
    zz[0] = np.nan  # e.g. an empty spectrum upstream: skipped, flagged
    zz[1] = 4.6  # outside the trained range: flagged
    with pytest.warns(UserWarning, match="outside the trained range"):
        dl, sp = est.detect(w, f, iv, z_qso=zz)
    assert sp["flag"][0] == "empty" and sp["n_dla"][0] == 0
    assert sp["flag"][1] == "z_outside_trained_range"
    ztab = pd.DataFrame({"z_pred": z, "flag": ["low_confidence"] + ["ok"] * (z.size - 1)})
    sp = est.detect(w, f, iv, z_qso=ztab)[1]
    assert sp["flag"][0] == "redshift_low_confidence" and (sp["flag"][1:] == "ok").all()
    with pytest.raises(NotFittedError):
        DLAFinder().predict(w, f, iv, z_qso=z)
    (tmp_path / "trunc.npz").write_bytes((tmp_path / "dla.npz").read_bytes()[:200])
    with pytest.raises(ArtifactError):
        DLAFinder.load(tmp_path / "trunc.npz")
    with pytest.raises(ArtifactError, match="expected"):
        from agnlab.spectra import RedshiftEstimator
        RedshiftEstimator.load(tmp_path / "dla.npz")


def test_training_without_dlas_is_refused():
    data = _data(22, 30, 0.0)
    with pytest.raises(ValueError, match="no DLA"):
        DLAFinder(max_epochs=1).fit(data.wave_aa, data.flux, data.ivar, data.truth)


def test_warm_start_continues_from_the_fitted_network():
    est = _fitted()
    data = _data(23, 60, 2.0)
    fresh = DLAFinder(max_epochs=1, patience=1, channels=(8, 16, 24, 32), random_state=1, progress=False).fit(data)
    warm = clone_fitted(est).set_params(max_epochs=1, patience=1, warm_start=True, random_state=1).fit(data)
    # one epoch from the trained weights beats one epoch from random weights on the same data
    assert warm.training_record_["history"][0][1] < 0.8 * fresh.training_record_["history"][0][1]
    other = clone_fitted(est).set_params(channels=(8, 16, 24, 48), warm_start=True, max_epochs=1)
    with pytest.raises(ValueError, match="warm_start"):
        other.fit(data)


def clone_fitted(est):
    """An independent copy of a fitted estimator (through its artifact, as a user would get it)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        return DLAFinder.load(est.save(Path(tmp) / "d.npz"))


def test_false_positives_on_subdlas_and_dla_free_sight_lines():
    zq = np.array([3.0, 3.0, 3.0, 3.0])
    true = [(np.array([2.6]), np.array([20.8])), (np.zeros(0), np.zeros(0)), (np.zeros(0), np.zeros(0)),
            (np.zeros(0), np.zeros(0))]
    subdlas = pd.DataFrame({"spec_index": [0, 1, 2, 3, 3], "z_abs": [2.605, 2.5, 2.7, 2.8, 3.5],
                            "log_nhi": [19.5, 19.8, 19.2, 18.0, 19.5]})
    pred = pd.DataFrame({"spec_index": [0, 1, 2], "z_dla": [2.601, 2.505, 2.9], "confidence": [0.9, 0.8, 0.3]})
    fp = dla_false_positives(true, pred, zq, subdlas=subdlas, threshold=0.5)
    # sub-DLAs counted: in the search range and 19 <= log N < 20.3 (spectrum 3's are an LLS and beyond z_qso)
    assert fp["subdla_spec"].tolist() == [0, 1, 2]
    # spectrum 0: the detection is explained by its DLA; spectrum 1: spurious; spectrum 2: below threshold
    assert fp["subdla_detected"].tolist() == [False, True, False]
    assert fp["no_dla"].tolist() == [False, True, True, True]
    assert fp["fired"].tolist() == [True, True, False, False]


def test_column_density_weighting_only_lowers_confidences():
    est = _fitted()
    test = _data(21, 100, 1.0)
    z = test.truth["z_qso"].to_numpy()[:30]
    args = (test.wave_aa, test.flux[:30], test.ivar[:30])
    plain = clone_fitted(est).set_params(nhi_sigma=0.0).detect(*args, z_qso=z, threshold=0.02)[1]["score"]
    weighted = clone_fitted(est).set_params(nhi_sigma=0.15).detect(*args, z_qso=z, threshold=0.02)[1]["score"]
    assert np.all(weighted.to_numpy() <= plain.to_numpy() + 1e-12)
    assert np.any(weighted.to_numpy() < plain.to_numpy() - 1e-6)  # some cells estimate log N < 20.3 + 2 sigma


def test_noise_term_of_the_column_density_error_is_a_per_spectrum_sigma(tmp_path):
    """nhi_sigma_snr > 0 equals a per-spectrum error sqrt(nhi_sigma^2 + (nhi_sigma_snr / snr)^2), snr the median
    window S/N at the continuum level (second input channel = log1p(S/N) / 3); it survives save/load."""
    est = _fitted()
    test = _data(21, 100, 1.0)
    z = test.truth["z_qso"].to_numpy()[:12]
    args = (test.wave_aa, test.flux[:12], test.ivar[:12])
    law = clone_fitted(est).set_params(nhi_sigma=0.1, nhi_sigma_snr=0.5)
    score = law.detect(*args, z_qso=z, threshold=0.02)[1]["score"].to_numpy()
    X = est.preprocess(*args, z)[0][:, 1]
    snr = np.array([np.median(np.expm1(3.0 * x[x > 0])) for x in X])
    assert np.ptp(snr) > 1.0  # spectra of different S/N
    for i in range(12):
        one = clone_fitted(est).set_params(nhi_sigma=float(np.hypot(0.1, 0.5 / snr[i])), nhi_sigma_snr=0.0)
        s_i = one.detect(test.wave_aa, test.flux[i:i + 1], test.ivar[i:i + 1], z_qso=z[i:i + 1], threshold=0.02)[1]
        assert s_i["score"].iloc[0] == pytest.approx(score[i], abs=1e-6)  # float32 network, same input
    law.save(tmp_path / "law.npz")
    assert DLAFinder.load(tmp_path / "law.npz").nhi_sigma_snr == 0.5
    with pytest.raises(ValueError, match="nhi_sigma_snr"):
        clone_fitted(est).set_params(nhi_sigma_snr=-0.1).detect(*args, z_qso=z)


def test_subdlas_train_the_column_density_head_not_the_presence_head():
    """Sub-DLAs (>= nhi_train_min) get position/log NHI targets but no presence; LLS get nothing."""
    zq = np.array([3.0])
    lists = [(np.array([2.62, 2.75, 2.88]), np.array([20.0, 18.5, 20.6]))]  # sub-DLA, LLS, DLA
    for nhi_min, n_sub in ((19.3, 1), (20.3, 0)):
        est = DLAFinder(nhi_train_min=nhi_min)
        grid, lo, n_win = est._geometry()
        i0 = est._starts(zq, grid, lo)
        heat, mask, off, nhi = est._targets(i0, zq, lists, n_win // 8, grid)
        cell = {z: (np.log10(1215.67 * (1 + z)) - np.log10(grid[0])) / est.dlog10 - i0[0] for z in (2.62, 2.75, 2.88)}
        cell = {z: int(round((p - 3.5) / 8)) for z, p in cell.items()}
        assert heat[0, cell[2.88]] > 0.85 and heat[0, cell[2.62]] < 1e-3 and heat[0, cell[2.75]] < 1e-3
        assert mask[0, cell[2.88]] == 1.0 and mask[0, cell[2.75]] == 0.0
        assert mask[0, cell[2.62]] == n_sub
        if n_sub:  # the sub-DLA's own column density is the target (normalised: (20.0 - 20.8) / 0.5)
            assert nhi[0, cell[2.62]] == pytest.approx(-1.6, abs=1e-6)
