"""A job re-analysed after a new layer version, through real Dagster runs and the API: the
new analysis is recorded unseen, the automation conditions request the job's maps,
response and report (and only then), and users see the new numbers with the new maps
once they are published, never a mix; tokens are not charged again; runs and
materializations carry the job's name and owner."""

from __future__ import annotations

import base64

import dagster as dg
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from eudr_pipeline.config import Settings
from eudr_pipeline.definitions import build_definitions
from eudr_pipeline.defs.submissions.assets import response_key
from eudr_pipeline.defs.submissions.sensors import job_run_tags
from eudr_pipeline.demo import demo_plots, write_demo
from eudr_pipeline.service.app import create_app
from eudr_pipeline.service.database import token_ledger
from eudr_pipeline.service.deploy import ensure_demo_layers
from eudr_pipeline.service.job_requests import validate_job_request
from eudr_pipeline.service.jobs import submit_job
from eudr_pipeline.service.schemas import MakeJobRequest
from eudr_pipeline_tests.conftest import service_state
from eudr_pipeline_tests.defs.test_layers_flow import new_hansen_release

JOB_NAME = "Q1 shipment – Côte d'Ivoire"
FOLLOWERS = ("job_images", "job_responses", "job_reports")
ASSETS = ("job_analyses",) + FOLLOWERS


@pytest.fixture
def env(tmp_path):
    sources, _ = write_demo(tmp_path / "demo")
    settings = Settings(data_dir=tmp_path / "data", layer_sources=str(sources))
    state = service_state(settings)
    ensure_demo_layers(settings)  # hansen_gfc v1.12
    state.accounts.add_user("erin", "erin-pw", 50)
    return settings, state, sources, build_definitions(settings), dg.DagsterInstance.ephemeral()


def submit(state, *demo_ids: str) -> tuple[str, list[str]]:
    """A named job of demo plots, submitted as POST /jobs/make_job does; its id and plot ids."""
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in demo_ids]
    plots = state.plots.register("erin", feats)
    ids = [p["plot_id"] for p in plots]
    request = validate_job_request(MakeJobRequest(job_name=JOB_NAME, plot_ids=ids), "erin", state.plots)
    return submit_job(state, "erin", request, False), ids


def evaluate(defs, instance, cursor=None) -> dg.EvaluateAutomationConditionsResult:
    """One tick of the job automation sensor's conditions (Dagster's own test utility)."""
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor,
                                             asset_selection=dg.AssetSelection.assets(*FOLLOWERS))


def requested(result: dg.EvaluateAutomationConditionsResult) -> dict[str, set]:
    return {name: set(result.get_requested_partitions(dg.AssetKey(name))) for name in FOLLOWERS
            if result.get_requested_partitions(dg.AssetKey(name))}


def api_client(state) -> TestClient:
    client = TestClient(create_app(state))
    token = client.post("/login", headers={"Authorization": "Basic " + base64.b64encode(b"erin:erin-pw").decode()})
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def seen(client: TestClient, job_id: str, plot_id: str) -> dict:
    """Everything a user can fetch of the job: the response, the maps, the CSV export, the
    report and the plot's analysis history."""
    resp = client.get(f"/jobs/{job_id}").json()
    return {"resp": resp, "image": client.get(f"/jobs/{job_id}/plots/{plot_id}/image.png"),
            "overview": client.get(f"/jobs/{job_id}/overview.png").content,
            "csv": client.get(f"/jobs/{job_id}/export", params={"format": "csv"}).text,
            "report": client.get(f"/jobs/{job_id}/report").text,
            "history": client.get("/analysis-runs", params={"plot_id": plot_id}).json()["analysis_runs"]}


def hansen(resp: dict, plot_id: str) -> tuple[str, str]:
    """The hansen_gfc version of the job (its layer_versions) and of the plot's analysis."""
    plot = next(p for p in resp["plots"] if p["plot_id"] == plot_id)
    [source] = [s for s in plot["analysis"]["sources"] if s["layer"] == "hansen_gfc"]
    return resp["layer_versions"]["hansen_gfc"], source["data_version"]


def ledger_kinds(state, job_id: str) -> list[str]:
    with state.engine.connect() as con:
        return sorted(con.execute(sa.select(token_ledger.c.kind).where(token_ledger.c.job_id == job_id)).scalars())


def materialized(instance, name: str, job_id: str) -> dg.EventLogRecord:
    records = dg.AssetRecordsFilter(asset_key=dg.AssetKey(name), asset_partitions=[job_id])
    return instance.fetch_materializations(records, limit=1).records[0]


