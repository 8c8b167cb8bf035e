"""The job's response: the job's newest analysis published (service/job_store.py) with
its tokens settled (spent for analysed plots, refunded for failed ones, once: never
again for a re-analysis), its final status, and its response object written as JSON
(the object ``<job_id>/response.json`` of the results store); then the job's report
(service/reports.py) for filing, from that object, which any host can read.

Publication order: the maps of the analysis are drawn (``job_images``, into a folder of
that analysis), the response object is built as the job will read once published and
written, and only then ``jobs.published_run`` is set (one UPDATE): from that moment the
API, exports and reports show the new numbers with the new maps, and before it the old
ones with the old maps. Both assets follow their upstream automatically
(defs/analysis/assets.py FOLLOWS_UPSTREAM)."""

import orjson

import dagster as dg

from eudr_pipeline.collector import collector_paused
from eudr_pipeline.defs.analysis.assets import FOLLOWS_UPSTREAM, job_images, job_row
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import AnalysisOptionsResource, ServiceStateResource
from eudr_pipeline.defs.launcher import record_job_tags, record_run_worker
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.object_store import key_join
from eudr_pipeline.service.jobs import prepare_publication
from eudr_pipeline.service.maps import MapRequest, ensure_thumbnails, maps_complete
from eudr_pipeline.service.reports import build_report, preview_markdown, report_object, response_images, risk_counts
from eudr_pipeline.service.state import ServiceState


def response_key(job_id: str) -> str:
    """The key of a job's response object in the results store."""
    return key_join(job_id, "response.json")


def risk_metadata(resp: dict, state: ServiceState) -> dict:
    """Plots per risk level (High, Medium, Low, failed) and a preview of the overview map
    (~400 px, embedded) for an asset's materialization."""
    counts = risk_counts(resp)
    images = response_images(state.results, resp)
    return {"risk_high": counts["High"], "risk_medium": counts["Medium"], "risk_low": counts["Low"],
            "risk_failed": counts["failed"], "preview": dg.MetadataValue.md(preview_markdown(images, counts))}


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="service",
    deps=[job_images],
    kinds={"json"},
    automation_condition=FOLLOWS_UPSTREAM,
    description="The job's response object (reference make_job schema) of its newest analysis, whose maps "
    "job_images drew: tokens settled (once), final status set, then the analysis published: users see its numbers "
    "and maps together from then on. Follows job_images automatically.",
)
@collector_paused()  # thousands of plots' rows and dicts, no cycles (collector.py)
def job_responses(context: dg.AssetExecutionContext, service: ServiceStateResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    state = service.state()
    job = job_row(state, context)
    metadata = record_job_tags(context, job)
    job_id, run = job["job_id"], state.jobs.newest_analysis_run(job["job_id"])
    if run is None or not maps_complete(state, job_id, run):
        raise dg.Failure(description=f"job {job_id}: its newest analysis ({run or 'none'}) has no maps yet: "
                                     "materialize job_analyses and job_images first")
    publication = prepare_publication(state, job_id, run)
    resp = state.job_response(publication.job)  # the analysis prepare_publication read (job_store._LAST_READ)
    state.results.put_bytes(response_key(job_id), orjson.dumps(resp, default=str, option=orjson.OPT_NON_STR_KEYS))
    state.jobs.publish(publication.job)
    return dg.MaterializeResult(metadata={
        **metadata, "analysis_run": run, "status": publication.job["status"], "plots": len(resp["plots"]),
        **publication.tokens, "response": dg.MetadataValue.path(state.results.uri(response_key(job_id))),
        **risk_metadata(resp, state)})


class JobReportConfig(dg.Config):
    pdf: bool = False
    """Render the PDF too (the API renders it on the first request otherwise)."""


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="service",
    deps=[job_responses],
    kinds={"html", "pdf"},
    automation_condition=FOLLOWS_UPSTREAM,
    description="The job's report for filing (results/<job_id>/report.html; report.pdf on request) of the analysis "
    "its response object shows: job, counts by risk level with a chart, every plot's facts and map, the overview "
    "map, the method. The API serves it at GET /jobs/{job_id}/report. Follows job_responses automatically.",
)
@collector_paused()  # thousands of plots' rows and dicts, no cycles (collector.py)
def job_reports(context: dg.AssetExecutionContext, config: JobReportConfig, service: ServiceStateResource,
                analysis_options: AnalysisOptionsResource, layer_store: LayerStoreResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    state = service.state()
    job = job_row(state, context)
    metadata = record_job_tags(context, job)
    resp = orjson.loads(state.results.read_bytes(response_key(job["job_id"])))  # job_responses' output
    options = analysis_options.options()  # the risk rule and canopy threshold in force, as the API's
    store = None if job["dry_run"] else layer_store.store()
    run = resp.get("analysis_run")  # the analysis whose numbers the response shows: its maps, none other
    drawn = ensure_thumbnails(MapRequest(state, store, job, run))  # a job over EAGER_THUMBNAILS plots has none yet
    md: dict = {**metadata, "analysis_run": run or "", "status": resp["status"], "plots": len(resp["plots"]),
                "thumbnails_drawn": drawn}
    for fmt in ("html", "pdf") if config.pdf else ("html",):
        report = build_report(resp, state.results, fmt, options=options)
        md[f"report_{fmt}"] = dg.MetadataValue.path(state.results.uri(report_object(job["job_id"], fmt)))
        md[f"report_{fmt}_bytes"] = len(report.data)
    return dg.MaterializeResult(metadata={**md, **risk_metadata(resp, state)})
