"""A bounded load test on loopback against a real deployment (API server, Dagster daemon,
run queue of 1, run workers): 10 clients x 20 jobs (two real analyses and 18 dry runs
each) with reads and image fetches in between, while runs are in progress. Every accepted
job reaches a final status once, no 5xx, no lock errors, and the ledger balances exactly.
Reads' p95 is reported (the target of 200 ms is not met yet: RELIABILITY.md)."""

from __future__ import annotations

import base64
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from eudr_pipeline.config import Settings
from eudr_pipeline.demo import demo_plots
from eudr_pipeline.service.database import token_ledger
from eudr_pipeline.service.deploy import Deployment, ensure_demo_layers, free_port
from eudr_pipeline.service.job_status import TERMINAL_STATUSES
from eudr_pipeline.service.state import ServiceState

CLIENTS, JOBS, REAL_EVERY, TOKENS = 10, 20, 10, 500
READS = ("/jobs?limit=5", "/plots?limit=5", "/users/check_tokens")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("load"), api_port=free_port(), max_concurrent_runs=1)
    ensure_demo_layers(settings)
    dep = Deployment.prepare(settings)
    state = ServiceState(settings)
    for c in range(CLIENTS):
        state.accounts.add_user(f"client{c}", f"client{c}-pw", TOKENS)
    dep.start_api()
    dep.start_daemon()
    try:
        yield f"http://127.0.0.1:{settings.api_port}", state, dep
    finally:
        dep.stop()


def client_session(base: str, c: int) -> dict:
    """One client: register two plots, submit JOBS jobs (every REAL_EVERY-th a real
    analysis), reading its jobs, plots, balance and a map between submissions."""
    timings: list[tuple[str, int, float]] = []
    with httpx.Client(base_url=base, timeout=60) as http:
        basic = base64.b64encode(f"client{c}:client{c}-pw".encode()).decode()
        http.headers["Authorization"] = "Bearer " + http.post(
            "/login", headers={"Authorization": f"Basic {basic}"}).json()["access_token"]
        feats = [f for f in demo_plots()["features"] if f["properties"]["plot_id"] in ("demo-02", "demo-03")]
        ids = [p["plot_id"] for p in http.post("/plots/make_plot", json={"type": "FeatureCollection",
                                                                          "features": feats}).json()]
        jobs, image = [], None

        def timed(method: str, path: str, **kw) -> httpx.Response:
            t = time.perf_counter()
            r = http.request(method, path, **kw)
            timings.append((path.split("?")[0], r.status_code, time.perf_counter() - t))
            return r

        for k in range(JOBS):
            headers = {} if k % REAL_EVERY == 0 else {"X-Dry-Run": "true"}
            r = timed("POST", "/jobs/make_job", json={"job_name": f"c{c} j{k}", "plot_ids": ids}, headers=headers)
            jobs.append(r.json()["job_id"])
            for path in READS:
                timed("GET", path)
            listed = timed("GET", "/jobs?limit=20").json()["jobs"]
            done = [j for j in listed if j["status"] in ("done", "done-with-errors") and not j.get("dry_run")]
            image = image or (done[0]["job_visualization_url"][0] if done else None)
            if image:
                timed("GET", httpx.URL(image).path)
    return {"jobs": jobs, "timings": timings}


def wait_final(base: str, state: ServiceState, job_ids: list[str], timeout: float = 900) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = {j: state.jobs.job(j)["status"] for j in job_ids}
        if all(s in TERMINAL_STATUSES for s in status.values()):
            return status
        time.sleep(2)
    raise TimeoutError(f"{sum(s not in TERMINAL_STATUSES for s in status.values())} jobs not final")


def test_ten_clients_twenty_jobs_each_while_runs_are_in_progress(deployment):
    base, state, dep = deployment
    with ThreadPoolExecutor(CLIENTS) as pool:
        sessions = list(pool.map(lambda c: client_session(base, c), range(CLIENTS)))
    timings = [t for s in sessions for t in s["timings"]]
    job_ids = [j for s in sessions for j in s["jobs"]]
    assert len(job_ids) == CLIENTS * JOBS and len(set(job_ids)) == len(job_ids)
    assert not [t for t in timings if t[1] >= 500], [t for t in timings if t[1] >= 500][:5]
    assert {t[1] for t in timings} <= {200}, {t[1] for t in timings}
    reads = sorted(t[2] for t in timings if t[0] != "/jobs/make_job")
    p95 = reads[int(0.95 * len(reads))]
    by_path = {path: sorted(t[2] for t in timings if t[0] == path) for path in {t[0] for t in timings}}
    detail = {path: f"{len(v)} calls, p95 {v[int(0.95 * len(v))] * 1000:.0f} ms" for path, v in by_path.items()}
    # latencies are reported, never asserted (a timed test is not a benchmark): RELIABILITY.md
    status = wait_final(base, state, job_ids)
    real = [j for j in job_ids if not state.jobs.job(j)["dry_run"]]
    assert len(real) == CLIENTS * JOBS // REAL_EVERY and all(status[j] == "done" for j in real), \
        {status[j] for j in real}
    with state.engine.connect() as con:
        rows = [dict(r) for r in con.execute(sa.select(token_ledger)).mappings()]
    for c in range(CLIENTS):
        user = f"client{c}"
        mine = [r for r in rows if r["username"] == user]
        per_job: dict[str, dict[str, list[int]]] = {}
        for r in mine:
            per_job.setdefault(r["job_id"], {}).setdefault(r["kind"], []).append(r["amount"])
        spent = sum(a for kinds in per_job.values() for a in kinds.get("spend", []))
        for job_id, kinds in per_job.items():
            if job_id is None:
                continue
            assert len(kinds.get("reserve", [])) == 1 and len(kinds.get("spend", [])) == 1, (job_id, kinds)  # once
            assert kinds["reserve"][0] == kinds["spend"][0] + sum(kinds.get("refund", [])), (job_id, kinds)
        b = state.ledger.balance(user)
        assert b.reserved == 0 and b.balance == TOKENS - spent, (user, b, spent)
    logs = "".join(p.read_text(errors="replace") for p in dep.log_dir.glob("*.log"))
    assert "database is locked" not in logs and "OperationalError" not in logs
    median_ms = statistics.median(t[2] for t in timings) * 1000
    print(f"{len(timings)} requests, reads p95 {p95 * 1000:.0f} ms, median {median_ms:.0f} ms; "
          f"{len(job_ids)} jobs final ({len(real)} analysed); {detail}")
