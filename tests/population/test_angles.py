"""Tracks as continuous curves over the viewing angle: subdivision of the sampled angles (angle_substeps)."""

from __future__ import annotations

import numpy as np
import pytest

from agnlab.population import ANGLE_SUBSTEPS, PopulationFit, angle_weights, interpolate_points, subdivide_angles


def test_subdivide_angles_and_interpolate_points():
    fine, i0, fr = subdivide_angles([0.0, 30.0, 90.0], 3)
    np.testing.assert_allclose(fine, [0, 10, 20, 30, 50, 70, 90], rtol=0, atol=1e-12)
    v = np.array([[[0.0, 1.0], [3.0, 1.0], [3.0, 7.0]]])            # one track, 3 points, 2 colours
    out = interpolate_points(v, i0, fr)
    np.testing.assert_allclose(out[0, :, 0], [0, 1, 2, 3, 3, 3, 3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[0, :, 1], [1, 1, 1, 1, 3, 5, 7], rtol=0, atol=1e-12)
    # the sampled points are kept exactly; float32 stays float32
    assert interpolate_points(v.astype(np.float32), i0, fr).dtype == np.float32
    np.testing.assert_array_equal(out[:, [0, 3, 6]], v)
    # 1 substep: unchanged
    f1, j0, g1 = subdivide_angles([0.0, 30.0, 90.0], 1)
    np.testing.assert_array_equal(f1, [0, 30, 90])
    np.testing.assert_array_equal(interpolate_points(v, j0, g1), v)
    with pytest.raises(ValueError, match="angle_substeps"):
        subdivide_angles([0.0, 90.0], 0)
    assert isinstance(ANGLE_SUBSTEPS, int) and ANGLE_SUBSTEPS >= 1


def _line_tracks(centers, angles, length=0.8):
    """Tracks that are straight lines in colour space, linear in the viewing angle (so linear interpolation
    between sampled angles is exact)."""
    t = (np.asarray(angles) / 90.0)[None, :, None]
    return centers[:, None, :] + t * np.array([length, 0.5 * length])


def test_continuous_inclinations_are_modelled(rng):
    centers = np.column_stack([rng.uniform(0.0, 2.0, 40), rng.uniform(1.0, 4.0, 40)])
    angles = np.linspace(0, 90, 4)                                   # a coarse library: 30 deg steps
    lib = _line_tracks(centers, angles)
    # sources at continuous isotropic inclinations (cos i uniform) along two true tracks
    n = 60_000
    ti = rng.choice([5, 17], n, p=[0.6, 0.4])
    inc = np.rad2deg(np.arccos(rng.uniform(0.0, 1.0, n)))
    obs = centers[ti] + (inc / 90.0)[:, None] * np.array([0.8, 0.4]) + rng.normal(0, 0.03, (n, 2))
    kw = dict(bins=30, n_alphas=5, cv=2, l1_ratios=(1.0,), color_error=0.03, n_gof_boot=10, random_state=0,
              color_range=((-0.3, 3.1), (0.7, 4.7)))                # every track inside the histogram
    coarse = PopulationFit(angle_substeps=1, **kw).fit(lib, obs, angles_deg=angles)
    fine = PopulationFit(angle_substeps=10, **kw).fit(lib, obs, angles_deg=angles)   # 3 deg steps: exact here
    assert coarse.training_record_["angles"] == {"n_sampled": 4, "substeps": 1, "n_points": 4}
    assert fine.training_record_["angles"] == {"n_sampled": 4, "substeps": 10, "n_points": 31}
    # sampled points alone are clumps the data do not show: rejected; the curves are accepted
    assert coarse.goodness_of_fit_["p_value"] < 1e-3
    assert fine.goodness_of_fit_["p_value"] > 0.01
    assert fine.goodness_of_fit_["cash"] < coarse.goodness_of_fit_["cash"] / 5
    # the weight lands on the two true tracks (>= 95 %, shares within 0.03)
    v = fine.weight_fractions()
    assert v[[5, 17]].sum() >= 0.95
    np.testing.assert_allclose(v[[5, 17]] / v[[5, 17]].sum(), [0.6, 0.4], atol=0.03)
    # the default subdivides too, and without angles nothing is subdivided (points need not be ordered)
    default = PopulationFit(**kw).fit(lib, obs, angles_deg=angles)
    assert default.training_record_["angles"]["substeps"] == ANGLE_SUBSTEPS
    if ANGLE_SUBSTEPS > 1:
        assert default.goodness_of_fit_["cash"] < coarse.goodness_of_fit_["cash"]
    plain = PopulationFit(**kw).fit(lib, obs)
    assert plain.training_record_["angles"]["substeps"] == 1


def test_angle_substeps_with_track_w2_and_bad_input(rng):
    centers = np.column_stack([rng.uniform(0.6, 1.6, 20), rng.uniform(2.0, 3.5, 20)])
    angles = np.linspace(0, 90, 5)
    lib = _line_tracks(centers, angles, length=0.4)
    obs = lib[[2, 9]].reshape(-1, 2)[rng.integers(0, 10, 20_000)] + rng.normal(0, 0.05, (20_000, 2))
    w2 = np.full(lib.shape[:2], 14.0) + np.linspace(0, 1, 5)[None, :]
    kw = dict(bins=20, n_alphas=3, cv=2, color_error=0.05, n_gof_boot=0, selection="default",
              color_range=((0.3, 2.3), (1.7, 4.0)))
    fit = PopulationFit(**kw).fit(lib, obs, angles_deg=angles, track_w2=w2,
                                  observed_w2=rng.uniform(14.0, 15.0, obs.shape[0]))
    assert fit.training_record_["angles"]["n_points"] == (angles.size - 1) * ANGLE_SUBSTEPS + 1
    for bad in (0, -2, 1.5, True, "3"):
        with pytest.raises(ValueError, match="angle_substeps"):
            PopulationFit(angle_substeps=bad, color_error=0.05).fit(lib, obs, angles_deg=angles)
    with pytest.raises(ValueError, match="angles_deg"):
        PopulationFit(color_error=0.05).fit(lib, obs, angles_deg=angles[:-1])
    assert angle_weights(angles).size == 5
