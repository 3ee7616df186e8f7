import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from agnlab.report import Report


def test_report_writes_html_and_metrics(tmp_path):
    rep = Report("t")
    sec = rep.section("emulate", "Emulate", intro="intro <b>text</b> & more")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    sec.figure(fig, "a figure").table([{"a": 1.23456, "b": "x"}], "tab").metrics(
        {"err": np.float64(0.5), "nan": float("nan")})
    index = rep.write(tmp_path / "out")
    html = index.read_text()
    assert "data:image/png;base64," in html and "intro &lt;b&gt;text&lt;/b&gt; &amp; more" in html
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["sections"]["emulate"] == {"err": 0.5, "nan": None}
    with pytest.raises(ValueError, match="already has a section"):
        rep.section("emulate", "again")
