"""The operations sensors.

``operations_automation_sensor`` evaluates the automation condition of ``stale_jobs``
(assets.py) every 30 s and requests its runs. It targets only the operations group, so a
deployment may add its own automation condition sensor for other assets beside it (that
sensor's selection should then leave out ``AssetSelection.groups("operations")``).

``stale_jobs_sensor`` is **automatic re-analysis**: it requests a ``reanalyse_job`` run (jobs.py) for
every stale job (service/stale_jobs.py), at most ``MAX_REANALYSES_IN_FLIGHT`` in progress
at once so customer jobs keep their turn. Its run key is the job id and the new layer
versions, so each re-analysis is requested once: a failed one is not retried (the job
stays in the stale list; ``eudr jobs reanalyse`` or a UI backfill retries it). It is on
when EUDR_AUTO_REANALYSE is true (off by default); the operator can start or stop it in
the UI (Automation > stale_jobs_sensor). Tokens are never charged for a re-analysis: the
ledger settles a job once."""

import json

import dagster as dg
from dagster import RunsFilter

from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import ServiceStateResource
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.defs.operations.jobs import REANALYSIS_TAG, reanalyse_job
from eudr_pipeline.defs.submissions.sensors import IN_FLIGHT, job_run_tags
from eudr_pipeline.service.stale_jobs import StaleJob, stale_jobs, versions_in_use

MAX_REANALYSES_IN_FLIGHT = 4

operations_automation_sensor = dg.AutomationConditionSensorDefinition(
    "operations_automation_sensor",
    target=dg.AssetSelection.groups("operations"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materialize stale_jobs when a layer version is recorded, and hourly (its automation condition).",
)


def reanalysis_request(job: StaleJob) -> dg.RunRequest:
    """The reanalyse_job run re-analysing ``job`` with the versions now in use; requested
    once (the job's tags add REANALYSIS_TAG and the re-analysis priority)."""
    return dg.RunRequest(run_key=f"{job.job_id}:reanalyse:{job.new_versions()}", partition_key=job.job_id,
                         tags=job_run_tags(job.job_id, job.job_name, job.owner))


def next_stale_jobs(found: list[StaleJob], after: str, count: int) -> list[StaleJob]:
    """Up to ``count`` stale jobs following job id ``after`` in job id order, wrapping round
    to the first once past the last (those already requested are deduplicated by run key)."""
    ordered = sorted(found, key=lambda j: j.job_id)
    following = [j for j in ordered if j.job_id > after]
    return (following or ordered)[:count]


def reanalysis_requests(context: dg.SensorEvaluationContext, found: list[StaleJob],
                        limit: int = MAX_REANALYSES_IN_FLIGHT) -> dg.SensorResult | dg.SkipReason:
    """Run requests for the next stale jobs, as many as the re-analyses in progress leave room for."""
    if not found:
        return dg.SkipReason("no stale job")
    in_flight = context.instance.get_runs_count(RunsFilter(tags={REANALYSIS_TAG: "true"}, statuses=list(IN_FLIGHT)))
    if in_flight >= limit:
        return dg.SkipReason(f"{in_flight} re-analyses in progress; {len(found)} stale job(s) wait")
    cursor = json.loads(context.cursor) if context.cursor else {}
    batch = next_stale_jobs(found, cursor.get("after", ""), limit - in_flight)
    known = set(context.instance.get_dynamic_partitions(jobs_partitions.name))
    missing = [j.job_id for j in batch if j.job_id not in known]
    return dg.SensorResult(
        run_requests=[reanalysis_request(j) for j in batch],
        dynamic_partitions_requests=[jobs_partitions.build_add_request(missing)] if missing else [],
        cursor=json.dumps({"after": batch[-1].job_id}),
    )


def build_stale_jobs_sensor(auto_reanalyse: bool) -> dg.SensorDefinition:
    """The re-analysis sensor, running from the start when ``auto_reanalyse`` (EUDR_AUTO_REANALYSE)."""

    @dg.sensor(name="stale_jobs_sensor", job=reanalyse_job, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING if auto_reanalyse else dg.DefaultSensorStatus.STOPPED,
               description="Automatic re-analysis (EUDR_AUTO_REANALYSE): a reanalyse_job run for every stale job, "
                           f"once per new layer versions, at most {MAX_REANALYSES_IN_FLIGHT} at once. No token charged.")
    def stale_jobs_sensor(context: dg.SensorEvaluationContext, service: ServiceStateResource,
                          layer_store: LayerStoreResource):
        found = stale_jobs(service.state().engine, versions_in_use(layer_store.store()))
        return reanalysis_requests(context, found)

    return stale_jobs_sensor
