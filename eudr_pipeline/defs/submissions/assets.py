"""The job's response: tokens settled (spent for analysed plots, refunded for failed
ones, once), the final status, and the response object written as JSON (the object
``<job_id>/response.json`` of the results store); then the job's report
(service/reports.py) for filing, from that object, which any host can read."""

import orjson

import dagster as dg

from eudr_pipeline.defs.analysis.assets import job_images
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import AnalysisOptionsResource, ServiceStateResource
from eudr_pipeline.defs.launcher import record_run_worker
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.object_store import key_join
from eudr_pipeline.service.jobs import finish_job
from eudr_pipeline.service.maps import MapRequest, ensure_thumbnails, images_key
from eudr_pipeline.service.reports import JobImages, build_report, preview_markdown, report_object, risk_counts
from eudr_pipeline.service.state import ServiceState


def response_key(job_id: str) -> str:
    """The key of a job's response object in the results store."""
    return key_join(job_id, "response.json")


def risk_metadata(resp: dict, state: ServiceState) -> dict:
    """Plots per risk level (High, Medium, Low, failed) and a preview of the overview map
    (~400 px, embedded) for an asset's materialization."""
    counts = risk_counts(resp)
    images = JobImages.of(state.results, images_key(resp["job_id"]))
    return {"risk_high": counts["High"], "risk_medium": counts["Medium"], "risk_low": counts["Low"],
            "risk_failed": counts["failed"], "preview": dg.MetadataValue.md(preview_markdown(images, counts))}


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="service",
    deps=[job_images],
    kinds={"json"},
    description="The job's response object (reference make_job schema): tokens settled, final status set.",
)
def job_responses(context: dg.AssetExecutionContext, service: ServiceStateResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    job_id = context.partition_key
    state = service.state()
    tokens = finish_job(state, job_id)
    job = state.jobs.job(job_id)
    resp = state.job_response(job)
    state.results.put_bytes(response_key(job_id), orjson.dumps(resp, default=str, option=orjson.OPT_NON_STR_KEYS))
    return dg.MaterializeResult(metadata={"status": job["status"], "plots": len(resp["plots"]), **tokens,
                                          "response": dg.MetadataValue.path(state.results.uri(response_key(job_id))),
                                          **risk_metadata(resp, state)})


class JobReportConfig(dg.Config):
    pdf: bool = False
    """Render the PDF too (the API renders it on the first request otherwise)."""


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="service",
    deps=[job_responses],
    kinds={"html", "pdf"},
    description="The job's report for filing (results/<job_id>/report.html; report.pdf on request): job, counts "
    "by risk level with a chart, every plot's facts and map, the overview map, the method. The API serves it "
    "at GET /jobs/{job_id}/report.",
)
def job_reports(context: dg.AssetExecutionContext, config: JobReportConfig, service: ServiceStateResource,
                analysis_options: AnalysisOptionsResource, layer_store: LayerStoreResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    state = service.state()
    job = state.jobs.job(context.partition_key)
    resp = orjson.loads(state.results.read_bytes(response_key(job["job_id"])))  # job_responses' output
    options = analysis_options.options()  # the risk rule and canopy threshold in force, as the API's
    store = None if job["dry_run"] else layer_store.store()
    drawn = ensure_thumbnails(MapRequest(state, store, job))  # a job over EAGER_THUMBNAILS plots has none yet
    md: dict = {"status": job["status"], "plots": len(resp["plots"]), "thumbnails_drawn": drawn}
    for fmt in ("html", "pdf") if config.pdf else ("html",):
        report = build_report(resp, state.results, fmt, options=options)
        md[f"report_{fmt}"] = dg.MetadataValue.path(state.results.uri(report_object(job["job_id"], fmt)))
        md[f"report_{fmt}_bytes"] = len(report.data)
    return dg.MaterializeResult(metadata={**md, **risk_metadata(resp, state)})
