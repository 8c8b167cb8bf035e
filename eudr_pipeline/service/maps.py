"""The maps of a job, as objects of the results store (``state.results``, object_store.py),
one folder per analysis of the job (its Dagster run id, job_store.py):

    <job_id>/images/<run>/overview.png          all plots coloured by risk level
    <job_id>/images/<run>/thumbs/<plot_id>.png  a 200 px map of each analysed plot
    <job_id>/images/<run>/<plot_id>.png         the full map of each analysed plot (1200 px)

``job_images`` draws the maps of a job's newest analysis into that analysis's folder, so
a new analysis never draws over the maps users see (those of the published one), which
the API and the reports keep reading until the new analysis is published with its maps
(``job_responses``); drawing the published analysis's maps again (a Materialize of
``job_images`` alone) replaces each file whole with a map of the same analysis. Folders of
earlier analyses are kept (the maps users saw then; nothing deletes them). A job
published before migration 0003 has its maps in ``<job_id>/images/`` itself (run None),
until a re-analysis.

Each map is drawn into this process's working copy ($EUDR_DATA_DIR/results/<key>, the
store itself when it is that folder) and published (uploaded to EUDR_OBJECT_STORE when
set), so the API on any host serves what a run worker drew.

The job's run (``job_images``) draws the overview, the thumbnails of jobs of up to
EAGER_THUMBNAILS analysed plots and the full maps of jobs of up to EAGER_FULL_MAPS; any
other map is drawn on its first request (then kept), so that a 10,000-plot job is not
held up by 10,000 maps (BENCHMARKS.md). The thumbnails a larger job lacks are drawn in
bulk (two processes) by its report (``job_reports``, after the job is done), so the
report shows every plot's map. Every map is drawn from the results and the layer
versions of the analysis whose folder it is in, never from newer ones; the overview is
drawn last, so its presence says the run's maps of that analysis are complete. Every
file is written whole (files.py, object_store.py)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from eudr_pipeline.core.analysis import LayerSet
from eudr_pipeline.core.render import (
    PlotMap,
    Region,
    locator_bounds,
    render_overview,
    render_plot_map,
    render_thumbnail,
)
from eudr_pipeline.layers.countries import country_layer
from eudr_pipeline.layers.reference_layers import ALL_LAYERS, IMAGERY_LAYER
from eudr_pipeline.layers.store import LayerStore
from eudr_pipeline.object_store import ObjectStore, key_join
from eudr_pipeline.service.job_store import JobAnalysis, results_key
from eudr_pipeline.service.jobs import job_plot_requests
from eudr_pipeline.service.state import ServiceState

EAGER_FULL_MAPS = 200  # jobs with more analysed plots get their full maps on first request
EAGER_THUMBNAILS = 2000  # ... and their thumbnails (about 3 ms each) on first request
MAPS_PER_WORKER_MIN = 400  # below this, starting a second process costs more than it saves
THUMBNAIL_PX = 200


def images_key(job_id: str, run: str | None) -> str:
    """The key (folder) of the maps of the analysis ``run`` of a job (None: the folder of
    a job published before migration 0003)."""
    return key_join(job_id, "images", run or "")


def map_key(job_id: str, run: str | None, plot_id: str) -> str:
    return key_join(images_key(job_id, run), f"{plot_id}.png")


def thumbnails_key(job_id: str, run: str | None) -> str:
    """The key (folder) of the thumbnails of one analysis of a job."""
    return key_join(images_key(job_id, run), "thumbs")


def thumbnail_key(job_id: str, run: str | None, plot_id: str) -> str:
    return key_join(thumbnails_key(job_id, run), f"{plot_id}.png")


def overview_key(job_id: str, run: str | None) -> str:
    return key_join(images_key(job_id, run), "overview.png")


def map_path(state: ServiceState, job: dict, plot_id: str) -> Path:
    """The local working copy of a plot's full map of the job's published analysis."""
    return state.results.local_path(map_key(job["job_id"], job.get("published_run"), plot_id))


def thumbnail_path(state: ServiceState, job: dict, plot_id: str) -> Path:
    return state.results.local_path(thumbnail_key(job["job_id"], job.get("published_run"), plot_id))


def overview_path(state: ServiceState, job: dict) -> Path:
    return state.results.local_path(overview_key(job["job_id"], job.get("published_run")))


def job_analysis(state: ServiceState, job: dict, run: str | None) -> JobAnalysis:
    """The analysis ``run`` of ``job`` (None: that of a job published before migration 0003)."""
    return state.jobs.published_analysis(job | {"published_run": run})


def analysed_geometries(state: ServiceState, job: dict, analysis: JobAnalysis,
                        rows: list[dict]) -> dict[str, BaseGeometry | None]:
    """The geometry each plot of ``rows`` was analysed with (lon/lat degrees; points as
    their circles), by plot id: read from the analysis's GeoParquet (job_analyses wrote
    it, so the plots are not validated again), or validated again from the job's plots
    for an analysis that has none (before migration 0003; a dry run's simulation)."""
    path = state.results.working_copy(results_key(job["job_id"], analysis.run)) if analysis.run else None
    if path is None:
        return {row["plot_id"]: req.geometry for row, req in zip(rows, job_plot_requests(rows, dt.date.today()))}
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["plot_id", "geometry"])
    found = dict(zip(table.column("plot_id").to_pylist(), shapely.from_wkb(table.column("geometry").to_numpy(False))))
    return {row["plot_id"]: found.get(row["plot_id"]) for row in rows}


