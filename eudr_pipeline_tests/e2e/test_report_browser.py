"""The job report in a real browser: on the live deployment a job of demo plots runs
through the sensor and Dagster, its HTML report is fetched from the API and opened in
headless Chromium, and the screenshot shows the chart, the table and the maps drawn
(their colours as pixels), with the table's rows put in by the report's own script.

Chromium: Debian's package (scripts/ensure-chromium.sh, which `make test` runs)."""

from __future__ import annotations

import copy
import html as html_lib
import io
import json
import math
import re
import shutil
import subprocess

import pytest
from PIL import Image

from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.reports import DRY_RUN_BANNER, PDF_FRONT_PAGES, PLOTS_PER_PDF_PAGE, RISK_STYLES

XSS = "<script>alert(1)</script>"
WINDOW = (1400, 3000)
# the demo plots of the job: High, Medium and Low ones, a point, and one outside the layers (failed)
DEMO_IDS = ("demo-01", "demo-02", "demo-03", "demo-05", "demo-06", "demo-07", "demo-08", "demo-10")
# measures where the parts of the page are once it has loaded (added to a copy of the report only)
MEASURE = """<script>window.addEventListener("load", function () {
  function box(sel) { var e = document.querySelector(sel); if (!e) { return null; }
    var b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom].map(Math.round); }
  document.body.dataset.rects = JSON.stringify({chart: box("svg.chart"), table: box("#plot-table"),
    thumb: box("td.map img"), overview: box(".overview img")});
});</script>"""


def chromium() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        pytest.fail("headless Chromium is not installed: run scripts/ensure-chromium.sh (make test does)")
    return found


def run_chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           "--force-device-scale-factor=1", "--force-color-profile=srgb", f"--user-data-dir={tmp_path / 'profile'}",
           f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def pixels_of(img: Image.Image, box, colour: str) -> int:
    """How many pixels of ``img`` inside ``box`` (left, top, right, bottom) are exactly ``colour``."""
    crop = img.crop(tuple(box)).convert("RGB")
    return dict((c, n) for n, c in crop.getcolors(crop.width * crop.height)).get(rgb(colour), 0)


def colours_in(img: Image.Image, box) -> int:
    crop = img.crop(tuple(box)).convert("RGB")
    return len(crop.getcolors(crop.width * crop.height))


@pytest.fixture(scope="module")
def report_job(live):
    api = live.client("alice", "alice-pw")
    feats = [copy.deepcopy(f) for f in demo_plots()["features"] if f["properties"]["plot_id"] in DEMO_IDS]
    next(f for f in feats if f["properties"]["plot_id"] == "demo-05")["properties"]["plot_name"] = XSS
    plots = api.request("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": feats})
    job = api.request("POST", "/jobs/make_job", {"job_name": "Report check", "plot_ids": [p["plot_id"] for p in plots],
                                                 "checks": [{"type": "eudr", "config": {"commodity": "cocoa"}}]})
    done = api.wait_job(job["job_id"], timeout=600)  # a hang guard
    return api, done


def test_report_draws_chart_table_and_maps_in_chromium(report_job, tmp_path):
    api, job = report_job
    page = api.request("GET", f"/jobs/{job['job_id']}/report", raw=True).decode()
    assert "Report check" in page and DRY_RUN_BANNER not in page
    path = tmp_path / "report.html"
    path.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")

    dom = run_chromium(tmp_path, "--dump-dom", path.as_uri()).stdout
    n = len(job["plots"])
    assert f'data-table-ready="{n}"' in dom
    body = re.search(r'<tbody id="plot-rows">(.*?)</tbody>', dom, re.S).group(1)
    assert body.count("<tr data-risk=") == n  # the rows, drawn by the report's script
    assert html_lib.escape(XSS, quote=False) in body and XSS not in dom  # a plot's name stays text
    rects = json.loads(html_lib.unescape(re.search(r'data-rects="([^"]*)"', dom).group(1)))

    shot = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={shot}", path.as_uri())
    img = Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")
    assert img.size == WINDOW
    # not blank: ink on the page and many colours
    grey = img.convert("L")
    assert sum(grey.histogram()[:200]) > 0.02 * WINDOW[0] * WINDOW[1] and colours_in(img, (0, 0) + WINDOW) > 200

    levels = {p["analysis"].get("risk_level") if p["status"] == "done" else "failed" for p in job["plots"]}
    assert {"High", "failed"} <= levels, levels
    for level in levels:  # the chart's bars and the table's risk badges, in the level's colour
        colour = RISK_STYLES[level].colour
        assert pixels_of(img, rects["chart"], colour) > 300, (level, "chart")
        assert pixels_of(img, rects["table"], colour) > 20, (level, "table")
    # the maps: a thumbnail in the table and the overview, each drawn (not one flat colour)
    assert rects["thumb"] is not None and colours_in(img, rects["thumb"]) > 3
    assert rects["overview"] is not None and colours_in(img, rects["overview"]) > 3


def test_report_pdf_of_the_live_job(report_job):
    from pypdf import PdfReader

    api, job = report_job
    pdf = api.request("GET", f"/jobs/{job['job_id']}/report?format=pdf", raw=True)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == PDF_FRONT_PAGES + math.ceil(len(job["plots"]) / PLOTS_PER_PDF_PAGE)
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert all(p["plot_id"] in text for p in job["plots"]) and XSS in text
