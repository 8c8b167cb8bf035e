"""The job report (service/reports.py): its context, escaping of user text, the dry-run
marker, a self-contained HTML file, the PDF's pages and text, the cache and its key, and
the route (owner only). Built on synthetic response objects (``synthetic_response``),
which bench-style measurements reuse with 10,000 plots."""

from __future__ import annotations

import dataclasses
import io
import math
import re
import uuid

import pytest
from PIL import Image

from eudr_pipeline.config import Settings
from eudr_pipeline.core.analysis import AnalysisOptions
from eudr_pipeline.core.risk import RiskRule
from eudr_pipeline.service import reports
from eudr_pipeline.service.reports import JobImages

XSS = "<script>alert(1)</script>"
SOURCES = [{"layer": "jrc_gfc2020", "source_name": "jrc_gfc2020", "data_version": "V3"},
           {"layer": "hansen_gfc", "source_name": "hansen_gfc", "data_version": "v1.12"},
           {"layer": "jrc_tmf", "source_name": "jrc_tmf", "data_version": "v2024"},
           {"layer": "wdpa", "source_name": "wdpa", "data_version": "2025-01"},
           {"layer": "landmark", "source_name": "landmark", "data_version": "2024-11"}]
VERSION = "eudr-pipeline/0.1.0 " + " ".join(f"{s['layer']}/{s['data_version']}" for s in SOURCES)
RULE = RiskRule()
LOSS_OF = {"High": 2.5, "Medium": 0.7, "Low": 0.01}


def analysis(level: str, area: float = 10.0, rule: RiskRule = RULE) -> dict:
    loss = LOSS_OF[level]
    block = lambda kind, ha: {f"{kind}_overlap_summary": {f"{kind}_overlap": ha > 0, "total_overlap_area_ha": ha,  # noqa: E731
                                                          "total_overlap_percentage": 100 * ha / area},
                              f"{kind}_details": [], "sources": []}
    return {"analysisEnd": "2024-12-31", "analysis_end": "2024-12-31", "areaHa": area, "version": VERSION,
            "sources": SOURCES, "commodity": "cocoa", "checks": ["eudr"], "forest_area_2020": area * 0.8,
            "forest_percentage_2020": 80.0,
            "deforestation": {"total_yearly": {"2021": loss}, "total_yearly_jrc": {"2021": loss},
                              "total": loss * 1.1, "total_jrc": loss},
            "deforestation_percentage": 100 * loss / area, "logging_area": 0.25,
            "protected_areas": block("protected_area", 1.5 if level == "Medium" else 0.0),
            "indigenous_land": block("indigenous_land", 0.0),
            "risk_level": level, "risk_reason": f"{level}: {loss:.2f} ha of 2020 forest lost; {rule.describe()}",
            "canopy_threshold": 10}


def synthetic_response(n: int, *, dry_run: bool = False, names: dict[int, str] | None = None,
                       failed_every: int = 7) -> dict:
    """A response object (job_response.py's shape) of ``n`` plots: High/Medium/Low in turn,
    every ``failed_every``-th plot failed."""
    job_id = str(uuid.uuid4())
    plots = []
    for i in range(n):
        failed = failed_every and i % failed_every == failed_every - 1
        level = ("High", "Medium", "Low")[i % 3]
        plots.append({"plot_id": str(uuid.uuid4()), "plot_name": (names or {}).get(i, f"Plot {i + 1:05d}"),
                      "username": "alice", "country": "CI", "commodity": "cocoa", "area_ha": 10.0,
                      "status": "failed" if failed else "done",
                      "error": "no jrc_gfc2020 tile covers this plot" if failed else None,
                      "analysis": {} if failed else analysis(level)})
    return {"job_id": job_id, "job_name": "Q1 shipment", "username": "alice", "notes": None, "status": "done-with-errors",
            "created_at": "2025-03-01T09:00:00+00:00", "updated_at": "2025-03-01T09:05:00+00:00",
            "finished_at": "2025-03-01T09:05:00+00:00", "dry_run": dry_run, "token_cost": n, "harvest_date": None,
            "layer_versions": {s["layer"]: s["data_version"] for s in SOURCES}, "plots": plots}


