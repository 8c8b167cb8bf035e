"""Benchmark: re-analysing 100,000 plots through Dagster after a new layer version
(issue 12, target 3): ten 10,000-plot jobs, `eudr jobs reanalyse --stale`.

    python bench/bench_reanalysis.py [--jobs 10] [--plots-per-job 10000] [--max-concurrent-runs 2]

A real local deployment (API server, Dagster daemon, code server, run workers; SQLite WAL)
over a copy of the benchmark layers (bench/generate.py). Not timed: 100,000 distinct plots
(bench/data/plots_100000.geojsonl: the real Nicaragua plots and shifted copies) registered
through the API, ten jobs submitted and analysed, then a new hansen_gfc version folder
added to the layer sources and ingested by a `layer_refresh` run. Timed: from the
re-analysis backfill's request (what `eudr jobs reanalyse --stale` does) until every job
has published its new analysis (the API shows the new `analysis_run`: the backfill's
``reanalyse_job`` runs), until every job's report is of the new analysis (the follow-up
runs of ``job_reports``, at the lowest run priority), and until every run has ended. The run queue holds at most
``--max-concurrent-runs`` runs at once (EUDR_MAX_CONCURRENT_RUNS): the memory bound.
Memory: the deployment's process tree sampled every 0.5 s (sum of resident set sizes)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from eudr_pipeline.cli import find_stale_jobs  # noqa: E402
from eudr_pipeline.config import Settings  # noqa: E402
from eudr_pipeline.defs.operations.backfill import reanalyse_jobs  # noqa: E402
from eudr_pipeline.service.client import Client  # noqa: E402
from eudr_pipeline.service.deploy import Deployment, ensure_demo_layers, free_port  # noqa: E402
from eudr_pipeline.service.state import ServiceState  # noqa: E402

SOURCE_PLOTS = HERE.parent.parent / "shared" / "data" / "real" / "plots" / "nicaragua_coffee_1124.geojson"
CHECKS = [{"type": "eudr", "config": {"commodity": "coffee", "harvest_date": "2024-12-31"}}]


class TreeMemory(threading.Thread):
    """The peak sum of resident set sizes (MiB) of this process's descendants."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.stop = 0.0, threading.Event()

    @staticmethod
    def now() -> float:
        children: dict[int, list[int]] = {}
        rss: dict[int, float] = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(d.name))
                rss[int(d.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            except (OSError, IndexError, ValueError):
                continue
        total, todo = 0.0, list(children.get(os.getpid(), []))
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0.0)
            todo += children.get(pid, [])
        return total

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.peak = max(self.peak, self.now())


def wait_for(predicate, timeout: float, what: str) -> float:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)
    return time.time()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--plots-per-job", type=int, default=10_000)
    ap.add_argument("--max-concurrent-runs", type=int, default=2)
    args = ap.parse_args()
    data = HERE / "data"
    n = args.jobs * args.plots_per_job
    subprocess.run([sys.executable, str(HERE / "generate.py"), "--plots", str(SOURCE_PLOTS), "--out", str(data),
                    "--n-plots", str(n), "--sequence"], check=True, stdout=subprocess.DEVNULL)
    run_dir = data / f"reanalysis_{int(time.time())}"
    sources = run_dir / "sources"
    shutil.copytree(data / "sources", sources, copy_function=os.link)
    settings = Settings(data_dir=run_dir, layer_sources=str(sources), api_port=free_port(),
                        max_concurrent_runs=args.max_concurrent_runs)
    ensure_demo_layers(settings)
    dep = Deployment.prepare(settings)
    state = ServiceState(settings)
    state.accounts.add_user("bench", "bench-pw", 10**9)
    lines = (data / f"plots_{n}.geojsonl").read_text().splitlines()
    memory = TreeMemory()
    try:
        dep.start_api()
        dep.start_daemon()
        api = Client(f"http://127.0.0.1:{settings.api_port}").login("bench", "bench-pw")
        job_ids = []
        for j in range(args.jobs):
            features = [json.loads(line) for line in lines[j * args.plots_per_job:(j + 1) * args.plots_per_job]]
            ids = [p["plot_id"] for p in api.request("POST", "/plots/make_plot",
                                                     {"type": "FeatureCollection", "features": features})]
            job_ids.append(api.request("POST", "/jobs/make_job", {"job_name": f"bench {j}", "plot_ids": ids,
                                                                  "checks": CHECKS})["job_id"])
        t0 = time.time()
        first = {}

        def all_done() -> bool:
            for job_id in job_ids:
                if job_id not in first:
                    job = api.request("GET", f"/jobs/{job_id}?include_plots=false")
                    if job["status"] not in ("pending", "processing"):
                        first[job_id] = job
            return len(first) == len(job_ids)

        wait_for(all_done, 3600, "the first analyses")
        print(f"first analysis of {n:,} plots in {len(job_ids)} jobs: {time.time() - t0:.0f} s "
              f"(statuses {sorted({j['status'] for j in first.values()})})", file=sys.stderr)
        wait_for(lambda: runs_ended(dep), 3600, "the first analyses' reports")  # nothing left running
        before = {j: state.jobs.job(j)["published_run"] for j in job_ids}
        hansen = sources / "hansen_gfc"
        old = sorted(p for p in hansen.iterdir() if p.is_dir())[-1]
        shutil.copytree(old, hansen / (old.name + "-bench"), copy_function=os.link)  # a newer version folder
        run_id = dep.launch_layer_refresh()
        status = dep.follow_layer_refresh(run_id, write=lambda _: None, keep_going=dep.processes_alive)
        stale = [j.job_id for j in find_stale_jobs(settings)]
        assert sorted(stale) == sorted(job_ids), f"{len(stale)} stale jobs after the layer refresh ({status})"
        memory.start()
        t0 = time.time()
        reanalyse_jobs(settings, stale)
        t_published = wait_for(lambda: all(state.jobs.job(j)["published_run"] != before[j] for j in job_ids),
                               3600, "the re-analyses")
        published = {j: state.jobs.job(j)["published_run"] for j in job_ids}
        t_reports = wait_for(lambda: reports_of(dep, published), 3600, "the reports")
        t_ended = wait_for(lambda: runs_ended(dep), 3600, "the runs' end")
        memory.stop.set()
        statuses = sorted({api.request("GET", f"/jobs/{j}?include_plots=false")["status"] for j in job_ids})
    finally:
        dep.stop()
    print("| plots | jobs | max runs at once | published s | reports s | all runs ended s | plots per s | "
          "peak MiB (deployment) | statuses |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {n:,} | {args.jobs} | {args.max_concurrent_runs} | {t_published - t0:.0f} | {t_reports - t0:.0f} | "
          f"{t_ended - t0:.0f} | {n / (t_published - t0):,.0f} | {memory.peak:.0f} | {', '.join(statuses)} |")


def reports_of(dep: Deployment, published: dict[str, str]) -> bool:
    """Whether every job's newest job_reports materialization is of its published analysis."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = dep.env["DAGSTER_HOME"]
    with dg.DagsterInstance.get() as instance:
        for job_id, run in published.items():
            records = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("job_reports"), asset_partitions=[job_id]), limit=1).records
            if not records or records[0].asset_materialization.metadata["analysis_run"].value != run:
                return False
    return True


def runs_ended(dep: Deployment) -> bool:
    """Whether no run of the deployment's instance is queued or in progress."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    os.environ["DAGSTER_HOME"] = dep.env["DAGSTER_HOME"]
    with DagsterInstance.get() as instance:
        busy = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
                DagsterRunStatus.STARTED]
        return not instance.get_run_records(RunsFilter(statuses=busy), limit=1)


if __name__ == "__main__":
    main()
