import dagster as dg

from eudr_pipeline.defs.analysis.assets import job_analyses, job_images


def analysis_definitions() -> dg.Definitions:
    """The `analysis` group: the job-partitioned analysis and its images."""
    return dg.Definitions(assets=[job_analyses, job_images])
