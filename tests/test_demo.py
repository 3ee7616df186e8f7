"""`agnlab demo --quick` runs every workflow on built-in data and writes the report."""

import json

from agnlab.cli import main
from agnlab.registry import WORKFLOWS


def test_quick_demo_writes_report_with_every_section(tmp_path):
    out = tmp_path / "report"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    metrics = json.loads((out / "metrics.json").read_text())["sections"]
    expected = [wf.name for wf in WORKFLOWS if wf.demo is not None]
    assert expected, "no workflow provides a demo"
    for name in expected:
        assert f'id="{name}"' in html
        assert metrics[name], f"section {name} reports no metrics"
    assert html.count("data:image/png;base64,") >= len(expected)
    # sections that a workflow adds besides its own (lightcurves: the alert-stamp classifier)
    assert 'id="stamps"' in html and 0.0 <= metrics["stamps"]["accuracy"] <= 1.0
