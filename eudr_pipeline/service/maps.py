"""The maps of a job, as objects of the results store (``state.results``, object_store.py):

    <job_id>/images/overview.png          all plots coloured by risk level
    <job_id>/images/thumbs/<plot_id>.png  a 200 px map of each analysed plot
    <job_id>/images/<plot_id>.png         the full map of each analysed plot (1200 px)

Each map is drawn into this process's working copy ($EUDR_DATA_DIR/results/<key>, the
store itself when it is that folder) and published (uploaded to EUDR_OBJECT_STORE when
set), so the API on any host serves what a run worker drew.

The job's run (``job_images``) draws the overview, the thumbnails of jobs of up to
EAGER_THUMBNAILS analysed plots and the full maps of jobs of up to EAGER_FULL_MAPS; any
other map is drawn on its first request (then kept), so that a 10,000-plot job is not
held up by 10,000 maps (BENCHMARKS.md). The thumbnails a larger job lacks are drawn in
bulk (two processes) by its report (``job_reports``, after the job is done), so the
report shows every plot's map. Every map is drawn from the layer versions the job's analysis used, never
from newer ones, and written whole (files.py, object_store.py)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import shapely

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
from eudr_pipeline.service.jobs import job_plot_request
from eudr_pipeline.service.state import ServiceState

EAGER_FULL_MAPS = 200  # jobs with more analysed plots get their full maps on first request
EAGER_THUMBNAILS = 2000  # ... and their thumbnails (about 3 ms each) on first request
MAPS_PER_WORKER_MIN = 400  # below this, starting a second process costs more than it saves
THUMBNAIL_PX = 200


def images_key(job_id: str) -> str:
    """The key (folder) of a job's maps in the results store."""
    return key_join(job_id, "images")


def map_key(job_id: str, plot_id: str) -> str:
    return key_join(images_key(job_id), f"{plot_id}.png")


def thumbnails_key(job_id: str) -> str:
    """The key (folder) of a job's thumbnails."""
    return key_join(images_key(job_id), "thumbs")


def thumbnail_key(job_id: str, plot_id: str) -> str:
    return key_join(thumbnails_key(job_id), f"{plot_id}.png")


def overview_key(job_id: str) -> str:
    return key_join(images_key(job_id), "overview.png")


def images_dir(state: ServiceState, job_id: str) -> Path:
    """The local working copy of the job's maps folder."""
    return state.results.local_path(images_key(job_id))


def map_path(state: ServiceState, job_id: str, plot_id: str) -> Path:
    return state.results.local_path(map_key(job_id, plot_id))


def thumbnail_path(state: ServiceState, job_id: str, plot_id: str) -> Path:
    return state.results.local_path(thumbnail_key(job_id, plot_id))


def overview_path(state: ServiceState, job_id: str) -> Path:
    return state.results.local_path(overview_key(job_id))


def plot_maps(state: ServiceState, job: dict, plot_ids: set[str] | None = None) -> dict[str, PlotMap]:
    """What the map of each analysed plot of ``job`` shows (only ``plot_ids`` when given)."""
    rows = [r for r in state.jobs.job_plot_rows(job["job_id"])
            if r["status"] == "done" and (plot_ids is None or r["plot_id"] in plot_ids)]
    plots = state.plots.get_many(job["username"], [r["plot_id"] for r in rows])
    results = {r["plot_id"]: r for r in state.jobs.latest_results(job["job_id"])}
    imagery = {k: v for k, v in (job.get("layer_versions") or {}).items() if k == IMAGERY_LAYER}
    out = {}
    for row in rows:
        request = job_plot_request(row, dt.date.today())
        analysis = (results.get(row["plot_id"]) or {}).get("analysis") or {}
        plot = plots.get(row["plot_id"], {})
        out[row["plot_id"]] = PlotMap(
            geometry=request.geometry, title=plot.get("plot_name") or row["plot_id"],
            analysis_end=dt.date.fromisoformat(analysis.get("analysis_end") or request.analysis_end.isoformat()),
            area_ha=plot.get("area_ha"), commodity=analysis.get("commodity") or plot.get("commodity"),
            risk_level=analysis.get("risk_level"), risk_reason=analysis.get("risk_reason"),
            layer_versions={s["layer"]: s["data_version"] for s in analysis.get("sources", [])} | imagery,
            from_point=(row["feature"].get("geometry") or {}).get("type") == "Point")
    return out


def analysed_versions(job: dict) -> dict[str, str]:
    """The layer versions (catalogue layers only) the job's latest analysis read."""
    return {k: v for k, v in (job.get("layer_versions") or {}).items() if k in ALL_LAYERS}


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
                   results: ObjectStore, job_id: str, full: bool, thumbnails: bool = True) -> int:
    """Thumbnails and/or full maps of ``maps`` into the job's maps in ``results``, over the
    layer versions ``versions`` of ``store`` (None: outlines only, for dry runs). Runs in
    worker processes too (both stores are rebuilt there from their roots)."""
    if not maps:
        return 0
    layers = open_layers(store, versions, [m.geometry for m in maps.values()]) if store is not None else None
    try:
        region = job_region(list(maps.values())) if full else []
        for plot_id, plot in maps.items():
            if thumbnails:
                results.put_bytes(thumbnail_key(job_id, plot_id), render_thumbnail(plot, layers, THUMBNAIL_PX))
            if full:
                results.put_bytes(map_key(job_id, plot_id), render_plot_map(plot, layers, region=region))
    finally:
        if layers is not None:
            layers.close()
    return len(maps)


