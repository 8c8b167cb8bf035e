import dagster as dg

from eudr_pipeline.defs.jobs.assets import job_responses
from eudr_pipeline.defs.jobs.sensors import job_submission_sensor, process_job

defs = dg.Definitions(assets=[job_responses], jobs=[process_job], sensors=[job_submission_sensor])