def png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def write_maps(results_dir, resp: dict, *, thumbs: bool = True, full: bool = True, overview: bool = True,
               skip: int | None = None) -> None:
    """Maps as the renderer writes them (tiny): thumbs/, full maps, overview.png."""
    folder = results_dir / resp["job_id"] / "images"
    (folder / "thumbs").mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(resp["plots"]):
        if p["status"] != "done" or i == skip:
            continue
        if thumbs:
            (folder / "thumbs" / f"{p['plot_id']}.png").write_bytes(png((0, 158, 115)))
        if full:
            (folder / f"{p['plot_id']}.png").write_bytes(png((0, 158, 115), (400, 300)))
    if overview:
        (folder / "overview.png").write_bytes(png((0, 114, 178), (600, 400)))


OPTIONS = AnalysisOptions(canopy_threshold=10, risk_rule=RULE)


def html_of(resp: dict, results_dir) -> str:
    return reports.build_report(resp, results_dir, "html", options=OPTIONS).data.decode()


# ---------------------------------------------------------------------- context


def test_context_counts_rows_and_method(tmp_path):
    resp = synthetic_response(14)
    write_maps(tmp_path, resp, skip=0)
    images = JobImages.scan(tmp_path / resp["job_id"] / "images")
    ctx = reports.report_context(resp, OPTIONS, images, target="html")
    assert ctx["counts"] == {"High": 4, "Medium": 4, "Low": 4, "failed": 2}
    assert [b["count"] for b in ctx["chart"]["bars"]] == [4, 4, 4, 2]
    first, failed = ctx["rows"][0], ctx["rows"][6]
    assert first["risk"] == "High" and first["loss_h"] == pytest.approx(2.75) and first["loss_j"] == 2.5
    assert first["thumb"] is None  # plot 0 has no map: "map not available"
    assert ctx["rows"][1]["thumb"].startswith("data:image/png;base64,")
    assert failed["risk"] == "failed" and "no jrc_gfc2020 tile" in failed["error"] and failed["thumb"] is None
    assert ctx["rows"][1]["pa"] == 1.5 and ctx["rows"][1]["logging"] == 0.25
    # the reason without the rule in force (the method states it once)
    assert first["reason"] == "High: 2.50 ha of 2020 forest lost"
    m = ctx["method"]
    assert m["cutoff"] == "2020-12-31" and m["canopy_thresholds"] == [10]
    assert m["risk_rule"] == RULE.describe()
    assert {(l["layer"], l["version"]) for l in m["layers"]} == {(s["layer"], s["data_version"]) for s in SOURCES}
    assert ctx["job"]["versions"] == [VERSION] and ctx["job"]["owner"] == "alice"
    assert ctx["overview"].startswith("data:image/png;base64,")


def test_method_states_the_configured_rule_and_keeps_a_reason_from_another(tmp_path):
    resp = synthetic_response(3, failed_every=0)
    strict = AnalysisOptions(canopy_threshold=30, risk_rule=dataclasses.replace(RULE, high_loss_ha=0.2))
    ctx = reports.report_context(resp, strict, JobImages.scan(tmp_path), target="pdf")
    assert ctx["method"]["risk_rule"] == strict.risk_rule.describe() and "0.2 ha" in ctx["method"]["risk_rule"]
    assert ctx["rows"][0]["reason"].endswith(RULE.describe())  # analysed under the default rule: kept whole
    html = reports.render_html(reports.report_context(resp, strict, JobImages.scan(tmp_path)))
    assert strict.risk_rule.describe().replace(">", "&gt;") in html


