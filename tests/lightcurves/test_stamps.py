"""First-detection stamp classifier: simulator, CNN, Avro/FITS reader, combination rule, CLI, demo."""

import gzip
import io

import numpy as np
import pandas as pd
import pytest

from agnlab.lightcurves import (
    STAMP_CLASSES,
    STAMP_METADATA_COLUMNS,
    StampClassifier,
    combine_stamp_lightcurve,
    galactic_ecliptic_latitudes,
    prepare_stamps,
    read_ztf_stamps,
    simulate_stamps,
    stamp_weight,
    write_ztf_stamp_alerts,
)
from agnlab.nn import fit_temperature, softmax

_TINY = dict(width=4, hidden=8, max_epochs=2, batch_size=16)


@pytest.fixture(scope="module")
def sim():
    return simulate_stamps(4, seed=0)


@pytest.fixture(scope="module")
def fitted(sim):
    X, meta, y = sim
    return StampClassifier(random_state=0, **_TINY).fit(X, meta, y)


# ---------------------------------------------------------------- simulator
def test_simulate_shapes_and_determinism(sim):
    X, meta, y = sim
    assert X.shape == (20, 3, 63, 63) and X.dtype == np.float32
    assert list(meta.columns[:len(STAMP_METADATA_COLUMNS)]) == list(STAMP_METADATA_COLUMNS) and len(meta) == 20
    assert meta["sgscore_nearest"].between(0.0, 1.0).all() and meta["mag_nearest"].lt(22.1).all()
    assert set(meta.attrs["subclass"][y == "bogus"]) <= set(meta.attrs["bogus_kind"][y == "bogus"]) | {""}
    assert sorted(pd.Series(y).value_counts().to_dict().items()) == [(c, 4) for c in sorted(STAMP_CLASSES)]
    X2, meta2, y2 = simulate_stamps(4, seed=0)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_allclose(X, X2, rtol=0, atol=0, equal_nan=True)
    X3, _, _ = simulate_stamps(4, seed=1)
    assert not np.allclose(np.nan_to_num(X), np.nan_to_num(X3), rtol=0, atol=1.0)
    real = y != "bogus"
    assert np.isfinite(X[real]).all()                      # NaN only in edge-of-detector bogus stamps
    ps1_giz = ["gmag_nearest", "imag_nearest", "zmag_nearest"]            # NaN below the PS1 depth
    assert np.isfinite(meta[[c for c in STAMP_METADATA_COLUMNS if c not in ps1_giz]].to_numpy()).all()
    assert (meta["ndethist"] >= 1).all() and (meta["ncovhist"] >= meta["ndethist"]).all()
    assert meta["elongation"].min() >= 1.0 - 1e-9 and (meta["fwhm_arcsec"].between(1.2, 4.0)).all()


def test_simulate_physics():
    """Statistical checks (20 alerts per class): the reference holds the static source, not the new one."""
    X, meta, y = simulate_stamps(20, classes=["VS", "asteroid", "AGN", "SN"], seed=3)
    c = slice(29, 34)
    ref_core = np.array([np.median(x[1, c, c]) - np.median(x[1]) for x in X])
    # a variable star sits in the reference; an asteroid has no counterpart there
    assert np.median(ref_core[y == "VS"]) > 10 * max(np.median(ref_core[y == "asteroid"]), 1.0)
    # AGN are nuclear, SNe offset from their hosts: distance to the nearest catalogued source
    d = meta["dist_nearest_arcsec"].to_numpy()
    assert np.median(d[y == "AGN"]) < 0.5 < np.median(d[y == "SN"])
    # asteroids near the ecliptic, variable stars near the Galactic plane (medians; broad distributions)
    assert np.median(np.abs(meta["ecl_lat_deg"][y == "asteroid"])) < 15.0
    assert np.median(np.abs(meta["gal_lat_deg"][y == "VS"])) < np.median(np.abs(meta["gal_lat_deg"][y == "AGN"]))


