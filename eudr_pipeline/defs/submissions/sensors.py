"""The job sensor: picks up pending jobs from the service database and launches one run
per job (the job's partition of job_analyses -> job_images -> job_responses).

Idempotent across sensor and daemon restarts: the attempt number is stored in the job
row before the request, and the run key is `<job_id>:<attempt>`, which Dagster launches
at most once. A job whose run failed or was cancelled gets a new attempt, up to
EUDR_MAX_RUN_ATTEMPTS; then it ends `incomplete` and its tokens are refunded.

Why not Dagster's run retries (`dagster/max_retries`): they re-launch a failed run, but
nothing in them ends the *customer's* job when the last attempt fails (status
`incomplete`, every token refunded), and a run that succeeded but died before writing
the job's status is not a failure to them. The sensor keeps both ends of that state
machine in one place, with the job row as its durable record."""

import json

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter

from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import ServiceStateResource
from eudr_pipeline.service.jobs import finish_job, give_up_job

process_job = dg.define_asset_job(
    "process_job",
    selection=dg.AssetSelection.assets("job_analyses", "job_images", "job_responses", "job_reports"),
    partitions_def=jobs_partitions,
    # one process per run, not per step: a step process costs ~3 s of imports, more than a small job's work
    executor_def=dg.in_process_executor,
    description="Analyse one job's plots, render their images, settle tokens and write the response.",
)

IN_FLIGHT = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING, DagsterRunStatus.MANAGED}


def build_job_submission_sensor(max_attempts: int) -> dg.SensorDefinition:
    """The sensor, ending a job after ``max_attempts`` failed runs (EUDR_MAX_RUN_ATTEMPTS)."""

    @dg.sensor(name="job_submission_sensor", job=process_job, minimum_interval_seconds=2,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Launch a run for every pending job; retry runs that died; end jobs out of attempts.")
    def job_submission_sensor(context: dg.SensorEvaluationContext, service: ServiceStateResource):
        return pending_job_runs(context, service.state(), max_attempts)

    return job_submission_sensor


def _settle_or_next_attempt(context: dg.SensorEvaluationContext, state, job: dict, max_attempts: int) -> int | None:
    """The attempt to request for a pending job; None when there is nothing to request:
    its run is in flight, or this call ended the job (finished from a successful run's
    results, or out of attempts: incomplete with every token refunded)."""
    job_id, attempt = job["job_id"], job["attempts"]
    if attempt == 0:
        return 1
    runs = context.instance.get_runs(RunsFilter(tags={"eudr/job_id": job_id, "eudr/attempt": str(attempt)}), limit=1)
    if not runs:
        return attempt  # recorded but not launched yet: the same run key again, Dagster launches it once
    if runs[0].status in IN_FLIGHT:
        return None
    if runs[0].status == DagsterRunStatus.SUCCESS:
        finish_job(state, job_id)  # the run ended before writing the status: finish from what it wrote
        return None
    if attempt >= max_attempts:  # failed or cancelled, the last attempt
        context.log.warning(f"job {job_id}: {attempt} runs failed; ending it incomplete")
        give_up_job(state, job)
        return None
    return attempt + 1


def pending_job_runs(context: dg.SensorEvaluationContext, state, max_attempts: int) -> dg.SensorResult:
    """One run request per pending job that needs a run, and its partition added."""
    requests, new_partitions = [], []
    cursor = json.loads(context.cursor) if context.cursor else {"requested": 0}
    known = set(context.instance.get_dynamic_partitions(jobs_partitions.name))
    for job in state.jobs.pending_jobs(limit=200):
        job_id = job["job_id"]
        attempt = _settle_or_next_attempt(context, state, job, max_attempts)
        if attempt is None:
            continue
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
