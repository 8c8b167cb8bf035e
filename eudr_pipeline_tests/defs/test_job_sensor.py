"""The job sensor against a real (ephemeral) Dagster instance: launch once per attempt,
retry runs that failed, end the job `incomplete` with a full refund when out of attempts."""

from __future__ import annotations

import dagster as dg
import pytest

from eudr_pipeline.config import Settings
from eudr_pipeline.definitions import build_definitions
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.deploy import ensure_demo_layers
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline_tests.conftest import service_state, submit_job_as


@pytest.fixture
def env(tmp_path):
    settings = Settings(data_dir=tmp_path, max_run_attempts=2)
    state = service_state(settings)
    state.accounts.add_user("erin", "pw", 20)
    return build_definitions(settings), state, dg.DagsterInstance.ephemeral()


def submit(state: ServiceState, *ids: str) -> str:
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ids]
    plots = state.plots.register("erin", feats)
    return submit_job_as(state, "erin", [p["plot_id"] for p in plots])


def tick(defs, instance):
    sensor = defs.resolve_sensor_def("job_submission_sensor")
    with dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs) as ctx:
        result = sensor(ctx)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result.run_requests


def run(defs, instance, req):
    return defs.resolve_job_def("process_job").execute_in_process(
        instance=instance, partition_key=req.partition_key, tags=req.tags, raise_on_error=False)


def break_layer_files(settings: Settings) -> None:
    """The demo layers in the catalogue (the sensor does not wait for them) but the forest
    map's files gone: every run fails."""
    import shutil

    from eudr_pipeline.layers.store import LayerStore

    ensure_demo_layers(settings)
    shutil.rmtree(LayerStore.from_settings(settings).catalogue.current("jrc_gfc2020").store_path)


def test_failed_runs_are_retried_then_the_job_ends_incomplete_with_refund(env):
    defs, state, instance = env
    break_layer_files(state.settings)
    job_id = submit(state, "demo-01")  # every run fails
    assert state.ledger.balance("erin").reserved == 2
    [req] = tick(defs, instance)
    assert req.run_key == f"{job_id}:1" and req.partition_key == job_id
    assert [r.run_key for r in tick(defs, instance)] == [f"{job_id}:1"]  # not launched yet: same key, launched once
    assert not run(defs, instance, req).success
    [req2] = tick(defs, instance)
    assert req2.run_key == f"{job_id}:2"
    assert not run(defs, instance, req2).success
    assert tick(defs, instance) == []
    job = state.jobs.job(job_id)
    assert job["status"] == "incomplete" and job["attempts"] == 2
    b = state.ledger.balance("erin")
    assert (b.balance, b.reserved) == (20, 0)
    assert tick(defs, instance) == []  # ended jobs are left alone


def test_a_job_runs_once_and_is_done(env):
    defs, state, instance = env
    ensure_demo_layers(state.settings)
    job_id = submit(state, "demo-02", "demo-03")
    [req] = tick(defs, instance)
    assert run(defs, instance, req).success
    assert state.jobs.job(job_id)["status"] == "done"
    assert tick(defs, instance) == []
    b = state.ledger.balance("erin")
    assert (b.balance, b.reserved) == (20 - 3, 0)
