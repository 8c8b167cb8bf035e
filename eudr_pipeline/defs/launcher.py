"""The local deployment's run launcher: Dagster's DefaultRunLauncher (runs in processes of
the code server) plus a run worker health check, so that Dagster's own run monitoring
notices a run worker that died without a word (kill -9, the OOM killer) and marks its run
failed; the job sensor then launches the next attempt, or ends the job incomplete with
its tokens refunded. DefaultRunLauncher has no health check of its own: such a run stayed
STARTED for ever.

Each job asset records its process (``eudr/worker_pid``, ``eudr/worker_host``) as run
tags when it starts (``record_run_worker``); the check asks whether that process is still
alive. A run worker on another host, or one that has not recorded itself yet, is not
judged (RUNNING: run monitoring's start timeout covers a worker that never starts).

The same assets also tag their run with the customer job's id, name and owner where it
lacks them (``record_job_tags``), so that the runs list filters by them whoever launched
the run (the job sensor, the automation condition sensor, a backfill, the UI)."""

from __future__ import annotations

import os
import signal
import socket

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus  # not exported by dagster's public API

PID_TAG, HOST_TAG = "eudr/worker_pid", "eudr/worker_host"
POOL_TAG = "eudr/run_worker_pool"  # the run was forked by the pre-imported run worker pool


def record_run_worker(context: dg.AssetExecutionContext) -> None:
    """Tag the run with this process, for LocalRunLauncher.check_run_worker_health."""
    tags = context.run.tags
    if tags.get(PID_TAG) != str(os.getpid()):
        context.instance.add_run_tags(context.run.run_id, {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})


def record_job_tags(context: dg.AssetExecutionContext, job: dict) -> dict[str, str]:
    """Tag the run with the job's id, name and owner (``eudr/job_id``, ``eudr/job_name``,
    ``eudr/owner``) where it lacks them, as the job sensor tags its runs; returns the
    job's name and owner, in full, for the materialization's metadata (the partition key
    stays the job id).

    The values are the job sensor's (defs/submissions/sensors.py ``job_run_tags``), so a
    job's runs carry the same values whoever launched them (the job sensor, the automation
    sensor, a backfill, the UI) and one filter of the runs list finds them all. Dagster
    stores any string as a run tag value (``add_run_tags``), but its strict tags allow only
    letters, digits and ``_.-``, at most 63 characters, as the UI's tag filters expect:
    that form is used (accents dropped, other characters as underscores, cut at 63); the
    full name is in the metadata."""
    from eudr_pipeline.defs.submissions.sensors import job_run_tags  # one definition of the tag values

    tags = job_run_tags(job["job_id"], job.get("job_name"), job["username"])
    missing = {k: v for k, v in tags.items() if k not in context.run.tags}
    if missing:
        context.instance.add_run_tags(context.run.run_id, missing)
    return {"job_name": job.get("job_name") or "", "owner": job["username"]}


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not reaped, is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LocalRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher with a run worker health check (module docstring), that hands
    each run to the pre-imported run worker pool when one answers (defs/run_workers.py,
    ``EUDR_RUN_WORKER_SOCKET``) and launches it Dagster's default way otherwise."""

    def launch_run(self, context) -> None:
        from eudr_pipeline.defs import run_workers

        path = os.environ.get(run_workers.SOCKET_ENV)
        pid = run_workers.launch(path, context.dagster_run.run_id) if path else None
        if pid is None:
            super().launch_run(context)
            return
        self._instance.add_run_tags(context.dagster_run.run_id, {
            PID_TAG: str(pid), HOST_TAG: socket.gethostname(), POOL_TAG: "true"})

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.tags.get(POOL_TAG) != "true":
            return super().terminate(run_id)
        if run.is_finished or run.tags.get(HOST_TAG) != socket.gethostname():
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(int(run.tags[PID_TAG]), signal.SIGINT)  # Dagster's interrupt: the run ends canceled
        except ProcessLookupError:
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if not pid or host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker not recorded here: not judged")
        if process_alive(int(pid)):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone")
