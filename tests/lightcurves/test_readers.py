import numpy as np
import pandas as pd
import pytest

from agnlab.lightcurves import extract_features, read_lightcurves, read_ztf_alerts, read_ztf_dr

_CAND = {"type": "record", "name": "candidate", "fields": [
    {"name": "jd", "type": "double"}, {"name": "fid", "type": "int"},
    {"name": "magpsf", "type": ["null", "float"], "default": None},
    {"name": "sigmapsf", "type": ["null", "float"], "default": None},
    {"name": "diffmaglim", "type": ["null", "float"], "default": None}]}
_SCHEMA = {"type": "record", "name": "alert", "fields": [
    {"name": "objectId", "type": "string"}, {"name": "candidate", "type": _CAND},
    {"name": "prv_candidates", "type": ["null", {"type": "array", "items": "candidate"}], "default": None}]}


def _cand(jd, fid, mag=None, err=None, lim=20.5):
    return {"jd": jd, "fid": fid, "magpsf": mag, "sigmapsf": err, "diffmaglim": lim}


def test_ztf_alert_avro(tmp_path):
    import fastavro

    alerts = [
        {"objectId": "ZTF21a", "candidate": _cand(2459000.7, 1, 18.5, 0.05),
         "prv_candidates": [_cand(2458990.7, 1), _cand(2458995.7, 2, 18.9, 0.06)]},
        {"objectId": "ZTF21a", "candidate": _cand(2459003.7, 2, 18.2, 0.04),
         "prv_candidates": [_cand(2458990.7, 1), _cand(2458995.7, 2, 18.9, 0.06), _cand(2459000.7, 1, 18.5, 0.05)]},
    ]
    path = tmp_path / "alerts.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(_SCHEMA), alerts)
    lc = read_ztf_alerts(path)
    assert len(lc) == 4                                          # duplicates across alerts merged
    ul = lc.loc[~lc["detected"]]
    assert len(ul) == 1 and ul["mag"].iloc[0] == pytest.approx(20.5, abs=1e-5) and np.isnan(ul["mag_err"].iloc[0])
    assert lc["mjd"].min() == pytest.approx(58990.2, abs=1e-6)
    assert set(lc["band"]) == {"g", "r"}
    with pytest.raises(ValueError, match="not a readable"):
        (tmp_path / "bad.avro").write_bytes(b"nonsense")
        read_ztf_alerts(tmp_path / "bad.avro")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_ztf_dr_catflags(tmp_path, suffix):
    rng = np.random.default_rng(0)
    n = 30
    raw = pd.DataFrame({"oid": np.repeat([111, 222], n), "hmjd": np.tile(np.arange(n) * 3.0 + 58300, 2),
                        "filtercode": np.tile(["zg", "zr"], n), "mag": 18 + rng.normal(0, 0.1, 2 * n),
                        "magerr": 0.05, "catflags": 0})
    raw.loc[[3, 4, 40], "catflags"] = [32768, 1, 2]
    path = tmp_path / f"dr{suffix}"
    raw.to_parquet(path) if suffix == ".parquet" else raw.to_csv(path, index=False)
    lc = read_ztf_dr(path)
    assert len(lc) == 2 * n - 3 and lc.attrs["n_flagged_dropped"] == 3
    assert lc.attrs["flagged_per_object"] == {"111": 2, "222": 1}
    feats = extract_features(lc, villar=False)
    assert (feats["flag"] == "ok").all() and len(feats) == 2


def test_generic_table_with_column_mapping(tmp_path):
    df = pd.DataFrame({"id": ["a", "a", "a"], "time": [1.0, 2.0, 3.0], "filter": ["g", "g", "g"],
                       "m": [18.0, 18.1, 18.2], "e": [0.1, 0.1, 0.1]})
    df.to_csv(tmp_path / "t.csv", index=False)
    lc = read_lightcurves(tmp_path / "t.csv", columns={"id": "object_id", "time": "mjd", "filter": "band",
                                                       "m": "mag", "e": "mag_err"})
    assert list(lc.columns) == ["object_id", "mjd", "band", "mag", "mag_err", "detected"] and lc["detected"].all()
    with pytest.raises(ValueError, match="missing column"):
        read_lightcurves(df)
