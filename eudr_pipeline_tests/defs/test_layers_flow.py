"""Layer versions through Dagster: ingest, schedule pickup of a new release, staleness of
the job analyses that used the old version, and a re-analysis that keeps both results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import rasterio

from eudr_pipeline.config import Settings
from eudr_pipeline.definitions import build_definitions
from eudr_pipeline.demo import write_demo
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline.service.job_store import JobStore
from eudr_pipeline_tests.conftest import service_state, submit_job_as


@pytest.fixture
def env(tmp_path):
    sources, plots = write_demo(tmp_path / "demo")
    settings = Settings(data_dir=tmp_path / "data", layer_sources=f"file://{sources}")  # a URI, as operators may give it
    return build_definitions(settings), dg.DagsterInstance.ephemeral(), sources, plots, settings


def submit_demo_job(settings: Settings, plots: Path, instance) -> str:
    """The demo plots (all but the self-intersecting one) registered and submitted as the
    service does; the job's partition added as the sensor does."""
    state = service_state(settings)
    state.accounts.add_user("demo", "pw", 100)
    feats = [f for f in json.loads(plots.read_text())["features"] if f["properties"]["plot_id"] != "demo-09"]
    registered = state.plots.register("demo", feats)
    job_id = submit_job_as(state, "demo", [p["plot_id"] for p in registered])
    instance.add_dynamic_partitions("jobs", [job_id])
    return job_id


def results_by_name(jobs: JobStore, job_id: str) -> dict[str, dict]:
    """Latest result per plot, keyed by the demo name (demo-04...) of the plot."""
    names = {r["plot_id"]: r["feature"]["properties"]["plot_id"] for r in jobs.job_plot_rows(job_id)}
    return {names[r["plot_id"]]: r for r in jobs.latest_results_of([job_id])[job_id]}


def stale(instance: dg.DagsterInstance, job_id: str) -> bool:
    """Whether the job's analysis is stale, by Dagster's own record of it (public API): its
    latest materialization names the data version of each layer it read
    (`dagster/input_data_version/<layer>` tags); stale when a layer's current data version differs."""
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("job_analyses"), asset_partitions=[job_id]), limit=1).records
    tags = record.asset_materialization.tags
    used = {k.rsplit("/", 1)[-1]: v for k, v in tags.items() if k.startswith("dagster/input_data_version/")}
    assert "hansen_gfc" in used, tags
    current = {layer: instance.get_latest_materialization_event(dg.AssetKey(layer)).asset_materialization.tags[
        "dagster/data_version"] for layer in used}
    return used != current


def new_hansen_release(sources: Path) -> None:
    """v1.13: the v1.12 files renamed, with 2024 loss added inside demo-04."""
    old = sources / "hansen_gfc" / "v1.12"
    new = sources / "hansen_gfc" / "v1.13"
    new.mkdir()
    for f in old.iterdir():
        shutil.copy(f, new / f.name.replace("v1.12", "v1.13"))
    loss = next(new.glob("*lossyear*"))
    with rasterio.open(loss, "r+") as ds:
        a = ds.read(1)
        rows, cols = np.indices(a.shape)
        lon = ds.transform.c + (cols + 0.5) * ds.transform.a
        lat = ds.transform.f + (rows + 0.5) * ds.transform.e
        a[(lon > -5.2705) & (lon < -5.2675) & (lat > 6.8045) & (lat < 6.8050)] = 24  # inside demo-04, in forest
        ds.write(a, 1)


def test_ingest_schedule_stale_and_reanalysis(env):
    defs, instance, sources, plots, settings = env
    data = settings.data_dir
    schedule = defs.get_schedule_def("layer_refresh_schedule")
    refresh = defs.resolve_job_def("layer_refresh")

    # first tick: every layer is new
    with dg.build_schedule_context(instance=instance, resources=defs.resources) as ctx:
        req = schedule.evaluate_tick(ctx).run_requests[0]
    assert "hansen_gfc@v1.12" in req.run_key
    assert refresh.execute_in_process(instance=instance, asset_selection=req.asset_selection,
                                      tags=req.tags).success
    store = LayerStore(data / "layers")
    assert {v.layer: v.version for v in store.catalogue.versions()} == {
        "jrc_gfc2020": "V3", "hansen_gfc": "v1.12", "jrc_tmf": "v1_2025", "wdpa": "2025-11", "landmark": "2025-06",
        "imagery": "demo-2025"}

    # nothing new: the tick skips
    with dg.build_schedule_context(instance=instance, resources=defs.resources) as ctx:
        assert not schedule.evaluate_tick(ctx).run_requests

    job_id = submit_demo_job(settings, plots, instance)
    analyses = defs.resolve_assets_def("job_analyses")
    assert dg.materialize([analyses], partition_key=job_id, instance=instance).success
    jobs = service_state(settings).jobs
    first = results_by_name(jobs, job_id)
    assert first["demo-04"]["layer_versions"]["hansen_gfc"] == "v1.12"
    assert first["demo-04"]["analysis"]["deforestation"]["total"] == 0.0
    assert first["demo-10"]["status"] == "failed" and "no jrc_gfc2020 tile" in first["demo-10"]["error"]  # by design
    assert not stale(instance, job_id)

    # a new release appears: the observation sees it, one tick ingests it once
    new_hansen_release(sources)
    with dg.build_schedule_context(instance=instance, resources=defs.resources) as ctx:
        req = schedule.evaluate_tick(ctx).run_requests[0]
    assert req.run_key == "hansen_gfc@v1.13"
    assert {k.path[-1] for k in req.asset_selection} == {"hansen_gfc_source", "hansen_gfc"}
    assert refresh.execute_in_process(instance=instance, asset_selection=req.asset_selection).success
    assert store.catalogue.current("hansen_gfc").version == "v1.13"
    with dg.build_schedule_context(instance=instance, resources=defs.resources) as ctx:
        assert not schedule.evaluate_tick(ctx).run_requests  # never twice
    # running the layer asset again ingests nothing (no second materialization)
    again = refresh.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("hansen_gfc")])
    assert again.success and not again.asset_materializations_for_node("hansen_gfc")

    # the analysis that used v1.12 is stale; re-analysing it (what a backfill does per partition) cites v1.13
    assert stale(instance, job_id)
    assert dg.materialize([analyses], partition_key=job_id, instance=instance).success
    assert not stale(instance, job_id)
    demo_04 = next(pid for pid, r in ((r["plot_id"], r) for r in jobs.job_plot_rows(job_id))
                   if r["feature"]["properties"]["plot_id"] == "demo-04")
    history = jobs.analysis_history(demo_04, job_id)
    assert [h["layer_versions"]["hansen_gfc"] for h in history] == ["v1.12", "v1.13"]
    assert history[0]["analysis"]["deforestation"]["total"] == 0.0  # the earlier result is kept
    assert history[1]["analysis"]["deforestation"]["total_yearly"]["2024"] > 0
    assert "hansen_gfc/v1.13" in history[1]["analysis"]["version"]


