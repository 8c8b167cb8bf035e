"""A job's report for filing: HTML (self-contained) or PDF (service/reports.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response

from eudr_pipeline.service.deps import CurrentUser, StateDep
from eudr_pipeline.service.reports import FORMATS, job_report
from eudr_pipeline.service.routers.jobs import owned_job
from eudr_pipeline.service.schemas import ERRORS

router = APIRouter(tags=["results"])


@router.get("/jobs/{job_id}/report", responses={**ERRORS, 200: {"content": {t.split(";")[0]: {} for t in FORMATS.values()}}},
            response_class=Response)
def report(job_id: str, state: StateDep, username: CurrentUser, format: Literal["html", "pdf"] = "html") -> Response:
    """The job's report: job, counts by risk level with a chart, every plot's facts and
    map, the overview map, the method (layer versions, canopy threshold, risk rule,
    cut-off). html: one self-contained file (the table sorts and pages in the browser);
    pdf: a summary page, then the plots six to a page. Rendered once per state of the
    job (kept in its results folder) and again after a re-analysis.

    A plain ``def``: FastAPI runs it in its thread pool, so rendering (CPU work) never
    blocks the event loop."""
    job = owned_job(state, username, job_id)
    out = job_report(state, job, format)
    name = f"eudr-report-{job_id}.{format}"
    return Response(out.data, media_type=out.media_type,
                    headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-cache"})
