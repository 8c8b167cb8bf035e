"""The job analysis: one partition per job, the job's plots analysed together by the
numpy core against the layer versions in use in the layer store.

Each materialization writes the results as GeoParquet (a row per plot: the object
``<job_id>/<run_id>.parquet`` of the results store) and appends an analysis-history row
per plot to the job database; earlier analyses are kept, so a
re-analysis after a new layer version (a backfill over stale partitions) leaves both."""

import collections
import datetime as dt
import json
from pathlib import Path

import dagster as dg
import shapely

from eudr_pipeline.core.analysis import PlotRequest, PlotResult, analyze_plots
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import AnalysisOptionsResource, ServiceStateResource
from eudr_pipeline.defs.launcher import record_run_worker
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.files import write_geoparquet
from eudr_pipeline.layers.reference_layers import ALL_LAYERS
from eudr_pipeline.service.jobs import job_plot_request
from eudr_pipeline.object_store import key_join
from eudr_pipeline.service.maps import images_key, render_job_maps


def write_results(path: Path, requests: list[PlotRequest], results: list[PlotResult]) -> None:
    """Results as GeoParquet (files.py): plot_id, geometry, area_ha, risk_level, error,
    and the full analysis as JSON."""
    write_geoparquet(path, [r.geometry for r in requests], {
        "plot_id": [r.plot_id for r in results],
        "area_ha": [r.area_ha for r in results],
        "risk_level": [(r.analysis or {}).get("risk_level") for r in results],
        "error": [r.error for r in results],
        "analysis": [json.dumps(r.analysis, ensure_ascii=False) if r.analysis else None for r in results],
    })


@dg.asset(
    partitions_def=jobs_partitions,
    group_name="analysis",
    deps=[dg.AssetKey(layer) for layer in ALL_LAYERS],
    kinds={"python", "parquet"},
    description="Per-plot EUDR analysis of one job: area, forest 2020, loss after 2020-12-31 (Hansen and JRC "
    "series), degradation, protected-area and indigenous-land overlaps, risk. Reads the layer versions in use.",
)
def job_analyses(context: dg.AssetExecutionContext, service: ServiceStateResource, layer_store: LayerStoreResource,
                 analysis_options: AnalysisOptionsResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    job_id = context.partition_key
    state = service.state()
    jobs = state.jobs
    if jobs.job(job_id) is None:
        raise dg.Failure(description=f"job {job_id} is not in the job database")
    started = dt.datetime.now(dt.timezone.utc)
    plots = jobs.job_plot_rows(job_id)
    requests = [job_plot_request(p, started.date()) for p in plots]
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
    out = key_join(job_id, f"{context.run.run_id}.parquet")
    write_results(state.results.local_path(out), requests, results)
    state.results.put_file(out, state.results.local_path(out))
    jobs.record_analyses(job_id, context.run.run_id, versions, [r.to_json() for r in results])
    jobs.mark_plots(job_id, [(p["position"], "failed" if r.error else "done", r.error, failure_type(r, q))
                                      for p, r, q in zip(plots, results, requests)], started)
    failed = sum(1 for r in results if r.error)
    risk = collections.Counter((r.analysis or {}).get("risk_level") for r in results if r.analysis)
    return dg.MaterializeResult(metadata={
        "plots": len(results), "failed_plots": failed,
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
    description="The job's maps (service/maps.py): an overview of all plots by risk level, a thumbnail of each "
    "analysed plot, and each plot's full map (2020 baseline and analysis-end panels) for jobs of up to 200 plots; "
    "larger jobs' full maps are drawn on first request.",
)
def job_images(context: dg.AssetExecutionContext, service: ServiceStateResource,
               layer_store: LayerStoreResource) -> dg.MaterializeResult:
    record_run_worker(context)  # for the run worker health check (defs/launcher.py)
    state = service.state()
    job = state.jobs.job(context.partition_key)
    counts = render_job_maps(state, layer_store.store(), job)
    return dg.MaterializeResult(metadata={**counts,
                                          "folder": dg.MetadataValue.path(state.results.uri(images_key(job["job_id"])))})