def test_rejected_version_keeps_the_previous_in_use(env):
    defs, instance, sources, plots, settings = env
    data = settings.data_dir
    refresh = defs.resolve_job_def("layer_refresh")
    assert refresh.execute_in_process(instance=instance).success
    # a new forest map whose values are not 0/1 (a value-domain failure)
    bad = sources / "jrc_gfc2020" / "V4"
    shutil.copytree(sources / "jrc_gfc2020" / "V3", bad)
    for f in bad.glob("*.tif"):
        with rasterio.open(f, "r+") as ds:
            ds.write((ds.read(1) * 7).astype(np.uint8), 1)
    result = refresh.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("jrc_gfc2020")],
                                        raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "rejected, the previous version stays in use" in str(failure.event_specific_data.error)
    assert "value domain" in str(failure.event_specific_data.error)
    store = LayerStore(data / "layers")
    assert store.catalogue.get("jrc_gfc2020", "V4").status == "rejected"
    assert store.catalogue.current("jrc_gfc2020").version == "V3"
    # a WDPA release without WDPAID: a clear error, previous version in use
    w = sources / "wdpa" / "2026-01"
    w.mkdir()
    (w / "wdpa.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"NAME": "x"},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}))
    result = refresh.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("wdpa")], raise_on_error=False)
    assert not result.success
    assert "lacks columns ['WDPAID']" in str([e for e in result.all_events if e.is_step_failure][0].event_specific_data.error)
    assert store.catalogue.current("wdpa").version == "2025-11"


def test_asset_checks_pass_and_a_failed_check_demotes_the_version(env):
    defs, instance, sources, plots, settings = env
    data = settings.data_dir
    result = defs.resolve_job_def("layer_refresh").execute_in_process(instance=instance)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    names = {(e.asset_key.path[-1], e.check_name) for e in evaluations}
    assert ("jrc_gfc2020", "crs_and_pixel_size") in names and ("wdpa", "geometry_validity") in names
    # corrupt the stored forest map's georeferencing: the check fails and the version is no longer used
    store = LayerStore(data / "layers")
    row = store.catalogue.current("jrc_gfc2020")
    tile = next((Path(row.store_path) / "forest_2020").glob("*.tif"))
    with rasterio.open(tile, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.crs = "EPSG:3857"
    check_key = dg.AssetCheckKey(dg.AssetKey("jrc_gfc2020"), "crs_and_pixel_size")
    from eudr_pipeline.defs.layers.assets import LAYER_ASSETS
    from eudr_pipeline.defs.layers.checks import layer_checks

    check = next(c for c in layer_checks if check_key in c.check_keys)
    res = dg.materialize([check, LAYER_ASSETS["jrc_gfc2020"][1]], selection=dg.AssetSelection.checks(check),
                         instance=instance, resources=defs.resources, raise_on_error=False)
    ev = res.get_asset_check_evaluations()[0]
    assert not ev.passed and "EPSG:3857" in ev.metadata["detail"].value
    assert store.catalogue.current("jrc_gfc2020").version == "V3"  # the check only looks
    # the layer check sensor reacts: the version is demoted and no longer used
    sensor = defs.resolve_sensor_def("layer_check_sensor")
    with dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs) as ctx:
        assert "demoted jrc_gfc2020 V3" in sensor(ctx).skip_message
    assert store.catalogue.current("jrc_gfc2020") is None
    with dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs,
                                 cursor=ctx.cursor) as ctx2:
        assert "no new failed" in sensor(ctx2).skip_message  # once
