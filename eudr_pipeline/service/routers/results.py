"""A job's results for download: the export formats and the per-plot images, all of the
job's published analysis (job_store.py).

Image URLs are stable (``/jobs/{id}/plots/{plot_id}/image.png``, ``/jobs/{id}/overview.png``,
the seed's shapes): each request is answered with the map of the analysis published at
that moment, so a URL a client kept keeps working across re-analyses and always matches
the numbers GET /jobs/{id} gives now. ``X-Analysis-Run`` names that analysis (the
response object's ``analysis_run``) and ``Cache-Control: no-cache`` makes caches ask
again (with the ETag and Last-Modified of the file served) before reusing a map."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from eudr_pipeline.errors import NotFound
from eudr_pipeline.service.deps import CurrentUser, StateDep
from eudr_pipeline.service.exports import EXPORT_FORMATS, export_job
from eudr_pipeline.service.maps import MapRequest, overview_key, plot_map_file
from eudr_pipeline.service.routers.jobs import owned_job
from eudr_pipeline.service.schemas import ERRORS

router = APIRouter(tags=["results"])


def map_headers(job: dict) -> dict[str, str]:
    """The headers of a map of the job's published analysis (module docstring)."""
    return {"Cache-Control": "private, no-cache", **({"X-Analysis-Run": job["published_run"]}
                                                     if job["published_run"] else {})}


@router.get("/jobs/{job_id}/export", responses={**ERRORS, 200: {"content": {
    **{fmt.media_type: {} for fmt in EXPORT_FORMATS.values()}, "application/zip": {}}}}, response_class=Response)
def export(job_id: str, state: StateDep, username: CurrentUser,
           format: Literal["geojson", "csv", "parquet"] = "geojson", include_unanalysed: bool = False) -> Response:
    """Results for download. geojson: the EU information system's geolocation file
    (service/eu_geojson.py: EPSG:4326, [lon, lat], 6 decimals, no holes, ProducerName,
    ProducerCountry as ISO alpha-2, ProductionPlace, Area, the analysis as flat
    properties; analysed plots only unless include_unanalysed), a zip of several such files
    (application/zip) when one would exceed the per-statement limits; the plots left out are
    listed in the X-Export-Errors header (and export_report.json in a zip). csv: the
    per-plot table; parquet: GeoParquet with everything."""
    out = export_job(state.job_response(owned_job(state, username, job_id)), format,
                     **({"include_unanalysed": include_unanalysed} if format == "geojson" else {}))
    return Response(out.content, media_type=out.media_type, headers={
        "Content-Disposition": f'attachment; filename="{job_id}.{out.extension}"', **out.headers()})


@router.get("/jobs/{job_id}/plots/{plot_id}/image.png", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
            response_class=Response)
def image(job_id: str, plot_id: str, state: StateDep, username: CurrentUser) -> FileResponse:
    """The map of one analysed plot of a job (PNG, 1200 px): drawn on first request for
    large jobs, then kept (in the results store, whichever process drew it)."""
    job = owned_job(state, username, job_id)
    path = plot_map_file(MapRequest.of(state, job), plot_id)
    if path is None:
        raise NotFound(f"no map for plot {plot_id} in job {job_id}: not analysed (yet)")
    return FileResponse(path, media_type="image/png", headers=map_headers(job))


@router.get("/jobs/{job_id}/overview.png", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
            response_class=Response)
def overview(job_id: str, state: StateDep, username: CurrentUser) -> FileResponse:
    """The map of all plots of a job, coloured by risk level (PNG)."""
    job = owned_job(state, username, job_id)
    path = state.results.working_copy(overview_key(job_id, job["published_run"]))
    if path is None:
        raise NotFound(f"no overview map for job {job_id} (yet)")
    return FileResponse(path, media_type="image/png", headers=map_headers(job))