def plot_maps(state: ServiceState, job: dict, analysis: JobAnalysis,
              plot_ids: set[str] | None = None) -> dict[str, PlotMap]:
    """What the map of each plot ``analysis`` (of ``job``) analysed shows (only
    ``plot_ids`` when given)."""
    rows = [r for r in analysis.rows if r["status"] == "done" and (plot_ids is None or r["plot_id"] in plot_ids)]
    plots = state.plots.get_many(job["username"], [r["plot_id"] for r in rows])
    geometries = analysed_geometries(state, job, analysis, rows)
    imagery = {k: v for k, v in analysis.layer_versions.items() if k == IMAGERY_LAYER}
    out = {}
    for row in rows:
        result = (analysis.results.get(row["plot_id"]) or {}).get("analysis") or {}
        plot = plots.get(row["plot_id"], {})
        out[row["plot_id"]] = PlotMap(
            geometry=geometries[row["plot_id"]], title=plot.get("plot_name") or row["plot_id"],
            analysis_end=dt.date.fromisoformat(result["analysis_end"]) if result.get("analysis_end") else dt.date.today(),
            area_ha=plot.get("area_ha"), commodity=result.get("commodity") or plot.get("commodity"),
            risk_level=result.get("risk_level"), risk_reason=result.get("risk_reason"),
            layer_versions={s["layer"]: s["data_version"] for s in result.get("sources", [])} | imagery,
            from_point=(row["feature"].get("geometry") or {}).get("type") == "Point")
    return out


def analysed_versions(analysis: JobAnalysis) -> dict[str, str]:
    """The layer versions (catalogue layers only) ``analysis`` read."""
    return {k: v for k, v in analysis.layer_versions.items() if k in ALL_LAYERS}


def open_layers(store: LayerStore, versions: dict[str, str], geometries: list) -> LayerSet:
    bbox = tuple(shapely.total_bounds(shapely.buffer(shapely.envelope(geometries), 0.01)))
    return store.open_layer_set(bbox=bbox, versions=versions)


def job_region(maps: list[PlotMap]) -> Region:
    """The countries (shipped Natural Earth boundaries) around every plot of ``maps``, once
    for all their locators."""
    boxes = [locator_bounds(m.geometry) for m in maps]
    if not boxes:
        return []
    return country_layer().within((min(b[0] for b in boxes), min(b[1] for b in boxes),
                                   max(b[2] for b in boxes), max(b[3] for b in boxes)))


def draw_plot_maps(store: LayerStore | None, versions: dict[str, str], maps: dict[str, PlotMap],
                   results: ObjectStore, job_id: str, run: str | None, full: bool, thumbnails: bool = True) -> int:
    """Thumbnails and/or full maps of ``maps`` into the maps folder of the analysis ``run``
    of the job in ``results``, over the layer versions ``versions`` of ``store`` (None:
    outlines only, for dry runs). Runs in worker processes too (both stores are rebuilt
    there from their roots)."""
    if not maps:
        return 0
    layers = open_layers(store, versions, [m.geometry for m in maps.values()]) if store is not None else None
    try:
        region = job_region(list(maps.values())) if full else []
        for plot_id, plot in maps.items():
            if thumbnails:
                results.put_bytes(thumbnail_key(job_id, run, plot_id), render_thumbnail(plot, layers, THUMBNAIL_PX))
            if full:
                results.put_bytes(map_key(job_id, run, plot_id), render_plot_map(plot, layers, region=region))
    finally:
        if layers is not None:
            layers.close()
    return len(maps)


def draw_in_parallel(store: LayerStore | None, versions: dict[str, str], maps: dict[str, PlotMap],
                     results: ObjectStore, job_id: str, run: str | None, full: bool, thumbnails: bool = True) -> None:
    """draw_plot_maps over ``maps``, in two processes when there are enough of them
    (MAPS_PER_WORKER_MIN) to repay a second process's start."""
    items = list(maps.items())
    workers = 1 if len(items) < MAPS_PER_WORKER_MIN else min(2, os.cpu_count() or 1)
    if workers == 1:
        draw_plot_maps(store, versions, maps, results, job_id, run, full, thumbnails)
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    chunks = [dict(items[k::workers]) for k in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(draw_plot_maps, [store] * workers, [versions] * workers, chunks, [results] * workers,
                      [job_id] * workers, [run] * workers, [full] * workers, [thumbnails] * workers))