def test_simulate_star_galaxy_score():
    """The nearest catalogued source (Pan-STARRS1-like): a variable star is its own star-like counterpart,
    an AGN with a resolved host and the host of a SN are galaxy-like, a quasar scores star-like (40 per class;
    fractions with a tolerance of several binomial sigmas)."""
    X, meta, y = simulate_stamps(40, classes=["VS", "AGN", "SN", "asteroid"], seed=5)
    sg, sub = meta["sgscore_nearest"].to_numpy(), meta.attrs["subclass"]
    assert np.mean(sg[y == "VS"] > 0.83) > 0.9
    assert np.mean(sg[(y == "AGN") & (sub == "host")] < 0.17) > 0.8
    assert np.mean(sg[(y == "SN") & (sub == "hosted")] < 0.17) > 0.8
    if ((y == "AGN") & (sub == "quasar")).sum() >= 3:
        assert np.median(sg[(y == "AGN") & (sub == "quasar")]) > 0.5
    # an asteroid's nearest source is an unrelated field star or galaxy: both kinds occur
    assert 0.15 < np.mean(sg[y == "asteroid"] > 0.5) < 0.85
    # the catalogue magnitude of a variable star's counterpart is brighter than its change (|change| < 1.5 x star)
    assert np.median(meta["mag_nearest"][y == "VS"] - meta["mag"][y == "VS"]) < 0.0
    assert set(sub[y == "asteroid"]) <= {"point", "trailed"} and set(sub[y == "AGN"]) <= {"quasar", "host"}


def test_simulate_colours_and_history():
    """PS1 colours of the nearest source and the detection history (60 alerts per class; medians with
    tolerances several times their scatter)."""
    X, meta, y = simulate_stamps(60, seed=7)
    sub = meta.attrs["subclass"]
    gr = (meta["gmag_nearest"] - meta["mag_nearest"]).to_numpy()
    ri = (meta["mag_nearest"] - meta["imag_nearest"]).to_numpy()
    # variable stars lie on the stellar locus (Covey et al. 2007, A0 to M0): median |r-i offset| < 0.1 mag
    locus_gr, locus_ri = [-0.25, 0.30, 0.47, 0.65, 1.15, 1.35], [-0.12, 0.08, 0.15, 0.22, 0.43, 0.70]
    vs = (y == "VS") & np.isfinite(gr) & np.isfinite(ri) & (gr < 1.3)
    assert np.median(np.abs(ri[vs] - np.interp(gr[vs], locus_gr, locus_ri))) < 0.1
    # SN hosts are galaxies, redder in r-i than the locus at the same g-r (Strateva et al. 2001)
    sn = (y == "SN") & (sub == "hosted") & np.isfinite(gr) & np.isfinite(ri) & (gr < 1.3)
    assert np.median(ri[sn] - np.interp(gr[sn], locus_gr, locus_ri)) > 0.05
    nd, nc = meta["ndethist"].to_numpy(), meta["ncovhist"].to_numpy()
    # an asteroid is never twice at one place: its history is noise (3-sigma peaks, ~0.3 % of epochs)
    ast = y == "asteroid"
    assert np.median(nd[ast]) == 1 and np.mean(nd[ast] - 1) < 0.01 * np.mean(nc[ast])
    # a supernova's first alert often follows a 3-5 sigma detection of its rise
    assert np.mean(nd[y == "SN"] > 1) > np.mean(nd[y == "asteroid"] > 1)
    # the first alert of a persistent variable comes early in its coverage (stronger ones alert sooner)
    assert np.median(nc[y == "AGN"]) < np.median(nc[y == "SN"]) and np.median(nc[y == "VS"]) < np.median(nc[y == "SN"])


def test_simulate_bad_arguments():
    with pytest.raises(ValueError, match="n_per_class"):
        simulate_stamps(0)
    with pytest.raises(ValueError, match="unknown stamp class"):
        simulate_stamps(1, classes=["QSO"])


def test_latitudes_match_astropy():
    from astropy import units as u
    from astropy.coordinates import BarycentricMeanEcliptic, SkyCoord

    ra, dec = np.array([0.0, 123.4, 266.4, 300.0]), np.array([0.0, -21.0, -28.9, 60.0])
    b, beta = galactic_ecliptic_latitudes(ra, dec)
    c = SkyCoord(ra * u.deg, dec * u.deg)
    np.testing.assert_allclose(b, c.galactic.b.deg, atol=1e-5)
    np.testing.assert_allclose(beta, c.transform_to(BarycentricMeanEcliptic()).lat.deg, atol=1e-4)


