"""Benchmark: the API's answer times for a 10,000-plot job, in one process (FastAPI's
TestClient, SQLite WAL in a temporary folder): POST /jobs/make_job, and GET /jobs/{id}
of the job once an analysis of it is published (every tenth plot failed).

    python bench/bench_api.py [--plots 10000] [--repeat 5] [--http]

--http: through uvicorn on a local port (a thread of this process) and httpx, instead of
the in-process TestClient.

Plots: the first N features of bench/data/plots_10000.geojson (written by bench/generate.py,
which `make bench-10k` and bench/bench_service.py run), registered before the clock
starts. The analysis is the dry run's simulated one, recorded and published the way a
run's job_responses step publishes it (no Dagster, no maps)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from eudr_pipeline.config import Settings  # noqa: E402
from eudr_pipeline.service.app import create_app  # noqa: E402
from eudr_pipeline.service.deploy import free_port, upgrade_job_database  # noqa: E402
from eudr_pipeline.service.dry_run import simulated_analysis  # noqa: E402
from eudr_pipeline.service.jobs import prepare_publication  # noqa: E402
from eudr_pipeline.service.state import ServiceState  # noqa: E402


def publish_analysis(state: ServiceState, job_id: str, run: str = "bench-run") -> None:
    """Record a simulated analysis of every plot of the job (every tenth failed) and publish it."""
    rows = state.jobs.job_plot_rows(job_id)
    results = [{"plot_id": r["plot_id"], "error": "geometry: bench failure", "failure_type": "invalid_geometry"}
               if k % 10 == 9 else {"plot_id": r["plot_id"], "area_ha": 1.5, "analysis": simulated_analysis(1.5, "2024-12-31")}
               for k, r in enumerate(rows)]
    state.jobs.record_analyses(job_id, run, {"forest": "v1"}, results)
    state.jobs.publish(prepare_publication(state, job_id, run).job)


@contextmanager
def http_client(app):
    """An httpx client of ``app`` served by uvicorn on a free local port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--http", action="store_true")
    args = ap.parse_args()
    features = json.loads((HERE / "data" / "plots_10000.geojson").read_text())["features"][:args.plots]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        upgrade_job_database(settings)
        state = ServiceState(settings)
        state.accounts.add_user("bench", "bench-pw", 10**9)
        ids = [p["plot_id"] for p in state.plots.register("bench", features)]
        body = {"plot_ids": ids, "checks": [{"type": "eudr", "config": {"commodity": "coffee", "harvest_date": "2024-12-31"}}]}
        app = create_app(state)
        with (http_client(app) if args.http else TestClient(app)) as client:
            token = client.post("/login", auth=("bench", "bench-pw")).json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            times: dict[str, list[float]] = {"make_job": [], "get_job": []}
            sizes = {}
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                r = client.post("/jobs/make_job", json=body)
                times["make_job"].append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text[:500]
                sizes["make_job"] = len(r.content)
                job_id = r.json()["job_id"]
                publish_analysis(state, job_id)
                t0 = time.perf_counter()
                r = client.get(f"/jobs/{job_id}")
                times["get_job"].append(time.perf_counter() - t0)
                assert r.status_code == 200 and r.json()["status"] == "done-with-errors", r.text[:500]
                sizes["get_job"] = len(r.content)
                print(json.dumps({k: round(v[-1], 3) for k, v in times.items()}), file=sys.stderr)
    print("| request | plots | runs | median s | min s | max s | body MB |")
    print("|---|---|---|---|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {args.plots} | {len(v)} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} "
              f"| {sizes[k] / 1e6:.1f} |")


if __name__ == "__main__":
    main()
