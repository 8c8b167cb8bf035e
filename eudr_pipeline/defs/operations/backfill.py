"""Re-analysis on demand: a Dagster backfill of ``reanalyse_job`` (jobs.py) over exactly the
given job partitions, created in the deployment's instance as the UI's "Launch backfill"
creates one (status requested). The daemon's backfill loop then submits one run per
partition (through the run queue when EUDR_MAX_CONCURRENT_RUNS is set); the UI shows its
progress at ``/runs/b/<backfill id>``. ``eudr jobs reanalyse`` calls it."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.operations.jobs import reanalyse_job
from eudr_pipeline.errors import SettingsError

JOB_NAME = reanalyse_job.name


def reanalyse_job_partition_set(workspace_file: Path, instance: dg.DagsterInstance):
    """The remote partition set of ``reanalyse_job`` in the code locations of ``workspace_file``
    (the deployment's workspace.yaml, loaded as its daemon loads it)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace_file)])) as process:
        entries = process.create_request_context().get_code_location_entries()
    errors = [f"{name}: {e.load_error.message}" for name, e in entries.items() if e.load_error]
    for entry in entries.values():
        for repo in (entry.code_location.get_repositories().values() if entry.code_location else []):
            found = [ps for ps in repo.get_partition_sets() if ps.job_name == JOB_NAME]
            if found:
                return found[0]
    raise SettingsError(f"no code location of {workspace_file} has the partitioned job {JOB_NAME}"
                        + (f" ({'; '.join(errors)})" if errors else ""))


def launch_reanalysis_backfill(instance: dg.DagsterInstance, workspace_file: Path, job_ids: list[str]) -> str:
    """Request a backfill of reanalyse_job over the partitions ``job_ids`` (added to the
    ``jobs`` partitions where missing); its id. Its runs carry the job's tags (a
    re-analysis, at the re-analysis priority)."""
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    missing = sorted(set(job_ids) - set(instance.get_dynamic_partitions(jobs_partitions.name)))
    if missing:
        instance.add_dynamic_partitions(jobs_partitions.name, missing)
    partition_set = reanalyse_job_partition_set(workspace_file, instance)
    backfill = PartitionBackfill(
        backfill_id=make_new_backfill_id(), partition_set_origin=partition_set.get_remote_origin(),
        status=BulkActionStatus.REQUESTED, partition_names=list(job_ids), from_failure=False, reexecution_steps=None,
        tags={}, backfill_timestamp=get_current_timestamp(),
        title=f"Re-analysis of {len(job_ids)} job(s)",
        description="eudr jobs reanalyse: the layer versions in use, published; no token charged")
    instance.add_backfill(backfill)
    return backfill.backfill_id


def reanalyse_jobs(settings: Settings, job_ids: list[str]) -> str:
    """The backfill re-analysing ``job_ids`` in the deployment of ``settings`` (its
    DAGSTER_HOME under EUDR_DATA_DIR, its workspace: its code server while it runs); its
    id. The deployment's daemon runs it."""
    from eudr_pipeline.service.deploy import Deployment

    deployment = Deployment.prepare(settings)
    os.environ.update(deployment.env)  # a code location started here loads as the deployment's does
    with dg.DagsterInstance.from_config(deployment.env["DAGSTER_HOME"]) as instance:
        return launch_reanalysis_backfill(instance, deployment.workspace(), job_ids)


def backfill_url(settings: Settings, backfill_id: str) -> str:
    """The backfill's page in the deployment's Dagster UI."""
    return f"http://127.0.0.1:{settings.dagster_port}/runs/b/{backfill_id}"
