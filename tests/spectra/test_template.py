"""Tests of the template chi-square redshift baseline."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from agnlab.spectra import QuasarSimulator, TemplateRedshift, builtin_templates, read_redrock_templates

C_KMS = 299792.458


@pytest.fixture(scope="module")
def tz_builtin():
    return TemplateRedshift().fit()


@pytest.fixture(scope="module")
def bright():
    return QuasarSimulator(seed=21, mag_range=(18.0, 19.0)).simulate(16)


def _dv(res, truth):
    z = truth["z_qso"].to_numpy()
    return C_KMS * (res["z"].to_numpy() - z) / (1 + z)


def test_exact_template_spectrum_recovered():
    wave_r, eig = builtin_templates(3, n_objects=100)
    tz = TemplateRedshift(templates=(wave_r, eig), igm=False, z_range=(2.0, 3.5)).fit()
    wave = np.arange(3600.0, 9600.0, 0.5)
    z_true = np.array([2.3456, 3.1234])
    flux = np.array([np.interp(wave / (1 + z), wave_r, eig[0] + 0.3 * eig[1]) for z in z_true])
    res = tz.predict(wave, flux, np.full_like(flux, 100.0))
    dv = C_KMS * (res["z"].to_numpy() - z_true) / (1 + z_true)
    np.testing.assert_allclose(dv, 0.0, rtol=0, atol=30.0)
    assert not res["zwarn"].any()


def test_builtin_templates_on_simulated_spectra(bright, tz_builtin):
    res = tz_builtin.predict(bright.wave_aa, bright.flux, bright.ivar)
    dv = _dv(res, bright.truth)
    assert np.median(np.abs(dv)) < 500.0
    assert np.mean(np.abs(dv) > 3000.0) <= 1 / 16
    assert set(res.columns) >= {"z", "z_err", "chi2", "delta_chi2", "zwarn", "n_pix"}


def test_redrock_templates(shared_data, bright):
    path = shared_data / "qso" / "rrtemplate-QSO-HIZ-v1.1.fits"
    wave, eig = read_redrock_templates(path)
    assert eig.shape == (4, wave.size)
    np.testing.assert_allclose(wave[0], 443.71, rtol=1e-4)
    res = TemplateRedshift(templates=path).fit().predict(bright.wave_aa, bright.flux, bright.ivar)
    dv = _dv(res, bright.truth)
    assert np.median(np.abs(dv)) < 600.0


def test_masked_pixels_are_ignored(bright, tz_builtin):
    tz = tz_builtin
    flux, ivar = bright.flux[:4].copy(), bright.ivar[:4].copy()
    # reference: the same pixels masked with their true values (masking removes information, so the
    # comparison must be with the same mask, not with the unmasked spectrum)
    ivar_ref = ivar.copy()
    ivar_ref[:, 1000:1100] = 0.0
    ivar_ref[:, 2000] = 0.0
    ref = tz.predict(bright.wave_aa, flux, ivar_ref)
    flux[:, 1000:1100] = 1e6  # garbage ...
    ivar[:, 1000:1100] = 0.0  # ... but masked
    flux[:, 2000] = np.nan
    with pytest.warns(UserWarning, match="NaN"):
        res = tz.predict(bright.wave_aa, flux, ivar)
    np.testing.assert_allclose(res["z"], ref["z"], rtol=0, atol=1e-3)


def test_bad_input(bright, tz_builtin):
    with pytest.raises(NotFittedError):
        TemplateRedshift().predict(bright.wave_aa, bright.flux, bright.ivar)
    tz = tz_builtin
    ivar = bright.ivar[:2].copy()
    ivar[0, 5] = -1
    with pytest.raises(ValueError, match="negative"):
        tz.predict(bright.wave_aa, bright.flux[:2], ivar)
    with pytest.raises(ValueError, match="no valid pixels"):
        tz.predict(bright.wave_aa, bright.flux[:2], np.zeros_like(ivar))
    with pytest.raises(ValueError, match="pixels but wave_aa"):
        tz.predict(bright.wave_aa[:-1], bright.flux[:2], bright.ivar[:2])
    with pytest.raises(ValueError, match="z_range"):
        TemplateRedshift(z_range=(3.0, 2.0)).fit()
    with pytest.raises(ValueError, match="templates"):
        TemplateRedshift(templates=(np.arange(5.0), np.ones((2, 4)))).fit()


def test_corrupt_template_file(tmp_path):
    p = tmp_path / "t.fits"
    p.write_bytes(b"garbage" * 50)
    with pytest.raises(ValueError, match="template file"):
        read_redrock_templates(p)
    with pytest.raises(FileNotFoundError):
        read_redrock_templates(tmp_path / "missing.fits")