# ---------------------------------------------------------------- classifier
def test_fit_predict_contract(sim, fitted):
    X, meta, y = sim
    p, flags = fitted.predict_proba(X, meta, return_flags=True)
    assert p.shape == (20, 5) and list(fitted.classes_) == list(STAMP_CLASSES)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert set(flags) <= {"ok", "nan_pixels"}
    assert set(fitted.predict(X, meta)) <= set(STAMP_CLASSES)
    rec = fitted.training_record_
    assert rec["n_train"] + rec["n_validation"] == 20 and rec["temperature"] > 0
    table = fitted.classify(X, meta, alert_ids=[f"a{i}" for i in range(20)])
    assert list(table.columns) == ["alert_id", "class", *STAMP_CLASSES, "flag"]


def test_rotation_invariance_and_determinism(sim, fitted):
    X, meta, y = sim
    p = fitted.predict_proba(X, meta)
    for k in (1, 2, 3):
        np.testing.assert_allclose(fitted.predict_proba(np.rot90(X, k, (2, 3)).copy(), meta), p, atol=1e-5)
    again = StampClassifier(random_state=0, **_TINY).fit(X, meta, y)
    np.testing.assert_allclose(again.predict_proba(X, meta), p, atol=1e-6)


def test_save_load_roundtrip(tmp_path, sim, fitted):
    X, meta, _ = sim
    path = fitted.save(tmp_path / "stamps.npz")
    back = StampClassifier.load(path)
    np.testing.assert_allclose(back.predict_proba(X, meta), fitted.predict_proba(X, meta), rtol=0, atol=0)
    assert back.temperature_ == fitted.temperature_


def test_load_older_metadata_layout(tmp_path, fitted):
    """A file saved before the metadata gained columns is refused with a clear message, not a shape error."""
    from agnlab.io import ArtifactError, load_artifact, save_artifact

    path = fitted.save(tmp_path / "new.npz")
    arrays, meta = load_artifact(path)
    arrays = {k: (v[:6] if k in ("meta_mean", "meta_scale") else v) for k, v in arrays.items()}
    meta = {k: v for k, v in meta.items() if not k.startswith("_") and k != "kind"}
    old = save_artifact(tmp_path / "old.npz", kind=StampClassifier.artifact_kind(), arrays=arrays, metadata=meta)
    with pytest.raises(ArtifactError, match="older metadata layout.*retrain"):
        StampClassifier.load(old)


def test_ensemble_of_networks(tmp_path, sim):
    """n_networks=2: logits are the mean of the two networks'; invariant to rotations; saved and loaded exactly."""
    import torch

    X, meta, y = sim
    ens = StampClassifier(random_state=0, n_networks=2, **_TINY).fit(X, meta, y)
    assert ens.training_record_["best_epochs"] and len(ens.training_record_["epochs"]) == 2
    p = ens.predict_proba(X, meta)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    for k in (1, 3):
        np.testing.assert_allclose(ens.predict_proba(np.rot90(X, k, (2, 3)).copy(), meta), p, atol=1e-5)
    images, _, _ = prepare_stamps(X)
    single = StampClassifier(random_state=0, **_TINY).fit(X, meta, y)
    single.module_ = ens.module_.nets[0]
    logits0 = single._logits(images, ens._meta_input(*_features(ens, X, meta)))
    single.module_ = ens.module_.nets[1]
    logits1 = single._logits(images, ens._meta_input(*_features(ens, X, meta)))
    with torch.no_grad():
        both = ens._logits(images, ens._meta_input(*_features(ens, X, meta)))
    np.testing.assert_allclose(both, (logits0 + logits1) / 2, atol=1e-5)
    back = StampClassifier.load(ens.save(tmp_path / "ens.npz"))
    np.testing.assert_allclose(back.predict_proba(X, meta), p, rtol=0, atol=0)
    with pytest.raises(ValueError, match="n_networks"):
        StampClassifier(n_networks=0, **_TINY).fit(X, meta, y)


def _features(clf, X, meta):
    _, meta_f, nan_frac, _ = clf._inputs(X, meta)
    return meta_f, nan_frac


def test_learns_beyond_chance():
    """30 alerts per class, a small net, 10 epochs: held-out accuracy well above chance (0.2)."""
    X, meta, y = simulate_stamps(30, seed=11)
    Xt, mt, yt = simulate_stamps(10, seed=12)
    clf = StampClassifier(width=8, hidden=32, max_epochs=10, batch_size=16, random_state=0).fit(X, meta, y)
    acc = float(np.mean(clf.predict(Xt, mt) == yt))
    assert acc >= 0.5, acc


