import dagster as dg

from eudr_pipeline.defs.analysis.assets import job_analyses, job_images
from eudr_pipeline.defs.analysis.resources import JobStoreResource, ResultsDirResource

defs = dg.Definitions(
    assets=[job_analyses, job_images],
    resources={"job_store": JobStoreResource(), "results_dir": ResultsDirResource()},
)
