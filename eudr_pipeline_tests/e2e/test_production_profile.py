"""The scaled-out production profile, end to end, on real servers started here: the Dagster
instance on PostgreSQL (dagster-postgres) with the shipped deploy/production/dagster.yaml,
runs executed as Celery tasks (dagster-celery) by two Celery worker processes on a Redis
broker, the service state on PostgreSQL, and results plus the layer store on an
S3-compatible server (moto). Submission through the API, the daemon's sensor, a run on a
Celery worker, the response, images and report fetched back through the API."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io

import psutil
import pytest
from PIL import Image

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.launcher import PID_TAG
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.client import Client
from eudr_pipeline.service.deploy import PRODUCTION_INSTANCE, Deployment, free_port
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline_tests.servers import postgres_server, redis_server, s3_server

BUCKET = "eudr-production-test"
CELERY_TASK_TAG = "dagster-celery/task_id"


@dataclasses.dataclass
class Production:
    dep: Deployment
    settings: Settings
    state: ServiceState
    client: Client
    s3_env: dict[str, str]


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    root = tmp_path_factory.mktemp("production")
    (root / "pg").mkdir()
    (root / "redis").mkdir()
    with postgres_server(root / "pg", databases=("eudr", "dagster")) as pg, redis_server(root / "redis") as broker, \
            s3_server(BUCKET) as s3_env:
        settings = Settings(data_dir=root / "data", api_port=free_port(), database_url=pg["eudr"],
                            dagster_postgres_url=pg["dagster"], celery_broker_url=broker,
                            celery_workers=2, object_store=f"s3://{BUCKET}/deployment")
        dep = Deployment.prepare(settings, extra_env=s3_env)
        try:
            dep.ingest_layers()
            state = ServiceState(settings)
            state.accounts.add_user("dora", "dora-pw", 1000)
            dep.start_api()
            dep.start_daemon()
            dep.start_celery_workers()
            client = Client(f"http://127.0.0.1:{settings.api_port}").login("dora", "dora-pw")
            yield Production(dep, settings, state, client, s3_env)
        finally:
            dep.stop()


def worker_processes(dep: Deployment) -> dict[str, set[int]]:
    """{worker name: pids of the worker and its pool children}."""
    out = {}
    for p in dep.procs:
        args = " ".join(map(str, p.args))
        if "celery-worker" in args and p.poll() is None:
            proc = psutil.Process(p.pid)
            out[args.rsplit("--name ", 1)[1].split()[0]] = {proc.pid} | {c.pid for c in proc.children(recursive=True)}
    return out


def test_the_instance_is_the_shipped_production_yaml_on_postgres(production):
    import dagster as dg

    home = production.dep.env["DAGSTER_HOME"]
    assert open(f"{home}/dagster.yaml").read() == PRODUCTION_INSTANCE.read_text()
    with _env(production.dep.env):
        instance = dg.DagsterInstance.get()
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
            assert type(instance.run_launcher).__name__ == "CeleryRunLauncher"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            # the layers were ingested through Dagster into this instance
            assert instance.get_latest_materialization_event(dg.AssetKey("hansen_gfc")) is not None
        finally:
            instance.dispose()


def test_jobs_run_on_celery_workers_and_results_land_in_object_storage(production):
    import boto3
    import dagster as dg

    client = production.client
    features = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-01", "demo-02", "demo-03")]
    plot_ids = [p["plot_id"] for p in client.request("POST", "/plots/make_plot",
                                                     {"type": "FeatureCollection", "features": features})]
    before = client.request("GET", "/users/check_tokens")["balance"]

    def submit_and_wait(name: str) -> dict:
        job = client.request("POST", "/jobs/make_job", {"job_name": name, "plot_ids": plot_ids,
                                                        "checks": [{"type": "eudr", "config": {"commodity": "cocoa"}}]})
        return client.wait_job(job["job_id"], timeout=240)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two runs at once: one per worker
        jobs = list(pool.map(submit_and_wait, ["first shipment", "second shipment"]))
    assert [j["status"] for j in jobs] == ["done", "done"]
    for job in jobs:
        assert all(p["analysis"] and p["analysis"]["forest_area_2020"] is not None for p in job["plots"]), job["plots"]
    after = client.request("GET", "/users/check_tokens")["balance"]
    assert before - after == sum(j["token_cost"] for j in jobs)

    workers = worker_processes(production.dep)
    assert set(workers) == {"eudr-1", "eudr-2"}
    with _env(production.dep.env):
        instance = dg.DagsterInstance.get()
        try:
            used = set()
            for job in jobs:
                runs = finished_runs(instance, job["job_id"])
                assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
                run = runs[0]
                assert run.tags.get(CELERY_TASK_TAG), run.tags  # launched as a Celery task
                pid = int(run.tags[PID_TAG])
                ran_on = [name for name, pids in workers.items() if pid in pids]
                assert ran_on, f"run {run.run_id} ran in process {pid}, not in a Celery worker {workers}"
                used.update(ran_on)
        finally:
            instance.dispose()
    assert used == {"eudr-1", "eudr-2"}, f"both runs ran on {used}: the second worker took no run"

    # what users fetch comes back through the API from object storage
    job = jobs[0]
    full = client.request("GET", f"/jobs/{job['job_id']}")
    image_url = full["plots"][0]["image_url"] if "image_url" in full["plots"][0] else None
    s3 = boto3.client("s3", endpoint_url=production.s3_env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"deployment/results/{job['job_id']}/")
            .get("Contents", [])}
    assert f"deployment/results/{job['job_id']}/response.json" in keys, sorted(keys)
    assert any(k.endswith(".png") for k in keys), sorted(keys)
    assert any(k.endswith(".parquet") for k in keys), sorted(keys)
    layer_keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="deployment/layers/").get("Contents", [])}
    assert "deployment/layers/catalogue.duckdb" in layer_keys
    assert any(k.endswith(".tif") for k in layer_keys) and any(k.endswith(".parquet") for k in layer_keys)
    if image_url:
        png = client.request("GET", image_url.split(str(production.settings.api_port), 1)[1], raw=True)
        Image.open(io.BytesIO(png)).verify()


def test_a_celery_worker_killed_mid_run_is_retried_and_settled_once(production):
    """kill -9 of the Celery pool process executing a run: Celery marks its task failed,
    the launcher's health check reports it, run monitoring fails the run and the sensor's
    next attempt (on whichever worker is free) finishes the job, charged once."""
    import signal
    import time

    import sqlalchemy as sa

    from eudr_pipeline.service.database import token_ledger
    from eudr_pipeline.service.job_status import TERMINAL_STATUSES
    from eudr_pipeline_tests.core.test_exactextract_crosscheck import random_plots

    client, state = production.client, production.state
    feats = random_plots((-5.299, 6.801, -5.261, 6.839), 300, seed=11)
    for f in feats:
        f["properties"].update({"commodity": "cocoa", "harvest_date": "2024-06-30"})
    ids = [p["plot_id"] for p in client.request("POST", "/plots/make_plot", {"type": "FeatureCollection", "features": feats})]
    job_id = client.request("POST", "/jobs/make_job", {"job_name": "killed worker", "plot_ids": ids})["job_id"]
    workers = worker_processes(production.dep)
    pid, deadline = None, time.monotonic() + 120
    with _env(production.dep.env):
        import dagster as dg

        instance = dg.DagsterInstance.get()
        try:
            while pid is None and time.monotonic() < deadline:
                runs = instance.get_runs(dg.RunsFilter(tags={"eudr/job_id": job_id}), limit=1)
                pid = int(runs[0].tags[PID_TAG]) if runs and PID_TAG in runs[0].tags else None
                time.sleep(0.1)
        finally:
            instance.dispose()
    assert pid is not None, "no run started"
    assert any(pid in pids for pids in workers.values()), (pid, workers)
    assert pid not in {p.pid for p in production.dep.procs}  # a pool child, not a worker's main process
    psutil.Process(pid).send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 240
    while state.jobs.job(job_id)["status"] not in TERMINAL_STATUSES and time.monotonic() < deadline:
        time.sleep(1)
    job = state.jobs.job(job_id)
    assert job["status"] == "done" and job["attempts"] == 2, job
    with state.engine.connect() as con:
        kinds = [r["kind"] for r in con.execute(sa.select(token_ledger).where(token_ledger.c.job_id == job_id)).mappings()]
    assert kinds.count("reserve") == 1 and kinds.count("spend") == 1, kinds
    assert set(worker_processes(production.dep)) == {"eudr-1", "eudr-2"}  # both workers still serve


def finished_runs(instance, job_id: str, timeout: float = 120.0) -> list:
    """The job's runs once none is in progress (the report step runs after the job is done)."""
    import time

    import dagster as dg

    deadline = time.monotonic() + timeout
    while True:
        runs = instance.get_runs(dg.RunsFilter(tags={"eudr/job_id": job_id}))
        if all(r.is_finished for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


class _env:
    """The deployment's environment in os.environ for a block (the instance YAML reads it)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __enter__(self):
        import os

        self.saved = dict(os.environ)
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("EUDR_", "DAGSTER_", "AWS_"))})

    def __exit__(self, *exc):
        import os

        os.environ.clear()
        os.environ.update(self.saved)
