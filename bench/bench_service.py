"""Benchmark: from make_job to `done` through the real deployment (API server + Dagster
daemon with the job sensor + run workers), for a 1-plot and a 10,000-plot job.

    python bench/bench_service.py [--plots 1 10000] [--repeat 3] [--daemons ours dagster]

Layers: the benchmark layers of bench/generate.py (ingested into the store first, not
timed). Plots: bench/data/plots_10000.geojson (real Nicaragua plots and shifted copies),
registered through the API before the clock starts. Reports per job size the medians of:
submit (the make_job call until its 200), queueing (submission -> run created by the
sensor), run start (created -> run worker started), analysis, images and response (the
three asset steps), and total: submission -> the API answering `done` (images included).

``--daemons``: ``ours`` is the deployment's daemon (eudr_pipeline/defs/daemon.py: the
sensor loop every 0.5 s); ``dagster`` the baseline, Dagster's own ``dagster-daemon`` (its
loop every 5 s), in a deployment of its own after the first, same code otherwise."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from eudr_pipeline.config import Settings  # noqa: E402
from eudr_pipeline.service.client import Client  # noqa: E402
from eudr_pipeline.service.deploy import Deployment, bin_path, ensure_demo_layers, free_port  # noqa: E402
from eudr_pipeline.service.state import ServiceState  # noqa: E402

SOURCE_PLOTS = HERE.parent.parent / "shared" / "data" / "real" / "plots" / "nicaragua_coffee_1124.geojson"


def step_split(instance, job_id: str) -> dict[str, float]:
    from dagster import RunsFilter

    deadline = time.time() + 60
    while True:  # the job is `done` inside its last step; wait for the run's own bookkeeping to end
        run = instance.get_run_records(RunsFilter(tags={"eudr/job_id": job_id}), limit=1)[0]
        if run.end_time is not None or time.time() > deadline:
            break
        time.sleep(0.2)
    stats = {s.step_key: s for s in instance.get_run_step_stats(run.dagster_run.run_id)}
    return {"created": run.create_timestamp.timestamp(), "started": run.start_time, "ended": run.end_time,
            **{k: stats[k].end_time - stats[k].start_time for k in ("job_analyses", "job_images", "job_responses")}}


class DagsterDaemonDeployment(Deployment):
    """The deployment with Dagster's own daemon (the baseline of ``--daemons dagster``)."""

    def start_daemon(self, quiet: bool = True) -> None:
        self.start_code_server(quiet)
        self.start_run_worker_pool(quiet)
        self._spawn("dagster-daemon", [bin_path("dagster-daemon"), "run", "-w", str(self.home / "workspace.yaml")],
                    quiet)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", type=int, nargs="+", default=[1, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--daemons", nargs="+", choices=["ours", "dagster"], default=["ours"])
    args = ap.parse_args()
    data = HERE / "data"
    subprocess.run([sys.executable, str(HERE / "generate.py"), "--plots", str(SOURCE_PLOTS), "--out", str(data),
                    "--n-plots", "10000"], check=True, stdout=subprocess.DEVNULL)
    rows = []
    for daemon in args.daemons:
        rows += measure(daemon, args, data)
    keys = ["submit", "queueing", "run_start", "analysis", "images", "response", "total", "fetch_full_response"]
    print("| daemon | plots | runs | " + " | ".join(f"{k} s" for k in keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for daemon in args.daemons:
        for n in args.plots:
            sel = [r for r in rows if r["plots"] == n and r["daemon"] == daemon]
            print(f"| {daemon} | {n} | {len(sel)} | "
                  + " | ".join(f"{statistics.median(r[k] for r in sel):.2f}" for k in keys) + " |")


def measure(daemon: str, args: argparse.Namespace, data: Path) -> list[dict]:
    """The job latencies of a fresh deployment with ``daemon`` (ours or dagster)."""
    run_dir = data / f"service_{int(time.time())}_{daemon}"
    settings = Settings(data_dir=run_dir, layer_sources=str(data / "sources"), api_port=free_port())
    ensure_demo_layers(settings)
    dep = (DagsterDaemonDeployment if daemon == "dagster" else Deployment).prepare(settings)
    state = ServiceState(settings)
    state.accounts.add_user("bench", "bench-pw", 10**9)
    rows: list[dict] = []
    features = json.loads((data / "plots_10000.geojson").read_text())["features"]
    try:
        dep.start_api()
        dep.start_daemon()
        api = Client(f"http://127.0.0.1:{settings.api_port}").login("bench", "bench-pw")
        os.environ["DAGSTER_HOME"] = dep.env["DAGSTER_HOME"]
        from dagster import DagsterInstance

        instance = DagsterInstance.get()
        time.sleep(8)  # let the daemon come up: its start is not part of a job's latency
        for n in args.plots:
            for rep in range(args.repeat):
                fc = {"type": "FeatureCollection", "features": features[:n]}
                ids = [p["plot_id"] for p in api.request("POST", "/plots/make_plot", fc)]
                t0 = time.time()
                job = api.request("POST", "/jobs/make_job", {"plot_ids": ids, "checks": [
                    {"type": "eudr", "config": {"commodity": "coffee", "harvest_date": "2024-12-31"}}]})
                t_sub = time.time()  # the 200 with the pending job object has arrived
                while api.request("GET", f"/jobs/{job['job_id']}?include_plots=false")["status"] == "pending":
                    time.sleep(0.1)
                t_done = time.time()
                full = api.request("GET", f"/jobs/{job['job_id']}")
                t_fetch = time.time() - t_done
                s = step_split(instance, job["job_id"])
                rows.append({"daemon": daemon, "plots": n, "status": full["status"], "submit": t_sub - t0,
                             "queueing": s["created"] - t0, "run_start": s["started"] - s["created"], "analysis": s["job_analyses"],
                             "images": s["job_images"], "response": s["job_responses"], "total": t_done - t0,
                             "fetch_full_response": t_fetch})
                print(json.dumps(rows[-1]), file=sys.stderr)
        instance.dispose()
    finally:
        dep.stop()
    return rows


if __name__ == "__main__":
    main()