def draw_in_parallel(store: LayerStore | None, versions: dict[str, str], maps: dict[str, PlotMap],
                     results: ObjectStore, job_id: str, full: bool, thumbnails: bool = True) -> None:
    """draw_plot_maps over ``maps``, in two processes when there are enough of them
    (MAPS_PER_WORKER_MIN) to repay a second process's start."""
    items = list(maps.items())
    workers = 1 if len(items) < MAPS_PER_WORKER_MIN else min(2, os.cpu_count() or 1)
    if workers == 1:
        draw_plot_maps(store, versions, maps, results, job_id, full, thumbnails)
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    chunks = [dict(items[k::workers]) for k in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(draw_plot_maps, [store] * workers, [versions] * workers, chunks, [results] * workers,
                      [job_id] * workers, [full] * workers, [thumbnails] * workers))


def render_job_maps(state: ServiceState, store: LayerStore, job: dict) -> dict[str, int]:
    """The run's maps of a job: overview, every thumbnail, full maps if the job is small."""
    maps = plot_maps(state, job)
    full, thumbnails = len(maps) <= EAGER_FULL_MAPS, len(maps) <= EAGER_THUMBNAILS
    if thumbnails:
        draw_in_parallel(store, analysed_versions(job), maps, state.results, job["job_id"], full)
    draw_overview(state, store, job, maps)
    return {"plot_maps": len(maps) if full else 0, "thumbnails": len(maps) if thumbnails else 0, "overview": 1}


def ensure_thumbnails(req: "MapRequest") -> int:
    """Draw the thumbnail of every analysed plot of the job that has none (a job larger
    than EAGER_THUMBNAILS, before its report); returns how many were drawn."""
    job_id = req.job["job_id"]
    have = {i.key.rsplit("/", 1)[-1][:-4] for i in req.state.results.list(thumbnails_key(job_id))
            if i.key.endswith(".png")}
    maps = plot_maps(req.state, req.job)
    missing = {pid: m for pid, m in maps.items() if pid not in have}
    if missing:
        draw_in_parallel(req.store, analysed_versions(req.job), missing, req.state.results, job_id, full=False)
    return len(missing)


def draw_overview(state: ServiceState, store: LayerStore | None, job: dict,
                  maps: dict[str, PlotMap] | None = None) -> Path:
    """The overview map of every plot of the job, coloured by risk level (failed grey);
    ``maps`` (plot_maps of the job) saves reading the analysed plots again."""
    maps = plot_maps(state, job) if maps is None else maps
    kept = [(m.geometry, m.risk_level, m.title) for m in maps.values()]
    for row in state.jobs.job_plot_rows(job["job_id"]):  # plots that were not analysed, in grey
        if row["plot_id"] not in maps:
            geometry = job_plot_request(row, dt.date.today()).geometry
            if geometry is not None:
                kept.append((geometry, None, row["plot_id"]))
    geoms = [g for g, _, _ in kept]
    layers = open_layers(store, analysed_versions(job), geoms) if store is not None and geoms else None
    try:
        title = job.get("job_name") or f"Job {job['job_id']}"
        png = render_overview(geoms, [r for _, r, _ in kept], f"{title}: {len(kept)} plots", layers,
                              names=[n for _, _, n in kept])
    finally:
        if layers is not None:
            layers.close()
    return state.results.put_bytes(overview_key(job["job_id"]), png)


@dataclass
class MapRequest:
    """A request for a map of ``job``: the layer store it is drawn from (None for dry runs)."""

    state: ServiceState
    store: LayerStore | None
    job: dict

    @classmethod
    def of(cls, state: ServiceState, job: dict) -> "MapRequest":
        """Maps of ``job`` from the service's layer store (none for a dry run: outlines)."""
        return cls(state, None if job["dry_run"] else LayerStore.from_settings(state.settings), job)


def plot_map_file(req: MapRequest, plot_id: str, thumbnail: bool = False) -> Path | None:
    """The full map (or the thumbnail) of an analysed plot of the job, drawn now if it was
    not yet (None: the plot was not analysed)."""
    job_id = req.job["job_id"]
    key = thumbnail_key(job_id, plot_id) if thumbnail else map_key(job_id, plot_id)
    path = req.state.results.working_copy(key)
    if path is not None:
        return path
    maps = plot_maps(req.state, req.job, {plot_id})
    if plot_id not in maps:
        return None
    draw_plot_maps(req.store, analysed_versions(req.job), maps, req.state.results, job_id,
                   full=not thumbnail, thumbnails=thumbnail)
    return req.state.results.local_path(key)
