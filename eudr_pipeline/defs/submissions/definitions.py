import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.analysis.assets import job_images
from eudr_pipeline.defs.operations.jobs import FOLLOW_UP_PRIORITY, PRIORITY_TAG
from eudr_pipeline.defs.submissions.assets import job_reports, job_responses
from eudr_pipeline.defs.submissions.sensors import build_job_submission_sensor, process_job

AUTOMATION_INTERVAL_S = 10

job_automation_sensor = dg.AutomationConditionSensorDefinition(
    "job_automation_sensor",
    target=dg.AssetSelection.assets(job_images, job_responses, job_reports),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_INTERVAL_S,
    emit_backfills=False,
    run_tags={PRIORITY_TAG: str(FOLLOW_UP_PRIORITY)},  # after customer jobs and re-analyses (operations/jobs.py)
    description="Evaluates the automation conditions of job_images, job_responses and job_reports: a job partition "
    "whose analysis was re-materialized alone (a backfill, a UI Materialize, a re-execution) gets one run of its "
    "maps, response and report, which publishes the new analysis; a job re-analysed by reanalyse_job gets one run "
    "of its report. Lowest run priority.",
)
"""The automation condition sensor of the job assets. Dagster would make a
``default_automation_condition_sensor`` for assets with automation conditions, but STOPPED
(dagster 1.13 creates it with its constructor's default status, and the asset daemon only
runs sensors whose state or default status says RUNNING): this one is RUNNING by default
and evaluates every AUTOMATION_INTERVAL_S seconds. ``emit_backfills=False``: one run per
job partition (the assets it requests together), like the job sensor's runs."""


def submission_definitions(settings: Settings) -> dg.Definitions:
    """Customer jobs ("submissions", not to be confused with Dagster jobs): the response
    and report assets, the `process_job` Dagster job, the sensor that launches it and the
    automation sensor that brings a re-analysed job's maps, response and report up to date."""
    return dg.Definitions(assets=[job_responses, job_reports], jobs=[process_job],
                          sensors=[build_job_submission_sensor(settings.max_run_attempts), job_automation_sensor])
