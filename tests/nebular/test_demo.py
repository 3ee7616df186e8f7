"""The nebular section of ``agnlab demo`` (quick mode)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pyneb")


def test_run_demo_quick(tmp_path, seed):
    from agnlab.nebular import run_demo
    from agnlab.report import Report

    report = Report("test")
    run_demo(report, seed=seed, quick=True)
    index = report.write(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["sections"]["nebular"]
    assert index.exists()
    assert metrics["n_no_data_spaxels"] > 0
    assert metrics["fraction_spaxels_ok"] > 0.7
    assert metrics["te_median_abs_error_k"] < 800.0
    assert metrics["log_ne_median_abs_error_dex"] < 0.25
    assert metrics["solution_set_case1_n_forward_calls"] > 0
    # the Te/Ne posterior (emcee over temden_forward's table) recovers the truth (11,000 K, log Ne 3.3)
    assert metrics["tene_n_forward_calls"] > 0
    assert abs(metrics["tene_te_k_median"] - 11000.0) < 3 * max(metrics["tene_te_k_plus"], 100.0)