def test_a_reanalysis_is_published_with_its_maps_response_and_report_and_charges_nothing(env):
    settings, state, sources, defs, instance = env
    tick = evaluate(defs, instance)  # the sensor's first tick, before any job
    job_id, (demo_04, demo_10) = submit(state, "demo-04", "demo-10")  # demo-10 fails: no layer covers it
    instance.add_dynamic_partitions("jobs", [job_id])  # as the job sensor does
    tick = evaluate(defs, instance, tick.cursor)
    assert requested(tick) == {}  # a new job's partition: its analysis is missing, the job sensor's run comes first

    # the job sensor's run: all four assets in one run, not followed by an automatic one
    first = defs.resolve_job_def("process_job").execute_in_process(instance=instance, partition_key=job_id)
    assert first.success
    tick = evaluate(defs, instance, tick.cursor)
    assert requested(tick) == {}
    client = api_client(state)
    before = seen(client, job_id, demo_04)
    assert before["resp"]["analysis_run"] == first.run_id and before["resp"]["status"] == "done-with-errors"
    assert hansen(before["resp"], demo_04) == ("v1.12", "v1.12") and before["image"].status_code == 200
    assert before["image"].headers["x-analysis-run"] == first.run_id
    response_json = state.results.read_bytes(response_key(job_id))
    assert orjson.loads(response_json)["analysis_run"] == first.run_id
    balance = state.ledger.balance("erin")
    assert ledger_kinds(state, job_id) == ["refund", "reserve", "spend"]

    # a new Hansen release; only job_analyses is re-materialized (a backfill of the stale partition)
    new_hansen_release(sources)
    ensure_demo_layers(settings)
    again = dg.materialize([defs.resolve_assets_def("job_analyses")], partition_key=job_id, instance=instance)
    assert again.success
    history = state.jobs.analysis_history(demo_04, job_id)
    assert [h["layer_versions"]["hansen_gfc"] for h in history] == ["v1.12", "v1.13"]
    # recorded, not published: whatever a user fetches is still the first analysis, maps included
    assert state.jobs.job(job_id)["published_run"] == first.run_id
    assert state.job_response(state.jobs.job(job_id)) == orjson.loads(response_json)  # the published response, whole
    during = seen(client, job_id, demo_04)
    assert during["resp"] == before["resp"] and hansen(during["resp"], demo_04) == ("v1.12", "v1.12")
    assert during["image"].content == before["image"].content and during["overview"] == before["overview"]
    assert during["csv"] == before["csv"] and during["report"] == before["report"]
    assert len(during["history"]) == 1  # the analysis users have not seen is not in their history
    assert state.results.read_bytes(response_key(job_id)) == response_json

    # the automation conditions request the rest of the chain for that partition, once
    tick = evaluate(defs, instance, tick.cursor)
    assert requested(tick) == {name: {job_id} for name in FOLLOWERS}
    followers = [defs.resolve_assets_def(name) for name in FOLLOWERS]
    follow = dg.materialize(followers, partition_key=job_id, instance=instance)  # one run, as the sensor makes it
    assert follow.success
    tick = evaluate(defs, instance, tick.cursor)
    assert requested(tick) == {}

    # published: the new numbers with the new maps everywhere, and nothing charged again
    after = seen(client, job_id, demo_04)
    assert after["resp"]["analysis_run"] == again.run_id
    assert hansen(after["resp"], demo_04) == ("v1.13", "v1.13")
    assert after["resp"]["plots"][0]["analysis"]["deforestation"]["total_yearly"]["2024"] > 0
    assert after["image"].status_code == 200 and after["image"].content != before["image"].content
    assert after["image"].headers["x-analysis-run"] == again.run_id and after["overview"] != before["overview"]
    assert "hansen_gfc/v1.13" in after["csv"] and "v1.12" not in after["csv"]
    assert "v1.13" in after["report"] and "v1.12" not in after["report"]
    report_html = state.results.read_bytes(f"{job_id}/report.html").decode()
    assert "v1.13" in report_html and "v1.12" not in report_html
    written = orjson.loads(state.results.read_bytes(response_key(job_id)))
    assert written["analysis_run"] == again.run_id and hansen(written, demo_04) == ("v1.13", "v1.13")
    assert [h["layer_versions"]["hansen_gfc"] for h in after["history"]] == ["v1.12", "v1.13"]
    assert ledger_kinds(state, job_id) == ["refund", "reserve", "spend"] and state.ledger.balance("erin") == balance
    assert follow.asset_materializations_for_node("job_responses")[0].metadata["settled_now"].value is False
    # the first analysis's maps stay (what users saw then), beside the new ones
    assert state.results.exists(f"{job_id}/images/{first.run_id}/{demo_04}.png")
    assert state.results.exists(f"{job_id}/images/{again.run_id}/{demo_04}.png")
    assert not state.results.exists(f"{job_id}/images/{again.run_id}/{demo_10}.png")

    # every run and materialization names the job and its owner (the partition key stays the job id)
    tags = job_run_tags(job_id, JOB_NAME, "erin")
    assert tags["eudr/job_name"] == "Q1_shipment_Cote_d_Ivoire"
    for result in (first, again, follow):
        run = instance.get_run_by_id(result.run_id)
        assert {k: run.tags.get(k) for k in tags} == tags, run.tags
        assert run.tags["dagster/partition"] == job_id
    for name in ASSETS:
        md = materialized(instance, name, job_id).asset_materialization.metadata
        assert (md["job_name"].value, md["owner"].value) == (JOB_NAME, "erin"), name

    # the job sensor's own runs are never followed: it retries a failed one whole (its next attempt)
    assert dg.materialize([defs.resolve_assets_def("job_analyses")], partition_key=job_id, instance=instance,
                          tags={"eudr/attempt": "2"}).success
    assert requested(evaluate(defs, instance, tick.cursor)) == {}


