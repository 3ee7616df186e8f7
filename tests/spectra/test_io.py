"""Tests of spectra readers and writers."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from agnlab.spectra import (
    QuasarSimulator,
    SpectraFileError,
    mask_bad_pixels,
    read_spectra,
    read_spectra_fits,
    resample_spectra,
    write_spectra,
)


@pytest.fixture(scope="module")
def sims():
    return QuasarSimulator(seed=11, dla_rate_per_dz=2.0, z_range=(3.0, 3.5)).simulate(4)


@pytest.mark.parametrize("suffix", ["h5", "fits"])
def test_roundtrip(sims, tmp_path, suffix):
    path = write_spectra(sims, tmp_path / f"s.{suffix}")
    back = read_spectra(path)
    for k in ("flux", "ivar", "continuum", "transmission"):
        np.testing.assert_array_equal(getattr(back, k), getattr(sims, k))
    np.testing.assert_array_equal(back.wave_aa, sims.wave_aa)
    scalar = [c for c in sims.truth.columns if sims.truth[c].dtype != object]
    assert list(back.truth.columns[: len(scalar)]) == scalar
    np.testing.assert_allclose(back.truth["z_qso"], sims.truth["z_qso"], rtol=0, atol=0)
    assert len(back.dlas) == len(sims.dlas) > 0
    np.testing.assert_allclose(back.dlas["z_dla"], sims.dlas["z_dla"], rtol=0, atol=0)
    for a, b in zip(back.truth["log_nhi"], sims.truth["log_nhi"]):
        np.testing.assert_allclose(a, b, rtol=0, atol=0)
    assert back.meta["seed"] == 11
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves nothing behind


@pytest.mark.parametrize("suffix", ["h5", "fits"])
def test_observed_arrays_only(sims, tmp_path, suffix):
    full = write_spectra(sims, tmp_path / f"full.{suffix}")
    lean = write_spectra(sims, tmp_path / f"lean.{suffix}", arrays="observed")
    assert lean.stat().st_size < 0.6 * full.stat().st_size  # two of the four per-pixel arrays
    back = read_spectra(lean)
    assert back.continuum is None and back.transmission is None
    np.testing.assert_array_equal(back.flux, sims.flux)
    np.testing.assert_array_equal(back.ivar, sims.ivar)
    assert len(back.dlas) == len(sims.dlas)
    both = type(back).concatenate([back, back[1:3]])  # subsets and joins keep the missing arrays missing
    assert len(both) == 6 and both.continuum is None
    np.testing.assert_array_equal(both.flux[4:], sims.flux[1:3])
    with pytest.raises(ValueError, match="arrays='observed'"):
        write_spectra(back, tmp_path / f"again.{suffix}")
    np.testing.assert_array_equal(read_spectra(write_spectra(back, tmp_path / f"again.{suffix}",
                                                             arrays="observed")).flux, sims.flux)
    with pytest.raises(ValueError, match="'all' or 'observed'"):
        write_spectra(sims, tmp_path / f"bad.{suffix}", arrays="truth")


def test_simulate_to_file_observed(tmp_path):
    sim = QuasarSimulator(seed=5, z_range=(3.0, 3.5))
    path = sim.simulate_to_file(tmp_path / "s.h5", 3, chunk_size=2, arrays="observed", progress=False)
    back = read_spectra(path)
    np.testing.assert_array_equal(back.flux, sim.simulate(3).flux)
    assert back.transmission is None


def test_write_errors(sims, tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        write_spectra(sims, tmp_path / "s.txt")
    with pytest.raises(ValueError, match="format"):
        write_spectra(sims, tmp_path / "s.h5", format="csv")


@pytest.mark.parametrize("suffix", ["h5", "fits"])
def test_corrupt_and_missing_files(sims, tmp_path, suffix):
    with pytest.raises(FileNotFoundError):
        read_spectra(tmp_path / f"none.{suffix}")
    junk = tmp_path / f"junk.{suffix}"
    junk.write_bytes(b"this is not a spectra file" * 10)
    with pytest.raises(SpectraFileError, match="junk"):
        read_spectra(junk)
    good = write_spectra(sims, tmp_path / f"good.{suffix}")
    trunc = tmp_path / f"trunc.{suffix}"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(SpectraFileError):
        read_spectra(trunc)


def test_foreign_hdf5_rejected(tmp_path):
    import h5py

    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as h5:
        h5.create_dataset("x", data=np.arange(3))
    with pytest.raises(SpectraFileError, match="not an agnlab spectra file"):
        read_spectra(p)


def _sdss_like(path, n=500, *, nan_at=(), zero_ivar_at=(), mask_at=(), neg_at=(), loglam0=3.56, err=False):
    loglam = loglam0 + 1e-4 * np.arange(n)
    flux = np.ones(n) * 5.0
    ivar = np.full(n, 4.0)
    mask = np.zeros(n, dtype=np.int32)
    flux[list(nan_at)] = np.nan
    ivar[list(zero_ivar_at)] = 0.0
    ivar[list(neg_at)] = -1.0
    mask[list(mask_at)] = 16
    cols = [fits.Column(name="loglam", format="E", array=loglam), fits.Column(name="flux", format="E", array=flux)]
    if err:
        cols.append(fits.Column(name="ERROR", format="E", array=np.full(n, 0.5)))
    else:
        cols.append(fits.Column(name="ivar", format="E", array=ivar))
    cols.append(fits.Column(name="and_mask", format="J", array=mask))
    hdr = fits.Header()
    hdr["Z"] = 2.5
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    return path


def test_read_real_spectra_masks_bad_pixels(tmp_path):
    p = _sdss_like(tmp_path / "spec.fits", nan_at=[3], zero_ivar_at=[10], mask_at=[20])
    with pytest.warns(UserWarning, match="3 of 500 pixels masked"):
        s = read_spectra_fits(p)
    assert s.flux.shape == (1, 500)
    bad = [3, 10, 20]
    assert np.all(s.ivar[0, bad] == 0) and np.all(s.flux[0, bad] == 0)
    assert np.all(np.isfinite(s.flux))
    assert s.mask[0, bad].all() and s.mask[0].sum() == 3
    np.testing.assert_allclose(s.wave_aa[0], 10 ** 3.56, rtol=1e-6)
    np.testing.assert_allclose(s.ivar[0, 0], 4.0, rtol=1e-6)
    assert s.meta["z"].iloc[0] == 2.5


def test_read_real_spectra_errors(tmp_path):
    neg = _sdss_like(tmp_path / "neg.fits", neg_at=[5])
    with pytest.raises(ValueError, match="negative ivar"):
        read_spectra_fits(neg)
    with pytest.warns(UserWarning):
        s = read_spectra_fits(neg, negative_ivar="mask")
    assert s.ivar[0, 5] == 0
    # error column instead of ivar
    e = read_spectra_fits(_sdss_like(tmp_path / "err.fits", err=True))
    np.testing.assert_allclose(e.ivar, 4.0, rtol=1e-6)
    # missing column
    p = tmp_path / "nocol.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="wave", format="E", array=np.arange(1.0, 5.0))])]).writeto(p)
    with pytest.raises(SpectraFileError, match="no flux"):
        read_spectra_fits(p)
    # corrupt file
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(SpectraFileError, match="junk"):
        read_spectra_fits(junk)
    # all pixels bad
    allbad = _sdss_like(tmp_path / "allbad.fits", n=5, zero_ivar_at=range(5))
    with pytest.raises(SpectraFileError, match="valid"):
        read_spectra_fits(allbad)
    with pytest.raises(FileNotFoundError):
        read_spectra_fits(tmp_path / "missing.fits")


def test_grid_mismatch_needs_common_grid(tmp_path):
    a = _sdss_like(tmp_path / "a.fits")
    b = _sdss_like(tmp_path / "b.fits", loglam0=3.5601)
    with pytest.raises(ValueError, match="different wavelength grid"):
        read_spectra_fits([a, b])
    grid = 10 ** (3.5602 + 1e-4 * np.arange(300))
    s = read_spectra_fits([a, b], wave_aa=grid)
    assert s.flux.shape == (2, 300)
    np.testing.assert_allclose(s.flux[s.ivar > 0], 5.0, rtol=1e-6)


def test_array_column_layout(tmp_path):
    n, npix = 3, 50
    wave = np.linspace(4000, 5000, npix)
    flux = np.ones((n, npix))
    ivar = np.ones((n, npix))
    ivar[1, 7] = np.nan
    cols = [fits.Column(name="WAVELENGTH", format=f"{npix}D", array=np.tile(wave, (n, 1))),
            fits.Column(name="FLUX", format=f"{npix}D", array=flux),
            fits.Column(name="IVAR", format=f"{npix}D", array=ivar)]
    p = tmp_path / "multi.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(p)
    with pytest.warns(UserWarning, match="1 of 50"):
        s = read_spectra_fits(p)
    assert len(s) == 3 and s.ivar[1, 7] == 0


def test_mask_bad_pixels_and_resample():
    f, i, bad = mask_bad_pixels(np.array([1.0, np.nan, 3.0]), np.array([1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(bad, [False, True, True])
    np.testing.assert_array_equal(f, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        mask_bad_pixels(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        mask_bad_pixels(np.ones(0), np.ones(0))
    w = np.arange(10.0)
    fo, io_ = resample_spectra(w, np.arange(10.0)[None], np.ones((1, 10)), np.array([2.5, 20.0]))
    np.testing.assert_allclose(fo[0, 0], 2.5, rtol=1e-6)
    assert io_[0, 1] == 0  # outside the input range is masked, not extrapolated


def test_simulate_to_file_streams_same_content(tmp_path):
    sim = QuasarSimulator(seed=12, dla_rate_per_dz=1.0)
    p = sim.simulate_to_file(tmp_path / "stream.h5", 5, chunk_size=2)
    back = read_spectra(p)
    ref = sim.simulate(5)
    np.testing.assert_array_equal(back.flux, ref.flux)
    np.testing.assert_allclose(back.dlas["z_dla"], ref.dlas["z_dla"], rtol=0, atol=0)
    np.testing.assert_array_equal(back.dlas["spec_index"], ref.dlas["spec_index"])
    with pytest.raises(ValueError, match="HDF5"):
        sim.simulate_to_file(tmp_path / "x.fits", 2)