def test_settings_risk_rule_is_the_services(tmp_path):
    settings = Settings(data_dir=tmp_path, risk_high_loss_ha=3.0)
    resp = synthetic_response(2)
    html = reports.build_report(resp, tmp_path, "html", options=settings.analysis_options()).data.decode()
    assert "High if loss &gt;= 3 ha" in html


# ---------------------------------------------------------------------- HTML


def test_plot_names_never_inject_html(tmp_path):
    resp = synthetic_response(4, names={0: XSS, 1: '"><img src=x onerror=alert(2)>'})
    resp["job_name"] = XSS
    resp["notes"] = "</script><script>alert(3)</script>"
    resp["plots"][3]["error"] = "<b>bad</b>"
    html = html_of(resp, tmp_path)
    assert XSS not in html and "<img src=x" not in html and "<b>bad</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the job name, as text
    data = re.search(r'<script type="application/json" id="plot-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data and "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in data
    assert html.count("<script") == 3  # the two JSON blocks and the table script, nothing else
    pdf = reports.build_report(resp, tmp_path, "pdf", options=OPTIONS)
    assert XSS in pdf_text(pdf.data)  # shown as text in the PDF


def test_html_is_self_contained(tmp_path):
    resp = synthetic_response(9)
    write_maps(tmp_path, resp)
    html = html_of(resp, tmp_path)
    links = re.findall(r'\b(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', html)
    assert links and not [u for u in links if re.match(r"(?i)(https?:)?//", u)]
    assert not re.search(r"(?i)url\(\s*[\"']?(https?:)?//", html)  # CSS fetches nothing either
    assert not re.search(r"(?i)<link\b", html) and "@import" not in html
    assert html.count("data:font/ttf;base64,") == 3  # Source Sans Pro, embedded
    assert 'font-family: "Source Sans Report"' in html
    assert html.count('<figure id="map-') == 8  # small job: every analysed plot's full map (1 of 9 failed)
    for colour in ("#D55E00", "#E69F00", "#0072B2", "#969696"):
        assert colour in html


def test_dry_run_is_marked(tmp_path):
    resp = synthetic_response(7, dry_run=True)
    html = html_of(resp, tmp_path)
    assert f'<div class="dry-banner" role="alert">{reports.DRY_RUN_BANNER}</div>' in html
    assert "<title>[DRY RUN]" in html and "position: sticky" in html and "position: fixed" in html
    assert "DRY RUN" not in html_of(synthetic_response(7), tmp_path)
    pdf = reports.build_report(resp, tmp_path, "pdf", options=OPTIONS, per_page=2).data
    for page in pdf_pages(pdf):
        assert reports.DRY_RUN_BANNER in page.extract_text()


def test_missing_maps_say_so(tmp_path):
    resp = synthetic_response(3, failed_every=0)  # no images folder at all
    html = html_of(resp, tmp_path)
    assert "overview map not available" in html and html.count("map not available") >= 4
    assert "map not available" in pdf_text(reports.build_report(resp, tmp_path, "pdf", options=OPTIONS).data)


def test_a_missing_thumbnail_is_made_from_the_full_map(tmp_path):
    resp = synthetic_response(2, failed_every=0)
    folder = tmp_path / resp["job_id"] / "images"
    folder.mkdir(parents=True)
    (folder / f"{resp['plots'][0]['plot_id']}.png").write_bytes(png((0, 158, 115), (160, 120)))  # today's small map
    (folder / f"{resp['plots'][1]['plot_id']}.png").write_bytes(png((0, 158, 115), (1200, 900)))
    images = JobImages.scan(folder)
    small = reports.thumbnail_bytes(images, resp["plots"][0]["plot_id"])
    assert Image.open(io.BytesIO(small)).size == (160, 120)  # small enough: kept
    big = reports.thumbnail_bytes(images, resp["plots"][1]["plot_id"])
    assert Image.open(io.BytesIO(big)).size == (reports.THUMBNAIL_PX, 180)


def test_large_jobs_embed_thumbnails_not_full_maps(tmp_path):
    resp = synthetic_response(reports.FULL_MAPS_IN_HTML + 5)
    write_maps(tmp_path, resp)
    html = html_of(resp, tmp_path)
    assert '<figure id="map-' not in html and "too many to embed" in html
    # only the script makes <img> elements of the thumbnails (one page of rows at a time)
    assert html.count("<img") == 1  # the overview map
    data = re.search(r'id="plot-data">(.*?)</script>', html, re.S).group(1)
    assert data.count("data:image/png;base64,") == sum(p["status"] == "done" for p in resp["plots"])


# ---------------------------------------------------------------------- PDF


def pdf_pages(data: bytes):
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(data)).pages


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pdf_pages(data))


