"""The job analysis: one partition per job, the job's plots analysed together by the
numpy core against the layer versions in use in the layer store.

Each materialization writes the results as GeoParquet (a row per plot) and appends an
analysis-history row per plot to the job database; earlier analyses are kept, so a
re-analysis after a new layer version (a backfill over stale partitions) leaves both."""

import collections
import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
import shapely

from eudr_pipeline.core.analysis import PlotRequest, PlotResult, analyze_plots
from eudr_pipeline.core.intake import analysis_config, request_from_feature
from eudr_pipeline.defs.analysis.partitions import jobs_partitions
from eudr_pipeline.defs.analysis.resources import AnalysisOptionsResource, ServiceStateResource
from eudr_pipeline.defs.layers.resources import LayerStoreResource
from eudr_pipeline.files import write_atomic, write_geoparquet
from eudr_pipeline.layers.reference_layers import ALL_LAYERS


def plot_request(row: dict, today: dt.date) -> PlotRequest:
    """The analysis request of one job plot row: its feature and its checks' effective config."""
    types = tuple(c["type"] for c in row["checks"]) or ("eudr",)
    config = analysis_config(row["checks"])
    harvest = dt.date.fromisoformat(config["harvest_date"]) if config.get("harvest_date") else None
    req = request_from_feature(row["feature"], row["position"], harvest, config.get("commodity"), types, today=today)
    req.plot_id = row["plot_id"]
    return req


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
    job_id = context.partition_key
    state = service.state()
    jobs = state.jobs
    if jobs.job(job_id) is None:
        raise dg.Failure(description=f"job {job_id} is not in the job database")
    started = dt.datetime.now(dt.timezone.utc)
    plots = jobs.job_plot_rows(job_id)
    requests = [plot_request(p, started.date()) for p in plots]
    geoms = [r.geometry for r in requests if r.geometry is not None]
    bbox = tuple(shapely.total_bounds(geoms)) if geoms else None
    layers = layer_store.store().open_layer_set(bbox=bbox)
    try:
        versions = {s["layer"]: s["data_version"] for s in layers.sources()}
        if "jrc_gfc2020" not in versions or "hansen_gfc" not in versions:
            raise dg.Failure(description="the layer store has no accepted jrc_gfc2020 and hansen_gfc versions: "
                                         "materialize the 'layers' group first")
        results = analyze_plots(requests, layers, analysis_options.options())
    finally:
        layers.close()
    out = state.results_dir / job_id / f"{context.run.run_id}.parquet"
    write_results(out, requests, results)
    jobs.record_analyses(job_id, context.run.run_id, versions, [r.to_json() for r in results])
    jobs.mark_plots(job_id, [(p["position"], "failed" if r.error else "done", r.error, failure_type(r, q))
                                      for p, r, q in zip(plots, results, requests)], started)
    failed = sum(1 for r in results if r.error)
    risk = collections.Counter((r.analysis or {}).get("risk_level") for r in results if r.analysis)
    return dg.MaterializeResult(metadata={
        "plots": len(results), "failed_plots": failed,
        "risk_high": risk.get("High", 0), "risk_medium": risk.get("Medium", 0), "risk_low": risk.get("Low", 0),
        "layer_versions": dg.MetadataValue.json(versions),
        "results_path": dg.MetadataValue.path(str(out)),
    })


IMAGES_PER_WORKER_MIN = 400  # below this, starting a second process costs more than it saves


def render_images(store_root: str, items: list[tuple[str, bytes, int]], out_dir: str) -> int:
    """Render (plot_id, WKB geometry, end year) items to <out_dir>/<plot_id>.png, each file
    written whole (temporary name, then rename). Runs in worker processes too."""
    from eudr_pipeline.core.render import render_plot_png
    from eudr_pipeline.layers.store import LayerStore

    if not items:
        return 0
    geoms = shapely.from_wkb([g for _, g, _ in items])
    layers = LayerStore(Path(store_root)).open_layer_set(bbox=tuple(shapely.total_bounds(geoms)))
    out = Path(out_dir)
    try:
        for (plot_id, _, year), geom in zip(items, geoms):
            write_atomic(out / f"{plot_id}.png", render_plot_png(geom, layers, year))
    finally:
        layers.close()
    return len(items)


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
    description="One PNG map per analysed plot of a job: forest 2020, loss after 2020, the plot outline.",
)
def job_images(context: dg.AssetExecutionContext, service: ServiceStateResource,
               layer_store: LayerStoreResource) -> dg.MaterializeResult:
    job_id = context.partition_key
    state = service.state()
    today = dt.date.today()
    plots = [r for r in state.jobs.job_plot_rows(job_id) if r["status"] == "done"]
    requests = [plot_request(p, today) for p in plots]
    geoms = [r.geometry for r in requests]
    out = state.results_dir / job_id / "images"
    out.mkdir(parents=True, exist_ok=True)
    if not geoms:
        return dg.MaterializeResult(metadata={"images": 0})
    items = [(p["plot_id"], shapely.to_wkb(r.geometry), r.analysis_end.year) for p, r in zip(plots, requests)]
    store_root = str(layer_store.store().root)
    workers = 1 if len(items) < IMAGES_PER_WORKER_MIN else min(2, os.cpu_count() or 1)
    if workers == 1:
        render_images(store_root, items, str(out))
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        chunks = [items[k::workers] for k in range(workers)]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            list(pool.map(render_images, [store_root] * workers, chunks, [str(out)] * workers))
    return dg.MaterializeResult(metadata={"images": len(plots), "folder": dg.MetadataValue.path(str(out))})
