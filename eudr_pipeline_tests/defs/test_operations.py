"""The operations domain against a real (ephemeral) Dagster instance and the demo layers:
after a new Hansen version, `stale_jobs` lists exactly the jobs analysed with the old one
(a table with name, owner, plots and versions, the partition keys, a warning check), is
requested by its automation condition when a layer version is recorded; the re-analysis
sensor requests one run per stale job when EUDR_AUTO_REANALYSE is on; a re-analysis
charges no token. The job sensor tags runs with the job's name and owner and waits for
the layer versions every analysis needs."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from eudr_pipeline.config import Settings
from eudr_pipeline.definitions import build_definitions
from eudr_pipeline.defs.operations.jobs import REANALYSIS_TAG
from eudr_pipeline.defs.submissions.sensors import WAITING_FOR_LAYERS, tag_value
from eudr_pipeline.demo import write_demo
from eudr_pipeline.service.database import token_ledger
from eudr_pipeline.service.deploy import ensure_demo_layers
from eudr_pipeline.service.job_requests import validate_job_request
from eudr_pipeline.service.jobs import submit_job
from eudr_pipeline.service.schemas import MakeJobRequest
from eudr_pipeline.service.stale_jobs import stale_jobs, versions_in_use
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline_tests.conftest import service_state
from eudr_pipeline_tests.defs.test_layers_flow import new_hansen_release


@pytest.fixture
def env(tmp_path):
    sources, plots = write_demo(tmp_path / "demo")
    settings = Settings(data_dir=tmp_path / "data", layer_sources=str(sources), auto_reanalyse=True)
    state = service_state(settings)
    state.accounts.add_user("alice", "pw", 100)
    state.accounts.add_user("bob.b@example.org", "pw", 100)
    return build_definitions(settings), dg.DagsterInstance.ephemeral(), state, sources, plots


def submit(state: ServiceState, plots: Path, owner: str, name: str, ids: tuple[str, ...], dry_run=False) -> str:
    feats = [f for f in json.loads(plots.read_text())["features"] if f["properties"]["plot_id"] in ids]
    registered = state.plots.register(owner, feats)
    request = validate_job_request(MakeJobRequest(job_name=name, plot_ids=[p["plot_id"] for p in registered]),
                                   owner, state.plots)
    return submit_job(state, owner, request, dry_run)


def sensor_tick(defs, instance, name: str, cursor: str | None = None):
    with dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs, cursor=cursor) as ctx:
        result = defs.resolve_sensor_def(name)(ctx)
    for req in getattr(result, "dynamic_partitions_requests", None) or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result, ctx.cursor


def run(defs, instance, req: dg.RunRequest, job: str = "process_job") -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=req.partition_key,
                                                        tags=req.tags)


def materialize_stale_jobs(defs, instance) -> dg.ExecuteInProcessResult:
    result = dg.materialize([defs.resolve_assets_def("stale_jobs")], instance=instance)
    assert result.success
    return result


def table_rows(result: dg.ExecuteInProcessResult) -> list[dict]:
    [mat] = result.asset_materializations_for_node("stale_jobs")
    return [r.data for r in mat.metadata["jobs"].value.records]


def spends(state: ServiceState, job_id: str) -> list[int]:
    with state.engine.connect() as con:
        return [r.amount for r in con.execute(token_ledger.select().where(token_ledger.c.job_id == job_id,
                                                                         token_ledger.c.kind == "spend"))]


def test_stale_jobs_table_check_reanalysis_and_tokens(env):
    defs, instance, state, sources, plots = env
    refresh = defs.resolve_job_def("layer_refresh")
    assert refresh.execute_in_process(instance=instance).success
    q1 = submit(state, plots, "alice", "Q1 shipment: Côte d'Ivoire", ("demo-02", "demo-03", "demo-04"))
    north = submit(state, plots, "bob.b@example.org", "North", ("demo-05",))
    submit(state, plots, "alice", "dry", ("demo-02",), dry_run=True)  # simulated: never stale

    # the job sensor's runs carry the job's name and owner as tags Dagster accepts
    result, _ = sensor_tick(defs, instance, "job_submission_sensor")
    by_job = {r.partition_key: r for r in result.run_requests}
    assert set(by_job) == {q1, north}
    assert by_job[q1].tags["eudr/job_name"] == "Q1_shipment_Cote_d_Ivoire"
    assert by_job[q1].tags["eudr/owner"] == "alice" and by_job[north].tags["eudr/owner"] == "bob.b_example.org"
    for req in by_job.values():
        assert run(defs, instance, req).success
    balance = state.ledger.balance("alice")

    fresh = materialize_stale_jobs(defs, instance)
    assert table_rows(fresh) == []
    [check] = fresh.get_asset_check_evaluations()
    assert check.passed and check.check_name == "no_stale_jobs"

    # Hansen v1.13 lands: both jobs' analyses used v1.12
    new_hansen_release(sources)
    assert refresh.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("hansen_gfc")]).success
    stale = materialize_stale_jobs(defs, instance)
    [mat] = stale.asset_materializations_for_node("stale_jobs")
    assert mat.metadata["stale_jobs"].value == 2
    rows = table_rows(stale)
    assert [(r["job_id"], r["job_name"], r["owner"], r["plots"], r["layers (old -> new)"]) for r in rows] == [
        (q1, "Q1 shipment: Côte d'Ivoire", "alice", 3, "hansen_gfc v1.12 -> v1.13"),
        (north, "North", "bob.b@example.org", 1, "hansen_gfc v1.12 -> v1.13")]
    assert [c.name for c in mat.metadata["jobs"].value.schema.columns] == [
        "job_id", "job_name", "owner", "plots", "layers (old -> new)", "submitted"]
    assert mat.metadata["partition_keys"].value == f"{q1},{north}"
    [check] = stale.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["stale_jobs"].value == 2

    # automatic re-analysis (EUDR_AUTO_REANALYSE on): one run per stale job, requested once per new versions
    sensor = defs.resolve_sensor_def("stale_jobs_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    result, cursor = sensor_tick(defs, instance, "stale_jobs_sensor")
    assert {(r.partition_key, r.run_key) for r in result.run_requests} == {
        (q1, f"{q1}:reanalyse:hansen_gfc=v1.13"), (north, f"{north}:reanalyse:hansen_gfc=v1.13")}
    req = next(r for r in result.run_requests if r.partition_key == q1)
    assert req.tags["eudr/owner"] == "alice" and sensor.job_name == "reanalyse_job"

    # the re-analysis: a reanalyse_job run of the job, no token charged
    reanalysis = run(defs, instance, req, sensor.job_name)
    assert reanalysis.success
    assert instance.get_run_by_id(reanalysis.run_id).tags[REANALYSIS_TAG] == "true"  # counted as in flight
    assert state.ledger.balance("alice") == balance and len(spends(state, q1)) == 1
    assert state.jobs.job(q1)["status"] in ("done", "done-with-errors")
    current = versions_in_use(defs.resources["layer_store"].store())
    assert [j.job_id for j in stale_jobs(state.engine, current)] == [north]
    assert table_rows(materialize_stale_jobs(defs, instance))[0]["job_id"] == north
    result, _ = sensor_tick(defs, instance, "stale_jobs_sensor", cursor)
    assert [r.partition_key for r in result.run_requests] == [north]


def test_the_reanalysis_sensor_is_off_unless_the_setting_says_so(tmp_path):
    assert Settings().auto_reanalyse is False
    assert Settings.from_env({"EUDR_AUTO_REANALYSE": "true"}).auto_reanalyse is True
    defs = build_definitions(Settings(data_dir=tmp_path))
    assert defs.resolve_sensor_def("stale_jobs_sensor").default_status == dg.DefaultSensorStatus.STOPPED
    assert defs.resolve_sensor_def("operations_automation_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    # no stale job: the sensor (started by hand) requests nothing
    service_state(Settings(data_dir=tmp_path))
    result, _ = sensor_tick(defs, dg.DagsterInstance.ephemeral(), "stale_jobs_sensor")
    assert isinstance(result, dg.SkipReason) and result.skip_message == "no stale job"


STALE_JOBS = dg.AssetSelection.assets("stale_jobs")


def stale_jobs_tick(defs, instance, cursor=None) -> dg.EvaluateAutomationConditionsResult:
    """One tick of the operations automation sensor's condition for stale_jobs."""
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=STALE_JOBS, cursor=cursor)


