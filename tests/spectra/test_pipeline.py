"""The spectra estimators in a scikit-learn Pipeline (container form ``fit(X, y)`` / ``predict(X)``)."""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from agnlab.spectra import (
    DLAFinder,
    QuasarSimulator,
    RedshiftEstimator,
    SpectraWarning,
    TemplateRedshift,
    builtin_templates,
)


@functools.lru_cache(maxsize=None)
def _data():
    train = QuasarSimulator(seed=3, z_range=(2.2, 3.0), dla_rate_per_dz=2.0).simulate(30, progress=False)
    test = QuasarSimulator(seed=4, z_range=(2.2, 3.0), dla_rate_per_dz=1.0).simulate(4, progress=False)
    return train, test


def _mask_sky_line(spectra):
    """A pipeline step: mask the 5577 A sky line (returns a new container)."""
    ivar = np.where(np.abs(spectra.wave_aa - 5577.3) < 3.0, 0.0, spectra.ivar).astype(np.float32)
    return dataclasses.replace(spectra, ivar=ivar)


def _small_redshift():
    return RedshiftEstimator(channels=(4, 4, 4, 4, 4), hidden=8, batch_size=16, max_epochs=1, patience=1,
                             random_state=0, progress=False)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectraWarning)
        yield


def test_redshift_estimator_in_a_pipeline_equals_the_array_form():
    train, test = _data()
    pipe = Pipeline([("mask", FunctionTransformer(_mask_sky_line)), ("z", _small_redshift())])
    got = clone(pipe).fit(train, train.truth).predict(test)
    m_train, m_test = _mask_sky_line(train), _mask_sky_line(test)
    direct = _small_redshift().fit(m_train.wave_aa, m_train.flux, m_train.ivar, m_train.truth)
    want = direct.predict(m_test.wave_aa, m_test.flux, m_test.ivar)
    pd.testing.assert_frame_equal(got, want, check_exact=True)   # same seed, same numbers
    assert list(got.columns) == ["z_pred", "confidence", "out_of_range", "flag"]


def test_dla_finder_and_template_redshift_in_a_pipeline():
    train, test = _data()
    dla = Pipeline([("mask", FunctionTransformer(_mask_sky_line)),
                    ("dla", DLAFinder(channels=(4, 4, 4, 4), dilations=(1, 2), batch_size=16, max_epochs=1,
                                      patience=1, random_state=0, progress=False))])
    found = dla.fit(train).predict(test)          # y from test.truth; z_qso from the container's truth
    assert list(found.columns) == ["spec_index", "z_dla", "log_nhi", "confidence"]
    templates = builtin_templates(3, n_objects=40)
    tz = Pipeline([("mask", FunctionTransformer(_mask_sky_line)),
                   ("tz", TemplateRedshift(templates=templates, z_range=(2.0, 3.2), dlog10=2e-4))])
    res = tz.fit(train, train.truth).predict(test[:2])
    assert len(res) == 2 and "flag" in res.columns


def test_mixed_or_missing_inputs_are_refused():
    train, test = _data()
    est = _small_redshift()
    with pytest.raises(TypeError, match="not a mix"):
        est.fit(train, train.truth, train.ivar)
    with pytest.raises(TypeError, match="positional"):
        est.fit(train.wave_aa, train.flux)
    with pytest.raises(ValueError, match="no truth"):
        est.fit((train.wave_aa, train.flux, train.ivar))
