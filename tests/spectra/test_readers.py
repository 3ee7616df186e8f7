"""read_spectrum on small files written like the real data models (SDSS, DESI, IRAF/FITS images, ESO tables,
echelle), air/vacuum, units, masks, flags and batch behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from agnlab.spectra import (
    SpectraFileError,
    SpectrumFlag,
    air_to_vacuum,
    flag_names,
    read_spectrum,
    vacuum_to_air,
)

C_KMS = 299792.458


def quasar_like(wave_aa, z=2.5):
    """A smooth positive spectrum with broad Ly-alpha and C IV lines (1e-17 flux units)."""
    w = np.asarray(wave_aa, float)
    cont = 5.0 * (w / 5000.0) ** -0.5
    for rest, amp in ((1215.67, 8.0), (1549.06, 3.0)):
        c = rest * (1 + z)
        cont = cont + amp * np.exp(-0.5 * ((w - c) / (c * 2000.0 / C_KMS)) ** 2)
    return cont


# ------------------------------------------------------------------ writers (follow the real data models)
def write_sdss(path, *, loglam0=3.5563, n=4000, z=2.5, nan_at=(), neg_at=(), mask_at=(), ivar0=4.0):
    loglam = loglam0 + 1e-4 * np.arange(n)
    flux = quasar_like(10 ** loglam, z)
    ivar = np.full(n, ivar0)
    mask = np.zeros(n, np.int32)
    flux[list(nan_at)] = np.nan
    ivar[list(neg_at)] = -1.0
    mask[list(mask_at)] = 1 << 23
    cols = [fits.Column(name="flux", format="E", array=flux), fits.Column(name="loglam", format="E", array=loglam),
            fits.Column(name="ivar", format="E", array=ivar), fits.Column(name="and_mask", format="J", array=mask),
            fits.Column(name="or_mask", format="J", array=mask),
            fits.Column(name="wdisp", format="E", array=np.full(n, 1.1)),
            fits.Column(name="sky", format="E", array=np.zeros(n)), fits.Column(name="model", format="E", array=flux)]
    specobj = fits.BinTableHDU.from_columns([fits.Column(name="Z", format="E", array=[z]),
                                             fits.Column(name="CLASS", format="6A", array=["QSO"]),
                                             fits.Column(name="PLATE", format="J", array=[1234])], name="SPECOBJ")
    hdr = fits.Header()
    hdr["VACUUM"] = True
    hdr["COEFF0"] = loglam0
    hdr["COEFF1"] = 1e-4
    hdr["BUNIT"] = "1E-17 erg/cm^2/s/Ang"
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols, name="COADD"),
                  specobj]).writeto(path)
    return path


DESI_ARMS = {"B": (3600.0, 5800.0), "R": (5760.0, 7620.0), "Z": (7520.0, 9824.0)}


def write_desi(path, *, n=2, sigma_pix=1.0, mask_at=None):
    hdus = [fits.PrimaryHDU()]
    fm = fits.BinTableHDU.from_columns([fits.Column(name="TARGETID", format="K", array=np.arange(n) + 39627000)],
                                       name="FIBERMAP")
    hdus.append(fm)
    off = 5 - np.arange(11)
    for arm, (lo, hi) in DESI_ARMS.items():
        wave = np.round(np.arange(lo, hi + 0.4, 0.8), 3)
        flux = np.array([quasar_like(wave) * (1 + 0.1 * i) for i in range(n)])
        ivar = np.full((n, wave.size), {"B": 1.0, "R": 3.0, "Z": 2.0}[arm])
        if arm == "R":
            flux = flux * 1.02     # a calibration offset between arms: overlap must be ivar weighted
        mask = np.zeros((n, wave.size), np.int32)
        if mask_at is not None and arm == mask_at[0]:
            mask[0, mask_at[1]] = 1
        res = np.exp(-0.5 * (off / sigma_pix) ** 2)
        res = np.broadcast_to((res / res.sum())[None, :, None], (n, 11, wave.size)).astype(np.float32)
        hw = fits.ImageHDU(wave, name=f"{arm}_WAVELENGTH")
        hw.header["BUNIT"] = "Angstrom"
        hf = fits.ImageHDU(flux.astype(np.float32), name=f"{arm}_FLUX")
        hf.header["BUNIT"] = "10**-17 erg/(s cm2 Angstrom)"
        hdus += [hw, hf, fits.ImageHDU(ivar.astype(np.float32), name=f"{arm}_IVAR"),
                 fits.ImageHDU(mask, name=f"{arm}_MASK"), fits.ImageHDU(res, name=f"{arm}_RESOLUTION")]
    fits.HDUList(hdus).writeto(path)
    return path


def write_image(path, flux, header, *, ext=None):
    hdr = fits.Header()
    for k, v in header.items():
        hdr[k] = v
    hdus = [fits.PrimaryHDU(np.asarray(flux, np.float32), header=hdr)]
    for name, data in (ext or {}).items():
        hdus.append(fits.ImageHDU(np.asarray(data, np.float32), name=name))
    fits.HDUList(hdus).writeto(path)
    return path


def write_eso_table(path, wave, flux, err, *, wave_unit="nm", header=None, qual=None, rows=False):
    """ESO SDP 1-D spectrum: one row, array columns WAVE/FLUX/ERR/QUAL (rows=True: one row per array)."""
    wave, flux, err = (np.atleast_2d(a) for a in (wave, flux, err))
    npix = wave.shape[1]
    q = np.zeros(wave.shape, np.int32) if qual is None else np.atleast_2d(qual)
    cols = [fits.Column(name="WAVE", format=f"{npix}D", unit=wave_unit, array=wave),
            fits.Column(name="FLUX", format=f"{npix}E", array=flux),
            fits.Column(name="ERR", format=f"{npix}E", array=err),
            fits.Column(name="QUAL", format=f"{npix}J", array=q)]
    hdr = fits.Header()
    for k, v in (header or {}).items():
        hdr[k] = v
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols, name="SPECTRUM")]).writeto(path)
    return path


# ------------------------------------------------------------------ air / vacuum
def test_air_vacuum_known_lines_and_round_trip():
    # H-alpha 6562.80 A air = 6564.61 vacuum; [O III] 5006.84 air = 5008.24 vacuum (NIST / SDSS line lists)
    np.testing.assert_allclose(air_to_vacuum(6562.80), 6564.61, atol=0.01)
    np.testing.assert_allclose(vacuum_to_air(5008.24), 5006.84, atol=0.01)
    w = np.linspace(2500.0, 25000.0, 5001)
    np.testing.assert_allclose(air_to_vacuum(vacuum_to_air(w)), w, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(air_to_vacuum(np.array([1215.67])), [1215.67])   # < 2000 A: vacuum by convention


# ------------------------------------------------------------------ SDSS
def test_sdss_spec_file(tmp_path):
    p = write_sdss(tmp_path / "spec-1234-56789-0042.fits", nan_at=[7], mask_at=[100, 101], z=2.7)
    s = read_spectrum(p)
    assert s.meta["format"][0] == "sdss" and len(s) == 1
    np.testing.assert_allclose(s.wave_aa, 10 ** (3.5563 + 1e-4 * np.arange(4000)), rtol=1e-12)  # COEFF0/1
    with fits.open(p) as hl:          # without COEFF0/COEFF1: the float32 column, snapped to its linear fit
        del hl[0].header["COEFF0"]
        hl.writeto(tmp_path / "spec-nocoeff.fits")
    np.testing.assert_allclose(read_spectrum(tmp_path / "spec-nocoeff.fits").wave_aa,
                               10 ** (3.5563 + 1e-4 * np.arange(4000)), rtol=1e-7)
    assert s.ivar[0, [7, 100, 101]].tolist() == [0, 0, 0] and s.mask[0, [7, 100, 101]].all()
    assert s.mask[0].sum() == 3
    np.testing.assert_allclose(s.ivar[0, 0], 4.0, rtol=1e-6)
    np.testing.assert_allclose(s.lsf_sigma_kms[0, 50], 1.1 * 1e-4 * np.log(10) * C_KMS, rtol=1e-5)  # wdisp
    assert s.meta["z_file"][0] == pytest.approx(2.7, abs=1e-6)
    assert s.meta["flag"][0] == SpectrumFlag.BAD_IVAR_MASKED            # the NaN pixel
    assert not s.meta["air"][0] and not s.meta["normalised"][0]
    # mask_bits: only bit 0 counts -> the bit-23 pixels stay valid
    s2 = read_spectrum(p, mask_bits=1)
    assert s2.mask[0].sum() == 1


def test_sdss_batch_on_shared_lattice(tmp_path):
    a = write_sdss(tmp_path / "spec-a.fits", loglam0=3.5563)
    b = write_sdss(tmp_path / "spec-b.fits", loglam0=3.5600, n=3900)
    s = read_spectrum(tmp_path)               # a folder
    assert len(s) == 2 and list(s.meta["file"]) == [a.name, b.name]
    step = np.diff(np.log10(s.wave_aa))
    np.testing.assert_allclose(step, 1e-4, rtol=1e-6)
    np.testing.assert_allclose(np.log10(s.wave_aa[0]), 3.5563, atol=1e-9)
    # pixels map one to one: b's values are unchanged, its missing ends are masked
    k = 37                                                # (3.5600 - 3.5563) / 1e-4
    np.testing.assert_allclose(s.flux[1, k:k + 3900], quasar_like(10 ** (3.56 + 1e-4 * np.arange(3900))),
                               rtol=2e-5)
    assert s.ivar[1, :k].max() == 0


# ------------------------------------------------------------------ DESI
def test_desi_coadd_arms_merged(tmp_path):
    p = write_desi(tmp_path / "coadd-main-dark-10000.fits", n=2, sigma_pix=1.2, mask_at=("B", 10))
    s = read_spectrum(p)
    assert len(s) == 2 and set(s.meta["format"]) == {"desi"}
    assert list(s.meta["targetid"]) == [39627000, 39627001]
    np.testing.assert_allclose(np.diff(s.wave_aa), 0.8, rtol=1e-6)
    assert s.wave_aa[0] == pytest.approx(3600.0) and s.wave_aa[-1] == pytest.approx(9824.0, abs=0.01)
    # B/R overlap at 5780 A: ivar-weighted mean of B (ivar 1) and R (ivar 3, flux x1.02), ivar summed
    j = int(np.argmin(abs(s.wave_aa - 5780.0)))
    f0 = quasar_like(s.wave_aa[j])
    np.testing.assert_allclose(s.flux[0, j], (1 * f0 + 3 * 1.02 * f0) / 4, rtol=1e-5)
    np.testing.assert_allclose(s.ivar[0, j], 4.0, rtol=1e-6)
    # outside the overlaps: the single arm's values
    j = int(np.argmin(abs(s.wave_aa - 4500.0)))
    np.testing.assert_allclose(s.flux[1, j], 1.1 * quasar_like(s.wave_aa[j]), rtol=1e-5)
    assert s.ivar[0, 10] == 0 and s.ivar[1, 10] > 0                    # B_MASK honoured
    # LSF from the resolution matrix: sigma = 1.2 pixels of 0.8 A
    j = int(np.argmin(abs(s.wave_aa - 4500.0)))
    np.testing.assert_allclose(s.lsf_sigma_kms[0, j], 1.2 * 0.8 / s.wave_aa[j] * C_KMS, rtol=2e-3)


# ------------------------------------------------------------------ FITS images
def test_fits_image_linear_air_with_error_file(tmp_path):
    n = 3000
    wave_air = 4000.0 + 1.5 * (np.arange(n) + 1 - 10)
    hdr = {"CRVAL1": 4000.0, "CRPIX1": 10.0, "CD1_1": 1.5, "CTYPE1": "AWAV", "CUNIT1": "Angstrom",
           "BUNIT": "erg/cm2/s/Angstrom"}
    flux = quasar_like(wave_air)
    p = write_image(tmp_path / "spec.fits", flux, hdr)
    e = write_image(tmp_path / "spec_err.fits", np.full(n, 0.5), hdr)
    s = read_spectrum(p, error_files=e, format="fits-image")
    np.testing.assert_allclose(s.wave_aa, air_to_vacuum(wave_air), rtol=0, atol=1e-6)
    assert s.meta["air"][0] and s.meta["air_from"][0] == "CTYPE1"
    np.testing.assert_allclose(s.ivar[0], 4.0, rtol=1e-6)
    assert s.meta["flag"][0] == SpectrumFlag.RESOLUTION_UNKNOWN
    with pytest.raises(SpectraFileError, match="no error array"):
        read_spectrum(p)
    # an error file on another grid is refused
    bad = write_image(tmp_path / "other_err.fits", np.full(n, 0.5), dict(hdr, CRVAL1=4001.0))
    with pytest.raises(SpectraFileError, match="grid differs"):
        read_spectrum(p, error_files=bad)


def test_fits_image_log_linear_iraf_and_error_extension(tmp_path):
    n = 2000
    hdr = {"CRVAL1": np.log10(3800.0), "CDELT1": 1e-4, "CRPIX1": 1.0, "DC-FLAG": 1, "CTYPE1": "LINEAR",
           "WAT0_001": "system=equispec", "WAT1_001": "wtype=linear label=Wavelength units=angstroms",
           "SPEC_RES": 5000.0, "VACUUM": True}
    wave = 3800.0 * 10 ** (1e-4 * np.arange(n))
    p = write_image(tmp_path / "iraf.fits", quasar_like(wave), hdr,
                    ext={"IVAR": np.full(n, 9.0), "MASK": (np.arange(n) == 5).astype(int)})
    s = read_spectrum(p)
    assert s.meta["format"][0] == "fits-image"
    np.testing.assert_allclose(s.wave_aa, wave, rtol=1e-10)
    np.testing.assert_allclose(s.ivar[0, 6], 9.0, rtol=1e-6)
    assert s.ivar[0, 5] == 0
    np.testing.assert_allclose(s.lsf_sigma_kms[0, 100], C_KMS / 5000.0 / 2.35482, rtol=1e-4)
    assert s.meta["flag"][0] == 0
    # FITS WCS Paper III log axis: lambda = CRVAL1 exp(CDELT1 (p - CRPIX1) / CRVAL1), here in nm
    h2 = {"CRVAL1": 380.0, "CDELT1": 0.02, "CRPIX1": 1.0, "CTYPE1": "WAVE-LOG", "CUNIT1": "nm"}
    w2 = 10 * 380.0 * np.exp(0.02 * np.arange(n) / 380.0)
    p2 = write_image(tmp_path / "wavelog.fits", quasar_like(w2), h2, ext={"ERR": np.ones(n)})
    s2 = read_spectrum(p2)
    np.testing.assert_allclose(s2.wave_aa, w2, rtol=1e-10)          # CTYPE1 = WAVE: vacuum
    assert not s2.meta["air"][0]


# ------------------------------------------------------------------ tables
def test_eso_table_nm_air_resolution_and_quality(tmp_path):
    wave_nm = np.linspace(380.0, 900.0, 5000)
    qual = np.zeros(5000, int)
    qual[42] = 2
    p = write_eso_table(tmp_path / "ADP.2020-01-01T00_00_00.000.fits", wave_nm, quasar_like(10 * wave_nm),
                        np.full(5000, 0.25), qual=qual,
                        header={"AIRORVAC": "air", "SPEC_RES": 8000.0, "INSTRUME": "FORS2", "CONTNORM": False})
    s = read_spectrum(p)
    assert s.meta["format"][0] == "table"
    np.testing.assert_allclose(s.wave_aa, air_to_vacuum(10 * wave_nm), rtol=0, atol=1e-6)
    np.testing.assert_allclose(s.ivar[0, 0], 16.0, rtol=1e-6)
    assert s.ivar[0, 42] == 0
    np.testing.assert_allclose(s.lsf_sigma_kms[0, 0], C_KMS / 8000.0 / 2.35482, rtol=1e-4)
    assert s.meta["flag"][0] == 0 and s.meta["air_from"][0] == "AIRORVAC"
    # one row per pixel, wavelength in um, no air/vacuum keyword -> vacuum assumed and flagged
    t = tmp_path / "rows.fits"
    w = np.linspace(0.38, 0.9, 3000)
    fits.BinTableHDU.from_columns([fits.Column(name="lambda", format="D", unit="um", array=w),
                                   fits.Column(name="flux", format="E", array=quasar_like(1e4 * w)),
                                   fits.Column(name="ivar", format="E", array=np.ones(3000))]).writeto(t)
    s = read_spectrum(t)
    np.testing.assert_allclose(s.wave_aa, 1e4 * w, rtol=1e-12)
    assert s.meta["flag"][0] == SpectrumFlag.AIR_VACUUM_UNKNOWN | SpectrumFlag.RESOLUTION_UNKNOWN
    assert flag_names(s.meta["flag"][0]) == "resolution_unknown|air_vacuum_unknown"
    s = read_spectrum(t, air=False)
    assert s.meta["flag"][0] == SpectrumFlag.RESOLUTION_UNKNOWN
    with fits.open(t) as hl:                         # IVOA UCD of air wavelengths
        hl[1].header["TUCD1"] = "em.wl;obs.atmos"
        hl.writeto(tmp_path / "ucd.fits")
    s = read_spectrum(tmp_path / "ucd.fits")
    assert s.meta["air"][0] and s.meta["air_from"][0] == "TUCD"
    np.testing.assert_allclose(s.wave_aa, air_to_vacuum(1e4 * w), rtol=0, atol=1e-6)


def test_echelle_orders_merged_and_normalisation_detected(tmp_path):
    rng = np.random.default_rng(1)
    orders = [np.linspace(4000.0 + 150 * k, 4200.0 + 150 * k, 800) for k in range(4)]   # overlapping orders
    flux = [1.0 + 0.01 * rng.standard_normal(800) for _ in orders]
    err = [np.full(800, 0.01 * (k + 1)) for k in range(4)]
    p = write_eso_table(tmp_path / "uves.fits", orders, flux, err, wave_unit="Angstrom",
                        header={"INSTRUME": "UVES", "SPEC_RES": 40000.0, "AIRORVAC": "vac"})
    s = read_spectrum(p)
    assert s.meta["format"][0] == "echelle" and len(s) == 1 and s.meta["n_orders"][0] == 4
    assert s.wave_aa[0] == pytest.approx(4000.0) and s.wave_aa[-1] == pytest.approx(4650.0, rel=1e-4)
    assert s.meta["normalised"][0] and s.meta["normalised_from"][0] == "median"
    assert s.meta["flag"][0] & SpectrumFlag.CONTINUUM_NORMALISED
    # in the overlap of orders 0 and 1 the ivar adds up (to within the rebinning overlap fractions)
    j = int(np.argmin(abs(s.wave_aa - 4175.0)))
    step_ratio = np.diff(s.wave_aa)[j] / np.diff(orders[0])[0]
    np.testing.assert_allclose(s.ivar[0, j], (1 / 0.01 ** 2 + 1 / 0.02 ** 2) * step_ratio, rtol=0.02)
    np.testing.assert_allclose(np.median(s.flux[0][s.ivar[0] > 0]), 1.0, atol=0.01)
    assert not read_spectrum(p, normalised=False).meta["normalised"][0]
    # CONTNORM in the header decides without the median test
    q = write_eso_table(tmp_path / "cn.fits", orders[0], 3.0 * flux[0], err[0], wave_unit="Angstrom",
                        header={"CONTNORM": True, "AIRORVAC": "vac"})
    assert read_spectrum(q).meta["normalised_from"][0] == "CONTNORM"


# ------------------------------------------------------------------ bad input
def test_bad_files_name_the_problem(tmp_path):
    p = tmp_path / "nowave.fits"
    fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.ones(10)),
                                   fits.Column(name="ivar", format="E", array=np.ones(10))]).writeto(p)
    with pytest.raises(SpectraFileError, match="no wavelength column"):
        read_spectrum(p)
    u = write_eso_table(tmp_path / "unit.fits", np.linspace(1, 2, 50), np.ones(50), np.ones(50), wave_unit="Jy")
    with pytest.raises(SpectraFileError, match="unknown wavelength unit 'Jy'"):
        read_spectrum(u)
    nm = write_eso_table(tmp_path / "nounit.fits", np.linspace(380, 900, 50), np.ones(50), np.ones(50),
                         wave_unit=None)
    with pytest.raises(SpectraFileError, match="no unit"):
        read_spectrum(nm)
    s = read_spectrum(nm, wave_unit="nm")
    np.testing.assert_allclose(s.wave_aa[0], 3800.0, rtol=1e-12)
    with pytest.raises(ValueError, match="format must be"):
        read_spectrum(nm, format="csv")
    with pytest.raises(FileNotFoundError):
        read_spectrum(tmp_path / "missing.fits")
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not a fits file at all" * 10)
    with pytest.raises(SpectraFileError, match="junk.fits"):
        read_spectrum(junk)
    img = write_image(tmp_path / "nowcs.fits", np.ones(20), {})
    with pytest.raises(SpectraFileError, match="CRVAL1|format"):
        read_spectrum(img, format="fits-image")


def test_masked_and_invalid_pixels_are_flagged_not_raised(tmp_path):
    allbad = write_sdss(tmp_path / "spec-allbad.fits", n=300, ivar0=0.0)
    s = read_spectrum(allbad)
    assert s.meta["flag"][0] & SpectrumFlag.ALL_MASKED and s.ivar.max() == 0
    neg = write_sdss(tmp_path / "spec-neg.fits", neg_at=range(0, 2500))
    s = read_spectrum(neg)
    assert s.meta["flag"][0] == SpectrumFlag.BAD_IVAR_MASKED | SpectrumFlag.MOSTLY_MASKED
    assert s.ivar[0, :2500].max() == 0 and np.all(np.isfinite(s.flux))


def test_one_bad_file_never_stops_a_batch(tmp_path):
    good = write_sdss(tmp_path / "spec-good.fits")
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"\x00" * 100)
    nowave = tmp_path / "nowave.fits"
    fits.BinTableHDU.from_columns([fits.Column(name="flux", format="E", array=np.ones(10))]).writeto(nowave)
    with pytest.warns(UserWarning, match="skipped"):
        s = read_spectrum([good, junk, nowave])
    assert len(s) == 1 and s.meta["file"][0] == good.name
    st = s.status.set_index(s.status["file"].map(lambda f: f.rsplit("/", 1)[-1]))
    assert st.loc["spec-good.fits", "status"] == "ok" and st.loc["spec-good.fits", "n_spectra"] == 1
    assert st.loc["junk.fits", "status"] == "error" and "junk.fits" in st.loc["junk.fits", "message"]
    assert "no wavelength column" in st.loc["nowave.fits", "message"]
    with pytest.raises(SpectraFileError):
        read_spectrum([good, junk], errors="raise")
    with pytest.raises(SpectraFileError, match="none of the 2 files"), pytest.warns(UserWarning):
        read_spectrum([junk, nowave])


def test_glob_and_explicit_grid(tmp_path):
    write_sdss(tmp_path / "spec-1.fits")
    write_sdss(tmp_path / "spec-2.fits", loglam0=3.6)
    grid = np.linspace(4000.0, 8000.0, 1000)
    s = read_spectrum(str(tmp_path / "spec-*.fits"), wave_aa=grid)
    assert s.flux.shape == (2, 1000) and np.array_equal(s.wave_aa, grid)
    ok = s.ivar[0] > 0
    np.testing.assert_allclose(s.flux[0, ok], quasar_like(grid[ok]), rtol=2e-3)   # pixel-averaged smooth spectrum
    assert isinstance(s.meta, pd.DataFrame) and s.lsf_sigma_kms.shape == (2, 1000)


def test_iraf_apall_multispec_bands(tmp_path):
    """IRAF apall/dispcor output: (band, aperture, pixel) cube, BANDID4 = sigma, dispersion in WAT2 ``spec1``."""
    n = 2000
    wave = (3500.5 + 1.25 * np.arange(n)) / (1 + 0.0)
    cube = np.zeros((4, 1, n), np.float32)
    cube[0, 0] = quasar_like(wave)
    cube[3, 0] = 0.2
    wat2 = 'wtype=multispec spec1 = "1 1 0 3500.5'.ljust(68) + '1.25 2000 0. 10.00 20.00"'
    hdr = fits.Header()
    hdr["CTYPE1"], hdr["CRVAL1"], hdr["CDELT1"] = "MULTISPE", 1.0, 1.0
    hdr["WAT0_001"] = "system=multispec"
    hdr["WAT1_001"] = "wtype=multispec label=Wavelength units=angstroms"
    assert wat2[67] == " "          # the 68-character card ends in a blank that astropy strips on reading
    hdr["WAT2_001"], hdr["WAT2_002"] = wat2[:68], wat2[68:]
    for i, t in enumerate(["spectrum - background fit, weights variance, clean no", "raw - background fit",
                           "background - background fit", "sigma - background fit, weights variance"], 1):
        hdr[f"BANDID{i}"] = t
    hdr["AIRORVAC"] = "air"
    p = tmp_path / "apall.ms.fits"
    fits.PrimaryHDU(cube, header=hdr).writeto(p)
    s = read_spectrum(p)
    assert s.meta["format"][0] == "fits-image" and len(s) == 1
    np.testing.assert_allclose(s.wave_aa, air_to_vacuum(wave), rtol=0, atol=1e-6)
    np.testing.assert_allclose(s.ivar[0], 25.0, rtol=1e-5)
    np.testing.assert_allclose(s.flux[0], quasar_like(wave), rtol=1e-6)
    # pixel coordinates without a multispec dispersion are refused, not read as Angstrom
    bad = tmp_path / "pix.fits"
    h2 = fits.Header()
    h2["CRVAL1"], h2["CDELT1"] = 1.0, 1.0
    fits.HDUList([fits.PrimaryHDU(np.ones(n, np.float32), header=h2),
                  fits.ImageHDU(np.ones(n, np.float32), name="ERR")]).writeto(bad)
    with pytest.raises(SpectraFileError, match="no unit"):
        read_spectrum(bad)