def render_job_maps(state: ServiceState, store: LayerStore, job: dict, run: str) -> dict[str, int]:
    """The run's maps of the analysis ``run`` of a job, into that analysis's folder:
    every thumbnail and, if the job is small, every full map, then the overview."""
    analysis = job_analysis(state, job, run)
    maps = plot_maps(state, job, analysis)
    full, thumbnails = len(maps) <= EAGER_FULL_MAPS, len(maps) <= EAGER_THUMBNAILS
    if thumbnails:
        draw_in_parallel(store, analysed_versions(analysis), maps, state.results, job["job_id"], run, full)
    draw_overview(state, store, job, run, analysis, maps)
    return {"plot_maps": len(maps) if full else 0, "thumbnails": len(maps) if thumbnails else 0, "overview": 1}


def ensure_thumbnails(req: "MapRequest") -> int:
    """Draw the thumbnail of every analysed plot of the request's analysis that has none
    (a job larger than EAGER_THUMBNAILS, before its report); returns how many were drawn."""
    job_id = req.job["job_id"]
    have = {i.key.rsplit("/", 1)[-1][:-4] for i in req.state.results.list(thumbnails_key(job_id, req.run))
            if i.key.endswith(".png")}
    analysis = req.analysis()
    maps = plot_maps(req.state, req.job, analysis)
    missing = {pid: m for pid, m in maps.items() if pid not in have}
    if missing:
        draw_in_parallel(req.store, analysed_versions(analysis), missing, req.state.results, job_id, req.run,
                         full=False)
    return len(missing)


def draw_overview(state: ServiceState, store: LayerStore | None, job: dict, run: str | None,
                  analysis: JobAnalysis | None = None, maps: dict[str, PlotMap] | None = None) -> Path:
    """The overview map of every plot of the job under its analysis ``run``, coloured by
    risk level (failed grey), into that analysis's folder; ``analysis`` (job_analysis)
    and ``maps`` (its plot_maps) save reading them again."""
    analysis = job_analysis(state, job, run) if analysis is None else analysis
    maps = plot_maps(state, job, analysis) if maps is None else maps
    kept = [(m.geometry, m.risk_level, m.title) for m in maps.values()]
    others = [row for row in analysis.rows if row["plot_id"] not in maps]  # not analysed: in grey
    for row, request in zip(others, job_plot_requests(others, dt.date.today())):
        if request.geometry is not None:
            kept.append((request.geometry, None, row["plot_id"]))
    geoms = [g for g, _, _ in kept]
    layers = open_layers(store, analysed_versions(analysis), geoms) if store is not None and geoms else None
    try:
        title = job.get("job_name") or f"Job {job['job_id']}"
        png = render_overview(geoms, [r for _, r, _ in kept], f"{title}: {len(kept)} plots", layers,
                              names=[n for _, _, n in kept])
    finally:
        if layers is not None:
            layers.close()
    return state.results.put_bytes(overview_key(job["job_id"], run), png)


def maps_complete(state: ServiceState, job_id: str, run: str) -> bool:
    """Whether the run's maps of the analysis ``run`` are drawn (its overview, drawn last)."""
    return state.results.exists(overview_key(job_id, run))


@dataclass
class MapRequest:
    """A request for a map of ``job`` under its analysis ``run`` (the published one unless
    said otherwise): the layer store it is drawn from (None for dry runs)."""

    state: ServiceState
    store: LayerStore | None
    job: dict
    run: str | None = None

    @classmethod
    def of(cls, state: ServiceState, job: dict) -> "MapRequest":
        """Maps of the published analysis of ``job`` from the service's layer store (none
        for a dry run: outlines)."""
        return cls(state, None if job["dry_run"] else LayerStore.from_settings(state.settings), job,
                   job.get("published_run"))

    def analysis(self) -> JobAnalysis:
        return job_analysis(self.state, self.job, self.run)


def plot_map_file(req: MapRequest, plot_id: str, thumbnail: bool = False) -> Path | None:
    """The full map (or the thumbnail) of an analysed plot of the request's analysis,
    drawn now if it was not yet (None: the plot was not analysed)."""
    job_id = req.job["job_id"]
    key = thumbnail_key(job_id, req.run, plot_id) if thumbnail else map_key(job_id, req.run, plot_id)
    path = req.state.results.working_copy(key)
    if path is not None:
        return path
    analysis = req.analysis()
    maps = plot_maps(req.state, req.job, analysis, {plot_id})
    if plot_id not in maps:
        return None
    draw_plot_maps(req.store, analysed_versions(analysis), maps, req.state.results, job_id, req.run,
                   full=not thumbnail, thumbnails=thumbnail)
    return req.state.results.local_path(key)