def test_bad_input(sim, fitted):
    from agnlab import OutOfDomainError

    X, meta, y = sim
    with pytest.raises(ValueError, match="expected shape"):
        fitted.predict_proba(X[:, :2], meta)
    with pytest.raises(ValueError, match="expected shape"):
        fitted.predict_proba(X[:, :, :21, :21], meta)
    with pytest.raises(ValueError, match="missing column"):
        fitted.predict_proba(X, meta.drop(columns=["mag"]))
    with pytest.raises(ValueError, match="rows"):
        fitted.predict_proba(X, meta.iloc[:3])
    with pytest.raises(TypeError, match="not numeric"):
        fitted.predict_proba(X, meta.assign(mag="bright"))
    with pytest.raises(ValueError, match="labels"):
        StampClassifier(**_TINY).fit(X, meta, y[:5])
    # NaN pixels: masked and flagged; an all-NaN image: NaN probabilities, the batch goes on
    Xb = X[:4].copy()
    Xb[0, 2, :10] = np.nan
    Xb[1, 0] = np.nan
    mb = meta.iloc[:4].reset_index(drop=True).copy()
    mb.loc[2, "dist_nearest_arcsec"] = np.nan
    p, flags = fitted.predict_proba(Xb, mb, return_flags=True)
    assert list(flags) == ["nan_pixels", "out_of_domain", "metadata_imputed", "ok"]
    assert np.isnan(p[1]).all() and np.isfinite(p[[0, 2, 3]]).all()
    assert fitted.predict(Xb, mb)[1] == ""
    _, f_none = fitted.predict_proba(X[3:5], None, return_flags=True)
    assert set(f_none) == {"metadata_imputed"}
    strict = StampClassifier.load(fitted.save(__import__("tempfile").mkdtemp() + "/m.npz"))
    strict.set_params(on_out_of_domain="raise")
    with pytest.raises(OutOfDomainError, match="alert 1"):
        strict.predict_proba(Xb, mb)
    bad_train = X.copy()
    bad_train[0, 1] = np.nan
    with pytest.raises(ValueError, match="no finite"):
        StampClassifier(**_TINY).fit(bad_train, meta, y)


def test_prepare_stamps_scaling():
    rng = np.random.default_rng(0)
    x = rng.normal(100.0, 5.0, (2, 3, 63, 63)).astype(np.float32)
    img, nan_frac, usable = prepare_stamps(x)
    assert img.shape == (2, 6, 21, 21) and usable.all()
    np.testing.assert_allclose(nan_frac, 0.0, atol=0)
    # background noise maps to asinh(N(0, 1/3)): standard deviation ~ 0.33 (tolerance 0.03)
    assert abs(img[:, :3].std() - 0.33) < 0.03
    x[1, 2] = 7.0                                             # a flat image: unusable
    assert list(prepare_stamps(x)[2]) == [True, False]


def test_temperature_recovers_known_value():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3.0, (4000, 5))
    y = np.array([rng.choice(5, p=p) for p in softmax(logits / 2.0)])
    assert fit_temperature(logits, y) == pytest.approx(2.0, rel=0.1)


# ---------------------------------------------------------------- Avro / FITS reader
def _fits_gz(img) -> bytes:
    from astropy.io import fits

    buf = io.BytesIO()
    fits.PrimaryHDU(np.asarray(img, dtype=np.float32)).writeto(buf)
    return gzip.compress(buf.getvalue())


_CUT = {"type": "record", "name": "cutout", "fields": [{"name": "fileName", "type": "string"},
                                                       {"name": "stampData", "type": "bytes"}]}
