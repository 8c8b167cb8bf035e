"""A new layer version folder is visible in Dagster before it is ingested, and an operator
picks it up at once.

The observation sensor, evaluated as the daemon evaluates it (``evaluate_tick``, then its
asset events recorded as runless events), records the new data version of
`<layer>_source`; the `<layer>` asset then shows stale (Dagster's own staleness resolver,
what the UI shows). ``eudr layers refresh`` launches a `layer_refresh` run in the
deployment's instance that ingests it, and prints each layer as it goes."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus  # what the UI reads
from dagster._core.loader import LoadingContextForTest

from eudr_pipeline.config import Settings
from eudr_pipeline.definitions import build_definitions
from eudr_pipeline.demo import write_demo
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline_tests.defs.test_layers_flow import new_hansen_release

HANSEN, HANSEN_SOURCE = dg.AssetKey("hansen_gfc"), dg.AssetKey("hansen_gfc_source")


@pytest.fixture
def env(tmp_path):
    sources, _ = write_demo(tmp_path / "demo")
    settings = Settings(data_dir=tmp_path / "data", layer_sources=str(sources), layer_observe_minutes=7)
    return build_definitions(settings), dg.DagsterInstance.ephemeral(), sources, settings


def tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> str:
    """One evaluation of layer_observation_sensor as the daemon runs it: evaluated, its
    asset events recorded in the instance; the tick's message."""
    sensor = defs.resolve_sensor_def("layer_observation_sensor")
    with dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs) as ctx:
        data = sensor.evaluate_tick(ctx)
    assert not data.run_requests  # it observes; ingestion is layer_refresh's
    for event in data.asset_events:
        instance.report_runless_asset_event(event)
    return data.skip_message


def status(defs: dg.Definitions, instance: dg.DagsterInstance, key: dg.AssetKey) -> tuple[StaleStatus, list[str]]:
    """(the asset's stale status, its causes as text) as Dagster computes them for the UI."""
    resolver = CachingStaleStatusResolver(instance, defs.resolve_asset_graph(), LoadingContextForTest(instance))
    causes = [f"{c.key.asset_key.to_user_string()} {c.reason} {c.dependency.asset_key.to_user_string()}"
              for c in resolver.get_stale_causes(key) if c.dependency is not None]
    return resolver.get_status(key), causes


def test_the_sensor_observes_on_its_own_cadence_and_the_layer_shows_stale(env):
    defs, instance, sources, settings = env
    sensor = defs.resolve_sensor_def("layer_observation_sensor")
    assert sensor.minimum_interval_seconds == 7 * 60  # EUDR_LAYER_OBSERVE_MINUTES
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_job_def("layer_refresh").execute_in_process(instance=instance).success
    assert status(defs, instance, HANSEN)[0] == StaleStatus.FRESH
    assert tick(defs, instance) == "no layer source changed since its last observation"  # the run observed them

    new_hansen_release(sources)  # a v1.13 folder appears beside v1.12
    assert "hansen_gfc v1.13" in tick(defs, instance)
    [record] = instance.fetch_observations(HANSEN_SOURCE, limit=1).records
    assert record.run_id == "" and record.asset_observation.tags["dagster/data_version"] == "v1.13"
    assert record.asset_observation.metadata["versions"].value == ["v1.12", "v1.13"]
    stale, causes = status(defs, instance, HANSEN)
    assert stale == StaleStatus.STALE
    assert causes == ["hansen_gfc has a new dependency data version hansen_gfc_source"]
    assert status(defs, instance, dg.AssetKey("jrc_gfc2020"))[0] == StaleStatus.FRESH
    assert LayerStore(settings.layer_store_dir()).catalogue.current("hansen_gfc").version == "v1.12"  # not ingested
    assert tick(defs, instance) == "no layer source changed since its last observation"  # observed once

    # picking it up: what the UI's "Materialize" on the stale layer (or a layer_refresh launch) runs
    refresh = defs.resolve_job_def("layer_refresh")
    assert refresh.execute_in_process(instance=instance, asset_selection=[HANSEN]).success
    assert status(defs, instance, HANSEN)[0] == StaleStatus.FRESH
    assert LayerStore(settings.layer_store_dir()).catalogue.current("hansen_gfc").version == "v1.13"


def test_observe_minutes_zero_defines_the_sensor_stopped(tmp_path):
    defs = build_definitions(Settings(data_dir=tmp_path, layer_observe_minutes=0))
    assert defs.resolve_sensor_def("layer_observation_sensor").default_status == dg.DefaultSensorStatus.STOPPED


def test_eudr_layers_refresh_launches_a_layer_refresh_run_in_the_instance(tmp_path):
    sources, _ = write_demo(tmp_path / "demo")
    env = {**os.environ, "EUDR_DATA_DIR": str(tmp_path / "data"), "EUDR_LAYER_SOURCES": str(sources)}
    env.pop("DAGSTER_HOME", None)

    def refresh() -> str:
        p = subprocess.run([sys.executable, "-m", "eudr_pipeline.cli", "layers", "refresh"], env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    out = refresh()
    home = tmp_path / "data" / "dagster_home"
    assert f"DAGSTER_HOME={home.resolve()}" in out
    assert "hansen_gfc v1.12: ingesting... done in " in out and "wdpa 2025-11: ingesting... done in " in out
    assert out.rstrip().endswith("layer refresh done")
    new_hansen_release(sources)
    out = refresh()
    assert "hansen_gfc v1.13: ingesting... done in " in out
    assert "jrc_gfc2020 V3: ingesting... already in the store" in out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name="layer_refresh"))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2
        [latest] = instance.fetch_materializations(HANSEN, limit=1).records
        assert latest.run_id == runs[0].run_id
        assert latest.asset_materialization.tags["dagster/data_version"] == "v1.13"
    assert LayerStore(tmp_path / "data" / "layers").catalogue.current("hansen_gfc").version == "v1.13"


def test_the_progress_of_a_refresh_names_a_rejected_version(env):
    """The lines `make serve` and `eudr layers refresh` print, from a real run's events: a
    version whose values are out of domain fails with the store's reason."""
    import numpy as np
    import rasterio

    from eudr_pipeline.defs.layers.progress import follow_refresh

    defs, instance, sources, _ = env
    refresh = defs.resolve_job_def("layer_refresh")
    assert refresh.execute_in_process(instance=instance).success
    bad = sources / "jrc_gfc2020" / "V4"
    bad.mkdir()
    for f in (sources / "jrc_gfc2020" / "V3").glob("*.tif"):
        with rasterio.open(f) as src:
            profile, data = src.profile, src.read(1)
        with rasterio.open(bad / f.name, "w", **profile) as dst:
            dst.write((data * 7).astype(np.uint8), 1)
    run = refresh.execute_in_process(instance=instance, raise_on_error=False)
    text: list[str] = []
    assert follow_refresh(instance, run.run_id, text.append) == dg.DagsterRunStatus.FAILURE
    lines = "".join(text).splitlines()
    assert "hansen_gfc v1.12: ingesting... already in the store" in lines
    [jrc] = [line for line in lines if line.startswith("jrc_gfc2020 V4: ingesting... failed after ")]
    assert "rejected, the previous version stays in use" in jrc and "value domain" in jrc
