"""Light curves: ZTF/LSST-like simulation, features, balanced hierarchical classification, anomalies.

Light curves travel as a long table ``object_id, mjd, band, mag, mag_err[, detected]`` (pandas or
pyarrow; ``detected=False`` marks an upper limit, ``mag`` then being the limit); labels as a table
``object_id, class``.

>>> from agnlab.lightcurves import simulate, extract_features
>>> lc, labels = simulate(2, classes=["RRL", "QSO"], seed=0)
>>> feats = extract_features(lc)
>>> feats.shape[0]
4
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "BAND_WAVE_UM": "._classes",
    "CLASSES": "._classes",
    "HIERARCHY": "._classes",
    "SURVEY_BANDS": "._classes",
    "class_group": "._classes",
    "CHANGING_STATE_KINDS": "._simulate",
    "LIGHTCURVE_COLUMNS": "._simulate",
    "simulate": "._simulate",
    "clean_lightcurves": "._validate",
    "extract_features": "._features",
    "feature_names": "._features",
    "extract_features_dask": "._dask",
    "STAMP_CLASSES": "._stamps",
    "STAMP_METADATA_COLUMNS": "._stamps",
    "galactic_ecliptic_latitudes": "._stamps",
    "simulate_stamps": "._stamps",
    "StampClassifier": "._stamp_net",
    "prepare_stamps": "._stamp_net",
    "read_ztf_stamps": "._stamp_io",
    "write_ztf_stamp_alerts": "._stamp_io",
    "LC_TO_STAMP": "._stamp_combine",
    "combine_stamp_lightcurve": "._stamp_combine",
    "stamp_weight": "._stamp_combine",
    "classify_dask": "._dask",
    "group_by_object": "._dask",
    "probability_table": "._dask",
    "HierarchicalClassifier": "._hierarchical",
    "export_forest": "._forest",
    "predict_forest": "._forest",
    "drw": "._generators",
    "villar_flux": "._generators",
    "VRAEAnomalyDetector": "._vrae",
    "IF_INPUTS": "._vrae",
    "IF_NETWORKS": "._vrae",
    "SCHEDULES": "._vrae",
    "R_MODES": "._vrae",
    "IF_STATISTICS": "._vrae_stats",
    "FLARE_WINDOWS_DAYS": "._vrae_stats",
    "curve_statistics": "._vrae_stats",
    "fit_r_calibration": "._vrae",
    "r_calibrated": "._vrae",
    "reconstruction_terms": "._vrae",
    "variability_scale": "._vrae",
    "classification_report": "._metrics",
    "confusion_matrix": "._metrics",
    "read_lightcurves": "._readers",
    "read_ztf_alerts": "._readers",
    "read_ztf_dr": "._readers",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
