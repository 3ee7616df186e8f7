"""The explore report in a real browser: headless Chromium loads it, every plot renders, no console errors.

A copy of the report page gets a small probe script: it records console errors,
uncaught exceptions and failed resource loads from the first line on, and after
loading checks that every plotly figure drew its SVG layers and every PNG figure
decoded. Chromium (Debian's ``chromium``; ``.ci/run`` installs it when missing)
prints the probe's verdict on its log. The screenshot is kept in
``test-artifacts/explore-report.png`` (or ``$AGNLAB_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agnlab.explore import Explorer, mock_table

pytest.importorskip("plotly")

ARTIFACTS = Path(os.environ.get("AGNLAB_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))

_PROBE = """<script>
(function () {
  var errors = [];
  var origError = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    origError.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var what = e.target && (e.target.src || e.target.href);
    errors.push(e.message ? "uncaught: " + e.message : "failed to load: " + what);
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection: " + e.reason); });
  window.addEventListener("load", function () {
    setTimeout(function () {
      var plots = Array.prototype.map.call(document.querySelectorAll(".js-plotly-plot"), function (d) {
        return {id: d.id, svg: d.querySelectorAll(".main-svg").length,
                points: d.querySelectorAll(".scatterlayer .point, canvas.gl-canvas").length};
      });
      var images = Array.prototype.map.call(document.images, function (im) {
        return {alt: im.alt, ok: im.complete && im.naturalWidth > 0, width: im.naturalWidth};
      });
      console.log("AGNLAB-PROBE " + JSON.stringify({errors: errors, plots: plots, images: images}));
    }, 3000);
  });
})();
</script>"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing in CI: .ci/run installs Debian's chromium package")
    pytest.skip("headless Chromium not installed (Debian package 'chromium'; .ci/run installs it)")


def _probe(chromium, page: Path, screenshot: Path, profile: Path) -> dict:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000",
           "--window-size=1280,2400", f"--screenshot={screenshot}", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    found = re.findall(r'"AGNLAB-PROBE (\{.*\})", source:', proc.stderr)
    assert found, f"the probe never reported (exit {proc.returncode}); Chromium said:\n{proc.stderr[-3000:]}"
    return json.loads(found[-1].encode().decode("unicode_escape"))


def test_report_renders_in_headless_chromium(tmp_path):
    chromium = _chromium()
    table, _ = mock_table(400, seed=3)
    ex = Explorer(survey_column="survey", control=["redshift"], clustering="kmeans", n_clusters=6,
                  random_state=0).fit(table)
    index = ex.report(tmp_path / "report", interactive=True)
    page = index.with_name("probe.html")
    text = index.read_text(encoding="utf-8")
    assert "<head>" in text
    page.write_text(text.replace("<head>", "<head>" + _PROBE, 1), encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "explore-report.png"
    result = _probe(chromium, page, shot, tmp_path / "profile")

    assert result["errors"] == [], result["errors"]
    assert len(result["plots"]) >= 1, "no interactive plot found"
    for plot in result["plots"]:
        assert plot["svg"] >= 1 and plot["points"] >= 1, f"plot {plot['id']} did not render: {plot}"
    assert len(result["images"]) >= 2, result["images"]
    assert all(im["ok"] for im in result["images"]), [im for im in result["images"] if not im["ok"]]
    assert shot.stat().st_size > 10_000  # a blank 1280 x 2400 PNG is ~ 8 kB


def test_probe_catches_a_broken_page(tmp_path):
    """The probe itself can fail: a script error and a missing image are reported."""
    chromium = _chromium()
    page = tmp_path / "broken.html"
    page.write_text("<html><head>" + _PROBE + "</head><body><img alt='gone' src='missing.png'>"
                    "<script>undefinedFunction();</script></body></html>", encoding="utf-8")
    result = _probe(chromium, page, tmp_path / "shot.png", tmp_path / "profile")
    assert any("undefinedFunction" in e for e in result["errors"]), result
    assert not result["images"][0]["ok"]
