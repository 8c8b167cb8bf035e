"""A job's maps as the run and the API make them: small jobs get every map from the run;
above the limits only the overview, and each other map is drawn on its first request and
kept (a 10,000-plot job is not held up by its maps)."""

from __future__ import annotations

import io

import dagster as dg
import pytest
from PIL import Image

from eudr_pipeline.config import Settings
from eudr_pipeline.definitions import build_definitions
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline.service import maps
from eudr_pipeline.service.deploy import ensure_demo_layers
from eudr_pipeline_tests.conftest import service_state, submit_job_as


def run_job(tmp_path, *ids: str) -> tuple:
    settings = Settings(data_dir=tmp_path)
    state = service_state(settings)
    ensure_demo_layers(settings)
    state.accounts.add_user("mia", "pw", 50)
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ids]
    registered = state.plots.register("mia", feats)
    job_id = submit_job_as(state, "mia", [p["plot_id"] for p in registered])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [job_id])
    assert build_definitions(settings).resolve_job_def("process_job").execute_in_process(
        instance=instance, partition_key=job_id).success
    return state, state.jobs.job(job_id), [p["plot_id"] for p in registered]


def test_a_small_job_gets_every_map_from_its_run(tmp_path):
    state, job, ids = run_job(tmp_path, "demo-01", "demo-10")  # demo-10 fails: no map, grey on the overview
    done, failed = ids
    assert Image.open(maps.overview_path(state, job)).size == (1200, 800)
    assert Image.open(maps.map_path(state, job, done)).width == 1200
    assert Image.open(maps.thumbnail_path(state, job, done)).size == (maps.THUMBNAIL_PX,) * 2
    assert not maps.map_path(state, job, failed).exists()
    resp = state.job_response(job)
    assert resp["job_visualization_url"][0].endswith(f"/jobs/{job['job_id']}/overview.png")
    assert resp["job_visualization_url"][1].endswith(f"/plots/{done}/image.png")


def test_a_large_job_draws_its_maps_on_first_request_and_its_thumbnails_for_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr(maps, "EAGER_FULL_MAPS", 0)
    monkeypatch.setattr(maps, "EAGER_THUMBNAILS", 0)
    state, job, ids = run_job(tmp_path, "demo-02", "demo-03", "demo-10")  # demo-10 fails: no map
    ids = ids[:2]
    assert maps.overview_path(state, job).is_file()
    assert not any(maps.map_path(state, job, p).exists() for p in ids)
    # job_images skipped the thumbnails; job_reports drew them, in bulk, so the report shows every plot
    assert all(maps.thumbnail_path(state, job, p).is_file() for p in ids)
    html = (state.results_dir / job["job_id"] / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 1 + len(ids)  # the overview and a thumbnail per analysed plot
    for p in ids:
        maps.thumbnail_path(state, job, p).unlink()
    req = maps.MapRequest(state, LayerStore(state.settings.layer_store_dir()), job, job["published_run"])
    path = maps.plot_map_file(req, ids[0])
    assert path == maps.map_path(state, job, ids[0]) and Image.open(path).width == 1200
    assert not maps.thumbnail_path(state, job, ids[0]).exists()
    thumb = maps.plot_map_file(req, ids[1], thumbnail=True)
    assert Image.open(io.BytesIO(thumb.read_bytes())).size == (maps.THUMBNAIL_PX,) * 2
    assert maps.ensure_thumbnails(req) == 1 and maps.ensure_thumbnails(req) == 0  # only the missing one, once
    first = path.stat().st_mtime_ns
    assert maps.plot_map_file(req, ids[0]).stat().st_mtime_ns == first  # kept, not drawn again
    assert maps.plot_map_file(req, "not-in-this-job") is None


def test_maps_draw_the_geometries_the_analysis_wrote_the_same_as_validated_again(tmp_path):
    """The maps read each plot's geometry from the analysis's GeoParquet; validating the
    job's plots again (what an analysis without one needs) gives the same shapes."""
    import dataclasses
    import datetime as dt

    from eudr_pipeline.service.jobs import job_plot_requests

    state, job, ids = run_job(tmp_path, "demo-01", "demo-03", "demo-07", "demo-10")  # a point, a multipolygon, a failure
    analysis = maps.job_analysis(state, job, job["published_run"])
    rows = [r for r in analysis.rows if r["status"] == "done"]
    stored = maps.analysed_geometries(state, job, analysis, rows)
    again = {r["plot_id"]: q.geometry for r, q in zip(rows, job_plot_requests(rows, dt.date.today()))}
    assert set(stored) == set(again) == set(ids[:3])
    assert all(stored[p].equals_exact(again[p], 0) and stored[p].geom_type == again[p].geom_type for p in stored)
    legacy = maps.analysed_geometries(state, job, dataclasses.replace(analysis, run=None), rows)  # no GeoParquet
    assert all(legacy[p].equals_exact(again[p], 0) for p in legacy)
