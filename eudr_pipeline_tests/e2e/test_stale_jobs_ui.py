"""Stale jobs on a real deployment (API, daemon, webserver): a customer job runs through
the sensor, a new Hansen version is ingested by the `layer_refresh` job, the automation
sensor materializes `stale_jobs`, and its table shows the job's name and owner on the
asset page of the Dagster UI in headless Chromium (screenshot kept as
/tmp/stale_jobs_ui.png). Then the documented action: `eudr jobs stale` lists the job and
`eudr jobs reanalyse --stale` backfills exactly it; the daemon re-analyses it, no token
is charged, and no job is stale any more."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import dagster as dg
import pytest

from eudr_pipeline.config import Settings
from eudr_pipeline.demo import demo_plots, write_demo
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline.service.client import Client
from eudr_pipeline.service.deploy import PROJECT_ROOT, Deployment, free_port
from eudr_pipeline.service.stale_jobs import stale_jobs, versions_in_use
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline_tests.defs.test_layers_flow import new_hansen_release
from eudr_pipeline_tests.e2e.test_report_browser import run_chromium

OWNER, PASSWORD = "carol", "carol-pw"
JOB_NAME = "Shipment 42 Abidjan"
WINDOW = "--window-size=1600,1300"
SHOT_COPY = "/tmp/stale_jobs_ui.png"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("stale-jobs-ui")
    sources, _ = write_demo(root / "demo")
    settings = Settings(data_dir=root / "data", layer_sources=str(sources), api_port=free_port(),
                        dagster_port=free_port(), layer_observe_minutes=1)
    dep = Deployment.prepare(settings)
    try:
        dep.ingest_layers()
        ServiceState(settings).accounts.add_user(OWNER, PASSWORD, 100)
        dep.start_api()
        dep.start_daemon()
        dep.start_webserver()
        dep.wait_http(f"http://127.0.0.1:{settings.dagster_port}/server_info", 300)
        yield dep, sources
    finally:
        dep.stop()


def wait_for(what: str, check, timeout: float = 400.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(2)
    return value


def stale_jobs_table(instance: dg.DagsterInstance) -> list[dict] | None:
    """The rows of the latest stale_jobs materialization's table (None before the first)."""
    event = instance.get_latest_materialization_event(dg.AssetKey("stale_jobs"))
    return None if event is None else [r.data for r in event.asset_materialization.metadata["jobs"].value.records]


def observed_version(instance: dg.DagsterInstance, source: str) -> str | None:
    """The data version of a source asset's latest observation (what the UI compares)."""
    records = instance.fetch_observations(dg.AssetKey(source), limit=1).records
    return records[0].asset_observation.tags.get("dagster/data_version") if records else None