def first_stale_jobs_request(defs, instance) -> dg.EvaluateAutomationConditionsResult:
    """The layers refreshed, then the tick that first requests stale_jobs (never materialized:
    the first or the next tick)."""
    assert defs.resolve_job_def("layer_refresh").execute_in_process(instance=instance).success
    result = stale_jobs_tick(defs, instance)
    if result.total_requested == 0:
        result = stale_jobs_tick(defs, instance, result.cursor)
    assert result.total_requested == 1
    return result


def new_hansen_version(defs, instance, sources) -> None:
    new_hansen_release(sources)
    assert defs.resolve_job_def("layer_refresh").execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("hansen_gfc")]).success


def test_stale_jobs_is_requested_when_a_layer_version_is_recorded(env):
    defs, instance, state, sources, _ = env
    result = first_stale_jobs_request(defs, instance)
    materialize_stale_jobs(defs, instance)
    result = stale_jobs_tick(defs, instance, result.cursor)
    assert result.total_requested == 0
    # nothing new: the layer assets record nothing, and nothing is requested
    assert defs.resolve_job_def("layer_refresh").execute_in_process(instance=instance).success
    result = stale_jobs_tick(defs, instance, result.cursor)
    assert result.total_requested == 0
    new_hansen_version(defs, instance, sources)
    assert stale_jobs_tick(defs, instance, result.cursor).total_requested == 1


