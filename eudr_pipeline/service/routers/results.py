"""A job's results for download: the export formats and the per-plot images."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from eudr_pipeline.errors import NotFound
from eudr_pipeline.service.deps import CurrentUser, StateDep
from eudr_pipeline.service.exports import EXPORT_FORMATS, export_job
from eudr_pipeline.service.routers.jobs import owned_job
from eudr_pipeline.service.schemas import ERRORS

router = APIRouter(tags=["results"])


@router.get("/jobs/{job_id}/export", responses={**ERRORS, 200: {"content": {
    fmt.media_type: {} for fmt in EXPORT_FORMATS.values()}}}, response_class=Response)
def export(job_id: str, state: StateDep, username: CurrentUser,
           format: Literal["geojson", "csv", "parquet"] = "geojson") -> Response:
    """Results for download. geojson: EUDR/TRACES-ready (EPSG:4326, [lon, lat], 6
    decimals, ProducerCountry, ProductionPlace, Area) with the analysis as properties;
    csv: the per-plot table; parquet: GeoParquet with everything."""
    fmt = EXPORT_FORMATS[format]
    content = export_job(state.job_response(owned_job(state, username, job_id)), format)
    return Response(content, media_type=fmt.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{job_id}.{fmt.extension}"'})


@router.get("/jobs/{job_id}/plots/{plot_id}/image.png", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
            response_class=Response)
def image(job_id: str, plot_id: str, state: StateDep, username: CurrentUser) -> FileResponse:
    """The map of one analysed plot of a job (PNG)."""
    owned_job(state, username, job_id)
    path = state.results_dir / job_id / "images" / f"{plot_id}.png"
    if not path.is_file():
        raise NotFound(f"no image for plot {plot_id} in job {job_id} (yet)")
    return FileResponse(path, media_type="image/png")