@pytest.mark.parametrize("n, per_page", [(1, 6), (13, 6), (10, 4)])
def test_pdf_has_summary_and_method_pages_then_a_page_per_n_plots(tmp_path, n, per_page):
    resp = synthetic_response(n, names={0: XSS})
    write_maps(tmp_path, resp, skip=1)
    report = reports.build_report(resp, tmp_path, "pdf", options=OPTIONS, per_page=per_page)
    assert report.data[:5] == b"%PDF-" and report.media_type == "application/pdf"
    pages = pdf_pages(report.data)
    assert len(pages) == reports.PDF_FRONT_PAGES + math.ceil(n / per_page)  # summary, method, plot pages
    text = "\n".join(p.extract_text() for p in pages)
    for p in resp["plots"]:
        assert p["plot_id"] in text
    assert "Summary" in pages[0].extract_text() and "Method" in pages[1].extract_text()
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1].extract_text()
    assert "2020-12-31" in text and "High if loss >= 1 ha" in text


def test_a_long_pdf_is_rendered_in_parts_with_one_page_numbering(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "PDF_PAGES_PER_PART", 2)
    resp = synthetic_response(27, failed_every=0)
    write_maps(tmp_path, resp)
    data = reports.build_report(resp, tmp_path, "pdf", options=OPTIONS, per_page=6).data
    pages = pdf_pages(data)
    total = reports.PDF_FRONT_PAGES + 5  # 27 plots, 6 a page: 3 parts of 2, 2 and 1 plot pages
    assert len(pages) == total
    texts = [p.extract_text() for p in pages]
    for k, text in enumerate(texts):
        assert f"Page {k + 1} of {total}" in text and resp["job_id"] in text and "Q1 shipment" in text
    assert "Summary" in texts[0] and "Method" in texts[1] and "Summary" not in texts[4]
    assert "Plots 13–18 of 27" in texts[4] and "Plots 25–27 of 27" in texts[6]
    assert all(p["plot_id"] in "\n".join(texts) for p in resp["plots"])
    monkeypatch.setattr(reports, "PDF_PAGES_PER_PART", 100)  # the same report in one part
    write_maps(tmp_path / "one", resp)
    whole = pdf_pages(reports.build_report(resp, tmp_path / "one", "pdf", options=OPTIONS, per_page=6).data)
    undated = lambda text: re.sub(r"(?i)generated [^\n]*UTC", "", text)  # noqa: E731
    assert [undated(p.extract_text()) for p in whole] == [undated(t) for t in texts]


def test_pdf_fonts_are_source_sans_pro(tmp_path):
    from pypdf import PdfReader

    resp = synthetic_response(2)
    data = reports.build_report(resp, tmp_path, "pdf", options=OPTIONS).data
    fonts = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for f in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(f.get_object()["/BaseFont"]))
    assert fonts and all("Source-Sans-Report" in f for f in fonts), fonts  # the package's files, by @font-face