def test_a_layer_version_recorded_right_after_a_request_is_not_lost(env):
    """stale_jobs requested on one tick (its first, or the hourly one), then a layer version
    recorded before the next tick, while that request's run may already have read the
    layers: the next tick requests stale_jobs again (the daily 03:00 refresh meets the
    hourly tick)."""
    defs, instance, state, sources, _ = env
    result = first_stale_jobs_request(defs, instance)
    new_hansen_version(defs, instance, sources)
    result = stale_jobs_tick(defs, instance, result.cursor)
    assert result.total_requested == 1
    materialize_stale_jobs(defs, instance)  # that run, after the version: nothing more to do
    assert stale_jobs_tick(defs, instance, result.cursor).total_requested == 0


def test_the_job_sensor_waits_for_the_layer_versions(env):
    defs, instance, state, sources, plots = env
    job_id = submit(state, plots, "alice", "early", ("demo-02",))
    for _ in range(2):  # accepted before the first layer refresh: waits, no attempt consumed
        result, _ = sensor_tick(defs, instance, "job_submission_sensor")
        assert not result.run_requests and WAITING_FOR_LAYERS in result.skip_reason.skip_message
    job = state.jobs.job(job_id)
    assert (job["status"], job["attempts"]) == ("pending", 0)
    ensure_demo_layers(state.settings)
    result, _ = sensor_tick(defs, instance, "job_submission_sensor")
    [req] = result.run_requests
    assert req.run_key == f"{job_id}:1" and state.jobs.job(job_id)["attempts"] == 1


def test_tag_values_are_what_dagster_accepts():
    from dagster._utils.tags import is_valid_strict_tag_value

    for text in ("Q1 shipment", "Côte d'Ivoire / lot 7", "x" * 500, "", None, "日本語", "a@b.example"):
        assert is_valid_strict_tag_value(tag_value(text)), text
    assert tag_value("Côte d'Ivoire / lot 7") == "Cote_d_Ivoire_lot_7"
