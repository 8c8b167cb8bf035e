"""The job analysis: one partition per job, the job's plots analysed together by the
numpy core against the layer versions in use in the layer store; then the job's maps.

Each materialization of ``job_analyses`` writes the results as GeoParquet (a row per
plot: the object ``<job_id>/<run_id>.parquet`` of the results store) and appends an
analysis-history row per plot to the job database; earlier analyses are kept, so a
re-analysis after a new layer version (a backfill over stale partitions) leaves both.
Users do not see an analysis until ``job_responses`` publishes it (service/job_store.py),
after ``job_images`` has drawn its maps into a folder of its own.

**The downstream job assets follow their upstream** (``FOLLOWS_UPSTREAM`` on
``job_images``, ``job_responses``, ``job_reports``; evaluated by the automation condition
sensor of defs/submissions/definitions.py): whatever re-materializes a job's analysis
alone (a backfill of stale ``job_analyses`` partitions, a UI Materialize, a re-execution)
is followed, for that partition, by one run of its maps, response and report, which
publishes the new analysis; a re-analysis (``reanalyse_job``, defs/operations/jobs.py:
analysis, maps and response) is followed by one run of its report. Why a condition
rather than only backfills of whole chains: an operator who materializes
``job_analyses`` alone would otherwise leave the job's analysis unpublished until
someone noticed, and a re-analysis publishes every job before drawing their reports."""

import collections
import datetime as dt
from pathlib import Path

import dagster as dg
import orjson
import shapely

from eudr_pipeline.collector import collector_paused
from eudr_pipeline.core.analysis import PlotRequest, PlotResult, analyze_plots
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import AnalysisOptionsResource, ServiceStateResource
from eudr_pipeline.defs.launcher import record_job_tags, record_run_worker
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.files import write_geoparquet
from eudr_pipeline.layers.reference_layers import ALL_LAYERS
from eudr_pipeline.service.job_store import results_key
from eudr_pipeline.service.jobs import job_plot_requests
from eudr_pipeline.service.maps import images_key, render_job_maps
from eudr_pipeline.service.state import ServiceState

JOB_SENSOR_RUN_TAG = "eudr/attempt"
"""The tag of the job sensor's runs (defs/submissions/sensors.py: the attempt number)."""