def test_pdf_fetches_nothing_outside_the_job_and_the_fonts(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    fetch = reports.url_fetcher([job])
    (job / "a.png").write_bytes(png((1, 2, 3)))
    (tmp_path / "secret.txt").write_text("x")
    assert fetch((job / "a.png").as_uri()).read()[:4] == b"\x89PNG"
    for url in ("http://example.org/x.png", (tmp_path / "secret.txt").as_uri(), (job / "../secret.txt").as_uri(),
                "ftp://x/y"):
        with pytest.raises(ValueError):
            fetch(url)


# ---------------------------------------------------------------------- cache


def test_cache_hit_and_invalidation(tmp_path):
    resp = synthetic_response(5)
    write_maps(tmp_path, resp)
    first = reports.build_report(resp, tmp_path, "html", options=OPTIONS)
    assert not first.cached and first.path == tmp_path / resp["job_id"] / "report.html" and first.path.is_file()
    again = reports.build_report(resp, tmp_path, "html", options=OPTIONS)
    assert again.cached and again.data == first.data
    for change in (lambda r: r.update(layer_versions={**r["layer_versions"], "hansen_gfc": "v1.13"}),
                   lambda r: r.update(updated_at="2025-04-01T00:00:00+00:00"),
                   lambda r: r["plots"][0].update(plot_name="renamed")):
        changed = {**resp, "plots": [dict(p) for p in resp["plots"]]}
        change(changed)
        assert not reports.build_report(changed, tmp_path, "html", options=OPTIONS).cached
    # a map added later (the renderer ran after the first report) renders it again
    (tmp_path / resp["job_id"] / "images" / "overview.png").unlink()
    assert not reports.build_report(resp, tmp_path, "html", options=OPTIONS).cached
    # a thumbnail redrawn renders it again; a full map drawn later for a large job does not
    assert reports.build_report(resp, tmp_path, "html", options=OPTIONS).cached
    thumb = tmp_path / resp["job_id"] / "images" / "thumbs" / f"{resp['plots'][0]['plot_id']}.png"
    thumb.write_bytes(png((1, 2, 3), (40, 40)))
    assert not reports.build_report(resp, tmp_path, "html", options=OPTIONS).cached
    big = synthetic_response(reports.FULL_MAPS_IN_HTML + 1)
    write_maps(tmp_path, big, full=False)
    reports.build_report(big, tmp_path, "html", options=OPTIONS)
    write_maps(tmp_path, big, thumbs=False, overview=False)  # the API draws full maps on request
    assert reports.build_report(big, tmp_path, "html", options=OPTIONS).cached
    # a report whose sidecar does not match its bytes is not served
    path = reports.build_report(resp, tmp_path, "pdf", options=OPTIONS).path
    path.write_bytes(path.read_bytes() + b"%tampered")
    assert not reports.build_report(resp, tmp_path, "pdf", options=OPTIONS).cached


# ---------------------------------------------------------------------- the route


def test_route_serves_the_owner_only(tmp_path):
    import base64
    import copy

    from fastapi.testclient import TestClient

    from eudr_pipeline.demo import demo_plots
    from eudr_pipeline.service.app import create_app
    from eudr_pipeline_tests.conftest import service_state

    state = service_state(Settings(data_dir=tmp_path, jwt_secret="test-secret-of-32-characters-at-least"))
    state.accounts.add_user("alice", "alice-pw", 50)
    state.accounts.add_user("bob", "bob-pw", 50)
    feats = [copy.deepcopy(f) for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-02")]
    feats[0]["properties"]["plot_name"] = XSS
    with TestClient(create_app(state)) as client:
        def auth(user: str) -> dict:
            basic = base64.b64encode(f"{user}:{user}-pw".encode()).decode()
            token = client.post("/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
            return {"Authorization": f"Bearer {token}"}

        alice = auth("alice")
        ids = [p["plot_id"] for p in client.post("/plots/make_plot", headers=alice,
                                                 json={"type": "FeatureCollection", "features": feats}).json()]
        job = client.post("/jobs/make_job", headers={**alice, "X-Dry-Run": "true"},
                          json={"job_name": "Route test", "plot_ids": ids}).json()
        r = client.get(f"/jobs/{job['job_id']}/report", headers=alice)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert reports.DRY_RUN_BANNER in r.text and XSS not in r.text and "Route test" in r.text
        r = client.get(f"/jobs/{job['job_id']}/report", params={"format": "pdf"}, headers=alice)
        assert r.status_code == 200 and r.content[:5] == b"%PDF-" and r.headers["content-type"] == "application/pdf"
        assert len(pdf_pages(r.content)) == reports.PDF_FRONT_PAGES + 1
        assert (tmp_path / "results" / job["job_id"] / "report.pdf").is_file()
        assert client.get(f"/jobs/{job['job_id']}/report", headers=auth("bob")).status_code == 404
        assert client.get(f"/jobs/{job['job_id']}/report", params={"format": "docx"}, headers=alice).status_code == 400
        assert client.get(f"/jobs/{job['job_id']}/report").status_code == 401


# ---------------------------------------------------------------------- Dagster


def test_job_reports_asset_renders_html_and_pdf_on_request(tmp_path):
    import base64
    import copy

    import dagster as dg

    from eudr_pipeline.defs.analysis.resources import AnalysisOptionsResource, ServiceStateResource
    from eudr_pipeline.defs.layers.resources import LayerStoreResource
    from eudr_pipeline.defs.submissions.assets import job_reports
    from eudr_pipeline.demo import demo_plots
    from eudr_pipeline.service.dry_run import simulate
    from eudr_pipeline.service.job_requests import validate_job_request
    from eudr_pipeline.service.jobs import submit_job
    from eudr_pipeline.service.schemas import MakeJobRequest
    from eudr_pipeline_tests.conftest import service_state

    settings = Settings(data_dir=tmp_path, risk_high_loss_ha=2.0)
    state = service_state(settings)
    state.accounts.add_user("alice", "alice-pw", 50)
    feats = [copy.deepcopy(f) for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-02")]
    ids = [p["plot_id"] for p in state.plots.register("alice", feats)]
    job_id = submit_job(state, "alice", validate_job_request(MakeJobRequest(plot_ids=ids), "alice", state.plots), True)
    simulate(state, job_id)
    import orjson  # the upstream job_responses' output, which job_reports reads

    (tmp_path / "results" / job_id).mkdir(parents=True, exist_ok=True)
    (tmp_path / "results" / job_id / "response.json").write_bytes(
        orjson.dumps(state.job_response(state.jobs.job(job_id)), default=str))
    (tmp_path / "results" / job_id / "images").mkdir(parents=True, exist_ok=True)
    (tmp_path / "results" / job_id / "images" / "overview.png").write_bytes(png((0, 114, 178), (1200, 800)))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [job_id])
    resources = {"service": ServiceStateResource(data_dir=str(tmp_path), database_url=settings.resolved_database_url(),
                                                 public_url=settings.base_url()),
                 "analysis_options": AnalysisOptionsResource.from_settings(settings),
                 "layer_store": LayerStoreResource(sources=str(tmp_path / "sources"), store_dir=str(tmp_path / "layers"))}
    result = dg.materialize([job_reports], partition_key=job_id, instance=instance, resources=resources,
                            run_config={"ops": {"job_reports": {"config": {"pdf": True}}}})
    assert result.success
    md = result.asset_materializations_for_node("job_reports")[0].metadata
    assert md["risk_low"].value == 2 and md["risk_high"].value == 0 and md["risk_failed"].value == 0
    assert (tmp_path / "results" / job_id / "report.html").is_file() and md["report_pdf_bytes"].value > 1000
    preview = md["preview"].value
    assert preview.startswith("High: 0 | Medium: 0 | Low: 2 | Failed: 0")
    png_b64 = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", preview).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(png_b64))).size == (reports.PREVIEW_PX, 267)
    html = (tmp_path / "results" / job_id / "report.html").read_text()
    assert "High if loss &gt;= 2 ha" in html  # the rule of the analysis options resource
