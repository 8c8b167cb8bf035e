import dagster as dg

from eudr_pipeline.config import Settings
from eudr_pipeline.defs.submissions.assets import job_reports, job_responses
from eudr_pipeline.defs.submissions.sensors import build_job_submission_sensor, process_job


def submission_definitions(settings: Settings) -> dg.Definitions:
    """Customer jobs ("submissions", not to be confused with Dagster jobs): the response
    asset, the `process_job` Dagster job and the sensor that launches it."""
    return dg.Definitions(assets=[job_responses, job_reports], jobs=[process_job],
                          sensors=[build_job_submission_sensor(settings.max_run_attempts)])
