"""A seeded mock multi-wavelength table with planted groups, a trend, survey offsets, gaps, limits and outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..validation import check_random_state

__all__ = ["mock_table"]

_BANDS = ("xray_2keV", "uv_1450A", "u", "g", "r", "i", "z", "y", "J", "H", "K", "W1", "W2", "W3", "W4",
          "radio_1p4GHz", "hbeta_fwhm", "oiii_ew", "feii_ratio", "lum_5100A")


def _names(n):
    if n <= len(_BANDS):
        return [f"logf_{b}" for b in _BANDS[:n]]
    return [f"logf_{b}" for b in _BANDS] + [f"feature_{i:02d}" for i in range(n - len(_BANDS))]


def mock_table(n_rows: int = 2000, *, n_groups: int = 6, n_features: int = 20, missing_fraction: float = 0.10,
               upper_limit_fraction: float = 0.05, outlier_fraction: float = 0.01, trend_strength: float = 1.5,
               n_surveys: int = 2, survey_offset: float = 0.5, separation: float = 4.0, seed=0, structure_seed=None):
    """Mock table of log fluxes/line properties with known structure (all values are log10 quantities).

    Groups: ``n_groups`` Gaussian groups with means ``separation`` sigma apart on
    average. Trend: every feature drifts with ``redshift`` (slope
    ``trend_strength`` per unit redshift times a random sign/size per feature),
    independently of the group. Surveys: rows come from ``n_surveys`` surveys,
    each with a constant calibration offset per feature. Missing values: a
    fraction ``missing_fraction`` of the cells is NaN (at random). Upper limits:
    in every feature the faintest ``upper_limit_fraction`` of the values become
    limits (the value is replaced by a limit above it and the ``<column>_ul``
    flag is True). Outliers: ``outlier_fraction`` of the rows get 4 features
    shifted by 6-9 sigma.

    ``structure_seed`` fixes the structure (group means and widths, trend slopes,
    zero points, survey offsets) apart from the rows (``seed``), so that
    tables with different ``seed`` and one ``structure_seed`` are independent
    draws from the same population, e.g. the files of a partitioned dataset.
    By default both come from ``seed``.

    Returns
    -------
    table : DataFrame
        ``object_id``, ``survey``, ``redshift``, the features and their ``_ul``
        flags.
    truth : DataFrame
        ``object_id``, ``group`` (int; planted outliers keep their parent
        group), ``outlier`` (bool).

    Examples
    --------
    >>> table, truth = mock_table(100, seed=1)
    >>> table.shape[0], int(truth["outlier"].sum())
    (100, 1)
    """
    rng = check_random_state(seed)
    srng = rng if structure_seed is None else check_random_state(structure_seed)
    n_rows, n_groups, n_features = int(n_rows), int(n_groups), int(n_features)
    if n_rows < n_groups or n_groups < 1 or n_features < 2:
        raise ValueError(f"mock_table: need n_rows >= n_groups >= 1 and n_features >= 2, got {n_rows}, "
                         f"{n_groups}, {n_features}")
    for name, v in (("missing_fraction", missing_fraction), ("upper_limit_fraction", upper_limit_fraction),
                    ("outlier_fraction", outlier_fraction)):
        if not 0.0 <= float(v) < 0.5:
            raise ValueError(f"mock_table: {name} must lie in [0, 0.5), got {v!r}")
    names = _names(n_features)
    # group means: random directions scaled so that typical pair distance ~ separation
    means = srng.normal(0.0, separation / np.sqrt(2.0), size=(n_groups, n_features))
    widths = srng.uniform(0.7, 1.3, size=(n_groups, n_features))
    group = rng.integers(0, n_groups, size=n_rows)
    X = means[group] + widths[group] * rng.normal(size=(n_rows, n_features))
    # planted outliers: 4 features shifted by 6-9 sigma
    n_out = int(round(outlier_fraction * n_rows))
    outlier = np.zeros(n_rows, dtype=bool)
    if n_out:
        idx = rng.choice(n_rows, n_out, replace=False)
        outlier[idx] = True
        for i in idx:
            cols = rng.choice(n_features, 4, replace=False)
            X[i, cols] += rng.choice([-1.0, 1.0], 4) * rng.uniform(6.0, 9.0, 4) * widths[group[i], cols]
    # known trend with redshift (independent of the group)
    redshift = rng.uniform(0.1, 3.0, size=n_rows)
    slopes = trend_strength * srng.uniform(0.5, 1.5, n_features) * srng.choice([-1.0, 1.0], n_features)
    X += (redshift - redshift.mean())[:, None] * slopes[None, :]
    # physical-ish zero points and survey calibration offsets
    X += srng.uniform(-2.0, 2.0, n_features)[None, :]
    survey = rng.integers(0, max(1, int(n_surveys)), size=n_rows)
    offsets = survey_offset * srng.normal(size=(max(1, int(n_surveys)), n_features))
    offsets[0] = 0.0
    X += offsets[survey]
    # upper limits: the faintest values of every feature become limits
    limits = np.zeros_like(X, dtype=bool)
    if upper_limit_fraction > 0:
        for j in range(n_features):
            thr = np.quantile(X[:, j], upper_limit_fraction)
            low = X[:, j] <= thr
            limits[low, j] = True
            X[low, j] = thr + rng.uniform(0.0, 0.3, int(low.sum()))
    # missing at random (never a whole row)
    missing = rng.random(X.shape) < missing_fraction
    missing[missing.all(axis=1), 0] = False
    X[missing] = np.nan
    limits &= ~missing
    ids = np.array([f"obj{i:06d}" for i in range(n_rows)])
    cols = {"object_id": ids, "survey": np.array([f"survey_{chr(65 + s)}" for s in survey]),
            "redshift": redshift}
    for j, n in enumerate(names):
        cols[n] = X[:, j]
    for j, n in enumerate(names):
        cols[n + "_ul"] = limits[:, j]
    table = pd.DataFrame(cols)
    truth = pd.DataFrame({"object_id": ids, "group": group, "outlier": outlier})
    return table, truth
