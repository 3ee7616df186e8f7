"""Tests of agnlab.photometry.hot_dust_fnu (hot graphite dust of type-1 AGN)."""

from __future__ import annotations

import numpy as np
import pytest

from agnlab.photometry import hot_dust_fnu


def test_hot_dust_is_normalised_and_peaks_in_the_near_ir():
    """integral F_nu dnu = luminosity (rtol 1e-3); a 1,300 K beta=1 emitter peaks (lambda F_lambda) near 2-3 um."""
    wave = np.logspace(-1.5, 3.0, 6000)
    nu = 2.99792458e14 / wave
    f = hot_dust_fnu(wave, temp_k=1300.0, luminosity=0.2)
    np.testing.assert_allclose(np.trapezoid(f[::-1], nu[::-1]), 0.2, rtol=1e-3)
    peak = wave[np.argmax(f * nu)]
    assert 1.8 < peak < 3.2
    hotter = hot_dust_fnu(wave, temp_k=1500.0)
    assert wave[np.argmax(hotter * nu)] < peak


def test_hot_dust_bad_input():
    for kw in ({"temp_k": 0.0}, {"luminosity": -1.0}, {"beta": -0.5}, {"temp_k": np.nan}):
        with pytest.raises(ValueError):
            hot_dust_fnu([1.0, 2.0], **kw)