def eudr(dep: Deployment, *args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "eudr_pipeline.cli", *args], env=dep.env, cwd=PROJECT_ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_stale_job_in_the_dagster_ui_then_reanalysed(deployment, tmp_path):
    dep, sources = deployment
    settings = dep.settings
    api = Client(f"http://127.0.0.1:{settings.api_port}").login(OWNER, PASSWORD)
    feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-02", "demo-04")]
    plots = api.request("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": feats})
    job_id = api.request("POST", "/jobs/make_job", {"job_name": JOB_NAME,
                                                    "plot_ids": [p["plot_id"] for p in plots]})["job_id"]
    assert api.wait_job(job_id, timeout=300)["status"] in ("done", "done-with-errors")
    state = ServiceState(settings)
    balance = state.ledger.balance(OWNER)
    first = api.request("GET", f"/jobs/{job_id}")
    demo_04_id = next(p["plot_id"] for p in plots if p["geojson_features"][0]["properties"]["plot_id"] == "demo-04")
    demo_04 = next(p for p in first["plots"] if p["plot_id"] == demo_04_id)
    map_before = api.request("GET", urllib.parse.urlsplit(demo_04["analysis_image"]).path, raw=True)

    # a new version folder appears: observed by the daemon's layer observation sensor (every
    # minute here), so Dagster knows it before it is ingested; then picked up now, once
    new_hansen_release(sources)
    store = LayerStore.from_settings(settings)
    with dg.DagsterInstance.from_config(dep.env["DAGSTER_HOME"]) as instance:
        wait_for("hansen_gfc v1.13 observed", lambda: observed_version(instance, "hansen_gfc_source") == "v1.13", 150)
    assert store.catalogue.get("hansen_gfc", "v1.13") is None  # seen, not ingested yet
    refresh = eudr(dep, "layers", "refresh")
    assert "hansen_gfc v1.13: ingesting... done" in refresh, refresh
    assert "hansen_gfc v1.13: ingesting... already in the store" in eudr(dep, "layers", "refresh")  # once
    with dg.DagsterInstance.from_config(dep.env["DAGSTER_HOME"]) as instance:
        records = instance.fetch_materializations(dg.AssetKey("hansen_gfc"), limit=10).records
        assert [r.asset_materialization.tags["dagster/data_version"] for r in records].count("v1.13") == 1
    # hansen_gfc v1.13 recorded: the automation sensor materializes stale_jobs
    with dg.DagsterInstance.from_config(dep.env["DAGSTER_HOME"]) as instance:
        rows = wait_for("stale_jobs listing the job", lambda: [r for r in stale_jobs_table(instance) or []
                                                                if r["job_id"] == job_id])
    assert (rows[0]["job_name"], rows[0]["owner"], rows[0]["plots"]) == (JOB_NAME, OWNER, 2)
    assert rows[0]["layers (old -> new)"] == "hansen_gfc v1.12 -> v1.13"

    # the asset's page in the Dagster UI: the table with the job's name and owner (no
    # first-visit dialog over it: the deployment's instance turns Dagster's "nux" off)
    url = f"http://127.0.0.1:{settings.dagster_port}/assets/stale_jobs?view=events"
    dom = run_chromium(tmp_path, WINDOW, "--virtual-time-budget=30000", "--dump-dom", url).stdout
    text = re.sub(r"<[^>]+>", " ", dom)
    assert JOB_NAME in text and OWNER in text and job_id in text, text[-3000:]
    shot = tmp_path / "stale_jobs_ui.png"
    run_chromium(tmp_path, WINDOW, "--virtual-time-budget=30000", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 20_000
    shutil.copy(shot, SHOT_COPY)

    # the documented action: list, then backfill exactly the stale jobs
    listed = eudr(dep, "jobs", "stale")
    assert job_id in listed and JOB_NAME in listed and "hansen_gfc v1.12 -> v1.13" in listed
    launched = eudr(dep, "jobs", "reanalyse", "--stale")
    backfill_id = re.search(r"backfill (\S+):", launched).group(1)
    assert f"/runs/b/{backfill_id}" in launched and "1 job partition" in launched
    current = versions_in_use(LayerStore.from_settings(settings))
    wait_for("the re-analysis", lambda: not stale_jobs(state.engine, current))
    with dg.DagsterInstance.from_config(dep.env["DAGSTER_HOME"]) as instance:
        backfill = instance.get_backfill(backfill_id)
        assert list(backfill.partition_names) == [job_id]
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert [r.tags["dagster/partition"] for r in runs] == [job_id]
    assert state.ledger.balance(OWNER) == balance  # no token charged for the re-analysis
    # the job's analysis, maps and response are all of the new version
    second = api.request("GET", f"/jobs/{job_id}")
    assert second["analysis_run"] != first["analysis_run"]
    assert {p["analysis"]["version"] for p in first["plots"]} != {p["analysis"]["version"] for p in second["plots"]}
    assert all("v1.13" in json.dumps(p["analysis"]["sources"]) for p in second["plots"])
    demo_04_after = next(p for p in second["plots"] if p["plot_id"] == demo_04["plot_id"])
    assert demo_04_after["analysis"]["deforestation"]["total"] > demo_04["analysis"]["deforestation"]["total"]
    map_after = api.request("GET", urllib.parse.urlsplit(demo_04_after["analysis_image"]).path, raw=True)
    assert map_after != map_before
    response_json = json.loads(state.results.read_bytes(f"{job_id}/response.json"))
    assert response_json["analysis_run"] == second["analysis_run"]
    history = api.request("GET", f"/analysis-runs?plot_id={demo_04['plot_id']}")["analysis_runs"]
    assert len(history) == 2 and history[0]["layer_versions"] != history[1]["layer_versions"], history
    assert "0 stale job(s)" in eudr(dep, "jobs", "stale")
    # the report follows in a run of its own (the automation sensor's, at the lowest priority), of the new analysis
    report = wait_for("the report of the re-analysis", lambda: (
        b"v1.13" in (html := state.results.read_bytes(f"{job_id}/report.html")) and html), 120)
    assert b"v1.12" not in report
    with dg.DagsterInstance.from_config(dep.env["DAGSTER_HOME"]) as instance:
        [event] = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("job_reports"), asset_partitions=[job_id]), limit=1).records
        follow_up = instance.get_run_by_id(event.run_id)
        assert follow_up.tags.get("dagster/backfill") is None and int(follow_up.tags["dagster/priority"]) < 0
        assert event.asset_materialization.metadata["analysis_run"].value == second["analysis_run"]
