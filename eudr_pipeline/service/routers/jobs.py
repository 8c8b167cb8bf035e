"""Jobs: make_job (compatible with the reference `POST /jobs/make_job`), estimate,
listing, one job, retrieve_job."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from eudr_pipeline.errors import NotFound
from eudr_pipeline.service.limits import MAX_OFFSET
from eudr_pipeline.service.deps import CurrentUser, DryRun, StateDep
from eudr_pipeline.service.dry_run import simulate
from eudr_pipeline.service.job_requests import validate_job_request
from eudr_pipeline.collector import collector_paused
from eudr_pipeline.service.job_response import job_response, job_summary
from eudr_pipeline.service.jobs import submit_job_rows
from eudr_pipeline.service.pricing import estimated_duration_s, plot_costs
from eudr_pipeline.service.schemas import ERRORS, EstimateResponse, JobList, JobResponse, MakeJobRequest, RetrieveJob
from eudr_pipeline.service.state import ServiceState

router = APIRouter(tags=["jobs"])


def json_response(body: dict) -> Response:
    """``body`` (a response object, already of the route's response model) as JSON bytes
    by orjson: the JSON FastAPI would send after validating it against the model, without
    validating and encoding a 10,000-plot object twice (BENCHMARKS.md)."""
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), media_type="application/json")


def owned_job(state: ServiceState, username: str, job_id: str) -> dict:
    """The user's job ``job_id``; NotFound for unknown ids and other users' jobs alike."""
    job = state.jobs.job_for(username, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


@router.post("/jobs/make_job", response_model=JobResponse, responses=ERRORS)
def make_job(body: MakeJobRequest, state: StateDep, username: CurrentUser, dry: DryRun) -> Response:
    """Create a job over the user's plots. Consumes tokens (reserved now, spent when the
    plots are analysed, refunded for plots that fail). X-Dry-Run: true: no tokens, no
    heavy compute, a simulated analysis."""
    with collector_paused():
        request = validate_job_request(body, username, state.plots)
        job_id, rows = submit_job_rows(state, username, request, dry)
        if dry:
            simulate(state, job_id)
            return json_response(state.job_response(state.jobs.job_for(username, job_id)))
        # the pending job: its plot rows as just stored, the plots as validation read them
        job = state.jobs.job_for(username, job_id)
        return json_response(job_response(job, rows, request.plots, {}, state.settings.base_url()))


@router.post("/jobs/estimate", response_model=EstimateResponse, responses=ERRORS)
def estimate_job(body: MakeJobRequest, state: StateDep, username: CurrentUser) -> dict:
    """The make_job body -> its token cost and estimated duration; nothing reserved."""
    request = validate_job_request(body, username, state.plots)
    costs = plot_costs([c["type"] for c in request.checks], {p: request.plots[p]["area_ha"] for p in request.plot_ids})
    return {"token_cost": sum(costs.values()), "estimated_duration": estimated_duration_s(len(costs)), "plots": costs}


@router.get("/jobs", response_model=JobList, responses=ERRORS)
def list_jobs(state: StateDep, username: CurrentUser, limit: Annotated[int, Query(ge=1, le=200)] = 20,
              offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> dict:
    """The user's jobs, newest first."""
    total, rows = state.jobs.list_jobs(username, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "jobs": state.job_responses(rows)}


@router.get("/jobs/{job_id}", response_model=JobResponse, responses=ERRORS)
def get_job(job_id: str, state: StateDep, username: CurrentUser, include_plots: Annotated[bool, Query(
        description="false: status and progress only, `plots` and `tasks` empty (cheap polling)")] = True) -> Response:
    job = owned_job(state, username, job_id)
    if not include_plots:
        return json_response(job_summary(job, 0))
    return json_response(state.job_response(job))


@router.post("/jobs/retrieve_job", response_model=JobResponse, responses=ERRORS)
def retrieve_job(body: RetrieveJob, state: StateDep, username: CurrentUser) -> Response:
    job = owned_job(state, username, body.job_id)
    return json_response(state.job_response(job))
