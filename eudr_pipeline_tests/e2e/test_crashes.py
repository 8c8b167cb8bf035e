"""Crashes against a real deployment: kill -9 of a run worker mid-analysis, of the Dagster
daemon, and of the API server. After each, every job still ends (done, done-with-errors,
or incomplete with its refund), none is lost or left pending, every file a user can fetch
is whole, and no job is charged twice."""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest
import sqlalchemy as sa
from PIL import Image

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.launcher import PID_TAG
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.client import Client
from eudr_pipeline.service.database import token_ledger
from eudr_pipeline.service.deploy import Deployment, ensure_demo_layers, free_port
from eudr_pipeline.service.job_status import TERMINAL_STATUSES
from eudr_pipeline.service.state import ServiceState
from eudr_pipeline_tests.core.test_exactextract_crosscheck import random_plots

TOKENS = 100_000


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("crash"), api_port=free_port())
    ensure_demo_layers(settings)
    dep = Deployment.prepare(settings)
    state = ServiceState(settings)
    state.accounts.add_user("carol", "carol-pw", TOKENS)
    dep.start_api()
    dep.start_daemon()
    client = Client(f"http://127.0.0.1:{settings.api_port}").login("carol", "carol-pw")
    feats = random_plots((-5.299, 6.801, -5.261, 6.839), 400, seed=9)
    for f in feats:
        f["properties"].update({"commodity": "cocoa", "harvest_date": "2024-06-30"})
    big = [p["plot_id"] for p in client.request("POST", "/plots/make_plot",
                                                {"type": "FeatureCollection", "features": feats})]
    small = [p["plot_id"] for p in client.request("POST", "/plots/make_plot", {
        "type": "FeatureCollection", "features": [f for f in demo_plots()["features"]
                                                  if f["properties"]["plot_id"] in ("demo-01", "demo-02")]})]
    try:
        yield dep, state, client, big, small
    finally:
        dep.stop()


def process(dep: Deployment, word: str) -> psutil.Process:
    return next(psutil.Process(p.pid) for p in dep.procs if p.poll() is None and word in " ".join(map(str, p.args)))


def command_line(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def run_worker(dep: Deployment, job_id: str) -> psutil.Process | None:
    """The process running the job's run once it has started its steps, as the launcher
    and its assets record it (``eudr/worker_pid``)."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    with DagsterInstance.from_config(dep.env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs(RunsFilter(tags={"eudr/job_id": job_id}, statuses=[DagsterRunStatus.STARTED]), limit=1)
    pid = runs[0].tags.get(PID_TAG) if runs else None
    return psutil.Process(int(pid)) if pid and psutil.pid_exists(int(pid)) else None


def wait_ended(state: ServiceState, job_ids: list[str], timeout: float = 180) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        status = {j: state.jobs.job(j)["status"] for j in job_ids}
        if all(s in TERMINAL_STATUSES for s in status.values()) or time.monotonic() > deadline:
            return status
        time.sleep(1)


def assert_consistent(state: ServiceState, job_ids: list[str]) -> None:
    """Each job settled once (one reserve, one spend, refunds making up the rest) and every
    file in its results folder whole."""
    with state.engine.connect() as con:
        rows = [dict(r) for r in con.execute(sa.select(token_ledger).where(token_ledger.c.job_id.in_(job_ids))).mappings()]
    for job_id in job_ids:
        kinds: dict[str, list[int]] = {}
        for r in rows:
            if r["job_id"] == job_id:
                kinds.setdefault(r["kind"], []).append(r["amount"])
        assert len(kinds["reserve"]) == 1 and len(kinds["spend"]) == 1, (job_id, kinds)
        assert kinds["reserve"][0] == kinds["spend"][0] + sum(kinds.get("refund", [])), (job_id, kinds)
        for f in (state.results_dir / job_id).rglob("*"):
            if f.suffix == ".json":
                json.loads(f.read_bytes())
            elif f.suffix == ".png":
                Image.open(f).load()
    b = state.ledger.balance("carol")
    assert b.reserved == 0 and b.balance <= TOKENS


def test_a_run_worker_killed_mid_analysis(deployment):
    dep, state, client, big, _ = deployment
    job_id = client.request("POST", "/jobs/make_job", {"job_name": "killed worker", "plot_ids": big})["job_id"]
    deadline, worker = time.monotonic() + 120, None
    while worker is None and time.monotonic() < deadline:
        worker = run_worker(dep, job_id)
        time.sleep(0.1)
    assert worker is not None, "no run worker started"
    assert "defs.daemon" not in command_line(worker) and worker.pid not in {p.pid for p in dep.procs}
    assert worker.ppid() == dep.run_worker_pool.pid  # forked by the pre-imported run worker pool
    time.sleep(0.3)  # into the analysis
    worker.send_signal(signal.SIGKILL)
    status = wait_ended(state, [job_id])
    assert status[job_id] == "done", status  # run monitoring failed the run, the sensor's attempt 2 finished it
    assert state.jobs.job(job_id)["attempts"] == 2
    assert_consistent(state, [job_id])


def test_the_daemon_killed_and_restarted(deployment):
    dep, state, client, _, small = deployment
    jobs = [client.request("POST", "/jobs/make_job", {"job_name": f"daemon {k}", "plot_ids": small})["job_id"]
            for k in range(3)]
    daemon = process(dep, "eudr_pipeline.defs.daemon")
    os.kill(daemon.pid, signal.SIGKILL)
    daemon.wait(10)
    jobs += [client.request("POST", "/jobs/make_job", {"job_name": "while down", "plot_ids": small})["job_id"]]
    dep.start_daemon()
    status = wait_ended(state, jobs)
    assert all(s == "done" for s in status.values()), status
    assert_consistent(state, jobs)


def test_the_api_killed_and_restarted(deployment):
    dep, state, client, _, small = deployment
    jobs = [client.request("POST", "/jobs/make_job", {"job_name": f"api {k}", "plot_ids": small})["job_id"]
            for k in range(2)]
    api = process(dep, "serve")
    os.killpg(api.pid, signal.SIGKILL)  # the server and its worker processes (EUDR_API_WORKERS), at once
    api.wait(10)
    status = wait_ended(state, jobs)  # the daemon goes on without the API
    dep.procs = [p for p in dep.procs if p.poll() is None]
    dep.start_api()
    again = Client(client.base_url).login("carol", "carol-pw")
    assert all(again.request("GET", f"/jobs/{j}?include_plots=false")["status"] == "done" for j in jobs), status
    assert_consistent(state, jobs)


def test_the_daemon_evaluates_the_job_sensor_every_second(deployment):
    """The deployment's daemon (defs/daemon.py) turns its sensor loop every 0.5 s, so the
    job sensor (minimum interval 1 s) is evaluated about every second; Dagster's own loop
    would space its ticks 5 s at least, and a submitted job would wait for that."""
    dep = deployment[0]
    time.sleep(12)  # ticks of the running daemon, whatever the tests before did
    with dep.instance() as instance:
        [sensor] = [s for s in instance.all_instigator_state() if s.name == "job_submission_sensor"]
        ticks = instance.get_ticks(sensor.instigator_origin_id, sensor.selector_id, limit=10)
    times = sorted(t.timestamp for t in ticks)
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    assert len(gaps) == 9 and gaps[len(gaps) // 2] < 3, gaps