def test_a_job_response_needs_the_maps_of_the_analysis_it_publishes(env):
    """job_responses refuses to publish an analysis whose maps are not drawn: users would
    get its numbers with no maps (or with the previous analysis's)."""
    settings, state, sources, defs, instance = env
    job_id, _ = submit(state, "demo-04")
    instance.add_dynamic_partitions("jobs", [job_id])
    assert dg.materialize([defs.resolve_assets_def("job_analyses")], partition_key=job_id, instance=instance).success
    result = dg.materialize([defs.resolve_assets_def("job_responses")], partition_key=job_id, instance=instance,
                            raise_on_error=False)
    assert not result.success
    assert "has no maps yet" in str([e for e in result.all_events if e.is_step_failure][0].event_specific_data.error)
    job = state.jobs.job(job_id)
    assert job["published_run"] is None and job["status"] == "pending"
    assert state.job_response(job)["plots"][0]["analysis"] == {}  # pending: no analysis shown
    assert ledger_kinds(state, job_id) == ["reserve"]  # nothing settled


def test_a_reanalyse_job_run_publishes_and_its_report_follows_at_the_lowest_priority(env):
    """reanalyse_job publishes the new analysis (maps and response) without drawing the
    report; the automation conditions then request the report alone, in a run at the
    follow-up priority, below a re-analysis's and a customer job's."""
    settings, state, sources, defs, instance = env
    tick = evaluate(defs, instance)
    job_id, (demo_04,) = submit(state, "demo-04")
    instance.add_dynamic_partitions("jobs", [job_id])
    first = defs.resolve_job_def("process_job").execute_in_process(instance=instance, partition_key=job_id)
    assert first.success
    tick = evaluate(defs, instance, tick.cursor)
    assert b"v1.12" in state.results.read_bytes(f"{job_id}/report.html")
    ledger = ledger_kinds(state, job_id)

    new_hansen_release(sources)
    ensure_demo_layers(settings)
    again = defs.resolve_job_def("reanalyse_job").execute_in_process(instance=instance, partition_key=job_id)
    assert again.success
    assert [e.asset_key.path[0] for e in again.get_asset_materialization_events()] == [
        "job_analyses", "job_images", "job_responses"]
    run = instance.get_run_by_id(again.run_id)
    assert run.tags["eudr/reanalysis"] == "true" and int(run.tags["dagster/priority"]) < 0
    # published: the API shows the new analysis, and a report asked for now is of it (rendered on request)
    client = api_client(state)
    now = seen(client, job_id, demo_04)
    assert now["resp"]["analysis_run"] == again.run_id and hansen(now["resp"], demo_04) == ("v1.13", "v1.13")
    assert "v1.13" in now["report"] and "v1.12" not in now["report"]
    assert ledger_kinds(state, job_id) == ledger  # nothing charged again

    # the report alone follows, at a priority below the re-analysis's
    tick = evaluate(defs, instance, tick.cursor)
    assert requested(tick) == {"job_reports": {job_id}}
    sensor = defs.resolve_sensor_def("job_automation_sensor")
    assert int(sensor.run_tags["dagster/priority"]) < int(run.tags["dagster/priority"])
    assert dg.materialize([defs.resolve_assets_def("job_reports")], partition_key=job_id, instance=instance).success
    assert requested(evaluate(defs, instance, tick.cursor)) == {}
    report_html = state.results.read_bytes(f"{job_id}/report.html").decode()
    assert "v1.13" in report_html and "v1.12" not in report_html