_SCHEMA = {"type": "record", "name": "alert", "fields": [
    {"name": "objectId", "type": "string"},
    {"name": "candidate", "type": {"type": "record", "name": "candidate", "fields": [
        {"name": "candid", "type": "long"}, {"name": "jd", "type": "double"}, {"name": "fid", "type": "int"},
        {"name": "ra", "type": "double"}, {"name": "dec", "type": "double"},
        {"name": "magpsf", "type": ["null", "float"], "default": None},
        {"name": "sigmapsf", "type": ["null", "float"], "default": None},
        {"name": "fwhm", "type": ["null", "float"], "default": None},
        {"name": "elong", "type": ["null", "float"], "default": None},
        {"name": "distpsnr1", "type": ["null", "float"], "default": None},
        {"name": "sgscore1", "type": ["null", "float"], "default": None},
        {"name": "srmag1", "type": ["null", "float"], "default": None},
        *({"name": f"s{b}mag1", "type": ["null", "float"], "default": None} for b in "giz"),
        {"name": "ndethist", "type": ["null", "int"], "default": None},
        {"name": "ncovhist", "type": ["null", "int"], "default": None}]}},
    {"name": "cutoutScience", "type": ["null", _CUT], "default": None},
    {"name": "cutoutTemplate", "type": ["null", "cutout"], "default": None},
    {"name": "cutoutDifference", "type": ["null", "cutout"], "default": None}]}


def test_read_ztf_stamps(tmp_path, sim, fitted):
    import fastavro

    X, meta, _ = sim
    X = X[np.isfinite(X).all(axis=(1, 2, 3))]

    def cand(i, dist=2.5):
        return {"candid": 100 + i, "jd": 2459000.5 + i, "fid": 1, "ra": 150.0 + i, "dec": 2.0, "magpsf": 19.5,
                "sigmapsf": 0.1, "fwhm": 2.0, "elong": 1.1, "distpsnr1": dist,
                "sgscore1": 0.98 if dist > 0 else -999.0, "srmag1": 18.25 if dist > 0 else -999.0,
                "sgmag1": 18.75 if dist > 0 else -999.0, "simag1": 18.0 if dist > 0 else -999.0,
                **({"ndethist": 4, "ncovhist": 250} if dist > 0 else {"ndethist": -1, "ncovhist": None})}

    def cut(img, name="x"):
        return {"fileName": name, "stampData": _fits_gz(img)}

    alerts = [
        {"objectId": "ZTF1", "candidate": cand(0), "cutoutScience": cut(X[0, 0]), "cutoutTemplate": cut(X[0, 1]),
         "cutoutDifference": cut(X[0, 2])},
        {"objectId": "ZTF2", "candidate": cand(1, -999.0), "cutoutScience": cut(X[1, 0][:40, :50]),   # edge
         "cutoutTemplate": {"fileName": "bad", "stampData": b"\x1f\x8bnot gzip"},                 # corrupt
         "cutoutDifference": cut(X[1, 2])},
        {"objectId": "ZTF3", "candidate": cand(2), "cutoutScience": None, "cutoutTemplate": cut(X[2, 1]),
         "cutoutDifference": cut(X[2, 2])},
    ]
    path = tmp_path / "alerts.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(_SCHEMA), alerts)
    stamps, md = read_ztf_stamps(path)
    assert stamps.shape == (3, 3, 63, 63)
    np.testing.assert_allclose(stamps[0], X[0], rtol=0, atol=0)
    assert md["flag"].iloc[0] == "ok"
    assert "cutoutScience:padded" in md["flag"].iloc[1] and "cutoutTemplate:corrupt_cutout" in md["flag"].iloc[1]
    assert np.isnan(stamps[1, 1]).all() and np.isnan(stamps[1, 0]).sum() == 63 * 63 - 40 * 50
    assert "cutoutScience:missing_cutout" in md["flag"].iloc[2]
    assert np.isnan(md["dist_nearest_arcsec"].iloc[1]) and md["dist_nearest_arcsec"].iloc[0] == pytest.approx(2.5)
    assert md["fwhm_arcsec"].iloc[0] == pytest.approx(2.02, abs=1e-6)
    assert md["sgscore_nearest"].iloc[0] == pytest.approx(0.98, abs=1e-6)        # float32 in the packet
    assert md["mag_nearest"].iloc[0] == pytest.approx(18.25, abs=1e-6)
    assert md[["sgscore_nearest", "mag_nearest"]].iloc[1].isna().all()          # -999: no PS1 counterpart
    assert md[["gmag_nearest", "imag_nearest"]].iloc[0].tolist() == pytest.approx([18.75, 18.0], abs=1e-6)
    assert np.isnan(md["zmag_nearest"].iloc[0])                                # null (schema default)
    assert md[["ndethist", "ncovhist"]].iloc[0].tolist() == [4, 250]
    assert md[["gmag_nearest", "imag_nearest", "ndethist", "ncovhist"]].iloc[1].isna().all()   # -999, -1, null
    # the batch is classified; the alert with a corrupt reference is unusable, the others are not
    p, flags = fitted.predict_proba(stamps, md, return_flags=True)
    assert np.isfinite(p[0]).all() and np.isnan(p[1]).all() and flags[1] == "out_of_domain"
    (tmp_path / "bad.avro").write_bytes(b"nonsense")
    with pytest.raises(ValueError, match="not a readable"):
        read_ztf_stamps(tmp_path / "bad.avro")
    with pytest.raises(FileNotFoundError):
        read_ztf_stamps(tmp_path / "missing.avro")