FOLLOWS_UPSTREAM = (
    dg.AutomationCondition.any_deps_match(
        (dg.AutomationCondition.newly_updated()
         & ~dg.AutomationCondition.any_new_update_has_run_tags(tag_keys={JOB_SENSOR_RUN_TAG})
         ).with_label("updated, not by a job sensor run")
        | dg.AutomationCondition.will_be_requested()
    ).with_label("upstream updated").since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("eager, on upstream updates not by the job sensor")
"""``AutomationCondition.eager()`` adapted to job partitions (dagster 1.13). Requested,
once: a job partition whose upstream asset was updated since the last tick by a run that
is not the job sensor's, when no upstream partition is missing or in progress and the
asset itself is not in progress; the three job assets are requested together (one run).

Differences from eager(), each for the job sensor, which owns a job until its first
publication (it retries a failed run whole, ``eudr/attempt`` n+1, or ends the job
``incomplete`` with its tokens refunded): no ``newly_missing`` trigger, and no updates by
the sensor's runs, since eager() would otherwise request the rest of the chain after a
sensor run that failed past ``job_analyses``, racing the next attempt or publishing a
job already ended and refunded. (eager()'s own exclusion, ``executed_with_root_target``,
does not help here: it only looks at an asset's latest materialization of any partition,
and a whole-job run records no asset selection.) Not followed either: an asset a
successful run updated after its upstream (``process_job``, whoever launched it: nothing;
``reanalyse_job``: all but ``job_reports``); a new job partition (its ``job_analyses``
is missing until the sensor's run). Followed: ``job_analyses`` re-materialized alone (a
backfill of stale partitions, a UI Materialize, a re-execution), ``job_reports`` after a
``reanalyse_job`` run, and a run not launched by the job sensor that failed past
``job_analyses``."""


def job_row(state: ServiceState, context: dg.AssetExecutionContext) -> dict:
    """The job row of the partition being materialized (dg.Failure when it is not in the
    job database)."""
    job = state.jobs.job(context.partition_key)
    if job is None:
        raise dg.Failure(description=f"job {context.partition_key} is not in the job database")
    return job


def write_results(path: Path, requests: list[PlotRequest], results: list[PlotResult]) -> None:
    """Results as GeoParquet (files.py): plot_id, geometry, area_ha, risk_level, error,
    and the full analysis as JSON."""
    write_geoparquet(path, [r.geometry for r in requests], {
        "plot_id": [r.plot_id for r in results],
        "area_ha": [r.area_ha for r in results],
        "risk_level": [(r.analysis or {}).get("risk_level") for r in results],
        "error": [r.error for r in results],
        "analysis": [orjson.dumps(r.analysis).decode() if r.analysis else None for r in results],
    })


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="analysis",
    deps=[dg.AssetKey(layer) for layer in ALL_LAYERS],
    kinds={"python", "parquet"},
    description="Per-plot EUDR analysis of one job: area, forest 2020, loss after 2020-12-31 (Hansen and JRC "
    "series), degradation, protected-area and indigenous-land overlaps, risk. Reads the layer versions in use. "
    "Recorded in the analysis history; users see it once job_responses publishes it (after its maps).",
)
@collector_paused()  # thousands of plots' rows and dicts, no cycles (collector.py)
def job_analyses(context: dg.AssetExecutionContext, service: ServiceStateResource, layer_store: LayerStoreResource,
                 analysis_options: AnalysisOptionsResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    job_id = context.partition_key
    state = service.state()
    jobs = state.jobs
    metadata = record_job_tags(context, job_row(state, context))
    started = dt.datetime.now(dt.timezone.utc)
    plots = jobs.job_plot_rows(job_id)
    requests = job_plot_requests(plots, started.date())
    geoms = [r.geometry for r in requests if r.geometry is not None]
    bbox = tuple(shapely.total_bounds(geoms)) if geoms else None
    layers = layer_store.store().open_layer_set(bbox=bbox)
    try:
        versions = layers.versions()
        if "jrc_gfc2020" not in versions or "hansen_gfc" not in versions:
            raise dg.Failure(description="the layer store has no accepted jrc_gfc2020 and hansen_gfc versions: "
                                         "materialize the 'layers' group first")
        results = analyze_plots(requests, layers, analysis_options.options())
    finally:
        layers.close()
    out = results_key(job_id, context.run.run_id)
    write_results(state.results.local_path(out), requests, results)
    state.results.put_file(out, state.results.local_path(out))
    jobs.record_analyses(job_id, context.run.run_id, versions,
                         [r.to_json() | ({"failure_type": failure_type(r, q)} if r.error else {})
                          for r, q in zip(results, requests)], started)
    failed = sum(1 for r in results if r.error)
    risk = collections.Counter((r.analysis or {}).get("risk_level") for r in results if r.analysis)
    return dg.MaterializeResult(metadata={
        **metadata, "analysis_run": context.run.run_id, "plots": len(results), "failed_plots": failed,
        "risk_high": risk.get("High", 0), "risk_medium": risk.get("Medium", 0), "risk_low": risk.get("Low", 0),
        "layer_versions": dg.MetadataValue.json(versions),
        "results_path": dg.MetadataValue.path(state.results.uri(out)),
    })


def failure_type(result: PlotResult, request) -> str | None:
    """A short machine-readable cause for a failed plot."""
    if result.error is None:
        return None
    if request.error is not None:
        return "invalid_input"
    if "tile covers" in result.error:
        return "no_layer_coverage"
    return "analysis_error"


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="analysis",
    deps=[job_analyses],
    kinds={"png"},
    automation_condition=FOLLOWS_UPSTREAM,
    description="The maps of the job's newest analysis (service/maps.py), in a folder of that analysis, never over "
    "the maps users see: an overview of all plots by risk level, a thumbnail of each analysed plot, and each plot's "
    "full map (2020 baseline and analysis-end panels) for jobs of up to 200 plots; larger jobs' full maps are drawn "
    "on first request. Follows job_analyses automatically.",
)
@collector_paused()  # thousands of plots' rows and dicts, no cycles (collector.py)
def job_images(context: dg.AssetExecutionContext, service: ServiceStateResource,
               layer_store: LayerStoreResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    state = service.state()
    job = job_row(state, context)
    metadata = record_job_tags(context, job)
    run = state.jobs.newest_analysis_run(job["job_id"])
    if run is None:
        raise dg.Failure(description=f"job {job['job_id']} has no analysis: materialize job_analyses first")
    counts = render_job_maps(state, layer_store.store(), job, run)
    folder = dg.MetadataValue.path(state.results.uri(images_key(job["job_id"], run)))
    return dg.MaterializeResult(metadata={**metadata, "analysis_run": run, **counts, "folder": folder})
