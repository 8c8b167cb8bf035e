"""The job sensor: picks up pending jobs from the service database and launches one run
per job (the job's partition of job_analyses -> job_images -> job_responses).

Idempotent across sensor and daemon restarts: the attempt number is stored in the job
row before the request, and the run key is `<job_id>:<attempt>`, which Dagster launches
at most once. A job whose run failed or was cancelled gets a new attempt, up to
EUDR_MAX_RUN_ATTEMPTS; then it ends `incomplete` and its tokens are refunded."""

import json

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter

from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import JobStoreResource
from eudr_pipeline.defs.jobs.assets import finish_job

process_job = dg.define_asset_job(
    "process_job",
    selection=dg.AssetSelection.assets("job_analyses", "job_images", "job_responses"),
    partitions_def=jobs_partitions,
    # one process per run, not per step: a step process costs ~3 s of imports, more than a small job's work
    executor_def=dg.in_process_executor,
    description="Analyse one job's plots, render their images, settle tokens and write the response.",
)

IN_FLIGHT = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING, DagsterRunStatus.MANAGED}


@dg.sensor(job=process_job, minimum_interval_seconds=2, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Launch a run for every pending job; retry runs that died; end jobs out of attempts.")
def job_submission_sensor(context: dg.SensorEvaluationContext, job_store: JobStoreResource):
    state = job_store.state()
    max_attempts = state.settings.max_run_attempts
    requests, new_partitions = [], []
    cursor = json.loads(context.cursor) if context.cursor else {"requested": 0}
    known = set(context.instance.get_dynamic_partitions(jobs_partitions.name))
    for job in state.jobs.pending_jobs(limit=200):
        job_id, attempt = job["job_id"], job["attempts"]
        if attempt > 0:
            runs = context.instance.get_runs(RunsFilter(tags={"eudr/job_id": job_id, "eudr/attempt": str(attempt)}), limit=1)
            if runs and runs[0].status in IN_FLIGHT:
                continue
            if runs and runs[0].status == DagsterRunStatus.SUCCESS:
                finish_job(state, job_id)  # the run ended before writing the status: finish from what it wrote
                continue
            if runs:  # failed or cancelled
                if attempt >= max_attempts:
                    context.log.warning(f"job {job_id}: {attempt} runs failed; ending it incomplete")
                    state.accounts.settle(job["username"], job_id, job["token_cost"], 0)
                    state.jobs.set_status(job_id, "incomplete")
                    continue
                attempt += 1
        else:
            attempt = 1
        if attempt != job["attempts"]:
            state.jobs.mark_launched(job_id, None, attempt)
        if job_id not in known:
            new_partitions.append(job_id)
        requests.append(dg.RunRequest(run_key=f"{job_id}:{attempt}", partition_key=job_id,
                                      tags={"eudr/job_id": job_id, "eudr/attempt": str(attempt)}))
    cursor["requested"] += len(requests)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[jobs_partitions.build_add_request(new_partitions)] if new_partitions else [],
        cursor=json.dumps(cursor),
    )