def test_writer_roundtrip_and_lightcurve_reader(tmp_path, sim):
    from agnlab.lightcurves import read_ztf_alerts

    X, meta, _ = sim
    path = write_ztf_stamp_alerts(tmp_path / "sim.avro", X[:5], meta.iloc[:5])
    stamps, md = read_ztf_stamps(path)
    np.testing.assert_allclose(stamps, X[:5], rtol=0, atol=0, equal_nan=True)
    for c in STAMP_METADATA_COLUMNS:
        np.testing.assert_allclose(md[c], meta[c].iloc[:5], rtol=1e-5, atol=1e-4)
    lc = read_ztf_alerts(path)                                    # the same file feeds the light-curve reader
    assert len(lc) == 5 and lc["detected"].all()


# ---------------------------------------------------------------- combination rule
def test_combination_rule():
    ps = pd.DataFrame([[0.5, 0.2, 0.1, 0.15, 0.05], [0.1, 0.1, 0.1, 0.6, 0.1]], columns=STAMP_CLASSES)
    lc = pd.DataFrame({"QSO": [0.9, np.nan], "SNIa": [0.05, np.nan], "RRL": [0.05, np.nan]})
    first = combine_stamp_lightcurve(ps, lc, 1)
    np.testing.assert_allclose(first[list(STAMP_CLASSES)].to_numpy(), ps.to_numpy(), atol=1e-9)
    late = combine_stamp_lightcurve(ps, lc, [200, 200])
    np.testing.assert_allclose(late[list(STAMP_CLASSES)].sum(axis=1), 1.0, atol=1e-9)
    assert late["AGN"].iloc[0] > 0.85 and late["asteroid"].iloc[0] < 0.01
    # no light curve yet (NaN): the stamp alone, whatever n
    np.testing.assert_allclose(late.loc[1, list(STAMP_CLASSES)].to_numpy(float), ps.iloc[1].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(stamp_weight([1, 6, 11], n_half=5.0), [1.0, 0.5, 1 / 3], atol=1e-12)
    # the weight falls monotonically: AGN probability grows with the number of detections
    agn = [combine_stamp_lightcurve(ps.iloc[:1], lc.iloc[:1], n)["AGN"].iloc[0] for n in (1, 3, 10, 50)]
    assert np.all(np.diff(agn) > 0)
    with pytest.raises(ValueError, match="unknown class"):
        combine_stamp_lightcurve(ps, lc.rename(columns={"QSO": "Quasar"}), 2)
    with pytest.raises(ValueError, match="n_detections"):
        combine_stamp_lightcurve(ps, lc, 0)


# ---------------------------------------------------------------- CLI and demo
def _cli(argv):
    from agnlab.cli import build_parser
    from agnlab.cli_common import check_outputs

    args = build_parser().parse_args(["lightcurves", *argv])

    check_outputs(args)
    return args.func(args)


def test_cli_simulate_train_classify(tmp_path):
    alerts, labels = tmp_path / "a.avro", tmp_path / "labels.csv"
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    assert _cli(["stamps", "simulate", "--out", str(alerts), "--labels-out", str(labels), "--n-per-class", "3",
                 "--no-progress"]) == 0
    assert _cli(["stamps", "train", str(alerts), "--labels", str(labels), "--out", str(model), "--max-epochs", "1",
                 "--n-networks", "2", "--no-progress"]) == 0
    assert _cli(["stamps", "classify", str(model), str(alerts), "--out", str(out), "--no-progress"]) == 0
    table = pd.read_csv(out)
    assert len(table) == 15 and set(STAMP_CLASSES) <= set(table.columns)
    np.testing.assert_allclose(table[list(STAMP_CLASSES)].sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="already exists"):
        _cli(["stamps", "classify", str(model), str(alerts), "--out", str(out)])
