"""Contract cases of agnlab.spectra: RedshiftEstimator, DLAFinder, TemplateRedshift.

Tiny simulated data (40 training spectra, z 2.2-3.2, DLA-rich), one epoch and
small networks: the contract is about the API, not accuracy (accuracy is in
tests/spectra). NaN/inf *pixels* are masked by design (documented); the bad-input
cases use what cannot be masked: non-finite truth or wavelengths, wrong shapes,
empty batches, non-numeric arrays, negative ivar.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from agnlab import OutOfDomainError
from agnlab.spectra import (
    DLAFinder,
    QuasarSimulator,
    RedshiftEstimator,
    SpectraWarning,
    TemplateRedshift,
    builtin_templates,
)

from ._case import ContractCase

_TRAIN = QuasarSimulator(seed=1, z_range=(2.2, 3.2), dla_rate_per_dz=2.0).simulate(40, progress=False)
_TEST = QuasarSimulator(seed=2, z_range=(2.2, 3.2), dla_rate_per_dz=1.0).simulate(5, progress=False)
_W, _F, _IV, _T = _TRAIN.wave_aa, _TRAIN.flux, _TRAIN.ivar, _TRAIN.truth


def _quiet(call):
    """Run ``call`` with the (documented) masking warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectraWarning)
        return call()


def _bad_spectra_fit():
    nan_truth = _T.copy()
    nan_truth.loc[3, "z_qso"] = np.nan
    neg = _IV.copy()
    neg[2, 100] = -1.0
    inf_wave = _W.copy()
    inf_wave[10] = np.inf
    return {
        "nan_truth": lambda est: est.fit(_TRAIN, nan_truth),
        "inf_wave": lambda est: est.fit(inf_wave, _F, _IV, _T),
        "ivar_shape": lambda est: est.fit(_W, _F, _IV[:, :-5], _T),
        "pixels_vs_wave": lambda est: est.fit(_W[:-5], _F, _IV, _T),
        "truth_rows": lambda est: est.fit(_TRAIN, _T.iloc[:10]),
        "empty": lambda est: est.fit(_W, _F[:0], _IV[:0], _T.iloc[:0]),
        "strings": lambda est: est.fit(_W, np.full((40, _W.size), "a"), _IV, _T),
        "negative_ivar": lambda est: est.fit(_W, _F, neg, _T),
        "too_many_arrays": lambda est: est.fit(_TRAIN, _T, _IV),
    }


def _bad_spectra_predict(call):
    w, f, iv = _TEST.wave_aa, _TEST.flux, _TEST.ivar
    nan_wave = w.copy()
    nan_wave[5] = np.nan
    neg = iv.copy()
    neg[0, 50] = -2.0
    return {
        "nan_wave": lambda est: call(est, nan_wave, f, iv),
        "ivar_shape": lambda est: call(est, w, f, iv[:2]),
        "pixels_vs_wave": lambda est: call(est, w[:-1], f, iv),
        "empty": lambda est: call(est, w, f[:0], iv[:0]),
        "strings": lambda est: call(est, w, np.full(f.shape, "x"), iv),
        "negative_ivar": lambda est: call(est, w, f, neg),
        "missing_ivar": lambda est: est.predict(w, f),
    }


# --------------------------------------------------------------------------- RedshiftEstimator
def _make_redshift():
    return RedshiftEstimator(channels=(4, 4, 4, 4, 4), hidden=8, batch_size=16, max_epochs=1, patience=1,
                             random_state=0, progress=False)


