"""Job results on S3 (moto's S3-compatible HTTP server): what a run worker writes (maps,
response.json, the report) through the results store is what the API of another host,
with its own empty data folder, serves, without drawing or rendering anything again."""

from __future__ import annotations

import base64
import dataclasses
import logging

import dagster as dg
from fastapi.testclient import TestClient

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.submissions.assets import job_reports, job_responses, response_key
from eudr_pipeline.definitions import build_resources
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.app import create_app
from eudr_pipeline.service.dry_run import DRY_RUN_ANALYSIS, simulate
from eudr_pipeline.service.maps import MapRequest, map_key, overview_key, plot_map_file
from eudr_pipeline.service.reports import report_object
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline_tests.conftest import service_state, submit_job_as
from eudr_pipeline_tests.s3_store import object_keys, s3_client, s3_env, s3_server_env, s3_uri  # noqa: F401 (fixtures)

SECRET = "test-secret-of-32-characters-at-least"


def test_results_written_on_one_host_are_served_by_the_api_of_another(tmp_path, s3_uri, s3_env, caplog):
    worker = Settings(data_dir=tmp_path / "worker", database_url=f"sqlite:///{tmp_path / 'shared.sqlite'}",
                      object_store=s3_uri, jwt_secret=SECRET, layer_sources=str(tmp_path / "unused-sources"))
    state = service_state(worker)
    state.accounts.add_user("dora", "dora-pw", 50)
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-02")]
    ids = [p["plot_id"] for p in state.plots.register("dora", feats)]
    job_id = submit_job_as(state, "dora", ids, dry_run=True)
    simulate(state, job_id)  # the overview, drawn and published
    drawn = plot_map_file(MapRequest.of(state, state.jobs.job(job_id)), ids[0])  # a plot map, drawn and published
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [job_id])
    assert dg.materialize([job_responses, job_reports], partition_key=job_id, instance=instance,
                          resources=build_resources(worker)).success  # response.json, thumbnails, report.html

    results = f"{s3_uri}/results"
    written = {overview_key(job_id, DRY_RUN_ANALYSIS), map_key(job_id, DRY_RUN_ANALYSIS, ids[0]), response_key(job_id),
               report_object(job_id, "html")}
    assert written <= object_keys(s3_env, results)
    bucket, _, prefix = results[len("s3://"):].partition("/")
    s3 = s3_client(s3_env)

    def s3_object(key: str) -> tuple[bytes, str]:
        obj = s3.get_object(Bucket=bucket, Key=f"{prefix}/{key}")
        return obj["Body"].read(), str(obj["LastModified"])

    before = {key: s3_object(key) for key in written}

    api_settings = dataclasses.replace(worker, data_dir=tmp_path / "api")  # another host: nothing local
    api = ServiceState(api_settings)
    assert not api_settings.data_dir.exists()
    assert api.results.read_bytes(response_key(job_id)) == before[response_key(job_id)][0]
    caplog.set_level(logging.INFO, logger="werkzeug")  # the S3 server's own request log (moto, this process)
    caplog.clear()
    with TestClient(create_app(api)) as client:
        basic = base64.b64encode(b"dora:dora-pw").decode()
        token = client.post("/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        overview = client.get(f"/jobs/{job_id}/overview.png")
        assert overview.status_code == 200 and overview.content == before[overview_key(job_id, DRY_RUN_ANALYSIS)][0]
        image = client.get(f"/jobs/{job_id}/plots/{ids[0]}/image.png")
        assert image.status_code == 200
        assert image.content == drawn.read_bytes() == before[map_key(job_id, DRY_RUN_ANALYSIS, ids[0])][0]
        report = client.get(f"/jobs/{job_id}/report")
        assert report.status_code == 200 and report.content == before[report_object(job_id, "html")][0]
        assert client.get(f"/jobs/{job_id}/plots/not-in-the-job/image.png").status_code == 404
    requests = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET ' in m for m in requests), requests  # the log does record the API's reads
    assert not [m for m in requests if '"PUT ' in m or '"POST ' in m or '"DELETE ' in m], requests  # nothing written
    assert {key: s3_object(key) for key in written} == before  # served as written: nothing drawn or rendered again
    on_disk = {p.relative_to(api_settings.data_dir).as_posix() for p in api_settings.data_dir.rglob("*") if p.is_file()}
    assert on_disk and all(p.startswith(f"results/{job_id}/") for p in on_disk), on_disk  # working copies only


def test_a_job_run_on_s3_layers_publishes_every_result(tmp_path, s3_uri, s3_env):
    """process_job end to end on an s3:// object store: layers ingested there, the analysis
    read from it, every result (GeoParquet, maps, response, report) published to it."""
    from eudr_pipeline.definitions import build_definitions
    from eudr_pipeline.layers.refresh import ingest_new_versions
    from eudr_pipeline.layers.store import LayerStore

    settings = Settings(data_dir=tmp_path / "data", object_store=s3_uri)
    state = service_state(settings)
    assert all(o.ok for o in ingest_new_versions(settings.resolved_layer_sources(), LayerStore.from_settings(settings)))
    state.accounts.add_user("mia", "pw", 50)
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-10")]
    ids = [p["plot_id"] for p in state.plots.register("mia", feats)]
    job_id = submit_job_as(state, "mia", ids)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("jobs", [job_id])
    result = build_definitions(settings).resolve_job_def("process_job").execute_in_process(
        instance=instance, partition_key=job_id)
    assert result.success
    job = state.jobs.job(job_id)
    assert job["status"] == "done-with-errors" and job["layer_versions"]["jrc_gfc2020"] == "V3"  # demo-10 fails
    keys = object_keys(s3_env, f"{s3_uri}/results")
    run = result.run_id  # the analysis's maps are in its own folder
    assert {f"{job_id}/{run}.parquet", response_key(job_id), overview_key(job_id, run), map_key(job_id, run, ids[0]),
            f"{job_id}/images/{run}/thumbs/{ids[0]}.png", report_object(job_id, "html")} <= keys, sorted(keys)
    assert map_key(job_id, run, ids[1]) not in keys  # demo-10 fails: no map
    analysed = [p for p in state.job_response(job)["plots"] if p["plot_id"] == ids[0]][0]["analysis"]
    assert analysed["forest_area_2020"] > 0 and analysed["risk_level"] in ("High", "Medium", "Low")
