"""The job's response: tokens settled (spent for analysed plots, refunded for failed
ones, once), the final status, and the response object written as JSON."""

import orjson

import dagster as dg

from eudr_pipeline.defs.analysis.assets import job_images
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import ServiceStateResource
from eudr_pipeline.files import write_atomic
from eudr_pipeline.service.jobs import finish_job


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="service",
    deps=[job_images],
    kinds={"json"},
    description="The job's response object (reference make_job schema): tokens settled, final status set.",
)
def job_responses(context: dg.AssetExecutionContext, service: ServiceStateResource) -> dg.MaterializeResult:
    job_id = context.partition_key
    state = service.state()
    tokens = finish_job(state, job_id)
    job = state.jobs.job(job_id)
    resp = state.job_response(job)
    out = write_atomic(state.results_dir / job_id / "response.json",
                       orjson.dumps(resp, default=str, option=orjson.OPT_NON_STR_KEYS))
    return dg.MaterializeResult(metadata={"status": job["status"], "plots": len(resp["plots"]), **tokens,
                                          "response": dg.MetadataValue.path(str(out))})