def _redshift_out_of_domain(est):
    # spectra on a grid covering too little of the model grid: outside the trained domain
    w, f, iv = _TEST.wave_aa, _TEST.flux, _TEST.ivar
    red = w > 8000.0
    with pytest.raises(OutOfDomainError, match="covers only"):
        est.predict(w[red], f[:, red], iv[:, red])
    # a redshift at the edge of the trained range is flagged in the table (the true z may lie outside):
    # a stand-in network puts all probability in the first / last / a middle bin
    nb = est.bin_edges_.size - 1
    out = np.zeros((3, 2 * nb), np.float32)
    out[0, 0] = out[1, nb - 1] = out[2, nb // 2] = 50.0

    class Fixed:
        def __call__(self, x):
            import torch

            return torch.from_numpy(out[: x.shape[0]])

        def eval(self):
            return self

    est.net_ = Fixed()
    p = est.predict(_TEST[:3])
    assert p["flag"].tolist() == ["edge_of_range", "edge_of_range", "ok"]
    assert p["out_of_range"].tolist() == [True, True, False]


# --------------------------------------------------------------------------- DLAFinder
def _make_dla():
    return DLAFinder(channels=(4, 4, 4, 4), dilations=(1, 2), batch_size=16, max_epochs=1, patience=1,
                     random_state=0, progress=False)


def _dla_out_of_domain(est):
    z = _TEST.truth["z_qso"].to_numpy().copy()
    lo, hi = est.z_range_
    z[1] = hi + 0.7  # quasar redshift outside the trained range: flagged, with a warning
    with pytest.warns(SpectraWarning, match="outside the trained range"):
        _, spectra = est.detect(_TEST, z_qso=z)
    assert spectra["flag"][1] == "z_outside_trained_range" and bool(spectra["z_outside_trained_range"][1])
    assert (spectra["flag"].drop(index=1) == "ok").all()


def _bad_dla_fit():
    cases = _bad_spectra_fit()
    no_dla = _T.copy()
    no_dla["z_dla"] = [np.zeros(0)] * len(no_dla)
    no_dla["log_nhi"] = [np.zeros(0)] * len(no_dla)
    cases["no_dla"] = lambda est: est.fit(_TRAIN, no_dla)
    return cases


def _bad_dla_predict():
    z = _TEST.truth["z_qso"].to_numpy()
    cases = _bad_spectra_predict(lambda est, w, f, iv: est.predict(w, f, iv, z_qso=z[: len(f)]))
    cases["missing_ivar"] = lambda est: est.predict(_TEST.wave_aa, _TEST.flux, z_qso=z)
    cases["z_length"] = lambda est: est.predict(_TEST, z_qso=z[:2])
    cases["z_strings"] = lambda est: est.predict(_TEST, z_qso=np.full(z.size, "a"))
    cases["no_z"] = lambda est: est.predict(_TEST.wave_aa, _TEST.flux, _TEST.ivar)
    return cases


# --------------------------------------------------------------------------- TemplateRedshift
def _template_file() -> str:
    """Small PCA templates (from the built-in continuum model) in the redrock FITS layout, written once."""
    from astropy.io import fits

    dlog = 2e-4
    wave, eig = builtin_templates(3, n_objects=40, wave_rest_aa=10 ** np.arange(np.log10(600.0), np.log10(4000.0),
                                                                               dlog))
    hdu = fits.PrimaryHDU(eig)
    hdu.header["CRVAL1"] = float(np.log10(wave[0]))
    hdu.header["CDELT1"] = dlog
    hdu.header["LOGLAM"] = 1
    path = Path(tempfile.mkdtemp(prefix="agnlab-contract-")) / "templates.fits"
    hdu.writeto(path)
    return str(path)


_TEMPLATES = _template_file()


def _make_template():
    return TemplateRedshift(templates=_TEMPLATES, z_range=(2.0, 3.5), dlog10=2e-4, n_candidates=2)


def _template_out_of_domain(est):
    # a wavelength range the templates cannot reach at any redshift of z_range
    w = np.linspace(1000.0, 1400.0, 400)
    with pytest.raises(OutOfDomainError, match="does not overlap"):
        est.predict(w, np.ones((1, w.size)), np.ones((1, w.size)))
    # a quasar beyond the searched range: the best fit sits at the edge and is flagged
    from agnlab.spectra import read_redrock_templates

    wave_r, eig = read_redrock_templates(_TEMPLATES)
    narrow = est.set_params(z_range=(2.0, 3.0), igm=False).fit()
    wave = np.arange(3600.0, 9600.0, 1.0)
    # z = 3.1, just beyond the range (further out, Ly-alpha can alias onto C IV at a z inside it)
    flux = np.interp(wave / 4.1, wave_r, eig[0] + 0.3 * eig[1])[None]
    res = narrow.predict(wave, flux, np.full_like(flux, 100.0))
    assert res["flag"].tolist() == ["edge_of_range"] and bool(res["zwarn"][0])


def _bad_template_fit():
    return {
        "z_range_order": lambda est: est.set_params(z_range=(3.0, 2.0)).fit(),
        "z_range_nan": lambda est: est.set_params(z_range=(np.nan, 3.0)).fit(),
        "dlog10": lambda est: est.set_params(dlog10=0.0).fit(),
        "n_candidates": lambda est: est.set_params(n_candidates=0).fit(),
        "template_shapes": lambda est: est.set_params(templates=(np.arange(5.0), np.ones((2, 4)))).fit(),
        "template_nan": lambda est: est.set_params(templates=(np.arange(1.0, 6.0), np.full((2, 5), np.nan))).fit(),
        "template_strings": lambda est: est.set_params(templates=(np.arange(5.0), np.full((2, 5), "a"))).fit(),
    }


def _bad_template_predict():
    cases = _bad_spectra_predict(lambda est, w, f, iv: est.predict(w, f, iv))
    del cases["nan_wave"]
    w = _TEST.wave_aa.copy()
    w[5] = np.nan
    cases["nan_wave"] = lambda est: est.predict(w, _TEST.flux, _TEST.ivar)
    cases["all_masked"] = lambda est: est.predict(_TEST.wave_aa, _TEST.flux[:2], np.zeros_like(_TEST.ivar[:2]))
    return cases


CASES = [
    ContractCase("RedshiftEstimator", _make_redshift, lambda est: _quiet(lambda: est.fit(_TRAIN)),
                 lambda est: _quiet(lambda: est.predict(_TEST)), _redshift_out_of_domain, _bad_spectra_fit(),
                 _bad_spectra_predict(lambda est, w, f, iv: est.predict(w, f, iv))),
    ContractCase("DLAFinder", _make_dla, lambda est: _quiet(lambda: est.fit(_TRAIN)),
                 lambda est: _quiet(lambda: est.detect(_TEST, threshold=0.0)), _dla_out_of_domain, _bad_dla_fit(),
                 _bad_dla_predict()),
    ContractCase("TemplateRedshift", _make_template, lambda est: est.fit(_TRAIN),
                 lambda est: est.predict(_TEST[:3]), _template_out_of_domain, _bad_template_fit(),
                 _bad_template_predict()),
]
