"""The job sensor: picks up pending jobs from the service database and launches one run
per job (the job's partition of job_analyses -> job_images -> job_responses).

Idempotent across sensor and daemon restarts: the attempt number is stored in the job
row before the request, and the run key is `<job_id>:<attempt>`, which Dagster launches
at most once. A job whose run failed or was cancelled gets a new attempt, up to
EUDR_MAX_RUN_ATTEMPTS; then it ends `incomplete` and its tokens are refunded.

Jobs wait while the layer store has no accepted version of the layers every analysis
needs (REQUIRED_LAYERS: the API accepts jobs before the first layer refresh has ended):
the sensor requests no run and records no attempt for them, and says it is waiting.
Runs carry the job's id, name and owner as tags (``job_run_tags``), so the Dagster UI's
run list can be filtered by them.

Why not Dagster's run retries (`dagster/max_retries`): they re-launch a failed run, but
nothing in them ends the *customer's* job when the last attempt fails (status
`incomplete`, every token refunded), and a run that succeeded but died before writing
the job's status is not a failure to them. The sensor keeps both ends of that state
machine in one place, with the job row as its durable record."""

import json
import re
import unicodedata
from typing import Callable

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter

from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import ServiceStateResource
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline.service.jobs import finish_job, give_up_job

process_job = dg.define_asset_job(
    "process_job",
    selection=dg.AssetSelection.assets("job_analyses", "job_images", "job_responses", "job_reports"),
    # one process per run, not per step: a step process costs ~3 s of imports, more than a small job's work
    executor_def=dg.in_process_executor,
    description="Analyse one job's plots, render their images, settle tokens and write the response.",
)

JOB_SENSOR_INTERVAL_S = 1
"""The job sensor's minimum interval: a submitted job waits about this long for its run
(the deployment's daemon loops every 0.5 s, defs/daemon.py; Dagster's own every 5 s)."""
REQUIRED_LAYERS = ("jrc_gfc2020", "hansen_gfc")
"""The layers without whose accepted version no job can be analysed (job_analyses)."""
WAITING_FOR_LAYERS = "waiting for layer versions"
TAG_VALUE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
IN_FLIGHT = {DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING, DagsterRunStatus.MANAGED}


def tag_value(text: str | None) -> str:
    """``text`` as a Dagster tag value (letters, digits, ``_.-``, at most 63 characters):
    accents dropped, every other run of characters an underscore."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return TAG_VALUE_CHARS.sub("_", ascii_text).strip("_")[:63]


def job_run_tags(job_id: str, job_name: str | None, owner: str) -> dict[str, str]:
    """The tags a run for a job carries: its id, name and owner (``tag_value``)."""
    return {"eudr/job_id": job_id, "eudr/job_name": tag_value(job_name), "eudr/owner": tag_value(owner)}


def layers_ready(store: LayerStore) -> bool:
    """Whether the layer store has an accepted version of every REQUIRED_LAYERS layer."""
    return set(REQUIRED_LAYERS) <= set(store.current_versions())


def build_job_submission_sensor(max_attempts: int) -> dg.SensorDefinition:
    """The sensor, ending a job after ``max_attempts`` failed runs (EUDR_MAX_RUN_ATTEMPTS)."""

    @dg.sensor(name="job_submission_sensor", job=process_job, minimum_interval_seconds=JOB_SENSOR_INTERVAL_S,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Launch a run for every pending job (once the layer store has jrc_gfc2020 and "
                           "hansen_gfc versions); retry runs that died; end jobs out of attempts.")
    def job_submission_sensor(context: dg.SensorEvaluationContext, service: ServiceStateResource,
                              layer_store: LayerStoreResource):
        return pending_job_runs(context, service.state(), max_attempts, lambda: layers_ready(layer_store.store()))

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


def pending_job_runs(context: dg.SensorEvaluationContext, state, max_attempts: int,
                     ready: Callable[[], bool] = lambda: True) -> dg.SensorResult:
    """One run request per pending job that needs a run, and its partition added; none
    (and no attempt recorded) while ``ready()`` says the layers are not there yet, asked
    only when some job needs a run."""
    cursor = json.loads(context.cursor) if context.cursor else {"requested": 0}
    due = [(job, attempt) for job in state.jobs.pending_jobs(limit=200)
           if (attempt := _settle_or_next_attempt(context, state, job, max_attempts)) is not None]
    if due and not ready():
        context.log.info(f"{WAITING_FOR_LAYERS}: {len(due)} job(s) wait for accepted "
                         f"{' and '.join(REQUIRED_LAYERS)} versions in the layer store")
        return dg.SensorResult(skip_reason=f"{WAITING_FOR_LAYERS} ({' and '.join(REQUIRED_LAYERS)}): "
                                           f"{len(due)} job(s) pending", cursor=json.dumps(cursor))
    requests, new_partitions = [], []
    known = set(context.instance.get_dynamic_partitions(jobs_partitions.name)) if due else set()
    for job, attempt in due:
        job_id = job["job_id"]
        if attempt != job["attempts"]:
            state.jobs.mark_launched(job_id, None, attempt)
        if job_id not in known:
            new_partitions.append(job_id)
        tags = {**job_run_tags(job_id, job["job_name"], job["username"]), "eudr/attempt": str(attempt)}
        requests.append(dg.RunRequest(run_key=f"{job_id}:{attempt}", partition_key=job_id, tags=tags))
    cursor["requested"] += len(requests)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[jobs_partitions.build_add_request(new_partitions)] if new_partitions else [],
        cursor=json.dumps(cursor),
    )
